// test-class: shared
// Reloads from the socket (Control.callAsync) and SIGHUP in slices: the --config file read in a
// worker thread (config-thread.ts) gives what readConfig gives, errors included; the difference is
// planned, validated and applied a slice at a time with the event loop free in between, with the
// reply, refusals and all-or-nothing of a reload in one piece; reloads and batches queue in order,
// and a change made meanwhile by a verb that does not queue (a health check) makes it plan again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigManager, planSteps, readConfig, type ConfigFile, type HealthHook } from '../src/control/config.js';
import { orderForSlices } from '../src/control/applyorder.js';
import { ShardedMap } from '../src/control/shards.js';
import type { GoneService, PlanTable } from '../src/control/verbs.js';
import type { DpOp } from '../src/datapath/ops.js';
import { native } from '../src/datapath/port.js';
import { loadKeepalivedOffThread, readConfigOffThread, readerThread } from '../src/control/config-thread.js';
import { loadKeepalivedFile } from '../src/health/load.js';
import type { VirtualServerSpec } from '../src/health/types.js';
import { runSteps, runStepsSliced, yieldLoop } from '../src/control/slices.js';
import { formatRules } from '../src/control/printers.js';
import { rig, type Rig } from './helpers/harness.js';
import { HealthManager } from '../src/health/manager.js';

const N = { numeric: true };

/** n TCP services 10.1.x.y:80 (service 0's scheduler `first`), two DR servers each on 10.0.0.0/16. */
function bigConfig(n: number, first = 'wlc', weight = 1): string {
  const out = ['daemon:', '  drain-timeout: 0', 'services:'];
  for (let i = 0; i < n; i++) {
    out.push('  - proto: tcp', `    address: 10.1.${i >> 8}.${i & 255}`, '    port: 80', `    scheduler: ${i === 0 ? first : 'wlc'}`, '    servers:');
    for (const k of [2 * i, 2 * i + 1]) out.push(`      - { address: 10.0.${8 + (k >> 8)}.${k & 255}, weight: ${weight} }`);
  }
  return out.join('\n') + '\n';
}

async function withFile(text: string, fn: (file: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'uvs-reload-'));
  try {
    const file = join(dir, 'uvsd.yaml');
    writeFileSync(file, text);
    await fn(file);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function director(file: string, health?: HealthHook) {
  const r = rig({ addrs: ['10.0.0.1/16'], destMax: 8192, connMax: 1024 });
  const cm = new ConfigManager(r.ctl, file, { drainTimeout: 0 }, health === undefined ? {} : { health });
  r.ctl.config = cm;
  return { r, cm };
}

test('steps: runSteps runs a generator to its end; runStepsSliced pauses at every yield and passes its errors on', async () => {
  function* count(n: number, failAt = -1) {
    let sum = 0;
    for (let i = 0; i < n; i++) {
      if (i === failAt) throw new Error(`fail at ${i}`);
      sum += i;
      yield;
    }
    return sum;
  }
  assert.equal(runSteps(count(10)), 45);
  let pauses = 0;
  assert.equal(await runStepsSliced(count(10), async () => { pauses++; await yieldLoop(); }), 45);
  assert.equal(pauses, 10);
  await assert.rejects(runStepsSliced(count(10, 4), async () => {}), /fail at 4/);
});

test('the config file read in a worker thread is what readConfig reads (Buffers, warnings, every service), and its errors are the same', async () => {
  const health = `  - proto: udp
    address: 10.2.0.1
    port: 53
    servers:
      - address: 10.0.0.9
        health:
          checks:
            - { type: udp, payload: "0001", require-reply: "00", delay-loop: 5 }
            - { type: misc, misc-path: "/nonexistent/check 1" }
`;
  await withFile(bigConfig(300) + health, async (file) => {
    let pauses = 0;
    const off = await readConfigOffThread(file, async () => { pauses++; });
    assert.deepStrictEqual(off, readConfig(file));
    assert.ok(Buffer.isBuffer((off.services[300]!.health!.realServers[0]!.checkers[0] as { payload?: Buffer }).payload), 'a payload stays a Buffer');
    assert.equal(off.warnings?.length, 1, 'the misc command that cannot run is warned about');
    assert.ok(pauses >= 5, `taken in parts, with pauses between them (${pauses})`);
    writeFileSync(file, bigConfig(3).replace('weight: 1 }', 'weight: -3 }'));
    let want: Error | undefined;
    try {
      readConfig(file);
    } catch (e) {
      want = e as Error;
    }
    await assert.rejects(readConfigOffThread(file, async () => {}), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'BAD_CONFIG');
      assert.equal(e.message, want!.message);
      assert.match(e.message, /uvsd\.yaml:9: services\[0\]\.servers\[0\]\.weight: must be an integer/);
      return true;
    });
  });
});

/** n virtual servers 10.3.x.y:80 in keepalived.conf syntax (the first with lb_algo `first`), a TCP_CHECK'd DR server each. */
function bigKeepalived(n: number, first = 'wlc'): string {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    out.push(`virtual_server 10.3.${i >> 8}.${i & 255} 80 {`, `  lb_algo ${i === 0 ? first : 'wlc'}`, '  lb_kind DR',
      `  real_server 10.0.${40 + (i >> 8)}.${i & 255} 80 {`, '    weight 1', '  }', '  protocol TCP', '}');
  }
  return out.join('\n') + '\n';
}

/** ConfigSources.loadKeepalived: keepalived.conf read in one piece, on this thread. */
const loadInPiece = (f: string): { services: VirtualServerSpec[]; warnings: string[] } => {
  const x = loadKeepalivedFile(f);
  return { services: x.config.services, warnings: x.warnings };
};

test('the config reader thread is ended at once after a large answer (its heap, hundreds of MB for a 50,000-server file, is given back, not kept 60 s), and kept after a small one', async () => {
  await withFile(bigConfig(40), async (file) => {
    const pause = async (p?: Promise<unknown>): Promise<void> => { await (p ?? yieldLoop()); };
    const max = readerThread.keepMaxBytes;
    try {
      readerThread.keepMaxBytes = 1000; // 40 services are more than this
      await readConfigOffThread(file, pause); // perhaps in a thread an earlier test left: ended after it
      await new Promise((r) => setTimeout(r, 100));
      let before = readerThread.started;
      await readConfigOffThread(file, pause);
      await new Promise((r) => setTimeout(r, 100));
      await readConfigOffThread(file, pause);
      assert.equal(readerThread.started - before, 2, 'each large read in a thread of its own: each ended after its answer');
      readerThread.keepMaxBytes = max;
      await new Promise((r) => setTimeout(r, 100));
      before = readerThread.started;
      await readConfigOffThread(file, pause);
      await new Promise((r) => setTimeout(r, 100));
      await readConfigOffThread(file, pause);
      assert.equal(readerThread.started - before, 1, 'a small one: the thread kept');
    } finally {
      readerThread.keepMaxBytes = max;
    }
  });
});

test('the config reader thread is kept between reads: reads in a row (and at once) go to one thread, each its own answer, in order; an idle thread is ended after keepMs and the next read starts one', async () => {
  await withFile(bigConfig(40), async (file) => {
    const other = file.replace(/uvsd\.yaml$/, 'other.yaml');
    writeFileSync(other, bigConfig(7));
    const pause = async (p?: Promise<unknown>): Promise<void> => { await (p ?? yieldLoop()); };
    const keep = readerThread.keepMs;
    // A thread kept from an earlier test ends 20 ms after this read.
    readerThread.keepMs = 20;
    await readConfigOffThread(other, pause);
    await new Promise((r) => setTimeout(r, 300));
    readerThread.keepMs = keep;
    const before = readerThread.started;
    // Four reads at once, of two files, and an error among them: one thread answers each in turn.
    const bad = file.replace(/uvsd\.yaml$/, 'bad.yaml');
    writeFileSync(bad, 'services: [oops\n');
    const [a, b, c, d] = await Promise.allSettled([file, other, bad, file].map((f) => readConfigOffThread(f, pause)));
    assert.equal(readerThread.started - before, 1, 'one thread for the four');
    assert.equal(a.status === 'fulfilled' && a.value.services.length, 40);
    assert.equal(b.status === 'fulfilled' && b.value.services.length, 7);
    assert.match(c.status === 'rejected' ? (c.reason as Error).message : '', /bad\.yaml:\d+: yaml: /);
    assert.equal(d.status === 'fulfilled' && d.value.services.length, 40, 'the thread goes on after an error');
    assert.equal((await readConfigOffThread(other, pause)).services.length, 7);
    assert.equal(readerThread.started - before, 1, 'and for a read after them');
    readerThread.keepMs = 20;
    try {
      await readConfigOffThread(file, pause); // the thread kept 60 s is kept 20 ms after this one
      await new Promise((r) => setTimeout(r, 300));
      assert.equal((await readConfigOffThread(other, pause)).services.length, 7);
      assert.equal(readerThread.started - before, 2, 'the idle thread was ended: a new one read it');
    } finally {
      readerThread.keepMs = keep;
    }
  });
});

test('a keepalived.conf reload from the socket reads the file in a worker thread too (it held the loop 48-265 ms for 2,000 virtual servers): the same reply as in one piece, no slice over 50 ms, the same FILE:LINE errors', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'uvs-reload-'));
  try {
    const k = join(dir, 'keepalived.conf');
    writeFileSync(k, bigKeepalived(2000));
    const r = rig({ addrs: ['10.0.0.1/16'], destMax: 8192, connMax: 1024 });
    let offThread = 0;
    const cm = new ConfigManager(r.ctl, undefined, { drainTimeout: 0 }, {
      keepalived: k, loadKeepalived: loadInPiece, loadKeepalivedSliced: (f, pause) => (offThread++, loadKeepalivedOffThread(f, pause)),
    });
    r.ctl.config = cm;
    cm.apply(cm.load(), false);
    writeFileSync(k, bigKeepalived(2000, 'rr'));
    const oneDry = cm.reloadReport(true);
    assert.equal(oneDry.changes.length, 1);
    r.ctl.resetSlowest();
    assert.deepEqual(await r.ctl.callAsync('reload', {}), { changes: oneDry.changes, ignored: [], warnings: [] });
    assert.equal(offThread, 1, 'read off the loop');
    assert.ok(r.ctl.busiest.ms < 50, `a slice took ${r.ctl.busiest.ms} ms of the loop's CPU`);
    assert.match(formatRules(r.ctl.list(), N), /^-A -t 10\.3\.0\.0:80 -s rr$/m);
    writeFileSync(k, bigKeepalived(3).replace('weight 1', 'weight x'));
    await assert.rejects(async () => r.ctl.callAsync('reload', {}), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'BAD_CONFIG');
      assert.match(e.message, /keepalived\.conf:5: /);
      return true;
    });
    assert.match(formatRules(r.ctl.list(), N), /^-A -t 10\.3\.0\.0:80 -s rr$/m, 'nothing changed');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a keepalived.conf reload in slices makes its virtual servers config services and merges them with pauses between (in one piece 45-55 ms of the loop at 10,000 virtual servers of 4 real servers): a pause every 256, the same changes as in one piece, a virtual server also in the --config file refused with both lines', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'uvs-reload-'));
  try {
    const k = join(dir, 'keepalived.conf');
    writeFileSync(k, bigKeepalived(2000));
    const r = rig({ addrs: ['10.0.0.1/16'], destMax: 8192, connMax: 1024 });
    let pauses = 0;
    let loaded = -1;
    let between = -1;
    const cm = new ConfigManager(r.ctl, undefined, { drainTimeout: 0 }, {
      keepalived: k, loadKeepalived: loadInPiece,
      loadKeepalivedSliced: async (f, pause) => {
        const x = await loadKeepalivedOffThread(f, pause);
        loaded = pauses;
        return x;
      },
      // Called with the merged config, before any later pause.
      daemon: () => ((between = pauses - loaded), { changes: [], ignored: [], apply: () => {} }),
    });
    r.ctl.config = cm;
    cm.apply(cm.load(), false);
    writeFileSync(k, bigKeepalived(2000, 'rr'));
    const oneDry = cm.reloadReport(true);
    const pause = async (): Promise<void> => {
      pauses++;
      await yieldLoop();
    };
    assert.deepEqual(await cm.reloadSliced(true, pause), oneDry);
    assert.ok(between >= 2000 / 256, `${between} pauses between the read and the merged config`);
    const dup = join(dir, 'uvsd.yaml');
    writeFileSync(dup, 'services:\n  - { proto: tcp, address: 10.3.7.207, port: 80 }\n');
    const both = new ConfigManager(r.ctl, dup, { drainTimeout: 0 }, { keepalived: k, loadKeepalived: loadInPiece, loadKeepalivedSliced: loadKeepalivedOffThread });
    await assert.rejects(both.reloadSliced(true, pause), /keepalived\.conf:\d+: virtual_server TCP 10\.3\.7\.207:80 is also in .*uvsd\.yaml:2/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a keepalived.conf reload with health checks prepares them in slices too (HealthManager.prepareSteps: prepare() in one piece held the loop 300 ms at 10,000 virtual servers of 4 TCP_CHECK\'d servers): no prepare() in one piece, a step every few services, the changes of a dry run in one piece', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'uvs-reload-'));
  const conf = (n: number, weight: number): string => {
    const out: string[] = [];
    for (let i = 0; i < n; i++) {
      out.push(`virtual_server 10.3.${i >> 8}.${i & 255} 80 {`, '  delay_loop 3600', '  lb_algo wlc', '  lb_kind DR', '  protocol TCP');
      for (const j of [0, 1]) out.push(`  real_server 10.${40 + j}.${i >> 8}.${i & 255} 80 {`, `    weight ${weight}`, '    TCP_CHECK {', '      connect_timeout 1', '    }', '  }');
      out.push('}');
    }
    return out.join('\n') + '\n';
  };
  try {
    const k = join(dir, 'keepalived.conf');
    writeFileSync(k, conf(1000, 1));
    const r = rig({ addrs: ['10.0.0.1/8'], destMax: 4096, connMax: 1024 });
    const mgr = new HealthManager(undefined, { call: (v, a) => r.ctl.callAsync(v, a), run: async () => ({ ok: true, reason: 'ok' }), exec: async () => {}, log: { info: () => {}, warn: () => {} } });
    const cm = new ConfigManager(r.ctl, undefined, { drainTimeout: 0 }, { keepalived: k, loadKeepalived: loadInPiece, loadKeepalivedSliced: loadKeepalivedOffThread, health: mgr });
    r.ctl.config = cm;
    cm.apply(cm.load(), false);
    writeFileSync(k, conf(1000, 2));
    const oneDry = cm.reloadReport(true);
    assert.equal(oneDry.changes.length, 2000);
    let whole = 0;
    const prepare = mgr.prepare.bind(mgr);
    mgr.prepare = (specs) => (whole++, prepare(specs));
    let steps = 0;
    const prepareSteps = mgr.prepareSteps?.bind(mgr);
    if (prepareSteps !== undefined) {
      mgr.prepareSteps = function* (specs) {
        const g = prepareSteps(specs);
        for (;;) {
          const x = g.next();
          if (x.done === true) return x.value;
          steps++;
          yield;
        }
      };
    }
    assert.deepEqual(await r.ctl.callAsync('reload', {}), { changes: oneDry.changes, ignored: [], warnings: [] });
    assert.equal(whole, 0, 'prepare() in one piece');
    assert.ok(steps >= 2 * (1000 / 32), `${steps} steps for 1,000 services`);
    assert.equal(formatRules(r.ctl.list(), N).match(/ -w 2$/gm)?.length, 2000);
    await mgr.stop();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a reload of 2,000 services from the socket runs in slices: the loop runs meanwhile, no slice takes 50 ms of its CPU, and the reply and table are those of a reload in one piece', async () => {
  await withFile(bigConfig(2000), async (file) => {
    const { r, cm } = director(file);
    cm.apply(cm.load(), false);
    writeFileSync(file, bigConfig(2000, 'rr', 2));
    const oneDry = cm.reloadReport(true);
    assert.equal(oneDry.changes.length, 4001);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 0);
    try {
      r.ctl.resetSlowest();
      assert.deepEqual(await r.ctl.callAsync('reload', { dryRun: true }), { changes: oneDry.changes, ignored: [], warnings: [] });
      const dryTicks = ticks;
      assert.ok(dryTicks > 0, 'the event loop ran during the dry run');
      assert.equal(r.ctl.busiest.verb, 'reload');
      assert.ok(r.ctl.busiest.ms < 50, `a slice took ${r.ctl.busiest.ms} ms of the loop's CPU`);
      assert.match(formatRules(r.ctl.list(), N), /^-A -t 10\.1\.0\.0:80 -s wlc$/m, 'a dry run changes nothing');
      r.ctl.resetSlowest();
      assert.deepEqual(await r.ctl.callAsync('reload', {}), { changes: oneDry.changes, ignored: [], warnings: [] });
      assert.ok(ticks > dryTicks, 'the event loop ran during the reload');
      assert.equal(r.ctl.busiest.verb, 'reload');
      assert.ok(r.ctl.busiest.ms < 50, `a slice took ${r.ctl.busiest.ms} ms of the loop's CPU`);
    } finally {
      clearInterval(timer);
    }
    const table = formatRules(r.ctl.list(), N);
    assert.match(table, /^-A -t 10\.1\.0\.0:80 -s rr$/m);
    assert.equal(table.match(/ -w 2$/gm)?.length, 4000);
    // The datapath has what the model has: every service, every server at its new weight.
    assert.equal(r.dp.services.filter((s) => s !== undefined).length, 2000);
    assert.deepEqual(await r.ctl.callAsync('reload', {}), { changes: [], ignored: [], warnings: [] }, 'nothing left to do');
  });
});

test('a refused sliced reload changes nothing and names FILE:LINE: a YAML error, a shape error, a meaning error (the batch\'s refusal of one item)', async () => {
  await withFile(bigConfig(600), async (file) => {
    const { r, cm } = director(file);
    cm.apply(cm.load(), false);
    const table = formatRules(r.ctl.list(), N);
    const cases: Array<[string, RegExp]> = [
      [bigConfig(600, 'wlc', 2) + '  - [oops\n', /uvsd\.yaml:\d+: yaml: /],
      [bigConfig(600, 'wlc', 2).replace(/weight: 2 }\n(?![\s\S]*weight: 2 })/, 'weight: two }\n'), /uvsd\.yaml:4203: services\[599\]\.servers\[1\]\.weight: must be an integer/],
      [bigConfig(600, 'wlc', 2).replace(/address: 10\.1\.2\.87\n(    port: 80\n    scheduler: )wlc/, 'address: 10.1.2.87\n$1nosuch'),
        /uvsd\.yaml:4197: edit service TCP 10\.1\.2\.87:80: scheduler wlc -> nosuch: Scheduler or persistence engine not found: nosuch/],
    ];
    for (const [text, want] of cases) {
      writeFileSync(file, text);
      for (const dryRun of [true, false]) {
        await assert.rejects(Promise.resolve(r.ctl.callAsync('reload', { dryRun })), (e: Error & { code?: string }) => {
          assert.equal(e.code, 'BAD_CONFIG');
          assert.match(e.message, want);
          return true;
        });
      }
      assert.equal(formatRules(r.ctl.list(), N), table, 'a refused reload changes nothing');
    }
  });
});

test('reloads and batches from the socket run one at a time in arrival order', async () => {
  await withFile(bigConfig(600), async (file) => {
    const { r, cm } = director(file);
    cm.apply(cm.load(), false);
    const extra = (port: number) => Array.from({ length: 600 }, (_, i) => ({ verb: 'addService', args: { proto: 'udp', addr: `10.1.${i >> 8}.${i & 255}`, port, sched: 'rr' } }));
    // A batch, then a reload (which deletes what the batch added: the file does not have it),
    // then another batch, then a reload that only looks (dry run), then a reload.
    const a = r.ctl.callAsync('batch', { items: extra(53) });
    const b = r.ctl.callAsync('reload', {}) as Promise<{ changes: string[] }>;
    const c = r.ctl.callAsync('batch', { items: extra(54) });
    const d = r.ctl.callAsync('reload', { dryRun: true }) as Promise<{ changes: string[] }>;
    const [, rb, , rd] = await Promise.all([a, b, c, d]);
    assert.equal(rb.changes.length, 600);
    assert.ok(rb.changes.every((l) => / UDP .*:53$/.test(l)), 'the first reload saw the first batch alone');
    assert.ok(rd.changes.every((l) => / UDP .*:54$/.test(l)) && rd.changes.length === 600, 'the dry run saw the second batch');
    assert.equal(r.ctl.list().services.length, 1200);
  });
});

test('a change made while a sliced reload plans (a health check: it does not queue) makes it plan again against the table as it is; the datapath agrees with the model', async () => {
  await withFile(bigConfig(2000), async (file) => {
    let prepared = 0;
    const { r, cm } = director(file, {
      prepare: () => {
        prepared++;
        // In the middle of the first attempt, a verb from elsewhere deletes a server the file keeps.
        if (prepared === 2) setImmediate(() => r.ctl.call('deleteDest', { service: { proto: 'tcp', addr: '10.1.7.207', port: 80 }, addr: '10.0.23.158', port: 80 }));
        return { weightOf: (_s, _a, _p, w) => w, sorry: [], sorryNow: new Set(), sorryParked: new Set(), changes: [], notes: [], commit: () => {} };
      },
    });
    cm.apply(cm.load(), false); // prepared once
    writeFileSync(file, bigConfig(2000, 'rr'));
    const rep = await (r.ctl.callAsync('reload', {}) as Promise<{ changes: string[] }>);
    assert.ok(prepared >= 3, `planned again (${prepared - 1} plans)`);
    assert.deepEqual(rep.changes, ['edit service TCP 10.1.0.0:80: scheduler wlc -> rr', 'add server TCP 10.1.7.207:80 -> 10.0.23.158:80 weight 1']);
    const dests = r.ctl.list().services.find((s) => s.addr === '10.1.7.207')!.dests.map((d) => d.addr);
    assert.deepEqual(dests, ['10.0.23.159', '10.0.23.158'], 'the server deleted meanwhile is back, as the file has it');
    assert.equal(r.dp.services.filter((s) => s !== undefined).length, 2000);
  });
});

/** n TCP services 10.1.x.y:80 of `servers` DR servers each (weight `weight`; service 0's scheduler `first`), made in memory from a one-service file's. */
function tableInMemory(file: string, n: number, servers: number, first: string, weight = 1, net = 1): ConfigFile {
  const one = readConfig(file);
  const s0 = one.services[0]!;
  const services = [];
  for (let i = 0; i < n; i++) {
    const spec = { ...s0.spec, addr: `10.${net}.${i >> 8}.${i & 255}`, sched: i === 0 ? first : 'wlc' };
    const service = { proto: spec.proto, addr: spec.addr, port: spec.port };
    const dests = [];
    for (let j = 0; j < servers; j++) {
      const k = servers * i + j;
      dests.push({ ...s0.dests[0]!, service, addr: `10.${8 + (k >> 16)}.${(k >> 8) & 255}.${k & 255}`, weight });
    }
    services.push({ ...s0, spec, dests, destLines: dests.map(() => s0.line) });
  }
  return { ...one, services };
}

/**
 * A table loaded from `first` (the file's own text is only its name: readConfigSliced answers
 * what reload(to) sets), and reload(to): a sliced reload to `to`, the loop run at each pause, with
 * the CPU of this thread in each piece of work between two pauses (other processes running
 * meanwhile do not count), and its changes.
 */
function slicedReloadRig(file: string, first: ConfigFile, destMax: number): { r: Rig; reload: (to: ConfigFile) => Promise<{ cpu: number[]; changes: string[] }> } {
  let next = first;
  const r = rig({ addrs: ['10.0.0.1/8'], destMax, connMax: 1024 });
  const cm = new ConfigManager(r.ctl, file, { drainTimeout: 0 }, { readConfigSliced: async () => next });
  r.ctl.config = cm;
  cm.apply(first, false);
  const reload = async (to: ConfigFile): Promise<{ cpu: number[]; changes: string[] }> => {
    next = to;
    const cpu: number[] = [];
    let c = native.threadCpuMs();
    const rep = await cm.reloadSliced(false, async () => {
      cpu.push(native.threadCpuMs() - c);
      await yieldLoop();
      c = native.threadCpuMs();
    });
    cpu.push(native.threadCpuMs() - c);
    return { cpu, changes: rep.changes };
  };
  return { r, reload };
}

/** Two reloads' pieces, paired: the least of the two piece by piece (a collection or a compilation landing in a piece of one run does not count) is under `ms`. */
function assertPiecesUnder(one: number[], two: number[], ms: number): void {
  assert.equal(one.length, two.length, 'the same pieces each time');
  const least = one.map((x, i) => Math.min(x, two[i]!));
  const worst = Math.max(...least);
  assert.ok(worst < ms, `a piece took ${worst.toFixed(2)} ms of CPU (piece ${least.indexOf(worst)} of ${least.length})`);
}

test('a reload of 10,000 services x 4 servers holds the loop in bounded pieces: none of the work between two pauses takes 2 ms of CPU (copying the model took 6-26 ms at once, the services by key 2-7), and it ends in the table the file describes', async () => {
  await withFile('services:\n  - { proto: tcp, address: 10.1.0.0, port: 80, scheduler: wlc, servers: [ { address: 10.8.0.0, weight: 1 } ] }\n', async (file) => {
    const a = tableInMemory(file, 10_000, 4, 'wlc');
    const b = tableInMemory(file, 10_000, 4, 'rr');
    const { r, reload: sliced } = slicedReloadRig(file, a, 40_016);
    const reload = async (to: ConfigFile): Promise<number[]> => {
      const { cpu, changes } = await sliced(to);
      assert.deepEqual(changes, [`edit service TCP 10.1.0.0:80: scheduler ${to === a ? 'rr -> wlc' : 'wlc -> rr'}`]);
      return cpu;
    };
    const one = await reload(b);
    const two = await reload(a);
    assert.ok(one.length > 1000, `${one.length} pieces`);
    assertPiecesUnder(one, two, 2);
    // The table is the one the file describes (as a reload in one piece leaves it), in the datapath too.
    const table = formatRules(r.ctl.list(), N);
    assert.match(table, /^-A -t 10\.1\.0\.0:80 -s wlc$/m);
    assert.equal(table.match(/^-a /gm)?.length, 40_000);
    assert.equal(r.dp.services.filter((s) => s !== undefined).length, 10_000);
    assert.equal(r.dp.services.find((s) => s?.vip === ((10 << 24) | (1 << 16)))?.scheduler.name, 'wlc');
  });
});

test('a reload that replaces every service (each one\'s VIP changed) holds the loop in pieces under 2 ms of CPU: the destination slots\' commit wrote every trash change in one piece (25-53 ms at 10,000 x 4); it ends in the table of a fresh start with that file', async () => {
  await withFile('services:\n  - { proto: tcp, address: 10.1.0.0, port: 80, scheduler: wlc, servers: [ { address: 10.8.0.0, weight: 1 } ] }\n', async (file) => {
    const n = 700;
    const a = tableInMemory(file, n, 4, 'wlc', 1, 1);
    const b = tableInMemory(file, n, 4, 'wlc', 1, 2);
    // More slots than servers (uvsd's --dest-max is 65,536): the replaced servers stay in the trash.
    const { r, reload: sliced } = slicedReloadRig(file, a, 16_384);
    const reload = async (to: ConfigFile): Promise<number[]> => {
      const { cpu, changes } = await sliced(to);
      assert.equal(changes.length, 6 * n, 'every service and server deleted and added');
      return cpu;
    };
    // a -> b -> a -> b: the second and the third each take the other's servers back from the
    // trash (their slots), so their pieces pair up; the least of the two, piece by piece (a
    // collection landing in a piece of one of them does not count). The old commit's piece: 4-10 ms.
    await reload(b);
    const one = await reload(a);
    const two = await reload(b);
    assertPiecesUnder(one, two, 2);
    // The table of a fresh start with that file, in the datapath too.
    const fresh = rig({ addrs: ['10.0.0.1/8'], destMax: 16_384, connMax: 1024 });
    new ConfigManager(fresh.ctl, file, { drainTimeout: 0 }).apply(b, false);
    assert.equal(formatRules(r.ctl.list(), N), formatRules(fresh.ctl.list(), N));
    const dpTable = (x: typeof r): string[] => x.dp.services.flatMap((s) => (s === undefined ? [] : [`${s.vip}:${s.port} ${s.scheduler.name} ${s.dests.length}`])).sort();
    assert.deepEqual(dpTable(r), dpTable(fresh));
    assert.equal(r.ctl.model.slots.trashSize, 4 * n, 'the replaced servers in the trash');
    assert.equal(r.ctl.model.slots.freeCount, 16_384 - 8 * n);
  });
});

/** Each step's CPU (ms) of running `steps` to its end, and its value. */
function stepsCpu<T>(steps: Generator<unknown, T, void>): { cpu: number[]; value: T } {
  const cpu: number[] = [];
  let c = native.threadCpuMs();
  for (;;) {
    const r = steps.next();
    const now = native.threadCpuMs();
    cpu.push(now - c);
    c = now;
    if (r.done === true) return { cpu, value: r.value };
  }
}

/** The longest of the least, step by step, of runs with the same steps (a collection or a compilation landing in a step of one run does not count). */
function worstLeast(runs: number[][]): { ms: number; at: number; of: number } {
  const least = runs[0]!.map((_, i) => Math.min(...runs.map((r) => r[i] ?? Infinity)));
  const ms = Math.max(...least);
  return { ms, at: least.indexOf(ms), of: least.length };
}

test('a reload replacing every service of 10,000 x 4 plans and orders its 60,000 changes in short steps: the plan\'s arrays grew in one step (all three past ~40,000 at once: 5-8 ms of CPU), the order looked at 1,024 operations a step (1.6-1.8 ms) and grew its list and maps of every service in one', async () => {
  await withFile('services:\n  - { proto: tcp, address: 10.1.0.0, port: 80, scheduler: wlc, servers: [ { address: 10.8.0.0, weight: 1 } ] }\n', async (file) => {
    const n = 10_000;
    const cfg = tableInMemory(file, n, 4, 'wlc', 1, 2);
    // The table as planSteps reads it (planTableSteps): the services on 10.1/16, each deleted by the plan.
    const current = { services: Array.from({ length: n }, (_, i) => ({ proto: 'tcp', addr: `10.1.${i >> 8}.${i & 255}`, port: 80, fwmark: 0, sched: 'wlc', dests: [], laddrs: [] })) } as unknown as PlanTable;
    const timeouts = { tcp: 900, tcpfin: 120, udp: 300 };
    const plans = [0, 1, 2].map(() => stepsCpu(planSteps(current, timeouts, cfg, 0, new Set())));
    const plan = plans[0]!.value;
    assert.equal(plan.items.length, 6 * n);
    assert.equal(plan.changes.length, 6 * n);
    assert.deepEqual(plan.items[0], { verb: 'deleteService', args: { proto: 'tcp', addr: '10.1.0.0', port: 80 } });
    assert.deepEqual([plan.changes[n], plan.whereLine[n]], [`add service TCP 10.2.0.0:80 (wlc)`, cfg.services[0]!.line]);
    assert.equal(plan.items.at(-1)!.verb, 'addDest');
    // The datapath's operations of that batch: every service deleted, every id taken again by a new one with its 4 servers.
    const ops: DpOp[] = [];
    const gone = new ShardedMap<number, GoneService>();
    for (let id = 0; id < n; id++) {
      ops.push({ op: 'delService', id });
      gone.set(id, { key: `tcp|${id}|80`, vip: (10 << 24) | (1 << 16) | id, rips: [0, 1, 2, 3].map((j) => (10 << 24) | (8 << 16) | (4 * id + j)), lips: [], slots: [0, 1, 2, 3].map((j) => 4 * id + j) });
    }
    for (let id = 0; id < n; id++) {
      ops.push({ op: 'addService', id, proto: 6, vip: (10 << 24) | (2 << 16) | id, port: 80, sched: 'wlc', schedFlags: 0, persist: 0, netmask: -1, oneShot: false, pe: 0, synproxy: false });
      for (let j = 0; j < 4; j++) ops.push({ op: 'addDest', svc: id, dest: 4 * n + 4 * id + j, addr: (10 << 24) | (9 << 16) | (4 * id + j), port: 80, fwd: 0, weight: 1, upper: 0, lower: 0, tun: 0 });
    }
    const orders = [0, 1, 2].map(() => stepsCpu(orderForSlices([ops], gone, new ShardedMap<number, true>(), 32)));
    const chunks = orders[0]!.value;
    assert.deepEqual(chunks.flat(), ops, 'nothing held: the batch\'s order');
    assert.ok(chunks.every((c) => c.length === 32), 'chunks of 32');
    const p = worstLeast(plans.map((x) => x.cpu));
    const o = worstLeast(orders.map((x) => x.cpu));
    // The plan's worst step is now the making of one array of 60,000 (~1.5 ms here, its pages touched at once).
    const what = `planning: a step took ${p.ms.toFixed(2)} ms of CPU (step ${p.at} of ${p.of}); ordering: ${o.ms.toFixed(2)} ms (step ${o.at} of ${o.of})`;
    assert.ok(p.ms < 3 && o.ms < 1, what);
  });
});
