// Round robin (ip_vs_rr.c): the next available destination after the last one chosen.

import type { Scheduler, SchedService } from './types.js';
import type { DestTable } from '../datapath/dests.js';

interface RrState {
  last: number; // index into svc.dests of the last choice, -1 before the first
}

export const rr: Scheduler = {
  name: 'rr',
  init(svc: SchedService) {
    svc.schedState = { last: -1 } satisfies RrState;
  },
  // Like ip_vs_rr_del_dest: removing the last choice steps the pointer back to its
  // predecessor, and removing one before it keeps the pointer on the same destination.
  delDest(svc: SchedService, _dt: DestTable, index: number) {
    const st = svc.schedState as RrState;
    if (index <= st.last) st.last--;
  },
  update(svc: SchedService) {
    const st = svc.schedState as RrState;
    if (st.last >= svc.dests.length) st.last = -1;
  },
  schedule(svc: SchedService, dt: DestTable): number {
    const st = svc.schedState as RrState;
    const n = svc.dests.length;
    for (let k = 1; k <= n; k++) {
      const i = (st.last + k) % n;
      const d = svc.dests[i];
      if (dt.available(d)) {
        st.last = i;
        return d;
      }
    }
    return -1;
  },
};
