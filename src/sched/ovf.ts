// Overflow (ip_vs_ovf.c): the available destination with the highest weight that is not
// full; ties go to the first in list order. As in the kernel, a destination is full when its
// active connections EXCEED its weight (active > weight), so it takes weight + 1 active
// connections before the next one is used. None when every destination is full.

import type { Scheduler, SchedService } from './types.js';
import type { DestTable } from '../datapath/dests.js';
import { keyWhy, skipped } from './common.js';
import { BY_OVF, scanPick, tourneyHooks } from './tourney.js';

export const ovf: Scheduler = {
  name: 'ovf',
  // The scan, or from 64 destinations a tree keyed on weight (tourney.ts) whose leaves leave and
  // rejoin the competition as active crosses the weight.
  ...tourneyHooks(BY_OVF),
  explain(svc: SchedService, dt: DestTable) {
    const dest = scanPick(svc, dt, BY_OVF);
    const none = svc.dests.some((d) => dt.available(d)) ? 'every available destination is full (active > weight)' : 'no available destination';
    const val = (x: number): string => `${dt.weight[x]} (${dt.active[x]} active)`;
    return { dest, why: keyWhy('ovf', svc, dt, BY_OVF, dest, { what: 'weight', val, cmp: '>', none }) + skipped(svc, dt) };
  },
};
