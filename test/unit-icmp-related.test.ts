// test-class: shared
// ICMP errors related to a connection (IPVS ip_vs_in_icmp / ip_vs_out_icmp): only destination
// unreachable, source quench and time exceeded are; an error relayed towards a server or
// translated (NAT, FULLNAT) must carry a valid ICMP checksum (the translated one gets a fresh
// sum, which would make a corrupted message valid); an error about a DR/TUN connection that uvsd
// cannot send on is a counted drop, not "forwarded"; one too big to wrap for TUN is cut.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decode, fromHex, icmpFrame, inetChecksum, ipv4, onesSum, tcp, tcpFrame, TCP_FLAGS, udp, udpFrame } from './helpers/frames.js';
import { DIR_IP, DIR_MAC, GW, ROUTER_MAC, RS, VIP, delta, gwRig, rig, type Rig } from './helpers/harness.js';
import { parseIp } from '../src/datapath/addr.js';
import { PROTO_TCP } from '../src/datapath/frame.js';
import { createMetrics } from '../src/metrics/collectors.js';
import { parseExposition } from './helpers/prom.js';

const IN = { ethDst: DIR_MAC, ethSrc: ROUTER_MAC };
const FROM_RS = { ethDst: DIR_MAC, ethSrc: RS[0].mac };
const CLIENT = '198.51.100.7';
const LIP = '10.0.0.5';
const SYN = { src: CLIENT, dst: VIP, sport: 40000, dport: 80, flags: TCP_FLAGS.SYN, seq: 0 };

/** The ICMP checksum of a frame's message (20-byte IP header) made wrong. */
function badSum(f: Buffer): Buffer {
  const b = Buffer.from(f);
  b[14 + 20 + 2]! ^= 0x5a;
  return b;
}

/** The first 28 bytes of an IPv4 packet carrying the TCP segment s (what an error quotes). */
const quote = (src: string, dst: string, s: Parameters<typeof tcp>[0], ttl = 63) => ipv4({ src, dst, proto: 6, id: 1, ttl, df: true }, tcp(s)).subarray(0, 28);

function fullnatRig(): Rig {
  const r = rig({ gateway: GW });
  const svc = { proto: 'tcp' as const, addr: VIP, port: 80 };
  r.ctl.addService({ ...svc, sched: 'rr' });
  r.ctl.addDest({ service: svc, addr: RS[0].ip, port: 80, fwd: 'fullnat', weight: 1 });
  r.ctl.addLaddr({ service: svc, addr: LIP });
  r.dp.resolve(parseIp(GW));
  r.learn(RS[0].ip, RS[0].mac);
  r.learn(GW, ROUTER_MAC);
  r.sink.take();
  return r;
}

/** Feed `f`; assert it is dropped for `reason` with nothing sent and nothing counted forwarded. */
function dropped(r: Rig, f: Buffer, reason: string, what: string): void {
  const before = r.counters();
  const out = r.run(f);
  const d = delta(before, r.counters());
  assert.equal(out.length, 0, `${what}: nothing sent, got:\n${out.map(decode).join('\n--\n')}`);
  assert.deepEqual(Object.keys(d).filter((k) => k.startsWith('drop.')), [`drop.${reason}`], `${what}: ${JSON.stringify(d)}`);
  assert.equal(d.icmp_related_forwarded, undefined, `${what}: not counted forwarded`);
}

test('NAT: an ICMP error from the server with a bad ICMP checksum is dropped (icmp_bad_checksum), never translated with a fresh one; so is one whose quote was corrupted after it was summed; the intact one is translated', () => {
  const r = gwRig('nat');
  assert.equal(r.run(tcpFrame(IN, SYN)).length, 1);
  // The server's "fragmentation needed" to the client, ICMP checksum 6eb2 (wrong; 6eb1 is right).
  const bad = fromHex('020000000001020000000011080045000038000200004001467e0a00000bc633640703046eb20000057845000028000140003f06078ac63364070a00000b9c401f9000000001');
  dropped(r, bad, 'icmp_bad_checksum', 'bad checksum');
  const good = Buffer.from(bad);
  good.writeUInt16BE(0, 36);
  good.writeUInt16BE(inetChecksum(good, 34), 36);
  const laundered = Buffer.from(good);
  laundered.writeUInt32BE(0x12345678, 34 + 8 + 24); // the quoted sequence number, the checksum left as it was
  dropped(r, laundered, 'icmp_bad_checksum', 'a quote changed after it was summed');
  const before = r.counters();
  const [out] = r.run(good);
  assert.ok(out, 'the intact error is sent on');
  assert.equal(delta(before, r.counters()).icmp_related_forwarded, 1);
  assert.equal(onesSum(out, 34), 0xffff, 'its ICMP checksum is valid');
  assert.deepEqual([out.readUInt32BE(26), out.readUInt16BE(34 + 8 + 22)], [parseIp(VIP) >>> 0, 80], 'from the VIP, quoting VIP:80');
});

test('FULLNAT: errors with a bad ICMP checksum are dropped both ways (icmp_bad_checksum); DR: one relayed to the server is too, as the kernel\'s ip_vs_in_icmp', () => {
  const r = fullnatRig();
  const [syn] = r.run(tcpFrame(IN, SYN));
  assert.ok(syn);
  const lport = syn.readUInt16BE(34);
  const fromServer = icmpFrame(FROM_RS, { src: RS[0].ip, dst: LIP }, { type: 3, code: 3, payload: quote(LIP, RS[0].ip, { ...SYN, src: LIP, sport: lport, dst: RS[0].ip }) }, { df: false });
  const reply = { src: VIP, dst: CLIENT, sport: 80, dport: 40000, flags: TCP_FLAGS.SYN | TCP_FLAGS.ACK };
  const toServer = icmpFrame(IN, { src: GW, dst: VIP }, { type: 11, payload: quote(VIP, CLIENT, reply) }, { df: false });
  dropped(r, badSum(fromServer), 'icmp_bad_checksum', 'FULLNAT, from the server');
  dropped(r, badSum(toServer), 'icmp_bad_checksum', 'FULLNAT, to the server');
  for (const f of [fromServer, toServer]) assert.equal(r.run(f).length, 1, 'the intact ones are sent on');
  const dr = gwRig('dr');
  assert.equal(dr.run(tcpFrame(IN, SYN)).length, 1);
  dropped(dr, badSum(toServer), 'icmp_bad_checksum', 'DR, to the server');
  assert.equal(dr.run(toServer).length, 1, 'DR: the intact one reaches the server');
});

test('redirect (5) and parameter problem (12) are not related to a connection, as IPVS: never translated or relayed; 3, 4 and 11 are', () => {
  const r = gwRig('nat');
  assert.equal(r.run(tcpFrame(IN, SYN)).length, 1);
  const q = quote(CLIENT, RS[0].ip, { ...SYN, dst: RS[0].ip, dport: 8080 });
  // From the server to the client: a redirect would show the client the server's internal gateway.
  const fromServer = (type: number, code: number, seq = 0) =>
    icmpFrame(FROM_RS, { src: RS[0].ip, dst: CLIENT }, { type, code, id: seq >>> 16, seq: seq & 0xffff, payload: q }, { df: false });
  dropped(r, fromServer(5, 1, parseIp('10.0.0.99') >>> 0), 'ip_not_local', 'redirect from the server');
  dropped(r, fromServer(12, 0, 0x14000000), 'ip_not_local', 'parameter problem from the server');
  for (const [type, code] of [[3, 3], [4, 0], [11, 0]]) assert.equal(r.run(fromServer(type!, code!)).length, 1, `type ${type} is sent on`);
  // To the VIP, about a reply of a DR connection: not an error uvsd relates (icmp_unhandled).
  const dr = gwRig('dr');
  assert.equal(dr.run(tcpFrame(IN, SYN)).length, 1);
  const reply = quote(VIP, CLIENT, { src: VIP, dst: CLIENT, sport: 80, dport: 40000, flags: TCP_FLAGS.SYN | TCP_FLAGS.ACK });
  for (const type of [5, 12]) dropped(dr, icmpFrame(IN, { src: GW, dst: VIP }, { type, payload: reply }, { df: false }), 'icmp_unhandled', `type ${type} to the VIP`);
});

test('DR/TUN: an error about a client\'s packet (towards the client) is a counted drop (icmp_unhandled), not "forwarded"; a TUN error too big to wrap is cut into inner fragments, or with DF dropped (mtu_exceeded) without an answer', () => {
  for (const fwd of ['dr', 'tun'] as const) {
    const r = rig({ gateway: GW });
    const svc = { proto: 'tcp' as const, addr: VIP, port: 80 };
    r.ctl.addService({ ...svc, sched: 'rr' });
    r.ctl.addDest({ service: svc, addr: RS[0].ip, port: 80, fwd, weight: 1 });
    r.dp.resolve(parseIp(GW));
    r.learn(RS[0].ip, RS[0].mac);
    r.learn(GW, ROUTER_MAC);
    r.sink.take();
    assert.equal(r.run(tcpFrame(IN, SYN)).length, 1);
    // The entry's reply tuple hashed (as a state-sync record flagged so makes it): an error about
    // the client's packet as the server got it finds the entry, travelling towards the client.
    r.dp.ct.hashOut(r.dp.ct.lookup(PROTO_TCP, parseIp(CLIENT), 40000, parseIp(VIP), 80) >>> 1);
    const aboutClient = icmpFrame(FROM_RS, { src: RS[0].ip, dst: DIR_IP }, { type: 3, code: 3, payload: quote(CLIENT, RS[0].ip, { ...SYN, dst: RS[0].ip }) }, { df: false });
    dropped(r, aboutClient, 'icmp_unhandled', `${fwd}: towards the client`);
    if (fwd !== 'tun') continue;
    // About the server's reply, quoting 1460 bytes of it (RFC 4884 lets routers quote more than 576).
    const reply = ipv4({ src: VIP, dst: CLIENT, proto: 6, id: 1, ttl: 63, df: true }, tcp({ src: VIP, dst: CLIENT, sport: 80, dport: 40000, flags: TCP_FLAGS.ACK, payload: Buffer.alloc(1420, 7) }));
    const big = (df: boolean) => icmpFrame(IN, { src: GW, dst: VIP }, { type: 11, payload: reply }, { df, id: 0x4242 });
    assert.equal(big(false).length - 14, 1488, "fits the link, not the tunnel");
    dropped(r, big(true), 'mtu_exceeded', 'TUN: too big with DF');
    const before = r.counters();
    const out = r.run(big(false));
    const d = delta(before, r.counters());
    assert.deepEqual([out.length, d.tun_inner_fragments, d.icmp_related_forwarded], [2, 2, 1], `TUN: cut in two: ${JSON.stringify(d)}`);
    assert.ok(out.every((f) => f.length <= 14 + 1500 && f[14 + 9] === 4), 'each wrapped (IPIP) and within the MTU');
    // The inner fragments at 34 (behind the 20-byte outer header): the error's IP ID, MF then the offset.
    assert.deepEqual(out.map((f) => f.readUInt16BE(34 + 4)), [0x4242, 0x4242]);
    assert.deepEqual(out.map((f) => f.readUInt16BE(34 + 6)), [0x2000, (out[0]!.length - 34 - 20) / 8]);
  }
});

test('relayed ICMP errors count in the connection\'s statistics and the totals, as the kernel\'s: NAT port unreachable from the server in OutPkts/OutBytes (ip_vs_out_stats), a router\'s time exceeded to the VIP in InPkts/InBytes (ip_vs_in_stats); a datagram arriving with TTL 1 in InPkts', async () => {
  const r = gwRig('nat', 'udp');
  const datagram = (ttl = 64) => udpFrame(IN, { src: CLIENT, dst: VIP, sport: 40000, dport: 80, payload: new Uint8Array(10) }, { ttl });
  const ipLen = (f: Buffer) => f.length - 14;
  assert.equal(r.run(datagram()).length, 1);
  // The server's port is closed: port unreachable to the client, quoting the datagram it got.
  const got = ipv4({ src: CLIENT, dst: RS[0].ip, proto: 17, id: 1, ttl: 63 }, udp({ src: CLIENT, dst: RS[0].ip, sport: 40000, dport: 8080, payload: new Uint8Array(10) }));
  const unreach = icmpFrame(FROM_RS, { src: RS[0].ip, dst: CLIENT }, { type: 3, code: 3, payload: got.subarray(0, 28) }, { df: false });
  assert.equal(r.run(unreach).length, 1, 'relayed to the client');
  const reply = udpFrame(FROM_RS, { src: RS[0].ip, dst: CLIENT, sport: 8080, dport: 40000, payload: new Uint8Array(4) });
  assert.equal(r.run(reply).length, 1);
  // A router's time exceeded about that reply, to the VIP: relayed to the server.
  const sent = ipv4({ src: VIP, dst: CLIENT, proto: 17, id: 2, ttl: 1 }, udp({ src: VIP, dst: CLIENT, sport: 80, dport: 40000, payload: new Uint8Array(4) }));
  const exceeded = icmpFrame(IN, { src: GW, dst: VIP }, { type: 11, code: 0, payload: sent.subarray(0, 28) }, { df: false });
  assert.equal(r.run(exceeded).length, 1, 'relayed to the server');
  const before = r.counters();
  r.run(datagram(1)); // counted, then dies here (the kernel: ip_vs_in_stats before decrement_ttl)
  assert.equal(delta(before, r.counters())['drop.ttl_exceeded'], 1);
  const inp = [3, ipLen(datagram()) + ipLen(exceeded) + ipLen(datagram(1))];
  const outp = [2, ipLen(unreach) + ipLen(reply)];
  const { services } = r.ctl.list(); // what -Ln --stats prints
  for (const [what, st] of [['service', services[0]!.stats], ['server', services[0]!.dests[0]!.stats]] as const) {
    assert.deepEqual([st.inpkts, st.inbytes, st.outpkts, st.outbytes], [...inp, ...outp], `-Ln --stats, ${what}`);
  }
  const m = createMetrics(r.dp, { process: false });
  const ex = parseExposition(await m.text());
  const totals = (names: string[]) => names.map((n) => ex.get(n));
  assert.deepEqual(totals(['node_ipvs_incoming_packets_total', 'node_ipvs_incoming_bytes_total', 'node_ipvs_outgoing_packets_total', 'node_ipvs_outgoing_bytes_total']), [...inp, ...outp]);
  assert.deepEqual(totals(['uvs_fwd_packets_total', 'uvs_fwd_bytes_total', 'uvs_fwd_out_packets_total', 'uvs_fwd_out_bytes_total']), [...inp, ...outp]);
});
