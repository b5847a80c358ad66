// Micro-benchmark of the SYN proxy alone (no TAP, no kernel), in-process like modes-micro.ts:
//   syn-cookie     a batch of 64 SYNs to a --synproxy service, each answered with a cookie
//   ack-invalid    64 ACKs with wrong cookies (validated, refused)
//   nat-plain      64 established NAT connections, client data and server replies (32 + 32)
//   nat-synproxy   the same through a --synproxy NAT service (sequence translation both ways)
//   nat-syn-new    64 SYNs opening new plain NAT connections (for scale: what a SYN costs without
//                  the proxy; entries are expired between rounds, outside the timing)
// Runs alternate (ABAB...) and the median of the runs is printed per case, so a busy machine
// disturbs every case alike. Not a test; no pass/fail.
//
//   node dist/bench/synproxy-micro.js [--batches 5000] [--runs 7]
import { Datapath } from '../src/datapath/pipeline.js';
import { Control } from '../src/control/model.js';
import { parseIp, parseMac, prefixMask } from '../src/datapath/addr.js';
import { arpFrame, tcpFrame, TCP_FLAGS } from '../test/helpers/frames.js';
import { SetupSink, feedOne, synproxyHandshake } from '../test/helpers/synproxy.js';
import { median } from './lib/stats.js';
import { benchArgs } from './lib/args.js';

const { values } = benchArgs(import.meta.url, { options: { batches: { type: 'string', default: '5000' }, runs: { type: 'string', default: '7' } } });
const BATCHES = Number(values.batches);
const RUNS = Number(values.runs);
const B = 64;
const STRIDE = 2048;
const BASE = 32;
const DIR_MAC = '02:00:00:00:00:01';
const RS_MAC = '02:00:00:00:01:00';
const GW_MAC = '02:00:00:00:00:fe';
const VIP = '192.168.8.200';
const RS = '192.168.8.20';
const IN = { ethDst: DIR_MAC, ethSrc: GW_MAC };
const BACK = { ethDst: DIR_MAC, ethSrc: RS_MAC };
const { SYN, ACK, PSH } = TCP_FLAGS;

type Case = 'syn-cookie' | 'ack-invalid' | 'nat-plain' | 'nat-synproxy' | 'nat-syn-new';

function setup(c: Case): () => number {
  let now = 1_000_000;
  const sink = new SetupSink();
  const dp = new Datapath(
    { mac: parseMac(DIR_MAC), addrs: [{ ip: parseIp('192.168.8.10'), mask: prefixMask(24) }], gateway: parseIp('192.168.8.1'), connMax: 65536 },
    sink, () => now,
  );
  const ctl = new Control(dp, { tap: 'bench' });
  const service = { proto: 'tcp' as const, addr: VIP, port: 80 };
  ctl.addService({ ...service, sched: 'rr', synproxy: c !== 'nat-plain' && c !== 'nat-syn-new' });
  ctl.addDest({ service, addr: RS, port: 80, fwd: 'nat', weight: 1 });
  dp.resolve(parseIp('192.168.8.1'));
  const one = feedOne(dp, sink, BASE, STRIDE);
  one(arpFrame(BACK, { op: 2, sha: RS_MAC, spa: RS, tha: DIR_MAC, tpa: '192.168.8.10' }));
  one(arpFrame(IN, { op: 2, sha: GW_MAC, spa: '192.168.8.1', tha: DIR_MAC, tpa: '192.168.8.10' }));
  const frames: Buffer[] = [];
  if (c === 'syn-cookie' || c === 'nat-syn-new') {
    for (let i = 0; i < B; i++) frames.push(tcpFrame(IN, { src: `192.168.9.${i + 1}`, dst: VIP, sport: 40000 + i, dport: 80, seq: i * 7919, flags: SYN }));
  } else if (c === 'ack-invalid') {
    for (let i = 0; i < B; i++) frames.push(tcpFrame(IN, { src: `192.168.9.${i + 1}`, dst: VIP, sport: 40000 + i, dport: 80, seq: i, ack: 0x9abcdef0 + i, flags: ACK }));
  } else {
    for (let i = 0; i < B / 2; i++) {
      const client = `192.168.9.${i + 1}`;
      let cookie = 0;
      if (c === 'nat-synproxy') {
        cookie = synproxyHandshake(one, IN, BACK, { client, vip: VIP, cport: 40000 + i, cisn: 0x80000000 + i, sisn: 0xf0000000 + i, rs: RS, rport: 80 }).cookie;
      } else {
        one(tcpFrame(IN, { src: client, dst: VIP, sport: 40000 + i, dport: 80, seq: 0x80000000 + i, flags: SYN }));
      }
      frames.push(tcpFrame(IN, { src: client, dst: VIP, sport: 40000 + i, dport: 80, seq: 0x80000001 + i, ack: (cookie + 1) >>> 0, flags: PSH | ACK, payload: Buffer.alloc(100) }));
      frames.push(tcpFrame(BACK, { src: RS, dst: client, sport: 80, dport: 40000 + i, seq: 0xf0000001 + i, ack: 0x80000065 + i, flags: PSH | ACK, payload: Buffer.alloc(1000) }));
    }
  }
  const buf = Buffer.alloc(BASE + STRIDE * B);
  const lens = new Uint32Array(B);
  frames.forEach((f, i) => {
    f.copy(buf, BASE + i * STRIDE);
    lens[i] = f.length;
  });
  const pristine = Buffer.from(buf);
  const ct = dp.ct;
  sink.keep = false;
  // One timed run: ns per frame of processBatch alone.
  return () => {
    let dpNs = 0;
    for (let k = 0; k < BATCHES; k++) {
      now += 0.01;
      pristine.copy(buf); // rewrites are in place: restore the batch, untimed
      const t1 = process.hrtime.bigint();
      dp.processBatch(buf, STRIDE, lens, B, BASE);
      dpNs += Number(process.hrtime.bigint() - t1);
      // New plain connections: expire them again, untimed, so every round opens 64.
      if (c === 'nat-syn-new') for (let e = 0; e < ct.max && ct.count > 0; e++) if (ct.isAlive(e)) ct.expireNow(e);
    }
    return dpNs / (BATCHES * B);
  };
}

const cases: Case[] = ['syn-cookie', 'ack-invalid', 'nat-syn-new', 'nat-plain', 'nat-synproxy'];
const runners = cases.map((c) => setup(c));
for (const r of runners) r(); // warm up
const results: number[][] = cases.map(() => []);
for (let k = 0; k < RUNS; k++) runners.forEach((r, i) => results[i]!.push(r()));
for (let i = 0; i < cases.length; i++) {
  const xs = results[i]!;
  console.log(`${cases[i]!.padEnd(13)} ${median(xs).toFixed(0).padStart(5)} ns/frame (median of ${RUNS}; min ${Math.min(...xs).toFixed(0)}, max ${Math.max(...xs).toFixed(0)})`);
}
const ratio = results[4]!.map((v, k) => v / results[3]![k]!);
console.log(`nat-synproxy / nat-plain per adjacent pair: median ${median(ratio).toFixed(2)} (${ratio.map((v) => v.toFixed(2)).join(' ')})`);
