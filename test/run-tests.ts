// `npm test`: node's own test runner (node:test's run(), its TAP or spec reporter, one summary) over
// dist/test/*.test.js, each file in its own process as `node --test` runs them, but two files at a
// time where that cannot disturb what a file measures. A file says what it tolerates in a line of its
// header comment:
//   // test-class: shared   in-process only, no time bounds: may run beside any file but an "alone" one
//   // test-class: lab      a netns lab or real processes whose time bounds are seconds wide: may run
//                          beside "shared" files, never beside another lab
//   (no line)              alone: nothing else runs meanwhile (latency bounds in ms, load, new files)
// The "alone" files run first, one at a time; then each lab beside the shared files, which run at
// nice 10 (SHARED_NICE) so that the lab's processes get the CPU first. A file's output is
// written whole when it ends (files never interleave); tests are numbered across files and the
// summary (tests, pass, fail, ... duration_ms) counts all of them. UVS_TEST_SLOTS=1 runs one file at
// a time; UVS_TEST_TIMES=PATH writes each file's wall time (seconds, class, file, seconds after its last test) there;
// a file whose process outlives its last test by over 2 s is named in the output.
import { run } from 'node:test';
import { spec, tap } from 'node:test/reporters';
import { availableParallelism, setPriority } from 'node:os';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Readable } from 'node:stream';
import { kindOf, type Kind } from './helpers/test-class.js';

interface Event {
  type: string;
  data: { nesting?: number; file?: string; name?: string; message?: unknown; testNumber?: number; count?: number; details?: { error?: unknown } };
}
interface Done { file: string; kind: Kind; events: Event[]; seconds: number; linger: number }

/** A file whose process goes on this long (s) after its last test is named in the output. */
const LINGER_S = 2;

const SUMMARY = /^(tests|suites|pass|fail|cancelled|skipped|todo|duration_ms) (\d+(?:\.\d+)?)$/;

/** A failed test's one line for the end of the output: its file, its name (cut), its error's first line (cut). */
export function failedLine(file: string | undefined, name: string | undefined, error: unknown): string {
  // node:test wraps what the test threw in an ERR_TEST_FAILURE whose cause is that error.
  const e = error as { cause?: { message?: unknown }; message?: unknown } | undefined;
  const lines = String(e?.cause?.message ?? e?.message ?? 'no error').split('\n');
  let why = lines.find((l) => l.trim() !== '') ?? '';
  // assert's own message (no message of the test's) says only what kind of comparison failed:
  // the values follow, `3 !== 4` or a diff's +/- lines, and CI's summary shows only this line.
  if (/^Expected values to be (strictly |loosely )?(deep-)?equal:$/.test(why.trim())) {
    const rest = lines.slice(lines.indexOf(why) + 1).map((l) => l.trim().replace(/^([+-]) +/, '$1 ')).filter((l) => l !== '' && l !== '+ actual - expected');
    const diff = rest.filter((l) => /^[+-] /.test(l));
    why = `${why.trim()} ${(diff.length > 0 ? diff : rest).join(' ')}`;
  }
  const cut = (t: string, n: number): string => (t.length > n ? `${t.slice(0, n - 3)}...` : t);
  return `failed: ${file ? basename(file) : '?'}: ${cut(name ?? '?', 160)}: ${cut(why.trim(), 300)}`;
}

/** The order files start in: alone files while nothing runs; then a lab whenever none runs, shared files in the other slot. */
export class Schedule {
  private readonly queue: Record<Kind, string[]> = { alone: [], lab: [], shared: [] };
  private readonly running: Record<Kind, number> = { alone: 0, lab: 0, shared: 0 };
  constructor(files: { file: string; kind: Kind }[], private readonly slots: number) {
    for (const f of files) this.queue[f.kind].push(f.file);
  }
  get idle(): boolean {
    return this.running.alone + this.running.lab + this.running.shared === 0;
  }
  get empty(): boolean {
    return this.queue.alone.length + this.queue.lab.length + this.queue.shared.length === 0;
  }
  /** The next file that may start now, or null. */
  next(): { file: string; kind: Kind } | null {
    const busy = this.running.alone + this.running.lab + this.running.shared;
    if (busy >= this.slots || this.running.alone > 0) return null;
    let kind: Kind | null = null;
    if (this.queue.alone.length > 0) kind = busy === 0 ? 'alone' : null;
    else if (this.queue.lab.length > 0 && this.running.lab === 0) kind = 'lab';
    else if (this.queue.shared.length > 0) kind = 'shared';
    if (kind === null) return null;
    this.running[kind]++;
    return { file: this.queue[kind].shift()!, kind };
  }
  done(kind: Kind): void {
    this.running[kind]--;
  }
}

/** SIGINT or SIGTERM (Ctrl-C, CI's timeout): the running files' processes are ended, no other starts. */
const stop = new AbortController();

/** A shared file's process runs at this nice: it takes the CPU a lab beside it leaves (no shared file has a time bound). */
export const SHARED_NICE = 10;

/**
 * Every thread of the runner's child process that runs `file`, at `nice` (Linux /proc; elsewhere
 * nothing): looked for every 25 ms until found, so it is lowered within 25 ms of its start, before
 * it has loaded its modules, and what it starts later inherits the nice. Returns the stop.
 */
function lowerWhenStarted(file: string, nice: number): () => void {
  const lower = (): boolean => {
    let kids: string;
    try {
      kids = readFileSync(`/proc/self/task/${process.pid}/children`, 'utf8');
    } catch {
      return false;
    }
    for (const pid of kids.split(' ').filter(Boolean)) {
      try {
        if (!readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes(file)) continue;
        for (const tid of readdirSync(`/proc/${pid}/task`)) setPriority(Number(tid), nice);
      } catch {
        // gone already, or not ours to lower
      }
      return true;
    }
    return false;
  };
  const timer = setInterval(() => {
    if (lower()) clearInterval(timer);
  }, 25);
  return () => clearInterval(timer);
}

async function runFile(file: string, kind: Kind): Promise<Done> {
  const t0 = performance.now();
  const events: Event[] = [];
  const stopLowering = kind === 'shared' ? lowerWhenStarted(file, SHARED_NICE) : () => {};
  let lastTest = t0;
  try {
    for await (const e of run({ files: [file], signal: stop.signal }) as AsyncIterable<Event>) {
      events.push(e);
      if (e.data.nesting === 0 && (e.type === 'test:pass' || e.type === 'test:fail')) lastTest = performance.now();
    }
  } finally {
    stopLowering();
  }
  const end = performance.now();
  const linger = (end - lastTest) / 1000;
  if (linger > LINGER_S) {
    events.push({ type: 'test:diagnostic', data: { nesting: 0, file, message: `${basename(file)}: its process ended ${linger.toFixed(1)} s after its last test (a timer, socket or child left running keeps node waiting)` } });
  }
  return { file, kind, events, seconds: (end - t0) / 1000, linger };
}

/** Every file's events as one stream: in the order files end, renumbered, one plan and one summary. */
async function* all(files: { file: string; kind: Kind }[], slots: number, times: Done[]): AsyncGenerator<Event> {
  const t0 = performance.now();
  const schedule = new Schedule(files, slots);
  const inFlight = new Map<string, Promise<Done>>();
  const sums = new Map<string, number>();
  const failed: string[] = [];
  let top = 0;
  for (;;) {
    for (let f = stop.signal.aborted ? null : schedule.next(); f; f = schedule.next()) inFlight.set(f.file, runFile(f.file, f.kind));
    if (inFlight.size === 0) break;
    const done = await Promise.race(inFlight.values());
    inFlight.delete(done.file);
    schedule.done(done.kind);
    times.push(done);
    for (const e of done.events) {
      const d = e.data;
      if (d.nesting === 0 && d.file === undefined) {
        // The per-run summary and plan: summed below instead.
        const m = e.type === 'test:diagnostic' ? SUMMARY.exec(String(d.message)) : null;
        if (m) sums.set(m[1]!, (sums.get(m[1]!) ?? 0) + Number(m[2]));
        if (m || e.type === 'test:plan') continue;
      }
      if (d.nesting === 0 && (e.type === 'test:pass' || e.type === 'test:fail')) d.testNumber = ++top;
      // Each failed test that failed itself, at any depth (a suite or a test failed by its subtests is named by them).
      if (e.type === 'test:fail' && (d.details?.error as { failureType?: string } | undefined)?.failureType !== 'subtestsFailed') {
        failed.push(failedLine(d.file ?? done.file, d.name, d.details?.error));
      }
      yield e;
    }
  }
  sums.set('duration_ms', performance.now() - t0);
  yield { type: 'test:plan', data: { nesting: 0, count: top } };
  for (const k of ['tests', 'suites', 'pass', 'fail', 'cancelled', 'skipped', 'todo', 'duration_ms']) {
    yield { type: 'test:diagnostic', data: { nesting: 0, message: `${k} ${sums.get(k) ?? 0}` } };
  }
  // Last, so that a log's tail (CI shows the end) names what failed.
  for (const line of failed) yield { type: 'test:diagnostic', data: { nesting: 0, message: line } };
  if ((sums.get('fail') ?? 0) > 0 || (sums.get('cancelled') ?? 0) > 0 || stop.signal.aborted) process.exitCode = 1;
}

async function main(): Promise<void> {
  const here = dirname(fileURLToPath(import.meta.url));
  const args = process.argv.slice(2);
  const paths = args.length > 0 ? args : readdirSync(here).filter((f) => f.endsWith('.test.js')).sort().map((f) => join(here, f));
  const files = paths.map((file) => ({ file, kind: kindOf(file) }));
  const env = Number(process.env.UVS_TEST_SLOTS);
  const slots = Number.isInteger(env) && env >= 1 ? env : Math.min(2, availableParallelism());
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => stop.abort());
  const times: Done[] = [];
  const stream = Readable.from(all(files, slots, times));
  const out = process.stdout.isTTY ? stream.compose(new spec()) : stream.compose(tap);
  out.pipe(process.stdout);
  await new Promise((res) => out.on('end', res));
  const path = process.env.UVS_TEST_TIMES;
  if (path) writeFileSync(path, times.map((t) => `${t.seconds.toFixed(1)}\t${t.kind}\t${basename(t.file)}\t${t.linger.toFixed(1)}\n`).join(''));
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();
