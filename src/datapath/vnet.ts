// The virtio_net_hdr a TAP opened with IFF_VNET_HDR puts in front of every frame (uvsd --offload
// on, the default): it says whether the TCP/UDP checksum is still to be completed (partial) and
// whether the frame is a TCP super-segment (GSO/TSO, up to 64 KB) the kernel cuts later. uvsd
// reads it from the 10 bytes in front of each received frame and writes one in front of each
// frame it sends (port.ts): forwarded frames keep theirs (updated where needed), frames uvsd
// builds get a zero header (complete checksum, no GSO). Fields are little-endian (the kernel's
// legacy virtio byte order on x86/arm64: TUNSETVNETBE is never set).
//
// A partial checksum (VIRTIO_NET_HDR_F_NEEDS_CSUM, the kernel's CHECKSUM_PARTIAL) holds only the
// folded pseudo-header sum, not inverted; the kernel (or the NIC) later sums buf[csum_start..end]
// into it and stores the complement at csum_start + csum_offset. So an address rewrite moves it
// by the pseudo-header change only, and a port rewrite does not move it at all (rewrite.ts).

import { IP_SRC, IP_TOTLEN, PROTO_TCP, fold16, ipv4SetChecksum, rd16, rd32, sum16, wr16, wr32 } from './frame.js';

/** sizeof(struct virtio_net_hdr). */
export const VNET_HDR_LEN = 10;
/** Field offsets, from the start of the header (VNET_HDR_LEN bytes before the frame). */
export const VH_FLAGS = 0;
export const VH_GSO_TYPE = 1;
export const VH_HDR_LEN = 2;
export const VH_GSO_SIZE = 4;
export const VH_CSUM_START = 6;
export const VH_CSUM_OFFSET = 8;
/** flags: the L4 checksum is partial (see above). */
export const VNET_F_NEEDS_CSUM = 1;
/** gso_type values (without the ECN bit 0x80). */
export const VNET_GSO_NONE = 0;
export const VNET_GSO_TCPV4 = 1;
export const VNET_GSO_ECN = 0x80;

function rd16le(buf: Uint8Array, o: number): number {
  return buf[o] | (buf[o + 1] << 8);
}

function wr16le(buf: Uint8Array, o: number, v: number): void {
  buf[o] = v & 0xff;
  buf[o + 1] = (v >>> 8) & 0xff;
}

/** The header of the frame at `off` (it sits at off - VNET_HDR_LEN). */
export function vnetFlags(buf: Uint8Array, off: number): number {
  return buf[off - VNET_HDR_LEN + VH_FLAGS];
}

export function vnetGsoType(buf: Uint8Array, off: number): number {
  return buf[off - VNET_HDR_LEN + VH_GSO_TYPE];
}

export function vnetGsoSize(buf: Uint8Array, off: number): number {
  return rd16le(buf, off - VNET_HDR_LEN + VH_GSO_SIZE);
}

/** A zero header in front of the frame at off: complete checksum, no GSO. */
export function vnetClear(buf: Uint8Array, off: number): void {
  for (let i = off - VNET_HDR_LEN; i < off; i++) buf[i] = 0;
}

/** Write a header in front of the frame at off (tests and tools; the hot path copies or clears). */
export function vnetWrite(
  buf: Uint8Array, off: number, h: { flags?: number; gsoType?: number; hdrLen?: number; gsoSize?: number; csumStart?: number; csumOffset?: number },
): void {
  const v = off - VNET_HDR_LEN;
  buf[v + VH_FLAGS] = h.flags ?? 0;
  buf[v + VH_GSO_TYPE] = h.gsoType ?? 0;
  wr16le(buf, v + VH_HDR_LEN, h.hdrLen ?? 0);
  wr16le(buf, v + VH_GSO_SIZE, h.gsoSize ?? 0);
  wr16le(buf, v + VH_CSUM_START, h.csumStart ?? 0);
  wr16le(buf, v + VH_CSUM_OFFSET, h.csumOffset ?? 0);
}

/** Read a header (tests, tools: allocates). */
export function vnetRead(buf: Uint8Array, off: number): { flags: number; gsoType: number; hdrLen: number; gsoSize: number; csumStart: number; csumOffset: number } {
  const v = off - VNET_HDR_LEN;
  return {
    flags: buf[v + VH_FLAGS], gsoType: buf[v + VH_GSO_TYPE], hdrLen: rd16le(buf, v + VH_HDR_LEN),
    gsoSize: rd16le(buf, v + VH_GSO_SIZE), csumStart: rd16le(buf, v + VH_CSUM_START), csumOffset: rd16le(buf, v + VH_CSUM_OFFSET),
  };
}

/**
 * Do what the kernel does with a partial checksum, in place: sum the frame from csum_start to
 * its end (the field holds the pseudo-header sum) and store the complement; the header then
 * says "complete". For a frame uvsd must copy or wrap (TUN) instead of passing it on. false when
 * the header's offsets do not fit the frame (the caller drops it).
 */
export function vnetCompleteCsum(buf: Uint8Array, off: number, len: number): boolean {
  const v = off - VNET_HDR_LEN;
  const start = rd16le(buf, v + VH_CSUM_START);
  const field = start + rd16le(buf, v + VH_CSUM_OFFSET);
  if (start >= len || field + 2 > len) return false;
  const c = ~fold16(sum16(buf, off + start, len - start, 0)) & 0xffff;
  wr16(buf, off + field, c);
  buf[v + VH_FLAGS] &= ~VNET_F_NEEDS_CSUM;
  return true;
}

/**
 * Build TCP segment k of a GSO super-segment (IPv4 at `ip`, TCP at `l4`, IP total length `tot`,
 * `mss` payload bytes per segment) as a complete IP packet at dst[dIp]: IP and TCP headers
 * copied, IP total length, ID (+k) and checksum, sequence number (+k*mss), FIN/PSH only on the
 * last segment and CWR only on the first, TCP checksum computed in full — what the kernel's
 * tcp_gso_segment produces. Returns the segment's IP length, or 0 when k is past the end.
 */
export function tcpGsoSegment(src: Uint8Array, ip: number, l4: number, tot: number, mss: number, k: number, dst: Uint8Array, dIp: number): number {
  const ihl = l4 - ip;
  const thl = (src[l4 + 12] >>> 4) * 4;
  const payload = tot - ihl - thl;
  const from = k * mss;
  if (from >= payload && !(k === 0 && payload === 0)) return 0;
  const n = payload - from < mss ? payload - from : mss;
  const last = from + n >= payload;
  const hl = ihl + thl;
  for (let i = 0; i < hl; i++) dst[dIp + i] = src[ip + i];
  const dataFrom = l4 + thl + from;
  for (let i = 0; i < n; i++) dst[dIp + hl + i] = src[dataFrom + i];
  const segLen = hl + n;
  wr16(dst, dIp + IP_TOTLEN, segLen);
  wr16(dst, dIp + 4, (rd16(src, ip + 4) + k) & 0xffff);
  ipv4SetChecksum(dst, dIp, ihl);
  const t = dIp + ihl;
  wr32(dst, t + 4, (rd32(src, l4 + 4) + from) | 0);
  let flags = src[l4 + 13];
  if (!last) flags &= ~0x09; // FIN, PSH
  if (k > 0) flags &= ~0x80; // CWR
  dst[t + 13] = flags;
  dst[t + 16] = 0;
  dst[t + 17] = 0;
  // Pseudo-header: source and destination address, protocol, TCP length.
  let s = sum16(dst, dIp + IP_SRC, 8, 0) + PROTO_TCP + (thl + n);
  s = sum16(dst, t, thl + n, s);
  wr16(dst, t + 16, ~fold16(s) & 0xffff);
  return segLen;
}

/** Segments of a GSO frame (for sizing): ceil(payload / mss), at least one. */
export function tcpGsoCount(buf: Uint8Array, ip: number, l4: number, tot: number, mss: number): number {
  const payload = tot - (l4 - ip) - (buf[l4 + 12] >>> 4) * 4;
  return payload <= 0 ? 1 : Math.ceil(payload / mss);
}
