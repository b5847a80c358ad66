// TUN (ipvsadm -i, "Tunnel"): the client's IP packet is wrapped (one hop on) in a new IPv4 header
// (protocol 4, IPIP; or, per server as ipvsadm --tun-type says, UDP with GUE, or GRE; the bytes
// added then are 32 or 24/28 instead of 20): outer source the director address on the server's network (or the first
// --addr), outer destination the real server, TOS (but CE, ECT(0) outside), TTL and DF copied from the inner packet (whose TTL
// the pipeline has already decreased, as IPVS's tunnel transmitter), IP ID the next of the
// datapath's own counter (Output.nextIpId), as the kernel's iptunnel_xmit gives every outer packet
// its own: a copy of the inner ID gave the outer packets of one datagram cut here the same one, so
// a router fragmenting them made fragments of different packets one reassembly key. The
// server decapsulates (tunl0, or uvsd decap), holds the VIP, and replies to the client directly.
// Off-link servers are reached through --gateway. A packet that would exceed the MTU with the
// 20 extra bytes and has DF set is answered with ICMP "fragmentation needed" (next-hop MTU =
// MTU - 20), so the client's path MTU discovery shrinks its segments; one without DF is cut into
// inner fragments that fit, each wrapped.
//
// The encapsulated frame is built in place when the receive slot has headroom in front of the
// frame, else in a generated-frame slot (a copy). See docs/architecture.md for the measurement.
//
// Offload (uvsd --offload, src/datapath/vnet.ts): a wrapped packet leaves with a zero vnet header,
// so a partial TCP/UDP checksum is completed first, and a TCP super-segment (GSO) is cut into
// segments of its gso_size here, as the kernel would have, each one wrapped (the kernel does not
// segment IPIP-in-TAP frames for us). If one segment would not fit the MTU with the outer header,
// the client gets "fragmentation needed" as for any too-big packet with DF.

import { C, D } from '../datapath/counters.js';
import {
  ETH_HLEN, ETH_TYPE, ETHERTYPE_IPV4, IP_DST, IP_FRAG, IP_ID, IP_PROTO, IP_SRC, IP_TOTLEN, IP_TTL, PROTO_GRE, PROTO_IPIP, PROTO_TCP, PROTO_UDP,
  checksum, ipv4OptionsFragment, ipv4SetChecksum, rd16, rd32, sum16, wr16, wr32,
} from '../datapath/frame.js';
import { ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED, ICMP_PORT_UNREACH, ICMP_PROT_UNREACH, buildFragNeeded, buildIcmpError } from '../proto/icmp.js';
import { VNET_GSO_TCPV4, tcpGsoSegment, vnetClear, vnetCompleteCsum } from '../datapath/vnet.js';
import { FWD_TUN, NO_ANSWER, type Forwarder, type Output } from './types.js';
import { NODECAP_SLOTS, NODECAP_WORDS, ND_ADDR, ND_CODE, ND_ICMP } from '../datapath/nodecap.js';

const IPIP_HLEN = 20;
/** GUE over UDP: UDP header, then GUE's 4-byte base header (version 0, IPIP inside). */
const UDP_HLEN = 8;
const GUE_HLEN = 4;

/** DestTable.tun[d]: the encapsulation of a TUN server, packed (tunCode): type, checksum, GUE port.
 *  Types and checksum options in the order of TUN_TYPES / TUN_CSUMS (control/protocol.ts). */
const TUN_IPIP = 0;
const TUN_GUE = 1;
/** Checksum options (TUN_CSUMS order: 0 nocsum, 1 csum, 2 remcsum). */
const TUN_CSUM = 1;
const TUN_REMCSUM = 2;

/** type | checksum option << 2 | GUE port << 4: one int32 per destination slot. */
export function tunCode(type: number, csum: number, port: number): number {
  return type | (csum << 2) | (port << 4);
}

/**
 * A tunnel with its own checksum: GUE's UDP checksum with --tun-csum or --tun-remcsum (the kernel's
 * ip_vs_tunnel_xmit: check = CSUM || REMCSUM, udp_set_csum(!check)), GRE's with --tun-csum (GRE
 * has no remote checksum; ipvsadm refuses it).
 */
function withCsum(code: number): boolean {
  const csum = (code >> 2) & 3;
  return csum === TUN_CSUM || (csum === TUN_REMCSUM && (code & 3) === TUN_GUE);
}

/** Bytes the encapsulation adds: IPIP 20, GUE 32 (IP, UDP, GUE), GRE 24 (28 with its checksum). */
export function tunOverhead(code: number): number {
  const type = code & 3;
  if (type === TUN_IPIP) return IPIP_HLEN;
  if (type === TUN_GUE) return IPIP_HLEN + UDP_HLEN + GUE_HLEN;
  return withCsum(code) ? IPIP_HLEN + 8 : IPIP_HLEN + 4;
}

/**
 * GUE's UDP source port: a hash of the inner flow (addresses, and the ports of a TCP/UDP packet
 * that is no fragment), in Linux's default local port range 32768..60999, as udp_flow_src_port()
 * spreads tunnelled flows over a server's receive queues. A fragment, the first too (MF set), is
 * hashed on its addresses only, as the kernel's flow dissector does (it parses a first fragment's
 * ports only when asked to, FLOW_DISSECTOR_F_PARSE_1ST_FRAG, and skb_get_hash does not): every
 * fragment of one datagram leaves on one source port, so one receive queue. int32 arithmetic only.
 */
function gueSourcePort(buf: Buffer, ip: number): number {
  let h = Math.imul(rd32(buf, ip + IP_SRC) ^ 0x2545f491, 0x9e3779b1) ^ rd32(buf, ip + IP_DST);
  const proto = buf[ip + IP_PROTO];
  if ((proto === PROTO_TCP || proto === PROTO_UDP) && (rd16(buf, ip + IP_FRAG) & 0x3fff) === 0) h ^= rd32(buf, ip + (buf[ip] & 15) * 4);
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h ^= h >>> 13;
  return 32768 + (h & 0x7fffffff) % 28232;
}

/** The Ethernet type and outer headers at gen slot g, for an inner packet of innerTot bytes. */
function outer(o: Output, g: number, innerTot: number, tos: number, ttl: number, id: number, df: number, rip: number, code: number, sport: number): void {
  outerAt(o.genBuf, g, o, innerTot, tos, ttl, id, df, rip, code, sport);
}

/**
 * The same in any buffer, for a frame starting at g: the outer IPv4 header (protocol 4, 17 or 47),
 * then GUE's UDP (from `sport`) and base header or GRE's header (ipvs_gue_encap, ipvs_gre_encap).
 * Checksums over the inner packet (GUE's UDP checksum, GRE's) are added by tunFinish once it is in place.
 */
function outerAt(gen: Buffer, g: number, o: Output, innerTot: number, tos: number, ttl: number, id: number, df: number, rip: number, code: number, sport: number): void {
  const hlen = tunOverhead(code);
  const type = code & 3;
  wr16(gen, g + ETH_TYPE, ETHERTYPE_IPV4);
  const h = g + ETH_HLEN;
  // Written here rather than by frame.ts ipv4Own's kind of helper: an address passed to a function
  // V8 does not inline is boxed (int32 beyond the 31-bit small integers), a heap number per packet.
  gen[h] = 0x45;
  // The inner DSCP and ECN copied, but CE becomes ECT(0) outside (the kernel's
  // INET_ECN_encapsulate in ip_vs_prepare_tunneled_skb; RFC 6040's normal mode): congestion met
  // before the director stays marked in the inner header, which decapsulation keeps. Every
  // outer header (a whole packet, inner fragments, GSO segments) is written here.
  gen[h + 1] = (tos & 3) === 3 ? tos - 1 : tos;
  wr16(gen, h + IP_TOTLEN, innerTot + hlen);
  wr16(gen, h + IP_ID, id);
  wr16(gen, h + IP_FRAG, df);
  gen[h + IP_TTL] = ttl;
  gen[h + IP_PROTO] = type === TUN_IPIP ? PROTO_IPIP : type === TUN_GUE ? PROTO_UDP : PROTO_GRE;
  wr32(gen, h + IP_SRC, o.srcFor(rip));
  wr32(gen, h + 16, rip);
  ipv4SetChecksum(gen, h, IPIP_HLEN); // the outer IPv4 header: 20 bytes, no options
  const t = h + IPIP_HLEN;
  if (type === TUN_GUE) {
    wr16(gen, t, sport);
    wr16(gen, t + 2, code >>> 4);
    wr16(gen, t + 4, UDP_HLEN + GUE_HLEN + innerTot);
    wr16(gen, t + 6, 0);
    wr32(gen, t + 8, 0x00040000); // GUE v0, no options, protocol 4 (IPIP), no flags
  } else if (type !== TUN_IPIP) { // GRE
    const csum = withCsum(code);
    wr32(gen, t, (csum ? 0x80000000 : 0) | 0x0800); // C bit, version 0, protocol IPv4
    if (csum) wr32(gen, t + 4, 0);
  }
}

/**
 * After the inner packet is in place behind headers outerAt wrote at g: GUE's UDP checksum with
 * --tun-csum or --tun-remcsum (over the pseudo-header, UDP, GUE and the inner packet; 0 with
 * --tun-nocsum), GRE's checksum with --tun-csum (over GRE's header and the inner packet).
 * --tun-remcsum sends no remote checksum option: the kernel adds it only for an inner checksum it
 * leaves partial (CHECKSUM_PARTIAL), and uvsd's is always whole (with --offload it completes a
 * partial one first, and cuts GSO frames into segments with whole checksums).
 */
function tunFinish(gen: Buffer, g: number, innerTot: number, code: number): void {
  if (!withCsum(code)) return;
  const type = code & 3;
  const h = g + ETH_HLEN;
  const t = h + IPIP_HLEN;
  if (type === TUN_GUE) {
    const len = UDP_HLEN + GUE_HLEN + innerTot;
    const c = checksum(gen, t, len, sum16(gen, h + IP_SRC, 8, PROTO_UDP + len));
    wr16(gen, t + 6, c === 0 ? 0xffff : c);
  } else if (type !== TUN_IPIP) { // GRE
    wr16(gen, t + 4, checksum(gen, t, 8 + innerTot));
  }
}

/** The encapsulation of connection e's server (DestTable.tun). */
function codeOf(o: Output, e: number): number {
  return o.dt.tun[o.ct.dest[e]];
}

/** GUE's source port for the packet at buf[ip] (0 for the other types, which have none). */
function sportOf(buf: Buffer, ip: number, code: number): number {
  return (code & 3) === TUN_GUE ? gueSourcePort(buf, ip) : 0;
}

/** Wrap the IP packet at buf[ip, ip+tot) for rip and send it: in place when the receive buffer
 *  has headroom in front of the frame, else in a generated slot (a copy). */
function encap(o: Output, buf: Buffer, ip: number, tot: number, rip: number, code: number): void {
  const hlen = tunOverhead(code);
  const sport = sportOf(buf, ip, code);
  if (o.headroom >= hlen + o.vnetHdr) {
    // The new frame starts hlen bytes earlier: Ethernet header, then the outer headers where the
    // old Ethernet header was (and in the headroom), then the untouched packet; its (zero) vnet header in front.
    const f = ip - ETH_HLEN - hlen;
    outerAt(buf, f, o, tot, buf[ip + 1], buf[ip + IP_TTL], o.nextIpId(), rd16(buf, ip + IP_FRAG) & 0x4000, rip, code, sport);
    tunFinish(buf, f, tot, code);
    if (o.vnetHdr > 0) vnetClear(buf, f);
    o.toHost(buf, f, ETH_HLEN + hlen + tot, rip);
    return;
  }
  const g = o.genSlot();
  if (g < 0) {
    o.drop(D.tx_failed);
    return;
  }
  outer(o, g, tot, buf[ip + 1], buf[ip + IP_TTL], o.nextIpId(), rd16(buf, ip + IP_FRAG) & 0x4000, rip, code, sport);
  o.copyToGen(buf, ip, g + ETH_HLEN + hlen, tot);
  tunFinish(o.genBuf, g, tot, code);
  o.toHost(o.genBuf, g, ETH_HLEN + hlen + tot, rip);
}

/**
 * A packet without DF too big to wrap: cut it into inner fragments that fit with the outer
 * headers (as any router may), wrap each. The server's kernel reassembles them after decapsulation.
 * Fragments after the first carry only the options marked "copied" (the others become NOPs).
 */
function fragmentThenEncap(o: Output, buf: Buffer, ip: number, tot: number, rip: number, code: number): void {
  const gen = o.genBuf;
  const hlen = tunOverhead(code);
  const sport = sportOf(buf, ip, code);
  const ihl = (buf[ip] & 15) * 4;
  const maxData = ((o.mtu - hlen - ihl) >> 3) << 3;
  const frag0 = rd16(buf, ip + IP_FRAG);
  const data = tot - ihl;
  for (let done = 0; done < data; done += maxData) {
    const n = data - done < maxData ? data - done : maxData;
    const last = done + n >= data;
    let g = o.genSlot();
    if (g < 0) {
      o.genFlush(); // more fragments than a batch has slots (a cut super-segment): send what is built
      g = o.genSlot();
    }
    const ih = g + ETH_HLEN + hlen;
    outer(o, g, ihl + n, buf[ip + 1], buf[ip + IP_TTL], o.nextIpId(), 0, rip, code, sport);
    o.copyToGen(buf, ip, ih, ihl);
    o.copyToGen(buf, ip + ihl + done, ih + ihl, n);
    wr16(gen, ih + IP_TOTLEN, ihl + n);
    wr16(gen, ih + IP_FRAG, (last ? frag0 & 0x2000 : 0x2000) | ((frag0 & 0x1fff) + (done >> 3)));
    if (done > 0 && ihl > 20) ipv4OptionsFragment(gen, ih, ihl);
    ipv4SetChecksum(gen, ih, ihl);
    tunFinish(gen, g, ihl + n, code);
    if (done > 0 || !last) o.count(C.tun_inner_fragments); // (a cut segment's last may fit whole)
    o.toHost(gen, g, ETH_HLEN + hlen + ihl + n, rip);
  }
}

/**
 * Wrap the packet at ip (tot bytes) for connection e's server: whole when it fits the MTU with the
 * outer headers, else cut into inner fragments when it has no DF. false: too big with DF,
 * nothing sent (the caller answers or drops it).
 */
function wrapToServer(o: Output, buf: Buffer, ip: number, tot: number, e: number, code: number): boolean {
  if (tot + tunOverhead(code) <= o.mtu) encap(o, buf, ip, tot, o.ct.daddr[e], code);
  else if ((rd16(buf, ip + IP_FRAG) & 0x4000) === 0) fragmentThenEncap(o, buf, ip, tot, o.ct.daddr[e], code);
  else return false;
  return true;
}

/**
 * "Fragmentation needed" to the client for a packet too big to wrap (next-hop MTU = MTU minus
 * the encapsulation's bytes): never to a source the kernel would not answer, and never
 * rate-limited (Output.pmtuSlot): the kernel does not limit PMTU discovery, and a shared limit
 * let anyone's stray segments to a VIP starve it, a path MTU black hole for every TUN client.
 * One 70-byte answer per oversized packet received: no amplification.
 */
function fragNeeded(o: Output, buf: Buffer, ip: number, e: number, hlen: number): void {
  o.drop(D.mtu_exceeded);
  const src = rd32(buf, ip + IP_SRC);
  const g = o.pmtuSlot(src);
  if (g < 0) return;
  const flen = buildFragNeeded(o.genBuf, g, buf, ip, o.ct.vaddr[e], o.mtu - hlen);
  o.count(C.icmp_frag_needed_sent);
  o.toHost(o.genBuf, g, flen, src);
}

/**
 * One segment of a super-segment without DF whose segments do not fit with the outer headers:
 * built here whole (its TCP checksum covers it all), then cut into inner fragments from here.
 * A segment is at most the super-segment's 65,535 bytes. One per thread (module state), never per packet.
 */
const SEGMENT = Buffer.alloc(65536);

/**
 * A TCP super-segment (vnet GSO): cut into gso_size segments (vnet.ts), each wrapped in a generated
 * slot. Segments too big to wrap: "fragmentation needed" for a super-segment with DF (one answer,
 * as for any DF packet); without DF each segment is cut into inner fragments, as the kernel
 * segments a GSO packet and then fragments what does not fit.
 */
function segmentThenEncap(o: Output, buf: Buffer, ip: number, l4: number, tot: number, e: number, code: number): void {
  const mss = o.gsoSize;
  if (l4 < 0 || buf[ip + IP_PROTO] !== 6 || (o.gsoType & 0x7f) !== VNET_GSO_TCPV4 || mss === 0) {
    o.drop(D.offload_unsupported);
    return;
  }
  const hlen = tunOverhead(code);
  const hl = l4 - ip + (buf[l4 + 12] >>> 4) * 4;
  const df = rd16(buf, ip + IP_FRAG) & 0x4000;
  const rip = o.ct.daddr[e];
  if (hl + mss + hlen > o.mtu) {
    if (df !== 0) {
      fragNeeded(o, buf, ip, e, hlen);
      return;
    }
    for (let k = 0; ; k++) {
      const n = tcpGsoSegment(buf, ip, l4, tot, mss, k, SEGMENT, 0);
      if (n === 0) return;
      o.count(C.gso_segments_built);
      fragmentThenEncap(o, SEGMENT, 0, n, rip, code);
    }
  }
  const gen = o.genBuf;
  const sport = sportOf(buf, ip, code);
  for (let k = 0; ; k++) {
    let g = o.genSlot();
    if (g < 0) {
      o.genFlush(); // more segments than a batch has slots: send what is built, reuse the slots
      g = o.genSlot();
    }
    const ih = g + ETH_HLEN + hlen;
    const n = tcpGsoSegment(buf, ip, l4, tot, mss, k, gen, ih);
    if (n === 0) return;
    outer(o, g, n, buf[ip + 1], buf[ip + IP_TTL], o.nextIpId(), df, rip, code, sport);
    tunFinish(gen, g, n, code);
    o.count(C.gso_segments_built);
    o.toHost(gen, g, ETH_HLEN + hlen + n, rip);
  }
}

/**
 * An ICMP error from a router past the director about a packet wrapped for connection e's
 * server (icmpTunnelQuoted found the client's packet inside; IPVS ip_vs_in_icmp for LVS-TUN):
 * the client gets an error of the same type and code from the VIP, quoting its own packet, as
 * IPVS's icmp_send(). "Fragmentation needed" only for a packet with DF (a client doing path MTU
 * discovery), its next-hop MTU less the encapsulation's bytes and never under 68 (RFC 791's
 * minimum); without DF it is counted icmp_unhandled, and so are protocol and port unreachable
 * (about the tunnel, not the client's packet; from the server itself also tun_no_decap, its
 * address noted in Output.noDecap); one with a bad ICMP checksum icmp_bad_checksum.
 * Sent as uvsd's other answers (a source the kernel would answer, within the ICMP rate limit;
 * fragmentation needed never rate-limited, as fragNeeded's). false: the quoted packet is not one this connection's tunnel sends (another server,
 * tunnel type or GUE port).
 */
export function tunRelayError(o: Output, buf: Buffer, ip: number, l4: number, l4len: number, inner: number, e: number): boolean {
  const q = l4 + 8; // the quoted outer header
  const code = codeOf(o, e);
  const type = code & 3;
  const proto = buf[q + IP_PROTO];
  if (rd32(buf, q + IP_DST) !== o.ct.daddr[e] || proto !== (type === TUN_IPIP ? PROTO_IPIP : type === TUN_GUE ? PROTO_UDP : PROTO_GRE) ||
      (type === TUN_GUE && rd16(buf, q + (buf[q] & 15) * 4 + 2) !== code >>> 4)) {
    return false;
  }
  const icmpType = buf[l4];
  const icmpCode = buf[l4 + 1];
  let mtu = 0;
  if (icmpType === ICMP_DEST_UNREACH && (icmpCode === ICMP_PROT_UNREACH || icmpCode === ICMP_PORT_UNREACH)) {
    // The server's own answer about the tunnel (no ipip module: protocol 4 unreachable; no GUE
    // socket: port unreachable): not about the client's packet, whose connect() it would fail
    // with ENOPROTOOPT: uvs does not relay them (IPVS does); with tunl0 up a server never sends them.
    o.drop(D.icmp_unhandled);
    const rip = o.ct.daddr[e];
    if (rd32(buf, ip + IP_SRC) === rip) {
      // From the server itself: it does not decapsulate. Counted, and who noted for the control
      // side's warning (datapath/nodecap.ts), written here: no call that could box the address.
      const ring = o.noDecap;
      const n = ring[0];
      const at = 1 + (n & (NODECAP_SLOTS - 1)) * NODECAP_WORDS;
      ring[at + ND_ADDR] = rip;
      ring[at + ND_CODE] = code;
      ring[at + ND_ICMP] = icmpCode;
      Atomics.store(ring, 0, (n + 1) | 0);
      o.count(C.tun_no_decap);
    }
    return true;
  }
  if (icmpType === ICMP_DEST_UNREACH && icmpCode === ICMP_FRAG_NEEDED) {
    if ((rd16(buf, inner + IP_FRAG) & 0x4000) === 0) {
      o.drop(D.icmp_unhandled);
      return true;
    }
    const hlen = tunOverhead(code);
    const reported = rd16(buf, l4 + 6);
    mtu = (reported > 68 + hlen ? reported : 68 + hlen) - hlen;
  }
  // A new message is built from this one's fields: it must be intact (the kernel checks too).
  if (checksum(buf, l4, l4len) !== 0) {
    o.drop(D.icmp_bad_checksum);
    return true;
  }
  // In OutPkts/OutBytes as the kernel's ip_vs_in_icmp accounts it ("ICMP can be shorter but
  // anyways, account it"): the quoted client packet's bytes, once it is to be relayed (icmp_send
  // gets it whatever its rate limit or route then decide).
  o.countPacket(e, false, l4 + l4len - inner);
  const client = rd32(buf, inner + IP_SRC);
  // Fragmentation needed is never rate-limited (fragNeeded): one relayed per error received.
  const g = mtu !== 0 ? o.pmtuSlot(client) : o.answerSlot(client, C.icmp_tunnel_ratelimited);
  if (g === NO_ANSWER) o.drop(D.no_route); // the error's own outcome: uvsd cannot reach the client
  if (g < 0) return true;
  const flen = buildIcmpError(o.genBuf, g, buf, inner, o.ct.vaddr[e], icmpType, icmpCode, mtu);
  o.count(C.icmp_tunnel_relayed);
  o.toHost(o.genBuf, g, flen, client);
  return true;
}

export const tun: Forwarder = {
  id: FWD_TUN,
  noOutput: true,
  inbound(o: Output, buf: Buffer, off: number, len: number, ip: number, l4: number, e: number): void {
    const tot = len - (ip - off);
    const code = codeOf(o, e);
    if (o.vnetHdr > 0) {
      if (o.gsoType !== 0) {
        segmentThenEncap(o, buf, ip, l4, tot, e, code);
        return;
      }
      // The wrapped packet leaves with a zero header: its checksum must be whole.
      if (o.csumPartial && !vnetCompleteCsum(buf, off, len)) {
        o.drop(D.offload_unsupported);
        return;
      }
    }
    if (!wrapToServer(o, buf, ip, tot, e, code)) fragNeeded(o, buf, ip, e, tunOverhead(code));
  },
  /**
   * An error about one of the server's replies (sent to the VIP) goes to the server, wrapped; too
   * big to wrap, cut into inner fragments as any packet without DF (ICMP errors have none). With
   * DF it is dropped (mtu_exceeded) without an answer: never an error about an error. One about a
   * client's packet travels towards the client, which uvsd does not route (icmp_unhandled), as DR.
   */
  icmp(o: Output, buf: Buffer, off: number, len: number, ip: number, _inner: number, e: number, toServer: boolean): boolean {
    if (!toServer) {
      o.drop(D.icmp_unhandled);
      return false;
    }
    if (o.gsoType !== 0) {
      o.drop(D.offload_unsupported);
      return false;
    }
    if (wrapToServer(o, buf, ip, len - (ip - off), e, codeOf(o, e))) return true;
    o.drop(D.mtu_exceeded);
    return false;
  },
};
