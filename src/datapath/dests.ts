// Destinations (real servers) as typed-array slots, so the per-packet path and the
// schedulers read weights and connection counts without touching objects. Slots are chosen by
// the control plane (the same slot numbers go to every worker); binding and unbinding a
// connection (the active/inactive/conns counters and the -x/-y thresholds) happen here only.

import { f64, u32 } from './counters.js';

export const DEST_F_USED = 1;

/** Destination slots without uvsd --dest-max. */
export const DEST_MAX = 4096;

/** Told when a watched destination's connection counts (or overload flag) change: the
 *  least-load schedulers' tournament trees (src/sched/tourney.ts) for large services. */
export interface LoadWatcher {
  changed(d: number): void;
}
/** Over its upper threshold (ipvsadm -x): no new connections until under the lower one (-y). */
export const DEST_F_OVERLOAD = 2;
/** Deleted, its connections not yet gone: the same server added again takes the slot back
 *  (DestTable.revive), as IPVS takes a deleted destination back from its trash. */
export const DEST_F_TRASH = 4;

/**
 * uvsd --workers: what the workers share so the -x/-y thresholds count a server's connections
 * on every worker (src/datapath/group.ts makes it): each worker's active and inactive arrays
 * (its own among them, by worker index) and one overload mark per slot. over[d] is 1 while d is
 * overloaded; over[max] is bumped on every change, so a worker notices with one load per batch
 * (syncOverload) and mirrors the marks into its flags.
 */
export interface DestLoad {
  active: Uint32Array[];
  inactive: Uint32Array[];
  over: Int32Array;
}

/** A DestLoad for `workers` tables of `max` slots, on SharedArrayBuffers. */
export function destLoad(workers: number, max: number): DestLoad {
  return {
    active: Array.from({ length: workers }, () => u32(max, true)),
    inactive: Array.from({ length: workers }, () => u32(max, true)),
    over: new Int32Array(new SharedArrayBuffer(4 * (max + 1))),
  };
}

/** Statistic numbers for DestTable.total() and .retired. */
export const STAT_CONNS = 0;
export const STAT_IN_PKTS = 1;
export const STAT_IN_BYTES = 2;
export const STAT_OUT_PKTS = 3;
export const STAT_OUT_BYTES = 4;

/** What DestTable.journal is told about a slot. */
export const SLOT_SET = 0;
export const SLOT_ZERO = 1;
export const SLOT_RELEASE = 2;

export class DestTable {
  readonly max: number;
  /** int32 (see frame.ts rd32). */
  readonly addr: Int32Array;
  readonly port: Uint16Array;
  readonly fwd: Uint8Array;
  readonly flags: Uint8Array;
  readonly weight: Int32Array;
  readonly active: Uint32Array;
  readonly inactive: Uint32Array;
  /** Persistence templates pointing here (IPVS persistconns, ipvsadm --persistent-conn). */
  readonly persist: Uint32Array;
  /** Connection thresholds (ipvsadm -x upper / -y lower); 0 = none. */
  readonly upper: Uint32Array;
  readonly lower: Uint32Array;
  /** TUN servers' encapsulation (tunCode in src/modes/tun.ts: type, checksum, GUE port); 0 = IPIP. */
  readonly tun: Int32Array;
  /** Totals since the last zero: connections, packets and bytes towards and from the server. */
  readonly conns: Float64Array;
  readonly inPkts: Float64Array;
  readonly inBytes: Float64Array;
  readonly outPkts: Float64Array;
  readonly outBytes: Float64Array;
  /** Per slot: who wants to hear about its load changes (undefined for nearly every slot). */
  readonly watcher: (LoadWatcher | undefined)[];
  /** Bumped when a slot is released, so connections bound to an earlier use of it are stale
   *  (a revive takes the bump back: its connections hold it again). */
  readonly gen: Uint32Array;
  /** Bumped whenever a server is put into the slot, by set() or revive(): an add, as the kernel's
   *  __ip_vs_update_dest(add) counts one, where gen cannot tell a revive from an edit (mh's
   *  last weight, src/sched/mh.ts). */
  readonly adds: Uint32Array;
  /**
   * What -Z took away, per slot and statistic (STAT_* order: conns, inPkts, inBytes, outPkts,
   * outBytes at kept[d*5+k]); and what released slots had in all (retired[k]). The Prometheus
   * *_total counters add these back, so they never go down when someone runs -Z or deletes a server.
   */
  readonly kept: Float64Array;
  readonly retired: Float64Array;
  /** uvsd --workers: the counts and overload marks of all workers (undefined: this table alone). */
  private readonly load: DestLoad | undefined;
  /** load.over[max] when this table last mirrored the marks. */
  private overGen = 0;
  /** Workers: the slots with an upper threshold (the only ones syncOverload and recheckOverload look at). */
  private readonly limited = new Set<number>();
  /**
   * uvsd --workers, the shadow's table alone (src/datapath/group.ts): told of every slot set,
   * zeroed (-Z) or released, in order (SLOT_*). Control time only, never per packet.
   */
  journal: ((d: number, what: number) => void) | undefined = undefined;

  /** shared: the statistics (conns .. outBytes, active, inactive, persist, kept, retired) live on
   *  SharedArrayBuffers, for the main thread to sum (uvsd --workers). load: this is worker
   *  `index` of the workers sharing it (its active and inactive arrays are load's). */
  constructor(max: number, shared = false, load?: { load: DestLoad; index: number }) {
    this.max = max;
    this.addr = new Int32Array(max);
    this.port = new Uint16Array(max);
    this.fwd = new Uint8Array(max);
    this.flags = new Uint8Array(max);
    this.weight = new Int32Array(max);
    this.load = load?.load;
    this.active = load?.load.active[load.index] ?? u32(max, shared);
    this.inactive = load?.load.inactive[load.index] ?? u32(max, shared);
    this.persist = u32(max, shared);
    this.watcher = new Array<LoadWatcher | undefined>(max).fill(undefined);
    this.upper = new Uint32Array(max);
    this.lower = new Uint32Array(max);
    this.tun = new Int32Array(max);
    this.conns = f64(max, shared);
    this.inPkts = f64(max, shared);
    this.inBytes = f64(max, shared);
    this.outPkts = f64(max, shared);
    this.outBytes = f64(max, shared);
    this.gen = new Uint32Array(max);
    this.adds = new Uint32Array(max);
    this.kept = f64(max * 5, shared);
    this.retired = f64(5, shared);
  }

  /** Put a destination into slot d (chosen by the control plane, must be unused). */
  set(d: number, addr: number, port: number, fwd: number, weight: number, upper = 0, lower = 0, tun = 0): void {
    this.addr[d] = addr | 0;
    this.tun[d] = tun;
    this.port[d] = port;
    this.fwd[d] = fwd;
    this.weight[d] = weight;
    this.flags[d] = DEST_F_USED;
    this.adds[d]++;
    this.active[d] = 0;
    this.inactive[d] = 0;
    this.persist[d] = 0;
    this.setThresholds(d, upper, lower);
    this.kept.fill(0, d * 5, d * 5 + 5);
    this.clearStats(d);
    this.journal?.(d, SLOT_SET);
  }

  /**
   * ipvsadm -x/-y (0 = none; without a lower threshold, under 3/4 of upper clears overload). As
   * __ip_vs_update_dest(): an upper threshold raised (or removed) clears the mark at once, so an
   * operator raising -x on a saturated server sees it take connections again; unlike the kernel,
   * a server already at or above its new upper threshold is marked now, not at its next connection.
   */
  setThresholds(d: number, upper: number, lower: number): void {
    const raised = upper > this.upper[d];
    this.upper[d] = upper;
    this.lower[d] = lower;
    if (this.load !== undefined) {
      if (upper === 0) this.limited.delete(d);
      else this.limited.add(d);
    }
    if (upper === 0) this.mark(d, false);
    else this.checkOverload(d, raised);
  }

  /** ipvsadm -Z for one slot: the statistics restart at 0 (their values move into `kept`). */
  zero(d: number): void {
    const k = d * 5;
    this.kept[k] += this.conns[d];
    this.kept[k + 1] += this.inPkts[d];
    this.kept[k + 2] += this.inBytes[d];
    this.kept[k + 3] += this.outPkts[d];
    this.kept[k + 4] += this.outBytes[d];
    this.clearStats(d);
    this.journal?.(d, SLOT_ZERO);
  }

  /** Statistic `stat` (STAT_*) of slot d since it was set, -Z or not (exported *_total counters). */
  total(d: number, stat: number): number {
    return this.kept[d * 5 + stat] + this.statArray(stat)[d];
  }

  /** Statistic `stat` (STAT_*) of slot d since the last -Z (what ipvsadm --stats shows). */
  statOf(d: number, stat: number): number {
    return this.statArray(stat)[d];
  }

  private statArray(stat: number): Float64Array {
    switch (stat) {
      case STAT_CONNS: return this.conns;
      case STAT_IN_PKTS: return this.inPkts;
      case STAT_IN_BYTES: return this.inBytes;
      case STAT_OUT_PKTS: return this.outPkts;
      default: return this.outBytes;
    }
  }

  private clearStats(d: number): void {
    this.conns[d] = 0;
    this.inPkts[d] = 0;
    this.inBytes[d] = 0;
    this.outPkts[d] = 0;
    this.outBytes[d] = 0;
  }

  /**
   * Fold slot d's statistics into its service's accumulators before it is released (control
   * time, never per packet): `total` gets what total() reads (never zeroed), `sinceZero` what
   * -Ln --stats shows (since the last -Z), both in STAT_* order. So a service's statistics do not
   * go down when one of its servers is deleted, as IPVS keeps them in svc->stats.
   */
  retireInto(d: number, total: Float64Array, sinceZero: Float64Array): void {
    for (let k = 0; k < 5; k++) {
      total[k] += this.total(d, k);
      sinceZero[k] += this.statArray(k)[d];
    }
  }

  /**
   * The server leaves slot d: connections still pointing at it see a different generation (each
   * is expired by its next packet, or by its timer, which still unbinds it: owns()). The slot is
   * in the trash until the control plane sets it again: to the same server (revive) or another.
   */
  release(d: number): void {
    for (let k = 0; k < 5; k++) this.retired[k] += this.total(d, k);
    this.flags[d] = DEST_F_TRASH;
    this.watcher[d] = undefined;
    this.gen[d]++;
    this.limited.delete(d);
    this.journal?.(d, SLOT_RELEASE);
  }

  /**
   * The server released from slot d is added back (IPVS ip_vs_trash_get_dest): its connections
   * that sent nothing meanwhile hold it again and go on, counted in its active/inactive/persist
   * as before; it takes the new settings; its statistics restart at 0 (what it had went into
   * `retired` when it left).
   */
  revive(d: number, fwd: number, weight: number, upper = 0, lower = 0, tun = 0): void {
    this.gen[d]--;
    this.fwd[d] = fwd;
    this.tun[d] = tun;
    this.weight[d] = weight;
    this.flags[d] = DEST_F_USED;
    this.adds[d]++;
    this.setThresholds(d, upper, lower);
    this.kept.fill(0, d * 5, d * 5 + 5);
    this.clearStats(d);
    this.journal?.(d, SLOT_SET);
  }

  /** Whether a connection bound to d at generation dgen still counts in d: d's server now, or
   *  the one released from d into the trash since (it may come back). */
  owns(d: number, dgen: number): boolean {
    return this.gen[d] === dgen || (this.flags[d] === DEST_F_TRASH && this.gen[d] === ((dgen + 1) >>> 0));
  }

  /** Eligible for new connections: in use, weight > 0, not overloaded. */
  available(d: number): boolean {
    return this.flags[d] === DEST_F_USED && this.weight[d] > 0;
  }

  /** ip_vs_dest_conn_overhead(): active connections weigh 256 times an inactive one. */
  overhead(d: number): number {
    return this.active[d] * 256 + this.inactive[d];
  }

  /**
   * A new connection is bound to d (it starts inactive, as IPVS sets IP_VS_CONN_F_INACTIVE).
   * `scheduled`: counted in d's connections (Conns, node_ipvs_connections_total) as
   * ip_vs_conn_stats counts one scheduled here; a connection sync installs is not (the kernel's
   * ip_vs_bind_dest alone), or the two directors would count each connection twice.
   */
  bind(d: number, scheduled = true): void {
    this.inactive[d]++;
    if (scheduled) this.conns[d]++;
    if (this.upper[d] !== 0) this.checkOverload(d);
    const w = this.watcher[d];
    if (w !== undefined) w.changed(d);
  }

  /** A connection of d ends; `active` says which counter it was in. */
  unbind(d: number, active: boolean): void {
    if (active) this.active[d]--;
    else this.inactive[d]--;
    if (this.upper[d] !== 0) this.checkOverload(d);
    const w = this.watcher[d];
    if (w !== undefined) w.changed(d);
  }

  /** A persistence template now points at d: counted apart, not an active/inactive connection
   *  and not towards the thresholds (ip_vs_bind_dest: persistconns; totalconns = active + inactive). */
  bindTemplate(d: number): void {
    this.persist[d]++;
  }

  unbindTemplate(d: number): void {
    this.persist[d]--;
  }

  /** A connection of d moved between inactive and active (TCP state change). */
  activate(d: number, active: boolean): void {
    if (active) {
      this.active[d]++;
      this.inactive[d]--;
    } else {
      this.active[d]--;
      this.inactive[d]++;
    }
    const w = this.watcher[d];
    if (w !== undefined) w.changed(d);
  }

  /** As ip_vs_bind_dest/ip_vs_unbind_dest: OVERLOAD at total >= upper; cleared under lower
   *  (or, without one, when total * 4 < upper * 3), or under upper when `raised` (setThresholds).
   *  With workers the total is every worker's. */
  private checkOverload(d: number, raised = false): void {
    const total = this.connsOf(d);
    const up = this.upper[d];
    const lo = this.lower[d];
    if (total >= up) this.mark(d, true);
    else if (raised || (lo !== 0 ? total < lo : total * 4 < up * 3)) this.mark(d, false);
  }

  /** Set or clear d's overload mark (uvsd --workers: the shadow copies the workers' marks with it). */
  mark(d: number, over: boolean): void {
    if (over) this.flags[d] |= DEST_F_OVERLOAD;
    else this.flags[d] &= ~DEST_F_OVERLOAD;
    const l = this.load;
    if (l !== undefined && (l.over[d] !== 0) !== over) {
      Atomics.store(l.over, d, over ? 1 : 0);
      Atomics.add(l.over, this.max, 1);
    }
  }

  /** d's active + inactive connections, every worker's (what the thresholds compare). */
  connsOf(d: number): number {
    const l = this.load;
    if (l === undefined) return this.active[d] + this.inactive[d];
    let total = 0;
    for (let w = 0; w < l.active.length; w++) total += l.active[w][d] + l.inactive[w][d];
    return total;
  }

  /** Whether the workers' shared mark of d is set (the flag of a table without workers). */
  overloaded(d: number): boolean {
    return this.load === undefined ? (this.flags[d] & DEST_F_OVERLOAD) !== 0 : this.load.over[d] !== 0;
  }

  /**
   * uvsd --workers, once per batch: take the overload marks other workers changed into this
   * table's flags (telling watchers). One load when nothing changed; a walk of the thresholded
   * slots when something did (a server crossed a threshold).
   */
  syncOverload(): void {
    const l = this.load;
    if (l === undefined) return;
    const gen = Atomics.load(l.over, this.max);
    if (gen === this.overGen) return;
    this.overGen = gen;
    const flags = this.flags;
    for (const d of this.limited) {
      const f = l.over[d] !== 0 ? flags[d] | DEST_F_OVERLOAD : flags[d] & ~DEST_F_OVERLOAD;
      if (f === flags[d]) continue;
      flags[d] = f;
      const w = this.watcher[d];
      if (w !== undefined) w.changed(d);
    }
  }

  /**
   * uvsd --workers, every tick: decide every thresholded slot again from the counts. Two workers
   * deciding at once can leave a mark a connection behind the counts; this settles it even when
   * no connection of that server comes or goes any more.
   */
  recheckOverload(): void {
    for (const d of this.limited) {
      const was = this.flags[d];
      this.checkOverload(d);
      const w = this.watcher[d];
      if (w !== undefined && this.flags[d] !== was) w.changed(d);
    }
  }
}

/**
 * Statistic `stat` (STAT_*) of a service: its current servers' plus what its deleted servers had
 * (SvcRuntime.retired / retiredZ). sinceZero: since the last -Z (-Ln --stats, --rate, status);
 * else never zeroed (Prometheus *_total). Read at control or scrape time, never per packet.
 */
export function serviceStat(
  dt: DestTable, svc: { dests: readonly number[]; retired: Float64Array; retiredZ: Float64Array }, stat: number, sinceZero: boolean,
): number {
  let v = sinceZero ? svc.retiredZ[stat] : svc.retired[stat];
  if (sinceZero) for (const d of svc.dests) v += dt.statOf(d, stat);
  else for (const d of svc.dests) v += dt.total(d, stat);
  return v;
}

/**
 * serviceStat(..., sinceZero) of all five statistics at once, into `out` (STAT_* order): one pass
 * over the service's servers (the --rate estimator's tick: five passes took half of it).
 */
export function serviceStatsSinceZero(dt: DestTable, svc: { dests: readonly number[]; retiredZ: Float64Array }, out: Float64Array): void {
  const z = svc.retiredZ;
  let conns = z[STAT_CONNS], inPkts = z[STAT_IN_PKTS], inBytes = z[STAT_IN_BYTES], outPkts = z[STAT_OUT_PKTS], outBytes = z[STAT_OUT_BYTES];
  const ds = svc.dests;
  for (let i = 0; i < ds.length; i++) {
    const d = ds[i];
    conns += dt.conns[d];
    inPkts += dt.inPkts[d];
    inBytes += dt.inBytes[d];
    outPkts += dt.outPkts[d];
    outBytes += dt.outBytes[d];
  }
  out[STAT_CONNS] = conns;
  out[STAT_IN_PKTS] = inPkts;
  out[STAT_IN_BYTES] = inBytes;
  out[STAT_OUT_PKTS] = outPkts;
  out[STAT_OUT_BYTES] = outBytes;
}
