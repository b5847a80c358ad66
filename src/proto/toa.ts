// TOA ("TCP Option Address", Alibaba LVS and DPVS FULLNAT; uvsd --toa): FULLNAT hides the client
// from the real server, which sees a local address (LIP) of the director. The client's port and
// IPv4 address ride in a TCP option, kind 254, length 8 (kind, length, port, address, network
// order), that the `toa` kernel module on the real server reads from the segment completing its
// handshake (its hook on tcp_v4_syn_recv_sock: the ACK, or whichever client segment turns the
// request socket into a full one) and getpeername() then returns.
//
// Which segments (as DPVS's tcp_fnat_in_handler): every client segment with ACK and none of
// SYN/FIN/RST that acknowledges exactly the server's ISN + 1 — the handshake's ACK, its
// retransmissions and any data sent before the server's first byte, any of which may be the one
// that completes the server's handshake when an earlier one was lost. DPVS also puts it in the
// SYN (after removing the timestamps there), which the module never reads: uvs does not.
// The option goes right after the fixed 20 bytes of the TCP header (as DPVS's tcp_in_add_toa),
// the data offset grows by 2 words, the IP total length by 8, checksums move incrementally.
// Skipped and counted: the packet would pass the MTU (DPVS: "need fragment"), the header has
// fewer than 8 bytes of option space left (60 - data offset; DPVS: "no TCP header room"; e.g.
// SACK blocks with timestamps), a TSO super-segment (--offload), a fragment.
// To leave room, the server's SYN|ACK MSS is lowered by 8 (DPVS tcp_out_adjust_mss), so the
// client's full-sized segments still fit the MTU with the option.

import { C } from '../datapath/counters.js';
import { IP_CSUM, IP_FRAG, IP_TOTLEN, TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN, csumReplace16, csumReplace32, rd16, rd32, wr16, wr32 } from '../datapath/frame.js';
import type { Output } from '../modes/types.js';
import { TCP_ACKNO, TCP_CSUM, TCP_DOFF, TCP_FLAGS, TCPOPT_MSS, tcpDataStart, tcpNextOption, tcpSetChecksum } from './tcp.js';

/** The option's kind (TCPOPT_ADDR in Alibaba LVS, TCP_OPT_ADDR in DPVS) and length (IPv4). */
export const TCPOPT_TOA = 254;
export const TCPOLEN_TOA = 8;
/** The TCP header's longest (data offset 15 words). */
const TCP_HDR_MAX = 60;

/** The client segment at l4 gets TOA: an ACK (no SYN, FIN, RST) acknowledging just `ack`. */
export function toaWanted(buf: Uint8Array, l4: number, ack: number): boolean {
  return (buf[l4 + TCP_FLAGS] & (TCP_SYN | TCP_FIN | TCP_RST | TCP_ACK)) === TCP_ACK && rd32(buf, l4 + TCP_ACKNO) === ack;
}

/**
 * Lower the MSS option of the SYN|ACK at l4 by TCPOLEN_TOA (DPVS tcp_out_adjust_mss), moving the
 * checksum unless `partial` (the header is summed later then).
 */
export function toaLowerMss(buf: Uint8Array, l4: number, partial: boolean): void {
  const end = tcpDataStart(buf, l4);
  for (let i = tcpNextOption(buf, l4 + 20, end); i >= 0; i = tcpNextOption(buf, i + buf[i + 1], end)) {
    if (buf[i] !== TCPOPT_MSS || buf[i + 1] !== 4) continue;
    const old = rd16(buf, i + 2);
    if (old <= TCPOLEN_TOA) return;
    wr16(buf, i + 2, old - TCPOLEN_TOA);
    if (!partial) wr16(buf, l4 + TCP_CSUM, csumReplace16(rd16(buf, l4 + TCP_CSUM), old, old - TCPOLEN_TOA));
    return;
  }
}

/**
 * Insert the TOA option (client caddr:cport) into the client→server TCP segment at buf[off..]
 * (ip, l4: its headers; len: the frame's length, IP total length included) already rewritten for
 * the server, and send it to `to`. Where there is room in front of the frame (the receive
 * buffer's headroom), the headers before the option move 8 bytes forward (vnet header too) and
 * the payload stays; in a generated frame the options and payload move 8 bytes back (its slot
 * has room behind); otherwise the frame is copied to a generated slot with the gap. false: not
 * inserted (counted); the caller sends the segment as it is.
 */
export function toaSend(o: Output, buf: Buffer, off: number, len: number, ip: number, l4: number, caddr: number, cport: number, to: number): boolean {
  const tot = len - (ip - off);
  if (o.gsoType !== 0) {
    // A super-segment: every segment the kernel cuts would need its own room; left as it is.
    o.count(C.toa_skipped_offload);
    return false;
  }
  if (tot + TCPOLEN_TOA > o.mtu || (rd16(buf, ip + IP_FRAG) & 0x3fff) !== 0) {
    o.count(C.toa_skipped_mtu);
    return false;
  }
  const thl = (buf[l4 + TCP_DOFF] >>> 4) * 4;
  if (thl + TCPOLEN_TOA > TCP_HDR_MAX) {
    o.count(C.toa_skipped_room);
    return false;
  }
  let partial = o.csumPartial;
  let full = false;
  const at = l4 + 20; // the option goes here: after the fixed header, before the other options
  const end = off + len;
  const vh = o.vnetHdr;
  if (buf === o.genBuf) {
    buf.copyWithin(at + TCPOLEN_TOA, at, end);
  } else if (o.headroom >= TCPOLEN_TOA + vh) {
    // The vnet header (if any), Ethernet, IP and the fixed TCP header move forward; its offsets
    // (csum_start) count from the frame's start and stay right.
    buf.copyWithin(off - vh - TCPOLEN_TOA, off - vh, at);
    off -= TCPOLEN_TOA;
    ip -= TCPOLEN_TOA;
    l4 -= TCPOLEN_TOA;
  } else {
    const g = o.genSlot();
    if (g < 0) {
      o.count(C.toa_skipped_room);
      return false;
    }
    o.copyToGen(buf, off, g, at - off);
    o.copyToGen(buf, at, g + (at - off) + TCPOLEN_TOA, end - at);
    ip = g + (ip - off);
    l4 = g + (l4 - off);
    off = g;
    buf = o.genBuf;
    // A generated frame leaves with a zero vnet header: its checksum must be whole.
    full = partial;
    partial = false;
  }
  const o4 = l4 + 20;
  buf[o4] = TCPOPT_TOA;
  buf[o4 + 1] = TCPOLEN_TOA;
  wr16(buf, o4 + 2, cport);
  wr32(buf, o4 + 4, caddr);
  const oldDoff = rd16(buf, l4 + TCP_DOFF); // data offset and flags
  const newDoff = oldDoff + ((TCPOLEN_TOA / 4) << 12);
  wr16(buf, l4 + TCP_DOFF, newDoff);
  wr16(buf, ip + IP_TOTLEN, tot + TCPOLEN_TOA);
  wr16(buf, ip + IP_CSUM, csumReplace16(rd16(buf, ip + IP_CSUM), tot, tot + TCPOLEN_TOA));
  const tcpLen = tot - (l4 - ip);
  if (full) {
    tcpSetChecksum(buf, ip, l4, tcpLen + TCPOLEN_TOA);
  } else if (partial) {
    // The field holds the pseudo-header sum (not inverted): only the TCP length in it changes;
    // the option and the data offset are summed with the header later.
    const f = l4 + TCP_CSUM;
    wr16(buf, f, ~csumReplace16(~rd16(buf, f) & 0xffff, tcpLen, tcpLen + TCPOLEN_TOA) & 0xffff);
  } else {
    // The data moved by 8 bytes (an even count): its sum is unchanged. Pseudo-header length,
    // data offset and the option's four words change.
    let c = rd16(buf, l4 + TCP_CSUM);
    c = csumReplace16(c, tcpLen, tcpLen + TCPOLEN_TOA);
    c = csumReplace16(c, oldDoff, newDoff);
    c = csumReplace16(c, 0, (TCPOPT_TOA << 8) | TCPOLEN_TOA);
    c = csumReplace16(c, 0, cport);
    c = csumReplace32(c, 0, caddr);
    wr16(buf, l4 + TCP_CSUM, c);
  }
  o.count(C.toa_added);
  o.toHost(buf, off, len + TCPOLEN_TOA, to);
  return true;
}
