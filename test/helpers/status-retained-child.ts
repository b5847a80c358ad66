// A child of test/metrics-garbage.test.ts (run with --expose-gc): what the /status.json writer
// keeps on the JS heap after the first /status.json of a table, and after a second. A table of
// `services` x `servers` checked servers (test/helpers/big-table.ts); the writer run first on a
// table of 8 services (its code compiled, the module's constants made), then a full collection
// before and after each /status.json of the big table: the heap in use, code spaces left out
// (code the JIT makes meanwhile is not what the writer keeps). Prints JSON: { first, second }
// (bytes, of each of three tables) and the text's length.
import { heldBytes } from './alloc.js';
import { bigHealthTable } from './big-table.js';
import { writeStatus } from '../../src/metrics/status.js';
import { ByteOut, BLOCK } from '../../src/metrics/bytes.js';
import { RateEstimator } from '../../src/metrics/rates.js';
import { plainSlicer } from '../../src/control/slices.js';
import type { Datapath } from '../../src/datapath/pipeline.js';
import type { HealthView } from '../../src/metrics/view.js';

const block = Buffer.allocUnsafe(BLOCK);
/** One /status.json of dp written (its blocks counted, then dropped); its length. */
async function status(dp: Datapath, rates: RateEstimator, health: HealthView): Promise<number> {
  let n = 0;
  const { pause } = plainSlicer('status.json');
  await writeStatus(dp, rates, { health }, new ByteOut((b) => (n += b.length), () => block), pause, () => true);
  return n;
}

const services = Number(process.argv[2] ?? 1000);
const servers = Number(process.argv[3] ?? 4);
const small = bigHealthTable(8, servers);
const smallRates = new RateEstimator(small.r.dp);
for (let i = 0; i < 3; i++) await status(small.r.dp, smallRates, small.health);
// Three tables, each's first /status.json and second: the heap moves by ±300 KB from one
// measurement to the next at 1,000 x 4 (old space; 2026-12-06), so the test takes the least.
const first: number[] = [];
const second: number[] = [];
let bytes = 0;
for (let k = 0; k < 3; k++) {
  const { r, health } = bigHealthTable(services, servers);
  const rates = new RateEstimator(r.dp);
  const h0 = heldBytes();
  bytes = await status(r.dp, rates, health);
  const h1 = heldBytes();
  await status(r.dp, rates, health);
  first.push(h1 - h0);
  second.push(heldBytes() - h1);
}
process.stdout.write(JSON.stringify({ first, second, bytes }) + '\n');
