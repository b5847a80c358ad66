// test-class: shared
// FULLNAT local-port pools: distinct ports for concurrent connections, all given back when the
// connections expire, exhaustion refusing only the new flow, and the laddr verbs' validation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { arpFrame, tcpFrame, TCP_FLAGS, udpFrame } from './helpers/frames.js';
import { CLIENT, DIR_MAC, ROUTER_MAC, RS, VIP, rig } from './helpers/harness.js';
import { parseIp } from '../src/datapath/addr.js';
import { Laddr, setLaddrStart } from '../src/modes/laddr.js';
import { PROTO_TCP, PROTO_UDP } from '../src/datapath/frame.js';
import { formatConns, formatLaddrs, formatRules } from '../src/control/printers.js';
import { sumLaddrUsage } from '../src/modes/laddr.js';
import { createMetrics } from '../src/metrics/collectors.js';
import { parseExposition } from './helpers/prom.js';
import { parseArgs } from '../src/control/ipvsadm.js';

// These tests name the local ports a LIP hands out: allocation from the first port of the range
// (uvsd begins at a random one: Laddr's constructor; its own test in unit-fullnat.test.ts).
setLaddrStart(0);

const IN = { ethDst: DIR_MAC, ethSrc: ROUTER_MAC };
const LIP = '10.0.0.5';
const TCP80 = { proto: 'tcp' as const, addr: VIP, port: 80 };

function fullnatRig(range?: { portMin: number; portMax: number }) {
  const r = rig({ connMax: 8192 });
  r.ctl.addService({ ...TCP80, sched: 'rr' });
  r.ctl.addService({ proto: 'udp', addr: VIP, port: 53, sched: 'rr' });
  r.ctl.addDest({ service: TCP80, addr: RS[0].ip, port: 80, fwd: 'fullnat', weight: 1 });
  r.ctl.addDest({ service: { proto: 'udp', addr: VIP, port: 53 }, addr: RS[0].ip, port: 53, fwd: 'fullnat', weight: 1 });
  r.ctl.addLaddr({ service: TCP80, addr: LIP, ...range });
  r.ctl.addLaddr({ service: { proto: 'udp', addr: VIP, port: 53 }, addr: LIP, ...range });
  r.learn(RS[0].ip, RS[0].mac);
  r.sink.take();
  return r;
}

test('2,000 concurrent flows from one client get 2,000 distinct LIP ports; all are released when they expire', () => {
  const r = fullnatRig();
  for (let i = 0; i < 2000; i += 50) {
    r.feed(...Array.from({ length: 50 }, (_, k) => tcpFrame(IN, { src: CLIENT, dst: VIP, sport: 30000 + i + k, dport: 80, flags: TCP_FLAGS.SYN })));
  }
  const out = r.sink.take();
  assert.equal(out.length, 2000);
  const ports = new Set(out.map((f) => f.readUInt16BE(34)));
  assert.equal(ports.size, 2000);
  assert.ok(out.every((f) => f.readUInt32BE(26) === parseIp(LIP) >>> 0), 'source is the LIP');
  assert.equal(r.dp.laddrs.inUse(parseIp(LIP)), 2000);
  r.advance(61_000); // SYN_RECV: 60 s
  r.dp.tick();
  assert.equal(r.dp.ct.count, 0);
  assert.equal(r.dp.laddrs.inUse(parseIp(LIP)), 0, 'every port given back');
});

const FROM_RS = { ethDst: DIR_MAC, ethSrc: RS[0].mac };

test('TCP and UDP take ports independently on the same LIP; a pool of 3 established connections refuses the 4th flow only; --get-laddr and /metrics count the ports and the conflict', async () => {
  const r = fullnatRig({ portMin: 5000, portMax: 5002 });
  const tcp = (sport: number, flags: number) => tcpFrame(IN, { src: CLIENT, dst: VIP, sport, dport: 80, flags });
  const synAck = (lport: number) => tcpFrame(FROM_RS, { src: RS[0].ip, dst: LIP, sport: 80, dport: lport, flags: TCP_FLAGS.SYN | TCP_FLAGS.ACK });
  const out = r.run(tcp(1, TCP_FLAGS.SYN), tcp(2, TCP_FLAGS.SYN), tcp(3, TCP_FLAGS.SYN));
  assert.deepEqual(out.map((f) => f.readUInt16BE(34)), [5000, 5001, 5002]);
  r.run(synAck(5000), synAck(5001), synAck(5002), tcp(1, TCP_FLAGS.ACK), tcp(2, TCP_FLAGS.ACK), tcp(3, TCP_FLAGS.ACK));
  const more = r.run(tcp(4, TCP_FLAGS.SYN), udpFrame(IN, { src: CLIENT, dst: VIP, sport: 9, dport: 53 }));
  assert.deepEqual(more.map((f) => f.readUInt16BE(34)), [5000], 'only the UDP flow went out, from UDP port 5000');
  assert.equal(r.counters()['drop.laddr_exhausted'], 1);
  assert.equal(r.counters()['conns_evicted'] ?? 0, 0, 'established connections keep their ports');
  assert.equal(r.dp.ct.count, 4, 'the refused flow left no entry');
  assert.equal(r.dp.dt.inactive[r.dp.services[0]!.dests[0]!], 0, 'the refused flow was not bound to the server');
  assert.equal(r.dp.dt.active[r.dp.services[0]!.dests[0]!], 3);
  // What DPVS's --get-laddr shows, and /metrics: the LIP's ports in use, and the flow that found none.
  const usage = r.ctl.call('laddrUsage', {}) as { addr: string; tcp: number; udp: number; conflicts: number }[];
  assert.deepEqual(usage, [{ addr: LIP, tcp: 3, udp: 1, conflicts: 1 }]);
  assert.equal(formatLaddrs(r.ctl.list().services.filter((x) => x.proto === 'tcp'), usage, { numeric: true }),
    'VIP:VPORT            TOTAL    SNAT_IP              CONFLICTS  CONNS\n' +
    `${`${VIP}:80`.padEnd(20)} 1\n` +
    `${''.padEnd(30)}${LIP.padEnd(21)}1          4\n`);
  const ex = parseExposition(await createMetrics(r.dp, { process: false }).text());
  assert.equal(ex.get('uvs_laddr_ports_in_use', { laddr: LIP, proto: 'tcp' }), 3);
  assert.equal(ex.get('uvs_laddr_ports_in_use', { laddr: LIP, proto: 'udp' }), 1);
  assert.equal(ex.get('uvs_laddr_conflicts_total', { laddr: LIP }), 1);
});

test('a -f service\'s FULLNAT servers take their LIP from --add-laddr -f: a marked flow leaves from it; --get-laddr names the service FWM N, as -L does (0.0.0.0:0 before), and -S writes --add-laddr -f N', () => {
  const r = rig({ connMax: 8192 });
  const FWM1 = { proto: 'tcp' as const, addr: '0.0.0.0', port: 0, fwmark: 1 };
  r.ctl.call('addMark', { fwmark: 1, proto: 'tcp', addr: VIP, portMin: 80, portMax: 81 });
  r.ctl.addService({ ...FWM1, sched: 'rr' });
  r.ctl.addDest({ service: FWM1, addr: RS[0].ip, port: 0, fwd: 'fullnat', weight: 1 });
  r.ctl.addLaddr({ service: FWM1, addr: LIP, portMin: 5000, portMax: 5009 });
  r.learn(RS[0].ip, RS[0].mac);
  r.sink.take();
  const out = r.run(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: 1, dport: 81, flags: TCP_FLAGS.SYN }));
  assert.equal(out.length, 1);
  assert.deepEqual([out[0]!.readUInt32BE(26), out[0]!.readUInt16BE(34), out[0]!.readUInt16BE(36)], [parseIp(LIP) >>> 0, 5000, 81], 'from LIP:5000 to the flow\'s own port');
  const usage = r.ctl.call('laddrUsage', {}) as { addr: string; tcp: number; udp: number; conflicts: number }[];
  assert.equal(formatLaddrs(r.ctl.list().services, usage, { numeric: true }),
    'VIP:VPORT            TOTAL    SNAT_IP              CONFLICTS  CONNS\n' +
    `${'FWM  1'.padEnd(20)} 1\n` +
    `${''.padEnd(30)}${LIP.padEnd(21)}0          1\n`);
  assert.match(formatRules(r.ctl.list(), { numeric: true }), new RegExp(`\\n--add-laddr -f 1 -z ${LIP.replace(/\./g, '\\.')}:5000-5009\\n`));
});

test('the LIP usage of several workers is summed by address', () => {
  const a = parseIp('10.0.0.5');
  const b = parseIp('10.0.0.6');
  assert.deepEqual(sumLaddrUsage([[{ addr: a, tcp: 2, udp: 1, conflicts: 0 }], [{ addr: a, tcp: 3, udp: 0, conflicts: 2 }, { addr: b, tcp: 1, udp: 1, conflicts: 0 }]]),
    [{ addr: a, tcp: 5, udp: 1, conflicts: 2 }, { addr: b, tcp: 1, udp: 1, conflicts: 0 }]);
});

test('every port held by one-packet UDP flows: a new flow takes the oldest port (early drop, counted); a confirmed flow keeps its own', () => {
  const r = fullnatRig({ portMin: 6000, portMax: 6003 });
  const udp = (sport: number) => udpFrame(IN, { src: CLIENT, dst: VIP, sport, dport: 53 });
  assert.deepEqual(r.run(udp(1), udp(2), udp(3), udp(4)).map((f) => f.readUInt16BE(34)), [6000, 6001, 6002, 6003]);
  // The server answers the first flow and the client goes on: a stream, confirmed, never evicted.
  r.run(udpFrame(FROM_RS, { src: RS[0].ip, dst: LIP, sport: 53, dport: 6000 }), udp(1));
  // The second flow only gets its answer (a request and its reply): still of little value.
  r.run(udpFrame(FROM_RS, { src: RS[0].ip, dst: LIP, sport: 53, dport: 6001 }));
  const out = r.run(udp(5), udp(6), udp(7));
  assert.deepEqual(out.map((f) => f.readUInt16BE(34)), [6001, 6002, 6003], 'the oldest unconfirmed ports, in order');
  assert.equal(r.counters()['conns_evicted'], 3);
  assert.equal(r.counters()['drop.laddr_exhausted'] ?? 0, 0);
  assert.equal(r.dp.ct.count, 4);
  // The flows that lost their port are gone; their next datagram is a new flow (which evicts in turn).
  assert.deepEqual(r.run(udp(2)).map((f) => f.readUInt16BE(34)), [6001]);
  // The confirmed flow still has its port: a reply to it still finds its connection.
  const outBefore = r.counters()['fwd_out_packets'];
  r.run(udpFrame(FROM_RS, { src: RS[0].ip, dst: LIP, sport: 53, dport: 6000 }));
  assert.equal(r.counters()['fwd_out_packets'], outBefore + 1);
  assert.equal(r.counters()['drop.ip_not_local'], 0);
  assert.equal(r.dp.laddrs.inUse(parseIp(LIP)), 4);
});

test('every port held: a finished TCP connection (CLOSE after RST) gives its port to a new SYN; a half-open one does not', () => {
  const r = fullnatRig({ portMin: 7000, portMax: 7001 });
  const tcp = (sport: number, flags: number) => tcpFrame(IN, { src: CLIENT, dst: VIP, sport, dport: 80, flags });
  const synAck = (lport: number) => tcpFrame(FROM_RS, { src: RS[0].ip, dst: LIP, sport: 80, dport: lport, flags: TCP_FLAGS.SYN | TCP_FLAGS.ACK });
  assert.deepEqual(r.run(tcp(1, TCP_FLAGS.SYN), tcp(2, TCP_FLAGS.SYN)).map((f) => f.readUInt16BE(34)), [7000, 7001]);
  r.run(synAck(7000), tcp(1, TCP_FLAGS.ACK)); // 1 established, 2 half-open
  assert.equal(r.run(tcp(3, TCP_FLAGS.SYN)).length, 0, 'neither the established nor the half-open one gives way');
  assert.equal(r.counters()['drop.laddr_exhausted'], 1);
  r.run(tcp(1, TCP_FLAGS.RST | TCP_FLAGS.ACK)); // 1 → CLOSE
  assert.deepEqual(r.run(tcp(4, TCP_FLAGS.SYN)).map((f) => f.readUInt16BE(34)), [7000], 'the closed one\'s port');
  assert.equal(r.counters()['conns_evicted'], 1);
  assert.equal(r.dp.ct.count, 2);
});

test('--del-laddr while a UDP flow holds one of its ports: uvsd answers ARP for the LIP until the flow ends (a server asking again still reaches it and the flow goes on), then no more; a LIP added back meanwhile is the service\'s again (before 2026-12-07 it stopped answering at once: the flow went silent once the server\'s neighbour entry went stale)', () => {
  const r = fullnatRig();
  const UDP53 = { proto: 'udp' as const, addr: VIP, port: 53 };
  const lip = parseIp(LIP) >>> 0;
  // The server's ARP request for the LIP: the reply uvsd sends, if any.
  const asks = (): Buffer[] => r.run(arpFrame({ ethDst: 'ff:ff:ff:ff:ff:ff', ethSrc: RS[0].mac }, { op: 1, sha: RS[0].mac, spa: RS[0].ip, tpa: LIP }))
    .filter((f) => f.readUInt16BE(12) === 0x0806 && f.readUInt16BE(20) === 2 && f.readUInt32BE(28) === lip);
  const reply = (): number => {
    const before = r.counters()['fwd_out_packets'] ?? 0;
    r.run(udpFrame(FROM_RS, { src: RS[0].ip, dst: LIP, sport: 53, dport: lport }));
    return (r.counters()['fwd_out_packets'] ?? 0) - before;
  };
  const [out] = r.run(udpFrame(IN, { src: CLIENT, dst: VIP, sport: 4000, dport: 53 }));
  const lport = out!.readUInt16BE(34);
  assert.equal(asks().length, 1, 'a configured LIP is answered');
  r.ctl.delLaddr({ service: TCP80, addr: LIP });
  r.ctl.delLaddr({ service: UDP53, addr: LIP });
  assert.equal(asks().length, 1, 'deleted, its port still held by the flow: still answered');
  assert.equal(reply(), 1, 'the server\'s reply to the LIP is forwarded');
  // Added back and deleted again while the flow lives: answered throughout, counted once.
  r.ctl.addLaddr({ service: UDP53, addr: LIP });
  assert.equal(asks().length, 1);
  r.ctl.delLaddr({ service: UDP53, addr: LIP });
  assert.equal(asks().length, 1);
  r.advance(301_000); // the UDP timeout (300 s)
  r.dp.tick();
  assert.equal(r.dp.ct.count, 0, 'the flow ended');
  assert.equal(asks().length, 0, 'its last port given back: no longer answered');
  // A service's LIP deleted with its service, no port held: not answered from then on.
  r.ctl.addLaddr({ service: UDP53, addr: LIP });
  assert.equal(asks().length, 1);
  r.ctl.deleteService(UDP53);
  assert.equal(asks().length, 0);
});

test('--workers: an ARP request for a deleted LIP another worker received (shown here, arpShared) is answered by the worker whose connections still hold its ports; a LIP a service has is left to the worker that received it (before 2026-12-07 only the receiving worker could answer, and it may hold none of the ports)', () => {
  const r = fullnatRig();
  const UDP53 = { proto: 'udp' as const, addr: VIP, port: 53 };
  const lip = parseIp(LIP) >>> 0;
  const shown = (): Buffer[] => {
    const req = arpFrame({ ethDst: 'ff:ff:ff:ff:ff:ff', ethSrc: RS[0].mac }, { op: 1, sha: RS[0].mac, spa: RS[0].ip, tpa: LIP });
    r.dp.arpShared(Buffer.from(req), 0, req.length);
    return r.sink.take().filter((f) => f.readUInt16BE(12) === 0x0806 && f.readUInt16BE(20) === 2 && f.readUInt32BE(28) === lip);
  };
  r.run(udpFrame(IN, { src: CLIENT, dst: VIP, sport: 4000, dport: 53 }));
  assert.equal(shown().length, 0, 'a configured LIP: the receiving worker answers, not this one');
  r.ctl.delLaddr({ service: TCP80, addr: LIP });
  r.ctl.delLaddr({ service: UDP53, addr: LIP });
  const [reply] = shown();
  assert.ok(reply !== undefined, 'deleted, its port held here: answered');
  assert.equal(reply.toString('hex', 0, 6), RS[0].mac.replaceAll(':', ''), 'to the server that asked');
  assert.equal(reply.toString('hex', 22, 28), DIR_MAC.replaceAll(':', ''), 'with uvsd\'s MAC');
  r.advance(301_000);
  r.dp.tick();
  assert.equal(shown().length, 0, 'its last port given back: no longer');
});

test('a LIP deleted and added again with other ports in one batch (a reload\'s new range) while its connections hold ports: new flows take the new ports at once; the old ports stay held until their connections end', () => {
  const r = fullnatRig({ portMin: 5000, portMax: 5002 });
  r.ctl.delLaddr({ service: { proto: 'udp', addr: VIP, port: 53 }, addr: LIP });
  const tcp = (sport: number, flags: number) => tcpFrame(IN, { src: CLIENT, dst: VIP, sport, dport: 80, flags });
  assert.deepEqual(r.run(tcp(1, TCP_FLAGS.SYN), tcp(2, TCP_FLAGS.SYN)).map((f) => f.readUInt16BE(34)), [5000, 5001]);
  r.ctl.call('batch', { items: [{ verb: 'delLaddr', args: { service: TCP80, addr: LIP } }, { verb: 'addLaddr', args: { service: TCP80, addr: LIP, portMin: 6000, portMax: 6001 } }] });
  assert.deepEqual(r.run(tcp(3, TCP_FLAGS.SYN), tcp(4, TCP_FLAGS.SYN)).map((f) => f.readUInt16BE(34)), [6000, 6001], 'the new ports (before: 5002, then none)');
  assert.equal(r.dp.laddrs.inUse(parseIp(LIP)), 4, 'the old ports are still held');
  // A reply to an old connection still finds it.
  const outBefore = r.counters()['fwd_out_packets'] ?? 0;
  r.run(tcpFrame(FROM_RS, { src: RS[0].ip, dst: LIP, sport: 80, dport: 5000, flags: TCP_FLAGS.SYN | TCP_FLAGS.ACK }));
  assert.equal(r.counters()['fwd_out_packets'], outBefore + 1);
  r.advance(61_000);
  r.dp.tick();
  assert.equal(r.dp.ct.count, 0);
  assert.equal(r.dp.laddrs.inUse(parseIp(LIP)), 0, 'every port given back, the old range\'s too');
});

test('Laddr bitmap: wraps around its range, gives back, never hands out a port twice', () => {
  const l = new Laddr(1, 65530, 65535);
  const got = [0, 1, 2, 3, 4, 5].map(() => l.take(PROTO_TCP));
  assert.deepEqual(got, [65530, 65531, 65532, 65533, 65534, 65535]);
  assert.equal(l.take(PROTO_TCP), -1);
  l.give(PROTO_TCP, 65532);
  l.give(PROTO_TCP, 65532); // twice: no effect
  assert.equal(l.inUse[0], 5);
  assert.equal(l.take(PROTO_TCP), 65532);
  assert.equal(l.take(PROTO_UDP), 65530);
});

test('a LIP begins handing out ports at a random one of its range (RFC 6056\'s offset), in its worker\'s phase, then goes on round: a restarted uvsd does not take again the ports its last run left in TIME_WAIT on the servers (until 2026-12-07 every start began at the range\'s first port: 18-50 % of new FULLNAT connections after a restart met a TIME_WAIT port, were reset and waited 1 s)', () => {
  try {
    setLaddrStart(0.5);
    assert.deepEqual([0, 1, 2].map(() => new Laddr(1, 1024, 1033).take(PROTO_TCP)), [1029, 1029, 1029], 'half way: 1024 + 5');
    const l = new Laddr(1, 1024, 1033);
    assert.deepEqual(Array.from({ length: 11 }, () => l.take(PROTO_UDP)), [1029, 1030, 1031, 1032, 1033, 1024, 1025, 1026, 1027, 1028, -1], 'round from there, each once');
    setLaddrStart(0.999999);
    assert.equal(new Laddr(1, 1024, 1033, 1, 2).take(PROTO_TCP), 1033, 'the last port of phase 1 of 2 (the odd ones)');
    setLaddrStart(undefined);
    // Random: the first ports of 200 new LIPs (a start each) spread over the range, each in its phase.
    const firsts = Array.from({ length: 200 }, () => new Laddr(1, 1024, 65535, 1, 2).take(PROTO_TCP));
    assert.ok(firsts.every((p) => p >= 1025 && p <= 65535 && p % 2 === 1), `in range and phase: ${firsts.slice(0, 5).join(' ')} ...`);
    assert.ok(new Set(firsts).size > 150, `${new Set(firsts).size} distinct first ports of 200`);
    assert.ok(firsts.filter((p) => p < 1025 + 2 * 100).length < 20, 'not piled at the range\'s start');
  } finally {
    setLaddrStart(0);
  }
});

test('addLaddr/delLaddr verbs: bad input is refused with one line and changes nothing', () => {
  const r = fullnatRig();
  assert.throws(() => r.ctl.addLaddr({ service: TCP80, addr: LIP }), /^Error: Local address already exists: 10\.0\.0\.5$/);
  assert.throws(() => r.ctl.addLaddr({ service: TCP80, addr: 'nope' }), /Invalid address: "nope"/);
  assert.throws(() => r.ctl.addLaddr({ service: TCP80, addr: '10.0.0.6', portMin: 3000, portMax: 2000 }), /Invalid port: local port range 3000-2000/);
  assert.throws(() => r.ctl.addLaddr({ service: { ...TCP80, port: 81 }, addr: '10.0.0.6' }), /Service not defined/);
  assert.throws(() => r.ctl.delLaddr({ service: TCP80, addr: '10.0.0.7' }), /No such local address: 10\.0\.0\.7/);
  assert.equal(r.dp.laddrs.bySvc[0]!.length, 1);
  assert.ok(r.dp.isLocal(parseIp(LIP)), 'uvsd answers for the LIP');
  r.ctl.delLaddr({ service: TCP80, addr: LIP });
  r.ctl.delLaddr({ service: { proto: 'udp', addr: VIP, port: 53 }, addr: LIP });
  assert.equal(r.dp.isLocal(parseIp(LIP)), false);
});

test('addLaddr refuses what cannot be a local address (non-unicast, the director, a VIP, a real server), one line naming it, nothing changed', () => {
  const r = fullnatRig();
  r.ctl.addService({ proto: 'tcp', addr: '10.0.0.101', port: 443, sched: 'rr' });
  const before = JSON.stringify([r.ctl.list(), r.dp.laddrs.bySvc]);
  const refused: [string, RegExp][] = [
    ['0.0.0.0', /^Error: Not a unicast host address: local address 0\.0\.0\.0 is not a host address$/],
    ['255.255.255.255', /^Error: Not a unicast host address: local address 255\.255\.255\.255 is the broadcast address$/],
    ['127.0.0.1', /^Error: Not a unicast host address: local address 127\.0\.0\.1 is a loopback address$/],
    ['224.0.0.1', /^Error: Not a unicast host address: local address 224\.0\.0\.1 is a multicast address$/],
    ['240.0.0.1', /^Error: Not a unicast host address: local address 240\.0\.0\.1 is a reserved \(class E\) address$/],
    ['10.0.0.255', /^Error: Not a unicast host address: local address 10\.0\.0\.255 is the broadcast address of 10\.0\.0\.1's network$/],
    ['10.0.0.0', /^Error: Not a unicast host address: local address 10\.0\.0\.0 is the network address of 10\.0\.0\.1's network$/],
    ['10.0.0.1', /^Error: Not a unicast host address: local address 10\.0\.0\.1 is uvsd's own director address$/],
    [VIP, /^Error: Address already used in the table in another role: local address 10\.0\.0\.100 is a virtual address \(TCP 10\.0\.0\.100:80\)$/],
    ['10.0.0.101', /^Error: Address already used in the table in another role: local address 10\.0\.0\.101 is a virtual address \(TCP 10\.0\.0\.101:443\)$/],
    [RS[0].ip, /^Error: Address already used in the table in another role: local address 10\.0\.0\.11 is a real server \(TCP 10\.0\.0\.100:80\)$/],
  ];
  for (const [addr, msg] of refused) {
    assert.throws(() => r.ctl.addLaddr({ service: TCP80, addr }), msg, addr);
    // The same through a batch (uvsadm -R, config reloads): refused, nothing applied.
    assert.throws(() => r.ctl.call('batch', { items: [{ verb: 'delLaddr', args: { service: TCP80, addr: LIP } }, { verb: 'addLaddr', args: { service: TCP80, addr } }] }), msg, addr);
  }
  assert.equal(JSON.stringify([r.ctl.list(), r.dp.laddrs.bySvc]), before);
  // The other way round: a VIP or a real server that is a LIP is refused too.
  assert.throws(() => r.ctl.addService({ proto: 'tcp', addr: LIP, port: 80, sched: 'rr' }),
    /^Error: Address already used in the table in another role: virtual address 10\.0\.0\.5 is a FULLNAT local address \(TCP 10\.0\.0\.100:80\)$/);
  assert.throws(() => r.ctl.addDest({ service: TCP80, addr: LIP, port: 80, fwd: 'fullnat', weight: 1 }),
    /^Error: Address already used in the table in another role: real server 10\.0\.0\.5 is a FULLNAT local address \(TCP 10\.0\.0\.100:80\)$/);
  // Once the LIP is gone from every service, the address is free for another role.
  r.ctl.delLaddr({ service: TCP80, addr: LIP });
  assert.throws(() => r.ctl.addDest({ service: TCP80, addr: LIP, port: 80, fwd: 'fullnat', weight: 1 }), /is a FULLNAT local address \(UDP 10\.0\.0\.100:53\)/);
  r.ctl.delLaddr({ service: { proto: 'udp', addr: VIP, port: 53 }, addr: LIP });
  r.ctl.addDest({ service: TCP80, addr: LIP, port: 80, fwd: 'fullnat', weight: 1 });
  // An ordinary host address on the director's network, or one routed to it, is a LIP.
  r.ctl.addLaddr({ service: TCP80, addr: '10.0.0.6' });
  r.ctl.addLaddr({ service: TCP80, addr: '172.16.0.5' });
  assert.deepEqual(r.ctl.list().services.find((s) => s.port === 80 && s.proto === 'tcp')!.laddrs, ['10.0.0.6', '172.16.0.5']);
});

test('NAT/FULLNAT/TUN real servers off every --addr network need --gateway (refused without, accepted with)', () => {
  const r = rig();
  r.ctl.addService({ ...TCP80, sched: 'rr' });
  for (const fwd of ['nat', 'fullnat', 'tun'] as const) {
    assert.throws(() => r.ctl.addDest({ service: TCP80, addr: '172.16.0.9', port: 80, fwd, weight: 1 }),
      /^Error: No route to the real server: 172\.16\.0\.9 is outside every --addr network and uvsd has no --gateway$/);
  }
  assert.equal(r.dp.services[0]!.dests.length, 0, 'nothing added');
  const g = rig({ gateway: '10.0.0.254' });
  g.ctl.addService({ ...TCP80, sched: 'rr' });
  g.ctl.addDest({ service: TCP80, addr: '172.16.0.9', port: 80, fwd: 'tun', weight: 1 });
  assert.equal(g.dp.services[0]!.dests.length, 1);
});

test('-Lnc keeps ipvsadm\'s layout with FULLNAT connections too; --laddr-column adds a local column (LIP:lport) between virtual and destination', () => {
  const base = { proto: 'tcp' as const, state: 'ESTABLISHED', expires: 899, caddr: '192.168.9.7', cport: 40001, vaddr: '192.168.8.200', vport: 80, daddr: '192.168.8.30', dport: 8080 };
  const fnat = { ...base, laddr: '192.168.8.50', lport: 1025, fwd: 'fullnat' as const };
  const dr = { ...base, dport: 80, laddr: '192.168.9.7', lport: 40001, fwd: 'dr' as const };
  // The same six columns whatever the table holds: scripts that read the 6th field keep working.
  assert.equal(formatConns([fnat, dr], { numeric: true }),
    'IPVS connection entries\n' +
    'pro expire state       source             virtual            destination\n' +
    'TCP 14:59  ESTABLISHED 192.168.9.7:40001  192.168.8.200:80   192.168.8.30:8080\n' +
    'TCP 14:59  ESTABLISHED 192.168.9.7:40001  192.168.8.200:80   192.168.8.30:80\n');
  assert.equal(formatConns([fnat, dr], { numeric: true, laddrColumn: true }),
    'IPVS connection entries\n' +
    'pro expire state       source             virtual            local              destination\n' +
    'TCP 14:59  ESTABLISHED 192.168.9.7:40001  192.168.8.200:80   192.168.8.50:1025  192.168.8.30:8080\n' +
    'TCP 14:59  ESTABLISHED 192.168.9.7:40001  192.168.8.200:80   192.168.9.7:40001  192.168.8.30:80\n');
  // --persistent-conn: ipvsadm's pe name / pe_data title columns after destination (rows plain).
  assert.equal(formatConns([fnat], { numeric: true, persistentConn: true, laddrColumn: true }),
    'IPVS connection entries\n' +
    'pro expire state       source             virtual            local              destination        pe name          pe_data\n' +
    'TCP 14:59  ESTABLISHED 192.168.9.7:40001  192.168.8.200:80   192.168.8.50:1025  192.168.8.30:8080\n');
  // From the command line: only with -c.
  const cmd = parseArgs(['-Lnc', '--laddr-column']);
  assert.ok(cmd.kind === 'list' && cmd.format.laddrColumn === true);
  assert.throws(() => parseArgs(['-Ln', '--laddr-column']), /--laddr-column goes with -c/);
});
