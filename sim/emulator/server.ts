import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { AddressInfo, Socket } from 'node:net';
import { AutoScalingService, AutoScalingServiceOptions } from './autoscaling';
import { CallLog } from './call-log';
import { createContext, EmulatorContext } from './context';
import { Ec2Service, Ec2ServiceOptions } from './ec2';
import { FaultInjector, seededRandom } from './faults';
import { ImdsService } from './imds';
import { LogsService } from './logs';
import { isMutating } from './mutating';
import { renderError, throttleCode } from './render';
import { S3Service } from './s3';
import { SnsService, SnsServiceOptions } from './sns';
import { SqsService, SqsServiceOptions } from './sqs';
import {
  CallRecord,
  EmulatorError,
  EmulatorRequest,
  EmulatorResponse,
  ServiceHandler,
  ServiceName,
} from './types';

/** The access key id `env()` hands the daemon: `emulator.calls.by(DAEMON_ACCESS_KEY_ID)` are its calls. */
export const DAEMON_ACCESS_KEY_ID = 'AKIAEMULATOR';

export interface EmulatorOptions {
  /** 0 (default) = an ephemeral port. Always bound to 127.0.0.1. */
  port?: number;
  seed?: number;
  ec2?: Ec2ServiceOptions;
  sqs?: SqsServiceOptions;
  sns?: SnsServiceOptions;
  autoscaling?: AutoScalingServiceOptions;
}

/**
 * One HTTP server on 127.0.0.1 speaking EC2 Query/XML, Auto Scaling Query/XML, SNS Query/XML, SQS JSON,
 * CloudWatch Logs JSON, S3 REST and IMDSv2, so the real SDK v3 clients talk to it through the
 * standard endpoint variables (see `env()`).
 */
export class AwsEmulator {
  readonly context: EmulatorContext;
  readonly faults: FaultInjector;
  readonly calls = new CallLog();
  readonly ec2: Ec2Service;
  readonly autoscaling: AutoScalingService;
  readonly sqs: SqsService;
  readonly sns: SnsService;
  readonly imds: ImdsService;
  readonly s3: S3Service;
  readonly logs: LogsService;
  private readonly handlers: Map<ServiceName, ServiceHandler>;
  private server?: Server;
  private readonly sockets = new Set<Socket>();
  private port = 0;

  constructor(private readonly options: EmulatorOptions = {}) {
    const random = seededRandom(options.seed ?? 42);
    this.context = createContext(random);
    this.faults = new FaultInjector(seededRandom((options.seed ?? 42) + 1));
    this.ec2 = new Ec2Service(this.context, options.ec2);
    this.autoscaling = new AutoScalingService(this.context, options.autoscaling);
    this.sqs = new SqsService(this.context, options.sqs);
    this.sns = new SnsService(this.context, options.sns);
    // SNS delivers to SQS subscriptions only where the queue's policy lets the topic in.
    this.sns.deliverToQueue = (queueArn, topicArn, body) =>
      this.sqs.deliverFromTopic(queueArn, topicArn, body);
    this.imds = new ImdsService(this.context);
    this.s3 = new S3Service(this.context);
    this.logs = new LogsService(this.context);
    // Auto Scaling posts lifecycle notifications to SQS and, once an action completes, EC2 terminates the instance.
    this.autoscaling.sendToQueue = (queueUrl, body) => this.sqs.send(queueUrl, body);
    this.autoscaling.onInstanceTerminated((instanceId) => {
      if (this.ec2.instances().some((i) => i.instanceId === instanceId))
        this.ec2.setInstanceState(instanceId, 'terminated');
    });
    this.handlers = new Map<ServiceName, ServiceHandler>(
      [this.ec2, this.autoscaling, this.sqs, this.sns, this.imds, this.s3, this.logs].map((h) => [
        h.service,
        h,
      ]),
    );
  }

  static async start(options: EmulatorOptions = {}): Promise<AwsEmulator> {
    const emulator = new AwsEmulator(options);
    await emulator.listen();
    return emulator;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Environment for a child process (the daemon) so every SDK client and IMDS point here. */
  env(): Record<string, string> {
    return {
      AWS_ENDPOINT_URL: this.url,
      AWS_EC2_METADATA_SERVICE_ENDPOINT: this.url,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: DAEMON_ACCESS_KEY_ID,
      AWS_SECRET_ACCESS_KEY: 'emulator-secret',
      AWS_EC2_METADATA_DISABLED: 'true',
    };
  }

  async listen(): Promise<void> {
    this.server = createServer((req, res) => void this.onRequest(req, res));
    this.server.keepAliveTimeout = 1000;
    this.server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(this.options.port ?? 0, '127.0.0.1', () => resolve());
    });
    this.port = (this.server.address() as AddressInfo).port;
    this.sqs.setBaseUrl(this.url);
  }

  async stop(): Promise<void> {
    this.ec2.stop?.();
    this.autoscaling.stop?.();
    this.sqs.stop?.();
    this.imds.stop?.();
    this.s3.stop?.();
    this.logs.stop?.();
    for (const s of this.sockets) s.destroy();
    if (this.server) await new Promise<void>((resolve) => this.server!.close(() => resolve()));
    this.server = undefined;
  }

  private async onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (url.pathname.startsWith('/_emulator/')) return this.control(url, req, body, res);
    let parsed: EmulatorRequest;
    try {
      parsed = this.parse(req, url, body);
    } catch (err) {
      res.writeHead(400, { 'content-type': 'text/plain' }).end(`emulator: ${(err as Error).message}`);
      return;
    }
    const hangUp = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) hangUp.abort();
    });
    parsed.signal = hangUp.signal;
    const record = this.calls.begin(this.context.now(), parsed, isMutating(parsed.service, parsed.action));
    const answer = await this.answer(parsed, res, record);
    if (answer === 'dropped') {
      this.calls.finish(record, 0, 'ConnectionDropped', 'drop');
      return;
    }
    const { response, errorCode, injected } = answer;
    this.calls.finish(record, response.status, errorCode, injected);
    if (res.destroyed) return;
    res.writeHead(response.status, { 'x-amzn-requestid': this.context.requestId(), ...response.headers });
    res.end(response.body);
  }

  private async answer(
    req: EmulatorRequest,
    res: ServerResponse,
    record: CallRecord,
  ): Promise<'dropped' | { response: EmulatorResponse; errorCode?: string; injected?: string }> {
    const rules = this.faults.match(req.service, req.action);
    const latency =
      this.faults.baseLatencyMs + rules.reduce((ms, r) => (r.kind === 'latency' ? ms + r.ms : ms), 0);
    if (latency > 0) await new Promise((r) => setTimeout(r, latency));
    for (const rule of rules) {
      if (rule.kind === 'drop') {
        res.socket?.destroy();
        return 'dropped';
      }
      if (rule.kind === 'hang') {
        await new Promise<void>((resolve) => res.on('close', resolve));
        return 'dropped';
      }
      if (rule.kind === 'throttle') return this.injected(req, throttleCode(req.service), 'throttle');
      if (rule.kind === 'before') {
        try {
          rule.run(record);
        } catch (err) {
          const answer =
            err instanceof EmulatorError
              ? err
              : new EmulatorError('InternalError', `emulator hook: ${(err as Error).message}`, 500);
          return this.injected(req, answer, 'before');
        }
      }
      if (rule.kind === 'error') {
        const e = {
          code: rule.code,
          status: rule.status ?? 500,
          message: rule.message ?? `injected ${rule.code}`,
        };
        return this.injected(req, e, 'error');
      }
    }
    if (this.faults.throttled(req.service, req.action))
      return this.injected(req, throttleCode(req.service), 'bucket');
    const handler = this.handlers.get(req.service)!;
    try {
      const response = await handler.handle(req);
      return { response };
    } catch (err) {
      if (err instanceof EmulatorError) {
        return {
          response: renderError(req.service, err.code, err.message, err.status, this.context.requestId()),
          errorCode: err.code,
        };
      }
      const message = (err as Error).message ?? String(err);
      return {
        response: renderError(
          req.service,
          'InternalError',
          `emulator bug: ${message}`,
          500,
          this.context.requestId(),
        ),
        errorCode: 'InternalError',
      };
    }
  }

  private injected(req: EmulatorRequest, e: { code: string; status: number; message: string }, kind: string) {
    return {
      response: renderError(req.service, e.code, e.message, e.status, this.context.requestId()),
      errorCode: e.code,
      injected: kind,
    };
  }

  private parse(req: IncomingMessage, url: URL, body: Buffer): EmulatorRequest {
    const method = req.method ?? 'GET';
    const base = { method, path: url.pathname, query: url.searchParams, headers: req.headers, body };
    // Versioned IMDS paths (/2021-03-23/...) too, so a PUT there gets IMDS's 403 rather than S3.
    if (/^\/(latest|\d{4}-\d{2}-\d{2})\//.test(url.pathname)) {
      return {
        ...base,
        service: 'imds',
        action: `${method} ${url.pathname}`,
        form: new URLSearchParams(),
        json: {},
      };
    }
    const target = String(req.headers['x-amz-target'] ?? '');
    if (target) {
      const [prefix, action] = target.split('.');
      const service: ServiceName = prefix.startsWith('AmazonSQS')
        ? 'sqs'
        : prefix.startsWith('Logs_')
          ? 'logs'
          : 'sqs';
      const json = body.length ? (JSON.parse(body.toString('utf8')) as Record<string, unknown>) : {};
      return { ...base, service, action, form: new URLSearchParams(), json };
    }
    const contentType = String(req.headers['content-type'] ?? '');
    if (method === 'POST' && contentType.startsWith('application/x-www-form-urlencoded')) {
      const form = new URLSearchParams(body.toString('utf8'));
      const action = form.get('Action') ?? '';
      const version = form.get('Version') ?? '';
      if (!action) throw new Error('form request without Action');
      const service: ServiceName =
        version === '2011-01-01' ? 'autoscaling' : version === '2010-03-31' ? 'sns' : 'ec2';
      return { ...base, service, action, form, json: {} };
    }
    return { ...base, service: 's3', action: s3Action(method, url), form: new URLSearchParams(), json: {} };
  }

  /** A tiny JSON control API for the standalone emulator (`npm run emulator`) and scripts. */
  private control(url: URL, _req: IncomingMessage, body: Buffer, res: ServerResponse): void {
    const send = (status: number, value: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value, null, 2));
    };
    try {
      const input = body.length ? JSON.parse(body.toString('utf8')) : {};
      switch (url.pathname) {
        case '/_emulator/state':
          return send(200, {
            ec2: this.ec2.snapshot(),
            autoscaling: this.autoscaling.snapshot(),
            sqs: this.sqs.snapshot(),
            sns: this.sns.subscriptions(),
          });
        case '/_emulator/calls':
          return send(200, this.calls.all());
        case '/_emulator/imds':
          this.imds.configure(input);
          return send(200, { ok: true });
        case '/_emulator/faults':
          this.faults.add(input);
          return send(200, { ok: true });
        case '/_emulator/faults/clear':
          this.faults.clear();
          return send(200, { ok: true });
        default:
          return send(404, { error: `unknown control path ${url.pathname}` });
      }
    } catch (err) {
      return send(400, { error: (err as Error).message });
    }
  }
}

function s3Action(method: string, url: URL): string {
  const parts = url.pathname.split('/').filter(Boolean);
  if (parts.length === 0 && method === 'GET') return 'ListBuckets';
  if (parts.length <= 1) {
    switch (method) {
      case 'GET':
        return url.searchParams.get('list-type') === '2' ? 'ListObjectsV2' : 'ListObjects';
      case 'PUT':
        return 'CreateBucket';
      case 'HEAD':
        return 'HeadBucket';
      case 'DELETE':
        return 'DeleteBucket';
      default:
        return `${method}Bucket`;
    }
  }
  switch (method) {
    case 'PUT':
      return 'PutObject';
    case 'GET':
      return 'GetObject';
    case 'HEAD':
      return 'HeadObject';
    case 'DELETE':
      return 'DeleteObject';
    default:
      return `${method}Object`;
  }
}
