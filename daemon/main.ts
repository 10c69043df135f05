#!/usr/bin/env node
import { runCli } from './cli';
import { tuneV8 } from './v8-flags';

// Before any of the CLI runs (module initialisation is done by now: the flags change how code is
// compiled and the heap grows from here on, which is where the daemon's memory goes).
tuneV8();

runCli(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`teardownd: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
  },
);
