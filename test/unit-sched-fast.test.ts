// test-class: shared
// The fast paths of the "best by key" schedulers (lc, wlc, sed, fo, ovf: tournament trees) and
// of twos (a Fenwick tree of weights) against the kernel's rules written out here as plain
// scans, on random services large enough to get the trees, moved only through the hooks the
// datapath uses: connections bound, activated and unbound through DestTable (the -x thresholds
// flip OVERLOAD on the way), weights and thresholds edited, destinations added and deleted (each
// followed by update(), as Datapath.apply() does), down below TOURNEY_MIN and back. Few distinct
// weights and small counts, so ties, weight 0, full (ovf) and overloaded destinations are common.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DEST_F_USED, DestTable } from '../src/datapath/dests.js';
import { getScheduler, seedTwos, type Flow, type Scheduler, type SchedService } from '../src/sched/index.js';
import { Tourney, TOURNEY_MIN } from '../src/sched/tourney.js';
import { xorshift } from '../src/sched/twos.js';

const FLOW: Flow = { proto: 6, saddr: 0xc0a80964, sport: 40000, daddr: 0xc0a808c8, dport: 80 };

/** Available as the kernel says: in the list, weight > 0, not OVERLOAD (flags exactly "used"). */
function avail(dt: DestTable, d: number): boolean {
  return dt.flags[d] === DEST_F_USED && dt.weight[d] > 0;
}

function oh(dt: DestTable, d: number): number {
  return dt.active[d] * 256 + dt.inactive[d];
}

/** The kernel's choice for lc, wlc, sed, nq, fo and ovf: a plain scan in list order, first on a tie. */
function refPick(name: string, svc: SchedService, dt: DestTable): number {
  let best = -1;
  for (const d of svc.dests) {
    if (!avail(dt, d)) continue;
    if (name === 'ovf' && dt.active[d] > dt.weight[d]) continue; // ip_vs_ovf.c: full
    if (name === 'nq' && dt.active[d] === 0) return d; // ip_vs_nq.c: the first idle one
    if (best < 0) {
      best = d;
      continue;
    }
    const w = dt.weight[d];
    const bw = dt.weight[best];
    let better: boolean;
    switch (name) {
      case 'lc': better = oh(dt, d) < oh(dt, best); break;
      case 'wlc': better = oh(dt, d) * bw < oh(dt, best) * w; break;
      case 'sed': case 'nq': better = (dt.active[d] + 1) * bw < (dt.active[best] + 1) * w; break;
      default: better = w > bw; // fo, ovf
    }
    if (better) best = d;
  }
  return best;
}

/** ip_vs_twos_schedule() written out for random words x1, x2. */
function refTwos(svc: SchedService, dt: DestTable, x1: number, x2: number): number {
  let total = 0;
  for (const d of svc.dests) if (avail(dt, d)) total += dt.weight[d];
  if (total === 0) return -1;
  // W + 1 above 2^32: the words scaled to [0, W + 1) (x % (W + 1) never reaches past 2^32).
  const t = total + 1;
  let r1 = t > 2 ** 32 ? Math.floor(x1 * (t / 2 ** 32)) : x1 % t;
  let r2 = t > 2 ** 32 ? Math.floor(x2 * (t / 2 ** 32)) : x2 % t;
  let c1 = -1;
  let c2 = -1;
  for (const d of svc.dests) {
    if (!avail(dt, d)) continue;
    r1 -= dt.weight[d];
    r2 -= dt.weight[d];
    if (r1 <= 0 && c1 < 0) c1 = d;
    if (r2 <= 0 && c2 < 0) c2 = d;
  }
  return dt.weight[c2] * oh(dt, c1) > dt.weight[c1] * oh(dt, c2) ? c2 : c1;
}

interface Run {
  seed: number;
  start: number; // destinations at the start (a tree from TOURNEY_MIN)
  maxW: number; // weights 0..maxW (times `scale`)
  scale: number;
  thresholds: number; // percent of destinations with an -x threshold
  steps: number;
}

/** Test inputs from xorshift32 too (twos's generator, whose stream the reference follows). */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => (x = xorshift(x));
}

/** Drive one service through random events; after each, schedule() and explain() must agree
 *  with the reference. Returns how many steps ran with a tree and without. */
function drive(name: string, run: Run): { tree: number; scan: number } {
  const s = getScheduler(name)!;
  const next = rng(run.seed);
  const MAX = 300;
  const dt = new DestTable(MAX);
  const svc: SchedService = { dests: [], schedState: undefined, schedFlags: 0 };
  s.init?.(svc, dt);
  if (name === 'twos') seedTwos(svc, run.seed);
  let rngState = run.seed >>> 0 || 0x9e3779b9; // mirrors twos's generator
  const free: number[] = [];
  for (let d = MAX - 1; d >= 0; d--) free.push(d);
  const weight = (): number => (next() % (run.maxW + 1)) * run.scale;
  const upper = (): number => (next() % 100 < run.thresholds ? 1 + (next() % 6) : 0);
  const add = (): void => {
    const d = free.pop()!;
    dt.set(d, (0xc0a80814 + d) | 0, 80, 0, weight(), upper(), 0);
    svc.dests.push(d);
    s.update?.(svc, dt);
  };
  for (let i = 0; i < run.start; i++) add();
  const live: Array<{ d: number; active: boolean }> = [];
  const counts = { tree: 0, scan: 0 };
  for (let step = 0; step < run.steps; step++) {
    const r = next() % 100;
    if (r < 35) {
      // a new connection to the scheduler's choice, as the datapath binds it
      const x1 = xorshift(rngState);
      const x2 = xorshift(x1);
      const d = s.schedule(svc, dt, FLOW);
      if (name === 'twos') rngState = x2;
      if (d >= 0) {
        dt.bind(d);
        live.push({ d, active: false });
      }
    } else if (r < 55 && live.length > 0) {
      const c = live[next() % live.length]!;
      dt.activate(c.d, !c.active);
      c.active = !c.active;
    } else if (r < 75 && live.length > 0) {
      const i = next() % live.length;
      const c = live[i]!;
      live.splice(i, 1);
      dt.unbind(c.d, c.active);
    } else if (r < 85 && svc.dests.length > 0) {
      // -e: weight and threshold (editDest sets both, then update())
      const d = svc.dests[next() % svc.dests.length]!;
      dt.weight[d] = weight();
      dt.setThresholds(d, upper(), 0);
      s.update?.(svc, dt);
    } else if (r < 93 && svc.dests.length > 1) {
      // -d: delDest, out of the list, slot released (its connections go stale: never unbound), update()
      const i = next() % svc.dests.length;
      const d = svc.dests[i]!;
      s.delDest?.(svc, dt, i);
      svc.dests.splice(i, 1);
      dt.release(d);
      free.push(d);
      for (let k = live.length - 1; k >= 0; k--) if (live[k]!.d === d) live.splice(k, 1);
      s.update?.(svc, dt);
    } else if (free.length > 0 && svc.dests.length < 200) {
      add();
    }
    if (svc.dests.length >= TOURNEY_MIN) counts.tree++;
    else counts.scan++;
    // explain() only peeks (twos: at the next two random words), then schedule() must match it
    // and the reference; schedule() moved twos's generator, as it does.
    const x1 = xorshift(rngState);
    const x2 = xorshift(x1);
    const want = name === 'twos' ? refTwos(svc, dt, x1, x2) : refPick(name, svc, dt);
    const ex = s.explain!(svc, dt, FLOW);
    const got = s.schedule(svc, dt, FLOW);
    if (name === 'twos') rngState = x2;
    if (got !== want || ex.dest !== want) {
      assert.fail(`${name} step ${step} (${svc.dests.length} destinations): schedule ${got}, explain ${ex.dest} (${ex.why}), reference ${want}`);
    }
  }
  s.done?.(svc, dt);
  assert.ok(dt.watcher.every((w) => w === undefined), `${name}: done() leaves no watcher behind`);
  return counts;
}

const runArb = fc.record({
  seed: fc.integer({ min: 1, max: 0x7fffffff }),
  start: fc.integer({ min: TOURNEY_MIN - 4, max: 160 }),
  maxW: fc.integer({ min: 1, max: 4 }),
  scale: fc.constantFrom(1, 1, 1, 1000, 1 << 20, 1 << 28), // the largest: W over 2^32
  thresholds: fc.integer({ min: 0, max: 60 }),
  steps: fc.constant(1500),
});

for (const name of ['fo', 'ovf', 'twos', 'lc', 'wlc', 'sed', 'nq']) {
  test(`${name}: the fast path picks what the kernel's scan picks, through random connection events, edits, additions and deletions`, () => {
    let tree = 0;
    let scan = 0;
    fc.assert(
      fc.property(runArb, (run) => {
        const c = drive(name, run);
        tree += c.tree;
        scan += c.scan;
      }),
      { numRuns: 12, seed: 0x5eed + name.length },
    );
    // Both paths ran: the comparisons above are not all with a small service's scan.
    assert.ok(tree > 5000 && scan > 0, `steps with a tree ${tree}, with the scan ${scan}`);
  });
}

test('fo and ovf: with a tree, a destination crossing its -x/-y thresholds through bind/unbind leaves and rejoins', () => {
  for (const name of ['fo', 'ovf']) {
    const s = getScheduler(name)!;
    const dt = new DestTable(TOURNEY_MIN);
    const svc: SchedService = { dests: [], schedState: undefined, schedFlags: 0 };
    for (let d = 0; d < TOURNEY_MIN; d++) {
      dt.set(d, 0x0a000100 + d, 80, 0, d === 40 ? 9 : 1 + (d % 3), d === 40 ? 2 : 0, d === 40 ? 1 : 0);
      svc.dests.push(d);
    }
    s.update?.(svc, dt);
    assert.ok(dt.watcher[0] !== undefined, `${name}: watched`);
    assert.equal(s.schedule(svc, dt, FLOW), 40);
    dt.bind(40);
    dt.activate(40, true);
    assert.equal(s.schedule(svc, dt, FLOW), 40, `${name}: 1 active of -x 2, weight 9`);
    dt.bind(40); // 2 connections: over -x 2, OVERLOAD
    const second = 2; // the first destination of weight 3 in list order
    assert.equal(s.schedule(svc, dt, FLOW), second, `${name}: overloaded, the next heaviest, first in list order`);
    dt.unbind(40, false); // 1 left: under -y 1? no (1 is not < 1): still overloaded
    assert.equal(s.schedule(svc, dt, FLOW), second);
    dt.unbind(40, true); // 0 < 1: back
    assert.equal(s.schedule(svc, dt, FLOW), 40);
    s.done?.(svc, dt);
  }
});

test('twos: from TOURNEY_MIN destinations the draws use the weight tree; the same seed gives the same choices as the walk', () => {
  // The same weights and seed, once as a large service (tree) and once with the tree rebuilt away
  // below TOURNEY_MIN by removing padding destinations of weight 0 (which the walk skips).
  const weights = [3, 0, 5, 1, 1, 7, 2];
  const make = (pad: number): { s: Scheduler; svc: SchedService; dt: DestTable } => {
    const s = getScheduler('twos')!;
    const dt = new DestTable(200);
    const svc: SchedService = { dests: [], schedState: undefined, schedFlags: 0 };
    s.init?.(svc, dt);
    weights.forEach((w, d) => {
      dt.set(d, 0x0a000100 + d, 80, 0, w);
      svc.dests.push(d);
    });
    for (let k = 0; k < pad; k++) {
      dt.set(100 + k, 0x0a000200 + k, 80, 0, 0);
      svc.dests.push(100 + k);
    }
    s.update?.(svc, dt);
    seedTwos(svc, 4242);
    return { s, svc, dt };
  };
  const big = make(TOURNEY_MIN);
  const small = make(0);
  assert.ok(big.dt.watcher[0] !== undefined && small.dt.watcher[0] === undefined, 'tree only for the large one');
  for (let i = 0; i < 5000; i++) {
    const a = big.s.schedule(big.svc, big.dt, FLOW);
    const b = small.s.schedule(small.svc, small.dt, FLOW);
    assert.equal(a, b, `decision ${i}`);
    big.dt.bind(a);
    small.dt.bind(b);
  }
});

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
