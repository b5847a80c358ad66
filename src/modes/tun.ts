// TUN (ipvsadm -i, "Tunnel"): the client's IP packet is wrapped, untouched, in a new IPv4 header
// (protocol 4, IPIP): outer source the director address on the server's network (or the first
// --addr), outer destination the real server, TTL 64, DF copied from the inner packet. The
// server decapsulates (tunl0, or uvsd decap), holds the VIP, and replies to the client directly.
// Off-link servers are reached through --gateway. A packet that would exceed the MTU with the
// 20 extra bytes and has DF set is answered with ICMP "fragmentation needed" (next-hop MTU =
// MTU - 20), so the client's path MTU discovery shrinks its segments.
//
// The encapsulated frame is built in a generated-frame slot (a copy of the packet): the receive
// slots have no headroom in front of the frame. See docs/architecture.md for the measurement.

import { C, D } from '../datapath/counters.js';
import {
  ETH_HLEN, ETH_TYPE, ETHERTYPE_IPV4, IP_FRAG, IP_ID, IP_PROTO, IP_SRC, IP_TOTLEN, PROTO_IPIP, ipv4SetChecksum, rd16, rd32, wr16, wr32,
} from '../datapath/frame.js';
import { buildFragNeeded } from '../proto/icmp.js';
import { FWD_TUN, type Forwarder, type Output } from './types.js';

const IPIP_HLEN = 20;

/** Wrap the IP packet at buf[ip, ip+tot) for rip in a generated slot and send it. */
function encap(o: Output, buf: Buffer, ip: number, tot: number, rip: number): void {
  const g = o.genSlot();
  if (g < 0) {
    o.drop(D.tx_failed);
    return;
  }
  const gen = o.genBuf;
  wr16(gen, g + ETH_TYPE, ETHERTYPE_IPV4);
  const h = g + ETH_HLEN;
  gen[h] = 0x45;
  gen[h + 1] = buf[ip + 1]; // TOS copied, as the kernel's ipip does
  wr16(gen, h + IP_TOTLEN, tot + IPIP_HLEN);
  wr16(gen, h + IP_ID, rd16(buf, ip + IP_ID));
  wr16(gen, h + IP_FRAG, rd16(buf, ip + IP_FRAG) & 0x4000);
  gen[h + 8] = 64;
  gen[h + IP_PROTO] = PROTO_IPIP;
  wr32(gen, h + IP_SRC, o.srcFor(rip));
  wr32(gen, h + 16, rip);
  ipv4SetChecksum(gen, h, IPIP_HLEN);
  o.copyToGen(buf, ip, h + IPIP_HLEN, tot);
  o.toHost(gen, g, ETH_HLEN + IPIP_HLEN + tot, rip);
}

export const tun: Forwarder = {
  id: FWD_TUN,
  noOutput: true,
  inbound(o: Output, buf: Buffer, off: number, len: number, ip: number, _l4: number, e: number): void {
    const tot = len - (ip - off);
    if (tot + IPIP_HLEN > o.mtu) {
      o.drop(D.mtu_exceeded);
      if ((rd16(buf, ip + IP_FRAG) & 0x4000) === 0) return; // no DF: fragmenting is not built
      const g = o.genSlot();
      if (g < 0) return;
      const flen = buildFragNeeded(o.genBuf, g, buf, ip, o.ct.vaddr[e], o.mtu - IPIP_HLEN);
      o.count(C.icmp_frag_needed_sent);
      o.toHost(o.genBuf, g, flen, rd32(buf, ip + IP_SRC));
      return;
    }
    encap(o, buf, ip, tot, o.ct.daddr[e]);
  },
  /** An error about one of the server's replies (sent to the VIP) goes to the server, wrapped. */
  icmp(o: Output, buf: Buffer, off: number, len: number, ip: number, _inner: number, e: number, toServer: boolean): void {
    const tot = len - (ip - off);
    if (toServer && tot + IPIP_HLEN <= o.mtu) encap(o, buf, ip, tot, o.ct.daddr[e]);
  },
};
