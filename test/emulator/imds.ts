import { randomBytes } from 'node:crypto';
import { EmulatorContext } from './context';
import { imdsErrorPage } from './render';
import { EmulatorRequest, EmulatorResponse, ServiceHandler } from './types';

/**
 * IMDSv2 as real IMDS behaves (not as AEMM does): tokens are required and validated, expired or
 * revoked tokens get 401, absent notices get the XHTML 404 page, bodies are text/plain, spot and
 * rebalance JSON is compact, scheduled events use Jackson's " : " spacing and "21 Jan 2019
 * 09:00:43 GMT" dates. See shared/reference/aws-wire-formats.md §1.
 *
 * Programmatic API (`emulator.imds`):
 *   configure(partial ImdsConfig)         any field below; `spotAction: null` clears the notice
 *   setSpotAction(action='terminate', time=now+120 s) / clearSpotAction()
 *   setTargetLifecycleState(state) / setScheduledEvents(events) / setRebalance(noticeTime?)
 *   revokeTokens()                        every issued token now answers 401
 *   tokensIssued, requests (path → count)
 */
export interface ImdsMac {
  mac: string;
  deviceNumber: number;
  interfaceId: string;
  vpcId?: string;
  subnetId?: string;
  localIpv4s?: string[];
  vpcCidrBlocks?: string[];
}

export interface ImdsScheduledEvent {
  Code: string;
  Description: string;
  EventId: string;
  State: 'active' | 'completed' | 'canceled';
  NotBefore: string;
  NotAfter?: string;
}

export interface ImdsConfig {
  instanceId: string;
  region: string;
  az: string;
  lifeCycle: 'on-demand' | 'spot';
  macs: ImdsMac[];
  spotAction: { action: 'terminate' | 'stop' | 'hibernate'; time: string } | null;
  rebalanceNoticeTime: string | null;
  scheduledEvents: ImdsScheduledEvent[];
  targetLifecycleState: string | null;
  tags: Record<string, string>;
  /** Allow tokenless (IMDSv1) GETs; real instances with HttpTokens=optional. */
  v1Allowed: boolean;
  /** Caps the TTL granted to a token (seconds), so tests can watch tokens expire. */
  tokenTtlCapSeconds: number | null;
}

/** "21 Jan 2019 09:00:43 GMT": the date format IMDS uses for scheduled events. */
export function imdsEventDate(ms: number): string {
  const d = new Date(ms);
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getUTCDate()} ${months[d.getUTCMonth()]} ${d.getUTCFullYear()} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} GMT`;
}

function text(body: string, headers: Record<string, string> = {}): EmulatorResponse {
  return { status: 200, headers: { 'content-type': 'text/plain', ...headers }, body };
}

export class ImdsService implements ServiceHandler {
  readonly service = 'imds' as const;
  private cfg: ImdsConfig = {
    instanceId: 'i-0123456789abcdef0',
    region: 'us-east-1',
    az: 'us-east-1a',
    lifeCycle: 'on-demand',
    macs: [],
    spotAction: null,
    rebalanceNoticeTime: null,
    scheduledEvents: [],
    targetLifecycleState: null,
    tags: {},
    v1Allowed: false,
    tokenTtlCapSeconds: null,
  };
  private tokens = new Map<string, number>();
  tokensIssued = 0;
  readonly requests = new Map<string, number>();

  constructor(readonly ctx: EmulatorContext) {}

  configure(input: Partial<ImdsConfig>): void {
    this.cfg = { ...this.cfg, ...input };
  }

  get config(): ImdsConfig {
    return JSON.parse(JSON.stringify(this.cfg)) as ImdsConfig;
  }

  setSpotAction(action: 'terminate' | 'stop' | 'hibernate' = 'terminate', time?: string): void {
    this.cfg.spotAction = {
      action,
      time: time ?? new Date(this.ctx.now() + 120_000).toISOString().replace(/\.\d{3}Z$/, 'Z'),
    };
  }

  clearSpotAction(): void {
    this.cfg.spotAction = null;
  }

  setTargetLifecycleState(state: string | null): void {
    this.cfg.targetLifecycleState = state;
  }

  setScheduledEvents(events: ImdsScheduledEvent[]): void {
    this.cfg.scheduledEvents = events;
  }

  setRebalance(
    noticeTime: string | null = new Date(this.ctx.now()).toISOString().replace(/\.\d{3}Z$/, 'Z'),
  ): void {
    this.cfg.rebalanceNoticeTime = noticeTime;
  }

  revokeTokens(): void {
    this.tokens.clear();
  }

  requestCount(path: string): number {
    return this.requests.get(path) ?? 0;
  }

  snapshot(): unknown {
    return { config: this.cfg, tokensIssued: this.tokensIssued, requests: Object.fromEntries(this.requests) };
  }

  stop(): void {}

  handle(req: EmulatorRequest): EmulatorResponse {
    this.requests.set(req.path, (this.requests.get(req.path) ?? 0) + 1);
    if (req.path === '/latest/api/token') return this.token(req);
    if (/^\/[^/]+\/api\/token$/.test(req.path)) return imdsErrorPage(403);
    if (req.method !== 'GET' && req.method !== 'HEAD') return imdsErrorPage(405);
    if (!this.authorized(req)) return imdsErrorPage(401);
    const value = this.lookup(req.path.replace(/\/+$/, ''));
    if (value === undefined) return imdsErrorPage(404);
    return text(value);
  }

  private token(req: EmulatorRequest): EmulatorResponse {
    if (req.method !== 'PUT') return imdsErrorPage(405);
    if (req.headers['x-forwarded-for'] !== undefined) return imdsErrorPage(403);
    const raw = req.headers['x-aws-ec2-metadata-token-ttl-seconds'];
    const ttl = Number(Array.isArray(raw) ? raw[0] : raw);
    if (!Number.isInteger(ttl) || ttl < 1 || ttl > 21600) return imdsErrorPage(400);
    const granted = this.cfg.tokenTtlCapSeconds ? Math.min(ttl, this.cfg.tokenTtlCapSeconds) : ttl;
    const token = randomBytes(24).toString('base64url');
    this.tokens.set(token, this.ctx.now() + granted * 1000);
    this.tokensIssued++;
    return text(token, { 'x-aws-ec2-metadata-token-ttl-seconds': String(granted) });
  }

  private authorized(req: EmulatorRequest): boolean {
    const raw = req.headers['x-aws-ec2-metadata-token'];
    const token = Array.isArray(raw) ? raw[0] : raw;
    if (token === undefined) return this.cfg.v1Allowed;
    const expires = this.tokens.get(token);
    if (expires === undefined) return false;
    if (expires <= this.ctx.now()) {
      this.tokens.delete(token);
      return false;
    }
    return true;
  }

  private lookup(path: string): string | undefined {
    const c = this.cfg;
    if (path === '/latest/dynamic/instance-identity/document') {
      return JSON.stringify(
        {
          accountId: '123456789012',
          architecture: 'x86_64',
          availabilityZone: c.az,
          imageId: 'ami-0123456789abcdef0',
          instanceId: c.instanceId,
          instanceType: 'c6i.large',
          privateIp: c.macs[0]?.localIpv4s?.[0] ?? '10.0.1.10',
          region: c.region,
          version: '2017-09-30',
        },
        null,
        2,
      );
    }
    const md = '/latest/meta-data/';
    if (!path.startsWith(md)) return undefined;
    const p = path.slice(md.length);
    switch (p) {
      case 'instance-id':
        return c.instanceId;
      case 'placement/region':
        return c.region;
      case 'placement/availability-zone':
        return c.az;
      case 'instance-life-cycle':
        return c.lifeCycle;
      case 'mac':
        return c.macs.find((m) => m.deviceNumber === 0)?.mac;
      case 'network/interfaces/macs':
        return c.macs.length ? c.macs.map((m) => `${m.mac}/`).join('\n') : undefined;
      case 'spot/instance-action':
        return c.spotAction
          ? `{"action": "${c.spotAction.action}", "time": "${c.spotAction.time}"}`
          : undefined;
      case 'spot/termination-time':
        return c.spotAction?.action === 'terminate' ? c.spotAction.time : undefined;
      case 'events/recommendations/rebalance':
        return c.rebalanceNoticeTime ? `{"noticeTime": "${c.rebalanceNoticeTime}"}` : undefined;
      case 'events/maintenance/scheduled':
        return jacksonArray(c.scheduledEvents.filter((e) => e.State === 'active'));
      case 'events/maintenance/history':
        return jacksonArray(c.scheduledEvents.filter((e) => e.State !== 'active'));
      case 'autoscaling/target-lifecycle-state':
        return c.targetLifecycleState ?? undefined;
      case 'tags/instance':
        return Object.keys(c.tags).length ? Object.keys(c.tags).join('\n') : undefined;
    }
    if (p.startsWith('tags/instance/')) return c.tags[p.slice('tags/instance/'.length)];
    const m = /^network\/interfaces\/macs\/([^/]+)(?:\/(.+))?$/.exec(p);
    if (m) return this.macValue(m[1], m[2]);
    return undefined;
  }

  private macValue(mac: string, leaf: string | undefined): string | undefined {
    const entry = this.cfg.macs.find((m) => m.mac === mac);
    if (!entry) return undefined;
    const leaves: Record<string, string | undefined> = {
      'device-number': String(entry.deviceNumber),
      'interface-id': entry.interfaceId,
      mac: entry.mac,
      'vpc-id': entry.vpcId,
      'subnet-id': entry.subnetId,
      'local-ipv4s': entry.localIpv4s?.join('\n'),
      'vpc-ipv4-cidr-block': entry.vpcCidrBlocks?.[0],
      'vpc-ipv4-cidr-blocks': entry.vpcCidrBlocks?.join('\n'),
    };
    if (leaf === undefined)
      return Object.keys(leaves)
        .filter((k) => leaves[k] !== undefined)
        .join('\n');
    return leaves[leaf];
  }
}

/** Scheduled events as real IMDS prints them (Jackson pretty printer). */
function jacksonArray(events: ImdsScheduledEvent[]): string {
  if (events.length === 0) return '[]';
  const objects = events.map((e) => {
    const fields = Object.entries(e)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `    "${k}" : ${JSON.stringify(v)}`);
    return `  {\n${fields.join(',\n')}\n  }`;
  });
  return `[ \n${objects.join(', \n')} \n]`;
}
