// IP fragments of load-balanced datagrams: the first fragment (offset 0) carries the ports and is
// looked up / scheduled like any packet; its decision (the connection node: entry and direction)
// is remembered here under (src, dst, proto, IP ID), and later fragments of the datagram follow
// it without an L4 header. No reassembly: fragments are forwarded one by one, rewritten at L3
// only (NAT/FULLNAT rewrite the L4 header in the first fragment; the L4 checksum covers the
// whole datagram and its incremental update holds). Fragments arriving before their first are
// dropped (counted). Bounded: a fixed direct-mapped table; a live slot is never overwritten
// before it expires (FRAG_TTL_TICKS), a datagram that finds its slot taken is counted and dropped.

const SLOTS = 4096;
/** How long a first fragment's decision is kept, in ticks of 250 ms (2 s). */
export const FRAG_TTL_TICKS = 8;

export class FragTable {
  private readonly src = new Int32Array(SLOTS);
  private readonly dst = new Int32Array(SLOTS);
  /** (proto << 16) | id, or -1 for an empty slot. */
  private readonly key = new Int32Array(SLOTS).fill(-1);
  private readonly node = new Int32Array(SLOTS);
  private readonly expires = new Uint32Array(SLOTS);

  private slot(src: number, dst: number, proto: number, id: number): number {
    let h = Math.imul(src ^ 0x2545f491, 0x9e3779b1);
    h = Math.imul(h ^ (h >>> 15) ^ dst, 0x85ebca77);
    h = Math.imul(h ^ (h >>> 13) ^ ((proto << 16) | id), 0xc2b2ae3d);
    return (h ^ (h >>> 16)) & (SLOTS - 1);
  }

  /** Remember the decision for a datagram's later fragments; false when its slot is busy. */
  remember(src: number, dst: number, proto: number, id: number, node: number, now: number): boolean {
    const s = this.slot(src, dst, proto, id);
    const k = (proto << 16) | id;
    const same = this.key[s] === k && this.src[s] === src && this.dst[s] === dst;
    if (this.key[s] !== -1 && !same && this.expires[s] > now) return false;
    this.src[s] = src;
    this.dst[s] = dst;
    this.key[s] = k;
    this.node[s] = node;
    this.expires[s] = now + FRAG_TTL_TICKS;
    return true;
  }

  /** The connection node of a later fragment's datagram, or -1. */
  find(src: number, dst: number, proto: number, id: number, now: number): number {
    const s = this.slot(src, dst, proto, id);
    if (this.key[s] !== ((proto << 16) | id) || this.src[s] !== src || this.dst[s] !== dst || this.expires[s] <= now) return -1;
    return this.node[s];
  }
}
