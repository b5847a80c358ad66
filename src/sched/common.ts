// Pieces several schedulers share: the weighted least-connection pick (wlc, and the fallback
// of lblc/lblcr), the kernel's multiplicative hashes, and how explain() names a destination.

import type { SchedService } from './types.js';
import { DEST_F_USED, type DestTable } from '../datapath/dests.js';
import { formatIp } from '../datapath/addr.js';

/** hash_32(v, bits) of include/linux/hash.h: the top `bits` bits of v * GOLDEN_RATIO_32. */
export function hash32(v: number, bits: number): number {
  return Math.imul(v | 0, 0x61c88647) >>> (32 - bits);
}

/**
 * ip_vs_wlc_schedule(): the available destination with the least overhead/weight, compared as
 * overhead(d) * w(best) < overhead(best) * w(d) (no division); ties keep list order.
 * Overheads stay below 2^32 * 257 and weights below 2^31, so the products are exact in doubles
 * up to about 2^53 (overhead * weight < 2^53 holds for realistic counts).
 */
export function wlcPick(svc: SchedService, dt: DestTable): number {
  // Typed arrays in locals: the loop is the per-decision cost at 1000 destinations.
  const dests = svc.dests;
  const flags = dt.flags;
  const weight = dt.weight;
  const active = dt.active;
  const inactive = dt.inactive;
  let least = -1;
  let loh = 0;
  let lw = 0;
  for (let i = 0; i < dests.length; i++) {
    const d = dests[i];
    const w = weight[d];
    if (flags[d] !== DEST_F_USED || w <= 0) continue; // dt.available(d)
    const doh = active[d] * 256 + inactive[d]; // dt.overhead(d)
    if (least < 0 || loh * w > doh * lw) {
      least = d;
      loh = doh;
      lw = w;
    }
  }
  return least;
}

/** "10.0.0.11:80", how explain() names a destination slot. */
export function destName(dt: DestTable, d: number): string {
  return d < 0 ? 'none' : `${formatIp(dt.addr[d])}:${dt.port[d]}`;
}

/** "3/1": overhead over weight, as wlc-like explanations show a load. */
export function loadText(dt: DestTable, d: number, oh = dt.overhead(d)): string {
  return `${oh}/${dt.weight[d]}`;
}

/**
 * The runner-up of a "least by key" ordering, for explanations: the best available destination
 * other than `chosen` under `better(a, b)` = "a is strictly better than b" (first wins ties).
 */
export function runnerUp(svc: SchedService, dt: DestTable, chosen: number, better: (a: number, b: number) => boolean,
  eligible: (d: number) => boolean = (d) => dt.available(d)): number {
  let best = -1;
  for (const d of svc.dests) {
    if (d === chosen || !eligible(d)) continue;
    if (best < 0 || better(d, best)) best = d;
  }
  return best;
}

/** "a wlc-style why": "<name>: X overhead 3/1 < 7/2 of Y" or a single candidate. */
export function wlcWhy(name: string, dt: DestTable, svc: SchedService, d: number): string {
  if (d < 0) return `${name}: no available destination`;
  const r = runnerUp(svc, dt, d, (a, b) => dt.overhead(a) * dt.weight[b] < dt.overhead(b) * dt.weight[a]);
  if (r < 0) return `${name}: ${destName(dt, d)} overhead ${loadText(dt, d)}, the only available destination`;
  const same = dt.overhead(d) * dt.weight[r] === dt.overhead(r) * dt.weight[d];
  return `${name}: ${destName(dt, d)} overhead ${loadText(dt, d)} ${same ? '= (first in list order)' : '<'} ${loadText(dt, r)} of ${destName(dt, r)}`;
}
