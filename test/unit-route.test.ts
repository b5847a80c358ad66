// test-class: shared
// L3 output: on-link hosts are resolved directly, off-link hosts through --gateway, and without
// a gateway an off-link destination is a counted no_route drop.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { arpFrame, BROADCAST, decode, udpFrame } from './helpers/frames.js';
import { assertFrame, delta, DIR_IP, DIR_MAC, rig, ROUTER_MAC, RS } from './helpers/harness.js';
import { parseIp } from '../src/datapath/addr.js';

const FAR = '203.0.113.9';
const GW = '10.0.0.254';
const payload = () => udpFrame({ ethDst: DIR_MAC, ethSrc: RS[0].mac }, { src: '10.0.0.1', dst: FAR, sport: 4000, dport: 9, payload: Buffer.from('x') });

test('off-link destination goes to the gateway: ARP for the gateway, then the frame to its MAC', () => {
  const r = rig({ gateway: GW });
  const before = r.counters();
  const f = payload();
  r.dp.toNeighbour(f, 0, f.length, parseIp(FAR));
  r.dp.tick();
  const probes = r.sink.take();
  assert.equal(probes.length, 1, 'one ARP request');
  assertFrame(probes[0], arpFrame({ ethDst: BROADCAST, ethSrc: DIR_MAC, pad: true }, { op: 1, sha: DIR_MAC, spa: DIR_IP, tha: '00:00:00:00:00:00', tpa: GW }), 'ARP request for the gateway');
  r.learn(GW, ROUTER_MAC);
  const out = r.sink.take();
  assert.equal(out.length, 1, 'the queued frame leaves once the gateway answers');
  const expected = Buffer.from(f);
  expected.set(Buffer.from(ROUTER_MAC.split(':').map((h) => parseInt(h, 16))), 0);
  expected.set(Buffer.from(DIR_MAC.split(':').map((h) => parseInt(h, 16))), 6);
  assertFrame(out[0], expected, 'frame to the gateway');
  assert.match(decode(out[0]), new RegExp(FAR.replace(/\./g, '\\.')), 'the IP destination is untouched');
  assert.equal(delta(before, r.counters())['drop.no_route'] ?? 0, 0);
});

test('off-link destination without a gateway is dropped and counted no_route', () => {
  const r = rig();
  const before = r.counters();
  const f = payload();
  r.dp.toNeighbour(f, 0, f.length, parseIp(FAR));
  r.dp.tick();
  assert.equal(r.sink.take().length, 0);
  assert.equal(delta(before, r.counters())['drop.no_route'], 1);
});
