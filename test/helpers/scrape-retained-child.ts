// A child of test/metrics-garbage.test.ts (run with --expose-gc): what a /metrics scrape keeps on the JS
// heap after the first scrape of a table (the label texts it keeps from scrape to scrape: a server's,
// its checked server's, its checker's), and after a second. A table of `services` x `servers` checked
// servers (test/helpers/big-table.ts), scraped first on a table of 8 services (its code compiled), then
// a full collection before and after each scrape of the big table: the heap in use, code spaces left
// out. Prints JSON: { first, second } (bytes, of each of three tables).
import { heldBytes } from './alloc.js';
import { bigHealthTable } from './big-table.js';
import { createMetrics } from '../../src/metrics/collectors.js';
import { BLOCK } from '../../src/metrics/bytes.js';

const block = Buffer.allocUnsafe(BLOCK);
const services = Number(process.argv[2] ?? 1000);
const servers = Number(process.argv[3] ?? 4);
const small = bigHealthTable(8, servers);
const warm = createMetrics(small.r.dp, { process: false, health: small.health });
for (let i = 0; i < 3; i++) await warm.stream(() => {}, () => block);
const first: number[] = [];
const second: number[] = [];
for (let k = 0; k < 3; k++) {
  const { r, health, tick } = bigHealthTable(services, servers);
  const m = createMetrics(r.dp, { process: false, health });
  const h0 = heldBytes();
  tick();
  await m.stream(() => {}, () => block);
  const h1 = heldBytes();
  tick();
  await m.stream(() => {}, () => block);
  first.push(h1 - h0);
  second.push(heldBytes() - h1);
}
process.stdout.write(JSON.stringify({ first, second }));
