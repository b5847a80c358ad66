// Direct routing (ipvsadm -g, "Route"): the IP packet goes out untouched; only the Ethernet
// destination becomes the real server's MAC. The server holds the VIP on lo and replies to
// the client directly, so there is no outbound half.

import { D } from '../datapath/counters.js';
import { FWD_DR, type Forwarder, type Output } from './types.js';

export const dr: Forwarder = {
  id: FWD_DR,
  noOutput: true,
  inbound(o: Output, buf: Buffer, off: number, len: number, _ip: number, _l4: number, e: number): void {
    o.toNeighbour(buf, off, len, o.ct.daddr[e]);
  },
  /**
   * An error about one of the server's replies (sent to the VIP) goes to the server, untouched.
   * One about a client's packet travels towards the client: the server sends those straight to it,
   * and uvsd does not route (icmp_unhandled).
   */
  icmp(o: Output, buf: Buffer, off: number, len: number, _ip: number, _inner: number, e: number, toServer: boolean): boolean {
    if (!toServer) {
      o.drop(D.icmp_unhandled);
      return false;
    }
    o.toNeighbour(buf, off, len, o.ct.daddr[e]);
    return true;
  },
};
