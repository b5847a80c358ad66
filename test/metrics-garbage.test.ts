// test-class: shared
// A scrape and a /status.json of a large health-checked table make little garbage per server and
// no piece of work over the whole table (src/metrics/collectors.ts gather(), status.ts statusWalk):
// at 10,000 services x 4 checked servers the young-generation collections and the old
// generation's marking steps their garbage set off were what still made 4-10 ms slices
// (docs/metrics.md "What a scrape costs"). In process, no uvsd; no time bounds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { allocated } from './helpers/alloc.js';
import { bigHealthTable } from './helpers/big-table.js';
import { createMetrics } from '../src/metrics/collectors.js';
import type { HealthView } from '../src/metrics/view.js';
import { statusJson, statusWalk } from '../src/metrics/status.js';
import { RateEstimator } from '../src/metrics/rates.js';
import { runSteps } from '../src/control/slices.js';

/** Allocated in the test's health view (test/helpers/: its entries and checkers, made as HealthManager makes them): not counted. */
const healthView = (url: string): boolean => url.includes('/test/helpers/');

test('a scrape of 500 services x 4 checked servers allocates under 1,600 bytes per server besides the health checks\' own lists (2,400 before: a row object per server and checker, a string key per server for its health, every service\'s and quorum\'s labels made anew); the text is the same with the health looked up by key or not', async (t) => {
  const services = 500;
  const servers = 4;
  const { r, health } = bigHealthTable(services, servers);
  const m = createMetrics(r.dp, { process: false, health });
  m.census.full();
  const text = await m.body(); // warm up: label texts made, code compiled
  await m.body();
  // The least of 3 scrapes: code still being compiled (each scrape's one-off loops run in the interpreter) boxes numbers.
  let bytes = 0;
  let heap = Infinity;
  for (let i = 0; i < 3; i++) {
    bytes = 0;
    heap = Math.min(heap, await allocated(() => m.stream((b) => (bytes += b.length)), healthView));
  }
  const per = heap / (services * servers);
  t.diagnostic(`${bytes} bytes of text; ${Math.round(heap / 1024)} KiB allocated, ${Math.round(per)} bytes per server`);
  assert.equal(bytes, text.length, 'the whole text');
  // What is left is mostly the pauses' promises and the registry's text.
  assert.ok(per < 1600, `a scrape allocated ${Math.round(per)} bytes per server`);
  // Without HealthView.stateOfKey (health looked up by service, address and port): the same text.
  const { stateOfKey: _byKey, ...byParts } = health;
  assert.ok((await createMetrics(r.dp, { process: false, health: byParts }).body()).equals(text), 'the same text');
});

test('/status.json asks for each service\'s checked servers and quorum as it writes that service: none of the other 1,999 entries made before the first service (all of them, in maps, before); the same JSON as from maps of every entry', () => {
  const { r, health } = bigHealthTable(500, 4);
  let made = 0;
  const counted = <A extends unknown[], T>(f: (...a: A) => Iterable<T> | undefined) => (...a: A): Iterable<T> | undefined => {
    const xs = f(...a);
    if (xs === undefined) return undefined;
    return (function* () {
      for (const x of xs) {
        made++;
        yield x;
      }
    })();
  };
  const view: HealthView = {
    ...health,
    eachEntry: counted(health.eachEntry!) as () => Iterable<never>,
    entries: () => [...view.eachEntry!()],
    entriesOf: counted(health.entriesOf!),
  };
  const rates = new RateEstimator(r.dp);
  const w = runSteps(statusWalk(r.dp, rates, { health: view }));
  const first = w.services.next();
  assert.equal(first.done, false);
  assert.ok(made <= 4, `${made} health entries made before the first service (its own 4 at most)`);
  assert.equal(first.value!.dests.length, 4);
  // The fields and every service as the maps of every entry and quorum (a view without entriesOf, quorumOf) give them.
  const { entriesOf: _e, quorumOf: _q, ...whole } = health;
  const st = { ...w.head, services: [first.value!, ...w.services] };
  assert.equal(JSON.stringify({ ...st, time: '', uptimeS: 0 }), JSON.stringify({ ...statusJson(r.dp, rates, { health: whole }), time: '', uptimeS: 0 }));
});
