// test-class: shared
// No garbage per packet when no real server is available (counted per service too): SYNs from 192.168.x (where a uint32
// address would be boxed) to a service whose servers are all at weight 0, each answered with ICMP
// port unreachable built in a generated-frame slot, or refused by the rate limit (both paths run
// in every batch: 64 SYNs, 50 ms of tokens between batches). The same for a router's
// fragmentation needed about TUN-wrapped packets, relayed to the clients (src/modes/tun.ts), and
// for errors --schedule-icmp schedules (a new entry each) and relays to the server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { Datapath } from '../src/datapath/pipeline.js';
import { Control } from '../src/control/model.js';
import { C, D } from '../src/datapath/counters.js';
import { csumReplace16, rd16, wr16 } from '../src/datapath/frame.js';
import { parseMac, parseIp, prefixMask } from '../src/datapath/addr.js';
import { arpFrame, icmpFrame, ipv4, tcp, tcpFrame, TCP_FLAGS } from './helpers/frames.js';
import { BIG_YOUNG, CountSink, WARM_ROUNDS, frameBatch, measureRounds, report, runChild } from './helpers/alloc.js';

const DIR_MAC = '02:00:00:00:00:01';
const ROUTER_MAC = '02:00:00:00:00:fe';
const GW = '192.168.8.1';
const VIP = '192.168.8.200';
const BATCH = 64;
const ROUNDS = 10_000; // 640,000 SYNs

function measure(): { perFrame: number; sent: number; limited: number; noDest: number; svcNoDest: number; tx: number; arp: number } {
  const sink = new CountSink();
  let now = 1_000_000.25;
  const dp = new Datapath(
    { mac: parseMac(DIR_MAC), addrs: [{ ip: parseIp('192.168.8.10'), mask: prefixMask(24) }], gateway: parseIp(GW), connMax: 4096 },
    sink, () => now,
  );
  const ctl = new Control(dp, { tap: 't' });
  ctl.addService({ proto: 'tcp', addr: VIP, port: 80, sched: 'wlc' });
  for (const rs of ['192.168.8.20', '192.168.8.30']) ctl.addDest({ service: { proto: 'tcp', addr: VIP, port: 80 }, addr: rs, port: 80, fwd: 'dr', weight: 0 });
  const { buf, lens, stride, put } = frameBatch(BATCH);
  dp.resolve(parseIp(GW));
  put(0, arpFrame({ ethDst: DIR_MAC, ethSrc: ROUTER_MAC }, { op: 2, sha: ROUTER_MAC, spa: GW, tha: DIR_MAC, tpa: '192.168.8.10' }));
  dp.processBatch(buf, stride, lens, 1);
  const l2 = { ethDst: DIR_MAC, ethSrc: ROUTER_MAC };
  // 8 SYNs of one client (its own limit: 1 a second, 6 at first; the others spend no daemon token),
  // then 56 clients one each: 50 answered a batch (the daemon's burst), 14 held back, every batch.
  for (let i = 0; i < BATCH; i++) put(i, tcpFrame(l2, { src: `192.168.9.${i < 8 ? 200 : i + 1}`, dst: VIP, sport: 40000 + i, dport: 80, flags: TCP_FLAGS.SYN }));
  const step = (): void => {
    now += 1000;
    dp.processBatch(buf, stride, lens, BATCH);
  };
  const c = dp.counters;
  const s0 = c.c[C.icmp_unreach_sent];
  const l0 = c.c[C.icmp_unreach_ratelimited];
  const n0 = c.d[D.no_dest];
  const v0 = c.svcNoDest[0]!; // the service's own count (uvs_service_no_dest_total)
  const t0 = sink.frames;
  const a0 = c.c[C.arp_requests_sent] + c.c[C.arp_probes_sent];
  const used = measureRounds(step, ROUNDS);
  return {
    perFrame: used / (ROUNDS * BATCH),
    // Warm-up rounds (WARM_ROUNDS) and measured ones alike.
    sent: c.c[C.icmp_unreach_sent] - s0, limited: c.c[C.icmp_unreach_ratelimited] - l0, noDest: c.d[D.no_dest] - n0, svcNoDest: c.svcNoDest[0]! - v0, tx: sink.frames - t0,
    arp: c.c[C.arp_requests_sent] + c.c[C.arp_probes_sent] - a0,
  };
}

/** 64 clients with a TUN (IPIP) connection each to 10.9.0.20 behind GW; a batch of the router's
 *  fragmentation needed (MTU 1280) about each client's wrapped segment, 50 ms between batches.
 *  noDecap: the server (172.16.0.20: beyond the small integers) answers each with protocol
 *  unreachable instead, counted tun_no_decap and noted in Datapath.noDecap. */
function measureTun(noDecap = false): { perFrame: number; relayed: number; limited: number; unhandled: number; noDecap: number } {
  const sink = new CountSink();
  let now = 1_000_000.25;
  const dir = '192.168.8.10';
  const rs = noDecap ? '172.16.0.20' : '10.9.0.20';
  const dp = new Datapath(
    { mac: parseMac(DIR_MAC), addrs: [{ ip: parseIp(dir), mask: prefixMask(24) }], gateway: parseIp(GW), connMax: 4096 },
    sink, () => now,
  );
  const ctl = new Control(dp, { tap: 't' });
  ctl.addService({ proto: 'tcp', addr: VIP, port: 80, sched: 'rr' });
  ctl.addDest({ service: { proto: 'tcp', addr: VIP, port: 80 }, addr: rs, port: 80, fwd: 'tun', weight: 1 });
  const { buf, lens, stride, put } = frameBatch(BATCH);
  dp.resolve(parseIp(GW));
  put(0, arpFrame({ ethDst: DIR_MAC, ethSrc: ROUTER_MAC }, { op: 2, sha: ROUTER_MAC, spa: GW, tha: DIR_MAC, tpa: dir }));
  dp.processBatch(buf, stride, lens, 1);
  const l2 = { ethDst: DIR_MAC, ethSrc: ROUTER_MAC };
  const seg = (i: number, flags: number) => ({ src: `192.168.9.${i + 1}`, dst: VIP, sport: 40000 + i, dport: 80, flags, seq: 1 });
  // SYN then ACK: ESTABLISHED (15 minutes), longer than the 13,000 batches' 650 simulated seconds.
  for (const flags of [TCP_FLAGS.SYN, TCP_FLAGS.ACK]) {
    for (let i = 0; i < BATCH; i++) put(i, tcpFrame(l2, seg(i, flags)));
    dp.processBatch(buf, stride, lens, BATCH);
  }
  for (let i = 0; i < BATCH; i++) {
    const inner = ipv4({ src: `192.168.9.${i + 1}`, dst: VIP, proto: 6, ttl: 63 }, tcp({ ...seg(i, TCP_FLAGS.ACK), payload: Buffer.alloc(1300) }));
    const outer = ipv4({ src: dir, dst: rs, proto: 4, ttl: 63 }, inner);
    put(i, icmpFrame(l2, { src: noDecap ? rs : GW, dst: dir }, { type: 3, code: noDecap ? 2 : 4, seq: noDecap ? 0 : 1280, payload: outer.subarray(0, 548) }));
  }
  const step = (): void => {
    now += 50;
    dp.processBatch(buf, stride, lens, BATCH);
  };
  const c = dp.counters;
  const s0 = c.c[C.icmp_tunnel_relayed];
  const l0 = c.c[C.icmp_tunnel_ratelimited];
  const used = measureRounds(step, ROUNDS);
  return {
    perFrame: used / (ROUNDS * BATCH),
    relayed: c.c[C.icmp_tunnel_relayed] - s0, limited: c.c[C.icmp_tunnel_ratelimited] - l0, unhandled: c.d[D.icmp_unhandled],
    noDecap: c.c[C.tun_no_decap],
  };
}

/** --schedule-icmp: 64 clients (192.168.9.x) with no connection here, a batch of a router's
 *  fragmentation needed about a reply to each from an mh DR service, each scheduled (a new entry)
 *  and relayed to its server; each batch quotes other client ports (the quote's port and the
 *  ICMP checksum moved in the receive buffer), 50 ms apart, so every error schedules a new
 *  connection and the table stays full (eviction makes room, as for a flood of SYNs). */
function measureSched(): { perFrame: number; scheduled: number; relayed: number; created: number } {
  const sink = new CountSink();
  let now = 1_000_000.25;
  const dir = '192.168.8.10';
  const dp = new Datapath(
    { mac: parseMac(DIR_MAC), addrs: [{ ip: parseIp(dir), mask: prefixMask(24) }], gateway: parseIp(GW), connMax: 4096, defense: { scheduleIcmp: true } },
    sink, () => now,
  );
  const ctl = new Control(dp, { tap: 't' });
  ctl.addService({ proto: 'tcp', addr: VIP, port: 80, sched: 'mh', flags: ['mh-port'] });
  const { buf, lens, stride, put } = frameBatch(BATCH);
  for (const [i, rs] of ['192.168.8.20', '192.168.8.30'].entries()) {
    ctl.addDest({ service: { proto: 'tcp', addr: VIP, port: 80 }, addr: rs, port: 80, fwd: 'dr', weight: 1 });
    const mac = `02:00:00:00:00:2${i}`;
    put(0, arpFrame({ ethDst: DIR_MAC, ethSrc: mac }, { op: 2, sha: mac, spa: rs, tha: DIR_MAC, tpa: dir }));
    dp.processBatch(buf, stride, lens, 1);
  }
  const l2 = { ethDst: DIR_MAC, ethSrc: ROUTER_MAC };
  for (let i = 0; i < BATCH; i++) {
    const client = `192.168.9.${i + 1}`;
    const reply = ipv4({ src: VIP, dst: client, proto: 6 }, tcp({ src: VIP, dst: client, sport: 80, dport: 40000 + i, flags: TCP_FLAGS.ACK, payload: Buffer.alloc(1400) }));
    put(i, icmpFrame(l2, { src: GW, dst: VIP }, { type: 3, code: 4, seq: 1300, payload: reply.subarray(0, 28) }));
  }
  // DR relays in place (the server's MAC, one hop less): each batch starts from the frames as received.
  const orig = Buffer.from(buf);
  const ICMP = 14 + 20;
  const QPORT = ICMP + 8 + 20 + 2; // the quote's destination (client) port
  let k = 0;
  const step = (): void => {
    now += 50;
    k = (k + 1) % 1000;
    buf.set(orig);
    for (let i = 0; i < BATCH; i++) {
      const o = i * stride;
      const port = (40000 + i + BATCH * k) & 0xffff;
      wr16(buf, o + ICMP + 2, csumReplace16(rd16(buf, o + ICMP + 2), 40000 + i, port));
      wr16(buf, o + QPORT, port);
    }
    dp.processBatch(buf, stride, lens, BATCH);
  };
  const c = dp.counters;
  const s0 = c.c[C.icmp_scheduled];
  const r0 = c.c[C.icmp_related_forwarded];
  const n0 = c.c[C.conns_created];
  const used = measureRounds(step, ROUNDS);
  return {
    perFrame: used / (ROUNDS * BATCH),
    scheduled: c.c[C.icmp_scheduled] - s0, relayed: c.c[C.icmp_related_forwarded] - r0, created: c.c[C.conns_created] - n0,
  };
}

if (process.argv[2] === '--child') {
  report(process.argv[3] === 'tun' ? measureTun() : process.argv[3] === 'nodecap' ? measureTun(true) : process.argv[3] === 'sched' ? measureSched() : measure());
} else {
  test('TUN: a router\'s fragmentation needed relayed to the client allocates less than a byte per error (never rate-limited)', () => {
    const r = runChild<ReturnType<typeof measureTun>>(fileURLToPath(import.meta.url), ['tun'], BIG_YOUNG);
    const rounds = ROUNDS + WARM_ROUNDS;
    assert.equal(r.relayed, rounds * BATCH, 'every one relayed: PMTU discovery is not rate-limited');
    assert.equal(r.limited, 0);
    assert.equal(r.unhandled, 0);
    assert.equal(r.scavenges, 0, 'the window is not disturbed by a collection');
    assert.ok(r.perFrame < 1, `${r.perFrame.toFixed(2)} bytes allocated per frame`);
  });

  test('TUN: a server\'s own protocol unreachable (it does not decapsulate), counted tun_no_decap and its address noted, allocates less than a byte per error', () => {
    const r = runChild<ReturnType<typeof measureTun>>(fileURLToPath(import.meta.url), ['nodecap'], BIG_YOUNG);
    const rounds = ROUNDS + WARM_ROUNDS;
    assert.deepEqual([r.noDecap, r.unhandled, r.relayed], [rounds * BATCH, rounds * BATCH, 0]);
    assert.equal(r.scavenges, 0, 'the window is not disturbed by a collection');
    assert.ok(r.perFrame < 1, `${r.perFrame.toFixed(2)} bytes allocated per frame`);
  });

  test('--schedule-icmp: an error about another director\'s connection, scheduled (a new entry) and relayed to the server, allocates less than a byte per error', () => {
    const r = runChild<ReturnType<typeof measureSched>>(fileURLToPath(import.meta.url), ['sched'], BIG_YOUNG);
    const rounds = ROUNDS + WARM_ROUNDS;
    assert.deepEqual([r.scheduled, r.relayed, r.created], [rounds * BATCH, rounds * BATCH, rounds * BATCH], 'every error scheduled and relayed');
    assert.equal(r.scavenges, 0, 'the window is not disturbed by a collection');
    assert.ok(r.perFrame < 1, `${r.perFrame.toFixed(2)} bytes allocated per frame`);
  });

  test('no server available: ICMP port unreachable and its rate limits (per source, daemon) allocate less than a byte per SYN', () => {
    const r = runChild<ReturnType<typeof measure>>(fileURLToPath(import.meta.url), [], BIG_YOUNG);
    const rounds = ROUNDS + WARM_ROUNDS;
    assert.equal(r.noDest, rounds * BATCH, 'every SYN was a no_dest drop');
    assert.equal(r.svcNoDest, rounds * BATCH, 'each counted for its service too');
    assert.equal(r.sent, rounds * 50, '50 answered per batch (the daemon\'s burst: the one client 1 after its first 6)');
    assert.equal(r.limited, rounds * 14, 'the other 14 refused: 7 (the first batch 2) by the client\'s own limit, the rest by the daemon\'s');
    // Every ICMP went out; the other frames are ARP re-probes of the router (3 simulated hours, no replies).
    assert.equal(r.tx, r.sent + r.arp, `${r.tx} frames sent for ${r.sent} ICMP and ${r.arp} ARP`);
    assert.equal(r.scavenges, 0, 'the window is not disturbed by a collection');
    assert.ok(r.perFrame < 1, `${r.perFrame.toFixed(2)} bytes allocated per frame`);
  });
}
