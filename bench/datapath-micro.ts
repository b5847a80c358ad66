// Micro-benchmark of the datapath alone (no TAP, no kernel): 64-frame batches of 60-byte UDP
// frames to a DR service through Datapath.processBatch, for steady flows (64 source ports) and
// new flows (a fresh pseudo-random source address and port per frame). Prints ns per frame,
// frame building included (reported separately). Not a test; no pass/fail.
//
//   node dist/bench/datapath-micro.js [--rounds 3] [--batches 20000] [--conn-max 8388608] [--trace]
//   --trace: as if `uvsadm trace` were running (every new connection is recorded in the ring)
//   --persist S: the service is persistent (-p S): a template per client as well (--netmask M)
//   --ops: one-packet scheduling (-o): no connection entry is kept
//   --jit-warmup: run uvsd's start-up JIT warm-up (src/datapath/warmup.ts) first
//   (pin it for steadier numbers: taskset -c 1 node dist/bench/datapath-micro.js)
import { Datapath } from '../src/datapath/pipeline.js';
import { Control } from '../src/control/model.js';
import { parseIp } from '../src/datapath/addr.js';
import { ipv4SetChecksum } from '../src/datapath/frame.js';
import { native } from '../src/datapath/port.js';
import { warmUp } from '../src/datapath/warmup.js';
import { benchArgs } from './lib/args.js';

const { values } = benchArgs(import.meta.url, {
  options: {
    rounds: { type: 'string', default: '3' },
    batches: { type: 'string', default: '20000' },
    'conn-max': { type: 'string', default: String(1 << 23) },
    trace: { type: 'boolean', default: false },
    persist: { type: 'string', default: '0' },
    netmask: { type: 'string', default: '255.255.255.255' },
    ops: { type: 'boolean', default: false },
    'jit-warmup': { type: 'boolean', default: false },
  },
});
const ROUNDS = Number(values.rounds);
const BATCHES = Number(values.batches);
const B = 64;
const STRIDE = 2048;

if (values['jit-warmup']) warmUp({ vnetHdr: 0, mtu: 1500, batch: B }, { stride: STRIDE, base: 0 });
const mac = Uint8Array.from([2, 0, 0, 0, 0, 1]);
const dp = new Datapath(
  { mac, addrs: [{ ip: parseIp('192.168.8.10'), mask: 0xffffff00 }], connMax: Number(values['conn-max']), advise: (a) => native.prepareTable(a) },
  { send: (_b, _o, _l, n) => n },
);
const ctl = new Control(dp, { tap: 'bench' });
dp.trace.on = values.trace;
const svc = { proto: 'udp' as const, addr: '192.168.8.200', port: 9 };
ctl.addService({ ...svc, sched: 'rr', persist: Number(values.persist), netmask: values.netmask, oneShot: values.ops });
ctl.addDest({ service: svc, addr: '192.168.8.20', port: 9, fwd: 'dr', weight: 1 });
dp.neigh.learn(dp.neigh.obtain(parseIp('192.168.8.20'), 0), Uint8Array.from([2, 0, 0, 0, 0, 0x20]), 0, performance.now());

const buf = Buffer.alloc(STRIDE * B);
const lens = new Uint32Array(B).fill(60);
const VIP = parseIp('192.168.8.200');
const STEADY_SRC = parseIp('192.168.9.1');

function frame(o: number, src: number, sport: number): void {
  buf.set(mac, o);
  buf.set([2, 0, 0, 0, 0, 0x99], o + 6);
  buf.writeUInt16BE(0x0800, o + 12);
  const ip = o + 14;
  buf[ip] = 0x45;
  buf[ip + 1] = 0;
  buf.writeUInt16BE(46, ip + 2);
  buf.writeUInt32BE(0, ip + 4);
  buf[ip + 8] = 64;
  buf[ip + 9] = 17;
  buf.writeUInt32BE(src >>> 0, ip + 12);
  buf.writeUInt32BE(VIP, ip + 16);
  ipv4SetChecksum(buf, ip, 20);
  buf.writeUInt16BE(sport, ip + 20);
  buf.writeUInt16BE(9, ip + 22);
  buf.writeUInt16BE(26, ip + 24);
  buf.writeUInt16BE(0, ip + 26);
}

let seed = 12345;
function next(): number {
  seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
  return seed;
}

/** ns per frame for building (and, with process, forwarding) `BATCHES` batches. */
function round(mode: 'steady' | 'new', process: boolean): number {
  const t0 = performance.now();
  for (let b = 0; b < BATCHES; b++) {
    for (let i = 0; i < B; i++) {
      if (mode === 'new') {
        const x = next();
        frame(i * STRIDE, 0xc0a80000 | (x >>> 16), 1024 + (x % 60000));
      } else {
        frame(i * STRIDE, STEADY_SRC, 10000 + i);
      }
    }
    if (process) dp.processBatch(buf, STRIDE, lens, B);
  }
  return ((performance.now() - t0) * 1e6) / (BATCHES * B);
}

console.log(`datapath micro-benchmark: ${BATCHES} batches of ${B} frames per round, conn-max ${values['conn-max']}, tracing ${values.trace ? 'on' : 'off'}, persist ${values.persist} s${values.ops ? ', ops' : ''}${values['jit-warmup'] ? ', after the JIT warm-up' : ''}`);
for (let r = 1; r <= ROUNDS; r++) {
  const steady = round('steady', true);
  const fresh = round('new', true);
  const build = round('new', false);
  console.log(
    `round ${r}: steady ${steady.toFixed(0)} ns/frame, new flows ${fresh.toFixed(0)} ns/frame, ` +
      `frame building alone ${build.toFixed(0)} ns/frame, connections ${dp.ct.count}`,
  );
}
