// Weighted round robin (ip_vs_wrr.c): a current weight cw stepping down by the gcd of the
// weights each time the walk wraps; pick the next destination whose weight is >= cw.
// Weights 4,3,2 give A A B A B C A B C, repeating.

import type { Scheduler, SchedService } from './types.js';
import type { DestTable } from '../datapath/dests.js';

interface WrrState {
  i: number; // position in svc.dests, -1 = the list head (before the first)
  cw: number; // current weight
  mw: number; // max weight
  di: number; // gcd of the weights
}

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

function reset(svc: SchedService, dt: DestTable): void {
  let mw = 0;
  let di = 0;
  for (const d of svc.dests) {
    const w = dt.weight[d];
    if (w > 0) {
      mw = Math.max(mw, w);
      di = di === 0 ? w : gcd(di, w);
    }
  }
  // Restart the walk from the head, like a freshly initialised service.
  svc.sched = { i: -1, cw: 0, mw, di: di || 1 } satisfies WrrState;
}

export const wrr: Scheduler = {
  name: 'wrr',
  init: reset,
  update: reset,
  schedule(svc: SchedService, dt: DestTable): number {
    const st = svc.sched as WrrState;
    const n = svc.dests.length;
    if (n === 0 || st.mw === 0) return -1;
    // At most one full lap per weight level: n positions × (mw/di + 1) levels bounds the walk.
    const limit = (n + 1) * (Math.floor(st.mw / st.di) + 1);
    for (let step = 0; step < limit; step++) {
      st.i++;
      if (st.i >= n) {
        st.i = 0;
      }
      if (st.i === 0) {
        st.cw -= st.di;
        if (st.cw <= 0) st.cw = st.mw;
      }
      const d = svc.dests[st.i];
      if (dt.available(d) && dt.weight[d] >= st.cw) return d;
    }
    return -1;
  },
};
