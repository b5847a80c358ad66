// The master side of connection sync over one datapath's table (docs/ha.md): the marks it keeps
// (created, changed, expired connections) drained into records, and the full dump a backup asks
// for, in two passes (templates first). SyncDaemon runs one over the datapath on the main thread;
// with uvsd --workers each worker runs one over its own table and posts the records to the main
// thread's daemon, which seals and sends them (src/datapath/worker.ts).

import type { Datapath } from '../datapath/pipeline.js';
import { REC_LEN, syncDatagrams } from '../datapath/syncrec.js';

/** How often the marks are drained (ms). */
export const SYNC_INTERVAL_MS = 50;
/** Table indices a dump looks at per interval (bounded work on the loop). */
const DUMP_SCAN_PER_TICK = 65536;

/** What a worker posts to the main thread's sync daemon each interval (SyncProducer.collect). */
export interface WorkerSyncMessage {
  t: 'sync';
  records: Uint8Array;
  /** The full dumps its producer has started because marks were lost, so far. */
  overflowDumps: number;
  /** Its Datapath.syncTurn when they were produced: the daemon sends only its own turn's. */
  turn: number;
}

export class SyncProducer {
  /** Full dump cursor (Datapath.syncDump), -1 = none running. */
  private dumpAt = -1;
  /** Another full dump is due when the running one ends: asked for (or marks lost) while it ran. */
  private again = false;
  private overflowsSeen = 0;
  private readonly dumpOut = new Int32Array(2);
  /** Full dumps started because marks were lost (a full ring), not asked for. */
  overflowDumps = 0;

  constructor(private readonly dp: Datapath) {}

  /** Marks on: from now on every change of a connection is kept for produce(). */
  start(): void {
    this.dp.apply([{ op: 'syncMarks', on: true }]);
    this.overflowsSeen = this.dp.sync?.overflows ?? 0;
  }

  stop(): void {
    this.dp.apply([{ op: 'syncMarks', on: false }]);
    this.dumpAt = -1;
    this.again = false;
  }

  /**
   * A backup asked for the whole table: whether a new dump is due, now or, while one runs, from
   * the beginning when it ends (the asker would get only that one's rest); requests meanwhile
   * join that one. None as backup.
   */
  requestDump(): boolean {
    if (!this.dp.link.anyMaster) return false;
    return this.startDump();
  }

  private startDump(): boolean {
    if (this.dumpAt < 0) {
      this.dumpAt = 0;
      return true;
    }
    if (this.again) return false;
    this.again = true;
    return true;
  }

  /**
   * One interval's records while this director is master: groups of up to `per` records (more
   * when an entry's records do not fit: they are never cut), each written at buf[o] and handed to
   * emit(count) before the next overwrites it, while they fit in `groups` datagrams (the rate
   * bound, counted as syncDatagrams sends them: an entry's extra records go in datagrams of their
   * own). A running dump goes first, then the marks.
   */
  produce(buf: Uint8Array, o: number, per: number, groups: number, emit: (n: number) => void): void {
    const dp = this.dp;
    const m = dp.sync;
    if (m === null) return;
    if (!dp.link.anyMaster) {
      // Demoted: the dumps due were the other director's to send now. The marks waiting at the
      // demotion (Datapath.syncLast) go out once, in this round's budget: the peer, still backup
      // in a planned switch, gets the connections of the last interval; the rest is dropped.
      this.dumpAt = -1;
      this.again = false;
      if (dp.syncLast) {
        this.drain(buf, o, per, groups, emit);
        dp.syncLastDone();
      }
      return;
    }
    let budget = groups;
    if (m.overflows !== this.overflowsSeen) {
      // Marks were lost (also of entries a running dump has passed): the backup gets everything again.
      this.overflowsSeen = m.overflows;
      if (this.startDump()) this.overflowDumps++;
    }
    if (this.dumpAt >= 0) {
      let scanned = 0;
      while (budget > 0 && this.dumpAt < 2 * dp.ct.max && scanned < DUMP_SCAN_PER_TICK) {
        const from = this.dumpAt;
        dp.syncDump(buf, o, per, from, DUMP_SCAN_PER_TICK - scanned, this.dumpOut);
        this.dumpAt = this.dumpOut[0];
        scanned += this.dumpAt - from;
        if (this.dumpOut[1] > 0) {
          emit(this.dumpOut[1]);
          budget -= syncDatagrams(buf, o, this.dumpOut[1], per);
        }
      }
      if (this.dumpAt >= 2 * dp.ct.max) {
        this.dumpAt = this.again ? 0 : -1;
        this.again = false;
      }
    }
    this.drain(buf, o, per, budget, emit);
  }

  /**
   * uvsd --workers: one interval's records (produce, at buf[0]) as one message for the main
   * thread's daemon, tagged with the turn they belong to; null when there are none.
   */
  collect(buf: Uint8Array, per: number, groups: number): WorkerSyncMessage | null {
    const turn = this.dp.syncTurn;
    const chunks: Uint8Array[] = [];
    this.produce(buf, 0, per, groups, (n) => chunks.push(buf.slice(0, n * REC_LEN)));
    if (chunks.length === 0) return null;
    const records = new Uint8Array(chunks.reduce((a, c) => a + c.length, 0));
    let at = 0;
    for (const c of chunks) {
      records.set(c, at);
      at += c.length;
    }
    return { t: 'sync', records, overflowDumps: this.overflowDumps, turn };
  }

  /** The marks, in groups of up to `per` records, while they fit in `budget` datagrams. */
  private drain(buf: Uint8Array, o: number, per: number, budget: number, emit: (n: number) => void): void {
    while (budget > 0) {
      const n = this.dp.syncDrain(buf, o, per);
      if (n === 0) break;
      emit(n);
      budget -= syncDatagrams(buf, o, n, per);
    }
  }
}
