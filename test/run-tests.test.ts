// test-class: shared
// npm test's runner (test/run-tests.ts): which files may run side by side, and in what order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Schedule, kindOf } from './run-tests.js';

const HERE = dirname(fileURLToPath(import.meta.url));

/** Start and end files as the runner does (ends in the order given) and say what ran beside what. */
function simulate(files: { file: string; kind: 'alone' | 'lab' | 'shared' }[], slots: number, endOrder: (running: string[]) => string) {
  const s = new Schedule(files, slots);
  const kinds = new Map(files.map((f) => [f.file, f.kind]));
  const running: string[] = [];
  const started: string[] = [];
  const beside: string[] = [];
  for (;;) {
    for (let f = s.next(); f; f = s.next()) {
      for (const r of running) beside.push([r, f.file].sort().join('+'));
      running.push(f.file);
      started.push(f.file);
    }
    if (running.length === 0) break;
    const end = endOrder(running);
    running.splice(running.indexOf(end), 1);
    s.done(kinds.get(end)!);
  }
  assert.ok(s.empty && s.idle);
  return { started, beside };
}

const FILES = [
  { file: 'a1', kind: 'alone' as const }, { file: 'l1', kind: 'lab' as const }, { file: 's1', kind: 'shared' as const },
  { file: 'l2', kind: 'lab' as const }, { file: 's2', kind: 'shared' as const }, { file: 'a2', kind: 'alone' as const },
  { file: 's3', kind: 'shared' as const },
];

test('run-tests schedule: alone files first, one at a time, then the labs one at a time, never an alone file beside a lab or another alone one; shared files fill the other slot all along; one slot runs one file at a time', () => {
  // Shared files end first: they run beside the alone files, then beside the first lab.
  const shortShared = simulate(FILES, 2, (run) => run.find((f) => f.startsWith('s')) ?? run[0]!);
  assert.deepEqual(shortShared.started, ['a1', 's1', 's2', 's3', 'a2', 'l1', 'l2']);
  assert.deepEqual(shortShared.beside, ['a1+s1', 'a1+s2', 'a1+s3']);
  // Alone and lab files end first: one shared file beside them all, then the shared files side by side.
  const shortOthers = simulate(FILES, 2, (run) => run.find((f) => !f.startsWith('s')) ?? run[0]!);
  assert.deepEqual(shortOthers.started, ['a1', 's1', 'a2', 'l1', 'l2', 's2', 's3']);
  assert.deepEqual(shortOthers.beside, ['a1+s1', 'a2+s1', 'l1+s1', 'l2+s1', 's1+s2', 's2+s3']);
  for (const { beside } of [shortShared, shortOthers]) {
    assert.ok(beside.every((p) => /s\d/.test(p)), `an alone or lab file ran beside another one: ${beside}`);
  }
  const one = simulate(FILES, 1, (run) => run[0]!);
  assert.deepEqual(one.beside, []);
  assert.deepEqual(one.started, ['a1', 'a2', 'l1', 'l2', 's1', 's2', 's3']);
});

test('run-tests classes: every test file that builds a netns lab or starts uvsd runs as lab or alone, never shared; a file without the line runs alone', () => {
  const files = readdirSync(HERE).filter((f) => f.endsWith('.test.js'));
  assert.ok(files.length > 50, `${files.length} test files`);
  const shared = files.filter((f) => kindOf(join(HERE, f)) === 'shared');
  assert.ok(shared.length > 20 && shared.includes('run-tests.test.js'));
  for (const f of shared) {
    const js = readFileSync(join(HERE, f), 'utf8');
    assert.doesNotMatch(js, /\bnew Lab\(|\bwithLab\(|\bHaLab\b|\bEcmpLab\b|\bitest\(|uvsdArgv\(/, `${f} is marked shared but builds a lab or starts uvsd`);
  }
  assert.equal(kindOf(join(HERE, 'integration-ha.test.js')), 'alone');
  assert.equal(kindOf(join(HERE, 'integration-nat.test.js')), 'lab');
});
