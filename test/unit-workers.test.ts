// uvsd --workers N, the datapath's side (in-process, no threads): a worker that gets a reply of a
// connection another worker holds hands the frame over instead of dropping it (NAT: to the next
// worker; FULLNAT: to the worker whose local port it is), the owner forwards it as if it had
// received it; FULLNAT local ports are split by port % workers; ARP shared from another worker
// teaches neighbours without answering. src/datapath/worker.ts wires these hooks between threads
// (test/integration-workers.test.ts runs the threads).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { arpFrame, tcpFrame, TCP_FLAGS, udpFrame } from './helpers/frames.js';
import { CLIENT, DIR_IP, DIR_MAC, ROUTER_MAC, RS, VIP, rig, type Rig } from './helpers/harness.js';
import { parseIp } from '../src/datapath/addr.js';
import { Laddr } from '../src/modes/laddr.js';
import { PROTO_TCP } from '../src/datapath/frame.js';

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
