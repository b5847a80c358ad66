// The fragment table (src/datapath/frags.ts): a datagram's first fragment's decision is found by its
// later fragments; datagrams whose hashes meet share the table (a slot taken by a live datagram
// no longer drops the other, as the direct-mapped table did), a live entry is never overwritten,
// expired ones are reused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FRAG_TTL_TICKS, FragTable } from '../src/datapath/frags.js';
import { eth, ipv4, macStr, udp, udpFrame } from './helpers/frames.js';
import { CLIENT, DIR_MAC, ROUTER_MAC, RS, VIP, delta, rig } from './helpers/harness.js';

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
  for (const d of dgs) assert.equal(t.remember(d.src, d.dst, 17, d.id, d.node, 0, 100), true, `remembered ${JSON.stringify(d)}`);
  for (const d of dgs) assert.equal(t.find(d.src, d.dst, 17, d.id, 101), d.node);
  assert.equal(t.find(dgs[0]!.src, dgs[0]!.dst, 6, dgs[0]!.id, 101), -1, 'another protocol is another datagram');
  // A first fragment seen again keeps one entry, with its new decision.
  assert.equal(t.remember(dgs[5]!.src, dgs[5]!.dst, 17, dgs[5]!.id, 77, 0, 102), true);
  assert.equal(t.find(dgs[5]!.src, dgs[5]!.dst, 17, dgs[5]!.id, 102), 77);
  // After FRAG_TTL_TICKS none is found, and 1,000 new ones take the slots.
  const later = 100 + FRAG_TTL_TICKS + 3;
  assert.equal(t.find(dgs[1]!.src, dgs[1]!.dst, 17, dgs[1]!.id, later), -1);
  for (const d of dgs) assert.equal(t.remember(d.src, d.dst, 17, (d.id + 1) & 0xffff, d.node + 1, 0, later), true);
});

test('fragment table: where every slot a datagram may take holds a live one it is refused (counted as frag_table_full by the pipeline), and taken once they expire', () => {
  const t = new FragTable();
  // Fill the table with live datagrams until one is refused: its slots are all live.
  let refused: { src: number; id: number } | undefined;
  for (let i = 0; i < 8192 && refused === undefined; i++) {
    if (!t.remember(i | 0, 1, 17, i & 0xffff, i, 0, 10)) refused = { src: i, id: i & 0xffff };
  }
  assert.ok(refused !== undefined, 'a full table refuses');
  assert.equal(t.find(refused.src, 1, 17, refused.id, 11), -1);
  assert.equal(t.remember(refused.src, 1, 17, refused.id, 5, 0, 10 + FRAG_TTL_TICKS), true, 'taken once the others expired');
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
