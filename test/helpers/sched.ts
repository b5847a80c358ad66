// A scheduler on a bare DestTable, without the datapath: the hooks called as Datapath.apply()
// calls them, and a picker that renders choices as letters (A = first destination, '-' = none).
import assert from 'node:assert/strict';
import { DestTable } from '../../src/datapath/dests.js';
import { getScheduler, type Flow, type Scheduler, type SchedService } from '../../src/sched/index.js';

export const NAMES = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
export const FLOW: Flow = { proto: 6, saddr: 1, sport: 2, daddr: 3, dport: 4 };

export interface SchedRig {
  s: Scheduler;
  svc: SchedService;
  dt: DestTable;
  /** n schedule() calls with `flow`, as letters. */
  pick: (n: number, flow?: Flow) => string;
  /** The letter of a slot ('-' for -1). */
  letter: (d: number) => string;
  /** Add one more destination (slot = the next never-used index, or `slot`) and call update. */
  add: (weight: number, addr?: number, port?: number, slot?: number) => number;
  /** Delete the destination at list position i as apply() does (delDest, splice, release, update). */
  del: (i: number) => void;
  /** Set a weight and call update (editDest). */
  setWeight: (i: number, w: number) => void;
}

/**
 * A service with destinations of these weights, addresses base + i, port 80. `added`: init on the
 * empty service, update after each destination (ipvsadm -A then -a...). `init`: init with all
 * destinations present (ipvsadm -E -s on an existing service).
 */
export function schedRig(name: string, weights: number[], opts: { how?: 'added' | 'init'; base?: number; flags?: number; max?: number } = {}): SchedRig {
  const s = getScheduler(name);
  assert.ok(s, `scheduler ${name} registered`);
  const dt = new DestTable(opts.max ?? 64);
  const svc: SchedService = { dests: [], schedState: undefined, schedFlags: opts.flags ?? 0 };
  const base = opts.base ?? 0x0a00000b;
  const how = opts.how ?? 'added';
  let nextSlot = 0;
  if (how === 'added') s.init?.(svc, dt);
  const add = (w: number, addr?: number, port = 80, slot?: number): number => {
    const d = slot ?? nextSlot++;
    dt.set(d, addr ?? (base + d) >>> 0, port, 0, w);
    svc.dests.push(d);
    if (svc.schedState !== undefined || how === 'added') s.update?.(svc, dt);
    return d;
  };
  for (const w of weights) add(w);
  if (how === 'init') {
    s.init?.(svc, dt);
    s.update?.(svc, dt);
  }
  const letter = (d: number): string => (d < 0 ? '-' : NAMES[d]);
  const pick = (n: number, flow: Flow = FLOW): string => {
    let out = '';
    for (let i = 0; i < n; i++) out += letter(s.schedule(svc, dt, flow));
    return out;
  };
  const del = (i: number): void => {
    const d = svc.dests[i];
    s.delDest?.(svc, dt, i);
    svc.dests.splice(i, 1);
    dt.release(d);
    s.update?.(svc, dt);
  };
  const setWeight = (i: number, w: number): void => {
    dt.weight[svc.dests[i]] = w;
    s.update?.(svc, dt);
  };
  return { s, svc, dt, pick, letter, add, del, setWeight };
}
