// The in-process control benches' view of a verb's slices: Control.held records each slice's
// wall and thread CPU (uvsadm --status slowest_verb_ms); wrapped here, each slice's CPU is kept.

import type { Rig } from '../../test/helpers/harness.js';

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
