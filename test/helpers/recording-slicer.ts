// A Slicer that records each slice it ends (wall start and end, this thread's CPU) under the
// name it is asked for: what bench/scrape-slices.ts and test/helpers/first-call-child.ts measure.
import { SliceClock, yieldLoop, type Slicer } from '../../src/control/slices.js';
import { native } from '../../src/datapath/port.js';

export type SliceRec = { t0: number; t1: number; cpu: number };

/** A Slicer whose slices (as plainSlicer ends them) are recorded in `rec` under their name. */
export function recordingSlicer(rec: Map<string, SliceRec[]>, hook?: (what: string, ended: boolean) => void): Slicer {
  return (what) => {
    const list = rec.get(what) ?? [];
    rec.set(what, list);
    const c = new SliceClock();
    let t0 = performance.now();
    let cpu0 = native.threadCpuMs();
    hook?.(what, false);
    const end = (): void => {
      list.push({ t0, t1: performance.now(), cpu: native.threadCpuMs() - cpu0 });
      hook?.(what, true);
    };
    return {
      pause: async (until?: Promise<unknown>) => {
        if (!c.due(performance.now()) && until === undefined) return;
        end();
        await (until ?? yieldLoop());
        c.restart(performance.now());
        t0 = performance.now();
        cpu0 = native.threadCpuMs();
        hook?.(what, false);
      },
      done: end,
    };
  };
}
