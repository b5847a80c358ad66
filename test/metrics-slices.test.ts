// A scrape of a large health-checked table (/metrics, /status.json) never holds the event loop
// for long (src/metrics/collectors.ts, status.ts, server.ts): rendered in slices, within a metric
// family too, its longest slice recorded as `uvsadm --status` slowest_verb_ms; its text byte for
// byte what the one-pass rendering gave. In process, no uvsd.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { bigHealthTable } from './helpers/big-table.js';
import { createMetrics, type MetricsOptions } from '../src/metrics/collectors.js';
import type { HealthView } from '../src/metrics/view.js';
import { startMetricsServer } from '../src/metrics/server.js';
import { statusJson, statusSteps } from '../src/metrics/status.js';
import { RateEstimator } from '../src/metrics/rates.js';
import type { CheckerStat, HealthEntry } from '../src/control/protocol.js';
import { plainSlicer, runStepsSliced, yieldLoop, type Slicer } from '../src/control/slices.js';
import http from 'node:http';
import { native } from '../src/datapath/port.js';
import { LabelStore, roomGrowths, type LabelWriter } from '../src/metrics/bytes.js';
import { recordingSlicer } from './helpers/recording-slicer.js';
import { parseIp } from '../src/datapath/addr.js';

const FIXTURES = fileURLToPath(new URL('../../test/fixtures/metrics/', import.meta.url));

/**
 * The most of this thread's CPU (ms) between two turns of the event loop while fn() runs, the
 * least of 3 runs: what fn holds the loop for, whatever else the host runs. A timer's lateness
 * (wall time) was this plus the time the host ran others: at load 10-20 a sliced scrape's 5 ms
 * timer came 76-110 ms late in every run, while the old one-piece rendering held the loop
 * 90-400 ms idle. A collection may fall between two turns (a young one took up to ~15 ms of
 * the thread's CPU under load).
 */
async function heldCpu(fn: () => Promise<unknown>): Promise<number> {
  let best = Infinity;
  for (let k = 0; k < 3 && best >= 50; k++) best = Math.min(best, await heldCpu1(fn));
  return best;
}

async function heldCpu1(fn: () => Promise<unknown>): Promise<number> {
  let last = native.threadCpuMs();
  let worst = 0;
  let spinning = true;
  const turn = (): void => {
    const now = native.threadCpuMs();
    worst = Math.max(worst, now - last);
    last = now;
    if (spinning) setImmediate(turn);
  };
  setImmediate(turn);
  try {
    await fn();
  } finally {
    spinning = false;
  }
  return Math.max(worst, native.threadCpuMs() - last);
}

test('a scrape of 3,000 services x 3 health-checked servers (200,000 samples, 20 MB) never holds the loop: never 50 ms of the thread\'s CPU between two turns of the loop (it was 90-400 ms); nor a /status.json', async (t) => {
  const { r, health } = bigHealthTable(3000, 3);
  const m = createMetrics(r.dp, { process: false, health });
  m.census.full();
  await m.text(); // warm up: the first run compiles
  // stream(): the blocks the metrics server sends as they are made (text() and body() join all
  // 20 MB at once after the rendering, which the server never does: 20-50 ms of the test's own).
  let bytes = 0;
  const held = await heldCpu(async () => {
    bytes = 0;
    await m.stream((b) => (bytes += b.length));
  });
  t.diagnostic(`/metrics: ${bytes} bytes, the loop held ${held.toFixed(1)} ms of CPU at most`);
  assert.ok(bytes > 15e6, 'the whole table');
  assert.ok(held < 50, `/metrics held the loop: ${held.toFixed(1)} ms of CPU between two turns`);

  const srv = await startMetricsServer(r.dp, { host: '127.0.0.1', port: 0 }, { process: false, health });
  try {
    const get = async (): Promise<number> => (await (await fetch(`http://${srv.address}/status.json`)).arrayBuffer()).byteLength;
    await get();
    const heldSt = await heldCpu(async () => (bytes = await get()));
    t.diagnostic(`/status.json: ${bytes} bytes, the loop held ${heldSt.toFixed(1)} ms of CPU at most`);
    assert.ok(bytes > 3e6, 'the whole table');
    assert.ok(heldSt < 50, `/status.json held the loop: ${heldSt.toFixed(1)} ms of CPU between two turns`);
  } finally {
    srv.close();
  }
});

/** A small table with what labels and rows can be: a removed server, a firewall-mark service, a checker type to escape, a lost quorum. */
function smallTable(): MetricsOptions & { r: ReturnType<typeof bigHealthTable>['r'] } {
  const { r, health } = bigHealthTable(6, 2);
  const fwm = { proto: 'tcp' as const, addr: '0.0.0.0', port: 0, fwmark: 7 };
  r.ctl.addService({ ...fwm, sched: 'wlc' });
  r.ctl.addDest({ service: fwm, addr: '10.9.0.1', port: 0, fwd: 'dr', weight: 3 });
  const first = health.entries()[0]!;
  r.ctl.deleteDest({ service: first.service, addr: first.addr, port: first.port }); // removed by the checks, still watched
  const odd: CheckerStat = { service: fwm, addr: '10.9.0.1', port: 0, index: 1, type: 'MISC "x\\y"\nz', up: false, passed: 1, failed: 2, notRun: 3, lastMs: 1500, lastReason: '' };
  const entry: HealthEntry = { service: fwm, addr: '10.9.0.1', port: 0, state: 'down', reason: 'MISC_CHECK: exit 1', weight: 3, inhibit: true, since: 0 };
  return {
    r,
    health: {
      stateOf: (s, rip, rport) => (s.fwmark === 7 ? 'down' : health.stateOf(s, rip, rport)),
      entries: () => [...health.entries(), entry],
      checkerStats: () => [...health.checkerStats!(), odd],
      quorum: () => [...health.quorum!(), { service: fwm, up: false, aliveWeight: 0, quorum: 2, hysteresis: 0, sorry: '10.9.9.9:0', sorryIn: true }],
    },
  };
}

test('the scrape\'s text is byte for byte what the one-pass rendering gave (test/fixtures/metrics/, written before the slicing), also with the loop let run at every chance', async () => {
  for (const perDest of [true, false]) {
    const { r, ...opts } = smallTable();
    const file = `${FIXTURES}small-${perDest ? 'per-dest' : 'no-per-dest'}.prom`;
    const m = createMetrics(r.dp, { ...opts, process: false, perDest });
    m.census.full();
    const text = await m.text();
    if (process.env.UVS_WRITE_FIXTURES === '1') writeFileSync(file, text);
    assert.equal(text, readFileSync(file, 'utf8'), file);
    // A pause at every place the rendering may pause: the same text.
    const always = createMetrics(r.dp, { ...opts, process: false, perDest, slicer: () => ({ pause: yieldLoop, done: () => {} }) });
    always.census.full();
    assert.equal(await always.text(), text);
  }
});

test('the label texts of the checked servers and of their checkers, kept from scrape to scrape, follow every change of what the health checks report: the text is byte for byte a new rendering\'s', async () => {
  const { r, health } = smallTable();
  let entries = health!.entries();
  let checks = health!.checkerStats!();
  const view: HealthView = { ...health!, entries: () => entries, checkerStats: () => checks };
  const at = <T>(xs: T[], i: number, change: Partial<T>): T[] => xs.map((x, k) => (k === i ? { ...x, ...change } : x));
  const changes: [string, () => void][] = [
    // A server the table holds, now watched at another address: out of the table (uvs_dest_up of its own).
    ['a checked server moved', () => {
      entries = at(entries, 1, { addr: '10.99.0.1' });
      checks = at(checks, 1, { addr: '10.99.0.1' });
    }],
    ['its port', () => {
      entries = at(entries, 1, { port: 8080 });
      checks = at(checks, 1, { port: 8080 });
    }],
    // The server the checks took out of the table, now one the table holds: no uvs_dest_up of its own.
    ['a removed server now in the table', () => (entries = at(entries, 0, { addr: entries[2]!.addr, port: entries[2]!.port }))],
    ['a checker\'s type', () => (checks = at(checks, 2, { type: 'HTTP_GET' }))],
    ['a checker\'s place among its server\'s', () => (checks = at(checks, 2, { index: 1 }))],
    ['the service\'s port', () => (checks = at(checks, 3, { service: { ...checks[3]!.service, port: 81 } }))],
    ['the service\'s protocol', () => (checks = at(checks, 3, { service: { ...checks[3]!.service, proto: 'udp' } }))],
    ['a firewall-mark service for it', () => (checks = at(checks, 3, { service: { proto: 'tcp', addr: '0.0.0.0', port: 0, fwmark: 9 } }))],
    ['another mark', () => (checks = at(checks, 3, { service: { proto: 'tcp', addr: '0.0.0.0', port: 0, fwmark: 10 } }))],
    ['the first ones gone', () => {
      entries = entries.slice(2);
      checks = checks.slice(2);
    }],
    ['one more', () => {
      entries = [...entries, { ...entries[0]!, addr: '10.98.0.1' }];
      checks = [...checks, { ...checks[0]!, addr: '10.98.0.1' }];
    }],
    ['none', () => {
      entries = [];
      checks = [];
    }],
    ['back', () => {
      entries = health!.entries();
      checks = health!.checkerStats!();
    }],
  ];
  for (const perDest of [true, false]) {
    entries = health!.entries();
    checks = health!.checkerStats!();
    const kept = createMetrics(r.dp, { health: view, process: false, perDest });
    const anew = (): Promise<string> => createMetrics(r.dp, { health: view, process: false, perDest }).text();
    let before = await kept.text();
    assert.equal(before, await anew());
    for (const [what, change] of changes) {
      change();
      const text = await kept.text();
      assert.equal(text, await anew(), `${what} (perDest ${perDest})`);
      assert.notEqual(text, before, `${what} changes the text (perDest ${perDest})`);
      before = text;
    }
  }
});

test('the checked servers out of the table (uvs_dest_up of their own) follow the table\'s changes, the names kept from scrape to scrape: a checked server deleted, added back, moved to another slot; its service deleted, another added, it back; a -f service\'s: the text is byte for byte a new rendering\'s', async () => {
  const { r, health } = smallTable();
  const e = health!.entries()[3]!; // a checked server in the table
  const f = health!.entries().at(-1)!; // the -f service's
  const other = { proto: 'udp' as const, addr: '10.7.0.1', port: 53 };
  const slot = (): number | undefined => r.dp.services.find((x) => x?.vip === parseIp(e.service.addr) && x.port === e.service.port)?.dests.find((d) => r.dp.dt.addr[d] === (parseIp(e.addr) | 0));
  const changes: [string, () => void][] = [
    ['a checked server deleted', () => r.ctl.deleteDest({ service: e.service, addr: e.addr, port: e.port })],
    ['added back (its slot revived)', () => r.ctl.addDest({ service: e.service, addr: e.addr, port: e.port, fwd: 'nat', weight: 1 })],
    // 7 free slots, the trash's two (the first entry's, smallTable; then its): every slot taken, then two let go.
    ['deleted, servers added in every free slot and its, it added back in another', () => {
      r.ctl.deleteDest({ service: e.service, addr: e.addr, port: e.port });
      for (let i = 1; i <= 9; i++) r.ctl.addDest({ service: e.service, addr: `10.6.0.${i}`, port: 80, fwd: 'nat', weight: 1 });
      r.ctl.deleteDest({ service: e.service, addr: '10.6.0.1', port: 80 });
      r.ctl.deleteDest({ service: e.service, addr: '10.6.0.2', port: 80 });
      r.ctl.addDest({ service: e.service, addr: e.addr, port: e.port, fwd: 'nat', weight: 1 });
    }],
    // Between two scrapes: it moves to another slot, and the one it had is taken and let go again (never named meanwhile).
    ['deleted, its slot freed, taken by another server, it added back in another, the other deleted', () => {
      r.ctl.deleteDest({ service: e.service, addr: e.addr, port: e.port });
      for (let k = 1; k <= 8; k++) r.ctl.sweepTrash(k * 200_000); // idle, then 120 s later: free again
      r.ctl.addDest({ service: e.service, addr: '10.6.1.1', port: 80, fwd: 'nat', weight: 1 });
      r.ctl.addDest({ service: e.service, addr: e.addr, port: e.port, fwd: 'nat', weight: 1 });
      r.ctl.deleteDest({ service: e.service, addr: '10.6.1.1', port: 80 });
    }],
    ['its service deleted', () => {
      assert.notEqual(slot(), first, 'in another slot');
      r.ctl.deleteService(e.service);
    }],
    ['another service', () => r.ctl.addService({ ...other, sched: 'rr' })],
    ['its service back, with it', () => {
      r.ctl.addService({ ...e.service, sched: 'rr' });
      r.ctl.addDest({ service: e.service, addr: e.addr, port: e.port, fwd: 'nat', weight: 1 });
    }],
    ['the -f service\'s server deleted', () => r.ctl.deleteDest({ service: f.service, addr: f.addr, port: f.port })],
    ['back', () => r.ctl.addDest({ service: f.service, addr: f.addr, port: f.port, fwd: 'dr', weight: 3 })],
  ];
  const first = slot();
  assert.ok(first !== undefined);
  const kept = createMetrics(r.dp, { health, process: false });
  const anew = (): Promise<string> => createMetrics(r.dp, { health, process: false }).text();
  let before = await kept.text();
  assert.equal(before, await anew());
  for (const [what, change] of changes) {
    change();
    const text = await kept.text();
    assert.equal(text, await anew(), what);
    assert.notEqual(text, before, `${what} changes the text`);
    before = text;
  }
});

test('uvsadm --status slowest_verb_ms counts a scrape\'s and a /status.json\'s slices (as metrics, status.json): a 3,000-service scrape\'s longest takes a few ms of CPU', async () => {
  const { r, health } = bigHealthTable(3000, 3);
  const slicer = (what: string) => r.ctl.slicer(what);
  const srv = await startMetricsServer(r.dp, { host: '127.0.0.1', port: 0 }, { process: false, health, slicer });
  try {
    for (const [path, verb] of [['/metrics', 'metrics'], ['/status.json', 'status.json']] as const) {
      await fetch(`http://${srv.address}${path}`).then((res) => res.arrayBuffer()); // warm up
      r.ctl.resetSlowest();
      await fetch(`http://${srv.address}${path}`).then((res) => res.arrayBuffer());
      const st = r.ctl.call('status', {}) as { slowestVerb: { verb: string; ms: number; cpuMs: number }; busiestVerb: { verb: string; ms: number } };
      assert.equal(st.slowestVerb.verb, verb, path);
      assert.equal(st.busiestVerb.verb, verb, path);
      // Slices end after SLICE_MS (2 ms); a collection may fall in one. The bound is on the CPU (a busy host preempts).
      assert.ok(st.busiestVerb.ms < 25, `${path}: a slice took ${st.busiestVerb.ms} ms of CPU`);
    }
  } finally {
    srv.close();
  }
});

test('--no-metrics-per-checker leaves out the uvs_health_check_* series (5 per checker); uvs_dest_up and the rest stay as they are', async () => {
  const { r, ...opts } = smallTable();
  for (const perDest of [true, false]) {
    const all = await createMetrics(r.dp, { ...opts, process: false, perDest }).text();
    const fewer = await createMetrics(r.dp, { ...opts, process: false, perDest, perChecker: false }).text();
    assert.match(all, /^uvs_health_check_up\{/m);
    assert.equal(fewer, all.split(/(?=^# HELP )/m).filter((f) => !f.startsWith('# HELP uvs_health_check_')).join(''));
    assert.match(fewer, /^uvs_dest_up\{proto="fwm",service="fwmark:7",server="10.9.0.1:0"\} 0$/m);
  }
});

test('/status.json, built and serialised in slices, is what JSON.stringify(statusJson()) gives', async () => {
  const { r, health } = smallTable();
  const srv = await startMetricsServer(r.dp, { host: '127.0.0.1', port: 0 }, { process: false, health, slicer: () => ({ pause: yieldLoop, done: () => {} }) });
  try {
    const got = await (await fetch(`http://${srv.address}/status.json`)).text();
    const want = JSON.stringify(statusJson(r.dp, new RateEstimator(r.dp), { health }));
    const untimed = (t: string) => t.replace(/"time":"[^"]*","uptimeS":\d+/, '');
    assert.equal(untimed(got), untimed(want));
    assert.equal((JSON.parse(got) as { services: unknown[] }).services.length, 7);
  } finally {
    srv.close();
  }
});

test('/metrics goes out as it is rendered: the client has body bytes before the rendering ends, and the body is the rendering\'s byte for byte (before: sent whole after it, 73-94 MB at 10,000 services x 4); /status.json too once serialised', async () => {
  const { r, health } = bigHealthTable(600, 2);
  let rendering = false;
  const slicer: Slicer = (what) => {
    const s = plainSlicer(what);
    rendering = true;
    return { pause: s.pause, done: () => { rendering = false; s.done(); } };
  };
  const srv = await startMetricsServer(r.dp, { host: '127.0.0.1', port: 0 }, { process: false, health, slicer });
  try {
    for (const path of ['/metrics', '/status.json']) {
      const res = await new Promise<http.IncomingMessage>((resolve, reject) => http.get(`http://${srv.address}${path}`, resolve).on('error', reject));
      const parts: Buffer[] = [];
      let early = 0;
      await new Promise<void>((resolve, reject) => {
        res.on('data', (b: Buffer) => {
          parts.push(b);
          if (rendering) early += b.length;
        }).on('end', resolve).on('error', reject);
      });
      const body = Buffer.concat(parts);
      // /status.json: its own test below (the client has bytes before the last service is made).
      if (path === '/metrics') assert.ok(early > 0, `${path}: no byte of the body before the rendering ended (${body.length} bytes)`);
      const want = path === '/metrics' ? await createMetrics(r.dp, { process: false, health }).body() : undefined;
      if (want !== undefined) assert.ok(body.equals(want), `${path}: the text`);
      else assert.ok(Array.isArray((JSON.parse(body.toString()) as { services: unknown[] }).services), `${path}: the JSON`);
    }
  } finally {
    srv.close();
  }
});

test('/status.json goes out as it is built: the client has body bytes before the last service is made, and the body is JSON.stringify(statusJson()) (before: every service built, then serialised)', async () => {
  const { r, health } = bigHealthTable(600, 2);
  const want = JSON.stringify(statusJson(r.dp, new RateEstimator(r.dp), { health }));
  // The last service's scheduler name is read when that service is made.
  const last = r.dp.services.filter((s) => s !== undefined).at(-1)!;
  let built = false;
  const sched = last.scheduler;
  last.scheduler = Object.create(sched, { name: { get: () => ((built = true), sched.name) } }) as typeof sched;
  const srv = await startMetricsServer(r.dp, { host: '127.0.0.1', port: 0 }, { process: false, health, slicer: () => ({ pause: yieldLoop, done: () => {} }) });
  try {
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => http.get(`http://${srv.address}/status.json`, resolve).on('error', reject));
    const parts: Buffer[] = [];
    let early = 0;
    await new Promise<void>((resolve, reject) => {
      res.on('data', (b: Buffer) => {
        parts.push(b);
        if (!built) early += b.length;
      }).on('end', resolve).on('error', reject);
    });
    const body = Buffer.concat(parts).toString();
    assert.ok(early > 0, `no byte of /status.json before its last service was made (${body.length} bytes)`);
    const untimed = (t: string) => t.replace(/"time":"[^"]*","uptimeS":\d+/, '');
    assert.equal(untimed(body), untimed(want));
  } finally {
    last.scheduler = sched;
    srv.close();
  }
});

test('the health checks\' lists are taken as they are made (HealthView.eachEntry, ...): with a pause at every chance, a scrape and a /status.json make at most 64 entries, checkers and quorums between two pauses (before: each list made whole, 1,200 at once)', async () => {
  const { r, health } = bigHealthTable(600, 2);
  let made = 0;
  const counted = <T>(xs: () => Iterable<T>) => function* (): Generator<T> {
    for (const x of xs()) {
      made++;
      yield x;
    }
  };
  const whole = <T>(xs: () => Iterable<T>) => (): T[] => {
    const a = [...xs()];
    made += a.length;
    return a;
  };
  // The cursors a scrape walks (HealthView.entryCursor, ...), each row written counted too.
  const countedCursor = <T>(c: () => (row: T) => boolean) => (): ((row: T) => boolean) => {
    const fill = c();
    return (row) => {
      if (!fill(row)) return false;
      made++;
      return true;
    };
  };
  const view: HealthView = {
    ...health,
    entries: whole(health.eachEntry!), checkerStats: whole(health.eachCheckerStat!), quorum: whole(health.eachQuorum!),
    eachEntry: counted(health.eachEntry!), eachCheckerStat: counted(health.eachCheckerStat!), eachQuorum: counted(health.eachQuorum!),
    entryCursor: countedCursor(health.entryCursor!), checkerCursor: countedCursor(health.checkerCursor!), quorumCursor: countedCursor(health.quorumCursor!),
  };
  let most = 0;
  let at = 0;
  const slicer: Slicer = () => ({
    pause: async () => {
      most = Math.max(most, made - at);
      await yieldLoop();
      at = made;
    },
    done: () => (most = Math.max(most, made - at)),
    ask: () => true, // at every chance (else at most every 0.2 ms)
  });
  const m = createMetrics(r.dp, { process: false, health: view, slicer });
  assert.equal(await m.text(), await createMetrics(r.dp, { process: false, health }).text(), 'the same text');
  assert.ok(made >= 1200 + 1200 + 3 * 600, `every list walked (${made})`);
  assert.ok(most <= 64, `/metrics: ${most} made between two pauses`);
  made = at = most = 0;
  const rates = new RateEstimator(r.dp);
  const { pause, done } = slicer('status.json');
  const st = await runStepsSliced(statusSteps(r.dp, rates, { health: view }), pause);
  done();
  // Made a moment apart: the clock's fields may differ by a second (uptimeS 11 and 12 seen under load).
  assert.equal(JSON.stringify({ ...st, time: '', uptimeS: 0 }), JSON.stringify({ ...statusJson(r.dp, rates, { health }), time: '', uptimeS: 0 }));
  assert.ok(most <= 64, `/status.json: ${most} made between two pauses`);
});

test('the first /metrics of 3,000 services x 4 checked servers makes its arrays larger only in slices of their own, none in a slice that makes label texts (it grew them among its names: at 10,000 x 4 each growth held the loop 2-9 ms), and keeps no Map of the servers\' keys (a string set per server)', async (t) => {
  const { r, health } = bigHealthTable(3000, 4);
  let made = 0;
  let keyed = 0;
  const { addFrom } = LabelStore.prototype;
  const set = Map.prototype.set;
  LabelStore.prototype.addFrom = function (this: LabelStore, w: LabelWriter): number {
    made++;
    return addFrom.call(this, w);
  };
  Map.prototype.set = function <K, V>(this: Map<K, V>, k: K, v: V): Map<K, V> {
    if (typeof k === 'string') keyed++;
    return set.call(this, k, v) as Map<K, V>;
  };
  const slices: { grew: number; made: number }[] = [];
  try {
    let grew0 = 0;
    let made0 = 0;
    const slicer = recordingSlicer(new Map(), (_what, ended) => {
      if (ended) slices.push({ grew: roomGrowths.n - grew0, made: made - made0 });
      grew0 = roomGrowths.n;
      made0 = made;
    });
    const m = createMetrics(r.dp, { process: false, health, slicer });
    await m.stream(() => {});
  } finally {
    LabelStore.prototype.addFrom = addFrom;
    Map.prototype.set = set;
  }
  const both = slices.filter((x) => x.grew > 0 && x.made > 0);
  const grew = slices.reduce((n, x) => n + x.grew, 0);
  t.diagnostic(`${slices.length} slices, ${made} label texts made, ${grew} arrays grown; ${both.length} slices did both; ${keyed} string keys set in Maps`);
  // Each service's two texts, each server's three, each checked server's and checker's, each quorum's.
  assert.equal(made, 3000 * 2 + 12_000 * 3 + 12_000 * 2 + 3000, 'every name made');
  assert.ok(grew > 0, 'arrays grown');
  assert.equal(both.length, 0, `${both.length} of ${slices.length} slices grew an array (room) among the label texts they made`);
  assert.ok(keyed < 1000, `${keyed} string keys set in Maps (12,000 servers)`);
});

test('a scrape sums node_ipvs_*_total over the table\'s slots at most 4,096 slots between two pauses (in one piece until 2026-12-06: at 40,000 slots 7-8 ms of the loop\'s CPU in the first scrapes, the loop\'s code cold), and the totals stay exact when a server with traffic is deleted among the pieces', async (t) => {
  const { r, health } = bigHealthTable(3000, 4);
  const dt = r.dp.dt;
  const slots = r.dp.services.flatMap((s) => s?.dests ?? []);
  // The server deleted among the pieces: its slot past the first piece (not walked yet).
  assert.ok(r.dp.services[2999]!.dests[3]! >= 4096);
  slots.forEach((d, i) => (dt.conns[d] = 1 + (i % 5)));
  const want = slots.reduce((n, d) => n + dt.conns[d]!, 0);
  // Each read of a slot's flags counted (what the sum reads of every slot); the most between two pauses.
  let reads = 0;
  const flags = dt.flags;
  (dt as { flags: Uint8Array }).flags = new Proxy(flags, {
    get: (a, k) => {
      if (typeof k === 'string' && k.charCodeAt(0) <= 57) reads++;
      const v = Reflect.get(a, k) as unknown;
      return typeof v === 'function' ? v.bind(a) : v;
    },
  });
  let most = 0;
  let at = 0;
  let deleted = false;
  const slicer: Slicer = () => ({
    pause: async () => {
      most = Math.max(most, reads - at);
      // The first pause among the sum's pieces: a server with traffic, not walked yet, deleted.
      if (!deleted && reads > 0) {
        deleted = true;
        r.ctl.call('deleteDest', { service: { proto: 'tcp', addr: '10.1.11.183', port: 80 }, addr: '10.5.11.183', port: 80 });
      }
      await yieldLoop();
      at = reads;
    },
    done: () => (most = Math.max(most, reads - at)),
    ask: () => true, // at every chance
  });
  try {
    const text = await createMetrics(r.dp, { process: false, health, slicer }).text();
    assert.ok(deleted, 'a server deleted among the pieces');
    assert.match(text, new RegExp(`\nnode_ipvs_connections_total ${want}\n`), 'the deleted server\'s connections counted once');
    const again = await createMetrics(r.dp, { process: false, health }).text();
    assert.match(again, new RegExp(`\nnode_ipvs_connections_total ${want}\n`));
  } finally {
    (dt as { flags: Uint8Array }).flags = flags;
  }
  t.diagnostic(`${reads} flags read, the most between two pauses ${most}`);
  assert.ok(dt.max >= 12_000 && reads >= dt.max, `the slots' flags read (${reads}, ${dt.max} slots)`);
  // The sum's 4,096 and a few of the rows' (destOverloaded: up to 256 rows between two asks).
  assert.ok(most <= 4096 + 512, `${most} slots' flags read between two pauses (${dt.max} slots)`);
});
