// test-class: shared
// npm test's runner (test/run-tests.ts): which files may run side by side, and in what order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Schedule } from './run-tests.js';
import { kindOf } from './helpers/test-class.js';
import { LAB_START_ARGS, labClassFile } from './lab/dr-lab.js';

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

test('run-tests schedule: alone files first and by themselves, then each lab beside shared files, never two labs together; one slot runs one file at a time', () => {
  // Shared files end first: the labs run one after the other, the shared files beside them.
  const shortShared = simulate(FILES, 2, (run) => run.find((f) => f.startsWith('s')) ?? run[0]!);
  assert.deepEqual(shortShared.started, ['a1', 'a2', 'l1', 's1', 's2', 's3', 'l2']);
  assert.deepEqual(shortShared.beside, ['l1+s1', 'l1+s2', 'l1+s3']);
  // Labs end first: two shared files side by side once the labs are done.
  const shortLabs = simulate(FILES, 2, (run) => run.find((f) => f.startsWith('l')) ?? run[0]!);
  assert.deepEqual(shortLabs.started, ['a1', 'a2', 'l1', 's1', 'l2', 's2', 's3']);
  assert.deepEqual(shortLabs.beside, ['l1+s1', 'l2+s1', 's1+s2', 's2+s3']);
  for (const { beside } of [shortShared, shortLabs]) {
    assert.ok(beside.every((p) => !p.includes('a')), `an alone file ran beside another: ${beside}`);
    assert.ok(beside.every((p) => !/l\d\+l/.test(p)), `two labs ran together: ${beside}`);
  }
  const one = simulate(FILES, 1, (run) => run[0]!);
  assert.deepEqual(one.beside, []);
  assert.deepEqual(one.started, ['a1', 'a2', 'l1', 'l2', 's1', 's2', 's3']);
});

/**
 * Shared files that start uvsd, but only uvsd that exits before opening a port: refused command
 * lines (as user nobody, who cannot open a TAP), --help, --version and --check-config.
 */
const SHARED_UVSD_REFUSALS = new Set(['uvsd-refusals.test.js']);

test('run-tests classes: every test file that builds a netns lab or starts a uvsd that runs is lab or alone, never shared; a file without the line runs alone', () => {
  const files = readdirSync(HERE).filter((f) => f.endsWith('.test.js'));
  assert.ok(files.length > 50, `${files.length} test files`);
  const shared = files.filter((f) => kindOf(join(HERE, f)) === 'shared');
  assert.ok(shared.length > 20 && shared.includes('run-tests.test.js'));
  for (const f of shared) {
    const js = readFileSync(join(HERE, f), 'utf8');
    assert.doesNotMatch(js, /\bnew Lab\(|\bwithLab\(|\bHaLab\b|\bEcmpLab\b|\bitest\(/, `${f} is marked shared but builds a lab`);
    if (!SHARED_UVSD_REFUSALS.has(f)) assert.doesNotMatch(js, /uvsdArgv\(/, `${f} is marked shared but starts uvsd`);
  }
  for (const f of SHARED_UVSD_REFUSALS) assert.equal(kindOf(join(HERE, f)), 'shared', f);
  assert.equal(kindOf(join(HERE, 'integration-ha.test.js')), 'alone');
  assert.equal(kindOf(join(HERE, 'integration-nat.test.js')), 'lab');
});

test('the lab helpers\' uvsd starts leave out the JIT warm-up in a lab-class file only: not in an alone one, not in this shared one, not in the demo or a bench', () => {
  assert.equal(labClassFile(join(HERE, 'integration-nat.test.js')), true);
  assert.equal(labClassFile(join(HERE, 'integration-ha.test.js')), false);
  assert.equal(labClassFile(join(HERE, 'lab', 'demo.js')), false);
  assert.equal(labClassFile(join(HERE, '..', 'bench', 'run.js')), false);
  assert.equal(labClassFile(undefined), false);
  assert.deepEqual(LAB_START_ARGS, [], 'this file is shared');
});

test('run-tests output: a failed test is named last, after the summary, with its file and its error\'s first line (CI shows the log\'s tail), a failed suite by its failed subtest; a pass adds no such line', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'uvs-runner-'));
  try {
    writeFileSync(join(dir, 'a.test.js'), [
      "// test-class: shared",
      "import { describe, it, test } from 'node:test';",
      "import assert from 'node:assert/strict';",
      "test('adds up', () => assert.equal(1 + 1, 2));",
      "test('the table is full', () => assert.equal(3, 4, 'conns 3 of 4\\nsecond line'));",
      "test('no message', () => assert.deepEqual({ rs1: 6, rs2: 4 }, { rs1: 5, rs2: 5 }));",
      "test('equal, no message', () => assert.equal(3, 4));",
      "describe('refusals', () => { it('--conn-max -1', () => assert.fail('exit 0')); it('--conn-max 0', () => {}); });",
    ].join('\n'));
    writeFileSync(join(dir, 'b.test.js'), "// test-class: shared\nimport { test } from 'node:test';\ntest('fine', () => {});\n");
    // As npm test starts it: not as a child of node --test (NODE_TEST_CONTEXT makes run() report to a parent).
    const runnerEnv: NodeJS.ProcessEnv = { ...process.env, UVS_TEST_SLOTS: '1' };
    delete runnerEnv.NODE_TEST_CONTEXT;
    const run = (files: string[]) =>
      promisify(execFile)(process.execPath, [join(HERE, 'run-tests.js'), ...files], { env: runnerEnv }).then(
        (r) => ({ code: 0, out: r.stdout }),
        (e: { code: number; stdout: string }) => ({ code: e.code, out: e.stdout }),
      );
    const bad = await run([join(dir, 'a.test.js'), join(dir, 'b.test.js')]);
    assert.equal(bad.code, 1, bad.out);
    const lines = bad.out.trimEnd().split('\n');
    // A suite failed by its subtest is named by that subtest.
    // assert's own message: its first line and the values (3 !== 4; a diff's +/- lines).
    assert.deepEqual(lines.slice(-4), ['# failed: a.test.js: the table is full: conns 3 of 4',
      '# failed: a.test.js: no message: Expected values to be strictly deep-equal: + rs1: 6, + rs2: 4 - rs1: 5, - rs2: 5',
      '# failed: a.test.js: equal, no message: Expected values to be strictly equal: 3 !== 4',
      '# failed: a.test.js: --conn-max -1: exit 0'], bad.out);
    assert.match(lines.at(-5)!, /^# duration_ms /);
    assert.ok(lines.includes('# fail 4') && lines.includes('# pass 3'), bad.out);
    const good = await run([join(dir, 'b.test.js')]);
    assert.equal(good.code, 0, good.out);
    assert.doesNotMatch(good.out, /# failed:/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
