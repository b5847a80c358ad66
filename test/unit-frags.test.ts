// test-class: shared
// The fragment table (src/datapath/frags.ts): a datagram's first fragment's decision is found by its
// later fragments; datagrams whose hashes meet share the table (a slot taken by a live datagram
// no longer drops the other, as the direct-mapped table did), a live entry is never overwritten,
// expired ones are reused; a datagram whose data has all passed gives its slot back, and one
// source holds at most SRC_SLOTS incomplete datagrams.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FRAG_TTL_TICKS, FragTable, SRC_SLOTS } from '../src/datapath/frags.js';
import { eth, ipv4, macStr, udp, udpFrame } from './helpers/frames.js';
import { CLIENT, DIR_MAC, ROUTER_MAC, RS, VIP, delta, drRig, rig } from './helpers/harness.js';

/** A small deterministic PRNG (xorshift32), int32 values. */
function rng(seed: number): () => number {
  let x = seed | 0;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x | 0;
  };
}

test('fragment table: 1,000 live datagrams (addresses above 128.0.0.0, random IP IDs) are all remembered and found; later fragments of none are lost; expired slots are reused', () => {
  const t = new FragTable();
  const r = rng(0x1234567);
  const dgs = Array.from({ length: 1000 }, (_v, i) => ({ src: (0xc0a80000 | (r() & 0xffff)) | 0, dst: (0xc0a808c8 | 0), id: r() & 0xffff, node: i * 2 }));
  for (const d of dgs) assert.equal(t.remember(d.src, d.dst, 17, d.id, d.node, 0, 1480, 100), true, `remembered ${JSON.stringify(d)}`);
  for (const d of dgs) assert.equal(t.find(d.src, d.dst, 17, d.id, 101), d.node);
  assert.equal(t.find(dgs[0]!.src, dgs[0]!.dst, 6, dgs[0]!.id, 101), -1, 'another protocol is another datagram');
  // A first fragment seen again keeps one entry, with its new decision.
  assert.equal(t.remember(dgs[5]!.src, dgs[5]!.dst, 17, dgs[5]!.id, 77, 0, 1480, 102), true);
  assert.equal(t.find(dgs[5]!.src, dgs[5]!.dst, 17, dgs[5]!.id, 102), 77);
  // After FRAG_TTL_TICKS none is found, and 1,000 new ones take the slots.
  const later = 100 + FRAG_TTL_TICKS + 3;
  assert.equal(t.find(dgs[1]!.src, dgs[1]!.dst, 17, dgs[1]!.id, later), -1);
  for (const d of dgs) assert.equal(t.remember(d.src, d.dst, 17, (d.id + 1) & 0xffff, d.node + 1, 0, 1480, later), true);
});

test('fragment table: where every slot a datagram may take holds a live one it is refused (counted as frag_table_full by the pipeline), and taken once they expire', () => {
  const t = new FragTable();
  // Fill the table with live datagrams until one is refused: its slots are all live.
  let refused: { src: number; id: number } | undefined;
  for (let i = 0; i < 8192 && refused === undefined; i++) {
    if (!t.remember(i | 0, 1, 17, i & 0xffff, i, 0, 1480, 10)) refused = { src: i, id: i & 0xffff };
  }
  assert.ok(refused !== undefined, 'a full table refuses');
  assert.equal(t.find(refused.src, 1, 17, refused.id, 11), -1);
  assert.equal(t.remember(refused.src, 1, 17, refused.id, 5, 0, 1480, 10 + FRAG_TTL_TICKS), true, 'taken once the others expired');
  assert.equal(t.find(refused.src, 1, 17, refused.id, 10 + FRAG_TTL_TICKS), 5);
});

test('a later fragment follows only the connection its first fragment found: with one-packet scheduling (-o) the entry is freed at once and the next flow takes its slot, and the fragment is dropped (frag_no_first), not sent to that flow\'s server', () => {
  const r = rig();
  r.ctl.addService({ proto: 'udp', addr: VIP, port: 53, sched: 'rr', oneShot: true });
  r.ctl.addService({ proto: 'udp', addr: VIP, port: 54, sched: 'rr' });
  r.ctl.addDest({ service: { proto: 'udp', addr: VIP, port: 53 }, addr: RS[0].ip, port: 53, fwd: 'dr', weight: 1 });
  r.ctl.addDest({ service: { proto: 'udp', addr: VIP, port: 54 }, addr: RS[1].ip, port: 54, fwd: 'dr', weight: 1 });
  for (const s of [RS[0], RS[1]]) r.learn(s.ip, s.mac);
  r.sink.take();
  const L2 = { dst: DIR_MAC, src: ROUTER_MAC, type: 0x0800 };
  // A 2,008-byte datagram to VIP:53 cut in two: its first fragment carries the UDP header.
  const whole = udp({ src: CLIENT, dst: VIP, sport: 50000, dport: 53, payload: new Uint8Array(2000) });
  const first = eth(L2, ipv4({ src: CLIENT, dst: VIP, proto: 17, id: 0x4242, df: false, mf: true }, whole.subarray(0, 1480)));
  const second = eth(L2, ipv4({ src: CLIENT, dst: VIP, proto: 17, id: 0x4242, df: false, fragOffset: 185 }, whole.subarray(1480)));
  const before = r.counters();
  assert.equal(r.run(first).length, 1, 'the first fragment is scheduled and forwarded');
  // Another flow of the same client (to VIP:54) takes the connection slot the -o datagram freed.
  const other = r.run(udpFrame({ ethDst: DIR_MAC, ethSrc: ROUTER_MAC }, { src: CLIENT, dst: VIP, sport: 50001, dport: 54, payload: new Uint8Array(8) }));
  assert.equal(macStr(other[0]!, 0), RS[1].mac);
  assert.deepEqual(r.run(second), [], 'not sent to the other flow\'s server');
  assert.equal(delta(before, r.counters())['drop.frag_no_first'], 1);
});

test('fragment table: a datagram whose data has all passed gives its slot back at once, fragments after the first in any order; a duplicate fragment does not stand for a missing one', () => {
  const t = new FragTable();
  const src = 0xc0a80a0a | 0;
  const dst = 0xc0a808c8 | 0;
  const live = (id: number): boolean => t.find(src, dst, 17, id, 11) >= 0;
  // In order: [0,1480) [1480,1628) last.
  t.remember(src, dst, 17, 1, 2, 0, 1480, 10);
  assert.ok(live(1));
  t.passed(1480, 1628, true);
  assert.ok(!live(1), 'freed when its last byte passed');
  // The last before the middle: [0,1480) [2960,3000) last, then [1480,2960).
  t.remember(src, dst, 17, 2, 2, 0, 1480, 10);
  assert.ok(live(2));
  t.passed(2960, 3000, true);
  assert.ok(live(2), 'the middle fragment is still to come');
  t.passed(1480, 2960, false);
  assert.ok(!live(2));
  // A fragment twice while another is missing: [0,1480) [2960,4440)x2 [4440,4500) last: the
  // bytes add up to the total, but [1480,2960) has not passed.
  t.remember(src, dst, 17, 3, 2, 0, 1480, 10);
  for (const [a, b, last] of [[2960, 4440, false], [2960, 4440, false], [4440, 4500, true]] as const) {
    assert.ok(live(3));
    t.passed(a, b, last);
  }
  assert.ok(live(3), 'still waiting for [1480,2960)');
  t.passed(1480, 2960, false);
  assert.ok(!live(3));
  // Two runs beyond a gap are not tracked: that datagram keeps its slot until it expires.
  t.remember(src, dst, 17, 4, 2, 0, 1480, 10);
  for (const [a, b, last] of [[4440, 4500, true], [2960, 3200, false], [1480, 2960, false], [3200, 4440, false]] as const) {
    assert.ok(live(4));
    t.passed(a, b, last);
  }
  assert.ok(live(4), 'kept (not freed early)');
  assert.equal(t.find(src, dst, 17, 4, 10 + FRAG_TTL_TICKS), -1, 'until it expires');
});

/** DR UDP VIP:53 (drRig), a 1,628-byte datagram from client `src` cut in two (1,480 + 148 bytes). */
function twoFragments(src: string, sport: number, id: number): [Buffer, Buffer] {
  const L2 = { dst: DIR_MAC, src: ROUTER_MAC, type: 0x0800 };
  const whole = udp({ src, dst: VIP, sport, dport: 53, payload: new Uint8Array(1620) });
  return [
    eth(L2, ipv4({ src, dst: VIP, proto: 17, id, df: false, mf: true }, whole.subarray(0, 1480))),
    eth(L2, ipv4({ src, dst: VIP, proto: 17, id, df: false, fragOffset: 185 }, whole.subarray(1480))),
  ];
}

/** Client i of 200, above 128.0.0.0. */
const client = (i: number): string => `198.51.${100 + (i >> 8)}.${i & 255}`;

test('4,000 complete 2-fragment UDP datagrams/s for 4 s (DR, 200 clients) all pass: a datagram gives its fragment-table slot back once its fragments have passed (before, each held one of 4,096 for 2 s: about half were dropped, frag_table_full and frag_no_first)', () => {
  const r = drRig({ udp: true });
  const before = r.counters();
  let out = 0;
  // Batches of 40 datagrams every 10 ms, each datagram's two fragments in one batch or split across two.
  for (let b = 0; b < 400; b++) {
    const frames: Buffer[] = [];
    const seconds: Buffer[] = [];
    for (let k = 0; k < 40; k++) {
      const n = b * 40 + k;
      const [first, second] = twoFragments(client(n % 200), 40000 + (n % 200), (n / 200) | 0);
      frames.push(first);
      (k % 2 === 0 ? frames : seconds).push(second);
    }
    out += r.run(...frames).length;
    out += r.run(...seconds).length;
    r.advance(10);
  }
  const d = delta(before, r.counters());
  assert.equal(d['drop.frag_table_full'] ?? 0, 0);
  assert.equal(d['drop.frag_no_first'] ?? 0, 0);
  assert.equal(out, 32000, 'every fragment forwarded');
});

test(`one sender\'s 5,000 first fragments that never complete hold at most ${SRC_SLOTS} fragment-table slots: 50 other clients\' datagrams pass meanwhile (before, 44 of 50 were dropped for 2 s)`, () => {
  const r = drRig({ udp: true });
  const L2 = { dst: DIR_MAC, src: ROUTER_MAC, type: 0x0800 };
  const flooder = '203.0.113.66';
  const before = r.counters();
  for (let b = 0; b < 50; b++) {
    const frames: Buffer[] = [];
    for (let k = 0; k < 100; k++) {
      const tiny = udp({ src: flooder, dst: VIP, sport: 1234, dport: 53, payload: new Uint8Array(16) });
      frames.push(eth(L2, ipv4({ src: flooder, dst: VIP, proto: 17, id: b * 100 + k, df: false, mf: true }, tiny.subarray(0, 16))));
    }
    r.run(...frames);
    r.advance(20);
  }
  const flood = delta(before, r.counters());
  assert.equal(flood['drop.frag_table_full'], 5000 - SRC_SLOTS, 'the rest of the flood refused');
  let passed = 0;
  for (let i = 0; i < 50; i++) passed += r.run(...twoFragments(client(i), 40000, 7)).length === 2 ? 1 : 0;
  assert.equal(passed, 50);
  const d = delta(before, r.counters());
  assert.equal(d['drop.frag_no_first'] ?? 0, 0);
  assert.equal(d['drop.frag_table_full'], 5000 - SRC_SLOTS);
  // Once they expired the sender may hold as many again.
  r.advance(2000);
  const again = r.counters();
  for (let k = 0; k < SRC_SLOTS; k++) {
    const tiny = udp({ src: flooder, dst: VIP, sport: 1234, dport: 53, payload: new Uint8Array(16) });
    r.run(eth(L2, ipv4({ src: flooder, dst: VIP, proto: 17, id: 10000 + k, df: false, mf: true }, tiny.subarray(0, 16))));
  }
  assert.equal(delta(again, r.counters())['drop.frag_table_full'] ?? 0, 0);
});
