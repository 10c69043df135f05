import { EmulatorContext } from './context';
import { EmulatorError, EmulatorRequest, EmulatorResponse, ServiceHandler } from './types';

/**
 * Just enough CloudWatch Logs (JSON 1.1, X-Amz-Target Logs_20140328.<Action>) to prove the
 * episode's log lines arrived: CreateLogGroup, CreateLogStream, PutLogEvents, GetLogEvents,
 * DescribeLogStreams. Programmatic: createLogGroup(name), events(group, stream?).
 */
export interface LogEventView {
  stream: string;
  timestamp: number;
  message: string;
}

function json(value: unknown): EmulatorResponse {
  return {
    status: 200,
    headers: { 'content-type': 'application/x-amz-json-1.1' },
    body: JSON.stringify(value),
  };
}

export class LogsService implements ServiceHandler {
  readonly service = 'logs' as const;
  private groups = new Map<string, Map<string, LogEventView[]>>();

  constructor(readonly ctx: EmulatorContext) {}

  createLogGroup(name: string): void {
    if (!this.groups.has(name)) this.groups.set(name, new Map());
  }

  events(group: string, stream?: string): LogEventView[] {
    const g = this.groups.get(group);
    if (!g) return [];
    return [...g.entries()]
      .filter(([s]) => !stream || s === stream)
      .flatMap(([, evs]) => evs.map((e) => ({ ...e })));
  }

  snapshot(): unknown {
    return Object.fromEntries([...this.groups.entries()].map(([g, streams]) => [g, [...streams.keys()]]));
  }

  stop(): void {}

  handle(req: EmulatorRequest): EmulatorResponse {
    const input = req.json as Record<string, unknown>;
    const groupName = String(input.logGroupName ?? '');
    const streamName = String(input.logStreamName ?? '');
    switch (req.action) {
      case 'CreateLogGroup':
        if (this.groups.has(groupName))
          throw new EmulatorError('ResourceAlreadyExistsException', 'The specified log group already exists');
        this.createLogGroup(groupName);
        return json({});
      case 'CreateLogStream': {
        const g = this.group(groupName);
        if (g.has(streamName))
          throw new EmulatorError(
            'ResourceAlreadyExistsException',
            'The specified log stream already exists',
          );
        g.set(streamName, []);
        return json({});
      }
      case 'PutLogEvents': {
        const stream = this.stream(groupName, streamName);
        const events = (input.logEvents ?? []) as Array<{ timestamp: number; message: string }>;
        if (events.length > 10000)
          throw new EmulatorError('InvalidParameterException', 'Too many log events in the batch');
        for (let i = 1; i < events.length; i++) {
          if (events[i].timestamp < events[i - 1].timestamp) {
            throw new EmulatorError(
              'InvalidParameterException',
              'Log events in a single PutLogEvents request must be in chronological order.',
            );
          }
        }
        for (const e of events)
          stream.push({ stream: streamName, timestamp: e.timestamp, message: e.message });
        return json({ nextSequenceToken: String(stream.length) });
      }
      case 'GetLogEvents':
        return json({
          events: this.stream(groupName, streamName).map((e) => ({
            timestamp: e.timestamp,
            message: e.message,
            ingestionTime: e.timestamp,
          })),
          nextForwardToken: 'f/0',
          nextBackwardToken: 'b/0',
        });
      case 'DescribeLogStreams': {
        const prefix = String(input.logStreamNamePrefix ?? '');
        const streams = [...this.group(groupName).keys()].filter((s) => s.startsWith(prefix));
        return json({
          logStreams: streams.map((s) => ({
            logStreamName: s,
            arn: `arn:aws:logs:us-east-1:123456789012:log-group:${groupName}:log-stream:${s}`,
          })),
        });
      }
      default:
        throw new EmulatorError('InvalidAction', `${req.action} is not implemented by the emulator`, 400);
    }
  }

  private group(name: string): Map<string, LogEventView[]> {
    const g = this.groups.get(name);
    if (!g) throw new EmulatorError('ResourceNotFoundException', 'The specified log group does not exist.');
    return g;
  }

  private stream(group: string, stream: string): LogEventView[] {
    const s = this.group(group).get(stream);
    if (!s) throw new EmulatorError('ResourceNotFoundException', 'The specified log stream does not exist.');
    return s;
  }
}
