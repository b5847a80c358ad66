// test-class: shared
// All 14 schedulers: exact choices on prepared states against REFERENCE.md's rules and the
// kernel's hashes (written out independently here, with BigInt), explain() agreeing with the
// following schedule(), and the availability property for every scheduler.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DEST_F_OVERLOAD } from '../src/datapath/dests.js';
import { schedulerNames, getScheduler, type Flow } from '../src/sched/index.js';
import { SF_MH_FALLBACK, SF_MH_PORT, SF_SH_FALLBACK, SF_SH_PORT } from '../src/sched/types.js';
import { hsiphash32 } from '../src/sched/hsiphash.js';
import { mhLookup, mhTableSize, setMhTableSize, MH_PRIMES } from '../src/sched/mh.js';
import { lblcTable } from '../src/sched/lblc.js';
import { LB_CHECK_BUDGET } from '../src/sched/lbtable.js';
import { lblcrSet, lblcrTable } from '../src/sched/lblcr.js';
import { seedTwos } from '../src/sched/twos.js';
import { productLess } from '../src/sched/tourney.js';
import { NAMES, schedRig, type SchedRig } from './helpers/sched.js';
import { parseIp } from '../src/datapath/addr.js';
import { spawnSync } from 'node:child_process';
import { tcpFrame, TCP_FLAGS } from './helpers/frames.js';
import { CLIENT, DIR_MAC, drRig, ROUTER_MAC, RS, VIP } from './helpers/harness.js';

const ALL = ['rr', 'wrr', 'lc', 'wlc', 'lblc', 'lblcr', 'dh', 'sh', 'sed', 'nq', 'fo', 'ovf', 'mh', 'twos'];
const RS_BASE = parseIp('192.168.8.20'); // above 128.0.0.0 on purpose (int32 handling)
/** lblc/lblcr's table holds at most this many entries (lbtable.ts MAX_CAPACITY). */
const LB_CAP = 1 << 18;

function flow(saddr: number, sport = 40000, daddr = parseIp('192.168.8.200'), proto = 6): Flow {
  return { proto, saddr: saddr >>> 0, sport, daddr: daddr >>> 0, dport: 80 };
}

/** A small deterministic generator for test inputs (not the one under test). */
function lcg(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return x;
  };
}

function setCounts(r: SchedRig, active: number[], inactive: number[] = []): void {
  r.svc.dests.forEach((d, i) => {
    r.dt.active[d] = active[i] ?? 0;
    r.dt.inactive[d] = inactive[i] ?? 0;
  });
}

test('registry: all 14 kernel schedulers; only sh and mh take -b flags', () => {
  assert.deepEqual([...schedulerNames()].sort(), [...ALL].sort());
  for (const n of ALL) {
    const f = getScheduler(n)?.flags ?? 0;
    if (n === 'sh') assert.equal(f, SF_SH_FALLBACK | SF_SH_PORT);
    else if (n === 'mh') assert.equal(f, SF_MH_FALLBACK | SF_MH_PORT);
    else assert.equal(f, 0, n);
  }
});

// ---- least-connection family -----------------------------------------------------------------

test('lc: least overhead (256*active + inactive), weights ignored except 0, ties to the first', () => {
  const r = schedRig('lc', [1, 5, 1], { base: RS_BASE });
  setCounts(r, [0, 0, 0], [3, 2, 2]);
  assert.equal(r.pick(1), 'B', 'overheads 3, 2, 2: B first of the tie');
  setCounts(r, [1, 1, 0], [0, 0, 300]);
  assert.equal(r.pick(1), 'A', '256, 256, 300: A (weight 5 of B does not matter)');
  r.setWeight(0, 0);
  assert.equal(r.pick(1), 'B');
  r.dt.flags[r.svc.dests[1]] |= DEST_F_OVERLOAD;
  assert.equal(r.pick(1), 'C', 'overloaded B is skipped');
});

test('sed: least (active+1)/weight by cross-multiplication; inactive ignored; ties to the first', () => {
  const r = schedRig('sed', [1, 2, 3], { base: RS_BASE });
  setCounts(r, [0, 0, 0], [0, 50, 90]);
  assert.equal(r.pick(1), 'C', '1/1, 1/2, 1/3: C (inactive do not count)');
  setCounts(r, [0, 1, 2]);
  assert.equal(r.pick(1), 'A', '1/1 = 2/2 = 3/3: the first');
  setCounts(r, [1, 1, 2]);
  assert.equal(r.pick(1), 'B', '2/1, 2/2, 3/3: B first of the tie');
  setCounts(r, [1, 2, 2]);
  assert.equal(r.pick(1), 'C', '2/1, 3/2, 3/3');
});

test('nq: the first idle destination (no active), else sed', () => {
  const r = schedRig('nq', [1, 5, 3], { base: RS_BASE });
  setCounts(r, [0, 0, 0], [100, 0, 0]);
  assert.equal(r.pick(1), 'A', 'idle first, even with 100 inactive and a lower weight');
  setCounts(r, [1, 3, 0]);
  assert.equal(r.pick(1), 'C', 'C is the only idle one');
  setCounts(r, [1, 3, 1]);
  assert.equal(r.pick(1), 'C', 'none idle: sed 2/1, 4/5, 2/3 → C');
  setCounts(r, [1, 2, 2]);
  assert.equal(r.pick(1), 'B', 'sed 2/1, 3/5, 3/3 → B');
  r.setWeight(2, 0);
  setCounts(r, [1, 1, 0]);
  assert.equal(r.pick(1), 'B', 'idle C has weight 0: sed over A, B');
});

test('fo: the highest weight among available destinations; ties to the first', () => {
  const r = schedRig('fo', [3, 7, 7, 2], { base: RS_BASE });
  setCounts(r, [0, 900, 0]);
  assert.equal(r.pick(3), 'BBB', 'counts do not matter');
  r.dt.flags[r.svc.dests[1]] |= DEST_F_OVERLOAD;
  assert.equal(r.pick(1), 'C');
  r.setWeight(2, 0);
  assert.equal(r.pick(1), 'A');
  r.setWeight(0, 0);
  r.setWeight(3, 0);
  assert.equal(r.pick(1), '-');
});

// ip_vs_ovf.c skips a destination when activeconns > weight, so one with active == weight is
// still chosen (REFERENCE.md's "A < w" is one connection short of the kernel).
test('ovf: the highest weight with active <= weight (the kernel skips active > weight); none when all are full', () => {
  const r = schedRig('ovf', [2, 3, 1], { base: RS_BASE });
  setCounts(r, [0, 3, 0]);
  assert.equal(r.pick(1), 'B', 'B: 3 active, weight 3, not yet over');
  setCounts(r, [0, 4, 0], [0, 0, 50]);
  assert.equal(r.pick(1), 'A', 'B over: the next highest weight');
  setCounts(r, [3, 4, 1]);
  assert.equal(r.pick(1), 'C');
  setCounts(r, [3, 4, 2]);
  assert.equal(r.pick(1), '-', 'all over their weight');
  setCounts(r, [0, 0, 0]);
  r.dt.flags[r.svc.dests[1]] |= DEST_F_OVERLOAD;
  assert.equal(r.pick(1), 'A');
});

// ---- locality-based --------------------------------------------------------------------------

test('lblc: a destination IP stays on its cached server; overload switch, weight 0 and deletion re-pick by wlc', () => {
  const r = schedRig('lblc', [1, 1, 1], { base: RS_BASE });
  const X = flow(1, 1, parseIp('203.0.113.7'));
  const Y = flow(1, 1, parseIp('203.0.113.8'));
  assert.equal(r.pick(1, X), 'A', 'empty cache: wlc → A');
  r.dt.bind(r.svc.dests[0]);
  assert.equal(r.pick(1, Y), 'B', 'another destination IP: wlc → B');
  r.dt.bind(r.svc.dests[1]);
  setCounts(r, [1, 0, 0], [5, 1, 0]);
  assert.equal(r.pick(3, X), 'AAA', 'cached, although wlc would pick C');
  // 2 active > weight 1 while C has 0*2 < 1: overloaded.
  setCounts(r, [2, 0, 0], [5, 1, 0]);
  assert.equal(r.pick(1, X), 'C', 'overloaded: wlc → C, and the cache now says C');
  setCounts(r, [0, 0, 0], [0, 0, 9]);
  assert.equal(r.pick(1, X), 'C', 'the cache moved to C');
  // Not overloaded when no server has active*2 < weight.
  setCounts(r, [1, 1, 2]);
  assert.equal(r.pick(1, X), 'C', '2 > 1 but nobody is under half: stays');
  r.setWeight(2, 0);
  setCounts(r, [0, 0, 0], [4, 3, 0]);
  assert.equal(r.pick(1, X), 'B', 'weight 0: wlc over A, B → B');
  r.setWeight(2, 1);
  r.del(1);
  setCounts(r, [0, 0], [4, 0]);
  assert.equal(r.pick(1, X), 'C', 'deleted: wlc over A, C → C');
  assert.equal(r.pick(1, X), 'C', 'cached');
  // A released slot taken again by a new server is not the cached one: the cache keeps the
  // slot's generation. Cache Y on A, delete A, put a new server into A's slot.
  setCounts(r, [0, 0], [0, 5]);
  const Z = flow(1, 1, parseIp('203.0.113.9'));
  assert.equal(r.pick(1, Z), 'A');
  r.del(0);
  r.add(1, parseIp('192.168.9.99'), 80, 0); // slot 0 again
  setCounts(r, [0, 0], [0, 0]); // dests are now [C, new]; both idle
  assert.equal(r.pick(1, Z), 'C', 'the new server in slot 0 is not the cached A: wlc (tie → first in list, C)');
});

test('lblc: expiry on the coarse clock: idle 24 h at the half-hourly full check; idle 6 min only over maxSize', () => {
  const r = schedRig('lblc', [1, 1], { base: RS_BASE });
  const tbl = lblcTable(r.svc);
  const T0 = 5_000_000;
  r.s.tick?.(r.svc, r.dt, T0);
  const X = flow(1, 1, parseIp('203.0.113.7'));
  const Y = flow(1, 1, parseIp('203.0.113.8'));
  r.pick(1, X);
  r.pick(1, Y);
  let now = T0;
  const until = (t: number, every?: () => void): void => {
    while (now < t) {
      now += 60_000;
      r.s.tick?.(r.svc, r.dt, now);
      every?.();
    }
  };
  let minutes = 0;
  until(T0 + 24 * 3_600_000 - 60_000, () => {
    if (++minutes % 60 === 0) r.pick(1, Y); // Y is used every hour
  });
  assert.ok(tbl.get(X.daddr) >= 0 && tbl.get(Y.daddr) >= 0, 'both cached just before 24 h');
  until(T0 + 24 * 3_600_000 + 31 * 60_000);
  assert.equal(tbl.get(X.daddr), -1, 'X idle for 24 h: gone after the next full check');
  assert.ok(tbl.get(Y.daddr) >= 0, 'Y recently used: kept');

  // Over maxSize, entries idle for 6 min go, up to 4/3 of the excess (capped at maxSize/2) per check.
  const r2 = schedRig('lblc', [1, 1], { base: RS_BASE });
  const t2 = lblcTable(r2.svc);
  t2.maxSize = 4;
  r2.s.tick?.(r2.svc, r2.dt, T0);
  for (let k = 0; k < 10; k++) r2.pick(1, flow(1, 1, parseIp('198.51.100.1') + k));
  assert.equal(t2.count, 10);
  const counts: number[] = [];
  for (let m = 1; m <= 10; m++) {
    r2.s.tick?.(r2.svc, r2.dt, T0 + m * 60_000);
    counts.push(t2.count);
  }
  assert.deepEqual(counts, [10, 10, 10, 10, 10, 8, 6, 4, 4, 4]);
});

test('lblc, lblcr: the table check at the 262,144-entry cap walks at most LB_CHECK_BUDGET entries a tick and goes on at the next ones; every stale entry goes, used ones stay', () => {
  for (const name of ['lblc', 'lblcr']) {
    const r = schedRig(name, [1, 1], { base: RS_BASE });
    const tbl = name === 'lblc' ? lblcTable(r.svc) : lblcrTable(r.svc);
    tbl.maxSize = 1 << 20; // never over it: the counter runs, so the 30th check is a full one (24 h idle)
    const T0 = 5_000_000;
    const tick = (t: number): void => r.s.tick?.(r.svc, r.dt, t);
    tick(T0);
    const f = flow(1, 1, 0);
    const base = parseIp('100.64.0.0') | 0; // 100.64.0.0/14: 262,144 addresses, above 2^31 as int32 below
    const use = (k: number): number => {
      f.daddr = (base + k) >>> 0;
      return r.s.schedule(r.svc, r.dt, f);
    };
    for (let k = 0; k < LB_CAP; k++) {
      use(k);
      if ((k & 4095) === 4095) tick(T0); // grows the pool off the packet path
    }
    assert.equal(tbl.count, LB_CAP, `${name}: at the cap`);
    for (let m = 1; m <= 29; m++) tick(T0 + m * 60_000); // checks 1-29: nothing over maxSize, nothing walked
    tick(T0 + 29 * 60_000 + 30_000);
    for (let k = 0; k < LB_CAP; k += 16) use(k); // every 16th used again: not idle for 24 h at the check
    const used = LB_CAP / 16;
    let now = T0 + 24 * 3_600_000 + 60_000;
    let ticks = 0;
    do {
      const count = tbl.count;
      const walked = tbl.walked;
      tick(now);
      ticks++;
      assert.ok(count - tbl.count <= LB_CHECK_BUDGET, `${name}: tick ${ticks} dropped ${count - tbl.count} entries, at most ${LB_CHECK_BUDGET}`);
      assert.ok(tbl.walked - walked <= LB_CHECK_BUDGET, `${name}: tick ${ticks} walked ${tbl.walked - walked} entries`);
      // New destinations come meanwhile: added at a bucket's head, they never break the walk's place.
      for (let k = 0; k < 64; k++) {
        f.daddr = (parseIp('198.18.0.0') + ticks * 64 + k) >>> 0;
        r.s.schedule(r.svc, r.dt, f);
      }
      now += 1000;
    } while (tbl.checking);
    assert.equal(ticks, Math.ceil((LB_CAP + 64 * ticks) / LB_CHECK_BUDGET), `${name}: the check took as many ticks as its budget needs`);
    assert.equal(tbl.count, used + 64 * ticks, `${name}: every stale entry dropped, the used and the new kept`);
    let wrong = 0;
    for (let k = 0; k < LB_CAP; k += 61) if ((tbl.get(base + k) >= 0) !== (k % 16 === 0)) wrong++;
    assert.equal(wrong, 0, `${name}: entries kept that were stale, or dropped that were used`);
    assert.notEqual(use(1), -1);
    assert.ok(tbl.get(base + 1) >= 0, `${name}: a freed entry is taken again`);
  }
});

test('lblc, lblcr: done() (a service deleted or switched to another scheduler) drops the cache whole, without walking its entries', () => {
  for (const name of ['lblc', 'lblcr']) {
    const r = schedRig(name, [1, 1], { base: RS_BASE });
    const tbl = name === 'lblc' ? lblcTable(r.svc) : lblcrTable(r.svc);
    const f = flow(1, 1, 0);
    for (let k = 0; k < 12_000; k++) {
      f.daddr = (parseIp('100.64.0.0') + k) >>> 0;
      r.s.schedule(r.svc, r.dt, f);
    }
    assert.equal(tbl.count, 12_000);
    r.s.done?.(r.svc, r.dt);
    // The pipeline drops svc.schedState right after done() (delService, editService): a walk
    // that freed the entries one by one (0.1-1 ms at the 262,144 cap) bought nothing.
    assert.equal(tbl.count, 12_000, `${name}: no entry walked and freed`);
    assert.equal(r.svc.schedState, undefined, `${name}: the state is dropped`);
    r.s.init?.(r.svc, r.dt);
    assert.equal((name === 'lblc' ? lblcTable(r.svc) : lblcrTable(r.svc)).count, 0, `${name}: init() after it starts empty`);
  }
});

test('lblc: a full cache still schedules (the flow is not cached, counted); tick() grows the pool off the packet path', () => {
  const r = schedRig('lblc', [1, 1], { base: RS_BASE });
  const tbl = lblcTable(r.svc);
  const cap = tbl.capacity;
  const base = parseIp('198.51.0.0');
  for (let k = 0; k < cap + 10; k++) assert.notEqual(r.pick(1, flow(1, 1, base + k)), '-');
  assert.equal(tbl.count, cap);
  assert.equal(tbl.full, 10, 'ten flows scheduled without a cache entry');
  assert.equal(tbl.get(base + cap), -1);
  r.s.tick?.(r.svc, r.dt, 1000);
  assert.equal(tbl.capacity, cap * 2, 'grown in tick');
  for (let k = 0; k < cap; k++) assert.ok(tbl.get(base + k) >= 0, 'entries survive the growth');
  r.pick(1, flow(1, 1, base + cap));
  assert.ok(tbl.get(base + cap) >= 0, 'cached now');
});

test('lblcr: a set per destination IP: least loaded member, grows from wlc when overloaded, shrinks after expiration', () => {
  const r = schedRig('lblcr', [1, 1, 1], { base: RS_BASE });
  const tbl = lblcrTable(r.svc);
  const X = flow(1, 1, parseIp('203.0.113.7'));
  const set = (): string => lblcrSet(r.svc, r.dt, X.daddr).map(r.letter).join('');
  r.s.tick?.(r.svc, r.dt, 1_000_000);
  assert.equal(r.pick(1, X), 'A');
  assert.equal(set(), 'A');
  setCounts(r, [1, 0, 0], [9, 0, 0]);
  assert.equal(r.pick(2, X), 'AA', 'the set {A} is reused while A is not overloaded');
  setCounts(r, [2, 0, 0], [0, 3, 0]);
  assert.equal(r.pick(1, X), 'C', 'A overloaded: wlc over all → C joins the set');
  assert.equal(set(), 'CA', 'new members go to the front');
  setCounts(r, [0, 0, 0]);
  assert.equal(r.pick(1, X), 'C', 'a tie in the set goes to the first member: C');
  setCounts(r, [0, 0, 0], [1, 0, 0]);
  assert.equal(r.pick(1, X), 'C');
  setCounts(r, [0, 0, 0], [0, 0, 1]);
  assert.equal(r.pick(1, X), 'A', 'least loaded member');
  r.setWeight(0, 0);
  r.setWeight(2, 0);
  assert.equal(r.pick(1, X), 'B', 'no member available: wlc → B joins');
  assert.equal(set(), 'BCA');
  r.setWeight(0, 1);
  r.setWeight(2, 1);
  // Unchanged for longer than the expiration (the lblcr_expiration sysctl; 24 h by default):
  // the most loaded member leaves, after the least loaded one was chosen.
  tbl.expiration = 60_000;
  setCounts(r, [0, 1, 0], [3, 0, 0]);
  r.s.tick?.(r.svc, r.dt, 1_000_000 + 60_001);
  assert.equal(r.pick(1, X), 'C', 'least loaded: C (0), A (3), B (256)');
  assert.equal(set(), 'CA', 'B, the most loaded, left the set');
  assert.equal(r.pick(1, X), 'C');
  assert.equal(set(), 'CA', 'the erase counts as a change: no second shrink yet');
});

// ---- hashing ---------------------------------------------------------------------------------

/** REFERENCE.md's dh bucket: (addr * 2654435761) & 255. */
function dhRef(addr: number): number {
  return Number((BigInt(addr >>> 0) * 2654435761n) & 255n);
}
/** hash_32(v, bits) = ((v * 0x61C88647) mod 2^32) >> (32 - bits). */
function hash32Ref(v: number, bits: number): number {
  return Number(((BigInt(v >>> 0) * 0x61c88647n) & 0xffffffffn) >> BigInt(32 - bits));
}

test('dh: bucket (daddr * 2654435761) & 255; destinations take buckets round robin whatever their weights; no fallback', () => {
  const weights = [1, 5, 0, 2];
  const r = schedRig('dh', weights, { base: RS_BASE });
  const next = lcg(7);
  for (let k = 0; k < 300; k++) {
    const daddr = next();
    const i = dhRef(daddr) % weights.length;
    const want = weights[i] > 0 ? NAMES[i] : '-';
    assert.equal(r.pick(1, flow(next(), next() & 0xffff, daddr)), want, `daddr ${daddr}`);
  }
  assert.equal(r.pick(1, flow(1, 2, 0xc0a80001)), NAMES[dhRef(0xc0a80001) % 4]);
});

/** sh's table as REFERENCE.md describes it: walking the list, `weight` consecutive buckets each (the kernel gives weight 0 one). */
function shTableRef(weights: number[]): number[] {
  const t: number[] = [];
  let i = 0;
  let c = 0;
  while (t.length < 256) {
    t.push(i);
    if (++c >= weights[i]) {
      i = (i + 1) % weights.length;
      c = 0;
    }
  }
  return t;
}

function shRef(weights: number[], saddr: number, port: number, fallback: boolean): string {
  const t = shTableRef(weights);
  const ihash = hash32Ref(saddr + port, 8);
  if (weights[t[ihash]] > 0) return NAMES[t[ihash]];
  if (!fallback) return '-';
  for (let off = 0; off < 256; off++) {
    const b = (((off + ihash) % 256) + hash32Ref(saddr + port, 8)) & 255;
    if (weights[t[b]] > 0) return NAMES[t[b]];
  }
  return '-';
}

test('sh: hash_32(saddr, 8) into 256 buckets; a destination of weight w takes w consecutive buckets', () => {
  const weights = [2, 1, 3];
  const r = schedRig('sh', weights, { base: RS_BASE });
  const next = lcg(11);
  for (let k = 0; k < 300; k++) {
    const saddr = next();
    const seq = r.pick(1, flow(saddr, next() & 0xffff)) + r.pick(1, flow(saddr, next() & 0xffff));
    const want = shRef(weights, saddr, 0, false);
    assert.equal(seq, want + want, `saddr ${saddr}: the source port is not hashed without sh-port`);
  }
});

test('sh-port: the source port is hashed too (TCP/UDP/SCTP only)', () => {
  const weights = [1, 1, 1, 1];
  const r = schedRig('sh', weights, { base: RS_BASE, flags: SF_SH_PORT });
  const saddr = parseIp('198.51.100.77');
  const seen = new Set<string>();
  for (let port = 1000; port < 1200; port++) {
    const got = r.pick(1, flow(saddr, port));
    assert.equal(got, shRef(weights, saddr, port, false), `port ${port}`);
    seen.add(got);
    assert.equal(r.pick(1, flow(saddr, port, undefined, 1)), shRef(weights, saddr, 0, false), 'ICMP: port 0');
  }
  assert.equal(seen.size, 4, 'one client spreads over all servers by port');
});

test('sh-fallback: an unavailable hashed server is skipped by the kernel probe order; others unchanged', () => {
  const weights = [3, 2, 4];
  const plain = schedRig('sh', weights, { base: RS_BASE });
  const fb = schedRig('sh', weights, { base: RS_BASE, flags: SF_SH_FALLBACK });
  plain.dt.flags[plain.svc.dests[2]] |= DEST_F_OVERLOAD;
  fb.dt.flags[fb.svc.dests[2]] |= DEST_F_OVERLOAD;
  const avail = [3, 2, 0]; // overloaded C counts as weight 0 for the reference lookup, table unchanged
  const next = lcg(13);
  let moved = 0;
  for (let k = 0; k < 400; k++) {
    const saddr = next();
    const t = shTableRef(weights);
    const home = t[hash32Ref(saddr, 8)];
    const p = plain.pick(1, flow(saddr));
    const f = fb.pick(1, flow(saddr));
    if (home === 2) {
      moved++;
      assert.equal(p, '-', 'no fallback: none');
      // Reference probe with C unavailable.
      let want = '-';
      const ih = hash32Ref(saddr, 8);
      for (let off = 0; off < 256 && want === '-'; off++) {
        const b = (((off + ih) % 256) + ih) & 255;
        if (avail[t[b]] > 0) want = NAMES[t[b]];
      }
      assert.equal(f, want);
    } else {
      assert.equal(p, NAMES[home]);
      assert.equal(f, NAMES[home]);
    }
  }
  assert.ok(moved > 50, `some flows hashed to C (${moved})`);
  // weight 0 via update: the table is rebuilt (C keeps one bucket, as the kernel does)
  fb.setWeight(2, 0);
  for (let k = 0; k < 100; k++) {
    const saddr = next();
    assert.equal(fb.pick(1, flow(saddr)), shRef([3, 2, 0], saddr, 0, true));
  }
});

// ---- SipHash / mh ----------------------------------------------------------------------------

const M64 = (1n << 64n) - 1n;
const rotl = (x: bigint, b: bigint): bigint => ((x << b) | (x >> (64n - b))) & M64;
/** SipHash-c-d, written from the paper with BigInt. */
function siphashRef(c: number, d: number, k0: bigint, k1: bigint, msg: number[]): bigint {
  let v0 = 0x736f6d6570736575n ^ k0;
  let v1 = 0x646f72616e646f6dn ^ k1;
  let v2 = 0x6c7967656e657261n ^ k0;
  let v3 = 0x7465646279746573n ^ k1;
  const round = (): void => {
    v0 = (v0 + v1) & M64; v1 = rotl(v1, 13n); v1 ^= v0; v0 = rotl(v0, 32n);
    v2 = (v2 + v3) & M64; v3 = rotl(v3, 16n); v3 ^= v2;
    v0 = (v0 + v3) & M64; v3 = rotl(v3, 21n); v3 ^= v0;
    v2 = (v2 + v1) & M64; v1 = rotl(v1, 17n); v1 ^= v2; v2 = rotl(v2, 32n);
  };
  const bytes = [...msg];
  const len = bytes.length;
  const words: bigint[] = [];
  const full = len - (len % 8);
  for (let i = 0; i < full; i += 8) words.push(bytes.slice(i, i + 8).reduce((a, b, j) => a | (BigInt(b) << BigInt(8 * j)), 0n));
  let last = BigInt(len & 255) << 56n;
  for (let j = full; j < len; j++) last |= BigInt(bytes[j]) << BigInt(8 * (j - full));
  words.push(last);
  for (const m of words) {
    v3 ^= m;
    for (let i = 0; i < c; i++) round();
    v0 ^= m;
  }
  v2 ^= 0xffn;
  for (let i = 0; i < d; i++) round();
  return v0 ^ v1 ^ v2 ^ v3;
}

test('hsiphash32 = SipHash-1-3 truncated to 32 bits (the reference checked on the SipHash-2-4 test vector)', () => {
  // The SipHash paper's first vector: key 00 01 .. 0f, empty message → 0x726fdb47dd0e0e31.
  assert.equal(siphashRef(2, 4, 0x0706050403020100n, 0x0f0e0d0c0b0a0908n, []), 0x726fdb47dd0e0e31n);
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: 0xffffffff }), { minLength: 5, maxLength: 5 }), ([v, ha, la, hb, lb]) => {
      const k0 = (BigInt(ha) << 32n) | BigInt(la);
      const k1 = (BigInt(hb) << 32n) | BigInt(lb);
      const want = Number(siphashRef(1, 3, k0, k1, [v & 255, (v >>> 8) & 255, (v >>> 16) & 255, v >>> 24]) & 0xffffffffn);
      assert.equal(hsiphash32(v | 0, ha | 0, la | 0, hb | 0, lb | 0) >>> 0, want);
    }),
    { numRuns: 1000 },
  );
});

/** ip_vs_mh.c's table, written out plainly (BigInt SipHash reference): permutation per server,
 *  turns = (last_weight / gcd) >> shift (at least 1 for a non-zero weight), populate in list order. */
function mhTableRef(servers: { addr: number; port: number; lw: number }[], M: number): number[] {
  const h = (v: number, key: bigint): number => {
    const x = v >>> 0;
    return Number(siphashRef(1, 3, key, key, [x & 255, (x >>> 8) & 255, (x >>> 16) & 255, x >>> 24]) & 0xffffffffn);
  };
  const K1 = 2654435761n;
  const K2 = 2654446892n;
  const table: number[] = Array(M).fill(-1);
  const g0 = (a: number, b: number): number => (b === 0 ? a : g0(b, a % b));
  const live = servers.map((s) => s.lw).filter((w) => w > 0);
  if (live.length === 0) return table;
  const g = live.reduce(g0);
  const bits = Math.floor((MH_PRIMES.indexOf(M) + 8) / 2);
  const mw = Math.floor(Math.max(...live) / g);
  const shift = Math.max(0, mw.toString(2).length - bits);
  const ds = servers.map((s) => ({
    perm: h(s.addr + s.port, K1) % M,
    skip: (h(s.addr + s.port, K2) % (M - 1)) + 1,
    turns: (Math.floor(s.lw / g) >> shift) || (s.lw !== 0 ? 1 : 0),
  }));
  const taken: boolean[] = Array(M).fill(false);
  let n = 0;
  for (;;) {
    for (let i = 0; i < ds.length; i++) {
      for (let t = 0; t < ds[i].turns; t++) {
        while (taken[ds[i].perm]) ds[i].perm = (ds[i].perm + ds[i].skip) % M;
        taken[ds[i].perm] = true;
        table[ds[i].perm] = i;
        if (++n === M) return table;
      }
    }
  }
}

test('mh: the lookup table is ip_vs_mh.c\'s (hsiphash permutations, gcd and shift turns, last weight on quiesce)', () => {
  for (const [M, weights] of [[251, [3, 6, 0, 9, 1_000_000]], [4093, [1, 1, 1]], [509, [5, 10, 15, 20, 7]], [251, [0, 0]]] as const) {
    const r = schedRig('mh', [...weights], { base: RS_BASE });
    setMhTableSize(r.svc, r.dt, M);
    const ref = (lws: readonly number[]): number[] => mhTableRef(r.svc.dests.map((d, i) => ({ addr: r.dt.addr[d], port: r.dt.port[d], lw: lws[i] })), M);
    const got = (): number[] => [...mhLookup(r.svc)].map((d) => (d < 0 ? -1 : r.svc.dests.indexOf(d)));
    assert.deepEqual(got(), ref(weights), `M ${M}, weights ${weights}`);
    if (weights[0] > 0) {
      r.setWeight(0, 0); // quiesced: last_weight keeps its turns
      assert.deepEqual(got(), ref(weights));
      r.setWeight(0, 2); // a new non-zero weight is the new last_weight
      assert.deepEqual(got(), ref([2, ...weights.slice(1)]));
    }
  }
});

function mhMap(r: SchedRig, flows: Flow[]): string {
  return flows.map((f) => r.letter(r.s.schedule(r.svc, r.dt, f))).join('');
}

function randomFlows(n: number, seed: number): Flow[] {
  const next = lcg(seed);
  return Array.from({ length: n }, () => flow(next(), next() & 0xffff));
}

function diff(a: string, b: string): number {
  let n = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) n++;
  return n;
}

test('mh: table shares follow the weights (gcd-reduced turns)', () => {
  const r = schedRig('mh', [10, 20, 30, 40], { base: RS_BASE });
  const flows = randomFlows(20_000, 3);
  const m = mhMap(r, flows);
  for (const [k, w] of [['A', 1], ['B', 2], ['C', 3], ['D', 4]] as const) {
    const share = [...m].filter((c) => c === k).length / flows.length;
    assert.ok(Math.abs(share - w / 10) < 0.02, `${k}: ${share} vs ${w / 10}`);
  }
});

test('mh: removing one of 10 servers moves about 1/10 of 10,000 flows; adding an 11th takes about 1/11', () => {
  const flows = randomFlows(10_000, 5);
  const r = schedRig('mh', Array(10).fill(1), { base: RS_BASE });
  const before = mhMap(r, flows);
  const onE = [...before].filter((c) => c === 'E').length;
  r.del(4); // E
  const after = mhMap(r, flows);
  const moved = diff(before, after);
  assert.ok(!after.includes('E'));
  assert.ok(moved >= onE, 'at least the flows of the removed server');
  assert.ok(moved / flows.length < 0.1 * 1.35, `moved ${moved} of 10,000 (${onE} were on E)`);
  const grown = schedRig('mh', Array(10).fill(1), { base: RS_BASE });
  const b2 = mhMap(grown, flows);
  grown.add(1);
  const a2 = mhMap(grown, flows);
  const taken = [...a2].filter((c) => c === 'K').length;
  const moved2 = diff(b2, a2);
  assert.ok(Math.abs(taken / flows.length - 1 / 11) < 0.02, `K took ${taken}`);
  assert.ok(moved2 / flows.length < (1 / 11) * 1.35, `moved ${moved2} (K took ${taken})`);
});

test('mh: weight 0 keeps the table (last weight); mh-fallback sends only that server\'s flows elsewhere', () => {
  const flows = randomFlows(5000, 9);
  const plain = schedRig('mh', [1, 1, 1, 1], { base: RS_BASE });
  const fb = schedRig('mh', [1, 1, 1, 1], { base: RS_BASE, flags: SF_MH_FALLBACK });
  const before = mhMap(plain, flows);
  assert.equal(mhMap(fb, flows), before, 'the flag changes nothing while all are available');
  plain.setWeight(1, 0);
  fb.setWeight(1, 0);
  const p = mhMap(plain, flows);
  const f = mhMap(fb, flows);
  for (let i = 0; i < flows.length; i++) {
    if (before[i] === 'B') {
      assert.equal(p[i], '-', 'quiesced, no fallback: none');
      assert.notEqual(f[i], '-');
      assert.notEqual(f[i], 'B');
    } else {
      assert.equal(p[i], before[i], 'other flows stay');
      assert.equal(f[i], before[i], 'other flows stay');
    }
  }
  fb.setWeight(1, 1);
  assert.equal(mhMap(fb, flows), before, 'back to weight 1: the same table');
});

test('mh-port: the source port is hashed with the address', () => {
  const plain = schedRig('mh', [1, 1, 1], { base: RS_BASE });
  const port = schedRig('mh', [1, 1, 1], { base: RS_BASE, flags: SF_MH_PORT });
  const saddr = parseIp('198.51.100.9');
  const a = new Set<string>();
  const b = new Set<string>();
  for (let sp = 2000; sp < 2100; sp++) {
    a.add(plain.pick(1, flow(saddr, sp)));
    b.add(port.pick(1, flow(saddr, sp)));
  }
  assert.equal(a.size, 1);
  assert.equal(b.size, 3);
});

test('mh: table size is one of the kernel primes (default 4093); setMhTableSize validates before changing', () => {
  const r = schedRig('mh', [1, 2], { base: RS_BASE });
  assert.equal(mhTableSize(r.svc), 4093);
  assert.throws(() => setMhTableSize(r.svc, r.dt, 4096), /invalid mh table size 4096 \(one of 251, 509/);
  assert.equal(mhTableSize(r.svc), 4093);
  const flows = randomFlows(3000, 21);
  for (const size of MH_PRIMES) {
    setMhTableSize(r.svc, r.dt, size);
    assert.equal(mhTableSize(r.svc), size);
    const m = mhMap(r, flows);
    const bShare = [...m].filter((c) => c === 'B').length / flows.length;
    assert.ok(Math.abs(bShare - 2 / 3) < 0.05, `size ${size}: B share ${bShare}`);
    assert.match(r.s.explain!(r.svc, r.dt, flows[0]).why, new RegExp(` of ${size} `));
  }
  const rr = schedRig('rr', [1]);
  assert.throws(() => setMhTableSize(rr.svc, rr.dt, 251), /does not use the mh scheduler/);
});

test('mh: UVS_MH_TABLE_SIZE sets the default size at start; a bad value warns in one line naming it and keeps 4093', () => {
  const url = new URL('../src/sched/mh.js', import.meta.url).href;
  const run = (v: string): { out: string; err: string } => {
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', `import { mhDefaultTableSize } from '${url}'; console.log(mhDefaultTableSize());`],
      { env: { ...process.env, UVS_MH_TABLE_SIZE: v }, encoding: 'utf8' });
    return { out: r.stdout.trim(), err: r.stderr };
  };
  assert.equal(run('65521').out, '65521');
  const bad = run('4096');
  assert.equal(bad.out, '4093');
  assert.match(bad.err, /UVS_MH_TABLE_SIZE="4096" is not one of 251, 509, .*131071; using 4093/);
});

// ---- twos ------------------------------------------------------------------------------------

test('twos: two weighted draws from [0, W] (the kernel\'s inclusive range), the less loaded wins; seeded, repeatable', () => {
  // With no connections the first draw always wins: A (weight 1 of 1+3) is drawn for r in {0, 1} of 0..4.
  const r = schedRig('twos', [1, 3], { base: RS_BASE });
  seedTwos(r.svc, 12345);
  const seq = r.pick(10_000);
  const a = [...seq].filter((c) => c === 'A').length / seq.length;
  assert.ok(Math.abs(a - 0.4) < 0.02, `A share ${a}`);
  const again = schedRig('twos', [1, 3], { base: RS_BASE });
  seedTwos(again.svc, 12345);
  assert.equal(again.pick(10_000), seq, 'the same seed gives the same choices');
  // Loaded: B busy, so whenever B and A are drawn together A wins.
  setCounts(r, [0, 5]);
  const s2 = r.pick(10_000);
  const a2 = [...s2].filter((c) => c === 'A').length / s2.length;
  // P(A) = 1 - P(both draws B) = 1 - (3/5)^2 = 0.64
  assert.ok(Math.abs(a2 - 0.64) < 0.02, `A share with B loaded ${a2}`);
});

/** ip_vs_twos_schedule() written out, with the same xorshift32 stream as the state's. */
function twosRef(weights: number[], load: number[], x1: number, x2: number): number {
  const total = weights.reduce((a, w) => a + w, 0) + 1;
  let r1 = x1 % total;
  let r2 = x2 % total;
  let c1 = -1;
  let c2 = -1;
  weights.forEach((w, i) => {
    if (w <= 0) return;
    r1 -= w;
    r2 -= w;
    if (r1 <= 0 && c1 < 0) c1 = i;
    if (r2 <= 0 && c2 < 0) c2 = i;
  });
  return BigInt(weights[c2]) * BigInt(load[c1]) > BigInt(weights[c1]) * BigInt(load[c2]) ? c2 : c1;
}

test('twos: exact choices for a seed against the kernel rule written out', () => {
  const weights = [2, 0, 5, 3];
  const r = schedRig('twos', weights, { base: RS_BASE });
  seedTwos(r.svc, 987654321);
  let x = 987654321;
  const xs = (): number => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
  const next = lcg(1);
  for (let k = 0; k < 500; k++) {
    setCounts(r, weights.map(() => next() % 4), weights.map(() => next() % 600));
    const load = r.svc.dests.map((d) => r.dt.overhead(d));
    const x1 = xs();
    const x2 = xs();
    assert.equal(r.pick(1), NAMES[twosRef(weights, load, x1, x2)], `step ${k}`);
  }
});

test('twos: available weights summing past 2^32 (three servers at 2147483647, the largest weight): every server is drawn, in its weight\'s share, by the walk and by the weight tree (before 2026-12-07 a draw, a 32-bit word % (W + 1), never reached the third: it got no connection)', () => {
  const W = 2147483647;
  // n = 3: the walk; padded with weight-0 servers to 70: the weight tree (from TOURNEY_MIN).
  for (const n of [3, 70]) {
    const r = schedRig('twos', [W, W, W, ...Array<number>(n - 3).fill(0)], { base: RS_BASE, max: 128 });
    seedTwos(r.svc, 4242);
    // No connection counted: the first draw wins, so the shares are the draws'.
    const seq = r.pick(6000);
    for (const c of 'ABC') {
      const share = [...seq].filter((x) => x === c).length / seq.length;
      assert.ok(Math.abs(share - 1 / 3) < 0.03, `${n} servers: ${c}'s share ${share}`);
    }
  }
  // Unequal: 2147483647, 1500000000, 2147483647 (W + 1 about 5.8e9): shares by weight.
  const r = schedRig('twos', [W, 1_500_000_000, W], { base: RS_BASE });
  seedTwos(r.svc, 99);
  const seq = r.pick(9000);
  const total = 2 * W + 1_500_000_000;
  [W, 1_500_000_000, W].forEach((w, i) => {
    const share = [...seq].filter((x) => x === NAMES[i]).length / seq.length;
    assert.ok(Math.abs(share - w / total) < 0.03, `${NAMES[i]}'s share ${share}, its weight's ${w / total}`);
  });
});

// ---- exact load comparisons past 2^53 ---------------------------------------------------------

// Two servers whose overhead/weight differ by one part in 2^62: oA*wB - oB*wA = 1, so B is
// strictly less loaded, as the kernel's (__s64) cross-multiplication says; in doubles both
// products round to the same value (a tie, which keeps A).
const HEAVY_A = { w: 2147483647, active: 16391, inactive: 177 }; // overhead 4196273
const LIGHT_B = { w: 2147064004, active: 16388, inactive: 125 }; // overhead 4195453
// sed's key (active + 1)/weight: (2^31 - 2)^2 - (2^31 - 3)(2^31 - 1) = 1, B again less loaded.
const SED_A = { w: 2147483647, active: 2147483645, inactive: 0 };
const SED_B = { w: 2147483646, active: 2147483644, inactive: 0 };

type Load = { w: number; active: number; inactive: number };

/** A service whose first two servers have these loads, padded with weight-0 servers to n (from
 *  64 the least-load schedulers keep a tournament tree, rebuilt here after the counts are set). */
function loadRig(name: string, a: Load, b: Load, n = 2): SchedRig {
  const r = schedRig(name, [a.w, b.w, ...Array<number>(n - 2).fill(0)], { base: RS_BASE, max: 128 });
  setCounts(r, [a.active, b.active], [a.inactive, b.inactive]);
  r.s.update?.(r.svc, r.dt);
  return r;
}

test('productLess: a*b < c*d exactly past 2^53 (loads below 2^41, weights below 2^31), as BigInt says', () => {
  const oh = (x: Load): number => x.active * 256 + x.inactive;
  assert.equal(BigInt(oh(HEAVY_A)) * BigInt(LIGHT_B.w) - BigInt(oh(LIGHT_B)) * BigInt(HEAVY_A.w), 1n);
  assert.equal(oh(HEAVY_A) * LIGHT_B.w, oh(LIGHT_B) * HEAVY_A.w, 'the doubles tie');
  assert.equal(productLess(oh(LIGHT_B), HEAVY_A.w, oh(HEAVY_A), LIGHT_B.w), true);
  assert.equal(productLess(oh(HEAVY_A), LIGHT_B.w, oh(LIGHT_B), HEAVY_A.w), false);
  const load = fc.integer({ min: 0, max: 2 ** 40 - 1 });
  const weight = fc.integer({ min: 0, max: 2 ** 31 - 1 });
  fc.assert(fc.property(load, weight, load, weight, (a, b, c, d) => productLess(a, b, c, d) === BigInt(a) * BigInt(b) < BigInt(c) * BigInt(d)));
  // Near ties: c = a*b/d rounded, ±1 (exact products within d of each other, often a rounding tie).
  fc.assert(fc.property(load, weight, fc.integer({ min: 2 ** 30, max: 2 ** 31 - 1 }), fc.integer({ min: -1, max: 1 }), (a, b, d, k) => {
    const c = Number((BigInt(a) * BigInt(b)) / BigInt(d)) + k;
    if (c < 0) return true;
    const exact = BigInt(a) * BigInt(b) < BigInt(c) * BigInt(d);
    return productLess(a, b, c, d) === exact && productLess(c, d, a, b) === BigInt(c) * BigInt(d) < BigInt(a) * BigInt(b);
  }), { numRuns: 2000 });
});

test('wlc, lblc, lblcr, twos, sed, nq: a server less loaded by one part in 2^62 wins, by the scan and the tree, as the kernel\'s 64-bit products', () => {
  for (const name of ['wlc', 'lblc', 'lblcr']) assert.equal(loadRig(name, HEAVY_A, LIGHT_B).pick(1), 'B', `${name}: scan`);
  assert.equal(loadRig('wlc', HEAVY_A, LIGHT_B, 64).pick(1), 'B', 'wlc: tree');
  for (const name of ['sed', 'nq']) {
    assert.equal(loadRig(name, SED_A, SED_B).pick(1), 'B', `${name}: scan`);
    assert.equal(loadRig(name, SED_A, SED_B, 64).pick(1), 'B', `${name}: tree`);
  }
  // lblcr's set: {B, A} (B joined while A had weight 0), A now the less loaded member.
  const r = schedRig('lblcr', [1, 1], { base: RS_BASE });
  const X = flow(1, 1, parseIp('203.0.113.7'));
  assert.equal(r.pick(1, X), 'A');
  r.setWeight(0, 0);
  assert.equal(r.pick(1, X), 'B');
  assert.equal(lblcrSet(r.svc, r.dt, X.daddr).map(r.letter).join(''), 'BA');
  r.setWeight(0, LIGHT_B.w);
  r.setWeight(1, HEAVY_A.w);
  setCounts(r, [LIGHT_B.active, HEAVY_A.active], [LIGHT_B.inactive, HEAVY_A.inactive]);
  assert.equal(r.pick(1, X), 'A', 'lblcr: the set\'s least loaded member');
  // twos: of two draws, the second only when strictly less loaded: A only when both draws are A.
  const t = loadRig('twos', HEAVY_A, LIGHT_B);
  seedTwos(t.svc, 4242);
  const seq = t.pick(4000);
  const a = [...seq].filter((c) => c === 'A').length / seq.length;
  assert.ok(Math.abs(a - 0.25) < 0.03, `twos: A share ${a} (1/4: both draws A)`);
});

// ---- every scheduler: explain() agrees with schedule(); availability ---------------------------

/** Schedulers that must return a destination whenever one is available (given the flags). */
function mustPick(name: string, flags: number, r: SchedRig): boolean {
  if (name === 'dh') return false; // no fallback in the kernel: the hashed server or none
  if (name === 'sh') return (flags & SF_SH_FALLBACK) !== 0;
  if (name === 'mh') return (flags & SF_MH_FALLBACK) !== 0;
  if (name === 'ovf') return r.svc.dests.some((d) => r.dt.available(d) && r.dt.active[d] <= r.dt.weight[d]);
  return true;
}

const destArb = fc.record({ w: fc.integer({ min: 0, max: 10 }), a: fc.nat(6), i: fc.nat(30), over: fc.boolean() });
const stepArb = fc.record({
  flow: fc.nat(5), // index into a small pool, so caches and hashes repeat
  bump: fc.nat(7), // a destination position whose counters change before the step
  da: fc.integer({ min: -2, max: 2 }),
  di: fc.integer({ min: -3, max: 3 }),
  toggle: fc.boolean(), // flip that destination's overload flag
  active: fc.boolean(), // the new connection counts as active
});

for (const name of ALL) {
  test(`${name}: explain() names what the next schedule() returns; never an unavailable destination, one whenever it must`, () => {
    fc.assert(
      fc.property(
        fc.array(destArb, { minLength: 1, maxLength: 6 }),
        fc.array(stepArb, { minLength: 1, maxLength: 40 }),
        fc.integer({ min: 0, max: 3 }),
        fc.nat(),
        (ds, steps, flagBits, seed) => {
          const flags = name === 'sh' ? flagBits & (SF_SH_FALLBACK | SF_SH_PORT)
            : name === 'mh' ? (flagBits << 2) & (SF_MH_FALLBACK | SF_MH_PORT) : 0;
          const r = schedRig(name, ds.map((d) => d.w), { base: RS_BASE, flags });
          r.svc.dests.forEach((d, k) => {
            r.dt.active[d] = ds[k].a;
            r.dt.inactive[d] = ds[k].i;
            if (ds[k].over) r.dt.flags[d] |= DEST_F_OVERLOAD;
          });
          if (name === 'twos') seedTwos(r.svc, seed);
          const pool = randomFlows(6, seed).map((f, k) => ({ ...f, daddr: (parseIp('203.0.113.0') + (k % 3)) >>> 0 }));
          let now = 1_000_000;
          if (name === 'lblc') lblcTable(r.svc).expiration = 5_000;
          if (name === 'lblcr') lblcrTable(r.svc).expiration = 5_000;
          r.s.tick?.(r.svc, r.dt, now);
          for (const st of steps) {
            const d = r.svc.dests[st.bump % r.svc.dests.length];
            r.dt.active[d] = Math.max(0, r.dt.active[d] + st.da);
            r.dt.inactive[d] = Math.max(0, r.dt.inactive[d] + st.di);
            if (st.toggle) r.dt.flags[d] ^= DEST_F_OVERLOAD;
            now += 3_000;
            r.s.tick?.(r.svc, r.dt, now);
            const f = pool[st.flow];
            const ex = r.s.explain!(r.svc, r.dt, f);
            const got = r.s.schedule(r.svc, r.dt, f);
            assert.equal(ex.dest, got, `explain said ${r.letter(ex.dest)} (${ex.why}), schedule returned ${r.letter(got)}`);
            assert.ok(ex.why.startsWith(`${name}: `), ex.why);
            if (got >= 0) {
              assert.ok(r.svc.dests.includes(got) && r.dt.available(got), `${r.letter(got)} is not available`);
              if (st.active) r.dt.active[got]++;
              else r.dt.inactive[got]++;
            } else if (mustPick(name, flags, r)) {
              assert.ok(!r.svc.dests.some((x) => r.dt.available(x)), `none returned although ${r.svc.dests.filter((x) => r.dt.available(x)).map(r.letter)} available`);
            }
          }
        },
      ),
      { numRuns: 150 },
    );
  });
}

// ---- through the control verbs and the pipeline --------------------------------------------

test('pipeline: sh keeps one client on one server across connections; lc follows connection counts', () => {
  const r = drRig({ sched: 'sh', weights: [1, 1, 1] });
  const seen = new Set<string>();
  for (let port = 41000; port < 41020; port++) {
    const out = r.run(tcpFrame({ ethDst: DIR_MAC, ethSrc: ROUTER_MAC }, { src: CLIENT, dst: VIP, sport: port, dport: 80, flags: TCP_FLAGS.SYN }));
    assert.equal(out.length, 1);
    seen.add([...out[0].subarray(0, 6)].map((b) => b.toString(16).padStart(2, '0')).join(':'));
  }
  assert.equal(seen.size, 1, 'all 20 connections of one client to one server');
  assert.ok(RS.some((x) => seen.has(x.mac)));
  const l = drRig({ sched: 'lc', weights: [1, 1, 1] });
  const macs: string[] = [];
  for (let port = 42000; port < 42006; port++) {
    const out = l.run(tcpFrame({ ethDst: DIR_MAC, ethSrc: ROUTER_MAC }, { src: CLIENT, dst: VIP, sport: port, dport: 80, flags: TCP_FLAGS.SYN }));
    macs.push(RS.findIndex((x) => x.mac === [...out[0].subarray(0, 6)].map((b) => b.toString(16).padStart(2, '0')).join(':')).toString());
  }
  assert.equal(macs.join(''), '012012', 'each SYN adds an active connection (SYN_RECV): least overhead rotates');
});

test('pipeline: every scheduler serves SYNs through the control verbs; dh, sh and mh keep their hashing key on one server', () => {
  const macOf = (f: Buffer): string => [...f.subarray(0, 6)].map((b) => b.toString(16).padStart(2, '0')).join(':');
  for (const name of ALL) {
    const r = drRig({ sched: name, weights: [1, 2, 3] });
    const byClient = new Map<string, Set<string>>();
    let port = 43000;
    // ovf takes a server until its active connections exceed its weight, and a SYN's entry is
    // active (SYN_RECV): 2 + 3 + 4 connections, then every server is full.
    const cap = name === 'ovf' ? 9 : Infinity;
    for (let c = 0; c < 10; c++) {
      const src = `198.51.100.${c + 1}`;
      for (let k = 0; k < 3; k++) {
        const out = r.run(tcpFrame({ ethDst: DIR_MAC, ethSrc: ROUTER_MAC }, { src, dst: VIP, sport: port++, dport: 80, flags: TCP_FLAGS.SYN }));
        if (port - 43000 > cap) {
          assert.ok(!out.some((f) => RS.some((x) => x.mac === macOf(f))), `${name}: SYN ${src}:${port - 1} finds every server full`);
          continue;
        }
        assert.equal(out.length, 1, `${name}: SYN ${src}:${port - 1} forwarded`);
        const mac = macOf(out[0]);
        assert.ok(RS.some((x) => x.mac === mac), `${name}: to a real server`);
        byClient.set(src, (byClient.get(src) ?? new Set()).add(mac));
      }
    }
    const servers = new Set([...byClient.values()].flatMap((s) => [...s]));
    if (name === 'dh') assert.equal(servers.size, 1, 'dh: one VIP, one bucket');
    if (name === 'sh' || name === 'mh') {
      for (const [c, s] of byClient) assert.equal(s.size, 1, `${name}: client ${c} on one server`);
      assert.ok(servers.size > 1, `${name}: ten clients spread`);
    }
  }
});

test('pipeline: mh: a server deleted and added back with weight 0 has last weight 0 (an add, as __ip_vs_update_dest), so the other takes the whole table', () => {
  const r = drRig({ sched: 'mh', weights: [1, 1] });
  const svc = { proto: 'tcp', addr: VIP, port: 80 } as const;
  const macOf = (f: Buffer): string => [...f.subarray(0, 6)].map((b) => b.toString(16).padStart(2, '0')).join(':');
  /** Where a SYN of each client 192.0.2.1-200 goes: RS index per server, '-' for none. */
  const spread = (sport: number): Record<string, number> => {
    const n: Record<string, number> = {};
    for (let c = 1; c <= 200; c++) {
      const out = r.run(tcpFrame({ ethDst: DIR_MAC, ethSrc: ROUTER_MAC }, { src: `192.0.2.${c}`, dst: VIP, sport, dport: 80, flags: TCP_FLAGS.SYN }));
      const k = out.length === 0 ? '-' : `RS${RS.findIndex((x) => x.mac === macOf(out[0])) + 1}`;
      n[k] = (n[k] ?? 0) + 1;
    }
    return n;
  };
  const before = spread(44000);
  assert.ok(before.RS1 > 0 && before.RS2 > 0 && before['-'] === undefined, JSON.stringify(before));
  r.ctl.deleteDest({ service: svc, addr: RS[0].ip, port: 80 });
  r.ctl.addDest({ service: svc, addr: RS[0].ip, port: 80, fwd: 'dr', weight: 0 });
  assert.deepEqual(spread(44001), { RS2: 200 }, 'revived from the trash with -w 0: no turns, no entries');
  r.ctl.editDest({ service: svc, addr: RS[0].ip, port: 80, fwd: 'dr', weight: 1 });
  assert.deepEqual(spread(44002), before, 'weight 1 again: the table of before');
});
