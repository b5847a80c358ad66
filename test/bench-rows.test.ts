// test-class: shared
// The benchmark's results table (bench/lib/rows.ts): ratios are medians of adjacent pairs (same
// row, same repeat), pairs with steal > 5% (a latency p99 window: > 1%) or a disturbed forwarder
// are left out while others exist, absolute targets are judged on uvs's own median, and the chart
// draws what it is given. Every bench answers --help with its usage and a bad option in one line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchHeader } from '../bench/lib/args.js';
import { compare, comparisons, resultsTable, samplesTable, udpSamples, type Comparison, type Sample } from '../bench/lib/rows.js';
import type { RunResult } from '../bench/lib/report.js';
import { svg } from '../bench/lib/chart-svg.js';
import { latencySamples } from '../bench/lib/latency.js';

function s(row: string, variant: string, repeat: number, value: number, more: Partial<Sample> = {}): Sample {
  return { row, variant, repeat, value, unit: 'pps', steal: [0, 0], stealFlagged: false, ...more };
}

const DEF: Comparison = { id: 'x', title: 'x', row: 'nat-new', uvs: 'uvsd', base: 'nft', op: '>=', target: 1 };

test('the ratio is the median of the pairs of one repeat, not the ratio of the medians', () => {
  // uvsd 100/300/200, nft 200/100/400 → pair ratios 0.5, 3, 0.5 → median 0.5; medians would give 200/200 = 1.
  const samples = [s('nat-new', 'uvsd', 1, 100), s('nat-new', 'nft', 1, 200), s('nat-new', 'uvsd', 2, 300), s('nat-new', 'nft', 2, 100), s('nat-new', 'uvsd', 3, 200), s('nat-new', 'nft', 3, 400)];
  const [r] = compare(samples, [DEF]);
  assert.equal(r!.ratio, 0.5);
  assert.equal(r!.pairs, 3);
  assert.equal(r!.uvsValue, 200);
  assert.equal(r!.baseValue, 200);
  assert.equal(r!.met, false);
});

test('pairs with steal > 5% or a disturbed side are left out while clean pairs exist, and counted', () => {
  const samples = [
    s('nat-new', 'uvsd', 1, 300), s('nat-new', 'nft', 1, 100, { stealFlagged: true, steal: [0.09, 0] }),
    s('nat-new', 'uvsd', 2, 110, { disturbed: true }), s('nat-new', 'nft', 2, 100),
    s('nat-new', 'uvsd', 3, 120), s('nat-new', 'nft', 3, 100),
  ];
  const [r] = compare(samples, [DEF]);
  assert.equal(r!.ratio, 1.2);
  assert.equal(r!.pairs, 1);
  assert.equal(r!.flagged, 2);
  assert.equal(r!.met, true);
  // All flagged: all are used rather than none.
  const [all] = compare(samples.map((x) => ({ ...x, stealFlagged: true })), [DEF]);
  assert.equal(all!.pairs, 3);
  assert.equal(all!.ratio, 1.2);
});

test('a latency window\'s p99 is flagged above 1% steal, its p50 above 5%; the p99 ratio then comes from the clean pairs', () => {
  const [p50, p99] = latencySamples('uvsd', 1, { p50: 80, p99: 1200 }, [0.02, 0.01], {});
  assert.equal(p50!.stealFlagged, false);
  assert.equal(p99!.stealFlagged, true);
  assert.match(samplesTable([p99!]), /\| 2.0%\/1.0% \| steal > 1% \|$/m);
  assert.equal(latencySamples('uvsd', 1, { p50: 80, p99: 150 }, [0.01, 0], {})[1]!.stealFlagged, false, 'at the limit: not flagged');
  assert.equal(latencySamples('uvsd', 1, { p50: 80, p99: 150 }, [0.07, 0], {})[0]!.stealFlagged, true);
  const P99: Comparison = { id: 'p', title: 'p99', row: 'latency', uvs: 'uvsd p99', base: 'direct p99', op: '<=', target: 2 };
  const windows = [
    ...latencySamples('uvsd', 1, { p50: 90, p99: 6335 }, [0.03, 0.03], {}), ...latencySamples('direct', 1, { p50: 49, p99: 116 }, [0, 0], {}),
    ...latencySamples('uvsd', 2, { p50: 85, p99: 1233 }, [0.012, 0.01], {}), ...latencySamples('direct', 2, { p50: 57, p99: 238 }, [0.01, 0.02], {}),
    ...latencySamples('uvsd', 3, { p50: 50, p99: 179 }, [0, 0], {}), ...latencySamples('direct', 3, { p50: 49, p99: 109 }, [0, 0], {}),
  ];
  const [r] = compare(windows, [P99]);
  assert.equal(r!.pairs, 1);
  assert.equal(r!.flagged, 2);
  assert.equal(r!.ratio, 1.642); // 179 / 109
  assert.equal(r!.met, true);
});

test('absolute targets (<= for memory) use uvs values; errors and missing baselines drop the row', () => {
  const mem: Comparison = { id: 'm', title: 'rss', row: 'memory', uvs: 'uvsd RSS', base: null, op: '<=', target: 200 };
  const rs = compare([s('memory', 'uvsd RSS', 1, 150, { unit: 'MB' })], [mem, DEF]);
  assert.equal(rs.length, 1, 'nat-new has no samples: no row');
  assert.equal(rs[0]!.ratio, 150);
  assert.equal(rs[0]!.met, true);
  assert.equal(compare([s('memory', 'uvsd RSS', 1, 250, { unit: 'MB' })], [mem])[0]!.met, false);
  assert.equal(compare([s('nat-new', 'uvsd', 1, 5), s('nat-new', 'nft', 1, 0, { error: 'nft failed' })], [DEF]).length, 0);
  const table = resultsTable(rs);
  assert.match(table, /\| rss \| 150 MB \|/);
  assert.match(table, /<= 200 MB \| met \|/);
});

test('the control round trip rows: each uvsd UDP run\'s p99 becomes a sample of control-ROW-WORKLOAD, and the target (<= 10 ms) is judged on the worst window, not the median', () => {
  const run = (forwarder: string, repeat: number, p99?: number): RunResult => ({
    row: 'dr', workload: 'new', forwarder, repeat, deliveredPps: 1000, cpuSteal: [0, 0], stealFlagged: false, disturbed: false,
    ...(p99 === undefined ? {} : { controlRtt: { n: 250, p50: 1, p99, max: p99 + 1 } }),
  }) as unknown as RunResult;
  const samples = udpSamples([run('c', 1), run('uvsd', 1, 6), run('uvsd', 2, 12), run('uvsd', 3, 7), run('uvsd-thread', 1, 5)]);
  assert.deepEqual(samples.filter((x) => x.row === 'control-dr-new').map((x) => [x.variant, x.value, x.unit]), [['uvsd', 6, 'ms'], ['uvsd', 12, 'ms'], ['uvsd', 7, 'ms'], ['uvsd-thread', 5, 'ms']]);
  assert.equal(samples.filter((x) => x.row === 'dr-new').length, 5, 'every run is still a pps sample');
  const rs = compare(samples, comparisons().filter((c) => c.row === 'control-dr-new'));
  assert.deepEqual(rs.map((r) => [r.uvs, r.ratio, r.uvsValue, r.met]), [['uvsd', 12, 12, false], ['uvsd-thread', 5, 5, true]], 'the median (7) would pass uvsd');
  assert.match(resultsTable(rs), /worst window: uvsd \| 12 ms \|  \|  \| <= 10 ms \| \*\*not met\*\* \|/);
});

test('the chart has one bar per comparison, coloured by met / not met, with the target tick', () => {
  const rs = compare([s('nat-new', 'uvsd', 1, 90), s('nat-new', 'nft', 1, 100), s('memory', 'uvsd RSS', 1, 150, { unit: 'MB' })], [
    DEF, { id: 'm', title: 'rss', row: 'memory', uvs: 'uvsd RSS', base: null, op: '<=', target: 200 },
  ]);
  const out = svg({ date: '2026-12-01T00:00:00Z', command: 'npm run bench', machine: { cpu: 'cpu', nproc: 2, kernel: 'k' }, comparisons: rs });
  assert.equal((out.match(/<rect x=/g) ?? []).length, 2);
  assert.match(out, /fill="#ea4335"/, 'nat-new 0.9 < 1: red');
  assert.match(out, /fill="#34a853"/, 'rss 150 <= 200: green');
  assert.match(out, /0\.900 × \(target &gt;= 1\)/);
});

/** Modules uvsd preloads (node --import), configured by environment: no command line to read. */
const PRELOADED = new Set(['heap-sample', 'loop-gaps']);

type Run = { code: number; stdout: string; stderr: string };
const runNode = (args: string[]): Promise<Run> => new Promise((resolve) => {
  execFile(process.execPath, args, { encoding: 'utf8', timeout: 120_000 }, (err, stdout, stderr) => {
    resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr });
  });
});

test('every bench prints its usage (from its header comment) on --help and exits 0; an unknown option is one line on stderr and exit 2, not parseArgs\' stack trace (bench/lib/args.ts)', { timeout: 600_000 }, async () => {
  const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), '../bench');
  const names = readdirSync(dir).filter((f) => f.endsWith('.js')).map((f) => f.slice(0, -3)).filter((n) => !PRELOADED.has(n)).sort();
  assert.ok(names.length >= 25, names.join(' '));
  const failures: string[] = [];
  // Four at a time: each is a node start and the bench's imports, nothing of the bench runs.
  let next = 0;
  const one = async (): Promise<void> => {
    for (let i = next++; i < names.length; i = next++) {
      const name = names[i]!;
      const file = path.join(dir, `${name}.js`);
      const { usage, text } = benchHeader(file);
      const help = await runNode([file, '--help']);
      const first = help.stdout.split('\n')[0]!;
      if (help.code !== 0 || usage.length === 0 || first !== `usage: ${usage[0]}` || !(usage[0]!.includes(`${name}.js`) || usage[0]!.includes('npm run ')) ||
        !help.stdout.includes(text[0]!) || help.stderr !== '') {
        failures.push(`${name} --help: exit ${help.code}, usage ${JSON.stringify(usage)}, stdout ${JSON.stringify(help.stdout.slice(0, 300))}, stderr ${JSON.stringify(help.stderr.slice(0, 300))}`);
      }
      const bad = await runNode([file, '--no-such-option']);
      if (bad.code !== 2 || bad.stdout !== '' || bad.stderr !== `${name}: unknown option --no-such-option (--help for usage)\n`) {
        failures.push(`${name} --no-such-option: exit ${bad.code}, stderr ${JSON.stringify(bad.stderr.slice(0, 300))}`);
      }
    }
  };
  await Promise.all([one(), one(), one(), one()]);
  assert.deepEqual(failures, []);
});

test('bench/run.js: a bad option value (--repeat abc, --rows nosuch, a --latency-trace that cannot be made, ...) is one line naming it on stderr and exit 2, as a bad option is; nothing of the bench runs (before: `bench: ...` and exit 1, a stack trace for a directory)', { timeout: 120_000 }, async () => {
  const file = path.join(path.dirname(fileURLToPath(import.meta.url)), '../bench/run.js');
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'uvs-sm-bench-'));
  const plain = path.join(tmp, 'a-file');
  writeFileSync(plain, '');
  try {
    const cases: Array<[string[], string]> = [
      [['--repeat', 'abc'], '--repeat abc: must be a number in 1..10'],
      [['--seconds', '1e9'], '--seconds 1e9: must be a number in 1..120'],
      [['--uvsd-nice=-30'], '--uvsd-nice -30: must be a number in -20..19'],
      [['--autogroup-nice', 'x'], '--autogroup-nice x: must be a number in -20..19'],
      [['--rows', 'dr,nosuch'], 'unknown row nosuch (dr, nat, fullnat, cps, bulk, latency, memory)'],
      [['--workloads', 'steadyy'], 'unknown workload steadyy (steady, new, full)'],
      [['--forwarders', 'c,zz'], 'unknown DR forwarder zz ('],
      [['--tcp-port', 'veth'], '--tcp-port must be tap or ring, got veth'],
      [['--rows', 'dr', '--forwarders', 'uvsd'], '--forwarders must include c'],
      [['--forwarders', 'c,uvsd-before'], '--forwarders uvsd-before and --before DIR go together'],
      [['--forwarders', 'c,uvsd-before', '--before', tmp], `--before ${tmp}: ${tmp}/dist/src/cli/uvsd.js is missing`],
      [['--latency-trace', `${plain}/traces`], `--latency-trace ${plain}/traces: ENOTDIR`],
    ];
    const failures: string[] = [];
    await Promise.all(cases.map(async ([args, says]) => {
      const r = await runNode([file, ...args]);
      if (r.code !== 2 || r.stdout !== '' || !r.stderr.startsWith(`run: ${says}`) || !r.stderr.endsWith(' (--help for usage)\n') || r.stderr.split('\n').length !== 2) {
        failures.push(`${args.join(' ')}: exit ${r.code}, stderr ${JSON.stringify(r.stderr.slice(0, 300))}`);
      }
    }));
    assert.deepEqual(failures, []);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

test('a bench\'s usage: the header\'s indented `node` or `npm run` line and the lines that go on with `[`, the rest of the header after it', () => {
  const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), '../bench');
  const run = benchHeader(path.join(dir, 'run.js'));
  assert.equal(run.usage.length, 4, run.usage.join('\n'));
  assert.match(run.usage[0]!, /^npm run bench -- \[--rows /);
  assert.match(run.usage[3]!, /\[--autogroup-nice N\]$/);
  assert.match(run.text[0]!, /^The benchmark: every row of issue 15/);
  assert.ok(run.text.includes('Rows (each in network namespaces this run creates and deletes in finally; lib/ has one file per kind):'));
  assert.ok(!run.text.some((l) => l.includes('[--seconds 10]')), 'the usage lines are not in the text again');
});
