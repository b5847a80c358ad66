// The connection sync daemon (ipvsadm --start-daemon master|backup, docs/ha.md). One UDP socket
// on the director's host interface (not the TAP: it is a control-plane conversation between the
// two uvsd, and the kernel gives it multicast, routing and checksums for free). Multicast
// 224.0.0.81:8848 by default, or unicast to --sync-peer.
//
// master: every SYNC_INTERVAL_MS, while this director is master, drain the datapath's marks
//   (created/changed/expired connections) into datagrams of at most maxlen bytes, at most
//   MAX_DATAGRAMS_PER_TICK per interval; a full dump when a backup asks (or marks overflowed).
// backup: verify, count sequence gaps, and install the records through a datapath op, only
//   while this director is backup. At start it asks the master for its whole table.
// Both states may run at once (each director of a pair usually runs both; the role decides).

import dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { networkInterfaces } from 'node:os';
import type { Datapath } from '../datapath/pipeline.js';
import { REC_LEN } from '../datapath/syncrec.js';
import { HDR_LEN, MAC_LEN, MSG_DATA, MSG_DUMP_REQUEST, open, recordsPerDatagram, seal } from './codec.js';

export const SYNC_GROUP = '224.0.0.81';
export const SYNC_PORT = 8848;
/** ipvsadm's default sync_maxlen for multicast: 1500 - 20 (IP) - 8 (UDP). */
export const SYNC_MAXLEN = 1472;
export const SYNC_INTERVAL_MS = 50;
/** Rate bound: datagrams per interval (640/s, ~25,000 connection records/s at the default maxlen). */
export const MAX_DATAGRAMS_PER_TICK = 32;
/** Table indices a dump looks at per interval (bounded work on the loop). */
const DUMP_SCAN_PER_TICK = 65536;
/** A starting backup repeats its dump request this often until data arrives, at most DUMP_ASKS times. */
const DUMP_ASK_MS = 1000;
const DUMP_ASKS = 10;

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
}

export interface SyncStats {
  sent: number;
  received: number;
  lost: number;
  authFailed: number;
  /** Authenticated datagrams ignored: for another syncid than the daemon that would take them. */
  otherSyncid: number;
  malformed: number;
  records: number;
  dumps: number;
}

export interface SyncDaemonInfo extends Omit<SyncConfig, 'key'> {
  state: SyncState;
  auth: 'hmac-sha256';
}

/** The IPv4 address of an interface, or undefined. */
export function interfaceAddress(name: string): string | undefined {
  return networkInterfaces()[name]?.find((a) => a.family === 'IPv4')?.address;
}

/** The first non-loopback interface with an IPv4 address (the default --mcast-interface). */
export function defaultInterface(): string | undefined {
  for (const [name, list] of Object.entries(networkInterfaces())) {
    if (list?.some((a) => a.family === 'IPv4' && !a.internal)) return name;
  }
  return undefined;
}

export class SyncDaemon {
  readonly stats: SyncStats = { sent: 0, received: 0, lost: 0, authFailed: 0, otherSyncid: 0, malformed: 0, records: 0, dumps: 0 };
  private readonly dp: Datapath;
  private readonly daemons = new Map<SyncState, SyncConfig>();
  private sock: dgram.Socket | undefined;
  private sockKey = '';
  private timer: NodeJS.Timeout | undefined;
  private askTimer: NodeJS.Timeout | undefined;
  /** Random per start: receivers restart their sequence tracking when it changes. */
  private readonly sender = randomBytes(4).readUInt32BE(0);
  private seq = 0;
  /** Next expected sequence number per sender. */
  private readonly expect = new Map<number, number>();
  /** Full dump cursor (Datapath.syncDump), -1 = none running. */
  private dumpAt = -1;
  private overflowsSeen = 0;
  private readonly buf: Buffer = Buffer.alloc(65536);
  private readonly dumpOut = new Int32Array(2);
  private log: (msg: string, extra?: Record<string, unknown>) => void;

  constructor(dp: Datapath, log: (msg: string, extra?: Record<string, unknown>) => void = () => {}) {
    this.dp = dp;
    this.log = log;
  }

  setLog(log: (msg: string, extra?: Record<string, unknown>) => void): void {
    this.log = log;
  }

  info(): SyncDaemonInfo[] {
    const out: SyncDaemonInfo[] = [];
    for (const state of ['master', 'backup'] as const) {
      const c = this.daemons.get(state);
      if (c === undefined) continue;
      const { key: _key, ...rest } = c;
      out.push({ state, ...rest, auth: 'hmac-sha256' });
    }
    return out;
  }

  running(state: SyncState): boolean {
    return this.daemons.has(state);
  }

  /** Start a daemon (validated by the caller). Both states share one socket, so they must agree on where it listens. */
  async start(state: SyncState, c: SyncConfig): Promise<void> {
    const key = `${c.port}|${c.peer ?? c.group}|${c.mcastInterface}`;
    if (this.sock !== undefined && key !== this.sockKey) {
      throw new Error(`the other sync daemon uses ${this.sockKey.replace(/\|/g, ' ')}; stop it first or use the same port, group/peer and interface`);
    }
    if (this.sock === undefined) await this.openSocket(c, key);
    this.daemons.set(state, c);
    if (state === 'master') {
      this.dp.apply([{ op: 'syncMarks', on: true }]);
      this.overflowsSeen = this.dp.sync?.overflows ?? 0;
    } else {
      this.askForDump();
    }
    this.timer ??= setInterval(() => this.tick(), SYNC_INTERVAL_MS);
  }

  stop(state: SyncState): boolean {
    if (!this.daemons.delete(state)) return false;
    if (state === 'master') {
      this.dp.apply([{ op: 'syncMarks', on: false }]);
      this.dumpAt = -1;
    } else if (this.askTimer !== undefined) {
      clearInterval(this.askTimer);
      this.askTimer = undefined;
    }
    if (this.daemons.size === 0) this.close();
    return true;
  }

  close(): void {
    this.daemons.clear();
    if (this.timer) clearInterval(this.timer);
    if (this.askTimer) clearInterval(this.askTimer);
    this.timer = undefined;
    this.askTimer = undefined;
    try {
      this.sock?.close();
    } catch {
      // already closed
    }
    this.sock = undefined;
  }

  private async openSocket(c: SyncConfig, key: string): Promise<void> {
    const s = dgram.createSocket({ type: 'udp4', reuseAddr: true });
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.bind(c.port, () => {
        s.off('error', reject);
        resolve();
      });
    });
    try {
      if (c.peer === undefined) {
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
    this.sockKey = key;
  }

  private target(c: SyncConfig): string {
    return c.peer ?? c.group;
  }

  private send(c: SyncConfig, type: number, count: number): void {
    const len = seal(this.buf, type, count, c.syncid, this.sender, this.seq++ >>> 0, c.key);
    // One copy per datagram: send() keeps the buffer until it is written.
    this.sock?.send(Buffer.from(this.buf.subarray(0, len)), c.port, this.target(c));
    this.stats.sent++;
  }

  /** Backup: ask for the whole table now and every DUMP_ASK_MS until data arrives. */
  private askForDump(): void {
    const c = this.daemons.get('backup');
    if (c === undefined) return;
    this.send(c, MSG_DUMP_REQUEST, 0);
    if (this.askTimer !== undefined) clearInterval(this.askTimer);
    let asks = 1;
    this.askTimer = setInterval(() => {
      const b = this.daemons.get('backup');
      if (b === undefined || asks++ >= DUMP_ASKS) {
        clearInterval(this.askTimer);
        this.askTimer = undefined;
        return;
      }
      this.send(b, MSG_DUMP_REQUEST, 0);
    }, DUMP_ASK_MS);
  }

  private tick(): void {
    const c = this.daemons.get('master');
    const m = this.dp.sync;
    if (c === undefined || m === null || !this.dp.link.active) return;
    const per = recordsPerDatagram(c.maxlen);
    let budget = MAX_DATAGRAMS_PER_TICK;
    if (m.overflows !== this.overflowsSeen) {
      // Marks were lost: the backup gets everything again.
      this.overflowsSeen = m.overflows;
      if (this.dumpAt < 0) this.startDump();
    }
    if (this.dumpAt >= 0) {
      let scanned = 0;
      while (budget > 0 && this.dumpAt < 2 * this.dp.ct.max && scanned < DUMP_SCAN_PER_TICK) {
        const from = this.dumpAt;
        this.dp.syncDump(this.buf, HDR_LEN, per, from, DUMP_SCAN_PER_TICK - scanned, this.dumpOut);
        this.dumpAt = this.dumpOut[0];
        scanned += this.dumpAt - from;
        if (this.dumpOut[1] > 0) {
          this.send(c, MSG_DATA, this.dumpOut[1]);
          this.stats.records += this.dumpOut[1];
          budget--;
        }
      }
      if (this.dumpAt >= 2 * this.dp.ct.max) this.dumpAt = -1;
    }
    while (budget > 0) {
      const n = this.dp.syncDrain(this.buf, HDR_LEN, per);
      if (n === 0) break;
      this.send(c, MSG_DATA, n);
      this.stats.records += n;
      budget--;
    }
  }

  private startDump(): void {
    this.dumpAt = 0;
    this.stats.dumps++;
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
    if (r !== 'auth' && r.sender === this.sender) return; // our own (multicast loop)
    // The master's key vouches for dump requests only: data is installed under the backup's key
    // alone, or a backup given another key would take the table of anyone holding the master's.
    if (r === 'auth' || (byMasterKey && b !== undefined && r.type !== MSG_DUMP_REQUEST)) {
      this.stats.authFailed++;
      this.log(r === 'auth' ? 'sync message refused: bad HMAC (forged or another key)'
        : 'sync message refused: data sealed with the master daemon\'s key, not the backup daemon\'s', { from });
      return;
    }
    // Sequence numbers run per sender over all its datagrams, whatever their syncid.
    const next = this.expect.get(r.sender);
    if (next !== undefined && r.seq !== next) {
      const gap = (r.seq - next) >>> 0;
      if (gap < 0x80000000) this.stats.lost += gap; // else a late duplicate
    }
    this.expect.set(r.sender, (r.seq + 1) >>> 0);
    // ipvsadm: a backup with syncid 0 takes every master's messages (a master with 0, every
    // backup's dump requests). Another syncid is counted apart, so a mismatch shows.
    const to = r.type === MSG_DUMP_REQUEST ? m : r.type === MSG_DATA ? b : undefined;
    if (to !== undefined && to.syncid !== 0 && r.syncid !== to.syncid) {
      this.stats.otherSyncid++;
      return;
    }
    this.stats.received++;
    if (r.type === MSG_DUMP_REQUEST) {
      if (m !== undefined && this.dp.link.active && this.dumpAt < 0) this.startDump();
      return;
    }
    if (r.type !== MSG_DATA || b === undefined) return;
    if (this.askTimer !== undefined) {
      clearInterval(this.askTimer);
      this.askTimer = undefined;
    }
    // A master installs nothing: its own table is the truth (split brain is keepalived's to end).
    if (this.dp.link.active) return;
    this.dp.apply([{ op: 'syncInstall', records: new Uint8Array(r.records) }]);
  }
}

/** Payload bytes of a datagram carrying n records. */
export function datagramBytes(n: number): number {
  return HDR_LEN + n * REC_LEN + MAC_LEN;
}
