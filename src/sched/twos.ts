// Weighted random two choices (ip_vs_twos.c): draw r1, r2 uniformly from [0, W] where W is the
// sum of the available weights (the kernel's inclusive range), walk the available destinations
// subtracting weights, choice k = the first where rk <= 0; take choice 2 only when it is strictly
// less loaded: w1 * overhead2 < w2 * overhead1. The random numbers come from a small xorshift32
// generator on the service (seeded at init; seedTwos() makes runs repeatable in tests).

import type { Scheduler, SchedService } from './types.js';
import { DEST_F_USED, type DestTable } from '../datapath/dests.js';
import { destName } from './common.js';

interface TwosState {
  rng: Uint32Array; // xorshift32 state, never 0
}

function xorshift(x: number): number {
  x ^= x << 13;
  x ^= x >>> 17;
  x ^= x << 5;
  return x >>> 0;
}

/** Seed one service's generator (0 is replaced: xorshift needs a non-zero state). */
export function seedTwos(svc: SchedService, seed: number): void {
  (svc.schedState as TwosState).rng[0] = seed >>> 0 || 0x9e3779b9;
}

/** The two choices and the result for random words x1, x2 (no state touched). */
function choose(svc: SchedService, dt: DestTable, x1: number, x2: number, out: Int32Array): number {
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
  if (total === 0) return -1;
  total += 1;
  let r1 = x1 % total;
  let r2 = x2 % total;
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
  if (weight[c2] * dt.overhead(c1) > weight[c1] * dt.overhead(c2)) return c2;
  return c1;
}

const scratch = new Int32Array(2);

export const twos: Scheduler = {
  name: 'twos',
  init(svc: SchedService) {
    svc.schedState = { rng: new Uint32Array(1) } satisfies TwosState;
    seedTwos(svc, (Math.random() * 0x100000000) >>> 0);
  },
  schedule(svc: SchedService, dt: DestTable): number {
    const rng = (svc.schedState as TwosState).rng;
    const x1 = xorshift(rng[0]);
    const x2 = xorshift(x1);
    rng[0] = x2;
    return choose(svc, dt, x1, x2, scratch);
  },
  explain(svc: SchedService, dt: DestTable) {
    const x1 = xorshift((svc.schedState as TwosState).rng[0]);
    const x2 = xorshift(x1);
    const out = new Int32Array(2);
    const dest = choose(svc, dt, x1, x2, out);
    if (dest < 0) return { dest, why: 'twos: no available destination' };
    const [c1, c2] = out;
    const load = (d: number): string => `${dt.overhead(d)}/${dt.weight[d]}`;
    const why = c1 === c2
      ? `twos: both draws picked ${destName(dt, c1)}`
      : `twos: drew ${destName(dt, c1)} (${load(c1)}) and ${destName(dt, c2)} (${load(c2)}); ${dest === c2 ? 'the second is less loaded' : 'the first is not more loaded'} → ${destName(dt, dest)}`;
    return { dest, why };
  },
};
