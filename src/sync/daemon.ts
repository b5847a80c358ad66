// The connection sync daemon (ipvsadm --start-daemon master|backup, docs/ha.md). One UDP socket
// on the director's host interface (not the TAP: it is a control-plane conversation between the
// two uvsd, and the kernel gives it multicast, routing and checksums for free). Multicast
// 224.0.0.81:8848 by default, or unicast to --sync-peer.
//
// master: every SYNC_INTERVAL_MS, while this director is master, drain the datapath's marks
//   (created/changed/expired connections) into datagrams of at most maxlen bytes, at most
//   MAX_DATAGRAMS_PER_TICK per interval; a full dump when a backup asks (or marks overflowed),
//   the request answered by a flag on the next datagram (SF_DUMP_ANSWER).
//   A SYN proxy connection's translation and an FTP control connection's seq shift (records an
//   older uvsd does not know) go in a MSG_DATA_EXT datagram after their group's MSG_DATA.
//   With uvsd --workers each worker drains and dumps its own table (SyncProducer) and posts the
//   records here, where they are sealed and sent in the same datagrams and rate; each message
//   says which master period it belongs to (Datapath.syncTurn), so that after a demotion the
//   workers' last records are still sent once and those of an earlier period are not.
// backup: verify, refuse replays (replay.ts), count sequence gaps, and install the records
//   through a datapath op, only while this director is backup; with workers, each record on the
//   worker that will see its connection's frames (Datapath.syncOwner). It asks the master for
//   its whole table (until answered) at start
//   and whenever its director (or an HA group of it) goes from master to backup: a split brain's
//   loser missed what the winner opened meanwhile, and the winner re-sends an entry only at half
//   its timeout. For the same reason it asks again when data arrives after a gap in the
//   sequence (a sync link that was down), or after its asks went unanswered, at most once per
//   CATCH_UP_MS. Data received while master (of every group) is dropped and counted fromMaster.
// Both states may run at once (each director of a pair usually runs both; the role decides).
// With HA groups (active/active) "master" means master of some group: both directors send, and
// each installs only the records of the groups it is backup for (Datapath.installRecord).

import dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { networkInterfaces } from 'node:os';
import { native } from '../datapath/port.js';
import type { Datapath } from '../datapath/pipeline.js';
import type { Workers } from '../datapath/group.js';
import { REC_LEN, isExtRecord } from '../datapath/syncrec.js';
import { HDR_LEN, MAC_LEN, MSG_DATA, MSG_DATA_EXT, MSG_DUMP_REQUEST, SF_ANSWERS, SF_DUMP_ANSWER, open, recordsPerDatagram, seal } from './codec.js';
import { SYNC_INTERVAL_MS, SyncProducer } from './producer.js';
import { ReplayWindow, SEQ_OLD, SEQ_REPLAYED } from './replay.js';
import { modeText } from '../control/trust.js';

export const SYNC_GROUP = '224.0.0.81';
export const SYNC_PORT = 8848;
/** ipvsadm's default sync_maxlen for multicast: 1500 - 20 (IP) - 8 (UDP). */
export const SYNC_MAXLEN = 1472;
/** Rate bound: datagrams per interval (640/s, ~25,000 connection records/s at the default maxlen). */
export const MAX_DATAGRAMS_PER_TICK = 32;
/**
 * Workers: records they posted that may wait for a datagram, in intervals' worth. Each posts at
 * most its share of the rate bound, so only timer jitter queues; past this the queue is dropped
 * and every worker dumps its table instead, as a full ring of marks does with one datapath.
 */
const MAX_QUEUED_TICKS = 8;
/** A starting backup repeats its dump request this often until it is answered, at most DUMP_ASKS times. */
const DUMP_ASK_MS = 1000;
const DUMP_ASKS = 10;
/**
 * A backup behind the master (a gap in its sequence, or dump requests that went unanswered)
 * asks for the whole table when data next arrives, but at most once per this long after its
 * last request (not counting unanswered ones): a dump of a large table is big (docs/ha.md).
 */
const CATCH_UP_MS = 10_000;
/** Senders whose sequence (anti-replay window) is followed; the one heard from least lately goes first. */
const MAX_SENDERS = 64;
/**
 * A sender takes a new random id, its sequence from 0 again, when its number reaches this: the
 * numbers never wrap (RFC 4303 3.3.3: the counter must not cycle). A receiver's window takes a
 * number up to 2^31-1 ahead of the newest as new (replay.ts), so past 2^31 datagrams under one
 * id one recorded from the first would be taken as new and every genuine one refused after it.
 * 2^31 datagrams are 38.8 days at the rate bound.
 */
export const SEQ_LIMIT = 0x80000000;
/**
 * Datagrams a sender can have sent per SYNC_INTERVAL_MS, and then some: the rate bound
 * (MAX_DATAGRAMS_PER_TICK, a group's MSG_DATA_EXT and split ones over it), a dump answer sent
 * alone, dump requests. A gap counts as `lost` up to what the sender could have sent since it was
 * last heard (inSequence): a jump past that is no loss (a replay under an older master's
 * wrapped numbers).
 */
const MAX_SENT_PER_TICK = 4 * MAX_DATAGRAMS_PER_TICK;
/** At most one warning of a kind ("split brain?", another syncid) per this long; the counts are in stats. */
const WARN_EVERY_MS = 60_000;

export type SyncState = 'master' | 'backup';

export interface SyncConfig {
  syncid: number;
  /** Interface name (multicast), as ipvsadm's --mcast-interface. */
  mcastInterface: string;
  /** Unicast peer instead of the multicast group. */
  peer?: string;
  group: string;
  port: number;
  ttl: number;
  maxlen: number;
  key: Buffer;
  keyFile?: string;
  /** The key file's permission bits: read by group or others, the start warns. */
  keyMode?: number;
}

export interface SyncStats {
  sent: number;
  received: number;
  lost: number;
  authFailed: number;
  /** Authenticated datagrams ignored: for another syncid than the daemon that would take them. */
  otherSyncid: number;
  /** Data from another master dropped because this director is master too (a split brain). */
  fromMaster: number;
  malformed: number;
  /** Authenticated datagrams refused because their sequence number was heard already from their sender (replayed, duplicated). */
  replayed: number;
  /** Authenticated datagrams refused because their sequence number is older than the anti-replay window (replay.ts). */
  old: number;
  records: number;
  dumps: number;
}

export interface SyncDaemonInfo extends Omit<SyncConfig, 'key'> {
  state: SyncState;
  auth: 'hmac-sha256';
}

/** The IPv4 address of an interface, or undefined. */
export function interfaceAddress(name: string): string | undefined {
  // os.networkInterfaces() (libuv's getifaddrs) leaves out an interface without carrier: a
  // back-to-back sync link whose peer is down must not keep a restarted uvsd from starting.
  return networkInterfaces()[name]?.find((a) => a.family === 'IPv4')?.address ?? (native.ifaceInfo(name)?.ipv4 || undefined);
}

/** The first non-loopback interface with an IPv4 address (the default --mcast-interface). */
export function defaultInterface(): string | undefined {
  for (const [name, list] of Object.entries(networkInterfaces())) {
    if (list?.some((a) => a.family === 'IPv4' && !a.internal)) return name;
  }
  return undefined;
}

export class SyncDaemon {
  readonly stats: SyncStats = {
    sent: 0, received: 0, lost: 0, authFailed: 0, otherSyncid: 0, fromMaster: 0, malformed: 0, replayed: 0, old: 0, records: 0, dumps: 0,
  };
  private readonly dp: Datapath;
  private readonly daemons = new Map<SyncState, SyncConfig>();
  private sock: dgram.Socket | undefined;
  /** The socket being opened (start), and close()s so far: one that came meanwhile closes it. */
  private opening: Promise<void> | undefined;
  private gen = 0;
  private sockKey = '';
  private timer: NodeJS.Timeout | undefined;
  private askTimer: NodeJS.Timeout | undefined;
  /** Random per start, and new at SEQ_LIMIT datagrams: receivers follow each id's sequence apart. */
  private sender = randomBytes(4).readUInt32BE(0);
  /** The ids this daemon sent under before (SEQ_LIMIT), the last MAX_SENDERS: its own datagrams, never taken. */
  private readonly ownSenders: number[] = [];
  /** The next datagram's sequence number, below SEQ_LIMIT. */
  private seq = 0;
  /** Each sender's anti-replay window (in the order they were last heard). */
  private readonly windows = new Map<number, ReplayWindow>();
  /** The master side over the datapath on this thread (undefined with workers: theirs). */
  private readonly producer: SyncProducer | undefined;
  /** Workers: records they posted, waiting for a datagram (REC_LEN each), the next one's offset, and their bytes. */
  private queue: Uint8Array[] = [];
  private queueAt = 0;
  private queued = 0;
  /**
   * Workers: the turn (Datapath.syncTurn) the queue holds records of. Only the datapath's turn
   * now is sent: as master, the records of this master period; demoted, those of the period the
   * demotion ended (what the workers posted before it reached them, and each one's last send of
   * its marks), as one datapath sends its marks once. A later promotion drops what is left.
   */
  private queueTurn = 0;
  /** Dumps a backup asked for, the ones for a queue dropped (workers), and the overflow dumps (per worker; [0] with one datapath). */
  private askedDumps = 0;
  private queueDumps = 0;
  private readonly overflowDumps: number[] = [];
  private readonly buf: Buffer = Buffer.alloc(65536);
  /** A group's REC_SYNPROXY / REC_FTPSEQ records, sent after it as MSG_DATA_EXT (sendRecords). */
  private readonly extBuf: Buffer = Buffer.alloc(65536);
  /** Each HA group's role (true: master) at the last look, by name: a change to backup asks for the table. */
  private roles = new Map<string, boolean>();
  /** Master: a dump request was taken; the next data datagram says so (SF_DUMP_ANSWER). */
  private answer = false;
  /** Backup: data was missed (a gap, or dump requests unanswered); the next data asks for the table. */
  private behind = false;
  /** When (performance.now()) the last dump request went out (CATCH_UP_MS), and the one waiting for that to pass. */
  private askedAt = -Infinity;
  private catchUpTimer: NodeJS.Timeout | undefined;
  /** When (performance.now()) each kind of warning was last logged (WARN_EVERY_MS). */
  private readonly warned = new Map<string, number>();
  private log: (msg: string, extra?: Record<string, unknown>) => void;

  constructor(dp: Datapath, private readonly workers?: Workers, log: (msg: string, extra?: Record<string, unknown>) => void = () => {}) {
    this.dp = dp;
    this.log = log;
    this.producer = workers === undefined ? new SyncProducer(dp) : undefined;
    if (workers !== undefined) {
      workers.onSyncRecords = (records, worker, overflowDumps, turn) => {
        const c = this.daemons.get('master');
        // Another turn's: from before a demotion and promotion since (an old expiry sent now
        // would expire the peer's copy of a newer connection of its tuple).
        if (c !== undefined && this.turnQueue() === turn) this.enqueue(records, c);
        this.overflowDumps[worker] = overflowDumps;
        this.countDumps();
      };
    }
  }

  setLog(log: (msg: string, extra?: Record<string, unknown>) => void): void {
    this.log = log;
  }

  info(): SyncDaemonInfo[] {
    const out: SyncDaemonInfo[] = [];
    for (const state of ['master', 'backup'] as const) {
      const c = this.daemons.get(state);
      if (c === undefined) continue;
      const { key: _key, keyMode: _mode, ...rest } = c;
      out.push({ state, ...rest, auth: 'hmac-sha256' });
    }
    return out;
  }

  running(state: SyncState): boolean {
    return this.daemons.has(state);
  }

  /**
   * Start a daemon (validated by the caller, running(state) false). Both states share one socket,
   * so they must agree on where it listens. The daemon holds its place from the call on (a second
   * start of it meanwhile finds it running), and a start while the socket opens waits for it.
   */
  async start(state: SyncState, c: SyncConfig): Promise<void> {
    const key = `${c.port}|${c.peer ?? c.group}|${c.mcastInterface}`;
    if ((this.sock !== undefined || this.opening !== undefined) && key !== this.sockKey) {
      throw new Error(`the other sync daemon uses ${this.sockKey.replace(/\|/g, ' ')}; stop it first or use the same port, group/peer and interface`);
    }
    this.daemons.set(state, c);
    if (this.sock === undefined) {
      try {
        await (this.opening ??= this.openSocket(c, key));
      } catch (e) {
        if (this.daemons.get(state) === c) this.stop(state);
        throw e;
      }
    }
    if (this.daemons.get(state) !== c) throw new Error(`the ${state} sync daemon was stopped while it started`);
    if (c.keyMode !== undefined && (c.keyMode & 0o044) !== 0) {
      // Whoever reads the key can seal sync messages that install connections (docs/ha.md).
      this.log(`sync-key-file ${c.keyFile ?? ''} is readable by group or others (mode ${modeText(c.keyMode)}): a local user who reads it can forge sync messages; chmod 600 it`,
        { state, keyFile: c.keyFile });
    }
    this.watchRoles();
    if (state === 'master') {
      if (this.workers !== undefined) {
        // Each worker its share of the rate bound, rounded down: together no more than is sent.
        const w = this.workers;
        w.syncMaster(true, recordsPerDatagram(c.maxlen), Math.max(1, Math.floor(MAX_DATAGRAMS_PER_TICK / w.count)));
      } else this.producer?.start();
    } else if (!this.dp.link.active) {
      this.askForDump(); // a master would not install it: it asks when it becomes backup (watchRoles)
    }
    this.timer ??= setInterval(() => this.tick(), SYNC_INTERVAL_MS);
  }

  stop(state: SyncState): boolean {
    if (!this.daemons.delete(state)) return false;
    if (state === 'master') {
      this.workers?.syncMaster(false, 0, 0);
      this.producer?.stop();
      this.dropQueue();
      this.answer = false; // no dump follows: a backup still asking must not take a flag as one
    } else {
      this.stopAsking();
      this.behind = false;
    }
    if (this.daemons.size === 0) this.close();
    return true;
  }

  close(): void {
    this.daemons.clear();
    this.gen++;
    this.opening = undefined;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.stopAsking();
    this.behind = false;
    this.answer = false;
    this.roles = new Map();
    // Nothing is heard while the socket is closed: a sender's datagrams sent meanwhile are not
    // lost to the daemons started later (which ask for the table anyway), so each sender's
    // sequence is followed afresh; what was heard before is still refused again.
    for (const w of this.windows.values()) w.fresh = true;
    try {
      this.sock?.close();
    } catch {
      // already closed
    }
    this.sock = undefined;
  }

  /** Open and bind the socket (this.opening meanwhile); refused if close() came meanwhile. */
  private async openSocket(c: SyncConfig, key: string): Promise<void> {
    this.sockKey = key;
    const gen = this.gen;
    // Unicast (--sync-peer): no SO_REUSEADDR. With it, any local user could bind the same port
    // (SO_REUSEADDR too: Linux checks no owner for that) and the kernel gave that socket the
    // datagrams sent to this director: synced connections and dump requests went to that user,
    // uvsd heard nothing. Without it such a bind fails (EADDRINUSE), before or after uvsd's.
    // Multicast: bound to the group address, with SO_REUSEADDR as the kernel's own sync daemon
    // (ip_vs_sync.c make_receive_sock), so that several receivers on one host may share the
    // group: Linux gives a multicast datagram to every socket bound to it, so another one takes
    // a copy (which every host on the link gets anyway) and nothing from uvsd; and a socket bound
    // to the group hears no unicast.
    const multicast = c.peer === undefined;
    const s = dgram.createSocket({ type: 'udp4', reuseAddr: multicast });
    try {
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.bind({ port: c.port, address: multicast ? c.group : undefined }, () => {
          s.off('error', reject);
          resolve();
        });
      });
    } finally {
      if (gen === this.gen) this.opening = undefined;
    }
    try {
      if (gen !== this.gen) throw new Error('the sync daemons were stopped while the socket opened');
      if (multicast) {
        const ifAddr = interfaceAddress(c.mcastInterface);
        if (ifAddr === undefined) throw new Error(`interface ${c.mcastInterface} has no IPv4 address`);
        s.addMembership(c.group, ifAddr);
        s.setMulticastInterface(ifAddr);
        s.setMulticastTTL(c.ttl);
        s.setMulticastLoopback(false);
      }
    } catch (e) {
      s.close();
      throw e;
    }
    s.on('message', (msg, rinfo) => this.receive(msg, rinfo.address));
    s.on('error', (e) => this.log('sync socket error', { error: e.message }));
    this.sock = s;
  }

  private target(c: SyncConfig): string {
    return c.peer ?? c.group;
  }

  private send(c: SyncConfig, type: number, count: number, buf = this.buf): void {
    let flags = SF_ANSWERS;
    if (type !== MSG_DUMP_REQUEST && this.answer) {
      flags |= SF_DUMP_ANSWER;
      this.answer = false;
    }
    if (this.seq >= SEQ_LIMIT) this.newSender();
    const len = seal(buf, type, count, c.syncid, this.sender, this.seq++, c.key, flags);
    // One copy per datagram: send() keeps the buffer until it is written.
    this.sock?.send(Buffer.from(buf.subarray(0, len)), c.port, this.target(c));
    this.stats.sent++;
  }

  /** SEQ_LIMIT datagrams sent under this id: a new random one, numbered from 0 (a receiver takes it as a new sender). */
  private newSender(): void {
    const old = this.sender;
    this.ownSenders.push(old);
    if (this.ownSenders.length > MAX_SENDERS) this.ownSenders.shift();
    do this.sender = randomBytes(4).readUInt32BE(0);
    while (this.sender === old || this.ownSenders.includes(this.sender));
    this.seq = 0;
    this.log('sync: 2^31 datagrams sent under one sender id: a new sender id, numbered from 0 (the numbers never wrap)', { oldSender: old, sender: this.sender });
  }

  /** Backup: ask for the whole table now and every DUMP_ASK_MS until answered (unanswered: behind, asked again when data comes). */
  private askForDump(): void {
    const c = this.daemons.get('backup');
    if (c === undefined) return;
    this.stopAsking();
    this.behind = false;
    this.askDump(c);
    let asks = 1;
    this.askTimer = setInterval(() => {
      const b = this.daemons.get('backup');
      if (b === undefined || asks++ >= DUMP_ASKS) {
        clearInterval(this.askTimer);
        this.askTimer = undefined;
        // Unanswered: the master heard none (or has nothing): no dump to space the next one from.
        this.behind = b !== undefined;
        this.askedAt = -Infinity;
        return;
      }
      this.askDump(b);
    }, DUMP_ASK_MS);
  }

  private askDump(c: SyncConfig): void {
    this.send(c, MSG_DUMP_REQUEST, 0);
    this.askedAt = performance.now();
  }

  private stopAsking(): void {
    clearInterval(this.askTimer);
    clearTimeout(this.catchUpTimer);
    this.askTimer = undefined;
    this.catchUpTimer = undefined;
  }

  /** Backup, behind the master: one dump request now, or when CATCH_UP_MS has passed since the last one. */
  private catchUp(): void {
    this.behind = false;
    if (this.catchUpTimer !== undefined) return;
    const wait = this.askedAt + CATCH_UP_MS - performance.now();
    const ask = (): void => {
      this.catchUpTimer = undefined;
      const b = this.daemons.get('backup');
      if (b !== undefined && !this.dp.link.active) this.askDump(b);
    };
    if (wait <= 0) ask();
    else this.catchUpTimer = setTimeout(ask, wait);
  }

  /** Log msg at most once per WARN_EVERY_MS for its kind. */
  private warnEvery(kind: string, msg: string, extra: Record<string, unknown>): void {
    const now = performance.now();
    if (now - (this.warned.get(kind) ?? -Infinity) < WARN_EVERY_MS) return;
    this.warned.set(kind, now);
    this.log(msg, extra);
  }

  /** A backup daemon asks for the whole table when its director, or one of its HA groups, went from master to backup. */
  private watchRoles(): void {
    const groupNames = this.dp.link.groupNames;
    const roles = this.dp.link.roles();
    let changed = groupNames.length !== this.roles.size;
    let demoted = false;
    groupNames.forEach((name, i) => {
      const was = this.roles.get(name);
      if (was !== roles[i]) changed = true;
      if (was === true && roles[i] !== true) demoted = true;
    });
    if (!changed) return;
    this.roles = new Map(groupNames.map((name, i) => [name, roles[i] === true]));
    if (demoted) this.askForDump();
  }

  private tick(): void {
    this.watchRoles();
    const c = this.daemons.get('master');
    if (c === undefined) return;
    if (!this.dp.link.anyMaster) this.answer = false;
    this.produce(c);
    // A dump request taken, and nothing sent this round (an empty table, a quiet one): answered alone.
    if (this.answer) this.send(c, MSG_DATA, 0);
  }

  /** Master: this round's datagrams. */
  private produce(c: SyncConfig): void {
    const per = recordsPerDatagram(c.maxlen);
    if (this.producer !== undefined) {
      this.producer.produce(this.buf, HDR_LEN, per, MAX_DATAGRAMS_PER_TICK, (n) => this.sendRecords(c, n));
      this.overflowDumps[0] = this.producer.overflowDumps;
      this.countDumps();
      return;
    }
    // Workers: what they posted, packed into full datagrams (a chunk may span two); the budget
    // counts the datagrams sendRecords sends (a group's extra records go in one of their own).
    // Demoted, what they posted of the turn the demotion ended (their last send), then nothing.
    this.turnQueue();
    for (let budget = MAX_DATAGRAMS_PER_TICK; budget > 0 && this.queue.length > 0;) {
      let n = 0;
      while (n < per && this.queue.length > 0) {
        const chunk = this.queue[0];
        const take = Math.min(per - n, (chunk.length - this.queueAt) / REC_LEN);
        this.buf.set(chunk.subarray(this.queueAt, this.queueAt + take * REC_LEN), HDR_LEN + n * REC_LEN);
        n += take;
        this.queueAt += take * REC_LEN;
        this.queued -= take * REC_LEN;
        if (this.queueAt >= chunk.length) {
          this.queue.shift();
          this.queueAt = 0;
        }
      }
      budget -= this.sendRecords(c, n);
    }
  }

  /** Workers: the datapath's sync turn now; the queue, if it holds another turn's records, emptied. */
  private turnQueue(): number {
    const turn = this.dp.syncTurn;
    if (turn !== this.queueTurn) {
      this.dropQueue();
      this.queueTurn = turn;
    }
    return turn;
  }

  /** Workers: records posted, queued for tick(); past MAX_QUEUED_TICKS of the rate bound, a full dump instead (demoted: none). */
  private enqueue(records: Uint8Array, c: SyncConfig): void {
    if (this.queued + records.length > MAX_QUEUED_TICKS * MAX_DATAGRAMS_PER_TICK * recordsPerDatagram(c.maxlen) * REC_LEN) {
      this.dropQueue();
      if (this.dp.link.anyMaster) {
        this.workers?.syncDump();
        this.queueDumps++;
      }
      return;
    }
    this.queue.push(records);
    this.queued += records.length;
  }

  private dropQueue(): void {
    this.queue = [];
    this.queueAt = 0;
    this.queued = 0;
  }

  /**
   * The n records at buf[HDR_LEN]: the ones an older uvsd knows as MSG_DATA, then (if any) the
   * others, which follow their REC_CONN, as MSG_DATA_EXT (an older backup ignores that type).
   * One entry's records may be more than a datagram holds (a --sync-maxlen below 164): then in
   * datagrams of a record or two each, in order.
   */
  /** Sends the n records at buf[HDR_LEN]; returns the datagrams sent (syncDatagrams). */
  private sendRecords(c: SyncConfig, n: number): number {
    const b = this.buf;
    let k = 0;
    let x = 0;
    for (let i = 0; i < n; i++) {
      const at = HDR_LEN + i * REC_LEN;
      if (isExtRecord(b[at])) {
        b.copy(this.extBuf, HDR_LEN + x * REC_LEN, at, at + REC_LEN);
        x++;
      } else {
        if (k !== i) b.copy(b, HDR_LEN + k * REC_LEN, at, at + REC_LEN);
        k++;
      }
    }
    const per = recordsPerDatagram(c.maxlen);
    this.stats.records += n;
    return (k > 0 ? this.sendSplit(c, MSG_DATA, k, per, b) : 0) + (x > 0 ? this.sendSplit(c, MSG_DATA_EXT, x, per, this.extBuf) : 0);
  }

  /** The n records at buf[HDR_LEN] as datagrams of type, at most per records each; returns how many. */
  private sendSplit(c: SyncConfig, type: number, n: number, per: number, buf: Buffer): number {
    if (n <= per) {
      this.send(c, type, n, buf);
      return 1;
    }
    // Each seal writes its MAC over the records after it: a copy to send them from.
    const all = Buffer.from(buf.subarray(HDR_LEN, HDR_LEN + n * REC_LEN));
    for (let i = 0; i < n; i += per) {
      const k = Math.min(per, n - i);
      all.copy(buf, HDR_LEN, i * REC_LEN, (i + k) * REC_LEN);
      this.send(c, type, k, buf);
    }
    return Math.ceil(n / per);
  }

  /** A backup asked for the whole table: a dump due (SyncProducer.requestDump), and the request answered. */
  private dumpRequested(): void {
    if (!this.dp.link.anyMaster) return; // a backup sends nothing
    if (this.producer !== undefined) {
      if (this.producer.requestDump()) this.askedDumps++;
    } else if (this.workers !== undefined) {
      this.workers.syncDump();
      this.askedDumps++;
    }
    this.answer = true;
    this.countDumps();
  }

  /** stats.dumps: full dumps sent, asked for or after lost marks (with workers, each worker's counts, and a dropped queue's). */
  private countDumps(): void {
    this.stats.dumps = this.askedDumps + this.queueDumps + this.overflowDumps.reduce((a, n) => a + n, 0);
  }

  /** Whether datagram seq of sender is to be taken (its anti-replay window); counts gaps, replays and old ones. */
  private inSequence(sender: number, seq: number, backup: boolean): boolean {
    const w = this.windows.get(sender);
    const now = performance.now();
    if (w === undefined) {
      if (this.windows.size >= MAX_SENDERS) this.windows.delete(this.windows.keys().next().value as number);
      this.windows.set(sender, new ReplayWindow(seq, now));
      return true;
    }
    const heardAt = w.heardAt;
    const v = w.check(seq, now);
    if (v === SEQ_REPLAYED || v === SEQ_OLD) {
      if (v === SEQ_REPLAYED) this.stats.replayed++;
      else this.stats.old++;
      return false;
    }
    if (v > 0) {
      // No more than the sender could have sent since it was last heard (MAX_SENT_PER_TICK).
      this.stats.lost += Math.min(v, (Math.floor(Math.max(0, now - heardAt) / SYNC_INTERVAL_MS) + 2) * MAX_SENT_PER_TICK);
      this.behind ||= backup;
    }
    // Last heard last: a sender not heard from for long goes first when MAX_SENDERS are followed.
    this.windows.delete(sender);
    this.windows.set(sender, w);
    return true;
  }

  private receive(msg: Buffer, from: string): void {
    // Either daemon's key may open it: the backup's for data, the master's for dump requests.
    const b = this.daemons.get('backup');
    const m = this.daemons.get('master');
    let r = b === undefined ? 'auth' as const : open(msg, b.key);
    let byMasterKey = false;
    if (r === 'auth' && m !== undefined) {
      r = open(msg, m.key);
      byMasterKey = true;
    }
    if (r === 'malformed') {
      this.stats.malformed++;
      return;
    }
    if (r !== 'auth' && (r.sender === this.sender || this.ownSenders.includes(r.sender))) return; // our own (multicast loop; or sent again)
    // The master's key vouches for dump requests only: data is installed under the backup's key
    // alone, or a backup given another key would take the table of anyone holding the master's.
    if (r === 'auth' || (byMasterKey && b !== undefined && r.type !== MSG_DUMP_REQUEST)) {
      this.stats.authFailed++;
      // Once a minute: a stream of forged datagrams must not become a stream of log lines.
      // With the count so far (auth_failed): the line says whether one datagram or a stream was refused.
      if (r === 'auth') this.warnEvery('auth', 'sync message refused: bad HMAC (forged or another key)', { from, authFailed: this.stats.authFailed });
      else this.warnEvery('master-key', 'sync message refused: data sealed with the master daemon\'s key, not the backup daemon\'s', { from, authFailed: this.stats.authFailed });
      return;
    }
    // Sequence numbers run per sender over all its datagrams, whatever their syncid. A gap
    // leaves the backup behind; a late datagram (reordered) is taken once; one heard already
    // (replayed, duplicated) or older than the window is refused.
    if (!this.inSequence(r.sender, r.seq, b !== undefined)) return;
    // ipvsadm: a backup with syncid 0 takes every master's messages (a master with 0, every
    // backup's dump requests). Another syncid is counted apart, and said, so a mismatch shows.
    const data = r.type === MSG_DATA || r.type === MSG_DATA_EXT;
    const to = r.type === MSG_DUMP_REQUEST ? m : data ? b : undefined;
    if (to !== undefined && to.syncid !== 0 && r.syncid !== to.syncid) {
      this.stats.otherSyncid++;
      const [what, daemon] = to === b ? ['data', 'backup'] : ['a dump request', 'master'];
      this.warnEvery(`otherSyncid ${daemon}`, `sync ${what} from ${from} for syncid ${r.syncid} ignored: this director's ${daemon} daemon has syncid ${to.syncid}`,
        { from, syncid: r.syncid, ourSyncid: to.syncid, otherSyncid: this.stats.otherSyncid });
      return;
    }
    // A master (of every group) installs nothing: its own table is the truth (split brain is
    // keepalived's to end). Another master sending means both are: counted apart, and said.
    if (data && b !== undefined && this.dp.link.active) {
      this.stats.fromMaster++;
      this.warnEvery('fromMaster', `sync data from another master (${from}) while master: split brain?`, { from, fromMaster: this.stats.fromMaster });
      return;
    }
    this.stats.received++;
    if (r.type === MSG_DUMP_REQUEST) {
      if (m !== undefined) this.dumpRequested();
      return;
    }
    if (!data || b === undefined) return;
    // Asking for the table: its answer ends the requests (an older master's, which marks none: any data).
    if (this.askTimer !== undefined && ((r.flags & SF_ANSWERS) === 0 || (r.flags & SF_DUMP_ANSWER) !== 0)) {
      clearInterval(this.askTimer);
      this.askTimer = undefined;
    }
    if (this.behind) this.catchUp();
    if (this.workers === undefined) {
      this.dp.apply([{ op: 'syncInstall', records: new Uint8Array(r.records) }]);
      return;
    }
    // Workers: each record to the worker that will see its connection's frames, an expiry to
    // every one (its local port is not in it); the main thread's table stays empty.
    const count = this.workers.count;
    const parts: number[][] = Array.from({ length: count }, () => []);
    for (let o = 0; o + REC_LEN <= r.records.length; o += REC_LEN) {
      const k = this.dp.syncOwner(r.records, o, count);
      if (k < 0) for (const p of parts) p.push(o);
      else parts[k].push(o);
    }
    parts.forEach((offs, k) => {
      if (offs.length === 0) return;
      const records = new Uint8Array(offs.length * REC_LEN);
      offs.forEach((o, i) => records.set(r.records.subarray(o, o + REC_LEN), i * REC_LEN));
      this.workers?.post(k, [{ op: 'syncInstall', records }]);
    });
  }
}

/** Payload bytes of a datagram carrying n records. */
export function datagramBytes(n: number): number {
  return HDR_LEN + n * REC_LEN + MAC_LEN;
}
