// How late this host wakes a thread that nothing in the guest can keep waiting: run it at the
// highest real-time priority on one CPU, it sleeps 1 ms at a time (a futex wait, no event loop)
// and records each wake-up later than --over-ms. On an idle guest only the hypervisor (a vCPU
// not running, not always reported as steal) or a kernel path that cannot be preempted can make
// it late; beside a benchmark it shows the holes every process on that CPU fell into, uvsd's
// control round trip among them (docs/performance.md, the 2026-12-07 23:40 section).
//
//   node dist/bench/wake-late.js [--seconds 60] [--sleep-ms 1] [--over-ms 4]
//
// Run it as `chrt -f 99 taskset -c 1 node dist/bench/wake-late.js ...` (one per CPU to watch).
// Prints one line per late wake-up (UTC time, ms late) and a summary line as JSON.
import { readFileSync } from 'node:fs';
import { benchArgs, usageError } from './lib/args.js';

const { values } = benchArgs(import.meta.url, {
  options: {
    seconds: { type: 'string', default: '60' },
    'sleep-ms': { type: 'string', default: '1' },
    'over-ms': { type: 'string', default: '4' },
  },
});

function bounded(v: string, lo: number, hi: number, name: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n < lo || n > hi) usageError(import.meta.url, `--${name} ${v}: must be a number in ${lo}..${hi}`);
  return n;
}

const seconds = bounded(values.seconds, 1, 3600, 'seconds');
const sleepMs = bounded(values['sleep-ms'], 0.1, 1000, 'sleep-ms');
const overMs = bounded(values['over-ms'], 0.1, 10_000, 'over-ms');

// /proc/self/stat: field 39 the CPU last run on, field 41 the policy (1 SCHED_FIFO, 2 SCHED_RR).
const stat = readFileSync('/proc/self/stat', 'utf8');
const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
const policy = Number(f[38]);
if (policy !== 1 && policy !== 2) console.error('wake-late: not at a real-time priority (run it under chrt -f 99): a late wake-up may be the guest\'s own scheduling');

const word = new Int32Array(new SharedArrayBuffer(4));
const end = performance.now() + seconds * 1000;
let wakes = 0;
let late = 0;
let worst = 0;
for (;;) {
  const t0 = performance.now();
  if (t0 >= end) break;
  Atomics.wait(word, 0, 0, sleepMs);
  const over = performance.now() - t0 - sleepMs;
  wakes++;
  if (over > worst) worst = over;
  if (over > overMs) {
    late++;
    console.log(`${new Date().toISOString()} late ${over.toFixed(1)} ms`);
  }
}
console.log(JSON.stringify({ cpu: Number(f[36]), realtime: policy === 1 || policy === 2, seconds, sleepMs, overMs, wakes, late, worstMs: Math.round(worst * 10) / 10 }));
