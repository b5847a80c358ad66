// TUN encapsulation in place (headroom in front of the received frame, as uvsd's port lays frames
// out) and by copy into a generated slot (no headroom): the same bytes leave either way.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hopped, tcpFrame, TCP_FLAGS } from './helpers/frames.js';
import { CLIENT, DIR_MAC, ROUTER_MAC, RS, VIP, rig } from './helpers/harness.js';

const IN = { ethDst: DIR_MAC, ethSrc: ROUTER_MAC };

function tunRig(headroom: number) {
  const r = rig({ headroom });
  r.ctl.addService({ proto: 'tcp', addr: VIP, port: 80, sched: 'rr' });
  r.ctl.addDest({ service: { proto: 'tcp', addr: VIP, port: 80 }, addr: RS[0].ip, port: 80, fwd: 'tun', weight: 1 });
  r.learn(RS[0].ip, RS[0].mac);
  r.sink.take();
  return r;
}

test('TUN wraps in place with headroom and by copy without; both send the same bytes', () => {
  const frames = [0, 1, 2].map((i) => tcpFrame(IN, { src: CLIENT, dst: VIP, sport: 5000 + i, dport: 80, flags: TCP_FLAGS.SYN, payload: Buffer.alloc(1400, i) }));
  const inPlace = tunRig(32);
  inPlace.feed(...frames);
  const a = inPlace.sink.sent;
  const copied = tunRig(0);
  copied.feed(...frames);
  const b = copied.sink.sent;
  assert.equal(a.length, 3);
  assert.ok(a.every((s) => s.fromRx), 'in place: sent from the receive buffer');
  assert.ok(b.every((s) => !s.fromRx), 'no headroom: sent from generated slots');
  a.forEach((s, i) => assert.deepEqual(s.frame, b[i]!.frame, `frame ${i}`));
  assert.equal(a[0]!.frame.length, frames[0]!.length + 20);
  assert.equal(a[0]!.frame[23], 4, 'outer protocol IPIP');
  assert.deepEqual(a[0]!.frame.subarray(34), hopped(frames[0]!).subarray(14), 'inner packet untouched but for its TTL');
});
