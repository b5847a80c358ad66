// test-class: shared
// The start-time link warnings (src/control/linkcheck.ts), read from a directory shaped as
// /sys/class/net: --mtu unlike the bridge's ports, a ring on a bridge or on a bridge port, a ring
// on an interface with an IPv4 address; nothing for a matching setup.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { linkWarnings } from '../src/control/linkcheck.js';

/** A fake /sys/class/net: interfaces with their MTU, bridges with their ports. */
function sysNet(ifaces: Record<string, number>, bridges: Record<string, string[]>): string {
  const sys = mkdtempSync(join(tmpdir(), 'uvs-sysnet-'));
  for (const [i, mtu] of Object.entries(ifaces)) {
    mkdirSync(join(sys, i));
    writeFileSync(join(sys, i, 'mtu'), `${mtu}\n`);
  }
  for (const [b, ports] of Object.entries(bridges)) {
    mkdirSync(join(sys, b, 'bridge'));
    mkdirSync(join(sys, b, 'brif'));
    for (const p of ports) {
      mkdirSync(join(sys, b, 'brif', p));
      symlinkSync(join('..', b), join(sys, p, 'master'));
    }
  }
  return sys;
}

test('link warnings at start: --mtu below or above the bridge\'s other ports (the bridge takes the smallest: frames vanish before any counter of uvsd\'s), a ring on a bridge or a bridge port (uvsd\'s MAC never learnt: flooded), a ring on an interface with the host\'s IPv4 address; none when they match', () => {
  const sys = sysNet({ br0: 1500, eth0: 1500, uvs0: 1400, br9: 9000, eth9: 9000, uvs9: 1500, eth1: 1500, veth0: 1500 }, { br0: ['eth0', 'uvs0', 'veth0'], br9: ['eth9', 'uvs9'] });
  try {
    const tap = (mtu: number, bridge: string, iface: string) => linkWarnings({ iface, ring: false, bridge, mtu, ipv4: [] }, sys);
    assert.deepEqual(tap(1500, 'br0', 'uvs0'), [], 'the ports at 1500, --mtu 1500');
    assert.match(tap(1400, 'br0', 'uvs0').join('\n'), /^--mtu 1400 is below the MTU of br0's ports \(eth0 1500, veth0 1500\): the bridge takes the smallest, .*; start uvsd with --mtu 1500$/);
    assert.match(tap(1500, 'br9', 'uvs9').join('\n'), /^--mtu 1500 is below the MTU of br9's ports \(eth9 9000\): .*start uvsd with --mtu 9000$/, 'the default --mtu on a jumbo bridge');
    assert.match(tap(9000, 'br0', 'uvs0').join('\n'), /^--mtu 9000 is above the MTU of br0's ports \(eth0 1500, veth0 1500\): .*no "fragmentation needed".*start uvsd with --mtu 1500$/);
    const ring = (iface: string, ipv4: string[] = []) => linkWarnings({ iface, ring: true, mtu: 1500, ipv4 }, sys);
    assert.deepEqual(ring('eth1'), [], 'a NIC of no bridge, no address');
    assert.match(ring('br0').join('\n'), /^--port af_packet:br0 is a bridge: .*floods every frame to uvsd to all its ports; .*--tap with --bridge br0$/);
    const port = ring('veth0');
    assert.equal(port.length, 1, port.join('\n'));
    assert.match(port[0]!, /^--port af_packet:veth0 is a port of bridge br0: .*floods every frame to uvsd to its other ports; use --tap with --bridge br0/);
    assert.match(ring('eth1', ['10.66.1.50']).join('\n'), /^--port af_packet:eth1 has the host's IPv4 address 10\.66\.1\.50: the host's own packets to the VIPs .*get no answer/);
  } finally {
    rmSync(sys, { recursive: true, force: true });
  }
});
