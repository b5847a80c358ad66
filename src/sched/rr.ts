// Round robin (ip_vs_rr.c): the next available destination after the last one chosen.

import type { Scheduler, SchedService } from './types.js';
import type { DestTable } from '../datapath/dests.js';
import { destName, skipped } from './common.js';

interface RrState {
  last: number; // index into svc.dests of the last choice, -1 before the first
}

export const rr: Scheduler = {
  name: 'rr',
  init(svc: SchedService) {
    svc.schedState = { last: (svc.start ?? 0) - 1 } satisfies RrState;
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
    const i = next(svc, dt, st.last);
    if (i < 0) return -1;
    st.last = i;
    return svc.dests[i];
  },
  explain(svc: SchedService, dt: DestTable) {
    const last = (svc.schedState as RrState).last;
    const i = next(svc, dt, last);
    if (i < 0) return { dest: -1, why: `rr: no available destination${skipped(svc, dt)}` };
    const after = last < 0 ? 'the list head' : destName(dt, svc.dests[last]);
    return { dest: svc.dests[i], why: `rr: next available after ${after} → ${destName(dt, svc.dests[i])}${skipped(svc, dt)}` };
  },
};

/** Position in svc.dests of the first available destination after `last`, or -1. */
function next(svc: SchedService, dt: DestTable, last: number): number {
  const n = svc.dests.length;
  for (let k = 1; k <= n; k++) {
    const i = (last + k) % n;
    if (dt.available(svc.dests[i])) return i;
  }
  return -1;
}
