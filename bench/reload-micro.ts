// Where a config reload's time goes (read, YAML parse, shape check, plan, batch validate, apply),
// for N services of M DR servers each (--servers, default 2), and how long the reload through the
// socket's entry holds the event loop at once: the longest slice (wall, and the loop's thread's
// CPU in it: other processes running meanwhile count in the wall time only) and the most CPU any
// slice took. --replace-all makes each sliced reload's config replace every service (their port
// is 80 and 81 by turns: every service and its servers deleted, new ones added).
//
//   node dist/bench/reload-micro.js [--services 2000,10000] [--servers 2] [--only-sliced [--replace-all]]
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Datapath } from '../src/datapath/pipeline.js';
import { Control } from '../src/control/model.js';
import { ConfigManager, checkConfigDocument, planReload } from '../src/control/config.js';
import { yaml } from '../src/control/yaml-lazy.js';
import { parseIp } from '../src/datapath/addr.js';
import { loopGapProbe } from './lib/stats.js';
import { benchArgs } from './lib/args.js';

const { values } = benchArgs(import.meta.url, { options: { services: { type: 'string', default: '2000,10000' }, servers: { type: 'string', default: '2' }, 'only-sliced': { type: 'boolean', default: false }, 'replace-all': { type: 'boolean', default: false } } });

const M = Number(values.servers);

/** A config of n TCP services on 10.1.x.y:80 with M servers each, 10.0.a.b (2 servers) or 10.a.b.c (DR, weight 1). */
export function bigConfig(n: number, sched = 'wlc', first = 'wlc', port = 80): string {
  const lines = ['daemon:', '  drain-timeout: 0', 'services:'];
  for (let i = 0; i < n; i++) {
    lines.push('  - proto: tcp', `    address: 10.1.${i >> 8}.${i & 255}`, `    port: ${port}`, `    scheduler: ${i === 0 ? first : sched}`, '    servers:');
    for (let j = 0; j < M; j++) {
      const k = M * i + j;
      // The 2-server addresses as before (the numbers in docs/performance.md), more on 10.8.0.0/13.
      lines.push(M === 2 ? `      - { address: 10.0.${k >> 8 | 8}.${k & 255}, weight: 1 }` : `      - { address: 10.${8 + (k >> 16)}.${(k >> 8) & 255}.${k & 255}, weight: 1 }`);
    }
  }
  return lines.join('\n') + '\n';
}

const ms = (t: number): string => (performance.now() - t).toFixed(1);

for (const n of values.services!.split(',').map(Number)) {
  const dp = new Datapath({ mac: Uint8Array.from([2, 0, 0, 0, 0, 1]), addrs: [{ ip: parseIp('10.0.0.1'), mask: M === 2 ? 0xffff0000 : 0xff000000 }], connMax: 1 << 16, destMax: M * n + 16 }, { send: (_b, _o, _l, k) => k });
  const control = new Control(dp, { tap: 'bench' });
  const dir = mkdtempSync(join(tmpdir(), 'uvs-reload-micro-'));
  const file = join(dir, 'uvsd.yaml');
  writeFileSync(file, bigConfig(n));
  const cm = new ConfigManager(control, file, { drainTimeout: 0 });
  control.config = cm;
  cm.apply(cm.load(), false);
  control.call('list', {}); // compiled before the first measure
  writeFileSync(file, bigConfig(n, 'wlc', 'rr'));
  // The same through the socket's entry (Control.callAsync): the longest hold of the loop, as
  // status's slowest_verb records it and as a 1 ms timer sees it.
  const sliced = async (dryRun: boolean) => {
    control.resetSlowest();
    const probe = loopGapProbe();
    const t0 = performance.now();
    const rep = await (control.callAsync('reload', { dryRun }) as Promise<{ changes: string[] }>);
    const gap = probe.stop();
    return { ms: ms(t0), changes: rep.changes.length, slowest: `${control.slowest.verb} ${control.slowest.ms.toFixed(1)} (cpu ${control.slowest.cpuMs.toFixed(1)})`, maxSliceCpuMs: control.busiest.ms.toFixed(1), maxTimerGapMs: gap.toFixed(1) };
  };
  for (let round = 0; round < 3; round++) {
    if (values['only-sliced']) {
      if (values['replace-all']) writeFileSync(file, bigConfig(n, 'wlc', 'wlc', round % 2 === 0 ? 81 : 80));
      else writeFileSync(file, bigConfig(n, 'wlc', round % 2 === 0 ? 'rr' : 'wlc'));
      console.log(JSON.stringify({ services: n, servers: M, replaceAll: values['replace-all'], sliced: { dryRun: await sliced(true), reload: await sliced(false) } }));
      continue;
    }
    let t = performance.now();
    const text = readFileSync(file, 'utf8');
    const read = ms(t);
    t = performance.now();
    const lc = new (yaml().LineCounter)();
    const doc = yaml().parseDocument(text, { lineCounter: lc, uniqueKeys: true, prettyErrors: false });
    const parse = ms(t);
    t = performance.now();
    const cfg = checkConfigDocument(doc, lc, file);
    const check = ms(t);
    t = performance.now();
    const cur = control.list();
    const list = ms(t);
    t = performance.now();
    const plan = planReload(cur, control.model.timeouts, cfg, 0, new Set());
    const planMs = ms(t);
    t = performance.now();
    control.call('batch', { items: plan.items, dryRun: true });
    const validate = ms(t);
    t = performance.now();
    cm.reloadReport(true);
    const dry = ms(t);
    t = performance.now();
    const r = cm.reloadReport(false);
    const real = ms(t);
    writeFileSync(file, bigConfig(n, 'wlc', round % 2 === 0 ? 'wlc' : 'rr'));
    const sDry = await sliced(true);
    const sReal = await sliced(false);
    console.log(JSON.stringify({ services: n, servers: M, bytes: text.length, readMs: read, yamlParseMs: parse, shapeCheckMs: check, listMs: list, planMs, batchValidateMs: validate,
      onePiece: { dryRunMs: dry, reloadMs: real, changes: r.changes.length }, sliced: { dryRun: sDry, reload: sReal } }));
    writeFileSync(file, bigConfig(n, 'wlc', round % 2 === 0 ? 'rr' : 'wlc'));
  }
  rmSync(dir, { recursive: true, force: true });
}
