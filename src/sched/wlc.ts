// Weighted least-connection (ip_vs_wlc.c), the ipvsadm default: minimum overhead/weight with
// overhead = active*256 + inactive, compared by cross-multiplication; ties keep list order.

import type { Scheduler, SchedService } from './types.js';
import type { DestTable } from '../datapath/dests.js';
import { skipped, wlcPick, wlcWhy } from './common.js';
import { BY_WLC, tourneyHooks } from './tourney.js';

export const wlc: Scheduler = {
  name: 'wlc',
  // The scan, or from 64 destinations a tournament tree (tourney.ts): O(log n) per change.
  ...tourneyHooks(BY_WLC),
  explain(svc: SchedService, dt: DestTable) {
    const dest = wlcPick(svc, dt);
    return { dest, why: wlcWhy('wlc', dt, svc, dest) + skipped(svc, dt) };
  },
};
