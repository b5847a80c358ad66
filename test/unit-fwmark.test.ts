// test-class: shared
// Firewall-mark services (ipvsadm -f) and uvsd's mark rules (uvsadm --add-mark, docs/fwmark.md),
// on the datapath without a network (unit rig): which service a new flow reaches, shared
// persistence across ports and addresses, a server's port under NAT, the refusals, the listings
// (-L, -S, -Lc) and the command line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tcpFrame, TCP_FLAGS, udpFrame } from './helpers/frames.js';
import { DIR_MAC, ROUTER_MAC, RS, VIP, rig, type Rig } from './helpers/harness.js';
import { formatConns, formatList, formatMarks, formatRules } from '../src/control/printers.js';
import { parseArgs, parseRules, UsageError } from '../src/control/ipvsadm.js';
import { parseTraceArgs } from '../src/cli/trace.js';
import { UvsError } from '../src/control/errors.js';
import type { ListResult, MarkSpec, TracePollResult } from '../src/control/protocol.js';
import { parseConfig } from '../src/control/config.js';
import { configRig } from './helpers/config-rig.js';
import { configError } from './helpers/config-error.js';
import { REC_LEN } from '../src/datapath/syncrec.js';
import { F_TEMPLATE } from '../src/datapath/conntable.js';
import { wantedVips } from '../src/bgp/bird.js';
import { parseExposition } from './helpers/prom.js';
import { createMetrics } from '../src/metrics/collectors.js';
import { formatIp } from '../src/datapath/addr.js';

const IN = { ethDst: DIR_MAC, ethSrc: ROUTER_MAC };
const VIP2 = '10.0.0.101';
const FWM1 = { proto: 'tcp' as const, addr: '0.0.0.0', port: 0, fwmark: 1 };
const N = { numeric: true };

function mark(r: Rig, m: MarkSpec): void {
  r.ctl.call('addMark', m);
}

/** Which RS a forwarded frame went to (by destination MAC) and its destination port; -1 if none went out. */
function sent(out: Buffer[]): { rs: number; dport: number } {
  if (out.length !== 1) return { rs: -1, dport: -1 };
  const f = out[0]!;
  const m = [...f.subarray(0, 6)].map((b) => b.toString(16).padStart(2, '0')).join(':');
  const ihl = (f[14]! & 15) * 4;
  return { rs: RS.findIndex((s) => s.mac === m), dport: f.readUInt16BE(14 + ihl + 2) };
}
const syn = (r: Rig, src: string, sport: number, dst: string, dport: number) =>
  sent(r.run(tcpFrame(IN, { src, dst, sport, dport, flags: TCP_FLAGS.SYN })));
const dgram = (r: Rig, src: string, sport: number, dst: string, dport: number) =>
  sent(r.run(udpFrame(IN, { src, dst, sport, dport, payload: new Uint8Array(4) })));

/** Marks 1 on TCP VIP:80 and VIP:443 and UDP VIP2 (every port); service -f 1 over RS 0 and 1. */
function fwmRig(o: { persist?: number; fwd?: 'dr' | 'nat'; ports?: number[] } = {}): Rig {
  const r = rig();
  mark(r, { fwmark: 1, proto: 'tcp', addr: VIP, portMin: 80 });
  mark(r, { fwmark: 1, proto: 'tcp', addr: VIP, portMin: 443 });
  mark(r, { fwmark: 1, proto: 'udp', addr: VIP2 });
  r.ctl.addService({ ...FWM1, sched: 'rr', persist: o.persist ?? 0 });
  for (let i = 0; i < 2; i++) r.ctl.addDest({ service: FWM1, addr: RS[i].ip, port: o.ports?.[i] ?? 0, fwd: o.fwd ?? 'dr' });
  for (let i = 0; i < 3; i++) r.learn(RS[i].ip, RS[i].mac);
  r.sink.take();
  return r;
}

test('fwmark: marked flows of several ports and addresses reach the -f service; with -p a client keeps one server across them (one IPPROTO_IP template)', () => {
  const plain = fwmRig();
  // rr over every marked flow, whatever its port, address or protocol.
  assert.deepEqual([
    syn(plain, '192.0.2.10', 1001, VIP, 80).rs, syn(plain, '192.0.2.10', 1002, VIP, 443).rs,
    dgram(plain, '192.0.2.10', 1003, VIP2, 5353).rs, syn(plain, '192.0.2.10', 1004, VIP, 80).rs,
  ], [0, 1, 0, 1]);
  // An unmarked port of the same address has no service.
  assert.equal(syn(plain, '192.0.2.10', 1005, VIP, 8080).rs, -1);
  // BGP (docs/scale-out.md) announces the marked addresses of a -f service with a server up, never the mark.
  assert.deepEqual(wantedVips(plain.ctl.model, { draining: false, holds: (v) => plain.dp.link.held(v) }).map(formatIp), [VIP, VIP2]);
  for (const s of RS.slice(0, 2)) plain.ctl.editDest({ service: FWM1, addr: s.ip, port: 0, fwd: 'dr', weight: 0 });
  assert.deepEqual(wantedVips(plain.ctl.model, { draining: false, holds: (v) => plain.dp.link.held(v) }), []);

  const r = fwmRig({ persist: 300 });
  const first = syn(r, '192.0.2.10', 1001, VIP, 80).rs;
  assert.ok(first >= 0);
  assert.equal(syn(r, '192.0.2.10', 1002, VIP, 443).rs, first, 'https follows http (the point of -f with -p)');
  assert.equal(dgram(r, '192.0.2.10', 1003, VIP2, 5353).rs, first, 'and so does another marked address');
  assert.equal(syn(r, '192.0.2.11', 1004, VIP, 443).rs, 1 - first, 'another client is scheduled');
  const tpl = r.ctl.connections().filter((c) => c.template === true);
  assert.deepEqual(tpl.map((c) => [c.proto, c.caddr, c.vaddr, c.vport]).sort(), [['ip', '192.0.2.10', '0.0.0.1', 0], ['ip', '192.0.2.11', '0.0.0.1', 0]]);
  // -Lnc shows them as the kernel does: IP, the mark as the virtual address.
  assert.match(formatConns(tpl, N), /\nIP +\d\d:\d\d +NONE +192\.0\.2\.10:0 +0\.0\.0\.1:0 +10\.0\.0\.1[12]:0\n/);
  // -Lc (names): hosts are named on these rows too (print_conn names every row), the port stays a number.
  const named = formatConns(tpl, { numeric: false, hosts: (a) => (a === '192.0.2.10' ? 'client1' : undefined), ports: { name: () => 'http', port: () => undefined } });
  assert.match(named, /\nIP +\d\d:\d\d +NONE +client1:0 +0\.0\.0\.1:0 +10\.0\.0\.1[12]:0\n/);
  assert.deepEqual(r.ctl.list().services[0]!.dests.map((d) => d.persistConns).reduce((a, b) => a + b), 2);
});

test('fwmark: a mark goes before the -t service of the same VIP:port (ip_vs_service_find); without its -f service the -t service takes the flow', () => {
  const r = fwmRig();
  const T80 = { proto: 'tcp' as const, addr: VIP, port: 80 };
  r.ctl.addService({ ...T80, sched: 'rr' });
  r.ctl.addDest({ service: T80, addr: RS[2].ip, port: 80, fwd: 'dr' });
  r.learn(RS[2].ip, RS[2].mac);
  r.sink.take();
  assert.equal(syn(r, '192.0.2.10', 1001, VIP, 80).rs, 0);
  r.ctl.deleteService(FWM1);
  assert.equal(syn(r, '192.0.2.10', 1002, VIP, 80).rs, 2);
  // Nor does a mark without its service make a flow to another port local to a service.
  assert.equal(syn(r, '192.0.2.10', 1003, VIP, 443).rs, -1);
});

test('fwmark: a NAT server with a port takes every marked port there; one without (port 0) keeps each packet\'s port', () => {
  const r = fwmRig({ fwd: 'nat', ports: [8080, 0] });
  assert.deepEqual(syn(r, '192.0.2.10', 1001, VIP, 443), { rs: 0, dport: 8080 });
  assert.deepEqual(syn(r, '192.0.2.10', 1002, VIP, 443), { rs: 1, dport: 443 });
  assert.deepEqual(syn(r, '192.0.2.10', 1003, VIP, 80), { rs: 0, dport: 8080 });
  assert.deepEqual(syn(r, '192.0.2.10', 1004, VIP, 80), { rs: 1, dport: 80 });
});

test('fwmark: with -p a NAT server with a port keeps each packet\'s port (ip_vs_sched_persist: svc->port is 0)', () => {
  const r = fwmRig({ fwd: 'nat', ports: [8080, 0], persist: 300 });
  assert.deepEqual(syn(r, '192.0.2.10', 1001, VIP, 443), { rs: 0, dport: 443 });
  assert.deepEqual(syn(r, '192.0.2.10', 1002, VIP, 80), { rs: 0, dport: 80 }, 'through its template');
  const x = r.ctl.call('explain', { service: { proto: 'tcp', addr: VIP, port: 443 }, client: '192.0.2.10' }) as { dest: { addr: string; port: number } | null };
  assert.deepEqual(x.dest, { addr: RS[0].ip, port: 443 }, '--explain names that port too');
  assert.deepEqual(syn(r, '192.0.2.20', 1003, VIP, 80), { rs: 1, dport: 80 });
});

test('fwmark: with -p, --explain\'s why and uvsadm trace name a NAT server with a port by the port the connection keeps (443), as it goes, not the server\'s 8080', () => {
  const r = fwmRig({ fwd: 'nat', ports: [8080, 0], persist: 300 });
  const why = () => (r.ctl.call('explain', { service: { proto: 'tcp', addr: VIP, port: 443 }, client: '192.0.2.10' }) as { why: string }).why;
  assert.match(why(), /rr: next available after the list head → 10\.0\.0\.11:443$/);
  const { session } = r.ctl.call('traceStart', {}) as { session: number };
  assert.deepEqual(syn(r, '192.0.2.10', 1001, VIP, 443), { rs: 0, dport: 443 });
  assert.deepEqual(syn(r, '192.0.2.10', 1002, VIP, 80), { rs: 0, dport: 80 });
  const p = r.ctl.call('tracePoll', { session }) as TracePollResult;
  assert.deepEqual(p.events.map((e) => [e.server, e.why.replace(/^.*; /, '')]), [
    [`${RS[0].ip}:443`, 'rr: next available after the list head → 10.0.0.11:443'],
    [`${RS[0].ip}:80`, 'persistence: template 192.0.2.10/255.255.255.255 -> 10.0.0.11:80 hit, 1 connection(s), expires in 300 s'],
  ]);
  assert.match(why(), /-> 10\.0\.0\.11:443 hit/);
  // Without -p the server's port is where every marked flow goes, and both say so.
  r.ctl.editService({ ...FWM1, sched: 'rr', persist: 0 });
  assert.match(why(), /→ 10\.0\.0\.1[12]:(8080|443)$/);
  const d = syn(r, '192.0.2.30', 1003, VIP, 443);
  const q = r.ctl.call('tracePoll', { session }) as TracePollResult;
  assert.equal(q.events.at(-1)!.server, `${RS[d.rs].ip}:${d.dport}`);
});

test('fwmark: marks and -f services through the verbs: refusals change nothing; -L, -S and --get-marks print them; -S, -C (which keeps the marks), -R gives the same table', () => {
  const r = fwmRig({ persist: 60 });
  const before = JSON.stringify(r.ctl.list());
  const refused = (verb: string, args: unknown, code: string, text: RegExp): void => {
    assert.throws(() => r.ctl.call(verb, args), (e: unknown) => e instanceof UvsError && e.code === code && text.test(e.message), `${verb} ${JSON.stringify(args)}`);
  };
  refused('addMark', { fwmark: 2, proto: 'tcp', addr: VIP, portMin: 400, portMax: 500 }, 'MARK_OVERLAP', /mark 2 TCP 10\.0\.0\.100:400-500 overlaps mark 1 TCP 10\.0\.0\.100:443/);
  refused('addMark', { fwmark: 2, proto: 'udp', addr: VIP2, portMin: 53 }, 'MARK_OVERLAP', /overlaps mark 1 UDP 10\.0\.0\.101$/);
  refused('addMark', { fwmark: 0, proto: 'tcp', addr: VIP, portMin: 22 }, 'BAD_FWMARK', /firewall mark 0/);
  refused('addMark', { fwmark: 2, proto: 'tcp', addr: RS[0].ip, portMin: 22 }, 'ADDRESS_CONFLICT', /marked address 10\.0\.0\.11 is a real server/);
  refused('addMark', { fwmark: 2, proto: 'tcp', addr: '224.0.0.1' }, 'NOT_UNICAST', /224\.0\.0\.1/);
  refused('addMark', { fwmark: 2, proto: 'tcp', addr: VIP, portMin: 90, portMax: 80 }, 'BAD_PORT', /90-80/);
  refused('delMark', { fwmark: 1, proto: 'tcp', addr: VIP, portMin: 81 }, 'MARK_NOT_FOUND', /mark 1 TCP 10\.0\.0\.100:81/);
  refused('addService', { ...FWM1, sched: 'rr' }, 'SERVICE_EXISTS', /FWM 1/);
  refused('addDest', { service: FWM1, addr: VIP, port: 0 }, 'ADDRESS_CONFLICT', /real server 10\.0\.0\.100 is a virtual address \(mark 1\)/);
  refused('addService', { ...FWM1, fwmark: 2, synproxy: true }, 'SYNPROXY_NOT_TCP', /FWM 2/);
  refused('explain', { service: FWM1, client: '192.0.2.10' }, 'BAD_REQUEST', /name the address and port a client connects to with -t or -u \(e\.g\. -t 10\.0\.0\.100:80, marked 1\)/);
  assert.equal(JSON.stringify(r.ctl.list()), before, 'nothing changed');
  // A -f service needs no persistence for its port 0, and may be -o.
  r.ctl.addService({ ...FWM1, fwmark: 7, sched: 'wlc', oneShot: true });
  const list: ListResult = r.ctl.list();
  assert.equal(formatList(list, N).split('\n').slice(3).join('\n'), [
    'FWM  1 rr persistent 60',
    '  -> 10.0.0.11:0                  Route   1      0          0         ',
    '  -> 10.0.0.12:0                  Route   1      0          0         ',
    'FWM  7 wlc ops',
    '',
  ].join('\n'));
  const save = formatRules(list, N);
  assert.equal(save, [
    '--add-mark -f 1 -t 10.0.0.100:80',
    '--add-mark -f 1 -t 10.0.0.100:443',
    '--add-mark -f 1 -u 10.0.0.101',
    '-A -f 1 -s rr -p 60',
    '-a -f 1 -r 10.0.0.11:0 -g -w 1',
    '-a -f 1 -r 10.0.0.12:0 -g -w 1',
    '-A -f 7 -s wlc -o',
    '',
  ].join('\n'));
  assert.equal(formatMarks(list.marks!), 'Mark       Prot LocalAddress:Ports\n1          TCP  10.0.0.100:80\n1          TCP  10.0.0.100:443\n1          UDP  10.0.0.101\n');
  // -S, -C, -R gives the same table back (marks before the services that use them): -C keeps
  // the marks, as ipvsadm -C keeps iptables rules, and an --add-mark of the same rule is a no-op.
  r.ctl.clear();
  assert.deepEqual(r.ctl.list().marks, list.marks);
  r.ctl.call('batch', { items: parseRules(save).calls });
  assert.equal(formatRules(r.ctl.list(), N), save);
  // Into a table without the marks too.
  r.ctl.clear();
  for (const k of list.marks!) r.ctl.call('delMark', k);
  assert.deepEqual(r.ctl.list().marks, []);
  r.ctl.call('batch', { items: parseRules(save).calls });
  assert.equal(formatRules(r.ctl.list(), N), save);
  // The same ports under another mark still overlap.
  refused('addMark', { fwmark: 2, proto: 'tcp', addr: VIP, portMin: 80 }, 'MARK_OVERLAP', /mark 2 TCP 10\.0\.0\.100:80 overlaps mark 1 TCP 10\.0\.0\.100:80$/);
  // Deleting the marks takes the addresses away with the rules (nothing else holds them).
  for (const k of r.ctl.list().marks!) r.ctl.call('delMark', k);
  assert.equal(r.dp.isLocal(0x0a000064), false);
});

test('fwmark metrics: node_exporter\'s labels for a -f backend (no address, port 0, proto FWM, the mark as /proc/net/ip_vs prints it), uvs\'s proto fwm and service fwmark:N', async () => {
  const r = fwmRig();
  r.ctl.addService({ ...FWM1, fwmark: 0x8000000a, sched: 'rr' });
  r.ctl.addDest({ service: { ...FWM1, fwmark: 0x8000000a }, addr: RS[2].ip, port: 0, fwd: 'dr', weight: 5 });
  syn(r, '192.0.2.10', 1001, VIP, 80);
  const ex = parseExposition(await createMetrics(r.dp, { process: false }).text());
  const backend = (mark: string, rip: string) => ({ local_address: '', local_port: '0', remote_address: rip, remote_port: '0', proto: 'FWM', local_mark: mark });
  assert.equal(ex.get('node_ipvs_backend_weight', backend('00000001', RS[0].ip)), 1);
  assert.equal(ex.get('node_ipvs_backend_weight', backend('8000000A', RS[2].ip)), 5);
  assert.equal(ex.get('uvs_service_connections_total', { proto: 'fwm', service: 'fwmark:1' }), 1);
  assert.equal(ex.get('uvs_service_destinations', { proto: 'fwm', service: 'fwmark:2147483658' }), 1);
});

test('fwmark command line: -f names a service anywhere -t/-u does; --add-mark/--del-mark take -f and -t|-u VIP[:PORT[-PORT]]; ipvsadm\'s checks and words', () => {
  const call = (...a: string[]) => {
    const c = parseArgs(a, { env: {} });
    assert.equal(c.kind, 'call');
    return (c as { call: unknown }).call;
  };
  assert.deepEqual(call('-A', '-f', '1', '-s', 'rr'), { verb: 'addService', args: { ...FWM1, sched: 'rr', flags: [], persist: 0, netmask: '255.255.255.255', oneShot: false, pe: '', synproxy: false } });
  assert.deepEqual(call('-a', '-f', '1', '-r', '10.0.0.11:80', '-g'), { verb: 'addDest', args: { service: FWM1, addr: '10.0.0.11', port: 80, fwd: 'dr', weight: 1, upper: 0, lower: 0 } });
  assert.deepEqual(call('-e', '-f', '1', '-r', '10.0.0.11', '-m', '-w', '3'), { verb: 'editDest', args: { service: FWM1, addr: '10.0.0.11', port: 0, fwd: 'nat', weight: 3, upper: 0, lower: 0 } });
  assert.deepEqual(call('-D', '-f', '4294967295'), { verb: 'deleteService', args: { ...FWM1, fwmark: 4294967295 } });
  assert.deepEqual(call('--add-mark', '-f', '1', '-t', '10.0.0.100:80-90'), { verb: 'addMark', args: { fwmark: 1, proto: 'tcp', addr: '10.0.0.100', portMin: 80, portMax: 90 } });
  assert.deepEqual(call('--del-mark', '-f', '2', '-u', '10.0.0.100'), { verb: 'delMark', args: { fwmark: 2, proto: 'udp', addr: '10.0.0.100', portMin: 0, portMax: 65535 } });
  assert.deepEqual(parseArgs(['-L', '-n', '-f', '1'], { env: {} }), { kind: 'list', socket: '/run/uvs/uvsd.sock', numeric: true, format: {}, conns: false, timeout: false, service: FWM1 });
  assert.equal(parseArgs(['--get-marks'], { env: {} }).kind, 'getMarks');
  // Ports by name as -t takes them; a name with a dash is one port, a range ends after the last dash.
  const names = { env: {}, ports: { name: () => undefined, port: (n: string) => ({ http: 80, https: 443, 'http-alt': 8080 } as Record<string, number>)[n] } };
  const target = (t: string) => (parseArgs(['--add-mark', '-f', '1', '-t', t], names) as { call: { args: MarkSpec } }).call.args;
  assert.deepEqual([target('10.0.0.100:http-alt'), target('10.0.0.100:http-https')].map((a) => [a.portMin, a.portMax]), [[8080, 8080], [80, 443]]);
  // uvsadm trace -f: the decisions of one -f service.
  assert.deepEqual(parseTraceArgs(['-f', '7', '--count', '3'], {}).service, { ...FWM1, fwmark: 7 });
  assert.throws(() => parseTraceArgs(['-f', '0'], {}), /trace: invalid fwmark value `0' specified/);
  assert.throws(() => parseTraceArgs(['-f', '1', '-t', '10.0.0.100:80'], {}), /trace: multiple 'service-address' options specified/);
  for (const [argv, msg] of [
    [['-A', '-f', '0'], "invalid fwmark value `0' specified"],
    [['-A', '-f', '4294967296'], "invalid fwmark value `4294967296' specified"],
    [['-A', '-f', 'x1'], "invalid fwmark value `x1' specified"],
    [['-A', '-f', '1', '-t', '10.0.0.100:80'], "multiple 'service-address' options specified"],
    [['--add-mark', '-t', '10.0.0.100:80'], "You need to supply the 'fwmark' option for the 'add-mark' command"],
    [['--add-mark', '-f', '1'], "You need to supply the 'service-address' option for the 'add-mark' command"],
    [['--add-mark', '-f', '1', '-t', '10.0.0.100:90-80'], "illegal marked address `10.0.0.100:90-80' specified (address[:port[-port]])"],
    [['--add-mark', '-f', '1', '-t', '10.0.0.100:0'], "illegal marked address `10.0.0.100:0' specified: port 0 marks no flow; leave the port out to mark every port"],
    [['--add-mark', '-f', '1', '-t', '10.0.0.100:80', '-s', 'rr'], "Illegal 'scheduler' option with the 'add-mark' command"],
    [['--get-marks', '-f', '1'], "Illegal 'service-address' option with the 'get-marks' command"],
  ] as Array<[string[], string]>) {
    assert.throws(() => parseArgs(argv, { env: {} }), (e: unknown) => e instanceof UsageError && e.message === msg && e.exitCode === 2, argv.join(' '));
  }
});

test('fwmark in the config file: marks and fwmark services load, dump and load back the same; a reload changes only the difference; no `marks` key leaves them', () => {
  const conf = (marks: string) => `daemon:
  drain-timeout: 0
${marks}services:
  - fwmark: 1
    scheduler: rr
    persistent: 300
    servers:
      - { address: 192.168.8.20 }
      - { address: 192.168.8.21, port: 8080, method: nat }
  - proto: tcp
    address: 192.168.8.201
    port: 80
    servers:
      - { address: 192.168.8.22 }
`;
  const MARKS = 'marks:\n  - { fwmark: 1, proto: tcp, address: 192.168.8.200, ports: 80 }\n  - { fwmark: 1, proto: tcp, address: 192.168.8.200, ports: "8000-8100" }\n  - { fwmark: 1, proto: udp, address: 192.168.8.202 }\n';
  const { r, cm } = configRig();
  assert.deepEqual(cm.apply(parseConfig(conf(MARKS), 'f.yaml'), false).slice(0, 5), [
    'add mark 1 TCP 192.168.8.200:80', 'add mark 1 TCP 192.168.8.200:8000-8100', 'add mark 1 UDP 192.168.8.202',
    'add service FWM 1 (rr)', 'add server FWM 1 -> 192.168.8.20:0 weight 1',
  ]);
  const save = formatRules(r.ctl.list(), N);
  // Marks first; -f services after the others, as ipvsadm sorts them (ipvs_cmp_services).
  assert.equal(save, [
    '--add-mark -f 1 -t 192.168.8.200:80', '--add-mark -f 1 -t 192.168.8.200:8000-8100', '--add-mark -f 1 -u 192.168.8.202',
    '-A -t 192.168.8.201:80 -s wlc', '-a -t 192.168.8.201:80 -r 192.168.8.22:80 -g -w 1',
    '-A -f 1 -s rr -p 300', '-a -f 1 -r 192.168.8.20:0 -g -w 1', '-a -f 1 -r 192.168.8.21:8080 -m -w 1', '',
  ].join('\n'));
  const dumped = cm.dump();
  assert.match(dumped, /\nmarks:\n {2}- fwmark: 1\n {4}proto: tcp\n {4}address: 192\.168\.8\.200\n {4}ports: 80\n/);
  assert.match(dumped, /\n {2}- fwmark: 1\n {4}scheduler: rr\n/);
  const b = configRig();
  b.cm.apply(parseConfig(dumped, 'dump.yaml'), false);
  assert.equal(formatRules(b.r.ctl.list(), N), save);
  // The same file again changes nothing; one mark less deletes that one only.
  assert.deepEqual(cm.apply(parseConfig(conf(MARKS), 'f.yaml'), true), []);
  assert.deepEqual(cm.apply(parseConfig(conf(MARKS.split('\n').slice(0, 3).join('\n') + '\n'), 'f.yaml'), false), ['delete mark 1 UDP 192.168.8.202']);
  // A file without `marks` leaves them (a keepalived.conf or an older file has none); `marks: []` deletes them.
  assert.deepEqual(cm.apply(parseConfig(conf(''), 'f.yaml'), true), []);
  assert.deepEqual(cm.apply(parseConfig(conf('marks: []\n'), 'f.yaml'), true), ['delete mark 1 TCP 192.168.8.200:80', 'delete mark 1 TCP 192.168.8.200:8000-8100']);
  // Refused with the line: a port range the wrong way, a service with fwmark and an address.
  assert.equal(configError(() => parseConfig(conf('marks:\n  - { fwmark: 1, proto: tcp, address: 192.168.8.200, ports: "90-80" }\n'), 'f.yaml')),
    'f.yaml:4: marks[0].ports: must be a port or a range PORT-PORT (0..65535), got "90-80"');
  assert.equal(configError(() => parseConfig(conf('').replace('  - fwmark: 1\n', '  - fwmark: 1\n    address: 192.168.8.200\n'), 'f.yaml')),
    'f.yaml:5: services[0].address: a service with fwmark has no proto, address or port (its marks say which packets it takes)');
  // Health checks of a -f service: its checked servers by their own address and port.
  assert.equal(parseConfig(conf('').replace('    persistent: 300\n', '    persistent: 300\n    health: { checks: [{ type: tcp }] }\n'), 'f.yaml').services[0]!.health!.fwmark, 1);
});

test('fwmark with connection sync: a backup installs the marked connections and their IPPROTO_IP template, and keeps the client on its server after takeover', () => {
  const m = fwmRig({ persist: 300 });
  const b = fwmRig({ persist: 300 });
  m.dp.apply([{ op: 'syncMarks', on: true }]);
  b.ctl.call('setRole', { role: 'backup' });
  const first = syn(m, '192.0.2.10', 1001, VIP, 80).rs;
  assert.equal(dgram(m, '192.0.2.10', 1002, VIP2, 5353).rs, first);
  const buf = new Uint8Array(REC_LEN * 16);
  const n = m.dp.syncDrain(buf, 0, 16);
  assert.equal(n, 3, 'two connections and their template');
  b.dp.apply([{ op: 'syncInstall', records: buf.slice(0, n * REC_LEN) }]);
  assert.equal(b.counters().sync_refused ?? 0, 0);
  const rows = (r: Rig) => r.ctl.connections().map((c) => `${c.proto} ${c.caddr} ${c.vaddr}:${c.vport} ${c.daddr}`).sort();
  assert.deepEqual(rows(b), rows(m));
  // Each synced connection counts on its template (it is not expired while they live).
  const ct = b.dp.ct;
  const tpls: number[] = [];
  for (let e = 0; e < ct.max; e++) if (ct.isAlive(e) && (ct.flags[e] & F_TEMPLATE) !== 0) tpls.push(e);
  assert.equal(tpls.length, 1);
  assert.equal(ct.ctl[tpls[0]!], 2, 'both marked connections hold the template');
  // The takeover announces the marked addresses (never a mark as an address).
  b.sink.take();
  b.ctl.call('setRole', { role: 'master' });
  const garps = b.sink.take().filter((f) => f.readUInt16BE(12) === 0x0806).map((f) => `${f[38]}.${f[39]}.${f[40]}.${f[41]}`);
  assert.deepEqual([...new Set(garps)].sort(), [VIP, VIP2]);
  b.learn(RS[0].ip, RS[0].mac);
  b.learn(RS[1].ip, RS[1].mac);
  b.sink.take();
  assert.equal(syn(b, '192.0.2.10', 1003, VIP, 443).rs, first, 'the synced template keeps the client on its server');
});

test('fwmark: -Z and -C of a large table (sliced, service by service) take the -f services too', async () => {
  const r = fwmRig();
  const items = [];
  for (let i = 0; i < 510; i++) items.push({ verb: 'addService', args: { proto: 'tcp', addr: VIP, port: 1000 + i, sched: 'rr' } });
  r.ctl.call('batch', { items });
  syn(r, '192.0.2.10', 1001, VIP, 80);
  assert.equal(r.ctl.list().services.find((s) => s.fwmark === 1)!.stats.conns, 1);
  assert.equal(await r.ctl.callAsync('zero', {}), null);
  assert.equal(r.ctl.list().services.find((s) => s.fwmark === 1)!.stats.conns, 0);
  assert.equal(await r.ctl.callAsync('clear', {}), null);
  assert.deepEqual(r.ctl.list().services, []);
});

test('--explain -t of a marked address explains the -f service its connections reach (before a -t service of the same address, as the datapath), with that address for dh; the next SYN agrees', () => {
  const r = fwmRig();
  r.ctl.editService({ ...FWM1, sched: 'dh' });
  // A -t service of the same VIP:port: the mark takes the traffic first (ip_vs_service_find).
  r.ctl.addService({ proto: 'tcp', addr: VIP, port: 80, sched: 'rr' });
  r.ctl.addDest({ service: { proto: 'tcp', addr: VIP, port: 80 }, addr: RS[2].ip, port: 80, fwd: 'dr' });
  const x = r.ctl.call('explain', { service: { proto: 'tcp', addr: VIP, port: 80 }, client: '192.0.2.10' }) as { dest: { addr: string } | null; why: string };
  assert.match(x.why, /^firewall mark 1 \(TCP 10\.0\.0\.100:80 is marked\): /, x.why);
  const got = syn(r, '192.0.2.10', 1001, VIP, 80).rs;
  assert.ok(got === 0 || got === 1, `the -f service's server took it: ${got}`);
  assert.equal(x.dest?.addr, RS[got]!.ip, `explain named the server the SYN reached: ${x.why}`);
  // dh hashes the address connected to: the other marked address may hash elsewhere, and explain follows it.
  for (const dst of [VIP2]) {
    const u = r.ctl.call('explain', { service: { proto: 'udp', addr: dst, port: 5353 }, client: '192.0.2.10' }) as { dest: { addr: string } | null };
    assert.equal(u.dest?.addr, RS[dgram(r, '192.0.2.10', 1002, dst, 5353).rs]!.ip);
  }
  // An address no mark or service takes: no such service, as before.
  assert.throws(() => r.ctl.call('explain', { service: { proto: 'tcp', addr: VIP, port: 8080 }, client: '192.0.2.10' }), /No such service: TCP 10\.0\.0\.100:8080/);
});
