// test-class: shared
// The connection table on its own (both directions, timer wheel, budget, expireNow, full table)
// and through the pipeline (conn_table_full drop, existing flows unaffected).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ConnTable, DIR_IN, DIR_OUT, SWEEP_CHECK } from '../src/datapath/conntable.js';
import { SLICE, StateCensus } from '../src/datapath/census.js';
import { SWEEP_MS } from '../src/datapath/pipeline.js';
import { SweepPacer } from '../src/datapath/sweep-pacer.js';
import { tcpFrame, TCP_FLAGS, udpFrame } from './helpers/frames.js';
import { CLIENT, delta, DIR_MAC, drRig, ROUTER_MAC, VIP } from './helpers/harness.js';

const TCP = 6;
const UDP = 17;
const C = 0xc000020a; // 192.0.2.10
const V = 0x0a000064; // 10.0.0.100
const D1 = 0x0a00000b; // 10.0.0.11
const L = 0x0a000005; // a FULLNAT-style local address

function add(ct: ConnTable, cport: number, exp: number, proto = TCP): number {
  return ct.insert(proto, C, cport, V, 80, D1, 8080, C, cport, exp, true);
}

test('insert + lookup in both directions; wrong proto/port/direction miss', () => {
  const ct = new ConnTable(8, 0, 1);
  const e = ct.insert(TCP, C, 1000, V, 80, D1, 8080, L, 2000, 100, true);
  assert.ok(e >= 0);
  assert.equal(ct.count, 1);
  assert.equal(ct.lookup(TCP, C, 1000, V, 80), e * 2 + DIR_IN);
  assert.equal(ct.lookup(TCP, D1, 8080, L, 2000), e * 2 + DIR_OUT);
  assert.equal(ct.lookup(UDP, C, 1000, V, 80), -1);
  assert.equal(ct.lookup(TCP, C, 1001, V, 80), -1);
  assert.equal(ct.lookup(TCP, V, 80, C, 1000), -1, 'the reverse of the IN tuple is not the OUT tuple');
  assert.equal(ct.lookup(TCP, D1, 8080, C, 1000), -1, 'OUT is keyed by laddr/lport');
  assert.deepEqual(
    [ct.proto[e], ct.caddr[e], ct.cport[e], ct.vaddr[e], ct.vport[e], ct.daddr[e], ct.dport[e], ct.laddr[e], ct.lport[e]],
    [TCP, C | 0, 1000, V, 80, D1, 8080, L, 2000], // addresses are stored as int32
  );
  assert.equal(ct.dest[e], -1);
  assert.ok(ct.isAlive(e));
});

test('DR-style entries (hashOut=false) are found inbound only and leave the hash cleanly', () => {
  const ct = new ConnTable(4, 0, 3);
  const e = ct.insert(TCP, C, 1000, V, 80, D1, 80, C, 1000, 100, false);
  assert.equal(ct.lookup(TCP, C, 1000, V, 80), e * 2 + DIR_IN);
  assert.equal(ct.lookup(TCP, D1, 80, C, 1000), -1, 'no OUT tuple in the hash');
  const f = ct.insert(TCP, C, 1001, V, 80, D1, 80, C, 1001, 100, true);
  ct.expireNow(e);
  assert.equal(ct.lookup(TCP, C, 1000, V, 80), -1);
  assert.equal(ct.lookup(TCP, D1, 80, C, 1001), f * 2 + DIR_OUT, 'the other entry is untouched');
  assert.equal(ct.count, 1);
});

test('many entries in a small bucket array all stay findable (chaining)', () => {
  const ct = new ConnTable(512, 0, 7);
  const es: number[] = [];
  for (let p = 0; p < 512; p++) es.push(add(ct, 10000 + p, 50));
  assert.equal(ct.insert(TCP, C, 1, V, 80, D1, 80, C, 1, 50, true), -1, 'full');
  for (let p = 0; p < 512; p++) {
    assert.equal(ct.lookup(TCP, C, 10000 + p, V, 80), es[p] * 2);
    assert.equal(ct.lookup(TCP, D1, 8080, C, 10000 + p), es[p] * 2 + 1);
  }
});

test('sweep expires an entry at its tick, calls onExpire once, unhashes it', () => {
  const ct = new ConnTable(4, 0, 1);
  const seen: number[] = [];
  ct.onExpire = (x) => seen.push(x);
  const e = add(ct, 1000, 10);
  assert.equal(ct.sweep(9, 1000), 0);
  assert.equal(ct.lookup(TCP, C, 1000, V, 80), e * 2);
  assert.equal(ct.sweep(10, 1000), 1);
  assert.deepEqual(seen, [e]);
  assert.equal(ct.count, 0);
  assert.equal(ct.isAlive(e), false);
  assert.equal(ct.lookup(TCP, C, 1000, V, 80), -1);
  assert.equal(ct.lookup(TCP, D1, 8080, C, 1000), -1);
  assert.equal(ct.sweep(20, 1000), 0);
});

test('an extended expiry re-slots the entry instead of expiring it (also beyond one wheel lap)', () => {
  const ct = new ConnTable(4, 0, 1);
  const e = add(ct, 1000, 10);
  ct.expires[e] = 25;
  assert.equal(ct.sweep(24, 1000), 0);
  assert.ok(ct.isAlive(e));
  assert.equal(ct.sweep(25, 1000), 1);
  // Beyond 4096 ticks (one lap of the wheel).
  const f = add(ct, 1001, 30);
  ct.expires[f] = 10_000;
  for (let t = 30; t < 10_000; t += 997) assert.equal(ct.sweep(t, 1000), 0, `expired early at ${t}`);
  assert.equal(ct.sweep(9_999, 1000), 0);
  assert.ok(ct.isAlive(f));
  assert.equal(ct.sweep(10_000, 1000), 1);
  assert.equal(ct.isAlive(f), false);
});

test('an entry inserted already in the past expires at the next sweep', () => {
  const ct = new ConnTable(4, 100, 1);
  const e = add(ct, 1, 50);
  assert.equal(ct.sweep(100, 10), 1);
  assert.equal(ct.isAlive(e), false);
});

test('sweep budget: at most `budget` entries handled per call, the rest resume next call', () => {
  const ct = new ConnTable(64, 0, 3);
  for (let i = 0; i < 10; i++) add(ct, 2000 + i, 5);
  const later = add(ct, 3000, 6);
  assert.equal(ct.sweep(6, 3), 3);
  assert.equal(ct.count, 8);
  assert.equal(ct.sweep(6, 3), 3);
  assert.equal(ct.sweep(6, 3), 3);
  assert.equal(ct.count, 2);
  assert.equal(ct.sweep(6, 3), 2, 'the last tick-5 entry and then the tick-6 one');
  assert.equal(ct.isAlive(later), false);
  assert.equal(ct.count, 0);
  // Budget 0 makes no progress but loses nothing.
  const x = add(ct, 4000, 8);
  assert.equal(ct.sweep(8, 0), 0);
  assert.ok(ct.isAlive(x));
  assert.equal(ct.sweep(8, 1), 1);
});

test('sweep time budget: the clock is looked at before the first entry and every SWEEP_CHECK entries, the sweep stops once the budget is used and resumes where it stopped', () => {
  const ct = new ConnTable(8192, 0, 3);
  for (let i = 0; i < 5000; i++) add(ct, 10_000 + i, 5);
  let now = 0;
  let looks = 0;
  ct.sweepClock = () => {
    looks++;
    return (now += 0.3);
  };
  // Looks after 0, 1024, 2048, 3072 entries: 0.9 ms used; after 4096: 1.2 ms, stop.
  assert.equal(ct.sweep(6, 65536, 1), 4 * SWEEP_CHECK);
  assert.equal(looks, 5);
  assert.ok(ct.behind(6));
  assert.equal(ct.count, 5000 - 4 * SWEEP_CHECK);
  // The entry budget still caps a sweep.
  assert.equal(ct.sweep(6, 100, 1), 100);
  // The rest goes within a bounded number of calls.
  let calls = 0;
  while (ct.behind(6)) {
    ct.sweep(6, 65536, 1);
    assert.ok(++calls <= 2, 'caught up within 2 more calls');
  }
  assert.equal(ct.count, 0);
  // An idle sweep (nothing due) and one without a time budget look at no clock.
  looks = 0;
  assert.equal(ct.sweep(20, 65536, 1), 0);
  add(ct, 1, 21);
  assert.equal(ct.sweep(21, 65536), 1);
  assert.equal(looks, 0);
  assert.equal(ct.behind(21), false);
});

test('mass expiry: tick() sweeps for SWEEP_MS on the datapath clock, then the SweepPacer goes on at the next loop turns until every expired flow is gone', async () => {
  const r = drRig({ udp: true, connMax: 8192 });
  const N = SWEEP_CHECK + 500;
  const dgram = udpFrame({ ethDst: DIR_MAC, ethSrc: ROUTER_MAC }, { src: CLIENT, dst: VIP, sport: 20_000, dport: 53, checksum: 'none' });
  const frames = [];
  for (let i = 0; i < N; i++) {
    const f = Buffer.from(dgram);
    f.writeUInt16BE(20_000 + i, 34);
    frames.push(f);
  }
  r.feed(...frames);
  assert.equal(r.dp.ct.count, N);
  const before = r.counters();
  r.advance(301_000); // past the UDP timeout (300 s)
  let now = 0;
  r.dp.ct.sweepClock = () => (now += SWEEP_MS); // the whole budget used by SWEEP_CHECK entries
  r.dp.tick();
  assert.equal(r.dp.ct.count, N - SWEEP_CHECK, 'the tick stopped after its time budget');
  assert.ok(r.dp.sweepBehind);
  const pacer = new SweepPacer(r.dp);
  pacer.kick();
  for (let i = 0; i < 10 && r.dp.ct.count > 0; i++) await new Promise((go) => setImmediate(go));
  assert.equal(r.dp.ct.count, 0, 'gone at the next turns, not the next ticks');
  assert.equal(pacer.turns, 1);
  assert.equal(r.dp.sweepBehind, false);
  assert.equal(delta(before, r.counters()).conns_expired, N);
  pacer.kick(); // caught up: no turn scheduled
  await new Promise((go) => setImmediate(go));
  assert.equal(pacer.turns, 1);
});

test('a census step walks at most SLICE entries (128 Ki, ~0.5 ms): a 300,000-entry table takes three steps, its counts published at the third', () => {
  const ct = new ConnTable(300_000, 0, 1);
  for (let i = 0; i < 3; i++) add(ct, 1000 + i, 10, UDP);
  const census = new StateCensus(ct);
  assert.equal(census.step(), false);
  assert.equal(census.step(), false);
  assert.equal(census.step(), true);
  assert.ok(SLICE <= 1 << 17, `SLICE ${SLICE}`);
  assert.equal(census.walks, 1);
  assert.equal(census.counts.reduce((a, x) => a + x, 0), 3);
});

test('expireNow frees the slot immediately (hook, unhash, free list) and the wheel stays consistent', () => {
  const ct = new ConnTable(2, 0, 1);
  let hooks = 0;
  ct.onExpire = () => hooks++;
  const a = add(ct, 1, 10);
  const b = add(ct, 2, 10);
  assert.equal(add(ct, 3, 10), -1, 'full');
  ct.expireNow(a);
  assert.equal(hooks, 1);
  assert.equal(ct.count, 1);
  assert.equal(ct.lookup(TCP, C, 1, V, 80), -1);
  ct.expireNow(a); // idempotent
  assert.equal(hooks, 1);
  const c = add(ct, 3, 40);
  assert.equal(c, a, 'the freed slot is reused right away');
  assert.equal(ct.sweep(10, 100), 1, 'only b expires at tick 10, not the entry now in a\'s slot');
  assert.equal(ct.isAlive(b), false);
  assert.ok(ct.isAlive(c));
  assert.equal(ct.lookup(TCP, C, 3, V, 80), c * 2);
  assert.equal(ct.sweep(40, 100), 1);
  assert.equal(ct.count, 0);
});

test('expireWhere expires matching entries only', () => {
  const ct = new ConnTable(8, 0, 1);
  for (let i = 0; i < 6; i++) ct.dest[add(ct, i + 1, 100)] = i % 2;
  assert.equal(ct.expireWhere((e) => ct.dest[e] === 1), 3);
  assert.equal(ct.count, 3);
  for (let i = 0; i < 6; i++) assert.equal(ct.lookup(TCP, C, i + 1, V, 80) >= 0, i % 2 === 0);
});

test('model check: random inserts, extensions, expireNow and sweeps agree with a simple map', () => {
  type Op =
    | { k: 'ins'; exp: number }
    | { k: 'ext'; i: number; by: number }
    | { k: 'kill'; i: number }
    | { k: 'sweep'; by: number; budget: number };
  const op: fc.Arbitrary<Op> = fc.oneof(
    fc.record({ k: fc.constant('ins' as const), exp: fc.integer({ min: 1, max: 6000 }) }),
    fc.record({ k: fc.constant('ext' as const), i: fc.nat(), by: fc.integer({ min: 1, max: 5000 }) }),
    fc.record({ k: fc.constant('kill' as const), i: fc.nat() }),
    fc.record({ k: fc.constant('sweep' as const), by: fc.integer({ min: 0, max: 3000 }), budget: fc.constantFrom(1, 2, 5, 1_000_000) }),
  );
  fc.assert(
    fc.property(fc.array(op, { maxLength: 120 }), fc.nat({ max: 0xffffffff }), (ops, seed) => {
      const MAX = 16;
      const ct = new ConnTable(MAX, 0, seed >>> 0);
      const model = new Map<number, { e: number; exp: number }>(); // cport → entry
      let now = 0;
      let pendingSweep = false; // a budget-limited sweep may leave due entries behind
      let port = 1;
      for (const o of ops) {
        if (o.k === 'ins') {
          const cport = port++;
          const e = add(ct, cport, now + o.exp);
          if (model.size >= MAX) assert.equal(e, -1);
          else {
            assert.ok(e >= 0);
            model.set(cport, { e, exp: now + o.exp });
          }
        } else if (o.k === 'ext' && model.size > 0) {
          const [cport, m] = [...model.entries()][o.i % model.size];
          m.exp += o.by;
          ct.expires[m.e] = m.exp;
          model.set(cport, m);
        } else if (o.k === 'kill' && model.size > 0) {
          const [cport, m] = [...model.entries()][o.i % model.size];
          ct.expireNow(m.e);
          model.delete(cport);
        } else if (o.k === 'sweep') {
          now += o.by;
          ct.sweep(now, o.budget);
          if (o.budget === 1_000_000) {
            pendingSweep = false;
            for (const [cport, m] of model) if (m.exp <= now) model.delete(cport);
          } else {
            pendingSweep = true;
            for (const [cport, m] of model) if (!ct.isAlive(m.e) || ct.lookup(TCP, C, cport, V, 80) < 0) {
              assert.ok(m.exp <= now, `entry ${cport} expired early (exp ${m.exp}, now ${now})`);
              model.delete(cport);
            }
          }
        }
        if (!pendingSweep) assert.equal(ct.count, model.size);
        for (const [cport, m] of model) {
          assert.equal(ct.lookup(TCP, C, cport, V, 80), m.e * 2, `IN lookup of live entry ${cport}`);
          assert.equal(ct.lookup(TCP, D1, 8080, C, cport), m.e * 2 + 1, `OUT lookup of live entry ${cport}`);
        }
      }
      // A final unlimited sweep past every expiry empties the table (extensions can push an
      // expiry well beyond now + 20,000 ticks).
      let last = now;
      for (const m of model.values()) last = Math.max(last, m.exp);
      ct.sweep(last + 1, 1_000_000);
      assert.equal(ct.count, 0);
    }),
    { numRuns: 300 },
  );
});

// ---- through the pipeline ------------------------------------------------------------------

const seg = (sport: number, flags: number) =>
  tcpFrame({ ethDst: DIR_MAC, ethSrc: ROUTER_MAC }, { src: CLIENT, dst: VIP, sport, dport: 80, flags });

test('full table (of established flows, which are never evicted): a new SYN is dropped as conn_table_full; existing flows keep flowing', () => {
  const r = drRig({ weights: [1, 1], connMax: 2 });
  assert.equal(r.run(seg(50000, TCP_FLAGS.SYN), seg(50000, TCP_FLAGS.ACK)).length, 2);
  assert.equal(r.run(seg(50001, TCP_FLAGS.SYN), seg(50001, TCP_FLAGS.ACK)).length, 2);
  const before = r.counters();
  assert.equal(r.run(seg(50002, TCP_FLAGS.SYN)).length, 0);
  const d = delta(before, r.counters());
  assert.equal(d['drop.conn_table_full'], 1);
  assert.equal(d.conns_created, undefined);
  assert.equal(r.dp.ct.count, 2);
  assert.equal(r.run(seg(50000, TCP_FLAGS.ACK)).length, 1);
  assert.equal(r.run(seg(50001, TCP_FLAGS.ACK)).length, 1);
  const dests = r.ctl.list().services[0].dests;
  assert.equal(dests.reduce((s, x) => s + x.active + x.inactive, 0), 2, 'the refused SYN left no counter behind');
  // Room again after one flow expires.
  r.dp.ct.expireNow(r.dp.ct.lookup(6, C, 50000, V, 80) >>> 1);
  assert.equal(r.run(seg(50002, TCP_FLAGS.SYN)).length, 1);
});
