import winston from 'winston';

/**
 * Structured JSON logs. Field names are fixed on day one and never renamed:
 * instanceId, episode, stage, resource, action, durationMs, errorCode.
 */
export type LogFields = {
  instanceId?: string;
  episode?: string;
  stage?: string;
  resource?: string;
  action?: string;
  durationMs?: number;
  errorCode?: string;
  [key: string]: unknown;
};

export type Logger = winston.Logger;

export interface CreateLoggerOptions {
  level?: string;
  /** Extra transports (CloudWatch Logs shipping, test capture). */
  transports?: winston.transport[];
  /** Defaults to stdout. */
  stream?: NodeJS.WritableStream;
  silent?: boolean;
}

export function createLogger(options: CreateLoggerOptions = {}): Logger {
  const transports: winston.transport[] = [
    new winston.transports.Stream({ stream: options.stream ?? process.stdout }),
    ...(options.transports ?? []),
  ];
  return winston.createLogger({
    level: options.level ?? 'info',
    silent: options.silent,
    format: winston.format.combine(
      winston.format.timestamp(),
      winston.format.errors({ stack: false }),
      winston.format.json(),
    ),
    transports,
  });
}

/** A logger that drops everything; for unit tests and library callers that pass none. */
export function nullLogger(): Logger {
  return winston.createLogger({
    silent: true,
    transports: [new winston.transports.Console({ silent: true })],
  });
}
