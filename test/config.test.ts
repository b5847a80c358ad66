// test-class: shared
// The YAML config file: shape errors name file, line and field; meaning errors (unknown
// scheduler, server off the link) name the line too and change nothing; reload applies only the
// difference (unchanged services keep their connections), drains removed servers, --dry-run
// prints the changes and changes nothing; --dump-config writes a file that loads back the same.

import { test } from 'node:test';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { ConfigManager, parseConfig, readConfig } from '../src/control/config.js';
import { UvsError } from '../src/control/errors.js';
import { parseIp } from '../src/datapath/addr.js';
import { formatRules } from '../src/control/printers.js';
import { CLIENT, DIR_MAC, ROUTER_MAC, rig } from './helpers/harness.js';
import { tcpFrame, TCP_FLAGS } from './helpers/frames.js';
import { configError } from './helpers/config-error.js';
import { stepClock } from './helpers/step-clock.js';
import { BASE_CONFIG as BASE, configRig as mk } from './helpers/config-rig.js';

const N = { numeric: true };

test('shape errors: file, line and field of the offending value', () => {
  const cases: Array<[string, string]> = [
    [BASE.replace('weight: 3', 'weight: three'), 'f.yaml:13: services[0].servers[0].weight: must be an integer 0..2147483647, got "three"'],
    [BASE.replace('scheduler: rr', 'schedular: rr'), 'f.yaml:18: services[1].schedular: unknown field (known: proto, address, port, fwmark, scheduler, flags, persistent, netmask, ops, pe, synproxy, local-addresses, health, servers)'],
    [BASE.replace('proto: udp', 'proto: dccp'), 'f.yaml:15: services[1].proto: must be tcp, udp or sctp, got "dccp"'],
    [BASE.replace('    port: 80\n', ''), 'f.yaml:8: services[0].port: missing'],
    [BASE.replace('drain-timeout: 0', 'drain-timeout: -1'), 'f.yaml:5: daemon.drain-timeout: must be an integer 0..86400, got -1'],
    [BASE + '  - [oops\n', 'f.yaml:'],
    // Syntax errors name their line too (not line 1): a tab as indentation on line 12.
    [BASE.replace('    servers:\n      - { address: 192.168.8.20', '    servers:\n\t- { address: 192.168.8.20'), 'f.yaml:13: yaml: Tabs are not allowed as indentation'],
  ];
  for (const [text, want] of cases) {
    const msg = configError(() => parseConfig(text, 'f.yaml'));
    if (want.endsWith(':')) assert.ok(msg.startsWith(want) && /^f\.yaml:\d+: yaml: /.test(msg), msg);
    else assert.equal(msg, want);
  }
});

test('YAML aliases and merge keys read as any YAML reader reads them (until 2026-12-07 an alias was "got nothing" and "<<" an unknown field); their number is bounded', () => {
  const text = `services:
  - proto: tcp
    address: 192.168.8.200
    port: 80
    scheduler: &s wrr
    servers: &pool
      - &nat { address: 192.168.8.20, method: nat, weight: 4, port: 8080 }
      - { <<: *nat, address: 192.168.8.21, weight: 2 }
  - proto: tcp
    address: 192.168.8.201
    port: 80
    scheduler: *s
    servers: *pool
`;
  const cfg = parseConfig(text, 'f.yaml');
  assert.deepEqual(cfg.services.map((s) => [s.spec.addr, s.spec.sched, s.dests.map((d) => `${d.addr}:${d.port} ${d.fwd} ${d.weight}`)]), [
    ['192.168.8.200', 'wrr', ['192.168.8.20:8080 nat 4', '192.168.8.21:8080 nat 2']],
    ['192.168.8.201', 'wrr', ['192.168.8.20:8080 nat 4', '192.168.8.21:8080 nat 2']],
  ]);
  // A merged field is checked as a written one, at the line of the merge key.
  assert.equal(configError(() => parseConfig(text.replace('weight: 4', 'weight: -4'), 'f.yaml')), 'f.yaml:7: services[0].servers[0].weight: must be an integer 0..2147483647, got -4');
  assert.equal(configError(() => parseConfig(text.replace('{ <<: *nat,', '{ <<: *s,'), 'f.yaml')), 'f.yaml:8: services[0].servers[1].<<: a YAML merge key takes a mapping or a list of mappings');
  // A mapping merged into itself (or into one it merges) has no end: refused with its line (before this check: RangeError, stack exhausted).
  assert.equal(configError(() => parseConfig('daemon: &x\n  <<: *x\n', 'f.yaml')), 'f.yaml:2: daemon.<<: a YAML merge key names a mapping it is part of');
  assert.equal(configError(() => parseConfig(text.replace('- &nat { address', '- &nat { <<: *nat, address'), 'f.yaml')), 'f.yaml:7: services[0].servers[0].<<: a YAML merge key names a mapping it is part of');
  // Merges of merges ("billion laughs": 10^9 mappings walked): refused once 10,000 alias uses are read.
  const levels = ['&m0 { weight: 1 }'];
  for (let k = 1; k <= 9; k++) levels.push(`&m${k} { <<: [${Array(10).fill(`*m${k - 1}`).join(', ')}] }`);
  const bomb = `services:\n  - proto: tcp\n    address: 192.168.8.200\n    port: 80\n    servers:\n      - { <<: [${levels.join(', ')}], address: 192.168.8.20 }\n`;
  const t0 = Date.now();
  assert.equal(configError(() => parseConfig(bomb, 'f.yaml')), 'f.yaml:6: services[0].servers[0]: more than 10000 YAML aliases used: write the values out');
  assert.ok(Date.now() - t0 < 5000, `${Date.now() - t0} ms`);
});

test('meaning errors name the line and change nothing; a good file loads', () => {
  const { r, cm } = mk();
  cm.apply(parseConfig(BASE, 'f.yaml'), false);
  const before = formatRules(r.ctl.list(), N);
  assert.equal(before,
    '-A -t 192.168.8.200:80 -s wrr\n' +
    '-a -t 192.168.8.200:80 -r 192.168.8.20:80 -g -w 3\n' +
    '-a -t 192.168.8.200:80 -r 192.168.8.21:80 -g -w 1\n' +
    '-A -u 192.168.8.200:53 -s rr -p 60 -M 255.255.255.0\n' +
    '-a -u 192.168.8.200:53 -r 192.168.8.22:53 -g -w 1\n');
  const bad = BASE.replace('scheduler: rr', 'scheduler: nosuch').replace('weight: 1 }', 'weight: 7 }');
  assert.equal(configError(() => cm.apply(parseConfig(bad, 'f.yaml'), false)),
    'f.yaml:15: edit service UDP 192.168.8.200:53: scheduler rr -> nosuch: Scheduler or persistence engine not found: nosuch');
  const offLink = BASE.replace('address: 192.168.8.22', 'address: 10.99.0.1');
  assert.match(configError(() => cm.apply(parseConfig(offLink, 'f.yaml'), false)), /^f\.yaml:22: add server UDP 192\.168\.8\.200:53 -> 10\.99\.0\.1:53 weight 1: Real server is not on a directly connected network/);
  assert.equal(formatRules(r.ctl.list(), N), before);
});

test('an IPv6 service or server address is refused naming IPv6, its ADDR:PORT in brackets (was "TCP 2001:db8::1:80 ... Invalid address", the port read as part of the address)', () => {
  const { r, cm } = mk();
  const v6Service = BASE.replace('address: 192.168.8.200\n    port: 80', 'address: 2001:db8::1\n    port: 80');
  assert.equal(configError(() => cm.apply(parseConfig(v6Service, 'f.yaml'), false)),
    'f.yaml:8: add service TCP [2001:db8::1]:80 (wrr): Invalid address: virtual address "2001:db8::1" is IPv6 (uvs is IPv4-only)');
  const v6Server = BASE.replace('address: 192.168.8.22', 'address: 2001:db8::22');
  assert.equal(configError(() => cm.apply(parseConfig(v6Server, 'f.yaml'), false)),
    'f.yaml:22: add server UDP 192.168.8.200:53 -> [2001:db8::22]:53 weight 1: Invalid address: real server address "2001:db8::22" is IPv6 (uvs is IPv4-only)');
  assert.deepEqual(r.ctl.list().services, []);
});

test('servers[].port: 0 is the service\'s port (as keepalived\'s real_server IP 0): listed at it, checked at it, and a reload sees no change', () => {
  const { r, cm } = mk();
  const text = BASE.replace('      - { address: 192.168.8.21, weight: 1 }', '      - { address: 192.168.8.21, weight: 1, port: 0, method: nat }')
    .replace('    scheduler: wrr\n', '    scheduler: wrr\n    health: { checks: [{ type: tcp }] }\n');
  const cfg = parseConfig(text, 'f.yaml');
  const tcp = cfg.services.find((s) => s.spec.proto === 'tcp')!;
  assert.deepEqual(tcp.dests.map((d) => [d.addr, d.port, d.fwd]), [['192.168.8.20', 80, 'dr'], ['192.168.8.21', 80, 'nat']]);
  assert.deepEqual(tcp.health?.realServers.map((s) => [s.addr, s.port]), [['192.168.8.20', 80], ['192.168.8.21', 80]], 'health checks the port traffic goes to');
  cm.apply(cfg, false);
  assert.match(formatRules(r.ctl.list(), N), /-a -t 192\.168\.8\.200:80 -r 192\.168\.8\.21:80 -m -w 1\n/);
  assert.deepEqual(cm.apply(parseConfig(text, 'f.yaml'), true), [], 'the same file again changes nothing');
  // A port-zero service's servers keep port 0 (they take each packet's port).
  const zero = parseConfig(BASE.replace('    port: 53\n', '    port: 0\n').replace('      - address: 192.168.8.22\n', '      - { address: 192.168.8.22, port: 0, method: nat }\n'), 'f.yaml');
  assert.deepEqual(zero.services.find((s) => s.spec.proto === 'udp')!.dests.map((d) => d.port), [0]);
});

test('reload applies only the difference: an unchanged service keeps its connection; --dry-run changes nothing', () => {
  const { r, cm } = mk();
  cm.apply(parseConfig(BASE, 'f.yaml'), false);
  r.learn('192.168.8.20', '02:00:00:00:00:20');
  r.learn('192.168.8.21', '02:00:00:00:00:21');
  const IN = { ethDst: DIR_MAC, ethSrc: ROUTER_MAC };
  const out = r.run(tcpFrame(IN, { src: CLIENT, dst: '192.168.8.200', sport: 40000, dport: 80, flags: TCP_FLAGS.SYN }));
  assert.equal(out.length, 1);
  assert.equal(r.dp.ct.count, 1);
  const tcpBefore = [...r.ctl.model.services.values()].find((s) => s.proto === 'tcp')!;
  const slotsBefore = tcpBefore.dests.map((d) => d.slot);

  const next = BASE.replace('scheduler: rr', 'scheduler: wlc').replace('- address: 192.168.8.22', '- address: 192.168.8.23');
  const dry = cm.apply(parseConfig(next, 'f.yaml'), true);
  assert.deepEqual(dry, [
    'edit service UDP 192.168.8.200:53: scheduler rr -> wlc',
    'add server UDP 192.168.8.200:53 -> 192.168.8.23:53 weight 1',
    'remove server UDP 192.168.8.200:53 -> 192.168.8.22:53',
  ]);
  assert.match(formatRules(r.ctl.list(), N), /-s rr -p 60/);
  assert.deepEqual(cm.apply(parseConfig(next, 'f.yaml'), false), dry);
  assert.equal(formatRules(r.ctl.list(), N),
    '-A -t 192.168.8.200:80 -s wrr\n' +
    '-a -t 192.168.8.200:80 -r 192.168.8.20:80 -g -w 3\n' +
    '-a -t 192.168.8.200:80 -r 192.168.8.21:80 -g -w 1\n' +
    '-A -u 192.168.8.200:53 -s wlc -p 60 -M 255.255.255.0\n' +
    '-a -u 192.168.8.200:53 -r 192.168.8.23:53 -g -w 1\n');
  // The TCP service was not touched: same object, same slots, its connection still forwards.
  const tcpAfter = [...r.ctl.model.services.values()].find((s) => s.proto === 'tcp')!;
  assert.deepEqual(tcpAfter.dests.map((d) => d.slot), slotsBefore);
  assert.equal(r.dp.ct.count, 1);
  const again = r.run(tcpFrame(IN, { src: CLIENT, dst: '192.168.8.200', sport: 40000, dport: 80, flags: TCP_FLAGS.ACK }));
  assert.deepEqual(again.map((f) => f.subarray(0, 6).toString('hex')), [out[0]!.subarray(0, 6).toString('hex')]);
  // Applying the same file again changes nothing.
  assert.deepEqual(cm.apply(parseConfig(next, 'f.yaml'), true), []);
});

test('removed servers drain: weight 0 at once, deleted after the drain timeout; back in the file = undrained', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const { r, cm } = mk(30);
  cm.apply(parseConfig(BASE, 'f.yaml'), false);
  const without21 = BASE.replace('      - { address: 192.168.8.21, weight: 1 }\n', '');
  assert.deepEqual(cm.apply(parseConfig(without21, 'f.yaml'), false), [
    'drain server TCP 192.168.8.200:80 -> 192.168.8.21:80: weight 1 -> 0, removed after 30 s',
  ]);
  assert.match(formatRules(r.ctl.list(), N), /-r 192\.168\.8\.21:80 -g -w 0\n/);
  assert.deepEqual(cm.apply(parseConfig(without21, 'f.yaml'), true), [], 'a draining server is not drained twice');
  t.mock.timers.tick(29_000);
  assert.match(formatRules(r.ctl.list(), N), /192\.168\.8\.21:80/);
  t.mock.timers.tick(1_000);
  assert.doesNotMatch(formatRules(r.ctl.list(), N), /192\.168\.8\.21:80/);
  // Drain another, then bring it back before the timeout: it is restored and never deleted.
  const without20 = without21.replace('      - { address: 192.168.8.20, weight: 3 }\n', '');
  cm.apply(parseConfig(without20, 'f.yaml'), false);
  assert.deepEqual(cm.apply(parseConfig(without21, 'f.yaml'), false), ['re-weight server TCP 192.168.8.200:80 -> 192.168.8.20:80: weight 0 -> 3']);
  t.mock.timers.tick(60_000);
  assert.match(formatRules(r.ctl.list(), N), /-r 192\.168\.8\.20:80 -g -w 3\n/);
});

test('drain-until follows a step of the wall clock (NTP): stepped back an hour 10 s into a drain, the state file says 20 s from now by the clock as it reads, and the server goes 20 s later', (t) => {
  const clock = stepClock(t, ['setTimeout']);
  const { r, cm } = mk(30);
  cm.apply(parseConfig(BASE, 'f.yaml'), false);
  cm.apply(parseConfig(BASE.replace('      - { address: 192.168.8.21, weight: 1 }\n', ''), 'f.yaml'), false);
  clock.tick(10_000);
  clock.step(-3_600_000);
  assert.match(cm.dump('# state', true), /drain-until: 2026-12-04T15:00:30\.000Z\n/, 'before: 16:00:30, a restart would have drained an hour more');
  clock.tick(19_000);
  assert.match(formatRules(r.ctl.list(), N), /192\.168\.8\.21:80/);
  clock.tick(1_000);
  assert.doesNotMatch(formatRules(r.ctl.list(), N), /192\.168\.8\.21:80/);
});

test('a drain outlives a restart: the state file says until when (drain-until, refused in a --config file), the restarted manager deletes the server then; a weight set meanwhile keeps it; each end is logged', (t) => {
  stepClock(t, ['setTimeout']);
  const { cm } = mk(30);
  cm.apply(parseConfig(BASE, 'f.yaml'), false);
  const without21 = BASE.replace('      - { address: 192.168.8.21, weight: 1 }\n', '');
  cm.apply(parseConfig(without21, 'f.yaml'), false);
  t.mock.timers.tick(10_000);
  const state = cm.dump('# state', true);
  assert.match(state, /- address: 192\.168\.8\.21\n {8}method: dr\n {8}weight: 0\n {8}drain-until: 2026-12-04T16:00:30\.000Z\n/);
  assert.doesNotMatch(cm.dump(), /drain-until/, '--dump-config writes a --config file: no drain-until');
  assert.doesNotMatch(cm.dump(), /192\.168\.8\.21/, '--dump-config leaves the server the reload removed out (not back at weight 0 for good)');
  assert.throws(() => parseConfig(state, 'uvsd.yaml'), /^Error: uvsd\.yaml:\d+: services\[0\]\.servers\[1\]\.drain-until: a state file's field \(this server was draining when uvsd saved it\), not a --config file's: leave the server out \(it was being removed\), or make the file with uvsadm --dump-config$/);
  assert.throws(() => parseConfig(state.replace('2026-12-04T16:00:30.000Z', 'soon'), 's.yaml', { stateFile: true }), /s\.yaml:\d+: services\[0\]\.servers\[1\]\.drain-until: must be a time like/);
  cm.stop(); // uvsd stops; a new one restores the state file
  assert.equal(cm.dump('# state', true), state, 'a state-file save still pending at the stop writes the drain (it lost drain-until: the server stayed at weight 0)');
  const logged: string[] = [];
  const b = mk(30);
  const restarted = new ConfigManager(b.r.ctl, undefined, { drainTimeout: 30 }, { info: (_f, msg) => logged.push(msg) });
  restarted.apply(parseConfig(state, 'state.yaml', { stateFile: true }), false);
  assert.match(formatRules(b.r.ctl.list(), N), /-r 192\.168\.8\.21:80 -g -w 0\n/);
  assert.match(restarted.dump('# state', true), /drain-until: 2026-12-04T16:00:30\.000Z/, 'written again as it was');
  t.mock.timers.tick(19_000);
  assert.match(formatRules(b.r.ctl.list(), N), /192\.168\.8\.21:80/);
  t.mock.timers.tick(1_000);
  assert.doesNotMatch(formatRules(b.r.ctl.list(), N), /192\.168\.8\.21:80/, 'deleted when the first drain said');
  assert.deepEqual(logged, ['drained server TCP 192.168.8.200:80 -> 192.168.8.21:80 removed']);
  // A drain whose end passed while uvsd was down ends at once; one given a weight during its
  // drain (uvsadm -e -w 5) is kept, as ipvsadm -e keeps a server.
  const c = mk(30);
  const late = new ConfigManager(c.r.ctl, undefined, { drainTimeout: 30 }, { info: (_f, msg) => logged.push(msg) });
  late.apply(parseConfig(state.replace('192.168.8.20\n        method: dr\n        weight: 3\n', '192.168.8.20\n        method: dr\n        weight: 0\n        drain-until: 2026-12-04T16:00:50.000Z\n'), 'state.yaml', { stateFile: true }), false);
  c.r.ctl.call('editDest', { service: { proto: 'tcp', addr: '192.168.8.200', port: 80 }, addr: '192.168.8.20', port: 80, fwd: 'dr', weight: 5 });
  t.mock.timers.tick(0);
  assert.doesNotMatch(formatRules(c.r.ctl.list(), N), /192\.168\.8\.21:80/);
  t.mock.timers.tick(30_000);
  assert.match(formatRules(c.r.ctl.list(), N), /-r 192\.168\.8\.20:80 -g -w 5\n/);
  assert.deepEqual(logged.slice(1), [
    'drained server TCP 192.168.8.200:80 -> 192.168.8.21:80 removed',
    'drain of server TCP 192.168.8.200:80 -> 192.168.8.20:80 ended with weight 5 set since: kept',
  ]);
});

test('uvsadm -a of a server a reload is draining takes it back, as -e would (the drain\'s end keeps it): before 2026-12-07 "Destination already exists", and the drain then deleted it; -a of any other existing server is still refused', (t) => {
  stepClock(t, ['setTimeout']);
  const logged: string[] = [];
  const { r } = mk(30);
  const cm = new ConfigManager(r.ctl, undefined, { drainTimeout: 30 }, { info: (_f, msg) => logged.push(msg) });
  r.ctl.config = cm;
  cm.apply(parseConfig(BASE, 'f.yaml'), false);
  cm.apply(parseConfig(BASE.replace('      - { address: 192.168.8.21, weight: 1 }\n', ''), 'f.yaml'), false);
  assert.match(formatRules(r.ctl.list(), N), /-r 192\.168\.8\.21:80 -g -w 0\n/, 'draining');
  const svc = { proto: 'tcp' as const, addr: '192.168.8.200', port: 80 };
  r.ctl.call('addDest', { service: svc, addr: '192.168.8.21', port: 80 });
  assert.match(formatRules(r.ctl.list(), N), /-r 192\.168\.8\.21:80 -g -w 1\n/, '-a without -w: weight 1, as ipvsadm -a');
  assert.throws(() => r.ctl.call('addDest', { service: svc, addr: '192.168.8.20', port: 80 }), /Destination already exists/);
  t.mock.timers.tick(30_000);
  assert.match(formatRules(r.ctl.list(), N), /-r 192\.168\.8\.21:80 -g -w 1\n/, 'kept at the drain\'s end');
  assert.deepEqual(logged, ['drain of server TCP 192.168.8.200:80 -> 192.168.8.21:80 ended with weight 1 set since: kept']);
});

test('a state file\'s drain-until more than 24.8 days ahead (written by hand) holds the server until then (before: Node\'s setTimeout fired after 1 ms and deleted it at once)', async () => {
  const { cm } = mk(30);
  cm.apply(parseConfig(BASE, 'f.yaml'), false);
  cm.apply(parseConfig(BASE.replace('      - { address: 192.168.8.21, weight: 1 }\n', ''), 'f.yaml'), false);
  const state = cm.dump('# state', true);
  cm.stop();
  const until = new Date(Date.now() + 30 * 86_400_000).toISOString();
  const b = mk(30);
  const restarted = new ConfigManager(b.r.ctl, undefined, { drainTimeout: 30 }, {});
  restarted.apply(parseConfig(state.replace(/drain-until: \S+/, `drain-until: ${until}`), 'state.yaml', { stateFile: true }), false);
  await new Promise((r) => setTimeout(r, 50));
  assert.match(formatRules(b.r.ctl.list(), N), /-r 192\.168\.8\.21:80 -g -w 0\n/);
  assert.ok(restarted.dump('# state', true).includes(`drain-until: ${until.slice(0, 16)}`), 'still draining till then (to the minute: ms may round)');
  restarted.stop();
});

test('--dump-config writes a file that loads back into the same table', () => {
  const { r, cm } = mk();
  cm.apply(parseConfig(BASE, 'f.yaml'), false);
  r.ctl.call('addLaddr', { service: { proto: 'tcp', addr: '192.168.8.200', port: 80 }, addr: '192.168.8.250' });
  const dumped = cm.dump();
  const b = mk();
  b.cm.apply(parseConfig(dumped, 'dump.yaml'), false);
  assert.equal(formatRules(b.r.ctl.list(), N), formatRules(r.ctl.list(), N));
  assert.deepEqual(b.r.ctl.list().services.map((s) => s.laddrs), r.ctl.list().services.map((s) => s.laddrs));
});

test('local-addresses ADDR:LO-HI: parse, apply, dump and parse again keep a LIP\'s ports; a reload that changes only the ports replaces the LIP (delLaddr + addLaddr in one batch); a bad value is refused naming it (before: the ports were neither read nor written)', () => {
  const lips = (l: string) => BASE.replace('    scheduler: wrr\n', `    scheduler: wrr\n    local-addresses: [${l}]\n`);
  const { r, cm } = mk();
  cm.apply(parseConfig(lips('192.168.8.50, 192.168.8.51:20000-29999'), 'f.yaml'), false);
  const want = [{ addr: '192.168.8.50', portMin: 1024, portMax: 65535 }, { addr: '192.168.8.51', portMin: 20000, portMax: 29999 }];
  const ranges = (x: typeof r) => x.ctl.list().services.find((s) => s.port === 80)!.laddrRanges;
  assert.deepEqual(ranges(r), want);
  const dumped = cm.dump();
  assert.match(dumped, /\n {4}local-addresses:\n {6}- 192\.168\.8\.50\n {6}- 192\.168\.8\.51:20000-29999\n/);
  assert.deepEqual(parseConfig(dumped, 'dump.yaml').services[0]!.laddrs, want);
  const b = mk();
  b.cm.apply(parseConfig(dumped, 'dump.yaml'), false);
  assert.deepEqual(ranges(b.r), want);
  // Only the ports change: the LIP is deleted and added again, in the same batch.
  const moved = parseConfig(lips('192.168.8.50, 192.168.8.51:30000-30999'), 'f.yaml');
  const changes = ['delete local address 192.168.8.51:20000-29999 from TCP 192.168.8.200:80 (its ports change)',
    'add local address 192.168.8.51:30000-30999 to TCP 192.168.8.200:80 (ports 20000-29999 -> 30000-30999)'];
  assert.deepEqual(cm.apply(moved, true), changes);
  assert.deepEqual(ranges(r), want, '--dry-run changes nothing');
  assert.deepEqual(cm.apply(moved, false), changes);
  assert.deepEqual(ranges(r), [want[0], { addr: '192.168.8.51', portMin: 30000, portMax: 30999 }]);
  assert.deepEqual(r.dp.laddrs.bySvc.flat().map((l) => l && [l.lo, l.hi]), [[1024, 65535], [30000, 30999]]);
  assert.deepEqual(cm.apply(moved, false), [], 'then nothing to do');
  const form = 'must be ADDR or ADDR:LO-HI (an IPv4 address, local ports 1..65535, LO <= HI)';
  for (const bad of ['192.168.8.51:30000-20000', '192.168.8.51:0-100', '192.168.8.51:1-65536', '192.168.8.51:5000', '192.168.8.5l', '192.168.8.51:1024-']) {
    assert.equal(configError(() => parseConfig(lips(bad), 'f.yaml')), `f.yaml:12: services[0].local-addresses[0]: ${form}, got "${bad}"`);
  }
  assert.equal(configError(() => parseConfig(lips('192.168.8.51, 192.168.8.51:20000-29999'), 'f.yaml')),
    'f.yaml:12: services[0].local-addresses[1]: local address 192.168.8.51 is already at line 12 (list it once)');
});

test('daemon defenses in the config: read with their types, refused with file:line and field; a reload sets them (command line wins), --dry-run only lists them', async () => {
  const { mkdtempSync, rmSync, writeFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { defenseChanges } = await import('../src/control/config.js');
  const { DEFENSE_DEFAULTS } = await import('../src/datapath/pipeline.js');
  const text = (d: string) => `daemon:\n${d}services: []\n`;
  const all = '  secure-tcp-above: 0.7\n  evict-above: 0.95\n  max-conn-rate-per-source: 200\n  arp-accept-unsolicited: true\n  sloppy-tcp: true\n  conn-reuse-mode: 3\n  expire-quiescent-template: true\n  garp-refresh: 30\n  synproxy-syn-retries: 0\n  schedule-icmp: true\n  state-file: /var/lib/uvs/state.yaml\n';
  assert.deepEqual(parseConfig(text(all), 'u.yaml').daemon, {
    secureTcpAbove: 0.7, evictAbove: 0.95, maxConnRatePerSource: 200, arpAcceptUnsolicited: true, sloppyTcp: 'all', connReuseMode: 3,
    expireQuiescentTemplate: true, garpRefresh: 30, synproxySynRetries: 0, scheduleIcmp: true, stateFile: '/var/lib/uvs/state.yaml',
  });
  const refusals: Array<[string, string]> = [
    ['  conn-max: 10\n  secure-tcp-above: 1.5\n', 'u.yaml:3: daemon.secure-tcp-above: must be a fraction 0..1, got 1.5'],
    ['  evict-above: "0.9"\n', 'u.yaml:2: daemon.evict-above: must be a fraction 0..1, got "0.9"'],
    ['  max-conn-rate-per-source: -1\n', 'u.yaml:2: daemon.max-conn-rate-per-source: must be an integer 0..1000000, got -1'],
    ['  arp-accept-unsolicited: 1\n', 'u.yaml:2: daemon.arp-accept-unsolicited: must be true or false, got 1'],
    ['  sloppy-tcp: yes please\n', 'u.yaml:2: daemon.sloppy-tcp: must be true, false, off, all or mh, got "yes please"'],
    ['  conn-reuse-mode: 4\n', 'u.yaml:2: daemon.conn-reuse-mode: must be an integer 0..3, got 4'],
    ['  synproxy-syn-retries: 7\n', 'u.yaml:2: daemon.synproxy-syn-retries: must be an integer 0..6, got 7'],
    ['  synproxy-syn-retries: -1\n', 'u.yaml:2: daemon.synproxy-syn-retries: must be an integer 0..6, got -1'],
    ['  expire-quiescent-template: yes\n', 'u.yaml:2: daemon.expire-quiescent-template: must be true or false, got "yes"'],
    ['  schedule-icmp: 1\n', 'u.yaml:2: daemon.schedule-icmp: must be true or false, got 1'],
    ['  garp-refresh: 86401\n', 'u.yaml:2: daemon.garp-refresh: must be an integer 0..86400, got 86401'],
    ['  state-file: ""\n', 'u.yaml:2: daemon.state-file: must be a non-empty string, got ""'],
    ['  neigh-max: 8\n', 'u.yaml:2: daemon.neigh-max: must be an integer 16..1048576, got 8'],
    ['  sloppy_tcp: true\n', 'u.yaml:2: daemon.sloppy_tcp: unknown field'],
  ];
  for (const [d, msg] of refusals) {
    assert.throws(() => parseConfig(text(d), 'u.yaml'), (e: unknown) => e instanceof UvsError && e.message.startsWith(msg), d);
  }
  // What a reload does (uvsd wires defenseChanges and Control.setDefense the same way).
  const dir = mkdtempSync(join(tmpdir(), 'uvs-cfg-def-'));
  try {
    const file = join(dir, 'u.yaml');
    const r = rig({ addrs: ['192.168.8.10/24'] });
    const fromCli = new Set<string>();
    const cm = new ConfigManager(r.ctl, file, {}, {
      daemon: (cfg) => {
        const { next, changes } = defenseChanges(r.dp.defense, cfg.daemon, fromCli);
        return { changes, ignored: [], apply: () => r.ctl.setDefense(next) };
      },
    });
    writeFileSync(file, text('  secure-tcp-above: 0.7\n  sloppy-tcp: true\n  synproxy-syn-retries: 1\n'));
    assert.deepEqual(cm.reload(true), ['set secure-tcp-above 0.5 -> 0.7', 'set sloppy-tcp off -> all', 'set synproxy-syn-retries 3 -> 1']);
    assert.deepEqual(r.dp.defense, DEFENSE_DEFAULTS, 'a dry run changes nothing');
    cm.reload(false);
    assert.equal(r.dp.defense.secureTcpAbove, 0.7);
    assert.equal(r.dp.defense.sloppyTcp, 'all');
    assert.equal(r.dp.defense.synproxySynRetries, 1);
    assert.equal((r.ctl.call('status', {}) as { defense: { sloppyTcp: string } }).defense.sloppyTcp, 'all', 'the status verb shows it');
    // Gone from the file: back to the default. Given on the command line: the file is ignored.
    fromCli.add('evictAbove');
    writeFileSync(file, text('  evict-above: 0.6\n  max-conn-rate-per-source: 50\n'));
    assert.deepEqual(cm.reload(false), ['set secure-tcp-above 0.7 -> 0.5', 'set max-conn-rate-per-source 0 -> 50', 'set sloppy-tcp all -> off', 'set synproxy-syn-retries 1 -> 3']);
    assert.equal(r.dp.defense.evictAbove, DEFENSE_DEFAULTS.evictAbove);
    assert.deepEqual(cm.reload(false), [], 'nothing left to change');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('numbers are written in decimal, as uvsd\'s and uvsadm\'s options take them: YAML\'s 0x10, 0o17, 1e3, +16 and 16.0 are refused with their text (daemon settings, services, bare ports)', () => {
  const text = (d: string) => `daemon:\n${d}services: []\n`;
  for (const [d, msg] of [
    ['  conn-max: 0x10\n', 'u.yaml:2: daemon.conn-max: must be an integer 1..67108864, got 0x10'],
    ['  conn-max: 1e3\n', 'u.yaml:2: daemon.conn-max: must be an integer 1..67108864, got 1e3'],
    ['  conn-max: 16.0\n', 'u.yaml:2: daemon.conn-max: must be an integer 1..67108864, got 16.0'],
    ['  conn-max: +16\n', 'u.yaml:2: daemon.conn-max: must be an integer 1..67108864, got +16'],
    ['  drain-timeout: 0o17\n', 'u.yaml:2: daemon.drain-timeout: must be an integer 0..86400, got 0o17'],
    ['  garp-refresh: 1e1\n', 'u.yaml:2: daemon.garp-refresh: must be an integer 0..86400, got 1e1'],
    ['  max-conn-rate-per-source: 0x10\n', 'u.yaml:2: daemon.max-conn-rate-per-source: must be an integer 0..1000000, got 0x10'],
    ['  evict-above: 1e-1\n', 'u.yaml:2: daemon.evict-above: must be a fraction 0..1, got 1e-1'],
    ['  ftp-ports: 0x15\n', 'u.yaml:2: daemon.ftp-ports: invalid FTP port "0x15"'],
    ['  ftp-ports: [21, 0x15]\n', 'u.yaml:2: daemon.ftp-ports[1]: must be an integer 1..65535, got 0x15'],
    ['  metrics: 1e3\n', 'u.yaml:2: daemon.metrics: invalid --metrics port in "1e3"'],
  ]) {
    assert.throws(() => parseConfig(text(d!), 'u.yaml'), (e: unknown) => e instanceof UvsError && e.message.startsWith(msg!), d);
  }
  assert.throws(() => parseConfig('services:\n  - { proto: tcp, address: 192.168.8.200, port: 0x50 }\n', 'u.yaml'),
    (e: unknown) => e instanceof UvsError && e.message === 'u.yaml:2: services[0].port: must be an integer 0..65535, got 0x50');
  assert.deepEqual(parseConfig(text('  conn-max: 16\n  evict-above: .5\n  ftp-ports: 21\n  metrics: 9478\n'), 'u.yaml').daemon,
    { connMax: 16, evictAbove: 0.5, ftpPorts: [21], metrics: '9478' });
});

test('--dump-config writes the defenses that differ from the defaults, and the dump reads back', () => {
  const r = rig({ addrs: ['192.168.8.10/24'] });
  const cm = new ConfigManager(r.ctl, undefined, {
    secureTcpAbove: 0.5, evictAbove: 0.8, sloppyTcp: 'all', arpAcceptUnsolicited: false, synproxySynRetries: 1, stateFile: '/s.yaml', role: 'backup',
    haGroups: ['web=192.168.8.200'], vrrpFifo: '/run/keepalived/uvs.fifo',
  });
  const dump = cm.dump();
  // HA groups and the VRRP FIFO: a uvsd started from the dump takes its roles as before.
  assert.match(dump, /^ {2}ha-groups:\n {4}- web=192\.168\.8\.200\n {2}vrrp-fifo: \/run\/keepalived\/uvs\.fifo$/m);
  assert.deepEqual(parseConfig(dump, 'd.yaml').daemon.haGroups, ['web=192.168.8.200']);
  assert.match(dump, /^ {2}role: backup$/m, 'a backup\'s dump restarts it as a backup (a reload would report role master -> backup otherwise)');
  assert.match(dump, /^ {2}evict-above: 0\.8$/m);
  assert.match(dump, /^ {2}sloppy-tcp: all$/m);
  assert.match(dump, /^ {2}synproxy-syn-retries: 1$/m);
  assert.match(dump, /^ {2}state-file: \/s\.yaml$/m);
  assert.doesNotMatch(dump, /secure-tcp-above|arp-accept-unsolicited/);
  assert.deepEqual(parseConfig(dump, 'd.yaml').daemon.evictAbove, 0.8);
  assert.deepEqual(parseConfig(dump, 'd.yaml').daemon.synproxySynRetries, 1);
});

test('daemon settings are checked when the file is read, as uvsd checks them at start, each error with FILE:LINE: metrics, addresses, gateway', () => {
  const text = (d: string) => `daemon:\n${d}services: []\n`;
  const refusals: Array<[string, string]> = [
    ['  metrics: banana\n', 'u.yaml:2: daemon.metrics: invalid --metrics port in "banana" (expected a.b.c.d:port with port 0..65535)'],
    ['  tap: uvs0\n  metrics: 127.0.0.1:99999\n', 'u.yaml:3: daemon.metrics: invalid --metrics port in "127.0.0.1:99999"'],
    ['  metrics: localhost:9478\n', 'u.yaml:2: daemon.metrics: invalid --metrics address "localhost:9478"'],
    ['  addresses: [300.1.1.1/99]\n', 'u.yaml:2: daemon.addresses[0]: invalid address "300.1.1.1/99" (expected a.b.c.d/len)'],
    ['  addresses:\n    - 192.168.8.10/24\n    - 10.0.0.1/24,sticky\n', 'u.yaml:4: daemon.addresses[1]: invalid --addr flag "sticky"'],
    ['  addresses:\n    - 10.0.0.1/24,floating\n', 'u.yaml:3: daemon.addresses: at least one address must be fixed (not floating)'],
    ['  addresses: []\n', 'u.yaml:2: daemon.addresses: must list at least one address'],
    ['  gateway: 999.1.1.1\n', 'u.yaml:2: daemon.gateway: must be an IPv4 address, got "999.1.1.1"'],
  ];
  for (const [d, msg] of refusals) {
    const got = configError(() => parseConfig(text(d), 'u.yaml'));
    assert.ok(got.startsWith(msg), `${JSON.stringify(d)}: ${got}`);
  }
  assert.deepEqual(parseConfig(text('  addresses: [192.168.8.10/24, "10.8.1.1/24,floating"]\n  gateway: 192.168.8.1\n  metrics: :9101\n'), 'u.yaml').daemon,
    { addresses: ['192.168.8.10/24', '10.8.1.1/24,floating'], gateway: '192.168.8.1', metrics: ':9101' });
  // A bare port, as --metrics 9478 takes it, is a YAML integer here.
  assert.equal(parseConfig(text('  metrics: 9478\n'), 'u.yaml').daemon.metrics, '9478');
  assert.ok(configError(() => parseConfig(text('  metrics: 9.5\n'), 'u.yaml')).startsWith('u.yaml:2: daemon.metrics: must be a non-empty string, got 9.5'));
});

test('daemon.ha-groups (active/active) reads as uvsd --ha-group, daemon.vrrp-fifo as --vrrp-fifo: FILE:LINE errors, checked beside the addresses (the FIFO\'s directory too), dumped back', async () => {
  const { combinationProblem, fileOptions, settingsOf } = await import('../src/cli/settings.js');
  type Opts = Parameters<typeof combinationProblem>[0];
  const text = (d: string) => `daemon:\n  addresses: [192.168.8.10/24, "10.8.1.1/24,floating"]\n${d}services: []\n`;
  const cfg = parseConfig(text('  ha-groups: ["web=192.168.8.100,10.8.1.1", api=192.168.8.110]\n  vrrp-fifo: /tmp/vrrp.fifo\n'), 'u.yaml');
  assert.deepEqual(cfg.daemon.haGroups, ['web=192.168.8.100,10.8.1.1', 'api=192.168.8.110']);
  assert.equal(cfg.daemon.vrrpFifo, '/tmp/vrrp.fifo');
  const opts = (c: typeof cfg): Opts => ({ ...fileOptions(c.daemon), file: c } as unknown as Opts);
  assert.equal(settingsOf(opts(cfg)).vrrpFifo, '/tmp/vrrp.fifo');
  assert.deepEqual((opts(cfg) as { haGroup?: unknown }).haGroup, [
    { name: 'web', addrs: [parseIp('192.168.8.100'), parseIp('10.8.1.1')] }, { name: 'api', addrs: [parseIp('192.168.8.110')] },
  ]);
  assert.equal(combinationProblem(opts(cfg), () => false), undefined);
  assert.deepEqual(settingsOf(opts(cfg)).haGroups, cfg.daemon.haGroups, 'written back as read');
  for (const [d, msg] of [
    ['  ha-groups: [web]\n', 'u.yaml:3: daemon.ha-groups[0]: invalid HA group "web" (expected NAME=a.b.c.d[,a.b.c.d...]'],
    ['  ha-groups: ["default=192.168.8.100"]\n', 'u.yaml:3: daemon.ha-groups[0]: invalid HA group "default=192.168.8.100": "default" names the addresses of no group'],
    ['  ha-groups:\n    - web=192.168.8.100\n    - api=192.168.8\n', 'u.yaml:5: daemon.ha-groups[1]: invalid address "192.168.8" in HA group "api=192.168.8"'],
    ['  ha-groups: web=192.168.8.100\n', 'u.yaml:3: daemon.ha-groups: must be a list'],
  ] as const) {
    const got = configError(() => parseConfig(text(d), 'u.yaml'));
    assert.ok(got.startsWith(msg), `${JSON.stringify(d)}: ${got}`);
  }
  for (const [d, msg] of [
    ['  ha-groups: [web=192.168.8.10]\n', 'u.yaml:3: daemon.ha-groups: web=192.168.8.10: 192.168.8.10 is a fixed --addr (it never moves; make it ",floating" or leave it out)'],
    ['  ha-groups: [web=192.168.8.100, "api=192.168.8.110,192.168.8.100"]\n', 'u.yaml:3: daemon.ha-groups: api=192.168.8.110,192.168.8.100: 192.168.8.100 is in group web too'],
    ['  ha-groups: [web=192.168.8.100, web=192.168.8.110]\n', 'u.yaml:3: daemon.ha-groups: web=192.168.8.100: the name web is given twice'],
    // The FIFO's path, as at start (and on a reload, which applies it): a directory that is not there.
    ['  vrrp-fifo: /nonexistent/vrrp.fifo\n', 'u.yaml:3: daemon.vrrp-fifo: /nonexistent/vrrp.fifo: its directory /nonexistent does not exist'],
  ] as const) {
    const got = combinationProblem(opts(parseConfig(text(d), 'u.yaml')), () => false) ?? '';
    assert.ok(got.startsWith(msg), `${JSON.stringify(d)}: ${got}`);
  }
});

type SettingsOpts = Parameters<typeof import('../src/cli/settings.js').settingsOf>[0];

/**
 * A --config file (first contents `first`) in a temporary directory, and uvsd's options as a
 * start with it sets them (nothing on the command line); the directory is removed after fn.
 */
async function withDaemonFile(first: string, fn: (file: string, opts: SettingsOpts, dir: string) => Promise<void> | void): Promise<void> {
  const { mkdtempSync, rmSync, writeFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { fileOptions } = await import('../src/cli/settings.js');
  const { DEFENSE_DEFAULTS } = await import('../src/datapath/pipeline.js');
  const dir = mkdtempSync(join(tmpdir(), 'uvs-cfg-reload-'));
  try {
    const file = join(dir, 'u.yaml');
    writeFileSync(file, first);
    const cfg = parseConfig(readFileSync(file, 'utf8'), file);
    const defaults = { tap: 'uvs0', socket: '/run/uvs/uvsd.sock', connMax: 1048576, drainTimeout: 30, role: 'master' as const, bgpBirdSocket: '/run/bird/bird.ctl' };
    const opts = { ...defaults, ...DEFENSE_DEFAULTS, ...fileOptions(cfg.daemon), file: cfg, fromCli: new Set<string>(), defaults } as unknown as SettingsOpts;
    await fn(file, opts, dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('--dump-config names, in a comment above daemon:, the non-default settings it cannot carry (no config key: --workers, --mtu, --mac ...); the dump reads back', async () => {
  const { commandLineOnly } = await import('../src/cli/settings.js');
  const { parseMac } = await import('../src/datapath/addr.js');
  // commander's options as uvsd declares them (long flag, attribute name, --no-X).
  const options = [
    ['--tap', 'tap'], ['--workers', 'workers'], ['--mtu', 'mtu'], ['--mac', 'mac'], ['--datapath-thread', 'datapathThread'],
    ['--no-jit-warmup', 'jitWarmup', true], ['--datapath-cpus', 'datapathCpus'], ['--log-level', 'logLevel'], ['--tap-qlen', 'tapQlen'],
    ['--keepalived-conf', 'keepalivedConf'], ['--keepalived-config-id', 'keepalivedConfigId'], ['--config', 'config'], ['--check-config', 'checkConfig'], ['--conn-max', 'connMax'],
  ].map(([long, attr, negate]) => ({ long: long as string, attr: attr as string, negate: negate === true }));
  await withDaemonFile('daemon:\n  addresses: [192.168.8.10/24]\nservices: []\n', (file, fromFile) => {
    const defaults = { ...fromFile.defaults, workers: 1, mtu: 1500, datapathThread: false, jitWarmup: true, logLevel: 'info', tapQlen: 4096 };
    const base = { ...fromFile, ...defaults, defaults, config: file };
    assert.equal(commandLineOnly(base, options), '', 'all at their defaults: nothing to name');
    const opts = {
      ...base, tap: 'uvs1', connMax: 4096, workers: 2, mtu: 9000, mac: parseMac('02:00:00:00:00:01'), jitWarmup: false, datapathCpus: [2, 3],
      logLevel: 'debug', keepalivedConf: '/etc/my keepalived.conf', keepalivedConfigId: 'lb2', checkConfig: true,
    };
    const cli = commandLineOnly(opts, options);
    assert.equal(cli, '--workers 2 --mtu 9000 --mac 02:00:00:00:00:01 --no-jit-warmup --datapath-cpus 2,3 --log-level debug',
      'the config keys (--tap, --conn-max) and how uvsd was run (--config, --check-config) are not named, nor --keepalived-conf: its services are in the dump ' +
      '(until 2026-12-07 named, and a uvsd given it with the dump refused every service as "also in" the other file)');
    const r = rig({ addrs: ['192.168.8.10/24'] });
    const dump = new ConfigManager(r.ctl, undefined, { tap: 'uvs1' }, { commandLineOnly: cli }).dump();
    assert.match(dump, new RegExp(`^# uvsd configuration, written by uvsadm --dump-config\n# not in this file \\(command line only\\): --workers 2 --mtu 9000 .*\ndaemon:\n`));
    assert.equal(parseConfig(dump, 'd.yaml').daemon.tap, 'uvs1');
    assert.doesNotMatch(new ConfigManager(r.ctl, undefined, {}).dump(), /command line only/, 'none: no comment');
  });
});

test('the BIRD socket is a setting only with bgp-include: a dump (or a reload\'s comparison) without BGP leaves it out', async () => {
  const { settingsOf } = await import('../src/cli/settings.js');
  await withDaemonFile('daemon:\n  addresses: [192.168.8.10/24]\nservices: []\n', (_file, opts) => {
    assert.equal(settingsOf(opts).bgpBirdSocket, undefined);
  });
  await withDaemonFile('daemon:\n  addresses: [192.168.8.10/24]\n  bgp-include: /etc/bird/uvs.conf\nservices: []\n', (_file, opts) => {
    assert.equal(settingsOf(opts).bgpBirdSocket, '/run/bird/bird.ctl');
  });
});

test('daemon.health-concurrency and daemon.health-process-concurrency read as uvsd\'s options of those names (FILE:LINE errors naming the value), are dumped back when set (health-process-concurrency when not 64), and a reload reports a change as ignored (read at start only)', async () => {
  const { checkDaemonReload, settingsOf } = await import('../src/cli/settings.js');
  const text = (d: string) => `daemon:\n${d}services: []\n`;
  assert.deepEqual(parseConfig(text('  health-concurrency: 500\n  health-process-concurrency: 16\n'), 'u.yaml').daemon, { healthConcurrency: 500, healthProcessConcurrency: 16 });
  const refusals: Array<[string, string]> = [
    ['  health-concurrency: 0\n', 'u.yaml:2: daemon.health-concurrency: must be an integer 1..10000, got 0'],
    ['  health-process-concurrency: 10001\n', 'u.yaml:2: daemon.health-process-concurrency: must be an integer 1..10000, got 10001'],
    ['  health-process-concurrency: many\n', 'u.yaml:2: daemon.health-process-concurrency: must be an integer 1..10000, got "many"'],
  ];
  for (const [d, msg] of refusals) {
    assert.throws(() => parseConfig(text(d), 'u.yaml'), (e: unknown) => e instanceof UvsError && e.message === msg, d);
  }
  const r = rig({ addrs: ['192.168.8.10/24'] });
  const dump = (s: object) => new ConfigManager(r.ctl, undefined, s).dump();
  const back = parseConfig(dump({ healthConcurrency: 500, healthProcessConcurrency: 16 }), 'd.yaml').daemon;
  assert.deepEqual([back.healthConcurrency, back.healthProcessConcurrency], [500, 16]);
  assert.doesNotMatch(dump({ healthProcessConcurrency: 64 }), /health-/, 'the defaults are not written');
  await withDaemonFile('daemon:\n  addresses: [192.168.8.10/24]\n  health-process-concurrency: 16\nservices: []\n', (file, opts) => {
    const running = settingsOf(opts);
    assert.equal(running.healthProcessConcurrency, 16);
    const next = parseConfig('daemon:\n  addresses: [192.168.8.10/24]\n  health-concurrency: 100\n  health-process-concurrency: 8\nservices: []\n', file);
    assert.deepEqual(checkDaemonReload(opts, running, next).ignored, [
      'ignored daemon.health-concurrency (none) -> 100: read at start only (restart uvsd to change it)',
      'ignored daemon.health-process-concurrency 16 -> 8: read at start only (restart uvsd to change it)',
    ]);
  });
});

// Two start-only integer settings: their key, property, range, default, and what else a start needs.
for (const w of [
  { key: 'arp-watch', prop: 'arpWatch', min: 0, max: 86_400, def: 60, set: 10, need: '' },
  { key: 'bgp-watch', prop: 'bgpWatch', min: 1, max: 3600, def: 5, set: 2, need: '  bgp-include: /tmp/uvs-test-bird.conf\n' },
] as const) {
  test(`daemon.${w.key} reads as uvsd --${w.key} (${w.min}..${w.max} s; FILE:LINE error naming the value, nothing loaded), is dumped back when not ${w.def}, and a reload reports a change as ignored (read at start only)`, async () => {
    const { checkDaemonReload, settingsOf } = await import('../src/cli/settings.js');
    const text = (d: string) => `daemon:\n${d}services: []\n`;
    for (const v of [w.min, 120, w.max]) assert.deepEqual(parseConfig(text(`  ${w.key}: ${v}\n`), 'u.yaml').daemon, { [w.prop]: v });
    const range = `must be an integer ${w.min}..${w.max}`;
    for (const bad of [w.min - 1, w.max + 1, 1.5, 'often']) {
      const msg = `u.yaml:2: daemon.${w.key}: ${range}, got ${typeof bad === 'string' ? `"${bad}"` : bad}`;
      assert.throws(() => parseConfig(text(`  ${w.key}: ${bad}\n`), 'u.yaml'), (e: unknown) => e instanceof UvsError && e.message === msg, String(bad));
    }
    const r = rig({ addrs: ['192.168.8.10/24'] });
    const dump = (s: object) => new ConfigManager(r.ctl, undefined, s).dump();
    assert.equal(parseConfig(dump({ [w.prop]: w.max }), 'd.yaml').daemon[w.prop], w.max);
    assert.doesNotMatch(dump({ [w.prop]: w.def }), new RegExp(w.key), 'the default is not written');
    await withDaemonFile(`daemon:\n  addresses: [192.168.8.10/24]\n${w.need}  ${w.key}: ${w.set}\nservices: []\n`, (file, opts) => {
      const running = settingsOf(opts);
      assert.equal(running[w.prop], w.set);
      const next = parseConfig(`daemon:\n  addresses: [192.168.8.10/24]\n${w.need}  ${w.key}: ${w.max}\nservices: []\n`, file);
      assert.deepEqual(checkDaemonReload(opts, running, next).ignored, [`ignored daemon.${w.key} ${w.set} -> ${w.max}: read at start only (restart uvsd to change it)`]);
    });
  });
}

test('a reload checks every daemon setting as the next start would (command line wins, combinations too) and refuses the whole reload on a bad one; start-only settings that changed are reported as ignored', async () => {
  const { writeFileSync } = await import('node:fs');
  const { daemonReload, settingsOf } = await import('../src/cli/settings.js');
  const { DEFENSE_DEFAULTS } = await import('../src/datapath/pipeline.js');
  const { parseAddrText } = await import('../src/control/config.js');
  const text = (d: string, weight = 1) => `daemon:\n${d}services:\n  - { proto: tcp, address: 192.168.8.200, port: 80, servers: [{ address: 192.168.8.20, weight: ${weight} }] }\n`;
  const start = '  addresses: [192.168.8.10/24]\n  metrics: 127.0.0.1:9101\n';
  await withDaemonFile(text(start), (file, fromFile) => {
    // uvsd as started: --addr on the command line, the rest from the file or the defaults.
    const opts = { ...fromFile, addr: [parseAddrText('192.168.8.10/24')], fromCli: new Set(['addr']) };
    const running = settingsOf(opts);
    const r = rig({ addrs: ['192.168.8.10/24'] });
    const warned: string[] = [];
    const cm = new ConfigManager(r.ctl, file, { drainTimeout: 0 }, {
      daemon: (cfg) => daemonReload(opts, running, cfg, r.dp.defense, { setDefense: (n) => r.ctl.setDefense(n), warn: (l) => warned.push(l) }),
    });
    r.ctl.config = cm;
    cm.reload(false);
    const table = formatRules(r.ctl.list(), N);
    assert.deepEqual(cm.reload(true), [], 'the file uvsd started with: nothing to do');

    // Each bad value is refused by --dry-run and by the reload, naming FILE:LINE; the weight change with it is not applied.
    const bad: Array<[string, string]> = [
      ['  addresses: [192.168.8.10/24]\n  metrics: banana\n', `${file}:3: daemon.metrics: invalid --metrics port in "banana"`],
      ['  addresses: [192.168.8.10/24]\n  metrics: 127.0.0.1:99999\n', `${file}:3: daemon.metrics: invalid --metrics port in "127.0.0.1:99999"`],
      // --addr on the command line wins, and the file's value is still checked (as at start).
      ['  addresses: [300.1.1.1/99]\n', `${file}:2: daemon.addresses[0]: invalid address "300.1.1.1/99"`],
      ['  addresses: [192.168.8.10/24]\n  gateway: 999.1.1.1\n', `${file}:3: daemon.gateway: must be an IPv4 address, got "999.1.1.1"`],
      // Valid alone, refused together (as at start): off the networks of the addresses uvsd would start with.
      ['  addresses: [10.1.1.10/24]\n  gateway: 10.1.1.1\n', `${file}:3: daemon.gateway: 10.1.1.1 is not inside any network of the addresses (192.168.8.10/24)`],
      ['  bgp-include: /tmp/x.conf\n  bgp-next-hop: 192.168.8.11\n', `${file}:3: daemon.bgp-next-hop: 192.168.8.11 is not one of the addresses (192.168.8.10/24)`],
      ['  bgp-next-hop: 192.168.8.10\n', `${file}:2: daemon.bgp-next-hop: 192.168.8.10 without bgp-include: nothing is announced (give daemon.bgp-include or --bgp-include)`],
      ['  bgp-watch: 7\n', `${file}:2: daemon.bgp-watch: 7 without bgp-include: nothing is announced (give daemon.bgp-include or --bgp-include)`],
      ['  bgp-bird-socket: /run/b.ctl\n', `${file}:2: daemon.bgp-bird-socket: /run/b.ctl without bgp-include: nothing is announced (give daemon.bgp-include or --bgp-include)`],
      ['  arp-watch: 100000\n', `${file}:2: daemon.arp-watch: must be an integer 0..86400, got 100000`],
      ['  bgp-watch: 0\n', `${file}:2: daemon.bgp-watch: must be an integer 1..3600, got 0`],
    ];
    for (const [d, msg] of bad) {
      writeFileSync(file, text(d, 9));
      for (const dryRun of [true, false]) {
        const got = configError(() => r.ctl.call('reload', { dryRun }));
        assert.ok(got.startsWith(msg), `${JSON.stringify(d)} dryRun ${dryRun}: ${got}`);
      }
      assert.equal(formatRules(r.ctl.list(), N), table, 'a refused reload changes nothing');
    }
    assert.deepEqual(r.dp.defense, DEFENSE_DEFAULTS);
    assert.deepEqual(warned, []);

    // Start-only settings that changed: listed by --dry-run, in the reply, logged; not applied. The command line's (--addr) are not.
    writeFileSync(file, text('  addresses: [192.168.8.11/24]\n  metrics: 127.0.0.1:9102\n  conn-max: 1000\n  role: backup\n  evict-above: 0.8\n', 2));
    const ignored = [
      'ignored daemon.metrics 127.0.0.1:9101 -> 127.0.0.1:9102: read at start only (restart uvsd to change it)',
      'ignored daemon.conn-max 1048576 -> 1000: read at start only (restart uvsd to change it)',
      'ignored daemon.role master -> backup: read at start only (restart uvsd to change it)',
    ];
    const changes = ['re-weight server TCP 192.168.8.200:80 -> 192.168.8.20:80: weight 1 -> 2', 'set evict-above 0.9 -> 0.8'];
    assert.deepEqual(r.ctl.call('reload', { dryRun: true }), { changes: [...changes, ...ignored], ignored, warnings: [] });
    assert.deepEqual(warned, [], 'a dry run logs nothing');
    assert.deepEqual(r.ctl.call('reload', {}), { changes: [...changes, ...ignored], ignored, warnings: [] });
    assert.deepEqual(warned, ignored);
    assert.equal(r.dp.defense.evictAbove, 0.8);
    // Dropped from the file: the default is what the next start would take.
    writeFileSync(file, text('', 2));
    assert.deepEqual(cm.reload(true), ['set evict-above 0.8 -> 0.9', 'ignored daemon.metrics 127.0.0.1:9101 -> (none): read at start only (restart uvsd to change it)']);
  });
});

test('a reload applies daemon.vrrp-fifo (checked as at start, listed by --dry-run): added, moved, refused where its directory is missing or the FIFO is writable by others, dropped; the command line\'s wins', async () => {
  const { writeFileSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { daemonReload, settingsOf } = await import('../src/cli/settings.js');
  const { DEFENSE_DEFAULTS } = await import('../src/datapath/pipeline.js');
  const { execFileSync } = await import('node:child_process');
  const text = (fifo: string) => `daemon:\n  addresses: [192.168.8.10/24]\n${fifo}services: []\n`;
  await withDaemonFile(text(''), (file, opts, dir) => {
    const running = settingsOf(opts);
    const set: Array<string | undefined> = [];
    const reload = (dry: boolean) => {
      const r = daemonReload(opts, running, parseConfig(readFileSync(file, 'utf8'), file), { ...DEFENSE_DEFAULTS }, {
        setDefense: () => {}, setVrrpFifo: (p) => set.push(p), warn: () => {},
      });
      if (!dry) r.apply();
      return r.changes;
    };
    assert.deepEqual(reload(false), [], 'no FIFO, none asked for');
    const a = join(dir, 'a.fifo');
    writeFileSync(file, text(`  vrrp-fifo: ${a}\n`));
    assert.deepEqual(reload(true), [`set vrrp-fifo (none) -> ${a}`]);
    assert.deepEqual(set, [], 'a dry run sets nothing');
    assert.deepEqual(reload(false), [`set vrrp-fifo (none) -> ${a}`]);
    assert.deepEqual([set, running.vrrpFifo], [[a], a]);
    assert.deepEqual(reload(false), [], 'then nothing left to do');
    writeFileSync(file, text('  vrrp-fifo: /nonexistent/b.fifo\n'));
    assert.throws(() => reload(false), /u\.yaml:3: daemon\.vrrp-fifo: \/nonexistent\/b\.fifo: its directory \/nonexistent does not exist/);
    assert.deepEqual([set, running.vrrpFifo], [[a], a], 'refused: the FIFO read stays');
    // A FIFO another user may write (made 0666 by someone): refused alike (before: read from then on).
    const open = join(dir, 'open.fifo');
    execFileSync('mkfifo', ['-m', '666', open]);
    writeFileSync(file, text(`  vrrp-fifo: ${open}\n`));
    assert.throws(() => reload(false), { message: `${file}:3: daemon.vrrp-fifo: ${open}: writable by group or others (mode 0666): another user could set uvsd's role through it` });
    assert.deepEqual([set, running.vrrpFifo], [[a], a], 'refused: the FIFO read stays');
    writeFileSync(file, text(''));
    assert.deepEqual(reload(false), [`set vrrp-fifo ${a} -> (none)`]);
    assert.deepEqual([set, running.vrrpFifo], [[a, undefined], undefined]);
    // Given on uvsd's command line: the file's is checked but not applied.
    const cli = { ...opts, vrrpFifo: a, fromCli: new Set(['vrrpFifo']) } as typeof opts;
    writeFileSync(file, text(`  vrrp-fifo: ${join(dir, 'c.fifo')}\n`));
    assert.deepEqual(daemonReload(cli, settingsOf(cli), parseConfig(readFileSync(file, 'utf8'), file), { ...DEFENSE_DEFAULTS }, { setDefense: () => {}, warn: () => {} }).changes, []);
  });
});

test('a reload applies daemon.ha-groups (checked as at start, listed by --dry-run): the groups reach the datapath, a group keeps its role; the command line\'s --ha-group wins', async () => {
  const { writeFileSync } = await import('node:fs');
  const { daemonReload, settingsOf } = await import('../src/cli/settings.js');
  const text = (groups: string) => `daemon:\n  addresses: [192.168.8.10/24]\n${groups}services:\n  - { proto: tcp, address: 192.168.8.200, port: 80, servers: [{ address: 192.168.8.20 }] }\n`;
  await withDaemonFile(text('  ha-groups: [web=192.168.8.200]\n'), (file, opts) => {
    const running = settingsOf(opts);
    const r = rig({ addrs: ['192.168.8.10/24'] });
    r.dp.apply([{ op: 'haGroups', groups: [{ name: 'web', addrs: [parseIp('192.168.8.200')] }] }]);
    r.ctl.call('setRole', { role: 'backup', group: 'web' });
    const cm = new ConfigManager(r.ctl, file, { drainTimeout: 0 }, {
      daemon: (c) => daemonReload(opts, running, c, r.dp.defense, { setDefense: (n) => r.ctl.setDefense(n), setHaGroups: (g) => r.ctl.setHaGroups(g), warn: () => {} }),
    });
    r.ctl.config = cm;
    assert.deepEqual(cm.reload(false), ['add service TCP 192.168.8.200:80 (wlc)', 'add server TCP 192.168.8.200:80 -> 192.168.8.20:80 weight 1']);
    assert.deepEqual(cm.reload(true), [], 'the groups uvsd started with: nothing to do');
    writeFileSync(file, text('  ha-groups: [web=192.168.8.200, api=192.168.8.201]\n'));
    const change = 'set ha-groups web=192.168.8.200 -> web=192.168.8.200 api=192.168.8.201';
    assert.deepEqual(cm.reload(true), [change]);
    assert.deepEqual(r.dp.link.groupNames, ['default', 'web'], 'a dry run changes nothing');
    assert.deepEqual(cm.reload(false), [change]);
    assert.deepEqual([r.dp.link.groupNames, r.dp.link.roles()], [['default', 'web', 'api'], [true, false, true]], 'web kept its role (backup)');
    assert.deepEqual(cm.reload(true), [], 'then nothing left to do');
    // Checked as at start: refused with FILE:LINE, nothing changes.
    writeFileSync(file, text('  ha-groups: [web=192.168.8.10]\n'));
    assert.match(configError(() => cm.reload(false)), /u\.yaml:3: daemon\.ha-groups: web=192\.168\.8\.10: 192\.168\.8\.10 is a fixed --addr/);
    assert.deepEqual(r.dp.link.groupNames, ['default', 'web', 'api']);
    // Dropped from the file: no groups.
    writeFileSync(file, text(''));
    assert.deepEqual(cm.reload(false), ['set ha-groups web=192.168.8.200 api=192.168.8.201 -> (none)']);
    assert.deepEqual(r.dp.link.groupNames, ['default']);
    // Given on uvsd's command line: the file's are checked but not applied.
    const cli = { ...opts, haGroup: [{ name: 'web', addrs: [parseIp('192.168.8.200')] }], fromCli: new Set(['haGroup']) } as typeof opts;
    const cliFile = parseConfig(text('  ha-groups: [db=192.168.8.202]\n'), file);
    assert.deepEqual(daemonReload(cli, settingsOf(cli), cliFile, r.dp.defense, { setDefense: () => {}, warn: () => {} }).changes, []);
  });
});

/** A config file holding BASE in a scratch directory, and a ConfigManager on a fresh rig reading it (removed after). */
async function withBaseFile(prefix: string, fn: (file: string, r: ReturnType<typeof rig>, cm: ConfigManager) => void): Promise<void> {
  const { mkdtempSync, rmSync, writeFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const dir = mkdtempSync(join(tmpdir(), prefix));
  try {
    const file = join(dir, 'u.yaml');
    writeFileSync(file, BASE);
    const r = rig({ addrs: ['192.168.8.10/24'] });
    const cm = new ConfigManager(r.ctl, file, { drainTimeout: 0 });
    r.ctl.config = cm;
    fn(file, r, cm);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('a reload of a file without a "services" key (emptied, cut, comments only) is refused while services run; "services: []" deletes them', async () => {
  await withBaseFile('uvs-cfg-empty-', (file, r, cm) => {
    cm.reload(false);
    const table = formatRules(r.ctl.list(), N);
    assert.equal(r.ctl.list().services.length, 2);
    for (const text of ['', '# uvsd config\n', 'daemon:\n  drain-timeout: 0\n', 'timeouts: { tcp: 900, tcpfin: 120, udp: 300 }\n']) {
      writeFileSync(file, text);
      assert.throws(() => cm.reloadReport(false), (e: UvsError) => e.code === 'BAD_CONFIG' &&
        e.message === `${file}: no "services" key: the reload would delete all 2 services (write "services: []" to mean that)`, JSON.stringify(text));
      assert.equal(formatRules(r.ctl.list(), N), table, `unchanged after ${JSON.stringify(text)}`);
    }
    writeFileSync(file, 'services: []\n');
    assert.deepEqual(cm.reloadReport(false).changes, ['delete service TCP 192.168.8.200:80', 'delete service UDP 192.168.8.200:53']);
    assert.equal(r.ctl.list().services.length, 0);
    // With nothing running, a file without services loads (daemon settings only).
    writeFileSync(file, 'daemon:\n  drain-timeout: 0\n');
    assert.deepEqual(cm.reloadReport(false).changes, []);
  });
});

test('TUN servers\' tunnels in the file (tun-type, tun-port, tun-csum): loaded, changed by a reload (and back to ipip when the file drops them), dumped and read back; refused on other methods', () => {
  const text = (rs20: string) => `services:
  - proto: tcp
    address: 192.168.8.200
    port: 80
    scheduler: rr
    servers:
      - { address: 192.168.8.20, method: tun${rs20} }
      - { address: 192.168.8.21, method: tun, tun-type: gre, tun-csum: csum }
      - { address: 192.168.8.22, method: tun }
`;
  const { r, cm } = mk();
  cm.apply(parseConfig(text(', tun-type: gue, tun-port: 6080'), 'f.yaml'), false);
  const rules = () => formatRules(r.ctl.list(), N).split('\n').filter((l) => l.startsWith('-a'));
  assert.deepEqual(rules(), [
    '-a -t 192.168.8.200:80 -r 192.168.8.20:80 -i -w 1 --tun-type gue --tun-port 6080 --tun-nocsum',
    '-a -t 192.168.8.200:80 -r 192.168.8.21:80 -i -w 1 --tun-type gre --tun-csum',
    '-a -t 192.168.8.200:80 -r 192.168.8.22:80 -i -w 1 --tun-type ipip',
  ]);
  assert.deepEqual(cm.apply(parseConfig(text(', tun-type: gue, tun-port: 6081, tun-csum: remcsum'), 'f.yaml'), false),
    ['edit server TCP 192.168.8.200:80 -> 192.168.8.20:80: tunnel gue:6080:-c -> gue:6081:r+c']);
  assert.deepEqual(cm.apply(parseConfig(text(''), 'f.yaml'), false), ['edit server TCP 192.168.8.200:80 -> 192.168.8.20:80: tunnel gue:6081:r+c -> ipip']);
  cm.apply(parseConfig(text(', tun-type: gue, tun-port: 6080'), 'f.yaml'), false);
  const dumped = cm.dump();
  assert.match(dumped, /tun-type: gue\n\s+tun-port: 6080\n/);
  const b = mk();
  b.cm.apply(parseConfig(dumped, 'd.yaml'), false);
  assert.equal(formatRules(b.r.ctl.list(), N), formatRules(r.ctl.list(), N));
  assert.equal(configError(() => parseConfig(text(', tun-type: gue, tun-port: 6080').replace('method: tun, tun-type: gre', 'method: dr, tun-type: gre'), 'f.yaml')),
    'f.yaml:8: services[0].servers[1].tun-type: tunnel options are for method tun servers, this one is dr');
  assert.equal(configError(() => parseConfig(text(', tun-type: vxlan'), 'f.yaml')), 'f.yaml:7: services[0].servers[0].tun-type: must be one of ipip, gue, gre, got "vxlan"');
  // The combination is the control verbs' to check, with the line: a gue tunnel without its port.
  assert.throws(() => cm.apply(parseConfig(text(', tun-type: gue'), 'f.yaml'), false), /f\.yaml:7: .*Invalid tunnel options: a gue tunnel needs its UDP port \(--tun-port\)/);
});

test('the tunnel verbs refuse what ipvsadm would not send: options on a non-TUN server, gue without a port, a port or remcsum on gre, a checksum on ipip; nothing changes', () => {
  const r = rig({ addrs: ['192.168.8.10/24'] });
  const svc = { proto: 'tcp', addr: '192.168.8.200', port: 80 } as const;
  r.ctl.addService({ ...svc, sched: 'rr' });
  const before = formatRules(r.ctl.list(), N);
  const bad: Array<[object, RegExp]> = [
    [{ fwd: 'dr', tunType: 'gre' }, /tunnel options for a dr server/],
    [{ fwd: 'tun', tunType: 'gue' }, /a gue tunnel needs its UDP port/],
    [{ fwd: 'tun', tunType: 'gre', tunPort: 6080 }, /tunnel port 6080 with the gre tunnel type/],
    [{ fwd: 'tun', tunType: 'gre', tunCsum: 'remcsum' }, /--tun-remcsum with the gre tunnel type/],
    [{ fwd: 'tun', tunCsum: 'csum' }, /--tun-csum with the ipip tunnel type/],
    [{ fwd: 'tun', tunType: 'vxlan' }, /tunnel type "vxlan"/],
    [{ fwd: 'tun', tunType: 'gue', tunPort: 70000 }, /tunnel port 70000 \(1\.\.65535\)/],
  ];
  for (const [over, want] of bad) {
    assert.throws(() => r.ctl.call('addDest', { service: svc, addr: '192.168.8.20', port: 80, weight: 1, ...over }), (e: UvsError) => e.code === 'BAD_TUNNEL' && want.test(e.detail ?? ''), JSON.stringify(over));
  }
  assert.equal(formatRules(r.ctl.list(), N), before);
  // -e keeps what it leaves out; a method that is not TUN drops the tunnel.
  r.ctl.call('addDest', { service: svc, addr: '192.168.8.20', port: 80, fwd: 'tun', weight: 1, tunType: 'gue', tunPort: 6080, tunCsum: 'csum' });
  r.ctl.call('editDest', { service: svc, addr: '192.168.8.20', port: 80, weight: 3 });
  assert.match(formatRules(r.ctl.list(), N), /-i -w 3 --tun-type gue --tun-port 6080 --tun-csum\n/);
  r.ctl.call('editDest', { service: svc, addr: '192.168.8.20', port: 80, fwd: 'dr' });
  r.ctl.call('editDest', { service: svc, addr: '192.168.8.20', port: 80, fwd: 'tun' });
  assert.match(formatRules(r.ctl.list(), N), /-i -w 3 --tun-type ipip\n/);
});

test('a service, a server of one service, a local address or a mark rule listed twice is refused when the file is read, at the second copy naming the first\'s line: a reload no longer keeps the last copy of a file the next start refuses', async () => {
  await withBaseFile('uvs-cfg-dup-', (file, r, cm) => {
    cm.reload(false);
    const table = formatRules(r.ctl.list(), N);
    // The service the table has, again with another scheduler: the reload's difference (keyed by
    // service) took the last copy; a start adds both and refuses the second.
    writeFileSync(file, `${BASE}  - { proto: tcp, address: 192.168.8.200, port: 80, scheduler: rr }\n`);
    assert.equal(configError(() => cm.reloadReport(false)), `${file}:23: services[2]: service TCP 192.168.8.200:80 is already at line 8 (list it once)`);
    assert.equal(formatRules(r.ctl.list(), N), table);
  });
  const marks = 'marks:\n  - { fwmark: 1, proto: tcp, address: 192.168.8.201, ports: 443 }\n  - { fwmark: 1, proto: tcp, address: 192.168.8.201, ports: "443" }\nservices:\n';
  const cases: Array<[string, string]> = [
    [BASE.replace('192.168.8.21, weight: 1', '192.168.8.20, weight: 1'), 'f.yaml:14: services[0].servers[1]: server 192.168.8.20:80 is already at line 13 (list it once)'],
    // A DR server takes the service's port: another port given is the same server.
    [BASE.replace('192.168.8.21, weight: 1', '192.168.8.20, port: 8080'), 'f.yaml:14: services[0].servers[1]: server 192.168.8.20:80 is already at line 13 (list it once)'],
    [BASE.replace('    scheduler: wrr\n', '    scheduler: wrr\n    local-addresses:\n      - 192.168.8.50\n      - 192.168.8.50\n'),
      'f.yaml:14: services[0].local-addresses[1]: local address 192.168.8.50 is already at line 13 (list it once)'],
    [BASE.replace('services:\n', marks), 'f.yaml:9: marks[1]: mark 1 TCP 192.168.8.201:443 is already at line 8 (list it once)'],
    [`${BASE}  - { fwmark: 7 }\n  - { fwmark: 7, scheduler: rr }\n`, 'f.yaml:24: services[3]: service FWM 7 is already at line 23 (list it once)'],
  ];
  for (const [text, want] of cases) assert.equal(configError(() => parseConfig(text, 'f.yaml')), want);
});

test('daemon.sync: the sync daemons uvsd starts with, in uvsadm --start-daemon\'s terms: FILE:LINE errors, the key file and interface checked as at start, started, dumped back as read; a reload reports a change as ignored', async () => {
  const { mkdtempSync, rmSync, writeFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { combinationProblem, checkDaemonReload, fileOptions, settingsOf } = await import('../src/cli/settings.js');
  const { startSyncDaemons, syncWhere } = await import('../src/control/syncconf.js');
  type Opts = Parameters<typeof combinationProblem>[0];
  const dir = mkdtempSync(join(tmpdir(), 'uvs-cfg-sync-'));
  const key = join(dir, 'sync.key');
  writeFileSync(key, 'shared-secret-of-the-pair\n', { mode: 0o600 });
  const port = 20000 + Math.floor(Math.random() * 20000);
  const text = (d: string) => `daemon:\n  addresses: [192.168.8.10/24]\n${d}services: []\n`;
  const sync = `  sync:\n    master: { syncid: 7, mcast-interface: lo, sync-peer: 127.0.0.1, sync-key-file: ${key}, mcast-port: ${port}, mcast-ttl: 2 }\n    backup:\n      syncid: 7\n      mcast-interface: lo\n      sync-peer: 127.0.0.1\n      sync-key-file: ${key}\n      mcast-port: ${port}\n`;
  const opts = (c: ReturnType<typeof parseConfig>): Opts => ({ ...fileOptions(c.daemon), file: c } as unknown as Opts);
  const r = rig({ addrs: ['192.168.8.10/24'] });
  try {
    const cfg = parseConfig(text(sync), 'u.yaml');
    assert.deepEqual(cfg.daemon.sync, {
      master: { syncid: 7, mcastInterface: 'lo', syncPeer: '127.0.0.1', keyFile: key, port, ttl: 2 },
      backup: { syncid: 7, mcastInterface: 'lo', syncPeer: '127.0.0.1', keyFile: key, port },
    });
    assert.deepEqual(cfg.syncLines, { master: 4, backup: 6 });
    assert.equal(combinationProblem(opts(cfg), () => false), undefined);
    for (const [d, msg] of [
      ['  sync:\n    backup: { syncid: 1 }\n', 'u.yaml:4: daemon.sync.backup.sync-key-file: missing (the shared secret\'s file: sync is always authenticated)'],
      ['  sync:\n    backup: { sync-key-file: /k, syncid: 300 }\n', 'u.yaml:4: daemon.sync.backup.syncid: must be an integer 0..255, got 300'],
      ['  sync:\n    backup: { sync-key-file: /k, mcast-ttl: 0 }\n', 'u.yaml:4: daemon.sync.backup.mcast-ttl: must be an integer 1..255, got 0'],
      ['  sync:\n    backup: { sync-key-file: /k, interface: eth0 }\n', 'u.yaml:4: daemon.sync.backup.interface: unknown field (known: syncid, mcast-interface, sync-peer, sync-key-file, sync-maxlen, mcast-group, mcast-port, mcast-ttl)'],
      ['  sync:\n    primary: {}\n', 'u.yaml:4: daemon.sync.primary: unknown field (known: master, backup)'],
    ] as const) {
      assert.equal(configError(() => parseConfig(text(d), 'u.yaml')), msg);
    }
    // What needs the host, as uvsadm --start-daemon checks it: refused at start (and by a reload) with the daemon's line.
    for (const [d, msg] of [
      [`  sync:\n    master: { sync-key-file: ${key}, sync-peer: 127.0.0.1 }\n    backup: { sync-key-file: ${join(dir, 'nope')}, sync-peer: 127.0.0.1 }\n`, `u.yaml:5: daemon.sync.backup: sync-key-file ${join(dir, 'nope')}: ENOENT`],
      [`  sync:\n    backup: { sync-key-file: ${key}, mcast-interface: nosuch0 }\n`, 'u.yaml:4: daemon.sync.backup: mcast-interface "nosuch0" does not exist or has no IPv4 address'],
      [`  sync:\n    backup: { sync-key-file: ${key}, sync-peer: 127.0.0.1, mcast-group: 10.1.1.1 }\n`, 'u.yaml:4: daemon.sync.backup: mcast-group "10.1.1.1" is not a multicast address'],
    ] as const) {
      assert.equal(combinationProblem(opts(parseConfig(text(d), 'u.yaml')), () => false), msg);
    }
    // A start with the key starts both daemons; the dump writes them back as read.
    const cm = new ConfigManager(r.ctl, undefined, settingsOf(opts(cfg)));
    await startSyncDaemons(r.ctl, cfg.daemon.sync!, (s) => syncWhere(cfg, s));
    assert.deepEqual([r.ctl.sync.running('master'), r.ctl.sync.running('backup')], [true, true]);
    const dumped = cm.dump();
    assert.match(dumped, /^ {2}sync:\n {4}master:\n {6}syncid: 7\n {6}mcast-interface: lo\n {6}sync-peer: 127\.0\.0\.1\n/m);
    assert.deepEqual(parseConfig(dumped, 'dump.yaml').daemon.sync, cfg.daemon.sync);
    // A daemon that cannot start says where it came from.
    r.ctl.call('stopDaemon', { state: 'backup' });
    await assert.rejects(startSyncDaemons(r.ctl, { master: { keyFile: key, syncPeer: '127.0.0.1', port } }, (s) => syncWhere(cfg, s)),
      /^Error: u\.yaml:4: daemon\.sync\.master: Daemon has already run: master$/);
    // A reload: a changed daemon.sync is read at start only; uvsadm changes the running daemons.
    const changed = parseConfig(text(sync.replace('mcast-ttl: 2', 'mcast-ttl: 3')), 'u.yaml');
    const o = { ...opts(cfg), fromCli: new Set<string>(), defaults: {} } as unknown as Opts;
    const { ignored } = checkDaemonReload(o, settingsOf(opts(cfg)), changed);
    assert.equal(ignored.length, 1);
    // As the file spells it (mcast-ttl, sync-key-file: before 2026-12-07 the verb's ttl, keyFile), and what uvsd started with.
    assert.match(ignored[0]!, /^ignored daemon\.sync at start \{.*"mcast-ttl":2.*\} -> \{.*"mcast-ttl":3.*\}: read at start only \(uvsadm --stop-daemon \/ --start-daemon change the running daemons\)$/);
    assert.match(ignored[0]!, /"sync-key-file":/);
    assert.doesNotMatch(ignored[0]!, /"keyFile"|"ttl"/);
  } finally {
    r.ctl.sync.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('reload: a dryRun that is not true or false is refused, naming it, and the file is not applied', async () => {
  await withBaseFile('uvs-cfg-dry-', (_file, r) => {
    for (const dryRun of ['yes', 'true', 1]) {
      assert.throws(() => r.ctl.call('reload', { dryRun }), (e: UvsError) => e.code === 'BAD_REQUEST' &&
        e.detail === `dryRun must be true or false, got ${JSON.stringify(dryRun)}`, JSON.stringify(dryRun));
      assert.equal(r.ctl.list().services.length, 0, `nothing applied with dryRun ${JSON.stringify(dryRun)}`);
    }
    assert.ok((r.ctl.call('reload', { dryRun: true }) as { changes: string[] }).changes.length > 0);
    assert.equal(r.ctl.list().services.length, 0);
    r.ctl.call('reload', {});
    assert.equal(r.ctl.list().services.length, 2);
  });
});

test('a --config file that does not end with a newline (read while being written in place: cut in a value, services missing) is refused by a reload with its last line and how to write it, nothing read from it (before 2026-12-07 a reload applied what it got); a start takes it with that line as a warning', () => {
  const dir = mkdtempSync(join(tmpdir(), 'uvs-cut-'));
  try {
    const file = join(dir, 'uvsd.yaml');
    const cut = BASE.slice(0, BASE.indexOf('port: 80') + 'port: 8'.length);
    writeFileSync(file, cut);
    assert.throws(() => readConfig(file), (e: Error) => e.message === `${file}:${cut.split('\n').length}: file: does not end with a newline: cut off while being written? (write the new file beside it and rename it over; by hand: end it with a newline)`);
    // At start (nothing running to keep) it is taken, with the same line as a warning.
    const atStart = readConfig(file, { atStart: true });
    assert.deepEqual(atStart.warnings, [`${file}:${cut.split('\n').length}: file: does not end with a newline: cut off while being written? (write the new file beside it and rename it over; by hand: end it with a newline)`]);
    writeFileSync(file, BASE);
    assert.equal(readConfig(file).services.length, parseConfig(BASE, file).services.length, 'the whole file reads');
    assert.equal(readConfig(file, { atStart: true }).warnings?.length ?? 0, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
