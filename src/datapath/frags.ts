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

const SLOTS = 4096;

/** A connection's fingerprint for the fragment table: its client address and ports, as int32. */
export function flowPrint(caddr: number, cport: number, vport: number): number {
  return (caddr ^ ((cport << 16) | vport)) | 0;
}
/** Slots a datagram may take, from its hash on (wrapping). */
const PROBES = 8;
/** How long a first fragment's decision is kept, in ticks of 250 ms (2 s). */
export const FRAG_TTL_TICKS = 8;

export class FragTable {
  private readonly src = new Int32Array(SLOTS);
  private readonly dst = new Int32Array(SLOTS);
  /** (proto << 16) | id, or -1 for an empty slot. */
  private readonly key = new Int32Array(SLOTS).fill(-1);
  private readonly node = new Int32Array(SLOTS);
  private readonly flow = new Int32Array(SLOTS);
  private readonly expires = new Uint32Array(SLOTS);
  /** The fingerprint remembered with the node the last find() returned. */
  foundFlow = 0;

  private slot(src: number, dst: number, proto: number, id: number): number {
    let h = Math.imul(src ^ 0x2545f491, 0x9e3779b1);
    h = Math.imul(h ^ (h >>> 15) ^ dst, 0x85ebca77);
    h = Math.imul(h ^ (h >>> 13) ^ ((proto << 16) | id), 0xc2b2ae3d);
    return (h ^ (h >>> 16)) & (SLOTS - 1);
  }

  /** Remember the decision for a datagram's later fragments (node, and `flow`: flowPrint of its
   *  connection); false when all its slots are busy. */
  remember(src: number, dst: number, proto: number, id: number, node: number, flow: number, now: number): boolean {
    const h = this.slot(src, dst, proto, id);
    const k = (proto << 16) | id;
    let free = -1;
    for (let i = 0; i < PROBES; i++) {
      const s = (h + i) & (SLOTS - 1);
      if (this.key[s] === k && this.src[s] === src && this.dst[s] === dst) {
        free = s; // the same datagram again (a duplicate first fragment): its own slot
        break;
      }
      if (free < 0 && (this.key[s] === -1 || this.expires[s] <= now)) free = s;
    }
    if (free < 0) return false;
    this.src[free] = src;
    this.dst[free] = dst;
    this.key[free] = k;
    this.node[free] = node;
    this.flow[free] = flow;
    this.expires[free] = now + FRAG_TTL_TICKS;
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
        return this.node[s];
      }
    }
    return -1;
  }
}
