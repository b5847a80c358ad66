// test-class: shared
// Hostile frames through the real pipeline, DR services (issue 13): at least 100,000 frames of
// every kind the datapath parses (Ethernet, ARP, IPv4, ICMP, TCP, UDP, IPIP, fragments), mutated,
// truncated, extended and random, in batches. Nothing throws, every frame has exactly one outcome
// (sent, a counted drop, ignored, or queued for a neighbour) and the connection table stays
// consistent (test/helpers/fuzz-frames.ts). Also every truncation of every valid frame, and the
// uvs-decap helper's parser (src/modes/decap.ts). NAT, FULLNAT and TUN: unit-fuzz-modes.test.ts.
// A failure names its seed: replay with UVS_FUZZ_SEED=<seed>.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  arpFrame, BROADCAST, eth, icmpFrame, inetChecksum, ipv4, synOptions, tcp, tcpFrame, TCP_FLAGS, udpFrame,
} from './helpers/frames.js';
import { CLIENT, DIR_IP, DIR_MAC, drRig, RS, ROUTER_MAC, VIP } from './helpers/harness.js';
import { feedAccounted, fuzzFrames } from './helpers/fuzz-frames.js';
import { fuzzSeed, mutateFrame, runCases } from './helpers/fuzz.js';
import { DECAP_BAD, DECAP_COUNTERS, DECAP_FRAGMENT, DECAP_NOT_TUNNEL, DECAP_OK, decapFrame } from '../src/modes/decap.js';
import { decapHost } from './helpers/decap.js';
import { OuterReassembly } from '../src/modes/decap-reasm.js';

const IN = { ethDst: DIR_MAC, ethSrc: ROUTER_MAC };
const FROM_RS = { ethDst: DIR_MAC, ethSrc: RS[0].mac };
const CASES = 100_000;

const inner = tcp({ src: CLIENT, dst: VIP, sport: 33002, dport: 80, flags: TCP_FLAGS.SYN });
const ipipTo = (dst: string) => eth({ dst: DIR_MAC, src: ROUTER_MAC, type: 0x0800 }, ipv4({ src: '10.0.0.99', dst, proto: 4 }, ipv4({ src: CLIENT, dst: VIP, proto: 6 }, inner)));
/** The same inner packet in GRE (with its checksum field, or without) and in GUE to UDP port 6080. */
const innerPkt = () => ipv4({ src: CLIENT, dst: VIP, proto: 6 }, inner);
const greTo = (dst: string, csum: boolean) => {
  const gre = Buffer.concat([Buffer.from(csum ? [0x80, 0, 8, 0, 0, 0, 0, 0] : [0, 0, 8, 0]), innerPkt()]);
  if (csum) gre.writeUInt16BE(inetChecksum(gre), 4);
  return eth({ dst: DIR_MAC, src: ROUTER_MAC, type: 0x0800 }, ipv4({ src: '10.0.0.99', dst, proto: 47 }, gre));
};
/** A mutated frame's outer IPv4 header checksum made right again, so the fuzz reaches past uvs-decap's header check. */
function fixIpChecksum(f: Buffer): void {
  const ihl = (f[14]! & 15) * 4;
  if (f.length < 34 || f.readUInt16BE(12) !== 0x0800 || ihl < 20 || 14 + ihl > f.length) return;
  f.writeUInt16BE(0, 24);
  f.writeUInt16BE(inetChecksum(f, 14, ihl), 24);
}
const gueTo = (dst: string) => {
  const udp = Buffer.from([0x9c, 0x40, 0x17, 0xc0, 0, 0, 0, 0, 0, 4, 0, 0]); // 40000 -> 6080, length below, no checksum; GUE v0 IPIP
  const pkt = Buffer.concat([udp, innerPkt()]);
  pkt.writeUInt16BE(pkt.length, 4);
  return eth({ dst: DIR_MAC, src: ROUTER_MAC, type: 0x0800 }, ipv4({ src: '10.0.0.99', dst, proto: 17 }, pkt));
};
const quote = ipv4({ src: VIP, dst: CLIENT, proto: 6 }, tcp({ src: VIP, dst: CLIENT, sport: 80, dport: 33000, flags: TCP_FLAGS.ACK })).subarray(0, 28);

/** Valid frames of every kind the datapath handles, for DR services. */
const VALID: Buffer[] = [
  arpFrame({ ethDst: BROADCAST, ethSrc: ROUTER_MAC }, { op: 1, sha: ROUTER_MAC, spa: '10.0.0.254', tpa: VIP }),
  arpFrame({ ethDst: BROADCAST, ethSrc: ROUTER_MAC }, { op: 1, sha: ROUTER_MAC, spa: '10.0.0.254', tpa: DIR_IP }),
  arpFrame({ ethDst: DIR_MAC, ethSrc: RS[0].mac }, { op: 2, sha: RS[0].mac, spa: RS[0].ip, tha: DIR_MAC, tpa: DIR_IP }),
  arpFrame({ ethDst: BROADCAST, ethSrc: RS[1].mac }, { op: 2, sha: RS[1].mac, spa: RS[1].ip, tpa: RS[1].ip }),
  icmpFrame(IN, { src: CLIENT, dst: VIP }, { type: 8, id: 1, seq: 1, payload: new Uint8Array(32).fill(7) }),
  icmpFrame(IN, { src: CLIENT, dst: DIR_IP }, { type: 8, id: 1, seq: 2 }),
  icmpFrame(IN, { src: '10.0.0.254', dst: VIP }, { type: 3, code: 4, payload: quote }),
  tcpFrame(IN, { src: CLIENT, dst: VIP, sport: 33000, dport: 80, flags: TCP_FLAGS.SYN, options: synOptions() }),
  tcpFrame(IN, { src: CLIENT, dst: VIP, sport: 33000, dport: 80, flags: TCP_FLAGS.ACK, payload: new Uint8Array(200).fill(1) }),
  tcpFrame(IN, { src: CLIENT, dst: VIP, sport: 33001, dport: 80, flags: TCP_FLAGS.FIN | TCP_FLAGS.ACK }, { options: Uint8Array.from([1, 1, 1, 0]) }),
  tcpFrame(IN, { src: CLIENT, dst: VIP, sport: 33000, dport: 80, flags: TCP_FLAGS.RST }),
  tcpFrame(FROM_RS, { src: VIP, dst: CLIENT, sport: 80, dport: 33000, flags: TCP_FLAGS.ACK }),
  udpFrame({ ...IN, pad: true }, { src: CLIENT, dst: VIP, sport: 5000, dport: 53, payload: new Uint8Array(3) }),
  udpFrame(IN, { src: CLIENT, dst: VIP, sport: 5001, dport: 53, payload: new Uint8Array(300).fill(9), checksum: 'none' }),
  eth({ dst: DIR_MAC, src: ROUTER_MAC, type: 0x0800 }, ipv4({ src: CLIENT, dst: VIP, proto: 17, id: 7, df: false, mf: true }, new Uint8Array(48))),
  eth({ dst: DIR_MAC, src: ROUTER_MAC, type: 0x0800 }, ipv4({ src: CLIENT, dst: VIP, proto: 17, id: 7, df: false, fragOffset: 6 }, new Uint8Array(40))),
  ipipTo(VIP),
  ipipTo(DIR_IP),
  eth({ dst: DIR_MAC, src: ROUTER_MAC, type: 0x86dd }, new Uint8Array(60)),
  eth({ dst: BROADCAST, src: ROUTER_MAC, type: 0x8100 }, new Uint8Array(60)),
];

test(`fuzz: ${CASES.toLocaleString('en')} hostile frames through DR services: nothing throws, each frame one outcome, the table consistent`, () => {
  const r = drRig({ weights: [1, 1], udp: true, connMax: 256 });
  const fed = fuzzFrames('DR frames', r, VALID, CASES, fuzzSeed(1301));
  assert.ok(fed >= CASES, `${fed} frames`);
  // The datapath still forwards afterwards: a new client is scheduled and sent to a server.
  const out = r.run(tcpFrame(IN, { src: '198.51.100.7', dst: VIP, sport: 1234, dport: 80, flags: TCP_FLAGS.SYN }));
  assert.equal(out.length, 1);
});

test('fuzz: every truncation of every valid frame never throws and is accounted for', () => {
  const r = drRig({ weights: [1, 1], udp: true, connMax: 64 });
  for (const f of VALID) for (let n = 0; n <= f.length; n++) feedAccounted(r, [f.subarray(0, n)]);
});

test(`fuzz: the uvs-decap parser on ${CASES.toLocaleString('en')} mutated IPIP, GRE and GUE frames (fragments through its reassembly): inner packets always inside the frame, ours, IPv4`, (t) => {
  // The tunnels' outer destinations are this host's own addresses, their MAC its MAC.
  const host = decapHost({ vips: [VIP, '192.168.8.200'], locals: [VIP, '192.168.8.200'], mac: DIR_MAC, guePort: 6080 });
  const seeds = [ipipTo(VIP), ipipTo('192.168.8.200'), greTo(VIP, false), greTo(VIP, true), gueTo('192.168.8.200'), VALID[7]!, VALID[12]!];
  const out = new Int32Array(2);
  const seen = new Map<number, number>();
  const reasm = new OuterReassembly();
  runCases('decap parser', CASES, fuzzSeed(1302), (g) => {
    const f = g.chance(0.1) ? g.bytes(g.int(120)) : mutateFrame(g.pick(seeds), g, 0);
    if (g.chance(0.5)) fixIpChecksum(f);
    // Somewhere in a larger receive buffer, as the helper's batches are.
    const off = g.int(64);
    const buf = Buffer.alloc(off + f.length + g.int(64), 0xee);
    f.copy(buf, off);
    // Some as long as the read (the helper's stride): one whose packet runs past it was cut.
    return { buf, off, len: f.length, readMax: g.chance(0.2) ? f.length : 0 };
  }, ({ buf: frame, off: at0, len: len0, readMax }) => {
    let [buf, off, len] = [frame, at0, len0];
    out.fill(-7);
    let res = decapFrame(buf, off, len, host, out, readMax);
    assert.ok(res === DECAP_OK || res === DECAP_NOT_TUNNEL || res === DECAP_FRAGMENT || (res < 0 && -res <= DECAP_COUNTERS.length), `result ${res}`);
    seen.set(res, (seen.get(res) ?? 0) + 1);
    if (res === DECAP_FRAGMENT) {
      // Through the reassembly (one table for the whole run); a datagram it completes is parsed again.
      assert.deepEqual([...out], [-7, -7], 'nothing written for a fragment');
      const f = reasm.add(buf, off, len, 0);
      if (f < 0) return;
      assert.ok(f >= 0 && f + reasm.doneLen <= reasm.buf.length, 'the whole datagram inside the table');
      buf = reasm.buf;
      off = f;
      len = reasm.doneLen;
      res = decapFrame(buf, off, len, host, out);
    }
    if (res !== DECAP_OK) {
      assert.deepEqual([...out], [-7, -7], 'nothing written for a frame it refuses');
      return;
    }
    const [at, n] = [out[0]!, out[1]!];
    assert.ok(at >= off + 14 + 20 && n >= 20 && at + n <= off + len, `inner [${at}, ${at + n}) outside the frame [${off}, ${off + len})`);
    assert.equal(buf[at]! >>> 4, 4, 'inner IPv4');
    assert.ok(host.vips.has(buf.readInt32BE(at + 16)), 'inner destination is a VIP');
  }, (x) => x.buf.subarray(x.off, x.off + x.len).toString('hex'));
  const counts = JSON.stringify(Object.fromEntries(seen));
  t.diagnostic(`outcomes: ${counts}`);
  assert.ok([DECAP_BAD, DECAP_NOT_TUNNEL, DECAP_OK].every((r) => (seen.get(r) ?? 0) > 1000), `every outcome exercised: ${counts}`);
  assert.ok(DECAP_COUNTERS.every((_n, k) => (seen.get(-k - 1) ?? 0) > 0), `every refusal exercised: ${counts}`);
});
