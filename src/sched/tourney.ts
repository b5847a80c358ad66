// The "best destination by a key" schedulers (lc, wlc, sed: least load; nq: idle first, then
// sed; fo, ovf: highest weight) share one ordering here, used two ways:
//
// - scanPick(): the kernel's linear scan over svc.dests: the first destination, in list order,
//   that no later one strictly beats (small services, explain(), lblc/lblcr's wlc fallback);
// - Tourney: a tournament (winner) tree over the destinations: each inner node holds the better
//   of its two children, so the root is the pick the scan would make, and a change to one
//   destination costs O(log n) comparisons instead of every new connection costing O(n).
//   Leaves are in svc.dests order and a tie keeps the left (earlier) one, exactly like the scan.
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

export const BY_LC = 0; // least overhead (ip_vs_lc.c)
export const BY_WLC = 1; // least overhead / weight (ip_vs_wlc.c)
export const BY_SED = 2; // least (active + 1) / weight (ip_vs_sed.c)
export const BY_FO = 3; // highest weight (ip_vs_fo.c)
export const BY_OVF = 4; // highest weight among those not full (ip_vs_ovf.c)
export const BY_NQ = 5; // the first idle (no active), else least (active + 1) / weight (ip_vs_nq.c)

/** fo and ovf order by weight alone. */
function byWeight(by: number): boolean {
  return by === BY_FO || by === BY_OVF;
}

/**
 * Whether d takes part under `by`: dt.available(d) (in use, not overloaded, weight > 0); for ovf
 * it must also not be full: ip_vs_ovf.c skips a destination whose activeconns > weight.
 */
export function eligible(dt: DestTable, by: number, d: number): boolean {
  const w = dt.weight[d];
  return dt.flags[d] === DEST_F_USED && w > 0 && (by !== BY_OVF || dt.active[d] <= w);
}

// The least-load orderings compare two ratios load/den by cross-multiplication (no division),
// as the kernel does: load = overhead (active*256 + inactive) for lc and wlc, active + 1 for sed;
// den = weight, or 1 for lc. fo and ovf compare weights. The products reach 2^71 (overheads below
// 2^32 * 257, weights below 2^31), past doubles' 2^53: productLess() compares them exactly.

/** Integers below this are exact in doubles. */
const EXACT = 2 ** 53;

/**
 * a*b < c*d exactly, for integers 0 ≤ a, c < 2^41 and 0 ≤ b, d < 2^31 (a load and a weight),
 * as the kernel's (__s64) cross-multiplication, without BigInt or allocation. The double
 * products are exact below 2^53; above, rounding is monotonic, so two products that round apart
 * compare as the exact ones do. Two that round to the same double differ by at most one ulp
 * (2^19 below 2^72), so the low 32 bits of each (Math.imul) give their exact difference.
 */
export function productLess(a: number, b: number, c: number, d: number): boolean {
  const x = a * b;
  const y = c * d;
  return x < y || (x === y && x >= EXACT && lowLess(a, b, c, d));
}

/** For products that round to the same double: a*b < c*d by their low 32 bits. */
function lowLess(a: number, b: number, c: number, d: number): boolean {
  return ((Math.imul(a, b) - Math.imul(c, d)) | 0) < 0;
}

/** Whether b is strictly better than a under `by` (so a tie keeps a). */
export function beats(dt: DestTable, by: number, b: number, a: number): boolean {
  if (byWeight(by)) return dt.weight[b] > dt.weight[a];
  if (by === BY_NQ) {
    // An idle destination beats a busy one; between two idle ones the earlier stays; two busy: sed.
    const ib = dt.active[b] === 0;
    if (ib !== (dt.active[a] === 0)) return ib;
    if (ib) return false;
    by = BY_SED;
  }
  const lb = by === BY_SED ? dt.active[b] + 1 : dt.active[b] * 256 + dt.inactive[b];
  const la = by === BY_SED ? dt.active[a] + 1 : dt.active[a] * 256 + dt.inactive[a];
  return by === BY_LC ? lb < la : productLess(lb, dt.weight[a], la, dt.weight[b]);
}

/**
 * The kernel's scan: the eligible destination no other strictly beats, the first in list order
 * on a tie; -1 when none is eligible. `skip` leaves one destination out (the runner-up that
 * explanations compare with).
 */
export function scanPick(svc: SchedService, dt: DestTable, by: number, skip = -1): number {
  if (byWeight(by)) return heaviest(svc, dt, by === BY_OVF, skip);
  if (by === BY_NQ) {
    const d = firstIdle(svc, dt, skip);
    return d >= 0 ? d : leastLoaded(svc, dt, BY_SED, skip);
  }
  return leastLoaded(svc, dt, by, skip);
}

/** nq's first stage: the first available destination with no active connection, or -1. */
export function firstIdle(svc: SchedService, dt: DestTable, skip = -1): number {
  const dests = svc.dests;
  for (let i = 0; i < dests.length; i++) {
    const d = dests[i];
    if (dt.available(d) && dt.active[d] === 0 && d !== skip) return d;
  }
  return -1;
}

// The two loops below are the per-decision cost of services below TOURNEY_MIN: typed arrays in
// locals, eligible() inlined.

/** fo/ovf: the highest weight (w > hw also skips weight 0); ovf skips active > weight. */
function heaviest(svc: SchedService, dt: DestTable, ovf: boolean, skip: number): number {
  const dests = svc.dests;
  const flags = dt.flags;
  const weight = dt.weight;
  const active = dt.active;
  let best = -1;
  let hw = 0;
  for (let i = 0; i < dests.length; i++) {
    const d = dests[i];
    const w = weight[d];
    if (w <= hw || flags[d] !== DEST_F_USED || (ovf && active[d] > w) || d === skip) continue;
    best = d;
    hw = w;
  }
  return best;
}

/** lc/wlc/sed: the least load/den (see beats()). */
function leastLoaded(svc: SchedService, dt: DestTable, by: number, skip: number): number {
  const dests = svc.dests;
  const flags = dt.flags;
  const weight = dt.weight;
  const active = dt.active;
  const inactive = dt.inactive;
  const sed = by === BY_SED;
  const lc = by === BY_LC;
  let best = -1;
  let bl = 0;
  let bd = 1;
  for (let i = 0; i < dests.length; i++) {
    const d = dests[i];
    const w = weight[d];
    if (flags[d] !== DEST_F_USED || w <= 0 || d === skip) continue;
    const l = sed ? active[d] + 1 : active[d] * 256 + inactive[d];
    const den = lc ? 1 : w;
    if (best < 0 || productLess(l, bd, bl, den)) {
      best = d;
      bl = l;
      bd = den;
    }
  }
  return best;
}

/**
 * A structure over a service's destinations, in svc.dests order, that DestTable tells about
 * their load changes (its watcher slots). Subclasses: Tourney here, twos's weight tree.
 */
export abstract class DestWatcher implements LoadWatcher {
  protected readonly dt: DestTable;
  /** Position in the list → destination slot. */
  readonly slots: Int32Array;
  /** Destination slot → its position in the list (-1: not watched here). */
  protected readonly posOf: Int32Array;

  constructor(svc: SchedService, dt: DestTable) {
    this.dt = dt;
    this.slots = Int32Array.from(svc.dests);
    this.posOf = new Int32Array(dt.max).fill(-1);
    svc.dests.forEach((d, i) => {
      this.posOf[d] = i;
      dt.watcher[d] = this;
    });
  }

  abstract changed(d: number): void;

  /** Stop receiving changes (the service changed scheduler, was rebuilt or deleted). */
  detach(): void {
    for (const d of this.slots) if (this.dt.watcher[d] === this) this.dt.watcher[d] = undefined;
  }
}

/** For update(): detach the old watcher; a new one from `make` for services of TOURNEY_MIN
 *  destinations or more, none below (they keep the scan). */
export function rebuildWatcher<W extends DestWatcher>(svc: SchedService, dt: DestTable, old: W | undefined,
  make: (svc: SchedService, dt: DestTable) => W): W | undefined {
  old?.detach();
  return svc.dests.length >= TOURNEY_MIN ? make(svc, dt) : undefined;
}

export class Tourney extends DestWatcher {
  private readonly by: number;
  /** Leaves (a power of two); leaf i is svc.dests[i] or padding. */
  private readonly size: number;
  /** Node → winning destination slot (-1: no eligible destination below). Root = node 1. */
  private readonly win: Int32Array;

  constructor(svc: SchedService, dt: DestTable, by: number) {
    super(svc, dt);
    this.by = by;
    let size = 1;
    while (size < svc.dests.length) size *= 2;
    this.size = size;
    this.win = new Int32Array(2 * size).fill(-1);
    for (let i = 0; i < this.slots.length; i++) this.win[size + i] = this.leafValue(i);
    for (let n = size - 1; n >= 1; n--) this.win[n] = this.pick(this.win[2 * n], this.win[2 * n + 1]);
  }

  /** The destination the linear scan would return, or -1. */
  top(): number {
    return this.win[1];
  }

  /** Destination d's counts, flags or weight changed: replay its matches up to the root. */
  changed(d: number): void {
    const leaf = this.posOf[d];
    if (leaf < 0) return;
    const win = this.win;
    let n = this.size + leaf;
    const v = this.leafValue(leaf);
    // fo and ovf order by weight alone (fixed until update() rebuilds): only a destination
    // entering or leaving the competition changes a match.
    if (byWeight(this.by) && win[n] === v) return;
    win[n] = v;
    for (n >>= 1; n >= 1; n >>= 1) win[n] = this.pick(win[2 * n], win[2 * n + 1]);
  }

  private leafValue(i: number): number {
    const d = this.slots[i];
    return eligible(this.dt, this.by, d) ? d : -1;
  }

  /** The better of two candidates; a tie keeps a (the earlier in list order). */
  private pick(a: number, b: number): number {
    if (a < 0) return b;
    if (b < 0) return a;
    return beats(this.dt, this.by, b, a) ? b : a;
  }
}

/** A whole scheduler's hooks for a "best by key" ordering: the tree from TOURNEY_MIN
 *  destinations (rebuilt on update, dropped on done), the scan below. */
export function tourneyHooks(by: number): {
  update(svc: SchedService, dt: DestTable): void;
  done(svc: SchedService, dt: DestTable): void;
  schedule(svc: SchedService, dt: DestTable): number;
} {
  const make = (svc: SchedService, dt: DestTable): Tourney => new Tourney(svc, dt, by);
  return {
    update(svc, dt) {
      svc.schedState = rebuildWatcher(svc, dt, svc.schedState as Tourney | undefined, make);
    },
    done(svc) {
      (svc.schedState as Tourney | undefined)?.detach();
      svc.schedState = undefined;
    },
    schedule(svc, dt) {
      const t = svc.schedState as Tourney | undefined;
      return t !== undefined ? t.top() : scanPick(svc, dt, by);
    },
  };
}
