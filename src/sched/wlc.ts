// Weighted least-connection (ip_vs_wlc.c), the ipvsadm default: minimum overhead/weight with
// overhead = active*256 + inactive, compared by cross-multiplication; ties keep list order.

import type { Scheduler, SchedService } from './types.js';
import type { DestTable } from '../datapath/dests.js';
import { wlcPick, wlcWhy } from './common.js';

export const wlc: Scheduler = {
  name: 'wlc',
  schedule(svc: SchedService, dt: DestTable): number {
    return wlcPick(svc, dt);
  },
  explain(svc: SchedService, dt: DestTable) {
    const dest = wlcPick(svc, dt);
    return { dest, why: wlcWhy('wlc', dt, svc, dest) };
  },
};
