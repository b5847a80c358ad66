// Micro-benchmark of the schedulers alone: ns per schedule() for every scheduler at 10, 100 and
// 1000 destinations (weights 1..10, all available), over a pool of 4096 flows (random clients,
// 1024 destination addresses so lblc/lblcr hit their caches). Each pick is bound as an inactive
// connection, as the datapath does, so the least-connection family sees changing counts. Also
// counts garbage collections during the timed loop (0 = schedule() did not allocate enough to
// trigger one). nq gets a second row, "nq (none idle)": every destination first holds one active
// connection, so nq always takes its sed stage (otherwise it finds an idle one at once).
// Not a test; no pass/fail.
//
//   node dist/bench/sched-micro.js [--rounds 3] [--sizes 10,100,1000] [--only mh,sh]
import { PerformanceObserver } from 'node:perf_hooks';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { DestTable } from '../src/datapath/dests.js';
import { getScheduler, schedulerNames, type Flow, type SchedService } from '../src/sched/index.js';
import { benchArgs } from './lib/args.js';

const { values } = benchArgs(import.meta.url, {
  options: {
    rounds: { type: 'string', default: '3' },
    sizes: { type: 'string', default: '10,100,1000' },
    only: { type: 'string', default: '' },
  },
});
const ROUNDS = Number(values.rounds);
const SIZES = values.sizes.split(',').map(Number);
const NAMES = values.only ? values.only.split(',') : schedulerNames();

let gcs = 0;
new PerformanceObserver((list) => {
  gcs += list.getEntries().length;
}).observe({ entryTypes: ['gc'] });

function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>>= 0);
  };
}

const POOL = 4096;
const next = rng(42);
const flows: Flow[] = [];
for (let i = 0; i < POOL; i++) {
  flows.push({ proto: 6, saddr: next(), sport: 1024 + (next() % 60000), daddr: (0xcb007100 + (next() % 1024)) >>> 0, dport: 80 });
}

function setup(name: string, n: number): { svc: SchedService; dt: DestTable } {
  const s = getScheduler(name)!;
  const dt = new DestTable(n + 1);
  const svc: SchedService = { dests: [], schedState: undefined, schedFlags: 0 };
  s.init?.(svc, dt);
  const w = rng(7);
  for (let d = 0; d < n; d++) {
    dt.set(d, (0xc0a80814 + d) >>> 0, 80, 0, 1 + (w() % 10));
    svc.dests.push(d);
  }
  s.update?.(svc, dt);
  s.tick?.(svc, dt, 1000);
  return { svc, dt };
}

function run(name: string, n: number, iters: number, busy: boolean): { ns: number; gc: number } {
  const s = getScheduler(name)!;
  const { svc, dt } = setup(name, n);
  if (busy) {
    for (const d of svc.dests) {
      dt.bind(d);
      dt.activate(d, true);
    }
  }
  // Each pick is bound through DestTable.bind, as the datapath does (it also tells lc/wlc/sed's
  // tournament trees about the change, so their upkeep is inside the timed loop).
  // warm up (the JIT tiers up over the first ~100k calls), then time
  for (let i = 0; i < 200_000; i++) {
    const d = s.schedule(svc, dt, flows[i & (POOL - 1)]);
    if (d >= 0) dt.bind(d);
  }
  const g0 = gcs;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < iters; i++) {
    const d = s.schedule(svc, dt, flows[i & (POOL - 1)]);
    if (d >= 0) dt.bind(d);
  }
  const t1 = process.hrtime.bigint();
  return { ns: Number(t1 - t0) / iters, gc: gcs - g0 };
}

const cpu = /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? 'unknown';
console.log(`# sched-micro ${new Date().toISOString()}  node ${process.version}  nproc ${availableParallelism()}  cpu ${cpu}`);
console.log(`| scheduler | ${SIZES.map((n) => `${n} dests (ns)`).join(' | ')} | GCs in timed loops |`);
console.log(`|---|${SIZES.map(() => '---:').join('|')}|---:|`);
const rows = NAMES.flatMap((name) => (name === 'nq' ? [{ name, busy: false }, { name, busy: true }] : [{ name, busy: false }]));
for (const { name, busy } of rows) {
  const cells: string[] = [];
  let gc = 0;
  for (const n of SIZES) {
    const iters = n <= 100 ? 2_000_000 : 400_000;
    let best = Infinity;
    for (let r = 0; r < ROUNDS; r++) {
      const res = run(name, n, iters, busy);
      best = Math.min(best, res.ns);
      gc += res.gc;
    }
    cells.push(best.toFixed(best < 100 ? 1 : 0));
  }
  console.log(`| ${busy ? `${name} (none idle)` : name} | ${cells.join(' | ')} | ${gc} |`);
}
