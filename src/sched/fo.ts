// Weighted failover (ip_vs_fo.c): the available destination with the highest weight; ties go
// to the first in list order. Connection counts do not matter.

import type { Scheduler, SchedService } from './types.js';
import type { DestTable } from '../datapath/dests.js';
import { keyWhy, skipped } from './common.js';
import { BY_FO, scanPick, tourneyHooks } from './tourney.js';

export const fo: Scheduler = {
  name: 'fo',
  // The scan, or from 64 destinations a tree keyed on weight (tourney.ts) that connection events
  // touch only when a destination crosses its -x/-y thresholds.
  ...tourneyHooks(BY_FO),
  explain(svc: SchedService, dt: DestTable) {
    const dest = scanPick(svc, dt, BY_FO);
    return { dest, why: keyWhy('fo', svc, dt, BY_FO, dest, { what: 'weight', val: (x) => `${dt.weight[x]}`, cmp: '>' }) + skipped(svc, dt) };
  },
};
