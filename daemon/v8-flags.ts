import { setFlagsFromString } from 'node:v8';

/**
 * The daemon waits on I/O nearly all its life: V8's optimising compiler and its speed-over-size
 * heuristics would buy it nothing but memory (about 9 MB at rest), so it runs without them. Set
 * first thing in daemon/main.ts; `npm run package` sets the same before it makes the SDK pack's code
 * cache, which V8 accepts only under the flags it was made with.
 */
export const V8_FLAGS = ['--optimize-for-size', '--no-opt'] as const;

export function tuneV8(): void {
  for (const flag of V8_FLAGS) setFlagsFromString(flag);
}
