// test-class: shared
// No garbage per packet on the SYN proxy's paths either (NAT and FULLNAT, addresses above
// 128.0.0.0): SYNs answered with cookies (half of them with timestamps, window scale and SACK),
// ACKs whose cookie is refused (and their resets), and the translation of established connections
// in both directions (half of them with timestamps, SACK blocks and rescaled windows), a million
// frames each, measured as in unit-alloc-modes.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { Datapath } from '../src/datapath/pipeline.js';
import { Control } from '../src/control/model.js';
import { C } from '../src/datapath/counters.js';
import { formatIp, parseMac, parseIp, prefixMask } from '../src/datapath/addr.js';
import { arpFrame, tcpFrame, TCP_FLAGS } from './helpers/frames.js';
import { SetupSink, feedOne, linuxSynOptions, synproxyHandshake, tsOption } from './helpers/synproxy.js';
import { BIG_YOUNG, WARM_ROUNDS, measureRounds, report, runChild } from './helpers/alloc.js';

const DIR_MAC = '02:00:00:00:00:01';
const ROUTER_MAC = '02:00:00:00:00:fe';
const RS_MAC = '02:00:00:00:01:00';
const VIP = '192.168.8.200';
const LIP = '192.168.8.50';
const RS = '192.168.8.20';
const FRAMES = 1_000_000;
const CONNS = 16;
type Mode = 'nat' | 'fullnat';

function measure(mode: Mode): { perFrame: number; forwarded: number; expected: number } {
  const sink = new SetupSink();
  let now = 1_000_000.25;
  const dp = new Datapath(
    { mac: parseMac(DIR_MAC), addrs: [{ ip: parseIp('192.168.8.10'), mask: prefixMask(24) }], gateway: parseIp('192.168.8.1'), connMax: 4096 },
    sink, () => now,
  );
  const ctl = new Control(dp, { tap: 't' });
  const service = { proto: 'tcp' as const, addr: VIP, port: 80 };
  ctl.addService({ ...service, sched: 'rr', synproxy: true });
  ctl.addDest({ service, addr: RS, port: 80, fwd: mode, weight: 1 });
  if (mode === 'fullnat') ctl.addLaddr({ service, addr: LIP });
  dp.resolve(parseIp('192.168.8.1'));
  const stride = 2048;
  const base = 32;
  const one = feedOne(dp, sink, base, stride);
  one(arpFrame({ ethDst: DIR_MAC, ethSrc: RS_MAC }, { op: 2, sha: RS_MAC, spa: RS, tha: DIR_MAC, tpa: '192.168.8.10' }));
  one(arpFrame({ ethDst: DIR_MAC, ethSrc: ROUTER_MAC }, { op: 2, sha: ROUTER_MAC, spa: '192.168.8.1', tha: DIR_MAC, tpa: '192.168.8.10' }));
  const IN = { ethDst: DIR_MAC, ethSrc: ROUTER_MAC };
  const BACK = { ethDst: DIR_MAC, ethSrc: RS_MAC };
  const { SYN, ACK, PSH } = TCP_FLAGS;
  // Establish CONNS connections through the proxy's handshake.
  // Odd ones with timestamps, window scale and SACK.
  const ts = (i: number) => (i & 1) === 1;
  const hs: { cookie: number; tsval: number }[] = [];
  for (let i = 0; i < CONNS; i++) {
    hs.push(synproxyHandshake(one, IN, BACK, {
      client: `192.168.9.${i + 1}`, vip: VIP, cport: 40000 + i, cisn: 0x80000000 + i, sisn: 0xf0000000 + i, rs: RS, rport: 80,
      ...(ts(i) ? { ts: { tsc: 0x90000000 + i, sts: 0xa0000000 + i } } : {}),
    }));
  }
  assert.equal(dp.counters.c[C.synproxy_established], CONNS, 'every handshake completed');
  let translated = 0;
  for (let e = 0; e < dp.ct.max; e++) if (dp.ct.isAlive(e) && dp.ct.tsoff[e] !== 0 && dp.ct.spwin[e] !== 0) translated++;
  assert.equal(translated, CONNS / 2, 'half of them translate timestamps and windows');
  // The batch: CONNS SYNs of new clients, 8 ACKs with wrong cookies, client data and server data per connection.
  const frames: Buffer[] = [];
  for (let i = 0; i < CONNS; i++) {
    frames.push(tcpFrame(IN, { src: `192.168.10.${i + 1}`, dst: VIP, sport: 50000 + i, dport: 80, seq: i * 7919, flags: SYN, ...(ts(i) ? { options: linuxSynOptions(i, 0) } : {}) }));
  }
  for (let i = 0; i < 8; i++) frames.push(tcpFrame(IN, { src: `192.168.11.${i + 1}`, dst: VIP, sport: 50000 + i, dport: 80, seq: i, ack: 0x9abcdef0 + i, flags: ACK }));
  const ct = dp.ct;
  for (let e = 0, n = 0; e < ct.max && n < CONNS; e++) {
    if (!ct.isAlive(e)) continue;
    const i = ct.cport[e] - 40000;
    const ack = (hs[i]!.cookie + 1) >>> 0;
    // With timestamps: the client's segment carries a SACK block too.
    const sack = Buffer.from([1, 1, 5, 10, 0, 0, 0, 0, 0, 0, 0, 0]);
    sack.writeUInt32BE((ack + 100) >>> 0, 4);
    sack.writeUInt32BE((ack + 200) >>> 0, 8);
    const copts = ts(i) ? { options: Buffer.concat([tsOption(0x90000002 + i, hs[i]!.tsval), sack]) } : {};
    const sopts = ts(i) ? { options: tsOption(0xa0000001 + i, 0x90000002 + i) } : {};
    frames.push(tcpFrame(IN, { src: formatIp(ct.caddr[e]), dst: VIP, sport: ct.cport[e], dport: 80, seq: 0x80000001 + i, ack, flags: PSH | ACK, payload: Buffer.alloc(6), ...copts }));
    frames.push(tcpFrame(BACK, { src: RS, dst: formatIp(ct.laddr[e]), sport: 80, dport: ct.lport[e], seq: 0xf0000001 + i, ack: 0x80000007 + i, flags: PSH | ACK, window: 5000, payload: Buffer.alloc(6), ...sopts }));
    n++;
  }
  const count = frames.length;
  const expected = count - 8; // the refused ACKs are dropped, answered by resets within the rate limit (counted apart)
  const arena = Buffer.alloc(base + count * stride);
  const lens = new Uint32Array(count);
  frames.forEach((f, i) => {
    f.copy(arena, base + i * stride);
    lens[i] = f.length;
  });
  sink.keep = false;
  // Frames are rewritten in place (SYNs become SYN|ACKs): restore the batch each time.
  const pristine = Buffer.from(arena);
  const again = (): void => {
    now += 0.01;
    pristine.copy(arena);
    dp.processBatch(arena, stride, lens, count, base);
  };
  const rounds = Math.ceil(FRAMES / count);
  const before = sink.frames - dp.counters.c[C.tcp_rst_sent];
  const used = measureRounds(again, rounds);
  return { perFrame: used / (rounds * count), forwarded: sink.frames - dp.counters.c[C.tcp_rst_sent] - before, expected: (WARM_ROUNDS + rounds) * expected }; // warm-up included
}

if (process.argv[2] === '--child') {
  report(measure(process.argv[3] as Mode));
} else {
  for (const mode of ['nat', 'fullnat'] as const) {
    test(`synproxy ${mode}: a million frames (SYNs answered with cookies, refused ACKs, translated traffic both ways) from 192.168.x allocate less than a byte per frame`, () => {
      const r = runChild<{ perFrame: number; forwarded: number; expected: number }>(fileURLToPath(import.meta.url), [mode], BIG_YOUNG);
      assert.equal(r.forwarded, r.expected, 'every SYN answered, every segment forwarded');
      assert.equal(r.scavenges, 0, 'the window is not disturbed by a collection');
      assert.ok(r.perFrame < 1, `${r.perFrame.toFixed(2)} bytes allocated per frame`);
    });
  }
}
