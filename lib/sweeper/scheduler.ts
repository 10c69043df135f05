import cron from 'node-cron';

/**
 * When `expression` (sweeper.schedule, checked by the config schema at load) fires next after now.
 * node-cron reads the local time through Intl, which costs the process several megabytes of ICU data
 * for good; so this runs in the daemon's sweep child, which tells the daemon (daemon/sweep-schedule.ts
 * keeps the jitter, the one-at-a-time rule and the prompt stop).
 */
export function nextCronRun(expression: string): Date {
  const task = cron.createTask(expression, () => undefined);
  try {
    return task.getNextRuns(1)[0];
  } finally {
    void task.destroy();
  }
}
