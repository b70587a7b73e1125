/** What the benchmarks read about the machine they run on (Linux /proc; null elsewhere). */
import { readFileSync } from 'node:fs';

/** Clock ticks per second of /proc's CPU times (USER_HZ = 100 on Linux), as ms per tick. */
export const TICK_MS = 10;

/** CPU time of the whole machine from /proc/stat (Linux), in ms: busy (user+nice+system+irq+softirq) and steal; null elsewhere. */
export function machineCpu(): { busyMs: number; stealMs: number } | null {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    return { busyMs: (f[0] + f[1] + f[2] + f[5] + f[6]) * TICK_MS, stealMs: f[7] * TICK_MS };
  } catch {
    return null;
  }
}
