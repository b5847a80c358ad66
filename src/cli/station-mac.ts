// uvsd's station MAC when --mac is not given: the same at every start on this host, so that a
// restart (systemd's Restart=, a deploy) does not move every VIP to a new MAC that the LAN's ARP
// caches learn only from the gratuitous ARP (a lost one, or a switch port still in STP listening,
// left clients on the old MAC for up to 26 s). Until 2026-12-07 a random one at every start.
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import { randomLocalMac } from '../datapath/addr.js';

/**
 * A locally administered MAC made from what tells this station apart and stays across restarts:
 * the host (machine-id and hostname: two VMs cloned from one image differ by name), the network
 * namespace (its inode: two labs on one host), the interface uvsd runs on and its addresses (two
 * uvsd on one host, or an HA pair sharing a floating address). Random when there is no machine-id.
 */
export function stationMac(iface: string, addrs: readonly string[]): Uint8Array {
  let id = '';
  for (const f of ['/etc/machine-id', '/var/lib/dbus/machine-id']) {
    try {
      id = readFileSync(f, 'utf8').trim();
      if (id !== '') break;
    } catch {
      // not there: the next
    }
  }
  if (id === '') return randomLocalMac((n) => randomBytes(n));
  let netns = '';
  try {
    netns = String(statSync('/proc/self/ns/net').ino);
  } catch {
    // no /proc: the host's namespace
  }
  const h = createHash('sha256').update(['uvsd station mac', id, hostname(), netns, iface, ...addrs].join('\0')).digest();
  return randomLocalMac(() => new Uint8Array(h.subarray(0, 6)));
}
