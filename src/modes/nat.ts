// NAT (ipvsadm -m, "Masq"): client→server packets get the real server's address and port as
// destination (DNAT VIP:vport → RIP:rport, port mapping allowed); the server's replies come back
// through the director (its default route is a director address) and get the VIP:vport back as
// source (SNAT). Both directions drive the TCP/SCTP state (INPUT and OUTPUT rows).

import { IP_DST, IP_SRC } from '../datapath/frame.js';
import { icmpFixChecksum, icmpSetInner, icmpSetOuter } from '../proto/icmp.js';
import { sctpRewritten, setDst, setSrc } from '../proto/rewrite.js';
import { FWD_NAT, type Forwarder, type Output } from './types.js';

export const nat: Forwarder = {
  id: FWD_NAT,
  noOutput: false,
  inbound(o: Output, buf: Buffer, off: number, len: number, ip: number, l4: number, e: number): void {
    const ct = o.ct;
    setDst(buf, ip, l4, ct.proto[e], ct.daddr[e], ct.dport[e], o.csumPartial);
    sctpRewritten(buf, ip, l4, ct.proto[e]);
    o.toHost(buf, off, len, ct.daddr[e]);
  },
  outbound(o: Output, buf: Buffer, off: number, len: number, ip: number, l4: number, e: number): void {
    const ct = o.ct;
    setSrc(buf, ip, l4, ct.proto[e], ct.vaddr[e], ct.vport[e], o.csumPartial);
    sctpRewritten(buf, ip, l4, ct.proto[e]);
    o.toHost(buf, off, len, ct.caddr[e]);
  },
  icmp(o: Output, buf: Buffer, off: number, len: number, ip: number, inner: number, e: number, toServer: boolean): boolean {
    const ct = o.ct;
    const end = off + len;
    if (toServer) {
      // Quotes a reply as the client saw it (VIP:vport → CIP): undo our SNAT inside, DNAT outside.
      icmpSetOuter(buf, ip, IP_DST, ct.daddr[e]);
      icmpSetInner(buf, inner, end, IP_SRC, 0, ct.daddr[e], ct.dport[e]);
      icmpFixChecksum(buf, inner - 8, end);
      o.toHost(buf, off, len, ct.daddr[e]);
    } else {
      // Quotes a request as the server side saw it (CIP → RIP:rport): show the VIP instead.
      icmpSetOuter(buf, ip, IP_SRC, ct.vaddr[e]);
      icmpSetInner(buf, inner, end, IP_DST, 2, ct.vaddr[e], ct.vport[e]);
      icmpFixChecksum(buf, inner - 8, end);
      o.toHost(buf, off, len, ct.caddr[e]);
    }
    return true;
  },
};
