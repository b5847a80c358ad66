// TUN (ipvsadm -i, "Tunnel"): the client's IP packet is wrapped (one hop on) in a new IPv4 header
// (protocol 4, IPIP): outer source the director address on the server's network (or the first
// --addr), outer destination the real server, TTL and DF copied from the inner packet (whose TTL
// the pipeline has already decreased, as IPVS's tunnel transmitter). The
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
  ETH_HLEN, ETH_TYPE, ETHERTYPE_IPV4, IP_FRAG, IP_ID, IP_PROTO, IP_SRC, IP_TOTLEN, IP_TTL, PROTO_IPIP, ipv4SetChecksum, rd16, rd32, wr16, wr32,
} from '../datapath/frame.js';
import { buildFragNeeded } from '../proto/icmp.js';
import { VNET_GSO_TCPV4, tcpGsoSegment, vnetClear, vnetCompleteCsum } from '../datapath/vnet.js';
import { FWD_TUN, type Forwarder, type Output } from './types.js';

const IPIP_HLEN = 20;

/** The Ethernet type and outer IPv4 header at gen slot g, for an inner packet of innerTot bytes. */
function outer(o: Output, g: number, innerTot: number, tos: number, ttl: number, id: number, df: number, rip: number): void {
  outerAt(o.genBuf, g, o, innerTot, tos, ttl, id, df, rip);
}

/** The same in any buffer, for a frame starting at g. */
function outerAt(gen: Buffer, g: number, o: Output, innerTot: number, tos: number, ttl: number, id: number, df: number, rip: number): void {
  wr16(gen, g + ETH_TYPE, ETHERTYPE_IPV4);
  const h = g + ETH_HLEN;
  gen[h] = 0x45;
  gen[h + 1] = tos; // copied, as the kernel's ipip does
  wr16(gen, h + IP_TOTLEN, innerTot + IPIP_HLEN);
  wr16(gen, h + IP_ID, id);
  wr16(gen, h + IP_FRAG, df);
  gen[h + IP_TTL] = ttl;
  gen[h + IP_PROTO] = PROTO_IPIP;
  wr32(gen, h + IP_SRC, o.srcFor(rip));
  wr32(gen, h + 16, rip);
  ipv4SetChecksum(gen, h, IPIP_HLEN);
}

/** Wrap the IP packet at buf[ip, ip+tot) for rip and send it: in place when the receive buffer
 *  has headroom in front of the frame, else in a generated slot (a copy). */
function encap(o: Output, buf: Buffer, ip: number, tot: number, rip: number, inPlace: boolean): void {
  if (inPlace && o.headroom >= IPIP_HLEN + o.vnetHdr) {
    // The new frame starts 20 bytes earlier: Ethernet header, then the outer IP header where the
    // old Ethernet header was, then the untouched packet; its (zero) vnet header in front of it.
    const f = ip - ETH_HLEN - IPIP_HLEN;
    outerAt(buf, f, o, tot, buf[ip + 1], buf[ip + IP_TTL], rd16(buf, ip + IP_ID), rd16(buf, ip + IP_FRAG) & 0x4000, rip);
    if (o.vnetHdr > 0) vnetClear(buf, f);
    o.toHost(buf, f, ETH_HLEN + IPIP_HLEN + tot, rip);
    return;
  }
  const g = o.genSlot();
  if (g < 0) {
    o.drop(D.tx_failed);
    return;
  }
  outer(o, g, tot, buf[ip + 1], buf[ip + IP_TTL], rd16(buf, ip + IP_ID), rd16(buf, ip + IP_FRAG) & 0x4000, rip);
  o.copyToGen(buf, ip, g + ETH_HLEN + IPIP_HLEN, tot);
  o.toHost(o.genBuf, g, ETH_HLEN + IPIP_HLEN + tot, rip);
}

/**
 * A packet without DF too big to wrap: cut it into inner fragments that fit with the outer
 * header (as any router may), wrap each. The server's kernel reassembles them after decapsulation.
 */
function fragmentThenEncap(o: Output, buf: Buffer, ip: number, tot: number, rip: number): void {
  const gen = o.genBuf;
  const ihl = (buf[ip] & 15) * 4;
  const maxData = ((o.mtu - IPIP_HLEN - ihl) >> 3) << 3;
  const frag0 = rd16(buf, ip + IP_FRAG);
  const data = tot - ihl;
  for (let done = 0; done < data; done += maxData) {
    const n = data - done < maxData ? data - done : maxData;
    const last = done + n >= data;
    const g = o.genSlot();
    if (g < 0) {
      o.drop(D.tx_failed);
      return;
    }
    const ih = g + ETH_HLEN + IPIP_HLEN;
    outer(o, g, ihl + n, buf[ip + 1], buf[ip + IP_TTL], rd16(buf, ip + IP_ID), 0, rip);
    o.copyToGen(buf, ip, ih, ihl);
    o.copyToGen(buf, ip + ihl + done, ih + ihl, n);
    wr16(gen, ih + IP_TOTLEN, ihl + n);
    wr16(gen, ih + IP_FRAG, (last ? frag0 & 0x2000 : 0x2000) | ((frag0 & 0x1fff) + (done >> 3)));
    ipv4SetChecksum(gen, ih, ihl);
    o.count(C.tun_inner_fragments);
    o.toHost(gen, g, ETH_HLEN + IPIP_HLEN + ihl + n, rip);
  }
}

/**
 * "Fragmentation needed" to the client for a packet too big to wrap (next-hop MTU = MTU - 20),
 * sent like uvsd's other answers: never to a broadcast MAC or a source the kernel would not
 * answer, and within the ICMP rate limit they share.
 */
function fragNeeded(o: Output, buf: Buffer, off: number, ip: number, e: number): void {
  o.drop(D.mtu_exceeded);
  const src = rd32(buf, ip + IP_SRC);
  const g = o.answerSlot(buf, off, src, C.icmp_frag_needed_ratelimited);
  if (g < 0) return;
  const flen = buildFragNeeded(o.genBuf, g, buf, ip, o.ct.vaddr[e], o.mtu - IPIP_HLEN);
  o.count(C.icmp_frag_needed_sent);
  o.toHost(o.genBuf, g, flen, src);
}

/** A TCP super-segment (vnet GSO): cut into gso_size segments (vnet.ts), each wrapped in a generated slot. */
function segmentThenEncap(o: Output, buf: Buffer, off: number, ip: number, l4: number, tot: number, e: number): void {
  const mss = o.gsoSize;
  if (l4 < 0 || buf[ip + IP_PROTO] !== 6 || (o.gsoType & 0x7f) !== VNET_GSO_TCPV4 || mss === 0) {
    o.drop(D.offload_unsupported);
    return;
  }
  const hl = l4 - ip + (buf[l4 + 12] >>> 4) * 4;
  if (hl + mss + IPIP_HLEN > o.mtu) {
    fragNeeded(o, buf, off, ip, e);
    return;
  }
  const gen = o.genBuf;
  const rip = o.ct.daddr[e];
  const df = rd16(buf, ip + IP_FRAG) & 0x4000;
  for (let k = 0; ; k++) {
    let g = o.genSlot();
    if (g < 0) {
      o.genFlush(); // more segments than a batch has slots: send what is built, reuse the slots
      g = o.genSlot();
    }
    const ih = g + ETH_HLEN + IPIP_HLEN;
    const n = tcpGsoSegment(buf, ip, l4, tot, mss, k, gen, ih);
    if (n === 0) return;
    outer(o, g, n, buf[ip + 1], buf[ip + IP_TTL], rd16(gen, ih + IP_ID), df, rip);
    o.count(C.gso_segments_built);
    o.toHost(gen, g, ETH_HLEN + IPIP_HLEN + n, rip);
  }
}

export const tun: Forwarder = {
  id: FWD_TUN,
  noOutput: true,
  inbound(o: Output, buf: Buffer, off: number, len: number, ip: number, l4: number, e: number): void {
    const tot = len - (ip - off);
    if (o.vnetHdr > 0) {
      if (o.gsoType !== 0) {
        segmentThenEncap(o, buf, off, ip, l4, tot, e);
        return;
      }
      // The wrapped packet leaves with a zero header: its checksum must be whole.
      if (o.csumPartial && !vnetCompleteCsum(buf, off, len)) {
        o.drop(D.offload_unsupported);
        return;
      }
    }
    if (tot + IPIP_HLEN > o.mtu) {
      if ((rd16(buf, ip + IP_FRAG) & 0x4000) === 0) {
        fragmentThenEncap(o, buf, ip, tot, o.ct.daddr[e]);
        return;
      }
      fragNeeded(o, buf, off, ip, e);
      return;
    }
    encap(o, buf, ip, tot, o.ct.daddr[e], true);
  },
  /** An error about one of the server's replies (sent to the VIP) goes to the server, wrapped. */
  icmp(o: Output, buf: Buffer, off: number, len: number, ip: number, _inner: number, e: number, toServer: boolean): void {
    const tot = len - (ip - off);
    if (toServer && tot + IPIP_HLEN <= o.mtu && o.gsoType === 0) encap(o, buf, ip, tot, o.ct.daddr[e], true);
  },
};
