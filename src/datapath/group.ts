// uvsd --workers N: one worker thread per TAP queue (IFF_MULTI_QUEUE) or, with the ring backend,
// per ring socket of one fanout group (Port.ringQueues), each with its own Port and Datapath
// (src/datapath/worker.ts), and on the main thread one "shadow" Datapath that never sees a frame.
// Control applies every DpOp list to the shadow (so the model's readers see what they always
// saw) and posts the same list to every worker; a reply waits until every worker has
// acknowledged it (synced()). The workers' counters and destination statistics live on
// SharedArrayBuffers; pull() sums them into the shadow's arrays before anything reads them, so
// metrics, -Ln --stats/--rate and status show totals without knowing about workers. A worker
// applies a list inside a sequence lock (odd while it applies) and publishes the list's seq with
// it: pull() reads a chunk of slots between two lists of every worker (it reads the chunk again
// if one applied a list meanwhile), never half of one, and knows which, so a server the shadow
// has deleted, added or zeroed is counted as the worker still holds it (no total goes down, none
// counts a server twice while the lists travel). A worker never waits for pull(). The counters
// and entries, which no list moves, are read at once, without waiting (readHead()).
// docs/architecture.md ("Workers") has the picture.

import { randomInt } from 'node:crypto';
import { Worker, MessageChannel, type MessagePort } from 'node:worker_threads';
import { C, COUNTER_NAMES, SVC_SLOTS, f64, svcSlotsFor } from './counters.js';
import { ENTRY_STATE_NAMES } from './census.js';
import { DEST_MAX, SLOT_RELEASE, SLOT_SET, SLOT_ZERO, destLoad, type DestLoad } from './dests.js';
import { sumLaddrUsage, type LaddrUsage } from '../modes/laddr.js';
import { ICMP_PEER_BUCKETS, sharedBuckets, type LimiterBuckets } from './ratelimit.js';
import type { ConnTable } from './conntable.js';
import type { Datapath, DatapathOptions, DpExplanation } from './pipeline.js';
import type { DpOp } from './ops.js';
import type { NeighRow } from './neigh.js';
import type { FrameSink } from './tx.js';
import type { IoMode, TapInfo } from './port.js';
import type { Steering } from './steer.js';
import type { TraceBatch } from './trace.js';
import type { WorkerSyncMessage } from '../sync/producer.js';
import { within } from '../timers.js';

/** Most worker threads (and TAP queues) (src/defaults.ts). */
export { MAX_WORKERS } from '../defaults.js';

/** What a worker needs to build its Port and Datapath (plain data: it is posted). */
export interface WorkerSetup {
  index: number;
  count: number;
  queue: TapInfo;
  /** The queue is a ring socket of the ring backend's fanout group (Port.ringQueues), not a TAP queue. */
  ring: boolean;
  /** budget: frames between looks at the rest of the event loop (uvsd --rx-budget). */
  port: { io: IoMode; stride: number; batch: number; headroom: number; budget: number };
  dp: Omit<DatapathOptions, 'advise' | 'worker'>;
  /** MessagePorts to the other workers by index (undefined at the worker's own index). */
  peers: (MessagePort | undefined)[];
  /** Walk the table for the entries-by-state gauges and count the neighbour table for uvs_neigh_* (only when uvsd serves metrics, as with one datapath). */
  census: boolean;
  /** Run the JIT warm-up (warmup.ts) before the queue is read (uvsd without --no-jit-warmup). */
  warmup: boolean;
  /** The CPU the worker pins its thread to first (uvsd --datapath-cpus), or undefined. */
  cpu?: number;
  /** Every worker's destination counts and the overload marks (the -x/-y thresholds). */
  load: DestLoad;
  /** --max-conn-rate-per-source: every worker's per-source buckets, one set for all. */
  limits: LimiterBuckets;
  /** The ICMP errors' per-source limit (Datapath.icmpPeerLimit): one set for all workers too. */
  icmpPeers: LimiterBuckets;
  /** Each worker's synced FULLNAT UDP connections whose clients reach another worker (Datapath.strays). */
  strays: Int32Array;
}

/** The shared arrays a worker sends once when it is ready. */
export interface WorkerShared {
  c: Float64Array;
  d: Float64Array;
  batch: Float64Array;
  /** Counters.svcNoDest as the worker had it when it started (applyLocked: a larger one from then on). */
  svc: Float64Array;
  dt: Record<(typeof DT_STATS)[number], Float64Array | Uint32Array>;
  retired: Float64Array;
  kept: Float64Array;
  /**
   * [0] = connection entries in use; ring backend: [1], [2] = the ring's drops (ring_full, too_long);
   * [S_APPLIED] = the seq of the last DpOp list applied (written under `lock`); [S_NEIGH],
   * [S_NEIGH + 1] = the neighbour table's entries in use and unresolved (WorkerSetup.census only);
   * [S_SECURE] = 1 while the worker is in secure TCP (it decides from its own table); [S_MAX] = its
   * table's size (its share of --conn-max).
   */
  scalars: Float64Array;
  /** [0]: a sequence lock, odd while the worker applies a DpOp list (applyLocked; pull() reads between lists). */
  lock: Int32Array;
  /** Entries by state (StateCensus of the worker's table, ENTRY_STATE_NAMES order), from its last complete walk. */
  states: Float64Array<ArrayBufferLike>;
  /** TUN servers that answered with protocol or port unreachable (Datapath.noDecap, nodecap.ts): read by the main thread's watch. */
  noDecap: Int32Array;
  io: string;
  ioFallback: string;
}

/** Destination statistics summed slot by slot (kept: 5 per slot). The first five are STAT_*'s, in that order. */
export const DT_STATS = ['conns', 'inPkts', 'inBytes', 'outPkts', 'outBytes', 'active', 'inactive', 'persist'] as const;

/** WorkerShared.scalars: its length, the slot of the last DpOp list's seq, of the neighbour counts,
 *  of the worker's secure TCP and of its table's size. */
export const SCALARS = 8;
export const S_APPLIED = 3;
export const S_NEIGH = 4;
export const S_SECURE = 6;
export const S_MAX = 7;

/**
 * How long a pull() waits in all for workers applying lists before it leaves the rest of the
 * shadow as it is (counted: pull_timeouts). The counters and entries do not wait: a list never
 * moves them, so they are read at once (readHead()).
 */
export const PULL_WAIT_MS = 100;
/**
 * pull() sums services and their slots in chunks of about this many (a slot and a service count
 * one each), each read between two lists of every worker: the workers apply lists meanwhile, and
 * a chunk read again because one did is this short (~0.2 ms at two workers).
 */
const PULL_CHUNK = 512;
/**
 * The 250 ms tick's pull (pullTick()) sums at most this many services and slots, the next ones
 * after the last tick's, round the table: a few ms at most, not the whole table every tick
 * (10-30 ms at 10,000 services of 4 servers). A scrape sums pieces of this many with the loop run
 * between them (pullSliced()); a verb that shows the table pulls it whole first.
 */
export const TICK_PULL = 4096;

/** Every worker's sequence lock, each even (no list being applied), into seqs; waits for one that
 *  is odd until `deadline` (performance.now()): false if one still was. */
function betweenLists(shared: readonly WorkerShared[], seqs: Int32Array, deadline: number): boolean {
  for (let w = 0; w < shared.length; w++) {
    const l = shared[w].lock;
    let s = Atomics.load(l, 0);
    while ((s & 1) !== 0) {
      const left = deadline - performance.now();
      if (left <= 0) return false;
      Atomics.wait(l, 0, s, left);
      s = Atomics.load(l, 0);
    }
    seqs[w] = s;
  }
  return true;
}

/** No worker has started a list since betweenLists() read seqs (a read-modify-write, so the reads
 *  of the arrays before it are done before it, on every CPU). */
function unchanged(shared: readonly WorkerShared[], seqs: Int32Array): boolean {
  for (let w = 0; w < shared.length; w++) if (Atomics.compareExchange(shared[w].lock, 0, seqs[w], seqs[w]) !== seqs[w]) return false;
  return true;
}

/** A DpOp list posted to every worker; svc: a larger Counters.svcNoDest to count into from this list on. */
export interface OpsMessage {
  t: 'ops';
  seq: number;
  ops: readonly DpOp[];
  svc?: Float64Array;
}

/** In a worker: apply the DpOp list m to dp inside the sequence lock, and publish its seq with
 *  it (never waits: pull() reads again what it read while the lock was odd or changed). */
export function applyLocked(shared: WorkerShared, dp: Datapath, m: OpsMessage): void {
  Atomics.add(shared.lock, 0, 1);
  try {
    if (m.svc !== undefined) dp.counters.useSvc(m.svc);
    dp.apply(m.ops);
    shared.scalars[S_APPLIED] = m.seq;
    // New defenses (--secure-tcp-above) switch secure TCP at once.
    shared.scalars[S_SECURE] = dp.secureTcp ? 1 : 0;
  } finally {
    Atomics.add(shared.lock, 0, 1);
    Atomics.notify(shared.lock, 0);
  }
}

/** What worker datapath dp shares with the main thread: its counters and statistics (on
 *  SharedArrayBuffers: it was made with DatapathOptions.worker), scalars (SCALARS long) and census counts. */
export function workerShared(dp: Datapath, scalars: Float64Array, states: Float64Array<ArrayBufferLike>, io: string, ioFallback: string): WorkerShared {
  const dt = dp.dt;
  scalars[S_MAX] = dp.ct.max;
  publishTick({ scalars }, dp);
  return {
    c: dp.counters.c, d: dp.counters.d, batch: dp.counters.batch, svc: dp.counters.svcNoDest,
    dt: {
      conns: dt.conns, inPkts: dt.inPkts, inBytes: dt.inBytes, outPkts: dt.outPkts, outBytes: dt.outBytes,
      active: dt.active, inactive: dt.inactive, persist: dt.persist,
    },
    retired: dt.retired, kept: dt.kept, scalars, lock: new Int32Array(new SharedArrayBuffer(4)), states, io, ioFallback, noDecap: dp.noDecap,
  };
}

/** In a worker, at each tick (after dp.tick()): its entries in use and whether it is in secure TCP. */
export function publishTick(shared: Pick<WorkerShared, 'scalars'>, dp: Datapath): void {
  shared.scalars[0] = dp.ct.count;
  shared.scalars[S_SECURE] = dp.secureTcp ? 1 : 0;
}

/** Counters that every datapath counts once per control change (not per frame): the shadow's own.
 *  (secure_tcp_switches is summed: each worker switches on its own table; the shadow never does.) */
const NOT_SUMMED = new Set<number>([C.role_changes]);

/** Connection entries of one worker as columns (uvsadm -Lc): the ConnTable fields connPage reads. */
export interface ConnSnapshot {
  max: number;
  nowTick: number;
  /** Each entry's position in the table, and where the look stopped short of the table's end (-1: it got there). */
  at: Uint32Array;
  end: number;
  proto: Uint8Array;
  state: Uint8Array;
  flags: Uint16Array;
  fwd: Uint8Array;
  expires: Uint32Array;
  caddr: Int32Array;
  vaddr: Int32Array;
  daddr: Int32Array;
  laddr: Int32Array;
  cport: Uint16Array;
  vport: Uint16Array;
  dport: Uint16Array;
  lport: Uint16Array;
  seqd: Int32Array;
  /** ConnTable.peText of the entries taken, by their index here. */
  peText: Map<number, string>;
}

/** The fields of a connection table that a listing reads (a ConnTable, or a worker's snapshot). */
export type ConnView = Pick<ConnTable, 'max' | 'proto' | 'state' | 'flags' | 'fwd' | 'expires' | 'caddr' | 'vaddr' | 'daddr' | 'laddr' |
  'cport' | 'vport' | 'dport' | 'lport' | 'seqd' | 'peText'> & { isAlive(e: number): boolean };

/**
 * At most max live entries of ct as columns, from entry `from` on, looking at at most `scan`
 * entries (in the worker; the rare path, it allocates).
 */
export function snapshotConns(ct: ConnTable, nowTick: number, max: number, from: number, scan: number): ConnSnapshot {
  const idx: number[] = [];
  const to = Math.min(ct.max, from + scan);
  let e = from;
  for (; e < to; e++) {
    if (!ct.isAlive(e)) continue;
    if (idx.length >= max) break;
    idx.push(e);
  }
  const pick = <T extends Uint8Array | Uint16Array | Uint32Array | Int32Array>(a: T): T => {
    const out = new (a.constructor as new (n: number) => T)(idx.length);
    for (let i = 0; i < idx.length; i++) out[i] = a[idx[i]];
    return out;
  };
  return {
    max: idx.length, nowTick, at: Uint32Array.from(idx), end: e < ct.max ? e : -1,
    proto: pick(ct.proto), state: pick(ct.state), flags: pick(ct.flags), fwd: pick(ct.fwd), expires: pick(ct.expires),
    caddr: pick(ct.caddr), vaddr: pick(ct.vaddr), daddr: pick(ct.daddr), laddr: pick(ct.laddr),
    cport: pick(ct.cport), vport: pick(ct.vport), dport: pick(ct.dport), lport: pick(ct.lport), seqd: pick(ct.seqd),
    peText: new Map(idx.flatMap((e, i) => { const t = ct.peText.get(e); return t === undefined ? [] : [[i, t] as const]; })),
  };
}

/** A snapshot read like a table whose every entry is alive. */
export function snapshotView(s: ConnSnapshot): ConnView {
  return { ...s, isAlive: () => true };
}

/** What one worker did, for `uvsadm --status` (workers[]). */
export interface WorkerStatus {
  worker: number;
  io: string;
  rx_frames: number;
  tx_frames: number;
  fwd_packets: number;
  fwd_out_packets: number;
  conns: number;
  handoff_out: number;
  handoff_in: number;
  /** The worker's table size (its share of --conn-max: conns against it is how full it is). */
  conn_max: number;
  /** The worker is in secure TCP (above --secure-tcp-above of its own table). */
  secure_tcp: boolean;
  /** The CPU the worker's thread is pinned to (uvsd --datapath-cpus). */
  cpu?: number;
}

/** What Control needs of the workers (ControlInfo.workers). */
export interface Workers {
  readonly count: number;
  /** Post ops to every worker (the caller applied them to the shadow). */
  apply(ops: readonly DpOp[]): void;
  /** Sum the workers' counters into the shadow's arrays (slots: only these destination slots' statistics). */
  pull(slots?: readonly number[]): void;
  /** Only the counters, entries and secure TCP (what `status` and `drain` show): no statistics, no wait. */
  pullHead?(): void;
  /**
   * The services with id % n === t and their servers' slots (a rate estimator's tick t of n),
   * with head also the counters and entries (pullHead()).
   */
  pullShare?(t: number, n: number, head?: boolean): void;
  /** A scrape's pull (/metrics, /status.json): the counters at once, the table in pieces with pause() between. */
  pullSliced?(pause: () => Promise<void>): Promise<void>;
  /** Connections and persistence templates bound to slot d, over every worker (Control.destRefs). */
  destRefs?(d: number): number;
  /** Worker k's connections from entry `from` on: at most max, looking at at most scan entries (snapshotConns). */
  connsPage(k: number, from: number, max: number, scan: number): Promise<ConnSnapshot>;
  /** The FULLNAT local ports in use per LIP, summed over the workers (each holds its share of the ports). */
  laddrs(): Promise<LaddrUsage[]>;
  /** Every worker's neighbour table (uvsadm --neigh), by worker. */
  neigh(): Promise<NeighRow[][]>;
  status(): WorkerStatus[];
  /** How the TAP picks a frame's queue: `ebpf`, or `automq (why the program was refused)`. */
  steering(): string;
  /**
   * Connection sync, master side (src/sync): every worker marks its table and, each interval,
   * posts up to `groups` groups of `per` records (SyncProducer), delivered to onSyncRecords.
   */
  syncMaster(on: boolean, per: number, groups: number): void;
  /** Every worker dumps its whole table (a backup asked). */
  syncDump(): void;
  /** Records from worker `worker`, with the overflow dumps it has started so far and the turn they belong to (Datapath.syncTurn). */
  onSyncRecords: ((records: Uint8Array, worker: number, overflowDumps: number, turn: number) => void) | null;
  /** Ops for worker k alone, not the shadow and not acknowledged (a backup's synced connections). */
  post(k: number, ops: DpOp[]): void;
  /** uvsadm trace: every worker records its decisions and posts them to the shadow's ring. */
  trace(on: boolean): void;
  /** Datapath.explain() asked of worker k (its own templates and scheduler state). */
  explain(k: number, svc: number, src: number, sport: number, daddr: number, dport: number): Promise<DpExplanation>;
}

interface Link {
  w: Worker;
  shared: WorkerShared | undefined;
  acked: number;
  /** Larger per-service arrays posted with list seq, which the worker counts into once it has applied it (pull()). */
  svcNext: { seq: number; svc: Float64Array }[];
  /** Resolves when the thread has ended (also one that died before close()). */
  exited: Promise<void>;
}

/**
 * A worker's counters and entries as the last pull read them (readHead()): the totals were summed
 * from these very numbers, so its `status` row and uvs_worker_* series add up to the totals.
 */
interface HeadSnap {
  c: Float64Array;
  conns: number;
  secure: boolean;
}

/** What one pull() reads and writes (DatapathGroup.reading()). */
interface Reading {
  dp: Datapath;
  links: (Link & { shared: WorkerShared })[];
  shared: WorkerShared[];
  /** Each worker's sequence lock when the chunk being read began. */
  seqs: Int32Array;
  /** Each worker's last applied list, as of the chunk being read. */
  applied: Float64Array;
  /** The shadow's DT_STATS arrays, and each worker's, by index. */
  out: (Float64Array | Uint32Array)[];
  ins: (Float64Array | Uint32Array)[][];
}

type FromWorker =
  | { t: 'ready'; shared: WorkerShared }
  | { t: 'ack'; seq: number }
  | WorkerSyncMessage
  | { t: 'arp'; frame: Uint8Array }
  | { t: 'answer'; id: number; part: unknown }
  | { t: 'explained'; id: number; x: DpExplanation }
  | { t: 'trace'; batch: TraceBatch };

export class DatapathGroup implements Workers {
  readonly count: number;
  /** The workers read ring sockets of the ring backend (one fanout group), not TAP queues. */
  readonly ring: boolean;
  /** uvsd --datapath-cpus: worker i's CPU. */
  private readonly cpus: readonly number[] | undefined;
  private readonly links: Link[] = [];
  private readonly load: DestLoad;
  private shadowDp: Datapath | undefined;
  private steerer: Steering | undefined;
  private seq = 0;
  private waiters: { seq: number; resolve: () => void }[] = [];
  /** Questions to every worker (conns, laddrs) waiting for their answers. */
  private queries = new Map<number, { left: number; parts: unknown[]; resolve: (parts: unknown[]) => void }>();
  private explains = new Map<number, (x: DpExplanation) => void>();
  private nextQuery = 1;
  /** What the workers' counters summed to at the last pull (the shadow counts on top of it). */
  private readonly lastC = new Float64Array(COUNTER_NAMES.length);
  private lastD: Float64Array | undefined;
  private lastBatch: Float64Array | undefined;
  /**
   * Per destination slot, the seq of the list that put the shadow's server there (0: one before
   * the workers' first list) and of the last list that zeroed it (-Z): a worker that has not
   * applied them holds the slot's previous server, or its statistics from before the -Z.
   */
  private added = new Float64Array(0);
  private zeroed = new Float64Array(0);
  /** Servers the shadow released (slot, seqs of the lists that added and released them) that a worker may still hold. */
  private leaving: { d: number; from: number; to: number }[] = [];
  /**
   * By service id, the seq of the list that added the shadow's service there (undefined: none
   * since the workers started): a worker that has not applied it counts the id's previous service,
   * or none. svcSlots: the length of the per-service arrays the workers count into.
   */
  private readonly svcAdded: number[] = [];
  private svcSlots = SVC_SLOTS;
  /** The shadow's slot changes (DestTable.journal) since the last apply(): slot, SLOT_*. */
  private readonly slotEvents: number[] = [];
  private readyP: Promise<void>;
  private closed = false;
  onSyncRecords: Workers['onSyncRecords'] = null;
  /** Every worker started: a failure from now on is fatal (before, ready() rejects). */
  private started = false;
  /** A worker died or failed to start: uvsd cannot forward that queue's flows. */
  onFatal: (err: Error) => void = (err) => {
    throw err;
  };

  /**
   * Start one worker per queue. `dp` are the shadow's options (connMax is split between the
   * workers: each holds its share of the table). census, warmup: WorkerSetup's; ring: the queues
   * are ring sockets; cpus: worker i pins its thread to cpus[i].
   */
  constructor(queues: TapInfo[], port: WorkerSetup['port'], dp: Omit<DatapathOptions, 'advise' | 'worker'>,
    o: { census?: boolean; warmup?: boolean; ring?: boolean; cpus?: readonly number[] } = {}) {
    const { census = false, warmup = false, ring = false, cpus } = o;
    this.cpus = cpus;
    this.ring = ring;
    this.count = queues.length;
    const n = this.count;
    // A MessageChannel between every two workers: handed-off frames and shared ARP go direct.
    const peers: (MessagePort | undefined)[][] = Array.from({ length: n }, () => new Array<MessagePort | undefined>(n).fill(undefined));
    for (let i = 0; i < n; i++) {
      for (let j = i + 1; j < n; j++) {
        const ch = new MessageChannel();
        peers[i][j] = ch.port1;
        peers[j][i] = ch.port2;
      }
    }
    this.load = destLoad(n, dp.destMax ?? DEST_MAX);
    const limits = sharedBuckets();
    const icmpPeers = sharedBuckets(ICMP_PEER_BUCKETS);
    const strays = new Int32Array(new SharedArrayBuffer(4 * n));
    const ready: Promise<void>[] = [];
    // One start for every worker's IP IDs, each worker then its share of the space further on.
    const ipIdSeed = dp.ipIdSeed ?? randomInt(0x10000);
    for (let i = 0; i < n; i++) {
      const setup: WorkerSetup = {
        index: i, count: n, queue: queues[i], ring, port,
        dp: { ...dp, connMax: Math.ceil(dp.connMax / n), ipIdSeed },
        peers: peers[i], census, warmup, cpu: cpus?.[i], load: this.load, limits, icmpPeers, strays,
      };
      const w = new Worker(new URL('./worker.js', import.meta.url), {
        workerData: setup,
        transferList: peers[i].filter((p): p is MessagePort => p !== undefined),
      });
      const link: Link = { w, shared: undefined, acked: 0, svcNext: [], exited: new Promise((resolve) => w.once('exit', () => resolve())) };
      this.links.push(link);
      ready.push(new Promise<void>((resolve, reject) => {
        w.on('message', (m: FromWorker) => {
          if (m.t === 'ready') {
            link.shared = m.shared;
            resolve();
          } else this.onMessage(link, m);
        });
        w.on('error', (err) => {
          reject(err);
          // portFailure (the worker's queue failed: native/rx.cc) survives the thread boundary.
          if (this.started && !this.closed) this.onFatal(Object.assign(new Error(`worker ${i}: ${err.message}`), { portFailure: (err as { portFailure?: boolean }).portFailure }));
        });
        w.on('exit', (code) => {
          const err = new Error(`worker ${i} exited (code ${code})`);
          reject(err);
          if (this.started && !this.closed) this.onFatal(err);
        });
      }));
    }
    this.readyP = Promise.all(ready).then(() => {
      this.started = true;
    });
  }

  /** Resolves once every worker runs its datapath (rejects if one failed to start). */
  ready(): Promise<void> {
    return this.readyP;
  }

  /** The shadow: the Datapath control and the readers see (never given a frame). */
  set shadow(dp: Datapath) {
    this.shadowDp = dp;
    // Its secure TCP is the workers' (sum()): its own table holds nothing.
    dp.secureByWorkers = true;
    this.lastD = new Float64Array(dp.counters.d.length);
    this.lastBatch = new Float64Array(dp.counters.batch.length);
    this.added = new Float64Array(dp.dt.max);
    this.zeroed = new Float64Array(dp.dt.max);
    dp.dt.journal = (d, what) => this.slotEvents.push(d, what);
    dp.steerChanged = { addrs: new Set(), all: false };
  }

  /** Frames the shadow builds (probes, gratuitous ARP) go out through worker 0's queue, which
   *  counts them (tx_frames only those its queue took: sendCopies), not the shadow. */
  readonly sink: FrameSink = {
    handsOn: true,
    send: (buf, offs, lens, count) => {
      const vh = this.shadowDp?.vnetHdr ?? 0;
      const frames: Uint8Array[] = [];
      for (let i = 0; i < count; i++) frames.push(Uint8Array.from(buf.subarray(offs[i] - vh, offs[i] + lens[i])));
      this.links[0].w.postMessage({ t: 'tx', frames });
      return count;
    },
  };

  apply(ops: readonly DpOp[]): void {
    const seq = ++this.seq;
    this.noteSlots(seq);
    // Service ids are the control plane's, the same in every worker; a new one beyond the
    // workers' per-service arrays comes with larger ones (each worker copies its counts over).
    let top = -1;
    for (const o of ops) {
      // (a reserve: room for its ids made now, not with the batch's operations)
      if (o.op === 'reserve') top = Math.max(top, o.ids - 1);
      if (o.op !== 'addService') continue;
      this.svcAdded[o.id] = seq;
      top = Math.max(top, o.id);
    }
    const grow = top >= this.svcSlots;
    if (grow) this.svcSlots = svcSlotsFor(top, this.svcSlots);
    for (const l of this.links) {
      const m: OpsMessage = { t: 'ops', seq, ops };
      if (grow) {
        m.svc = f64(this.svcSlots, true);
        l.svcNext.push({ seq, svc: m.svc });
      }
      l.w.postMessage(m);
    }
    this.syncSteering();
  }

  /**
   * The shadow has applied ops already (Control.applyDp): the map follows its addresses, at once
   * after the list is posted (as before: no worker waits for it). Only the addresses the lists
   * since the last apply touched (Datapath.steerChanged: a VIP, a local address, a marked
   * address) are looked at, so a sliced -C or -A costs what each list changed, not a walk of the
   * table per list (10,000 services x 4: 1,250 walks, 1.4 s of a 1.7 s -C in process); the whole
   * table is walked (sync) only when a list may have changed a mask (while a service is
   * persistent), or while the map refuses addresses (a full map: sync tries them again).
   */
  private syncSteering(): void {
    const dp = this.shadowDp;
    const sc = dp?.steerChanged;
    if (dp === undefined || sc === undefined || (!sc.all && sc.addrs.size === 0)) return;
    if (this.steerer !== undefined) {
      if (sc.all || this.steerer.refused > 0) this.steerer.sync(dp.steerAddrs());
      else for (const a of sc.addrs) this.steerer.set(a, dp.steerAddr(a));
    }
    sc.addrs.clear();
    sc.all = false;
  }

  /** What list seq did to the shadow's slots (DestTable.journal, in order). */
  private noteSlots(seq: number): void {
    const ev = this.slotEvents;
    for (let i = 0; i < ev.length; i += 2) {
      const d = ev[i];
      if (ev[i + 1] === SLOT_SET) this.added[d] = seq;
      else if (ev[i + 1] === SLOT_ZERO) this.zeroed[d] = seq;
      // A server added by this same list no worker has seen.
      else if (ev[i + 1] === SLOT_RELEASE && this.added[d] < seq) this.leaving.push({ d, from: this.added[d], to: seq });
    }
    ev.length = 0;
  }

  /** Steer with s (src/datapath/steer.ts), starting from the shadow's addresses now. */
  useSteering(s: Steering): void {
    this.steerer = s;
    const dp = this.shadowDp;
    if (dp === undefined) return;
    s.sync(dp.steerAddrs());
    if (dp.steerChanged !== undefined) {
      dp.steerChanged.addrs.clear();
      dp.steerChanged.all = false;
    }
  }

  steering(): string {
    return this.steerer?.describe() ?? 'automq (not attached)';
  }

  /** undefined when every worker has applied everything posted; otherwise resolves when they have. */
  synced(): Promise<void> | undefined {
    const seq = this.seq;
    if (this.links.every((l) => l.acked >= seq)) return undefined;
    return new Promise<void>((resolve) => this.waiters.push({ seq, resolve }));
  }

  async connsPage(k: number, from: number, max: number, scan: number): Promise<ConnSnapshot> {
    return (await this.ask({ t: 'conns', max, from, scan }, [this.links[k]!]))[0] as ConnSnapshot;
  }

  async laddrs(): Promise<LaddrUsage[]> {
    return sumLaddrUsage((await this.ask({ t: 'laddrs' })) as LaddrUsage[][]);
  }

  neigh(): Promise<NeighRow[][]> {
    return this.ask({ t: 'neigh' }) as Promise<NeighRow[][]>;
  }

  /** The answers to q of every worker, or of those given (worker.ts answers with {t: 'answer', id, part}). */
  private ask(q: { t: 'conns'; max: number; from: number; scan: number } | { t: 'laddrs' } | { t: 'neigh' }, links = this.links): Promise<unknown[]> {
    const id = this.nextQuery++;
    return new Promise((resolve) => {
      this.queries.set(id, { left: links.length, parts: [], resolve });
      for (const l of links) l.w.postMessage({ ...q, id });
    });
  }

  syncMaster(on: boolean, per: number, groups: number): void {
    for (const l of this.links) l.w.postMessage({ t: 'syncMaster', on, per, groups });
  }

  syncDump(): void {
    for (const l of this.links) l.w.postMessage({ t: 'syncDump' });
  }

  post(k: number, ops: DpOp[]): void {
    this.links[k]?.w.postMessage({ t: 'post', ops });
  }

  trace(on: boolean): void {
    for (const l of this.links) l.w.postMessage({ t: 'trace', on });
  }

  explain(k: number, svc: number, src: number, sport: number, daddr: number, dport: number): Promise<DpExplanation> {
    const id = this.nextQuery++;
    return new Promise((resolve) => {
      this.explains.set(id, resolve);
      this.links[k].w.postMessage({ t: 'explain', id, svc, src, sport, daddr, dport });
    });
  }

  private onMessage(link: Link, m: FromWorker): void {
    if (m.t === 'sync') {
      this.onSyncRecords?.(m.records, this.links.indexOf(link), m.overflowDumps, m.turn);
    } else if (m.t === 'ack') {
      link.acked = m.seq;
      if (this.waiters.length === 0) return;
      const min = Math.min(...this.links.map((l) => l.acked));
      const done = this.waiters.filter((x) => x.seq <= min);
      this.waiters = this.waiters.filter((x) => x.seq > min);
      for (const x of done) x.resolve();
    } else if (m.t === 'arp') {
      // Probe answers and conflicts for the addresses the shadow probes (control/claim.ts).
      const b = Buffer.from(m.frame.buffer, m.frame.byteOffset, m.frame.length);
      this.shadowDp?.arpShared(b, 0, b.length);
    } else if (m.t === 'trace') {
      this.shadowDp?.trace.append(m.batch);
    } else if (m.t === 'explained') {
      this.explains.get(m.id)?.(m.x);
      this.explains.delete(m.id);
    } else if (m.t === 'answer') {
      const q = this.queries.get(m.id);
      if (q === undefined) return;
      q.parts.push(m.part);
      if (--q.left === 0) {
        this.queries.delete(m.id);
        q.resolve(q.parts);
      }
    }
  }

  /**
   * Sum the workers' shared arrays into the shadow's: counters as the change since the last pull
   * (the shadow's own probes and announcements stay counted), destination statistics of the
   * slots in use and the connection count as the plain sum; the workers' overload marks. Each
   * chunk of services is read between two lists of every worker, knowing which list each applied
   * last: a slot counts only from the workers that hold the shadow's server there, with the
   * statistics as kept where a worker has not applied the shadow's -Z yet, and a server the
   * shadow released counts into the retired sums from each worker that still holds it (its own
   * retired sums take it when it applies the release). So each total is every worker's own total
   * (a release or -Z moves a server's numbers within a worker, never out of it) and never goes
   * down. Control time: the slots in use, not per packet; no worker waits for it.
   *
   * slots: only these destination slots (what a list about to be applied reads: Control.applyDp),
   * not the counters nor the rest of the table.
   */
  pull(slots?: readonly number[]): void {
    const r = this.reading();
    if (r === undefined) return;
    const deadline = performance.now() + PULL_WAIT_MS;
    if (slots !== undefined) {
      if (!this.stably(r, deadline, (applied) => {
        for (const d of slots) this.sumSlot(r, applied, d);
      })) this.gaveUp(r);
      this.slotsSummed += slots.length;
      return;
    }
    this.readHead(r);
    if (!this.stably(r, deadline, (applied) => this.sumRetired(r, applied))) return this.gaveUp(r);
    if (this.sumServices(r, deadline, 0, r.dp.services.length, Infinity).timedOut) this.gaveUp(r);
  }

  /**
   * pull() for a scrape (/metrics, /status.json): the counters and entries at once (readHead()),
   * the retired sums, then the services and their slots from the table's start to its end, at
   * most `budget` (tickPull) services and slots between two pause()s, so the loop runs between
   * the pieces (a whole-table pull() in one piece held it 10-30 ms at 10,000 services of 4
   * servers). Each piece is read as pull() reads a chunk (between two lists of every worker): a
   * total is every worker's own total, as at its piece's read, and never goes down. Gives up the
   * rest (pull_timeouts) at the first piece that waited past PULL_WAIT_MS for a worker in a list.
   */
  async pullSliced(pause: () => Promise<void>, budget = this.tickPull): Promise<void> {
    let r = this.reading();
    if (r === undefined) return;
    this.readHead(r);
    if (!this.stably(r, performance.now() + PULL_WAIT_MS, (applied) => this.sumRetired(r as Reading, applied))) return this.gaveUp(r);
    let from = 0;
    for (;;) {
      const at = this.sumServices(r, performance.now() + PULL_WAIT_MS, from, r.dp.services.length, budget);
      if (at.timedOut) return this.gaveUp(r);
      from = at.next;
      if (from >= r.dp.services.length) return;
      await pause();
      // A worker may have started, or the shadow grown, meanwhile.
      r = this.reading();
      if (r === undefined) return;
    }
  }

  /** A pull left part of the shadow as the last one had it: a worker was in a list past PULL_WAIT_MS. */
  private gaveUp(r: Reading): void {
    r.dp.counters.c[C.pull_timeouts]++;
  }

  /** The counters, entries and secure TCP alone (`status`, `drain`): read at once (readHead()), no statistics. */
  pullHead(): void {
    const r = this.reading();
    if (r !== undefined) this.readHead(r);
  }

  /**
   * The services with id % n === t and their servers' slots, in chunks as pull() reads the table
   * (with head, the counters and entries first: readHead()): what a rate estimator's tick t of n
   * steps (Control.estimateTick, RateEstimator.tick: a service and its servers at tick id % n), so
   * each tick sums its share of the table and no tick the whole (tick 0 pulled all: 10-30 ms of
   * the loop every 2 s at 10,000 services of 4 servers).
   */
  pullShare(t: number, n: number, head = false): void {
    const r = this.reading();
    if (r === undefined) return;
    const deadline = performance.now() + PULL_WAIT_MS;
    if (head) this.readHead(r);
    const services = r.dp.services;
    let id = t;
    while (id < services.length) {
      let j = id;
      let k = 0;
      while (j < services.length && k < PULL_CHUNK) {
        k += 1 + (services[j]?.dests.length ?? 0);
        j += n;
      }
      const a = id;
      if (!this.stably(r, deadline, (applied) => {
        for (let x = a; x < j; x += n) this.sumService(r, applied, x);
      })) return this.gaveUp(r);
      this.slotsSummed += k;
      id = j;
    }
  }

  /**
   * pull() for the 250 ms tick: the counters, entries and retired sums, and the next TICK_PULL
   * services and slots after the last tick's (round the table); every other reader pulls all.
   */
  pullTick(): void {
    const r = this.reading();
    if (r === undefined) return;
    const deadline = performance.now() + PULL_WAIT_MS;
    this.readHead(r);
    if (!this.stably(r, deadline, (applied) => this.sumRetired(r, applied))) return this.gaveUp(r);
    const n = r.dp.services.length;
    let from = this.tickFrom < n ? this.tickFrom : 0;
    let budget = this.tickPull;
    // To the table's end, then from its start up to where this tick began.
    const at = this.sumServices(r, deadline, from, n, budget);
    budget -= at.spent;
    from = at.next;
    let timedOut = at.timedOut;
    if (!timedOut && from >= n && budget > 0 && this.tickFrom > 0) {
      const again = this.sumServices(r, deadline, 0, Math.min(this.tickFrom, n), budget);
      from = again.next;
      timedOut = again.timedOut;
    }
    if (timedOut) this.gaveUp(r);
    this.tickFrom = from;
  }

  /** Services and slots a pullTick() sums at most. */
  tickPull = TICK_PULL;
  /** Where the next pullTick() starts (a service id). */
  private tickFrom = 0;
  /** Services and slots summed by pull() and pullTick() since the group started (the table's, or the slots asked for). */
  slotsSummed = 0;

  /** What a pull reads and writes: the shadow, the started workers' arrays, each worker's applied list. */
  private reading(): Reading | undefined {
    const dp = this.shadowDp;
    if (dp === undefined) return undefined;
    const links = this.links.filter((l): l is Link & { shared: WorkerShared } => l.shared !== undefined);
    if (links.length === 0) return undefined;
    const shared = links.map((l) => l.shared);
    const dt = dp.dt;
    return {
      dp, links, shared, seqs: new Int32Array(shared.length), applied: new Float64Array(shared.length),
      // DT_STATS' arrays by index (a lookup by name per slot took a third of the time).
      out: DT_STATS.map((k) => dt[k]), ins: shared.map((s) => DT_STATS.map((k) => s.dt[k])),
    };
  }

  /**
   * fn(applied) with every worker between two lists (applied: the seq of the list each applied
   * last), again if one started a list meanwhile (fn writes plain sums: reading again is right).
   * False when a worker was applying a list past `deadline` (fn not run).
   */
  private stably(r: Reading, deadline: number, fn: (applied: Float64Array) => void): boolean {
    for (;;) {
      if (!betweenLists(r.shared, r.seqs, deadline)) return false;
      for (let w = 0; w < r.links.length; w++) {
        const l = r.links[w];
        const a = l.shared.scalars[S_APPLIED];
        r.applied[w] = a;
        // The per-service array each worker counts into at the list it applied.
        while (l.svcNext.length > 0 && a >= l.svcNext[0].seq) l.shared.svc = (l.svcNext.shift() as Link['svcNext'][0]).svc;
      }
      fn(r.applied);
      if (unchanged(r.shared, r.seqs)) return true;
    }
  }

  /** Connections and persistence templates bound to slot d on every worker, read as they are now
   *  (the trash sweep, Control.sweepTrash: no lock, an idle slot stays idle). */
  destRefs(d: number): number {
    let n = 0;
    for (const l of this.links) {
      const dt = l.shared?.dt;
      if (dt !== undefined) n += dt.active[d] + dt.inactive[d] + dt.persist[d];
    }
    return n;
  }

  /**
   * The counters, entries and secure TCP, read at once without waiting for a worker in a list:
   * the workers only ever add to them and a list moves none of them (unlike the statistics), so
   * any moment is a right one, and a worker slow in a list (a long -C) leaves none of them stale.
   * Each worker's counters are copied once (heads) and summed from the copy, so its `status` row
   * (status()) is the very numbers the totals hold: before, the rows were read live at the end of
   * the verb, later than the pull and after one that gave up at PULL_WAIT_MS (the totals as an
   * older pull left them), so a row could be ahead of the totals.
   */
  private readHead(r: Reading): void {
    const { dp, links, shared } = r;
    const cs: Float64Array[] = [];
    let conns = 0;
    let secure = false;
    for (let w = 0; w < links.length; w++) {
      const s = shared[w];
      let h = this.heads.get(links[w]);
      if (h === undefined) this.heads.set(links[w], (h = { c: new Float64Array(s.c.length), conns: 0, secure: false }));
      h.c.set(s.c);
      h.conns = s.scalars[0];
      h.secure = s.scalars[S_SECURE] !== 0;
      cs.push(h.c);
      conns += h.conns;
      if (h.secure) secure = true;
    }
    addDelta(dp.counters.c, this.lastC, cs, NOT_SUMMED);
    addDelta(dp.counters.d, this.lastD as Float64Array, shared.map((s) => s.d));
    addDelta(dp.counters.batch, this.lastBatch as Float64Array, shared.map((s) => s.batch));
    dp.ct.count = conns;
    // Each worker switches from its own share of the table: on while any worker is in it.
    dp.secureTcp = secure;
  }

  /** Each started worker's counters as the last pull read them (readHead()). */
  private readonly heads = new Map<Link, HeadSnap>();

  /** The retired sums (every worker between two lists: a list moves a released server's numbers into them). */
  private sumRetired(r: Reading, applied: Float64Array): void {
    const { dp, shared, ins } = r;
    const dt = dp.dt;
    for (let j = 0; j < 5; j++) {
      let v = 0;
      for (const s of shared) v += s.retired[j];
      dt.retired[j] = v;
    }
    for (const { d, from, to } of this.leaving) {
      for (let w = 0; w < shared.length; w++) {
        if (applied[w] < from || applied[w] >= to) continue;
        for (let j = 0; j < 5; j++) dt.retired[j] += shared[w].kept[d * 5 + j] + ins[w][j][d];
      }
    }
    if (this.leaving.length > 0) this.leaving = this.leaving.filter((e) => applied.some((a) => a < e.to));
  }

  /**
   * The services with ids from..to-1 and their slots, in chunks (stably()), until `budget`
   * services and slots are summed: where it stopped (the next id), what it spent, and whether it
   * stopped short because a worker was in a list past `deadline`.
   */
  private sumServices(r: Reading, deadline: number, from: number, to: number, budget: number): { next: number; spent: number; timedOut: boolean } {
    const services = r.dp.services;
    let i = from;
    let spent = 0;
    while (i < to && spent < budget) {
      // The chunk: ids i..j-1, about PULL_CHUNK services and slots.
      let j = i;
      let n = 0;
      while (j < to && n < PULL_CHUNK) {
        const k = 1 + (services[j]?.dests.length ?? 0);
        // Within the budget, but at least one service (one of more slots than a tick's budget).
        if (spent + n + k > budget && spent + n > 0) break;
        n += k;
        j++;
      }
      if (n === 0) break;
      const a = i;
      if (!this.stably(r, deadline, (applied) => {
        for (let id = a; id < j; id++) this.sumService(r, applied, id);
      })) return { next: i, spent, timedOut: true };
      this.slotsSummed += n;
      spent += n;
      i = j;
    }
    return { next: i, spent, timedOut: false };
  }

  /** Service id's no-destination drops and its slots (every worker between two lists). */
  private sumService(r: Reading, applied: Float64Array, id: number): void {
    const svc = r.dp.services[id];
    if (svc === undefined) return;
    // The workers that hold this service in its id (the others count a deleted one there, or none).
    let v = 0;
    for (let w = 0; w < r.shared.length; w++) if (applied[w] >= (this.svcAdded[id] ?? 0)) v += r.shared[w].svc[id];
    r.dp.counters.svcNoDest[id] = v;
    for (const d of svc.dests) this.sumSlot(r, applied, d);
  }

  /** Slot d's statistics and overload mark (every worker between two lists). */
  private sumSlot(r: Reading, applied: Float64Array, d: number): void {
    const { out, ins, shared } = r;
    const dt = r.dp.dt;
    const kept = dt.kept;
    for (let k = 0; k < out.length; k++) out[k][d] = 0;
    for (let j = d * 5; j < d * 5 + 5; j++) kept[j] = 0;
    for (let w = 0; w < shared.length; w++) {
      if (applied[w] < this.added[d]) continue; // holds the slot's previous server, or none
      const a = ins[w];
      const unzeroed = applied[w] < this.zeroed[d];
      for (let k = 0; k < 5; k++) {
        kept[d * 5 + k] += shared[w].kept[d * 5 + k];
        if (unzeroed) kept[d * 5 + k] += a[k][d];
        else out[k][d] += a[k][d];
      }
      for (let k = 5; k < out.length; k++) out[k][d] += a[k][d];
    }
    if (dt.upper[d] !== 0) dt.mark(d, this.load.over[d] !== 0);
  }

  /** The worker whose table is the fullest (entries against its own size), as of the last ticks. */
  fullest(): { worker: number; count: number; max: number } | undefined {
    let best: { worker: number; count: number; max: number } | undefined;
    for (const [worker, l] of this.links.entries()) {
      const s = l.shared?.scalars;
      if (s === undefined || !(s[S_MAX] > 0)) continue;
      if (best === undefined || s[0] / s[S_MAX] > best.count / best.max) best = { worker, count: s[0], max: s[S_MAX] };
    }
    return best;
  }

  /** Every started worker's ring of TUN servers that do not decapsulate (nodecap.ts; the shadow never sees a frame). */
  noDecapRings(): Int32Array[] {
    const rings: Int32Array[] = [];
    for (const l of this.links) if (l.shared !== undefined) rings.push(l.shared.noDecap);
    return rings;
  }

  /** Connection entries by state summed over the workers (their last complete census walks). */
  stateCounts(): Float64Array {
    const sum = new Float64Array(ENTRY_STATE_NAMES.length);
    for (const l of this.links) if (l.shared !== undefined) for (let i = 0; i < sum.length; i++) sum[i] += l.shared.states[i];
    return sum;
  }

  /** Neighbour entries in use and unresolved summed over the workers' tables (each worker's own, as of its last tick). */
  neighCounts(): { entries: number; unresolved: number } {
    let entries = 0;
    let unresolved = 0;
    for (const l of this.links) {
      entries += l.shared?.scalars[S_NEIGH] ?? 0;
      unresolved += l.shared?.scalars[S_NEIGH + 1] ?? 0;
    }
    return { entries, unresolved };
  }

  /**
   * Each worker's row: its counters and entries as the last pull read them, the numbers the
   * totals were summed from (readHead()); a worker no pull has read yet, as it is now.
   */
  status(): WorkerStatus[] {
    return this.links.map((l, i) => {
      const s = l.shared;
      const h = this.heads.get(l);
      const c = h?.c ?? s?.c;
      return {
        worker: i, io: s?.io ?? 'starting',
        rx_frames: c?.[C.rx_frames] ?? 0, tx_frames: c?.[C.tx_frames] ?? 0,
        fwd_packets: c?.[C.fwd_packets] ?? 0, fwd_out_packets: c?.[C.fwd_out_packets] ?? 0,
        conns: h?.conns ?? s?.scalars[0] ?? 0, handoff_out: c?.[C.handoff_out] ?? 0, handoff_in: c?.[C.handoff_in] ?? 0,
        conn_max: s?.scalars[S_MAX] ?? 0, secure_tcp: h?.secure ?? s?.scalars[S_SECURE] === 1,
        ...(this.cpus === undefined ? {} : { cpu: this.cpus[i] }),
      };
    });
  }

  /** How the queues reach the kernel (worker 0's; every worker asks for the same). */
  io(): string {
    return this.links[0]?.shared?.io ?? 'syscalls';
  }

  /** The ring backend's drops summed over the workers' sockets (Port.drops); null for TAP queues. */
  drops(): Record<string, number> | null {
    if (!this.ring) return null;
    let full = 0;
    let long = 0;
    for (const l of this.links) {
      full += l.shared?.scalars[1] ?? 0;
      long += l.shared?.scalars[2] ?? 0;
    }
    return { ring_full: full, too_long: long };
  }

  /** Why io_uring was refused on some queue ("" when it was not). */
  ioFallback(): string {
    return this.links.map((l) => l.shared?.ioFallback ?? '').find((x) => x !== '') ?? '';
  }

  /** Stop the workers (each closes its queue; the TAP goes with the last one). */
  close(): Promise<void> {
    this.closing ??= this.closeWorkers();
    return this.closing;
  }

  private closing: Promise<void> | undefined;

  private async closeWorkers(): Promise<void> {
    this.closed = true;
    this.steerer?.close();
    // Each worker stops polling its queue and closes it itself, then ends (one already ended, on
    // an error, is not waited for); terminated after a second otherwise (native/rx.cc closes the
    // poll handle of a thread that ends without: Node would abort the process).
    // within(): the second's timer goes once the worker ended (it kept the process 1 s longer than
    // the close: a test file's, or a program's that ends when its loop is empty).
    await Promise.all(this.links.map(async (l) => {
      l.w.postMessage({ t: 'close' });
      await within(l.exited, 1000, undefined);
      await l.w.terminate();
    }));
  }

}

/** into[i] += Σ parts[i] - last[i]; last = Σ parts (slots in skip are left to the shadow). */
function addDelta(into: Float64Array, last: Float64Array, parts: Float64Array[], skip?: Set<number>): void {
  for (let i = 0; i < into.length; i++) {
    if (skip?.has(i) === true) continue;
    let v = 0;
    for (const p of parts) v += p[i];
    into[i] += v - last[i];
    last[i] = v;
  }
}
