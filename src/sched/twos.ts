// Weighted random two choices (ip_vs_twos.c): draw r1, r2 uniformly from [0, W] where W is the
// sum of the available weights (the kernel's inclusive range), walk the available destinations
// subtracting weights, choice k = the first where rk <= 0; take choice 2 only when it is strictly
// less loaded: w1 * overhead2 < w2 * overhead1. The random numbers come from a small xorshift32
// generator on the service (seeded at init; seedTwos() makes runs repeatable in tests).
//
// The kernel walks the list for W and for each draw: O(n). From TOURNEY_MIN destinations a
// service keeps a Fenwick (binary indexed) tree of the available weights in list order instead:
// W is its total and "the first destination where the running sum reaches r" is a descent of
// log2(n) steps, the same destination the walk finds. Weight, threshold and list edits rebuild it
// (update()); DestTable tells it when a destination's availability moves (bind/unbind crossing
// the -x/-y thresholds).

import type { Scheduler, SchedService } from './types.js';
import { DEST_F_USED, type DestTable } from '../datapath/dests.js';
import { destName, skipped } from './common.js';
import { DestWatcher, rebuildWatcher } from './tourney.js';

/** Running sums of the available weights (0 for an unavailable destination), in list order. */
export class WeightTree extends DestWatcher {
  /** What each position contributes now. */
  private readonly w: Float64Array;
  /** Fenwick array, 1-based, over a power-of-two size (positions past the list weigh 0, so the
   *  descent needs no bounds check); fen[0] holds the total (a double field could be boxed). */
  private readonly fen: Float64Array;
  /** Half the power-of-two size: the descent's first step. */
  private readonly step0: number;

  constructor(svc: SchedService, dt: DestTable) {
    super(svc, dt);
    const n = this.slots.length;
    let size = 1;
    while (size < n) size *= 2;
    this.step0 = size >> 1;
    this.w = new Float64Array(n);
    const fen = (this.fen = new Float64Array(size + 1));
    for (let i = 1; i <= size; i++) {
      if (i <= n) {
        const d = this.slots[i - 1];
        const w = dt.available(d) ? dt.weight[d] : 0;
        this.w[i - 1] = w;
        fen[0] += w;
        fen[i] += w;
      }
      const up = i + (i & -i); // O(n) build: push each node's sum to its parent
      if (up <= size) fen[up] += fen[i];
    }
  }

  /** W, the sum of the available weights. */
  total(): number {
    return this.fen[0];
  }

  /** The first position (list order) whose running sum of weights reaches r, for 1 <= r <= W. */
  find(r: number): number {
    const fen = this.fen;
    let pos = 0;
    for (let step = this.step0; step > 0; step >>= 1) {
      const v = fen[pos + step];
      if (v < r) {
        pos += step;
        r -= v;
      }
    }
    return pos;
  }

  /** Destination d's counts or overload flag changed: only its availability matters here. */
  changed(d: number): void {
    const i = this.posOf[d];
    if (i < 0) return;
    const dt = this.dt;
    const w = dt.flags[d] === DEST_F_USED && dt.weight[d] > 0 ? dt.weight[d] : 0; // dt.available(d)
    const delta = w - this.w[i];
    if (delta === 0) return;
    this.w[i] = w;
    const fen = this.fen;
    fen[0] += delta;
    for (let j = i + 1; j < fen.length; j += j & -j) fen[j] += delta;
  }
}

interface TwosState {
  rng: Uint32Array; // xorshift32 state, never 0
  tree: WeightTree | undefined; // from TOURNEY_MIN destinations
  wide: boolean; // the weights > 0 sum to WORDS - 1 or more: draws may need to reach past 2^32
}

/** One step of xorshift32 (never 0 from a non-zero state). */
export function xorshift(x: number): number {
  x ^= x << 13;
  x ^= x >>> 17;
  x ^= x << 5;
  return x >>> 0;
}

/**
 * x mod t for a random word x < 2^32 and 1 <= t < 2^53, as the kernel's `%`: exact (when x/t is
 * below an integer k, x = k*t - m with m >= 1, it is below by more than the rounding of a double
 * can cover, so floor() is right; q*t <= x is exact) and several times cheaper than the double
 * `%`, which V8 compiles to a call of fmod().
 */
function mod(x: number, t: number): number {
  return x - Math.floor(x / t) * t;
}

/**
 * 2^32, the range of a random word. Available weights summing to 2^32 or more (possible with
 * weights up to 2^31 - 1; the kernel's int sum overflows there) draw x scaled to [0, W + 1)
 * instead of x % (W + 1), which never reached past 2^32: the servers whose running sum starts
 * beyond it were never drawn (three at 2147483647: the third got no connection).
 */
const WORDS = 0x100000000;

/** Seed one service's generator (0 is replaced: xorshift needs a non-zero state). */
export function seedTwos(svc: SchedService, seed: number): void {
  (svc.schedState as TwosState).rng[0] = seed >>> 0 || 0x9e3779b9;
}

/** The kernel's walk: both choices for random words x1, x2 into out[0], out[1] (-1: none). */
function walk(svc: SchedService, dt: DestTable, x1: number, x2: number, out: Int32Array): void {
  const dests = svc.dests;
  const flags = dt.flags;
  const weight = dt.weight;
  let total = 0;
  for (let i = 0; i < dests.length; i++) {
    const d = dests[i];
    if (flags[d] === DEST_F_USED && weight[d] > 0) total += weight[d]; // dt.available(d)
  }
  out[0] = -1;
  out[1] = -1;
  if (total === 0) return;
  total += 1;
  let r1 = mod(x1, total);
  let r2 = mod(x2, total);
  if (total > WORDS) {
    r1 = Math.floor(x1 * (total / WORDS));
    r2 = Math.floor(x2 * (total / WORDS));
  }
  let c1 = -1;
  let c2 = -1;
  for (let i = 0; i < dests.length; i++) {
    const d = dests[i];
    const w = weight[d];
    if (flags[d] !== DEST_F_USED || w <= 0) continue;
    r1 -= w;
    r2 -= w;
    if (r1 <= 0 && c1 < 0) c1 = d;
    if (r2 <= 0 && c2 < 0) c2 = d;
    if (c1 >= 0 && c2 >= 0) break;
  }
  out[0] = c1;
  out[1] = c2;
}

/** The same two choices from the weight tree: a draw r lands where the running sum first
 *  reaches it (r = 0 lands on the first available destination, as in the walk). */
function draw(t: WeightTree, x1: number, x2: number, out: Int32Array): void {
  const total = t.total();
  if (total === 0) {
    out[0] = -1;
    out[1] = -1;
    return;
  }
  const r1 = mod(x1, total + 1);
  const r2 = mod(x2, total + 1);
  out[0] = t.slots[t.find(r1 > 0 ? r1 : 1)];
  out[1] = t.slots[t.find(r2 > 0 ? r2 : 1)];
}

/** Integers below this are exact in doubles (a local: an imported constant is not folded). */
const EXACT = 2 ** 53;

/** Of two choices, the second only when strictly less loaded (-1 when there are none). */
function lessLoaded(dt: DestTable, c1: number, c2: number): number {
  if (c1 < 0) return -1;
  const o1 = dt.overhead(c1);
  const o2 = dt.overhead(c2);
  const w1 = dt.weight[c1];
  const w2 = dt.weight[c2];
  // productLess(o2, w1, o1, w2) written out (exact past 2^53): called from here, not inlined,
  // it boxed the loads (16 bytes per schedule(), unit-sched-alloc.test.ts).
  const x = o2 * w1;
  const y = o1 * w2;
  return x < y || (x === y && x >= EXACT && ((Math.imul(o2, w1) - Math.imul(o1, w2)) | 0) < 0) ? c2 : c1;
}

const scratch = new Int32Array(2);

export const twos: Scheduler = {
  name: 'twos',
  init(svc: SchedService) {
    svc.schedState = { rng: new Uint32Array(1), tree: undefined, wide: false } satisfies TwosState;
    seedTwos(svc, (Math.random() * 0x100000000) >>> 0);
  },
  update(svc: SchedService, dt: DestTable) {
    const st = svc.schedState as TwosState;
    st.tree = rebuildWatcher(svc, dt, st.tree, (s, t) => new WeightTree(s, t));
    let sum = 0;
    for (const d of svc.dests) if (dt.weight[d] > 0) sum += dt.weight[d];
    st.wide = sum + 1 > WORDS;
  },
  done(svc: SchedService) {
    (svc.schedState as TwosState).tree?.detach();
    svc.schedState = undefined;
  },
  schedule(svc: SchedService, dt: DestTable): number {
    const st = svc.schedState as TwosState;
    const x1 = xorshift(st.rng[0]);
    const x2 = xorshift(x1);
    st.rng[0] = x2;
    // Weights of 2^32 or more in all (wide): the walk, which draws them scaled; decided at
    // update() and kept out of draw() so that V8 still inlines it here (a double passed to it
    // was boxed otherwise: 8-16 bytes per schedule()).
    if (st.tree !== undefined && !st.wide) draw(st.tree, x1, x2, scratch);
    else walk(svc, dt, x1, x2, scratch);
    return lessLoaded(dt, scratch[0], scratch[1]);
  },
  // The walk, whatever the service's size: the tests compare it with schedule().
  explain(svc: SchedService, dt: DestTable) {
    const x1 = xorshift((svc.schedState as TwosState).rng[0]);
    const x2 = xorshift(x1);
    const out = new Int32Array(2);
    walk(svc, dt, x1, x2, out);
    const [c1, c2] = out;
    const dest = lessLoaded(dt, c1, c2);
    if (dest < 0) return { dest, why: `twos: no available destination${skipped(svc, dt)}` };
    const load = (d: number): string => `${dt.overhead(d)}/${dt.weight[d]}`;
    const why = c1 === c2
      ? `twos: both draws picked ${destName(dt, c1)}`
      : `twos: drew ${destName(dt, c1)} (${load(c1)}) and ${destName(dt, c2)} (${load(c2)}); ${dest === c2 ? 'the second is less loaded' : 'the first is not more loaded'} → ${destName(dt, dest)}`;
    return { dest, why: why + skipped(svc, dt) };
  },
};
