// TCP as the load balancer sees it (like ip_vs_proto_tcp.c): which segment may open a
// connection, the state transition with its active/inactive bookkeeping, and where the checksum
// sits for the address/port rewrite (src/proto/rewrite.ts).

import { F_INACTIVE, F_NOOUTPUT, type ConnTable } from '../datapath/conntable.js';
import type { DestTable } from '../datapath/dests.js';
import { DIR_OUTPUT, S_ESTABLISHED, nextState, tcpEvent } from '../datapath/tcpstate.js';
import {
  ETH_HLEN, ETH_TYPE, ETHERTYPE_IPV4, IP_DST, IP_FRAG, IP_PROTO, IP_SRC, IP_TOTLEN, IP_TTL, PROTO_TCP, checksum, csumReplace32, ipv4SetChecksum,
  rd16, rd32, sum16, wr16, wr32,
} from '../datapath/frame.js';

/** Offset of the checksum in the TCP header. */
export const TCP_CSUM = 16;

/** Like IPVS, only a SYN (without RST) opens a TCP connection. */
export function tcpMayOpen(flags: number): boolean {
  return (flags & 0x02) !== 0 && (flags & 0x04) === 0;
}

/**
 * Apply the state table (dirOffset: DIR_INPUT, DIR_OUTPUT or DIR_INPUT_ONLY) to entry e and move
 * its destination's active/inactive counters. Returns true when the state changed.
 */
export function tcpTransition(ct: ConnTable, dt: DestTable, e: number, flags: number, dirOffset: number): boolean {
  const ev = tcpEvent(flags);
  if (ev < 0) return false;
  if (dirOffset === DIR_OUTPUT) ct.flags[e] &= ~F_NOOUTPUT;
  const old = ct.state[e];
  const neu = nextState(dirOffset, ev, old);
  if (neu === old) return false;
  ct.state[e] = neu;
  const dest = ct.dest[e];
  const inactive = (ct.flags[e] & F_INACTIVE) !== 0;
  if (!inactive && neu !== S_ESTABLISHED) {
    dt.activate(dest, false);
    ct.flags[e] |= F_INACTIVE;
  } else if (inactive && neu === S_ESTABLISHED) {
    dt.activate(dest, true);
    ct.flags[e] &= ~F_INACTIVE;
  }
  return true;
}

/** TCP header fields (offsets from the TCP header). */
export const TCP_SEQ = 4;
export const TCP_ACKNO = 8;
export const TCP_DOFF = 12;
export const TCP_FLAGS = 13;
export const TCP_WINDOW = 14;
export const TCP_URG = 18;

/** Compute and store the checksum of the TCP segment at l4 (len bytes) under the IPv4 header at ip (a new header). */
export function tcpSetChecksum(buf: Uint8Array, ip: number, l4: number, len: number): void {
  buf[l4 + TCP_CSUM] = 0;
  buf[l4 + TCP_CSUM + 1] = 0;
  // Pseudo-header: both addresses (contiguous at IP_SRC), protocol, TCP length.
  wr16(buf, l4 + TCP_CSUM, checksum(buf, l4, len, sum16(buf, ip + IP_SRC, 8, PROTO_TCP + len)));
}

/** Add `delta` to the 32-bit sequence or acknowledgment number at buf[field], moving the checksum (RFC 1624). */
export function tcpAddSeq(buf: Uint8Array, l4: number, field: number, delta: number, partial = false): void {
  const old = rd32(buf, l4 + field);
  const neu = (old + delta) | 0;
  wr32(buf, l4 + field, neu);
  // A partial checksum (vnet NEEDS_CSUM) covers only the pseudo-header: seq/ack are summed later.
  if (!partial) wr16(buf, l4 + TCP_CSUM, csumReplace32(rd16(buf, l4 + TCP_CSUM), old, neu));
}

/** The MSS option of a SYN at l4 (the header's length already checked), or 536 (RFC 9293's default) without one. */
export function tcpSynMss(buf: Uint8Array, l4: number): number {
  const end = l4 + (buf[l4 + TCP_DOFF] >>> 4) * 4;
  let i = l4 + 20;
  while (i < end) {
    const kind = buf[i];
    if (kind === 0) break; // end of options
    if (kind === 1) {
      i++; // NOP
      continue;
    }
    if (i + 1 >= end) break;
    const len = buf[i + 1];
    if (len < 2 || i + len > end) break; // malformed: stop reading
    if (kind === 2 && len === 4) return rd16(buf, i + 2);
    i += len;
  }
  return 536;
}

/**
 * A TCP reset answering the segment at buf[ip..] (l4: its TCP header) as a host's stack answers a
 * segment of no connection (RFC 9293 3.10.7.1): from its destination to its source, ports swapped;
 * if it carried an ACK, RST with seq = its ack; else RST|ACK with seq 0 and ack = its seq + its
 * length (SYN and FIN count one each). Built at genOff in gen (Ethernet type, IPv4 with TTL 64
 * and DF, TCP without options); returns the frame length (the Ethernet addresses are left for the
 * output to fill). Never call it for a RST.
 */
export function buildTcpReset(gen: Buffer, genOff: number, buf: Buffer, ip: number, l4: number): number {
  const flags = buf[l4 + TCP_FLAGS];
  const o = genOff + ETH_HLEN;
  const t = o + 20;
  wr16(gen, genOff + ETH_TYPE, ETHERTYPE_IPV4);
  gen[o] = 0x45;
  gen[o + 1] = 0;
  wr16(gen, o + IP_TOTLEN, 40);
  wr16(gen, o + 4, 0);
  wr16(gen, o + IP_FRAG, 0x4000);
  gen[o + IP_TTL] = 64;
  gen[o + IP_PROTO] = PROTO_TCP;
  wr32(gen, o + IP_SRC, rd32(buf, ip + IP_DST));
  wr32(gen, o + IP_DST, rd32(buf, ip + IP_SRC));
  ipv4SetChecksum(gen, o, 20);
  wr16(gen, t, rd16(buf, l4 + 2));
  wr16(gen, t + 2, rd16(buf, l4));
  if ((flags & 0x10) !== 0) {
    wr32(gen, t + TCP_SEQ, rd32(buf, l4 + TCP_ACKNO));
    wr32(gen, t + TCP_ACKNO, 0);
    gen[t + TCP_FLAGS] = 0x04;
  } else {
    const len = rd16(buf, ip + IP_TOTLEN) - (l4 - ip) - (buf[l4 + TCP_DOFF] >>> 4) * 4 + (flags & 0x02 ? 1 : 0) + (flags & 0x01);
    wr32(gen, t + TCP_SEQ, 0);
    wr32(gen, t + TCP_ACKNO, (rd32(buf, l4 + TCP_SEQ) + len) | 0);
    gen[t + TCP_FLAGS] = 0x14;
  }
  gen[t + TCP_DOFF] = 5 << 4;
  wr16(gen, t + TCP_WINDOW, 0);
  wr16(gen, t + TCP_URG, 0);
  tcpSetChecksum(gen, o, t, 20);
  return ETH_HLEN + 40;
}
