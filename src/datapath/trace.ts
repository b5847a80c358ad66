// The decision trace behind `uvsadm trace`: a bounded ring of new-connection decisions (client,
// service, chosen server, the scheduler's explanation or the persistence template that placed
// it), filled ONLY while someone traces.
// When nobody does, the datapath pays one boolean test per new connection (`trace.on`).
// The control plane reads the ring by sequence number (src/control/trace.ts); a reader that
// falls more than `cap` events behind is told how many it lost.

import type { DestTable } from './dests.js';
import type { Flow, SchedService, Scheduler } from '../sched/types.js';
import { explainAt } from '../sched/common.js';

export const TRACE_CAP = 4096;

/** Events of a worker's ring (uvsd --workers), posted to the main thread's ring; time in epoch ms. */
export interface TraceBatch {
  time: Float64Array;
  proto: Uint8Array;
  saddr: Int32Array;
  sport: Uint16Array;
  daddr: Int32Array;
  dport: Uint16Array;
  svc: Int32Array;
  dest: Int32Array;
  raddr: Int32Array;
  rport: Uint16Array;
  sched: string[];
  why: string[];
  /** Events the worker's ring overwrote before they were posted. */
  missed: number;
}

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
  /** Workers: events lost before they reached this ring (a worker's ring overwrote them). */
  missed = 0;
  /** The event being noted keeps the client's port on any server (note() to chosen()). */
  private clientPort = false;

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
   * state), after `persist` (a persistent service: what became of the client's template). Only
   * called while tracing, so the allocation in explain() is off the normal path.
   */
  decide(svc: SchedService & { id: number; scheduler: Scheduler }, dt: DestTable, f: Flow, now: number, persist = '', clientPort = false): void {
    const i = this.note(svc, f, now, clientPort);
    const s = svc.scheduler;
    let why = s.name;
    if (s.explain !== undefined) {
      try {
        why = explainAt(f.dport, () => (s.explain as NonNullable<Scheduler['explain']>)(svc, dt, f).why, clientPort);
      } catch (e) {
        why = `${s.name} (explain failed: ${(e as Error).message})`;
      }
    }
    this.why[i] = persist === '' ? why : `${persist}; ${why}`;
  }

  /** A connection a persistence template placed on `dest` (no scheduler asked): why says so. */
  hit(svc: SchedService & { id: number; scheduler: Scheduler }, dt: DestTable, f: Flow, now: number, dest: number, why: string, clientPort = false): void {
    this.why[this.note(svc, f, now, clientPort)] = why;
    this.chosen(dest, dt);
  }

  /** The flow's fields into the next slot (committed by chosen()); returns the slot. */
  private note(svc: SchedService & { id: number; scheduler: Scheduler }, f: Flow, now: number, clientPort: boolean): number {
    const i = this.seq % this.cap;
    this.clientPort = clientPort;
    this.time[i] = now;
    this.proto[i] = f.proto;
    this.saddr[i] = f.saddr;
    this.sport[i] = f.sport;
    this.daddr[i] = f.daddr;
    this.dport[i] = f.dport;
    this.svc[i] = svc.id;
    this.dest[i] = -1;
    this.sched[i] = svc.scheduler.name;
    return i;
  }

  /** Workers: the events from `from` (a sequence number) to seq, at most cap, as columns to post. */
  take(from: number): TraceBatch {
    const start = Math.max(from, this.seq - this.cap);
    const n = this.seq - start;
    const cols = <T extends Float64Array | Uint8Array | Int32Array | Uint16Array>(a: T): T => {
      const out = new (a.constructor as new (n: number) => T)(n);
      for (let k = 0; k < n; k++) out[k] = a[(start + k) % this.cap];
      return out;
    };
    const time = cols(this.time);
    for (let k = 0; k < n; k++) time[k] += performance.timeOrigin;
    const strs = (a: string[]): string[] => Array.from({ length: n }, (_, k) => a[(start + k) % this.cap]);
    return {
      time, proto: cols(this.proto), saddr: cols(this.saddr), sport: cols(this.sport), daddr: cols(this.daddr), dport: cols(this.dport),
      svc: cols(this.svc), dest: cols(this.dest), raddr: cols(this.raddr), rport: cols(this.rport), sched: strs(this.sched), why: strs(this.why),
      missed: start - from,
    };
  }

  /** Workers: append a worker's events (take()) as if this ring had recorded them. */
  append(b: TraceBatch): void {
    this.missed += b.missed;
    for (let k = 0; k < b.time.length; k++) {
      const i = this.seq % this.cap;
      this.time[i] = b.time[k] - performance.timeOrigin;
      this.proto[i] = b.proto[k];
      this.saddr[i] = b.saddr[k];
      this.sport[i] = b.sport[k];
      this.daddr[i] = b.daddr[k];
      this.dport[i] = b.dport[k];
      this.svc[i] = b.svc[k];
      this.dest[i] = b.dest[k];
      this.raddr[i] = b.raddr[k];
      this.rport[i] = b.rport[k];
      this.sched[i] = b.sched[k];
      this.why[i] = b.why[k];
      this.seq++;
    }
  }

  /** After schedule(): the choice; commits the event noted by decide(). */
  chosen(dest: number, dt: DestTable): void {
    const i = this.seq % this.cap;
    this.dest[i] = dest;
    this.raddr[i] = dest >= 0 ? dt.addr[dest] : 0;
    // A port-zero service's server (port 0) takes the client's port, and so does every server of
    // a connection that keeps it (note()'s clientPort: as the datapath's rport).
    this.rport[i] = dest < 0 ? 0 : this.clientPort ? this.dport[i] : dt.port[dest] || this.dport[i];
    this.seq++;
  }
}
