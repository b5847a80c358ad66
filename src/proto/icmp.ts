// ICMP as the load balancer sees it (like ip_vs_in_icmp / ip_vs_out_icmp): errors that quote a
// TCP/UDP packet of a tracked connection (destination unreachable, source quench, time exceeded)
// are forwarded with that connection, and for NAT/FULLNAT translated inside (the quoted header)
// and outside; and the errors uvsd itself sends:
// "fragmentation needed" when a TUN encapsulation would exceed the MTU, "port unreachable" when
// a service has no real server available (ip_vs_leave).

import {
  ETH_HLEN, ETH_TYPE, ETHERTYPE_IPV4, IP_CSUM, IP_DST, IP_FRAG, IP_PROTO, IP_SRC, IP_TOTLEN, PROTO_GRE, PROTO_ICMP,
  PROTO_IPIP, IPPROTO_SCTP, PROTO_SCTP, PROTO_TCP, PROTO_UDP, checksum, csumReplace16, csumReplace32, ipv4Own, rd16, rd32, wr16, wr32,
} from '../datapath/frame.js';
import { TCP_CSUM } from './tcp.js';
import { UDP_CSUM } from './udp.js';

export const ICMP_DEST_UNREACH = 3;
export const ICMP_PROT_UNREACH = 2;
export const ICMP_PORT_UNREACH = 3;
export const ICMP_FRAG_NEEDED = 4;
export const ICMP_SOURCE_QUENCH = 4;
export const ICMP_TIME_EXCEEDED = 11;
export const ICMP_EXC_TTL = 0;
/** Slots of the tuple array icmpQuoted fills. */
export const ICMP_Q_SADDR = 0;
export const ICMP_Q_SPORT = 1;
export const ICMP_Q_DADDR = 2;
export const ICMP_Q_DPORT = 3;
/** Offset of the quoted IPv4 header the tuple was read from. */
export const ICMP_Q_INNER = 4;
/** Length of that tuple array. */
export const ICMP_Q_SLOTS = 5;

/** Error types IPVS relates to a connection (ip_vs_in_icmp / ip_vs_out_icmp): 3, 4, 11. A redirect
 *  (5) names the sender's next hop and a parameter problem (12) a byte of the quoted header:
 *  neither means anything past the director, and the kernel does not forward them either. */
function isError(type: number): boolean {
  return type === ICMP_DEST_UNREACH || type === ICMP_SOURCE_QUENCH || type === ICMP_TIME_EXCEEDED;
}

/**
 * For an ICMP error at l4 (l4len bytes) quoting an IPv4 TCP/UDP/SCTP header plus at least its
 * ports: the quoted protocol (uvs's number: PROTO_SCTP for SCTP), with the quoted tuple in out[ICMP_Q_*]. 0 for anything else (echo,
 * truncated quotes, non-first fragments).
 */
export function icmpQuoted(buf: Buffer, l4: number, l4len: number, out: Float64Array): number {
  if (l4len < 8 + 20 + 8 || !isError(buf[l4])) return 0;
  return quotedTuple(buf, l4 + 8, l4len - 8, out);
}

/** The quoted IPv4 header at `inner` (`avail` bytes of the quote from there on): as icmpQuoted. */
function quotedTuple(buf: Buffer, inner: number, avail: number, out: Float64Array): number {
  if (avail < 20 + 8) return 0;
  const vihl = buf[inner];
  const ihl = (vihl & 15) * 4;
  if (vihl >>> 4 !== 4 || ihl < 20 || ihl + 8 > avail) return 0;
  const wire = buf[inner + IP_PROTO];
  const proto = wire === IPPROTO_SCTP ? PROTO_SCTP : wire;
  if ((proto !== PROTO_TCP && proto !== PROTO_UDP && proto !== PROTO_SCTP) || (rd16(buf, inner + IP_FRAG) & 0x1fff) !== 0) return 0;
  const il4 = inner + ihl;
  out[ICMP_Q_SADDR] = rd32(buf, inner + IP_SRC);
  out[ICMP_Q_DADDR] = rd32(buf, inner + IP_DST);
  out[ICMP_Q_SPORT] = rd16(buf, il4);
  out[ICMP_Q_DPORT] = rd16(buf, il4 + 2);
  out[ICMP_Q_INNER] = inner;
  return proto;
}

/**
 * For an ICMP error at l4 that a router sends about a tunnelled packet (IPVS ip_vs_in_icmp's
 * "errors for IPIP/UDP/GRE tunnel packets"): destination unreachable, source quench or time
 * exceeded quoting an IPIP (4), GRE (47, version 0, IPv4 inside) or GUE (UDP, version 0, no
 * control message, IPIP inside) packet, first fragment, whose quote goes on to the wrapped
 * packet's IPv4 header and its ports. Returns that packet's protocol, its tuple in out[ICMP_Q_*]
 * and its offset in out[ICMP_Q_INNER]; 0 for anything else (truncated quotes among them). Whether
 * it was one of ours, to the server its connection names, is the TUN forwarder's question.
 */
export function icmpTunnelQuoted(buf: Buffer, l4: number, l4len: number, out: Float64Array): number {
  const type = buf[l4];
  if (l4len < 8 + 20 + 20 + 8 || (type !== ICMP_DEST_UNREACH && type !== ICMP_SOURCE_QUENCH && type !== ICMP_TIME_EXCEEDED)) return 0;
  const q = l4 + 8;
  const end = l4 + l4len;
  const ihl = (buf[q] & 15) * 4;
  if (buf[q] >>> 4 !== 4 || ihl < 20 || q + ihl + 4 > end || (rd16(buf, q + IP_FRAG) & 0x1fff) !== 0) return 0;
  const t = q + ihl;
  const proto = buf[q + IP_PROTO];
  let inner = t;
  if (proto === PROTO_GRE) {
    const flags = rd16(buf, t);
    // Routing (0x4000) and versions other than 0 are not what IPVS sends; C, K and S add 4 bytes each.
    if ((flags & 0x4007) !== 0 || rd16(buf, t + 2) !== ETHERTYPE_IPV4) return 0;
    inner = t + 4 + ((flags >>> 15) & 1) * 4 + ((flags >>> 13) & 1) * 4 + ((flags >>> 12) & 1) * 4;
  } else if (proto === PROTO_UDP) {
    // GUE's base header after UDP's: version 0 and C clear (the top 3 bits), Hlen words of options, protocol IPIP.
    if (t + 12 > end || (buf[t + 8] & 0xe0) !== 0 || buf[t + 9] !== PROTO_IPIP) return 0;
    inner = t + 12 + (buf[t + 8] & 0x1f) * 4;
  } else if (proto !== PROTO_IPIP) {
    return 0;
  }
  return quotedTuple(buf, inner, end - inner, out);
}

/** Rewrite an address of the outer header (IP_SRC or IP_DST) with an incremental checksum. */
export function icmpSetOuter(buf: Buffer, ip: number, field: number, addr: number): void {
  const old = rd32(buf, ip + field);
  wr16(buf, ip + IP_CSUM, csumReplace32(rd16(buf, ip + IP_CSUM), old, addr));
  wr32(buf, ip + field, addr);
}

/**
 * Rewrite an address and port of the quoted header (field IP_SRC/IP_DST; port 0 = source, 2 =
 * destination) at `inner`, fixing the quoted IP checksum and, when it lies inside the quote,
 * the quoted L4 checksum. `end` is where the ICMP message ends.
 */
export function icmpSetInner(buf: Buffer, inner: number, end: number, field: number, portOff: number, addr: number, port: number): void {
  const il4 = inner + (buf[inner] & 15) * 4;
  const proto = buf[inner + IP_PROTO];
  const old = rd32(buf, inner + field);
  const oldPort = rd16(buf, il4 + portOff);
  wr16(buf, inner + IP_CSUM, csumReplace32(rd16(buf, inner + IP_CSUM), old, addr));
  wr32(buf, inner + field, addr);
  const co = il4 + (proto === PROTO_TCP ? TCP_CSUM : UDP_CSUM);
  // A quoted SCTP header keeps its CRC: it covers the whole packet, which a quote lacks (as the kernel).
  if (co + 2 <= end && proto !== IPPROTO_SCTP) {
    const c0 = rd16(buf, co);
    if (proto === PROTO_TCP || c0 !== 0) {
      const c = csumReplace16(csumReplace32(c0, old, addr), oldPort, port);
      wr16(buf, co, proto === PROTO_UDP && c === 0 ? 0xffff : c);
    }
  }
  wr16(buf, il4 + portOff, port);
}

/** Recompute the checksum of the ICMP message at l4 (the quote changed: a full sum, errors are rare;
 *  the message's own was checked first, Datapath.icmpRelated, so nothing corrupted is made valid). */
export function icmpFixChecksum(buf: Buffer, l4: number, end: number): void {
  buf[l4 + 2] = 0;
  buf[l4 + 3] = 0;
  const c = checksum(buf, l4, end - l4);
  wr16(buf, l4 + 2, c);
}

/**
 * Build "destination unreachable, fragmentation needed" (type 3 code 4, RFC 1191) at genOff in
 * gen, answering the packet at buf[ip..]: from `src` to the packet's source, next-hop MTU `mtu`,
 * quoting the packet's IP header and the first 8 bytes of its payload. Returns the frame length
 * (the Ethernet addresses are left for the output to fill).
 */
export function buildFragNeeded(gen: Buffer, genOff: number, buf: Buffer, ip: number, src: number, mtu: number): number {
  return buildIcmpError(gen, genOff, buf, ip, src, ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED, mtu);
}

/**
 * An ICMP error of `type` and `code` at genOff in gen, answering the packet at buf[ip..]: from
 * `src` to the packet's source, quoting the packet's IP header and the first 8 bytes of its
 * payload (RFC 792); `mtu` fills the next-hop MTU field (fragmentation needed; 0 for the others,
 * "unused"). Port unreachable (3/3) from the VIP is IPVS's ip_vs_leave() for a service without an
 * available server; time exceeded in transit (11/0) its decrement_ttl(). Returns the frame length
 * (the Ethernet addresses are left for the output to fill).
 */
export function buildIcmpError(gen: Buffer, genOff: number, buf: Buffer, ip: number, src: number, type: number, code: number, mtu: number): number {
  const ihl = (buf[ip] & 15) * 4;
  const tot = rd16(buf, ip + IP_TOTLEN);
  const quote = Math.min(tot, ihl + 8);
  const o = genOff + ETH_HLEN;
  wr16(gen, genOff + ETH_TYPE, ETHERTYPE_IPV4);
  // Internetwork control (TOS 0xc0), as Linux sends ICMP errors.
  ipv4Own(gen, o, 0xc0, 20 + 8 + quote, false, PROTO_ICMP, src, rd32(buf, ip + IP_SRC));
  const ic = o + 20;
  gen[ic] = type;
  gen[ic + 1] = code;
  wr16(gen, ic + 4, 0);
  wr16(gen, ic + 6, mtu);
  for (let i = 0; i < quote; i++) gen[ic + 8 + i] = buf[ip + i];
  icmpFixChecksum(gen, ic, ic + 8 + quote);
  return ETH_HLEN + 20 + 8 + quote;
}
