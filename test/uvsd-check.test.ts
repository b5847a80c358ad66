// contrib/uvsd-check, keepalived's vrrp_script for uvsd (docs/ha.md): it passes only while a uvsd
// serving the given socket runs and is at least MIN_AGE_S old, so that a restart quicker than the
// check interval still fails it (keepalived goes to FAULT and a notify sets uvsd's role again).
// A stand-in process whose command line looks like uvsd's (node -e ... uvsd ... --socket PATH).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from './lab/dr-lab.js';

const CHECK = join(repoRoot, 'contrib', 'uvsd-check');
const check = (...args: string[]) => spawnSync(CHECK, args, { env: {}, encoding: 'utf8' }).status;

test('uvsd-check: fails while uvsd is younger than MIN_AGE_S, passes once older; another socket or no uvsd fails', async () => {
  const sock = `/tmp/uvsd-check-${process.pid}.sock`;
  const fake = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60_000)', 'uvsd', '--config', 'x.yaml', '--socket', sock, '--log-level', 'warn'], { stdio: 'ignore' });
  try {
    await new Promise((r) => fake.once('spawn', r));
    assert.equal(check(sock, '2'), 1, 'just started: fails');
    assert.equal(check(sock, '0'), 0, 'runs (MIN_AGE_S 0: a plain pgrep)');
    assert.equal(check(`${sock}.old`, '0'), 1, 'a uvsd on another socket does not count');
    assert.equal(check(sock.slice(0, -1), '0'), 1, 'nor one whose socket merely starts with it');
    await new Promise((r) => setTimeout(r, 2100));
    assert.equal(check(sock, '2'), 0, '2 s old: passes');
    assert.equal(check(sock), 1, 'the default MIN_AGE_S is 3');
  } finally {
    fake.kill('SIGKILL');
  }
  await new Promise((r) => fake.once('exit', r));
  assert.equal(check(sock, '0'), 1, 'uvsd gone: fails');
});
