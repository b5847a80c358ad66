// Connection sync (docs/ha.md): what the master's datapath marks for the sync daemon, and the
// fixed-size record one connection entry becomes on the wire. The marks are cheap and allocate
// nothing per packet: a ring of entry indices (each entry at most once in it, a mark byte per
// entry) and a ring of the IN tuples of expired entries (their index is reused at once, so the
// tuple is copied). The sync daemon (src/sync/) drains both on a timer.

import type { ConnTable } from './conntable.js';
import { F_ASSURED, F_FTPDATA, F_NOOUTPUT, F_TEMPLATE } from './conntable.js';
import { wr16, wr32 } from './frame.js';


/** Bytes per record. */
export const REC_LEN = 36;
/** Record types. */
export const REC_CONN = 1;
export const REC_EXPIRE = 2;
/** After a SYN proxy connection's REC_CONN: its translation (seqd, tsoff, spwin). */
export const REC_SYNPROXY = 3;
/** After an FTP control connection's REC_CONN: the seq shift of its resized replies (the FTP
 *  helper's out_seq: init, delta, prev; the kernel's IPVS_OPT_SEQ_DATA). */
export const REC_FTPSEQ = 4;
/** Types an older uvsd does not know: the sync daemon sends them in datagrams of their own
 *  (MSG_DATA_EXT, src/sync/codec.ts), which an older backup ignores. */
export function isExtRecord(type: number): boolean {
  return type === REC_SYNPROXY || type === REC_FTPSEQ;
}

/** The datagrams the n records at buf[o] go out in, at most `per` each: the connection records in
 *  MSG_DATA, the others (isExtRecord) in MSG_DATA_EXT. What the rate bound counts. */
export function syncDatagrams(buf: Uint8Array, o: number, n: number, per: number): number {
  let x = 0;
  for (let i = 0; i < n; i++) if (isExtRecord(buf[o + i * REC_LEN]!)) x++;
  return Math.ceil((n - x) / per) + Math.ceil(x / per);
}
/** Record flag bits (byte 3). */
export const RF_TEMPLATE = 1;
export const RF_NOOUTPUT = 2;
/** The connection was made through a persistence template (the backup links it to its copy). */
export const RF_HAS_TPL = 4;
export const RF_HASHED_OUT = 8;
/** An FTP data connection (F_FTPDATA): its VIP:port has no service; the backup binds it through
 *  the FTP service of its VIP that has its server (an older uvsd ignores the bit and refuses it). */
export const RF_FTPDATA = 16;
/** A template that is assured (F_ASSURED): the backup's copy is too, so a takeover keeps it from
 *  eviction (an older uvsd ignores the bit: its copies are not assured). */
export const RF_ASSURED = 32;

// Record layout (network byte order):
//  0 type  1 proto (with PROTO_TPL for templates)  2 state  3 flags  4 fwd  5 reserved
//  6 cport  8 vport  10 dport  12 lport  14 an FTP data connection's: its control connection's
//  cport (the backup links them; 0: none, as an older uvsd sends)
//  16 caddr  20 vaddr  24 daddr  28 laddr  32 a template's persistence-engine hash (ConnTable
//  seqd: the SIP Call-ID's; 0 for other templates); a connection's: its template's (0: none)
// REC_SYNPROXY and REC_FTPSEQ: bytes 1-23 as the REC_CONN they follow (the backup finds the
// entry by its tuple, and with workers routes the record as that one), then three int32 values
// at 24, 28 and 32 (seqd, tsoff, spwin; init, delta, prev).

/** Write entry e of ct as a REC_CONN record at buf[o]. */
export function writeConnRecord(ct: ConnTable, e: number, buf: Uint8Array, o: number, hashedOut: boolean): void {
  const f = ct.flags[e];
  const tpl = ct.template(e);
  buf[o] = REC_CONN;
  buf[o + 1] = ct.proto[e];
  buf[o + 2] = ct.state[e];
  buf[o + 3] = ((f & F_TEMPLATE) !== 0 ? RF_TEMPLATE : 0) | ((f & F_NOOUTPUT) !== 0 ? RF_NOOUTPUT : 0) |
    (tpl >= 0 ? RF_HAS_TPL : 0) | (hashedOut ? RF_HASHED_OUT : 0) | ((f & F_FTPDATA) !== 0 ? RF_FTPDATA : 0) |
    ((f & (F_TEMPLATE | F_ASSURED)) === (F_TEMPLATE | F_ASSURED) ? RF_ASSURED : 0);
  buf[o + 4] = ct.fwd[e];
  buf[o + 5] = 0;
  wr16(buf, o + 6, ct.cport[e]);
  wr16(buf, o + 8, ct.vport[e]);
  wr16(buf, o + 10, ct.dport[e]);
  wr16(buf, o + 12, ct.lport[e]);
  wr16(buf, o + 14, (f & F_FTPDATA) !== 0 && ct.ctl[e] >= 0 ? ct.cport[ct.ctl[e]] : 0);
  wr32(buf, o + 16, ct.caddr[e]);
  wr32(buf, o + 20, ct.vaddr[e]);
  wr32(buf, o + 24, ct.daddr[e]);
  wr32(buf, o + 28, ct.laddr[e]);
  wr32(buf, o + 32, (f & F_TEMPLATE) !== 0 ? ct.seqd[e] : tpl >= 0 ? ct.seqd[tpl] : 0);
}

/** Write a record of `type` at buf[o] for the REC_CONN record at buf[conn]: its bytes 1-23, and a, b, c. */
export function writeExtRecord(buf: Uint8Array, conn: number, o: number, type: number, a: number, b: number, c: number): void {
  buf.copyWithin(o, conn, conn + 24);
  buf[o] = type;
  wr32(buf, o + 24, a);
  wr32(buf, o + 28, b);
  wr32(buf, o + 32, c);
}

/** Extension records a backup holds for their REC_CONN at most, and for how long (ms). */
const EXT_HOLD = 64;
export const EXT_HOLD_MS = 2000;

/**
 * A backup's REC_SYNPROXY / REC_FTPSEQ records that came before their connection's REC_CONN (a
 * MSG_DATA_EXT datagram overtook its MSG_DATA, or that REC_CONN was refused or lost), kept for
 * EXT_HOLD_MS: the REC_CONN that installs the connection takes them (Datapath.installRecord).
 * Fixed slots, nothing allocated per record.
 */
export class ExtHold {
  /** The held records, REC_LEN bytes per slot (copies: the datagram's buffer is not kept). */
  readonly recs = new Uint8Array(EXT_HOLD * REC_LEN);
  /** When each slot's record was held (ms), -1: free. */
  private readonly at = new Float64Array(EXT_HOLD).fill(-1);
  count = 0;

  /** Hold the record at b[o]; true when the oldest had to go for it (dropped). */
  hold(b: Uint8Array, o: number, now: number): boolean {
    let k = 0;
    for (let i = 1; i < EXT_HOLD && this.at[k] >= 0; i++) if (this.at[i] < this.at[k]) k = i;
    const evicted = this.at[k] >= 0;
    if (!evicted) this.count++;
    this.recs.set(b.subarray(o, o + REC_LEN), k * REC_LEN);
    this.at[k] = now;
    return evicted;
  }

  /**
   * The next held record, from slot k on, of the connection of the REC_CONN at b[o] (same
   * protocol, client and virtual address and port): freed, and its slot returned (its bytes at
   * recs[slot * REC_LEN] until the next hold); -1: none left. The caller goes on from the slot
   * after it: nothing allocated per call (it runs for every synced connection record).
   */
  take(b: Uint8Array, o: number, k: number): number {
    const r = this.recs;
    for (; k < EXT_HOLD && this.count > 0; k++) {
      const p = k * REC_LEN;
      if (this.at[k] < 0 || r[p + 1] !== b[o + 1] || !sameBytes(r, p + 6, b, o + 6, 4) || !sameBytes(r, p + 16, b, o + 16, 8)) continue;
      this.at[k] = -1;
      this.count--;
      return k;
    }
    return -1;
  }

  /** Free the records held longer than EXT_HOLD_MS; returns how many. */
  expire(now: number): number {
    let n = 0;
    for (let k = 0; k < EXT_HOLD && this.count > 0; k++) {
      if (this.at[k] < 0 || now - this.at[k] < EXT_HOLD_MS) continue;
      this.at[k] = -1;
      this.count--;
      n++;
    }
    return n;
  }
}

function sameBytes(a: Uint8Array, i: number, b: Uint8Array, j: number, n: number): boolean {
  for (let k = 0; k < n; k++) if (a[i + k] !== b[j + k]) return false;
  return true;
}

/**
 * The master's marks. Allocated when a master sync daemon starts (nothing for directors without
 * HA). `mark` is called per packet only on a state change or when the entry's last sync is older
 * than half its timeout; it is O(1) and allocation-free.
 */
export class SyncMarks {
  /** Entry indices waiting to be sent. */
  private readonly ring: Int32Array;
  private head = 0;
  private tail = 0;
  /** 1 while the entry is in the ring. */
  readonly marked: Uint8Array;
  /** Tick of the entry's last mark (refresh of long-lived entries). */
  readonly lastTick: Uint32Array;
  /** Expired entries' IN tuples: proto, cport, vport, caddr, vaddr, flags. */
  private readonly xProto: Uint8Array;
  private readonly xFlags: Uint8Array;
  private readonly xCport: Uint16Array;
  private readonly xVport: Uint16Array;
  private readonly xCaddr: Int32Array;
  private readonly xVaddr: Int32Array;
  private readonly xTag: Int32Array;
  private xHead = 0;
  private xTail = 0;
  /** Marks and expiries that found their ring full (the daemon then sends a full dump). */
  overflows = 0;

  constructor(max: number, ringSize = Math.min(max, 1 << 16)) {
    this.ring = new Int32Array(ringSize);
    this.marked = new Uint8Array(max);
    this.lastTick = new Uint32Array(max);
    this.xProto = new Uint8Array(ringSize);
    this.xFlags = new Uint8Array(ringSize);
    this.xCport = new Uint16Array(ringSize);
    this.xVport = new Uint16Array(ringSize);
    this.xCaddr = new Int32Array(ringSize);
    this.xVaddr = new Int32Array(ringSize);
    this.xTag = new Int32Array(ringSize);
  }

  mark(e: number, nowTick: number): void {
    this.lastTick[e] = nowTick;
    if (this.marked[e] !== 0) return;
    const next = (this.tail + 1) % this.ring.length;
    if (next === this.head) {
      this.overflows++;
      return;
    }
    this.marked[e] = 1;
    this.ring[this.tail] = e;
    this.tail = next;
  }

  /** Entry e is about to be freed: remember its IN tuple for an expire record. */
  expired(ct: ConnTable, e: number): void {
    const next = (this.xTail + 1) % this.xProto.length;
    if (next === this.xHead) {
      this.overflows++;
      return;
    }
    const t = this.xTail;
    this.xProto[t] = ct.proto[e];
    this.xFlags[t] = (ct.flags[e] & F_TEMPLATE) !== 0 ? RF_TEMPLATE : 0;
    this.xCport[t] = ct.cport[e];
    this.xVport[t] = ct.vport[e];
    this.xCaddr[t] = ct.caddr[e];
    this.xVaddr[t] = ct.vaddr[e];
    this.xTag[t] = (ct.flags[e] & F_TEMPLATE) !== 0 ? ct.seqd[e] : 0;
    this.xTail = next;
  }

  /** The next marked entry, left in the ring, or -1. */
  peekMarked(): number {
    return this.head === this.tail ? -1 : this.ring[this.head];
  }

  /** The next marked entry (its mark cleared), or -1. */
  nextMarked(): number {
    if (this.head === this.tail) return -1;
    const e = this.ring[this.head];
    this.head = (this.head + 1) % this.ring.length;
    this.marked[e] = 0;
    return e;
  }

  /** Write the next expiry as a REC_EXPIRE record at buf[o]; false when there is none. */
  nextExpired(buf: Uint8Array, o: number): boolean {
    if (this.xHead === this.xTail) return false;
    const t = this.xHead;
    this.xHead = (this.xHead + 1) % this.xProto.length;
    buf.fill(0, o, o + REC_LEN);
    buf[o] = REC_EXPIRE;
    buf[o + 1] = this.xProto[t];
    buf[o + 3] = this.xFlags[t];
    wr16(buf, o + 6, this.xCport[t]);
    wr16(buf, o + 8, this.xVport[t]);
    wr32(buf, o + 16, this.xCaddr[t]);
    wr32(buf, o + 20, this.xVaddr[t]);
    wr32(buf, o + 32, this.xTag[t]);
    return true;
  }

  /** Forget every mark and expiry waiting. */
  clear(): void {
    for (let e = this.nextMarked(); e >= 0; e = this.nextMarked());
    this.xHead = this.xTail;
  }

  pending(): number {
    return (this.tail - this.head + this.ring.length) % this.ring.length +
      (this.xTail - this.xHead + this.xProto.length) % this.xProto.length;
  }
}
