// The scheduler interface, shaped like IPVS's struct ip_vs_scheduler: a named object with
// optional init/update hooks and a schedule() that picks a destination slot for a new flow.
// State a scheduler keeps lives on the service (`svc.sched`), never in the scheduler.

import type { DestTable } from '../datapath/dests.js';

/** What a scheduler sees of a service. `dests` holds destination slots in list order. */
export interface SchedService {
  dests: number[];
  /** Scheduler-private state, set by init(). */
  sched: unknown;
}

/** The packet fields a scheduler may hash on (hashing schedulers: dh, sh, mh). */
export interface Flow {
  saddr: number;
  sport: number;
  daddr: number;
  dport: number;
}

export interface Scheduler {
  readonly name: string;
  /** Called when the service is created or switches to this scheduler. */
  init?(svc: SchedService, dt: DestTable): void;
  /** Called just before the destination at `index` of svc.dests is removed (then update runs). */
  delDest?(svc: SchedService, dt: DestTable, index: number): void;
  /** Called after destinations were added, removed, or re-weighted. */
  update?(svc: SchedService, dt: DestTable): void;
  /** A destination slot, or -1 when no destination is available. Must not allocate. */
  schedule(svc: SchedService, dt: DestTable, flow: Flow): number;
}
