// Scheduler registry: schedulers register by name; duplicate names are refused.

import type { Scheduler } from './types.js';
import { rr } from './rr.js';
import { wrr } from './wrr.js';
import { wlc } from './wlc.js';

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

registerScheduler(rr);
registerScheduler(wrr);
registerScheduler(wlc);

export type { Scheduler, SchedService, Flow } from './types.js';
