// test-class: shared
// TOA (uvsd --toa; src/proto/toa.ts): FULLNAT client segments that complete the real server's
// handshake carry the client's port and address as TCP option 254 (length 8) for the server's
// toa module. Expected frames are built from scratch with the test frame builder (checksums
// computed independently), so the comparisons are byte for byte.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { completeCsum, frameDiff, l4ChecksumOk, partialCsum, synOptions, tcpFrame, TCP_FLAGS, toHex } from './helpers/frames.js';
import { CLIENT, DIR_MAC, ROUTER_MAC, RS, VIP, rig, type Rig, type RigOpts } from './helpers/harness.js';
import { ip as ipNum } from './helpers/frames.js';
import { vnetRead } from '../src/datapath/vnet.js';
import { parseIp } from '../src/datapath/addr.js';

const IN = { ethDst: DIR_MAC, ethSrc: ROUTER_MAC };
const FROM_RS = { ethDst: DIR_MAC, ethSrc: RS[0].mac };
const TO_RS = { ethDst: RS[0].mac, ethSrc: DIR_MAC };
const LIP = '10.0.0.5';
const GW = '10.0.0.254';
const TCP80 = { proto: 'tcp' as const, addr: VIP, port: 80 };
const CPORT = 40000;
const CISN = 0x9abcdef0; // above 2^31: int32 on the hot path
const SISN = 0xf0000001;

function toaRig(toa: boolean, opts: RigOpts = {}): Rig {
  const r = rig({ connMax: 256, gateway: GW, ...opts });
  r.ctl.addService({ ...TCP80, sched: 'rr' });
  r.ctl.addDest({ service: TCP80, addr: RS[0].ip, port: 8080, fwd: 'fullnat', weight: 1 });
  r.ctl.addLaddr({ service: TCP80, addr: LIP });
  r.ctl.setDefense({ ...r.dp.defense, toa });
  r.dp.resolve(parseIp(GW)); // replies to the client go through the gateway
  r.learn(RS[0].ip, RS[0].mac);
  r.learn(GW, ROUTER_MAC);
  r.sink.take();
  return r;
}

/** The option as the toa module reads it: kind, length, port, address (network order). */
function toaOption(): Buffer {
  const b = Buffer.alloc(8);
  b[0] = 254;
  b[1] = 8;
  b.writeUInt16BE(CPORT, 2);
  b.writeUInt32BE(ipNum(CLIENT) >>> 0, 4);
  return b;
}

/** Handshake through the rig: the client's SYN, the server's SYN|ACK (MSS 1460). Returns the LIP port
 *  and the SYN|ACK as it reached the client. */
function handshake(r: Rig): { lport: number; synAck: Buffer } {
  const [syn] = r.run(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: CPORT, dport: 80, flags: TCP_FLAGS.SYN, seq: CISN, options: synOptions() }));
  const lport = syn.readUInt16BE(34);
  const [synAck] = r.run(tcpFrame(FROM_RS, { src: RS[0].ip, dst: LIP, sport: 8080, dport: lport, flags: TCP_FLAGS.SYN | TCP_FLAGS.ACK, seq: SISN, ack: CISN + 1, options: synOptions(1460) }));
  return { lport, synAck };
}

/** A client segment after the handshake. */
function fromClient(o: { ack?: number; flags?: number; options?: Buffer; payload?: Buffer; seq?: number }): Buffer {
  return tcpFrame(IN, { src: CLIENT, dst: VIP, sport: CPORT, dport: 80, flags: o.flags ?? TCP_FLAGS.ACK, seq: o.seq ?? CISN + 1, ack: o.ack ?? SISN + 1, window: 502, options: o.options, payload: o.payload });
}

/** What the server must get for it: FULLNAT's rewrite, TTL 63, and `options` as given. */
function toServer(lport: number, o: { ack?: number; flags?: number; options?: Buffer; payload?: Buffer; seq?: number }): Buffer {
  return tcpFrame(TO_RS, { src: LIP, dst: RS[0].ip, sport: lport, dport: 8080, flags: o.flags ?? TCP_FLAGS.ACK, seq: o.seq ?? CISN + 1, ack: o.ack ?? SISN + 1, window: 502, options: o.options, payload: o.payload }, { ttl: 63 });
}

function same(actual: Buffer | undefined, expected: Buffer, what: string): void {
  assert.ok(actual !== undefined, `${what}: nothing sent`);
  assert.equal(toHex(actual), toHex(expected), `${what}:\n${frameDiff(actual, expected)}`);
}

const TS = Buffer.from([1, 1, 8, 10, 0, 0, 0, 9, 0x11, 0x22, 0x33, 0x44]); // NOP NOP timestamps

test('--toa: the ACK completing the server\'s handshake carries kind 254 len 8 with the client\'s port and address, checksums right, seq and ack as sent; later segments and the SYN are unchanged; the SYN|ACK\'s MSS is 8 lower', () => {
  const r = toaRig(true);
  const { lport, synAck } = handshake(r);
  assert.equal(synAck.readUInt16BE(14 + 20 + 22), 1452, 'MSS 1460 - 8 towards the client');
  assert.ok(l4ChecksumOk(synAck), 'SYN|ACK checksum moved with the MSS');
  // The handshake's ACK (with timestamps, as Linux sends it): TOA first, then the client's options.
  const [ack] = r.run(fromClient({ options: TS }));
  same(ack, toServer(lport, { options: Buffer.concat([toaOption(), TS]) }), 'the handshake\'s ACK');
  assert.equal(r.counters().toa_added, 1);
  // Its retransmission, and data sent before the server's first byte, acknowledge the same: TOA too
  // (any of them may be the one that completes the server's handshake when the first was lost).
  const data = Buffer.from('GET / HTTP/1.0\r\n\r\n');
  const [d1] = r.run(fromClient({ flags: TCP_FLAGS.ACK | TCP_FLAGS.PSH, options: TS, payload: data }));
  same(d1, toServer(lport, { flags: TCP_FLAGS.ACK | TCP_FLAGS.PSH, options: Buffer.concat([toaOption(), TS]), payload: data }), 'data before the server spoke');
  // Once the server has sent data, the client acknowledges more: no TOA.
  r.run(tcpFrame(FROM_RS, { src: RS[0].ip, dst: LIP, sport: 8080, dport: lport, flags: TCP_FLAGS.ACK | TCP_FLAGS.PSH, seq: SISN + 1, ack: CISN + 1 + data.length, payload: Buffer.from('HTTP/1.0 200 OK\r\n\r\n') }));
  const later = { seq: CISN + 1 + data.length, ack: SISN + 1 + 19, options: TS };
  same(r.run(fromClient(later))[0], toServer(lport, later), 'a later segment');
  const fin = { seq: CISN + 1 + data.length, ack: SISN + 1, flags: TCP_FLAGS.FIN | TCP_FLAGS.ACK };
  same(r.run(fromClient(fin))[0], toServer(lport, fin), 'a FIN (never given TOA)');
  assert.equal(r.counters().toa_added, 2);
});

test('--toa off (the default): no option, the MSS as the server sent it', () => {
  const r = toaRig(false);
  const { lport, synAck } = handshake(r);
  assert.equal(synAck.readUInt16BE(14 + 20 + 22), 1460);
  same(r.run(fromClient({ options: TS }))[0], toServer(lport, { options: TS }), 'the handshake\'s ACK');
  assert.equal(r.counters().toa_added, 0);
});

test('--toa: a header whose 40 option bytes are nearly all taken (timestamps and 3 SACK blocks) goes without TOA, counted toa_skipped_room', () => {
  const r = toaRig(true);
  const { lport } = handshake(r);
  const sack = Buffer.alloc(26);
  sack[0] = 5;
  sack[1] = 26;
  for (let i = 2; i < 26; i += 4) sack.writeUInt32BE((CISN + i) >>> 0, i);
  const full = Buffer.concat([TS, Buffer.from([1, 1]), sack]); // 40 bytes: data offset 15
  same(r.run(fromClient({ options: full }))[0], toServer(lport, { options: full }), 'a full header');
  const c = r.counters();
  assert.deepEqual([c.toa_added, c.toa_skipped_room], [0, 1]);
});

test('--toa: a segment with 8 bytes left to the MTU gets TOA (a 1500-byte packet); one with fewer goes without, counted toa_skipped_mtu', () => {
  const r = toaRig(true);
  const { lport } = handshake(r);
  const fits = Buffer.alloc(1500 - 20 - 32 - 8, 0x61); // IP 20, TCP 20 + 12 of timestamps, 8 for TOA
  same(r.run(fromClient({ options: TS, payload: fits }))[0], toServer(lport, { options: Buffer.concat([toaOption(), TS]), payload: fits }), 'exactly the MTU with TOA');
  const big = Buffer.alloc(fits.length + 1, 0x62);
  same(r.run(fromClient({ options: TS, payload: big }))[0], toServer(lport, { options: TS, payload: big }), 'one byte too many for TOA');
  const c = r.counters();
  assert.deepEqual([c.toa_added, c.toa_skipped_mtu], [1, 1]);
});

test('--toa without headroom in front of the frame: copied with the gap, the same bytes', () => {
  const r = toaRig(true, { headroom: 0 });
  const { lport } = handshake(r);
  const data = Buffer.from('hello');
  same(r.run(fromClient({ flags: TCP_FLAGS.ACK | TCP_FLAGS.PSH, options: TS, payload: data }))[0],
    toServer(lport, { flags: TCP_FLAGS.ACK | TCP_FLAGS.PSH, options: Buffer.concat([toaOption(), TS]), payload: data }), 'the copy');
});

test('--toa with --offload: a partial checksum is moved by the longer length only (completed as the kernel would, it is right), the vnet header comes along; a TSO super-segment goes without, counted toa_skipped_offload', () => {
  // Receive slots as uvsd lays them out with --offload (64 KB each), so frames have headroom.
  const r = toaRig(true, { vnet: true, stride: 65600 });
  const { lport } = handshake(r);
  const data = Buffer.from('partial');
  const p = partialCsum(fromClient({ flags: TCP_FLAGS.ACK | TCP_FLAGS.PSH, options: TS, payload: data }));
  r.sink.sent = [];
  r.feed(p);
  const [out] = r.sink.sent;
  const hdr = vnetRead(Buffer.concat([out.vnet!, out.frame]), 10);
  assert.deepEqual({ flags: hdr.flags, csumStart: hdr.csumStart, csumOffset: hdr.csumOffset }, p.vnet, 'header passed on');
  same(completeCsum(out.frame, hdr), toServer(lport, { flags: TCP_FLAGS.ACK | TCP_FLAGS.PSH, options: Buffer.concat([toaOption(), TS]), payload: data }), 'completed');
  const gso = partialCsum(fromClient({ options: TS, payload: Buffer.alloc(4000, 0x63) }), { size: 1448 });
  r.sink.sent = [];
  r.feed(gso);
  assert.equal(r.sink.sent[0].frame.readUInt16BE(16), 20 + 32 + 4000, 'the super-segment as it was');
  const c = r.counters();
  assert.deepEqual([c.toa_added, c.toa_skipped_offload], [1, 1]);
});

test('--toa with --synproxy: the held ACK that completes the server\'s handshake, its ack moved into the server\'s numbering, carries TOA', () => {
  const r = rig({ connMax: 256, gateway: GW });
  r.ctl.addService({ ...TCP80, sched: 'rr', synproxy: true });
  r.ctl.addDest({ service: TCP80, addr: RS[0].ip, port: 8080, fwd: 'fullnat', weight: 1 });
  r.ctl.addLaddr({ service: TCP80, addr: LIP, portMin: 5000, portMax: 5000 });
  r.ctl.setDefense({ ...r.dp.defense, toa: true });
  r.dp.resolve(parseIp(GW));
  r.learn(RS[0].ip, RS[0].mac);
  r.learn(GW, ROUTER_MAC);
  r.sink.take();
  const [synAck] = r.run(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: CPORT, dport: 80, flags: TCP_FLAGS.SYN, seq: CISN, options: Buffer.from([2, 4, 5, 180]) }));
  const cookie = synAck.readUInt32BE(38);
  const ackIn = { src: CLIENT, dst: VIP, sport: CPORT, dport: 80, flags: TCP_FLAGS.ACK, seq: CISN + 1, ack: (cookie + 1) >>> 0, window: 502 };
  assert.equal(r.run(tcpFrame(IN, ackIn, { id: 7 }))[0][47], TCP_FLAGS.SYN, 'the SYN to the server');
  const [held] = r.run(tcpFrame(FROM_RS, { src: RS[0].ip, dst: LIP, sport: 8080, dport: 5000, flags: TCP_FLAGS.SYN | TCP_FLAGS.ACK, seq: SISN, ack: CISN + 1, options: Buffer.from([2, 4, 5, 180]) }));
  const toRs = { src: LIP, dst: RS[0].ip, sport: 5000, dport: 8080, flags: TCP_FLAGS.ACK, seq: CISN + 1, ack: SISN + 1, window: 502, options: toaOption() };
  same(held, tcpFrame(TO_RS, toRs, { id: 7, ttl: 63 }), 'the held ACK');
  // The client's ACK again (the server's SYN|ACK came twice): translated, TOA again.
  same(r.run(tcpFrame(IN, ackIn, { id: 8 }))[0], tcpFrame(TO_RS, toRs, { id: 8, ttl: 63 }), 'its retransmission');
  assert.equal(r.counters().toa_added, 2);
});

test('--toa with --synproxy: the cookie SYN|ACK tells a FULLNAT client an MSS 8 lower (1452 for its 1460; the SYN to the server keeps 1460), so its full-sized first segment completing the server\'s handshake still gets TOA; without --toa 1460', () => {
  for (const toa of [true, false]) {
    const r = rig({ connMax: 256, gateway: GW });
    r.ctl.addService({ ...TCP80, sched: 'rr', synproxy: true });
    r.ctl.addDest({ service: TCP80, addr: RS[0].ip, port: 8080, fwd: 'fullnat', weight: 1 });
    r.ctl.addLaddr({ service: TCP80, addr: LIP, portMin: 5000, portMax: 5000 });
    r.ctl.setDefense({ ...r.dp.defense, toa });
    r.dp.resolve(parseIp(GW));
    r.learn(RS[0].ip, RS[0].mac);
    r.learn(GW, ROUTER_MAC);
    r.sink.take();
    const [synAck] = r.run(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: CPORT, dport: 80, flags: TCP_FLAGS.SYN, seq: CISN, options: Buffer.from([2, 4, 5, 180]) }));
    const told = toa ? 1452 : 1460;
    assert.equal(synAck.readUInt16BE(14 + 20 + 22), told, `toa ${toa}: the MSS told the client`);
    assert.equal(synAck.readUInt16BE(14 + 20 + 14), told, `toa ${toa}: the window of one segment`);
    assert.ok(l4ChecksumOk(synAck), 'SYN|ACK checksum');
    const cookie = synAck.readUInt32BE(38);
    // The client's ACK carries a full segment of the MSS it was told (no timestamps: 20 + 20 + told).
    const req = Buffer.alloc(told, 0x61);
    const ackIn = { src: CLIENT, dst: VIP, sport: CPORT, dport: 80, flags: TCP_FLAGS.ACK | TCP_FLAGS.PSH, seq: CISN + 1, ack: (cookie + 1) >>> 0, window: 502, payload: req };
    const [syn] = r.run(tcpFrame(IN, ackIn, { id: 7 }));
    assert.equal(syn.readUInt16BE(14 + 20 + 22), 1460, 'the SYN to the server: the client\'s own MSS');
    const [held] = r.run(tcpFrame(FROM_RS, { src: RS[0].ip, dst: LIP, sport: 8080, dport: 5000, flags: TCP_FLAGS.SYN | TCP_FLAGS.ACK, seq: SISN, ack: CISN + 1, options: Buffer.from([2, 4, 5, 180]) }));
    const toRs = { src: LIP, dst: RS[0].ip, sport: 5000, dport: 8080, flags: TCP_FLAGS.ACK | TCP_FLAGS.PSH, seq: CISN + 1, ack: SISN + 1, window: 502, payload: req, ...(toa ? { options: toaOption() } : {}) };
    same(held, tcpFrame(TO_RS, toRs, { id: 7, ttl: 63 }), `toa ${toa}: the held full-sized request`);
    assert.equal(held.length, 14 + 1500, 'a 1500-byte packet (with the option under --toa)');
    const c = r.counters();
    assert.deepEqual([c.toa_added, c.toa_skipped_mtu], toa ? [1, 0] : [0, 0]);
  }
});
