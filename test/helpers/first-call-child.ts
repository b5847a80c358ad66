// A fresh process's first calls (test/unit-warmup-control.test.ts): `verbs cold|warm` builds a
// table of 200 services x 4 in one batch (as uvsd's start does), runs the control warm-up
// (src/control/warmup.ts) with `warm`, then calls each table verb once and prints each call's CPU
// of this thread; `reader cold|warm` runs the config reader thread's warm-up with `warm`, then
// reads a config file in it as a reload does and prints the longest piece of this thread's CPU
// between two pauses; `status cold|warm` serves a table of 300 services x 4 checked servers on a
// metrics listener, runs the /status.json warm-up (src/metrics/warmup.ts) with `warm`, then asks
// for /status.json (gzip, as a browser does) and prints its first slice's CPU and its longest
// slice's with no collection in it (as a SliceClock ends them, this thread's CPU). One JSON line on stdout.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { native } from '../../src/datapath/port.js';
import type { SliceRec } from './recording-slicer.js';

const [what, mode] = process.argv.slice(2);
const warm = mode === 'warm';
const svc = (i: number) => ({ proto: 'tcp', addr: `10.1.${i >> 8}.${i & 255}`, port: 80 });

if (what === 'verbs') {
  const { rig } = await import('./harness.js');
  const r = rig({ addrs: ['10.0.0.1/8'], destMax: 1024, connMax: 1024 });
  const items: unknown[] = [];
  for (let i = 0; i < 200; i++) {
    items.push({ verb: 'addService', args: { ...svc(i), sched: 'wlc' } });
    for (let j = 0; j < 4; j++) items.push({ verb: 'addDest', args: { service: svc(i), addr: `10.${2 + j}.${i >> 8}.${i & 255}`, port: 80, fwd: 'nat', weight: 1 } });
  }
  r.ctl.call('batch', { items });
  if (warm) await (await import('../../src/control/warmup.js')).warmControl();
  const calls: [string, string, unknown][] = [
    ['-A', 'addService', { proto: 'tcp', addr: '10.9.0.1', port: 80, sched: 'rr' }],
    ['-E', 'editService', { ...svc(5), sched: 'rr' }],
    ['-a', 'addDest', { service: svc(5), addr: '10.9.9.9', port: 80, fwd: 'nat', weight: 1 }],
    ['-e', 'editDest', { service: svc(5), addr: '10.2.0.5', port: 80, fwd: 'nat', weight: 2 }],
    ['-d', 'deleteDest', { service: svc(5), addr: '10.3.0.5', port: 80 }],
    ['-D', 'deleteService', svc(6)],
    ['-L -t', 'list', { service: svc(7) }],
    ['-Z -t', 'zero', { service: svc(7) }],
    ['batch', 'batch', { items: [{ verb: 'addService', args: { proto: 'tcp', addr: '10.9.0.2', port: 80, sched: 'rr' } }] }],
  ];
  const cpu: Record<string, number> = {};
  for (const [name, verb, args] of calls) {
    const c = native.threadCpuMs();
    await r.ctl.callAsync(verb, args);
    cpu[name] = native.threadCpuMs() - c;
  }
  console.log(JSON.stringify(cpu));
} else if (what === 'status') {
  const { bigHealthTable } = await import('./big-table.js');
  const { startMetricsServer } = await import('../../src/metrics/server.js');
  const { recordingSlicer } = await import('./recording-slicer.js');
  const http = await import('node:http');
  const { PerformanceObserver } = await import('node:perf_hooks');
  const t = bigHealthTable(300, 4);
  // Each slice's CPU and when it ran (as Control.slicer records them, under 'status.json'); the
  // collections meanwhile, so that a slice a collection fell in is left out of `longest` (what
  // the warm-up compiles is measured, not what the table's or the warm-up's garbage costs).
  const rec = new Map<string, SliceRec[]>();
  const gcs: { from: number; to: number }[] = [];
  const obs = new PerformanceObserver((l) => { for (const e of l.getEntries()) gcs.push({ from: e.startTime, to: e.startTime + e.duration }); });
  obs.observe({ entryTypes: ['gc'] });
  const slicer = recordingSlicer(rec);
  const srv = await startMetricsServer(t.r.dp, { host: '127.0.0.1', port: 0 }, { process: false, health: t.health, slicer });
  if (warm) await (await import('../../src/metrics/warmup.js')).warmStatus();
  const port = Number(srv.address.slice(srv.address.lastIndexOf(':') + 1));
  await new Promise<void>((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/status.json', agent: false, headers: { 'accept-encoding': 'gzip' } }, (res) => {
      res.on('data', () => {});
      res.on('end', resolve);
    }).on('error', reject);
  });
  srv.close();
  await new Promise((r) => setTimeout(r, 20)); // the observer's last entries
  obs.disconnect();
  const slices = rec.get('status.json') ?? [];
  const free = slices.filter((x) => !gcs.some((g) => g.from < x.t1 && g.to > x.t0));
  const clean = free.length > 0 ? free : slices;
  console.log(JSON.stringify({ first: slices[0]!.cpu, longest: Math.max(...clean.map((x) => x.cpu)), slices: slices.length, withGc: slices.length - clean.length }));
} else if (what === 'reader') {
  const dir = mkdtempSync(join(tmpdir(), 'uvs-first-'));
  try {
    const file = join(dir, 'uvsd.yaml');
    writeFileSync(file, 'services:\n  - proto: tcp\n    address: 10.1.0.1\n    port: 80\n    servers:\n      - address: 10.2.0.1\n');
    const thread = await import('../../src/control/config-thread.js');
    if (warm) await thread.warmConfigThread();
    let longest = 0;
    let c = native.threadCpuMs();
    const pause = async (p?: Promise<unknown>): Promise<void> => {
      longest = Math.max(longest, native.threadCpuMs() - c);
      await (p ?? new Promise((resolve) => setImmediate(resolve)));
      c = native.threadCpuMs();
    };
    await thread.readConfigOffThread(file, pause);
    await pause();
    console.log(JSON.stringify({ longest }));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
