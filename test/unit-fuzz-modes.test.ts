// test-class: shared
// Hostile frames through the rewriting forwarders (issue 13): a NAT, a FULLNAT and a TUN rig,
// each with live TCP and UDP connections, fed at least 100,000 frames derived from that method's
// requests, replies, ICMP errors and fragments (mutated, truncated, extended, random). The same
// invariants as unit-fuzz.test.ts (test/helpers/fuzz-frames.ts): nothing throws, each frame has
// exactly one outcome, the table stays consistent, and the rig still forwards afterwards.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { arpFrame, BROADCAST, eth, icmpFrame, ipv4, sctp, sctpFrame, SCTP_CHUNK, tcp, tcpFrame, TCP_FLAGS, udp, udpFrame } from './helpers/frames.js';
import { CLIENT, DIR_MAC, RS, ROUTER_MAC, VIP, rig, type Rig } from './helpers/harness.js';
import { fuzzFrames } from './helpers/fuzz-frames.js';
import { fuzzSeed } from './helpers/fuzz.js';
import type { Fwd } from '../src/control/protocol.js';

const IN = { ethDst: DIR_MAC, ethSrc: ROUTER_MAC };
const FROM_RS = { ethDst: DIR_MAC, ethSrc: RS[0].mac };
const LIP = '10.0.0.5';
const CASES = 100_000;
const tcpSvc = { proto: 'tcp' as const, addr: VIP, port: 80 };
const udpSvc = { proto: 'udp' as const, addr: VIP, port: 53 };
const sctpSvc = { proto: 'sctp' as const, addr: VIP, port: 3868 };

/** TCP VIP:80, UDP VIP:53 and SCTP VIP:3868 with one server of the method, a connection of each open. */
function modeRig(fwd: Fwd): { r: Rig; rport: number } {
  const r = rig({ connMax: 256, gateway: '10.0.0.254' });
  const rport = fwd === 'nat' || fwd === 'fullnat' ? 8080 : 80;
  r.ctl.addService({ ...tcpSvc, sched: 'rr' });
  r.ctl.addDest({ service: tcpSvc, addr: RS[0].ip, port: rport, fwd, weight: 1 });
  r.ctl.addService({ ...udpSvc, sched: 'rr' });
  r.ctl.addDest({ service: udpSvc, addr: RS[0].ip, port: 53, fwd, weight: 1 });
  r.ctl.addService({ ...sctpSvc, sched: 'rr' });
  r.ctl.addDest({ service: sctpSvc, addr: RS[0].ip, port: 3868, fwd, weight: 1 });
  if (fwd === 'fullnat') {
    for (const service of [tcpSvc, udpSvc, sctpSvc]) r.ctl.addLaddr({ service, addr: LIP, portMin: 3000, portMax: 3003 });
  }
  r.dp.resolve(0x0a0000fe);
  r.learn(RS[0].ip, RS[0].mac);
  r.learn('10.0.0.254', ROUTER_MAC);
  r.feed(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: 40000, dport: 80, flags: TCP_FLAGS.SYN }));
  r.feed(udpFrame(IN, { src: CLIENT, dst: VIP, sport: 7001, dport: 53 }));
  r.feed(sctpFrame(IN, { src: CLIENT, dst: VIP }, { sport: 45000, dport: 3868, chunks: [{ type: SCTP_CHUNK.INIT, value: new Uint8Array(16) }] }));
  r.sink.take();
  return { r, rport };
}

/** Frames a method's director sees: client side, server side (replies to the client or the LIP), ICMP errors, fragments, ARP. */
function seeds(fwd: Fwd, rport: number): Buffer[] {
  const replyTo = fwd === 'fullnat' ? LIP : CLIENT;
  const cport = fwd === 'fullnat' ? 3000 : 40000;
  const quoteOut = ipv4({ src: replyTo, dst: RS[0].ip, proto: 6 }, tcp({ src: replyTo, dst: RS[0].ip, sport: cport, dport: rport, flags: TCP_FLAGS.SYN })).subarray(0, 28);
  const quoteIn = ipv4({ src: VIP, dst: CLIENT, proto: 6 }, tcp({ src: VIP, dst: CLIENT, sport: 80, dport: 40000, flags: TCP_FLAGS.ACK })).subarray(0, 28);
  const dgram = udp({ src: CLIENT, dst: VIP, sport: 7000, dport: 53, payload: new Uint8Array(100) });
  const sctpQuote = ipv4({ src: replyTo, dst: RS[0].ip, proto: 132 }, sctp({ sport: fwd === 'fullnat' ? 3001 : 45000, dport: 3868, chunks: [{ type: SCTP_CHUNK.DATA }] })).subarray(0, 28);
  const quoteTun = ipv4({ src: CLIENT, dst: VIP, proto: 6 }, tcp({ src: CLIENT, dst: VIP, sport: 40000, dport: 80, flags: TCP_FLAGS.ACK, payload: new Uint8Array(64) }));
  const v4 = (o: Parameters<typeof ipv4>[0], p: Uint8Array) => eth({ dst: DIR_MAC, src: ROUTER_MAC, type: 0x0800 }, ipv4(o, p));
  return [
    tcpFrame(IN, { src: CLIENT, dst: VIP, sport: 40000, dport: 80, flags: TCP_FLAGS.ACK, payload: new Uint8Array(64).fill(3) }),
    tcpFrame(IN, { src: CLIENT, dst: VIP, sport: 40001, dport: 80, flags: TCP_FLAGS.SYN }),
    tcpFrame(IN, { src: CLIENT, dst: VIP, sport: 40000, dport: 80, flags: TCP_FLAGS.FIN | TCP_FLAGS.ACK }),
    tcpFrame(IN, { src: CLIENT, dst: VIP, sport: 40000, dport: 80, flags: TCP_FLAGS.ACK, payload: new Uint8Array(1400) }),
    tcpFrame(FROM_RS, { src: RS[0].ip, dst: replyTo, sport: rport, dport: cport, flags: TCP_FLAGS.ACK | TCP_FLAGS.SYN }),
    tcpFrame(FROM_RS, { src: RS[0].ip, dst: replyTo, sport: rport, dport: cport, flags: TCP_FLAGS.ACK, payload: new Uint8Array(300) }),
    udpFrame(FROM_RS, { src: RS[0].ip, dst: replyTo, sport: 53, dport: fwd === 'fullnat' ? 3000 : 7001, payload: new Uint8Array(20) }),
    udpFrame(IN, { src: CLIENT, dst: VIP, sport: 7001, dport: 53 }),
    icmpFrame(FROM_RS, { src: RS[0].ip, dst: replyTo }, { type: 3, code: 3, payload: quoteOut }),
    icmpFrame(IN, { src: '10.0.0.254', dst: VIP }, { type: 3, code: 4, payload: quoteIn }),
    icmpFrame(IN, { src: CLIENT, dst: VIP }, { type: 8, id: 3, seq: 1 }),
    v4({ src: CLIENT, dst: VIP, proto: 17, id: 9, df: false, mf: true }, dgram.subarray(0, 48)),
    v4({ src: CLIENT, dst: VIP, proto: 17, id: 9, df: false, fragOffset: 6 }, dgram.subarray(48)),
    v4({ src: '10.0.0.99', dst: VIP, proto: 4 }, ipv4({ src: CLIENT, dst: VIP, proto: 6 }, tcp({ src: CLIENT, dst: VIP, sport: 1, dport: 80, flags: TCP_FLAGS.SYN }))),
    arpFrame({ ethDst: BROADCAST, ethSrc: ROUTER_MAC }, { op: 1, sha: ROUTER_MAC, spa: '10.0.0.254', tpa: fwd === 'fullnat' ? LIP : VIP }),
    arpFrame({ ethDst: DIR_MAC, ethSrc: RS[0].mac }, { op: 2, sha: RS[0].mac, spa: RS[0].ip, tha: DIR_MAC, tpa: '10.0.0.1' }),
    sctpFrame(IN, { src: CLIENT, dst: VIP }, { sport: 45001, dport: 3868, chunks: [{ type: SCTP_CHUNK.INIT, value: new Uint8Array(16) }] }),
    sctpFrame(IN, { src: CLIENT, dst: VIP }, { sport: 45000, dport: 3868, chunks: [{ type: SCTP_CHUNK.COOKIE_ECHO, value: new Uint8Array(8) }, { type: SCTP_CHUNK.ABORT }] }),
    sctpFrame(IN, { src: CLIENT, dst: VIP }, { sport: 45000, dport: 3868, chunks: [{ type: SCTP_CHUNK.DATA, value: new Uint8Array(200) }] }),
    sctpFrame(FROM_RS, { src: RS[0].ip, dst: replyTo }, { sport: 3868, dport: fwd === 'fullnat' ? 3001 : 45000, chunks: [{ type: SCTP_CHUNK.INIT_ACK, value: new Uint8Array(20) }] }),
    icmpFrame(FROM_RS, { src: RS[0].ip, dst: replyTo }, { type: 3, code: 4, payload: sctpQuote }),
    // TUN: a router's error about the wrapped packet (relayed to the client).
    ...(fwd === 'tun' ? [icmpFrame(IN, { src: '10.0.0.254', dst: '10.0.0.1' }, { type: 3, code: 4, seq: 1280, payload: ipv4({ src: '10.0.0.1', dst: RS[0].ip, proto: 4 }, quoteTun) })] : []),
  ];
}

for (const fwd of ['nat', 'fullnat', 'tun'] as const) {
  test(`fuzz: ${CASES.toLocaleString('en')} hostile frames through ${fwd.toUpperCase()} services: nothing throws, each frame one outcome, the table consistent`, () => {
    const { r, rport } = modeRig(fwd);
    const fed = fuzzFrames(`${fwd} frames`, r, seeds(fwd, rport), CASES, fuzzSeed(1310 + fwd.length));
    assert.ok(fed >= CASES, `${fed} frames`);
    // Still forwarding: a fresh client is scheduled to the server (rewritten for NAT/FULLNAT,
    // encapsulated for TUN), once the half-open connections the fuzz left have timed out (FULLNAT:
    // four local ports each) and the server has answered ARP again (its entry may have gone stale
    // meanwhile, and nothing answered the director's request).
    r.advance(121_000);
    r.dp.tick();
    r.learn(RS[0].ip, RS[0].mac);
    const out = r.run(tcpFrame(IN, { src: '198.51.100.7', dst: VIP, sport: 1234, dport: 80, flags: TCP_FLAGS.SYN }));
    assert.equal(out.length, 1, `${fwd}: one frame out`);
    if (fwd === 'tun') assert.equal(out[0]![23], 4, 'IPIP');
    else assert.equal(out[0]!.readUInt16BE(36), rport);
  });
}
