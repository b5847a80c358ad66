// test-class: lab
// contrib/uvsd.service, checked without a running systemd (none here, none in CI): systemd's own
// parser (`systemd-analyze verify`) accepts every line with no warning, and uvsd accepts the
// command line the unit starts it with (`--check-config` with that line, the unit's config file
// replaced by a small one), so the unit cannot drift from uvsd's options. Running the unit itself
// (Restart=, Nice=, the capabilities) needs systemd as PID 1; the restart it performs is
// integration-resilience.test.ts's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { repoRoot, uvsdArgv } from './lab/dr-lab.js';
import { withDrLab } from './lab/itest.js';
import { scriptUserCapsProblem } from '../src/health/exec.js';

const UNIT = join(repoRoot, 'contrib', 'uvsd.service');
const analyze = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' });
const noAnalyze = analyze.error ? `systemd-analyze not found (apt-get install systemd): ${analyze.error.message}` : false;

/** The value of the unit's first `key=` line (each key this test reads is set once). */
function unitValue(text: string, key: string): string {
  const line = text.split('\n').find((l) => l.startsWith(`${key}=`));
  assert.ok(line, `${key}= in the unit`);
  return line.slice(key.length + 1);
}

test('systemd unit: systemd-analyze verify accepts contrib/uvsd.service without a warning', { skip: noAnalyze }, () => {
  const text = readFileSync(UNIT, 'utf8');
  const [bin] = unitValue(text, 'ExecStart').split(' ');
  const dir = mkdtempSync(join(tmpdir(), 'uvs-unit-'));
  try {
    // Only the path a host installs differently (uvsd's: docs/uvsd.md#installing) is this
    // machine's; the rest is verified as shipped.
    const unit = join(dir, 'uvsd.service');
    writeFileSync(unit, text.replace(`ExecStart=${bin} `, `ExecStart=${join(repoRoot, 'bin', 'uvsd')} `));
    const r = spawnSync('systemd-analyze', ['verify', unit], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(`${r.stdout}${r.stderr}`.trim(), '', 'no warning from systemd-analyze');
    // It would warn about a mistyped key or value; make sure it does here.
    writeFileSync(unit, readFileSync(unit, 'utf8').replace('RestartSec=200ms', 'RestartSec=200xs'));
    const bad = spawnSync('systemd-analyze', ['verify', unit], { encoding: 'utf8', timeout: 30_000 });
    assert.match(bad.stderr, /RestartSec|200xs/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('systemd unit: /run/uvs (RuntimeDirectory=, where docs/ha.md puts keepalived\'s notify FIFO) outlives uvsd\'s stops and restarts (RuntimeDirectoryPreserve=yes): removed, a restarted uvsd read a new FIFO while keepalived wrote the removed one', () => {
  const text = readFileSync(UNIT, 'utf8');
  assert.equal(unitValue(text, 'RuntimeDirectory'), 'uvs');
  assert.equal(unitValue(text, 'RuntimeDirectoryPreserve'), 'yes');
  assert.match(readFileSync(join(repoRoot, 'docs', 'ha.md'), 'utf8'), /vrrp_notify_fifo \/run\/uvs\/vrrp\.fifo/);
});

test('systemd unit: uvsd accepts the ExecStart= command line (--check-config, the config file replaced by a small one)', () => {
  const text = readFileSync(UNIT, 'utf8');
  const words = unitValue(text, 'ExecStart').split(' ');
  assert.match(words[0]!, /^\/.*\/uvsd$/, 'uvsd by its absolute path (systemd searches no PATH of yours)');
  const args = words.slice(1);
  const at = args.indexOf('--config');
  assert.ok(at >= 0, 'the unit starts uvsd with --config');
  const dir = mkdtempSync(join(tmpdir(), 'uvs-unit-'));
  try {
    chmodSync(dir, 0o755);
    const yaml = join(dir, 'uvsd.yaml');
    writeFileSync(yaml, 'daemon:\n  tap: uvs0\n  addresses: [192.168.8.10/24]\nservices:\n  - proto: tcp\n    address: 192.168.8.200\n    port: 80\n    scheduler: rr\n    servers:\n      - address: 192.168.8.20\n');
    args[at + 1] = yaml;
    // The unit's --state-file is in /var/lib/uvs, which systemd creates (StateDirectory=uvs) before
    // ExecStart; uvsd refuses a state file whose directory does not exist, so here: a scratch one.
    const sf = args.indexOf('--state-file');
    if (sf >= 0) {
      assert.equal(dirname(args[sf + 1]!), `/var/lib/${unitValue(text, 'StateDirectory')}`, 'systemd makes the state file\'s directory');
      args[sf + 1] = join(dir, 'state.yaml');
    }
    const [node, ...argv] = uvsdArgv([...args, '--check-config']);
    const r = spawnSync(node!, argv, { encoding: 'utf8', timeout: 30_000, cwd: repoRoot });
    assert.equal(r.status, 0, `uvsd ${args.join(' ')} --check-config: ${r.stderr}`);
    // The unit's own settings that the docs promise.
    assert.equal(unitValue(text, 'Nice'), '-10');
    assert.equal(unitValue(text, 'Restart'), 'on-failure');
    assert.equal(unitValue(text, 'ExecReload'), '/bin/kill -HUP $MAINPID');
    assert.equal(unitValue(text, 'CapabilityBoundingSet'), 'CAP_NET_ADMIN CAP_NET_RAW CAP_SETUID CAP_SETGID CAP_KILL CAP_BPF');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const noSetpriv = process.getuid?.() !== 0 ? 'needs root (the capabilities are root\'s to drop)' : spawnSync('setpriv', ['--version']).error ? 'setpriv not found (util-linux)' : false;

test('systemd unit: with its CapabilityBoundingSet and NoNewPrivileges uvsd runs a script as another user (nobody) and kills it at its timeout (before: CAP_NET_ADMIN CAP_NET_RAW only, spawn EPERM, the check failed and its server went out)', { skip: noSetpriv }, () => {
  const text = readFileSync(UNIT, 'utf8');
  assert.equal(unitValue(text, 'NoNewPrivileges'), 'yes');
  const caps = unitValue(text, 'CapabilityBoundingSet').split(' ').map((c) => `+${c.replace(/^CAP_/, '').toLowerCase()}`);
  const dir = mkdtempSync(join(tmpdir(), 'uvs-unit-'));
  try {
    chmodSync(dir, 0o777); // the script, as nobody, writes its pid here
    const pidFile = join(dir, 'pid');
    const child = `
      import { readFileSync } from 'node:fs';
      import { runCommand, scriptUserCapsProblem } from ${JSON.stringify(join(repoRoot, 'dist', 'src', 'health', 'exec.js'))};
      const nobody = { uid: 65534, gid: 65534 };
      const who = await runCommand("/bin/sh -c 'test $(id -u):$(id -g) = 65534:65534'", 5000, nobody);
      const slow = await runCommand("/bin/sh -c 'echo $$ > ${pidFile}; exec sleep 3'", 300, nobody);
      // Killed (the sleep has 3 s to go): gone once reaped, within a second.
      const pid = Number(readFileSync(${JSON.stringify(pidFile)}, 'utf8'));
      let alive = true;
      for (let i = 0; i < 100 && alive; i++) {
        try { process.kill(pid, 0); await new Promise((r) => setTimeout(r, 10)); } catch { alive = false; }
      }
      const warning = scriptUserCapsProblem([{ command: '/bin/true', user: { name: 'nobody', ...nobody } }]);
      console.log(JSON.stringify({ who, slow, alive, warning: warning ?? null }));`;
    const r = spawnSync('setpriv', [`--bounding-set=-all,${caps.join(',')}`, '--no-new-privs', process.execPath, '--input-type=module', '-e', child], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { who: { code: 0 }, slow: { code: null, problem: 'timeout after 300 ms' }, alive: false, warning: null });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('systemd unit: with its CapabilityBoundingSet and AmbientCapabilities, uvsd --workers 2 attaches its steering program (steering ebpf): the BPF map and program need CAP_BPF (until 2026-12-07 the unit lacked it: automq, replies handed between workers)', { skip: noSetpriv }, async (t) => {
  const text = readFileSync(UNIT, 'utf8');
  const caps = (key: string) => unitValue(text, key).split(' ').map((c) => `+${c.replace(/^CAP_/, '').toLowerCase()}`).join(',');
  await withDrLab(t, { servers: 1, uvsd: false }, async (lab) => {
    await lab.startUvsd({
      wrap: ['setpriv', `--bounding-set=-all,${caps('CapabilityBoundingSet')}`, `--inh-caps=-all,${caps('AmbientCapabilities')}`, `--ambient-caps=-all,${caps('AmbientCapabilities')}`, '--no-new-privs'],
      extraArgs: ['--workers', '2'],
    });
    assert.match(await lab.uvsadmMust(['--status']), /^steering ebpf$/m);
  });
});

test('uvsd warns at start, once, when a script runs as another user and it lacks CAP_SETUID, CAP_SETGID or CAP_KILL (CapEff of /proc/self/status)', () => {
  const scripts = [{ command: '/bin/true' }, { command: '/usr/local/bin/check.sh web', user: { name: 'nobody', uid: 65534, gid: 65534 } }];
  const self = { uid: 0, gid: 0 };
  const status = (eff: string) => `Name:\tuvsd\nCapInh:\t0000000000000000\nCapEff:\t${eff}\nCapBnd:\t${eff}\n`;
  assert.equal(scriptUserCapsProblem(scripts, status('0000000000003000'), self),
    'uvsd lacks CAP_SETUID, CAP_SETGID, CAP_KILL (CapEff 0000000000003000): "/usr/local/bin/check.sh web" runs as nobody, which fails to start ' +
    '(spawn EPERM: its check fails, a notify or quorum command is not run); a script of another user cannot be killed at its timeout; ' +
    'give uvsd these capabilities (systemd: CapabilityBoundingSet=, as contrib/uvsd.service)');
  assert.equal(scriptUserCapsProblem(scripts, status('00000000000030c0'), self),
    'uvsd lacks CAP_KILL (CapEff 00000000000030c0): "/usr/local/bin/check.sh web" runs as nobody, a script of another user cannot be killed at its timeout; ' +
    'give uvsd these capabilities (systemd: CapabilityBoundingSet=, as contrib/uvsd.service)');
  assert.equal(scriptUserCapsProblem(scripts, status('00000000000030e0'), self), undefined, 'the unit\'s set');
  assert.equal(scriptUserCapsProblem(scripts.slice(0, 1), status('0000000000003000'), self), undefined, 'no script of another user');
  assert.equal(scriptUserCapsProblem(scripts, status('0000000000003000'), { uid: 65534, gid: 65534 }), undefined, 'uvsd is that user');
  assert.equal(scriptUserCapsProblem(scripts, '', self), undefined, 'no /proc');
});

// What Type=notify relies on, with a stand-in for systemd's notification socket (a Unix datagram
// socket; python3 reads it, Node has no Unix datagram sockets).
const RECEIVER = `
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print("bound", flush=True)
while True:
    m = s.recv(4096).decode()
    print(m.replace("\\n", "|"), flush=True)
`;

test('Type=notify: uvsd sends READY=1 (with MAINPID) to $NOTIFY_SOCKET once uvsadm gets answers, and STOPPING=1 when it stops', { timeout: 120_000 }, async (t) => {
  const unit = readFileSync(UNIT, 'utf8');
  assert.equal(unitValue(unit, 'Type'), 'notify', 'the unit waits for READY=1');
  await withDrLab(t, { servers: 1, uvsd: false }, async (lab) => {
    const sock = join(lab.tmp, 'notify.sock');
    const rx = lab.lab.spawn(null, ['python3', '-c', RECEIVER, sock]);
    await rx.waitForLine(/^bound$/, 10_000);
    const ready = rx.waitForLine(/READY=1/, 30_000);
    const uvsd = await lab.startUvsd({ env: { NOTIFY_SOCKET: sock } });
    const line = await ready;
    assert.match(line, new RegExp(`^READY=1\\|MAINPID=${uvsd.child.pid}\\|STATUS=forwarding on uvs0`), line);
    assert.equal((await lab.uvsadm(['-Ln'])).code, 0, 'the control socket answers once READY=1 is sent');
    const stopping = rx.waitForLine(/STOPPING=1/, 10_000);
    await lab.stopUvsd();
    await stopping;
    await rx.stop(1000);
  });
});
