// Pieces several schedulers share: the weighted least-connection pick (wlc, and the fallback
// of lblc/lblcr), the kernel's multiplicative hashes, and how explain() names destinations and
// says why one won.

import type { SchedService } from './types.js';
import type { DestTable } from '../datapath/dests.js';
import { formatIp } from '../datapath/addr.js';
import { BY_OVF, BY_WLC, beats, scanPick } from './tourney.js';

/** hash_32(v, bits) of include/linux/hash.h: the top `bits` bits of v * GOLDEN_RATIO_32. */
export function hash32(v: number, bits: number): number {
  return Math.imul(v | 0, 0x61c88647) >>> (32 - bits);
}

/** ip_vs_wlc_schedule(): the available destination with the least overhead/weight (ties keep
 *  list order), by the scan; lblc and lblcr fall back to it. */
export function wlcPick(svc: SchedService, dt: DestTable): number {
  return scanPick(svc, dt, BY_WLC);
}

/** "10.0.0.11:80", how explain() names a destination slot. */
export function destName(dt: DestTable, d: number): string {
  return d < 0 ? 'none' : `${formatIp(dt.addr[d])}:${dt.port[d]}`;
}

/** "3/1": overhead over weight, as wlc-like explanations show a load. */
export function loadText(dt: DestTable, d: number, oh = dt.overhead(d)): string {
  return `${oh}/${dt.weight[d]}`;
}

export interface KeyText {
  /** What is compared: "overhead", "weight". */
  what: string;
  /** A destination's key as shown. */
  val: (d: number) => string;
  /** How the chosen key compares with a worse one: "<" (least-load) or ">" (highest weight). */
  cmp: string;
  /** The line when there is no choice; default "no available destination". */
  none?: string;
}

/**
 * Why `d`, the scan's choice under `by` (tourney.ts), wins: "<name>: X <what> A < B of Y" with
 * the runner-up Y, "= (first in list order)" on a tie, or that X is the only candidate.
 */
export function keyWhy(name: string, svc: SchedService, dt: DestTable, by: number, d: number, t: KeyText): string {
  if (d < 0) return `${name}: ${t.none ?? 'no available destination'}`;
  const r = scanPick(svc, dt, by, d);
  const me = `${name}: ${destName(dt, d)} ${t.what} ${t.val(d)}`;
  if (r < 0) return `${me}, the only ${by === BY_OVF ? 'one not full' : 'available destination'}`;
  // d won, so a runner-up later in the list ties unless d strictly beats it.
  return `${me} ${beats(dt, by, d, r) ? t.cmp : '= (first in list order)'} ${t.val(r)} of ${destName(dt, r)}`;
}

/** "a wlc-style why": "<name>: X overhead 3/1 < 7/2 of Y" or a single candidate. */
export function wlcWhy(name: string, dt: DestTable, svc: SchedService, d: number): string {
  return keyWhy(name, svc, dt, BY_WLC, d, { what: 'overhead', val: (x) => loadText(dt, x), cmp: '<' });
}
