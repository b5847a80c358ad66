// How long uvsd --state-file's write after a batch holds the event loop, in process (no uvsd, no
// lab): not a test and not in npm test.
//
//   node [--expose-gc] dist/bench/statefile-slices.js [--services 10000] [--servers 4] [--runs 5] [--young-empty] [--checks]
//
// A table of --services TCP services x --servers NAT real servers, a ConfigManager and a
// StateFile wired as uvsd wires them (src/cli/uvsd.ts: the dump in slices of SliceClock's). Each
// run: a batch changes a weight of every service (as `uvsadm -R` or a reload does: every
// service's text is made again), then the state file is written (changed(), flush()). Printed per run: the pieces of the loop thread's CPU between two turns of a 1 ms
// timer while the write runs (bench/lib/held.ts cpuGaps: what forwarding would have waited) -
// the longest, how many passed 2 ms, the longest with no collection in it - and the CPU of the
// whole write, the collections during it, and the heap in use after it. --young-empty (with
// node --expose-gc): two young collections before each write, so that the batch's garbage and
// survivors are not collected inside the write's slices: the write's own cost. --checks: the
// table is a config of services with a TCP_CHECK each (not run), and each run a reload of it
// with the weights changed (every service's text made again) instead of the batch.
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PerformanceObserver } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';
import { rig } from '../test/helpers/harness.js';
import { checkedConfig } from '../test/helpers/checked-config.js';
import { ConfigManager, parseConfig } from '../src/control/config.js';
import { StateFile, type StateDump } from '../src/control/statefile.js';
import { plainSlicer } from '../src/control/slices.js';
import { native } from '../src/datapath/port.js';
import { cpuGaps } from './lib/held.js';
import { median, round } from './lib/stats.js';
import { benchArgs } from './lib/args.js';

const { values } = benchArgs(import.meta.url, {
  options: {
    services: { type: 'string', default: '10000' },
    servers: { type: 'string', default: '4' },
    runs: { type: 'string', default: '5' },
    'young-empty': { type: 'boolean', default: false },
    checks: { type: 'boolean', default: false },
  },
});
const services = Number(values.services);
const servers = Number(values.servers);
const runs = Number(values.runs);

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'uvs-sfs-'));
  const file = join(dir, 'state.yaml');
  const r = rig({ addrs: ['10.0.0.1/8'], destMax: services * servers + 8 });
  const cm = new ConfigManager(r.ctl, undefined, { drainTimeout: 0 });
  r.ctl.config = cm;
  /** The table as a config file whose servers have weight w, with health checks. */
  const config = (w: number): string => checkedConfig(services, servers, (i) => (i === 0 ? w : 1));
  if (values.checks) cm.apply(parseConfig(config(1), 'bench.yaml'), false);
  else {
    const items: unknown[] = [];
    for (let s = 0; s < services; s++) {
      const service = { proto: 'tcp', addr: `10.1.${s >> 8}.${s & 255}`, port: 80 };
      items.push({ verb: 'addService', args: { ...service, sched: 'wlc' } });
      for (let i = 0; i < servers; i++) items.push({ verb: 'addDest', args: { service, addr: `10.${2 + i}.${s >> 8}.${s & 255}`, port: 80, fwd: 'nat', weight: 1 } });
    }
    r.ctl.call('batch', { items });
  }
  // As uvsd's (src/cli/uvsd.ts).
  const dump: StateDump = async (header, sliced, out) => {
    if (!sliced) return cm.dumpInto(header, true, out);
    const { pause, done } = plainSlicer('state file');
    try {
      await cm.dumpInto(header, true, out, pause);
    } finally {
      done();
    }
  };
  const sf = new StateFile(file, dump, (e) => {
    throw new Error(e);
  });
  const gcs: Array<{ kind: number; ms: number }> = [];
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) gcs.push({ kind: (e as unknown as { detail: { kind: number } }).detail.kind, ms: e.duration });
  });
  obs.observe({ entryTypes: ['gc'] });
  console.log(`table: ${services} services x ${servers} servers`);
  const longest: number[] = [];
  for (let run = 0; run <= runs; run++) {
    // Every service changed (a weight of its first server), in one piece: not measured.
    if (values.checks) cm.apply(parseConfig(config(2 + (run % 5)), 'bench.yaml'), false);
    else {
      const edits = [];
      for (let s = 0; s < services; s++) {
        const service = { proto: 'tcp', addr: `10.1.${s >> 8}.${s & 255}`, port: 80 };
        edits.push({ verb: 'editDest', args: { service, addr: `10.2.${s >> 8}.${s & 255}`, port: 80, fwd: 'nat', weight: 2 + (run % 5) } });
      }
      r.ctl.call('batch', { items: edits });
    }
    await new Promise((res) => setTimeout(res, 200));
    if (values['young-empty']) {
      const gc = (globalThis as { gc?: (o: { type: string }) => void }).gc;
      if (gc === undefined) throw new Error('--young-empty needs node --expose-gc');
      gc({ type: 'minor' });
      gc({ type: 'minor' });
    }
    gcs.length = 0;
    const probe = cpuGaps();
    const c0 = native.threadCpuMs();
    const t0 = performance.now();
    sf.changed();
    await sf.flush();
    const cpu = native.threadCpuMs() - c0;
    const ms = performance.now() - t0;
    const g = probe.stop();
    await new Promise((res) => setTimeout(res, 50)); // the observer's entries
    const heap = getHeapStatistics().used_heap_size;
    // Run 0 warms the code up (and writes the first file): left out.
    if (run === 0) continue;
    longest.push(g.cpu);
    const scav = gcs.filter((x) => x.kind === 1);
    console.log(`run ${run}: longest piece ${round(g.cpu, 2)} ms CPU (${round(g.wall, 2)} wall), ${g.over2} over 2 ms, longest without a collection ${round(g.noGc, 2)}; `
      + `write ${round(cpu, 1)} ms CPU in ${round(ms, 1)} ms; ${scav.length} scavenges (longest ${round(Math.max(0, ...scav.map((x) => x.ms)), 2)} ms), `
      + `${gcs.length - scav.length} other collections; heap used after ${round(heap / 1e6, 1)} MB; file ${round(statSync(file).size / 1e6, 2)} MB`);
  }
  console.log(`longest piece, median of ${runs}: ${round(median(longest), 2)} ms, least ${round(Math.min(...longest), 2)} ms`);
  obs.disconnect();
  rmSync(dir, { recursive: true, force: true });
}

await main();
