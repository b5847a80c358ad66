// TCP as the load balancer sees it (like ip_vs_proto_tcp.c): which segment may open a
// connection, the state transition with its active/inactive bookkeeping, and where the checksum
// sits for the address/port rewrite (src/proto/rewrite.ts).

import { F_INACTIVE, F_NOOUTPUT, type ConnTable } from '../datapath/conntable.js';
import type { DestTable } from '../datapath/dests.js';
import { DIR_OUTPUT, S_ESTABLISHED, nextState, tcpEvent } from '../datapath/tcpstate.js';

/** Offset of the checksum in the TCP header. */
export const TCP_CSUM = 16;

/** Like IPVS, only a SYN (without RST) opens a TCP connection. */
export function tcpMayOpen(flags: number): boolean {
  return (flags & 0x02) !== 0 && (flags & 0x04) === 0;
}

/**
 * Apply the state table (dirOffset: DIR_INPUT, DIR_OUTPUT or DIR_INPUT_ONLY) to entry e and move
 * its destination's active/inactive counters. Returns true when the state changed.
 */
export function tcpTransition(ct: ConnTable, dt: DestTable, e: number, flags: number, dirOffset: number): boolean {
  const ev = tcpEvent(flags);
  if (ev < 0) return false;
  if (dirOffset === DIR_OUTPUT) ct.flags[e] &= ~F_NOOUTPUT;
  const old = ct.state[e];
  const neu = nextState(dirOffset, ev, old);
  if (neu === old) return false;
  ct.state[e] = neu;
  const dest = ct.dest[e];
  const inactive = (ct.flags[e] & F_INACTIVE) !== 0;
  if (!inactive && neu !== S_ESTABLISHED) {
    dt.activate(dest, false);
    ct.flags[e] |= F_INACTIVE;
  } else if (inactive && neu === S_ESTABLISHED) {
    dt.activate(dest, true);
    ct.flags[e] &= ~F_INACTIVE;
  }
  return true;
}
