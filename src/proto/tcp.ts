// TCP as the load balancer sees it (like ip_vs_proto_tcp.c): which segment may open a
// connection, the state transition with its active/inactive bookkeeping, and where the checksum
// sits for the address/port rewrite (src/proto/rewrite.ts).

import { F_INACTIVE, F_NOOUTPUT, type ConnTable } from '../datapath/conntable.js';
import type { DestTable } from '../datapath/dests.js';
import { DIR_OUTPUT, S_ESTABLISHED, nextState, tcpEvent } from '../datapath/tcpstate.js';
import { IP_SRC, PROTO_TCP, checksum, csumReplace32, rd16, rd32, sum16, wr16, wr32 } from '../datapath/frame.js';

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
export function tcpAddSeq(buf: Uint8Array, l4: number, field: number, delta: number): void {
  const old = rd32(buf, l4 + field);
  const neu = (old + delta) | 0;
  wr32(buf, l4 + field, neu);
  wr16(buf, l4 + TCP_CSUM, csumReplace32(rd16(buf, l4 + TCP_CSUM), old, neu));
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
