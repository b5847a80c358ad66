// Mass expiry between ticks: Datapath.tick() sweeps the timer wheel for at most SWEEP_MS; while
// it is behind (hundreds of thousands of flows timing out together), the sweep goes on at the
// next loop turns (setImmediate: the batches received meanwhile are handled between them), not
// SWEEP_MS' worth per 250 ms tick. The kernel expires each connection on its own timer in
// softirq, which gives way to ksoftirqd after 2 ms.

import type { Datapath } from './pipeline.js';

export class SweepPacer {
  private readonly dp: Datapath;
  private pending = false;
  /** One function for every turn: nothing made per tick. */
  private readonly turn: () => void;
  /** Turns run so far. */
  turns = 0;

  /** after: called after each turn (a worker publishes its entry count). */
  constructor(dp: Datapath, after: () => void = () => {}) {
    this.dp = dp;
    this.turn = () => {
      this.pending = false;
      this.turns++;
      const behind = dp.sweepMore();
      after();
      if (behind) this.next();
    };
  }

  /** After dp.tick(): go on at the next turns while its sweep is behind. */
  kick(): void {
    if (this.dp.sweepBehind) this.next();
  }

  private next(): void {
    if (this.pending) return;
    this.pending = true;
    setImmediate(this.turn);
  }
}
