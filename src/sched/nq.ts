// Never queue (ip_vs_nq.c): the first available destination with no active connection;
// when every one is busy, shortest expected delay ((active + 1) / weight, as sed).

import type { Scheduler, SchedService } from './types.js';
import type { DestTable } from '../datapath/dests.js';
import { destName, skipped } from './common.js';
import { sedPick, sedWhy } from './sed.js';
import { BY_NQ, firstIdle, tourneyHooks } from './tourney.js';

export const nq: Scheduler = {
  name: 'nq',
  // The scan, or from 64 destinations a tournament tree ordering idle first, then by sed's key.
  ...tourneyHooks(BY_NQ),
  explain(svc: SchedService, dt: DestTable) {
    const d = firstIdle(svc, dt);
    if (d >= 0) return { dest: d, why: `nq: ${destName(dt, d)} is idle (0 active), the first idle one in list order${skipped(svc, dt)}` };
    const dest = sedPick(svc, dt);
    return { dest, why: `${dest < 0 ? 'nq: no available destination' : `${sedWhy('nq', svc, dt, dest)} (no idle destination)`}${skipped(svc, dt)}` };
  },
};
