// Micro-benchmark of the forwarding methods alone (no TAP, no kernel): 64 steady UDP flows in
// 64-frame batches through Datapath.processBatch, per method and frame size, with uvsd's 32 bytes
// of headroom in front of each frame. Answers "what does TUN's copy into a generated slot cost"
// (the path without headroom) against wrapping in place, next to DR and NAT.
// The batch is restored from a pristine copy before each run (rewrites are in place); that
// memcpy is measured alone and subtracted. Not a test; no pass/fail.
//
//   node dist/bench/modes-micro.js [--batches 20000]   (taskset -c 1 for steadier numbers)
import { Datapath } from '../src/datapath/pipeline.js';
import { Control } from '../src/control/model.js';
import { parseIp } from '../src/datapath/addr.js';
import { udpFrame } from '../test/helpers/frames.js';
import { benchArgs } from './lib/args.js';

const { values } = benchArgs(import.meta.url, { options: { batches: { type: 'string', default: '20000' } } });
const BATCHES = Number(values.batches);
const B = 64;
const STRIDE = 2048;

function run(fwd: 'dr' | 'nat' | 'tun', payload: number, base: number): { ns: number; copyNs: number } {
  const dp = new Datapath(
    { mac: Uint8Array.from([2, 0, 0, 0, 0, 1]), addrs: [{ ip: parseIp('192.168.8.10'), mask: 0xffffff00 }], connMax: 4096 },
    { send: (_b, _o, _l, n) => n },
  );
  const ctl = new Control(dp, { tap: 'bench' });
  const svc = { proto: 'udp' as const, addr: '192.168.8.200', port: 9 };
  ctl.addService({ ...svc, sched: 'rr' });
  ctl.addDest({ service: svc, addr: '192.168.8.20', port: 9, fwd, weight: 1 });
  dp.neigh.learn(dp.neigh.obtain(parseIp('192.168.8.20'), 0), Uint8Array.from([2, 0, 0, 0, 0, 0x20]), 0, performance.now());
  const buf = Buffer.alloc(base + STRIDE * B);
  const lens = new Uint32Array(B);
  for (let i = 0; i < B; i++) {
    const f = udpFrame({ ethDst: '02:00:00:00:00:01', ethSrc: '02:00:00:00:00:fe' },
      { src: `192.168.9.${i + 1}`, dst: '192.168.8.200', sport: 40000 + i, dport: 9, payload: Buffer.alloc(payload) });
    buf.set(f, base + i * STRIDE);
    lens[i] = f.length;
  }
  const pristine = Buffer.from(buf);
  const time = (withDp: boolean): number => {
    const t0 = process.hrtime.bigint();
    for (let k = 0; k < BATCHES; k++) {
      pristine.copy(buf);
      if (withDp) dp.processBatch(buf, STRIDE, lens, B, base);
    }
    return Number(process.hrtime.bigint() - t0) / (BATCHES * B);
  };
  time(true); // warm up
  const copyNs = time(false);
  const ns = time(true) - copyNs;
  return { ns, copyNs };
}

for (const payload of [18, 1400]) {
  for (const [fwd, base, name] of [['dr', 32, 'dr'], ['nat', 32, 'nat'], ['tun', 32, 'tun (in place)'], ['tun', 0, 'tun (copy)']] as const) {
    const r = run(fwd, payload, base);
    console.log(`${name.padEnd(14)} ${String(payload + 42).padStart(5)}-byte frames: ${r.ns.toFixed(0).padStart(5)} ns/frame (batch restore ${r.copyNs.toFixed(0)} ns/frame subtracted)`);
  }
}
