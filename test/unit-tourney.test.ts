// The tournament trees of lc/wlc/sed (src/sched/tourney.ts) against the kernel's linear scans,
// over random connection events, weight and threshold edits, additions and deletions, for
// services large enough to get a tree (and one just below the size that does not).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DestTable } from '../src/datapath/dests.js';
import { getScheduler, type Flow, type SchedService } from '../src/sched/index.js';
import { wlcPick } from '../src/sched/common.js';
import { sedPick } from '../src/sched/sed.js';
import { Tourney, TOURNEY_MIN } from '../src/sched/tourney.js';

function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>>= 0);
  };
}

/** The kernel's lc scan, written out here (overhead = 256*active + inactive, ties to the first). */
function lcScan(svc: SchedService, dt: DestTable): number {
  let best = -1;
  for (const d of svc.dests) {
    if (!dt.available(d)) continue;
    if (best < 0 || dt.overhead(d) < dt.overhead(best)) best = d;
  }
  return best;
}

const SCANS: Record<string, (svc: SchedService, dt: DestTable) => number> = { lc: lcScan, wlc: wlcPick, sed: sedPick };
const FLOW: Flow = { proto: 6, saddr: 0x0a000001, sport: 1000, daddr: 0x0a000064, dport: 80 };

for (const name of ['lc', 'wlc', 'sed']) {
  test(`${name}: the tournament tree picks exactly what the linear scan picks, through 20,000 random events`, () => {
    const s = getScheduler(name)!;
    const scan = SCANS[name]!;
    const next = rng(name.length * 7919);
    const MAX = 400;
    const dt = new DestTable(MAX);
    const svc: SchedService = { dests: [], schedState: undefined, schedFlags: 0 };
    s.init?.(svc, dt);
    const free: number[] = [];
    for (let d = MAX - 1; d >= 0; d--) free.push(d);
    const add = (): void => {
      const d = free.pop()!;
      // Few distinct weights and small counts, so ties happen all the time.
      dt.set(d, 0x0a000100 + d, 80, 0, next() % 4, next() % 3 === 0 ? 1 + (next() % 6) : 0, 0);
      svc.dests.push(d);
      s.update?.(svc, dt);
    };
    for (let i = 0; i < 150; i++) add();
    assert.ok(svc.schedState instanceof Tourney, 'a service this large has a tree');
    const live: Array<{ d: number; active: boolean }> = [];
    for (let step = 0; step < 20_000; step++) {
      const r = next() % 100;
      if (r < 40) {
        // a new connection to the scheduler's choice (as the datapath does)
        const d = s.schedule(svc, dt, FLOW);
        if (d >= 0) {
          dt.bind(d);
          live.push({ d, active: false });
        }
      } else if (r < 60 && live.length > 0) {
        const c = live[next() % live.length]!;
        dt.activate(c.d, !c.active);
        c.active = !c.active;
      } else if (r < 80 && live.length > 0) {
        const i = next() % live.length;
        const c = live[i]!;
        live.splice(i, 1);
        if (dt.flags[c.d] !== 0) dt.unbind(c.d, c.active);
      } else if (r < 90 && svc.dests.length > 0) {
        // -e: weight and thresholds (the datapath calls update() after)
        const d = svc.dests[next() % svc.dests.length]!;
        dt.weight[d] = next() % 4;
        dt.setThresholds(d, next() % 2 === 0 ? 0 : 1 + (next() % 6), 0);
        s.update?.(svc, dt);
      } else if (r < 95 && svc.dests.length > TOURNEY_MIN - 3) {
        // -d: the server goes; its connections are stale (never unbound, as in the datapath)
        const i = next() % svc.dests.length;
        const d = svc.dests[i]!;
        svc.dests.splice(i, 1);
        dt.release(d);
        free.push(d);
        for (let k = live.length - 1; k >= 0; k--) if (live[k]!.d === d) live.splice(k, 1);
        s.update?.(svc, dt);
      } else if (free.length > 0) {
        add();
      }
      const want = scan(svc, dt);
      assert.equal(s.schedule(svc, dt, FLOW), want, `step ${step}: ${svc.dests.length} destinations`);
      assert.equal(s.explain!(svc, dt, FLOW).dest, want, `step ${step}: explain`);
    }
  });
}

test(`services below ${TOURNEY_MIN} destinations keep the plain scan (no tree, nothing watched)`, () => {
  const s = getScheduler('wlc')!;
  const dt = new DestTable(TOURNEY_MIN);
  const svc: SchedService = { dests: [], schedState: undefined, schedFlags: 0 };
  for (let d = 0; d < TOURNEY_MIN - 1; d++) {
    dt.set(d, 0x0a000100 + d, 80, 0, 1);
    svc.dests.push(d);
  }
  s.update?.(svc, dt);
  assert.equal(svc.schedState, undefined);
  assert.ok(dt.watcher.every((w) => w === undefined));
  dt.set(TOURNEY_MIN - 1, 0x0a000200, 80, 0, 1);
  svc.dests.push(TOURNEY_MIN - 1);
  s.update?.(svc, dt);
  assert.ok((svc.schedState as unknown) instanceof Tourney);
  // Switching scheduler (done) stops the watching.
  s.done?.(svc, dt);
  assert.ok(dt.watcher.every((w) => w === undefined));
});
