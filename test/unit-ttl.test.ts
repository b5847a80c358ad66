// test-class: shared
// TTL (docs/uvsd.md, drop ttl_exceeded): as the kernel's IPVS (decrement_ttl in ip_vs_xmit.c),
// every packet uvsd sends on leaves with its TTL one less, both ways and in every method; one
// that arrives with TTL 1 or 0 dies here and its sender gets ICMP time exceeded (11/0), from the
// address it sent to when that is ours, else from the director's address; never about a later
// fragment or an ICMP error, and rate-limited with the other ICMP errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decode, eth, icmpFrame, inetChecksum, ipv4, tcpFrame, TCP_FLAGS, udp, udpFrame } from './helpers/frames.js';
import { CLIENT, DIR_IP, DIR_MAC, GW, ROUTER_MAC, RS, VIP, assertFrame, delta, gwRig, rig } from './helpers/harness.js';

const IN = { ethDst: DIR_MAC, ethSrc: ROUTER_MAC };

/** The ICMP time exceeded uvsd should send about `pkt` (the IP packet as it arrived), from `from`. */
function timeExceeded(l2: { ethDst: string; ethSrc: string }, from: string, to: string, pkt: Uint8Array): Buffer {
  return icmpFrame(l2, { src: from, dst: to }, { type: 11, code: 0, payload: pkt.subarray(0, 28) }, { tos: 0xc0, id: 0, df: false, ttl: 64 });
}

test('TTL: a forwarded packet leaves one hop on (checksum right); one with TTL 1 dies, the client gets time exceeded from the VIP', () => {
  const r = gwRig('dr');
  const syn = (ttl: number) => tcpFrame(IN, { src: CLIENT, dst: VIP, sport: 40000, dport: 80, flags: TCP_FLAGS.SYN }, { ttl });
  const out = r.run(syn(2));
  assert.equal(out.length, 1);
  assertFrame(out[0], tcpFrame({ ethDst: RS[0].mac, ethSrc: DIR_MAC }, { src: CLIENT, dst: VIP, sport: 40000, dport: 80, flags: TCP_FLAGS.SYN }, { ttl: 1 }), 'TTL 2 → 1');
  assert.equal(inetChecksum(out[0]!, 14, 20), 0, 'IP header checksum valid');
  const before = r.counters();
  const died = r.run(syn(1));
  const d = delta(before, r.counters());
  assert.equal(d['drop.ttl_exceeded'], 1);
  // Still in InPkts (uvs_fwd_packets_total too), as the kernel's ip_vs_in_stats runs before decrement_ttl.
  assert.equal(d.fwd_packets, 1, 'counted in InPkts, as the kernel');
  assert.equal(died.length, 1, `expected one ICMP error, got:\n${died.map(decode).join('\n--\n')}`);
  assertFrame(died[0], timeExceeded({ ethDst: ROUTER_MAC, ethSrc: DIR_MAC }, VIP, CLIENT, syn(1).subarray(14)), 'time exceeded to the client');
  assert.equal(d.icmp_time_exceeded_sent, 1);
  // TTL 0 (a broken sender) dies the same way.
  assert.equal(r.run(syn(0)).length, 1);
});

test('TTL: a NAT reply with TTL 1 dies; the server gets time exceeded from the director\'s address; a reply with TTL 64 leaves with 63', () => {
  const r = gwRig('nat');
  assert.equal(r.run(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: 40000, dport: 80, flags: TCP_FLAGS.SYN })).length, 1);
  const fromRs = { ethDst: DIR_MAC, ethSrc: RS[0].mac };
  const reply = (ttl: number) => tcpFrame(fromRs, { src: RS[0].ip, dst: CLIENT, sport: 8080, dport: 40000, flags: TCP_FLAGS.SYN | TCP_FLAGS.ACK }, { ttl });
  const ok = r.run(reply(64));
  assert.equal(ok.length, 1);
  assert.equal(ok[0]![14 + 8], 63);
  assert.equal(inetChecksum(ok[0]!, 14, 20), 0);
  const before = r.counters();
  const died = r.run(reply(1));
  assert.equal(delta(before, r.counters())['drop.ttl_exceeded'], 1);
  assert.equal(died.length, 1);
  assertFrame(died[0], timeExceeded({ ethDst: RS[0].mac, ethSrc: DIR_MAC }, DIR_IP, RS[0].ip, reply(1).subarray(14)), 'time exceeded to the server');
});

test('TTL: no time exceeded about a later fragment or about a relayed ICMP error; both die quietly', () => {
  const r = rig({ gateway: GW });
  const UDP53 = { proto: 'udp' as const, addr: VIP, port: 53 };
  r.ctl.addService({ ...UDP53, sched: 'rr' });
  r.ctl.addDest({ service: UDP53, addr: RS[0].ip, port: 53, fwd: 'dr', weight: 1 });
  r.learn(RS[0].ip, RS[0].mac);
  r.sink.take();
  const whole = udp({ src: CLIENT, dst: VIP, sport: 7000, dport: 53, payload: Buffer.alloc(100, 7) });
  const frag = (first: boolean, ttl: number) => eth({ dst: DIR_MAC, src: ROUTER_MAC, type: 0x0800 },
    ipv4({ src: CLIENT, dst: VIP, proto: 17, id: 0x5151, ttl, df: false, mf: first, fragOffset: first ? 0 : 6 }, first ? whole.subarray(0, 48) : whole.subarray(48)));
  assert.equal(r.run(frag(true, 64)).length, 1);
  let before = r.counters();
  assert.equal(r.run(frag(false, 1)).length, 0, 'a later fragment with TTL 1: nothing sent');
  assert.equal(delta(before, r.counters())['drop.ttl_exceeded'], 1);
  // A router's error about the server's reply (DR: it comes to the VIP), arriving with TTL 1: not relayed, no error about it.
  const quote = ipv4({ src: VIP, dst: CLIENT, proto: 17 }, udp({ src: VIP, dst: CLIENT, sport: 53, dport: 7000 })).subarray(0, 28);
  before = r.counters();
  assert.equal(r.run(icmpFrame(IN, { src: GW, dst: VIP }, { type: 3, code: 3, payload: quote }, { ttl: 1 })).length, 0);
  const d = delta(before, r.counters());
  assert.equal(d['drop.ttl_exceeded'], 1);
  assert.equal(d.icmp_related_forwarded ?? 0, 0);
  assert.equal(d.icmp_time_exceeded_sent ?? 0, 0);
  // The same error with TTL 2 is relayed with TTL 1.
  const relayed = r.run(icmpFrame(IN, { src: GW, dst: VIP }, { type: 3, code: 3, payload: quote }, { ttl: 2 }));
  assert.equal(relayed.length, 1);
  assert.equal(relayed[0]![14 + 8], 1);
  assert.equal(inetChecksum(relayed[0]!, 14, 20), 0);
});

test('TTL: a looping packet dies: 64 trips through the director at most; time exceeded is rate-limited with the other ICMP errors', () => {
  const r = gwRig('dr', 'udp');
  // A packet that comes back to the director every time it is sent (a loop: two directors naming
  // each other's VIP as a real server): fed back until it dies.
  let f: Buffer = udpFrame(IN, { src: CLIENT, dst: VIP, sport: 7000, dport: 80, payload: Buffer.alloc(10) }, { ttl: 64 });
  let trips = 0;
  for (; trips < 1000; trips++) {
    const out = r.run(f);
    if (out.length !== 1 || out[0]![14 + 9] !== 17) break;
    f = Buffer.from(out[0]!);
    f.set(Buffer.from(DIR_MAC.replace(/:/g, ''), 'hex'), 0);
  }
  assert.equal(trips, 63, 'sent on 63 times (TTL 64 → 1), then it died');
  // A burst of TTL-1 packets: ICMP errors stop at the burst (50), the rest counted as held back.
  const before = r.counters();
  for (let i = 0; i < 200; i++) r.feed(udpFrame(IN, { src: CLIENT, dst: VIP, sport: 8000 + i, dport: 80, payload: Buffer.alloc(10) }, { ttl: 1 }));
  const d = delta(before, r.counters());
  assert.equal(d['drop.ttl_exceeded'], 200);
  assert.ok(d.icmp_time_exceeded_sent! <= 51 && d.icmp_time_exceeded_sent! >= 1, `sent ${d.icmp_time_exceeded_sent}`);
  assert.equal(d.icmp_time_exceeded_sent! + d.icmp_time_exceeded_ratelimited!, 200);
});
