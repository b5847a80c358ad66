// ipvsadm -L output, byte for byte (expected strings written out by hand from ipvsadm.c's
// printf formats, trailing spaces included).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  addrPort,
  forwardName,
  formatList,
  formatOneService,
  NO_PORT_NAMES,
  parseServices,
} from '../src/control/printers.js';
import type { ListResult } from '../src/control/protocol.js';

const fixture: ListResult = {
  size: 4096,
  services: [
    {
      proto: 'tcp', addr: '192.168.8.200', port: 80, sched: 'rr', flags: [],
      dests: [
        { addr: '192.168.8.20', port: 80, fwd: 'dr', weight: 1, active: 0, inactive: 0 },
        { addr: '192.168.8.21', port: 8080, fwd: 'nat', weight: 2147483647, active: 4294967295, inactive: 123456 },
      ],
    },
    {
      proto: 'udp', addr: '10.0.0.1', port: 53, sched: 'wlc', flags: [],
      dests: [
        { addr: '10.0.0.11', port: 53, fwd: 'tun', weight: 0, active: 0, inactive: 17 },
        { addr: '10.0.0.12', port: 5353, fwd: 'fullnat', weight: 10, active: 99999, inactive: 0 },
      ],
    },
    { proto: 'tcp', addr: '192.168.8.201', port: 443, sched: 'sh', flags: ['sh-port'], dests: [] },
  ],
};

const HEAD =
  'IP Virtual Server version 1.2.1 (size=4096)\n' +
  'Prot LocalAddress:Port Scheduler Flags\n' +
  '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n';

test('-Ln: exact bytes for several services, all forward names, large counters', () => {
  const expected =
    HEAD +
    'TCP  192.168.8.200:80 rr\n' +
    '  -> 192.168.8.20:80              Route   1      0          0         \n' +
    '  -> 192.168.8.21:8080            Masq    2147483647 4294967295 123456    \n' +
    'UDP  10.0.0.1:53 wlc\n' +
    '  -> 10.0.0.11:53                 Tunnel  0      0          17        \n' +
    '  -> 10.0.0.12:5353               FullNat 10     99999      0         \n' +
    'TCP  192.168.8.201:443 sh (sh-port)\n';
  assert.equal(formatList(fixture, { numeric: true }), expected);
});

test('-Ln with no services is banner and title only', () => {
  assert.equal(formatList({ size: 4096, services: [] }, { numeric: true }), HEAD);
  assert.equal(formatList({ size: 1048576, services: [] }, { numeric: true }).split('\n')[0], 'IP Virtual Server version 1.2.1 (size=1048576)');
});

test('-L without -n: port names from the services table for that protocol, else numbers', () => {
  const ports = parseServices('# comment\nhttp\t\t80/tcp\t\twww\t# WWW\nhttp 80/udp\ndomain 53/tcp\ndomain 53/udp\nhttp-alt 8080/tcp\n');
  const expected =
    HEAD +
    'TCP  192.168.8.200:http rr\n' +
    '  -> 192.168.8.20:http            Route   1      0          0         \n' +
    '  -> 192.168.8.21:http-alt        Masq    2147483647 4294967295 123456    \n' +
    'UDP  10.0.0.1:domain wlc\n' +
    '  -> 10.0.0.11:domain             Tunnel  0      0          17        \n' +
    '  -> 10.0.0.12:5353               FullNat 10     99999      0         \n' +
    'TCP  192.168.8.201:443 sh (sh-port)\n';
  assert.equal(formatList(fixture, { numeric: false, ports }), expected);
  assert.equal(formatList(fixture, { numeric: false, ports: NO_PORT_NAMES }), formatList(fixture, { numeric: true }));
});

test('one service: title and the service, no banner (as ipvsadm -L -t)', () => {
  const svc = fixture.services[0];
  assert.ok(svc);
  assert.equal(
    formatOneService(svc, { numeric: true }),
    'Prot LocalAddress:Port Scheduler Flags\n' +
      '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n' +
      'TCP  192.168.8.200:80 rr\n' +
      '  -> 192.168.8.20:80              Route   1      0          0         \n' +
      '  -> 192.168.8.21:8080            Masq    2147483647 4294967295 123456    \n',
  );
});

test('long names are cut like ipvsadm (33 for the service, 28 for a real server)', () => {
  const ports = parseServices('a-very-long-service-name-indeed 8000/tcp\n');
  const out = formatList(
    {
      size: 4096,
      services: [{
        proto: 'tcp', addr: '192.168.100.200', port: 8000, sched: 'wrr', flags: [],
        dests: [{ addr: '192.168.100.201', port: 8000, fwd: 'nat', weight: 3, active: 1, inactive: 2 }],
      }],
    },
    { numeric: false, ports },
  );
  const lines = out.split('\n');
  assert.equal(lines[3], 'TCP  192.168.100.200:a-very-long- wrr');
  assert.equal(lines[4], '  -> 192.168.100.201:a-very-long- Masq    3      1          2         ');
});

test('forward names and addrPort', () => {
  assert.deepEqual(['dr', 'nat', 'tun', 'fullnat'].map((f) => forwardName(f as 'dr')), ['Route', 'Masq', 'Tunnel', 'FullNat']);
  assert.equal(addrPort('1.2.3.4', 80, 'tcp', { numeric: true }), '1.2.3.4:80');
  assert.equal(addrPort('1.2.3.4', 80, 'udp', { numeric: false, ports: parseServices('http 80/tcp\n') }), '1.2.3.4:80');
});
