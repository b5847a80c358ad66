// Micro-benchmarks of the datapath's parts, each alone (no TAP, no kernel): frame classification,
// the IPv4 header checksum check, the RFC 1624 incremental checksum update and the NAT rewrite
// that uses it, and the connection table's lookup (hit, miss) and insert at a cache-sized and a
// memory-sized table. The whole path per frame is bench/datapath-micro.ts, the schedulers are
// bench/sched-micro.ts; `npm run bench:micro` runs all three. Best of --rounds, in ns per
// operation. Not a test; no pass/fail.
//
//   node dist/bench/parts-micro.js [--rounds 3] [--only parse,csum,rewrite,table]
//   (pin it for steadier numbers: taskset -c 1 node dist/bench/parts-micro.js)
import { Datapath } from '../src/datapath/pipeline.js';
import { ConnTable } from '../src/datapath/conntable.js';
import { parseIp } from '../src/datapath/addr.js';
import { csumReplace16, csumReplace32, ETH_HLEN, ipv4HeaderValid } from '../src/datapath/frame.js';
import { setDst } from '../src/proto/rewrite.js';
import { udpFrame, tcpFrame } from '../test/helpers/frames.js';
import { benchArgs } from './lib/args.js';

const { values } = benchArgs(import.meta.url, {
  options: {
    rounds: { type: 'string', default: '3' },
    only: { type: 'string', default: 'parse,csum,rewrite,table' },
  },
});
const ROUNDS = Number(values.rounds);
const ONLY = new Set(values.only.split(','));
let sink = 0;

/** ns per call of fn(i) for i in [0, iters), best of ROUNDS (the first round also warms the JIT). */
function time(iters: number, fn: (i: number) => number): number {
  let best = Infinity;
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = process.hrtime.bigint();
    let acc = 0;
    for (let i = 0; i < iters; i++) acc ^= fn(i);
    const ns = Number(process.hrtime.bigint() - t0) / iters;
    sink ^= acc;
    if (ns < best) best = ns;
  }
  return best;
}

function row(name: string, ns: number, note = ''): void {
  console.log(`| ${name} | ${ns.toFixed(ns < 100 ? 1 : 0)} | ${note} |`);
}

let seed = 0x2545f491;
function rnd(): number {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return seed >>> 0;
}

const L2 = { ethDst: '02:00:00:00:00:01', ethSrc: '02:00:00:00:00:fe' };
console.log(`# parts-micro ${new Date().toISOString()}  node ${process.version}`);
console.log('| operation | ns/op | what |');
console.log('|---|---:|---|');

if (ONLY.has('parse')) {
  // A 64-frame batch of UDP to an address uvsd does not own and no connection knows: each frame is
  // classified all the way (MAC, ethertype, IPv4 checks with the header checksum, L4 length, one
  // connection lookup that misses) and dropped as ip_not_local. No service, no forwarding.
  const dp = new Datapath({ mac: Uint8Array.from([2, 0, 0, 0, 0, 1]), addrs: [{ ip: parseIp('192.168.8.10'), mask: 0xffffff00 }], connMax: 1 << 16 }, { send: (_b, _o, _l, n) => n });
  const B = 64;
  const STRIDE = 2048;
  const buf = Buffer.alloc(B * STRIDE);
  const lens = new Uint32Array(B);
  for (let i = 0; i < B; i++) {
    const f = udpFrame(L2, { src: `192.168.9.${i + 1}`, dst: '192.168.7.200', sport: 40000 + i, dport: 9, payload: Buffer.alloc(18) });
    buf.set(f, i * STRIDE);
    lens[i] = f.length;
  }
  const ns = time(20_000, () => {
    dp.processBatch(buf, STRIDE, lens, B);
    return 0;
  }) / B;
  row('classify a UDP frame and drop it (processBatch, 64 per batch)', ns, 'parse + header checksum + a lookup miss in an empty table');
}

if (ONLY.has('csum')) {
  const f = tcpFrame(L2, { src: '192.168.9.1', dst: '192.168.8.200', sport: 40000, dport: 80, flags: 0x10, payload: Buffer.alloc(0) });
  const ip = ETH_HLEN;
  row('IPv4 header checksum check (20 bytes)', time(20_000_000, () => (ipv4HeaderValid(f, ip, 20) ? 1 : 0)));
  row('incremental checksum, 16-bit field (csumReplace16)', time(20_000_000, (i) => csumReplace16(0x1234 ^ (i & 0xff), i & 0xffff, 80)));
  row('incremental checksum, 32-bit address (csumReplace32)', time(20_000_000, (i) => csumReplace32(0x1234 ^ (i & 0xff), (i * 2654435761) | 0, 0x0a080114)));
}

if (ONLY.has('rewrite')) {
  for (const [name, frame] of [
    ['UDP', udpFrame(L2, { src: '192.168.9.1', dst: '192.168.8.200', sport: 40000, dport: 53, payload: Buffer.alloc(18) })],
    ['TCP', tcpFrame(L2, { src: '192.168.9.1', dst: '192.168.8.200', sport: 40000, dport: 80, flags: 0x10, payload: Buffer.alloc(0) })],
  ] as const) {
    const l4 = ETH_HLEN + 20;
    const proto = name === 'TCP' ? 6 : 17;
    const a = parseIp('10.8.1.20') | 0;
    const b = parseIp('10.8.1.30') | 0;
    row(`NAT rewrite of a ${name} destination (address, port, IP + L4 checksums)`, time(10_000_000, (i) => {
      setDst(frame, ETH_HLEN, l4, proto, i & 1 ? a : b, i & 1 ? 80 : 8080);
      return 0;
    }));
  }
}

if (ONLY.has('table')) {
  for (const max of [1 << 16, 1 << 22]) {
    const n = Math.floor(max * 0.75);
    const caddr = new Int32Array(n);
    const cport = new Uint16Array(n);
    for (let i = 0; i < n; i++) {
      caddr[i] = (0xc0a80000 | (rnd() & 0xffff)) | 0;
      cport[i] = 1024 + (rnd() % 64000);
    }
    const vip = parseIp('192.168.8.200') | 0;
    const rs = parseIp('192.168.8.20') | 0;
    let insertNs = Infinity;
    let ct: ConnTable | null = null;
    for (let r = 0; r < ROUNDS; r++) {
      ct = new ConnTable(max, 0, 12345);
      const t = ct;
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < n; i++) t.insert(17, caddr[i]!, cport[i]!, vip, 53, rs, 53, caddr[i]!, cport[i]!, 1200, false);
      insertNs = Math.min(insertNs, Number(process.hrtime.bigint() - t0) / n);
    }
    const t = ct!;
    // Random order, so the table's arrays are not walked in insertion order.
    const order = new Uint32Array(n);
    for (let i = 0; i < n; i++) order[i] = rnd() % n;
    const label = `${max.toLocaleString('en-US')} buckets, ${n.toLocaleString('en-US')} entries`;
    row(`table insert (${label}, DR: IN tuple only)`, insertNs, 'from empty to 75% full, into a new table each round');
    row(`table lookup hit (${label})`, time(n, (i) => t.lookup(17, caddr[order[i]!]!, cport[order[i]!]!, vip, 53)), 'random order');
    row(`table lookup miss (${label})`, time(n, (i) => t.lookup(17, caddr[order[i]!]! ^ 0x5a5a, cport[order[i]!]!, vip, 54)), 'same bucket load, no match');
  }
}
if (sink === 0x7fffffff) console.log('');
