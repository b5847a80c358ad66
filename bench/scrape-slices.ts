// How long one scrape of a large health-checked table holds the event loop (docs/metrics.md,
// "Scrape cost"), in process (no uvsd, no lab): not a test and not in npm test.
//
//   node dist/bench/scrape-slices.js [--services 3000] [--servers 3] [--scrapes 5] [--no-per-dest] [--no-checks] [--no-warmup]
//
// A table of --services services x --servers real servers, each watched by one health checker
// (test/helpers/big-table.ts; --no-checks: no health checks). Each of --scrapes renderings of /metrics and of /status.json
// (/metrics as Metrics.stream() hands its blocks to the server, each scrape's written again by the
// next as the server does; /status.json through the HTTP listener on 127.0.0.1) runs beside a timer set every 1 ms; prints the
// longest gap between its turns (what forwarding would have waited), the rendering's time and,
// for /metrics, the CPU it took and its cost per 100,000 samples; for /status.json when its first
// byte reached the client, its longest slice (this process's CPU from one pause to the next) and
// the most heap in use at the end of a slice. Then, for both, the slices as a SliceClock ends
// them: the longest in this thread's CPU (collections included), how many passed 2 ms, and the
// collections (GC) that ran inside a slice: how many, their longest, and the longest slice
// that had none. Before the listener starts, the /status.json warm-up runs as at uvsd's start
// (src/metrics/warmup.ts; not with --no-warmup, as uvsd --no-jit-warmup).
import { bigHealthTable } from '../test/helpers/big-table.js';
import { createMetrics } from '../src/metrics/collectors.js';
import { startMetricsServer } from '../src/metrics/server.js';
import { loopGapProbe, median, round } from './lib/stats.js';
import { getHeapStatistics } from 'node:v8';
import { recordingSlicer, type SliceRec } from '../test/helpers/recording-slicer.js';
import { PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import { BLOCK } from '../src/metrics/bytes.js';
import { benchArgs } from './lib/args.js';
import { warmStatus } from '../src/metrics/warmup.js';

const { values } = benchArgs(import.meta.url, {
  options: {
    services: { type: 'string', default: '3000' },
    servers: { type: 'string', default: '3' },
    scrapes: { type: 'string', default: '5' },
    'no-per-dest': { type: 'boolean', default: false },
    'no-checks': { type: 'boolean', default: false },
    'no-warmup': { type: 'boolean', default: false },
  },
});

/** fn() beside a timer every 1 ms: its time, its CPU (ms; this process's), the longest loop gap. */
async function measured<T>(fn: () => Promise<T>): Promise<{ v: T; ms: number; cpuMs: number; gapMs: number }> {
  const c0 = process.cpuUsage();
  const probe = loopGapProbe();
  const t0 = performance.now();
  const v = await fn();
  const ms = performance.now() - t0;
  const c = process.cpuUsage(c0);
  return { v, ms, cpuMs: (c.user + c.system) / 1000, gapMs: probe.stop() };
}

/** Each slice of a scrape (pause to pause): when (performance.now()) and its thread CPU (ms). */
/** The slices of one scrape with the collections (gc entries) that ran inside them. */
function sliceReport(slices: SliceRec[], gcs: PerformanceEntry[]): { longest: number; over2: number; gcIn: number; gcMs: number; gcLongest: number; longestNoGc: number } {
  let longest = 0;
  let over2 = 0;
  let gcIn = 0;
  let gcMs = 0;
  let gcLongest = 0;
  let longestNoGc = 0;
  for (const s of slices) {
    longest = Math.max(longest, s.cpu);
    if (s.cpu > 2) over2++;
    const inside = gcs.filter((g) => g.startTime >= s.t0 && g.startTime < s.t1);
    for (const g of inside) {
      gcMs += g.duration;
      gcLongest = Math.max(gcLongest, g.duration);
    }
    gcIn += inside.length;
    if (inside.length === 0) longestNoGc = Math.max(longestNoGc, s.cpu);
  }
  return { longest, over2, gcIn, gcMs, gcLongest, longestNoGc };
}

const line = (xs: number[]) => `median ${round(median(xs), 1)}, max ${round(Math.max(...xs), 1)}`;

async function main(): Promise<void> {
  const services = Number(values.services);
  const servers = Number(values.servers);
  const perDest = !values['no-per-dest'];
  const table = bigHealthTable(services, servers);
  const r = table.r;
  const health = values['no-checks'] ? undefined : table.health;
  const rec = new Map<string, SliceRec[]>();
  const gcs: PerformanceEntry[] = [];
  const obs = new PerformanceObserver((l) => gcs.push(...l.getEntries()));
  obs.observe({ entryTypes: ['gc'] });
  const reports: Record<string, ReturnType<typeof sliceReport>[]> = { metrics: [], 'status.json': [] };
  /** The slices of the scrape just made (named `what`) reported, once the collections' entries have come. */
  const reported = async (what: string): Promise<void> => {
    await new Promise((res) => setTimeout(res, 10));
    reports[what]!.push(sliceReport(rec.get(what) ?? [], gcs));
    rec.delete(what);
    gcs.length = 0;
  };
  const slicer = recordingSlicer(rec);
  const m = createMetrics(r.dp, { health, perDest, slicer });
  m.census.full();
  const text = await m.text(); // warm up (and the samples counted)
  rec.clear();
  gcs.length = 0;
  const samples = text.split('\n').filter((l) => l !== '' && !l.startsWith('#')).length;
  // stream(): the blocks as the metrics server sends them (text() joins and decodes the whole body at once after the rendering).
  const runs = [];
  // The blocks of one scrape written again by the next, as the metrics server does once an answer went out whole.
  const spare: Buffer[] = [];
  for (let i = 0; i < Number(values.scrapes); i++) {
    runs.push(await measured(async () => {
      let n = 0;
      const sent: Buffer[] = [];
      await m.stream((b) => {
        n += b.length;
        sent.push(b);
      }, () => spare.pop());
      for (const b of sent) if (b.byteOffset === 0 && b.buffer.byteLength === BLOCK) spare.push(Buffer.from(b.buffer, 0, BLOCK));
      return n;
    }));
    await reported('metrics');
  }
  const cpu = runs.map((x) => x.cpuMs);
  console.log(`table: ${services} services x ${servers} servers, ${health ? 'each checked' : 'no health checks'}${perDest ? '' : '; --no-metrics-per-dest'}`);
  console.log(`/metrics: ${samples} samples, ${round(runs[0]!.v / 1e6, 2)} MB; longest loop gap ms ${line(runs.map((x) => x.gapMs))}; ` +
    `time ms ${line(runs.map((x) => x.ms))}; cpu ms ${line(cpu)}; cpu ms per 100k samples ${round(median(cpu) / samples * 1e5, 1)}`);

  // /status.json's slices as plainSlicer ends them, each's process CPU and the heap at its end recorded.
  let slice = { cpuMs: 0, heapMB: 0 };
  let cpu0 = process.cpuUsage();
  const statusSlicer = recordingSlicer(rec, (what, ended) => {
    if (what !== 'status.json') return;
    if (ended) {
      const u = process.cpuUsage(cpu0);
      slice.cpuMs = Math.max(slice.cpuMs, (u.user + u.system) / 1000);
      slice.heapMB = Math.max(slice.heapMB, getHeapStatistics().used_heap_size / 1e6);
    } else cpu0 = process.cpuUsage();
  });
  if (!values['no-warmup']) {
    const w = await warmStatus();
    console.log(`/status.json warm-up: ${round(w.ms, 1)} ms, ${round(w.cpuMs, 1)} ms of CPU`);
  }
  const srv = await startMetricsServer(r.dp, { host: '127.0.0.1', port: 0 }, { process: false, health, perDest, slicer: statusSlicer });
  try {
    const st = [];
    for (let i = 0; i < Number(values.scrapes); i++) {
      slice = { cpuMs: 0, heapMB: 0 };
      const m = await measured(async () => {
        const t0 = performance.now();
        const res = await fetch(`http://${srv.address}/status.json`);
        let n = 0;
        let first = 0;
        for await (const b of res.body!) {
          if (n === 0) first = performance.now() - t0;
          n += (b as Uint8Array).length;
        }
        return { n, first };
      });
      st.push({ ...m, slice });
      await reported('status.json');
    }
    console.log(`/status.json: ${round(st[0]!.v.n / 1e6, 2)} MB; longest loop gap ms ${line(st.map((x) => x.gapMs))}; time ms (with the client's read) ${line(st.map((x) => x.ms))}; ` +
      `first byte ms ${line(st.map((x) => x.v.first))}; longest slice cpu ms ${line(st.map((x) => x.slice.cpuMs))}; heap MB at a slice's end ${line(st.map((x) => x.slice.heapMB))}`);
  } finally {
    srv.close();
    obs.disconnect();
  }
  for (const [what, rs] of Object.entries(reports)) {
    console.log(`${what} slices (thread CPU, each scrape): longest ms ${rs.map((x) => round(x.longest, 1)).join(', ')}; above 2 ms ${rs.map((x) => x.over2).join(', ')}; ` +
      `collections inside a slice ${rs.map((x) => x.gcIn).join(', ')} (${rs.map((x) => round(x.gcMs, 1)).join(', ')} ms, the longest ${rs.map((x) => round(x.gcLongest, 1)).join(', ')}); ` +
      `longest slice with no collection ms ${rs.map((x) => round(x.longestNoGc, 1)).join(', ')}`);
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
