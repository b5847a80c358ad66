// test-class: lab
// uvsd's command line where it needs a netns lab: a --mac equal to the TAP's own MAC, the TAP's
// queue length, a full disk on stdout, IPv6 on the port, an --addr another host answers for, sync
// daemons started with uvsd. The refusals that open nothing are in uvsd-refusals.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readlinkSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot, uvsdArgv, uvsadmInProcess, uvsadmInProcessMust } from './lab/dr-lab.js';
import { withLab } from './lab/itest.js';
import { delay } from './lab/netns.js';
import { waitForControl } from './lab/ready.js';
import { ControlClient } from '../src/control/client.js';
import { formatStatus } from '../src/control/printers.js';
import type { StatusResult } from '../src/control/protocol.js';
import { UVSD_NODE_FLAGS } from '../src/cli/node-flags.js';

const uvsdJs = join(repoRoot, 'bin', 'uvsd');

/** uvsd's JIT warm-up left out: these tests start uvsd for what its command line does with the TAP. */
const NO_WARMUP = '--no-jit-warmup';

test('uvsd refuses a --mac equal to the TAP interface\'s own MAC (exit 2, TAP left in place); `node bin/uvsd` runs node again with --no-memory-reducer (same pid, stdout kept), dist/src/cli/uvsd.js alone warns; on that single-queue TAP (ip tuntap add) --datapath-thread starts, --workers 2 is refused with one line saying how to make a multi-queue TAP', { timeout: 60_000 }, async (t) => {
  await withLab(t, 'uvscli', async (lab, tmp) => {
    const ns = await lab.addNs('tap');
    const mac = '02:aa:00:00:00:42';
    await lab.must(['ip', 'tuntap', 'add', 'dev', 'uvs0', 'mode', 'tap'], ns);
    await lab.must(['ip', 'link', 'set', 'uvs0', 'address', mac], ns);
    const argv = [process.execPath, uvsdJs, '--tap', 'uvs0', '--addr', '192.168.8.10/24', '--mac', mac, '--socket', join(tmp, 's.sock')];
    const r = await lab.exec(ns, argv, { cwd: repoRoot, timeoutMs: 15_000 });
    t.diagnostic(`uvsd: ${r.code} ${JSON.stringify(r.stderr)}`);
    assert.equal(r.code, 2, `exit code; stderr ${JSON.stringify(r.stderr)} stdout ${JSON.stringify(r.stdout)}`);
    const lines = r.stderr.split('\n');
    assert.equal(lines.length, 2, `stderr must be one line: ${JSON.stringify(r.stderr)}`);
    assert.ok(lines[0]!.includes(mac), `stderr does not name ${mac}: ${lines[0]}`);
    // The persistent TAP was not uvsd's to delete.
    const link = await lab.exec(ns, ['ip', '-o', 'link', 'show', 'uvs0']);
    assert.equal(link.code, 0, 'the persistent TAP uvs0 must still exist');
    assert.match(link.stdout, new RegExp(mac));
    // With another station MAC the same TAP is accepted (the refusal was about the MAC only).
    const ok = lab.spawn(ns, [...argv.slice(0, -4), '--mac', '02:00:00:00:00:01', '--socket', join(tmp, 's2.sock'), NO_WARMUP], { cwd: repoRoot });
    await ok.waitForLine(/uvsd started/, 10_000);
    // `node bin/uvsd` ran node again with the flags of src/cli/node-flags.ts: the same process
    // (ip netns exec and then bin/uvsd exec'd in place), its stdout still ours, no warning.
    const cmdline = readFileSync(`/proc/${ok.child.pid}/cmdline`, 'utf8').split('\0');
    assert.deepEqual(cmdline.slice(0, 3), [process.execPath, ...UVSD_NODE_FLAGS, uvsdJs], cmdline.join(' '));
    assert.equal(await ok.stop(3000), 0);
    assert.doesNotMatch(ok.stdout(), /runs without the flags/);
    // Started without bin/uvsd (and so without them), uvsd says so at start.
    const bare = lab.spawn(ns, [process.execPath, join(repoRoot, 'dist/src/cli/uvsd.js'), ...argv.slice(2, -4), '--mac', '02:00:00:00:00:01', '--socket', join(tmp, 's5.sock'), NO_WARMUP], { cwd: repoRoot });
    const warned = await bare.waitForLine(/runs without the flags/, 10_000);
    assert.match(warned, /"missing":\["--no-memory-reducer"\]/);
    assert.equal(await bare.stop(3000), 0);
    const thread = lab.spawn(ns, [...argv.slice(0, -4), '--mac', '02:00:00:00:00:01', '--socket', join(tmp, 's3.sock'), '--datapath-thread', NO_WARMUP], { cwd: repoRoot });
    await thread.waitForLine(/uvsd started/, 10_000);
    assert.equal(await thread.stop(3000), 0, thread.stderr());
    const w2 = await lab.exec(ns, [...argv.slice(0, -4), '--mac', '02:00:00:00:00:01', '--socket', join(tmp, 's4.sock'), '--workers', '2'], { cwd: repoRoot, timeoutMs: 15_000 });
    assert.equal(w2.code, 1, w2.stderr);
    assert.match(w2.stderr, /^uvsd: cannot open TAP uvs0: [^\n]*Invalid argument \(--workers 2 needs a multi-queue TAP: [^\n]*`ip tuntap add uvs0 mode tap multi_queue`\)\n$/);
  });
});

test('a descriptor uvsd inherited without close-on-exec (a wrapper\'s `exec 200<>FILE`) is close-on-exec once uvsd runs: its health checks, notify and quorum commands do not inherit it (before 2026-12-07 they did, and kept it open in their children)', { timeout: 60_000 }, async (t) => {
  await withLab(t, 'uvscli', async (lab, tmp) => {
    const ns = await lab.addNs('fd');
    const held = join(tmp, 'held');
    writeFileSync(held, '');
    // bash opens fd 200 without O_CLOEXEC and execs uvsd with its node flags, as the systemd unit
    // does (ip netns exec and bash exec in place: one pid). Node's start marks inherited fds
    // close-on-exec only up to the first one not open (fd 7 would be; a high one, as a wrapper or
    // a job runner leaves, is not); without the flags bin/uvsd runs node again, which closes them.
    const p = lab.spawn(ns, ['bash', '-c', `exec 200<>'${held}'; exec "$@"`, 'bash', ...uvsdArgv(['--tap', 'uvs0', '--addr', '192.168.8.10/24', '--socket', join(tmp, 's.sock'), NO_WARMUP])], { cwd: repoRoot });
    await p.waitForLine(/uvsd started/, 10_000);
    const flags = (fd: number): number => parseInt(/^flags:\s+([0-7]+)$/m.exec(readFileSync(`/proc/${p.child.pid}/fdinfo/${fd}`, 'utf8'))![1]!, 8);
    assert.equal(readlinkSync(`/proc/${p.child.pid}/fd/200`), held, 'fd 200 is the wrapper\'s file');
    const O_CLOEXEC = 0o2000000;
    assert.equal(flags(200) & O_CLOEXEC, O_CLOEXEC, `fd 200 flags ${flags(200).toString(8)}`);
    assert.equal(await p.stop(3000), 0, p.stderr());
  });
});

test('the TAP holds --tap-qlen frames for uvsd (txqueuelen, default 4096 where a new TAP has 1000): set on the TAP uvsd creates, shown by --status and the start line; --tap-qlen 0 leaves the device\'s own; what the full queue dropped is port_drop_queue_full in --status and uvs_port_drops_total in /metrics', { timeout: 60_000 }, async (t) => {
  await withLab(t, 'uvsqlen', async (lab, tmp) => {
    const ns = await lab.addNs('tap');
    const qlen = async (tap: string): Promise<number> => Number(/ qlen (\d+)/.exec(await lab.must(['ip', '-o', 'link', 'show', tap], ns))?.[1]);
    const run = async (tap: string, extra: string[], sock: string): Promise<{ status: string; started: string; qlen: number }> => {
      const p = lab.spawn(ns, uvsdArgv(['--tap', tap, '--addr', '192.168.8.10/24', '--socket', join(tmp, sock), NO_WARMUP, ...extra]), { cwd: repoRoot });
      try {
        const started = await p.waitForLine(/uvsd started/, 10_000);
        const st = await uvsadmInProcess(join(tmp, sock), ['--status']);
        assert.equal(st.code, 0, st.stderr);
        return { status: st.stdout, started, qlen: await qlen(tap) };
      } finally {
        assert.equal(await p.stop(3000), 0, p.stderr());
      }
    };
    // A TAP made beforehand (uvs2) keeps its own length with --tap-qlen 0. The three uvsd, each
    // on a TAP of its own (none in a bridge), run side by side.
    await lab.must(['ip', 'tuntap', 'add', 'dev', 'uvs2', 'mode', 'tap'], ns);
    const own = await qlen('uvs2');
    t.diagnostic(`a new TAP's txqueuelen: ${own}`);
    const [def, set, kept] = await Promise.all([
      run('uvs0', [], 'a.sock'),
      run('uvs1', ['--tap-qlen', '2048', '--workers', '2'], 'b.sock'),
      run('uvs2', ['--tap-qlen', '0'], 'c.sock'),
    ]);
    assert.equal(def.qlen, 4096, 'the TAP uvsd created');
    assert.match(def.status, /^txqueuelen 4096$/m);
    assert.match(def.started, /"txqueuelen":4096/);
    assert.match(def.status, /^port_drop_queue_full 0$/m);
    assert.equal(set.qlen, 2048, 'a multi-queue TAP: every queue has the device\'s length');
    assert.match(set.status, /^txqueuelen 2048$/m);
    assert.equal(kept.qlen, own);
    assert.match(kept.status, new RegExp(`^txqueuelen ${own}$`, 'm'));

    // What the queue could not hold is counted: uvsd stopped, 300 datagrams sent through its TAP
    // (qlen 64) are mostly dropped by the kernel; --status and /metrics say as many as the
    // interface's TX dropped (the TAP made beforehand dropped frames before uvsd: not counted).
    await lab.must(['ip', 'addr', 'add', '192.168.8.1/24', 'dev', 'uvs2'], ns);
    await lab.must(['ip', 'neigh', 'replace', '192.168.8.99', 'lladdr', '02:00:00:00:00:99', 'dev', 'uvs2', 'nud', 'permanent'], ns);
    const blast = ['-e', "const s=require('dgram').createSocket('udp4');let n=0;const go=()=>{if(n++<300)s.send('x',9,'192.168.8.99',go);else s.close()};go()"];
    await lab.must(['ip', 'link', 'set', 'uvs2', 'up'], ns);
    await lab.must([process.execPath, ...blast], ns); // no reader: dropped before uvsd
    const txDropped = async (): Promise<number> =>
      (JSON.parse(await lab.must(['ip', '-s', '-j', 'link', 'show', 'uvs2'], ns)) as { stats64: { tx: { dropped: number } } }[])[0]!.stats64.tx.dropped;
    const before = await txDropped();
    assert.ok(before >= 200, `the TAP without a reader dropped ${before} of 300`);
    const sock = join(tmp, 'd.sock');
    const p = lab.spawn(ns, uvsdArgv(['--tap', 'uvs2', '--addr', '192.168.8.10/24', '--socket', sock, NO_WARMUP, '--tap-qlen', '64', '--metrics', '127.0.0.1:0']), { cwd: repoRoot });
    try {
      const started = await p.waitForLine(/uvsd started/, 10_000);
      const metricsAt = /"metrics":"([^"]+)"/.exec(started)?.[1];
      assert.ok(metricsAt, started);
      process.kill(p.child.pid!, 'SIGSTOP');
      try {
        await lab.must([process.execPath, ...blast], ns);
      } finally {
        process.kill(p.child.pid!, 'SIGCONT');
      }
      const dropped = (await txDropped()) - before;
      t.diagnostic(`uvsd stopped, qlen 64: the TAP dropped ${dropped} of 300`);
      assert.ok(dropped >= 200, `dropped ${dropped}`);
      const st = await uvsadmInProcessMust(sock, ['--status']);
      assert.match(st, new RegExp(`^port_drop_queue_full ${dropped}$`, 'm'));
      const scrape = await lab.must([process.execPath, '-e', `require('node:http').get('http://${metricsAt}/metrics', (r) => r.pipe(process.stdout))`], ns);
      assert.match(scrape, new RegExp(`^uvs_port_drops_total\\{reason="queue_full"\\} ${dropped}$`, 'm'));
    } finally {
      assert.equal(await p.stop(3000), 0, p.stderr());
    }
  });
});

test('uvsd whose stdout is on a full disk (> /dev/full: every log write fails with ENOSPC) goes on: its control socket answers, a datagram is forwarded, the lost lines are counted (log_lines_dropped), stderr says so once, SIGTERM stops it (exit 0); before, the first failed write stopped it for good (forwarding, control socket, SIGTERM)', { timeout: 60_000 }, async (t) => {
  await withLab(t, 'uvsfull', async (lab, tmp) => {
    const ns = await lab.addNs('dir');
    const sock = join(tmp, 's.sock');
    const p = lab.spawn(ns, ['sh', '-c', 'exec "$@" > /dev/full', 'sh', ...uvsdArgv(['--tap', 'uvs0', '--addr', '192.168.8.10/24', '--socket', sock, '--arp-probe-ms', '50', NO_WARMUP])], { cwd: repoRoot });
    try {
      // Answers within 2 s each time it is asked (the default client timeout is 5 s, and a hung uvsd's socket still accepts).
      assert.equal(await waitForControl(sock, p, 100, 2000), '', p.stderr());
      // The namespace's side of the TAP is the client and the real server (DR).
      await lab.must(['ip', 'addr', 'add', '192.168.8.1/24', 'dev', 'uvs0'], ns);
      await lab.must(['ip', 'addr', 'add', '192.168.8.20/24', 'dev', 'uvs0'], ns);
      await lab.must(['ip', 'link', 'set', 'uvs0', 'up'], ns);
      const c = await ControlClient.connect(sock, { timeoutMs: 2000 });
      try {
        const service = { proto: 'udp' as const, addr: '192.168.8.200', port: 53 };
        await c.call('addService', { ...service, sched: 'rr' }); // each logs a line: lost
        await c.call('addDest', { service, addr: '192.168.8.20', port: 53, fwd: 'dr', weight: 1 });
        await lab.must([process.execPath, '-e', "const s=require('dgram').createSocket('udp4');s.send('x',53,'192.168.8.200',()=>s.close())"], ns);
        let st = (await c.call('status', {})) as StatusResult;
        for (let i = 0; i < 40 && (st.counters.fwd_packets ?? 0) === 0; i++) {
          await delay(50);
          st = (await c.call('status', {})) as StatusResult;
        }
        assert.equal(st.counters.fwd_packets, 1, 'forwarded to the real server');
        assert.ok((st.logOutput?.dropped ?? 0) >= 3, `the start line and two table changes lost: ${JSON.stringify(st.logOutput)}`);
        assert.match(st.logOutput?.error ?? '', /^ENOSPC: /);
        assert.match(formatStatus(st), /^log_lines_dropped \d+\nlog_output failing for \d+s: ENOSPC: no space left on device$/m);
      } finally {
        c.close();
      }
      assert.equal(await p.stop(3000), 0, 'SIGTERM stops it in order');
      assert.match(p.stderr(), /^uvsd: cannot write the log to file descriptor 1 \(ENOSPC: no space left on device\): log lines are dropped and counted [^\n]*\n$/);
    } finally {
      await p.stop(1000);
    }
  });
});

test('IPv6 on the port (a namespace with IPv6 left on, as a dual-stack host has it): the TAP uvsd creates has it off before it is up (disable_ipv6 1, no fe80:: address, no MLD, DAD or router solicitation in uvsd\'s fd: rx_frames 0); an --port af_packet interface with IPv6 on is left as it is, with one warning at start; its MTU (2000) is uvsd\'s, as the start line says (the TAP\'s is --mtu, 1500)', { timeout: 60_000 }, async (t) => {
  await withLab(t, 'uvsv6', async (lab, tmp) => {
    const ns = await lab.addNs('dir');
    await lab.sysctl(ns, { 'net.ipv6.conf.all.disable_ipv6': 0, 'net.ipv6.conf.default.disable_ipv6': 0 });
    const disabled = async (dev: string): Promise<string> => (await lab.must(['cat', `/proc/sys/net/ipv6/conf/${dev}/disable_ipv6`], ns)).trim();
    const start = async (port: string[], sock: string) => {
      const p = lab.spawn(ns, uvsdArgv([...port, '--addr', '192.168.8.10/24', '--socket', join(tmp, sock)]), { cwd: repoRoot });
      const started = JSON.parse(await p.waitForLine(/uvsd started/, 10_000)) as { mtu: number };
      return { p, mtu: started.mtu };
    };
    const { p: tap, mtu: tapMtu } = await start(['--tap', 'uvs0'], 'a.sock');
    let ringStarted: ReturnType<typeof start> | undefined;
    try {
      assert.equal(tapMtu, 1500);
      assert.equal(await disabled('uvs0'), '1');
      assert.equal((await lab.must(['ip', '-6', '-o', 'addr', 'show', 'dev', 'uvs0'], ns)).trim(), '', 'no IPv6 address on the TAP');
      // The af_packet case is set up meanwhile (a veth pair of its own, no link to the TAP): its
      // interface made and a second uvsd started on it, looked at once the TAP's is stopped.
      ringStarted = (async () => {
        await lab.must(['ip', 'link', 'add', 'veth0', 'type', 'veth', 'peer', 'name', 'veth1'], ns);
        for (const dev of ['veth0', 'veth1']) await lab.must(['ip', 'link', 'set', dev, 'mtu', '2000', 'up'], ns);
        // Before, the ring took --mtu's 1500 while frames of 2000 bytes arrived (dropped now as frame_too_long).
        return start(['--port', 'af_packet:veth0'], 'b.sock');
      })();
      ringStarted.catch(() => {}); // awaited below
      // With IPv6 on, the kernel's first MLD reports and DAD reached uvsd within its start (2 frames by the first --status, 6 in 4 s).
      await delay(1000);
      const st = await uvsadmInProcessMust(join(tmp, 'a.sock'), ['--status']);
      assert.match(st, /^rx_frames 0$/m);
      assert.doesNotMatch(tap.stdout(), /runs IPv6/);
    } finally {
      assert.equal(await tap.stop(3000), 0, tap.stderr());
    }

    const { p: ring, mtu: ringMtu } = await ringStarted;
    try {
      assert.equal(ringMtu, 2000);
      const warned = JSON.parse(await ring.waitForLine(/runs IPv6/, 5_000)) as { level: number; interface: string; msg: string };
      assert.equal(warned.level, 40);
      assert.equal(warned.interface, 'veth0');
      assert.match(warned.msg, /^the kernel runs IPv6 on veth0, which uvsd did not create and leaves as it is: .*; sysctl -w net\.ipv6\.conf\.veth0\.disable_ipv6=1$/);
      assert.equal(await disabled('veth0'), '0', 'an interface uvsd did not create is not changed');
    } finally {
      assert.equal(await ring.stop(3000), 0, ring.stderr());
    }
  });
});

test('uvsd whose --addr another host on the link answers for (RFC 5227 probe) exits 1 naming the address and the MAC, and its control socket never appears: the guides\' readiness wait (until uvsadm -Ln answers) does not return for a uvsd about to exit', { timeout: 60_000 }, async (t) => {
  await withLab(t, 'uvscli', async (lab, tmp) => {
    const [ns, host] = [await lab.addNs('dir'), await lab.addNs('host')];
    const hostMac = '02:00:00:00:00:77';
    await lab.addBridge(ns);
    await lab.addVeth({ ns, ifname: 'h0' }, { ns: host, ifname: 'eth0' }, { macB: hostMac });
    await lab.attach(ns, 'h0', 'br0');
    await lab.must(['ip', '-n', host, 'addr', 'add', '192.168.8.10/24', 'dev', 'eth0']);
    const sock = join(tmp, 's.sock');
    const p = lab.spawn(ns, uvsdArgv(['--tap', 'uvs0', '--bridge', 'br0', '--addr', '192.168.8.10/24', '--socket', sock, '--arp-probe-ms', '200']), { cwd: repoRoot });
    let appeared = false;
    while (!p.done()) {
      appeared ||= existsSync(sock);
      await delay(5);
    }
    assert.equal(await p.exited, 1, p.stdout().slice(-1000));
    assert.equal(p.stderr(), `uvsd: --addr 192.168.8.10 is already in use on the LAN by ${hostMac}\n`);
    assert.equal(appeared, false, 'the control socket appeared before uvsd exited');
  });
});

test('a sync daemon on an interface without carrier (a back-to-back sync link whose peer is down) starts: its address is found all the same (Node\'s os.networkInterfaces() leaves such an interface out: "does not exist or has no IPv4 address" until 2026-12-07)', { timeout: 30_000 }, async (t) => {
  await withLab(t, 'uvsnocarr', async (lab, tmp) => {
    const ns = await lab.addNs('d');
    await lab.must(['ip', 'link', 'set', 'lo', 'up'], ns);
    await lab.must(['ip', 'link', 'add', 'sy0', 'type', 'veth', 'peer', 'name', 'sy1'], ns);
    await lab.must(['ip', 'addr', 'add', '10.99.0.1/30', 'dev', 'sy0'], ns);
    await lab.must(['ip', 'link', 'set', 'sy0', 'up'], ns); // sy1 stays down: sy0 has no carrier
    assert.match(await lab.must(['ip', '-o', 'link', 'show', 'sy0'], ns), /NO-CARRIER/);
    const key = join(tmp, 'sync.key');
    writeFileSync(key, 'shared-secret-of-the-pair\n', { mode: 0o600 });
    const sock = join(tmp, 'u.sock');
    const p = lab.spawn(ns, uvsdArgv(['--tap', 'uvs0', '--addr', '192.168.8.10/24', '--socket', sock, NO_WARMUP]), { cwd: repoRoot });
    try {
      await p.waitForLine(/uvsd started/, 10_000);
      await uvsadmInProcessMust(sock, ['--start-daemon', 'master', '--syncid', '3', '--mcast-interface', 'sy0', '--sync-key-file', key]);
      assert.match(await uvsadmInProcessMust(sock, ['-L', '--daemon']), /^master sync daemon \(mcast=sy0, syncid=3,/m);
    } finally {
      assert.equal(await p.stop(3000), 0, p.stderr());
    }
  });
});

test('daemon.sync starts the sync daemons with uvsd; with --state-file a restart starts again those uvsadm left running (a restarted backup does not come back without sync)', { timeout: 60_000 }, async (t) => {
  await withLab(t, 'uvssyncd', async (lab, tmp) => {
    const ns = await lab.addNs('sync');
    await lab.must(['ip', 'link', 'set', 'lo', 'up'], ns);
    const key = join(tmp, 'sync.key');
    writeFileSync(key, 'shared-secret-of-the-pair\n', { mode: 0o600 });
    const cfg = join(tmp, 'uvsd.yaml');
    const d = `{ syncid: 5, mcast-interface: lo, sync-peer: 127.0.0.1, sync-key-file: ${key} }`;
    writeFileSync(cfg, `daemon:\n  role: backup\n  sync:\n    master: ${d}\n    backup: ${d}\nservices: []\n`);
    const sock = join(tmp, 'u.sock');
    const daemons = (): Promise<string> => uvsadmInProcessMust(sock, ['-L', '--daemon']);
    const run = async (fn: (p: ReturnType<typeof lab.spawn>) => Promise<void>): Promise<void> => {
      const p = lab.spawn(ns, uvsdArgv(['--tap', 'uvs0', '--addr', '192.168.8.10/24', '--socket', sock, '--config', cfg, '--state-file', join(tmp, 'state.yaml'), NO_WARMUP]), { cwd: repoRoot });
      try {
        await p.waitForLine(/uvsd started/, 10_000);
        await fn(p);
      } finally {
        assert.equal(await p.stop(3000), 0, p.stderr());
      }
    };
    const line = (state: string) => new RegExp(`^${state} sync daemon \\(mcast=lo, syncid=5, maxlen=1472, group=224\\.0\\.0\\.81, port=8848, ttl=1, peer=127\\.0\\.0\\.1, auth=hmac-sha256\\)$`, 'm');
    await run(async () => {
      const out = await daemons();
      assert.match(out, line('master'));
      assert.match(out, line('backup'));
      await uvsadmInProcessMust(sock, ['--stop-daemon', 'master']);
    });
    // The restart (Restart=on-failure, a reboot): the state file's daemons, not --config's.
    await run(async () => {
      const out = await daemons();
      assert.doesNotMatch(out, line('master'));
      assert.match(out, line('backup'));
      await uvsadmInProcessMust(sock, ['--stop-daemon', 'backup']);
    });
    // None left running: the state file's empty daemon.sync wins over --config's, and says so.
    await run(async (p) => {
      await p.waitForLine(/no sync daemons started: none ran when the state file was written/, 5_000);
      assert.doesNotMatch(await daemons(), /sync daemon/);
    });
    // No daemon.sync in the state file nor in --config (as after an upgrade from a state file
    // of before daemon.sync): said at start, not silent.
    writeFileSync(cfg, 'daemon:\n  role: backup\nservices: []\n');
    writeFileSync(join(tmp, 'state.yaml'), readFileSync(join(tmp, 'state.yaml'), 'utf8').replace(/^  sync: \{\}\n/m, ''));
    await run(async (p) => {
      await p.waitForLine(/no sync daemons started: neither the state file nor --config has daemon\.sync/, 5_000);
      assert.doesNotMatch(await daemons(), /sync daemon/);
      await uvsadmInProcessMust(sock, ['--start-daemon', 'backup', '--syncid', '5', '--mcast-interface', 'lo', '--sync-peer', '127.0.0.1', '--sync-key-file', key]);
    });
    // The state file's daemon cannot start now (its key file moved away): uvsd starts and
    // forwards without it, and says so (until 2026-12-07: exit 1, and systemd's restarts again
    // and again kept the director down).
    renameSync(key, `${key}.moved`);
    await run(async (p) => {
      await p.waitForLine(/sync daemon of the state file not started: \S+state\.yaml:\d+: daemon\.sync\.backup: Invalid sync daemon setting: sync-key-file \S+: ENOENT; uvsd forwards without it/, 5_000);
      assert.doesNotMatch(await daemons(), /sync daemon/);
    });
  });
});
