import { CallRecord, EmulatorRequest, ServiceName } from './types';

function paramsOf(req: EmulatorRequest): Record<string, unknown> {
  if (req.service === 'ec2' || req.service === 'autoscaling') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of req.form) if (k !== 'Action' && k !== 'Version') out[k] = v;
    return out;
  }
  if (req.service === 's3' || req.service === 'imds') return { path: req.path };
  return { ...req.json };
}

/** Every request the emulator received, for assertions like "no mutating call was made". */
export class CallLog {
  private records: CallRecord[] = [];
  private seq = 0;

  begin(at: number, req: EmulatorRequest, mutating: boolean): CallRecord {
    const record: CallRecord = {
      seq: ++this.seq,
      at,
      service: req.service,
      action: req.action,
      params: paramsOf(req),
      mutating,
      status: 0,
    };
    const caller = /Credential=([^/,\s]+)\//.exec(String(req.headers.authorization ?? ''))?.[1];
    if (caller) record.caller = caller;
    this.records.push(record);
    return record;
  }

  finish(record: CallRecord, status: number, errorCode?: string, injected?: string): void {
    record.status = status;
    if (errorCode) record.errorCode = errorCode;
    if (injected) record.injected = injected;
  }

  all(): CallRecord[] {
    return [...this.records];
  }

  /** Mutating calls (optionally of one service) that reached the service (fault-injected ones excluded unless asked). */
  mutating(service?: ServiceName, includeInjected = false): CallRecord[] {
    return this.records.filter(
      (r) => r.mutating && (!service || r.service === service) && (includeInjected || !r.injected),
    );
  }

  /** Calls signed with this access key id (one actor: the daemon, or one fake loxilb node). */
  by(caller: string): CallRecord[] {
    return this.records.filter((r) => r.caller === caller);
  }

  of(service: ServiceName, action?: string): CallRecord[] {
    return this.records.filter((r) => r.service === service && (!action || r.action === action));
  }

  clear(): void {
    this.records = [];
  }
}
