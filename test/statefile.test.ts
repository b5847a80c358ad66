// test-class: shared
// uvsd --state-file (src/control/statefile.ts): the table is written once per turn of the event
// loop however many changes ran in it, through FILE.tmp renamed over FILE. At start a file that
// is empty or cut off (no end line) is refused like invalid YAML and the --config table stays;
// a file of the version before the end line still loads.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, chownSync, existsSync, linkSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { ConfigManager, parseConfig } from '../src/control/config.js';
import { DumpBytes } from '../src/control/dump-bytes.js';
import { STATE_END, STATE_HEADER, STATE_RETRY_MS, StateFile, keepRefused, lockStateFile, resolveStatePath, restoreState, stateFilePathProblem, stateProblem, type RefusedState, type RestoredState, type StateDump, type StateFileStatus } from '../src/control/statefile.js';
import { formatRules, formatStatus } from '../src/control/printers.js';
import type { StatusResult } from '../src/control/protocol.js';
import { BASE_CONFIG, configRig } from './helpers/config-rig.js';
import { createMetrics } from '../src/metrics/collectors.js';
import { parseExposition } from './helpers/prom.js';
import { rig, type Rig } from './helpers/harness.js';
import { allocated } from './helpers/alloc.js';
import { plainSlicer } from '../src/control/slices.js';
import { stepClock } from './helpers/step-clock.js';
import { checkedConfig } from './helpers/checked-config.js';

const withDir = async (fn: (dir: string) => Promise<void>): Promise<void> => {
  const dir = mkdtempSync(join(tmpdir(), 'uvs-state-'));
  try {
    await fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
};

/** A table's text as the state file holds it: the header line first, the end line last. */
const framed = (table: string): string => `${STATE_HEADER}\n${table}${STATE_END}\n`;

/** A StateFile's dump of a text given in parts (strings). */
const strs = (f: (h: string, sliced: boolean) => readonly string[] | Promise<readonly string[]>): StateDump => async (h, sliced, out) => {
  for (const s of await f(h, sliced)) out.text(s);
};

/** A StateFile's dump of cm's table in one piece, as --dump-config writes it (no drain-until). */
const tableOf = (cm: ConfigManager): StateDump => (h, _sliced, out) => cm.dumpInto(h, false, out);

/** cm's dump (state: the state file's) made into `bytes` as the state file's writer makes it (in slices with `pause`), as text. */
const viaBytes = async (cm: ConfigManager, bytes: DumpBytes, state: boolean, pause?: () => Promise<void>): Promise<string> => {
  bytes.open();
  await cm.dumpInto('# state', state, bytes, pause);
  bytes.close();
  return Buffer.concat(bytes.bytes()).toString();
};

test('changes in one turn of the event loop are written once, the latest table; an unchanged table is not written again', () => withDir(async (dir) => {
  const file = join(dir, 'state.yaml');
  let table = 'a: 1\n';
  let dumps = 0;
  const errors: string[] = [];
  const sf = new StateFile(file, strs((h) => (dumps++, [`${h}\n`, table])), (e) => errors.push(e));
  sf.changed();
  table = 'a: 2\n';
  sf.changed();
  await sf.flush();
  assert.equal(dumps, 1);
  assert.equal(readFileSync(file, 'utf8'), framed('a: 2\n'));
  assert.equal(existsSync(`${file}.tmp`), false, 'the temporary file was renamed');
  sf.changed();
  await sf.flush();
  assert.equal(dumps, 2);
  assert.deepEqual(errors, []);
}));

test('a table of many parts is written whole, encoded a piece at a time; the same parts again are not written', () => withDir(async (dir) => {
  const file = join(dir, 'state.yaml');
  // 300 services' texts of ~1 KB (some not ASCII): several pieces of 64 K characters.
  const parts = Array.from({ length: 300 }, (_v, i) => `  - address: svc-${i} é\n${'    x: y\n'.repeat(100)}`);
  let dumps = 0;
  const sf = new StateFile(file, strs((h) => (dumps++, [`${h}\n`, ...parts])), (e) => assert.fail(e));
  sf.changed();
  await sf.flush();
  assert.equal(readFileSync(file, 'utf8'), framed(parts.join('')));
  rmSync(file);
  sf.changed();
  await sf.flush();
  assert.equal(dumps, 2);
  assert.equal(existsSync(file), false, 'the same text: not written again');
}));

test('a change during a write is written after it; a write that fails is reported and retried on the next change', () => withDir(async (dir) => {
  const file = join(dir, 'state.yaml');
  let table = 'a: 1\n';
  const errors: string[] = [];
  const sf = new StateFile(file, strs((h) => [`${h}\n${table}`]), (e) => errors.push(e));
  sf.changed();
  await new Promise((r) => setImmediate(r)); // the first write is under way
  table = 'a: 2\n';
  sf.changed();
  await sf.flush();
  assert.equal(readFileSync(file, 'utf8'), framed('a: 2\n'));
  const gone = new StateFile(join(dir, 'no-such-dir', 'state.yaml'), strs((h) => [`${h}\n${table}`]), (e) => errors.push(e));
  gone.changed();
  await gone.flush();
  assert.equal(errors.length, 1);
  assert.match(errors[0]!, /ENOENT/);
  mkdirSync(join(dir, 'no-such-dir'));
  gone.changed();
  await gone.flush();
  assert.equal(readFileSync(join(dir, 'no-such-dir', 'state.yaml'), 'utf8'), framed('a: 2\n'));
}));

test('a write that fails part way (a full disk: here past RLIMIT_FSIZE, EFBIG) leaves no FILE.tmp holding the space it took; FILE keeps the last table', { skip: spawnSync('prlimit', ['--version']).status !== 0 ? 'needs prlimit (util-linux)' : false }, () => withDir(async (dir) => {
  const file = join(dir, 'state.yaml');
  writeFileSync(file, framed('a: 1\n'));
  // In a child whose files may not grow past 4 KiB (SIGXFSZ ignored: the write fails EFBIG).
  const script = `process.on('SIGXFSZ', () => {});
    import(${JSON.stringify(new URL('../src/control/statefile.js', import.meta.url).href)}).then(({ writeDurably }) =>
      writeDurably(${JSON.stringify(file)}, [Buffer.alloc(64 * 1024, 35)]).then(() => console.log('written'), (e) => console.log(e.code)));`;
  const r = spawnSync('prlimit', ['--fsize=4096', process.execPath, '-e', script], { encoding: 'utf8' });
  assert.equal(r.stdout.trim(), 'EFBIG', r.stderr);
  assert.equal(existsSync(`${file}.tmp`), false, 'FILE.tmp removed');
  assert.equal(readFileSync(file, 'utf8'), framed('a: 1\n'));
}));

test('writes that fail show in uvsadm --status (state_file PATH failing for Ns: the error) and are tried again every STATE_RETRY_MS without a change; reported once, and once more when written again', (t) => withDir(async (dir) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const sub = join(dir, 'gone');
  const file = join(sub, 'state.yaml');
  const errors: string[] = [];
  let recovered = 0;
  const sf = new StateFile(file, strs((h) => [`${h}\na: 1\n`]), (e) => errors.push(e), () => recovered++);
  const { r } = configRig();
  r.ctl.info.stateFile = () => sf.status();
  const line = (): string => formatStatus(r.ctl.call('status', {}) as StatusResult).split('\n').find((l) => l.startsWith('state_file '))!;
  assert.equal(line(), `state_file ${file} not saved yet`);
  sf.changed();
  await sf.flush();
  assert.match(line(), new RegExp(`^state_file ${file} failing for 0s: ENOENT: .*state\\.yaml\\.tmp' \\(nothing saved by this uvsd\\)$`));
  // Tried again without a change, failing the same way: not reported again.
  for (let i = 0; i < 3; i++) {
    t.mock.timers.tick(STATE_RETRY_MS);
    await sf.flush();
  }
  assert.equal(errors.length, 1, errors.join('\n'));
  assert.match(errors[0]!, /ENOENT/);
  assert.equal(sf.status().error !== undefined, true);
  // The directory back: the next try writes the table, with no change of it.
  mkdirSync(sub);
  t.mock.timers.tick(STATE_RETRY_MS);
  await sf.flush();
  assert.equal(readFileSync(file, 'utf8'), framed('a: 1\n'));
  assert.equal(recovered, 1);
  assert.equal(line(), `state_file ${file} saved 0s ago`);
}));

test('uvsadm --status after a step of the wall clock (NTP): "saved Ns ago" and "failing for Ns" are the time elapsed, not the step', (t) => withDir(async (dir) => {
  const clock = stepClock(t, ['setTimeout']);
  const { r } = configRig();
  const line = (): string => formatStatus(r.ctl.call('status', {}) as StatusResult).split('\n').find((l) => l.startsWith('state_file '))!;
  const saved = new StateFile(join(dir, 'state.yaml'), strs((h) => [`${h}\na: 1\n`]), () => {});
  r.ctl.info.stateFile = () => saved.status();
  saved.changed();
  await saved.flush();
  clock.tick(5_000);
  clock.step(-3_600_000);
  assert.equal(line(), `state_file ${join(dir, 'state.yaml')} saved 5s ago`, 'before: saved -3595s ago');
  const failing = new StateFile(join(dir, 'gone', 'state.yaml'), strs((h) => [`${h}\na: 1\n`]), () => {});
  r.ctl.info.stateFile = () => failing.status();
  failing.changed();
  await failing.flush();
  clock.tick(7_000);
  clock.step(3_600_000);
  assert.match(line(), /^state_file \S+ failing for 7s: ENOENT/, 'before: failing for 3607s');
}));

test('a change that lands while a dump runs in slices makes the writer dump again (never writes a mix); after 3 such tries it dumps in one piece', () => withDir(async (dir) => {
  const file = join(dir, 'state.yaml');
  let table = 'a: 0\n';
  const calls: boolean[] = [];
  let sf: StateFile | undefined;
  // A sliced dump reads half the table, lets the loop run (where a change lands), then the rest.
  const dump = async (h: string, sliced: boolean): Promise<string[]> => {
    calls.push(sliced);
    if (!sliced) return [`${h}\n${table}`];
    const first = table;
    await new Promise((r) => setImmediate(r));
    if (overtake > 0) {
      overtake--;
      table = `a: ${Number(table.slice(3)) + 1}\n`;
      sf!.changed();
    }
    return [`${h}\n${first.slice(0, 3)}${table.slice(3)}`]; // the mix: before and after the change
  };
  let overtake = 1;
  sf = new StateFile(file, strs(dump), (e) => assert.fail(e));
  sf.changed();
  await sf.flush();
  assert.deepEqual(calls, [true, true], 'overtaken once: dumped again, sliced, and not a third time for the change it already has');
  assert.equal(readFileSync(file, 'utf8'), framed('a: 1\n'));
  calls.length = 0;
  overtake = 5;
  sf.changed();
  await sf.flush();
  assert.deepEqual(calls, [true, true, true, false], 'overtaken three times: the fourth dump in one piece, and no more');
  assert.equal(readFileSync(file, 'utf8'), framed(`a: ${Number(table.slice(3))}\n`), 'the file holds the table as it is, not a mix');
}));

test('while changes keep coming, dumps are spaced (at most a fifth of the time dumping); the first change after a quiet spell is dumped at once; flush waits for the last', () => withDir(async (dir) => {
  const file = join(dir, 'state.yaml');
  let table = 0;
  let dumps = 0;
  const busy = (ms: number): void => {
    const end = performance.now() + ms;
    while (performance.now() < end) { /* a large table's dump */ }
  };
  const sf = new StateFile(file, strs((h) => {
    dumps++;
    busy(20);
    return [`${h}\na: ${table}\n`];
  }), (e) => assert.fail(e));
  // A script of 60 commands, one every 10 ms, against a table that takes 20 ms to dump.
  const t0 = performance.now();
  for (let i = 1; i <= 60; i++) {
    table = i;
    sf.changed();
    await new Promise((r) => setTimeout(r, 10));
  }
  await sf.flush();
  const ms = performance.now() - t0;
  assert.equal(readFileSync(file, 'utf8'), framed('a: 60\n'), 'the last change is on disk after flush');
  // Back to back (the old writer) it dumped ~30 times, 20 ms each, over ~1.2 s: dumping most of
  // the time. Spaced by 4 x 20 ms: at most one per 80 ms of the run, and a last one.
  assert.ok(dumps <= Math.ceil(ms / 80) + 2, `${dumps} dumps in ${ms.toFixed(0)} ms`);
  // Quiet now: the next change is dumped at once (no wait for a spacing that has long passed).
  await new Promise((r) => setTimeout(r, 200));
  const before = dumps;
  table = 61;
  sf.changed();
  await new Promise((r) => setImmediate(r));
  await new Promise((r) => setImmediate(r));
  assert.equal(dumps, before + 1, 'dumped in the next turn of the loop');
  await sf.flush();
  assert.equal(readFileSync(file, 'utf8'), framed('a: 61\n'));
}));

test('the config dump in parts (--dump-config from the socket) is the dump\'s text, lets the loop run between slices of a large table, and writes its parts into two chunks in turn', async () => {
  const { r, cm } = started();
  const n = 2000;
  const items = Array.from({ length: n }, (_v, i) => [
    { verb: 'addService', args: { proto: 'udp', addr: `192.168.${20 + (i >> 8)}.${i & 255}`, port: 53, sched: i % 2 ? 'sh' : 'wrr', persist: i % 3 ? 0 : 60 } },
    { verb: 'addDest', args: { service: { proto: 'udp', addr: `192.168.${20 + (i >> 8)}.${i & 255}`, port: 53 }, addr: '192.168.8.22', port: 53, weight: i % 4 } },
  ]).flat();
  r.ctl.call('batch', { items });
  let pauses = 0;
  const parts: Buffer[] = [];
  const chunks = new Set<ArrayBufferLike>();
  for await (const p of cm.dumpParts(async () => {
    pauses++;
    await new Promise((res) => setImmediate(res));
  }, '# h')) {
    chunks.add(p.buffer);
    parts.push(Buffer.from(p)); // a copy: the chunk is written into again
  }
  const text = Buffer.concat(parts).toString();
  assert.equal(text, cm.dump('# h'));
  assert.ok(pauses >= n / 8, `${pauses} pauses`);
  assert.ok(parts.length >= 4 && chunks.size <= 2, `${parts.length} parts in ${chunks.size} chunks`);
  const back = started(text);
  assert.equal(rules(back.r), rules(r), 'the sliced dump read as a config file gives the same table');
});

/** A config of services 192.168.8.200-202 (ports 80, 81, and 53/udp), one of them health-checked
 *  with a sorry server; `v` varies it (a reload): servers removed (drained), weights, checks. */
const cacheConfig = (v: number): string => `daemon:
  addresses: [192.168.8.10/24]
  drain-timeout: 30
services:
  - proto: tcp
    address: 192.168.8.200
    port: 80
    scheduler: wrr
    health:
      checks: [{ type: tcp${v % 3 === 0 ? ', connect-timeout: 3' : ''} }]
      sorry-server: { address: 192.168.8.29 }
    servers:
      - { address: 192.168.8.20, weight: ${1 + (v % 4)} }
${v % 2 === 0 ? '      - { address: 192.168.8.21, weight: 2 }\n' : ''}  - proto: udp
    address: 192.168.8.201
    port: 53
    scheduler: rr
    servers:
      - address: 192.168.8.22
${v % 5 !== 1 ? '      - address: 192.168.8.23\n' : ''}${v % 4 === 3 ? '' : `  - proto: tcp
    address: 192.168.8.202
    port: 81
    scheduler: sh
    servers: [{ address: 192.168.8.24 }]
`}`;

test('a state dump with kept service texts is the full dump, byte for byte, after any sequence of changes (uvsadm, -C, reloads, drains and their ends, health removals and returns, the trash)', async (t) => {
  stepClock(t, ['setTimeout']);
  const seeds = [1, 2, 3, 4, 5, 6, 7, 8];
  for (const seed of seeds) {
    const { r, cm } = configRig(30);
    cm.apply(parseConfig(cacheConfig(0), 'uvsd.yaml'), false);
    const texts = new DumpBytes();
    let x = seed;
    const rnd = (n: number): number => {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      return (x >>> 8) % n;
    };
    const pick = <T>(xs: readonly T[]): T => xs[rnd(xs.length)]!;
    const svc = (): { proto: string; addr: string; port: number } => pick([
      { proto: 'tcp', addr: '192.168.8.200', port: 80 }, { proto: 'udp', addr: '192.168.8.201', port: 53 },
      { proto: 'tcp', addr: '192.168.8.202', port: 81 }, { proto: 'tcp', addr: '192.168.8.203', port: 80 },
    ]);
    const rip = (): string => `192.168.8.${20 + rnd(6)}`;
    const call = (verb: string, args: unknown): void => {
      try {
        r.ctl.call(verb, args);
      } catch { /* refused (no such service, exists already): changes nothing */ }
    };
    const ops: Array<[string, () => void]> = [
      ['addService', () => call('addService', { ...svc(), sched: pick(['rr', 'wrr', 'sh']), persist: pick([0, 0, 300]) })],
      ['editService', () => call('editService', { ...svc(), sched: pick(['rr', 'wlc', 'mh']), persist: pick([0, 60]) })],
      ['deleteService', () => call('deleteService', svc())],
      ['addDest', () => { const s = svc(); call('addDest', { service: s, addr: rip(), port: s.port, fwd: pick(['dr', 'nat']), weight: rnd(5) }); }],
      ['editDest', () => { const s = svc(); call('editDest', { service: s, addr: rip(), port: s.port, weight: rnd(5), upper: pick([0, 100]) }); }],
      ['deleteDest', () => { const s = svc(); call('deleteDest', { service: s, addr: rip(), port: s.port }); }],
      // The health checker's verbs: a failed server out (or at weight 0, inhibited), back with its
      // weight when it passes (its slot from the trash), the sorry server in while all are down.
      ['health', () => {
        const service = { proto: 'tcp', addr: '192.168.8.200', port: 80 };
        const addr = pick(['192.168.8.20', '192.168.8.21']);
        switch (rnd(4)) {
          case 0: call('deleteDest', { service, addr, port: 80 }); break;
          case 1: call('editDest', { service, addr, port: 80, weight: 0 }); break;
          case 2: call('addDest', { service, addr, port: 80, weight: 2 }); break;
          default: call('addDest', { service, addr: '192.168.8.29', port: 80, weight: 1 });
        }
      }],
      ['laddr', () => call(pick(['addLaddr', 'delLaddr']), { service: svc(), addr: '192.168.8.250' })],
      ['timeouts', () => call('setTimeouts', { tcp: rnd(1000), tcpfin: 0, udp: 0 })],
      ['zero', () => call('zero', {})],
      ['clear', () => { if (rnd(4) === 0) call('clear', {}); }],
      ['reload', () => {
        try {
          cm.apply(parseConfig(cacheConfig(rnd(12)), 'uvsd.yaml'), false);
        } catch { /* refused against the table as it is: nothing changed */ }
      }],
      ['time', () => t.mock.timers.tick(pick([1_000, 10_000, 30_000]))], // drains end
      ['stop', () => { if (rnd(8) === 0) cm.stop(); }], // uvsd's shutdown (its drains dropped), then its last save
    ];
    const done: string[] = [];
    for (let step = 0; step < 300; step++) {
      const [name, op] = pick(ops);
      op();
      done.push(name);
      // Now and then a --dump-config (no drain-until, draining servers left out) with the same texts.
      const state = rnd(4) !== 0;
      const full = cm.dump('# state', state);
      assert.equal(await viaBytes(cm, texts, state), full, `seed ${seed}, state ${state}, after ${done.slice(-5).join(', ')} (step ${step})`);
    }
    cm.stop();
  }
});

test('a weight changed with uvsadm -e builds that service\'s text again and takes every other one kept; the sliced dump does the same', async () => {
  const { r, cm } = started();
  const items = Array.from({ length: 300 }, (_v, i) => [
    { verb: 'addService', args: { proto: 'tcp', addr: '192.168.8.201', port: 1000 + i, sched: 'wrr' } },
    { verb: 'addDest', args: { service: { proto: 'tcp', addr: '192.168.8.201', port: 1000 + i }, addr: '192.168.8.23', port: 1000 + i, weight: 1 } },
  ]).flat();
  r.ctl.call('batch', { items });
  const texts = new DumpBytes();
  const n = r.ctl.model.services.size;
  await viaBytes(cm, texts, true);
  assert.equal(texts.built, n, 'the first dump builds every service');
  r.ctl.call('editDest', { service: { proto: 'tcp', addr: '192.168.8.201', port: 1150 }, addr: '192.168.8.23', port: 1150, weight: 5 });
  const text = await viaBytes(cm, texts, true);
  assert.equal(texts.built, n + 1, 'one service built again');
  assert.equal(text, cm.dump('# state', true));
  assert.match(text, /port: 1150\n {4}scheduler: wrr\n {4}servers:\n {6}- address: 192\.168\.8\.23\n {8}method: dr\n {8}weight: 5\n/);
  r.ctl.call('editDest', { service: { proto: 'tcp', addr: '192.168.8.201', port: 1151 }, addr: '192.168.8.23', port: 1151, weight: 6 });
  assert.equal(await viaBytes(cm, texts, true, async () => {}), cm.dump('# state', true));
  assert.equal(texts.built, n + 2);
  // A batch (uvsadm -R, a reload) works on a copy of the table: what it did not change is kept.
  r.ctl.call('batch', { items: [{ verb: 'deleteService', args: { proto: 'tcp', addr: '192.168.8.201', port: 1000 } }] });
  await viaBytes(cm, texts, true);
  assert.equal(texts.built, n + 2, 'a deleted service builds nothing');
});

/**
 * Bytes allocated per service by the state file's write (as uvsd wires it: in slices, the services
 * not changed since the last dump kept) after change(w) (not measured) gave the table's n services
 * new weights w: two writes to compile the code, then the least of two. With the file's text.
 */
async function writeAllocation(dir: string, cm: ConfigManager, n: number, change: (w: number) => void): Promise<{ per: number; text: string }> {
  const file = join(dir, 'state.yaml');
  const sf = new StateFile(file, async (h, sliced, out) => {
    if (!sliced) return cm.dumpInto(h, true, out);
    const { pause, done } = plainSlicer('state-file');
    await cm.dumpInto(h, true, out, pause);
    done();
  }, (e) => assert.fail(e));
  const written = async (w: number): Promise<number> => {
    change(w);
    return allocated(async () => {
      sf.changed();
      await sf.flush();
    });
  };
  await written(2);
  await written(3);
  const per = Math.min(await written(4), await written(5)) / n;
  const text = readFileSync(file, 'utf8');
  assert.ok(text.endsWith(`\n${STATE_END}\n`));
  return { per, text };
}

test('the state file written after a batch that changed every service of 2,000 x 4 allocates under 2 KB per service (12.4 KB before: an object per server and the YAML writer\'s, each service\'s text a string, kept; 0.3-0.45 KB after); the file holds the batch', (t) => withDir(async (dir) => {
  const n = 2000;
  const r = rig({ addrs: ['10.0.0.1/8'], destMax: 4 * n + 8 });
  const cm = new ConfigManager(r.ctl, undefined, { drainTimeout: 0 });
  r.ctl.config = cm;
  const svc = (s: number) => ({ proto: 'tcp', addr: `10.1.${s >> 8}.${s & 255}`, port: 80 });
  const rip = (s: number, i: number): string => `10.${2 + i}.${s >> 8}.${s & 255}`;
  r.ctl.call('batch', { items: Array.from({ length: n }, (_v, s) => [
    { verb: 'addService', args: { ...svc(s), sched: 'wlc' } },
    ...[0, 1, 2, 3].map((i) => ({ verb: 'addDest', args: { service: svc(s), addr: rip(s, i), port: 80, fwd: 'nat', weight: 1 } })),
  ]).flat() });
  // A batch gives every service's first server weight w.
  const { per, text } = await writeAllocation(dir, cm, n, (w) => {
    r.ctl.call('batch', { items: Array.from({ length: n }, (_v, s) => ({ verb: 'editDest', args: { service: svc(s), addr: rip(s, 0), port: 80, fwd: 'nat', weight: w } })) });
  });
  assert.equal((text.match(/^ {6}- address: 10\.2\.\d+\.\d+\n {8}method: nat\n {8}weight: 5\n/gm) ?? []).length, n, 'the last batch is on disk');
  t.diagnostic(`${Math.round(per)} bytes per service`);
  assert.ok(per < 2000, `the state file's write allocated ${Math.round(per)} bytes per service`);
}));

test('the state file written after a reload of a health-checked config of 1,000 services x 4 (a TCP_CHECK each; every service\'s text made again) allocates under 2 KB per service (its health parts made through objects and the YAML writer before: ~12 KB); the file holds the reload', (t) => withDir(async (dir) => {
  const n = 1000;
  const r = rig({ addrs: ['10.0.0.1/8'], destMax: 4 * n + 8 });
  const cm = new ConfigManager(r.ctl, undefined, { drainTimeout: 0 });
  r.ctl.config = cm;
  /** The table as bench/statefile-slices.ts --checks makes it: the first server of each service at weight w. */
  const config = (w: number): string => checkedConfig(n, 4, (i) => (i === 0 ? w : 1));
  cm.apply(parseConfig(config(1), 'uvsd.yaml'), false);
  // A reload gives every service's first server weight w.
  const { per, text } = await writeAllocation(dir, cm, n, (w) => cm.apply(parseConfig(config(w), 'uvsd.yaml'), false));
  assert.equal((text.match(/^ {6}- address: 10\.2\.\d+\.\d+\n {8}method: nat\n {8}weight: 5\n {8}health:\n {10}checks:\n {12}- type: tcp\n/gm) ?? []).length, n, 'the last reload is on disk');
  t.diagnostic(`${Math.round(per)} bytes per service`);
  assert.ok(per < 2000, `the state file's write allocated ${Math.round(per)} bytes per service`);
}));

// ---- reading at start: what a crash or a cut copy leaves is refused, the --config table stays ----

const N = { numeric: true };

/** A director started with --config BASE_CONFIG (its table in place, as uvsd has it before the state file). */
const started = (config = BASE_CONFIG): { r: Rig; cm: ConfigManager } => {
  const d = configRig();
  d.cm.apply(parseConfig(config, 'uvsd.yaml'), false);
  return d;
};
const rules = (r: Rig): string => formatRules(r.ctl.list(), N);
/** A start's time, and how a state file refused then is renamed. */
const AT = new Date('2026-12-05T10:21:33.456Z');
const STAMP = '20261205T102133Z';

/** The state file a director with more than CONFIG writes (a service and a weight changed by uvsadm). */
const written = async (file: string): Promise<{ text: string; table: string }> => {
  const { r, cm } = started();
  r.ctl.call('addService', { proto: 'tcp', addr: '192.168.8.201', port: 443, sched: 'rr' });
  r.ctl.call('addDest', { service: { proto: 'tcp', addr: '192.168.8.201', port: 443 }, addr: '192.168.8.23', port: 443, fwd: 'dr', weight: 1 });
  r.ctl.call('editDest', { service: { proto: 'tcp', addr: '192.168.8.200', port: 80 }, addr: '192.168.8.20', port: 80, fwd: 'dr', weight: 7 });
  const sf = new StateFile(file, tableOf(cm), (e) => assert.fail(e));
  sf.changed();
  await sf.flush();
  return { text: readFileSync(file, 'utf8'), table: rules(r) };
};

test('a good state file round-trips: its table wins over --config\'s at start, and it is itself a valid --config file', () => withDir(async (dir) => {
  const file = join(dir, 'state.yaml');
  const w = await written(file);
  assert.ok(w.text.startsWith(`${STATE_HEADER}\n`) && w.text.endsWith(`\n${STATE_END}\n`), w.text);
  const { r, cm } = started();
  const configTable = rules(r);
  assert.notEqual(w.table, configTable);
  const res = restoreState(cm, file);
  assert.ok(res !== undefined && 'changes' in res, JSON.stringify(res));
  assert.equal(rules(r), w.table);
  const asConfig = started(readFileSync(file, 'utf8'));
  assert.equal(rules(asConfig.r), w.table);
  assert.equal(restoreState(cm, join(dir, 'missing.yaml')), undefined, 'no state file: nothing to restore');
  // Cut off (a copy stopped short), given as --config: refused as --state-file refuses it, at any
  // line (before 2026-12-07 taken as a smaller table: a service without its servers, or missing).
  const lines = w.text.split('\n');
  for (let n = 1; n < lines.length - 2; n++) {
    assert.throws(() => parseConfig(lines.slice(0, n).join('\n') + '\n', 'uvsd.yaml'), {
      message: `uvsd.yaml: a state file cut off (its last line is not "${STATE_END}"): its table is incomplete`,
    }, `cut after line ${n}`);
  }
}));

test('a FULLNAT local address added with its ports (addLaddr portMin/portMax) keeps them over a restart with the state file: written as ADDR:LO-HI, restored with them (before: the whole 1024-65535)', () => withDir(async (dir) => {
  const file = join(dir, 'state.yaml');
  const { r, cm } = started();
  const web = { proto: 'tcp', addr: '192.168.8.200', port: 80 };
  r.ctl.call('addLaddr', { service: web, addr: '192.168.8.51', portMin: 20000, portMax: 29999 });
  const sf = new StateFile(file, tableOf(cm), (e) => assert.fail(e));
  sf.changed();
  await sf.flush();
  assert.match(readFileSync(file, 'utf8'), /\n {4}local-addresses:\n {6}- 192\.168\.8\.51:20000-29999\n/);
  const after = started();
  const res = restoreState(after.cm, file);
  assert.ok(res !== undefined && 'changes' in res, JSON.stringify(res));
  const lips = (x: Rig) => x.ctl.list().services.find((s) => s.port === 80)!.laddrRanges;
  assert.deepEqual(lips(after.r), [{ addr: '192.168.8.51', portMin: 20000, portMax: 29999 }]);
  assert.equal(rules(after.r), rules(r));
  const pool = after.r.dp.laddrs.bySvc.flat().find((l) => l !== undefined)!;
  assert.deepEqual([pool.lo, pool.hi], [20000, 29999], 'the datapath takes its ports from that range');
}));

test('a 0-byte state file is refused ("empty"): the --config table stays, and is what is written back', () => withDir(async (dir) => {
  const file = join(dir, 'state.yaml');
  writeFileSync(file, '');
  const { r, cm } = started();
  const configTable = rules(r);
  assert.deepEqual(restoreState(cm, file, AT), { refused: `${file}: empty`, keptAs: `${file}.refused-${STAMP}` });
  assert.equal(rules(r), configTable);
  const sf = new StateFile(file, tableOf(cm), (e) => assert.fail(e));
  sf.changed();
  await sf.flush();
  const next = started('services: []\n');
  assert.ok(next && 'changes' in restoreState(next.cm, file)!);
  assert.equal(rules(next.r), configTable, 'the next start restores the --config table, not an empty one');
}));

test('a state file cut anywhere before its end line is refused ("incomplete: no end marker"): the --config table stays', () => withDir(async (dir) => {
  const file = join(dir, 'state.yaml');
  const { text } = await written(file);
  // `head -c 900 good > state.yaml`, as the user did (mid-line), and at a line's end (valid YAML with fewer services).
  const atLine = text.lastIndexOf('\n  - proto:') + 1;
  for (const n of [Math.min(900, text.length - 20), atLine]) {
    writeFileSync(file, text.slice(0, n));
    const { r, cm } = started();
    const configTable = rules(r);
    assert.deepEqual((restoreState(cm, file) as RefusedState).refused, `${file}: incomplete: no end marker (cut off?)`, `cut at ${n}`);
    assert.equal(rules(r), configTable);
  }
  // Every cut: only the end line's own newline may be missing.
  for (let n = 1; n < text.length; n++) {
    const problem = stateProblem(text.slice(0, n));
    if (n === text.length - 1) assert.equal(problem, undefined);
    else assert.equal(problem, 'incomplete: no end marker (cut off?)', `cut at ${n}`);
  }
}));

test('a state file of the version before the end line (no header, no end line) still loads; one with nothing but comments is refused', () => withDir(async (dir) => {
  const file = join(dir, 'state.yaml');
  const w = await written(file);
  // The previous version wrote the dump as it was: uvsadm --dump-config's header, no end line.
  const old = w.text.replace(`${STATE_HEADER}\n`, '# uvsd configuration, written by uvsadm --dump-config\n').replace(`${STATE_END}\n`, '');
  assert.doesNotMatch(old, /uvs state/);
  writeFileSync(file, old);
  const { r, cm } = started();
  assert.ok('changes' in restoreState(cm, file)!);
  assert.equal(rules(r), w.table);
  writeFileSync(file, '# uvsd configuration, written by uvsadm --dump-config\n');
  const b = started();
  const configTable = rules(b.r);
  assert.deepEqual((restoreState(b.cm, file) as RefusedState).refused, `${file}: empty (comments only)`);
  assert.equal(rules(b.r), configTable);
}));

test('a refused state file is renamed aside (FILE.refused-TIME) before uvsd writes its table there, and a later refusal never overwrites an earlier one; a server the table refuses is left out (the rest restored, the file kept aside)', () => withDir(async (dir) => {
  const file = join(dir, 'state.yaml');
  // uvsd restarted without the --addr one server needs: that server is left out, named, the
  // rest restored (until 2026-12-04 the whole file was refused and the table started empty).
  const w = await written(file);
  const text = w.text.replace('192.168.8.23', '10.99.0.1');
  writeFileSync(file, text);
  const { r, cm } = started();
  const res = restoreState(cm, file, AT) as RestoredState;
  assert.equal(res.leftOut.length, 1);
  assert.match(res.leftOut[0]!, new RegExp(`^${file}:\\d+: add server TCP 192\\.168\\.8\\.201:443 -> 10\\.99\\.0\\.1:443 weight 1: Real server is not on a directly connected network.*: left out$`));
  assert.equal(res.keptAs, `${file}.refused-${STAMP}`);
  assert.equal(readFileSync(res.keptAs, 'utf8'), text, 'kept byte for byte');
  assert.equal(existsSync(file), false);
  assert.equal(rules(r), w.table.replace(/^-a -t 192\.168\.8\.201:443 .*\n/m, ''));
  const sf = new StateFile(file, tableOf(cm), (e) => assert.fail(e));
  sf.changed();
  await sf.flush();
  assert.equal(readFileSync(res.keptAs, 'utf8'), text, 'still there once uvsd wrote its table');
  // Refused again in the same second: the next name, the first copy untouched.
  writeFileSync(file, '');
  assert.deepEqual(restoreState(started().cm, file, AT), { refused: `${file}: empty`, keptAs: `${file}.refused-${STAMP}.1` });
  assert.equal(readFileSync(res.keptAs, 'utf8'), text);
}));

test('upgrade: a state file of an older uvsd with entries this one refuses (RIP:0 beside RIP:PORT, a real server that is another service\'s VIP) restores the rest, names each entry left out, and --status says so', () => withDir(async (dir) => {
  const file = join(dir, 'state.yaml');
  // As c666779 (2026-12-01) wrote it: port 0 was not yet the service's port, and a VIP could be another service's real server.
  writeFileSync(file, framed(`services:
  - proto: tcp
    address: 192.168.8.210
    port: 80
    scheduler: rr
    servers:
      - { address: 192.168.8.20, port: 0, method: nat, weight: 1 }
      - { address: 192.168.8.20, port: 80, method: nat, weight: 2 }
  - proto: tcp
    address: 192.168.8.211
    port: 80
    scheduler: wlc
    servers:
      - { address: 192.168.8.210, port: 80, method: nat, weight: 1 }
      - { address: 192.168.8.21, port: 80, method: nat, weight: 1 }
  - proto: udp
    address: 192.168.8.212
    port: 53
    scheduler: rr
    servers:
      - { address: 192.168.8.22, port: 53, weight: 1 }
`));
  const { r, cm } = started('services: []\n');
  const res = restoreState(cm, file, AT) as RestoredState;
  assert.deepEqual(res.leftOut.map((l) => l.replace(file, 'F')), [
    'F:9: services[0].servers[1]: server 192.168.8.20:80 is already at line 8: left out (an older uvsd listed RIP:0 and RIP:80 apart)',
    'F:15: add server TCP 192.168.8.211:80 -> 192.168.8.210:80 weight 1: Address already used in the table in another role: real server 192.168.8.210 is a virtual address (TCP 192.168.8.210:80): left out',
  ]);
  assert.equal(rules(r), [
    '-A -t 192.168.8.210:80 -s rr', '-a -t 192.168.8.210:80 -r 192.168.8.20:80 -m -w 1',
    '-A -t 192.168.8.211:80 -s wlc', '-a -t 192.168.8.211:80 -r 192.168.8.21:80 -m -w 1',
    '-A -u 192.168.8.212:53 -s rr', '-a -u 192.168.8.212:53 -r 192.168.8.22:53 -g -w 1', '',
  ].join('\n'));
  assert.equal(res.keptAs, `${file}.refused-${STAMP}`);
  const status = { path: file, savedAt: Date.now(), atStart: { leftOut: 2, text: 'restored without 2 entries (the file kept as X): F:9: ... ...' } };
  r.ctl.info.stateFile = () => status;
  const gauges = async (st: StateFileStatus) => {
    const m = parseExposition(await createMetrics(r.dp, { process: false, stateFile: () => st }).text());
    return ['uvs_state_file_left_out', 'uvs_state_file_refused', 'uvs_state_file_write_failing'].map((n) => m.get(n, {}));
  };
  assert.deepEqual(await gauges(status), [2, 0, 0]);
  assert.deepEqual(await gauges({ path: file, atStart: { leftOut: -1, text: 'refused' }, error: 'EROFS', failingSince: 1 }), [0, 1, 1]);
  assert.deepEqual(await gauges({ path: file, savedAt: 1 }), [0, 0, 0]);
  const line = formatStatus(r.ctl.call('status', {}) as StatusResult).split('\n').find((l) => l.startsWith('state_file '))!;
  assert.equal(line, `state_file ${file} saved 0s ago; at start restored without 2 entries (the file kept as X): F:9: ... ...`);
}));

test('downgrade: a state file of a newer uvsd with fields this one does not know leaves out the entries holding them (a server; a service, or a checked service whole), restores the rest and names each; one outside the services refuses the file', () => withDir(async (dir) => {
  const file = join(dir, 'state.yaml');
  const text = framed(`services:
  - proto: tcp
    address: 192.168.8.210
    port: 80
    scheduler: rr
    servers:
      - address: 192.168.8.20
        weight: 1
        newer-knob: 3
      - { address: 192.168.8.21, weight: 2, method: dr }
      - { address: 192.168.8.22, weight: 1, newer-flag: true }   # a comment after it
  - proto: tcp
    address: 192.168.8.211
    port: 80
    scheduler: wlc
    newer-service-knob: x
    servers:
      - { address: 192.168.8.23, weight: 1 }
  - proto: tcp
    address: 192.168.8.212
    port: 80
    scheduler: rr
    health: { checks: [ { type: tcp } ] }
    servers:
      - { address: 192.168.8.24, weight: 1 }
      - { address: 192.168.8.25, weight: 1, newer-knob: 1 }
  - proto: udp
    address: 192.168.8.213
    port: 53
    scheduler: rr
    servers:
      - { address: 192.168.8.26, weight: 1 }
`);
  writeFileSync(file, text);
  const { r, cm } = started('services: []\n');
  const res = restoreState(cm, file, AT) as RestoredState;
  assert.deepEqual(res.leftOut.map((l) => l.replace(file, 'F').replace(/ \(known: [^)]*\)/, '')), [
    'F:10: services[0].servers[0].newer-knob: unknown field: left out the server at line 8',
    'F:12: services[0].servers[2].newer-flag: unknown field: left out the server at line 12',
    'F:17: services[1].newer-service-knob: unknown field: left out the service at line 13 and its servers',
    'F:27: services[2].servers[1].newer-knob: unknown field: left out the service at line 20 and its servers',
  ]);
  assert.equal(rules(r), [
    '-A -t 192.168.8.210:80 -s rr', '-a -t 192.168.8.210:80 -r 192.168.8.21:80 -g -w 2',
    '-A -u 192.168.8.213:53 -s rr', '-a -u 192.168.8.213:53 -r 192.168.8.26:53 -g -w 1', '',
  ].join('\n'));
  assert.equal(res.keptAs, `${file}.refused-${STAMP}`);
  assert.equal(readFileSync(res.keptAs, 'utf8'), text, 'kept byte for byte');
  // Outside the services, or sharing its line with another entry: the file refused, as before.
  for (const [bad, at] of [
    [text.replace('services:\n', 'daemon:\n  newer-daemon-knob: 1\nservices:\n'), 'daemon.newer-daemon-knob'],
    [framed('services: [ { proto: tcp, address: 192.168.8.214, port: 80, newer: 1 } ]\n'), 'services[0].newer'],
  ] as const) {
    writeFileSync(file, bad);
    const refused = restoreState(started('services: []\n').cm, file, AT) as RefusedState;
    assert.match(refused.refused, new RegExp(`^${file}:\\d+: ${at.replace(/[.[\]]/g, '\\$&')}: unknown field`));
  }
}));

test('upgrade: a real server that is a later service\'s VIP leaves out that server, not the later (valid) service with all of its servers', () => withDir(async (dir) => {
  const file = join(dir, 'state.yaml');
  writeFileSync(file, framed(`services:
  - proto: tcp
    address: 192.168.8.200
    port: 21
    scheduler: rr
    servers:
      - { address: 192.168.8.202, port: 21, method: nat, weight: 1 }
      - { address: 192.168.8.20, port: 21, method: nat, weight: 1 }
  - proto: udp
    address: 192.168.8.202
    port: 53
    scheduler: rr
    servers:
      - { address: 192.168.8.21, port: 53, method: nat, weight: 1 }
      - { address: 192.168.8.22, port: 53, method: nat, weight: 1 }
`));
  const { r, cm } = started('services: []\n');
  const res = restoreState(cm, file, AT) as RestoredState;
  assert.deepEqual(res.leftOut.map((l) => l.replace(file, 'F')), [
    'F:10: add service UDP 192.168.8.202:53 (rr): Address already used in the table in another role: virtual address 192.168.8.202 is a real server (TCP 192.168.8.200:21): left out the real server 192.168.8.202:21 of TCP 192.168.8.200:21 at line 8 instead',
  ]);
  assert.equal(rules(r), [
    '-A -t 192.168.8.200:21 -s rr', '-a -t 192.168.8.200:21 -r 192.168.8.20:21 -m -w 1',
    '-A -u 192.168.8.202:53 -s rr', '-a -u 192.168.8.202:53 -r 192.168.8.21:53 -m -w 1', '-a -u 192.168.8.202:53 -r 192.168.8.22:53 -m -w 1', '',
  ].join('\n'));
}));

test('the state file keeps the running sync daemons (daemon.sync, rewritten on uvsadm --start-daemon / --stop-daemon): a restart with it starts them again, before --config\'s; none left running is kept as none', () => withDir(async (dir) => {
  const { startSyncDaemons, syncAtStart, syncWhere } = await import('../src/control/syncconf.js');
  const file = join(dir, 'state.yaml');
  const key = join(dir, 'sync.key');
  writeFileSync(key, 'shared-secret-of-the-pair\n', { mode: 0o600 });
  const port = 20000 + Math.floor(Math.random() * 20000);
  const daemon = (state: string) => ({ state, syncid: 4, mcastInterface: 'lo', syncPeer: '127.0.0.1', keyFile: key, port });
  const config = parseConfig(BASE_CONFIG, 'uvsd.yaml'); // no daemon.sync
  const a = started();
  const b = started();
  try {
    // Started by hand (uvsadm --start-daemon): the state file is written again with them.
    const sf = new StateFile(file, tableOf(a.cm), (e) => assert.fail(e));
    a.r.ctl.onChange = () => sf.changed();
    await a.r.ctl.call('startDaemon', daemon('master'));
    await a.r.ctl.call('startDaemon', daemon('backup'));
    await sf.flush();
    assert.match(readFileSync(file, 'utf8'), /^ {2}sync:\n {4}master:\n/m);
    a.r.ctl.call('stopDaemon', { state: 'master' });
    await sf.flush();
    a.r.ctl.sync.close();
    // The restart: the table and the backup daemon come back.
    const res = restoreState(b.cm, file);
    assert.ok(res !== undefined && 'saved' in res, JSON.stringify(res));
    const at = syncAtStart(config, res.saved);
    assert.deepEqual(at?.sync, { backup: { syncid: 4, mcastInterface: 'lo', syncPeer: '127.0.0.1', keyFile: key, port } });
    assert.equal(at?.from.file, file);
    await startSyncDaemons(b.r.ctl, at!.sync, (s) => syncWhere(at!.from, s));
    assert.deepEqual([b.r.ctl.sync.running('master'), b.r.ctl.sync.running('backup')], [false, true]);
    b.cm.settings.sync = at!.sync; // as uvsd records what it started
    // Both stopped by uvsadm: written as none ({}), which wins over a --config daemon.sync at the next start.
    b.r.ctl.call('stopDaemon', { state: 'backup' });
    const sf2 = new StateFile(file, tableOf(b.cm), (e) => assert.fail(e));
    sf2.changed();
    await sf2.flush();
    assert.match(readFileSync(file, 'utf8'), /^ {2}sync: \{\}$/m);
    const withSync = { ...config, daemon: { ...config.daemon, sync: { backup: { keyFile: key } } } };
    const again = restoreState(started().cm, file);
    assert.ok(again !== undefined && 'saved' in again);
    assert.deepEqual(syncAtStart(withSync, again.saved)?.sync, {});
    // A state file without daemon.sync (none ran, or written before it existed): --config's.
    assert.deepEqual(syncAtStart(withSync, config)?.sync, { backup: { keyFile: key } });
    assert.equal(syncAtStart(config, undefined), undefined);
  } finally {
    a.r.ctl.sync.close();
    b.r.ctl.sync.close();
  }
}));

/** A file's permission bits. */
const modeOf = (file: string): number => statSync(file).mode & 0o777;

test('the state file and its FILE.tmp are written 0600 (they hold key passphrases and passwords); an existing 0644 file, and a 0644 FILE.tmp left behind, are 0600 after the next write; a refused file kept aside is 0600', () => withDir(async (dir) => {
  const file = join(dir, 'state.yaml');
  const sf = new StateFile(file, strs((h) => [`${h}\n`, 'password: secret\n']), (e) => assert.fail(e));
  sf.changed();
  await sf.flush();
  assert.equal(modeOf(file).toString(8), '600', 'a new file');
  // Written 0644 by a uvsd before 2026-12-05, with a FILE.tmp of its own left by a crash.
  writeFileSync(`${file}.tmp`, 'x');
  chmodSync(`${file}.tmp`, 0o644);
  chmodSync(file, 0o644);
  const again = new StateFile(file, strs((h) => [`${h}\n`, 'password: other\n']), (e) => assert.fail(e));
  again.changed();
  await again.flush();
  assert.equal(modeOf(file).toString(8), '600', 'tightened at the next write');
  chmodSync(file, 0o644);
  const kept = keepRefused(file, AT);
  assert.equal(modeOf(kept).toString(8), '600', 'kept aside');
}));

test('links planted beside the state file are not followed: FILE.tmp is made anew (the file a FILE.tmp link names keeps its text), FILE.lock is not opened through a link (its target not truncated), nor a hard-linked lock or another user\'s; a directory another user owns or may write (not sticky), or a state file another user owns, is refused at start (before: the link\'s target got the table, passwords and all, and a lock link\'s was truncated)', { skip: process.getuid?.() !== 0 ? 'chown needs root' : false }, () => withDir(async (dir) => {
  const file = join(dir, 'state.yaml');
  const victim = join(dir, 'victim');
  writeFileSync(victim, 'precious\n');
  symlinkSync(victim, `${file}.tmp`);
  const sf = new StateFile(file, strs((h) => [`${h}\n`, 'password: secret\n']), (e) => assert.fail(e));
  sf.changed();
  await sf.flush();
  assert.equal(readFileSync(victim, 'utf8'), 'precious\n');
  assert.equal(readFileSync(file, 'utf8'), `${STATE_HEADER}\npassword: secret\n${STATE_END}\n`);
  const lock = `${file}.lock`;
  symlinkSync(victim, lock);
  assert.equal(lockStateFile(file), `cannot create its lock file ${lock} (ELOOP)`);
  unlinkSync(lock);
  linkSync(victim, lock);
  assert.equal(lockStateFile(file), `its lock file ${lock} is a file of 2 links: remove it`);
  assert.equal(readFileSync(victim, 'utf8'), 'precious\n', 'neither truncated');
  unlinkSync(lock);
  writeFileSync(lock, '');
  chownSync(lock, 65534, 65534);
  assert.equal(lockStateFile(file), `its lock file ${lock} is owned by uid 65534: remove it`);
  const open = join(dir, 'open');
  mkdirSync(open);
  chmodSync(open, 0o777);
  const there = join(open, 'state.yaml');
  assert.equal(stateFilePathProblem(there), `${there}: directory ${open} is writable by group or others (mode 0777, not sticky): another user could replace the file or plant links beside it`);
  chmodSync(open, 0o1777); // as /tmp: others may not rename or remove root's files
  assert.equal(stateFilePathProblem(there), undefined);
  writeFileSync(there, 'services: []\n');
  chownSync(there, 65534, 65534);
  assert.equal(stateFilePathProblem(there), `${there}: owned by uid 65534 (not root): uvsd would restore another user's table`);
}));

test('a --state-file that is a symbolic link (to a file on persistent storage) is written at its target, the link kept: a link to a file not there yet, a chain of links, a linked directory', () => withDir(async (dir) => {
  const persist = join(dir, 'persist');
  mkdirSync(persist);
  const target = join(persist, 'state.yaml');
  const link = join(dir, 'state.yaml');
  symlinkSync(target, link); // dangling: the first boot
  const chain = join(dir, 'chain.yaml');
  symlinkSync('state.yaml', chain); // relative, to the other link
  mkdirSync(join(dir, 'etc'));
  symlinkSync(persist, join(dir, 'etc', 'uvs'));
  assert.equal(resolveStatePath(link), target);
  assert.equal(resolveStatePath(chain), target);
  assert.equal(resolveStatePath(join(dir, 'etc', 'uvs', 'state.yaml')), target);
  assert.equal(resolveStatePath(join(dir, 'plain.yaml')), join(dir, 'plain.yaml'));
  assert.equal(stateFilePathProblem(link), undefined);
  const sf = new StateFile(resolveStatePath(chain), strs((h) => [`${h}\n`, 'a: 1\n']), (e) => assert.fail(e));
  sf.changed();
  await sf.flush();
  assert.ok(lstatSync(link).isSymbolicLink() && lstatSync(chain).isSymbolicLink(), 'the links are kept');
  assert.equal(readFileSync(target, 'utf8'), `${STATE_HEADER}\na: 1\n${STATE_END}\n`);
  // A link into a directory that does not exist: named with where it leads.
  symlinkSync(join(dir, 'gone', 's.yaml'), join(dir, 'bad.yaml'));
  assert.equal(stateFilePathProblem(join(dir, 'bad.yaml')), `${join(dir, 'bad.yaml')} (-> ${join(dir, 'gone', 's.yaml')}): its directory ${join(dir, 'gone')} does not exist`);
  // A loop is refused, not followed for ever.
  symlinkSync(join(dir, 'loop2'), join(dir, 'loop1'));
  symlinkSync(join(dir, 'loop1'), join(dir, 'loop2'));
  assert.match(stateFilePathProblem(join(dir, 'loop1')) ?? '', /ELOOP/);
}));

test('the state file is held for the life of the uvsd that holds it (flock on FILE.lock, its pid inside): another one is refused naming that pid', () => withDir(async (dir) => {
  const file = join(dir, 'state.yaml');
  assert.equal(lockStateFile(file), undefined);
  assert.equal(readFileSync(`${file}.lock`, 'utf8'), `${process.pid}\n`);
  assert.equal(modeOf(`${file}.lock`).toString(8), '600');
  // flock is per open file: a second open of the lock file, even in this process, is refused.
  assert.equal(lockStateFile(file), `${file} is in use by uvsd pid ${process.pid} (it holds ${file}.lock)`);
  assert.match(lockStateFile(join(dir, 'no', 'state.yaml')) ?? '', /^cannot create its lock file .*\/no\/state\.yaml\.lock \(ENOENT\)$/);
}));

test('a sliced -C (1,500 services) while a health check re-weights a server: the state file holds the whole table or none of it, never the half-cleared one', () => withDir(async (dir) => {
  const { r, cm } = started();
  const n = 1500;
  const svc = (i: number) => ({ proto: 'tcp', addr: `192.168.${20 + (i >> 8)}.${i & 255}`, port: 80 });
  r.ctl.call('batch', { items: Array.from({ length: n }, (_v, i) => [
    { verb: 'addService', args: { ...svc(i), sched: 'wlc' } },
    { verb: 'addDest', args: { service: svc(i), addr: '192.168.8.22', port: 80 } },
  ]).flat() });
  const file = join(dir, 'state.yaml');
  const dump: StateDump = async (h, sliced, out) => {
    if (!sliced) return cm.dumpInto(h, true, out);
    const { pause, done } = r.ctl.slicer('state-file');
    try {
      await cm.dumpInto(h, true, out, pause);
    } finally {
      done();
    }
  };
  const sf = new StateFile(file, dump, (e) => assert.fail(e), undefined, () => r.ctl.midChange());
  r.ctl.onChange = () => sf.changed();
  sf.changed();
  await sf.flush();
  const count = (): number => (readFileSync(file, 'utf8').match(/^ {2}- proto:/gm) ?? []).length;
  const all = r.ctl.list().services.length; // the config's and these
  assert.equal(count(), all);
  const seen = new Set<number>();
  let polling = true;
  const poll = (): void => {
    if (!polling) return;
    seen.add(count());
    setImmediate(poll);
  };
  poll();
  const p = r.ctl.callAsync('clear', {});
  // A health check re-weights the last service's server while -C runs (Control.call, not queued).
  setImmediate(() => r.ctl.call('editDest', { service: svc(n - 1), addr: '192.168.8.22', port: 80, weight: 5 }));
  await p;
  await sf.flush();
  polling = false;
  seen.add(count());
  assert.deepEqual([...seen].sort((a, b) => b - a), [all, 0], 'services in the state file as read while -C ran');
}));
