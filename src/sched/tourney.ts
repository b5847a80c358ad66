// A tournament (winner) tree over a service's destinations for the least-load schedulers (lc,
// wlc, sed): each inner node holds the better of its two children, so the root is the pick the
// kernel's linear scan would make, and a change to one destination's counts costs O(log n)
// comparisons instead of every new connection costing O(n). Leaves are in svc.dests order and
// a tie keeps the left (earlier) one, so ties go to the first in list order exactly like the scan.
//
// Only services with at least TOURNEY_MIN destinations get a tree (below that the scan is as
// fast and costs nothing on connection events). The tree is told about changes through
// DestTable's watcher slots: bind/unbind/activate call changed(d) for watched destinations;
// additions, deletions, weight and threshold edits arrive through the scheduler's update(),
// which rebuilds it.

import type { DestTable, LoadWatcher } from '../datapath/dests.js';
import { DEST_F_USED } from '../datapath/dests.js';
import type { SchedService } from './types.js';

export const TOURNEY_MIN = 64;

export const BY_LC = 0; // least overhead
export const BY_WLC = 1; // least overhead / weight
export const BY_SED = 2; // least (active + 1) / weight

export class Tourney implements LoadWatcher {
  private readonly dt: DestTable;
  private readonly by: number;
  /** Leaves (a power of two); leaf i is svc.dests[i] or padding. */
  private readonly size: number;
  /** Leaf → destination slot (-1 padding). */
  private readonly slot: Int32Array;
  /** Node → winning destination slot (-1: no available destination below). Root = node 1. */
  private readonly win: Int32Array;
  /** Destination slot → its leaf (-1: not in this tree). */
  private readonly leafOf: Int32Array;
  private readonly slots: readonly number[];

  constructor(svc: SchedService, dt: DestTable, by: number) {
    this.dt = dt;
    this.by = by;
    let size = 1;
    while (size < svc.dests.length) size *= 2;
    this.size = size;
    this.slot = new Int32Array(size).fill(-1);
    this.win = new Int32Array(2 * size).fill(-1);
    this.leafOf = new Int32Array(dt.max).fill(-1);
    this.slots = [...svc.dests];
    svc.dests.forEach((d, i) => {
      this.slot[i] = d;
      this.leafOf[d] = i;
    });
    for (let i = 0; i < size; i++) this.win[size + i] = this.leafValue(i);
    for (let n = size - 1; n >= 1; n--) this.win[n] = this.pick(this.win[2 * n], this.win[2 * n + 1]);
    for (const d of svc.dests) dt.watcher[d] = this;
  }

  /** The destination the linear scan would return, or -1. */
  top(): number {
    return this.win[1];
  }

  /** Destination d's counts, flags or weight changed: replay its matches up to the root. */
  changed(d: number): void {
    const leaf = this.leafOf[d];
    if (leaf < 0) return;
    const win = this.win;
    let n = this.size + leaf;
    win[n] = this.leafValue(leaf);
    for (n >>= 1; n >= 1; n >>= 1) win[n] = this.pick(win[2 * n], win[2 * n + 1]);
  }

  /** Stop receiving changes (the service changed scheduler, was rebuilt or deleted). */
  detach(): void {
    for (const d of this.slots) if (this.dt.watcher[d] === this) this.dt.watcher[d] = undefined;
  }

  private leafValue(i: number): number {
    const d = this.slot[i];
    if (d < 0) return -1;
    // dt.available(d), inlined: in use, not overloaded, weight > 0.
    return this.dt.flags[d] === DEST_F_USED && this.dt.weight[d] > 0 ? d : -1;
  }

  /** The better of two candidates; a tie keeps a (the earlier in list order). */
  private pick(a: number, b: number): number {
    if (a < 0) return b;
    if (b < 0) return a;
    const dt = this.dt;
    switch (this.by) {
      case BY_LC:
        return dt.active[b] * 256 + dt.inactive[b] < dt.active[a] * 256 + dt.inactive[a] ? b : a;
      case BY_WLC:
        return (dt.active[b] * 256 + dt.inactive[b]) * dt.weight[a] < (dt.active[a] * 256 + dt.inactive[a]) * dt.weight[b] ? b : a;
      default:
        return (dt.active[b] + 1) * dt.weight[a] < (dt.active[a] + 1) * dt.weight[b] ? b : a;
    }
  }
}

/** Scheduler hooks for a tree-backed scheduler: (re)build on update, drop on done. */
export function tourneyHooks(by: number): {
  update(svc: SchedService, dt: DestTable): void;
  done(svc: SchedService, dt: DestTable): void;
} {
  return {
    update(svc, dt) {
      (svc.schedState as Tourney | undefined)?.detach();
      svc.schedState = svc.dests.length >= TOURNEY_MIN ? new Tourney(svc, dt, by) : undefined;
    },
    done(svc) {
      (svc.schedState as Tourney | undefined)?.detach();
      svc.schedState = undefined;
    },
  };
}
