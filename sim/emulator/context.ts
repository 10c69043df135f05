/** Shared by every service of one emulator: time, randomness, ids. */
export interface EmulatorContext {
  now(): number;
  random(): number;
  /** `newId('eni')` → `eni-0a1b2c3d4e5f60718`-style ids, unique within this emulator. */
  newId(prefix: string): string;
  /** Request id for responses. */
  requestId(): string;
}

export function createContext(random: () => number, now: () => number = Date.now): EmulatorContext {
  let counter = 0;
  const hex = (n: number) => {
    let s = '';
    for (let i = 0; i < n; i++) s += Math.floor(random() * 16).toString(16);
    return s;
  };
  return {
    now,
    random,
    newId: (prefix) => `${prefix}-${(++counter).toString(16).padStart(4, '0')}${hex(13)}`,
    requestId: () => `${hex(8)}-${hex(4)}-4${hex(3)}-a${hex(3)}-${hex(12)}`,
  };
}
