// test-class: shared
// FILE_CHECK (keepalived's track_file + FILE_CHECK, src/health/checkers/file.ts): the file's
// number read as keepalived reads it, what it means for a server (weight 0: a non-zero value takes
// it out; otherwise value x weight added to its weight; reverse), the keepalived.conf blocks, and
// the health manager driving the table from real files (a fake clock for the 1 s poll).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rig, RS, VIP } from './helpers/harness.js';
import { FakeClock } from './helpers/fake-clock.js';
import { HealthManager } from '../src/health/manager.js';
import { FILE_POLL_MS, fileVerdict, parseTrackValue, readTrackFileSync } from '../src/health/checkers/file.js';
import { parseKeepalived } from '../src/health/keepalived.js';
import type { CheckResult, CheckSpec, FileCheck, HealthConfig } from '../src/health/types.js';
import type { ListResult } from '../src/control/protocol.js';

const [A, B] = [RS[0].ip, RS[1].ip];

test('the file is read as strtol(s, NULL, 0): space, sign, hex, octal, trailing text; out of 32 bits is ignored', () => {
  const cases: Array<[string, number | undefined]> = [
    ['', 0], ['\n', 0], ['abc', 0], ['1', 1], ['  42\n', 42], ['-7', -7], ['+3', 3], ['0x1F', 31], ['0X10', 16], ['010', 8], ['09', 0],
    ['0x', 0], ['12abc', 12], ['2147483648', 2147483648], ['-2147483648', -2147483648], ['2147483649', undefined], ['-2147483649', undefined],
    ['99999999999999999999', undefined],
  ];
  for (const [text, want] of cases) assert.equal(parseTrackValue(text), want, JSON.stringify(text));
});

test('what a value means: weight 0 fails on non-zero (reverse: on zero); a weight adds value x weight (reverse: minus); -2^31 is a fault', () => {
  const f = (weight: number, reverse: boolean, v: number) => {
    const r = fileVerdict({ trackFile: 'm', weight, reverse }, v);
    return r.ok ? `up ${r.delta}` : 'down';
  };
  assert.deepEqual([0, 1, -1, 5].map((v) => f(0, false, v)), ['up 0', 'down', 'down', 'down']);
  assert.deepEqual([0, 1].map((v) => f(0, true, v)), ['down', 'up 0']);
  assert.deepEqual([0, 2, -3].map((v) => f(10, false, v)), ['up 0', 'up 20', 'up -30']);
  assert.deepEqual([2].map((v) => f(10, true, v)), ['up -20']);
  assert.equal(f(1, false, -2147483648), 'down');
  assert.equal(fileVerdict({ trackFile: 'maint', weight: 0, reverse: false }, 1).reason, 'track_file maint reads 1');
});

const conf = (dir: string, rs: string, extra = '') => `
track_file maint {
  file ${dir}/maint
  weight 0
}
track_file load {
  file ${dir}/load
  weight 10
  ${extra}
}
virtual_server ${VIP} 80 {
  lb_algo rr
  lb_kind DR
  protocol TCP
  real_server ${A} 80 {
    weight 5
${rs}
  }
  real_server ${B} 80 {
    weight 1
  }
}
`;

test('keepalived.conf: track_file blocks and FILE_CHECK (the track_file\'s weight unless its own, reverse); mistakes are refused with file:line, an unknown keyword warned about as keepalived does', () => {
  const { config, warnings } = parseKeepalived(conf('/run/uvs', `    FILE_CHECK { track_file maint }
    FILE_CHECK {
      track_file load
      weight -2 reverse
    }
    TCP_CHECK { connect_timeout 3 }`, 'init_file 4 overwrite'), 'k.conf');
  assert.deepEqual(warnings, []);
  const cs = config.services[0]!.realServers[0]!.checkers;
  assert.deepEqual(cs.map((c) => c.type), ['FILE_CHECK', 'FILE_CHECK', 'TCP_CHECK']);
  const [m, l] = cs as FileCheck[];
  assert.deepEqual([m!.trackFile, m!.path, m!.weight, m!.reverse, m!.init], ['maint', '/run/uvs/maint', 0, false, undefined]);
  assert.deepEqual([l!.trackFile, l!.path, l!.weight, l!.reverse, l!.init], ['load', '/run/uvs/load', -2, true, { value: 4, overwrite: true }]);
  assert.deepEqual([m!.delayLoopMs, m!.retry, m!.rise, m!.fall], [FILE_POLL_MS, 0, 1, 1], 'read every second, each reading applies at once');
  const bad = (rs: string, extra = '') => {
    try {
      parseKeepalived(conf('/run/uvs', rs, extra), 'k.conf');
      return 'parsed';
    } catch (e) {
      return (e as Error).message;
    }
  };
  assert.equal(bad('    FILE_CHECK { track_file nosuch }'), 'k.conf:17: track_file nosuch is not defined (a top-level track_file nosuch { file PATH } block)');
  assert.equal(bad('    FILE_CHECK { weight 1 }'), 'k.conf:17: FILE_CHECK needs a track_file');
  assert.equal(bad('    FILE_CHECK { track_file maint\n weight 1 sideways }'), 'k.conf:18: weight 1: "sideways" is not reverse or noreverse');
  assert.equal(bad('', 'weight 300'), 'k.conf:9: weight: "300" is not an integer -254..254');
  // An unknown keyword is keepalived's "Unknown keyword": warned, the block read without it (refused until 2026-12-06).
  const unknown = parseKeepalived(conf('/run/uvs', '    FILE_CHECK {\n track_file maint\n dynamic\n }', 'file_x y'), 'k.conf');
  assert.deepEqual(unknown.warnings, ['k.conf:9: unsupported keyword "file_x" in track_file load ignored', 'k.conf:19: unsupported keyword "dynamic" in FILE_CHECK ignored']);
  assert.equal(unknown.config.services[0]!.realServers[0]!.checkers.length, 1);
  // vrrp_track_file is track_file's old name: read so, with keepalived's deprecation warning (silent until 2026-12-06).
  const old = parseKeepalived(conf('/run/uvs', '    FILE_CHECK { track_file maint }').replace('track_file maint {', 'vrrp_track_file maint {'), 'k.conf');
  assert.deepEqual(old.warnings, ['k.conf:2: vrrp_track_file is deprecated: write track_file (keepalived warns the same)']);
  assert.equal((old.config.services[0]!.realServers[0]!.checkers[0] as FileCheck).path, '/run/uvs/maint');
});

/** fn with a new temporary directory, removed after. */
async function inTmp(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'uvs-file-'));
  try {
    await fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

interface World {
  mgr: HealthManager;
  clock: FakeClock;
  /** "addr/weight" of each destination, sorted. */
  table(): string[];
  logs: string[];
}

/** The manager on an in-process datapath, FILE_CHECKs reading real files (other checkers pass). */
function world(config: HealthConfig): World {
  const r = rig();
  const clock = new FakeClock();
  const logs: string[] = [];
  const run = (spec: CheckSpec): Promise<CheckResult> =>
    Promise.resolve(spec.type === 'FILE_CHECK' ? fileVerdict(spec, readTrackFileSync(spec.path)) : { ok: true, reason: 'ok' });
  const mgr = new HealthManager(config, {
    call: (verb, args) => r.ctl.call(verb, args), run, exec: () => Promise.resolve(), clock, random: () => 0,
    log: { info: (o, msg) => logs.push(`${msg} ${JSON.stringify(o)}`), warn: (o, msg) => logs.push(`${msg} ${JSON.stringify(o)}`) },
  });
  return { mgr, clock, logs, table: () => (r.ctl.list() as ListResult).services.flatMap((s) => s.dests.map((d) => `${d.addr}/${d.weight}`)).sort() };
}

test('weight 0 (maintenance): a server whose file says 1 at start is never added; 0 puts it in within a second, 1 takes it out', async () => {
  await inTmp(async (dir) => {
    writeFileSync(join(dir, 'maint'), '1\n');
    const w = world(parseKeepalived(conf(dir, '    FILE_CHECK { track_file maint }\n    TCP_CHECK { }'), 'k.conf').config);
    await w.mgr.start();
    assert.deepEqual(w.table(), [`${B}/1`], 'known at once: not added (keepalived clears alpha for it)');
    writeFileSync(join(dir, 'maint'), '0\n');
    await w.clock.advance(FILE_POLL_MS);
    assert.deepEqual(w.table(), [`${A}/5`, `${B}/1`]);
    writeFileSync(join(dir, 'maint'), '1\n');
    await w.clock.advance(FILE_POLL_MS);
    assert.deepEqual(w.table(), [`${B}/1`]);
    assert.ok(w.logs.some((l) => l.startsWith('health: real server down') && l.includes('FILE_CHECK: track_file maint reads 1')), w.logs.join('\n'));
    rmSync(join(dir, 'maint'));
    await w.clock.advance(FILE_POLL_MS);
    assert.deepEqual(w.table(), [`${A}/5`, `${B}/1`], 'a missing file reads 0');
    await w.mgr.stop();
  });
});

test('a weight: the file\'s value x weight is added to the server\'s (never below 0 or above 2^31-1), applied by editDest; reverse subtracts', async () => {
  await inTmp(async (dir) => {
    writeFileSync(join(dir, 'load'), '2');
    const w = world(parseKeepalived(conf(dir, '    FILE_CHECK { track_file load }'), 'k.conf').config);
    await w.mgr.start();
    assert.deepEqual(w.table(), [`${A}/25`, `${B}/1`], '5 + 2 x 10 from the start');
    writeFileSync(join(dir, 'load'), '-1');
    await w.clock.advance(FILE_POLL_MS);
    assert.deepEqual(w.table(), [`${A}/0`, `${B}/1`], '5 - 10: weight 0, still in the table');
    writeFileSync(join(dir, 'load'), '0x7fffffff');
    await w.clock.advance(FILE_POLL_MS);
    assert.deepEqual(w.table(), [`${A}/2147483647`, `${B}/1`]);
    assert.ok(w.logs.some((l) => l.startsWith('health: weight changed (FILE_CHECK)')), w.logs.join('\n'));
    writeFileSync(join(dir, 'load'), '99999999999');
    await w.clock.advance(FILE_POLL_MS);
    assert.deepEqual(w.table(), [`${A}/2147483647`, `${B}/1`], 'out of range: ignored, the last value stands');
    await w.mgr.stop();
    const r = world(parseKeepalived(conf(dir, '    FILE_CHECK {\n      track_file load\n      weight 1 reverse\n    }'), 'k.conf').config);
    writeFileSync(join(dir, 'load'), '3');
    await r.mgr.start();
    assert.deepEqual(r.table(), [`${A}/2`, `${B}/1`], 'reverse: 5 - 3');
    await r.mgr.stop();
  });
});

test('init_file: a missing file is created with its value at start (and on a reload); overwrite replaces it at start only', async () => {
  await inTmp(async (dir) => {
    const cfg = (init: string) => parseKeepalived(conf(dir, '    FILE_CHECK { track_file load }', init), 'k.conf').config;
    const w = world(cfg('init_file 1'));
    await w.mgr.start();
    assert.equal(readFileSync(join(dir, 'load'), 'utf8'), '1\n');
    assert.deepEqual(w.table(), [`${A}/15`, `${B}/1`]);
    await w.mgr.stop();
    writeFileSync(join(dir, 'load'), '2\n');
    const o = world(cfg('init_file 0 overwrite'));
    await o.mgr.start();
    assert.equal(readFileSync(join(dir, 'load'), 'utf8'), '0\n', 'overwrite at start');
    assert.deepEqual(o.table(), [`${A}/5`, `${B}/1`]);
    // A reload (prepare/commit after start) never overwrites an existing file.
    writeFileSync(join(dir, 'load'), '3\n');
    const p = o.mgr.prepare(cfg('init_file 1 overwrite').services);
    p.commit();
    assert.equal(readFileSync(join(dir, 'load'), 'utf8'), '3\n');
    await o.mgr.stop();
  });
});
