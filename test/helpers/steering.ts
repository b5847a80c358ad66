// A Steering (src/datapath/steer.ts) on a Map of this process instead of the kernel's BPF map:
// the --workers tests and bench/tenk-paths see what the group writes.
import { Steering, steerValue } from '../../src/datapath/steer.js';
import type { Native } from '../../src/datapath/port.js';

/** A Steering whose map is `map` (address -> steerValue), no kernel. */
export function fakeSteering(): { s: Steering; map: Map<number, number> } {
  const map = new Map<number, number>();
  const fake = {
    steerAttach: () => ({ prog: -1, map: -1 }),
    steerSet: (_fd: number, a: number, kind: number, mask: number) => {
      if (kind === 0) map.delete(a | 0);
      else map.set(a | 0, steerValue(kind, mask));
      return true;
    },
    close: () => undefined,
  };
  return { s: new Steering(fake as unknown as Native, -1), map };
}
