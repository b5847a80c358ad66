// uvs-decap's reassembly of outer fragments: a router between the director and the server with
// a smaller MTU fragments a tunnelled packet without DF (the outer header carries the client's
// DF, so this is traffic that does no path MTU discovery: UDP datagrams, fragments the director
// cut). The kernel would reassemble before its ipip/gre/fou handler; the helper reads frames off
// an AF_PACKET socket, before any reassembly, so it does it here: a fixed table of SLOTS
// datagrams (preallocated, 64 KB each), keyed like the kernel's (source, destination, protocol,
// IP ID), a datagram given up TIMEOUT_MS after its first fragment arrived, the oldest one taken
// over when the table is full. As Linux's ip_frag_queue since 4.19: a fragment that partly
// overlaps data already queued drops the datagram (reasm_overlaps), one entirely inside it (the
// same fragment twice) is dropped alone; a fragment past the end a last fragment gave, or a last
// fragment ending before data already received, drops the datagram (reasm_bad). So the pieces
// queued are disjoint and inside [0, total): their byte count reaches total only when no byte is
// missing (a piece past the end could otherwise make up the count for a hole, and the datagram
// would go out with the hole holding the slot's bytes of an earlier one). Offsets and typed
// arrays only: no allocation per fragment.
import { ETH_HLEN, ETH_TYPE, ETHERTYPE_IPV4, IP_DST, IP_FRAG, IP_ID, IP_PROTO, IP_SRC, IP_TOTLEN, ipv4SetChecksum, rd16, rd32, wr16 } from '../datapath/frame.js';

/** Datagrams under reassembly at once. */
export const REASM_SLOTS = 32;
/** A datagram still incomplete this long after its first fragment is given up. */
export const REASM_TIMEOUT_MS = 5000;
/** Per slot: room for an Ethernet header, the longest IPv4 header and 65,535 bytes of data. */
const HEAD = ETH_HLEN + 60;
const SLOT_BYTES = HEAD + 65536;
/** Coverage bitmap: one bit per 8-byte fragment unit. */
const UNITS = 65536 / 8;

/** Counter slots of OuterReassembly.counts. */
export const REASM_DONE = 0;
export const REASM_TIMEOUTS = 1;
export const REASM_EVICTED = 2;
export const REASM_OVERLAPS = 3;
export const REASM_BAD = 4;
export const REASM_COUNTERS = ['reassembled', 'reasm_timeouts', 'reasm_evicted', 'reasm_overlaps', 'reasm_bad'] as const;

export class OuterReassembly {
  /** The slots; a completed datagram is a whole frame in here (see add). */
  readonly buf = Buffer.alloc(REASM_SLOTS * SLOT_BYTES);
  /** Length of the frame add() last completed. */
  doneLen = 0;
  /** reassembled, timed out, evicted (taken over, unexpired), dropped for overlaps, refused as
   *  malformed or beyond the datagram's end. */
  readonly counts = new Float64Array(REASM_COUNTERS.length);
  private readonly used = new Uint8Array(REASM_SLOTS);
  private readonly src = new Int32Array(REASM_SLOTS);
  private readonly dst = new Int32Array(REASM_SLOTS);
  /** proto << 16 | IP ID */
  private readonly pid = new Int32Array(REASM_SLOTS);
  private readonly started = new Float64Array(REASM_SLOTS);
  /** Data bytes received, the furthest end received, data length (0 until the last fragment
   *  came), header length (0 until the first came). */
  private readonly got = new Int32Array(REASM_SLOTS);
  private readonly far = new Int32Array(REASM_SLOTS);
  private readonly total = new Int32Array(REASM_SLOTS);
  private readonly hlen = new Int32Array(REASM_SLOTS);
  private readonly seen = new Uint8Array(REASM_SLOTS * (UNITS / 8));

  /**
   * The IPv4 fragment in the frame at buf[off, off+len) (MF set or an offset: the caller checked).
   * Returns the offset in this.buf of the whole datagram as an Ethernet frame (length doneLen:
   * this fragment's Ethernet header, the first fragment's IP header with total length, fragment
   * field and checksum set whole, the data) when this fragment completed it, else -1. The frame
   * stays valid until the next call.
   */
  add(buf: Buffer, off: number, len: number, now: number): number {
    const ip = off + ETH_HLEN;
    const ihl = (buf[ip] & 15) * 4;
    const tot = rd16(buf, ip + IP_TOTLEN);
    const frag = rd16(buf, ip + IP_FRAG);
    const start = (frag & 0x1fff) * 8;
    const size = tot - ihl;
    const more = (frag & 0x2000) !== 0;
    const end = start + size;
    if (buf[ip] >>> 4 !== 4 || ihl < 20 || tot > len - ETH_HLEN || size <= 0 || (more && (size & 7) !== 0) || end > 65535 - ihl) {
      this.counts[REASM_BAD]++;
      return -1;
    }
    const s = this.slotFor(rd32(buf, ip + IP_SRC), rd32(buf, ip + IP_DST), (buf[ip + IP_PROTO] << 16) | rd16(buf, ip + IP_ID), now);
    const units = s * (UNITS / 8);
    // A last fragment ending before data received, or at another end than the last one seen; a
    // fragment past the end the last one gave.
    if (more ? this.total[s] !== 0 && end > this.total[s] : end < this.far[s] || (this.total[s] !== 0 && end !== this.total[s])) {
      this.used[s] = 0;
      this.counts[REASM_BAD]++;
      return -1;
    }
    const u0 = start >> 3;
    const u1 = (end + 7) >> 3;
    let had = 0;
    for (let u = u0; u < u1; u++) if ((this.seen[units + (u >> 3)] & (1 << (u & 7))) !== 0) had++;
    if (had === u1 - u0) return -1; // all of it here already: a duplicate, dropped alone (IPFRAG_DUP)
    if (had !== 0) {
      this.used[s] = 0;
      this.counts[REASM_OVERLAPS]++;
      return -1;
    }
    for (let u = u0; u < u1; u++) this.seen[units + (u >> 3)] |= 1 << (u & 7);
    const base = s * SLOT_BYTES + HEAD;
    buf.copy(this.buf, base + start, ip + ihl, ip + tot);
    this.got[s] += size;
    if (end > this.far[s]) this.far[s] = end;
    if (!more) this.total[s] = end;
    if (start === 0) {
      // The first fragment's header (with its options) goes right in front of the data.
      buf.copy(this.buf, base - ihl, ip, ip + ihl);
      this.hlen[s] = ihl;
    }
    const h = this.hlen[s];
    if (h === 0 || this.total[s] === 0 || this.got[s] !== this.total[s]) return -1;
    this.used[s] = 0;
    const f = base - h - ETH_HLEN;
    // A whole frame that passes decapFrame's checks as its fragments did: this fragment's
    // Ethernet addresses, the header's checksum over its new fields (as ip_frag_reasm).
    buf.copy(this.buf, f, off, off + ETH_TYPE);
    wr16(this.buf, f + ETH_TYPE, ETHERTYPE_IPV4);
    wr16(this.buf, f + ETH_HLEN + IP_TOTLEN, h + this.total[s]);
    wr16(this.buf, f + ETH_HLEN + IP_FRAG, 0);
    ipv4SetChecksum(this.buf, f + ETH_HLEN, h);
    this.doneLen = ETH_HLEN + h + this.total[s];
    this.counts[REASM_DONE]++;
    return f;
  }

  /** The slot of datagram (src, dst, pid): its own, else a free one, an expired one, or the oldest. */
  private slotFor(src: number, dst: number, pid: number, now: number): number {
    let free = -1;
    let oldest = 0;
    for (let s = 0; s < REASM_SLOTS; s++) {
      if (this.used[s] === 0) {
        if (free < 0) free = s;
        continue;
      }
      if (now - this.started[s] > REASM_TIMEOUT_MS) {
        this.used[s] = 0;
        this.counts[REASM_TIMEOUTS]++;
        if (free < 0) free = s;
        continue;
      }
      if (this.src[s] === src && this.dst[s] === dst && this.pid[s] === pid) return s;
      if (this.started[s] < this.started[oldest] || this.used[oldest] === 0) oldest = s;
    }
    if (free < 0) {
      free = oldest;
      this.counts[REASM_EVICTED]++;
    }
    this.used[free] = 1;
    this.src[free] = src;
    this.dst[free] = dst;
    this.pid[free] = pid;
    this.started[free] = now;
    this.got[free] = 0;
    this.far[free] = 0;
    this.total[free] = 0;
    this.hlen[free] = 0;
    this.seen.fill(0, free * (UNITS / 8), (free + 1) * (UNITS / 8));
    return free;
  }
}
