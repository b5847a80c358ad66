// The decision trace behind `uvsadm trace`: a bounded ring of new-connection decisions (client,
// service, chosen server, the scheduler's explanation), filled ONLY while someone traces.
// When nobody does, the datapath pays one boolean test per new connection (`trace.on`).
// The control plane reads the ring by sequence number (src/control/trace.ts); a reader that
// falls more than `cap` events behind is told how many it lost.

import type { DestTable } from './dests.js';
import type { Flow, SchedService, Scheduler } from '../sched/types.js';

export const TRACE_CAP = 4096;

export class TraceRing {
  /** Set by the control plane while at least one trace session is open. */
  on = false;
  readonly cap: number;
  /** Events committed so far; event n lives in slot n % cap. */
  seq = 0;
  readonly time: Float64Array;
  readonly proto: Uint8Array;
  readonly saddr: Int32Array;
  readonly sport: Uint16Array;
  readonly daddr: Int32Array;
  readonly dport: Uint16Array;
  readonly svc: Int32Array;
  /** The destination slot schedule() chose (-1: none available, dropped no_dest). */
  readonly dest: Int32Array;
  /** The chosen server's address and port, copied (the slot may be reused before a reader looks). */
  readonly raddr: Int32Array;
  readonly rport: Uint16Array;
  readonly sched: string[];
  readonly why: string[];

  constructor(cap = TRACE_CAP) {
    this.cap = cap;
    this.time = new Float64Array(cap);
    this.proto = new Uint8Array(cap);
    this.saddr = new Int32Array(cap);
    this.sport = new Uint16Array(cap);
    this.daddr = new Int32Array(cap);
    this.dport = new Uint16Array(cap);
    this.svc = new Int32Array(cap);
    this.dest = new Int32Array(cap);
    this.raddr = new Int32Array(cap);
    this.rport = new Uint16Array(cap);
    this.sched = new Array<string>(cap).fill('');
    this.why = new Array<string>(cap).fill('');
  }

  /**
   * Before schedule(): note the flow and ask the scheduler why (explain() must not change any
   * state). Only called while tracing, so the allocation in explain() is off the normal path.
   */
  decide(svc: SchedService & { id: number; scheduler: Scheduler }, dt: DestTable, f: Flow, now: number): void {
    const i = this.seq % this.cap;
    this.time[i] = now;
    this.proto[i] = f.proto;
    this.saddr[i] = f.saddr;
    this.sport[i] = f.sport;
    this.daddr[i] = f.daddr;
    this.dport[i] = f.dport;
    this.svc[i] = svc.id;
    this.dest[i] = -1;
    const s = svc.scheduler;
    this.sched[i] = s.name;
    let why = s.name;
    if (s.explain !== undefined) {
      try {
        why = s.explain(svc, dt, f).why;
      } catch (e) {
        why = `${s.name} (explain failed: ${(e as Error).message})`;
      }
    }
    this.why[i] = why;
  }

  /** After schedule(): the choice; commits the event noted by decide(). */
  chosen(dest: number, dt: DestTable): void {
    const i = this.seq % this.cap;
    this.dest[i] = dest;
    this.raddr[i] = dest >= 0 ? dt.addr[dest] : 0;
    this.rport[i] = dest >= 0 ? dt.port[dest] : 0;
    this.seq++;
  }
}
