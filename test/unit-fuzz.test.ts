// Property tests over processBatch: random byte frames, frames with a plausible header and a
// random rest, and truncations / byte mutations of valid frames never throw, and every received
// frame is accounted for exactly once: sent from the receive buffer, a counted drop, an ignored_*
// counter, or queued for an unresolved neighbour.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  arpFrame, BROADCAST, decode, icmpFrame, synOptions, tcpFrame, TCP_FLAGS, udpFrame, mac,
} from './helpers/frames.js';
import { CLIENT, DIR_IP, DIR_MAC, drRig, ROUTER_MAC, sumDrops, sumIgnored, VIP, type Rig } from './helpers/harness.js';

const IN = { ethDst: DIR_MAC, ethSrc: ROUTER_MAC };

/** Valid frames of every kind the datapath handles. (ARP replies from tracked neighbours are covered in unit-arp.) */
const VALID: Buffer[] = [
  arpFrame({ ethDst: BROADCAST, ethSrc: ROUTER_MAC }, { op: 1, sha: ROUTER_MAC, spa: '10.0.0.254', tpa: VIP }),
  arpFrame({ ethDst: BROADCAST, ethSrc: ROUTER_MAC }, { op: 1, sha: ROUTER_MAC, spa: '10.0.0.254', tpa: DIR_IP }),
  icmpFrame(IN, { src: CLIENT, dst: VIP }, { type: 8, id: 1, seq: 1, payload: new Uint8Array(32).fill(7) }),
  icmpFrame(IN, { src: CLIENT, dst: DIR_IP }, { type: 8, id: 1, seq: 2 }),
  tcpFrame(IN, { src: CLIENT, dst: VIP, sport: 33000, dport: 80, flags: TCP_FLAGS.SYN, options: synOptions() }),
  tcpFrame(IN, { src: CLIENT, dst: VIP, sport: 33000, dport: 80, flags: TCP_FLAGS.ACK, payload: new Uint8Array(200).fill(1) }),
  tcpFrame(IN, { src: CLIENT, dst: VIP, sport: 33001, dport: 80, flags: TCP_FLAGS.FIN | TCP_FLAGS.ACK }, { options: Uint8Array.from([1, 1, 1, 0]) }),
  udpFrame({ ...IN, pad: true }, { src: CLIENT, dst: VIP, sport: 5000, dport: 53, payload: new Uint8Array(3) }),
  udpFrame(IN, { src: CLIENT, dst: VIP, sport: 5001, dport: 53, payload: new Uint8Array(300).fill(9), checksum: 'none' }),
];

function newRig(): Rig {
  return drRig({ weights: [1, 1], udp: true, connMax: 64 });
}

/** Feed one batch; check no throw and that each frame has exactly one outcome. */
function check(r: Rig, frames: Uint8Array[]): void {
  const before = r.counters();
  r.sink.take();
  try {
    r.feed(...frames);
  } catch (err) {
    assert.fail(`processBatch threw ${String(err)} on:\n${frames.map((f) => decode(f)).join('\n--\n')}`);
  }
  const after = r.counters();
  const d = (k: string) => (after[k] ?? 0) - (before[k] ?? 0);
  assert.equal(d('rx_frames'), frames.length, 'rx_frames counts every frame');
  assert.equal(d('rx_bytes'), frames.reduce((s, f) => s + f.length, 0));
  const fromRx = r.sink.sent.filter((s) => s.fromRx).length;
  const drops = sumDrops(after) - sumDrops(before);
  const ignored = sumIgnored(after) - sumIgnored(before);
  const queued = d('neigh_queued');
  assert.equal(
    fromRx + drops + ignored + queued, frames.length,
    `outcomes: sent ${fromRx}, drops ${drops}, ignored ${ignored}, queued ${queued} for ${frames.length} frame(s):\n` +
      frames.map((f) => decode(f)).join('\n--\n'),
  );
}

test('fuzz: fully random byte frames (0..200 bytes) never throw and are accounted for', () => {
  const r = newRig();
  fc.assert(fc.property(fc.array(fc.uint8Array({ maxLength: 200 }), { minLength: 1, maxLength: 8 }), (frames) => check(r, frames)), { numRuns: 1000 });
});

const headerish = fc
  .record({
    dst: fc.constantFrom(mac(DIR_MAC), mac(BROADCAST)),
    type: fc.constantFrom(0x0800, 0x0806, 0x86dd),
    ipFirst: fc.constantFrom(0x45, 0x46, 0x4f, 0x44, 0x55),
    proto: fc.constantFrom(1, 6, 17, 47),
    local: fc.constantFrom(VIP, DIR_IP, '10.0.0.11'),
    rest: fc.uint8Array({ maxLength: 120 }),
  })
  .map((o) => {
    const b = Buffer.alloc(14 + Math.max(o.rest.length, 0));
    b.set(o.dst, 0);
    b.set(mac(ROUTER_MAC), 6);
    b.writeUInt16BE(o.type, 12);
    b.set(o.rest, 14);
    if (o.type === 0x0800 && b.length >= 34) {
      b[14] = o.ipFirst;
      b[23] = o.proto;
      b.set(o.local.split('.').map(Number), 30);
    }
    return b;
  });

test('fuzz: random frames with a plausible Ethernet/IPv4 header never throw and are accounted for', () => {
  const r = newRig();
  fc.assert(fc.property(fc.array(headerish, { minLength: 1, maxLength: 8 }), (frames) => check(r, frames)), { numRuns: 2000 });
});

test('fuzz: every truncation of every valid frame never throws and is accounted for', () => {
  const r = newRig();
  for (const f of VALID) for (let n = 0; n <= f.length; n++) check(r, [f.subarray(0, n)]);
});

test('fuzz: byte mutations and truncations of valid frames, in batches, never throw and are accounted for', () => {
  const r = newRig();
  const mutated = fc
    .record({
      k: fc.nat(VALID.length - 1),
      cut: fc.option(fc.nat(), { nil: undefined }),
      flips: fc.array(fc.record({ i: fc.nat(), v: fc.integer({ min: 0, max: 255 }) }), { maxLength: 4 }),
    })
    .map(({ k, cut, flips }) => {
      const f = Buffer.from(VALID[k]);
      for (const { i, v } of flips) if (i % f.length >= 6) f[i % f.length] = v; // keep dst MAC: reach the parsers
      return cut === undefined ? f : f.subarray(0, cut % (f.length + 1));
    });
  fc.assert(fc.property(fc.array(mutated, { minLength: 1, maxLength: 16 }), (frames) => check(r, frames)), { numRuns: 2000 });
  // The datapath still works afterwards.
  const out = r.run(tcpFrame(IN, { src: '198.51.100.7', dst: VIP, sport: 1234, dport: 80, flags: TCP_FLAGS.SYN }));
  assert.equal(out.length, 1);
});
