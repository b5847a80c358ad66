// test-class: shared
// A TCP segment of no connection to a service's port (docs/uvsd.md, drop no_conn): the kernel
// passes it from IPVS to its own stack, which answers with a reset (RFC 9293 3.10.7.1); uvsd
// answers the same way from the VIP, so a client whose entry expired, was evicted, or was lost
// in a restart without state file or a failover without sync learns at once. Never about a RST,
// a port without a service, a NAT reply, or a segment sloppy TCP picks up; rate-limited.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tcpFrame, TCP_FLAGS } from './helpers/frames.js';
import { CLIENT, DIR_MAC, ROUTER_MAC, RS, VIP, assertFrame, delta, gwRig } from './helpers/harness.js';

const IN = { ethDst: DIR_MAC, ethSrc: ROUTER_MAC };
const BACK = { ethDst: ROUTER_MAC, ethSrc: DIR_MAC };
const { SYN, ACK, FIN, PSH, RST } = TCP_FLAGS;

test('reset: an ACK of no connection gets RST (seq = its ack) from the VIP; a segment without ACK gets RST|ACK acking its length', () => {
  const r = gwRig('dr');
  const before = r.counters();
  const out = r.run(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: 40000, dport: 80, flags: ACK | PSH, seq: 1000, ack: 0x55667788, payload: Buffer.alloc(10) }));
  assert.equal(out.length, 1);
  assertFrame(out[0], tcpFrame(BACK, { src: VIP, dst: CLIENT, sport: 80, dport: 40000, flags: RST, seq: 0x55667788, ack: 0, window: 0 }, { id: 0, ttl: 64 }), 'RST');
  const d = delta(before, r.counters());
  assert.equal(d['drop.no_conn'], 1);
  assert.equal(d.tcp_rst_sent, 1);
  assert.equal(r.dp.ct.count, 0, 'no entry made');
  // FIN with 5 bytes, no ACK: ack = seq + 5 + 1.
  const fin = r.run(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: 40001, dport: 80, flags: FIN, seq: 0xfffffffe, payload: Buffer.alloc(5) }));
  assertFrame(fin[0], tcpFrame(BACK, { src: VIP, dst: CLIENT, sport: 80, dport: 40001, flags: RST | ACK, seq: 0, ack: 4, window: 0 }, { id: 0, ttl: 64 }), 'RST|ACK');
});

test('reset: an expired connection\'s next segment gets a reset; nothing for a RST, a port without a service, a NAT reply of no connection', () => {
  const r = gwRig('nat');
  assert.equal(r.run(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: 40000, dport: 80, flags: SYN })).length, 1);
  r.advance(61_000); // SYN_RECV lasts 60 s
  r.dp.tick();
  assert.equal(r.dp.ct.count, 0, 'expired');
  // (Besides it, maybe an ARP refresh of the gateway after the minute.)
  const rst = r.run(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: 40000, dport: 80, flags: ACK, seq: 1, ack: 77 })).filter((f) => f.readUInt16BE(12) === 0x0800);
  assert.equal(rst.length, 1);
  assert.equal(rst[0]![14 + 20 + 13], RST);
  const before = r.counters();
  assert.equal(r.run(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: 40000, dport: 80, flags: RST | ACK, seq: 1, ack: 77 })).length, 0, 'never a reset for a reset');
  assert.equal(r.run(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: 40000, dport: 81, flags: ACK, seq: 1, ack: 77 })).length, 0, 'no service on :81');
  assert.equal(r.run(tcpFrame({ ethDst: DIR_MAC, ethSrc: RS[0].mac }, { src: RS[0].ip, dst: CLIENT, sport: 8080, dport: 40000, flags: ACK, seq: 1, ack: 1 })).length, 0, 'a NAT reply of no connection');
  const d = delta(before, r.counters());
  assert.equal(d.tcp_rst_sent ?? 0, 0);
  assert.equal(d['drop.no_conn'], 1);
  assert.equal(d['drop.no_service'], 1);
  assert.equal(d['drop.ip_not_local'], 1);
});

test('reset: sloppy TCP picks a mid-stream segment up instead (DR); resets share the ICMP errors\' rate limit', () => {
  const r = gwRig('dr');
  r.dp.setDefense({ sloppyTcp: 'all' });
  const out = r.run(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: 40000, dport: 80, flags: ACK, seq: 1, ack: 1 }));
  assert.equal(out.length, 1);
  assert.equal(out[0]!.subarray(0, 6).toString('hex'), RS[0].mac.replace(/:/g, ''), 'forwarded to the server');
  r.dp.setDefense({ sloppyTcp: 'off' });
  const before = r.counters();
  for (let i = 0; i < 200; i++) r.feed(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: 41000 + i, dport: 80, flags: ACK, seq: 1, ack: 1 }));
  const d = delta(before, r.counters());
  assert.equal(d['drop.no_conn'], 200);
  assert.ok(d.tcp_rst_sent! >= 1 && d.tcp_rst_sent! <= 51, `sent ${d.tcp_rst_sent}`);
  assert.equal(d.tcp_rst_sent! + d.tcp_rst_ratelimited!, 200);
});
