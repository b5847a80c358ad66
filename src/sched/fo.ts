// Weighted failover (ip_vs_fo.c): the available destination with the highest weight; ties go
// to the first in list order. Connection counts do not matter.

import type { Scheduler, SchedService } from './types.js';
import type { DestTable } from '../datapath/dests.js';
import { destName, runnerUp } from './common.js';

function pick(svc: SchedService, dt: DestTable): number {
  const dests = svc.dests;
  let best = -1;
  let hw = 0;
  for (let i = 0; i < dests.length; i++) {
    const d = dests[i];
    if (dt.available(d) && dt.weight[d] > hw) {
      best = d;
      hw = dt.weight[d];
    }
  }
  return best;
}

export const fo: Scheduler = {
  name: 'fo',
  schedule: pick,
  explain(svc: SchedService, dt: DestTable) {
    const dest = pick(svc, dt);
    if (dest < 0) return { dest, why: 'fo: no available destination' };
    const r = runnerUp(svc, dt, dest, (a, b) => dt.weight[a] > dt.weight[b]);
    const why = r < 0
      ? `fo: ${destName(dt, dest)} weight ${dt.weight[dest]}, the only available destination`
      : `fo: ${destName(dt, dest)} weight ${dt.weight[dest]} ${dt.weight[dest] === dt.weight[r] ? '= (first in list order)' : '>'} ${dt.weight[r]} of ${destName(dt, r)}`;
    return { dest, why };
  },
};
