// test-class: lab
// contrib/uvsd-check, keepalived's vrrp_script for uvsd (docs/ha.md): it passes only while a uvsd
// serving the given socket runs and is at least MIN_AGE_S old, so that a restart quicker than the
// check interval still fails it (keepalived goes to FAULT and a notify sets uvsd's role again).
// It finds uvsd by the socket it listens on (ss), not by its command line: first with stand-ins
// (a node process listening on the socket, its command line like uvsd's or not), then real uvsds
// whose socket was given as --socket=PATH and by the --config file's daemon.socket.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot, uvsdArgv } from './lab/dr-lab.js';
import { withLab } from './lab/itest.js';
import { waitForControl } from './lab/ready.js';

const CHECK = join(repoRoot, 'contrib', 'uvsd-check');
const check = (...args: string[]) => spawnSync(CHECK, args, { env: {}, encoding: 'utf8' }).status;

// The stand-ins' sockets, in a directory of this run's own: a SIGKILLed stand-in leaves its socket
// file, and a later run with the same pid then failed with EADDRINUSE at a fixed /tmp path.
const dir = mkdtempSync(join(tmpdir(), 'uvsd-check-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A stand-in for uvsd: node listening on `sock`, `args` on its command line; resolves once it listens. */
async function standIn(sock: string, args: string[]) {
  const p = spawn(process.execPath, ['-e', 'require("net").createServer().listen(process.env.SOCK, () => console.log("listening"))', ...args], { env: { SOCK: sock }, stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise((resolve, reject) => { p.stdout.once('data', resolve); p.once('exit', reject); });
  return p;
}

async function kill(p: ReturnType<typeof spawn>) {
  const exited = new Promise((r) => p.once('exit', r));
  p.kill('SIGKILL');
  await exited;
}

test('uvsd-check: fails while uvsd is younger than MIN_AGE_S, passes once older; another socket, its socket file removed or no uvsd fails', async (t) => {
  const sock = join(dir, 'uvsd.sock');
  const t0 = performance.now(); // before the stand-in starts: its age is at most the time since
  const fake = await standIn(sock, ['uvsd', '--config', 'x.yaml', '--socket', sock, '--log-level', 'warn']);
  try {
    // 30 s, not 2: on a loaded host the checks below may take seconds.
    assert.equal(check(sock, '30'), 1, 'just started (younger than 30 s): fails');
    assert.equal(check(sock, '0'), 0, 'runs (MIN_AGE_S 0: it listens, whatever its age)');
    assert.equal(check(`${sock}.old`, '0'), 1, 'a uvsd on another socket does not count');
    assert.equal(check(sock.slice(0, -1), '0'), 1, 'nor one whose socket merely starts with it');
    assert.equal(check(sock.toUpperCase(), '0'), 1, 'nor one whose socket differs in case');
    await new Promise((r) => setTimeout(r, 2100));
    assert.equal(check(sock, '2'), 0, '2 s old: passes');
    // Younger than 3 s for sure only if this came within 2.8 s of the start (a loaded host: not always).
    const age = (performance.now() - t0) / 1000;
    if (age < 2.8) assert.equal(check(sock), 1, 'the default MIN_AGE_S is 3');
    else t.diagnostic(`the default MIN_AGE_S not checked: ${age.toFixed(1)} s since the start (a loaded host)`);
    // Its socket file removed (ss still lists the name): it cannot be reached; fails (after looking again 1.5 s later).
    unlinkSync(sock);
    assert.equal(check(sock, '0'), 1, 'the socket file removed: fails');
  } finally {
    await kill(fake);
  }
  assert.equal(check(sock, '0'), 1, 'uvsd gone: fails');
});

test('uvsd-check: finds uvsd by the socket it serves whatever its command line (--socket=PATH, none at all); a process that only names the socket does not count', async () => {
  const sock = join(dir, 'eq.sock');
  const named = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60_000)', 'uvsd', '--socket', `${sock}.named`], { stdio: 'ignore' });
  const started: ReturnType<typeof spawn>[] = [];
  try {
    started.push(await standIn(sock, ['uvsd', `--socket=${sock}`]));
    started.push(await standIn(`${sock}.bare`, ['uvsd', '--config', '/etc/uvs/uvsd.yaml']));
    assert.equal(check(sock, '0'), 0, '--socket=PATH');
    assert.equal(check(`${sock}.bare`, '0'), 0, 'no --socket on the command line');
    assert.equal(check(`${sock}.named`, '0'), 1, 'a process whose command line names the socket but does not listen on it');
  } finally {
    named.kill('SIGKILL');
    await Promise.all(started.map(kill));
  }
});

test('uvsd-check on real uvsds: the socket given as --socket=PATH, and as daemon.socket of the --config file (no --socket); stopped: fails (itest)', { timeout: 60_000 }, async (t) => {
  await withLab(t, 'uvschk', async (lab, tmp) => {
    const ns = await lab.addNs('d');
    const fromConfig = join(tmp, 'config.sock');
    const withEq = join(tmp, 'eq.sock');
    const config = join(tmp, 'uvsd.yaml');
    writeFileSync(config, `daemon:\n  tap: uvs0\n  addresses: [192.168.8.10/24]\n  socket: ${fromConfig}\n`);
    const a = lab.spawn(ns, uvsdArgv(['--config', config, '--arp-probe-ms', '50']), { cwd: repoRoot });
    const b = lab.spawn(ns, uvsdArgv(['--tap', 'uvs1', '--addr', '192.168.9.10/24', `--socket=${withEq}`, '--arp-probe-ms', '50']), { cwd: repoRoot });
    // A relative --socket: bound as the absolute path it names (until 2026-12-07 as given, and the
    // check given the absolute path failed).
    const c = lab.spawn(ns, uvsdArgv(['--tap', 'uvs2', '--addr', '192.168.7.10/24', '--socket', './rel.sock', '--arp-probe-ms', '50']), { cwd: tmp });
    try {
      assert.equal(await waitForControl(fromConfig, a), '', `uvsd --config: ${a.stderr()}`);
      assert.equal(await waitForControl(withEq, b), '', `uvsd --socket=: ${b.stderr()}`);
      assert.equal(await waitForControl(join(tmp, 'rel.sock'), c), '', `uvsd --socket ./rel.sock: ${c.stderr()}`);
      const inNs = async (...args: string[]) => (await lab.exec(ns, [CHECK, ...args])).code;
      assert.equal(await inNs(fromConfig, '0'), 0, 'daemon.socket of --config');
      assert.equal(await inNs(withEq, '0'), 0, '--socket=PATH');
      assert.equal(await inNs(join(tmp, 'rel.sock'), '0'), 0, 'a relative --socket, checked by its absolute path');
      assert.equal((await lab.exec(ns, [CHECK, './rel.sock', '0'], { cwd: tmp })).code, 0, 'and by the relative one, from the same directory');
      assert.equal(await inNs(fromConfig, '3600'), 1, 'younger than MIN_AGE_S');
      assert.equal(await a.stop(3000), 0);
      assert.equal(await inNs(fromConfig, '0'), 1, 'stopped: fails');
      assert.equal(await inNs(withEq, '0'), 0, 'the other uvsd still passes');
    } finally {
      await Promise.all([a.stop(3000), b.stop(3000), c.stop(3000)]);
    }
  });
});
