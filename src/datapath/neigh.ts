// Neighbour (ARP) table: IPv4 → MAC for next hops on the TAP's link, with expiry and a small
// bounded queue of frames waiting for resolution. Typed arrays, open addressing, no
// allocation after construction.

import { copyMac } from './frame.js';

export const N_FREE = 0;
export const N_INCOMPLETE = 1;
export const N_REACHABLE = 2;

/** How long a learned MAC is trusted before it is re-probed (ms). */
export const REACHABLE_MS = 60_000;
/** How long an unanswered probe keeps frames waiting before they are dropped (ms). */
export const PROBE_MS = 1_000;
/** Probes to an unresolved neighbour are sent at most this often (ms). */
export const PROBE_INTERVAL_MS = 1_000;
export const QUEUE_PER_NEIGH = 4;

/** Bytes kept in front of each queued frame (its vnet header, vnet.ts); as Tx's GEN_PRE. */
const QPRE = 16;

export class NeighTable {
  readonly size: number;
  readonly ip: Int32Array; // int32 addresses
  readonly state: Uint8Array;
  readonly mac: Uint8Array;
  /** ms timestamps: when the MAC was confirmed, when we last probed, and when the first probe
   *  since that confirmation went out (the unanswered run of probes a stale entry fails by). */
  readonly confirmed: Float64Array;
  readonly probed: Float64Array;
  readonly probeStart: Float64Array;
  private readonly mask: number;

  // Waiting frames: a fixed pool of slots, each tagged with its neighbour; a frame sits at
  // qoff(slot), with room for its vnet header in front.
  readonly qbuf: Buffer;
  readonly qstride: number;
  readonly qlen: Uint32Array;
  readonly qowner: Int32Array;
  readonly qtime: Float64Array;
  readonly queued: Uint8Array; // per neighbour

  constructor(size = 1024, queueSlots = 256, stride = 2048) {
    this.size = size;
    this.mask = size - 1;
    if ((size & this.mask) !== 0) throw new RangeError('neighbour table size must be a power of two');
    this.ip = new Int32Array(size);
    this.state = new Uint8Array(size);
    this.mac = new Uint8Array(size * 6);
    this.confirmed = new Float64Array(size);
    this.probed = new Float64Array(size);
    this.probeStart = new Float64Array(size);
    this.qbuf = Buffer.alloc(queueSlots * stride);
    this.qstride = stride;
    this.qlen = new Uint32Array(queueSlots);
    this.qowner = new Int32Array(queueSlots).fill(-1);
    this.qtime = new Float64Array(queueSlots);
    this.queued = new Uint8Array(size);
  }

  private home(ip: number): number {
    return Math.imul(ip, 0x9e3779b1) & this.mask;
  }

  find(ip: number): number {
    let i = this.home(ip);
    for (let k = 0; k < this.size; k++) {
      const st = this.state[i];
      if (st === N_FREE) return -1;
      if (this.ip[i] === (ip | 0)) return i;
      i = (i + 1) & this.mask;
    }
    return -1;
  }

  /** Find or create the entry for ip (created INCOMPLETE); -1 when the table is full. */
  obtain(ip: number): number {
    let i = this.home(ip);
    for (let k = 0; k < this.size; k++) {
      if (this.state[i] === N_FREE) {
        this.ip[i] = ip | 0;
        this.state[i] = N_INCOMPLETE;
        this.confirmed[i] = 0;
        this.probed[i] = -Infinity;
        this.probeStart[i] = -Infinity;
        return i;
      }
      if (this.ip[i] === (ip | 0)) return i;
      i = (i + 1) & this.mask;
    }
    return -1;
  }

  /** Record a MAC seen for ip (ARP reply or request from it). */
  learn(n: number, src: Uint8Array, off: number, now: number): void {
    copyMac(this.mac, n * 6, src, off);
    this.state[n] = N_REACHABLE;
    this.confirmed[n] = now;
  }

  /** True when n is resolved and its MAC equals the one at src[off]. */
  sameMac(n: number, src: Uint8Array, off: number): boolean {
    if (this.state[n] !== N_REACHABLE) return false;
    const m = this.mac;
    const o = n * 6;
    return m[o] === src[off] && m[o + 1] === src[off + 1] && m[o + 2] === src[off + 2] &&
      m[o + 3] === src[off + 3] && m[o + 4] === src[off + 4] && m[o + 5] === src[off + 5];
  }

  /** True when the MAC can be used now. */
  usable(n: number): boolean {
    return this.state[n] === N_REACHABLE;
  }

  /** A reachable entry past its confirmation age wants a fresh probe (it stays usable meanwhile). */
  stale(n: number, now: number): boolean {
    return now - this.confirmed[n] > REACHABLE_MS;
  }

  /** A probe goes out now (Link.probe): the first since the last confirmation starts the run. */
  probing(n: number, now: number): void {
    this.probed[n] = now;
    if (this.probeStart[n] <= this.confirmed[n]) this.probeStart[n] = now;
  }

  /**
   * A stale entry whose probes went unanswered for 3 × PROBE_MS falls back to INCOMPLETE. One
   * nobody used is kept, as Linux keeps a STALE entry: a stale entry is probed when a frame uses
   * it (and the frame goes with the old MAC), so a real server that stayed quiet for minutes is
   * not re-resolved with its first burst queued (4 frames) and the rest dropped.
   */
  expire(n: number, now: number): void {
    if (this.state[n] === N_REACHABLE && this.probeStart[n] > this.confirmed[n] && now - this.probeStart[n] > 3 * PROBE_MS) {
      this.state[n] = N_INCOMPLETE;
    }
  }

  /** Where the frame of queue slot s starts in qbuf (QPRE bytes in front keep its vnet header). */
  qoff(s: number): number {
    return s * this.qstride + QPRE;
  }

  /** Queue a frame for neighbour n, with the `pre` bytes in front of it (its vnet header); false
   *  when its queue or the pool is full, or the frame does not fit a slot (a GSO frame). */
  enqueue(n: number, buf: Buffer, off: number, len: number, now: number, pre = 0): boolean {
    if (this.queued[n] >= QUEUE_PER_NEIGH || len + QPRE > this.qstride) return false;
    for (let s = 0; s < this.qowner.length; s++) {
      if (this.qowner[s] < 0) {
        buf.copy(this.qbuf, this.qoff(s) - pre, off - pre, off + len);
        this.qlen[s] = len;
        this.qowner[s] = n;
        this.qtime[s] = now;
        this.queued[n]++;
        return true;
      }
    }
    return false;
  }

  /** Release a queue slot (after sending or dropping it). */
  release(s: number): void {
    const n = this.qowner[s];
    if (n >= 0) this.queued[n]--;
    this.qowner[s] = -1;
  }
}
