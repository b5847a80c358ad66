// The first /status.json of a large health-checked table and the ones after it, in process (no
// uvsd, no listener, no client): what the writer's slices hold and the scavenges during each
// (docs/performance.md, 2026-12-06 08:00). Not a test and not in npm test.
//
//   node dist/bench/status-scrapes.js [--services 10000] [--servers 4] [--scrapes 24] [--every 2500] [--no-warmup] [--no-metrics-warmup] [--path /metrics] [--manager] [--alloc]
//
// A table of --services services x --servers real servers, each watched by one health checker
// (test/helpers/big-table.ts; with --manager a HealthManager's, test/helpers/manager-table.ts:
// sorry servers in and out of the table, addresses past 2^30 as int32, counters past 2^32). The /status.json warm-up first, as at uvsd's start
// (src/metrics/warmup.ts; not with --no-warmup); then two full collections, and --scrapes
// /status.json written by writeStatus (into one reused 256 KB block, as the listener hands its
// blocks back) every --every ms, with a SliceClock's pause and the listener's asker. For each:
// this thread's CPU, its slices (pause to pause: how many, over 2 ms of thread CPU, the longest,
// and the longest no collection fell in) and the scavenges while it ran (count, wall ms, the
// longest; a scavenge V8 runs as a task between two slices holds the loop as much as one inside);
// for the first also the heap it left in use (after two full collections), which is what the
// writer keeps. Then the totals over the scrapes after the first. With --path /metrics, the /metrics
// warm-up too (src/metrics/warmup.ts warmMetrics; with --manager through a scratch HealthManager, as
// uvsd with health checks; not with --no-warmup or --no-metrics-warmup), and the same for
// /metrics scrapes (Metrics.stream into the reused block, as the listener does; the health checks'
// durations new before each, BigTable.tick): the first one's kept heap is the label texts a scrape keeps.
// With --alloc, each one's JS heap allocated (V8's sampling heap profiler every 1 KiB, collected
// objects included) too, and the median over those after the first: the profiler's own work is in
// the CPU then (run without it for CPU).
import { setFlagsFromString, getHeapStatistics } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { PerformanceObserver, constants, type PerformanceEntry } from 'node:perf_hooks';
import { bigHealthTable } from '../test/helpers/big-table.js';
import { recordingSlicer, type SliceRec } from '../test/helpers/recording-slicer.js';
import { writeStatus } from '../src/metrics/status.js';
import { ByteOut, BLOCK } from '../src/metrics/bytes.js';
import { RateEstimator } from '../src/metrics/rates.js';
import { asker, createMetrics } from '../src/metrics/collectors.js';
import { warmMetrics, warmStatus } from '../src/metrics/warmup.js';
import { scratchHealth } from '../src/health/scratch.js';
import { native } from '../src/datapath/port.js';
import { median, round } from './lib/stats.js';
import { benchArgs } from './lib/args.js';
import { managerTable } from '../test/helpers/manager-table.js';
import { allocated } from '../test/helpers/alloc.js';

const { values } = benchArgs(import.meta.url, {
  options: {
    services: { type: 'string', default: '10000' },
    servers: { type: 'string', default: '4' },
    scrapes: { type: 'string', default: '24' },
    every: { type: 'string', default: '2500' },
    'no-warmup': { type: 'boolean', default: false },
    'no-metrics-warmup': { type: 'boolean', default: false },
    path: { type: 'string', default: '/status.json' },
    manager: { type: 'boolean', default: false },
    alloc: { type: 'boolean', default: false },
  },
});
if (values.path !== '/status.json' && values.path !== '/metrics') throw new Error('--path: /status.json or /metrics');
const WHAT = values.path === '/metrics' ? 'metrics' : 'status.json';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

interface Report { cpuMs: number; slices: number; over2: number; over2NoGc: number; longest: number; longestNoGc: number; scavenges: number; scavengeMs: number; scavengeLongest: number; otherGcs: number; allocMB: number }

function report(slices: SliceRec[], gcs: PerformanceEntry[], cpuMs: number, allocMB: number): Report {
  const minor = gcs.filter((g) => (g as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MINOR);
  const touches = (s: SliceRec) => gcs.some((g) => g.startTime + g.duration >= s.t0 && g.startTime < s.t1);
  const cpu = slices.map((s) => s.cpu);
  return {
    cpuMs, slices: slices.length, over2: cpu.filter((x) => x > 2).length, over2NoGc: slices.filter((s) => s.cpu > 2 && !touches(s)).length, longest: Math.max(0, ...cpu),
    longestNoGc: Math.max(0, ...slices.filter((s) => !touches(s)).map((s) => s.cpu)),
    scavenges: minor.length, scavengeMs: minor.reduce((n, g) => n + g.duration, 0), scavengeLongest: Math.max(0, ...minor.map((g) => g.duration)),
    otherGcs: gcs.length - minor.length, allocMB,
  };
}

const line = (r: Report): string => `cpu ${round(r.cpuMs, 1)} ms, ${r.slices} slices, over 2 ms ${r.over2} (${r.over2NoGc} with no collection in it), longest ${round(r.longest, 2)} (with no collection in it ${round(r.longestNoGc, 2)}); ` +
  `scavenges ${r.scavenges} (${round(r.scavengeMs, 1)} ms, the longest ${round(r.scavengeLongest, 1)}), other collections ${r.otherGcs}` +
  (Number.isNaN(r.allocMB) ? '' : `; allocated ${round(r.allocMB, 3)} MB`);

async function main(): Promise<void> {
  const services = Number(values.services);
  const servers = Number(values.servers);
  const { r, health, tick, stop } = values.manager
    ? await managerTable(services, servers).then(({ r, mgr }) => ({ r, health: mgr, tick: () => {}, stop: () => mgr.stop() }))
    : { ...bigHealthTable(services, servers), stop: () => Promise.resolve() };
  const rates = new RateEstimator(r.dp);
  const rec = new Map<string, SliceRec[]>();
  const slicer = recordingSlicer(rec);
  // Made before the warm-ups, as uvsd makes its listener's.
  const metrics = WHAT === 'metrics' ? createMetrics(r.dp, { process: false, health, slicer }) : undefined;
  if (!values['no-warmup']) await warmStatus();
  const metricsWarm = WHAT === 'metrics' && !values['no-warmup'] && !values['no-metrics-warmup'];
  const mw = metricsWarm ? await warmMetrics(values.manager ? scratchHealth : undefined) : undefined;
  const gcs: PerformanceEntry[] = [];
  const obs = new PerformanceObserver((l) => gcs.push(...l.getEntries()));
  obs.observe({ entryTypes: ['gc'] });
  const block = Buffer.allocUnsafe(BLOCK);
  const settle = (ms: number) => new Promise((res) => setTimeout(res, ms));
  let bytes = 0;
  /** One /status.json (or /metrics): its report, the collections' entries come (10 ms after). */
  const scrape = async (): Promise<Report> => {
    tick();
    gcs.length = 0;
    const c0 = native.threadCpuMs();
    bytes = 0;
    let heap = NaN;
    const measured = (f: () => Promise<void>): Promise<void> => (values.alloc ? allocated(f).then((x) => void (heap = x)) : f());
    if (metrics !== undefined) await measured(() => metrics.stream((b) => (bytes += b.length), () => block));
    else {
      const { pause, done } = slicer('status.json');
      try {
        await measured(() => writeStatus(r.dp, rates, { health }, new ByteOut((b) => (bytes += b.length), () => block), pause, asker()));
      } finally {
        done();
      }
    }
    const cpu = native.threadCpuMs() - c0;
    await settle(10);
    const rep = report(rec.get(WHAT) ?? [], gcs, cpu, heap / 1e6);
    rec.delete(WHAT);
    return rep;
  };
  const held = (): number => {
    gc();
    gc();
    return getHeapStatistics().used_heap_size;
  };
  console.log(`table: ${services} services x ${servers} servers, each checked${values.manager ? ' by a HealthManager' : ''}; /status.json warm-up ${values['no-warmup'] ? 'not run' : 'run'}; ` +
    `/metrics warm-up ${mw === undefined ? 'not run' : `run (${round(mw.cpuMs, 1)} ms of CPU, ${round(mw.ms, 1)} ms wall)`}`);
  const h0 = held();
  await settle(10);
  const first = await scrape();
  const kept = held() - h0;
  console.log(`first ${values.path} (${round(bytes / 1e6, 2)} MB): ${line(first)}; heap kept after it ${round(kept / 1024, 0)} KiB`);
  const rest: Report[] = [];
  for (let i = 1; i < Number(values.scrapes); i++) {
    await settle(Number(values.every));
    rest.push(await scrape());
    console.log(`#${i}: ${line(rest[rest.length - 1]!)}`);
  }
  obs.disconnect();
  await stop(); // the HealthManager's timers
  if (rest.length === 0) return;
  const sum = (k: keyof Report): number => rest.reduce((n, x) => n + x[k], 0);
  console.log(`the ${rest.length} after the first: cpu ms median ${round(median(rest.map((x) => x.cpuMs)), 1)}; slices over 2 ms ${sum('over2')}, the longest ${round(Math.max(...rest.map((x) => x.longest)), 2)} ` +
    `(with no collection in it ${round(Math.max(...rest.map((x) => x.longestNoGc)), 2)}); scavenges ${sum('scavenges')} (${round(sum('scavengeMs'), 1)} ms, the longest ${round(Math.max(...rest.map((x) => x.scavengeLongest)), 1)}), other collections ${sum('otherGcs')}` +
    (values.alloc ? `; allocated MB median ${round(median(rest.map((x) => x.allocMB)), 3)}` : ''));
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
