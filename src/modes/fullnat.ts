// FULLNAT (DPVS "FNAT", uvsadm fwd 'fullnat', printed FullNat): client→server packets get a
// local address and port of the director as source (SNAT CIP:cport → LIP:lport) and the real
// server as destination (DNAT VIP:vport → RIP:rport); the server replies to LIP:lport and both
// rewrites are undone. The server needs nothing but a route to the LIPs. The local port is taken
// from the service's LIP pool at bind and given back at unbind (expiry).
// With uvsd --toa the server's SYN|ACK arms TOA (src/proto/toa.ts): the client segments that
// complete the server's handshake carry the client's address and port in a TCP option.

import { C, D } from '../datapath/counters.js';
import { F_SYNPROXY, F_TOA } from '../datapath/conntable.js';
import { IP_DST, IP_SRC, PROTO_TCP, TCP_ACK, TCP_RST, TCP_SYN, rd32 } from '../datapath/frame.js';
import { TCP_FLAGS, TCP_SEQ } from '../proto/tcp.js';
import { toaLowerMss, toaSend, toaWanted } from '../proto/toa.js';
import { icmpFixChecksum, icmpSetInner, icmpSetOuter } from '../proto/icmp.js';
import { sctpRewritten, setDst, setSrc } from '../proto/rewrite.js';
import { FWD_FULLNAT, type Forwarder, type Output } from './types.js';

const taken = new Int32Array(2);
/** Ports looked at per LIP when every port is taken (the kernel's early_drop looks at 8 entries). */
const RECLAIM_PER_LIP = 8;

export const fullnat: Forwarder = {
  id: FWD_FULLNAT,
  noOutput: false,
  bind(o: Output, e: number): boolean {
    const ct = o.ct;
    const svc = o.destSvc[ct.dest[e]];
    const proto = ct.proto[e];
    if (!o.laddrs.take(svc, proto, e, taken)) {
      // Every port taken: like the kernel's conntrack early_drop, expire a connection of little
      // value (UDP not a stream, TCP finished: ConnTable.reclaimable) among those holding the
      // oldest ports, so one-packet flows and TIME_WAIT cannot keep every port for their timeout.
      if (!o.laddrs.reclaim(svc, proto, RECLAIM_PER_LIP, ct) || !o.laddrs.take(svc, proto, e, taken)) {
        o.drop(D.laddr_exhausted);
        return false;
      }
      o.count(C.conns_evicted);
    }
    ct.laddr[e] = taken[0];
    ct.lport[e] = taken[1];
    return true;
  },
  unbind(o: Output, e: number): void {
    o.laddrs.give(o.ct.laddr[e], o.ct.proto[e], o.ct.lport[e]);
  },
  inbound(o: Output, buf: Buffer, off: number, len: number, ip: number, l4: number, e: number): void {
    const ct = o.ct;
    const proto = ct.proto[e];
    setSrc(buf, ip, l4, proto, ct.laddr[e], ct.lport[e], o.csumPartial);
    setDst(buf, ip, l4, proto, ct.daddr[e], ct.dport[e], o.csumPartial);
    sctpRewritten(buf, ip, l4, proto);
    if ((ct.flags[e] & F_TOA) !== 0 && o.toa && l4 >= 0 && toaWanted(buf, l4, ct.toaAck[e]) &&
        toaSend(o, buf, off, len, ip, l4, ct.caddr[e], ct.cport[e], ct.daddr[e])) return;
    o.toHost(buf, off, len, ct.daddr[e]);
  },
  outbound(o: Output, buf: Buffer, off: number, len: number, ip: number, l4: number, e: number): void {
    const ct = o.ct;
    const proto = ct.proto[e];
    if (o.toa && proto === PROTO_TCP && l4 >= 0 && (buf[l4 + TCP_FLAGS] & (TCP_SYN | TCP_ACK | TCP_RST)) === (TCP_SYN | TCP_ACK) &&
        (ct.flags[e] & F_SYNPROXY) === 0) {
      // The server's ISN + 1: what the client's segments completing its handshake acknowledge.
      // (A SYN proxy connection is armed by the SYN proxy, in the server's numbering.)
      ct.toaAck[e] = (rd32(buf, l4 + TCP_SEQ) + 1) | 0;
      ct.flags[e] |= F_TOA;
      toaLowerMss(buf, l4, o.csumPartial);
    }
    setSrc(buf, ip, l4, proto, ct.vaddr[e], ct.vport[e], o.csumPartial);
    setDst(buf, ip, l4, proto, ct.caddr[e], ct.cport[e], o.csumPartial);
    sctpRewritten(buf, ip, l4, proto);
    o.toHost(buf, off, len, ct.caddr[e]);
  },
  icmp(o: Output, buf: Buffer, off: number, len: number, ip: number, inner: number, e: number, toServer: boolean): boolean {
    const ct = o.ct;
    const end = off + len;
    if (toServer) {
      // Quotes a reply as the client saw it (VIP:vport → CIP:cport): as the server sent it.
      icmpSetOuter(buf, ip, IP_SRC, ct.laddr[e]);
      icmpSetOuter(buf, ip, IP_DST, ct.daddr[e]);
      icmpSetInner(buf, inner, end, IP_SRC, 0, ct.daddr[e], ct.dport[e]);
      icmpSetInner(buf, inner, end, IP_DST, 2, ct.laddr[e], ct.lport[e]);
      icmpFixChecksum(buf, inner - 8, end);
      o.toHost(buf, off, len, ct.daddr[e]);
    } else {
      // Quotes a request as the server side saw it (LIP:lport → RIP:rport): as the client sent it.
      icmpSetOuter(buf, ip, IP_SRC, ct.vaddr[e]);
      icmpSetOuter(buf, ip, IP_DST, ct.caddr[e]);
      icmpSetInner(buf, inner, end, IP_SRC, 0, ct.caddr[e], ct.cport[e]);
      icmpSetInner(buf, inner, end, IP_DST, 2, ct.vaddr[e], ct.vport[e]);
      icmpFixChecksum(buf, inner - 8, end);
      o.toHost(buf, off, len, ct.caddr[e]);
    }
    return true;
  },
};
