// What the JIT warm-up (src/datapath/warmup.ts) saves, in-process: a datapath optimised on 64-frame
// batches of DR UDP, then one frame each of five kinds it has not seen (a TCP SYN to a NAT service,
// the server's reply, an ICMP echo, a bad IP checksum, no service), each followed by 499 steady
// batches. Prints the steady median batch time, the slowest batch after each event and the time
// above 1.5 × the median summed over the 400 batches after each, with and without the warm-up
// (alternating, a fresh process each: V8's feedback is per process), and the steady median again
// 30,000 batches after the five. Not a test; no pass/fail.
//
//   node dist/bench/warmup-micro.js [--pairs 3]      (pin it: taskset -c 1 node ...)
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { RX_HEADROOM } from '../src/datapath/pipeline.js';
import { warmUp } from '../src/datapath/warmup.js';
import { icmpFrame, tcpFrame, udpFrame, TCP_FLAGS } from '../test/helpers/frames.js';
import { B, CLI, DIR, RS_NAT, S, VIP, jitLab } from '../test/helpers/jit-lab.js';
import { benchArgs } from './lib/args.js';

const { values } = benchArgs(import.meta.url, { options: { pairs: { type: 'string', default: '3' }, child: { type: 'string' } } });

function child(warm: boolean): void {
  const l2 = { ethDst: DIR, ethSrc: CLI };
  let warmMs = 0;
  if (warm) warmMs = warmUp({ vnetHdr: 0, mtu: 1500, batch: B }, { stride: S, base: RX_HEADROOM }).ms;
  const lab = jitLab(['192.168.7.1']);
  const events: [string, Buffer][] = [
    ['NAT SYN', tcpFrame(l2, { src: '192.168.7.1', dst: VIP, sport: 20000, dport: 80, flags: TCP_FLAGS.SYN })],
    ['its reply', tcpFrame({ ethDst: DIR, ethSrc: RS_NAT }, { src: '10.8.1.20', dst: '192.168.7.1', sport: 80, dport: 20000, flags: TCP_FLAGS.SYN | TCP_FLAGS.ACK })],
    ['ICMP echo', icmpFrame(l2, { src: '192.168.9.1', dst: VIP }, { type: 8, id: 1, seq: 1, payload: new Uint8Array(8) })],
    ['bad checksum', udpFrame(l2, { src: '192.168.9.1', dst: VIP, sport: 999, dport: 80 }, { badChecksum: true })],
    ['no service', udpFrame(l2, { src: '192.168.9.1', dst: VIP, sport: 999, dport: 9999 })],
  ];
  const run = (extra: Buffer | null): number => lab.batch(extra);
  for (let r = 0; r < 30_000; r++) run(null);
  const base = Array.from({ length: 500 }, () => run(null)).sort((a, b) => a - b)[250]!;
  const out: { name: string; maxUs: number; excessMs: number }[] = [];
  for (const [name, f] of events) {
    const w = [run(f), ...Array.from({ length: 399 }, () => run(null))];
    for (let r = 0; r < 100; r++) run(null);
    out.push({ name, maxUs: Math.max(...w) / 1000, excessMs: w.reduce((s, t) => s + Math.max(0, t - 1.5 * base), 0) / 1e6 });
  }
  // Steady again, once the code has seen the new kinds (re-optimised with their feedback).
  for (let r = 0; r < 30_000; r++) run(null);
  const after = Array.from({ length: 500 }, () => run(null)).sort((a, b) => a - b)[250]!;
  console.log(JSON.stringify({ warmMs, medianUs: base / 1000, afterUs: after / 1000, events: out }));
}

if (values.child !== undefined) child(values.child === 'warm');
else {
  const self = fileURLToPath(import.meta.url);
  console.log('JIT warm-up micro-benchmark: 30,000 steady DR batches, then 5 new kinds of frame (one per batch, 400 batches watched after each)');
  for (let p = 1; p <= Number(values.pairs); p++) {
    for (const mode of p % 2 === 1 ? ['cold', 'warm'] : ['warm', 'cold']) {
      const r = spawnSync(process.execPath, [self, '--child', mode], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(r.stderr);
      const j = JSON.parse(r.stdout) as { warmMs: number; medianUs: number; afterUs: number; events: { name: string; maxUs: number; excessMs: number }[] };
      const excess = j.events.reduce((s, e) => s + e.excessMs, 0);
      console.log(`pair ${p} ${mode === 'warm' ? `warm-up (${j.warmMs.toFixed(0)} ms)` : 'no warm-up  '}: steady median ${j.medianUs.toFixed(1)} µs/batch (after the 5 kinds: ${j.afterUs.toFixed(1)}); ` +
        `${j.events.map((e) => `${e.name} max ${e.maxUs.toFixed(0)} µs`).join(', ')}; above 1.5× median after the 5: ${excess.toFixed(1)} ms`);
    }
  }
}
