// Weighted least-connection (ip_vs_wlc.c), the ipvsadm default: minimum overhead/weight with
// overhead = active*256 + inactive, compared by cross-multiplication; ties keep list order.

import type { Scheduler, SchedService } from './types.js';
import type { DestTable } from '../datapath/dests.js';
import { wlcPick, wlcWhy } from './common.js';
import { BY_WLC, tourneyHooks, type Tourney } from './tourney.js';

export const wlc: Scheduler = {
  name: 'wlc',
  // Services with many destinations keep a tournament tree (tourney.ts): O(log n) per change.
  ...tourneyHooks(BY_WLC),
  schedule(svc: SchedService, dt: DestTable): number {
    const t = svc.schedState as Tourney | undefined;
    return t !== undefined ? t.top() : wlcPick(svc, dt);
  },
  explain(svc: SchedService, dt: DestTable) {
    const dest = wlcPick(svc, dt);
    return { dest, why: wlcWhy('wlc', dt, svc, dest) };
  },
};
