/**
 * The metadata an instance sees, built from the emulator's IMDS configuration as a tree: a string
 * is a leaf (its body), an object a directory (listed one child per line, sub-directories with a
 * trailing `/`). Formats follow real IMDS (shared/reference/aws-wire-formats.md §1): compact JSON
 * for spot/rebalance notices, Jackson's `" : "` spacing and "21 Jan 2019 09:00:43 GMT" dates for
 * scheduled events.
 */
export type ImdsTree = { [name: string]: string | ImdsTree };

export interface ImdsMac {
  mac: string;
  deviceNumber: number;
  interfaceId: string;
  vpcId?: string;
  subnetId?: string;
  /** Primary first. */
  localIpv4s?: string[];
  /** All IPv4 CIDRs of the VPC, primary first (`vpc-ipv4-cidr-block` is the first). */
  vpcCidrBlocks?: string[];
  subnetCidrBlock?: string;
  ownerId?: string;
  securityGroupIds?: string[];
  /** Public IP → private IP it maps to (`public-ipv4s`, `ipv4-associations/<ip>`). */
  publicIpv4s?: Record<string, string>;
}

export type ImdsTime = string | number | Date;

export interface ImdsScheduledEvent {
  Code: string;
  Description: string;
  EventId: string;
  State: 'active' | 'completed' | 'canceled';
  /** A preformatted IMDS date string, or a time that is formatted like IMDS does. */
  NotBefore: ImdsTime;
  NotAfter?: ImdsTime;
  NotBeforeDeadline?: ImdsTime;
}

export interface ImdsConfig {
  instanceId: string;
  region: string;
  az: string;
  accountId: string;
  instanceType: string;
  amiId: string;
  lifeCycle: 'on-demand' | 'spot';
  macs: ImdsMac[];
  spotAction: { action: 'terminate' | 'stop' | 'hibernate'; time: ImdsTime } | null;
  rebalanceNoticeTime: ImdsTime | null;
  scheduledEvents: ImdsScheduledEvent[];
  targetLifecycleState: string | null;
  /** Instance tags in metadata (InstanceMetadataTags=enabled); empty = the `tags/` path is absent. */
  tags: Record<string, string>;
  /** Allow tokenless (IMDSv1) GETs, as on instances with HttpTokens=optional. */
  v1Allowed: boolean;
  /** Caps the TTL granted to a token (seconds), so tests can watch tokens expire. */
  tokenTtlCapSeconds: number | null;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** "21 Jan 2019 09:00:43 GMT": the date format IMDS uses for scheduled events (day not padded). */
export function imdsEventDate(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} GMT`;
}

/** RFC 3339 without fractional seconds, as spot and rebalance notices carry. */
export function imdsNoticeTime(t: ImdsTime): string {
  if (typeof t === 'string') return t;
  return new Date(t).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function eventDate(t: ImdsTime): string {
  return typeof t === 'string' ? t : imdsEventDate(new Date(t).getTime());
}

/** Jackson's default pretty printer, which real IMDS uses for maintenance events. */
export function jacksonArray(events: ImdsScheduledEvent[]): string {
  if (events.length === 0) return '[]';
  const objects = events.map((e) => {
    const ordered: Array<[string, string | undefined]> = [
      ['NotBefore', eventDate(e.NotBefore)],
      ['Code', e.Code],
      ['Description', e.Description],
      ['EventId', e.EventId],
      ['NotAfter', e.NotAfter === undefined ? undefined : eventDate(e.NotAfter)],
      ['NotBeforeDeadline', e.NotBeforeDeadline === undefined ? undefined : eventDate(e.NotBeforeDeadline)],
      ['State', e.State],
    ];
    const lines = ordered
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `  "${k}" : ${JSON.stringify(v)}`);
    return `{\n${lines.join(',\n')}\n}`;
  });
  return `[ ${objects.join(', ')} ]`;
}

function jacksonObject(values: Record<string, string | null>): string {
  const lines = Object.entries(values).map(([k, v]) => `  "${k}" : ${JSON.stringify(v)}`);
  return `{\n${lines.join(',\n')}\n}`;
}

function macTree(m: ImdsMac, accountId: string): ImdsTree {
  const t: ImdsTree = {
    'device-number': String(m.deviceNumber),
    'interface-id': m.interfaceId,
    mac: m.mac,
    'owner-id': m.ownerId ?? accountId,
  };
  if (m.localIpv4s?.length) {
    t['local-ipv4s'] = m.localIpv4s.join('\n');
    t['local-hostname'] = `ip-${m.localIpv4s[0].replace(/\./g, '-')}.ec2.internal`;
  }
  if (m.securityGroupIds?.length) t['security-group-ids'] = m.securityGroupIds.join('\n');
  if (m.subnetId) t['subnet-id'] = m.subnetId;
  if (m.subnetCidrBlock) t['subnet-ipv4-cidr-block'] = m.subnetCidrBlock;
  if (m.vpcId) t['vpc-id'] = m.vpcId;
  if (m.vpcCidrBlocks?.length) {
    t['vpc-ipv4-cidr-block'] = m.vpcCidrBlocks[0];
    t['vpc-ipv4-cidr-blocks'] = m.vpcCidrBlocks.join('\n');
  }
  const publics = Object.entries(m.publicIpv4s ?? {});
  if (publics.length) {
    t['public-ipv4s'] = publics.map(([pub]) => pub).join('\n');
    t['ipv4-associations'] = Object.fromEntries(publics);
  }
  return t;
}

export function buildImdsTree(c: ImdsConfig): ImdsTree {
  const primary = c.macs.find((m) => m.deviceNumber === 0);
  const privateIp = primary?.localIpv4s?.[0];
  const metaData: ImdsTree = {
    'ami-id': c.amiId,
    'instance-id': c.instanceId,
    'instance-life-cycle': c.lifeCycle,
    'instance-type': c.instanceType,
    placement: {
      'availability-zone': c.az,
      region: c.region,
    },
    events: {
      maintenance: {
        scheduled: jacksonArray(c.scheduledEvents.filter((e) => e.State === 'active')),
        history: jacksonArray(c.scheduledEvents.filter((e) => e.State !== 'active')),
      },
    },
  };
  if (privateIp) {
    metaData['local-ipv4'] = privateIp;
    metaData.hostname = `ip-${privateIp.replace(/\./g, '-')}.ec2.internal`;
  }
  if (primary) metaData.mac = primary.mac;
  if (c.macs.length) {
    metaData.network = {
      interfaces: { macs: Object.fromEntries(c.macs.map((m) => [m.mac, macTree(m, c.accountId)])) },
    };
  }
  if (c.spotAction) {
    const time = imdsNoticeTime(c.spotAction.time);
    metaData.spot = {
      'instance-action': `{"action": "${c.spotAction.action}", "time": "${time}"}`,
      'termination-time': time,
    };
  }
  if (c.rebalanceNoticeTime !== null) {
    (metaData.events as ImdsTree).recommendations = {
      rebalance: `{"noticeTime": "${imdsNoticeTime(c.rebalanceNoticeTime)}"}`,
    };
  }
  if (c.targetLifecycleState) metaData.autoscaling = { 'target-lifecycle-state': c.targetLifecycleState };
  if (Object.keys(c.tags).length) metaData.tags = { instance: { ...c.tags } };
  return {
    'meta-data': metaData,
    dynamic: {
      'instance-identity': {
        document: jacksonObject({
          accountId: c.accountId,
          architecture: 'x86_64',
          availabilityZone: c.az,
          billingProducts: null,
          devpayProductCodes: null,
          marketplaceProductCodes: null,
          imageId: c.amiId,
          instanceId: c.instanceId,
          instanceType: c.instanceType,
          kernelId: null,
          pendingTime: '2026-01-01T00:00:00Z',
          privateIp: privateIp ?? null,
          ramdiskId: null,
          region: c.region,
          version: '2017-09-30',
        }),
      },
    },
  };
}

/** The body at a path below /latest/ (`meta-data/placement/region`), or undefined (404). */
export function lookupImds(tree: ImdsTree, path: string): string | undefined {
  let node: string | ImdsTree = tree;
  for (const part of path.split('/').filter(Boolean)) {
    if (typeof node === 'string') return undefined;
    node = node[part];
    if (node === undefined) return undefined;
  }
  if (typeof node === 'string') return node;
  return Object.entries(node)
    .map(([name, child]) => (typeof child === 'string' ? name : `${name}/`))
    .join('\n');
}
