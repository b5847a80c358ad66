// How long one scrape of a large health-checked table holds the event loop (docs/metrics.md,
// "Scrape cost"), in process (no uvsd, no lab): not a test and not in npm test.
//
//   node dist/bench/scrape-slices.js [--services 3000] [--servers 3] [--scrapes 5] [--no-per-dest] [--no-checks]
//
// A table of --services services x --servers real servers, each watched by one health checker
// (test/helpers/big-table.ts; --no-checks: no health checks). Each of --scrapes renderings of /metrics and of /status.json
// (/metrics as Metrics.stream() hands its blocks to the server; /status.json through the HTTP
// listener on 127.0.0.1) runs beside a timer set every 1 ms; prints the
// longest gap between its turns (what forwarding would have waited), the rendering's time and,
// for /metrics, the CPU it took and its cost per 100,000 samples.
import { parseArgs } from 'node:util';
import { bigHealthTable } from '../test/helpers/big-table.js';
import { createMetrics } from '../src/metrics/collectors.js';
import { startMetricsServer } from '../src/metrics/server.js';
import { loopGapProbe, median, round } from './lib/stats.js';

const { values } = parseArgs({
  options: {
    services: { type: 'string', default: '3000' },
    servers: { type: 'string', default: '3' },
    scrapes: { type: 'string', default: '5' },
    'no-per-dest': { type: 'boolean', default: false },
    'no-checks': { type: 'boolean', default: false },
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

const line = (xs: number[]) => `median ${round(median(xs), 1)}, max ${round(Math.max(...xs), 1)}`;

async function main(): Promise<void> {
  const services = Number(values.services);
  const servers = Number(values.servers);
  const perDest = !values['no-per-dest'];
  const table = bigHealthTable(services, servers);
  const r = table.r;
  const health = values['no-checks'] ? undefined : table.health;
  const m = createMetrics(r.dp, { health, perDest });
  m.census.full();
  const text = await m.text(); // warm up (and the samples counted)
  const samples = text.split('\n').filter((l) => l !== '' && !l.startsWith('#')).length;
  // stream(): the blocks as the metrics server sends them (text() joins and decodes the whole body at once after the rendering).
  const runs = [];
  for (let i = 0; i < Number(values.scrapes); i++) {
    runs.push(await measured(async () => {
      let n = 0;
      await m.stream((b) => (n += b.length));
      return n;
    }));
  }
  const cpu = runs.map((x) => x.cpuMs);
  console.log(`table: ${services} services x ${servers} servers, ${health ? 'each checked' : 'no health checks'}${perDest ? '' : '; --no-metrics-per-dest'}`);
  console.log(`/metrics: ${samples} samples, ${round(runs[0]!.v / 1e6, 2)} MB; longest loop gap ms ${line(runs.map((x) => x.gapMs))}; ` +
    `time ms ${line(runs.map((x) => x.ms))}; cpu ms ${line(cpu)}; cpu ms per 100k samples ${round(median(cpu) / samples * 1e5, 1)}`);

  const srv = await startMetricsServer(r.dp, { host: '127.0.0.1', port: 0 }, { process: false, health, perDest });
  try {
    const st = [];
    for (let i = 0; i < Number(values.scrapes); i++) {
      st.push(await measured(async () => (await (await fetch(`http://${srv.address}/status.json`)).arrayBuffer()).byteLength));
    }
    console.log(`/status.json: ${round(st[0]!.v / 1e6, 2)} MB; longest loop gap ms ${line(st.map((x) => x.gapMs))}; time ms (with the client's read) ${line(st.map((x) => x.ms))}`);
  } finally {
    srv.close();
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
