#!/usr/bin/env node
import { runCli } from './cli';

runCli(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`teardownd: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
  },
);
