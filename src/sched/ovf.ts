// Overflow (ip_vs_ovf.c): the available destination with the highest weight that is not
// full; ties go to the first in list order. As in the kernel, a destination is full when its
// active connections EXCEED its weight (active > weight), so it takes weight + 1 active
// connections before the next one is used. None when every destination is full.

import type { Scheduler, SchedService } from './types.js';
import type { DestTable } from '../datapath/dests.js';
import { destName, runnerUp } from './common.js';

function open(dt: DestTable, d: number): boolean {
  return dt.available(d) && dt.active[d] <= dt.weight[d];
}

function pick(svc: SchedService, dt: DestTable): number {
  const dests = svc.dests;
  let best = -1;
  let hw = 0;
  for (let i = 0; i < dests.length; i++) {
    const d = dests[i];
    if (open(dt, d) && dt.weight[d] > hw) {
      best = d;
      hw = dt.weight[d];
    }
  }
  return best;
}

export const ovf: Scheduler = {
  name: 'ovf',
  schedule: pick,
  explain(svc: SchedService, dt: DestTable) {
    const dest = pick(svc, dt);
    if (dest < 0) {
      const any = svc.dests.some((d) => dt.available(d));
      return { dest, why: any ? 'ovf: every available destination is full (active > weight)' : 'ovf: no available destination' };
    }
    const r = runnerUp(svc, dt, dest, (a, b) => dt.weight[a] > dt.weight[b], (d) => open(dt, d));
    const me = `${destName(dt, dest)} weight ${dt.weight[dest]} with ${dt.active[dest]} active (<= weight)`;
    const why = r < 0
      ? `ovf: ${me}, the only one not full`
      : `ovf: ${me}, ${dt.weight[dest] === dt.weight[r] ? 'first in list order beside' : 'heavier than'} ${destName(dt, r)} weight ${dt.weight[r]}`;
    return { dest, why };
  },
};
