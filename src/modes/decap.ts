// The TUN real-server helper's parser (bin/uvs-decap, src/cli/decap.ts): which received frames
// are IPIP packets from a director carrying a packet for one of our VIPs, and where the inner
// packet lies. Offsets only, no allocation: it runs per frame.
import { ETH_HLEN, ETH_TYPE, ETHERTYPE_IPV4, IP_DST, IP_PROTO, IP_TOTLEN, PROTO_IPIP, rd16, rd32 } from '../datapath/frame.js';

export const DECAP_OK = 1;
/** Not an IPIP packet: none of our business (not counted). */
export const DECAP_NOT_IPIP = 0;
/** IPIP, but malformed or for an address that is not ours: counted as ignored. */
export const DECAP_BAD = -1;

/**
 * Classify the frame at buf[off, off+len). On DECAP_OK, out[0] is the inner packet's offset and
 * out[1] its length (both inside the frame). `vips` holds the VIPs as int32 (rd32's form).
 */
export function decapFrame(buf: Buffer, off: number, len: number, vips: ReadonlySet<number>, out: Int32Array): number {
  const ip = off + ETH_HLEN;
  if (len < ETH_HLEN + 40 || rd16(buf, off + ETH_TYPE) !== ETHERTYPE_IPV4 || buf[ip + IP_PROTO] !== PROTO_IPIP) return DECAP_NOT_IPIP;
  const ihl = (buf[ip] & 15) * 4;
  const tot = rd16(buf, ip + IP_TOTLEN);
  const inner = ip + ihl;
  if (ihl < 20 || tot > len - ETH_HLEN || tot < ihl + 20 || buf[inner] >>> 4 !== 4 || !vips.has(rd32(buf, inner + IP_DST))) return DECAP_BAD;
  out[0] = inner;
  out[1] = tot - ihl;
  return DECAP_OK;
}
