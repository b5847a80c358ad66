// The in-process control benches' view of a verb's slices: Control.held records each slice's
// wall and thread CPU (uvsadm --status slowest_verb_ms); wrapped here, each slice's CPU is kept.

import { PerformanceObserver } from 'node:perf_hooks';
import type { Rig } from '../../test/helpers/harness.js';
import { native } from '../../src/datapath/port.js';

/** Keeps the thread CPU (ms) of every slice Control.held records from now until stop(). */
export function recordHeld(r: Rig): { cpus: number[]; stop: () => void } {
  const cpus: number[] = [];
  const ctl = r.ctl as unknown as { held: (verb: string, ms: number, cpuMs: number) => void };
  const held = ctl.held;
  ctl.held = function (this: unknown, verb: string, ms: number, cpuMs: number) {
    cpus.push(cpuMs);
    held.call(this, verb, ms, cpuMs);
  };
  return { cpus, stop: () => delete (ctl as { held?: unknown }).held };
}

/**
 * The longest thread CPU (and wall) between two turns of a 1 ms timer while it runs, and the
 * longest such piece with no collection (a `gc` performance entry) in it.
 */
export function cpuGaps(): { stop: () => { cpu: number; wall: number; over2: number; noGc: number } } {
  let c0 = native.threadCpuMs();
  let t0 = performance.now();
  let cpu = 0;
  let wall = 0;
  let over2 = 0;
  let noGc = 0;
  const gcs: number[] = [];
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) gcs.push(e.startTime, e.startTime + e.duration);
  });
  obs.observe({ entryTypes: ['gc'] });
  const turn = (): void => {
    const c = native.threadCpuMs();
    const t = performance.now();
    if (c - c0 > 2) over2++;
    if (c - c0 > cpu) {
      cpu = c - c0;
      wall = t - t0;
    }
    // Collections reported so far (the observer runs later: a piece's own may be missed, so this is an upper bound).
    let gc = false;
    for (let i = 0; i < gcs.length; i += 2) if (gcs[i + 1]! > t0 && gcs[i]! < t) gc = true;
    if (!gc && c - c0 > noGc) noGc = c - c0;
    if (gcs.length > 64) gcs.splice(0, gcs.length - 64);
    c0 = c;
    t0 = t;
  };
  const tick = setInterval(turn, 1);
  return { stop: () => (turn(), clearInterval(tick), obs.disconnect(), { cpu, wall, over2, noGc }) };
}
