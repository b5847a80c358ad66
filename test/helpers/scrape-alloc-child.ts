// A child of test/metrics-garbage.test.ts (run with --no-concurrent-recompilation: the JIT's optimised
// code is in place when a compile is asked for, so a measured scrape does not run code that a loaded
// host has not optimised yet, which boxes every number it reads): what a /metrics scrape of a table of
// `services` x `servers` checked servers (test/helpers/big-table.ts) allocates on the JS heap, less an
// empty table's, each checker's last duration new before every scrape (BigTable.tick), as the checks
// between two scrapes make them. Prints JSON: { heap, base } (bytes, the least of 5 after 8 scrapes
// each; prom-client's own part left out) and the last scrape's text.
import { allocated } from './alloc.js';
import { bigHealthTable } from './big-table.js';
import { createMetrics } from '../../src/metrics/collectors.js';

/** What a scrape allocates, prom-client's part left out: the least of 5, after eight. */
async function scrape(m: ReturnType<typeof createMetrics>, tick: () => void): Promise<number> {
  m.census.full();
  for (let i = 0; i < 8; i++) {
    tick();
    await m.body();
  }
  let heap = Infinity;
  for (let i = 0; i < 5; i++) {
    tick();
    heap = Math.min(heap, await allocated(() => m.stream(() => {}), (url) => url.includes('prom-client')));
  }
  return heap;
}

const services = Number(process.argv[2] ?? 1000);
const servers = Number(process.argv[3] ?? 4);
const empty = bigHealthTable(0, servers);
const base = await scrape(createMetrics(empty.r.dp, { process: false, health: empty.health }), empty.tick);
const { r, health, tick } = bigHealthTable(services, servers);
const m = createMetrics(r.dp, { process: false, health });
const heap = await scrape(m, tick);
process.stdout.write(JSON.stringify({ heap, base, text: await m.text() }));
