import { Writable } from 'node:stream';
import { createLogger, CreateLoggerOptions, Logger } from '../../lib/log';

/** A real winston logger whose JSON lines are parsed into `lines`, for asserting what was logged. */
export function captureLogger(level?: CreateLoggerOptions['level']): {
  logger: Logger;
  lines: Array<Record<string, unknown>>;
} {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _e, cb) {
      for (const l of chunk.toString().split('\n').filter(Boolean))
        lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { logger: createLogger(level ? { stream, level } : { stream }), lines };
}
