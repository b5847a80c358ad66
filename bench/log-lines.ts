// What logging a replace-all reload's report costs on the event loop at N services x M servers:
// the report's changes (from a real ConfigManager reload, --replace-all as bench/reload-micro.ts)
// logged through pino into uvsd's LogOutput (written to /dev/null), the thread's CPU of the log
// call (least of --runs) and the line's size.
//
//   node dist/bench/log-lines.js [--services 10000] [--servers 4] [--runs 5]
import { mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Datapath } from '../src/datapath/pipeline.js';
import { Control } from '../src/control/model.js';
import { ConfigManager } from '../src/control/config.js';
import { parseIp } from '../src/datapath/addr.js';
import { native } from '../src/datapath/port.js';
import { LogOutput } from '../src/cli/logout.js';
import { reloadLogFields, reloadLogger } from '../src/cli/reload-log.js';
import { benchArgs } from './lib/args.js';

const { values } = benchArgs(import.meta.url, { options: { services: { type: 'string', default: '10000' }, servers: { type: 'string', default: '4' }, runs: { type: 'string', default: '5' } } });
const N = Number(values.services);
const M = Number(values.servers);

function config(port: number): string {
  const lines = ['daemon:', '  drain-timeout: 0', 'services:'];
  for (let i = 0; i < N; i++) {
    lines.push('  - proto: tcp', `    address: 10.1.${i >> 8}.${i & 255}`, `    port: ${port}`, '    scheduler: wlc', '    servers:');
    for (let j = 0; j < M; j++) {
      const k = M * i + j;
      lines.push(`      - { address: 10.${8 + (k >> 16)}.${(k >> 8) & 255}.${k & 255}, weight: 1 }`);
    }
  }
  return lines.join('\n') + '\n';
}

const dp = new Datapath({ mac: Uint8Array.from([2, 0, 0, 0, 0, 1]), addrs: [{ ip: parseIp('10.0.0.1'), mask: 0xff000000 }], connMax: 1 << 16, destMax: M * N + 16 }, { send: (_b, _o, _l, k) => k });
const control = new Control(dp, { tap: 'bench' });
const dir = mkdtempSync(join(tmpdir(), 'uvs-log-lines-'));
const file = join(dir, 'uvsd.yaml');
writeFileSync(file, config(80));
const cm = new ConfigManager(control, file, { drainTimeout: 0 });
control.config = cm;
cm.apply(cm.load(), false);
writeFileSync(file, config(81));
const report = cm.reloadReport(true);
rmSync(dir, { recursive: true, force: true });

const out = new LogOutput(openSync('/dev/null', 'w'));
let bytes = 0;
const sink = { write: (line: string) => { bytes = line.length; return out.write(line); } };
const log = pino({ level: 'info', base: { name: 'uvsd' } }, sink);
const measure = (what: string, f: () => void): void => {
  const dropped0 = out.state().dropped;
  let least = Infinity; let most = 0;
  for (let r = 0; r < Number(values.runs); r++) {
    const c0 = native.threadCpuMs();
    f();
    const d = native.threadCpuMs() - c0;
    least = Math.min(least, d);
    most = Math.max(most, d);
  }
  console.log(JSON.stringify({ services: N, servers: M, changes: report.changes.length, what, leastCpuMs: Number(least.toFixed(2)), mostCpuMs: Number(most.toFixed(2)), lineBytes: bytes, linesDropped: out.state().dropped - dropped0 }));
};
measure('whole report (before 2026-12-06)', () => log.info({ via: 'bench', changes: report.changes, ignored: report.ignored }, 'configuration reloaded'));
measure('reloadLogFields', () => log.info(reloadLogFields('bench', report), 'configuration reloaded'));

// Every line of the reload as uvsd logs it (reloadLogger: the first, then a piece per turn of the
// loop once the output wrote the one before): the most CPU and the most bytes of one line, --runs times.
for (let r = 0; r < Number(values.runs); r++) {
  const dropped0 = out.state().dropped;
  let most = 0; let mostBytes = 0; let lines = 0;
  const timed = { info: (fields: object, msg: string): void => {
    const c0 = native.threadCpuMs();
    log.info(fields, msg);
    most = Math.max(most, native.threadCpuMs() - c0);
    mostBytes = Math.max(mostBytes, bytes);
    lines++;
  } };
  await reloadLogger(timed, async () => {
    await out.drained(2_000);
    await new Promise((resolve) => setImmediate(resolve));
  })('bench', report);
  console.log(JSON.stringify({ services: N, servers: M, changes: report.changes.length, what: 'reloadLogger: every line', lines, mostCpuMsPerLine: Number(most.toFixed(3)), mostLineBytes: mostBytes, linesDropped: out.state().dropped - dropped0 }));
}
