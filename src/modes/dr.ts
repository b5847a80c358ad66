// Direct routing (ipvsadm -g, "Route"): the IP packet goes out untouched; only the Ethernet
// destination becomes the real server's MAC. The server holds the VIP on lo and replies to
// the client directly, so there is no outbound half.

import { FWD_DR, type Forwarder, type Output } from './types.js';

export const dr: Forwarder = {
  id: FWD_DR,
  noOutput: true,
  inbound(o: Output, buf: Buffer, off: number, len: number, _ip: number, _l4: number, e: number): void {
    o.toNeighbour(buf, off, len, o.ct.daddr[e]);
  },
  /** An error about one of the server's replies (sent to the VIP) goes to the server, untouched. */
  icmp(o: Output, buf: Buffer, off: number, len: number, _ip: number, _inner: number, e: number, toServer: boolean): void {
    if (toServer) o.toNeighbour(buf, off, len, o.ct.daddr[e]);
  },
};
