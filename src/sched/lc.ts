// Least-connection (ip_vs_lc.c): the available destination with the least overhead
// (active*256 + inactive); weights only decide availability; ties keep list order.

import type { Scheduler, SchedService } from './types.js';
import type { DestTable } from '../datapath/dests.js';
import { keyWhy, skipped } from './common.js';
import { BY_LC, scanPick, tourneyHooks } from './tourney.js';

export const lc: Scheduler = {
  name: 'lc',
  // The scan, or from 64 destinations a tournament tree (tourney.ts): O(log n) per change.
  ...tourneyHooks(BY_LC),
  explain(svc: SchedService, dt: DestTable) {
    const dest = scanPick(svc, dt, BY_LC);
    return { dest, why: keyWhy('lc', svc, dt, BY_LC, dest, { what: 'overhead', val: (x) => `${dt.overhead(x)}`, cmp: '<' }) + skipped(svc, dt) };
  },
};
