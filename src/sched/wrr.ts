// Weighted round robin (ip_vs_wrr.c): a current weight cw stepping down by the gcd of the
// weights each time the walk passes the list head; pick the next destination whose weight is
// >= cw. Weights 4,3,2 give A A B A B C A B C, repeating.
//
// The state has the kernel's meaning, so changes behave as in IPVS too: mw is the largest
// weight minus (gcd - 1), and a destination change (add, delete, weight edit) puts the walk
// back at the list head but keeps cw when it is still valid (ip_vs_wrr_dest_changed), rather
// than starting a fresh cycle.

import type { Scheduler, SchedService } from './types.js';
import type { DestTable } from '../datapath/dests.js';
import { destName, skipped } from './common.js';

interface WrrState {
  i: number; // position in svc.dests of the last pick, -1 = the list head
  cw: number; // current weight
  mw: number; // max weight - (di - 1); 0 when no destination has a weight
  di: number; // gcd of the weights > 0 (1 when there are none)
}

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

/** The kernel's di and mw for the service's current weights. */
function levels(svc: SchedService, dt: DestTable): { di: number; mw: number } {
  let max = 0;
  let g = 0;
  for (const d of svc.dests) {
    const w = dt.weight[d];
    if (w > 0) g = g === 0 ? w : gcd(g, w);
    if (w > max) max = w;
  }
  const di = g || 1;
  return { di, mw: max - (di - 1) };
}

function init(svc: SchedService, dt: DestTable): void {
  const { di, mw } = levels(svc, dt);
  svc.schedState = { i: head(svc), cw: mw, mw, di } satisfies WrrState;
}

/** The walk's start, just before the list head (or, with workers, before this worker's start). */
function head(svc: SchedService): number {
  const n = svc.dests.length;
  return n === 0 ? -1 : ((svc.start ?? 0) % n) - 1;
}

function changed(svc: SchedService, dt: DestTable): void {
  const st = svc.schedState as WrrState;
  const { di, mw } = levels(svc, dt);
  st.i = head(svc);
  st.di = di;
  st.mw = mw;
  if (st.cw > mw || st.cw === 0) st.cw = mw;
  else if (di > 1) st.cw = Math.floor(st.cw / di) * di + 1;
}

/** The largest weight of an available destination (0: none is available). */
function topAvailable(svc: SchedService, dt: DestTable): number {
  let top = 0;
  const dests = svc.dests;
  for (let i = 0; i < dests.length; i++) {
    const d = dests[i];
    if (dt.weight[d] > top && dt.available(d)) top = dt.weight[d];
  }
  return top;
}

/**
 * One wrr step on `st` (the service's state, or a copy for explain). The kernel walks every
 * weight level, a whole pass of the list each, also the levels above every available server's
 * weight, where no pass can pick: with a heavy server over its -x threshold (weight 2^31-1 is
 * allowed) that was ~2^31 passes per new connection, the datapath stalled for a minute. Here a
 * wrap goes straight down to the highest level some available server reaches: the passes skipped
 * would have picked nothing, so the pick and the state after it are the kernel's.
 */
function walk(st: WrrState, svc: SchedService, dt: DestTable): number {
  const n = svc.dests.length;
  if (n === 0 || st.mw <= 0) return -1;
  let top = -1; // topAvailable(), read at the first wrap
  const last = st.i;
  const cw0 = st.cw;
  // Past the first wrap a pass picks (cw <= top), so three passes bound the walk.
  for (let step = 0; step < 3 * (n + 1); step++) {
    st.i++;
    if (st.i >= n) {
      // Past the last destination: through the head, one weight level down.
      st.i = -1;
      st.cw -= st.di;
      if (st.cw <= 0) st.cw = st.mw;
      if (top < 0) top = topAvailable(svc, dt);
      if (top === 0) {
        // None available: the state the kernel's walk ends in (err_over), so that the picks
        // once a server is available again are its too. It walks every level down: started at
        // the head or above the lowest level, it ends at the head with cw back at mw; else it
        // stops at `last` on its second round, at the lowest level (1: levels are 1 mod di).
        if (last !== -1 && cw0 <= st.di) {
          st.i = last;
          st.cw = 1;
        } else {
          st.i = -1;
          st.cw = st.mw;
        }
        return -1;
      }
      // Levels are mw - k*di and weights multiples of di: the highest level <= top is > 0.
      if (st.cw > top) st.cw -= Math.ceil((st.cw - top) / st.di) * st.di;
      continue;
    }
    const d = svc.dests[st.i];
    if (dt.available(d) && dt.weight[d] >= st.cw) return d;
  }
  return -1;
}

export const wrr: Scheduler = {
  name: 'wrr',
  init,
  update: changed,
  schedule(svc: SchedService, dt: DestTable): number {
    return walk(svc.schedState as WrrState, svc, dt);
  },
  explain(svc: SchedService, dt: DestTable) {
    const copy = { ...(svc.schedState as WrrState) };
    const dest = walk(copy, svc, dt);
    if (dest < 0) return { dest, why: `wrr: no available destination with weight > 0${skipped(svc, dt)}` };
    return { dest, why: `wrr: current weight ${copy.cw} (step ${copy.di}, max ${copy.mw}): next with weight >= ${copy.cw} is ${destName(dt, dest)} (weight ${dt.weight[dest]})${skipped(svc, dt)}` };
  },
};
