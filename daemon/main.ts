#!/usr/bin/env node
import { setFlagsFromString } from 'node:v8';
import { runCli } from './cli';

// The daemon waits on I/O nearly all its life: V8's optimising compiler and its speed-over-size
// heuristics would buy it nothing but memory (about 9 MB at rest), so it runs without them. Set
// before any of the CLI runs; flags V8 reads at start-up are out of reach here on purpose.
setFlagsFromString('--optimize-for-size');
setFlagsFromString('--no-opt');

runCli(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`teardownd: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
  },
);
