// One worker thread of uvsd --workers N (src/datapath/group.ts): owns one TAP queue (or one ring
// socket of the ring backend) and a Datapath of its own, runs the same receive loop uvsd runs
// with one datapath, and applies the DpOps the main thread posts. The per-frame loop is the same
// code as with one datapath; only the rare paths (a frame of a connection another worker holds,
// ARP frames) post copies.

import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { C } from './counters.js';
import { TICK_MS } from './conntable.js';
import { Datapath, RX_HEADROOM, handoffHops } from './pipeline.js';
import { sendCopies } from './tx.js';
import { Port, native } from './port.js';
import { SCALARS, S_NEIGH, applyLocked, publishTick, snapshotConns, workerShared, type OpsMessage, type WorkerSetup } from './group.js';
import type { DpOp } from './ops.js';
import { CENSUS_MS, ENTRY_STATE_NAMES, StateCensus } from './census.js';
import { SweepPacer } from './sweep-pacer.js';
import { warmUp } from './warmup.js';
import { SYNC_INTERVAL_MS, SyncProducer } from '../sync/producer.js';

type ToWorker =
  | OpsMessage
  | { t: 'post'; ops: DpOp[] }
  | { t: 'syncMaster'; on: boolean; per: number; groups: number }
  | { t: 'syncDump' }
  | { t: 'explain'; id: number; svc: number; src: number; sport: number; daddr: number; dport: number }
  | { t: 'trace'; on: boolean }
  | { t: 'close' }
  | { t: 'tx'; frames: Uint8Array[] }
  | { t: 'conns'; id: number; max: number; from: number; scan: number }
  | { t: 'laddrs'; id: number }
  | { t: 'neigh'; id: number };

type FromPeer = { t: 'frame'; frame: Uint8Array; hops: number; reused: boolean } | { t: 'arp'; frame: Uint8Array };

const setup = workerData as WorkerSetup;
const parent = parentPort as MessagePort;
const { index, count } = setup;
// Named for top -H and ps -L; with uvsd --datapath-cpus alone on its CPU, before it touches its
// queue or table.
native.setThreadName(`uvs-dp${index}`);
if (setup.cpu !== undefined) native.setThreadCpus([setup.cpu]);

const port = setup.ring ? Port.fromRing(setup.queue, setup.port) : Port.fromTap(setup.queue, setup.port);
const dp = new Datapath({ ...setup.dp, advise: (a) => native.prepareTable(a), worker: { index, count, load: setup.load, limits: setup.limits, icmpPeers: setup.icmpPeers, strays: setup.strays } }, port);
const scalars = new Float64Array(new SharedArrayBuffer(8 * SCALARS));
const peers = setup.peers;

/** Hops of the frame being processed: 0 from the TAP (or sent from there to its owner), k after
 *  k handoffs round the workers (never more than count - 1; count after a HAND_CIRCLE round). */
let hops = 0;
dp.handoff = (buf, off, len, owner, reused) => {
  // A frame from the TAP sent to its owner goes round from there if the owner does not hold it
  // (hops start again: the ring then passes every other worker once).
  const next = handoffHops(index, count, owner, hops, dp.handedIn);
  if (next < 0) return false;
  const to = owner < 0 ? (index + 1) % count : owner;
  const vh = dp.vnetHdr;
  const frame = Uint8Array.from(buf.subarray(off - vh, off + len));
  (peers[to] as MessagePort).postMessage({ t: 'frame', frame, hops: next, reused }, [frame.buffer]);
  dp.counters.c[C.handoff_out]++;
  return true;
};
dp.onArp = (buf, off, len) => {
  const frame = Uint8Array.from(buf.subarray(off, off + len));
  for (const p of peers) p?.postMessage({ t: 'arp', frame });
  parent.postMessage({ t: 'arp', frame });
};

/** A frame handed over by another worker, processed as a batch of one from a slot of our own. */
const slot = Buffer.alloc(RX_HEADROOM + port.stride);
const slotLen = new Uint32Array(1);
function handedIn(m: FromPeer): void {
  if (m.t === 'arp') {
    const b = Buffer.from(m.frame.buffer, m.frame.byteOffset, m.frame.length);
    dp.arpShared(b, 0, b.length);
    return;
  }
  if (m.frame.length > port.stride) return;
  dp.counters.c[C.handoff_in]++;
  processHanded(m.frame, m.hops, m.reused);
  scalars[0] = dp.ct.count;
}

/** A frame of another worker's (or one parked here) processed as a batch of one from our slot. */
function processHanded(frame: Uint8Array, frameHops: number, reused: boolean): void {
  slot.set(frame, RX_HEADROOM - dp.vnetHdr);
  slotLen[0] = frame.length;
  hops = frameHops;
  dp.handedIn = true;
  dp.reusedIn = reused;
  try {
    dp.processBatch(slot, port.stride, slotLen, 1, RX_HEADROOM);
  } finally {
    hops = 0;
    dp.handedIn = false;
    dp.reusedIn = false;
  }
}
for (const p of peers) p?.on('message', handedIn);

/**
 * Later fragments the last worker of their handoff round did not find (laterFragment): the
 * program steers them to queue 0 and their first fragment to its connection's worker, so the
 * round can reach that worker before it has read the first fragment from its own queue. Kept
 * here (copies, at most PARK_MAX) and processed again every millisecond, as frames handed in with
 * their round over, until the first fragment has been seen or PARK_MS have passed (then dropped,
 * counted as before). With more than two workers the round may pass the owner too early and end
 * on another worker, where waiting does not help (docs/uvsd.md).
 */
const PARK_MS = 20;
const PARK_MAX = 32;
const parked: { frame: Uint8Array; hops: number; until: number }[] = [];
/** The deadline of the parked frame being processed again (0: none is). */
let retryUntil = 0;
let retryTimer: NodeJS.Timeout | undefined;
dp.parkFragment = (buf, off, len) => {
  const now = performance.now();
  if (retryUntil !== 0 ? now >= retryUntil : parked.length >= PARK_MAX) return false;
  const vh = dp.vnetHdr;
  parked.push({ frame: Uint8Array.from(buf.subarray(off - vh, off + len)), hops, until: retryUntil !== 0 ? retryUntil : now + PARK_MS });
  retryTimer ??= setTimeout(retryParked, 1);
  return true;
};
function retryParked(): void {
  retryTimer = undefined;
  const vh = dp.vnetHdr;
  const c = dp.counters.c;
  for (const p of parked.splice(0)) {
    retryUntil = p.until;
    try {
      processHanded(p.frame, p.hops, false);
    } finally {
      retryUntil = 0;
    }
    // Processed again, not received again: rx_frames, rx_bytes and the batch histogram count it once.
    c[C.rx_frames]--;
    c[C.rx_bytes] -= p.frame.length - vh;
    dp.counters.batch[1]--;
  }
}

/** Frames the main thread's shadow datapath built (probes, gratuitous ARP): out through this
 *  queue, counted here (the shadow counts none): tx_frames those it took, tx_failed the ones it
 *  refused (the TAP set down). */
function transmit(frames: Uint8Array[]): void {
  sendCopies(port, dp.counters, frames, port.vnetHdr);
}

/**
 * Connection sync, master side: this worker's marks and dumps, drained each interval into one
 * message of records for the main thread's sync daemon (which seals and sends them).
 */
let sync: { producer: SyncProducer; timer: NodeJS.Timeout } | undefined;
const syncBuf = new Uint8Array(65536);
function syncMaster(on: boolean, per: number, groups: number): void {
  if (sync !== undefined) {
    clearInterval(sync.timer);
    sync.producer.stop();
    sync = undefined;
  }
  if (!on) return;
  const producer = new SyncProducer(dp);
  producer.start();
  const timer = setInterval(() => {
    const m = producer.collect(syncBuf, per, groups);
    if (m !== null) parent.postMessage(m, [m.records.buffer as ArrayBuffer]);
  }, SYNC_INTERVAL_MS);
  sync = { producer, timer };
}

/** uvsadm trace: this worker's decisions, posted to the main thread's ring every TRACE_POST_MS. */
const TRACE_POST_MS = 50;
let traceTimer: NodeJS.Timeout | undefined;
function traceOn(on: boolean): void {
  dp.trace.on = on;
  if (traceTimer !== undefined) clearInterval(traceTimer);
  traceTimer = undefined;
  if (!on) return;
  let cursor = dp.trace.seq;
  traceTimer = setInterval(() => {
    if (dp.trace.seq === cursor) return;
    const batch = dp.trace.take(cursor);
    cursor = dp.trace.seq;
    parent.postMessage({ t: 'trace', batch });
  }, TRACE_POST_MS);
}

const shared = workerShared(dp, scalars, new Float64Array(new SharedArrayBuffer(8 * ENTRY_STATE_NAMES.length)), port.io, port.ioFallback);
parent.on('message', (m: ToWorker) => {
  if (m.t === 'ops') {
    applyLocked(shared, dp, m);
    parent.postMessage({ t: 'ack', seq: m.seq });
  } else if (m.t === 'post') {
    dp.apply(m.ops);
    scalars[0] = dp.ct.count;
  } else if (m.t === 'syncMaster') {
    syncMaster(m.on, m.per, m.groups);
  } else if (m.t === 'close') {
    // uvsd stops: the poll handle closed (libuv runs its close callback at the end of this loop
    // turn), then the thread ends.
    port.close();
    setTimeout(() => process.exit(0), 5);
  } else if (m.t === 'trace') {
    traceOn(m.on);
  } else if (m.t === 'explain') {
    parent.postMessage({ t: 'explained', id: m.id, x: dp.explain(m.svc, m.src, m.sport, m.daddr, m.dport) });
  } else if (m.t === 'syncDump') {
    sync?.producer.requestDump();
  } else if (m.t === 'tx') {
    transmit(m.frames);
  } else if (m.t === 'conns') {
    parent.postMessage({ t: 'answer', id: m.id, part: snapshotConns(dp.ct, dp.nowTick, m.max, m.from, m.scan) });
  } else if (m.t === 'laddrs') {
    parent.postMessage({ t: 'answer', id: m.id, part: dp.laddrs.usage() });
  } else if (m.t === 'neigh') {
    parent.postMessage({ t: 'answer', id: m.id, part: dp.neighRows() });
  }
});

// The JIT sees every kind of frame before the first real one (this thread's own isolate).
if (setup.warmup) warmUp({ ...setup.dp, worker: { index, count } }, { stride: port.stride, base: port.rxBase });
port.start((n) => {
  dp.processBatch(port.rxArena, port.stride, port.rxLens, n, port.rxBase, port.rxClock);
  scalars[0] = dp.ct.count;
}, setup.port.budget);
// Connection entries by state for uvs_conn_table_entries_by_state (uvsd --metrics only): this
// worker's table, walked in slices here (the main thread's own table is empty), published
// through shared memory.
const census = new StateCensus(dp.ct, shared.states);
// A mass expiry goes on at the next loop turns (between batches), its count published after each.
const sweeps = new SweepPacer(dp, () => {
  scalars[0] = dp.ct.count;
});
setInterval(() => {
  dp.counters.c[C.rx_wakes] += port.takeRxWakes();
  const off = port.takeRingOffloads();
  dp.counters.c[C.rx_csum_partial] += off.csumPartial;
  dp.counters.c[C.rx_gso_frames] += off.gso;
  dp.tick();
  publishTick(shared, dp);
  sweeps.kick();
  const drops = port.drops();
  if (drops !== null) {
    scalars[1] = drops.ring_full;
    scalars[2] = drops.too_long;
  }
  if (setup.census) {
    // uvs_neigh_entries / uvs_neigh_unresolved (DatapathGroup.neighCounts): this worker's table.
    scalars[S_NEIGH] = dp.neigh.count;
    scalars[S_NEIGH + 1] = dp.neigh.unresolved();
  }
}, TICK_MS);
// On its own turns, not after the tick's: each step's ~0.5 ms does not add to the tick's.
if (setup.census) setInterval(() => census.step(), CENSUS_MS);

parent.postMessage({ t: 'ready', shared });
