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
import { statusJson, statusWalk, type StatusJson } from '../src/metrics/status.js';
import { startMetricsServer, type MetricsServer } from '../src/metrics/server.js';
import { statusTexts } from './helpers/status-text.js';
import { ByteOut } from '../src/metrics/bytes.js';
import { RateEstimator } from '../src/metrics/rates.js';
import { runSteps } from '../src/control/slices.js';

test('a scrape allocates under 300 bytes per checked server, its health view\'s lists included (500 services x 4 servers less an empty table: 780-900 on 2026-12-06 before, every entry, checker and quorum an object through a generator, an await every 32-64 rows, the scrape\'s lists grown anew); the text is the same with the health looked up by key or not, and through the view\'s generators', async (t) => {
  const services = 500;
  const servers = 4;
  /** What a scrape allocates (the least of 3, after two: code still being compiled boxes numbers), and the text's bytes. */
  const scrape = async (m: ReturnType<typeof createMetrics>): Promise<{ heap: number; bytes: number }> => {
    m.census.full();
    await m.body(); // warm up: label texts made, code compiled
    await m.body();
    let bytes = 0;
    let heap = Infinity;
    for (let i = 0; i < 3; i++) {
      bytes = 0;
      heap = Math.min(heap, await allocated(() => m.stream((b) => (bytes += b.length))));
    }
    return { heap, bytes };
  };
  // The registry's part (prom-client's text, ~750 KiB a scrape) is the same at any size: an empty table's is taken off.
  const empty = bigHealthTable(0, servers);
  const base = await scrape(createMetrics(empty.r.dp, { process: false, health: empty.health }));
  const { r, health } = bigHealthTable(services, servers);
  const m = createMetrics(r.dp, { process: false, health });
  const text = await m.body();
  const { heap, bytes } = await scrape(m);
  const per = (heap - base.heap) / (services * servers);
  t.diagnostic(`${bytes} bytes of text; ${Math.round(heap / 1024)} KiB allocated (an empty table's scrape ${Math.round(base.heap / 1024)}), ${Math.round(per)} bytes per server`);
  assert.equal(bytes, text.length, 'the whole text');
  // 10-100 bytes on 2026-12-06: mostly the checkers' durations as text.
  assert.ok(per < 300, `a scrape allocated ${Math.round(per)} bytes per server`);
  // Without HealthView.stateOfKey (health looked up by service, address and port): the same text.
  const { stateOfKey: _byKey, ...byParts } = health;
  assert.ok((await createMetrics(r.dp, { process: false, health: byParts }).body()).equals(text), 'the same text');
  // Without the cursors (the lists' generators): the same text.
  const { entryCursor: _e, checkerCursor: _c, quorumCursor: _q, ...generators } = health;
  assert.ok((await createMetrics(r.dp, { process: false, health: generators }).body()).equals(text), 'the same text through the generators');
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

test('/status.json of 500 services x 4 checked servers through the metrics server allocates under 1,500 bytes per server (500 x 4 less an empty table; 3,200-3,400 on 2026-12-06 before: an object per server and its rates, each service serialised as a string, then the strings joined); its services\' text is the one JSON.stringify makes of the objects, with rates, counts and a -f service, with the health lists by service or whole', async (t) => {
  const services = 500;
  const servers = 4;
  /** What a /status.json allocates, the client's part (undici) and the test's health view left out: the least of 3, after four (code not optimised yet boxes numbers). */
  const answer = async (srv: MetricsServer): Promise<{ heap: number; text: string }> => {
    const get = async (): Promise<string> => (await fetch(`http://${srv.address}/status.json`)).text();
    for (let i = 0; i < 3; i++) await get();
    const text = await get();
    let heap = Infinity;
    for (let i = 0; i < 3; i++) heap = Math.min(heap, await allocated(get, (url) => url.includes('undici') || url.includes('/test/helpers/')));
    return { heap, text };
  };
  const empty = bigHealthTable(0, servers);
  const { r, health } = bigHealthTable(services, servers);
  const e = await startMetricsServer(empty.r.dp, { host: '127.0.0.1', port: 0 }, { process: false, health: empty.health });
  const s = await startMetricsServer(r.dp, { host: '127.0.0.1', port: 0 }, { process: false, health });
  try {
    const base = await answer(e);
    const { heap, text } = await answer(s);
    const per = (heap - base.heap) / (services * servers);
    t.diagnostic(`${text.length} bytes of JSON; ${Math.round(heap / 1024)} KiB allocated (an empty table's ${Math.round(base.heap / 1024)}), ${Math.round(per)} bytes per server`);
    assert.equal((JSON.parse(text) as StatusJson).services.length, services);
    // 470-1,060 bytes on 2026-12-06: each service's checked servers (HealthView.entriesOf) in a map, and numbers boxed until the writer is optimised.
    assert.ok(per < 1500, `a /status.json allocated ${Math.round(per)} bytes per server`);
  } finally {
    e.close();
    s.close();
  }
  // The text written is the objects' JSON: with traffic (rates with fractions, counts past 2^32), a -f service, and without entriesOf.
  const dt = r.dp.dt;
  for (let d = 0; d < 40; d++) {
    dt.conns[d] = 3 * d;
    dt.inPkts[d] = 1e10 + d;
    dt.inBytes[d] = 2 ** 53 + 2 * d;
  }
  r.ctl.addService({ proto: 'tcp', addr: '0.0.0.0', port: 0, fwmark: 7, sched: 'wrr' });
  r.ctl.addDest({ service: { proto: 'tcp', addr: '0.0.0.0', port: 0, fwmark: 7 }, addr: '10.9.0.1', port: 0, fwd: 'dr', weight: 3 });
  const rates = new RateEstimator(r.dp);
  rates.sample(0);
  for (let d = 0; d < 40; d++) dt.inBytes[d] += 1001 * d + 0.5;
  rates.sample(2000);
  const { entriesOf: _e, quorumOf: _q, ...whole } = health;
  // ByteOut.text copies short ASCII texts itself: the same bytes as Buffer.from, also across a block's end and for UTF-8.
  const parts = ['{"a":', 'r\u00e9sum\u00e9 \u20ac', 'x'.repeat(70), '"\\\n', ...Array.from({ length: 40000 }, (_, i) => `,"k${i}":${i}`)];
  const blocks: Buffer[] = [];
  const o = new ByteOut((b) => blocks.push(Buffer.from(b)));
  for (const p of parts) o.text(p);
  o.end();
  assert.ok(Buffer.concat(blocks).equals(Buffer.from(parts.join(''))) && blocks.length > 1, 'ByteOut.text: the same bytes');
  for (const src of [{ health }, { health: whole }, {}]) {
    const { written, objects } = statusTexts(r.dp, rates, src);
    assert.ok(objects.includes('"fwmark":7') && /"inbps":\d+\.\d+/.test(objects), 'the cases are there');
    assert.equal(written, objects);
  }
});
