// Rate estimates for the status page, as IPVS estimates them (ip_vs_est.c, ipvsadm --rate):
// every 2 s the per-second rate over the last interval is folded into an average,
// avg += (rate - avg) / 4 (every row every 2 s, a share of the rows every 250 ms). Sampled from
// the never-zeroed totals (DestTable.total), so -Z does not make a rate jump. Runs on a timer,
// never per packet.

import { DEST_F_USED, STAT_CONNS, STAT_IN_BYTES, STAT_IN_PKTS, STAT_OUT_BYTES, STAT_OUT_PKTS } from '../datapath/dests.js';
import { C } from '../datapath/counters.js';
import type { Datapath, SvcRuntime } from '../datapath/pipeline.js';
import { EST_CHECK_ROWS, EST_TICKS, RateTable, walkTick } from '../control/estimator.js';

export const EST_INTERVAL_MS = 2000;

/** conns/s, in packets/s, in bytes/s, out packets/s, out bytes/s. */
export interface Rates {
  cps: number;
  inpps: number;
  inbps: number;
  outpps: number;
  outbps: number;
}

/** A server's row: conns, in packets, in bytes, out packets, out bytes (the order of Rates). */
const STATS = 5;
const LINK = [C.rx_frames, C.rx_bytes, C.tx_frames, C.tx_bytes];

/**
 * The rates, row by row in typed arrays (RateTable): a destination slot's row belongs to the
 * slot's generation (a reused slot starts again). Run in EST_TICKS ticks of EST_INTERVAL_MS: a
 * tick steps the servers of the services whose id % EST_TICKS equals its number (what
 * DatapathGroup.pullShare sums for it), each over the time since that tick last ran; tick 0 also
 * the drops, link and port rates. A map of string keys and a
 * Float64Array per server and step took 37-78 ms every 2 s with 10,000 services of 4 servers,
 * on the datapath's thread (scavenges of 10-24 ms among them).
 */
export class RateEstimator {
  private readonly dp: Datapath;
  /** A row per destination slot, all of them from the start (no growth on a tick). */
  private readonly dests: RateTable;
  /**
   * A row per service id: the service's own rates, on its never-zeroed totals (its servers' and
   * what its deleted servers had, SvcRuntime.retired), as IPVS estimates svc->stats apart from
   * each dest's and as `ipvsadm --rate`'s service line: a server deleted (by hand, a reload, a
   * failed check) does not take its share out of the service's rates. Until 2026-12-07 the page
   * showed the sum of the current servers' rates, which dropped by the deleted server's share.
   */
  private readonly svcs: RateTable;
  /** Per service id: the service its row was stepped for (a new service in a reused id starts
   *  its row again: svcTag) and that row's tag. */
  private readonly svcOf: (SvcRuntime | undefined)[] = [];
  private readonly svcTag: number[] = [];
  /** Service totals, filled per service before its row's step. */
  private readonly svcNow: Float64Array;
  private readonly drops: RateTable;
  private readonly link = new RateTable(LINK.length);
  /** Frames lost before the datapath, by the port's reason (MetricsOptions.portDrops). */
  private readonly portDrops?: () => Record<string, number> | null;
  private readonly port = new RateTable(1);
  private readonly portRows = new Map<string, number>();
  /** Per tick: when it last ran (-1: never). */
  private readonly tickMs = new Float64Array(EST_TICKS).fill(-1);
  private next = 0;
  /** The tick in progress (tickSome): its next slot (-1: none), its next service id and the seconds it folds. */
  private at = -1;
  private svc = -1;
  private secs = 0;

  constructor(dp: Datapath, portDrops?: () => Record<string, number> | null) {
    this.dp = dp;
    this.portDrops = portDrops;
    this.drops = new RateTable(dp.counters.d.length);
    this.dests = new RateTable(STATS, dp.dt.max);
    this.svcs = new RateTable(STATS, dp.dt.max);
    this.svcNow = this.svcs.now;
  }

  /** Rows stepped, ever (tests). */
  get steps(): number {
    return this.dests.steps;
  }

  /**
   * The next tick, whole (tests); `pull(t)` runs before tick t: with --workers it sums what the
   * tick reads (DatapathGroup.pullShare: its services' servers, at tick 0 the counters too), not
   * the whole table.
   */
  tick(nowMs: number, pull?: (t: number) => void): void {
    while (!this.tickSome(nowMs, Infinity, pull));
  }

  /**
   * Steps the rows of the current tick until it is done (true) or performance.now() passes
   * `deadline`, looked at once EST_CHECK_ROWS rows went by (false: the next call goes on, folding the
   * seconds measured when the tick began). Its timer (startTicks) runs a tick so in slices: the
   * first ticks after a start run before the JIT compiled them. `nowMs` counts when a tick begins;
   * `pull(t)` runs then.
   */
  tickSome(nowMs: number, deadline: number, pull?: (t: number) => void): boolean {
    const t = this.next;
    if (this.at < 0) {
      pull?.(t);
      this.begin(t, nowMs);
    }
    const dt = this.dp.dt;
    const rows = this.dests;
    const timed = deadline !== Infinity;
    let n = 0;
    // The free and deleted slots of the tick first (slot % EST_TICKS), then the servers of its
    // services (id % EST_TICKS): what pull(t) summed from the workers.
    for (; this.at < dt.max; this.at += EST_TICKS) {
      if (timed && ++n >= EST_CHECK_ROWS) {
        n = 0;
        if (performance.now() >= deadline) return false;
      }
      if ((dt.flags[this.at] & DEST_F_USED) === 0) rows.forget(this.at); // a deleted server (in the trash) or a free slot
    }
    this.svc = walkTick(this.dp.services, this.svc, deadline, this.stepService, n);
    if (this.svc >= 0) return false;
    this.at = -1;
    this.next = (t + 1) % EST_TICKS;
    return true;
  }

  /** A service's servers in use, stepped on their never-zeroed totals (dt.total(d, k) of the five, in the order of Rates),
   *  then the service's own row on the sum of those and what its deleted servers had (SvcRuntime.retired). */
  private readonly stepService = (svc: SvcRuntime, id: number): void => {
    const dt = this.dp.dt;
    const rows = this.dests;
    const now = rows.now;
    const kept = dt.kept;
    const sn = this.svcNow;
    const ret = svc.retired;
    for (let k = 0; k < STATS; k++) sn[k] = ret[k];
    const ds = svc.dests;
    for (let i = 0; i < ds.length; i++) {
      const d = ds[i];
      if ((dt.flags[d] & DEST_F_USED) === 0) continue;
      const o = d * 5;
      now[0] = kept[o + STAT_CONNS] + dt.conns[d];
      now[1] = kept[o + STAT_IN_PKTS] + dt.inPkts[d];
      now[2] = kept[o + STAT_IN_BYTES] + dt.inBytes[d];
      now[3] = kept[o + STAT_OUT_PKTS] + dt.outPkts[d];
      now[4] = kept[o + STAT_OUT_BYTES] + dt.outBytes[d];
      for (let k = 0; k < STATS; k++) sn[k] += now[k];
      rows.step(d, dt.gen[d], this.secs);
    }
    if (this.svcOf[id] !== svc) {
      this.svcOf[id] = svc;
      this.svcTag[id] = (this.svcTag[id] ?? 0) + 1;
    }
    this.svcs.step(id, this.svcTag[id]!, this.secs);
  };

  /** All the ticks at once (tests call it with their own clock, every EST_INTERVAL_MS). */
  sample(nowMs: number): void {
    while (this.at >= 0 && !this.tickSome(nowMs, Infinity)); // a tick begun by the timer: ended first
    this.next = 0;
    for (let t = 0; t < EST_TICKS; t++) this.tickSome(nowMs, Infinity);
  }

  /** Tick t begins: the seconds since it last ran, and (tick 0) the drops, link and port rates. */
  private begin(t: number, nowMs: number): void {
    const last = this.tickMs[t];
    const secs = last < 0 ? 0 : (nowMs - last) / 1000;
    this.tickMs[t] = nowMs;
    this.secs = secs;
    this.at = t;
    this.svc = t;
    // The tick's deleted services let go (a deleted service's scheduler state is not kept here).
    const svcOf = this.svcOf;
    for (let id = t; id < svcOf.length; id += EST_TICKS) if (svcOf[id] !== undefined && this.dp.services[id] === undefined) svcOf[id] = undefined;
    if (t !== 0) return;
    this.drops.now.set(this.dp.counters.d);
    this.drops.step(0, 0, secs);
    const c = this.dp.counters.c;
    for (let k = 0; k < LINK.length; k++) this.link.now[k] = c[LINK[k]];
    this.link.step(0, 0, secs);
    const port = this.portDrops?.();
    if (port == null) return;
    for (const reason in port) {
      let row = this.portRows.get(reason);
      if (row === undefined) this.portRows.set(reason, (row = this.portRows.size));
      this.port.now[0] = port[reason];
      this.port.step(row, 0, secs);
    }
  }

  dest(d: number): Rates {
    const g = this.dp.dt.gen[d];
    const r = (k: number): number => this.dests.rate(d, g, k);
    return { cps: r(0), inpps: r(1), inbps: r(2), outpps: r(3), outbps: r(4) };
  }

  /** The service's own rates (its row: not lowered when a server is deleted); zeros for a service its tick has not stepped yet. */
  service(svc: SvcRuntime): Rates {
    const id = svc.id;
    const g = this.svcOf[id] === svc ? this.svcTag[id]! : -1;
    const r = (k: number): number => (g < 0 ? 0 : this.svcs.rate(id, g, k));
    return { cps: r(0), inpps: r(1), inbps: r(2), outpps: r(3), outbps: r(4) };
  }

  /** service(svc) written into `into` (in the order of Rates), no object made (/status.json's writer). */
  serviceInto(svc: SvcRuntime, into: Float64Array): void {
    const id = svc.id;
    const g = this.svcOf[id] === svc ? this.svcTag[id]! : -1;
    for (let k = 0; k < STATS; k++) into[k] = g < 0 ? 0 : this.svcs.rate(id, g, k);
  }

  /** dest(d) written into `into` (in the order of Rates) where dest() makes an object (/status.json's writer). */
  destInto(d: number, into: Float64Array): void {
    const g = this.dp.dt.gen[d];
    for (let k = 0; k < STATS; k++) into[k] = this.dests.rate(d, g, k);
  }

  /** Drops per second, by reason number (DROP_NAMES). */
  drop(k: number): number {
    return k < this.drops.width ? this.drops.rate(0, 0, k) : 0;
  }

  /** Frames/s the port lost before the datapath, for one of its reasons (queue_full, ring_full, ...). */
  portDrop(reason: string): number {
    const row = this.portRows.get(reason);
    return row === undefined ? 0 : this.port.rate(row, 0, 0);
  }

  /** rx frames/s, rx bytes/s, tx frames/s, tx bytes/s. */
  linkRates(): { rxfps: number; rxbps: number; txfps: number; txbps: number } {
    const r = (k: number): number => this.link.rate(0, 0, k);
    return { rxfps: r(0), rxbps: r(1), txfps: r(2), txbps: r(3) };
  }
}
