// test-class: shared
// setLongTimeout (src/control/clock.ts): timers past Node's 2^31-1 ms (24.8 days), which
// setTimeout fires after 1 ms with a TimeoutOverflowWarning. keepalived's delay_loop,
// connect_timeout, misc_timeout... and a state file's drain-until go through it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LongTimeout, MAX_TIMER_MS, setLongTimeout, clearLongTimeout, type TimerHost } from '../src/control/clock.js';

const DAY = 86_400_000;

/** A fake TimerHost: the delays armed, run by advance(). */
function fakeHost() {
  let t = 0;
  let id = 0;
  const timers = new Map<number, { at: number; fn: () => void }>();
  const armed: number[] = [];
  const host: TimerHost = {
    setTimeout: (fn, ms) => {
      armed.push(ms);
      timers.set(++id, { at: t + ms, fn });
      return id;
    },
    clearTimeout: (h) => void timers.delete(h as number),
    now: () => t,
    unref: () => {},
  };
  const advance = (ms: number): void => {
    const end = t + ms;
    for (;;) {
      const next = [...timers.entries()].sort((a, b) => a[1].at - b[1].at)[0];
      if (next === undefined || next[1].at > end) break;
      timers.delete(next[0]);
      t = next[1].at;
      next[1].fn();
    }
    t = end;
  };
  return { host, armed, advance, pending: () => timers.size };
}

test('a 30-day timer is armed in steps of at most 2^31-1 ms and fires 30 days later, not before; cancelled between steps it never fires', () => {
  const f = fakeHost();
  let fired = -1;
  new LongTimeout(() => (fired = f.host.now()), 30 * DAY, f.host);
  f.advance(30 * DAY - 1);
  assert.equal(fired, -1);
  f.advance(1);
  assert.equal(fired, 30 * DAY);
  assert.deepEqual(f.armed, [MAX_TIMER_MS, 30 * DAY - MAX_TIMER_MS]);
  const g = fakeHost();
  const t = new LongTimeout(() => assert.fail('fired after cancel'), 60 * DAY, g.host);
  g.advance(26 * DAY);
  t.cancel();
  g.advance(60 * DAY);
  assert.equal(g.pending(), 0);
  // A delay up to 2^31-1 ms is one setTimeout of that delay, as before (setTimeout makes below 1 ms, or NaN, 1 ms).
  const h = fakeHost();
  for (const ms of [1500, MAX_TIMER_MS, 0, -5, NaN]) new LongTimeout(() => {}, ms, h.host);
  assert.deepEqual(h.armed, [1500, MAX_TIMER_MS, 0, -5, NaN]);
});

test('real timers: a 2^31 ms setLongTimeout does not fire within 50 ms (setTimeout fires it after 1 ms) and warns nothing; a short one fires; cleared, none fires', async () => {
  const warnings: string[] = [];
  const onWarning = (w: Error): void => void warnings.push(w.name);
  process.on('warning', onWarning);
  try {
    const fired: string[] = [];
    const long = setLongTimeout(() => fired.push('long'), 2 ** 31);
    const year = setLongTimeout(() => fired.push('year'), 365 * DAY).unref();
    const cleared = setLongTimeout(() => fired.push('cleared'), 10);
    clearLongTimeout(cleared);
    clearLongTimeout(undefined);
    setLongTimeout(() => fired.push('short'), 5);
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(fired, ['short']);
    clearLongTimeout(long);
    clearLongTimeout(year);
    assert.deepEqual(warnings.filter((n) => n === 'TimeoutOverflowWarning'), []);
  } finally {
    process.off('warning', onWarning);
  }
});
