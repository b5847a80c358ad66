// Property tests for the rewriting forwarders: NAT, FULLNAT and TUN services with live
// connections, fed byte mutations and truncations of their requests, replies, ICMP errors and
// fragments. Nothing throws, every frame is counted received, each has at least one outcome
// (sent, dropped, ignored or queued), and the datapath still forwards correctly afterwards.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decode, eth, icmpFrame, ipv4, tcp, tcpFrame, TCP_FLAGS, udp, udpFrame } from './helpers/frames.js';
import { CLIENT, DIR_MAC, RS, ROUTER_MAC, VIP, rig, sumDrops, sumIgnored } from './helpers/harness.js';

const IN = { ethDst: DIR_MAC, ethSrc: ROUTER_MAC };
const FROM_RS = { ethDst: DIR_MAC, ethSrc: RS[0].mac };
const LIP = '10.0.0.5';
const svc = (port: number) => ({ proto: 'tcp' as const, addr: VIP, port });

function modesRig() {
  const r = rig({ connMax: 256, gateway: '10.0.0.254' });
  r.ctl.addService({ ...svc(80), sched: 'rr' });
  r.ctl.addDest({ service: svc(80), addr: RS[0].ip, port: 8080, fwd: 'nat', weight: 1 });
  r.ctl.addService({ ...svc(81), sched: 'rr' });
  r.ctl.addDest({ service: svc(81), addr: RS[0].ip, port: 81, fwd: 'fullnat', weight: 1 });
  r.ctl.addLaddr({ service: svc(81), addr: LIP, portMin: 3000, portMax: 3003 });
  r.ctl.addService({ ...svc(82), sched: 'rr' });
  r.ctl.addDest({ service: svc(82), addr: RS[0].ip, port: 82, fwd: 'tun', weight: 1 });
  r.ctl.addService({ proto: 'udp', addr: VIP, port: 53, sched: 'rr' });
  r.ctl.addDest({ service: { proto: 'udp', addr: VIP, port: 53 }, addr: RS[0].ip, port: 53, fwd: 'nat', weight: 1 });
  r.dp.resolve(0x0a0000fe);
  r.learn(RS[0].ip, RS[0].mac);
  r.learn('10.0.0.254', ROUTER_MAC);
  // Open one connection per method.
  for (const port of [80, 81, 82]) r.feed(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: 40000, dport: port, flags: TCP_FLAGS.SYN }));
  r.sink.take();
  return r;
}

const natReq = tcpFrame(IN, { src: CLIENT, dst: VIP, sport: 40000, dport: 80, flags: TCP_FLAGS.ACK, payload: new Uint8Array(64).fill(3) });
const natReply = tcpFrame(FROM_RS, { src: RS[0].ip, dst: CLIENT, sport: 8080, dport: 40000, flags: TCP_FLAGS.ACK | TCP_FLAGS.SYN });
const fnReply = tcpFrame(FROM_RS, { src: RS[0].ip, dst: LIP, sport: 81, dport: 3000, flags: TCP_FLAGS.ACK });
const tunReq = tcpFrame(IN, { src: CLIENT, dst: VIP, sport: 40000, dport: 82, flags: TCP_FLAGS.ACK, payload: new Uint8Array(1460) });
const quote = ipv4({ src: CLIENT, dst: RS[0].ip, proto: 6 }, tcp({ src: CLIENT, dst: RS[0].ip, sport: 40000, dport: 8080, flags: TCP_FLAGS.SYN })).subarray(0, 28);
const icmpErr = icmpFrame(FROM_RS, { src: RS[0].ip, dst: CLIENT }, { type: 3, code: 3, payload: quote });
const dgram = udp({ src: CLIENT, dst: VIP, sport: 7000, dport: 53, payload: new Uint8Array(100) });
const frag1 = eth({ dst: DIR_MAC, src: ROUTER_MAC, type: 0x0800 }, ipv4({ src: CLIENT, dst: VIP, proto: 17, id: 9, df: false, mf: true }, dgram.subarray(0, 48)));
const frag2 = eth({ dst: DIR_MAC, src: ROUTER_MAC, type: 0x0800 }, ipv4({ src: CLIENT, dst: VIP, proto: 17, id: 9, df: false, fragOffset: 6 }, dgram.subarray(48)));
const VALID = [natReq, natReply, fnReply, tunReq, icmpErr, frag1, frag2, udpFrame(IN, { src: CLIENT, dst: VIP, sport: 7001, dport: 53 })];

test('fuzz: mutated NAT/FULLNAT/TUN requests, replies, ICMP errors and fragments never throw and all have an outcome', () => {
  const r = modesRig();
  const mutated = fc
    .record({
      k: fc.nat(VALID.length - 1),
      cut: fc.option(fc.nat(), { nil: undefined }),
      flips: fc.array(fc.record({ i: fc.nat(), v: fc.integer({ min: 0, max: 255 }) }), { maxLength: 4 }),
    })
    .map(({ k, cut, flips }) => {
      const f = Buffer.from(VALID[k]);
      for (const { i, v } of flips) if (i % f.length >= 6) f[i % f.length] = v;
      return cut === undefined ? f : f.subarray(0, cut % (f.length + 1));
    });
  fc.assert(
    fc.property(fc.array(mutated, { minLength: 1, maxLength: 16 }), (frames) => {
      const before = r.counters();
      r.sink.take();
      try {
        r.feed(...frames);
      } catch (err) {
        assert.fail(`processBatch threw ${String(err)} on:\n${frames.map((f) => decode(f)).join('\n--\n')}`);
      }
      const after = r.counters();
      assert.equal(after.rx_frames - before.rx_frames, frames.length);
      const outcomes = r.sink.sent.length + (sumDrops(after) - sumDrops(before)) + (sumIgnored(after) - sumIgnored(before)) +
        (after.neigh_queued - before.neigh_queued);
      assert.ok(outcomes >= frames.length, `${outcomes} outcomes for ${frames.length} frames`);
    }),
    { numRuns: 2000 },
  );
  // Still forwarding: a fresh NAT flow is rewritten to RS:8080.
  const out = r.run(tcpFrame(IN, { src: '198.51.100.7', dst: VIP, sport: 1234, dport: 80, flags: TCP_FLAGS.SYN }));
  assert.equal(out.length, 1);
  assert.equal(out[0]!.readUInt16BE(36), 8080);
});
