import { EmulatorContext } from './context';
import { EmulatorError, EmulatorRequest, EmulatorResponse, ServiceHandler } from './types';

/**
 * Just enough CloudWatch Logs (JSON 1.1, X-Amz-Target Logs_20140328.<Action>) to prove the
 * episode's log lines arrived: CreateLogGroup, CreateLogStream (ResourceAlreadyExistsException),
 * PutLogEvents (no sequence token needed; chronological order enforced; too old/new events
 * rejected as AWS does), GetLogEvents, DescribeLogGroups, DescribeLogStreams, FilterLogEvents (plain
 * substring patterns only). Unknown group or stream → ResourceNotFoundException.
 * Programmatic: createLogGroup(name), createLogStream(group, stream), events(group, stream?).
 */
export interface LogEventView {
  stream: string;
  timestamp: number;
  message: string;
  ingestionTime: number;
}

interface Stream {
  name: string;
  createdAt: number;
  events: LogEventView[];
}

interface Group {
  name: string;
  createdAt: number;
  streams: Map<string, Stream>;
}

const FOURTEEN_DAYS_MS = 14 * 24 * 3600 * 1000;
const TWO_HOURS_MS = 2 * 3600 * 1000;

function json(value: unknown): EmulatorResponse {
  return {
    status: 200,
    headers: { 'content-type': 'application/x-amz-json-1.1' },
    body: JSON.stringify(value),
  };
}

function requiredString(input: Record<string, unknown>, name: string): string {
  const v = input[name];
  if (typeof v !== 'string' || v === '') {
    throw new EmulatorError(
      'InvalidParameterException',
      `1 validation error detected: Value null at '${name}' failed to satisfy constraint: Member must not be null`,
    );
  }
  return v;
}

export class LogsService implements ServiceHandler {
  readonly service = 'logs' as const;
  private readonly groups = new Map<string, Group>();

  constructor(
    readonly ctx: EmulatorContext,
    private readonly region = 'us-east-1',
    private readonly accountId = '123456789012',
  ) {}

  createLogGroup(name: string): void {
    if (!this.groups.has(name))
      this.groups.set(name, { name, createdAt: this.ctx.now(), streams: new Map() });
  }

  createLogStream(group: string, stream: string): void {
    this.createLogGroup(group);
    const g = this.groups.get(group)!;
    if (!g.streams.has(stream))
      g.streams.set(stream, { name: stream, createdAt: this.ctx.now(), events: [] });
  }

  /** Events of a group (one stream, or all streams in stream-name order), oldest first. */
  events(group: string, stream?: string): LogEventView[] {
    const g = this.groups.get(group);
    if (!g) return [];
    return [...g.streams.values()]
      .filter((s) => !stream || s.name === stream)
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
      .flatMap((s) => s.events.map((e) => ({ ...e })));
  }

  streams(group: string): string[] {
    return [...(this.groups.get(group)?.streams.keys() ?? [])];
  }

  snapshot(): unknown {
    return Object.fromEntries([...this.groups.values()].map((g) => [g.name, [...g.streams.keys()]]));
  }

  stop(): void {}

  handle(req: EmulatorRequest): EmulatorResponse {
    const input = req.json;
    switch (req.action) {
      case 'CreateLogGroup': {
        const name = requiredString(input, 'logGroupName');
        if (this.groups.has(name)) {
          throw new EmulatorError('ResourceAlreadyExistsException', 'The specified log group already exists');
        }
        this.createLogGroup(name);
        return json({});
      }
      case 'CreateLogStream': {
        const g = this.group(requiredString(input, 'logGroupName'));
        const name = requiredString(input, 'logStreamName');
        if (g.streams.has(name)) {
          throw new EmulatorError(
            'ResourceAlreadyExistsException',
            'The specified log stream already exists',
          );
        }
        g.streams.set(name, { name, createdAt: this.ctx.now(), events: [] });
        return json({});
      }
      case 'PutLogEvents':
        return json(this.putLogEvents(input));
      case 'GetLogEvents':
        return json(this.getLogEvents(input));
      case 'DescribeLogGroups': {
        const prefix = typeof input.logGroupNamePrefix === 'string' ? input.logGroupNamePrefix : '';
        const groups = [...this.groups.values()].filter((g) => g.name.startsWith(prefix));
        return json({
          logGroups: groups.map((g) => ({
            logGroupName: g.name,
            creationTime: g.createdAt,
            arn: `${this.groupArn(g.name)}:*`,
            storedBytes: 0,
          })),
        });
      }
      case 'DescribeLogStreams': {
        const g = this.group(requiredString(input, 'logGroupName'));
        const prefix = typeof input.logStreamNamePrefix === 'string' ? input.logStreamNamePrefix : '';
        const streams = [...g.streams.values()]
          .filter((s) => s.name.startsWith(prefix))
          .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
        return json({
          logStreams: streams.map((s) => {
            const first = s.events[0];
            const last = s.events[s.events.length - 1];
            return {
              logStreamName: s.name,
              creationTime: s.createdAt,
              firstEventTimestamp: first?.timestamp,
              lastEventTimestamp: last?.timestamp,
              lastIngestionTime: last?.ingestionTime,
              arn: `${this.groupArn(g.name)}:log-stream:${s.name}`,
              storedBytes: 0,
            };
          }),
        });
      }
      case 'FilterLogEvents':
        return json(this.filterLogEvents(input));
      default:
        throw new EmulatorError('InvalidAction', `${req.action} is not implemented by the emulator`, 400);
    }
  }

  private putLogEvents(input: Record<string, unknown>): unknown {
    const stream = this.stream(requiredString(input, 'logGroupName'), requiredString(input, 'logStreamName'));
    const events = (input.logEvents ?? []) as Array<{ timestamp: number; message: string }>;
    if (events.length === 0 || events.length > 10000) {
      throw new EmulatorError(
        'InvalidParameterException',
        'Log event batch must contain between 1 and 10000 events.',
      );
    }
    for (let i = 1; i < events.length; i++) {
      if (events[i].timestamp < events[i - 1].timestamp) {
        throw new EmulatorError(
          'InvalidParameterException',
          'Log events in a single PutLogEvents request must be in chronological order.',
        );
      }
    }
    const now = this.ctx.now();
    let tooOldEnd: number | undefined;
    let tooNewStart: number | undefined;
    events.forEach((e, i) => {
      if (e.timestamp < now - FOURTEEN_DAYS_MS) tooOldEnd = i + 1;
      else if (e.timestamp > now + TWO_HOURS_MS) tooNewStart ??= i;
      else
        stream.events.push({
          stream: stream.name,
          timestamp: e.timestamp,
          message: e.message,
          ingestionTime: now,
        });
    });
    const out: Record<string, unknown> = {
      nextSequenceToken: String(stream.events.length).padStart(56, '0'),
    };
    if (tooOldEnd !== undefined || tooNewStart !== undefined) {
      out.rejectedLogEventsInfo = {
        tooOldLogEventEndIndex: tooOldEnd,
        tooNewLogEventStartIndex: tooNewStart,
      };
    }
    return out;
  }

  private getLogEvents(input: Record<string, unknown>): unknown {
    const stream = this.stream(requiredString(input, 'logGroupName'), requiredString(input, 'logStreamName'));
    const start = typeof input.startTime === 'number' ? input.startTime : -Infinity;
    const end = typeof input.endTime === 'number' ? input.endTime : Infinity;
    const limit = typeof input.limit === 'number' ? input.limit : 10000;
    const fromHead = input.startFromHead === true;
    const inRange = stream.events.filter((e) => e.timestamp >= start && e.timestamp < end);
    // Without startFromHead, CloudWatch returns the newest events.
    const page = fromHead ? inRange.slice(0, limit) : inRange.slice(Math.max(0, inRange.length - limit));
    return {
      events: page.map((e) => ({
        timestamp: e.timestamp,
        message: e.message,
        ingestionTime: e.ingestionTime,
      })),
      nextForwardToken: `f/${String(stream.events.length).padStart(56, '0')}`,
      nextBackwardToken: `b/${'0'.repeat(56)}`,
    };
  }

  private filterLogEvents(input: Record<string, unknown>): unknown {
    const g = this.group(requiredString(input, 'logGroupName'));
    const names = Array.isArray(input.logStreamNames) ? (input.logStreamNames as string[]) : undefined;
    const prefix = typeof input.logStreamNamePrefix === 'string' ? input.logStreamNamePrefix : '';
    const pattern = typeof input.filterPattern === 'string' ? input.filterPattern.replace(/^"|"$/g, '') : '';
    const start = typeof input.startTime === 'number' ? input.startTime : -Infinity;
    const end = typeof input.endTime === 'number' ? input.endTime : Infinity;
    const limit = typeof input.limit === 'number' ? input.limit : 10000;
    const streams = [...g.streams.values()].filter(
      (s) => (!names || names.includes(s.name)) && s.name.startsWith(prefix),
    );
    const events = streams
      .flatMap((s) => s.events.map((e, i) => ({ e, id: `${s.name}/${i}` })))
      .filter(
        ({ e }) => e.timestamp >= start && e.timestamp <= end && (!pattern || e.message.includes(pattern)),
      )
      .sort((a, b) => a.e.timestamp - b.e.timestamp)
      .slice(0, limit);
    return {
      events: events.map(({ e, id }) => ({
        logStreamName: e.stream,
        timestamp: e.timestamp,
        message: e.message,
        ingestionTime: e.ingestionTime,
        eventId: Buffer.from(id).toString('hex'),
      })),
      searchedLogStreams: streams.map((s) => ({ logStreamName: s.name, searchedCompletely: true })),
    };
  }

  private groupArn(name: string): string {
    return `arn:aws:logs:${this.region}:${this.accountId}:log-group:${name}`;
  }

  private group(name: string): Group {
    const g = this.groups.get(name);
    if (!g) throw new EmulatorError('ResourceNotFoundException', 'The specified log group does not exist.');
    return g;
  }

  private stream(group: string, stream: string): Stream {
    const s = this.group(group).streams.get(stream);
    if (!s) throw new EmulatorError('ResourceNotFoundException', 'The specified log stream does not exist.');
    return s;
  }
}
