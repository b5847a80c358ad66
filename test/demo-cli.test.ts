// test-class: lab
// `npm run demo`'s own command line: --help prints the usage, a bad option or mode is refused with
// exit 2 and a one-line error (no stack trace), before any namespace is built.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { nodeArgv, repoRoot } from './lab/dr-lab.js';

function demo(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const env = { ...process.env };
  delete env['NODE_TEST_CONTEXT']; // the script does nothing under the test runner otherwise
  const [node, ...argv] = nodeArgv(join(repoRoot, 'dist', 'test', 'lab', 'demo.js'), args);
  const r = spawnSync(node!, argv, { encoding: 'utf8', env, timeout: 15_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('demo: --help prints the usage; an unknown option or mode is one line and exit 2, nothing built', () => {
  const help = demo('--help');
  assert.equal(help.status, 0);
  assert.match(help.stdout, /^usage: npm run demo \[-- --mode dr\|nat\|fullnat\|tun\]/);
  const bogus = demo('--bogus');
  assert.equal(bogus.status, 2);
  assert.match(bogus.stderr, /^demo: Unknown option '--bogus'\nusage: /);
  assert.doesNotMatch(bogus.stderr, /\n\s+at /);
  const mode = demo('--mode', 'dsr');
  assert.equal(mode.status, 2);
  assert.equal(mode.stderr, 'demo: --mode must be one of dr, nat, fullnat, tun, not "dsr"\n');
  assert.equal(mode.stdout, '');
});
