// test-class: shared
// uvsd --schedule-icmp (the kernel's schedule_icmp, ip_vs_in_icmp → ip_vs_try_to_schedule), in
// process: behind ECMP a router's ICMP error about a DR reply (VIP:80 → client, sent to the VIP)
// can reach a director without the connection. With the option it schedules the quoted
// connection as the client's new flow (mh: the server a SYN from that client port gets on any
// director), makes its entry (state NONE, 3 s) and relays the error there; without it the error
// is dropped icmp_no_conn, as before. NAT translates the relayed error; FULLNAT cannot (the
// server knows the connection by another director's local address); a persistent service makes
// its template; the option is a reloadable daemon setting shown by uvsadm --status.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertFrame, delta, rig, type Rig, CLIENT, DIR_MAC, ROUTER_MAC, RS, VIP } from './helpers/harness.js';
import { hopped, icmpFrame, ipv4, macStr, tcp, tcpFrame, TCP_FLAGS, udp } from './helpers/frames.js';
import { S_ESTABLISHED, S_NONE } from '../src/datapath/tcpstate.js';
import { defenseChanges } from '../src/control/config.js';
import { formatStatus } from '../src/control/printers.js';
import type { StatusResult } from '../src/control/protocol.js';
import { parseIp } from '../src/datapath/addr.js';

const IN = { ethDst: DIR_MAC, ethSrc: ROUTER_MAC };
const ROUTER = '198.51.100.1'; // a router on the server→client path
const SVC = { proto: 'tcp' as const, addr: VIP, port: 80 };
const SERVERS = [
  { ip: '10.0.0.21', mac: '02:00:00:00:00:21' },
  { ip: '10.0.0.22', mac: '02:00:00:00:00:22' },
  { ip: '10.0.0.23', mac: '02:00:00:00:00:23' },
  { ip: '10.0.0.24', mac: '02:00:00:00:00:24' },
];

/** A director with the mh service over four DR servers (mh-port: one client's ports spread). */
function director(scheduleIcmp: boolean): Rig {
  const r = rig();
  r.dp.setDefense({ scheduleIcmp });
  r.ctl.addService({ ...SVC, sched: 'mh', flags: ['mh-port'] });
  for (const s of SERVERS) r.ctl.addDest({ service: SVC, addr: s.ip, port: 80, fwd: 'dr', weight: 1 });
  for (const s of SERVERS) r.learn(s.ip, s.mac);
  r.sink.take();
  return r;
}

/** The first 28 bytes of a packet src:sport → dst:dport (what a router quotes). */
function quote(proto: 'tcp' | 'udp', src: string, dst: string, sport: number, dport: number): Buffer {
  const l4 = proto === 'tcp' ? tcp({ src, dst, sport, dport, seq: 0x01020304, flags: TCP_FLAGS.ACK | TCP_FLAGS.PSH }) : udp({ src, dst, sport, dport });
  return ipv4({ src, dst, proto: proto === 'tcp' ? 6 : 17, totalLength: 1500 }, l4).subarray(0, 28);
}

/** "Fragmentation needed" (MTU 1400) from ROUTER to `to`, about a packet of the reply direction VIP:vport → CLIENT:cport. */
function fragNeeded(cport: number, o: { vport?: number; proto?: 'tcp' | 'udp'; l2?: { ethDst: string; ethSrc: string }; to?: string; q?: Buffer } = {}): Buffer {
  return icmpFrame(o.l2 ?? IN, { src: ROUTER, dst: o.to ?? VIP }, { type: 3, code: 4, seq: 1400, payload: o.q ?? quote(o.proto ?? 'tcp', VIP, CLIENT, o.vport ?? 80, cport) });
}

const syn = (sport: number) => tcpFrame(IN, { src: CLIENT, dst: VIP, sport, dport: 80, flags: TCP_FLAGS.SYN });

test('--schedule-icmp, mh and DR: an error quoting VIP:80 -> client:port on a director without the connection goes to the server a SYN from that port gets, untouched but the hop; its entry waits 3 s in NONE and takes the client\'s next segment without a SYN', () => {
  const a = director(false); // where the connections are
  const b = director(true); // where ECMP sends the errors
  const before = b.counters();
  const used = new Set<string>();
  const N = 40;
  for (let i = 0; i < N; i++) {
    const cport = 30000 + i * 11;
    const first = a.run(syn(cport));
    assert.equal(first.length, 1, `${i}: SYN forwarded by A`);
    const server = macStr(first[0], 0);
    used.add(server);
    const err = fragNeeded(cport);
    const out = b.run(err);
    assert.equal(out.length, 1, `${i}: the error was relayed`);
    const expected = hopped(err);
    expected.set(Buffer.from(server.split(':').map((h) => parseInt(h, 16))), 0);
    expected.set(Buffer.from(DIR_MAC.split(':').map((h) => parseInt(h, 16))), 6);
    assertFrame(out[0], expected, `${i}: the error to ${server}`);
  }
  assert.ok(used.size >= 3, `the ports spread over ${used.size} servers`);
  assert.deepEqual(delta(before, b.counters()), { rx_frames: N, rx_bytes: N * 70, tx_frames: N, tx_bytes: N * 70, icmp_scheduled: N, icmp_related_forwarded: N, conns_created: N, fwd_packets: N, fwd_bytes: N * 56 });
  assert.equal(b.dp.ct.count, N);
  // The client's next segment (no SYN, no --sloppy-tcp) follows the entry to the same server.
  const cport = 30000;
  const next = b.run(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: cport, dport: 80, flags: TCP_FLAGS.ACK, payload: Buffer.from('x') }));
  assert.equal(next.length, 1, 'the segment went on');
  assert.equal(macStr(next[0], 0), macStr(a.run(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: cport, dport: 80, flags: TCP_FLAGS.ACK }))[0], 0), 'to A\'s server');
  const state = (port: number) => b.dp.ct.state[b.dp.ct.lookup(6, parseIp(CLIENT) | 0, port, parseIp(VIP) | 0, 80) >>> 1];
  assert.equal(state(cport), S_ESTABLISHED);
  assert.equal(state(cport + 11), S_NONE, 'the others wait in NONE');
  // Nothing else of theirs came: gone after 3 s.
  b.advance(4_000);
  b.dp.tick();
  assert.equal(b.dp.ct.count, 1, 'only the connection the client spoke on is left');
});

test('--schedule-icmp, mh: an error about a flow of a quiesced (weight 0, draining) server still goes to it, as the mh table\'s owner (a SYN there finds no server)', () => {
  const a = director(false);
  const b = director(true);
  b.ctl.editDest({ service: SVC, addr: SERVERS[0].ip, port: 80, fwd: 'dr', weight: 0 });
  const mine: number[] = [];
  for (let cport = 40000; mine.length < 5; cport++) if (macStr(a.run(syn(cport))[0], 0) === SERVERS[0].mac) mine.push(cport);
  for (const cport of mine) {
    const out = b.run(fragNeeded(cport));
    assert.equal(out.length, 1, `${cport}: relayed`);
    assert.equal(macStr(out[0], 0), SERVERS[0].mac, `${cport}: to the quiesced server`);
  }
  assert.equal(b.counters()['icmp_scheduled'], 5);
  // A SYN on such a tuple is a new connection (conn_reuse_mode), which mh gives no server.
  const before = b.counters();
  b.run(syn(mine[0]));
  assert.equal(delta(before, b.counters())['drop.no_dest'], 1);
});

test('without --schedule-icmp such an error is dropped icmp_no_conn as before; with it one quoting no service, a client\'s request, or corrupted is dropped and makes no entry; a worker that hands it on schedules nothing', () => {
  const off = director(false);
  assert.deepEqual(off.run(fragNeeded(40000)), []);
  assert.deepEqual([off.counters()['drop.icmp_no_conn'], off.counters()['icmp_scheduled'], off.dp.ct.count], [1, 0, 0]);
  const b = director(true);
  const cases: Array<[string, Buffer, string]> = [
    ['no service (VIP:81)', fragNeeded(40000, { vport: 81 }), 'drop.icmp_no_conn'],
    ['no UDP service', fragNeeded(40000, { proto: 'udp' }), 'drop.icmp_no_conn'],
    ['a client\'s request (client -> VIP:80)', fragNeeded(0, { q: quote('tcp', CLIENT, VIP, 40000, 80) }), 'drop.icmp_no_conn'],
    ['a bad ICMP checksum', (() => { const f = fragNeeded(40000); f[14 + 20 + 2] ^= 0x5a; return f; })(), 'drop.icmp_bad_checksum'],
  ];
  for (const [what, frame, counter] of cases) {
    const before = b.counters();
    assert.deepEqual(b.run(frame), [], what);
    assert.deepEqual(delta(before, b.counters()), { rx_frames: 1, rx_bytes: frame.length, [counter]: 1 }, what);
    assert.equal(b.dp.ct.count, 0, `${what}: no entry`);
  }
  // Workers: not the last of the round, it goes on (the next one may hold it); the last schedules it.
  let handed = 0;
  b.dp.handoff = () => (handed++, true);
  assert.deepEqual(b.run(fragNeeded(40000)), []);
  assert.deepEqual([handed, b.dp.ct.count, b.counters()['icmp_scheduled']], [1, 0, 0]);
  b.dp.handoff = () => false;
  assert.equal(b.run(fragNeeded(40000)).length, 1);
  assert.equal(b.counters()['icmp_scheduled'], 1);
});

test('--schedule-icmp NAT: the relayed error is translated to the server chosen; FULLNAT: dropped icmp_no_conn, no entry; a persistent service makes its template, which the client\'s SYN then follows', () => {
  const nat = rig();
  nat.dp.setDefense({ scheduleIcmp: true });
  const U = { proto: 'udp' as const, addr: VIP, port: 53 };
  nat.ctl.addService({ ...U, sched: 'rr' });
  nat.ctl.addDest({ service: U, addr: RS[0].ip, port: 5353, fwd: 'nat', weight: 1 });
  nat.learn(RS[0].ip, RS[0].mac);
  const out = nat.run(fragNeeded(41000, { proto: 'udp', vport: 53 }));
  assert.equal(out.length, 1);
  const f = out[0];
  assert.equal(macStr(f, 0), RS[0].mac);
  assert.deepEqual([f.readUInt32BE(30), f.readUInt32BE(54), f.readUInt16BE(62), f.readUInt32BE(58), f.readUInt16BE(64)],
    [0x0a00000b, 0x0a00000b, 5353, 0xc000020a, 41000], 'outer destination and the quote\'s source are the server\'s; the client stays');
  assert.equal(nat.counters()['icmp_scheduled'], 1);

  const fn = rig();
  fn.dp.setDefense({ scheduleIcmp: true });
  fn.ctl.addService({ ...SVC, sched: 'rr' });
  fn.ctl.addDest({ service: SVC, addr: RS[0].ip, port: 80, fwd: 'fullnat', weight: 1 });
  fn.ctl.addLaddr({ service: SVC, addr: '10.0.0.5' });
  fn.learn(RS[0].ip, RS[0].mac);
  const before = fn.counters();
  assert.deepEqual(fn.run(fragNeeded(41000)), []);
  assert.deepEqual(delta(before, fn.counters()), { rx_frames: 1, rx_bytes: 70, 'drop.icmp_no_conn': 1 });
  assert.equal(fn.dp.ct.count, 0);

  const p = rig();
  p.dp.setDefense({ scheduleIcmp: true });
  p.ctl.addService({ ...SVC, sched: 'rr', persist: 300 });
  for (const s of RS.slice(0, 2)) p.ctl.addDest({ service: SVC, addr: s.ip, port: 80, fwd: 'dr', weight: 1 });
  for (const s of RS.slice(0, 2)) p.learn(s.ip, s.mac);
  const err = p.run(fragNeeded(42000));
  assert.equal(err.length, 1);
  assert.equal(p.counters()['templates_created'], 1);
  // rr would give the next server; the template keeps the client on the error's.
  assert.equal(macStr(p.run(syn(42001))[0], 0), macStr(err[0], 0));
  assert.equal(p.counters()['templates_created'], 1);
});

test('daemon.schedule-icmp: a reload sets it (off by default), uvsadm --status shows schedule_icmp yes/no', () => {
  const r = director(false);
  assert.equal(r.dp.defense.scheduleIcmp, false, 'off by default');
  const { next, changes } = defenseChanges(r.dp.defense, { scheduleIcmp: true }, new Set());
  assert.deepEqual(changes, ['set schedule-icmp false -> true']);
  r.ctl.setDefense(next);
  assert.equal(r.dp.defense.scheduleIcmp, true);
  assert.match(formatStatus(r.ctl.call('status', {}) as StatusResult), /^schedule_icmp yes$/m);
  assert.equal(r.run(fragNeeded(43000)).length, 1, 'and it applies');
});
