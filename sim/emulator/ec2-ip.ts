import { EmulatorError } from './types';

/** IPv4 and CIDR arithmetic for the EC2 emulator (subnet ranges, free address allocation). */

export interface Cidr {
  /** Network address as an unsigned 32-bit number. */
  base: number;
  prefix: number;
  /** Number of addresses in the block. */
  size: number;
  text: string;
}

export function ipToNumber(ip: string): number | undefined {
  const parts = ip.split('.');
  if (parts.length !== 4) return undefined;
  let n = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) return undefined;
    n = n * 256 + Number(p);
  }
  return n;
}

export function numberToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** Parses `a.b.c.d/nn`; returns undefined when malformed or when host bits are set. */
export function parseCidr(text: string): Cidr | undefined {
  const m = /^(\d+\.\d+\.\d+\.\d+)\/(\d{1,2})$/.exec(text);
  if (!m) return undefined;
  const ip = ipToNumber(m[1]);
  const prefix = Number(m[2]);
  if (ip === undefined || prefix > 32) return undefined;
  const size = 2 ** (32 - prefix);
  if (ip % size !== 0) return undefined;
  return { base: ip, prefix, size, text };
}

/** Like parseCidr but answers malformed input with EC2's `InvalidParameterValue`. */
export function requireCidr(text: string, what = 'CIDR block'): Cidr {
  const c = parseCidr(text);
  if (!c)
    throw new EmulatorError(
      'InvalidParameterValue',
      `Value (${text}) for parameter cidrBlock is invalid. This is not a valid ${what}.`,
    );
  return c;
}

export function cidrContains(outer: Cidr, inner: Cidr): boolean {
  return inner.base >= outer.base && inner.base + inner.size <= outer.base + outer.size;
}

export function cidrOverlaps(a: Cidr, b: Cidr): boolean {
  return a.base < b.base + b.size && b.base < a.base + a.size;
}

export function cidrContainsIp(c: Cidr, ip: string): boolean {
  const n = ipToNumber(ip);
  return n !== undefined && n >= c.base && n < c.base + c.size;
}

/**
 * Lowest free host address of a subnet. AWS reserves the first four addresses and the last one
 * of every subnet, so those are never handed out.
 */
export function nextFreeIp(subnet: Cidr, used: Set<string>): string | undefined {
  for (let n = subnet.base + 4; n < subnet.base + subnet.size - 1; n++) {
    const ip = numberToIp(n);
    if (!used.has(ip)) return ip;
  }
  return undefined;
}

/** Usable addresses of a subnet (AWS reserves 5). */
export function usableAddresses(subnet: Cidr): number {
  return Math.max(0, subnet.size - 5);
}
