// test-class: shared
// ICMP port unreachable when a service has no real server available (IPVS ip_vs_leave): the
// reply's bytes checked field by field with the tests' own checksum code, the route it takes
// (on-link client directly, off-link through --gateway, none without one), the "all overloaded"
// case, and the rate limits: per source (1/s, burst 6, like net.ipv4.icmp_ratelimit) before the
// global one (1000/s, burst 50, like net.ipv4.icmp_msgs_per_sec/_burst).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { delta, DIR_MAC, rig, ROUTER_MAC, RS, VIP, CLIENT, type Rig } from './helpers/harness.js';
import { inetChecksum, ipStr, macStr, onesSum, tcpFrame, TCP_FLAGS, udpFrame } from './helpers/frames.js';
import { parseIp } from '../src/datapath/addr.js';
import { ICMP_ERR_BURST, ICMP_ERR_RATE, ICMP_PEER_BURST, ICMP_RATELIMIT_MS } from '../src/datapath/pipeline.js';
import { ICMP_PEER_BUCKETS, sharedBuckets, type LimiterBuckets } from '../src/datapath/ratelimit.js';
import { D, SVC_SLOTS } from '../src/datapath/counters.js';

const GW = '10.0.0.254';
const IN = { ethDst: DIR_MAC, ethSrc: ROUTER_MAC };
const IPF = { id: 0x1234, ttl: 60 };
const syn = (sport: number, src = CLIENT) =>
  tcpFrame(IN, { src, dst: VIP, sport, dport: 80, flags: TCP_FLAGS.SYN, seq: 0xa1b2c3d4, window: 64240 }, IPF);
/** Client i of many (off-link, behind GW): each under its own per-source limit. */
const client = (i: number) => `198.18.${i >> 7}.${1 + (i & 127)}`;

/** TCP VIP:80 whose servers are all at weight 0, UDP VIP:53 without servers; the router learnt. */
function noDestRig(o: { gateway?: boolean; worker?: { index: number; count: number; icmpPeers?: LimiterBuckets } } = {}): Rig {
  const r = rig({ gateway: o.gateway === false ? undefined : GW, worker: o.worker });
  r.ctl.addService({ proto: 'tcp', addr: VIP, port: 80, sched: 'wlc' });
  r.ctl.addService({ proto: 'udp', addr: VIP, port: 53, sched: 'rr' });
  for (const s of RS.slice(0, 2)) r.ctl.addDest({ service: { proto: 'tcp', addr: VIP, port: 80 }, addr: s.ip, port: 80, fwd: 'dr', weight: 0 });
  if (o.gateway !== false) r.dp.resolve(parseIp(GW));
  r.learn(GW, ROUTER_MAC);
  r.sink.take();
  return r;
}

test('port unreachable: Ethernet, IP and ICMP fields, checksums, and the quoted header + 8 bytes', () => {
  const r = noDestRig();
  const input = syn(40123);
  const before = r.counters();
  const out = r.run(input);
  const d = delta(before, r.counters());
  assert.equal(out.length, 1);
  const f = out[0]!;
  const inIp = input.subarray(14);
  const inIhl = (inIp[0]! & 15) * 4;
  // Ethernet: to the router (the client is off-link), from the director.
  assert.equal(macStr(f, 0), ROUTER_MAC);
  assert.equal(macStr(f, 6), DIR_MAC);
  assert.equal(f.readUInt16BE(12), 0x0800);
  // IPv4: 20-byte header, TOS 0xc0, total = 20 + 8 + quote, id 0, no DF, TTL 64, ICMP, VIP → client.
  const h = f.subarray(14);
  assert.equal(h[0], 0x45);
  assert.equal(h[1], 0xc0);
  assert.equal(h.readUInt16BE(2), 20 + 8 + inIhl + 8);
  assert.equal(f.length, 14 + h.readUInt16BE(2));
  assert.equal(h.readUInt16BE(4), 0);
  assert.equal(h.readUInt16BE(6), 0);
  assert.equal(h[8], 64);
  assert.equal(h[9], 1);
  assert.equal(ipStr(h.readUInt32BE(12)), VIP);
  assert.equal(ipStr(h.readUInt32BE(16)), CLIENT);
  assert.equal(inetChecksum(h, 0, 20), 0, 'IP header checksum');
  // ICMP: type 3 code 3, unused word 0, then the offending IP header and its first 8 bytes.
  const ic = h.subarray(20);
  assert.equal(ic[0], 3);
  assert.equal(ic[1], 3);
  assert.equal(ic.readUInt32BE(4), 0);
  assert.deepEqual(ic.subarray(8), inIp.subarray(0, inIhl + 8));
  assert.equal(onesSum(ic), 0xffff, 'ICMP checksum over the whole message');
  // The quote names the flow: client:40123 → VIP:80, sequence number included.
  assert.equal(ic.readUInt16BE(8 + inIhl), 40123);
  assert.equal(ic.readUInt16BE(8 + inIhl + 2), 80);
  assert.equal(ic.readUInt32BE(8 + inIhl + 4), 0xa1b2c3d4);
  assert.equal(d['drop.no_dest'], 1);
  assert.equal(d.icmp_unreach_sent, 1);
  assert.equal(d.conns_created, undefined);
  assert.equal(r.dp.ct.count, 0);
});

test('port unreachable: an on-link client directly (by ARP), none without a route', () => {
  const r = noDestRig({ gateway: false });
  const local = '10.0.0.50';
  // Off-link client and no --gateway: nothing can reach it; only the no_dest drop is counted.
  let before = r.counters();
  assert.equal(r.run(syn(1000)).length, 0);
  assert.deepEqual(delta(before, r.counters()), { rx_frames: 1, rx_bytes: syn(1000).length, 'drop.no_dest': 1 });
  // An on-link client: the ICMP waits for its ARP reply (a request goes out now), then leaves to its MAC.
  before = r.counters();
  const out = r.run(syn(1001, local));
  assert.equal(out.length, 1);
  assert.equal(out[0]!.readUInt16BE(12), 0x0806, 'an ARP request for the client');
  assert.equal(ipStr(out[0]!.readUInt32BE(14 + 24)), local);
  assert.equal(delta(before, r.counters()).neigh_queued, 1);
  const cmac = '02:00:00:00:00:50';
  r.sink.take();
  r.learn(local, cmac);
  const sent = r.sink.take();
  const icmp = sent.find((f) => f.readUInt16BE(12) === 0x0800 && f[14 + 9] === 1);
  assert.ok(icmp, 'the queued ICMP left when the client answered ARP');
  assert.equal(macStr(icmp, 0), cmac);
  assert.equal(ipStr(icmp.readUInt32BE(14 + 16)), local);
});

test('port unreachable: never to a source the kernel would not answer, even with a route; class E (240/4) answered as unicast', () => {
  const r = noDestRig();
  // 0/8, 127/8, multicast, the limited broadcast: martian sources, dropped before any lookup (bad_source).
  for (const src of ['0.1.2.3', '127.0.0.9', '224.0.0.7', '255.255.255.255']) {
    const before = r.counters();
    assert.equal(r.run(syn(2000, src)).length, 0, src);
    assert.deepEqual(delta(before, r.counters()), { rx_frames: 1, rx_bytes: syn(2000, src).length, 'drop.bad_source': 1 }, src);
  }
  // The connected network's broadcast never gets to the scheduler (a martian to the kernel with
  // rp_filter: bad_source), so is never answered either.
  const before = r.counters();
  assert.equal(r.run(syn(2000, '10.0.0.255')).length, 0);
  assert.deepEqual(delta(before, r.counters()), { rx_frames: 1, rx_bytes: syn(2000, '10.0.0.255').length, 'drop.bad_source': 1 });
  // A unicast source of the same rig is answered (the rig is not silent for another reason); so
  // is class E, which the kernel routes (and answers) as unicast.
  assert.equal(r.run(syn(2001, '198.51.100.7')).length, 1);
  assert.equal(r.run(syn(2002, '240.1.1.1')).length, 1, 'class E');
});

test('port unreachable when every server is overloaded (-x upper threshold)', () => {
  const r = rig({ gateway: GW });
  r.ctl.addService({ proto: 'tcp', addr: VIP, port: 80, sched: 'wlc' });
  r.ctl.addDest({ service: { proto: 'tcp', addr: VIP, port: 80 }, addr: RS[0].ip, port: 80, fwd: 'dr', weight: 1, upper: 1 });
  r.dp.resolve(parseIp(GW));
  r.learn(GW, ROUTER_MAC);
  r.learn(RS[0].ip, RS[0].mac);
  r.sink.take();
  const first = r.run(syn(3000));
  assert.equal(first.length, 1);
  assert.equal(macStr(first[0]!, 0), RS[0].mac, 'the first SYN is forwarded');
  const before = r.counters();
  const second = r.run(syn(3001));
  assert.equal(second.length, 1);
  assert.equal(second[0]![14 + 9], 1, 'the second gets ICMP');
  assert.deepEqual([second[0]![34], second[0]![35]], [3, 3]);
  assert.equal(delta(before, r.counters())['drop.no_dest'], 1);
});

test('rate limit: 50 at once, then 1000 per second, over TCP and UDP together; the rest counted', () => {
  assert.deepEqual([ICMP_ERR_RATE, ICMP_ERR_BURST], [1000, 50]);
  const r = noDestRig();
  const udp = (sport: number, src: string) => udpFrame(IN, { src, dst: VIP, sport, dport: 53, payload: new Uint8Array(12) }, IPF);
  let before = r.counters();
  // One batch of 40 SYNs and 20 datagrams, each from its own client: the burst answers 50 of them.
  const out = r.run(...Array.from({ length: 40 }, (_v, i) => syn(10000 + i, client(i))), ...Array.from({ length: 20 }, (_v, i) => udp(20000 + i, client(40 + i))));
  let d = delta(before, r.counters());
  assert.equal(out.length, 50);
  assert.ok(out.every((f) => f[14 + 9] === 1 && f[34] === 3 && f[35] === 3));
  assert.deepEqual([d.icmp_unreach_sent, d.icmp_unreach_ratelimited, d['drop.no_dest']], [50, 10, 60]);
  // 5 ms later: 5 tokens.
  r.advance(5);
  before = r.counters();
  d = (r.run(...Array.from({ length: 10 }, (_v, i) => syn(11000 + i, client(100 + i)))), delta(before, r.counters()));
  assert.deepEqual([d.icmp_unreach_sent, d.icmp_unreach_ratelimited], [5, 5]);
  // The same millisecond again: nothing left.
  before = r.counters();
  assert.equal(r.run(syn(12000, client(200))).length, 0);
  assert.equal(delta(before, r.counters()).icmp_unreach_ratelimited, 1);
  // A quiet second refills the bucket to its depth, never beyond it.
  r.advance(1000);
  before = r.counters();
  assert.equal(r.run(...Array.from({ length: 64 }, (_v, i) => syn(13000 + i, client(300 + i)))).length, 50);
  assert.equal(delta(before, r.counters()).icmp_unreach_ratelimited, 14);
});

test('rate limit with workers: each worker datapath has its share of rate and burst', () => {
  const r = noDestRig({ worker: { index: 0, count: 2 } });
  assert.equal(r.dp.icmpLimit.rate, 500);
  assert.equal(r.dp.icmpLimit.burst, 25);
  assert.equal(r.run(...Array.from({ length: 40 }, (_v, i) => syn(10000 + i, client(i)))).length, 25);
});

test('rate limit per source: 6 at once, then 1 a second to each (the kernel\'s icmp_ratelimit), checked before the daemon\'s bucket: a source flooding a server-less VIP spends none of the others\' answers', () => {
  assert.deepEqual([ICMP_RATELIMIT_MS, ICMP_PEER_BURST], [1000, 6]);
  const r = noDestRig();
  const flood = '198.51.100.7';
  const answered = (out: Buffer[], src: string) => out.filter((f) => ipStr(f.readUInt32BE(30)) === src).length;
  let before = r.counters();
  let d;
  // 20 SYNs of one source and 5 of another in a batch: 6 answered and 5.
  let out = r.run(...Array.from({ length: 20 }, (_v, i) => syn(10000 + i, flood)), ...Array.from({ length: 5 }, (_v, i) => syn(11000 + i)));
  assert.deepEqual([answered(out, flood), answered(out, CLIENT)], [6, 5]);
  assert.deepEqual(delta(before, r.counters()).icmp_unreach_ratelimited, 14);
  // 100 more of the flooding source take no token of the daemon's 50: its other 39 answer 39 clients
  // (40 whose buckets are neither the flood's nor CLIENT's: the buckets' seed is random per start,
  // and one client sharing CLIENT's bucket took its last token in about 1 run of 100).
  const bucket = (a: string) => r.dp.icmpPeerLimit.bucket(parseIp(a) | 0);
  const taken = new Set([bucket(flood), bucket(CLIENT)]);
  const others = Array.from({ length: 60 }, (_v, i) => client(i)).filter((a) => !taken.has(bucket(a))).slice(0, 40);
  before = r.counters();
  out = r.run(...Array.from({ length: 100 }, (_v, i) => syn(12000 + i, flood)), ...others.map((a, i) => syn(13000 + i, a)));
  assert.deepEqual([answered(out, flood), out.length], [0, 39]);
  assert.deepEqual(delta(before, r.counters()).icmp_unreach_ratelimited, 101);
  // A second later: one more each (the other client had one left of its 6: two).
  r.advance(1000);
  out = r.run(...Array.from({ length: 5 }, (_v, i) => syn(14000 + i, flood)), ...Array.from({ length: 5 }, (_v, i) => syn(15000 + i)));
  assert.deepEqual([answered(out, flood), answered(out, CLIENT)], [1, 2]);
  // Time exceeded shares the per-source limit; a reset does not (the daemon's limit only: the
  // kernel limits no resets, and one address may front many clients).
  r.ctl.addService({ proto: 'udp', addr: VIP, port: 54, sched: 'rr' });
  r.ctl.addDest({ service: { proto: 'udp', addr: VIP, port: 54 }, addr: RS[0]!.ip, port: 54, fwd: 'dr', weight: 1 });
  r.learn(RS[0]!.ip, RS[0]!.mac);
  before = r.counters();
  out = r.run(
    udpFrame(IN, { src: flood, dst: VIP, sport: 16000, dport: 54, payload: new Uint8Array(4) }, { ttl: 1 }),
    tcpFrame(IN, { src: flood, dst: VIP, sport: 16001, dport: 80, flags: TCP_FLAGS.ACK, seq: 1, ack: 1 }),
  );
  d = delta(before, r.counters());
  assert.deepEqual([d.icmp_time_exceeded_ratelimited, d.tcp_rst_sent, out.length], [1, 1, 1]);
  // uvsd --icmp-ratelimit 500: two a second each (the sysctl's interval); 0: no per-source limit,
  // the daemon's bucket alone (as net.ipv4.icmp_ratelimit = 0).
  r.dp.setDefense({ icmpRatelimit: 500 });
  r.advance(1000);
  out = r.run(...Array.from({ length: 5 }, (_v, i) => syn(17000 + i, flood)));
  assert.equal(answered(out, flood), 2);
  r.dp.setDefense({ icmpRatelimit: 0 });
  r.advance(1000);
  out = r.run(...Array.from({ length: 20 }, (_v, i) => syn(18000 + i, flood)));
  assert.equal(answered(out, flood), 20);
});

test('rate limit per source with workers: one set of buckets in shared memory, a source\'s 6 over all workers', () => {
  const icmpPeers = sharedBuckets(ICMP_PEER_BUCKETS);
  const w0 = noDestRig({ worker: { index: 0, count: 2, icmpPeers } });
  const w1 = noDestRig({ worker: { index: 1, count: 2, icmpPeers } });
  assert.deepEqual([w0.run(...Array.from({ length: 4 }, (_v, i) => syn(10000 + i))).length, w1.run(...Array.from({ length: 4 }, (_v, i) => syn(11000 + i))).length], [4, 2]);
});

test('no_dest per service (uvs_service_no_dest_total): counted for the service whose new flow found no server, by the scheduler, a persistence template or the mh owner (sloppy TCP); not reset by -Z or a server deleted; 0 again for a service added in a deleted one\'s id; ids past the first array keep every count', () => {
  const r = noDestRig();
  const tcp80 = { proto: 'tcp' as const, addr: VIP, port: 80 };
  const of = (port: number): number => {
    const svc = r.dp.services.find((s) => s !== undefined && s.port === port);
    assert.ok(svc, `service :${port}`);
    return r.dp.counters.svcNoDest[svc.id]!;
  };
  const udp = (sport: number, dport = 53) => udpFrame(IN, { src: CLIENT, dst: VIP, sport, dport, payload: new Uint8Array(12) }, IPF);
  r.feed(syn(1000), syn(1001), syn(1002), udp(2000));
  assert.deepEqual([of(80), of(53), r.dp.counters.d[D.no_dest]], [3, 1, 4]);
  // A persistent service: its template finds no server either.
  r.ctl.editService({ ...tcp80, sched: 'wlc', persist: 300 });
  r.feed(syn(1003));
  assert.equal(of(80), 4, 'template()');
  // A mid-flow segment adopted by the mh table (uvsd --sloppy-tcp mh) of a service with no server.
  r.ctl.editService({ ...tcp80, sched: 'mh', persist: 0 });
  r.dp.setDefense({ sloppyTcp: 'mh' });
  r.feed(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: 1004, dport: 80, flags: TCP_FLAGS.ACK }, IPF));
  assert.deepEqual([of(80), r.dp.counters.d[D.no_dest]], [5, 6], 'the mh owner');
  r.ctl.call('zero', {});
  r.ctl.deleteDest({ service: tcp80, addr: RS[0].ip, port: 80 });
  assert.deepEqual([of(80), of(53)], [5, 1], 'neither -Z nor a server deleted lowers it');
  // The UDP service deleted, another added in its id: from 0.
  const id53 = r.dp.services.findIndex((s) => s?.port === 53);
  r.ctl.deleteService({ proto: 'udp', addr: VIP, port: 53 });
  r.ctl.addService({ proto: 'udp', addr: VIP, port: 54, sched: 'rr' });
  assert.equal(r.dp.services.findIndex((s) => s?.port === 54), id53, 'the id is used again');
  assert.equal(of(54), 0);
  // 70 more services (ids past SVC_SLOTS, 64): the array grows, the counts so far stay.
  for (let p = 100; p < 170; p++) r.ctl.addService({ proto: 'udp', addr: VIP, port: p, sched: 'rr' });
  assert.ok(r.dp.services.length > SVC_SLOTS);
  r.feed(udp(2001, 169), udp(2002, 169), udp(2003, 54));
  assert.deepEqual([of(80), of(54), of(169), of(100)], [5, 1, 2, 0]);
  assert.equal(r.dp.counters.d[D.no_dest], 9);
});

test('an off-link client whose address ends in .255 (a host behind the gateway, not a connected network\'s broadcast) gets port unreachable, a reset, time exceeded and fragmentation needed', () => {
  const far = '198.51.100.255';
  const r = noDestRig();
  r.ctl.addService({ proto: 'tcp', addr: VIP, port: 81, sched: 'rr' });
  r.ctl.addDest({ service: { proto: 'tcp', addr: VIP, port: 81 }, addr: RS[0].ip, port: 81, fwd: 'tun', weight: 1 });
  r.learn(RS[0].ip, RS[0].mac);
  r.sink.take();
  const seg = (flags: number, o: { ttl?: number; payload?: Buffer } = {}) =>
    tcpFrame(IN, { src: far, dst: VIP, sport: 5000, dport: 81, flags, payload: o.payload }, { ...IPF, ttl: o.ttl ?? 60, df: true });
  const answer = (f: Buffer | undefined) => (f === undefined ? 'nothing' : `${ipStr(f.readUInt32BE(30))} ${f[23] === 1 ? `icmp ${f[34]}/${f[35]}` : `tcp flags ${f[47]}`}`);
  const before = r.counters();
  assert.equal(answer(r.run(syn(2000, far))[0]), `${far} icmp 3/3`, 'port unreachable (no server on :80)');
  assert.equal(answer(r.run(seg(TCP_FLAGS.ACK))[0]), `${far} tcp flags ${TCP_FLAGS.RST}`, 'a reset for a stray ACK');
  assert.equal(answer(r.run(seg(TCP_FLAGS.SYN, { ttl: 1 }))[0]), `${far} icmp 11/0`, 'time exceeded');
  assert.equal(r.run(seg(TCP_FLAGS.SYN)).length, 1, 'the TUN connection');
  const big = r.run(seg(TCP_FLAGS.ACK, { payload: Buffer.alloc(1460) }))[0];
  assert.equal(answer(big), `${far} icmp 3/4`, 'fragmentation needed for a 1500-byte DF segment');
  assert.equal(big!.readUInt16BE(14 + 20 + 6), 1480);
  const d = delta(before, r.counters());
  assert.deepEqual([d.icmp_unreach_sent, d.tcp_rst_sent, d.icmp_time_exceeded_sent, d.icmp_frag_needed_sent, d['drop.mtu_exceeded']], [1, 1, 1, 1, 1]);
});
