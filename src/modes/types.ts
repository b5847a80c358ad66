// The forwarder interface, like IPVS's cp->packet_xmit: chosen once per connection and stored
// on the entry as a small integer, so the per-packet path never re-decides the method.
// L4 rewriting lives in each mode's file; L3/L2 output (route, neighbour, MAC) is the
// datapath's, offered here as `Output`.

import type { ConnTable } from '../datapath/conntable.js';
import type { DestTable } from '../datapath/dests.js';

export const FWD_DR = 0;
export const FWD_NAT = 1;
export const FWD_TUN = 2;
export const FWD_FULLNAT = 3;

/** What the datapath offers a forwarder. */
export interface Output {
  readonly ct: ConnTable;
  readonly dt: DestTable;
  /**
   * Send buf[off, off+len) (a whole Ethernet frame) to a host on a directly connected
   * network: neighbour lookup, MAC rewrite, tx batch (or the waiting queue). Unreachable
   * hosts are counted as drops by the datapath.
   */
  toNeighbour(buf: Buffer, off: number, len: number, ip: number): void;
}

export interface Forwarder {
  readonly id: number;
  /** The director never sees the server's replies (DR, TUN): TCP uses the INPUT_ONLY table. */
  readonly noOutput: boolean;
  /**
   * A client→server packet of connection `e`. `off` is the frame, `ip` the IPv4 header offset,
   * `len` the frame length trimmed to the IP total length.
   */
  inbound(o: Output, buf: Buffer, off: number, len: number, ip: number, e: number): void;
}
