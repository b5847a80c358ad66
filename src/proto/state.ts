// A connection entry's state change with its destination's active/inactive bookkeeping, as each
// of the kernel's ip_vs_proto_* set_state does it: an entry is active in TCP's SYN_SENT,
// SYN_RECV, SYNACK and ESTABLISHED or SCTP's ESTABLISHED (tcpstate.ts activeState), inactive in
// any other state.

import { F_INACTIVE, type ConnTable } from '../datapath/conntable.js';
import type { DestTable } from '../datapath/dests.js';
import { activeState } from '../datapath/tcpstate.js';

/** Put entry e in state `neu`, moving its destination's counters; false when it was in it already. */
export function enterState(ct: ConnTable, dt: DestTable, e: number, neu: number): boolean {
  if (neu === ct.state[e]) return false;
  ct.state[e] = neu;
  const inactive = (ct.flags[e] & F_INACTIVE) !== 0;
  if (!inactive && !activeState(neu)) {
    dt.activate(ct.dest[e], false);
    ct.flags[e] |= F_INACTIVE;
  } else if (inactive && activeState(neu)) {
    dt.activate(ct.dest[e], true);
    ct.flags[e] &= ~F_INACTIVE;
  }
  return true;
}
