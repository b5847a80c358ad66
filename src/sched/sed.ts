// Shortest expected delay (ip_vs_sed.c): minimum (active + 1) / weight, compared by
// cross-multiplication; inactive connections do not count; ties keep list order.

import type { Scheduler, SchedService } from './types.js';
import type { DestTable } from '../datapath/dests.js';
import { keyWhy, skipped } from './common.js';
import { BY_SED, scanPick, tourneyHooks } from './tourney.js';

/** The sed pick over svc.dests, by the scan (also nq's second stage). */
export function sedPick(svc: SchedService, dt: DestTable): number {
  return scanPick(svc, dt, BY_SED);
}

/** "X (active+1)/weight 1/2 < 3/4 of Y" for sed and nq. */
export function sedWhy(name: string, svc: SchedService, dt: DestTable, d: number): string {
  return keyWhy(name, svc, dt, BY_SED, d, { what: '(active+1)/weight', val: (x) => `${dt.active[x] + 1}/${dt.weight[x]}`, cmp: '<' });
}

export const sed: Scheduler = {
  name: 'sed',
  // The scan, or from 64 destinations a tournament tree (tourney.ts): O(log n) per change.
  ...tourneyHooks(BY_SED),
  explain(svc: SchedService, dt: DestTable) {
    const dest = sedPick(svc, dt);
    return { dest, why: sedWhy('sed', svc, dt, dest) + skipped(svc, dt) };
  },
};
