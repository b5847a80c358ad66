// The first /metrics after a start, in a fresh process (test/unit-warmup-metrics.test.ts): a table of
// `services` (argv[2]) x 4 servers checked by a HealthManager (test/helpers/manager-table.ts) and its
// Metrics made, as uvsd makes its listener's; then the start's warm-ups (src/metrics/warmup.ts:
// warmStatus, and warmMetrics through a scratch HealthManager where there is one), two full
// collections (the time until the first scrape: V8 forgets the shapes of objects collected
// meanwhile), and the first scrape with V8's deoptimisations traced (--trace-deopt-verbose, set only
// now: the warm-ups' own are not printed). V8 prints each as a `[bailout ... <JSFunction NAME ...`
// line and `;;; deoptimize at <FILE:LINE:COL>` (inlined at ...) on stdout; then one JSON line:
// {"done":true}.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { managerTable } from './manager-table.js';
import { recordingSlicer } from './recording-slicer.js';
import { createMetrics } from '../../src/metrics/collectors.js';
import { BLOCK } from '../../src/metrics/bytes.js';
import * as warmup from '../../src/metrics/warmup.js';

const services = Number(process.argv[2] ?? 1000);
const { r, mgr } = await managerTable(services, 4);
const metrics = createMetrics(r.dp, { process: false, health: mgr, slicer: recordingSlicer(new Map()) });
await warmup.warmStatus();
// Named by a variable: a build without the /metrics warm-up (the old code) runs without it.
const warmMetrics = (warmup as Record<string, unknown>).warmMetrics as ((h: unknown) => Promise<unknown>) | undefined;
if (warmMetrics !== undefined) {
  const scratch = './../../src/health/scratch.js';
  const { scratchHealth } = (await import(scratch)) as { scratchHealth: unknown };
  await warmMetrics(scratchHealth);
}
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
gc();
gc();
setFlagsFromString('--trace-deopt');
setFlagsFromString('--trace-deopt-verbose');
const block = Buffer.allocUnsafe(BLOCK);
await metrics.stream(() => {}, () => block);
setFlagsFromString('--no-trace-deopt');
setFlagsFromString('--no-trace-deopt-verbose');
await mgr.stop();
console.log(JSON.stringify({ done: true }));
