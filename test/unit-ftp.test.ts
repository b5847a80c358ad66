// test-class: shared
// The FTP helper (uvsd --ftp-ports, src/modes/ftp.ts; the kernel's ip_vs_ftp): crafted control
// segments through a NAT (and FULLNAT) service on port 21 — the 227/229 reply rewritten to the
// VIP with exact frames, the client's data connection sent to the control connection's server,
// seq/ack/SACK moved after the reply's length changed, a reply split over two segments left as
// it is (nothing is reassembled, as the kernel), PORT/EPRT (active mode), and the settings.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { l4ChecksumOk, partialCsum, tcpFrame, TCP_FLAGS } from './helpers/frames.js';
import { CLIENT, DIR_MAC, ROUTER_MAC, RS, VIP, assertFrame, delta, rig, type Rig } from './helpers/harness.js';
import { parseIp } from '../src/datapath/addr.js';
import { S_LISTEN, S_SYN_RECV } from '../src/datapath/tcpstate.js';
import { ftpParse227, ftpParse229, ftpParseEprt, ftpParsePort, ftpPassiveAsked, FTP_EPSV, FTP_NONE, FTP_PASV } from '../src/proto/ftp.js';
import { parseConfig, parseFtpPorts } from '../src/control/config.js';
import { REC_LEN, RF_HAS_TPL, writeConnRecord } from '../src/datapath/syncrec.js';
import { Control, ftpNotPersistent } from '../src/control/model.js';
import { formatStatus } from '../src/control/printers.js';
import type { ServiceSpec } from '../src/control/protocol.js';
import type { Workers } from '../src/datapath/group.js';

const IN = { ethDst: DIR_MAC, ethSrc: ROUTER_MAC };
const TO_CLIENT = { ethDst: ROUTER_MAC, ethSrc: DIR_MAC };
const from = (i: number) => ({ ethDst: DIR_MAC, ethSrc: RS[i]!.mac });
const to = (i: number) => ({ ethDst: RS[i]!.mac, ethSrc: DIR_MAC });
const SVC = { proto: 'tcp' as const, addr: VIP, port: 21 };
const GW = '10.0.0.254';
const LIP = '10.0.0.5';
const LIP2 = '10.0.0.6';
const { SYN, ACK, PSH } = TCP_FLAGS;
const u32 = (v: number): number => v >>> 0;
const CPORT = 40001;
const CISN = 0x90000000; // above 2^31: int32 handling on the way
const SISN = 0xfffffff0; // wraps past 2^32 within the session
const txt = (s: string): Buffer => Buffer.from(s, 'latin1');

/** NAT (or FULLNAT) port 21 to RS[0] and RS[1] (rr), client off-link; FTP helper on port 21 unless ports is given. */
function ftpRig(fwd: 'nat' | 'fullnat' = 'nat', ports: number[] = [21], vnet = false): Rig {
  const r = rig({ gateway: GW, vnet });
  r.dp.setDefense({ ftpPorts: ports });
  r.ctl.addService({ ...SVC, sched: 'rr' });
  for (const i of [0, 1]) r.ctl.addDest({ service: SVC, addr: RS[i]!.ip, port: 21, fwd, weight: 1 });
  if (fwd === 'fullnat') for (const a of [LIP, LIP2]) r.ctl.addLaddr({ service: SVC, addr: a, portMin: 5000, portMax: 5009 });
  for (const i of [0, 1]) r.learn(RS[i]!.ip, RS[i]!.mac);
  r.dp.resolve(parseIp(GW));
  r.learn(GW, ROUTER_MAC);
  r.sink.take();
  return r;
}

/** The control connection's handshake (to RS[0], the first rr pick); returns the server's peer (the client, or LIP:lport). */
function control(r: Rig): { addr: string; port: number } {
  const syn = r.run(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: CPORT, dport: 21, seq: CISN, flags: SYN }))[0]!;
  assert.equal(syn.readUInt32BE(30), parseIp(RS[0].ip), 'control connection to RS[0]');
  const peer = { addr: `${syn[26]}.${syn[27]}.${syn[28]}.${syn[29]}`, port: syn.readUInt16BE(34) };
  r.run(tcpFrame(from(0), { src: RS[0].ip, dst: peer.addr, sport: 21, dport: peer.port, seq: SISN, ack: u32(CISN + 1), flags: SYN | ACK }));
  r.run(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: CPORT, dport: 21, seq: u32(CISN + 1), ack: u32(SISN + 1), flags: ACK }));
  return peer;
}

/** Client → VIP:21 with text, seq/ack as the client has them. */
function fromClient(r: Rig, seq: number, ack: number, payload: Buffer, options?: Buffer): Buffer[] {
  return r.run(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: CPORT, dport: 21, seq: u32(seq), ack: u32(ack), flags: PSH | ACK, payload, options }, { id: 7 }));
}

/** RS[0]:21 → peer with text. */
function fromServer(r: Rig, peer: { addr: string; port: number }, seq: number, ack: number, payload: Buffer): Buffer[] {
  return r.run(tcpFrame(from(0), { src: RS[0].ip, dst: peer.addr, sport: 21, dport: peer.port, seq: u32(seq), ack: u32(ack), flags: PSH | ACK, payload }, { id: 9 }));
}

test('ftp NAT passive: the 227 reply carries the VIP; the client\'s data SYN goes to the control connection\'s server; seq, ack and SACK follow the longer reply', () => {
  const r = ftpRig();
  const peer = control(r);
  const c0 = r.counters();
  let cseq = CISN + 1;
  let sseq = SISN + 1;
  // PASV: passed on unchanged.
  let out = fromClient(r, cseq, sseq, txt('PASV\r\n'));
  assertFrame(out[0], tcpFrame(to(0), { src: CLIENT, dst: RS[0].ip, sport: CPORT, dport: 21, seq: u32(cseq), ack: u32(sseq), flags: PSH | ACK, payload: txt('PASV\r\n') }, { id: 7, ttl: 63 }));
  cseq += 6;
  // The reply: 10,0,0,11 (9 characters) becomes 10,0,0,100 (10): one byte longer.
  const reply = txt('227 Entering Passive Mode (10,0,0,11,195,80).\r\n');
  out = fromServer(r, peer, sseq, cseq, reply);
  assert.equal(out.length, 1);
  assertFrame(out[0], tcpFrame(TO_CLIENT, {
    src: VIP, dst: CLIENT, sport: 21, dport: CPORT, seq: u32(sseq), ack: u32(cseq), flags: PSH | ACK, payload: txt('227 Entering Passive Mode (10,0,0,100,195,80).\r\n'),
  }, { id: 9, ttl: 63 }), 'rewritten reply');
  const d = r.counters();
  assert.equal(d.ftp_passive! - c0.ftp_passive!, 1);
  assert.equal(d.ftp_data_conns! - c0.ftp_data_conns!, 1, 'the data connection expected');
  assert.equal(d.conns_created, c0.conns_created, 'not a scheduled connection');
  sseq += reply.length;
  // The server's next segment: its seq one further on for the client.
  out = fromServer(r, peer, sseq, cseq, txt('150 Here it comes.\r\n'));
  assertFrame(out[0], tcpFrame(TO_CLIENT, {
    src: VIP, dst: CLIENT, sport: 21, dport: CPORT, seq: u32(sseq + 1), ack: u32(cseq), flags: PSH | ACK, payload: txt('150 Here it comes.\r\n'),
  }, { id: 9, ttl: 63 }), 'seq moved by the difference');
  // The client acks all of it (in its numbering, one more) with a SACK block around the second reply.
  const sack = Buffer.alloc(12);
  sack[0] = 1; sack[1] = 1; sack[2] = 5; sack[3] = 10;
  sack.writeUInt32BE(u32(sseq + 1), 4);
  sack.writeUInt32BE(u32(sseq + 1 + 20), 8);
  out = fromClient(r, cseq, sseq + 1 + 20, txt('NOOP\r\n'), sack);
  const want = Buffer.from(sack);
  want.writeUInt32BE(u32(sseq), 4);
  want.writeUInt32BE(u32(sseq + 20), 8);
  assertFrame(out[0], tcpFrame(to(0), {
    src: CLIENT, dst: RS[0].ip, sport: CPORT, dport: 21, seq: u32(cseq), ack: u32(sseq + 20), flags: PSH | ACK, payload: txt('NOOP\r\n'), options: want,
  }, { id: 7, ttl: 63 }), 'ack and SACK back in the server\'s numbering');
  // An ack of the rewritten reply's start (the PASV's answer not yet received) is not moved.
  out = r.run(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: CPORT, dport: 21, seq: u32(cseq + 6), ack: u32(sseq - reply.length), flags: ACK }));
  assert.equal(out[0]!.readUInt32BE(42), u32(sseq - reply.length));
  // The data connection: rr would pick RS[1]; it goes to RS[0]:50000, the port of the reply.
  out = r.run(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: 40002, dport: 50000, seq: 1000, flags: SYN }, { id: 11 }));
  assertFrame(out[0], tcpFrame(to(0), { src: CLIENT, dst: RS[0].ip, sport: 40002, dport: 50000, seq: 1000, flags: SYN }, { id: 11, ttl: 63 }), 'data SYN');
  const e = r.dp.ct.lookup(6, parseIp(CLIENT), 40002, parseIp(VIP), 50000);
  assert.ok(e >= 0 && (e & 1) === 0, 'found under the client\'s port now');
  assert.equal(r.dp.ct.state[e >>> 1], S_SYN_RECV);
  assert.equal(r.dp.ftp.waiting, 0);
  out = r.run(tcpFrame(from(0), { src: RS[0].ip, dst: CLIENT, sport: 50000, dport: 40002, seq: 5000, ack: 1001, flags: SYN | ACK }, { id: 12 }));
  assertFrame(out[0], tcpFrame(TO_CLIENT, { src: VIP, dst: CLIENT, sport: 50000, dport: 40002, seq: 5000, ack: 1001, flags: SYN | ACK }, { id: 12, ttl: 63 }), 'data SYN|ACK');
  // A second data SYN to the port (another client port) has no entry and no service: dropped.
  const c1 = r.counters();
  assert.equal(r.run(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: 40003, dport: 50000, seq: 1, flags: SYN })).length, 0);
  assert.equal(r.counters()['drop.no_service']! - c1['drop.no_service']!, 1);
});

// A SYN on an entry whose server has weight 0 is scheduled anew (expire_nodest_conn), but not
// an expected data connection's: it has no service of its own, and a drained server's FTP
// clients must still get their transfers.
test('ftp NAT passive: the data connection of a server drained to weight 0 meanwhile still goes to it', () => {
  const r = ftpRig();
  const peer = control(r);
  fromClient(r, CISN + 1, SISN + 1, txt('PASV\r\n'));
  fromServer(r, peer, SISN + 1, CISN + 7, txt('227 Entering Passive Mode (10,0,0,11,195,80).\r\n'));
  r.ctl.editDest({ service: SVC, addr: RS[0]!.ip, port: 21, fwd: 'nat', weight: 0 });
  const out = r.run(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: 40002, dport: 50000, seq: 1000, flags: SYN }, { id: 11 }));
  assertFrame(out[0], tcpFrame(to(0), { src: CLIENT, dst: RS[0].ip, sport: 40002, dport: 50000, seq: 1000, flags: SYN }, { id: 11, ttl: 63 }), 'data SYN');
  assert.equal(r.counters().conns_reused, 0);
});

test('ftp NAT passive: without --ftp-ports the 227 reply passes as it is and the data connection finds no service', () => {
  const r = ftpRig('nat', []);
  const peer = control(r);
  fromClient(r, CISN + 1, SISN + 1, txt('PASV\r\n'));
  const reply = txt('227 Entering Passive Mode (10,0,0,11,195,80).\r\n');
  const out = fromServer(r, peer, SISN + 1, CISN + 7, reply);
  assert.ok(out[0]!.subarray(54).equals(reply));
  const c0 = r.counters();
  assert.equal(r.run(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: 40002, dport: 50000, seq: 1, flags: SYN })).length, 0);
  assert.equal(r.counters()['drop.no_service']! - c0['drop.no_service']!, 1);
});

test('ftp-ports changed through the control plane (a reload: the setDefense op, as workers get it) reaches the helper; before, the op left ftpPorts out and a reload said it set them', () => {
  const r = ftpRig('nat', []);
  r.ctl.setDefense({ ...r.dp.defense, ftpPorts: [21] });
  assert.deepEqual([r.dp.ftp.on, r.dp.ftp.ports[21] !== 0, r.dp.defense.ftpPorts], [true, true, [21]]);
  const peer = control(r);
  fromClient(r, CISN + 1, SISN + 1, txt('PASV\r\n'));
  const out = fromServer(r, peer, SISN + 1, CISN + 7, txt('227 Entering Passive Mode (10,0,0,11,195,80).\r\n'));
  assert.match(out[0]!.subarray(54).toString(), /^227 Entering Passive Mode \(10,0,0,100,195,80\)/, 'rewritten to the VIP');
  r.ctl.setDefense({ ...r.dp.defense, ftpPorts: [] });
  assert.equal(r.dp.ftp.on, false);
});

test('ftp NAT passive: a 227 reply split over two segments is not rewritten (nothing reassembled, as the kernel); the next whole one is', () => {
  const r = ftpRig();
  const peer = control(r);
  let sseq = SISN + 1;
  const cseq = CISN + 7;
  fromClient(r, CISN + 1, sseq, txt('PASV\r\n'));
  const c0 = r.counters();
  for (const part of ['227 Entering Passive Mode (10,0,0,', '11,195,80).\r\n']) {
    const out = fromServer(r, peer, sseq, cseq, txt(part));
    assert.ok(out[0]!.subarray(54).equals(txt(part)), `"${part}" as it was`);
    assert.equal(out[0]!.readUInt32BE(38), u32(sseq), 'seq unchanged');
    sseq += part.length;
  }
  assert.equal(r.counters().ftp_passive, c0.ftp_passive);
  assert.equal(r.dp.ftp.waiting, 0, 'no data connection expected');
  // Still waiting for the reply: the server's next whole 227 (after a PASV again) is rewritten.
  fromClient(r, cseq, sseq, txt('PASV\r\n'));
  const out = fromServer(r, peer, sseq, cseq + 6, txt('227 Entering Passive Mode (10,0,0,11,195,81).\r\n'));
  assert.ok(out[0]!.subarray(54).equals(txt('227 Entering Passive Mode (10,0,0,100,195,81).\r\n')));
  assert.equal(r.dp.ftp.waiting, 1);
});

test('ftp NAT passive: a retransmitted 227 is rewritten again without moving the delta twice; a shorter address moves seq back', () => {
  const r = ftpRig();
  const peer = control(r);
  let sseq = SISN + 1;
  const cseq = CISN + 7;
  fromClient(r, CISN + 1, sseq, txt('PASV\r\n'));
  // The server says 10,0,0,11 with padding zeros "010,000,000,011" (15): the VIP text is 5 shorter.
  const reply = txt('227 Entering Passive Mode (010,000,000,011,4,1)\r\n');
  const want = txt('227 Entering Passive Mode (10,0,0,100,4,1)\r\n');
  for (let i = 0; i < 2; i++) {
    const out = fromServer(r, peer, sseq, cseq, reply);
    assert.ok(out[0]!.subarray(54).equals(want), `copy ${i + 1} rewritten`);
    assert.equal(out[0]!.readUInt32BE(38), u32(sseq), `copy ${i + 1}: its own seq`);
  }
  assert.equal(r.counters().ftp_passive, 1, 'one reply');
  sseq += reply.length;
  const out = fromServer(r, peer, sseq, cseq, txt('150 x\r\n'));
  assert.equal(out[0]!.readUInt32BE(38), u32(sseq - 5), 'seq 5 back, once');
  assert.equal(r.dp.ct.state[r.dp.ct.lookup(6, parseIp(CLIENT), 0, parseIp(VIP), 1025) >>> 1], S_LISTEN, 'one data connection expected (VIP:1025)');
});

test('ftp NAT passive: a 227 (or 229) reply sent again after the client\'s data SYN is rewritten again but makes no second data connection (as the kernel\'s IP_VS_FTP_ACTIVE); before, a LISTEN entry waited 2 minutes, counted in InActConn and holding the control connection', () => {
  for (const [ask, reply, port] of [['PASV\r\n', '227 Entering Passive Mode (10,0,0,11,195,80).\r\n', 50000], ['EPSV\r\n', '229 Entering Extended Passive Mode (|||50001|)\r\n', 50001]] as const) {
    const r = ftpRig();
    const peer = control(r);
    fromClient(r, CISN + 1, SISN + 1, txt(ask));
    const first = fromServer(r, peer, SISN + 1, CISN + 7, txt(reply))[0]!.subarray(54);
    r.run(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: 40002, dport: port, seq: 1000, flags: SYN }));
    const seen = (): number[] => [r.dp.ct.count, r.dp.ftp.waiting, r.dp.dt.active[0]!, r.dp.dt.inactive[0]!];
    const before = seen();
    assert.deepEqual(before, [2, 0, 2, 0], `${ask.trim()}: control and data connections, both active`);
    const again = fromServer(r, peer, SISN + 1, CISN + 7, txt(reply))[0]!.subarray(54);
    assert.ok(again.equals(first), `${ask.trim()}: the copy rewritten as the first (${again.toString().trim()})`);
    assert.deepEqual(seen(), before, `${ask.trim()}: no new entry, nothing waiting, no inactive connection`);
    assert.equal(r.dp.ct.lookup(6, parseIp(CLIENT), 0, parseIp(VIP), port), -1, `${ask.trim()}: no entry with client port 0`);
  }
});

test('ftp NAT passive: EPSV and its 229 reply (|||port|): same length, the data connection expected; one naming the server\'s address (|1|RIP|port|) is written (|||port|), as the kernel', () => {
  const r = ftpRig();
  const peer = control(r);
  fromClient(r, CISN + 1, SISN + 1, txt('EPSV\r\n'));
  const reply = txt('229 Entering Extended Passive Mode (|||50001|)\r\n');
  const out = fromServer(r, peer, SISN + 1, CISN + 7, reply);
  assert.ok(out[0]!.subarray(54).equals(reply));
  assert.equal(r.counters().ftp_passive, 1);
  const data = r.run(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: 40002, dport: 50001, seq: 1, flags: SYN }));
  assert.equal(data[0]!.readUInt32BE(30), parseIp(RS[0].ip), 'data SYN to RS[0]');
  const a = ftpRig();
  const apeer = control(a);
  fromClient(a, CISN + 1, SISN + 1, txt('EPSV\r\n'));
  const named = txt('229 Entering Extended Passive Mode (|1|10.0.0.11|50002|)\r\n');
  const [out2] = fromServer(a, apeer, SISN + 1, CISN + 7, named);
  assert.equal(out2!.subarray(54).toString(), '229 Entering Extended Passive Mode (|||50002|)\r\n', 'the address taken out');
  assert.equal(fromServer(a, apeer, SISN + 1 + named.length, CISN + 7, txt('150 x\r\n'))[0]!.readUInt32BE(38), u32(SISN + 1 + named.length - 10), 'seq 10 back');
});

test('ftp FULLNAT passive: the 227 reply carries the VIP; the data connection goes from the control connection\'s local address to its server', () => {
  const r = ftpRig('fullnat');
  const peer = control(r);
  assert.equal(peer.addr, LIP);
  fromClient(r, CISN + 1, SISN + 1, txt('PASV\r\n'));
  let out = fromServer(r, peer, SISN + 1, CISN + 7, txt('227 Entering Passive Mode (10,0,0,11,195,80).\r\n'));
  assert.ok(out[0]!.subarray(54).equals(txt('227 Entering Passive Mode (10,0,0,100,195,80).\r\n')));
  assert.equal(out[0]!.readUInt32BE(30), parseIp(CLIENT));
  out = r.run(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: 40002, dport: 50000, seq: 1000, flags: SYN }));
  assert.equal(out[0]!.readUInt32BE(30), parseIp(RS[0].ip), 'to RS[0]');
  assert.equal(out[0]!.readUInt32BE(26), parseIp(LIP), 'from the control connection\'s local address (round robin would take the second)');
  const lport = out[0]!.readUInt16BE(34);
  out = r.run(tcpFrame(from(0), { src: RS[0].ip, dst: LIP, sport: 50000, dport: lport, seq: 5000, ack: 1001, flags: SYN | ACK }, { id: 12 }));
  assertFrame(out[0], tcpFrame(TO_CLIENT, { src: VIP, dst: CLIENT, sport: 50000, dport: 40002, seq: 5000, ack: 1001, flags: SYN | ACK }, { id: 12, ttl: 63 }), 'data SYN|ACK');
});

test('ftp data connections are not scheduled: the server\'s and the service\'s Conns (-L --stats, --rate) and conns_created count the control connection only, ftp_data_conns the data ones (NAT passive and active, FULLNAT passive), as the kernel\'s helper (ip_vs_conn_new without ip_vs_conn_stats); before, each counted as a new connection', () => {
  for (const [fwd, ask, reply, dport] of [
    ['nat', 'PASV\r\n', '227 Entering Passive Mode (10,0,0,11,195,80).\r\n', 50000],
    ['nat', 'EPSV\r\n', '229 Entering Extended Passive Mode (|||50001|)\r\n', 50001],
    ['nat', 'PORT 192,0,2,10,156,66\r\n', '', 0],
    ['fullnat', 'PASV\r\n', '227 Entering Passive Mode (10,0,0,11,195,80).\r\n', 50000],
  ] as const) {
    const what = `${fwd} ${ask.trim()}`;
    const r = ftpRig(fwd);
    const peer = control(r);
    fromClient(r, CISN + 1, SISN + 1, txt(ask));
    if (reply !== '') {
      fromServer(r, peer, SISN + 1, CISN + 7, txt(reply));
      assert.equal(r.run(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: 40002, dport, seq: 1000, flags: SYN })).length, 1, `${what}: data SYN forwarded`);
    }
    const svc = r.ctl.list().services[0]!;
    const rs0 = svc.dests.find((d) => d.addr === RS[0].ip)!;
    assert.deepEqual([svc.stats.conns, rs0.stats.conns, r.dp.dt.conns[0]], [1, 1, 1], `${what}: Conns counts the control connection alone`);
    assert.deepEqual([r.counters().conns_created, r.counters().ftp_data_conns], [1, 1], `${what}: conns_created, ftp_data_conns`);
    assert.equal(r.dp.ct.count, 2, `${what}: both entries in the table`);
    assert.equal(r.dp.dt.active[0]! + r.dp.dt.inactive[0]!, 2, `${what}: both held by the server (ActiveConn + InActConn)`);
  }
});

test('ftp NAT active: PORT (and EPRT) make the server\'s data connection from RIP:20, seen by the client as VIP:20', () => {
  for (const cmd of ['PORT 192,0,2,10,156,66\r\n', 'EPRT |1|192.0.2.10|40002|\r\n']) {
    const r = ftpRig();
    const peer = control(r);
    let out = fromClient(r, CISN + 1, SISN + 1, txt(cmd));
    assert.ok(out[0]!.subarray(54).equals(txt(cmd)), 'passed on unchanged');
    assert.equal(r.counters().ftp_active, 1, cmd);
    out = r.run(tcpFrame(from(0), { src: RS[0].ip, dst: CLIENT, sport: 20, dport: 40002, seq: 7000, flags: SYN }, { id: 13 }));
    assertFrame(out[0], tcpFrame(TO_CLIENT, { src: VIP, dst: CLIENT, sport: 20, dport: 40002, seq: 7000, flags: SYN }, { id: 13, ttl: 63 }), `${cmd}: server SYN`);
    out = r.run(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: 40002, dport: 20, seq: 9000, ack: 7001, flags: SYN | ACK }, { id: 14 }));
    assertFrame(out[0], tcpFrame(to(0), { src: CLIENT, dst: RS[0].ip, sport: 40002, dport: 20, seq: 9000, ack: 7001, flags: SYN | ACK }, { id: 14, ttl: 63 }), `${cmd}: client SYN|ACK`);
    void peer;
  }
});

test('ftp NAT active: a PORT naming the client port of a finished data connection (TIME_WAIT, another server\'s) makes a new one for this control connection\'s server; before, the old entry was kept and the new server\'s SYN was dropped', () => {
  const r = ftpRig();
  control(r); // CPORT → RS[0]
  const ct = r.dp.ct;
  // Session 1 (RS[0]) gets its file actively on the client's port 40002; the server closes.
  fromClient(r, CISN + 1, SISN + 1, txt('PORT 192,0,2,10,156,66\r\n'));
  const srv = (i: number, f: { seq: number; ack?: number; flags: number }): Buffer[] =>
    r.run(tcpFrame(from(i), { src: RS[i]!.ip, dst: CLIENT, sport: 20, dport: 40002, ...f })).filter((o) => o.readUInt16BE(12) === 0x0800);
  const cli = (f: { seq: number; ack?: number; flags: number }): Buffer[] =>
    r.run(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: 40002, dport: 20, ...f })).filter((o) => o.readUInt16BE(12) === 0x0800);
  assert.equal(srv(0, { seq: 7000, flags: SYN }).length, 1);
  cli({ seq: 9000, ack: 7001, flags: SYN | ACK });
  srv(0, { seq: 7001, ack: 9001, flags: ACK });
  srv(0, { seq: 7001, ack: 9001, flags: TCP_FLAGS.FIN | ACK });
  cli({ seq: 9001, ack: 7002, flags: TCP_FLAGS.FIN | ACK });
  srv(0, { seq: 7002, ack: 9002, flags: ACK });
  const old = ct.lookup(6, parseIp(CLIENT), 40002, parseIp(VIP), 20);
  assert.ok(old >= 0 && r.ctl.connections().some((c) => c.cport === 40002 && c.state === 'TIME_WAIT'), 'session 1\'s data connection in TIME_WAIT');
  // Session 2 from the same client, to RS[1] (rr); its PORT names 40002 again (the client's
  // stack gave the port out again: its side of the first connection closed long ago).
  const CPORT2 = 40100;
  let out = r.run(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: CPORT2, dport: 21, seq: 100, flags: SYN }));
  assert.equal(out[0]!.readUInt32BE(30), parseIp(RS[1].ip), 'session 2 to RS[1]');
  r.run(tcpFrame(from(1), { src: RS[1].ip, dst: CLIENT, sport: 21, dport: CPORT2, seq: 500, ack: 101, flags: SYN | ACK }));
  r.run(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: CPORT2, dport: 21, seq: 101, ack: 501, flags: ACK }));
  r.run(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: CPORT2, dport: 21, seq: 101, ack: 501, flags: PSH | ACK, payload: txt('PORT 192,0,2,10,156,66\r\n') }));
  assert.equal(r.counters().ftp_active, 2, 'a data connection made for session 2');
  // RS[1] connects from its port 20: it leaves as VIP:20, and the client's answer reaches RS[1].
  out = srv(1, { seq: 3000, flags: SYN });
  assert.equal(out.length, 1, 'RS[1]\'s SYN forwarded (before: dropped, the TIME_WAIT entry named RS[0])');
  assertFrame(out[0], tcpFrame(TO_CLIENT, { src: VIP, dst: CLIENT, sport: 20, dport: 40002, seq: 3000, flags: SYN }, { ttl: 63 }), 'RS[1] SYN as VIP:20');
  out = cli({ seq: 11000, ack: 3001, flags: SYN | ACK });
  assert.equal(out.length, 1);
  assert.equal(out[0]!.readUInt32BE(30), parseIp(RS[1].ip), 'the client\'s SYN|ACK to RS[1]');
  const rows = r.ctl.connections().filter((c) => c.cport === 40002 && c.vport === 20);
  assert.equal(rows.length, 1, `one entry for the tuple: ${JSON.stringify(rows)}`);
  assert.equal(rows[0]!.daddr, RS[1].ip);
});

test('ftp: a 227 reply or a PORT command with a wrong TCP checksum is dropped (tcp_bad_checksum), never rewritten with a fresh checksum nor made a data connection; the intact copy sent again is; a partial checksum (vnet header) is taken as right', () => {
  const bad = (f: Buffer): Buffer => {
    const b = Buffer.from(f);
    b[14 + 20 + 16]! ^= 0x5a;
    return b;
  };
  const r = ftpRig();
  const peer = control(r);
  fromClient(r, CISN + 1, SISN + 1, txt('PASV\r\n'));
  const reply = tcpFrame(from(0), { src: RS[0].ip, dst: peer.addr, sport: 21, dport: peer.port, seq: u32(SISN + 1), ack: u32(CISN + 7), flags: PSH | ACK, payload: txt('227 Entering Passive Mode (10,0,0,11,195,80).\r\n') }, { id: 9 });
  let before = r.counters();
  assert.deepEqual(r.run(bad(reply)), [], '227 with a bad checksum: nothing sent');
  assert.deepEqual(delta(before, r.counters()), { rx_frames: 1, rx_bytes: reply.length, 'drop.tcp_bad_checksum': 1 });
  assert.equal(r.dp.ftp.waiting, 0, 'no data connection expected');
  const [out] = r.run(reply);
  assert.ok(out!.subarray(54).equals(txt('227 Entering Passive Mode (10,0,0,100,195,80).\r\n')), 'the intact one rewritten');
  assert.ok(l4ChecksumOk(out!));
  assert.equal(r.dp.ftp.waiting, 1);
  // Active mode: a corrupted PORT makes no data connection and is not passed on.
  const a = ftpRig();
  control(a);
  const port = tcpFrame(IN, { src: CLIENT, dst: VIP, sport: CPORT, dport: 21, seq: u32(CISN + 1), ack: u32(SISN + 1), flags: PSH | ACK, payload: txt('PORT 192,0,2,10,156,66\r\n') }, { id: 7 });
  before = a.counters();
  assert.deepEqual(a.run(bad(port)), [], 'PORT with a bad checksum: nothing sent');
  assert.deepEqual(delta(before, a.counters()), { rx_frames: 1, rx_bytes: port.length, 'drop.tcp_bad_checksum': 1 });
  assert.equal(a.dp.ct.lookup(6, parseIp(CLIENT), 40002, parseIp(VIP), 20), -1, 'no data connection');
  assert.equal(a.run(port).length, 1);
  assert.equal(a.counters().ftp_active, 1, 'the intact one makes it');
  // With --offload on: the server's reply with a partial checksum (only the pseudo-header sum).
  const v = ftpRig('nat', [21], true);
  const vpeer = control(v);
  fromClient(v, CISN + 1, SISN + 1, txt('PASV\r\n'));
  const p = partialCsum(tcpFrame(from(0), { src: RS[0].ip, dst: vpeer.addr, sport: 21, dport: vpeer.port, seq: u32(SISN + 1), ack: u32(CISN + 7), flags: PSH | ACK, payload: txt('227 Entering Passive Mode (10,0,0,11,195,80).\r\n') }));
  const [vout] = v.run(p);
  assert.ok(vout!.subarray(54).equals(txt('227 Entering Passive Mode (10,0,0,100,195,80).\r\n')), 'partial: rewritten');
  assert.ok(l4ChecksumOk(vout!), 'with a whole checksum');
  assert.equal(v.counters()['drop.tcp_bad_checksum'], 0);
});

test('ftp n_control: a control connection idle past its timeout stays while its data connection lasts, 60 s at a time (expire_later; -Lnc shows it); the QUIT after the transfer reaches its server; then its timer runs out as any', () => {
  const r = ftpRig();
  const peer = control(r);
  const ct = r.dp.ct;
  const reply = txt('227 Entering Passive Mode (10,0,0,11,195,80).\r\n');
  fromClient(r, CISN + 1, SISN + 1, txt('PASV\r\n'));
  fromServer(r, peer, SISN + 1, CISN + 7, reply);
  // What a data segment sent out (IPv4: not the ARP refreshing a neighbour now and then).
  const data = (f: { seq: number; ack: number; flags: number; payload?: Buffer }, server: boolean): Buffer[] => r.run(server
    ? tcpFrame(from(0), { src: RS[0].ip, dst: CLIENT, sport: 50000, dport: 40002, ...f })
    : tcpFrame(IN, { src: CLIENT, dst: VIP, sport: 40002, dport: 50000, ...f })).filter((o) => o.readUInt16BE(12) === 0x0800);
  data({ seq: 1000, ack: 0, flags: SYN }, false);
  data({ seq: 5000, ack: 1001, flags: SYN | ACK }, true);
  data({ seq: 1001, ack: 5001, flags: ACK }, false);
  const ctl = (): number => ct.lookup(6, parseIp(CLIENT), CPORT, parseIp(VIP), 21);
  const dataConn = (): number => ct.lookup(6, parseIp(CLIENT), 40002, parseIp(VIP), 50000);
  // A 25-minute download: a segment a minute on the data connection, nothing on the control one
  // (its ESTABLISHED timeout is 15 minutes; the kernel keeps it, n_control, and so does uvsd now).
  let sseq = 5001;
  for (let m = 0; m < 25; m++) {
    r.advance(60_000);
    r.dp.tick();
    r.learn(GW, ROUTER_MAC); // the neighbours answer the director's probes
    r.learn(RS[0].ip, RS[0].mac);
    assert.equal(data({ seq: sseq, ack: 1001, flags: PSH | ACK, payload: Buffer.alloc(100) }, true).length, 1, `minute ${m + 1}: data forwarded`);
    sseq += 100;
    data({ seq: 1001, ack: sseq, flags: ACK }, false);
  }
  assert.ok(ctl() >= 0, 'the control connection is still there after 25 minutes idle');
  const row = r.ctl.connections().find((c) => c.vport === 21);
  assert.ok(row !== undefined && row.state === 'ESTABLISHED' && row.expires > 0, `-Lnc shows it: ${JSON.stringify(row)}`);
  // Held since its 15 minutes ran out (at 900 s): its timer starts again with 60 s each time
  // (ip_vs_conn_expire: expire_later sets cp->timeout = 60*HZ), not its state's 15 minutes.
  assert.ok(row.expires <= 60, `held, it expires in ${row.expires} s (kernel: <= 60)`);
  // The transfer ends (the server closes); the data connection goes at its timer.
  data({ seq: sseq, ack: 1001, flags: TCP_FLAGS.FIN | ACK }, true);
  data({ seq: 1001, ack: sseq + 1, flags: TCP_FLAGS.FIN | ACK }, false);
  data({ seq: sseq + 1, ack: 1002, flags: ACK }, true);
  r.advance(180_000);
  r.dp.tick();
  r.learn(RS[0].ip, RS[0].mac);
  assert.equal(dataConn(), -1, 'the data connection expired');
  assert.ok(ctl() >= 0, 'the control connection waits for its own timer');
  // QUIT on the control connection reaches the same server (its ack moved by the 227's extra byte).
  const out = fromClient(r, CISN + 7, SISN + 1 + reply.length + 1, txt('QUIT\r\n'));
  assertFrame(out[0], tcpFrame(to(0), {
    src: CLIENT, dst: RS[0].ip, sport: CPORT, dport: 21, seq: u32(CISN + 7), ack: u32(SISN + 1 + reply.length), flags: PSH | ACK, payload: txt('QUIT\r\n'),
  }, { id: 7, ttl: 63 }), 'QUIT to RS[0]');
  // Nothing holds it now: 15 idle minutes later it is gone.
  r.advance(901_000);
  r.dp.tick();
  assert.equal(ctl(), -1, 'expired at its timer');
  assert.equal(ct.count, 0);
});

test('ftp n_control with -p: the data connection names its control connection, not a template: the template still counts the control connection alone, sync records are as before, and nothing takes the held control connection early', () => {
  const r = ftpRig();
  r.ctl.editService({ ...SVC, sched: 'rr', persist: 300 });
  const peer = control(r);
  const ct = r.dp.ct;
  fromClient(r, CISN + 1, SISN + 1, txt('PASV\r\n'));
  fromServer(r, peer, SISN + 1, CISN + 7, txt('227 Entering Passive Mode (10,0,0,11,195,80).\r\n'));
  const c = ct.lookup(6, parseIp(CLIENT), CPORT, parseIp(VIP), 21) >>> 1;
  const tpl = ct.template(c);
  assert.ok(tpl >= 0 && ct.ctl[tpl] === 1, 'the control connection holds its template');
  const d = ct.lookup(6, parseIp(CLIENT), 0, parseIp(VIP), 50000) >>> 1; // announced, not claimed yet
  assert.equal(ct.ctl[d], c, 'the data connection points at its control connection');
  assert.equal(ct.template(d), -1, 'and has no template');
  const rec = new Uint8Array(REC_LEN);
  writeConnRecord(ct, d, rec, 0, false);
  assert.deepEqual([rec[3]! & RF_HAS_TPL, Buffer.from(rec).readUInt32BE(32)], [0, 0], 'synced as before: no template');
  // While it is held, nothing frees it (a deleted server's lazy expiry, an eviction).
  ct.expireNow(c);
  assert.ok(ct.isAlive(c), 'expireNow refused');
  assert.equal(ct.controls(c), true);
  // The announced data connection never comes: it goes at its LISTEN timeout (2 min), then the
  // control connection is free; the template's count never moved.
  r.advance(121_000);
  r.dp.tick();
  assert.equal(ct.isAlive(d), false, 'the data connection expired');
  assert.equal(r.dp.ftp.waiting, 0);
  assert.equal(ct.controls(c), false);
  assert.equal(ct.ctl[tpl], 1, 'the template counts the control connection only');
  ct.expireNow(c);
  assert.equal(ct.isAlive(c), false);
  assert.equal(ct.ctl[tpl], 0);
});

test('--workers N with --ftp-ports: a NAT/FULLNAT service of an FTP port that is not persistent is warned about once (at a batch as at start, when a server or the port makes it so), listed by --status while it lasts, and not refused', () => {
  const r = ftpRig('nat', [21]);
  r.ctl.deleteService(SVC);
  // Two workers: the control plane's view of them (this test needs only their count).
  const workers = { count: 2, apply() {}, pull() {}, status: () => [], steering: () => 'ebpf', onSyncRecords: null } as unknown as Workers;
  const ctl = new Control(r.dp, { tap: 't', workers });
  const said: Array<{ msg: string; service: unknown }> = [];
  ctl.warn = (msg, fields) => said.push({ msg, service: fields.service });
  const nat = (service: ServiceSpec, addr: string, fwd: 'nat' | 'fullnat' | 'dr' = 'nat') => ctl.addDest({ service, addr, port: 21, fwd, weight: 1 });
  ctl.addService({ ...SVC, sched: 'rr' });
  assert.equal(said.length, 0, 'no server yet: not an FTP-through-NAT service');
  nat(SVC, RS[0].ip);
  assert.deepEqual(said.map((w) => w.service), [`TCP ${VIP}:21`]);
  assert.match(said[0]!.msg, new RegExp(`^FTP service TCP ${VIP.replaceAll('.', '\\.')}:21 is not persistent with --workers 2: .* make it persistent \\(-p\\)`));
  assert.match(formatStatus(ctl.status()), new RegExp(`^ftp_not_persistent TCP ${VIP.replaceAll('.', '\\.')}:21$`, 'm'));
  nat(SVC, RS[1].ip);
  assert.equal(said.length, 1, 'once');
  // Not these: a DR service on 21, a NAT service on another port.
  const dr = { ...SVC, addr: '10.0.0.101' };
  ctl.addService({ ...dr, sched: 'rr' });
  nat(dr, RS[0].ip, 'dr');
  const web = { ...SVC, port: 80 };
  ctl.addService({ ...web, sched: 'rr' });
  nat(web, RS[0].ip);
  assert.equal(said.length, 1);
  // Persistent: fine, off --status; not persistent again: said again.
  ctl.editService({ ...SVC, sched: 'rr', persist: 300 });
  assert.doesNotMatch(formatStatus(ctl.status()), /ftp_not_persistent/);
  ctl.editService({ ...SVC, sched: 'rr', persist: 0 });
  assert.equal(said.length, 2);
  // A batch (the --config file at start, a reload) with a FULLNAT one and a mark service of port 21.
  const other = { ...SVC, addr: '10.0.0.102' };
  const fwm = { proto: 'tcp' as const, addr: '0.0.0.0', port: 0, fwmark: 5 };
  ctl.call('batch', { items: [
    { verb: 'addService', args: { ...other, sched: 'rr' } },
    { verb: 'addDest', args: { service: other, addr: RS[0].ip, port: 21, fwd: 'fullnat', weight: 1 } },
    { verb: 'addMark', args: { fwmark: 5, proto: 'tcp', addr: '10.0.0.103', portMin: 20, portMax: 21 } },
    { verb: 'addService', args: { ...fwm, sched: 'rr' } },
    { verb: 'addDest', args: { service: fwm, addr: RS[0].ip, port: 21, fwd: 'nat', weight: 1 } },
  ] });
  assert.deepEqual(said.slice(2).map((w) => w.service), ['TCP 10.0.0.102:21', 'FWM 5']);
  // Port 80 becomes an FTP port (a reload of daemon.ftp-ports): its service is said now.
  ctl.setDefense({ ...r.dp.defense, ftpPorts: [21, 80] });
  assert.deepEqual(said.slice(4).map((w) => w.service), ['TCP 10.0.0.100:80']);
  assert.deepEqual(ctl.ftpNotPersistent(), [`TCP ${VIP}:21`, 'TCP 10.0.0.100:80', 'TCP 10.0.0.102:21', 'FWM 5']);
  // One datapath (no --workers): nothing to say.
  assert.deepEqual(ftpNotPersistent(ctl.model, [21, 80], 1), []);
});

test('--workers N with --ftp-ports: the FTP check after a change looks at the services the change touched, the others\' verdicts kept (each change made every service\'s text again: 12-16 ms of the loop at 10,000 NAT services on port 21); its warnings and --status as before', () => {
  const r = ftpRig('nat', [21]);
  r.ctl.deleteService(SVC);
  const workers = { count: 2, apply() {}, pull() {}, status: () => [], steering: () => 'ebpf', onSyncRecords: null } as unknown as Workers;
  const ctl = new Control(r.dp, { tap: 't', workers });
  const said: unknown[] = [];
  ctl.warn = (_msg, fields) => said.push(fields.service);
  const svc = (i: number) => ({ proto: 'tcp' as const, addr: `10.0.0.${100 + i}`, port: 21 });
  const items = [];
  for (let i = 0; i < 100; i++) items.push({ verb: 'addService', args: { ...svc(i), sched: 'rr' } }, { verb: 'addDest', args: { service: svc(i), addr: RS[0].ip, port: 21, fwd: 'nat', weight: 1 } });
  ctl.call('batch', { items });
  assert.equal(said.length, 100, 'each said once');
  ctl.editDest({ service: svc(7), addr: RS[0].ip, port: 21, fwd: 'nat', weight: 2 });
  assert.equal(ctl.ftpCheck?.made, 1, 'a -e: its service looked at again, no other');
  ctl.editService({ ...svc(7), sched: 'rr', persist: 300 });
  assert.equal(ctl.ftpCheck?.made, 1, 'a -E');
  assert.equal(ctl.ftpNotPersistent().length, 99);
  ctl.editService({ ...svc(7), sched: 'rr', persist: 0 });
  assert.deepEqual(said.slice(100), ['TCP 10.0.0.107:21'], 'not persistent again: said again');
  ctl.addService({ ...svc(100), sched: 'rr' });
  assert.equal(ctl.ftpCheck?.made, 1, 'a -A');
  // Another FTP port list: every service looked at again.
  ctl.setDefense({ ...r.dp.defense, ftpPorts: [21, 80] });
  assert.equal(ctl.ftpCheck?.made, 101);
  assert.equal(said.length, 101, 'nothing new to say');
  assert.deepEqual(ctl.ftpNotPersistent(), ftpNotPersistent(ctl.model, [21, 80], 2));
});

test('ftp parsers: every prefix of a reply or command is "not whole" (false), never a throw; the whole one parses', () => {
  const out = new Int32Array(4);
  const cases: Array<[(b: Uint8Array, f: number, e: number, o: Int32Array) => boolean, string, number, number]> = [
    [ftpParse227, '227 Entering Passive Mode (10,0,0,11,195,80).\r\n', parseIp('10.0.0.11') | 0, 50000],
    [ftpParse227, '227 =10,0,0,11,195,80\r\n', parseIp('10.0.0.11') | 0, 50000],
    [ftpParse229, '229 Entering Extended Passive Mode (|||50001|)\r\n', 0, 50001],
    [ftpParsePort, 'PORT 192,0,2,10,156,66\r\n', parseIp('192.0.2.10') | 0, 40002],
    [ftpParseEprt, 'EPRT |1|192.0.2.10|40002|\r\n', parseIp('192.0.2.10') | 0, 40002],
  ];
  for (const [parse, text, addr, port] of cases) {
    const b = txt(text);
    assert.equal(parse(b, 0, b.length, out), true, text);
    assert.deepEqual([out[0], out[1]], [addr, port], text);
    const whole = out[3]; // the end of the address text (its terminator must be in the segment too)
    for (let n = 0; n < whole; n++) assert.equal(parse(b, 0, n, out), false, `${JSON.stringify(text)} cut at ${n}`);
  }
  assert.equal(ftpParse227(txt('227 (10,0,0,256,1,1)\r\n'), 0, 22, out), false, 'a number above 255');
  assert.equal(ftpParseEprt(txt('EPRT |2|::1|40002|\r\n'), 0, 21, out), false, 'IPv6 is not ours');
  assert.equal(ftpPassiveAsked(txt('NOOP\r\npasv\r\n'), 0, 12), FTP_PASV, 'anywhere, any case');
  assert.equal(ftpPassiveAsked(txt('EPSV 1\r\n'), 0, 8), FTP_EPSV);
  assert.equal(ftpPassiveAsked(txt('EPSV ALL\r\n'), 0, 10), FTP_NONE);
  assert.equal(ftpPassiveAsked(txt('PASV'), 0, 4), FTP_NONE, 'without its line end');
});

test('--ftp-ports / daemon.ftp-ports: "21,2121" and lists taken, "none" and [] for none; a bad port, a repeat, too many or "" refused naming the value', () => {
  assert.deepEqual(parseFtpPorts('2121,21'), [21, 2121]);
  assert.deepEqual(parseFtpPorts('none'), []);
  assert.deepEqual(parseConfig('daemon:\n  ftp-ports: []\n', 'c.yaml').daemon.ftpPorts, []);
  // Before, --ftp-ports "" was taken as none (the file's "" is refused as any empty string).
  assert.throws(() => parseFtpPorts(''), /invalid FTP port "" in ""/);
  assert.throws(() => parseFtpPorts('21,x'), /invalid FTP port "x" in "21,x"/);
  assert.throws(() => parseFtpPorts('0'), /invalid FTP port "0"/);
  assert.throws(() => parseFtpPorts('21,21'), /FTP port given twice in "21,21"/);
  assert.throws(() => parseFtpPorts('1,2,3,4,5,6,7,8,9'), /at most 8 FTP ports/);
  assert.deepEqual(parseConfig('daemon:\n  ftp-ports: [21, 2121]\n', 'c.yaml').daemon.ftpPorts, [21, 2121]);
  assert.deepEqual(parseConfig('daemon:\n  ftp-ports: 21\n', 'c.yaml').daemon.ftpPorts, [21]);
  assert.throws(() => parseConfig('daemon:\n  ftp-ports: [21, 70000]\n', 'c.yaml'), /c\.yaml:2: daemon\.ftp-ports\[1\]: must be an integer 1\.\.65535, got 70000/);
});
