// Frame layout constants and checksum arithmetic. Parsing is done with offsets into the
// receive buffer (no views, no objects per packet); these are the offsets everyone shares.

export const ETH_HLEN = 14;
export const ETH_DST = 0;
export const ETH_SRC = 6;
export const ETH_TYPE = 12;
export const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_ARP = 0x0806;

// IPv4 header field offsets (from the start of the IP header)
export const IP_VER_IHL = 0;
export const IP_TOTLEN = 2;
export const IP_ID = 4;
export const IP_FRAG = 6;
export const IP_TTL = 8;
export const IP_PROTO = 9;
export const IP_CSUM = 10;
export const IP_SRC = 12;
export const IP_DST = 16;

export const PROTO_ICMP = 1;
export const PROTO_IPIP = 4;
export const PROTO_TCP = 6;
export const PROTO_UDP = 17;
export const PROTO_GRE = 47;
/** IPsec ESP and AH: no ports; IPVS ties them to the client's IKE connection (UDP 500). */
export const PROTO_ESP = 50;
export const PROTO_AH = 51;
/** SCTP on the wire. */
export const IPPROTO_SCTP = 132;
/** SCTP inside uvs (services, the connection table, sync records, the trace ring): the wire's
 *  132 has bit 0x80, which the connection table's proto byte uses for templates (PROTO_TPL). */
export const PROTO_SCTP = 0x3f;

/** The name the control plane uses for a service's or connection's protocol (uvs's numbers above). */
export function l4Name(proto: number): 'tcp' | 'udp' | 'sctp' {
  return proto === PROTO_UDP ? 'udp' : proto === PROTO_SCTP ? 'sctp' : 'tcp';
}

export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_ACK = 0x10;

/** Ones'-complement sum of 16-bit words over buf[off, off+len), not folded or inverted. */
export function sum16(buf: Uint8Array, off: number, len: number, initial: number): number {
  let s = initial;
  const end = off + (len & ~1);
  for (let i = off; i < end; i += 2) s += (buf[i] << 8) | buf[i + 1];
  if (len & 1) s += buf[off + len - 1] << 8;
  return s;
}

export function fold16(s: number): number {
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}

/** The checksum to store for a region (RFC 1071). */
export function checksum(buf: Uint8Array, off: number, len: number, initial = 0): number {
  return ~fold16(sum16(buf, off, len, initial)) & 0xffff;
}

/** True when the IPv4 header at `ip` with `hlen` bytes has a valid checksum. */
export function ipv4HeaderValid(buf: Uint8Array, ip: number, hlen: number): boolean {
  if (hlen !== 20) return fold16(sum16(buf, ip, hlen, 0)) === 0xffff;
  // No options (nearly every packet): the ten words unrolled, even and odd bytes summed apart.
  const hi = buf[ip] + buf[ip + 2] + buf[ip + 4] + buf[ip + 6] + buf[ip + 8] + buf[ip + 10] + buf[ip + 12] + buf[ip + 14] + buf[ip + 16] + buf[ip + 18];
  const lo = buf[ip + 1] + buf[ip + 3] + buf[ip + 5] + buf[ip + 7] + buf[ip + 9] + buf[ip + 11] + buf[ip + 13] + buf[ip + 15] + buf[ip + 17] + buf[ip + 19];
  return fold16((hi << 8) + lo) === 0xffff;
}

/**
 * The options of an IPv4 header longer than 20 bytes, as the kernel's ip_options_compile walks
 * them before routing (so before IPVS): each option after END/NOP needs a length of at least 2
 * that stays inside the header. Source routing (LSRR 131, SSRR 137) is refused too, as the
 * kernel refuses it by default (accept_source_route 0).
 */
export function ipv4OptionsValid(buf: Uint8Array, ip: number, hlen: number): boolean {
  const end = ip + hlen;
  for (let o = ip + 20; o < end;) {
    const t = buf[o];
    if (t === 0) return true; // end of options
    if (t === 1) {
      o++; // no operation
      continue;
    }
    if (t === 131 || t === 137 || o + 1 >= end) return false;
    const l = buf[o + 1];
    if (l < 2 || o + l > end) return false;
    o += l;
  }
  return true;
}

/**
 * The header of a fragment after the first (RFC 791, the kernel's ip_options_fragment): options
 * whose copied flag (bit 7 of the type) is clear, such as Record Route and Timestamp, become NOPs;
 * the header keeps its length. Options as ipv4OptionsValid checked them.
 */
export function ipv4OptionsFragment(buf: Uint8Array, ip: number, hlen: number): void {
  const end = ip + hlen;
  for (let o = ip + 20; o < end;) {
    const t = buf[o];
    if (t === 0) return;
    if (t === 1) {
      o++;
      continue;
    }
    const l = buf[o + 1];
    if (l < 2 || o + l > end) return;
    if ((t & 0x80) === 0) buf.fill(1, o, o + l);
    o += l;
  }
}

/** Recompute the IPv4 header checksum in place. */
export function ipv4SetChecksum(buf: Uint8Array, ip: number, hlen: number): void {
  buf[ip + IP_CSUM] = 0;
  buf[ip + IP_CSUM + 1] = 0;
  const c = checksum(buf, ip, hlen);
  buf[ip + IP_CSUM] = c >>> 8;
  buf[ip + IP_CSUM + 1] = c & 0xff;
}

/**
 * The 20-byte IPv4 header of a packet uvsd builds itself (an answer: ICMP error, TCP reset,
 * SYN|ACK) at ip: ID 0, TTL 64, DF if asked, its checksum computed.
 */
export function ipv4Own(buf: Uint8Array, ip: number, tos: number, totLen: number, df: boolean, proto: number, src: number, dst: number): void {
  buf[ip] = 0x45;
  buf[ip + 1] = tos;
  wr16(buf, ip + IP_TOTLEN, totLen);
  wr16(buf, ip + IP_ID, 0);
  wr16(buf, ip + IP_FRAG, df ? 0x4000 : 0);
  buf[ip + IP_TTL] = 64;
  buf[ip + IP_PROTO] = proto;
  wr32(buf, ip + IP_SRC, src);
  wr32(buf, ip + IP_DST, dst);
  ipv4SetChecksum(buf, ip, 20);
}

/**
 * RFC 1624 incremental update: the checksum after a 16-bit field changed from `old` to `neu`.
 * HC' = ~(~HC + ~m + m'). Used by every rewriting forwarder instead of a full recomputation.
 */
export function csumReplace16(csum: number, old: number, neu: number): number {
  const s = (~csum & 0xffff) + (~old & 0xffff) + neu;
  return ~fold16(s) & 0xffff;
}

/** Same for a 32-bit field (an address): two 16-bit replacements. */
export function csumReplace32(csum: number, old: number, neu: number): number {
  const s = (~csum & 0xffff) + (~(old >>> 16) & 0xffff) + (~old & 0xffff) + (neu >>> 16) + (neu & 0xffff);
  return ~fold16(s) & 0xffff;
}

export function rd16(buf: Uint8Array, o: number): number {
  return (buf[o] << 8) | buf[o + 1];
}

/** A 32-bit field as an int32: addresses on the hot path stay in V8's small-integer range
 *  (a uint32 at or above 2^31, i.e. every address from 128.0.0.0, would be boxed). */
export function rd32(buf: Uint8Array, o: number): number {
  return (buf[o] << 24) | (buf[o + 1] << 16) | (buf[o + 2] << 8) | buf[o + 3];
}

export function wr16(buf: Uint8Array, o: number, v: number): void {
  buf[o] = (v >>> 8) & 0xff;
  buf[o + 1] = v & 0xff;
}

export function wr32(buf: Uint8Array, o: number, v: number): void {
  buf[o] = (v >>> 24) & 0xff;
  buf[o + 1] = (v >>> 16) & 0xff;
  buf[o + 2] = (v >>> 8) & 0xff;
  buf[o + 3] = v & 0xff;
}

/** Copy 6 bytes of MAC. */
export function copyMac(dst: Uint8Array, dOff: number, src: Uint8Array, sOff: number): void {
  dst[dOff] = src[sOff];
  dst[dOff + 1] = src[sOff + 1];
  dst[dOff + 2] = src[sOff + 2];
  dst[dOff + 3] = src[sOff + 3];
  dst[dOff + 4] = src[sOff + 4];
  dst[dOff + 5] = src[sOff + 5];
}

export function macEquals(a: Uint8Array, aOff: number, b: Uint8Array, bOff: number): boolean {
  return (
    a[aOff] === b[bOff] &&
    a[aOff + 1] === b[bOff + 1] &&
    a[aOff + 2] === b[bOff + 2] &&
    a[aOff + 3] === b[bOff + 3] &&
    a[aOff + 4] === b[bOff + 4] &&
    a[aOff + 5] === b[bOff + 5]
  );
}
