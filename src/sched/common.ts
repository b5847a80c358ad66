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

/** The client's destination port while an explanation runs (explainAt); 0 otherwise. */
let flowPort = 0;
/** Whether that connection keeps the client's port whatever its server's port (explainAt). */
let flowPortAlways = false;

/** "10.0.0.11:80", how explain() names a destination slot: a port-zero service's server (port 0)
 *  by the port the connection goes to, the client's (inside explainAt), and every server so
 *  where the connection keeps the client's port (explainAt's clientPort). */
export function destName(dt: DestTable, d: number): string {
  return d < 0 ? 'none' : `${formatIp(dt.addr[d])}:${flowPortAlways ? flowPort : dt.port[d] || flowPort}`;
}

/**
 * f(), with destName naming port-0 servers by `port` (the port the client connects to), and
 * every server by it with clientPort: a connection that keeps the client's port on a server with
 * a port of its own (a port-zero service's, a persistent -f service's, an FTP data connection's;
 * the datapath's rport, keepsClientPort in src/datapath/pipeline.ts).
 */
export function explainAt<T>(port: number, f: () => T, clientPort = false): T {
  flowPort = port;
  flowPortAlways = clientPort;
  try {
    return f();
  } finally {
    flowPort = 0;
    flowPortAlways = false;
  }
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

/** How many skipped servers skipped() names; the rest are counted. */
export const SKIPPED_NAMED = 8;

/**
 * "; skipped X (weight 0), Y (overloaded: 3 ≥ -x 3)": the service's servers a scheduler passes
 * over (not available), for explain(); "" when there are none. The first SKIPPED_NAMED are named,
 * the others counted ("and 62 more: 60 weight 0, 2 overloaded"), so a large pool's line stays short.
 */
export function skipped(svc: SchedService, dt: DestTable): string {
  const out: string[] = [];
  let zero = 0;
  let over = 0;
  for (const d of svc.dests) {
    if (dt.available(d)) continue;
    if (out.length < SKIPPED_NAMED) out.push(`${destName(dt, d)} (${dt.weight[d] <= 0 ? 'weight 0' : overloadText(dt, d)})`);
    else if (dt.weight[d] <= 0) zero++;
    else over++;
  }
  if (zero + over > 0) out.push(`and ${zero + over} more: ${[zero > 0 ? `${zero} weight 0` : '', over > 0 ? `${over} overloaded` : ''].filter(Boolean).join(', ')}`);
  return out.length === 0 ? '' : `; skipped ${out.join(', ')}`;
}

/** Why an overloaded server is: its connections (every worker's) against -x, or the lower
 *  threshold it has not gone under yet. */
function overloadText(dt: DestTable, d: number): string {
  const n = dt.connsOf(d);
  const up = dt.upper[d];
  if (n >= up) return `overloaded: ${n} ≥ -x ${up}`;
  return `overloaded: ${n} connections, not yet under ${dt.lower[d] !== 0 ? `-y ${dt.lower[d]}` : `3/4 of -x ${up}`}`;
}

/** "a wlc-style why": "<name>: X overhead 3/1 < 7/2 of Y" or a single candidate. */
export function wlcWhy(name: string, dt: DestTable, svc: SchedService, d: number): string {
  return keyWhy(name, svc, dt, BY_WLC, d, { what: 'overhead', val: (x) => loadText(dt, x), cmp: '<' });
}
