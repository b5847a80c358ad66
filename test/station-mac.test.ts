// test-class: shared
// uvsd's station MAC without --mac (src/cli/station-mac.ts): the same at every start for the same
// host, namespace, interface and addresses; another for another interface or address set; always
// a locally administered unicast address.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { formatMac } from '../src/datapath/addr.js';
import { stationMac } from '../src/cli/station-mac.js';

test('stationMac: the same MAC at every start (before 2026-12-07 random: each restart moved the VIPs to a new MAC), another for another TAP or --addr, locally administered unicast', (t) => {
  if (!existsSync('/etc/machine-id') && !existsSync('/var/lib/dbus/machine-id')) {
    t.skip('no machine-id on this host: uvsd picks a random MAC (checked below for its bits only)');
  }
  const a = stationMac('uvs0', ['192.168.8.10/24']);
  for (const m of [a, stationMac('uvs1', ['192.168.8.10/24']), stationMac('uvs0', ['192.168.8.11/24'])]) {
    assert.equal(m.length, 6);
    assert.equal(m[0]! & 0x03, 0x02, `${formatMac(m)}: locally administered, unicast`);
  }
  if (!existsSync('/etc/machine-id') && !existsSync('/var/lib/dbus/machine-id')) return;
  assert.equal(formatMac(stationMac('uvs0', ['192.168.8.10/24'])), formatMac(a), 'the same again');
  assert.notEqual(formatMac(stationMac('uvs1', ['192.168.8.10/24'])), formatMac(a), 'another TAP');
  assert.notEqual(formatMac(stationMac('uvs0', ['192.168.8.10/24', '10.0.0.1/8'])), formatMac(a), 'other addresses');
});
