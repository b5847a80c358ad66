// test-class: shared
// uvsd's start-up warm-ups of the control side (issue 7: nothing holds the loop over 2 ms): a
// verb's first call after the start (src/control/warmup.ts), the first start of the config
// reader thread a reload uses (config-thread.ts warmConfigThread), and the first /status.json
// (src/metrics/warmup.ts). What is cold is cold once per
// process: each is measured in a fresh child (test/helpers/first-call-child.ts), with and without
// the warm-up, the least of two runs of each (the host is shared: this thread's CPU only).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const CHILD = fileURLToPath(new URL('./helpers/first-call-child.js', import.meta.url));

/** `n` cold and `n` warm children, two at once (each measures its own thread's CPU only). */
async function children<T>(what: string, n = 2): Promise<{ cold: T[]; warm: T[] }> {
  const one = (mode: string) => new Promise<T>((resolve, reject) => {
    execFile(process.execPath, [CHILD, what, mode], { encoding: 'utf8', timeout: 30_000 }, (e, out, err) => (e ? reject(new Error(`${e.message}: ${err}`)) : resolve(JSON.parse(out) as T)));
  });
  const cold: T[] = [];
  const warm: T[] = [];
  for (let i = 0; i < n; i++) {
    const [c, w] = await Promise.all([one('cold'), one('warm')]);
    cold.push(c!);
    warm.push(w!);
  }
  return { cold, warm };
}

/** The middle value (of an odd count; the upper middle of an even one). */
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

test('control warm-up: the table verbs\' first calls after the start cost less than half their cold CPU (the first -D was 2.5-2.9 ms)', async (t) => {
  const runs = await children<Record<string, number>>('verbs');
  const least = (xs: Record<string, number>[]): Record<string, number> => Object.fromEntries(Object.keys(xs[0]!).map((k) => [k, Math.min(...xs.map((x) => x[k]!))]));
  const cold = least(runs.cold);
  const warm = least(runs.warm);
  const sum = (x: Record<string, number>): number => Object.values(x).reduce((a, b) => a + b, 0);
  t.diagnostic(`first call, ms CPU, cold -> warm: ${Object.keys(cold).map((k) => `${k} ${cold[k]!.toFixed(2)} -> ${warm[k]!.toFixed(2)}`).join(', ')}`);
  assert.ok(sum(warm) < sum(cold) / 2, `all first calls: ${sum(warm).toFixed(2)} ms CPU warm, ${sum(cold).toFixed(2)} cold`);
});

test('config reader thread warm-up: a reload\'s first thread start holds the loop less than 60% of a cold one\'s (which was ~8 ms of CPU)', async (t) => {
  const runs = await children<{ longest: number }>('reader');
  const cold = Math.min(...runs.cold.map((r) => r.longest));
  const warm = Math.min(...runs.warm.map((r) => r.longest));
  t.diagnostic(`the longest loop piece of the first read: cold ${cold.toFixed(2)} ms CPU, after the warm-up ${warm.toFixed(2)}`);
  assert.ok(warm < cold * 0.6, `after the warm-up ${warm.toFixed(2)} ms, cold ${cold.toFixed(2)}`);
});

test('/status.json warm-up: the first /status.json after the start holds the loop, in its longest slice, less than 60% of a cold one\'s CPU (4-5 ms at 10,000 services of 4 checked servers: gzip\'s first stream, the request\'s first path)', async (t) => {
  // Three of each, their medians: the least of two cold ones was once 2.63 ms (others 3.3-6.0), the warm 1.6-1.9.
  const runs = await children<{ first: number; longest: number; slices: number }>('status', 3);
  const cold = median(runs.cold.map((r) => r.longest));
  const warm = median(runs.warm.map((r) => r.longest));
  t.diagnostic(`the longest slice of the first /status.json: cold ${cold.toFixed(2)} ms CPU, after the warm-up ${warm.toFixed(2)}; first slices cold ${runs.cold.map((r) => r.first.toFixed(2)).join(', ')}, warm ${runs.warm.map((r) => r.first.toFixed(2)).join(', ')}`);
  assert.ok(warm < cold * 0.6, `after the warm-up ${warm.toFixed(2)} ms, cold ${cold.toFixed(2)}`);
});
