// TCP as the load balancer sees it (like ip_vs_proto_tcp.c): which segment may open a
// connection, the state transition with its active/inactive bookkeeping, and where the checksum
// sits for the address/port rewrite (src/proto/rewrite.ts).

import { F_NOOUTPUT, type ConnTable } from '../datapath/conntable.js';
import type { DestTable } from '../datapath/dests.js';
import { DIR_OUTPUT, nextState, tcpEvent } from '../datapath/tcpstate.js';
import { enterState } from './state.js';
import {
  ETH_HLEN, ETH_TYPE, ETHERTYPE_IPV4, IP_DST, IP_SRC, IP_TOTLEN, PROTO_TCP, TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN, checksum, csumReplace16, csumReplace32, ipv4Own,
  rd16, rd32, sum16, wr16, wr32,
} from '../datapath/frame.js';

/** Offset of the checksum in the TCP header. */
export const TCP_CSUM = 16;

/** Like IPVS, only a SYN (without RST) opens a TCP connection. */
export function tcpMayOpen(flags: number): boolean {
  return (flags & 0x02) !== 0 && (flags & 0x04) === 0;
}

/**
 * Apply state table `table` (NEXT, or NEXT_DOS under secure TCP; dirOffset: DIR_INPUT, DIR_OUTPUT
 * or DIR_INPUT_ONLY) to entry e and move its destination's active/inactive counters. Returns true
 * when the state changed. A segment with none of SYN/FIN/ACK/RST keeps the state: the kernel's
 * set_tcp_state moves it to CLOSE (tcp_state_idx < 0 leaves its default, IP_VS_TCP_S_CLOSE),
 * so one null-scan segment would close an ESTABLISHED entry there; uvs does not copy that.
 */
export function tcpTransition(ct: ConnTable, dt: DestTable, e: number, flags: number, dirOffset: number, table: Uint8Array): boolean {
  const ev = tcpEvent(flags);
  if (ev < 0) return false;
  if (dirOffset === DIR_OUTPUT) ct.flags[e] &= ~F_NOOUTPUT;
  return enterState(ct, dt, e, nextState(table, dirOffset, ev, ct.state[e]));
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

/**
 * Is the checksum of the TCP segment at l4 (len bytes, of the IPv4 packet at ip) right? A full sum:
 * only where uvsd acts on a segment's content (the FTP helper, the SYN proxy), as the kernel's
 * tcp_csum_check before an app helper mangles one. A partial checksum (`partial`: vnet header)
 * is taken as right, as the kernel takes CHECKSUM_PARTIAL: its own segment, whose field holds
 * only the pseudo-header sum.
 */
export function tcpChecksumOk(buf: Uint8Array, ip: number, l4: number, len: number, partial: boolean): boolean {
  return partial || checksum(buf, l4, len, sum16(buf, ip + IP_SRC, 8, PROTO_TCP + len)) === 0;
}

/** Add `delta` to the 32-bit sequence or acknowledgment number at buf[field], moving the checksum (RFC 1624). */
export function tcpAddSeq(buf: Uint8Array, l4: number, field: number, delta: number, partial = false): void {
  const old = rd32(buf, l4 + field);
  const neu = (old + delta) | 0;
  wr32(buf, l4 + field, neu);
  // A partial checksum (vnet NEEDS_CSUM) covers only the pseudo-header: seq/ack are summed later.
  if (!partial) wr16(buf, l4 + TCP_CSUM, csumReplace32(rd16(buf, l4 + TCP_CSUM), old, neu));
}

/**
 * The offset of the TCP option at or after i (NOPs skipped) in options ending at `end`, or -1 at
 * their end: the end-of-options kind, or a malformed option (no room for its length, a length
 * under 2 or past the end), where reading stops. The next is at i + buf[i + 1].
 */
export function tcpNextOption(buf: Uint8Array, i: number, end: number): number {
  while (i < end && buf[i] === 1) i++; // NOP
  if (i >= end || buf[i] === 0 || i + 1 >= end) return -1;
  const len = buf[i + 1];
  return len < 2 || i + len > end ? -1 : i;
}

/** Where the data of the TCP segment at l4 start (its header, options included, ends: the data offset). */
export function tcpDataStart(buf: Uint8Array, l4: number): number {
  return l4 + (buf[l4 + TCP_DOFF] >>> 4) * 4;
}

/** TCP option kinds. */
export const TCPOPT_MSS = 2;
export const TCPOPT_WSCALE = 3;
export const TCPOPT_SACK_PERM = 4;
export const TCPOPT_SACK = 5;
export const TCPOPT_TS = 8;

/** What tcpHandshakeOptions finds, by index of its Int32Array (HO_LEN long). */
export const HO_MSS = 0; // the MSS option, or 536 (RFC 9293's default) without one
export const HO_WSCALE = 1; // the window scale (at most 14, RFC 7323), or -1 without one
export const HO_SACK = 2; // 1: SACK-permitted
export const HO_TS = 3; // 1: a timestamps option, with:
export const HO_TSVAL = 4;
export const HO_TSECR = 5;
export const HO_LEN = 6;

/** The handshake options of the segment at l4 (the header's length already checked) into `out`
 *  (HO_*): a SYN's or SYN|ACK's, or the timestamps of any segment. */
export function tcpHandshakeOptions(buf: Uint8Array, l4: number, out: Int32Array): void {
  out[HO_MSS] = -1;
  out[HO_WSCALE] = -1;
  out[HO_SACK] = 0;
  out[HO_TS] = 0;
  const end = tcpDataStart(buf, l4);
  for (let i = tcpNextOption(buf, l4 + 20, end); i >= 0; i = tcpNextOption(buf, i + buf[i + 1], end)) {
    const kind = buf[i];
    const len = buf[i + 1];
    if (kind === TCPOPT_MSS && len === 4) {
      if (out[HO_MSS] < 0) out[HO_MSS] = rd16(buf, i + 2); // the first one
    } else if (kind === TCPOPT_WSCALE && len === 3) out[HO_WSCALE] = buf[i + 2] < 14 ? buf[i + 2] : 14;
    else if (kind === TCPOPT_SACK_PERM && len === 2) out[HO_SACK] = 1;
    else if (kind === TCPOPT_TS && len === 10) {
      out[HO_TS] = 1;
      out[HO_TSVAL] = rd32(buf, i + 2);
      out[HO_TSECR] = rd32(buf, i + 6);
    }
  }
  if (out[HO_MSS] < 0) out[HO_MSS] = 536;
}

/** Set the window field of the segment at l4, moving the checksum (RFC 1624) unless `partial`. */
export function tcpSetWindow(buf: Uint8Array, l4: number, window: number, partial: boolean): void {
  const old = rd16(buf, l4 + TCP_WINDOW);
  wr16(buf, l4 + TCP_WINDOW, window);
  if (!partial) wr16(buf, l4 + TCP_CSUM, csumReplace16(rd16(buf, l4 + TCP_CSUM), old, window));
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
  ipv4Own(gen, o, 0, 40, true, PROTO_TCP, rd32(buf, ip + IP_DST), rd32(buf, ip + IP_SRC));
  const sport = rd16(buf, l4 + 2);
  const dport = rd16(buf, l4);
  if ((flags & TCP_ACK) !== 0) {
    tcpHeader(gen, t, sport, dport, rd32(buf, l4 + TCP_ACKNO), 0, TCP_RST, 0, 5);
  } else {
    const len = rd16(buf, ip + IP_TOTLEN) - (l4 - ip) - (buf[l4 + TCP_DOFF] >>> 4) * 4 + ((flags & TCP_SYN) !== 0 ? 1 : 0) + (flags & TCP_FIN);
    tcpHeader(gen, t, sport, dport, 0, (rd32(buf, l4 + TCP_SEQ) + len) | 0, TCP_RST | TCP_ACK, 0, 5);
  }
  tcpSetChecksum(gen, o, t, 20);
  return ETH_HLEN + 40;
}

/** Write a TCP header's fixed 20 bytes at l4 (`words`: the data offset in 32-bit words, so any
 *  options follow); the checksum is left to the caller. */
export function tcpHeader(buf: Uint8Array, l4: number, sport: number, dport: number, seq: number, ack: number, flags: number, window: number, words: number): void {
  wr16(buf, l4, sport);
  wr16(buf, l4 + 2, dport);
  wr32(buf, l4 + TCP_SEQ, seq);
  wr32(buf, l4 + TCP_ACKNO, ack);
  buf[l4 + TCP_DOFF] = words << 4;
  buf[l4 + TCP_FLAGS] = flags;
  wr16(buf, l4 + TCP_WINDOW, window);
  wr16(buf, l4 + TCP_URG, 0);
}
