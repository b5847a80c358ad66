// Both clocks of a uvsd faked for a test (src/control/clock.ts): t.mock.timers runs the timers
// (setTimeout, setInterval) and Date, and performance.now() follows them; step() then moves the
// wall clock alone, as an NTP step does (Node's timers run on the monotonic clock).
import type { TestContext } from 'node:test';

/** A wall time to start from: 2026-12-04T16:00:00Z. */
export const WALL0 = Date.parse('2026-12-04T16:00:00.000Z');

export interface SteppedClock {
  /** Let ms pass on both clocks, running the timers due meanwhile. */
  tick(ms: number): void;
  /** Step the wall clock (Date.now()) by ms, back when negative; performance.now() and the timers do not move. */
  step(ms: number): void;
}

export function stepClock(t: TestContext, apis: Array<'setTimeout' | 'setInterval'> = ['setTimeout', 'setInterval'], wall0 = WALL0): SteppedClock {
  t.mock.timers.enable({ apis: [...apis, 'Date'], now: wall0 });
  const timerNow = Date.now.bind(Date); // the mocked timers' time: moved by tick() alone
  let stepped = 0;
  t.mock.method(performance, 'now', () => timerNow() - wall0 + 1000);
  t.mock.method(Date, 'now', () => timerNow() + stepped);
  return { tick: (ms) => t.mock.timers.tick(ms), step: (ms) => void (stepped += ms) };
}
