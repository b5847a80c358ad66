// Least-connection (ip_vs_lc.c): the available destination with the least overhead
// (active*256 + inactive); weights only decide availability; ties keep list order.

import type { Scheduler, SchedService } from './types.js';
import type { DestTable } from '../datapath/dests.js';
import { destName, runnerUp } from './common.js';
import { BY_LC, tourneyHooks, type Tourney } from './tourney.js';

function pick(svc: SchedService, dt: DestTable): number {
  const dests = svc.dests;
  let least = -1;
  let loh = 0;
  for (let i = 0; i < dests.length; i++) {
    const d = dests[i];
    if (!dt.available(d)) continue;
    const doh = dt.overhead(d);
    if (least < 0 || doh < loh) {
      least = d;
      loh = doh;
    }
  }
  return least;
}

export const lc: Scheduler = {
  name: 'lc',
  // Services with many destinations keep a tournament tree (tourney.ts): O(log n) per change.
  ...tourneyHooks(BY_LC),
  schedule(svc: SchedService, dt: DestTable): number {
    const t = svc.schedState as Tourney | undefined;
    return t !== undefined ? t.top() : pick(svc, dt);
  },
  explain(svc: SchedService, dt: DestTable) {
    const dest = pick(svc, dt);
    if (dest < 0) return { dest, why: 'lc: no available destination' };
    const r = runnerUp(svc, dt, dest, (a, b) => dt.overhead(a) < dt.overhead(b));
    const why = r < 0
      ? `lc: ${destName(dt, dest)} overhead ${dt.overhead(dest)}, the only available destination`
      : `lc: ${destName(dt, dest)} overhead ${dt.overhead(dest)} ${dt.overhead(dest) === dt.overhead(r) ? '= (first in list order)' : '<'} ${dt.overhead(r)} of ${destName(dt, r)}`;
    return { dest, why };
  },
};
