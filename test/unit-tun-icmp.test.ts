// test-class: shared
// TUN: ICMP errors from a router past the director about a wrapped packet (IPIP, GUE, GRE) reach
// the client as an error about its own packet, from the VIP (IPVS ip_vs_in_icmp, "errors for
// IPIP/UDP/GRE tunnel packets originated from LVS-TUN"): fragmentation needed with the MTU less
// the tunnel's bytes (only for a packet with DF), time exceeded; anything uvsd did not send, or
// cannot read, is counted icmp_unhandled.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decode, hopped, icmpFrame, tcpFrame, TCP_FLAGS, udpFrame } from './helpers/frames.js';
import { CLIENT, DIR_IP, DIR_MAC, GW, ROUTER_MAC, RS, VIP, assertFrame, delta, rig, type Rig } from './helpers/harness.js';
import { parseIp } from '../src/datapath/addr.js';
import { NoDecapWatch } from '../src/control/nodecap.js';
import { workerShared } from '../src/datapath/group.js';

const IN = { ethDst: DIR_MAC, ethSrc: ROUTER_MAC };
const TO_CLIENT = { ethDst: ROUTER_MAC, ethSrc: DIR_MAC };

type Tun = { tunType: 'ipip' | 'gue' | 'gre'; tunPort?: number; tunCsum?: 'csum' };
const TUNNELS: { tun: Tun; hlen: number }[] = [
  { tun: { tunType: 'ipip' }, hlen: 20 },
  { tun: { tunType: 'gue', tunPort: 6080 }, hlen: 32 },
  { tun: { tunType: 'gre' }, hlen: 24 },
  { tun: { tunType: 'gre', tunCsum: 'csum' }, hlen: 28 },
];

/** TCP and UDP VIP:80 by TUN to RS[0] with `tun`, the client off-link behind GW (learned). */
function tunRig(tun: Tun, worker?: { index: number; count: number }, gateway = true, headroom?: number): Rig {
  const r = rig({ gateway: gateway ? GW : undefined, worker, headroom });
  if (gateway) {
    r.dp.resolve(parseIp(GW));
    r.learn(GW, ROUTER_MAC);
  }
  for (const proto of ['tcp', 'udp'] as const) {
    r.ctl.addService({ proto, addr: VIP, port: 80, sched: 'rr' });
    r.ctl.addDest({ service: { proto, addr: VIP, port: 80 }, addr: RS[0].ip, port: 80, fwd: 'tun', weight: 1, ...tun });
  }
  r.learn(RS[0].ip, RS[0].mac);
  r.sink.take();
  return r;
}

/** The client's DF segment of `size` bytes on connection sport, and the wrapped packet uvsd sent for it (after the SYN). */
function wrapped(r: Rig, sport: number, o: { df?: boolean; ttl?: number } = {}): { input: Buffer; outer: Buffer } {
  r.run(tcpFrame(IN, { src: CLIENT, dst: VIP, sport, dport: 80, flags: TCP_FLAGS.SYN }));
  const input = tcpFrame(IN, { src: CLIENT, dst: VIP, sport, dport: 80, flags: TCP_FLAGS.ACK, seq: 1, payload: Buffer.alloc(1200, 9) }, { df: o.df ?? true, ttl: o.ttl });
  const [f] = r.run(input);
  assert.ok(f, 'the segment was wrapped');
  return { input, outer: f.subarray(14) };
}

/** A router's ICMP error about the IP packet `pkt` to the director, quoting `quote` bytes of it (Linux: up to 576 in all). */
function routerError(pkt: Uint8Array, type: number, code: number, mtu = 0, quote = 576 - 28): Buffer {
  return icmpFrame(IN, { src: GW, dst: DIR_IP }, { type, code, seq: mtu, payload: pkt.subarray(0, quote) }, { tos: 0xc0, df: false });
}

/** The error uvsd should send the client: from the VIP, quoting the client's packet (IP header and 8 bytes) one hop on. */
function relayed(input: Buffer, type: number, code: number, mtu: number): Buffer {
  return icmpFrame(TO_CLIENT, { src: VIP, dst: CLIENT }, { type, code, seq: mtu, payload: hopped(input).subarray(14, 14 + 28) }, { tos: 0xc0, id: 0, df: false, ttl: 64 });
}

test('TUN: fragmentation needed from a router about a wrapped DF packet reaches the client from the VIP, next-hop MTU less the tunnel\'s bytes (IPIP, GUE, GRE)', () => {
  for (const { tun, hlen } of TUNNELS) {
    const what = JSON.stringify(tun);
    const r = tunRig(tun);
    const { input, outer } = wrapped(r, 5000);
    const before = r.counters();
    const out = r.run(routerError(outer, 3, 4, 1280));
    const d = delta(before, r.counters());
    assert.equal(out.length, 1, `${what}: one error to the client, got:\n${out.map(decode).join('\n--\n')}`);
    assertFrame(out[0], relayed(input, 3, 4, 1280 - hlen), `${what}: fragmentation needed, MTU ${1280 - hlen}`);
    assert.deepEqual([d.icmp_tunnel_relayed, d['drop.icmp_unhandled'], d.icmp_related_forwarded], [1, undefined, undefined], what);
    // An MTU under 68 + the tunnel's bytes (or none at all, a pre-RFC 1191 router) says 68.
    assert.equal(r.run(routerError(outer, 3, 4, 60))[0]!.readUInt16BE(14 + 20 + 6), 68, `${what}: MTU 68 at least`);
  }
});

test('TUN: a router error relayed to the client counts in the connection\'s OutPkts/OutBytes (the quoted client packet\'s bytes, as the kernel\'s ip_vs_in_icmp); one not relayed does not', () => {
  const r = tunRig({ tunType: 'ipip' });
  const { outer } = wrapped(r, 5000);
  const stats = () => { const d = r.ctl.list().services[0]!.dests[0]!.stats; return [d.outpkts, d.outbytes]; };
  const err = routerError(outer, 3, 4, 1280);
  assert.equal(r.run(err).length, 1);
  assert.deepEqual(stats(), [1, err.length - 14 - 8 - 20 - 20], 'the error less its IP, ICMP and IPIP headers');
  const { outer: noDf } = wrapped(r, 5001, { df: false });
  assert.equal(r.run(routerError(noDf, 3, 4, 1280)).length, 0, 'fragmentation needed without DF: not relayed');
  assert.deepEqual(stats(), [1, err.length - 62]);
  assert.equal(r.counters().fwd_out_packets, 1, 'uvs_fwd_out_packets_total too');
});

test('TUN: fragmentation needed about a packet without DF, protocol and port unreachable (the server about the tunnel) are not relayed (icmp_unhandled); time exceeded and host unreachable are, for TCP and UDP', () => {
  for (const { tun, hlen } of TUNNELS) {
    const what = JSON.stringify(tun);
    const r = tunRig(tun);
    const noDf = wrapped(r, 5001, { df: false });
    let before = r.counters();
    assert.equal(r.run(routerError(noDf.outer, 3, 4, 1280)).length, 0, `${what}: nothing to a client without DF`);
    const d = delta(before, r.counters());
    assert.deepEqual([d['drop.icmp_unhandled'], d.icmp_tunnel_relayed], [1, undefined], what);
    // The server's own protocol unreachable (no ipip module) or port unreachable (no GUE socket)
    // is about the tunnel, not the client's packet: relaying it would fail the client's connect().
    for (const code of [2, 3]) {
      before = r.counters();
      assert.equal(r.run(routerError(noDf.outer, 3, code)).length, 0, `${what}: unreachable code ${code} not relayed`);
      assert.equal(delta(before, r.counters())['drop.icmp_unhandled'], 1, `${what}: code ${code}`);
    }
    const { input, outer } = wrapped(r, 5002, { ttl: 2 });
    assertFrame(r.run(routerError(outer, 11, 0))[0], relayed(input, 11, 0, 0), `${what}: time exceeded (traceroute)`);
    assertFrame(r.run(routerError(outer, 3, 1))[0], relayed(input, 3, 1, 0), `${what}: host unreachable`);
    // A UDP datagram with DF (a 1400-byte send through the 1280 hop).
    const dgram = udpFrame(IN, { src: CLIENT, dst: VIP, sport: 5003, dport: 80, payload: Buffer.alloc(1200, 3) });
    const [f] = r.run(dgram);
    before = r.counters();
    assertFrame(r.run(routerError(f!.subarray(14), 3, 4, 1280))[0], relayed(dgram, 3, 4, 1280 - hlen), `${what}: UDP`);
    assert.equal(delta(before, r.counters()).icmp_tunnel_relayed, 1);
  }
});

test('TUN: router errors uvsd cannot tie to a connection are never relayed, counted icmp_unhandled (a GUE quote: icmp_no_conn, as any UDP quote of no connection): another server, no connection, another tunnel type or port, truncated quotes; a bad checksum: icmp_bad_checksum', () => {
  // The same client packet as each tunnel wraps it.
  const outers = TUNNELS.map(({ tun }) => wrapped(tunRig(tun), 5004).outer);
  for (const { tun, hlen } of TUNNELS) {
    const what = JSON.stringify(tun);
    const r = tunRig(tun);
    const { outer } = wrapped(r, 5004);
    const cases: [string, Buffer][] = [];
    for (const [j, o] of outers.entries()) if (TUNNELS[j]!.tun.tunType !== tun.tunType) cases.push([`another tunnel type (${TUNNELS[j]!.tun.tunType})`, routerError(o, 3, 4, 1280)]);
    const other = Buffer.from(outer);
    other.writeUInt32BE(parseIp(RS[1].ip), 16); // the quoted outer header to another server
    cases.push(['another server', routerError(other, 3, 4, 1280)]);
    const stranger = Buffer.from(outer);
    stranger.writeUInt16BE(5999, hlen + 20); // the client's packet from another port
    cases.push(['no connection (another client port)', routerError(stranger, 3, 4, 1280)]);
    if (tun.tunType === 'gue') {
      const port = Buffer.from(outer);
      port.writeUInt16BE(6081, 20 + 2);
      cases.push(['another GUE port', routerError(port, 3, 4, 1280)]);
    }
    // RFC 792 routers quote the IP header and 8 bytes: the tunnel's headers, never the client's ports.
    for (const q of [28, 40, hlen + 20 + 3]) cases.push([`quote of ${q} bytes`, routerError(outer, 3, 4, 1280, q)]);
    const bad = routerError(outer, 3, 4, 1280);
    bad[14 + 20 + 2]! ^= 0x55;
    cases.push(['bad ICMP checksum', bad]);
    for (const [name, frame] of cases) {
      const before = r.counters();
      const out = r.run(frame);
      const d = delta(before, r.counters());
      assert.equal(out.length, 0, `${what}, ${name}: nothing sent, got:\n${out.map(decode).join('\n--\n')}`);
      assert.equal(d.icmp_tunnel_relayed, undefined, `${what}, ${name}`);
      // A GUE quote the tunnel does not explain is a UDP datagram of no connection, as before.
      const gue = name.startsWith('another tunnel type') ? name.includes('gue') : tun.tunType === 'gue' && name !== 'bad ICMP checksum';
      const why = name === 'bad ICMP checksum' ? 'drop.icmp_bad_checksum' : gue ? 'drop.icmp_no_conn' : 'drop.icmp_unhandled';
      assert.deepEqual(Object.keys(d).filter((k) => k.startsWith('drop.')), [why], `${what}, ${name}: ${JSON.stringify(d)}`);
    }
  }
});

test('TUN, uvsd --workers: a router error reaching the worker without the connection is handed on; the owner relays it', () => {
  for (const { tun, hlen } of TUNNELS) {
    const what = JSON.stringify(tun);
    const handed: Buffer[] = [];
    const w = [0, 1].map((index) => tunRig(tun, { index, count: 2 }));
    w[1]!.dp.handoff = (buf, off, len, owner) => {
      assert.equal(owner, -1, `${what}: owner unknown (the next worker)`);
      handed.push(Buffer.from(buf.subarray(off, off + len)));
      return true;
    };
    const { input, outer } = wrapped(w[0]!, 5005);
    const error = routerError(outer, 3, 4, 1400);
    assert.deepEqual(w[1]!.run(error), [], `${what}: worker 1 sends nothing itself`);
    assert.equal(handed.length, 1, `${what}: worker 1 handed it on`);
    assert.equal(Object.keys(w[1]!.counters()).filter((k) => k.startsWith('drop.') && w[1]!.counters()[k]! > 0).length, 0, `${what}: no drop on worker 1`);
    assertFrame(w[0]!.run(handed[0]!)[0], relayed(input, 3, 4, 1400 - hlen), `${what}: worker 0 relays it`);
  }
});

test('TUN: a router error about a client uvsd has no route to (no --gateway) is counted no_route', () => {
  const r = tunRig({ tunType: 'ipip' }, undefined, false);
  const { outer } = wrapped(r, 5006);
  const before = r.counters();
  assert.deepEqual(r.run(routerError(outer, 11, 0)), []);
  const d = delta(before, r.counters());
  assert.deepEqual([d['drop.no_route'], d.icmp_tunnel_relayed], [1, undefined]);
});

test('TUN: a router error uvsd would relay but has no generated-frame slot left for is counted once, tx_failed (not no_route too)', () => {
  // No headroom: every wrapped packet is built in a generated slot; 128 of them (64 + 64 extra
  // per batch) fill the batch's slots before the error, last in it, asks for one.
  const r = tunRig({ tunType: 'ipip' }, undefined, true, 0);
  const { outer } = wrapped(r, 5007);
  const dgrams = Array.from({ length: 128 }, (_, i) => udpFrame(IN, { src: CLIENT, dst: VIP, sport: 6000 + i, dport: 80, payload: Buffer.alloc(8) }));
  const before = r.counters();
  const out = r.run(...dgrams, routerError(outer, 11, 0));
  const d = delta(before, r.counters());
  assert.equal(out.length, 128, 'the datagrams wrapped, no error relayed');
  assert.deepEqual([d['drop.tx_failed'], d['drop.no_route'], d.icmp_tunnel_relayed], [1, undefined, undefined]);
});

/** A log that keeps its lines. */
function lines(): { log: { warn(f: object, m: string): void; info(f: object, m: string): void }; said: string[] } {
  const said: string[] = [];
  return { said, log: { warn: (_f, m) => said.push(`warn: ${m}`), info: (_f, m) => said.push(`info: ${m}`) } };
}

test('TUN: a real server answering the wrapped SYN with protocol unreachable (IPIP) or port unreachable (GUE) is counted tun_no_decap and named in one warning per server and tunnel type, an info line when it stops; the same from a router is not', () => {
  const cases = [
    { tun: { tunType: 'ipip' } as Tun, code: 2, says: 'TUN real server 10.0.0.11 answers IPIP with protocol unreachable: it does not decapsulate (ipip module / tunl0 up / uvs-decap; docs/tun-setup.md#checks)' },
    { tun: { tunType: 'gue', tunPort: 6080 } as Tun, code: 3, says: 'TUN real server 10.0.0.11 answers GUE with port unreachable: it does not decapsulate (ip fou add port 6080 gue / uvs-decap --gue-port 6080; docs/tun-setup.md#checks)' },
  ];
  for (const { tun, code, says } of cases) {
    const r = tunRig(tun);
    const { log, said } = lines();
    const watch = new NoDecapWatch(() => [r.dp.noDecap], log, { repeatMs: 60_000, quietMs: 30_000 });
    const [syn] = r.run(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: 5100, dport: 80, flags: TCP_FLAGS.SYN }));
    // The server's kernel quotes the wrapped SYN (its IP header and what follows, up to 576 bytes).
    const answer = (src: string) => icmpFrame({ ethDst: DIR_MAC, ethSrc: RS[0].mac }, { src, dst: DIR_IP }, { type: 3, code, payload: syn!.subarray(14) });
    let before = r.counters();
    assert.deepEqual(r.run(answer(RS[0].ip)), [], `${tun.tunType}: nothing relayed`);
    assert.deepEqual(delta(before, r.counters()), { rx_frames: 1, rx_bytes: answer(RS[0].ip).length, 'drop.icmp_unhandled': 1, tun_no_decap: 1 }, tun.tunType);
    watch.check(0);
    assert.deepEqual(said, [`warn: ${says}`]);
    // Going on: no second warning within repeatMs; a router's unreachable is not the server's word.
    r.run(answer(RS[0].ip));
    before = r.counters();
    r.run(answer(GW));
    assert.deepEqual(delta(before, r.counters()), { rx_frames: 1, rx_bytes: answer(GW).length, 'drop.icmp_unhandled': 1 }, `${tun.tunType}: from a router`);
    watch.check(1_000);
    watch.check(29_000);
    assert.equal(said.length, 1, said.join('\n'));
    watch.check(31_100);
    assert.equal(said.length, 2, said.join('\n'));
    assert.match(said[1]!, new RegExp(`^info: TUN real server 10\\.0\\.0\\.11 sent no ${code === 2 ? 'protocol' : 'port'} unreachable about ${tun.tunType.toUpperCase()} for 30s \\(2 over 1s before\\): it decapsulates now, or no client tried it since$`));
  }
});

test('TUN no-decap warning: repeated at most every repeatMs with the count since, per server; a worker\'s notes reach the main thread (its ring is shared memory, in WorkerShared)', () => {
  const r = tunRig({ tunType: 'ipip' }, { index: 0, count: 2 });
  const ring = workerShared(r.dp, new Float64Array(8), new Float64Array(16), 'syscalls', '').noDecap;
  assert.ok(ring === r.dp.noDecap && ring.buffer instanceof SharedArrayBuffer);
  const main = structuredClone(ring); // as posted to the main thread: the same memory
  const { log, said } = lines();
  const watch = new NoDecapWatch(() => [main], log, { repeatMs: 10_000, quietMs: 30_000 });
  const [syn] = r.run(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: 5101, dport: 80, flags: TCP_FLAGS.SYN }));
  const answer = icmpFrame({ ethDst: DIR_MAC, ethSrc: RS[0].mac }, { src: RS[0].ip, dst: DIR_IP }, { type: 3, code: 2, payload: syn!.subarray(14) });
  r.run(answer);
  watch.check(0);
  r.run(answer, answer, answer);
  watch.check(5_000);
  assert.equal(said.length, 1);
  watch.check(10_000);
  assert.deepEqual(said.map((l) => l.replace(/: it does not decapsulate \([^)]*\)/, '')), ['warn: TUN real server 10.0.0.11 answers IPIP with protocol unreachable', 'warn: TUN real server 10.0.0.11 answers IPIP with protocol unreachable (3 since the last warning)']);
  assert.equal(r.counters().tun_no_decap, 4);
});
