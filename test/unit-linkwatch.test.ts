// test-class: shared
// The link under uvsd (src/control/linkwatch.ts): a fake /sys/class/net in, the status line and
// the log lines out.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { logRecorder } from './helpers/log-recorder.js';
import { spawnSync } from 'node:child_process';
import { LinkWatch, RingOffloadWatch, describeLink, readLink, sysClassNet, vethPeer, type SysNet } from '../src/control/linkwatch.js';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { native } from '../src/datapath/port.js';

/** A fake /sys/class/net: interfaces with an operstate and a master. */
function fakeSys(ifs: Record<string, { operstate: string; master?: string; mtu?: number }>): SysNet & { ifs: typeof ifs } {
  return {
    ifs,
    operstate: (i) => ifs[i]?.operstate,
    master: (i) => ifs[i]?.master,
    exists: (i) => ifs[i] !== undefined,
    mtu: (i) => (ifs[i] === undefined ? undefined : ifs[i]!.mtu ?? 1500),
  };
}

test('link state: the status line for each state', () => {
  const sys = fakeSys({ uvs0: { operstate: 'up', master: 'br0' }, br0: { operstate: 'up' }, br1: { operstate: 'up' } });
  const line = (bridge: string | null = 'br0') => describeLink(readLink(sys, 'uvs0', bridge ?? undefined, ''));
  assert.equal(line(), 'up, bridge br0');
  assert.equal(readLink(sys, 'uvs0', 'br0', '').ok, true);
  sys.ifs.uvs0!.operstate = 'unknown'; // a driver that does not report carrier passes frames
  assert.equal(line(), 'up, bridge br0');
  sys.ifs.uvs0!.operstate = 'down';
  assert.equal(line(), 'down, bridge br0');
  assert.equal(readLink(sys, 'uvs0', 'br0', '').ok, false);
  sys.ifs.uvs0!.operstate = 'up';
  sys.ifs.br0!.operstate = 'down'; // ip link set br0 down: its ports forward nothing
  assert.equal(line(), 'up, bridge br0 (br0 is down)');
  assert.equal(readLink(sys, 'uvs0', 'br0', '').ok, false);
  sys.ifs.br0!.operstate = 'up';
  sys.ifs.uvs0 = { operstate: 'up' };
  assert.equal(line(), 'up, not in bridge br0');
  sys.ifs.uvs0.master = 'br1';
  assert.equal(line(), 'up, not in bridge br0 (in br1)');
  sys.ifs.uvs0 = { operstate: 'up' };
  delete sys.ifs.br0;
  assert.equal(line(), 'up, not in bridge br0 (br0 is gone)');
  assert.deepEqual(readLink(sys, 'uvs0', 'br0', 't0'), {
    iface: 'uvs0', state: 'up', operstate: 'up', master: null, bridge: 'br0', bridgeExists: false, ok: false, since: 't0',
  });
  // Without a bridge (the ring backend, or no --bridge).
  assert.equal(line(null), 'up');
  assert.equal(readLink(sys, 'uvs0', undefined, '').ok, true);
  sys.ifs.uvs0.operstate = 'lowerlayerdown'; // a veth whose peer is down
  assert.equal(line(null), 'down (lowerlayerdown)');
  delete sys.ifs.uvs0;
  assert.equal(line(), 'missing (uvs0 does not exist)');
});

test('link watch: down and up, out of the bridge and back, the bridge deleted and created again (put back once), one line per change', () => {
  const sys = fakeSys({ uvs0: { operstate: 'up', master: 'br0' }, br0: { operstate: 'up' } });
  const log = logRecorder();
  const enslaved: string[] = [];
  let backs = 0;
  let refuse = '';
  const w = new LinkWatch({
    iface: 'uvs0', bridge: 'br0', sys, log,
    enslave: (i, b) => {
      if (refuse !== '') throw new Error(refuse);
      enslaved.push(`${i}->${b}`);
      sys.ifs[i]!.master = b;
    },
    onBack: () => backs++,
  }, 0);
  const step = (f: () => void, t: number): string[] => {
    f();
    w.check(t);
    w.check(t + 1000); // the same state again: no line
    return log.take().map((l) => `${l.level} ${l.msg}`);
  };
  assert.deepEqual(step(() => {}, 1000), []);
  assert.equal(describeLink(w.status()), 'up, bridge br0');
  assert.deepEqual(step(() => (sys.ifs.uvs0!.operstate = 'down'), 3000), ['warn uvs0 link fault: down, bridge br0; no frame passes until it is back']);
  assert.equal(w.status().since, new Date(3000).toISOString());
  assert.deepEqual(step(() => (sys.ifs.uvs0!.operstate = 'up'), 5000), ['info uvs0 link back: up, bridge br0']);
  assert.equal(backs, 1);
  // nomaster: taken out on purpose while the bridge exists: logged, not put back.
  assert.deepEqual(step(() => delete sys.ifs.uvs0!.master, 7000), ['warn uvs0 link fault: up, not in bridge br0; no frame passes until it is back']);
  assert.deepEqual(enslaved, []);
  assert.deepEqual(step(() => (sys.ifs.uvs0!.master = 'br0'), 9000), ['info uvs0 link back: up, bridge br0']);
  // ip link del br0, then ip link add br0 type bridge: put back once.
  assert.deepEqual(step(() => {
    delete sys.ifs.br0;
    delete sys.ifs.uvs0!.master;
  }, 11_000), ['warn uvs0 link fault: up, not in bridge br0 (br0 is gone); no frame passes until it is back']);
  // A new bridge is down until `ip link set br0 up`: in it again, but no frame passes yet.
  assert.deepEqual(step(() => (sys.ifs.br0 = { operstate: 'down' }), 13_000), [
    'info uvs0 put back on bridge br0 (the bridge was deleted and exists again)',
    'warn uvs0 link fault: up, bridge br0 (br0 is down); no frame passes until it is back',
  ]);
  assert.deepEqual(enslaved, ['uvs0->br0']);
  assert.deepEqual(step(() => (sys.ifs.br0!.operstate = 'up'), 14_000), ['info uvs0 link back: up, bridge br0']);
  assert.equal(backs, 3);
  // Refused: one warning, not retried every second; the link stays reported as out of the bridge.
  step(() => {
    delete sys.ifs.br0;
    delete sys.ifs.uvs0!.master;
  }, 15_000);
  refuse = 'SIOCBRADDIF br0 uvs0: operation not permitted';
  assert.deepEqual(step(() => (sys.ifs.br0 = { operstate: 'up' }), 17_000), [
    'warn cannot put uvs0 back on bridge br0: SIOCBRADDIF br0 uvs0: operation not permitted',
    'warn uvs0 link fault: up, not in bridge br0; no frame passes until it is back',
  ]);
  assert.deepEqual(enslaved, ['uvs0->br0']);
});

test('link watch: a link wrong at start is reported by the first check; one that came right since start is no news', () => {
  const sys = fakeSys({ uvs0: { operstate: 'down', master: 'br0' }, br0: { operstate: 'up' } });
  const log = logRecorder();
  const w = new LinkWatch({ iface: 'uvs0', bridge: 'br0', sys, log }, 0);
  sys.ifs.uvs0!.operstate = 'up'; // the kernel's operstate caught up
  w.check(1000);
  assert.deepEqual(log.take(), []);
  assert.equal(describeLink(w.status()), 'up, bridge br0');

  const sys2 = fakeSys({ veth0: { operstate: 'lowerlayerdown' } });
  const w2 = new LinkWatch({ iface: 'veth0', sys: sys2, log }, 0);
  w2.check(1000);
  w2.check(2000);
  assert.deepEqual(log.take().map((l) => `${l.level} ${l.msg}`), ['warn veth0 link fault: down (lowerlayerdown); no frame passes until it is back']);
});

test('link watch: the TAP\'s MTU changed under uvsd is warned about once (uvsd sizes its frames from --mtu; restart with it, or above 9000 set it back), and said when it is back', () => {
  const sys = fakeSys({ uvs0: { operstate: 'up', master: 'br0' }, br0: { operstate: 'up' } });
  const log = logRecorder();
  const w = new LinkWatch({ iface: 'uvs0', bridge: 'br0', sys, log, mtu: 1500 }, 0);
  const lines = (t: number) => {
    w.check(t);
    w.check(t + 1000);
    return log.take().map((l) => `${l.level} ${l.msg}`);
  };
  assert.deepEqual(lines(1000), []);
  sys.ifs.uvs0!.mtu = 9000;
  assert.deepEqual(lines(3000), ["warn uvs0 mtu is 9000, uvsd's --mtu 1500: uvsd sizes its frames from --mtu (longer frames, GSO super-segments aside, are dropped as frame_too_long); restart it with --mtu 9000, or set the mtu back"]);
  assert.equal(w.status().ok, true, 'not a link fault: frames up to --mtu still pass');
  sys.ifs.uvs0!.mtu = 1500;
  assert.deepEqual(lines(5000), ["info uvs0 mtu is 1500 again, as uvsd's --mtu"]);
  // Above --mtu's limit a restart with it would be refused: only setting it back helps.
  sys.ifs.uvs0!.mtu = 9216;
  assert.deepEqual(lines(7000), ["warn uvs0 mtu is 9216, uvsd's --mtu 1500: uvsd sizes its frames from --mtu (longer frames, GSO super-segments aside, are dropped as frame_too_long); set the mtu back (--mtu is at most 9000)"]);
  sys.ifs.uvs0!.mtu = 1500;
  log.take();
  // Neither --mtu nor the ring's MTU: nothing said.
  const quiet = new LinkWatch({ iface: 'uvs0', sys, log }, 0);
  sys.ifs.uvs0!.mtu = 9000;
  quiet.check(1000);
  assert.deepEqual(log.take(), []);
});

test('link watch, --port (the ring backend): an interface MTU raised above the one its ring was sized for at start is warned about once per change (restart uvsd; above 9000 set it back), a lowered one is not; said when it is back within it', () => {
  const sys = fakeSys({ veth0: { operstate: 'up', mtu: 1500 } });
  const log = logRecorder();
  const w = new LinkWatch({ iface: 'veth0', sys, log, ringMtu: 1500 }, 0);
  const lines = (t: number) => {
    w.check(t);
    w.check(t + 1000);
    return log.take().map((l) => `${l.level} ${l.msg}`);
  };
  const warn = (mtu: number) => `warn veth0 mtu is ${mtu}, more than the 1500 uvsd sized its ring and frames for at start: longer frames are dropped ` +
    '(frame_too_long, or port_drop_too_long by the ring); restart uvsd, which sizes the ring from the interface\'s mtu, or set the mtu back to 1500 or less';
  assert.deepEqual(lines(1000), []);
  sys.ifs.veth0!.mtu = 1400;
  assert.deepEqual(lines(3000), [], 'lowered: every frame fits the ring');
  sys.ifs.veth0!.mtu = 9000;
  assert.deepEqual(lines(5000), [warn(9000)]);
  assert.deepEqual(lines(7000), [], 'once, not at every check');
  assert.equal(w.status().ok, true, 'not a link fault: frames up to 1500 still pass');
  sys.ifs.veth0!.mtu = 4000;
  assert.deepEqual(lines(9000), [warn(4000)], 'a new value: said again');
  sys.ifs.veth0!.mtu = 1500;
  assert.deepEqual(lines(11000), ["info veth0 mtu is 1500 again, within the 1500 uvsd's ring carries"]);
  // Above 9000 a restart would be refused (uvsd --port refuses such an interface, as --mtu): the
  // advice is to set it back (before 2026-12-05 it said to restart uvsd).
  sys.ifs.veth0!.mtu = 9216;
  assert.deepEqual(lines(13000), ['warn veth0 mtu is 9216, more than the 1500 uvsd sized its ring and frames for at start: longer frames are dropped ' +
    '(frame_too_long, or port_drop_too_long by the ring); set the mtu back to 1500 or less (uvsd carries at most 9000: restarted with this mtu it would refuse to start)']);
  sys.ifs.veth0!.mtu = 1500;
  log.take();
  // Above it at the first check (raised between start and the first look): warned then.
  const late = new LinkWatch({ iface: 'veth0', sys, log, ringMtu: 1400 }, 0);
  late.check(1000);
  const first = log.take();
  assert.equal(first.length, 1);
  assert.match(first[0]!.msg, /^veth0 mtu is 1500, more than the 1400 uvsd sized its ring /);
});

test('link watch: a look that fails for another reason than "does not exist" (EMFILE) keeps the last state, logged once; a real ENOENT is "missing"', () => {
  const sys = fakeSys({ uvs0: { operstate: 'up', master: 'br0' }, br0: { operstate: 'up' } });
  const log = logRecorder();
  const w = new LinkWatch({ iface: 'uvs0', bridge: 'br0', sys, log, mtu: 1500 }, 0);
  w.check(1000);
  let fail: string | undefined = 'EMFILE';
  const read = sys.operstate;
  sys.operstate = (i) => {
    if (fail !== undefined) throw Object.assign(new Error(`${fail}: too many open files, open '/sys/class/net/${i}/operstate'`), { code: fail });
    return read(i);
  };
  for (let t = 2000; t < 6000; t += 1000) w.check(t);
  assert.deepEqual(log.take().map((l) => `${l.level} ${l.msg}`), [
    "warn uvs0 link check failed (EMFILE: too many open files, open '/sys/class/net/uvs0/operstate'); keeping its last state: up, bridge br0",
  ]);
  assert.equal(describeLink(w.status()), 'up, bridge br0');
  assert.equal(w.status().ok, true);
  fail = undefined;
  w.check(6000);
  assert.deepEqual(log.take().map((l) => `${l.level} ${l.msg}`), ['info uvs0 link check works again']);
  delete sys.ifs.uvs0; // gone for real: the fake's ENOENT
  w.check(7000);
  assert.equal(w.status().state, 'missing');
  assert.deepEqual(log.take().map((l) => `${l.level} ${l.msg}`), ['warn uvs0 link fault: missing (uvs0 does not exist); no frame passes until it is back']);
});

test('/sys/class/net and ifaceInfo out of file descriptors: the reads throw EMFILE (the link watch keeps its state), only a missing interface is "does not exist"', { skip: spawnSync('prlimit', ['--version']).status !== 0 ? 'no prlimit' : false }, () => {
  assert.deepEqual([sysClassNet.operstate('uvs-no-such0'), sysClassNet.master('lo'), sysClassNet.exists('uvs-no-such0'), sysClassNet.mtu('uvs-no-such0')],
    [undefined, undefined, false, undefined]);
  assert.equal(native.ifaceInfo('uvs-no-such0'), null);
  // A child with 64 file descriptors opens /dev/null until EMFILE, then looks at lo.
  const script = `
    const { openSync } = await import('node:fs');
    const { sysClassNet, LinkWatch } = await import(${JSON.stringify(new URL('../src/control/linkwatch.js', import.meta.url).href)});
    const { native } = await import(${JSON.stringify(new URL('../src/datapath/port.js', import.meta.url).href)});
    const w = new LinkWatch({ iface: 'lo', log: { warn: () => {}, info: () => {} } });
    const out = {};
    try { for (;;) openSync('/dev/null', 'r'); } catch (e) { out.full = e.code; }
    const err = (f) => { try { return String(f()); } catch (e) { return e.code ?? e.message; } };
    out.operstate = err(() => sysClassNet.operstate('lo'));
    out.ifaceInfo = err(() => native.ifaceInfo('lo'));
    w.check();
    out.state = w.status().state;
    console.log(JSON.stringify(out));`;
  const r = spawnSync('prlimit', ['--nofile=64', process.execPath, '--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as Record<string, string>;
  assert.equal(out.full, 'EMFILE');
  assert.equal(out.operstate, 'EMFILE', 'not undefined ("does not exist")');
  assert.match(out.ifaceInfo!, /EMFILE|Too many open files/, 'not null ("does not exist")');
  assert.notEqual(out.state, 'missing');
});

test('ring offload watch (--port): partial checksums and merged (GRO/TSO) frames are one warning each, the first time seen, naming the interface and the ethtool command; vethPeer finds a veth\'s other end', () => {
  const log = logRecorder();
  const w = new RingOffloadWatch('uvs0', log, () => 'uvs0p');
  w.check(0, 0, 0);
  assert.deepEqual(log.take(), []);
  w.check(3, 0, 0);
  w.check(9, 0, 0);
  assert.deepEqual(log.take().map((l) => `${l.level} ${l.msg}`), ["warn uvs0: frames arrive with partial checksums (checksum offload of uvs0's veth peer uvs0p): " +
    'uvsd completes their IPv4 TCP and UDP checksums itself (rx_csum_partial); turn it off: ethtool -K uvs0p tx off']);
  w.check(9, 0, 2);
  w.check(9, 4, 5);
  assert.deepEqual(log.take().map((l) => `${l.level} ${l.msg}`), ['warn uvs0: frames longer than the ring\'s slots arrive (rx_gso_frames 0, port_drop_too_long 2), dropped: ' +
    'merged by GRO or TSO/GSO (turn it off: ethtool -K uvs0 gro off; ethtool -K uvs0p tso off gso off), or the MTU was raised under uvsd (restart it: its MTU warning)']);
  // Not a veth (a NIC): the sender is not named, GRO and LRO are.
  const nic = new RingOffloadWatch('eth1', log, () => undefined);
  nic.check(1, 1, 0);
  assert.deepEqual(log.take().map((l) => l.msg), [
    'eth1: frames arrive with partial checksums (checksum offload where they are sent from, or GRO on eth1): uvsd completes their IPv4 TCP and UDP checksums itself ' +
      '(rx_csum_partial); turn it off: ethtool -K eth1 gro off, and tx off on the interface that sends them',
    'eth1: frames merged by GRO or TSO/GSO arrive (rx_gso_frames 1, port_drop_too_long 0): longer than the MTU, they are dropped; turn it off: ethtool -K eth1 gro off (and lro off on a NIC)',
  ]);
  // A fake /sys/class/net: uvs0 (4) and uvs0p (5) point at each other; eth0 at itself; vx0's link is in another namespace.
  const root = mkdtempSync(join(tmpdir(), 'uvs-sysnet-'));
  try {
    for (const [name, ifindex, iflink] of [['eth0', 2, 2], ['uvs0', 4, 5], ['uvs0p', 5, 4], ['vx0', 6, 5]] as const) {
      mkdirSync(join(root, name));
      writeFileSync(join(root, name, 'ifindex'), `${ifindex}\n`);
      writeFileSync(join(root, name, 'iflink'), `${iflink}\n`);
    }
    assert.equal(vethPeer('uvs0', root), 'uvs0p');
    assert.equal(vethPeer('uvs0p', root), 'uvs0');
    assert.equal(vethPeer('eth0', root), undefined);
    assert.equal(vethPeer('vx0', root), undefined, 'uvs0p\'s own link is uvs0, not vx0');
    assert.equal(vethPeer('gone', root), undefined);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
