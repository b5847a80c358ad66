// Weighted least-connection (ip_vs_wlc.c), the ipvsadm default: minimum overhead/weight with
// overhead = active*256 + inactive, compared by cross-multiplication; ties keep list order.

import type { Scheduler, SchedService } from './types.js';
import type { DestTable } from '../datapath/dests.js';

export const wlc: Scheduler = {
  name: 'wlc',
  schedule(svc: SchedService, dt: DestTable): number {
    let least = -1;
    let loh = 0;
    for (let i = 0; i < svc.dests.length; i++) {
      const d = svc.dests[i];
      if (!dt.available(d)) continue;
      const doh = dt.active[d] * 256 + dt.inactive[d];
      if (least < 0 || loh * dt.weight[d] > doh * dt.weight[least]) {
        least = d;
        loh = doh;
      }
    }
    return least;
  },
};
