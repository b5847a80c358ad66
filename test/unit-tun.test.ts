// TUN encapsulation in place (headroom in front of the received frame, as uvsd's port lays frames
// out) and by copy into a generated slot (no headroom): the same bytes leave either way.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hopped, tcpFrame, TCP_FLAGS } from './helpers/frames.js';
import { CLIENT, DIR_MAC, GW, ROUTER_MAC, RS, VIP, delta, rig } from './helpers/harness.js';
import { parseIp } from '../src/datapath/addr.js';

const IN = { ethDst: DIR_MAC, ethSrc: ROUTER_MAC };

/** TUN to RS[0]; with `gateway` the client is off-link behind GW (learned): answers reach it. */
function tunRig(headroom: number, gateway = false) {
  const r = rig({ headroom, gateway: gateway ? GW : undefined });
  if (gateway) {
    r.dp.resolve(parseIp(GW));
    r.learn(GW, ROUTER_MAC);
  }
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

test('fragmentation needed shares the rate limit of uvsd\'s other answers: 50 at once, the rest counted', () => {
  const r = tunRig(32, true);
  r.feed(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: 6000, dport: 80, flags: TCP_FLAGS.SYN }));
  r.sink.take();
  // 60 DF segments of 1500 bytes, too big to wrap in a 1500-byte MTU: one batch.
  const big = (i: number) => tcpFrame(IN, { src: CLIENT, dst: VIP, sport: 6000, dport: 80, flags: TCP_FLAGS.ACK, seq: 1 + i * 1460, payload: Buffer.alloc(1460, i) });
  const before = r.counters();
  const out = r.run(...Array.from({ length: 60 }, (_v, i) => big(i)));
  const d = delta(before, r.counters());
  assert.equal(out.length, 50);
  assert.ok(out.every((f) => f[14 + 9] === 1 && f[34] === 3 && f[35] === 4), 'ICMP type 3 code 4');
  assert.deepEqual([d.icmp_frag_needed_sent, d.icmp_frag_needed_ratelimited, d['drop.mtu_exceeded']], [50, 10, 60]);
  // A millisecond later: one token.
  r.advance(1);
  const again = delta(r.counters(), (r.run(big(60), big(61)), r.counters()));
  assert.deepEqual([again.icmp_frag_needed_sent, again.icmp_frag_needed_ratelimited], [1, 1]);
});
