// The TUN real-server helper's parser (bin/uvs-decap, src/cli/decap.ts): which received frames
// are tunnelled packets from a director carrying a packet for one of our VIPs, and where the
// inner packet lies. IPIP (protocol 4), GRE (protocol 47: version 0, IPv4 inside, with or without
// its checksum, as IPVS's ipvs_gre_encap sends it) and, when a port is given, GUE (UDP to that
// port: version 0, IPIP inside, options skipped). Offsets only, no allocation: it runs per frame.
// Outer fragments (a router after the director fragmented a packet without DF) are told apart
// for the reassembly (decap-reasm.ts).
import { ETH_HLEN, ETH_TYPE, ETHERTYPE_IPV4, IP_DST, IP_FRAG, IP_PROTO, IP_TOTLEN, PROTO_GRE, PROTO_IPIP, PROTO_UDP, rd16, rd32 } from '../datapath/frame.js';

export const DECAP_OK = 1;
/** Not a tunnelled packet: none of our business (not counted). */
export const DECAP_NOT_TUNNEL = 0;
/** Tunnelled, but malformed or for an address that is not ours: counted as ignored. */
export const DECAP_BAD = -1;
/** A fragment of an IPIP or GRE packet (or of any UDP datagram, with a GUE port): for OuterReassembly
 *  (decap-reasm.ts), whose whole packet comes back here. */
export const DECAP_FRAGMENT = 2;

/**
 * Classify the frame at buf[off, off+len). On DECAP_OK, out[0] is the inner packet's offset and
 * out[1] its length (both inside the frame). `vips` holds the VIPs as int32 (rd32's form);
 * `guePort` is the UDP port GUE arrives on (0: none).
 */
export function decapFrame(buf: Buffer, off: number, len: number, vips: ReadonlySet<number>, out: Int32Array, guePort = 0): number {
  const ip = off + ETH_HLEN;
  if (len < ETH_HLEN + 40 || rd16(buf, off + ETH_TYPE) !== ETHERTYPE_IPV4) return DECAP_NOT_TUNNEL;
  const proto = buf[ip + IP_PROTO];
  const ihl = (buf[ip] & 15) * 4;
  // A fragment of a tunnelled packet (a later UDP fragment has no port to tell GUE by): for the reassembly.
  if ((rd16(buf, ip + IP_FRAG) & 0x3fff) !== 0 && (proto === PROTO_IPIP || proto === PROTO_GRE || (proto === PROTO_UDP && guePort !== 0))) {
    return DECAP_FRAGMENT;
  }
  let hdr: number; // bytes between the outer IP header and the inner packet
  if (proto === PROTO_IPIP) {
    hdr = 0;
  } else if (proto === PROTO_GRE) {
    if (len < ETH_HLEN + ihl + 4 + 20) return DECAP_BAD;
    const flags = rd16(buf, ip + ihl);
    if ((flags & ~0x8000) !== 0 || rd16(buf, ip + ihl + 2) !== ETHERTYPE_IPV4) return DECAP_BAD; // only C, version 0, IPv4
    hdr = flags === 0 ? 4 : 8;
  } else if (proto === PROTO_UDP && guePort !== 0 && len >= ETH_HLEN + ihl + 12 && rd16(buf, ip + ihl + 2) === guePort) {
    const g = ip + ihl + 8;
    if ((buf[g] >>> 6) !== 0 || buf[g + 1] !== PROTO_IPIP) return DECAP_BAD; // GUE v0 carrying IPIP
    hdr = 8 + 4 + (buf[g] & 31) * 4;
  } else {
    return DECAP_NOT_TUNNEL;
  }
  const tot = rd16(buf, ip + IP_TOTLEN);
  const inner = ip + ihl + hdr;
  if (ihl < 20 || tot > len - ETH_HLEN || tot < ihl + hdr + 20 || buf[inner] >>> 4 !== 4 || !vips.has(rd32(buf, inner + IP_DST))) return DECAP_BAD;
  out[0] = inner;
  out[1] = tot - ihl - hdr;
  return DECAP_OK;
}
