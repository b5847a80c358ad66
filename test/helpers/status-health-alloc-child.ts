// A child of test/metrics-garbage.test.ts (run with --expose-gc): what a /status.json allocates
// with a HealthManager's health view (src/health/manager.ts), at `services` x `servers` checked
// servers (one TCP_CHECK each, never run: a day's delay_loop) and a sorry server per service. The
// services written by StatusWalk.write, a yield after each (as the metrics server's slices), after
// twelve to compile the code; the bytes the sampling heap profiler sees allocated (allocated()),
// the least of three, but what the writer's own frame allocates: its numbers, boxed until V8 has
// optimised it, are 0-1 MB at 1,000 x 4 from one run to the next (2026-12-06), which would hide
// the health view's part. Prints JSON: { heap (bytes), bytes (the text's length), same (its
// services' text is the one JSON.stringify makes of statusWalk's objects), services (in the table) }.
import { allocated } from './alloc.js';
import { rig } from './harness.js';
import { HealthManager } from '../../src/health/manager.js';
import type { CheckSpec, VirtualServerSpec } from '../../src/health/types.js';
import { formatIp } from '../../src/datapath/addr.js';
import { statusWalk } from '../../src/metrics/status.js';
import { ByteOut, BLOCK } from '../../src/metrics/bytes.js';
import { RateEstimator } from '../../src/metrics/rates.js';
import { runSteps } from '../../src/control/slices.js';
import { statusTexts } from './status-text.js';

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run with --expose-gc');

const services = Number(process.argv[2] ?? 1000);
const servers = Number(process.argv[3] ?? 4);
const DAY = 86_400_000;
const checker: CheckSpec = { type: 'TCP_CHECK', connectTimeoutMs: 1000, delayLoopMs: DAY, retry: 1, delayBeforeRetryMs: 1000, rise: 1, fall: 1 } as CheckSpec;
const r = rig({ addrs: ['10.0.0.1/8'], destMax: (servers + 1) * services + 8 });
const specs: VirtualServerSpec[] = Array.from({ length: services }, (_, i) => ({
  proto: 'tcp', addr: formatIp(0x0a010000 + i), port: 80, sched: 'rr', fwd: 'dr', persistence: 0, delayLoopMs: DAY, quorum: 1, hysteresis: 0, alpha: false, omega: false,
  sorryServer: { addr: formatIp(0x0a090000 + i), port: 80 },
  realServers: Array.from({ length: servers }, (_, j) => ({ addr: formatIp(0x0a020000 + i * servers + j), port: 80, weight: 1, inhibitOnFailure: false, checkers: [checker] })),
}));
const mgr = new HealthManager({ services: specs }, {
  call: (verb, args) => r.ctl.call(verb, args),
  run: () => new Promise(() => {}),
  exec: () => Promise.resolve(),
  log: { info: () => {}, warn: () => {} },
});
await mgr.start();
const rates = new RateEstimator(r.dp);
const block = Buffer.allocUnsafe(BLOCK);
/** One /status.json's services written (its blocks counted, then dropped), a yield after each (as the metrics server's slices); its length. */
async function status(): Promise<number> {
  let n = 0;
  const out = new ByteOut((b) => (n += b.length), () => block);
  for (const _ of runSteps(statusWalk(r.dp, rates, { health: mgr })).write(out));
  out.end();
  return n;
}
let bytes = 0;
for (let i = 0; i < 12; i++) bytes = await status();
let heap = Infinity;
for (let i = 0; i < 3; i++) {
  gc();
  heap = Math.min(heap, await allocated(status, undefined, (url, name) => name === 'write' && url.endsWith('/src/metrics/status.js')));
}
const { written, objects } = statusTexts(r.dp, rates, { health: mgr });
process.stdout.write(JSON.stringify({ heap, bytes, same: written === objects, services: r.dp.services.filter((s) => s !== undefined).length }) + '\n');
process.exit(0);
