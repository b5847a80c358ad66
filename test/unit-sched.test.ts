// test-class: shared
// Schedulers: exact sequences against REFERENCE.md's formulas (rr, wrr, wlc), directly on a
// DestTable and through the control verbs + pipeline.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { registerScheduler, schedulerNames } from '../src/sched/index.js';
import { FLOW, schedRig } from './helpers/sched.js';
import { tcpFrame, TCP_FLAGS } from './helpers/frames.js';
import { CLIENT, DIR_MAC, drRig, ROUTER_MAC, RS, VIP } from './helpers/harness.js';

const NAMES = 'ABCDEFGH';

/** The shared scheduler rig (test/helpers/sched.ts); destinations are never deleted here, so
 *  slot letters are list positions. */
function setup(name: string, weights: number[], how: 'added' | 'init' = 'added') {
  return schedRig(name, weights, { how });
}

test('registry: rr, wrr, wlc registered; duplicates refused', () => {
  for (const n of ['rr', 'wrr', 'wlc']) assert.ok(schedulerNames().includes(n));
  assert.throws(() => registerScheduler({ name: 'rr', schedule: () => -1 }), /already registered/);
});

test('rr: circular order', () => {
  assert.equal(setup('rr', [1, 1, 1]).pick(7), 'ABCABCA');
});

test('rr: weight 0 destinations are skipped; all weight 0 gives none', () => {
  const { pick, dt, svc } = setup('rr', [1, 0, 5, 0]);
  assert.equal(pick(6), 'ACACAC');
  dt.weight[svc.dests[0]] = 0;
  dt.weight[svc.dests[2]] = 0;
  assert.equal(pick(2), '--');
  dt.weight[svc.dests[3]] = 2;
  assert.equal(pick(3), 'DDD');
});

test('rr: continues after the last one chosen when a weight changes', () => {
  const { pick, dt, svc, s } = setup('rr', [1, 1, 1]);
  assert.equal(pick(2), 'AB');
  dt.weight[svc.dests[2]] = 0;
  s.update?.(svc, dt);
  assert.equal(pick(3), 'ABA');
});

test('wrr: weights 4,3,2 give A A B A B C A B C for 3 cycles', () => {
  assert.equal(setup('wrr', [4, 3, 2], 'init').pick(27), 'AABABCABC'.repeat(3));
});

// ip_vs_wrr.c keeps cw across destination changes: after -a A (weight 4) alone, mw = 4 - (4 - 1)
// = 1 and cw = 1; adding B and C keeps cw = 1, so the first round picks every server once
// before the 4,3,2 cycle starts.
test('wrr: servers added one at a time: one round at cw 1, then the cycle (as IPVS)', () => {
  assert.equal(setup('wrr', [4, 3, 2]).pick(3 + 18), 'ABC' + 'AABABCABC'.repeat(2));
  assert.equal(setup('wrr', [3, 1]).pick(2 + 8), 'AB' + 'AAAB'.repeat(2));
});

/** REFERENCE.md's wrr rule, written out independently. */
function wrrReference(weights: number[], n: number, over: boolean[] = []): string {
  const g = (a: number, b: number): number => (b === 0 ? a : g(b, a % b));
  const live = weights.filter((w) => w > 0);
  if (live.length === 0 || weights.every((w, i) => w === 0 || over[i])) return '-'.repeat(n);
  const mw = Math.max(...live);
  const di = live.reduce(g);
  let i = -1;
  let cw = 0;
  let out = '';
  while (out.length < n) {
    i = (i + 1) % weights.length;
    if (i === 0) {
      cw -= di;
      if (cw <= 0) cw = mw;
    }
    if (weights[i] > 0 && !over[i] && weights[i] >= cw) out += NAMES[i];
  }
  return out;
}

test('wrr: matches the reference formula for random weights (gcd stepping, weight 0 skipped)', () => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: 12 }), { minLength: 1, maxLength: 6 }), (weights) => {
      const total = weights.reduce((a, b) => a + b, 0);
      const n = Math.max(3, 2 * total);
      assert.equal(setup('wrr', weights, 'init').pick(n), wrrReference(weights, n), `weights ${weights}`);
    }),
    { numRuns: 300 },
  );
});

test('wrr: each destination gets exactly its weight share per cycle', () => {
  const seq = setup('wrr', [6, 4, 2], 'init').pick(12 * 5);
  for (const [k, w] of [['A', 6], ['B', 4], ['C', 2]] as const) assert.equal([...seq].filter((c) => c === k).length, w * 5);
  assert.equal(setup('wrr', [6, 4, 2], 'init').pick(6), 'AABABC', 'gcd 2: cw 5, 3, 1 (mw = 6 - (2 - 1))');
});

test('wrr: a weight change restarts the walk at the head and keeps cw when still valid (as IPVS)', () => {
  const { pick, dt, svc, s } = setup('wrr', [4, 3, 2], 'init');
  assert.equal(pick(4), 'AABA'); // the last A at cw 2
  dt.weight[svc.dests[1]] = 0; // B drained: 4,0,2 → gcd 2, mw 3; cw 2 → (2/2)*2 + 1 = 3
  s.update?.(svc, dt);
  assert.equal(pick(9), 'AACAACAAC'); // cw 3: A; cw 1: A C; ...
  dt.weight[svc.dests[1]] = 1; // 4,1,2 → gcd 1, mw 4; cw 1 is kept
  s.update?.(svc, dt);
  // From the head at cw 1: A B C; then cw 4: A; 3: A; 2: A C; 1: A B C; 4: A; ...
  assert.equal(pick(14), 'ABC' + 'AAACABC' + 'AAAC');
  dt.weight[svc.dests[0]] = 9; // 9,1,2 → mw 9; the last C was picked at cw 2, which is kept
  s.update?.(svc, dt);
  assert.equal(pick(3), 'ACA'); // from the head at cw 2: A, C; then cw 1: A
});

/** Put destination i over an upper threshold of 1 (one connection bound): OVERLOAD, not available. */
function overload(r: { dt: import('../src/datapath/dests.js').DestTable; svc: { dests: number[] } }, i: number): void {
  const d = r.svc.dests[i];
  r.dt.setThresholds(d, 1, 0);
  r.dt.bind(d);
}

test('wrr: a heavy server over its -x threshold is skipped without walking every weight level (1,000,000 beside 1 and 2: the others picked at once); picks as the reference formula with overloaded servers skipped', () => {
  const r = setup('wrr', [1_000_000, 1, 2], 'init');
  assert.equal(r.pick(2), 'AA');
  overload(r, 0);
  // Count the destinations looked at: the kernel's walk passes ~10^6 weight levels per pick here
  // (at the largest weight, 2147483647, ~2^31: a minute of uvsd's loop per new connection).
  const avail = r.dt.available.bind(r.dt);
  let looks = 0;
  (r.dt as { available: (d: number) => boolean }).available = (d) => {
    looks++;
    return avail(d);
  };
  assert.equal(r.pick(6), 'CBCCBC');
  assert.ok(looks < 100, `${looks} destinations looked at for 6 picks`);
  // Every server overloaded: none, at once.
  overload(r, 1);
  overload(r, 2);
  looks = 0;
  assert.equal(r.pick(3), '---');
  assert.ok(looks < 100, `${looks} destinations looked at for 3 picks of none`);
  // With overloaded servers, the reference formula with them skipped (levels from every weight).
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 12 }), fc.boolean()), { minLength: 1, maxLength: 6 }), (ds) => {
      const weights = ds.map(([w]) => w);
      const over = ds.map(([, o]) => o);
      const rig = setup('wrr', weights, 'init');
      over.forEach((o, i) => o && overload(rig, i));
      const total = weights.reduce((a, b) => a + b, 0);
      const n = Math.max(3, 2 * total);
      assert.equal(rig.pick(n), wrrReference(weights, n, over), `weights ${weights} overloaded ${over}`);
    }),
    { numRuns: 300 },
  );
});

test('wrr: after a new connection found every server over its -x threshold, the walk goes on as the kernel\'s (from the head at the top level, or from the last pick at the lowest)', () => {
  // ip_vs_wrr_schedule's err_over leaves cl and cw where its walk of every level ended; the
  // picks once the servers are under their thresholds again follow from there.
  const cases: [number[], number, string][] = [
    [[3, 4], 1, 'BABABA'], // from B at cw 4, above the lowest level: the head, cw 4 again
    [[1, 2], 3, 'BABBAB'], // from B at cw 1, the lowest: stops at B, cw 1
    [[2, 2, 1], 4, 'CABABC'], // from B at cw 1 (di 1): stops at B, cw 1
  ];
  for (const [weights, before, after] of cases) {
    const r = setup('wrr', weights, 'init');
    r.pick(before);
    weights.forEach((_, i) => overload(r, i));
    assert.equal(r.pick(2), '--');
    for (const d of r.svc.dests) r.dt.unbind(d, false);
    assert.equal(r.pick(6), after, `weights ${weights} after ${before} picks`);
  }
});

test('wrr: no destination with weight > 0 gives none', () => {
  assert.equal(setup('wrr', [0, 0]).pick(3), '---');
  assert.equal(setup('wrr', []).pick(1), '-');
});

test('wlc: minimum overhead/weight with overhead = 256*active + inactive', () => {
  const { s, svc, dt } = setup('wlc', [1, 2, 3]);
  const [a, b, c] = svc.dests;
  dt.active[a] = 1; // 256 / 1 = 256
  dt.active[b] = 1; dt.inactive[b] = 200; // 456 / 2 = 228
  dt.active[c] = 2; // 512 / 3 ≈ 170.7
  assert.equal(s.schedule(svc, dt, FLOW), c);
  dt.inactive[c] = 200; // 712 / 3 ≈ 237.3
  assert.equal(s.schedule(svc, dt, FLOW), b);
  dt.weight[b] = 0; // not eligible
  assert.equal(s.schedule(svc, dt, FLOW), c);
});

test('wlc: ties go to the first in list order', () => {
  const { s, svc, dt } = setup('wlc', [2, 1, 4]);
  const [a, b, c] = svc.dests;
  dt.inactive[a] = 2; dt.inactive[b] = 1; dt.inactive[c] = 4; // all ratio 1
  assert.equal(s.schedule(svc, dt, FLOW), a);
  dt.weight[a] = 0;
  assert.equal(s.schedule(svc, dt, FLOW), b);
  assert.equal(setup('wlc', [1, 1, 1]).pick(1), 'A', 'all idle: the first');
  assert.equal(setup('wlc', [0, 0]).pick(1), '-');
});

test('wlc: matches a brute-force reference while connections accumulate', () => {
  fc.assert(
    fc.property(
      fc.array(fc.record({ w: fc.integer({ min: 0, max: 5 }), a: fc.nat(4), i: fc.nat(600) }), { minLength: 1, maxLength: 6 }),
      fc.array(fc.boolean(), { maxLength: 30 }),
      (ds, asActive) => {
        const { s, svc, dt } = setup('wlc', ds.map((d) => d.w));
        svc.dests.forEach((d, k) => { dt.active[d] = ds[k].a; dt.inactive[d] = ds[k].i; });
        for (const act of asActive) {
          let best = -1;
          for (let k = 0; k < svc.dests.length; k++) {
            const d = svc.dests[k];
            if (dt.weight[d] <= 0) continue;
            const oh = (x: number) => dt.active[x] * 256 + dt.inactive[x];
            if (best < 0 || oh(d) / dt.weight[d] < oh(best) / dt.weight[best]) best = d;
          }
          const got = s.schedule(svc, dt, FLOW);
          assert.equal(got, best);
          if (got >= 0) (act ? dt.active : dt.inactive)[got]++;
        }
      },
    ),
    { numRuns: 300 },
  );
});

// ---- through the control verbs and the pipeline --------------------------------------------

function destOf(frame: Buffer): string {
  const m = [...frame.subarray(0, 6)].map((b) => b.toString(16).padStart(2, '0')).join(':');
  const i = RS.findIndex((x) => x.mac === m);
  return i < 0 ? '?' : NAMES[i];
}

/** Sends n SYNs of new flows (source ports from firstPort on) through the rig; the real server
 *  each went to, as letters, '-' where nothing was forwarded. */
function synSender(r: ReturnType<typeof drRig>, firstPort: number): (n: number) => string {
  let port = firstPort;
  return (n) => {
    let s = '';
    for (let i = 0; i < n; i++) {
      const out = r.run(tcpFrame({ ethDst: DIR_MAC, ethSrc: ROUTER_MAC }, { src: CLIENT, dst: VIP, sport: port++, dport: 80, flags: TCP_FLAGS.SYN }));
      s += out.length === 1 ? destOf(out[0]) : '-';
    }
    return s;
  };
}

test('pipeline: wrr 4,3,2 via addDest, then editDest weight change, SYN by SYN', () => {
  const r = drRig({ sched: 'wrr', weights: [4, 3, 2] });
  const syns = synSender(r, 30000);
  // Added one at a time (as with ipvsadm): a round at cw 1 first, then the 4,3,2 cycle.
  assert.equal(syns(18), 'ABC' + 'AABABCABC' + 'AABABC'); // the last C at cw 2
  r.ctl.editDest({ service: { proto: 'tcp', addr: VIP, port: 80 }, addr: RS[0].ip, port: 80, weight: 1 });
  // 1,3,2: mw 3, cw 2 kept, from the head: B C; cw 1: A B C; cw 3: B; cw 2: B C; cw 1: A B C; cw 3: B
  assert.equal(syns(12), 'BC' + 'ABC' + 'B' + 'BC' + 'ABC' + 'B');
});

test('pipeline: wlc default scheduler spreads by connection counts', () => {
  const r = drRig({ sched: 'wlc', weights: [1, 2] });
  const s = synSender(r, 31000)(6);
  // inactive counts (A/1 vs B/2): 0,0→A; 1,0→B; 1,1→B; 1,2→A(tie→first); 2,2→B; 2,3→B
  assert.equal(s, 'ABBABB');
});

// REFERENCE.md: rr picks "the next destination in circular order after the last one chosen".
// The kernel keeps a pointer to the last chosen destination (and moves it to the previous entry
// when that destination is deleted), so deleting another server does not repeat or skip anyone.
test('pipeline: rr after deleting an earlier destination continues after the last one chosen', () => {
  const r = drRig({ sched: 'rr', weights: [1, 1, 1] });
  const syns = synSender(r, 32000);
  assert.equal(syns(2), 'AB');
  r.ctl.deleteDest({ service: { proto: 'tcp', addr: VIP, port: 80 }, addr: RS[0].ip, port: 80 });
  assert.equal(syns(3), 'CBC', 'after B comes C, then B, C');
});

test('pipeline: rr after deleting the last chosen destination continues with its successor', () => {
  const r = drRig({ sched: 'rr', weights: [1, 1, 1] });
  const syns = synSender(r, 33000);
  assert.equal(syns(2), 'AB');
  r.ctl.deleteDest({ service: { proto: 'tcp', addr: VIP, port: 80 }, addr: RS[1].ip, port: 80 });
  assert.equal(syns(3), 'CAC', 'B was last: its successor C comes next');
});
