// Shortest expected delay (ip_vs_sed.c): minimum (active + 1) / weight, compared by
// cross-multiplication; inactive connections do not count; ties keep list order.

import type { Scheduler, SchedService } from './types.js';
import type { DestTable } from '../datapath/dests.js';
import { destName, runnerUp } from './common.js';
import { BY_SED, tourneyHooks, type Tourney } from './tourney.js';

/** The sed pick over svc.dests (also nq's second stage). */
export function sedPick(svc: SchedService, dt: DestTable): number {
  const dests = svc.dests;
  let least = -1;
  let loh = 0;
  for (let i = 0; i < dests.length; i++) {
    const d = dests[i];
    if (!dt.available(d)) continue;
    const doh = dt.active[d] + 1;
    if (least < 0 || loh * dt.weight[d] > doh * dt.weight[least]) {
      least = d;
      loh = doh;
    }
  }
  return least;
}

/** "X (A+1)/w 1/2 < 3/4 of Y" for sed and nq. */
export function sedWhy(name: string, svc: SchedService, dt: DestTable, d: number): string {
  if (d < 0) return `${name}: no available destination`;
  const oh = (x: number): number => dt.active[x] + 1;
  const r = runnerUp(svc, dt, d, (a, b) => oh(a) * dt.weight[b] < oh(b) * dt.weight[a]);
  const mine = `${oh(d)}/${dt.weight[d]}`;
  if (r < 0) return `${name}: ${destName(dt, d)} (active+1)/weight ${mine}, the only available destination`;
  const same = oh(d) * dt.weight[r] === oh(r) * dt.weight[d];
  return `${name}: ${destName(dt, d)} (active+1)/weight ${mine} ${same ? '= (first in list order)' : '<'} ${oh(r)}/${dt.weight[r]} of ${destName(dt, r)}`;
}

export const sed: Scheduler = {
  name: 'sed',
  // Services with many destinations keep a tournament tree (tourney.ts): O(log n) per change.
  ...tourneyHooks(BY_SED),
  schedule(svc: SchedService, dt: DestTable): number {
    const t = svc.schedState as Tourney | undefined;
    return t !== undefined ? t.top() : sedPick(svc, dt);
  },
  explain(svc: SchedService, dt: DestTable) {
    const dest = sedPick(svc, dt);
    return { dest, why: sedWhy('sed', svc, dt, dest) };
  },
};
