// lblc/lblcr's table check at the table's cap (262,144 entries): one tick() a second for 40
// minutes of the table's clock, in three cases: every entry in use (each check walks the whole
// table, drops nothing), every entry idle for 24 h with the table over maxSize (the usual check:
// drops 8,192 per minute), and every entry idle for 24 h with the table under maxSize (the
// half-hourly full check drops all). Prints, per case, the ticks that did work, their wall and
// thread-CPU time (max and median) and the most entries one tick walked. Not a test.
//
//   node dist/bench/lbtable-check.js [--from DIR] [--repeat 3]
// --from DIR: the LbTable of another build (DIR/dist/src/sched/lbtable.js), e.g. a worktree of
// an older commit.
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { benchArgs } from './lib/args.js';

const { values } = benchArgs(import.meta.url, { options: { from: { type: 'string' }, repeat: { type: 'string', default: '3' } } });
const dist = values.from === undefined ? new URL('../', import.meta.url).href : pathToFileURL(resolve(values.from, 'dist')).href + '/';
type Table = {
  capacity: number; count: number; maxSize: number; lastuse: Float64Array; walked?: number;
  tick(now: number): void; get(a: number): number; add(a: number): number;
};
const { LbTable } = (await import(`${dist}src/sched/lbtable.js`)) as { LbTable: new () => Table };
const { native } = (await import(`${dist}src/datapath/port.js`)) as { native: { threadCpuMs(): number } };
const CAP = 1 << 18;

function full(now: number): Table {
  const t = new LbTable();
  t.tick(now);
  let x = 0x9e3779b9;
  while (t.capacity < CAP || t.count < t.capacity) {
    x = (Math.imul(x, 1664525) + 1013904223) | 0;
    if (t.get(x) >= 0) continue;
    if (t.add(x) < 0) t.tick(now); // grows the pool
  }
  return t;
}

const median = (a: number[]): number => [...a].sort((x, y) => x - y)[a.length >> 1] ?? 0;

function run(kind: 'in use' | 'idle, over maxSize' | 'idle, full check'): string {
  let now = 1e6;
  const t = full(now);
  if (kind === 'idle, full check') t.maxSize = 1 << 20;
  if (kind !== 'in use') now += 25 * 3_600_000;
  const wall: number[] = [];
  const cpu: number[] = [];
  let most = 0;
  for (let s = 0; s < 40 * 60; s++) {
    now += 1000;
    if (kind === 'in use') t.lastuse.fill(now);
    const w = t.walked ?? 0;
    const c = native.threadCpuMs();
    const a = performance.now();
    t.tick(now);
    const d = performance.now() - a;
    const dc = native.threadCpuMs() - c;
    most = Math.max(most, (t.walked ?? 0) - w);
    if (d > 0.05) {
      wall.push(d);
      cpu.push(dc);
    }
  }
  const f = (x: number): string => x.toFixed(2);
  return `${kind}: ${wall.length} ticks did work; wall max ${f(Math.max(...wall))} median ${f(median(wall))} ms; ` +
    `thread CPU max ${f(Math.max(...cpu))} median ${f(median(cpu))} ms; most walked in a tick ${t.walked === undefined ? '(not counted)' : most}; ${t.count} left`;
}

for (const kind of ['in use', 'idle, over maxSize', 'idle, full check'] as const) {
  for (let r = 0; r < Number(values.repeat); r++) console.log(run(kind));
}
