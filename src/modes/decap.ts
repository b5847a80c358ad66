// The TUN real-server helper's parser (bin/uvs-decap, src/cli/decap.ts): which received frames
// are tunnelled packets from a director carrying a packet for one of our VIPs, and where the
// inner packet lies. IPIP (protocol 4), GRE (protocol 47: version 0, IPv4 inside, with or without
// its checksum, as IPVS's ipvs_gre_encap sends it) and, when a port is given, GUE (UDP to that
// port: version 0, IPIP inside, options skipped). Offsets only, no allocation: it runs per frame.
// Outer fragments (a router after the director fragmented a packet without DF) are told apart
// for the reassembly (decap-reasm.ts).
//
// The packet socket sees every frame the interface receives, also those for other stations (a
// switch floods unicast whose MAC entry aged out; a bridge with ageing 0 floods everything).
// The kernel's ipip/gre/fou handlers never see those: ip_rcv drops a frame that is not
// PACKET_HOST (nor broadcast or multicast), and only an outer destination that is a local address
// is delivered to them. The same two checks here, by the interface's MAC and the host's addresses
// (a plain packet socket read does not give the packet type). And as the kernel, it checks the
// outer header's checksum and the tunnel's own (GUE's UDP checksum, GRE's with its C bit), and
// hands no GUE control message on.
import {
  ETH_HLEN, ETH_TYPE, ETHERTYPE_IPV4, IP_DST, IP_FRAG, IP_PROTO, IP_SRC, IP_TOTLEN, PROTO_GRE, PROTO_IPIP, PROTO_UDP, checksum, ipv4HeaderValid, rd16, rd32, sum16,
} from '../datapath/frame.js';

export const DECAP_OK = 1;
/** Not a tunnelled packet: none of our business (not counted). */
export const DECAP_NOT_TUNNEL = 0;
/** A fragment of an IPIP or GRE packet (or of any UDP datagram, with a GUE port): for OuterReassembly
 *  (decap-reasm.ts), whose whole packet comes back here. */
export const DECAP_FRAGMENT = 2;
// Tunnelled but refused (negative): uvs-decap counts each reason in DECAP_COUNTERS[-r - 1].
/** Malformed, or the inner destination is not a VIP. */
export const DECAP_BAD = -1;
/** The Ethernet destination is another station's MAC (the kernel's PACKET_OTHERHOST). */
export const DECAP_OTHER_HOST = -2;
/** The outer destination is not an address of this host. */
export const DECAP_NOT_LOCAL = -3;
/** The outer IPv4 header's checksum is wrong. */
export const DECAP_BAD_IP_CSUM = -4;
/** GUE's UDP checksum or GRE's checksum (when present) is wrong. */
export const DECAP_BAD_TUN_CSUM = -5;
/** A GUE control message (C bit): nothing to hand to the stack. */
export const DECAP_GUE_CONTROL = -6;
/** Longer than the read takes (decapFrame's readMax): the frame was cut. */
export const DECAP_TRUNCATED = -7;
/** The names uvs-decap prints its counts by, for results -1, -2, ... */
export const DECAP_COUNTERS = ['ignored', 'other_host', 'not_local', 'bad_ip_csum', 'bad_tunnel_csum', 'gue_control', 'truncated'] as const;

/** The outer headers' bytes at most in front of an inner packet: Ethernet, IPv4 with options
 *  (60), and GUE's (UDP, its header, 31 words of options), the longest tunnel's. */
const OUTER_MAX = ETH_HLEN + 60 + 8 + 4 + 31 * 4;

/** uvs-decap's read size (its port's stride) for inner packets of up to mtu bytes: the whole
 *  tunnelled frame, at least the 2112 bytes it always read. */
export function decapStride(mtu: number): number {
  return Math.max(2112, Math.ceil((mtu + OUTER_MAX) / 64) * 64);
}

/** What uvs-decap takes as its own; the CLI refreshes `locals` and the MAC when they change. */
export interface DecapHost {
  /** The VIPs, as int32 (rd32's form). */
  readonly vips: ReadonlySet<number>;
  /** This host's IPv4 addresses, as int32. */
  locals: ReadonlySet<number>;
  /** The interface's MAC: rd16 of its first two bytes, rd32 of the last four. */
  macHi: number;
  macLo: number;
  /** The UDP port GUE arrives on (0: none). */
  readonly guePort: number;
}

/** Set host's MAC from its 6 bytes. */
export function setHostMac(host: DecapHost, mac: Uint8Array): void {
  host.macHi = rd16(mac, 0);
  host.macLo = rd32(mac, 2);
}

/**
 * Classify the frame at buf[off, off+len). On DECAP_OK, out[0] is the inner packet's offset and
 * out[1] its length (both inside the frame); a negative result is a tunnelled frame refused, by
 * reason. `readMax`: the length the read cuts frames at (0: not cut), so a frame that long whose
 * packet runs past it is DECAP_TRUNCATED, not malformed.
 */
export function decapFrame(buf: Buffer, off: number, len: number, host: DecapHost, out: Int32Array, readMax = 0): number {
  const ip = off + ETH_HLEN;
  if (len < ETH_HLEN + 40 || rd16(buf, off + ETH_TYPE) !== ETHERTYPE_IPV4) return DECAP_NOT_TUNNEL;
  const proto = buf[ip + IP_PROTO];
  const ihl = (buf[ip] & 15) * 4;
  const guePort = host.guePort;
  // A fragment of a tunnelled packet (a later UDP fragment has no port to tell GUE by): for the reassembly.
  const fragment = (rd16(buf, ip + IP_FRAG) & 0x3fff) !== 0;
  const gue = proto === PROTO_UDP && guePort !== 0 && (fragment || (len >= ETH_HLEN + ihl + 4 && rd16(buf, ip + ihl + 2) === guePort));
  if (proto !== PROTO_IPIP && proto !== PROTO_GRE && !gue) return DECAP_NOT_TUNNEL;
  // In the kernel's order: ip_rcv (the frame's station, the header), the route (a local
  // destination), the tunnel handler (its header and checksum).
  // Unicast to another station (the group bit clear: broadcast and multicast go up, as the kernel's).
  if ((buf[off] & 1) === 0 && (rd16(buf, off) !== host.macHi || rd32(buf, off + 2) !== host.macLo)) return DECAP_OTHER_HOST;
  const tot = rd16(buf, ip + IP_TOTLEN);
  if (buf[ip] >>> 4 !== 4 || ihl < 20 || tot < ihl) return DECAP_BAD;
  if (tot > len - ETH_HLEN) return len === readMax ? DECAP_TRUNCATED : DECAP_BAD;
  if (!ipv4HeaderValid(buf, ip, ihl)) return DECAP_BAD_IP_CSUM;
  if (!host.locals.has(rd32(buf, ip + IP_DST))) return DECAP_NOT_LOCAL;
  if (fragment) return DECAP_FRAGMENT;
  const t = ip + ihl; // the tunnel's header (none for IPIP)
  let hdr: number; // bytes between the outer IP header and the inner packet
  let end = ip + tot;
  if (proto === PROTO_IPIP) {
    hdr = 0;
  } else if (proto === PROTO_GRE) {
    if (tot < ihl + 4) return DECAP_BAD;
    const flags = rd16(buf, t);
    if ((flags & ~0x8000) !== 0 || rd16(buf, t + 2) !== ETHERTYPE_IPV4) return DECAP_BAD; // only C, version 0, IPv4
    hdr = flags === 0 ? 4 : 8;
    if (tot < ihl + hdr + 20) return DECAP_BAD;
    // With the C bit, the checksum over GRE's header and the inner packet (gre_parse_header).
    if (hdr === 8 && checksum(buf, t, tot - ihl) !== 0) return DECAP_BAD_TUN_CSUM;
  } else {
    // UDP as udp_queue_rcv_one_skb hands it to fou: its length, its checksum (0: none), then GUE.
    const ulen = rd16(buf, t + 4);
    if (tot < ihl + 12 || ulen < 12 || ulen > tot - ihl) return DECAP_BAD;
    if (rd16(buf, t + 6) !== 0 && checksum(buf, t, ulen, sum16(buf, ip + IP_SRC, 8, PROTO_UDP + ulen)) !== 0) return DECAP_BAD_TUN_CSUM;
    const g = t + 8;
    if ((buf[g] >>> 6) !== 0) return DECAP_BAD; // GUE version 0
    if ((buf[g] & 0x20) !== 0) return DECAP_GUE_CONTROL; // the C bit: a control message, none for the stack (gue_udp_recv)
    if (buf[g + 1] !== PROTO_IPIP) return DECAP_BAD; // carrying IPIP
    hdr = 8 + 4 + (buf[g] & 31) * 4;
    end = t + ulen;
  }
  const inner = t + hdr;
  if (inner + 20 > end || buf[inner] >>> 4 !== 4 || !host.vips.has(rd32(buf, inner + IP_DST))) return DECAP_BAD;
  out[0] = inner;
  out[1] = end - inner;
  return DECAP_OK;
}

/**
 * What uvs-decap says of the reverse-path filter on its TUN, read every second: the kernel uses
 * the larger of conf/all/rp_filter and conf/TUN/rp_filter, and in strict mode (1) drops every
 * decapsulated packet, as its source (a client) is routed through DEV, not the TUN. uvs-decap
 * sets both to 0 at start; a later `sysctl --system` or configuration run that sets
 * all.rp_filter=1 again silently broke the server. undefined: nothing to say (0 or 2, loose).
 * all/tun: the files' contents (undefined: unreadable).
 */
export function rpFilterProblem(all: number | undefined, tunValue: number | undefined, tun: string, dev: string): string | undefined {
  const strict = [['all', all], [tun, tunValue]].filter(([, v]) => v === 1).map(([k]) => k as string);
  if (strict.length === 0) return undefined;
  return `uvs-decap: rp_filter is 1 (strict) on ${strict.join(' and ')}: the kernel drops every decapsulated packet (its source, ` +
    `the client, is routed through ${dev}, not ${tun}); set 0 or 2 (loose): sysctl -w ${strict.map((k) => `net.ipv4.conf.${k}.rp_filter=0`).join(' ')}`;
}
