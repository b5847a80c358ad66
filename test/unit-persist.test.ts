// test-class: shared
// Persistence templates (ipvsadm -p/-M), one-packet scheduling (-o) and explain, on the datapath
// without a network (unit rig, fake clock). Expected behaviour from the kernel's
// ip_vs_sched_persist / ip_vs_check_template / ip_vs_conn_expire (see docs/schedulers.md).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tcpFrame, TCP_FLAGS, udpFrame } from './helpers/frames.js';
import { DIR_MAC, GW, ROUTER_MAC, RS, VIP, delta, rig, type Rig } from './helpers/harness.js';
import { parseIp } from '../src/datapath/addr.js';
import { formatConns } from '../src/control/printers.js';
import { synproxyHandshake } from './helpers/synproxy.js';
import type { ConnInfo, TracePollResult } from '../src/control/protocol.js';

const IN = { ethDst: DIR_MAC, ethSrc: ROUTER_MAC };
const TCP80 = { proto: 'tcp' as const, addr: VIP, port: 80 };
const UDP53 = { proto: 'udp' as const, addr: VIP, port: 53 };

/** A rig with one service (rr unless told) and servers RS[0..n-1], all learned. */
function persistRig(o: { persist?: number; netmask?: string; sched?: string; n?: number; udp?: boolean; oneShot?: boolean; port?: number; connMax?: number } = {}): Rig {
  const r = rig({ connMax: o.connMax });
  const port = o.port ?? (o.udp ? 53 : 80);
  const key = { proto: o.udp ? ('udp' as const) : ('tcp' as const), addr: VIP, port };
  r.ctl.addService({ ...key, sched: o.sched ?? 'rr', persist: o.persist ?? 0, netmask: o.netmask, oneShot: o.oneShot });
  for (let i = 0; i < (o.n ?? 2); i++) r.ctl.addDest({ service: key, addr: RS[i].ip, port, fwd: 'dr' });
  for (let i = 0; i < (o.n ?? 2); i++) r.learn(RS[i].ip, RS[i].mac);
  r.sink.take();
  return r;
}

/** Which RS index a forwarded frame went to (by destination MAC), -1 if nothing went out. */
function sentTo(out: Buffer[]): number {
  if (out.length !== 1) return -1;
  const m = [...out[0]!.subarray(0, 6)].map((b) => b.toString(16).padStart(2, '0')).join(':');
  return RS.findIndex((rs) => rs.mac === m);
}

const syn = (r: Rig, src: string, sport: number, dport = 80): number =>
  sentTo(r.run(tcpFrame(IN, { src, dst: VIP, sport, dport, flags: TCP_FLAGS.SYN })));
const dgram = (r: Rig, src: string, sport: number): number =>
  sentTo(r.run(udpFrame(IN, { src, dst: VIP, sport, dport: 53, payload: new Uint8Array(4) })));

/** Move the clock on, run the timers, and refresh the servers' ARP entries (they age too). */
function later(r: Rig, ms: number): void {
  r.advance(ms);
  r.dp.tick();
  for (let i = 0; i < 3; i++) r.learn(RS[i].ip, RS[i].mac);
  r.sink.take();
}

function templates(r: Rig): ConnInfo[] {
  return r.ctl.connections().filter((c) => c.template === true);
}
function persistConns(r: Rig): number[] {
  return r.ctl.list().services[0]!.dests.map((d) => d.persistConns);
}

test('persistence: a client with a live template returns to its server; rr alone would alternate', () => {
  const plain = persistRig();
  assert.deepEqual([1, 2, 3, 4].map((p) => syn(plain, '192.0.2.10', 1000 + p)), [0, 1, 0, 1], 'rr without -p alternates');

  const r = persistRig({ persist: 300 });
  const first = syn(r, '192.0.2.10', 1001);
  assert.ok(first >= 0);
  for (let p = 2; p <= 20; p++) assert.equal(syn(r, '192.0.2.10', 1000 + p), first, `connection ${p}`);
  // The template: TCP, state NONE, client port 0, VIP:80 -> RIP:80, expiring in the -p time.
  const t = templates(r);
  assert.equal(t.length, 1);
  assert.deepEqual(
    [t[0]!.proto, t[0]!.state, t[0]!.caddr, t[0]!.cport, t[0]!.vaddr, t[0]!.vport, t[0]!.daddr, t[0]!.dport],
    ['tcp', 'NONE', '192.0.2.10', 0, VIP, 80, RS[first]!.ip, 80],
  );
  assert.ok(t[0]!.expires > 290 && t[0]!.expires <= 300, `expires ${t[0]!.expires}`);
  // Counted like IPVS: PersistConn 1 on that server, and the template is no (in)active connection.
  const d = r.ctl.list().services[0]!.dests;
  assert.deepEqual(persistConns(r), first === 0 ? [1, 0] : [0, 1]);
  assert.equal(d[first]!.inactive + d[first]!.active, 20);
  assert.equal(d[first]!.stats.conns, 20);
  const c = r.counters();
  assert.equal(c.conns_created, 20);
  assert.equal(c.templates_created, 1);
  assert.equal(r.dp.ct.count, 21, 'the template takes a table entry, as in IPVS');
  // A second client (not in the same /32) gets a template of its own from the scheduler.
  const other = syn(r, '192.0.2.20', 2000);
  assert.equal(other, 1 - first, 'rr moved on once for the first template only');
  assert.equal(templates(r).length, 2);
});

test('persistence: -M 255.255.255.0 groups a /24 on one template; other networks schedule anew', () => {
  const r = persistRig({ persist: 300, netmask: '255.255.255.0' });
  const a = syn(r, '192.0.2.10', 1000);
  assert.equal(syn(r, '192.0.2.20', 1000), a, 'same /24, same server');
  assert.equal(syn(r, '192.0.2.254', 5), a);
  const b = syn(r, '192.0.3.10', 1000);
  assert.equal(b, 1 - a, 'another /24 is scheduled (rr moves on)');
  assert.equal(syn(r, '192.0.3.99', 7), b);
  const t = templates(r).map((x) => `${x.caddr}->${x.daddr}`).sort();
  assert.deepEqual(t, [`192.0.2.0->${RS[a]!.ip}`, `192.0.3.0->${RS[b]!.ip}`].sort());
  // Without -M (255.255.255.255) the same two clients are apart.
  const s = persistRig({ persist: 300 });
  assert.notEqual(syn(s, '192.0.2.10', 1000), syn(s, '192.0.2.20', 1000));
});

test('persistence: a template is not expired while it has connections: its timer starts again with 60 s for good (expire_later), and it goes within 60 s after the last', () => {
  // UDP connections live 300 s; the template's timeout is 300 s too. Its connection, renewed at
  // 200 s, is alive when the template's timer fires at 300: kept, and its timeout is 60 s from
  // then on (ip_vs_conn_expire: expire_later sets cp->timeout = 60*HZ; later connections through
  // it restart that, not -p).
  const r = persistRig({ persist: 300, udp: true });
  const a = dgram(r, '192.0.2.10', 5000);
  later(r, 200_000);
  assert.equal(dgram(r, '192.0.2.10', 5000), a);
  later(r, 101_000);
  const mine = (): ConnInfo[] => templates(r).filter((t) => t.caddr === '192.0.2.10');
  assert.equal(mine().length, 1, 'kept at 300 s: its connection is alive');
  assert.ok(mine()[0]!.expires <= 60, `at 301 s it expires in ${mine()[0]!.expires} s (kernel: <= 60)`);
  assert.equal(dgram(r, '192.0.2.10', 6000), a, 'a new connection through it');
  assert.ok(mine()[0]!.expires <= 60, `restarted with 60 s, not its -p: ${mine()[0]!.expires} s`);
  later(r, 198_000);
  assert.equal(mine().length, 1, 'kept at 499 s: its connections are alive');
  assert.equal(dgram(r, '192.0.2.77', 5000), 1 - a, 'a new client is scheduled (rr)');
  later(r, 103_000);
  assert.equal(r.ctl.connections().filter((c) => !c.template && c.caddr === '192.0.2.10').length, 0);
  later(r, 61_000);
  assert.equal(mine().length, 0, 'gone within 60 s of its last connection');
  assert.equal(r.counters().templates_expired, 1);
  assert.deepEqual(persistConns(r), a === 0 ? [0, 1] : [1, 0], 'PersistConn follows');
});

test('persistence: each new connection restarts the template timer (ip_vs_conn_put)', () => {
  // TCP SYN-only connections expire after 60 s (SYN_RECV); the template lives 300 s.
  const r = persistRig({ persist: 300 });
  const a = syn(r, '192.0.2.10', 1);
  later(r, 250_000);
  assert.equal(syn(r, '192.0.2.10', 2), a, 'still on its template at 250 s');
  later(r, 200_000);
  assert.equal(templates(r).length, 1);
  assert.equal(syn(r, '192.0.2.10', 3), a);
  later(r, 301_000);
  assert.equal(templates(r).length, 0);
  assert.equal(r.dp.ct.count, 0);
  // A template that expired: the next connection is scheduled again (rr moved on once).
  assert.equal(syn(r, '192.0.2.10', 4), 1 - a);
});

test('persistence: weight 0 and overloaded servers keep their persistent clients; a deleted one invalidates the template', () => {
  const r = persistRig({ persist: 300, n: 3 });
  const a = syn(r, '192.0.2.10', 1);
  // Quiesce a: its persistent client still goes there; new clients do not.
  r.ctl.editDest({ service: TCP80, addr: RS[a]!.ip, port: 80, fwd: 'dr', weight: 0 });
  assert.equal(syn(r, '192.0.2.10', 2), a, 'weight 0: the template still holds (expire_quiescent_template=0)');
  for (let i = 0; i < 4; i++) assert.notEqual(syn(r, `192.0.2.${50 + i}`, 1), a, 'no new client on a weight-0 server');
  // Over its upper threshold (-x 1): still taken by the persistent client.
  r.ctl.editDest({ service: TCP80, addr: RS[a]!.ip, port: 80, fwd: 'dr', weight: 1, upper: 1 });
  assert.equal(r.ctl.list().services[0]!.dests[a]!.active, 2, 'two SYN_RECV entries: active');
  assert.equal(syn(r, '192.0.2.10', 3), a, 'overloaded: the template still holds');
  // Deleted: the template is invalidated (ports 65535, never found again) and the client is rescheduled.
  r.ctl.deleteDest({ service: TCP80, addr: RS[a]!.ip, port: 80 });
  const b = syn(r, '192.0.2.10', 4);
  assert.ok(b >= 0 && b !== a, `rescheduled to ${b}`);
  const t = templates(r).filter((x) => x.caddr === '192.0.2.10');
  assert.deepEqual(t.map((x) => [x.vport, x.dport, x.daddr]).sort(), [
    [80, 80, RS[b]!.ip], [65535, 65535, RS[a]!.ip],
  ].sort());
  assert.equal(syn(r, '192.0.2.10', 5), b, 'the new template holds');
  // The invalid template goes with its timer once its (stale) connections are gone.
  later(r, 400_000);
  assert.equal(templates(r).length, 0);
  assert.equal(r.dp.ct.count, 0);
});

test('persistence with --expire-quiescent-template: a client whose server went to weight 0 is rescheduled at its next connection (as --explain says), its old template invalidated', () => {
  const r = persistRig({ persist: 300, n: 3 });
  r.ctl.setDefense({ ...r.dp.defense, expireQuiescentTemplate: true });
  const a = syn(r, '192.0.2.10', 1);
  assert.equal(syn(r, '192.0.2.10', 2), a, 'weight 1: the template holds');
  r.ctl.editDest({ service: TCP80, addr: RS[a]!.ip, port: 80, fwd: 'dr', weight: 0 });
  // --explain tells the same: the template is no longer taken.
  const x = r.ctl.call('explain', { service: TCP80, client: '192.0.2.10' }) as { dest: { addr: string } | null; template: boolean; why: string };
  assert.equal(x.template, false, x.why);
  assert.match(x.why, /points at 10\.0\.0\.1\d:80, weight 0 \(expire-quiescent-template\): expired, a new one would be made/);
  const b = syn(r, '192.0.2.10', 3);
  assert.ok(b >= 0 && b !== a, `rescheduled away from the quiescent server: ${b}`);
  assert.equal(RS[b]!.ip, x.dest!.addr, 'explain named the server the connection got');
  const t = templates(r).filter((x) => x.caddr === '192.0.2.10');
  assert.deepEqual(t.map((x) => [x.vport, x.dport, x.daddr]).sort(), [
    [80, 80, RS[b]!.ip], [65535, 65535, RS[a]!.ip],
  ].sort(), 'the old template is shown with ports 65535, as the kernel shows an expired one');
  assert.equal(syn(r, '192.0.2.10', 4), b, 'the new template holds');
  // Back to weight 1 the server takes new clients again; this client stays on b.
  r.ctl.editDest({ service: TCP80, addr: RS[a]!.ip, port: 80, fwd: 'dr', weight: 1 });
  assert.equal(syn(r, '192.0.2.10', 5), b);
});

test('explain: a client whose template holds a weight-0 server (a health check\'s inhibit) is told it stays there until the template expires, and what reschedules it (--expire-quiescent-template)', () => {
  const r = persistRig({ persist: 300, n: 2 });
  const a = syn(r, '192.0.2.10', 1);
  r.ctl.editDest({ service: TCP80, addr: RS[a]!.ip, port: 80, fwd: 'dr', weight: 0 });
  const x = r.ctl.call('explain', { service: TCP80, client: '192.0.2.10' }) as { dest: { addr: string } | null; template: boolean; why: string };
  assert.equal(x.template, true);
  assert.equal(x.dest!.addr, RS[a]!.ip);
  assert.match(x.why, /expires in \d+ s \(weight 0: still taken by its persistent clients until the template expires; uvsd --expire-quiescent-template reschedules them\)$/);
});

// ip_vs_in (expire_nodest_conn, conn_reuse_mode on): a SYN on a connection whose server has
// weight 0 expires it and is scheduled anew, persistent ones too; ip_vs_sched_persist then takes
// the template, still valid at weight 0 unless expire_quiescent_template.
test('persistence: a SYN on an established connection whose server has weight 0 is a new connection: the template\'s server again, another with --expire-quiescent-template', () => {
  const r = persistRig({ persist: 300, n: 3 });
  const ack = (sport: number) => r.run(tcpFrame(IN, { src: '192.0.2.10', dst: VIP, sport, dport: 80, flags: TCP_FLAGS.ACK }));
  const conn = (sport: number) => r.ctl.connections().find((c) => c.template !== true && c.cport === sport);
  const a = syn(r, '192.0.2.10', 7);
  ack(7);
  assert.equal(conn(7)?.state, 'ESTABLISHED');
  r.ctl.editDest({ service: TCP80, addr: RS[a]!.ip, port: 80, fwd: 'dr', weight: 0 });
  assert.equal(syn(r, '192.0.2.10', 7), a, 'the template holds at weight 0');
  assert.equal(conn(7)?.state, 'SYN_RECV', 'a new entry, not the ESTABLISHED one');
  assert.equal(r.counters().conns_reused, 1);
  ack(7);
  r.ctl.setDefense({ ...r.dp.defense, expireQuiescentTemplate: true });
  const b = syn(r, '192.0.2.10', 7);
  assert.ok(b >= 0 && b !== a, `expire-quiescent-template: rescheduled to ${b}`);
  assert.equal(conn(7)?.daddr, RS[b]!.ip);
  assert.equal(r.counters().conns_reused, 2);
});

test('persistence: a port-zero service takes every port of the VIP and keeps a client on one server across ports', () => {
  const r = persistRig({ persist: 300, port: 0 });
  const a = syn(r, '192.0.2.10', 1, 80);
  assert.ok(a >= 0);
  assert.equal(syn(r, '192.0.2.10', 2, 443), a);
  assert.equal(syn(r, '192.0.2.10', 3, 22), a);
  const t = templates(r);
  assert.equal(t.length, 1);
  assert.deepEqual([t[0]!.vport, t[0]!.dport], [0, 0], 'port-zero template: VIP:0 -> RIP:0');
  const conns = r.ctl.connections().filter((c) => !c.template).map((c) => [c.vport, c.dport]).sort();
  assert.deepEqual(conns, [[22, 22], [443, 443], [80, 80]].sort(), 'connections keep the packet port');
  assert.equal(r.counters()['drop.no_service'], 0);
});

test('persistence: an FTP service (-t VIP:21 -p, DR) takes its clients\' data connections to VIP:20 or a passive port without a service, on the control connection\'s server (templates of virtual port 0, as ip_vs_service_find and ip_vs_sched_persist); without -p none', () => {
  const r = persistRig({ persist: 300, port: 21, n: 3 });
  assert.equal(syn(r, '192.0.2.99', 3000, 21), 0, 'another client first (rr)');
  const a = syn(r, '192.0.2.10', 3000, 21);
  assert.equal(a, 1);
  const x = r.ctl.call('explain', { service: { proto: 'tcp', addr: VIP, port: 40001 }, client: '192.0.2.10' }) as { dest: { addr: string; port: number } | null; template: boolean; why: string };
  assert.deepEqual([x.dest, x.template], [{ addr: RS[a]!.ip, port: 40001 }, true], x.why);
  assert.match(x.why, /^TCP 10\.0\.0\.100:21 \(FTP data connections\): persistence: template/);
  assert.equal(syn(r, '192.0.2.10', 3001, 40000), a, 'passive data connection: the control connection\'s server');
  const synAck = tcpFrame(IN, { src: '192.0.2.10', dst: VIP, sport: 3002, dport: 20, flags: TCP_FLAGS.SYN | TCP_FLAGS.ACK });
  assert.equal(sentTo(r.run(synAck)), a, 'active: the client\'s SYN|ACK to VIP:20');
  assert.equal(syn(r, '192.0.2.10', 3003, 22), -1, 'a privileged port is no FTP data port');
  assert.equal(r.counters()['drop.no_service'], 1);
  assert.deepEqual(templates(r).filter((t) => t.caddr === '192.0.2.10').map((t) => [t.vport, t.daddr, t.dport]), [[0, RS[a]!.ip, 0]], 'VIP:0 -> RIP:0');
  // A data connection of a client without a server to go to: passed on unanswered (ip_vs_leave
  // answers a port-21 service's packet to another port with nothing), counted no_dest.
  for (let i = 0; i < 3; i++) r.ctl.editDest({ service: { proto: 'tcp', addr: VIP, port: 21 }, addr: RS[i]!.ip, port: 21, fwd: 'dr', weight: 0 });
  assert.equal(r.run(tcpFrame(IN, { src: '192.0.2.20', dst: VIP, sport: 3000, dport: 40000, flags: TCP_FLAGS.SYN })).length, 0);
  assert.equal(r.counters()['drop.no_dest'], 1);
  assert.equal(r.counters().icmp_unreach_sent ?? 0, 0, 'no ICMP');
  // Without -p the port-21 service schedules no data connection (ip_vs_schedule: another port),
  // and a port-zero service of the VIP does not get it either: the kernel's lookup found the
  // port-21 service first.
  const plain = persistRig({ port: 21, n: 3 });
  assert.ok(syn(plain, '192.0.2.10', 3000, 21) >= 0);
  assert.equal(syn(plain, '192.0.2.10', 3001, 40000), -1, 'not scheduled');
  const all = { proto: 'tcp' as const, addr: VIP, port: 0 };
  plain.ctl.addService({ ...all, sched: 'rr', persist: 300 });
  plain.ctl.addDest({ service: all, addr: RS[2]!.ip, port: 0, fwd: 'dr' });
  assert.equal(syn(plain, '192.0.2.10', 3002, 40000), -1, 'not by the port-zero service either');
  assert.equal(syn(plain, '192.0.2.10', 3003, 22), 2, 'a privileged port: the port-zero service\'s');
  assert.equal(plain.counters()['drop.no_service'], 2);
});

test('-o: every datagram is scheduled on its own and leaves no entry; the server counts it', () => {
  const r = persistRig({ udp: true, oneShot: true });
  const before = r.counters();
  const got = [1, 2, 3, 4, 5].map(() => dgram(r, '192.0.2.10', 5000));
  assert.deepEqual(got, [0, 1, 0, 1, 0], 'the same client:port alternates under rr');
  assert.equal(r.dp.ct.count, 0);
  const c = r.counters();
  assert.equal(c.conns_created - before.conns_created, 0);
  assert.equal(c.ops_datagrams - before.ops_datagrams, 5);
  const d = r.ctl.list().services[0]!.dests;
  assert.deepEqual(d.map((x) => [x.stats.conns, x.stats.inpkts, x.active, x.inactive]), [[3, 3, 0, 0], [2, 2, 0, 0]]);
  // Without -o the same datagrams stay on one connection.
  const k = persistRig({ udp: true });
  assert.deepEqual([1, 2, 3].map(() => dgram(k, '192.0.2.10', 5000)), [0, 0, 0]);
  assert.equal(k.dp.ct.count, 1);
});

test('-o with persistence: the template is kept and steers every datagram; no connection entry stays', () => {
  const r = persistRig({ udp: true, oneShot: true, persist: 120 });
  const a = dgram(r, '192.0.2.10', 1);
  for (let p = 2; p < 10; p++) assert.equal(dgram(r, '192.0.2.10', p), a);
  assert.equal(r.dp.ct.count, 1, 'only the template');
  assert.equal(templates(r).length, 1);
  later(r, 121_000);
  assert.equal(r.dp.ct.count, 0, 'the template has no connections holding it');
});

test('explain: names what the next connection gets, template or scheduler, and changes nothing', () => {
  const r = persistRig({ persist: 300, sched: 'wlc', n: 2 });
  const ask = (client: string) => r.ctl.call('explain', { service: TCP80, client }) as { dest: { addr: string } | null; template: boolean; why: string };
  const before = ask('192.0.2.10');
  assert.equal(before.template, false);
  assert.match(before.why, /persistence: no template for 192\.0\.2\.10\/255\.255\.255\.255/);
  assert.match(before.why, /wlc: /);
  assert.deepEqual(ask('192.0.2.10'), before, 'asking twice gives the same answer');
  assert.equal(r.dp.ct.count, 0, 'explain creates nothing');
  const got = syn(r, '192.0.2.10', 1);
  assert.equal(RS[got]!.ip, before.dest!.addr, 'the real decision agrees');
  const after = ask('192.0.2.10');
  assert.equal(after.template, true);
  assert.equal(after.dest!.addr, RS[got]!.ip);
  assert.match(after.why, /template 192\.0\.2\.10\/255\.255\.255\.255 -> 10\.0\.0\.1\d:80 hit, 1 connection\(s\), expires in 30\d s/);
  // Another client: wlc now prefers the empty server; explain says so and the SYN agrees.
  const other = ask('192.0.2.99');
  assert.equal(other.template, false);
  assert.notEqual(other.dest!.addr, RS[got]!.ip);
  assert.equal(RS[syn(r, '192.0.2.99', 1)]!.ip, other.dest!.addr);
  // Refusals name the value.
  assert.throws(() => r.ctl.call('explain', { service: UDP53, client: '1.2.3.4' }), /No such service/);
  assert.throws(() => r.ctl.call('explain', { service: TCP80, client: 'bogus' }), /client address "bogus"/);
});

test('explain for rr without persistence follows the rotation without moving it', () => {
  const r = persistRig({ n: 3 });
  for (let i = 0; i < 6; i++) {
    const x = r.ctl.call('explain', { service: TCP80, client: '192.0.2.10', cport: 1 }) as { dest: { addr: string } };
    r.ctl.call('explain', { service: TCP80, client: '192.0.2.10', cport: 1 });
    assert.equal(RS[syn(r, '192.0.2.10', 100 + i)]!.ip, x.dest.addr, `connection ${i}`);
  }
});

test('uvsadm --explain: parsed into the explain verb; service and --client are compulsory; printed on three lines', async () => {
  const { parseArgs } = await import('../src/control/ipvsadm.js');
  const { formatExplain } = await import('../src/control/printers.js');
  const env = { env: {} };
  assert.deepEqual(parseArgs(['--explain', '-t', '10.0.0.100:80', '--client', '192.0.2.10:4000'], env), {
    kind: 'explain', socket: '/run/uvs/uvsd.sock', service: TCP80, client: '192.0.2.10', cport: 4000,
  });
  const u = parseArgs(['--explain', '-u', '10.0.0.100:53', '--client=192.0.2.10'], env);
  assert.equal(u.kind === 'explain' && u.cport, 0);
  assert.throws(() => parseArgs(['--explain', '-t', '10.0.0.100:80'], env), /You need to supply the 'client' option for the 'explain' command/);
  assert.throws(() => parseArgs(['--explain', '--client', '1.2.3.4'], env), /You need to supply the 'service-address' option/);
  assert.throws(() => parseArgs(['--explain', '-t', '10.0.0.100:80', '--client', 'x.y'], env), /illegal client address\[:port\] specified/);
  assert.throws(() => parseArgs(['--explain', '-t', '10.0.0.100:80', '--client', '1.2.3.4', '-s', 'rr'], env), /Illegal 'scheduler' option with the 'explain' command/);
  assert.throws(() => parseArgs(['-L', '--client', '1.2.3.4'], env), /Illegal 'client' option with the 'list' command/);
  assert.equal(
    formatExplain(TCP80, '192.0.2.10', 4000, { dest: { addr: '10.0.0.11', port: 80 }, template: false, why: 'rr: next after 10.0.0.12:80' }),
    'TCP 10.0.0.100:80 client 192.0.2.10:4000 -> 10.0.0.11:80\ndecided by scheduler\nwhy rr: next after 10.0.0.12:80\n',
  );
  assert.match(formatExplain(UDP53, '1.2.3.4', 0, { dest: null, template: false, why: 'rr: no available destination' }), /-> none\n/);
});

test('explain on a port-zero service names the port the connection goes to (the client\'s), not :0', () => {
  const r = persistRig({ persist: 300, port: 0 });
  const ask = () => r.ctl.call('explain', { service: TCP80, client: '192.0.2.10' }) as { dest: { addr: string; port: number } | null; template: boolean; why: string };
  const before = ask();
  assert.equal(before.dest!.port, 80);
  assert.match(before.why, /rr: next available after the list head → 10\.0\.0\.11:80$/);
  syn(r, '192.0.2.10', 1, 80);
  const after = ask();
  assert.deepEqual([after.template, after.dest!.port], [true, 80]);
  assert.match(after.why, /-> 10\.0\.0\.11:80 hit/);
  assert.doesNotMatch(before.why + after.why, /10\.0\.0\.1\d:0\b/);
});

test('explain names the servers a scheduler skipped and why: overloaded (its count against -x, or the -y it is not yet under) or weight 0', () => {
  const r = persistRig({ n: 3 });
  r.ctl.editDest({ service: TCP80, addr: RS[0].ip, port: 80, fwd: 'dr', weight: 1, upper: 2, lower: 1 });
  r.ctl.editDest({ service: TCP80, addr: RS[1].ip, port: 80, fwd: 'dr', weight: 0 });
  const why = () => (r.ctl.call('explain', { service: TCP80, client: '192.0.2.10' }) as { why: string }).why;
  assert.equal(why(), 'rr: next available after the list head → 10.0.0.11:80; skipped 10.0.0.12:80 (weight 0)');
  assert.equal(syn(r, '192.0.2.10', 1), 0);
  later(r, 30_000);
  assert.deepEqual([syn(r, '192.0.2.10', 2), syn(r, '192.0.2.10', 3)], [2, 0]);
  assert.equal(why(), 'rr: next available after 10.0.0.11:80 → 10.0.0.13:80; skipped 10.0.0.11:80 (overloaded: 2 ≥ -x 2), 10.0.0.12:80 (weight 0)');
  for (const sched of ['wlc', 'lc', 'sed', 'nq', 'fo', 'ovf', 'wrr', 'twos']) {
    r.ctl.editService({ ...TCP80, sched });
    assert.match(why(), /; skipped 10\.0\.0\.11:80 \(overloaded: 2 ≥ -x 2\), 10\.0\.0\.12:80 \(weight 0\)$/, sched);
  }
  // The first connection expires (SYN_RECV, 60 s): 1 left, not under -y 1 yet, still overloaded.
  later(r, 35_000);
  assert.match(why(), /skipped 10\.0\.0\.11:80 \(overloaded: 1 connections, not yet under -y 1\)/);
});

test('uvsadm trace on a persistent service: a connection its template places is a decision too (template hit, as --explain words it); a new template says so before the scheduler\'s why; a port-zero service\'s server by the client\'s port', () => {
  const r = persistRig({ persist: 300, port: 0 });
  const { session } = r.ctl.call('traceStart', {}) as { session: number };
  syn(r, '192.0.2.10', 1, 80);
  syn(r, '192.0.2.10', 2, 443);
  const p = r.ctl.call('tracePoll', { session }) as TracePollResult;
  assert.deepEqual(p.events.map((e) => [e.client, e.service, e.server, e.sched, e.why]), [
    ['192.0.2.10:1', `${VIP}:80`, `${RS[0].ip}:80`, 'rr', 'persistence: no template for 192.0.2.10/255.255.255.255, a new one (300 s) made; rr: next available after the list head → 10.0.0.11:80'],
    ['192.0.2.10:2', `${VIP}:443`, `${RS[0].ip}:443`, 'rr', 'persistence: template 192.0.2.10/255.255.255.255 -> 10.0.0.11:443 hit, 1 connection(s), expires in 300 s'],
  ]);
  // The server deleted: the template points nowhere; the next connection is scheduled and says why.
  r.ctl.deleteDest({ service: { ...TCP80, port: 0 }, addr: RS[0].ip, port: 0 });
  syn(r, '192.0.2.10', 3, 80);
  const q = r.ctl.call('tracePoll', { session }) as TracePollResult;
  assert.deepEqual(q.events.map((e) => [e.server, e.why]), [
    [`${RS[1].ip}:80`, 'persistence: template 192.0.2.10/255.255.255.255 points at a deleted destination, a new one made; rr: next available after the list head → 10.0.0.12:80'],
  ]);
});

test('explain and uvsadm trace on a port-zero service whose NAT server has a port of its own (-r RIP:8080 -m): the server is named by the port the connection keeps (the client\'s), as it goes, never :8080', () => {
  const r = rig();
  const SVC0 = { ...TCP80, port: 0 };
  r.ctl.addService({ ...SVC0, sched: 'rr', persist: 300 });
  r.ctl.addDest({ service: SVC0, addr: RS[0].ip, port: 8080, fwd: 'nat' });
  r.learn(RS[0].ip, RS[0].mac);
  r.sink.take();
  const ask = (port: number) => r.ctl.call('explain', { service: { ...TCP80, port }, client: '192.0.2.10' }) as { dest: { addr: string; port: number } | null; why: string };
  const before = ask(81);
  assert.deepEqual(before.dest, { addr: RS[0].ip, port: 81 });
  assert.match(before.why, /rr: next available after the list head → 10\.0\.0\.11:81$/);
  const { session } = r.ctl.call('traceStart', {}) as { session: number };
  const sent = (sport: number, dport: number): number => {
    const out = r.run(tcpFrame(IN, { src: '192.0.2.10', dst: VIP, sport, dport, flags: TCP_FLAGS.SYN }));
    assert.equal(out.length, 1, `SYN to :${dport} forwarded`);
    return out[0]!.readUInt16BE(14 + 20 + 2);
  };
  // ip_vs_sched_persist: dport = the packet's unless it is svc->port (0 here): the server's 8080 is not used.
  assert.deepEqual([sent(1, 81), sent(2, 82)], [81, 82]);
  const p = r.ctl.call('tracePoll', { session }) as TracePollResult;
  assert.deepEqual(p.events.map((e) => [e.service, e.server, e.why]), [
    [`${VIP}:81`, `${RS[0].ip}:81`, 'persistence: no template for 192.0.2.10/255.255.255.255, a new one (300 s) made; rr: next available after the list head → 10.0.0.11:81'],
    [`${VIP}:82`, `${RS[0].ip}:82`, 'persistence: template 192.0.2.10/255.255.255.255 -> 10.0.0.11:82 hit, 1 connection(s), expires in 300 s'],
  ]);
  const after = ask(83);
  assert.deepEqual(after.dest, { addr: RS[0].ip, port: 83 });
  assert.match(after.why, /-> 10\.0\.0\.11:83 hit/);
  assert.doesNotMatch(before.why + after.why + p.events.map((e) => e.server + e.why).join(), /:8080/);
});

test('persistence: a template is ASSURED (-Lnc) once a connection of it reaches ESTABLISHED (TCP) or is confirmed (UDP: a second datagram through DR; through NAT a client datagram after a reply, not the reply alone), NONE before, as the kernel\'s ip_vs_control_assure_ct', () => {
  const state = (r: Rig, caddr: string) => templates(r).filter((c) => c.caddr === caddr).map((c) => c.state);
  const r = persistRig({ persist: 300 });
  syn(r, '192.0.2.10', 1000);
  assert.deepEqual(state(r, '192.0.2.10'), ['NONE'], 'a SYN alone');
  r.run(tcpFrame(IN, { src: '192.0.2.10', dst: VIP, sport: 1000, dport: 80, flags: TCP_FLAGS.ACK }));
  assert.deepEqual(state(r, '192.0.2.10'), ['ASSURED'], 'ESTABLISHED');
  assert.match(formatConns(r.ctl.connections(), { numeric: true }), /\nTCP +\d\d:\d\d +ASSURED +192\.0\.2\.10:0 +10\.0\.0\.100:80 +10\.0\.0\.1[12]:80\n/);

  const u = persistRig({ persist: 300, udp: true });
  dgram(u, '192.0.2.10', 5000);
  assert.deepEqual(state(u, '192.0.2.10'), ['NONE'], 'one datagram');
  dgram(u, '192.0.2.10', 5000);
  assert.deepEqual(state(u, '192.0.2.10'), ['ASSURED'], 'DR: a second datagram of the flow');
  dgram(u, '192.0.2.11', 5000);
  dgram(u, '192.0.2.11', 5001);
  assert.deepEqual(state(u, '192.0.2.11'), ['NONE'], 'one datagram each of two flows');

  const n = rig({ gateway: GW });
  n.ctl.addService({ ...UDP53, sched: 'rr', persist: 300 });
  n.ctl.addDest({ service: UDP53, addr: RS[0].ip, port: 53, fwd: 'nat', weight: 1 });
  n.dp.resolve(parseIp(GW));
  n.learn(RS[0].ip, RS[0].mac);
  n.learn(GW, ROUTER_MAC);
  const q = () => udpFrame(IN, { src: '192.0.2.10', dst: VIP, sport: 5000, dport: 53, payload: new Uint8Array(4) });
  assert.equal(n.run(q()).length, 1);
  assert.equal(n.run(udpFrame({ ethDst: DIR_MAC, ethSrc: RS[0].mac }, { src: RS[0].ip, dst: '192.0.2.10', sport: 53, dport: 5000, payload: new Uint8Array(4) })).length, 1);
  assert.deepEqual(state(n, '192.0.2.10'), ['NONE'], 'NAT: the server\'s reply alone (a spoofed request is answered too)');
  n.run(q());
  assert.deepEqual(state(n, '192.0.2.10'), ['ASSURED'], 'NAT: the client\'s datagram after the reply');

  // A SYN proxy connection: when the server's handshake completes (the client's alone, with uvsd, is not enough).
  const sp = rig({ gateway: GW });
  sp.ctl.addService({ ...TCP80, sched: 'rr', persist: 300, synproxy: true });
  sp.ctl.addDest({ service: TCP80, addr: RS[0].ip, port: 8080, fwd: 'nat', weight: 1 });
  sp.dp.resolve(parseIp(GW));
  sp.learn(RS[0].ip, RS[0].mac);
  sp.learn(GW, ROUTER_MAC);
  synproxyHandshake((f) => sp.run(f), IN, { ethDst: DIR_MAC, ethSrc: RS[0].mac }, { client: '192.0.2.10', vip: VIP, cport: 40001, cisn: 1000, sisn: 5000, rs: RS[0].ip, rport: 8080 });
  assert.deepEqual(state(sp, '192.0.2.10'), ['ASSURED'], 'SYN proxy: the server answered');
  const cookie = sp.run(tcpFrame(IN, { src: '192.0.2.11', dst: VIP, sport: 40001, dport: 80, seq: 1000, flags: TCP_FLAGS.SYN }))[0]!.readUInt32BE(38);
  assert.equal(sp.run(tcpFrame(IN, { src: '192.0.2.11', dst: VIP, sport: 40001, dport: 80, seq: 1001, ack: (cookie + 1) >>> 0, flags: TCP_FLAGS.ACK })).length, 1);
  assert.deepEqual(state(sp, '192.0.2.11'), ['NONE'], 'SYN proxy: the client\'s handshake done, the server has not answered');

  // Sloppy TCP (DR): a mid-stream segment opens the connection ESTABLISHED, its template assured.
  const sl = persistRig({ persist: 300 });
  sl.dp.setDefense({ sloppyTcp: 'all' });
  assert.notEqual(sentTo(sl.run(tcpFrame(IN, { src: '192.0.2.10', dst: VIP, sport: 1000, dport: 80, flags: TCP_FLAGS.ACK }))), -1);
  assert.deepEqual(state(sl, '192.0.2.10'), ['ASSURED'], 'sloppy TCP');
});

test('eviction: a template not assured goes with the last connection an eviction takes, or alone when it controls none (a timer expiry leaves it, as the kernel\'s); an assured one never goes, nor one that still controls a connection; counted templates_evicted, in conns_evicted and templates_expired', () => {
  const r = persistRig({ persist: 300, n: 1, connMax: 7 });
  r.dp.setDefense({ evictAbove: 1, secureTcpAbove: 1 });
  const ack = (src: string, sport = 1) => r.run(tcpFrame(IN, { src, dst: VIP, sport, dport: 80, flags: TCP_FLAGS.ACK }));
  const states = () => templates(r).map((c) => `${c.caddr.slice(7)} ${c.state}`).sort();
  // A: a handshake, then a reset (CLOSE, 10 s); C: a SYN (SYN_RECV, 60 s). Both time out.
  syn(r, '192.0.2.1', 1);
  ack('192.0.2.1');
  r.feed(tcpFrame(IN, { src: '192.0.2.1', dst: VIP, sport: 1, dport: 80, flags: TCP_FLAGS.RST }));
  syn(r, '192.0.2.3', 1);
  later(r, 61_000);
  assert.deepEqual(states(), ['.1 ASSURED', '.3 NONE'], 'a timer expiry leaves the template');
  // B: established; X: half-open. 6 of 7 entries.
  syn(r, '192.0.2.2', 1);
  ack('192.0.2.2');
  syn(r, '192.0.2.9', 1);
  assert.equal(r.dp.ct.count, 6);
  const before = r.counters();
  // D needs two entries: X's half-open connection (the nearest expiry) goes, and its template with it.
  assert.equal(syn(r, '192.0.2.4', 1), 0);
  assert.deepEqual(states(), ['.1 ASSURED', '.2 ASSURED', '.3 NONE', '.4 NONE']);
  ack('192.0.2.4');
  // E: nothing half-open, finished or weak: C's template, assured by nothing and controlling nothing, goes alone.
  assert.equal(syn(r, '192.0.2.5', 1), 0);
  assert.deepEqual(states(), ['.1 ASSURED', '.2 ASSURED', '.4 ASSURED', '.5 NONE']);
  // F: E's half-open connection goes with its template.
  assert.equal(syn(r, '192.0.2.6', 1), 0);
  assert.deepEqual(states(), ['.1 ASSURED', '.2 ASSURED', '.4 ASSURED', '.6 NONE']);
  ack('192.0.2.6');
  // G: every entry an assured template or a live connection: refused, A's lone template stays.
  assert.equal(syn(r, '192.0.2.7', 1), -1);
  assert.deepEqual(states(), ['.1 ASSURED', '.2 ASSURED', '.4 ASSURED', '.6 ASSURED']);
  const d = delta(before, r.counters());
  assert.deepEqual([d.templates_evicted, d.conns_evicted, d.templates_expired, d['drop.conn_table_full']], [3, 5, 3, 1]);
});
