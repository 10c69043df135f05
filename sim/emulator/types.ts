import type { IncomingHttpHeaders } from 'node:http';

export type ServiceName = 'ec2' | 'autoscaling' | 'sqs' | 'sns' | 'imds' | 's3' | 'logs';

export interface EmulatorRequest {
  service: ServiceName;
  /** API action (`DescribeVpcs`, `ReceiveMessage`, `PutObject`); for IMDS `GET /latest/...` style names. */
  action: string;
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** Query-protocol services (EC2, Auto Scaling, SNS): the form parameters. */
  form: URLSearchParams;
  /** JSON-protocol services (SQS, CloudWatch Logs): the parsed body. */
  json: Record<string, unknown>;
  /** Aborted when the client hangs up before the answer is sent (ends an SQS long poll early). */
  signal?: AbortSignal;
}

export interface EmulatorResponse {
  status: number;
  headers?: Record<string, string>;
  body: string | Buffer;
}

/** Thrown by a service handler; the server renders it in that service's wire format. */
export class EmulatorError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

export interface ServiceHandler {
  readonly service: ServiceName;
  handle(req: EmulatorRequest): EmulatorResponse | Promise<EmulatorResponse>;
}

/** One entry of the emulator's call log: every request received, in order. */
export interface CallRecord {
  seq: number;
  /** Epoch ms when the request arrived. */
  at: number;
  service: ServiceName;
  action: string;
  /** Form or JSON parameters, flattened for assertions. */
  params: Record<string, unknown>;
  mutating: boolean;
  /**
   * Access key id the request was signed with (SigV4 `Credential=`), so a test can tell the daemon's
   * calls (`AKIAEMULATOR`, see `AwsEmulator.env()`) from a fake loxilb node's; undefined when unsigned.
   */
  caller?: string;
  status: number;
  errorCode?: string;
  /** Set when a fault rule answered instead of the service. */
  injected?: string;
}
