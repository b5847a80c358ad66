// A reload's file warnings told at once (a keepalived.conf of --warnings IPv6 virtual servers, each
// skipped with a warning) through uvsd's fileWarner into its LogOutput (written to /dev/null): the
// thread's CPU of telling them all (least and most of --runs) and the lines written or dropped,
// against one log line each (before 2026-12-06).
//
//   node dist/bench/log-warnings.js [--warnings 10000] [--runs 5]
import { openSync } from 'node:fs';
import { pino } from 'pino';
import { LogOutput } from '../src/cli/logout.js';
import { fileWarner } from '../src/cli/reload-log.js';
import { native } from '../src/datapath/port.js';
import { benchArgs } from './lib/args.js';

const { values } = benchArgs(import.meta.url, { options: { warnings: { type: 'string', default: '10000' }, runs: { type: 'string', default: '5' } } });
const n = Number(values.warnings);
const out = new LogOutput(openSync('/dev/null', 'w'));
let lines = 0;
const log = pino({ base: { name: 'uvsd' } }, { write: (l: string) => (lines++, out.write(l)) });
const ws = Array.from({ length: n }, (_, i) => `keepalived.conf: /etc/keepalived/keepalived.conf:${7 * i}: virtual_server 2001:db8::${i.toString(16)} 80 skipped: uvs does not support IPv6`);
const cases: [string, (file: string, msg: string) => void][] = [['one line each (before 2026-12-06)', (file, msg) => log.warn({ file }, msg)], ['fileWarner', fileWarner(log)]];
for (const [what, warn] of cases) {
  let least = Infinity;
  let most = 0;
  let written = 0;
  let dropped = 0;
  for (let r = 0; r < Number(values.runs); r++) {
    await new Promise((resolve) => setTimeout(resolve, 50)); // the output drained
    const l0 = lines;
    const d0 = out.state().dropped;
    const c0 = native.threadCpuMs();
    for (const w of ws) warn('/etc/keepalived/keepalived.conf', w);
    const d = native.threadCpuMs() - c0;
    least = Math.min(least, d);
    most = Math.max(most, d);
    await new Promise((resolve) => setImmediate(resolve));
    written = lines - l0;
    dropped = out.state().dropped - d0;
  }
  console.log(JSON.stringify({ warnings: n, what, leastCpuMs: +least.toFixed(2), mostCpuMs: +most.toFixed(2), lines: written, linesDropped: dropped }));
}
