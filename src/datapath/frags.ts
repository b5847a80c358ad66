// IP fragments of load-balanced datagrams: the first fragment (offset 0) carries the ports and is
// looked up / scheduled like any packet; its decision (the connection node: entry and direction)
// is remembered here under (src, dst, proto, IP ID), and later fragments of the datagram follow
// it without an L4 header. No reassembly: fragments are forwarded one by one, rewritten at L3
// only (NAT/FULLNAT rewrite the L4 header in the first fragment; the L4 checksum covers the
// whole datagram and its incremental update holds). Fragments arriving before their first are
// dropped (counted). Bounded: a fixed table, each datagram in one of PROBES slots from its hash
// (a direct-mapped table dropped a datagram whenever two live ones shared a slot: with 40 in the
// 2 s window, about once in five such windows; seen in integration-nat.test.ts). A live slot is
// never overwritten before it expires (FRAG_TTL_TICKS); a datagram that finds all its slots
// taken is counted and dropped. Each slot also keeps a fingerprint of the connection the first
// fragment found (its client address and ports): a connection slot freed and taken by another flow
// before a later fragment comes (one-packet scheduling frees it at once) is not followed.
//
// A datagram that has passed whole gives its slot back at once (as the kernel's defrag frees a
// queue when the datagram completes), so only incomplete datagrams hold slots for the 2 s: each
// slot tracks the data that passed as a run from offset 0 (`next`) plus one run beyond a gap
// (fragments after the first may come out of order: the last one before a middle one), and the
// total length the last fragment (MF clear) gives. Freeing on the last fragment alone would turn
// a middle fragment coming after it into frag_no_first; counting bytes would let a duplicate
// fragment stand for a missing one. A second disjoint run is not tracked: that datagram keeps its
// slot until it expires, as every datagram did before. And one source holds at most SRC_SLOTS
// incomplete datagrams at once (by a hash of its address into SRC_BUCKETS): a sender of first
// fragments that never complete cannot take the whole table from everyone else.

const SLOTS = 4096;

/** A connection's fingerprint for the fragment table: its client address and ports, as int32. */
export function flowPrint(caddr: number, cport: number, vport: number): number {
  return (caddr ^ ((cport << 16) | vport)) | 0;
}
/** Slots a datagram may take, from its hash on (wrapping). */
const PROBES = 8;
/** How long a first fragment's decision is kept, in ticks of 250 ms (2 s). */
export const FRAG_TTL_TICKS = 8;
/** Incomplete datagrams one source (one bucket of source addresses) may hold at once. */
export const SRC_SLOTS = 512;
const SRC_BUCKETS = 256;

export class FragTable {
  private readonly src = new Int32Array(SLOTS);
  private readonly dst = new Int32Array(SLOTS);
  /** (proto << 16) | id, or -1 for an empty slot. */
  private readonly key = new Int32Array(SLOTS).fill(-1);
  private readonly node = new Int32Array(SLOTS);
  private readonly flow = new Int32Array(SLOTS);
  private readonly expires = new Uint32Array(SLOTS);
  /** Data passed: [0, next) whole, and [runStart, runEnd) beyond a gap (runEnd 0: none). */
  private readonly next = new Int32Array(SLOTS);
  private readonly runStart = new Int32Array(SLOTS);
  private readonly runEnd = new Int32Array(SLOTS);
  /** The datagram's data length, from its last fragment (0 until that came). */
  private readonly total = new Int32Array(SLOTS);
  /** Per source bucket: slots held; the latest expiry among them; slots expiring at or before
   *  `base` are no longer counted (the bucket's count was reset once all had expired). */
  private readonly held = new Int32Array(SRC_BUCKETS);
  private readonly until = new Uint32Array(SRC_BUCKETS);
  private readonly base = new Uint32Array(SRC_BUCKETS);
  /** The fingerprint remembered with the node the last find() returned. */
  foundFlow = 0;
  /** The slot the last find() found. */
  private found = -1;

  private slot(src: number, dst: number, proto: number, id: number): number {
    let h = Math.imul(src ^ 0x2545f491, 0x9e3779b1);
    h = Math.imul(h ^ (h >>> 15) ^ dst, 0x85ebca77);
    h = Math.imul(h ^ (h >>> 13) ^ ((proto << 16) | id), 0xc2b2ae3d);
    return (h ^ (h >>> 16)) & (SLOTS - 1);
  }

  private bucket(src: number): number {
    return Math.imul(src, 0x9e3779b1) >>> 24;
  }

  /** Slot s given back: empty, and no longer counted for its source. */
  private release(s: number): void {
    const b = this.bucket(this.src[s]);
    if (this.expires[s] > this.base[b] && this.held[b] > 0) this.held[b]--;
    this.key[s] = -1;
  }

  /** Remember the decision for a datagram's later fragments (node, and `flow`: flowPrint of its
   *  connection; `end`: the first fragment's data length); false when all its slots are busy or
   *  its source holds SRC_SLOTS incomplete datagrams. */
  remember(src: number, dst: number, proto: number, id: number, node: number, flow: number, end: number, now: number): boolean {
    const h = this.slot(src, dst, proto, id);
    const k = (proto << 16) | id;
    const b = this.bucket(src);
    let free = -1;
    for (let i = 0; i < PROBES; i++) {
      const s = (h + i) & (SLOTS - 1);
      if (this.key[s] === k && this.src[s] === src && this.dst[s] === dst && this.expires[s] > now) {
        // The same datagram again (a duplicate first fragment): its own slot, counted already.
        this.node[s] = node;
        this.flow[s] = flow;
        this.expires[s] = now + FRAG_TTL_TICKS;
        this.until[b] = now + FRAG_TTL_TICKS;
        if (this.next[s] < end) this.next[s] = end;
        return true;
      }
      if (free < 0 && (this.key[s] === -1 || this.expires[s] <= now)) free = s;
    }
    if (free < 0) return false;
    if (now >= this.until[b]) {
      // Every slot this bucket counted has expired.
      this.base[b] = this.until[b];
      this.held[b] = 0;
    }
    if (this.held[b] >= SRC_SLOTS) return false;
    if (this.key[free] !== -1) this.release(free);
    this.held[b]++;
    this.until[b] = now + FRAG_TTL_TICKS;
    this.src[free] = src;
    this.dst[free] = dst;
    this.key[free] = k;
    this.node[free] = node;
    this.flow[free] = flow;
    this.expires[free] = now + FRAG_TTL_TICKS;
    this.next[free] = end;
    this.runEnd[free] = 0;
    this.total[free] = 0;
    return true;
  }

  /** The connection node of a later fragment's datagram, or -1. */
  find(src: number, dst: number, proto: number, id: number, now: number): number {
    const h = this.slot(src, dst, proto, id);
    const k = (proto << 16) | id;
    for (let i = 0; i < PROBES; i++) {
      const s = (h + i) & (SLOTS - 1);
      if (this.key[s] === k && this.src[s] === src && this.dst[s] === dst && this.expires[s] > now) {
        this.foundFlow = this.flow[s];
        this.found = s;
        return this.node[s];
      }
    }
    return -1;
  }

  /** Data [start, end) of the datagram find() last found passed (`last`: its MF was clear); the
   *  slot is given back once all of [0, total) has. */
  passed(start: number, end: number, last: boolean): void {
    const s = this.found;
    if (last && this.total[s] === 0) this.total[s] = end;
    if (start <= this.next[s]) {
      if (end > this.next[s]) this.next[s] = end;
      if (this.runEnd[s] !== 0 && this.runStart[s] <= this.next[s]) {
        if (this.runEnd[s] > this.next[s]) this.next[s] = this.runEnd[s];
        this.runEnd[s] = 0;
      }
    } else if (this.runEnd[s] === 0) {
      this.runStart[s] = start;
      this.runEnd[s] = end;
    } else if (start <= this.runEnd[s] && end >= this.runStart[s]) {
      if (start < this.runStart[s]) this.runStart[s] = start;
      if (end > this.runEnd[s]) this.runEnd[s] = end;
    }
    if (this.total[s] !== 0 && this.next[s] >= this.total[s]) this.release(s);
  }
}
