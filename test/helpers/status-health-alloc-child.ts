// A child of test/metrics-garbage.test.ts (run with --expose-gc --no-concurrent-recompilation):
// what a /status.json allocates with a HealthManager's health view, at `services` x `servers`
// checked servers (test/helpers/manager-table.ts: sorry servers in and out of the table, addresses
// past 2^30 as int32, counters past 2^32). The services written by StatusWalk.write, a yield every
// 64 services (as the metrics server's slices: a few hundred a request at 10,000 services), after
// 20 to compile the code (optimised on this thread at once: --no-concurrent-recompilation); the
// bytes the sampling heap profiler sees allocated (allocated()), the writer's own included, the
// least of three. Prints JSON: { heap (bytes), bytes (the text's length), same (its services'
// text is the one JSON.stringify makes of statusWalk's objects), services (in the table), sorryIn
// (services whose sorry server is in) }.
import { allocated } from './alloc.js';
import { managerTable } from './manager-table.js';
import { statusWalk, type StatusJson } from '../../src/metrics/status.js';
import { ByteOut, BLOCK } from '../../src/metrics/bytes.js';
import { RateEstimator } from '../../src/metrics/rates.js';
import { runSteps } from '../../src/control/slices.js';
import { statusTexts } from './status-text.js';

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run with --expose-gc');

const services = Number(process.argv[2] ?? 1000);
const servers = Number(process.argv[3] ?? 4);
const { r, mgr } = await managerTable(services, servers);
const rates = new RateEstimator(r.dp);
const block = Buffer.allocUnsafe(BLOCK);
let n = 0;
let k = 0;
const count = (b: Buffer): void => void (n += b.length);
const take = (): Buffer => block;
const every64 = (): boolean => (++k & 63) === 0;
/** One /status.json's services written (its blocks counted, then dropped), a yield every 64 services; its length. */
async function status(): Promise<number> {
  n = 0;
  const out = new ByteOut(count, take);
  for (const _ of runSteps(statusWalk(r.dp, rates, { health: mgr })).write(out, every64));
  out.end();
  return n;
}
let bytes = 0;
for (let i = 0; i < 20; i++) bytes = await status();
let heap = Infinity;
for (let i = 0; i < 3; i++) {
  gc();
  heap = Math.min(heap, await allocated(status));
}
const { written, objects } = statusTexts(r.dp, rates, { health: mgr });
const sorryIn = (JSON.parse(written) as StatusJson['services']).filter((s) => s.quorum?.sorryIn === true && s.dests.some((d) => d.sorry)).length;
process.stdout.write(JSON.stringify({ heap, bytes, same: written === objects, services: r.dp.services.filter((s) => s !== undefined).length, sorryIn }) + '\n');
process.exit(0);
