// test-class: shared
// uvsd --workers N, the datapath's side (in-process, no threads): a worker that gets a reply of a
// connection another worker holds hands the frame over instead of dropping it (NAT: to the next
// worker; FULLNAT: to the worker whose local port it is), the owner forwards it as if it had
// received it; ICMP errors quoting another worker's connection are handed over the same way;
// FULLNAT local ports are split by port % workers; ARP shared from another worker
// teaches neighbours without answering. src/datapath/worker.ts wires these hooks between threads
// (test/integration-workers.test.ts runs the threads).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { arpFrame, eth, icmpFrame, inetChecksum, ipv4, tcpFrame, TCP_FLAGS, udp, udpFrame } from './helpers/frames.js';
import { CLIENT, DIR_IP, DIR_MAC, ROUTER_MAC, RS, VIP, rig, type Rig } from './helpers/harness.js';
import { parseIp } from '../src/datapath/addr.js';
import { Laddr, setLaddrStart } from '../src/modes/laddr.js';
import { PROTO_TCP } from '../src/datapath/frame.js';
import { steerWorker } from '../src/datapath/steer.js';
import { REC_CONN, REC_EXPIRE, REC_LEN, RF_TEMPLATE } from '../src/datapath/syncrec.js';
import { wr16, wr32 } from '../src/datapath/frame.js';
import { FWD_FULLNAT, FWD_NAT } from '../src/modes/types.js';
import { DEST_MAX, destLoad } from '../src/datapath/dests.js';

// These tests name the local ports a LIP hands out: allocation from the first port of the range
// (uvsd begins at a random one: Laddr's constructor; its own test in unit-fullnat.test.ts).
setLaddrStart(0);

const GW = '10.0.0.254';
const IN = { ethDst: DIR_MAC, ethSrc: ROUTER_MAC };
const FROM_RS = { ethDst: DIR_MAC, ethSrc: RS[0].mac };
const LIP = '10.0.0.5';

interface Handed {
  frame: Buffer;
  owner: number;
}

/** Two workers' datapaths with the same table; frames each hands off are collected. */
function pair(fwd: 'nat' | 'fullnat'): { w: Rig[]; handed: Handed[][] } {
  const handed: Handed[][] = [[], []];
  const w = [0, 1].map((index) => {
    const r = rig({ gateway: GW, worker: { index, count: 2 } });
    r.ctl.addService({ proto: 'udp', addr: VIP, port: 53, sched: 'rr' });
    r.ctl.addDest({ service: { proto: 'udp', addr: VIP, port: 53 }, addr: RS[0].ip, port: 53, fwd, weight: 1 });
    if (fwd === 'fullnat') r.ctl.addLaddr({ service: { proto: 'udp', addr: VIP, port: 53 }, addr: LIP });
    r.learn(RS[0].ip, RS[0].mac);
    r.dp.resolve(parseIp(GW)); // replies to the off-link client go through the gateway
    r.learn(GW, ROUTER_MAC);
    r.dp.handoff = (buf, off, len, owner) => {
      handed[index].push({ frame: Buffer.from(buf.subarray(off, off + len)), owner });
      return true;
    };
    r.sink.take();
    return r;
  });
  return { w, handed };
}

test('NAT: a reply landing on the worker without the connection is handed on (owner unknown) and the owner forwards it from the VIP', () => {
  const { w, handed } = pair('nat');
  const out = w[0].run(udpFrame(IN, { src: CLIENT, dst: VIP, sport: 40000, dport: 53 }));
  assert.equal(out.length, 1, 'the request went to the server');
  const reply = udpFrame(FROM_RS, { src: RS[0].ip, dst: CLIENT, sport: 53, dport: 40000 });
  assert.deepEqual(w[1].run(reply), [], 'worker 1 sends nothing itself');
  assert.equal(handed[1].length, 1, 'worker 1 handed the reply on');
  assert.equal(handed[1][0].owner, -1);
  assert.equal(w[1].counters()['drop.ip_not_local'], 0, 'not counted as a drop');
  const fwd = w[0].run(handed[1][0].frame);
  assert.equal(fwd.length, 1, 'worker 0 forwarded the handed reply');
  assert.equal(fwd[0].readUInt32BE(26), parseIp(VIP) >>> 0, 'source rewritten to the VIP');
  assert.equal(fwd[0].readUInt32BE(30), parseIp(CLIENT) >>> 0);
  assert.equal(w[0].counters()['fwd_out_packets'], 1);
  // Without a handoff hook (one datapath) the same reply is the old ip_not_local drop.
  w[1].dp.handoff = null;
  w[1].run(reply);
  assert.equal(w[1].counters()['drop.ip_not_local'], 1);
});

test('FULLNAT: worker k takes only local ports p % 2 === k; a reply to the other worker\'s port goes straight to that worker', () => {
  const { w, handed } = pair('fullnat');
  const ports: number[][] = [[], []];
  for (const k of [0, 1]) {
    for (let i = 0; i < 20; i++) {
      const out = w[k].run(udpFrame(IN, { src: CLIENT, dst: VIP, sport: 41000 + i, dport: 53 }));
      assert.equal(out.length, 1);
      assert.equal(out[0].readUInt32BE(26), parseIp(LIP) >>> 0, 'source is the LIP');
      ports[k].push(out[0].readUInt16BE(34));
    }
  }
  assert.ok(ports[0].every((p) => p % 2 === 0), `worker 0 ports ${ports[0].join(',')}`);
  assert.ok(ports[1].every((p) => p % 2 === 1), `worker 1 ports ${ports[1].join(',')}`);
  // The server's answer to worker 0's first connection lands on worker 1.
  const reply = udpFrame(FROM_RS, { src: RS[0].ip, dst: LIP, sport: 53, dport: ports[0][0] });
  assert.deepEqual(w[1].run(reply), []);
  assert.equal(handed[1].length, 1);
  assert.equal(handed[1][0].owner, 0, 'handed to the worker owning the port');
  assert.equal(w[1].counters()['drop.no_service'], 0);
  const fwd = w[0].run(handed[1][0].frame);
  assert.equal(fwd.length, 1);
  assert.equal(fwd[0].readUInt32BE(26), parseIp(VIP) >>> 0, 'back to the client from the VIP');
  assert.equal(fwd[0].readUInt16BE(36), 41000, "to the client's port");
});

/** The first 28 bytes of a UDP datagram (IP header + 8): what an ICMP error quotes. */
function quote(src: string, dst: string, sport: number, dport: number): Buffer {
  return ipv4({ src, dst, proto: 17 }, udp({ src, dst, sport, dport })).subarray(0, 28);
}

/** An ICMP error leaving the owner: outer addresses, type/code/MTU kept, the quoted tuple, checksums. */
function assertIcmp(f: Buffer, o: { src: string; dst: string; code: number; mtu: number; q: [string, number, string, number] }): void {
  const addr = (at: number) => f.readUInt32BE(at);
  assert.deepEqual([addr(26), addr(30)], [parseIp(o.src) >>> 0, parseIp(o.dst) >>> 0], 'outer source, destination');
  assert.deepEqual([f[23], f[34], f[35], f.readUInt16BE(40)], [1, 3, o.code, o.mtu], 'ICMP unreachable, code and next-hop MTU kept');
  const [qs, qsp, qd, qdp] = o.q;
  assert.deepEqual([addr(54), f.readUInt16BE(62), addr(58), f.readUInt16BE(64)], [parseIp(qs) >>> 0, qsp, parseIp(qd) >>> 0, qdp], 'quoted tuple');
  assert.equal(inetChecksum(f, 14, 20), 0, 'IP checksum');
  assert.equal(inetChecksum(f, 34), 0, 'ICMP checksum');
}

test('NAT: ICMP errors (port unreachable, frag-needed) from the server and a client\'s error about a reply, landing on the worker without the connection, are handed on and the owner translates them', () => {
  const { w, handed } = pair('nat');
  assert.equal(w[0].run(udpFrame(IN, { src: CLIENT, dst: VIP, sport: 40000, dport: 53 })).length, 1, 'worker 0 holds the connection');
  const cases = [
    // The server about the request it got (CLIENT:40000 -> RS:53): towards the client, from the VIP.
    { frame: icmpFrame(FROM_RS, { src: RS[0].ip, dst: CLIENT }, { type: 3, code: 3, payload: quote(CLIENT, RS[0].ip, 40000, 53) }),
      out: { src: VIP, dst: CLIENT, code: 3, mtu: 0, q: [CLIENT, 40000, VIP, 53] as [string, number, string, number] } },
    { frame: icmpFrame(FROM_RS, { src: RS[0].ip, dst: CLIENT }, { type: 3, code: 4, seq: 1400, payload: quote(CLIENT, RS[0].ip, 40000, 53) }),
      out: { src: VIP, dst: CLIENT, code: 4, mtu: 1400, q: [CLIENT, 40000, VIP, 53] as [string, number, string, number] } },
    // The client about a reply (VIP:53 -> CLIENT:40000): towards the server.
    { frame: icmpFrame(IN, { src: CLIENT, dst: VIP }, { type: 3, code: 3, payload: quote(VIP, CLIENT, 53, 40000) }),
      out: { src: CLIENT, dst: RS[0].ip, code: 3, mtu: 0, q: [RS[0].ip, 53, CLIENT, 40000] as [string, number, string, number] } },
  ];
  for (const [i, c] of cases.entries()) {
    assert.deepEqual(w[1].run(c.frame), [], `${i}: worker 1 sends nothing itself`);
    assert.equal(handed[1].length, i + 1, `${i}: worker 1 handed the error on`);
    assert.equal(handed[1][i].owner, -1, `${i}: owner unknown (the next worker)`);
    const fwd = w[0].run(handed[1][i].frame);
    assert.equal(fwd.length, 1, `${i}: worker 0 forwarded the handed error`);
    assertIcmp(fwd[0], c.out);
  }
  assert.equal(w[0].counters()['icmp_related_forwarded'], 3);
  const c1 = w[1].counters();
  assert.deepEqual([c1['icmp_related_forwarded'], c1['drop.ip_not_local'], c1['drop.icmp_no_conn']], [0, 0, 0], 'worker 1 counted no drop');
  // Without a handoff hook (one datapath) they are the old drops.
  w[1].dp.handoff = null;
  w[1].run(cases[0].frame);
  w[1].run(cases[2].frame);
  assert.deepEqual([w[1].counters()['drop.ip_not_local'], w[1].counters()['drop.icmp_no_conn']], [1, 1]);
});

test('FULLNAT: an ICMP error from the server quoting another worker\'s local port goes straight to that worker; a client\'s error about a reply to the next one', () => {
  const { w, handed } = pair('fullnat');
  const out = w[0].run(udpFrame(IN, { src: CLIENT, dst: VIP, sport: 41000, dport: 53 }));
  assert.equal(out.length, 1);
  const lport = out[0].readUInt16BE(34);
  assert.equal(lport % 2, 0, 'worker 0\'s port');
  const fromRs = icmpFrame(FROM_RS, { src: RS[0].ip, dst: LIP }, { type: 3, code: 4, seq: 1300, payload: quote(LIP, RS[0].ip, lport, 53) });
  const fromClient = icmpFrame(IN, { src: CLIENT, dst: VIP }, { type: 3, code: 3, payload: quote(VIP, CLIENT, 53, 41000) });
  assert.deepEqual(w[1].run(fromRs), []);
  assert.deepEqual(w[1].run(fromClient), []);
  assert.deepEqual(handed[1].map((h) => h.owner), [0, -1], 'the port\'s owner; unknown for the client\'s');
  assert.deepEqual([w[1].counters()['drop.no_service'], w[1].counters()['drop.icmp_no_conn']], [0, 0]);
  const toClient = w[0].run(handed[1][0].frame);
  assert.equal(toClient.length, 1);
  assertIcmp(toClient[0], { src: VIP, dst: CLIENT, code: 4, mtu: 1300, q: [CLIENT, 41000, VIP, 53] });
  const toServer = w[0].run(handed[1][1].frame);
  assert.equal(toServer.length, 1);
  assertIcmp(toServer[0], { src: LIP, dst: RS[0].ip, code: 3, mtu: 0, q: [RS[0].ip, 53, LIP, lport] });
  assert.equal(w[0].counters()['icmp_related_forwarded'], 2);
});

test('a later fragment landing on the worker without its first fragment is handed on, and the owner forwards it like its first (NAT)', () => {
  const { w, handed } = pair('nat');
  const dgram = udp({ src: CLIENT, dst: VIP, sport: 40000, dport: 53, payload: new Uint8Array(100) });
  const v4 = (o: Parameters<typeof ipv4>[0], p: Uint8Array): Buffer => Buffer.from(eth({ dst: DIR_MAC, src: ROUTER_MAC, type: 0x0800 }, ipv4(o, p)));
  const first = v4({ src: CLIENT, dst: VIP, proto: 17, id: 9, df: false, mf: true }, dgram.subarray(0, 48));
  const later = v4({ src: CLIENT, dst: VIP, proto: 17, id: 9, df: false, fragOffset: 6 }, dgram.subarray(48));
  assert.equal(w[1].run(first).length, 1, 'the first fragment scheduled on worker 1 (its connection\'s worker)');
  assert.deepEqual(w[0].run(later), [], 'worker 0 sends nothing itself');
  assert.deepEqual(handed[0].map((h) => h.owner), [-1], 'worker 0 handed it on');
  assert.equal(w[0].counters()['drop.frag_no_first'], 0);
  const out = w[1].run(handed[0][0]!.frame);
  assert.equal(out.length, 1, 'worker 1 forwarded it');
  assert.equal(out[0]!.readUInt32BE(30), parseIp(RS[0].ip) >>> 0, 'to the first fragment\'s server');
  assert.equal(out[0]!.readUInt16BE(20) & 0x1fff, 6, 'still the fragment at offset 48');
  // Without a handoff hook (one datapath) it is the old drop.
  w[0].dp.handoff = null;
  w[0].run(later);
  assert.equal(w[0].counters()['drop.frag_no_first'], 1);
});

test('Laddr split by port % step: 1024..1033 in 2 → 5 even and 5 odd ports, each refused once used up, a wrap keeps the phase', () => {
  for (const phase of [0, 1]) {
    const l = new Laddr(1, 1024, 1033, phase, 2);
    const got: number[] = [];
    for (let p = l.take(PROTO_TCP); p >= 0; p = l.take(PROTO_TCP)) got.push(p);
    assert.deepEqual(got, phase === 0 ? [1024, 1026, 1028, 1030, 1032] : [1025, 1027, 1029, 1031, 1033]);
    got.forEach((port, i) => l.setOwner(PROTO_TCP, port, 100 + i));
    // Early drop looks only at this worker's ports: the holders of got[0], got[1], got[2] in turn.
    const seen: number[] = [];
    const ct = { reclaimable: (e: number) => (seen.push(e), e === 102), expireNow: (e: number) => l.give(PROTO_TCP, got[e - 100]) };
    assert.equal(l.reclaim(PROTO_TCP, 3, ct), true);
    assert.deepEqual(seen, [100, 101, 102]);
    assert.equal(l.take(PROTO_TCP), got[2], 'the freed port is taken next');
  }
  const three = new Laddr(1, 1024, 1030, 2, 3);
  const got: number[] = [];
  for (let p = three.take(PROTO_TCP); p >= 0; p = three.take(PROTO_TCP)) got.push(p);
  assert.deepEqual(got, [1025, 1028], 'ports p with p % 3 === 2');
});

test('shared ARP: a neighbour answer another worker received resolves this worker\'s neighbour, and a request shared is not answered', () => {
  const r = rig({ worker: { index: 1, count: 2 } });
  r.ctl.addService({ proto: 'tcp', addr: VIP, port: 80, sched: 'rr' });
  r.ctl.addDest({ service: { proto: 'tcp', addr: VIP, port: 80 }, addr: RS[1].ip, port: 80, fwd: 'dr', weight: 1 });
  r.sink.take();
  // A SYN waits for RS[1]'s MAC (this worker asked for it when the server was added).
  assert.deepEqual(r.run(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: 1234, dport: 80, flags: TCP_FLAGS.SYN })), []);
  const answer = arpFrame({ ethDst: DIR_MAC, ethSrc: RS[1].mac }, { op: 2, sha: RS[1].mac, spa: RS[1].ip, tha: DIR_MAC, tpa: DIR_IP });
  r.dp.arpShared(answer, 0, answer.length);
  const out = r.sink.take();
  assert.equal(out.length, 1, 'the waiting SYN left once the shared answer taught the MAC');
  assert.equal(out[0].subarray(0, 6).toString('hex'), RS[1].mac.replaceAll(':', ''));
  const request = arpFrame({ ethDst: 'ff:ff:ff:ff:ff:ff', ethSrc: RS[0].mac }, { op: 1, sha: RS[0].mac, spa: RS[0].ip, tha: '00:00:00:00:00:00', tpa: VIP });
  r.dp.arpShared(request, 0, request.length);
  assert.deepEqual(r.sink.take(), [], 'no reply: the worker that received the request answers it');
  assert.equal(r.counters()['arp_replies_sent'], 0);
});

test('persistence with 2 workers: a client\'s connections (any port) go to the worker its network hashes to, where one template takes them all; a handed-in frame stays; a segment of no connection goes round before it is refused', () => {
  const service = { proto: 'tcp' as const, addr: VIP, port: 80 };
  const mask = parseIp('255.255.255.0') | 0;
  const handed: Handed[][] = [[], []];
  const w = [0, 1].map((index) => {
    const r = rig({ gateway: GW, worker: { index, count: 2 } });
    r.ctl.addService({ ...service, sched: 'rr', persist: 300, netmask: '255.255.255.0' });
    for (const s of RS.slice(0, 2)) {
      r.ctl.addDest({ service, addr: s.ip, port: 80, fwd: 'dr', weight: 1 });
      r.learn(s.ip, s.mac);
    }
    r.dp.handoff = (buf, off, len, owner) => {
      handed[index].push({ frame: Buffer.from(buf.subarray(off, off + len)), owner });
      return true;
    };
    r.sink.take();
    return r;
  });
  const owner = steerWorker(parseIp(CLIENT) | 0, 0, mask, 2);
  assert.equal(steerWorker(parseIp(CLIENT) | 0, 0, mask, 2), steerWorker((parseIp(CLIENT) ^ 0x7f) | 0, 0, mask, 2), 'one /24, one worker');
  assert.deepEqual([...w[0].dp.steerMasks().vips], [[parseIp(VIP) | 0, mask]], 'the VIP is hashed by /24');
  const other = 1 - owner;
  const servers = new Set<string>();
  for (let i = 0; i < 20; i++) {
    const syn = tcpFrame(IN, { src: CLIENT, dst: VIP, sport: 40000 + i, dport: 80, flags: TCP_FLAGS.SYN });
    // Read by the other worker (the kernel's automq): handed to the owner, nothing sent, no entry.
    assert.deepEqual(w[other].run(syn), [], `${i}: the other worker sends nothing`);
    assert.equal(handed[other].at(-1)?.owner, owner, `${i}: handed to worker ${owner}`);
    // The owner, given it by a worker, schedules it (and does not send it back).
    w[owner].dp.handedIn = true;
    const out = w[owner].run(handed[other].at(-1)!.frame);
    w[owner].dp.handedIn = false;
    assert.equal(out.length, 1, `${i}: the owner forwards it`);
    servers.add(out[0].subarray(0, 6).toString('hex')); // DR: the server's MAC
    // Read by the owner itself: forwarded in place.
    assert.equal(w[owner].run(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: 41000 + i, dport: 80, flags: TCP_FLAGS.SYN })).length, 1);
  }
  assert.equal(servers.size, 1, 'one server for every port: one template');
  assert.equal(handed[owner].length, 0, 'the owner handed nothing');
  assert.equal(w[other].dp.ct.count, 0, 'the other worker holds nothing');
  assert.equal(w[owner].ctl.list().services[0]!.dests.reduce((a, d) => a + d.persistConns, 0), 1, 'one template');
  // A mid-flow segment the owner does not hold (opened on another worker before -p moved the
  // hash): on round the workers (owner -1), not refused here; without workers, refused.
  const ack = tcpFrame(IN, { src: CLIENT, dst: VIP, sport: 45000, dport: 80, flags: TCP_FLAGS.ACK });
  assert.deepEqual(w[owner].run(ack), []);
  assert.deepEqual(handed[owner].map((h) => h.owner), [-1], 'the owner sent it round');
  assert.equal(w[owner].counters()['drop.no_conn'], 0);
  w[owner].dp.handoff = null;
  assert.equal(w[owner].run(ack).length, 1, 'one datapath: answered (a reset from the VIP)');
  assert.equal(w[owner].counters()['drop.no_conn'], 1);
  // Persistence off: no mask, each connection by its endpoint again.
  for (const r of w) r.ctl.editService({ ...service, sched: 'rr', persist: 0 });
  assert.equal(w[0].dp.steerMasks().vips.size, 0);
});

test('a persistent -f service over two VIPs hashes both by one mask, also when one VIP has a persistent service of its own with another -M (DR servers): one template per client, so one worker', () => {
  const VIP2 = '10.0.0.101';
  const r = rig({ gateway: GW, worker: { index: 0, count: 2 } });
  const fwm = { proto: 'tcp' as const, addr: '0.0.0.0', port: 0, fwmark: 1 };
  r.ctl.addService({ ...fwm, sched: 'rr', persist: 300 });
  r.ctl.addDest({ service: fwm, addr: RS[0].ip, port: 0, fwd: 'dr', weight: 1 });
  for (const addr of [VIP, VIP2]) r.ctl.call('addMark', { fwmark: 1, proto: 'tcp', addr, portMin: 80 });
  const dns = { proto: 'udp' as const, addr: VIP2, port: 53 };
  r.ctl.addService({ ...dns, sched: 'rr', persist: 300, netmask: '255.255.255.0' });
  r.ctl.addDest({ service: dns, addr: RS[1].ip, port: 53, fwd: 'dr', weight: 1 });
  const vips = r.dp.steerMasks().vips;
  const mask = parseIp('255.255.255.0') | 0;
  assert.deepEqual([vips.get(parseIp(VIP) | 0), vips.get(parseIp(VIP2) | 0)], [mask, mask], 'VIP and VIP2 both by /24 (VIP was by /32)');
  // So a client reaches one worker for both VIPs (with /32 for VIP, some clients of a /24 did not).
  for (let i = 1; i < 255; i++) {
    const client = parseIp(`192.0.2.${i}`) | 0;
    assert.equal(steerWorker(client, 0, vips.get(parseIp(VIP) | 0)!, 2), steerWorker(client, 0, vips.get(parseIp(VIP2) | 0)!, 2), `192.0.2.${i}`);
  }
});

test('conn_reuse_mode with 2 workers: a SYN that expires its tuple\'s finished entry on one worker and is handed to another to open (-p moved its client\'s hash) counts conns_reused once there, as one datapath counts it', () => {
  const service = { proto: 'tcp' as const, addr: VIP, port: 80 };
  const make = (worker?: { index: number; count: number }): Rig => {
    const r = rig(worker === undefined ? { gateway: GW } : { gateway: GW, worker });
    r.ctl.addService({ ...service, sched: 'rr' });
    for (const s of RS.slice(0, 2)) {
      r.ctl.addDest({ service, addr: s.ip, port: 80, fwd: 'dr', weight: 1 });
      r.learn(s.ip, s.mac);
    }
    r.sink.take();
    return r;
  };
  const seg = (flags: number): Buffer => tcpFrame(IN, { src: CLIENT, dst: VIP, sport: 42000, dport: 80, flags });
  // The connection opens and is reset (CLOSE), then the service becomes persistent by /24 (-E -p -M).
  const reopen = (r: Rig): Buffer[] => {
    for (const f of [TCP_FLAGS.SYN, TCP_FLAGS.ACK, TCP_FLAGS.RST]) r.run(seg(f));
    r.ctl.editService({ ...service, sched: 'rr', persist: 300, netmask: '255.255.255.0' });
    return r.run(seg(TCP_FLAGS.SYN));
  };
  const one = make();
  assert.equal(reopen(one).length, 1);
  assert.equal(one.counters().conns_reused, 1, 'one datapath');

  const owner = steerWorker(parseIp(CLIENT) | 0, 0, parseIp('255.255.255.0') | 0, 2);
  const other = 1 - owner;
  const w = [0, 1].map((index) => make({ index, count: 2 }));
  const handed: { frame: Buffer; owner: number; reused: boolean }[] = [];
  w[other]!.dp.handoff = (buf, off, len, to, reused) => {
    handed.push({ frame: Buffer.from(buf.subarray(off, off + len)), owner: to, reused });
    return true;
  };
  w[owner]!.ctl.editService({ ...service, sched: 'rr', persist: 300, netmask: '255.255.255.0' });
  // The worker that held the finished entry expires it and hands the SYN to the client's worker,
  // which opens the connection (src/datapath/worker.ts passes `reused` on as reusedIn).
  assert.deepEqual(reopen(w[other]!), []);
  assert.deepEqual(handed.map((h) => h.owner), [owner]);
  assert.equal(w[other]!.dp.ct.count, 0, 'the old entry expired');
  w[owner]!.dp.handedIn = true;
  w[owner]!.dp.reusedIn = handed[0]!.reused;
  assert.equal(w[owner]!.run(handed[0]!.frame).length, 1, 'the owner opens it');
  w[owner]!.dp.handedIn = false;
  w[owner]!.dp.reusedIn = false;
  assert.deepEqual(w.map((r) => r.counters().conns_reused), owner === 0 ? [1, 0] : [0, 1], 'counted once, by the worker that opened it');
  assert.equal(handed[0]!.reused, true, 'the handoff said so');
  // Another SYN handed over without a reused entry behind it is not counted.
  w[owner]!.dp.handedIn = true;
  assert.equal(w[owner]!.run(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: 42001, dport: 80, flags: TCP_FLAGS.SYN })).length, 1);
  w[owner]!.dp.handedIn = false;
  assert.equal(w[owner]!.counters().conns_reused, 1);
});

test('sync to a backup with workers: a record goes to the worker its connection\'s frames reach (FULLNAT: the local port; else the client, by network on a persistent VIP); an expiry to all', () => {
  const r = rig({ worker: { index: 0, count: 2 } });
  const nat = { proto: 'tcp' as const, addr: VIP, port: 80 };
  const fnat = { proto: 'udp' as const, addr: VIP, port: 53 };
  r.ctl.addService({ ...nat, sched: 'rr', persist: 300, netmask: '255.255.255.0' });
  r.ctl.addDest({ service: nat, addr: RS[0].ip, port: 80, fwd: 'nat', weight: 1 });
  r.ctl.addService({ ...fnat, sched: 'rr' });
  r.ctl.addDest({ service: fnat, addr: RS[0].ip, port: 53, fwd: 'fullnat', weight: 1 });
  r.ctl.addLaddr({ service: fnat, addr: LIP });
  const rec = (o: { type?: number; proto: number; fwd: number; cport: number; lport?: number; caddr?: string; template?: boolean }): Uint8Array => {
    const b = new Uint8Array(REC_LEN);
    b[0] = o.type ?? REC_CONN;
    b[1] = o.proto;
    b[3] = o.template === true ? RF_TEMPLATE : 0;
    b[4] = o.fwd;
    wr16(b, 6, o.cport);
    wr16(b, 8, o.proto === 17 ? 53 : 80);
    wr16(b, 12, o.lport ?? 0);
    wr32(b, 16, parseIp(o.caddr ?? CLIENT) | 0);
    wr32(b, 20, parseIp(VIP) | 0);
    return b;
  };
  const mask = parseIp('255.255.255.0') | 0;
  const byNet = steerWorker(parseIp(CLIENT) | 0, 0, mask, 2);
  for (let cport = 40000; cport < 40016; cport++) {
    assert.equal(r.dp.syncOwner(rec({ proto: 6, fwd: FWD_NAT, cport }), 0, 2), byNet, `${cport}: persistent VIP, by the client's /24`);
    assert.equal(r.dp.syncOwner(rec({ proto: 17, fwd: FWD_FULLNAT, cport, lport: cport + 3 }), 0, 2), (cport + 3) % 2, 'FULLNAT: the local port');
  }
  assert.equal(r.dp.syncOwner(rec({ proto: 6 | 0x80, fwd: FWD_NAT, cport: 0, caddr: '192.0.2.0', template: true }), 0, 2), byNet, 'its template, the same worker');
  assert.equal(r.dp.syncOwner(rec({ type: REC_EXPIRE, proto: 6, fwd: FWD_NAT, cport: 40000 }), 0, 2), -1, 'an expiry: every worker');
  // Not persistent: by the client endpoint, as the program steers it.
  r.ctl.editService({ ...nat, sched: 'rr', persist: 0 });
  const ends = new Set<number>();
  for (let cport = 40000; cport < 40016; cport++) {
    const k = r.dp.syncOwner(rec({ proto: 6, fwd: FWD_NAT, cport }), 0, 2);
    assert.equal(k, steerWorker(parseIp(CLIENT) | 0, cport, undefined, 2));
    ends.add(k);
  }
  assert.equal(ends.size, 2, 'spread by port');
});

test('thresholds with 2 workers: -x counts the server\'s connections on both workers (shared marks), and a worker takes the server again once the other\'s connections end', () => {
  const service = { proto: 'tcp' as const, addr: VIP, port: 80 };
  const load = destLoad(2, DEST_MAX);
  const w = [0, 1].map((index) => {
    const r = rig({ worker: { index, count: 2, load } });
    r.ctl.addService({ ...service, sched: 'rr' });
    r.ctl.addDest({ service, addr: RS[0].ip, port: 80, fwd: 'dr', weight: 1, upper: 2 });
    r.ctl.addDest({ service, addr: RS[1].ip, port: 80, fwd: 'dr', weight: 1 });
    for (const s of RS.slice(0, 2)) r.learn(s.ip, s.mac);
    r.sink.take();
    return r;
  });
  let sport = 40000;
  /** The server (index in RS) worker k sends a new connection to. */
  const open = (k: number): number => {
    const out = w[k].run(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: sport++, dport: 80, flags: TCP_FLAGS.SYN }));
    assert.equal(out.length, 1);
    return RS.findIndex((s) => s.mac.replaceAll(':', '') === out[0].subarray(0, 6).toString('hex'));
  };
  const got = Array.from({ length: 12 }, (_, i) => open(i % 2));
  assert.equal(got.filter((s) => s === 0).length, 2, `-x 2: two connections in all, not two per worker: ${got.join(' ')}`);
  const list = w[0].ctl.list().services[0]!.dests;
  assert.equal(list[0].active + list[0].inactive, 1, 'worker 0 holds one of them');
  // Worker 1's connection ends (its clock): under 3/4 of -x, the mark clears, and worker 0 (which
  // neither bound nor unbound anything) schedules the server again.
  w[1].advance(200_000);
  w[1].dp.tick();
  assert.equal(w[1].dp.ct.count, 0);
  assert.ok([open(0), open(0)].includes(0), 'worker 0 takes the server again');
});

test('rr and wrr with workers: worker k begins its walk at the k-th server, so the first connections of two workers go to two servers (each walked from the first before)', () => {
  for (const sched of ['rr', 'wrr']) {
    const first = [0, 1].map((index) => {
      const r = rig({ worker: { index, count: 2 } });
      const svc = { proto: 'tcp' as const, addr: VIP, port: 80 };
      r.ctl.addService({ ...svc, sched });
      for (const s of RS) r.ctl.addDest({ service: svc, addr: s.ip, port: 80, fwd: 'dr', weight: 1 });
      for (const s of RS) r.learn(s.ip, s.mac);
      const picks = [1, 2, 3].map((k) => {
        const out = r.run(tcpFrame({ ethDst: DIR_MAC, ethSrc: ROUTER_MAC }, { src: CLIENT, dst: VIP, sport: 1000 + k, dport: 80, flags: TCP_FLAGS.SYN }));
        return RS.findIndex((s) => s.mac === [...out[0]!.subarray(0, 6)].map((b) => b.toString(16).padStart(2, '0')).join(':'));
      });
      return picks;
    });
    assert.deepEqual(first, [[0, 1, 2], [1, 2, 0]], `${sched}: worker 0 from RS[0], worker 1 from RS[1], each still round robin`);
  }
});

test('SYN proxy with 2 workers: a segment of a connection this worker does not hold goes round uncounted; only the last worker counts it synproxy_ack_invalid', () => {
  const service = { proto: 'tcp' as const, addr: VIP, port: 80 };
  const handed: Handed[] = [];
  const r = rig({ gateway: GW, worker: { index: 0, count: 2 } });
  r.ctl.addService({ ...service, sched: 'rr', synproxy: true });
  r.ctl.addDest({ service, addr: RS[0].ip, port: 80, fwd: 'nat', weight: 1 });
  r.learn(RS[0].ip, RS[0].mac);
  r.dp.handoff = (buf, off, len, owner) => {
    handed.push({ frame: Buffer.from(buf.subarray(off, off + len)), owner });
    return true;
  };
  // A mid-flow ACK of a connection the other worker holds (no cookie of ours in it).
  const ack = tcpFrame(IN, { src: CLIENT, dst: VIP, sport: 45000, dport: 80, flags: TCP_FLAGS.ACK, seq: 1000, ack: 2000 });
  assert.deepEqual(r.run(ack), []);
  assert.deepEqual(handed.map((h) => h.owner), [-1], 'sent round the workers');
  assert.equal(r.counters()['synproxy_ack_invalid'], 0, 'not counted by a worker on the way');
  // The last worker of the round (the hook refuses: no worker left) counts it and resets it.
  r.dp.handoff = () => false;
  assert.equal(r.run(ack).length, 1, 'answered by a reset');
  assert.equal(r.counters()['synproxy_ack_invalid'], 1);
});
