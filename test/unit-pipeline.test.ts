// test-class: shared
// Pipeline behaviour that spans several frames or batches: batching, tx failures, the neighbour
// waiting queue across batches, expiry through tick(), counters per destination.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { arpFrame, decode, FWD_IP, tcpFrame, TCP_FLAGS, udpFrame } from './helpers/frames.js';
import { assertExpiresAfter, assertFrame, CLIENT, delta, DIR_IP, DIR_MAC, drRig, ROUTER_MAC, RS, VIP } from './helpers/harness.js';

const IN = { ethDst: DIR_MAC, ethSrc: ROUTER_MAC };
const syn = (src: string, sport: number) => ({ src, dst: VIP, sport, dport: 80, flags: TCP_FLAGS.SYN });
const arpReply = (rs: { ip: string; mac: string }) =>
  arpFrame({ ethDst: DIR_MAC, ethSrc: rs.mac }, { op: 2, sha: rs.mac, spa: rs.ip, tha: DIR_MAC, tpa: DIR_IP });

test('a batch of frames for several flows is forwarded in order, one tx call', () => {
  const r = drRig({ weights: [1, 1] });
  let calls = 0;
  const send = r.sink.send.bind(r.sink);
  r.sink.send = (b, o, l, c) => {
    calls++;
    return send(b, o, l, c);
  };
  const frames = [0, 1, 2, 3].map((i) => tcpFrame(IN, syn(CLIENT, 45000 + i)));
  const out = r.run(...frames);
  assert.equal(calls, 1);
  assert.equal(out.length, 4);
  out.forEach((f, i) => assertFrame(f, tcpFrame({ ethDst: RS[i % 2].mac, ethSrc: DIR_MAC }, syn(CLIENT, 45000 + i), FWD_IP), `frame ${i}`));
});

test('frames the sink refuses are counted tx_failed', () => {
  const r = drRig({ weights: [1] });
  r.sink.accept = 1;
  const before = r.counters();
  r.run(tcpFrame(IN, syn(CLIENT, 1)), tcpFrame(IN, syn(CLIENT, 2)), tcpFrame(IN, syn(CLIENT, 3)));
  const d = delta(before, r.counters());
  assert.equal(d.tx_frames, 1);
  assert.equal(d['drop.tx_failed'], 2);
});

test('per-destination packet/byte/connection totals', () => {
  const r = drRig({ weights: [1], udp: true });
  r.run(tcpFrame(IN, syn(CLIENT, 7)));
  r.run(tcpFrame(IN, { ...syn(CLIENT, 7), flags: TCP_FLAGS.ACK, payload: new Uint8Array(10) }));
  r.run(udpFrame(IN, { src: CLIENT, dst: VIP, sport: 9, dport: 53, payload: new Uint8Array(2) }));
  const dt = r.dp.dt;
  const tcpDest = r.dp.services[0]!.dests[0];
  const udpDest = r.dp.services[1]!.dests[0];
  assert.deepEqual([dt.conns[tcpDest], dt.inPkts[tcpDest], dt.inBytes[tcpDest]], [1, 2, 40 + 50]);
  assert.deepEqual([dt.conns[udpDest], dt.inPkts[udpDest], dt.inBytes[udpDest]], [1, 1, 30]);
  assert.equal(dt.inactive[udpDest], 1, 'UDP connections count as inactive');
});

test('UDP connection entries expire after the UDP timeout (300 s)', () => {
  const r = drRig({ weights: [1], udp: true });
  r.run(udpFrame(IN, { src: CLIENT, dst: VIP, sport: 9, dport: 53 }));
  assertExpiresAfter(r, 300_000);
  assert.equal(r.counters().conns_expired, 1);
});

test('an unanswered SYN entry expires after the SYN_RECV timeout (60 s)', () => {
  const r = drRig({ weights: [1] });
  r.run(tcpFrame(IN, syn(CLIENT, 8)));
  assertExpiresAfter(r, 60_000);
});

// Two real servers, neither resolved. Batch 1 queues a SYN for RS1. Batch 2 holds RS1's ARP reply
// (which moves the queued SYN to the neighbour-queue tx batch and frees its slot) and then a SYN
// for RS2, which is queued while RS1's frame is still waiting to be flushed at the end of batch 2.
test('a queued frame flushed by an ARP reply is sent intact even if a frame is queued later in the same batch', () => {
  const r = drRig({ weights: [1, 1], learn: false });
  const a = tcpFrame(IN, syn(CLIENT, 46000)); // rr → RS1
  const b = tcpFrame(IN, syn(CLIENT, 46001)); // rr → RS2
  assert.equal(r.run(a).length, 0, 'queued for RS1');
  const out = r.run(arpReply(RS[0]), b);
  const want = tcpFrame({ ethDst: RS[0].mac, ethSrc: DIR_MAC }, syn(CLIENT, 46000), FWD_IP);
  assert.equal(out.length, 1, `expected only the SYN for RS1, got ${out.length}:\n${out.map(decode).join('\n--\n')}`);
  assertFrame(out[0], want, 'the SYN queued for RS1');
  // RS2's SYN is still waiting and goes out when RS2 answers.
  const later = r.run(arpReply(RS[1]));
  assert.equal(later.length, 1);
  assertFrame(later[0], tcpFrame({ ethDst: RS[1].mac, ethSrc: DIR_MAC }, syn(CLIENT, 46001), FWD_IP), 'the SYN queued for RS2');
});

test('at most 4 frames wait per unresolved neighbour; the rest are neigh_unresolved drops', () => {
  const r = drRig({ weights: [1], learn: false });
  const before = r.counters();
  r.run(...[0, 1, 2, 3, 4, 5].map((i) => tcpFrame(IN, syn(CLIENT, 47000 + i))));
  const d = delta(before, r.counters());
  assert.equal(d.neigh_queued, 4);
  assert.equal(d['drop.neigh_unresolved'], 2);
  const out = r.run(arpReply(RS[0]));
  assert.equal(out.length, 4);
  const ports = out.map((f) => f.readUInt16BE(34)).sort();
  assert.deepEqual(ports, [47000, 47001, 47002, 47003]);
});

test('frames to the broadcast MAC: ARP is handled, IPv4 is ignored (never scheduled: IPVS takes PACKET_HOST frames only)', () => {
  const r = drRig({ weights: [1] });
  const BCAST = { ethDst: 'ff:ff:ff:ff:ff:ff', ethSrc: ROUTER_MAC };
  const b0 = r.counters();
  assert.equal(r.run(tcpFrame(BCAST, syn(CLIENT, 47000)), udpFrame(BCAST, { src: CLIENT, dst: VIP, sport: 47001, dport: 80 })).length, 0);
  const d = delta(b0, r.counters());
  assert.equal(d.ignored_other_mac, 2);
  assert.equal(d.conns_created ?? 0, 0);
  assert.equal(r.dp.ct.count, 0);
  // ARP to the broadcast MAC still gets its answer, and the same SYN to uvsd's MAC is forwarded.
  const who = arpFrame(BCAST, { op: 1, sha: ROUTER_MAC, spa: '10.0.0.254', tpa: VIP });
  assert.equal(r.run(who).length, 1);
  assert.equal(r.run(tcpFrame(IN, syn(CLIENT, 47000))).length, 1);
});

test('IPv4 options: valid ones (router alert, NOP, END padding) pass; one that runs past the header, a length under 2, or source routing is ip_bad_options (the kernel refuses them before IPVS)', () => {
  const r = drRig({ weights: [1] });
  const withOpts = (sport: number, o: number[]) => tcpFrame(IN, syn(CLIENT, sport), { options: Uint8Array.from(o) });
  const b0 = r.counters();
  assert.equal(r.run(withOpts(48000, [0x94, 0x04, 0, 0]), withOpts(48001, [1, 1, 0x94, 0x04, 0])).length, 2, 'router alert (with NOPs, END) is forwarded');
  const bad = [
    [0x07, 0xff, 4, 0], // record route longer than the header (what a tester sent)
    [0x07, 0x00, 0, 0], // a length of 0
    [0x83, 0x07, 4, 192, 168, 9, 1], // loose source route
    [0x89, 0x07, 4, 192, 168, 9, 1], // strict source route
    [1, 1, 1, 0x44], // a kind with no room for its length
  ];
  assert.equal(r.run(...bad.map((o, i) => withOpts(48100 + i, o))).length, 0);
  const d = delta(b0, r.counters());
  assert.equal(d['drop.ip_bad_options'], bad.length);
  assert.equal(d.conns_created, 2);
});
