// Neighbour (ARP) table: IPv4 → MAC for next hops on the TAP's link, with expiry, garbage
// collection and a small bounded queue of frames waiting for resolution. Typed arrays, a chained
// hash over a free list of entries, no allocation after construction.
//
// Entries are reclaimed as the kernel's neighbour GC reclaims them (docs/resilience.md, "The
// neighbour table"): an entry a real server or the gateway needs is *pinned* and never taken;
// any other is freed by the periodic sweep once it failed (probes unanswered 3 s) or went unused
// for GC_STALE_MS, and on a full table a new one takes an old unpinned one (reclaim).

import { copyMac } from './frame.js';
import { C, Counters, D } from './counters.js';
import { U32PairMap } from './lookup.js';
import { NEIGH_MAX_DEFAULT, NEIGH_MAX_LIMIT } from '../defaults.js';

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

/** uvsd --neigh-max: the default and the bounds (src/defaults.ts: uvsd's command line reads them without the datapath). */
export { NEIGH_MAX_DEFAULT, NEIGH_MAX_MIN, NEIGH_MAX_LIMIT } from '../defaults.js';
/** An unpinned entry unused this long is freed by the sweep (the kernel's gc_staletime). */
export const GC_STALE_MS = 60_000;
/** On a full table an unpinned, resolved entry unused this long may be taken for a new one (the
 *  kernel's forced GC takes entries not updated for 5 s). */
export const GC_FORCED_MS = 5_000;
/** Unpinned entries looked at for one to take when the table is full. */
export const EVICT_SAMPLE = 64;
/** Entries the periodic sweep (tick) looks at per call. */
export const GC_SWEEP = 16_384;

/** One entry as `uvsadm --neigh` lists it (NeighTable.rows). */
export interface NeighRow {
  addr: number;
  /** null while unresolved. */
  mac: Uint8Array | null;
  /** REACHABLE; STALE (confirmed over REACHABLE_MS ago: re-probed at its next use); INCOMPLETE
   *  (probing); FAILED (probes unanswered 3 s). */
  state: 'REACHABLE' | 'STALE' | 'INCOMPLETE' | 'FAILED';
  /** ms since the MAC was confirmed (-1: never), and since a frame last went to it. */
  confirmedMs: number;
  usedMs: number;
  /** Real servers and the gateway that need it (pinned while > 0). */
  pins: number;
}

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
  /** When a frame last went to (or waited for) the entry, or it was made (ms). */
  readonly used: Float64Array;
  /** 1: a real server or the gateway needs it (pin()): never reclaimed. */
  readonly pinned: Uint8Array;
  /** Entries in use. */
  count = 0;
  /** The last address refused an entry (FaultWatch names it). */
  lastRefused = 0;
  /** The last address whose waiting frames were dropped unanswered (neigh_unresolved), and
   *  whether a real server or the gateway pinned it: FaultWatch names it. */
  lastUnresolved = 0;
  lastUnresolvedPinned = 0;
  /** The datapath's counters (neigh_reclaimed, neigh_refused; waiting frames dropped: neigh_unresolved). */
  private readonly counters: Counters;
  /** Chains: bucket → first entry, entry → next (free entries: the free list). */
  private readonly buckets: Int32Array;
  private readonly next: Int32Array;
  private readonly shift: number;
  private readonly seed: number;
  private freeHead = 0;
  /** The unpinned entries in use, a ring (lnext/lprev) whose head is the reclaim's clock hand:
   *  reclaim() looks at these only, so a table full of pinned entries costs it nothing to walk
   *  (before, it went over the whole table for a pinned address: 2–3 ms at 16,384). -1: none. */
  private readonly lnext: Int32Array;
  private readonly lprev: Int32Array;
  private looseHead = -1;
  /** Where reclaimFailedPin's last look ended (an index of the table). */
  private pinHand = 0;
  /** Where the sweep goes on from. */
  private sweep = 0;
  /** Real servers' and the gateway's addresses → users (pin/unpin); key b is 0. */
  private readonly pins = new U32PairMap();

  // Waiting frames: a fixed pool of slots, each tagged with its neighbour; a frame sits at
  // qoff(slot), with room for its vnet header in front.
  readonly qbuf: Buffer;
  readonly qstride: number;
  readonly qlen: Uint32Array;
  readonly qowner: Int32Array;
  readonly qtime: Float64Array;
  readonly queued: Uint8Array; // per neighbour

  constructor(size = NEIGH_MAX_DEFAULT, counters = new Counters(), queueSlots = 256, stride = 2048, seed = (Math.random() * 0x100000000) | 0) {
    this.counters = counters;
    if (!Number.isInteger(size) || size < 1 || size > NEIGH_MAX_LIMIT) throw new RangeError(`neighbour table size must be 1..${NEIGH_MAX_LIMIT}, got ${size}`);
    this.size = size;
    let nb = 1;
    while (nb < size) nb *= 2;
    this.shift = 32 - Math.log2(nb);
    this.seed = seed;
    this.buckets = new Int32Array(nb).fill(-1);
    this.next = new Int32Array(size);
    for (let i = 0; i < size; i++) this.next[i] = i + 1 < size ? i + 1 : -1;
    this.ip = new Int32Array(size);
    this.state = new Uint8Array(size);
    this.mac = new Uint8Array(size * 6);
    this.confirmed = new Float64Array(size);
    this.probed = new Float64Array(size);
    this.probeStart = new Float64Array(size);
    this.used = new Float64Array(size);
    this.pinned = new Uint8Array(size);
    this.lnext = new Int32Array(size);
    this.lprev = new Int32Array(size);
    this.qbuf = Buffer.alloc(queueSlots * stride);
    this.qstride = stride;
    this.qlen = new Uint32Array(queueSlots);
    this.qowner = new Int32Array(queueSlots).fill(-1);
    this.qtime = new Float64Array(queueSlots);
    this.queued = new Uint8Array(size);
  }

  private home(ip: number): number {
    // The shift of a 32-bit product is 32 for a table of one bucket: >>> 32 would not clear it.
    return this.shift >= 32 ? 0 : Math.imul(ip ^ this.seed, 0x9e3779b1) >>> this.shift;
  }

  find(ip: number): number {
    for (let i = this.buckets[this.home(ip)]; i >= 0; i = this.next[i]) if (this.ip[i] === (ip | 0)) return i;
    return -1;
  }

  /**
   * Find or create the entry for ip (created INCOMPLETE). On a full table an entry is reclaimed
   * for it (reclaim); -1 when none may go (counted: neigh_refused).
   */
  obtain(ip: number, now: number): number {
    const f = this.find(ip);
    if (f >= 0) return f;
    const pinned = this.pins.get(ip, 0) > 0;
    if (this.freeHead < 0 && !this.reclaim(now, pinned) && !(pinned && this.reclaimFailedPin(now))) {
      this.counters.c[C.neigh_refused]++;
      this.lastRefused = ip | 0;
      return -1;
    }
    const i = this.freeHead;
    this.freeHead = this.next[i];
    const h = this.home(ip);
    this.next[i] = this.buckets[h];
    this.buckets[h] = i;
    this.ip[i] = ip | 0;
    this.state[i] = N_INCOMPLETE;
    this.confirmed[i] = 0;
    this.probed[i] = -Infinity;
    this.probeStart[i] = now; // failed() counts from here until the first probe goes out
    this.used[i] = now;
    this.pinned[i] = pinned ? 1 : 0;
    if (!pinned) this.loosen(i);
    this.count++;
    return i;
  }

  /** Entry n (in use, unpinned) joins the ring of unpinned entries, behind the hand (the last to be looked at). */
  private loosen(n: number): void {
    const h = this.looseHead;
    if (h < 0) {
      this.lnext[n] = n;
      this.lprev[n] = n;
      this.looseHead = n;
      return;
    }
    const t = this.lprev[h];
    this.lnext[t] = n;
    this.lprev[n] = t;
    this.lnext[n] = h;
    this.lprev[h] = n;
  }

  /** Entry n leaves the ring of unpinned entries (pinned, or freed). */
  private tighten(n: number): void {
    const nx = this.lnext[n];
    if (nx === n) {
      this.looseHead = -1;
      return;
    }
    const pv = this.lprev[n];
    this.lnext[pv] = nx;
    this.lprev[nx] = pv;
    if (this.looseHead === n) this.looseHead = nx;
  }

  /** A real server or the gateway at ip: its entry is never reclaimed while it has a user. */
  pin(ip: number): void {
    const k = this.pins.get(ip, 0);
    this.pins.set(ip, 0, k < 0 ? 1 : k + 1);
    const n = this.find(ip);
    if (n >= 0 && this.pinned[n] === 0) {
      this.tighten(n);
      this.pinned[n] = 1;
    }
  }

  /** One user of ip fewer; its entry is reclaimable with the last. */
  unpin(ip: number): void {
    const k = this.pins.get(ip, 0);
    if (k > 1) {
      this.pins.set(ip, 0, k - 1);
      return;
    }
    if (k === 1) this.pins.delete(ip, 0);
    const n = this.find(ip);
    if (n >= 0 && this.pinned[n] !== 0) {
      this.pinned[n] = 0;
      this.loosen(n);
    }
  }

  /** One piece of room for `servers` pinned addresses (U32PairMap.reserve); whether it did something. */
  reserve(servers: number): boolean {
    return this.pins.reserve(servers);
  }

  /** Whether `servers` pinned addresses fit without the pins' table growing. */
  fits(servers: number): boolean {
    return this.pins.fits(servers);
  }

  /** The timer's share of the pins' move into a larger table (U32PairMap.settle). */
  settle(): void {
    this.pins.settle();
  }

  /** Users of ip's entry (pin()): real servers and the gateway. */
  users(ip: number): number {
    return Math.max(0, this.pins.get(ip, 0));
  }

  /** An unresolved entry whose probes went unanswered for 3 × PROBE_MS (the kernel's FAILED). */
  failed(n: number, now: number): boolean {
    return this.state[n] === N_INCOMPLETE && now - this.probeStart[n] > 3 * PROBE_MS;
  }

  /**
   * Free an entry for a new one on a full table, going round the unpinned entries (a ring, in the
   * order they became unpinned) from the entry after the last one taken or looked at, so roughly
   * the oldest first; pinned entries are not in the ring, so never looked at nor taken. Of
   * EVICT_SAMPLE entries: the first unresolved one without frames waiting (failed, or its probe
   * unanswered so far), else the first resolved one unused for GC_FORCED_MS (for a pinned address
   * any resolved one), else the first unresolved one with frames waiting (they are dropped). So a
   * pinned address gets an entry whenever an unpinned one exists, and no call looks at more than
   * EVICT_SAMPLE entries.
   */
  private reclaim(now: number, pinned: boolean): boolean {
    let i = this.looseHead;
    if (i < 0) return false;
    let take = -1;
    let idle = -1;
    let waiting = -1;
    let last = i;
    for (let k = 0; k < EVICT_SAMPLE; k++) {
      last = i;
      if (this.state[i] === N_INCOMPLETE) {
        if (this.queued[i] === 0) {
          take = i;
          break;
        }
        if (waiting < 0) waiting = i;
      } else if (idle < 0 && (pinned || now - this.used[i] > GC_FORCED_MS)) {
        idle = i;
      }
      i = this.lnext[i];
      if (i === this.looseHead) break; // went all the way round
    }
    if (take < 0) take = idle >= 0 ? idle : waiting;
    // The hand goes on after the one taken (else after the last looked at): the ones passed over
    // before it wait a whole round, the ones after it are looked at again next time.
    this.looseHead = this.lnext[take >= 0 ? take : last];
    if (take < 0) return false;
    this.free(take);
    this.counters.c[C.neigh_reclaimed]++;
    return true;
  }

  /**
   * A full table of pinned entries, a real server or the gateway asking for one: free a pinned
   * entry that *failed* (its probes unanswered 3 s: a real server that is down or gone; frames
   * waiting there are dropped, neigh_unresolved), looking at EVICT_SAMPLE entries at most from
   * where the last look ended. Its server gets an entry again when it is next sent to and one
   * can go. Before 2026-12-07 dead real servers held their entries for good, and servers added
   * after them were refused every entry (their frames dropped, neigh_table_full), though they answered.
   */
  private reclaimFailedPin(now: number): boolean {
    const size = this.pinned.length;
    let i = this.pinHand;
    for (let k = 0; k < EVICT_SAMPLE; k++) {
      i = i + 1 < size ? i + 1 : 0;
      if (this.pinned[i] !== 0 && this.failed(i, now)) {
        this.pinHand = i;
        this.free(i);
        this.counters.c[C.neigh_reclaimed]++;
        return true;
      }
    }
    this.pinHand = i;
    return false;
  }

  /** Entry n's frames were dropped waiting for its MAC (counted by the caller: neigh_unresolved). */
  noteUnresolved(n: number): void {
    this.lastUnresolved = this.ip[n];
    this.lastUnresolvedPinned = this.pinned[n];
  }

  /** Take entry n out of its chain onto the free list (its waiting frames are released). */
  free(n: number): void {
    if (this.state[n] === N_FREE) return;
    if (this.queued[n] !== 0) {
      for (let s = 0; s < this.qowner.length; s++) {
        if (this.qowner[s] === n) {
          this.release(s);
          this.counters.d[D.neigh_unresolved]++;
          this.noteUnresolved(n);
        }
      }
    }
    if (this.pinned[n] === 0) this.tighten(n);
    const h = this.home(this.ip[n]);
    let p = this.buckets[h];
    if (p === n) {
      this.buckets[h] = this.next[n];
    } else {
      while (this.next[p] !== n) p = this.next[p];
      this.next[p] = this.next[n];
    }
    this.state[n] = N_FREE;
    this.pinned[n] = 0;
    this.next[n] = this.freeHead;
    this.freeHead = n;
    this.count--;
  }

  /**
   * The periodic sweep (Link.tick), GC_SWEEP entries per call: expire, and free the unpinned
   * entries without waiting frames that failed or went unused for GC_STALE_MS.
   */
  gc(now: number): void {
    const size = this.size;
    let i = this.sweep;
    for (let k = Math.min(GC_SWEEP, size); k > 0; k--) {
      if (this.state[i] !== N_FREE) {
        this.expire(i, now);
        if (this.pinned[i] === 0 && this.queued[i] === 0 && (this.failed(i, now) || now - this.used[i] > GC_STALE_MS)) {
          this.free(i);
          this.counters.c[C.neigh_reclaimed]++;
        }
      }
      i = i + 1 === size ? 0 : i + 1;
    }
    this.sweep = i;
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

  /** Entries still waiting for an ARP reply (uvs_neigh_unresolved): a walk of the states, control time. */
  unresolved(): number {
    let n = 0;
    for (let i = 0; i < this.state.length; i++) if (this.state[i] === N_INCOMPLETE) n++;
    return n;
  }

  /** The entries in use (uvsadm --neigh; the control path, not the packet path). */
  rows(now: number): NeighRow[] {
    const rows: NeighRow[] = [];
    for (let n = 0; n < this.size; n++) {
      const st = this.state[n];
      if (st === N_FREE) continue;
      const ip = this.ip[n];
      rows.push({
        addr: ip,
        mac: st === N_REACHABLE ? this.mac.slice(n * 6, n * 6 + 6) : null,
        state: st === N_REACHABLE ? (this.stale(n, now) ? 'STALE' : 'REACHABLE') : this.failed(n, now) ? 'FAILED' : 'INCOMPLETE',
        confirmedMs: st === N_REACHABLE ? now - this.confirmed[n] : -1,
        usedMs: now - this.used[n],
        pins: this.users(ip),
      });
    }
    return rows;
  }

  /** Free ip's entry (uvsadm --neigh-flush ADDR); false when there is none. */
  flush(ip: number): boolean {
    const n = this.find(ip);
    if (n >= 0) this.free(n);
    return n >= 0;
  }

  /** Free every entry (uvsadm --neigh-flush); how many there were. */
  flushAll(): number {
    const had = this.count;
    for (let n = 0; n < this.size; n++) this.free(n);
    return had;
  }
}
