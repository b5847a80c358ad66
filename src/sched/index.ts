// Scheduler registry: schedulers register by name; duplicate names are refused.
// All 14 of the kernel's IPVS schedulers, in the order ipvsadm's man page lists them.

import type { Scheduler } from './types.js';
import { rr } from './rr.js';
import { wrr } from './wrr.js';
import { lc } from './lc.js';
import { wlc } from './wlc.js';
import { lblc } from './lblc.js';
import { lblcr } from './lblcr.js';
import { dh } from './dh.js';
import { sh } from './sh.js';
import { sed } from './sed.js';
import { nq } from './nq.js';
import { fo } from './fo.js';
import { ovf } from './ovf.js';
import { mh } from './mh.js';
import { twos } from './twos.js';
import { SCHEDULER_NAMES } from '../defaults.js';

const registry = new Map<string, Scheduler>();

export function registerScheduler(s: Scheduler): void {
  if (registry.has(s.name)) throw new Error(`scheduler ${s.name} is already registered`);
  registry.set(s.name, s);
}

export function getScheduler(name: string): Scheduler | undefined {
  return registry.get(name);
}

export function schedulerNames(): string[] {
  return [...registry.keys()];
}

for (const s of [rr, wrr, lc, wlc, lblc, lblcr, dh, sh, sed, nq, fo, ovf, mh, twos]) registerScheduler(s);
// uvsd --help names them from src/defaults.ts (without loading the schedulers): the two lists are one.
if (schedulerNames().join() !== SCHEDULER_NAMES.join()) throw new Error(`src/defaults.ts SCHEDULER_NAMES (${SCHEDULER_NAMES.join()}) is not the registry (${schedulerNames().join()})`);

export type { Scheduler, SchedService, Flow, Explanation } from './types.js';
export { SF_ADDR_ORDER } from './types.js';
export { setMhTableSize, setMhDefaultTableSize, MH_PRIMES } from './mh.js';
export { seedTwos } from './twos.js';
