// The scheduler interface, shaped like IPVS's struct ip_vs_scheduler: a named object with
// optional hooks and a schedule() that picks a destination slot for a new flow.
// State a scheduler keeps lives on the service (`svc.schedState`), never in the scheduler.
//
// Hooks, as the kernel calls them:
//   init    the service is created or switches to this scheduler (ip_vs_bind_scheduler)
//   delDest just before the destination at `index` of svc.dests is removed
//   update  after destinations were added, removed or re-weighted, or flags changed
//           (dh/sh/mh rebuild their tables here)
//   done    the service is removed or switches to another scheduler (ip_vs_unbind_scheduler)
//   tick    periodic work, about once a second (lblc/lblcr expire their caches)
//   explain what schedule() would pick now and why, without changing any state (uvsadm --explain,
//           uvsadm trace); never on the hot path

import type { DestTable } from '../datapath/dests.js';

/** Scheduler flags (ipvsadm -b), as bits on the service. */
export const SF_SH_FALLBACK = 1;
export const SF_SH_PORT = 2;
export const SF_MH_FALLBACK = 4;
export const SF_MH_PORT = 8;
/** uvs-internal, never an ipvsadm -b flag: build hash tables from the destinations sorted by
 *  address and port instead of list order, so directors that added the same servers in a
 *  different order (or re-added one after a health check) agree (uvsd --sloppy-tcp mh). */
export const SF_ADDR_ORDER = 0x100;
/** Flag names as ipvsadm spells them (-b sh-port,sh-fallback; shown in -Ln as "(sh-port,...)"). */
export const SCHED_FLAG_NAMES: Record<string, number> = {
  'sh-fallback': SF_SH_FALLBACK,
  'sh-port': SF_SH_PORT,
  'mh-fallback': SF_MH_FALLBACK,
  'mh-port': SF_MH_PORT,
};

/** ipvsadm's and keepalived's generic names for the kernel's scheduler flag bits
 *  (IP_VS_SVC_F_SCHED1..3), which each scheduler reads in its own way. */
export const GENERIC_SCHED_FLAGS: readonly string[] = ['flag-1', 'flag-2', 'flag-3'];

/** The named flag a generic one is for `sched` (flag-1 is sh-/mh-fallback, flag-2 sh-/mh-port),
 *  or undefined where `sched` reads no such bit (flag-3 always; flag-1/flag-2 but with sh and mh):
 *  the kernel stores such a bit and nothing reads it; uvs keeps no flag a scheduler does not read. */
export function genericSchedFlag(sched: string, flag: string): string | undefined {
  if (sched !== 'sh' && sched !== 'mh') return undefined;
  return flag === 'flag-1' ? `${sched}-fallback` : flag === 'flag-2' ? `${sched}-port` : undefined;
}

/** What a scheduler sees of a service. `dests` holds destination slots in list order. */
export interface SchedService {
  dests: number[];
  /** Scheduler-private state, set by init(), dropped after done(). */
  schedState: unknown;
  /** SF_* bits from ipvsadm -b. */
  schedFlags: number;
  /** Where rr's and wrr's walks begin in the list (0: its head): with uvsd --workers N each worker
   *  walks on its own, and worker k begins at the k-th server, so the first connections of the
   *  workers do not all go to the first server. */
  start?: number;
}

/** The packet fields a scheduler may hash on (hashing schedulers: dh, sh, mh). Addresses uint32. */
export interface Flow {
  proto: number;
  saddr: number;
  sport: number;
  daddr: number;
  dport: number;
}

export interface Explanation {
  /** The slot schedule() would return now, or -1. */
  dest: number;
  /** One line, e.g. "wlc: overhead 3/1 < 7/2". */
  why: string;
}

export interface Scheduler {
  readonly name: string;
  /** The -b flags this scheduler understands (others are refused for it). */
  readonly flags?: number;
  init?(svc: SchedService, dt: DestTable): void;
  delDest?(svc: SchedService, dt: DestTable, index: number): void;
  update?(svc: SchedService, dt: DestTable): void;
  done?(svc: SchedService, dt: DestTable): void;
  tick?(svc: SchedService, dt: DestTable, nowMs: number): void;
  /** A destination slot, or -1 when no destination is available. Must not allocate. */
  schedule(svc: SchedService, dt: DestTable, flow: Flow): number;
  explain?(svc: SchedService, dt: DestTable, flow: Flow): Explanation;
  /**
   * The destination an already established flow belongs to by hash alone, whatever its weight
   * now (weight 0 keeps existing flows), or -1 when the table names none. Lets a director adopt
   * a mid-flow segment another director scheduled (uvsd --sloppy-tcp mh; docs/scale-out.md).
   * Only stateless hashing schedulers (mh) have it. Must not allocate.
   */
  owner?(svc: SchedService, dt: DestTable, flow: Flow): number;
}
