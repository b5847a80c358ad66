// test-class: shared
// A scrape and a /status.json of a large health-checked table make little garbage per server and
// no piece of work over the whole table (src/metrics/collectors.ts gather(), status.ts statusWalk):
// at 10,000 services x 4 checked servers the young-generation collections and the old
// generation's marking steps their garbage set off were what still made 4-10 ms slices
// (docs/metrics.md "What a scrape costs"). In process, no uvsd; no time bounds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { allocated } from './helpers/alloc.js';
import { bigHealthTable, checkMs } from './helpers/big-table.js';
import { createMetrics } from '../src/metrics/collectors.js';
import type { HealthView } from '../src/metrics/view.js';
import { statusJson, statusWalk, type StatusJson } from '../src/metrics/status.js';
import { startMetricsServer, type MetricsServer } from '../src/metrics/server.js';
import { statusTexts } from './helpers/status-text.js';
import { ByteOut, LabelStore, LabelWriter, putMicros } from '../src/metrics/bytes.js';
import { RateEstimator } from '../src/metrics/rates.js';
import { runSteps } from '../src/control/slices.js';
import { rig } from './helpers/harness.js';
import { serviceId, type HealthEntry, type HealthQuorum, type ServiceKey } from '../src/control/protocol.js';
import { execFileSync } from 'node:child_process';
import { HealthManager } from '../src/health/manager.js';
import type { CheckSpec, RealServerSpec, VirtualServerSpec } from '../src/health/types.js';
import { FakeClock } from './helpers/fake-clock.js';
import { fwmarkOf, serviceIdOf } from '../src/metrics/view.js';
import { l4Name } from '../src/datapath/frame.js';
import { formatIp } from '../src/datapath/addr.js';
import { fileURLToPath } from 'node:url';

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
  // Code V8 has not optimised yet boxes numbers: beside other busy test files (load 4-5) a round
  // measured 331-422 bytes per server where one alone measures 20-145. Up to three rounds, each
  // after more scrapes: a scrape that allocates per server fails all of them.
  let heap = Infinity;
  let bytes = 0;
  let per = Infinity;
  for (let round = 1; round <= 3 && per >= 300; round++) {
    ({ heap, bytes } = await scrape(m));
    per = (heap - base.heap) / (services * servers);
    t.diagnostic(`round ${round}: ${bytes} bytes of text; ${Math.round(heap / 1024)} KiB allocated (an empty table's scrape ${Math.round(base.heap / 1024)}), ${Math.round(per)} bytes per server`);
  }
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

/** `us` microseconds as the exact decimal of seconds (BigInt digits): 1234 -> 0.001234, 1500000 -> 1.5, 0 -> 0. */
const exactSeconds = (us: number): string => {
  const d = (us < 0 ? -BigInt(us) : BigInt(us)).toString().padStart(7, '0');
  const frac = d.slice(-6).replace(/0+$/, '');
  return `${us < 0 ? '-' : ''}${d.slice(0, -6)}${frac === '' ? '' : `.${frac}`}`;
};

test('a scrape of 1,000 services x 4 checked servers whose checks\' durations change between scrapes (as performance.now() differences) allocates under 50 bytes per server (less an empty table; 73-81 on 2026-12-06 before: each duration divided by 1000, boxed, and written by String() as ~20 digits); uvs_health_check_duration_seconds is each duration rounded to the microsecond, as its exact decimal', (t) => {
  const services = 1000;
  const servers = 4;
  const child = fileURLToPath(new URL('./helpers/scrape-alloc-child.js', import.meta.url));
  const r = JSON.parse(execFileSync(process.execPath, ['--no-concurrent-recompilation', child, String(services), String(servers)],
    { encoding: 'utf8', timeout: 120_000, maxBuffer: 64 << 20 })) as { heap: number; base: number; text: string };
  const per = (r.heap - r.base) / (services * servers);
  t.diagnostic(`${Math.round(r.heap / 1024)} KiB allocated (an empty table's scrape ${Math.round(r.base / 1024)}), ${Math.round(per)} bytes per server`);
  // 10-30 after, 73-81 before (least of 5 each, load 5-7).
  assert.ok(per < 50, `a scrape allocated ${Math.round(per)} bytes per server`);
  // The last scrape's durations (its checkers in the table's order, after 13 ticks): each rounded to the µs, its exact decimal.
  const text = r.text.split('\n').filter((l) => l.startsWith('uvs_health_check_duration_seconds{'));
  assert.equal(text.length, services * servers);
  text.forEach((l, n) => assert.equal(l.slice(l.lastIndexOf(' ') + 1), exactSeconds(Math.round(checkMs(n + 13 * services * servers) * 1000)), l));
});

test('the first /metrics of 1,000 services x 4 checked servers keeps under 300 bytes per server on the JS heap, the label texts it keeps from scrape to scrape in a LabelStore\'s bytes off the heap (975-1,020 on 2026-12-06 before: a Buffer and an object per server, checked server and checker, 41 MB at 10,000 x 4 its scavenges promoted), and nothing more at the second', (t) => {
  const services = 1000;
  const servers = 4;
  const child = fileURLToPath(new URL('./helpers/scrape-retained-child.js', import.meta.url));
  const r = JSON.parse(execFileSync(process.execPath, ['--expose-gc', child, String(services), String(servers)], { encoding: 'utf8', timeout: 120_000 })) as { first: number[]; second: number[] };
  t.diagnostic(`heap kept after the first /metrics of three tables ${r.first.map((x) => Math.round(x / 1024)).join(', ')} KiB, after the second ${r.second.map((x) => Math.round(x / 1024)).join(', ')} KiB`);
  const kept = Math.min(...r.first) / (services * servers);
  // 90-140 after (each server's key for the health lookup, destByKey), 975-1,020 before (the least of three tables each);
  // the heap moves by up to ~300 KB (75 bytes per server) between two measurements.
  assert.ok(kept < 300, `the first /metrics left ${Math.round(kept)} bytes per server on the heap`);
  assert.ok(Math.min(...r.second) / (services * servers) < 100, 'the second keeps nothing more');
});

test('the first /metrics of 1,000 services x 4 checked servers allocates under 3,000 bytes per server on the JS heap, its label texts (about five per server) written as bytes (less an empty table\'s first; 8,900-9,800 on 2026-12-06 before: each text a string of strings made from an object of its labels, then copied as bytes: 345 MB and 25 scavenges at 10,000 x 4)', async (t) => {
  const services = 1000;
  const servers = 4;
  /** What the first scrape of a new table allocates, and its text's bytes. */
  const first = async (n: number): Promise<{ heap: number; bytes: number }> => {
    const { r, health } = bigHealthTable(n, servers);
    const m = createMetrics(r.dp, { process: false, health });
    m.census.full();
    let bytes = 0;
    const heap = await allocated(() => m.stream((b) => (bytes += b.length)));
    return { heap, bytes };
  };
  // The registry's part (prom-client's, cold at a first scrape) is the same at any size: an empty table's is taken off,
  // after a small table's first scrape (its code compiled: cold code boxes numbers).
  await first(100);
  const base = await first(0);
  const { heap, bytes } = await first(services);
  const per = (heap - base.heap) / (services * servers);
  t.diagnostic(`${bytes} bytes of text; ${Math.round(heap / 1024)} KiB allocated (an empty table's first scrape ${Math.round(base.heap / 1024)}), ${Math.round(per)} bytes per server`);
  assert.ok(bytes > services * servers * 1000, 'the whole text');
  // 1,060-1,270 after (the names' columns and each server's key kept, code still partly cold), 8,900-9,740 before.
  assert.ok(per < 3000, `the first scrape allocated ${Math.round(per)} bytes per server`);
});

test('a LabelWriter writes the label text labelText made as a string (k="v" joined by commas, each value escaped, numbers as String() writes them): values to escape, not ASCII, a lone surrogate, numbers negative, fractional, past 2^53, addresses past 2^31, marks as 8 hex digits', () => {
  // collectors.ts' labelText and escapeLabel until 2026-12-06.
  const escapeLabel = (v: string | number): string =>
    typeof v === 'number' || !/["\\\n]/.test(v) ? String(v) : v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
  const labelText = (labels: Record<string, string | number>): string => Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',');
  const values: (string | number)[] = ['', 'tcp', '10.1.0.0', 'MISC "x\\y"\nz', '\\', '"', '\n\n', '\u00e9t\u00e9', 'r\u00e9sum\u00e9 "\u20ac"\\', '\ud83d\ude00 x', 'a\ud800b', '\udc00"', 'x'.repeat(300) + '\u00e9"',
    0, -0, 1, 9, 10, 65535, 2 ** 31, 2 ** 32 + 7, 2 ** 53 - 1, 2 ** 53, 1e21, -1, -5, 0.5, 1.25e-7, NaN, Infinity, -Infinity];
  const w = new LabelWriter();
  const text = (): string => w.text();
  for (const a of values) {
    for (const b of [values[3]!, values[8]!, 80, 1.5]) {
      w.start().raw('k="');
      if (typeof a === 'number') w.num(a);
      else w.value(a);
      w.raw('",\u00e9="');
      if (typeof b === 'number') w.num(b);
      else w.value(b);
      w.raw('"');
      const want = labelText({ k: a, '\u00e9': b });
      assert.ok(w.b.subarray(0, w.n).equals(Buffer.from(want)), `${JSON.stringify(a)}, ${JSON.stringify(b)}: ${text()}, not ${want}`);
    }
  }
  for (const ip of [0, 1, -1, 2 ** 31 - 1, -(2 ** 31), 0x0a010203, 0xc0a80001 | 0]) assert.equal(w.start().ip(ip).text(), formatIp(ip));
  for (const m of [0, 7, 10, 255, 0xabcdef, 4_000_000_000, 2 ** 32 - 1]) assert.equal(w.start().hex8(m).text(), m.toString(16).toUpperCase().padStart(8, '0'));
});

test('putMicros writes whole microseconds as the exact decimal of seconds (0, 1 µs, whole seconds, past 1,000 s and 2^31 µs, up to 2^53 - 1, negative), the same text as String(us / 1e6) below 10^15 µs', () => {
  const b = Buffer.alloc(64);
  const put = (us: number): string => b.toString('latin1', 0, putMicros(b, 0, us));
  const edges = [0, 1, 5, 9, 10, 99, 100, 999, 1000, 1234, 99_999, 100_000, 999_999, 1_000_000, 1_000_001, 1_500_000, 2_000_000, 10_000_000,
    1_000_000_000, 1_000_000_001, 1_234_567_890, 2 ** 31 - 1, 2 ** 31, 2 ** 32 + 7, 3_600_000_000, 1e15 - 1, 1e15, 2 ** 53 - 1, -1, -5, -1_500_000];
  let seed = 12345;
  const rnd = (): number => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
  const values = [...edges];
  for (let i = 0; i < 200_000; i++) values.push(Math.floor(rnd() * 10 ** (1 + Math.floor(rnd() * 12))));
  for (let i = 0; i < 20_000; i++) values.push(Math.floor(rnd() * 2 ** 53));
  for (const us of values) {
    const s = put(us);
    if (s !== exactSeconds(us)) assert.fail(`putMicros(${us}) wrote ${s}, not ${exactSeconds(us)}`);
    if (Math.abs(us) < 1e15 && s !== String(us / 1e6)) assert.fail(`putMicros(${us}) wrote ${s}, String() ${String(us / 1e6)}`);
  }
  assert.equal(put(-0), '0');
  assert.deepEqual([0, 1, 1_000_000, 1234, 1_500_000, 1_000_000_001].map(put), ['0', '0.000001', '1', '0.001234', '1.5', '1000.000001']);
});

test('uvs_health_check_duration_seconds is the last duration rounded to the microsecond (under 0.5 µs: 0), as its exact decimal of seconds', async () => {
  const { r, health } = bigHealthTable(1, 1);
  const stat = health.checkerStats!()[0]!;
  const cases = [[0.0004, '0'], [0.0005, '0.000001'], [1.2344999, '0.001234'], [0.12345678901234, '0.000123'], [1000, '1'], [2_147_483.6479, '2147.483648'],
    [1_234_567.8915, '1234.567892'], [0, '0']] as const;
  for (const [ms, want] of cases) {
    const view: HealthView = { stateOf: health.stateOf, stateOfKey: health.stateOfKey, entries: health.entries, checkerStats: () => [{ ...stat, lastMs: ms }] };
    const text = await createMetrics(r.dp, { process: false, health: view }).text();
    const line = text.split('\n').find((l) => l.startsWith('uvs_health_check_duration_seconds{'));
    assert.equal(line, `uvs_health_check_duration_seconds{proto="tcp",service="10.1.0.0:80",server="10.2.0.0:80",checker="TCP_CHECK",check="0"} ${want}`, `${ms} ms`);
  }
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

test('the first /status.json of 1,000 services x 4 checked servers leaves under 100 bytes per server on the JS heap (1,030-1,390 KB on 2026-12-06 before: every server\'s `addr:port` and its text up to its weight, and every service\'s, kept by the writer to the next, made at the first and kept through its scavenges)', (t) => {
  const services = 1000;
  const servers = 4;
  const child = fileURLToPath(new URL('./helpers/status-retained-child.js', import.meta.url));
  const r = JSON.parse(execFileSync(process.execPath, ['--expose-gc', child, String(services), String(servers)], { encoding: 'utf8', timeout: 60_000 })) as { first: number[]; second: number[]; bytes: number };
  t.diagnostic(`${r.bytes} bytes of JSON; heap kept after the first /status.json of three tables ${r.first.map((x) => Math.round(x / 1024)).join(', ')} KiB, after the second ${r.second.map((x) => Math.round(x / 1024)).join(', ')} KiB`);
  assert.ok(r.bytes > services * servers * 300, 'the whole status written');
  // The heap moves by up to ~300 KB between two measurements (the least of three is taken): -70 to 31 KB after, 1,030-1,390 KB before.
  const kept = Math.min(...r.first) / (services * servers);
  assert.ok(kept < 100, `the first /status.json left ${Math.round(kept)} bytes per server on the heap`);
});

test('/status.json written with no string per server (addresses and numbers as digits, the checked servers found by address and port) is what JSON.stringify makes of the objects: sorry servers in and out, checked or not, servers out of the table, a server listed twice or by a text no table server has, suspended checks, reasons to escape, quorums of any field order, -f services', () => {
  const r = rig({ addrs: ['10.0.0.1/8', '192.168.0.1/16'], destMax: 64 });
  const svc = (i: number): ServiceKey => (i === 5 ? { proto: 'tcp', addr: '0.0.0.0', port: 0, fwmark: 4_000_000_000 } : { proto: i === 3 ? 'udp' : 'tcp', addr: `10.1.0.${i}`, port: 80 + i });
  const fwds = ['dr', 'nat', 'tun', 'fullnat'] as const;
  // Server j of service i: 10.2.i.(50j + 1) (192.168.3.* for service 3: negative as int32), at port 8000 + j where the method lets it (masq, fullnat), else the service's.
  const fwdOf = (i: number, j: number) => fwds[(i + j) % 4]!;
  const portOf = (i: number, j: number): number => (fwdOf(i, j) === 'nat' || fwdOf(i, j) === 'fullnat' ? 8000 + j : svc(i).port);
  const at = (i: number, j: number): [string, number] => [`${i === 3 ? '192.168' : '10.2'}.${i}.${j * 50 + 1}`, portOf(i, j)];
  for (let i = 0; i < 6; i++) {
    r.ctl.addService({ ...svc(i), sched: i === 2 ? 'sh' : 'wlc' });
    for (let j = 0; j < 4; j++) r.ctl.addDest({ service: svc(i), addr: at(i, j)[0], port: at(i, j)[1], fwd: fwdOf(i, j), weight: j });
  }
  const entry = (i: number, [addr, port]: [string, number], state: 'up' | 'down', reason: string, suspended?: boolean): HealthEntry => (
    { service: svc(i), addr, port, state, reason, weight: 1, inhibit: false, since: 0, ...(suspended === undefined ? {} : { suspended }) });
  const text = ([addr, port]: [string, number]): string => `${addr}:${port}`;
  const entries: HealthEntry[][] = [
    // In the table, one down with a reason to escape; one out of the table.
    [entry(0, at(0, 0), 'up', 'start'), entry(0, at(0, 1), 'down', 'HTTP_GET: "500"\n\u00e9t\u00e9 \ud83d\ude00'), entry(0, ['10.9.0.1', 9000], 'up', 'removed')],
    // A server listed twice (the later kept, in the place of the first), one by a text no table server has (twice), one at a port past 65535.
    [entry(1, at(1, 0), 'up', 'first'), entry(1, [`0${at(1, 1)[0]}`, at(1, 1)[1]], 'up', 'zero'), entry(1, at(1, 0), 'down', 'second'),
      entry(1, [at(1, 2)[0], 70000], 'up', 'big'), entry(1, [`0${at(1, 1)[0]}`, at(1, 1)[1]], 'down', 'zero again')],
    // Suspended checks; the sorry server is a checked server of the table.
    [entry(2, at(2, 0), 'up', 'a', true), entry(2, at(2, 1), 'down', 'b', true), entry(2, at(2, 2), 'up', 'c', true)],
    [entry(3, at(3, 0), 'up', 'x'), entry(3, at(3, 1), 'up', 'y')],
    [],
    [entry(5, at(5, 0), 'down', 'fwm')],
  ];
  const quorums: (HealthQuorum | undefined)[] = [
    { service: svc(0), up: true, aliveWeight: 1, quorum: 1, hysteresis: 0, sorryIn: false, sorry: text(at(0, 2)) },
    { service: svc(1), sorry: text(at(1, 0)), sorryIn: true, up: false, aliveWeight: 0, quorum: 2, hysteresis: 1, suspended: undefined },
    { service: svc(2), up: false, aliveWeight: 0.5, quorum: 3, hysteresis: 0, sorryIn: true, sorry: text(at(2, 1)), suspended: true },
    { service: svc(3), up: true, aliveWeight: 2, quorum: 1, hysteresis: 0, sorryIn: false, sorry: `${at(3, 0)[0]}:0${at(3, 0)[1]}` },
    undefined,
    { service: svc(5), up: false, aliveWeight: 0, quorum: 1, hysteresis: 0, sorryIn: true, sorry: '10.2.5.301:8003' },
  ];
  const byId = new Map(entries.map((e, i) => [serviceId(svc(i)), e]));
  const qById = new Map(quorums.flatMap((q, i) => (q === undefined ? [] : [[serviceId(svc(i)), q] as const])));
  const health: HealthView = {
    stateOf: () => 'up', entries: () => entries.flat(), quorum: () => quorums.filter((q) => q !== undefined),
    entriesOf: (id) => byId.get(id), quorumOf: (id) => qById.get(id),
  };
  const dt = r.dp.dt;
  dt.conns[3] = 7;
  dt.inBytes[5] = 2 ** 60;
  const rates = new RateEstimator(r.dp);
  const { entriesOf: _e, quorumOf: _q, ...whole } = health;
  for (const src of [{ health }, { health: whole }, {}]) {
    const { written, objects } = statusTexts(r.dp, rates, src);
    assert.equal(written, objects);
  }
  // The cases are there: a sorry server in and out of the table, a duplicate's later entry, both texts no server has listed as out of the table.
  const st = JSON.parse(statusTexts(r.dp, rates, { health }).written) as StatusJson['services'];
  assert.deepEqual(st[1]!.dests.filter((d) => d.removed).map((d) => [d.addr, d.port, d.reason]), [[`0${at(1, 1)[0]}`, at(1, 1)[1], 'zero again'], [at(1, 2)[0], 70000, 'big']]);
  assert.deepEqual(st[1]!.dests.filter((d) => !d.removed).map((d) => [d.sorry, d.reason]), [[true, 'second'], [false, ''], [false, ''], [false, '']]);
  assert.deepEqual(st.map((x) => x.dests.filter((d) => d.sorry).length), [1, 1, 1, 0, 0, 0]);
  assert.deepEqual(st.map((x) => x.dests.filter((d) => d.heldOut).map((d) => d.addr)), [[], [at(1, 2)[0]], [at(2, 0)[0], at(2, 2)[0]], [], [], []]);
  assert.deepEqual(st[3]!.dests.map((d) => [d.addr, d.removed, d.reason]), [0, 1, 2, 3].map((j) => [at(3, j)[0], false, ['x', 'y', '', ''][j]]));
  assert.equal(st[5]!.fwmark, 4_000_000_000);
});

test('/status.json of 1,000 services x 4 servers checked by a HealthManager (sorry servers in and out of the table, addresses past 2^30 as int32, counters past 2^32) allocates under 24 bytes per server, its writer included (290-300 on 2026-12-06 before: each service\'s id and its sorry server\'s text made per request, a closure per server for its weight, the writer a closure of each request optimised anew, numbers boxed at calls); its text is the one JSON.stringify makes of the objects', (t) => {
  const services = 1000;
  const servers = 4;
  const child = fileURLToPath(new URL('./helpers/status-health-alloc-child.js', import.meta.url));
  // Optimised at once on the child's thread: on a loaded host a compile in the background can still be pending after the warm-up.
  const r = JSON.parse(execFileSync(process.execPath, ['--expose-gc', '--no-concurrent-recompilation', child, String(services), String(servers)], { encoding: 'utf8', timeout: 120_000 })) as { heap: number; bytes: number; same: boolean; services: number; sorryIn: number };
  const per = r.heap / (services * servers);
  t.diagnostic(`${r.bytes} bytes of JSON; ${Math.round(r.heap / 1024)} KiB allocated (the least of three), ${per.toFixed(1)} bytes per server`);
  assert.equal(r.services, services, 'the manager put its services in the table');
  assert.equal(r.sorryIn, services / 5, 'every 5th service has its sorry server in');
  assert.ok(r.bytes > services * servers * 300, 'the whole status written');
  assert.ok(r.same, 'the written text is the objects\' JSON');
  // 15-23 KB after (a few per request: its head, the blocks' views), 1,170-1,200 KB before (least of three each, load 9-11).
  assert.ok(per < 24, `a /status.json allocated ${per.toFixed(1)} bytes per server`);
});

test('/status.json with a HealthManager\'s view (serviceIdAt, entriesInto, quorumInto) is the text JSON.stringify makes of the objects, and the same through entriesOf / quorumOf and through the whole lists: TCP, UDP, SCTP and -f services, quorums lost with their sorry server in (one a checked server too) and up with it out, ha_suspend, an unchecked server, a service the health checks do not know', async () => {
  const r = rig({ addrs: ['10.0.0.1/24'] });
  const clock = new FakeClock();
  const [A, B, C] = ['10.0.0.11', '10.0.0.12', '10.0.0.13'];
  const check = { type: 'TCP_CHECK', connectTimeoutMs: 1000, delayLoopMs: 10_000, retry: 0, delayBeforeRetryMs: 1000, rise: 1, fall: 1 } as CheckSpec;
  const server = (addr: string, port: number, checked = true): RealServerSpec => ({ addr, port, weight: 1, inhibitOnFailure: false, checkers: checked ? [check] : [] });
  const vs = (o: Partial<VirtualServerSpec>): VirtualServerSpec => ({ proto: 'tcp', addr: '10.0.0.100', port: 80, sched: 'rr', fwd: 'dr', persistence: 0, delayLoopMs: 10_000, quorum: 1, hysteresis: 0, alpha: false, omega: false, realServers: [], ...o });
  const failing = new Set([`${A}:80`, `${B}:80`, `${A}:53`, `${B}:53`, `${B}:8080`]);
  const mgr = new HealthManager({ services: [
    vs({ sorryServer: { addr: C, port: 80 }, realServers: [server(A, 80), server(B, 80)] }),
    vs({ proto: 'udp', port: 53, sorryServer: { addr: A, port: 53 }, realServers: [server(A, 53), server(B, 53)] }),
    vs({ proto: 'sctp', port: 9, sorryServer: { addr: C, port: 9 }, realServers: [server(A, 9), server(B, 9)] }),
    vs({ addr: '0.0.0.0', port: 0, fwmark: 4_000_000_000, sorryServer: { addr: C, port: 8080 }, realServers: [server(A, 8080), server(B, 8080)] }),
    vs({ addr: '192.168.8.201', haSuspend: true, realServers: [server(C, 80), server(A, 80, false)] }),
  ] }, {
    call: (verb, args) => r.ctl.call(verb, args),
    run: (_spec, x) => Promise.resolve(failing.has(`${x.addr}:${x.port}`) ? { ok: false, reason: 'connect ECONNREFUSED' } : { ok: true, reason: 'ok' }),
    exec: () => Promise.resolve(),
    log: { info: () => {}, warn: () => {} },
    clock,
    random: () => 0,
    holds: () => false,
  });
  await mgr.start();
  await clock.advance(1000);
  // A service the health checks do not know.
  r.ctl.addService({ proto: 'tcp', addr: '10.0.0.100', port: 8081, sched: 'rr' });
  r.ctl.addDest({ service: { proto: 'tcp', addr: '10.0.0.100', port: 8081 }, addr: A, port: 8081, fwd: 'dr', weight: 1 });
  const rates = new RateEstimator(r.dp);
  // The same view without serviceIdAt and the *Into methods (ServiceHealth derives them), and with the whole lists alone.
  const perService: HealthView = { stateOf: (k, a, p) => mgr.stateOf(k, a, p), entries: () => mgr.entries(), quorum: () => mgr.quorum(), entriesOf: (id) => mgr.entriesOf(id), quorumOf: (id) => mgr.quorumOf(id) };
  const whole: HealthView = { stateOf: (k, a, p) => mgr.stateOf(k, a, p), entries: () => mgr.entries(), quorum: () => mgr.quorum() };
  const texts = [mgr, perService, whole].map((health) => statusTexts(r.dp, rates, { health }));
  for (const { written, objects } of texts) assert.equal(written, objects);
  assert.equal(texts[1]!.written, texts[0]!.written);
  assert.equal(texts[2]!.written, texts[0]!.written);
  // The cases are there.
  const st = JSON.parse(texts[0]!.written) as StatusJson['services'];
  assert.deepEqual(st.map((s) => [s.proto, s.quorum?.up, s.quorum?.sorryIn, s.quorum?.suspended]), [['tcp', false, true, undefined], ['udp', false, true, undefined], ['sctp', true, false, undefined], ['fwm', true, false, undefined], ['tcp', true, false, true], ['tcp', undefined, undefined, undefined]]);
  assert.deepEqual(st.map((s) => s.dests.filter((d) => d.sorry).map((d) => `${d.addr}:${d.port}/${d.health}`)), [[`${C}:80/unchecked`], [`${A}:53/down`], [], [], [], []]);
  assert.deepEqual(st[4]!.dests.map((d) => [d.health, d.suspended]), [['up', true], ['unchecked', undefined]]);
  assert.equal(st[3]!.fwmark, 4_000_000_000);
  // serviceIdAt names each service of the table as serviceIdOf does, with the manager's own text; none for the one it does not know.
  const live = r.dp.services.filter((s) => s !== undefined);
  assert.deepEqual(live.map((s) => mgr.serviceIdAt(fwmarkOf(s) !== 0 ? 'fwm' : l4Name(s.proto), fwmarkOf(s) !== 0 ? fwmarkOf(s) : s.vip, fwmarkOf(s) !== 0 ? 0 : s.port)), [...live.slice(0, -1).map(serviceIdOf), undefined]);
  await mgr.stop();
});

test('a LabelStore keeps each text by its id through drops: chunks with nothing left freed, sparse ones moved (tidy), the ids\' texts the same, its size bounded by what is kept after names made again and again', () => {
  const st = new LabelStore();
  const w = new LabelWriter();
  /** The id of a new text s (its UTF-8 bytes, as the scrapes add theirs: LabelWriter). */
  const add = (text: string): number => st.addFrom(w.start().raw(text));
  const want = new Map<number, string>();
  const text = (i: number, round: number): string => `proto="tcp",service="10.1.${i >> 8}.${i & 255}:80",server="10.2.0.${round}:${8000 + i}"${i % 7 === 0 ? ',r="\u00e9t\u00e9"' : ''}`;
  for (let i = 0; i < 20_000; i++) want.set(add(text(i, 0)), text(i, 0));
  const full = st.size;
  for (let round = 1; round <= 6; round++) {
    // A reload: every other name (round 1, 3, 5) or three in four (2, 4, 6) made again.
    for (const [id] of [...want]) {
      if ((round & 1) === 1 ? id % 2 === 0 : id % 4 !== 0) {
        st.drop(id);
        want.delete(id);
        const s = text(id, round);
        want.set(add(s), s);
      }
    }
    st.tidy();
    for (const [id, s] of want) if (st.text(id) !== s) assert.fail(`round ${round}: id ${id} is ${st.text(id)}, not ${s}`);
  }
  assert.ok(st.size <= 3 * full, `${st.size} bytes held for ${full} at first`);
  assert.equal(new Set(want.keys()).size, 20_000);
  assert.ok(Math.max(...want.keys()) < 20_000, 'ids taken again');
});
