// Never queue (ip_vs_nq.c): the first available destination with no active connection;
// when every one is busy, shortest expected delay ((active + 1) / weight, as sed).

import type { Scheduler, SchedService } from './types.js';
import type { DestTable } from '../datapath/dests.js';
import { destName } from './common.js';
import { sedPick, sedWhy } from './sed.js';

function idle(svc: SchedService, dt: DestTable): number {
  const dests = svc.dests;
  for (let i = 0; i < dests.length; i++) {
    const d = dests[i];
    if (dt.available(d) && dt.active[d] === 0) return d;
  }
  return -1;
}

export const nq: Scheduler = {
  name: 'nq',
  schedule(svc: SchedService, dt: DestTable): number {
    const d = idle(svc, dt);
    return d >= 0 ? d : sedPick(svc, dt);
  },
  explain(svc: SchedService, dt: DestTable) {
    const d = idle(svc, dt);
    if (d >= 0) return { dest: d, why: `nq: ${destName(dt, d)} is idle (0 active), the first idle one in list order` };
    const dest = sedPick(svc, dt);
    return { dest, why: dest < 0 ? 'nq: no available destination' : `${sedWhy('nq', svc, dt, dest)} (no idle destination)` };
  },
};
