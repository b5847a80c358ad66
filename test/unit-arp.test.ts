// test-class: shared
// ARP through the pipeline: replies in place for director addresses and VIPs, silence for
// unknown addresses, probes and gratuitous ARP from the control verbs, neighbour learning and
// the waiting queue.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { arpFrame, BROADCAST, decode, FWD_IP, tcpFrame, TCP_FLAGS } from './helpers/frames.js';
import { assertFrame, CLIENT, delta, DIR_IP, DIR_MAC, drRig, rig, ROUTER_MAC, RS, sumDrops, sumIgnored, VIP, type Rig } from './helpers/harness.js';
import { parseExposition } from './helpers/prom.js';
import { createMetrics } from '../src/metrics/collectors.js';
import { formatIp, parseIp } from '../src/datapath/addr.js';
import { TAKEOVER_GRACE_MS } from '../src/datapath/link.js';

const request = (tpa: string, pad = true) =>
  arpFrame({ ethDst: BROADCAST, ethSrc: ROUTER_MAC, pad }, { op: 1, sha: ROUTER_MAC, spa: '10.0.0.254', tpa });

const reply = (spa: string) =>
  arpFrame({ ethDst: ROUTER_MAC, ethSrc: DIR_MAC }, { op: 2, sha: DIR_MAC, spa, tha: ROUTER_MAC, tpa: '10.0.0.254' });

test('ARP request for a director address is answered in place', () => {
  const r = rig();
  const before = r.counters();
  const out = r.run(request(DIR_IP));
  assert.equal(out.length, 1);
  assertFrame(out[0], reply(DIR_IP), 'ARP reply');
  assert.equal(r.sink.sent.length, 0);
  const d = delta(before, r.counters());
  assert.equal(d.arp_replies_sent, 1);
  assert.equal(d.tx_frames, 1);
});

test('ARP request for a VIP is answered once the service exists, not before', () => {
  const r = rig();
  assert.equal(r.run(request(VIP)).length, 0, 'no service yet: the VIP is not ours');
  r.ctl.addService({ proto: 'tcp', addr: VIP, port: 80, sched: 'rr' });
  r.sink.take();
  const out = r.run(request(VIP));
  assertFrame(out[0], reply(VIP), 'ARP reply for the VIP');
  r.ctl.deleteService({ proto: 'tcp', addr: VIP, port: 80 });
  assert.equal(r.run(request(VIP)).length, 0, 'service deleted: the VIP is no longer answered');
});

test('ARP request for an unknown address: no reply, counted ignored_arp', () => {
  const r = rig();
  const before = r.counters();
  assert.equal(r.run(request('10.0.0.77')).length, 0);
  const d = delta(before, r.counters());
  assert.equal(d.ignored_arp, 1);
  assert.equal(d.arp_replies_sent, undefined);
  assert.equal(d.tx_frames, undefined);
});

test('VIPs routed (uvsd --bgp-include): no ARP reply, no gratuitous ARP, no conflict for a VIP (another director holds it too); the director address is answered and defended as ever', () => {
  const r = rig();
  r.dp.link.routedVips = true;
  const b0 = r.counters();
  r.ctl.addService({ proto: 'tcp', addr: VIP, port: 80, sched: 'rr' });
  r.ctl.call('addMark', { fwmark: 1, proto: 'tcp', addr: '10.0.0.101', portMin: 443 });
  assert.equal(r.sink.take().filter((f) => f.readUInt16BE(12) === 0x0806 && f.readUInt16BE(20) === 1 && f.readUInt32BE(28) === f.readUInt32BE(38)).length, 0, 'no gratuitous ARP for them');
  assert.equal(r.run(request(VIP), request('10.0.0.101')).length, 0, 'not answered: the route leads to them');
  const other = '02:00:00:00:0d:02'; // the other director announcing the same VIP
  r.run(arpFrame({ ethDst: BROADCAST, ethSrc: other }, { op: 1, sha: other, spa: VIP, tpa: VIP }));
  const d = delta(b0, r.counters());
  assert.equal(d.arp_conflicts ?? 0, 0);
  assert.equal(d.arp_gratuitous_sent ?? 0, 0);
  assertFrame(r.run(request(DIR_IP))[0], reply(DIR_IP), 'the director address is still answered');
  r.run(arpFrame({ ethDst: BROADCAST, ethSrc: other }, { op: 1, sha: other, spa: DIR_IP, tpa: DIR_IP }));
  assert.equal(delta(b0, r.counters()).arp_conflicts, 1, 'and defended');
  // The same VIP without routed VIPs: answered.
  r.dp.link.routedVips = false;
  assertFrame(r.run(request(VIP))[0], reply(VIP), 'ARPed for again');
});

test('gratuitous ARP (spa == tpa) from another station for our own address is not answered but defended', () => {
  const r = rig();
  const g = arpFrame({ ethDst: BROADCAST, ethSrc: ROUTER_MAC }, { op: 1, sha: ROUTER_MAC, spa: DIR_IP, tpa: DIR_IP });
  const out = r.run(g);
  assert.equal(out.length, 1, 'one frame: our own gratuitous ARP, not a reply');
  assert.equal(out[0].readUInt16BE(20), 1, 'a request (announcement), not a reply');
  assert.equal(out[0].subarray(0, 6).toString('hex'), 'ffffffffffff');
  assert.equal(r.counters().arp_conflicts, 1);
});

test('ARP conflicts by address (uvs_arp_conflicts_total{addr}): each address uvsd holds counted apart; with --workers the worker that reads the frame counts it, the main thread\'s datapath (shown the frame) has its address', async () => {
  const r = rig();
  r.ctl.addService({ proto: 'tcp', addr: VIP, port: 80, sched: 'rr' });
  const claim = (ip: string) => arpFrame({ ethDst: BROADCAST, ethSrc: ROUTER_MAC }, { op: 1, sha: ROUTER_MAC, spa: ip, tpa: ip });
  /** A gratuitous ARP for a VIP counts once uvsd is still master TAKEOVER_GRACE_MS later (docs/ha.md, a planned switch). */
  const graceOver = (...rs: Rig[]) => rs.forEach((x) => {
    x.advance(TAKEOVER_GRACE_MS);
    x.dp.tick();
  });
  r.run(claim(DIR_IP), claim(VIP), claim(VIP));
  r.run(claim(CLIENT)); // not ours: no conflict
  assert.equal(r.counters().arp_conflicts, 1, 'the fixed address at once');
  graceOver(r);
  assert.equal(r.counters().arp_conflicts, 3);
  const ex = parseExposition(await createMetrics(r.dp, { process: false }).text());
  assert.deepEqual(ex.all('uvs_arp_conflicts_total').map((x) => [x.labels.addr, x.value]), [[DIR_IP, 1], [VIP, 2]]);
  // uvsd --workers: a worker counts (its map is none), the main thread's datapath is shown the frame.
  const worker = rig({ worker: { index: 0, count: 2 } });
  const shadow = rig();
  for (const x of [worker, shadow]) x.ctl.addService({ proto: 'tcp', addr: VIP, port: 80, sched: 'rr' });
  worker.dp.onArp = (buf, off, len) => shadow.dp.arpShared(buf, off, len);
  worker.run(claim(VIP));
  graceOver(worker, shadow);
  assert.deepEqual([worker.counters().arp_conflicts, worker.dp.link.conflictsByAddr], [1, null]);
  assert.equal(shadow.counters().arp_conflicts, 0, 'counted once, by the worker (the main thread sums it)');
  assert.deepEqual([...shadow.dp.link.conflictsByAddr!], [[parseIp(VIP), 1]]);
  assert.deepEqual(shadow.dp.link.claimants.map((c) => [c.ip, c.answers]), [[parseIp(VIP), 1]], 'the address and station for uvsd\'s log line (before: none with workers)');
});

test('malformed ARP (short, wrong hlen, an opcode other than request and reply) is counted arp_malformed and changes nothing', () => {
  const r = drRig({ weights: [1] }); // RS[0] learned
  const ok = request(DIR_IP, false);
  const before = r.counters();
  r.run(ok.subarray(0, 41));
  const bad = Buffer.from(ok);
  bad[14 + 4] = 8; // hardware length 8
  r.run(bad);
  // Opcode 7 (or RARP's 3) from a tracked neighbour with another MAC: the kernel's arp_process drops it.
  const NEW = '02:00:00:00:07:07';
  const op7 = arpFrame({ ethDst: DIR_MAC, ethSrc: NEW }, { op: 2, sha: NEW, spa: RS[0].ip, tha: DIR_MAC, tpa: DIR_IP }).fill(7, 21, 22);
  assert.equal(r.run(op7, request(DIR_IP).fill(3, 21, 22)).length, 0, 'no reply to a request with opcode 3');
  const d = delta(before, r.counters());
  assert.equal(d['drop.arp_malformed'], 4);
  assert.equal(d.arp_neigh_updates ?? 0, 0);
  assert.equal(d.arp_refused ?? 0, 0);
});

test('ARP from a sender no station may have is not answered, counted drop arp_bad_sender: multicast, broadcast (limited, of a connected network), loopback, 0/8, 0.0.0.0 in a reply, or an address uvsd holds (a conflict: defended, not answered); an RFC 5227 probe (sender 0.0.0.0) of an address uvsd holds is answered (before: the requests among them were answered)', () => {
  const ME = '192.168.8.10'; // above 128.0.0.0: addresses are int32, negative here
  const MY_VIP = '192.168.8.100';
  const r = rig({ addrs: [`${ME}/24`] });
  r.ctl.addService({ proto: 'tcp', addr: MY_VIP, port: 80, sched: 'rr' });
  r.sink.take();
  const from = (spa: string, op: 1 | 2 = 1, tpa = ME) => arpFrame({ ethDst: BROADCAST, ethSrc: ROUTER_MAC }, { op, sha: ROUTER_MAC, spa, tpa });
  const before = r.counters();
  for (const spa of ['224.0.0.1', '239.255.255.250', '255.255.255.255', '192.168.8.255', '127.0.0.1', '0.1.2.3']) {
    assert.equal(r.run(from(spa)).length, 0, spa);
  }
  assert.equal(r.run(from('0.0.0.0', 2)).length, 0, 'a reply from 0.0.0.0');
  const defended = r.run(from(ME, 1, MY_VIP));
  assert.equal(defended.length, 1, 'our gratuitous ARP only');
  assert.equal(defended[0]!.readUInt32BE(28), defended[0]!.readUInt32BE(38), 'an announcement (sender = target), not a reply');
  let d = delta(before, r.counters());
  assert.deepEqual([d['drop.arp_bad_sender'], d.arp_replies_sent, d.arp_conflicts, d.ignored_arp], [8, undefined, 1, undefined]);
  // A probe (RFC 5227: sender 0.0.0.0) of an address uvsd holds is answered, to the prober's MAC.
  const out = r.run(from('0.0.0.0', 1, MY_VIP));
  assert.equal(out.length, 1);
  assertFrame(out[0]!, arpFrame({ ethDst: ROUTER_MAC, ethSrc: DIR_MAC }, { op: 2, sha: DIR_MAC, spa: MY_VIP, tha: ROUTER_MAC, tpa: '0.0.0.0' }), 'the answer to the probe');
  d = delta(before, r.counters());
  assert.deepEqual([d['drop.arp_bad_sender'], d.arp_replies_sent], [8, 1]);
});

test("ARP from another station with uvsd's own MAC (a second uvsd given the same --mac, a loop on the bridge): not answered, learnt or taken for a conflict, counted drop arp_bad_sender and noted for the fault warning (before: a request was answered to uvsd's own MAC, silently)", () => {
  const ME = '192.168.8.10';
  const MY_VIP = '192.168.8.100';
  const OTHER = '192.168.8.11'; // the other uvsd's --addr
  const r = rig({ addrs: [`${ME}/24`] });
  r.ctl.addService({ proto: 'tcp', addr: MY_VIP, port: 80, sched: 'rr' });
  r.sink.take();
  const before = r.counters();
  const own = (op: 1 | 2, spa: string, tpa: string, ethSrc = DIR_MAC) => arpFrame({ ethDst: BROADCAST, ethSrc }, { op, sha: DIR_MAC, spa, tpa });
  assert.equal(r.run(own(1, OTHER, OTHER)).length, 0, 'its gratuitous ARP at start');
  assert.equal(r.run(own(1, OTHER, MY_VIP)).length, 0, 'a request for our VIP: no answer to our own MAC');
  assert.equal(r.run(own(1, '0.0.0.0', MY_VIP)).length, 0, 'its probe of our VIP');
  assert.equal(r.run(own(1, MY_VIP, MY_VIP)).length, 0, 'its gratuitous ARP for our VIP: no defence against ourselves');
  // The Ethernet source alone is uvsd's (the ARP sender another's): as the bridge sees it.
  assert.equal(r.run(arpFrame({ ethDst: BROADCAST, ethSrc: DIR_MAC }, { op: 1, sha: ROUTER_MAC, spa: OTHER, tpa: ME })).length, 0, 'Ethernet source ours');
  const d = delta(before, r.counters());
  assert.deepEqual([d['drop.arp_bad_sender'], d.arp_replies_sent, d.arp_conflicts, d.arp_neigh_updates, d.ignored_arp], [5, undefined, undefined, undefined, undefined]);
  assert.deepEqual([r.dp.link.ownMacFrames, formatIp(r.dp.link.ownMacSender)], [5, OTHER]);
  // Another station's request is answered as ever.
  assert.equal(r.run(arpFrame({ ethDst: BROADCAST, ethSrc: ROUTER_MAC }, { op: 1, sha: ROUTER_MAC, spa: OTHER, tpa: MY_VIP })).length, 1);
  assert.equal(r.dp.link.ownMacFrames, 5);
});

test('addService announces the VIP with a gratuitous ARP; addDest probes with the director address as sender', () => {
  const r = rig();
  r.ctl.addService({ proto: 'tcp', addr: VIP, port: 80, sched: 'rr' });
  const [g] = r.sink.take();
  assertFrame(g, arpFrame({ ethDst: BROADCAST, ethSrc: DIR_MAC, pad: true }, { op: 1, sha: DIR_MAC, spa: VIP, tpa: VIP }), 'gratuitous ARP');
  r.ctl.addService({ proto: 'udp', addr: VIP, port: 53, sched: 'rr' });
  assert.equal(r.sink.take().length, 0, 'the VIP is already announced');
  r.ctl.addDest({ service: { proto: 'tcp', addr: VIP, port: 80 }, addr: RS[0].ip, port: 80, fwd: 'dr' });
  const [p] = r.sink.take();
  // The sender must be the director address, never the VIP (real servers hold the VIP on lo).
  assertFrame(p, arpFrame({ ethDst: BROADCAST, ethSrc: DIR_MAC, pad: true }, { op: 1, sha: DIR_MAC, spa: DIR_IP, tpa: RS[0].ip }), 'ARP probe');
  assert.equal(r.counters().arp_requests_sent, 1);
  assert.equal(r.counters().arp_gratuitous_sent, 1);
});

test('a neighbour learned from an ARP reply gets the frames queued for it, with its MAC', () => {
  const r = drRig({ weights: [1], learn: false });
  const syn = tcpFrame({ ethDst: DIR_MAC, ethSrc: ROUTER_MAC }, { src: CLIENT, dst: VIP, sport: 40000, dport: 80, flags: TCP_FLAGS.SYN });
  const b0 = r.counters();
  assert.equal(r.run(syn).length, 0, 'unresolved: the SYN waits');
  assert.equal(delta(b0, r.counters()).neigh_queued, 1);
  const out = r.run(arpFrame({ ethDst: DIR_MAC, ethSrc: RS[0].mac }, { op: 2, sha: RS[0].mac, spa: RS[0].ip, tha: DIR_MAC, tpa: DIR_IP }));
  assert.equal(out.length, 1, `expected the queued SYN, got:\n${out.map(decode).join('\n--\n')}`);
  assertFrame(out[0], tcpFrame({ ethDst: RS[0].mac, ethSrc: DIR_MAC }, { src: CLIENT, dst: VIP, sport: 40000, dport: 80, flags: TCP_FLAGS.SYN }, FWD_IP), 'flushed SYN');
  // Later frames go straight out.
  const ack = tcpFrame({ ethDst: DIR_MAC, ethSrc: ROUTER_MAC }, { src: CLIENT, dst: VIP, sport: 40000, dport: 80, flags: TCP_FLAGS.ACK });
  assert.equal(r.run(ack).length, 1);
});

test('queued frames are dropped (neigh_unresolved) when nobody answers within 3 s, and re-probed meanwhile', () => {
  const r = drRig({ weights: [1], learn: false });
  const syn = tcpFrame({ ethDst: DIR_MAC, ethSrc: ROUTER_MAC }, { src: CLIENT, dst: VIP, sport: 40001, dport: 80, flags: TCP_FLAGS.SYN });
  r.run(syn);
  const b0 = r.counters();
  r.advance(1500);
  r.dp.tick();
  const probes = r.sink.take();
  assert.equal(probes.length, 1, 're-probe after the probe interval');
  r.advance(2000);
  r.dp.tick();
  assert.equal(delta(b0, r.counters())['drop.neigh_unresolved'], 1);
  // A late reply finds nothing to flush.
  r.sink.take();
  assert.equal(r.run(arpFrame({ ethDst: DIR_MAC, ethSrc: RS[0].mac }, { op: 2, sha: RS[0].mac, spa: RS[0].ip, tha: DIR_MAC, tpa: DIR_IP })).length, 0);
});

test('a real server quiet for minutes keeps its MAC: the next frames go out at once and re-probe it; unanswered for 3 s, it is unresolved again', () => {
  const r = drRig({ weights: [1] }); // RS[0] learned
  const synAt = (sport: number) => tcpFrame({ ethDst: DIR_MAC, ethSrc: ROUTER_MAC }, { src: CLIENT, dst: VIP, sport, dport: 80, flags: TCP_FLAGS.SYN });
  const isIp = (f: Buffer) => f[12] === 8 && f[13] === 0;
  const isArp = (f: Buffer) => f[12] === 8 && f[13] === 6;
  for (let t = 0; t < 600; t++) { // ten idle minutes, the datapath's timer running every second
    r.advance(1000);
    r.dp.tick();
  }
  assert.equal(r.sink.take().length, 0, 'an idle neighbour is not probed');
  const n = r.dp.neigh.find(0x0a00000b);
  const b0 = r.counters();
  const burst = r.run(...Array.from({ length: 20 }, (_v, i) => synAt(41000 + i)));
  assert.equal(burst.filter(isIp).length, 20, 'the whole burst goes out with the old MAC (Linux: STALE, then DELAY on use)');
  for (const f of burst.filter(isIp)) assert.equal(f.subarray(0, 6).toString('hex'), RS[0].mac.replaceAll(':', ''));
  assert.equal(burst.filter(isArp).length, 1, 'one re-probe');
  assert.equal(delta(b0, r.counters())['drop.neigh_unresolved'] ?? 0, 0);
  // Nobody answers: after 3 s of probing the MAC is no longer trusted.
  for (let t = 0; t < 4; t++) {
    r.advance(1000);
    r.dp.tick();
    r.run(synAt(42000 + t));
  }
  assert.equal(r.dp.neigh.usable(n), false, 'unanswered probes: unresolved');
  r.sink.take();
  const b1 = r.counters();
  assert.equal(r.run(synAt(43000)).filter(isIp).length, 0, 'frames now wait for an answer');
  assert.equal(delta(b1, r.counters()).neigh_queued, 1);
  // The answer brings it back with the frames that waited (the last of the loop's and this one).
  assert.equal(r.run(arpFrame({ ethDst: DIR_MAC, ethSrc: RS[0].mac }, { op: 2, sha: RS[0].mac, spa: RS[0].ip, tha: DIR_MAC, tpa: DIR_IP })).filter(isIp).length, 2);
  assert.equal(r.dp.neigh.usable(n), true);
});

test('ARP from an unknown sender does not create a neighbour entry', () => {
  const r = rig();
  r.run(arpFrame({ ethDst: DIR_MAC, ethSrc: '02:00:00:00:00:99' }, { op: 2, sha: '02:00:00:00:00:99', spa: '10.0.0.99', tha: DIR_MAC, tpa: DIR_IP }));
  assert.equal(r.dp.neigh.find(0x0a000063), -1);
});

// Every received frame must be accounted for (a tx, a counted drop, or an ignored_* counter).
// An ARP reply that only refreshes a tracked neighbour increments none of them.
test('an ARP reply from a tracked neighbour is accounted for in the counters', () => {
  const r = drRig({ weights: [1] }); // RS[0] is tracked and already learned
  const before = r.counters();
  const out = r.run(arpFrame({ ethDst: DIR_MAC, ethSrc: RS[0].mac }, { op: 2, sha: RS[0].mac, spa: RS[0].ip, tha: DIR_MAC, tpa: DIR_IP }));
  const d = delta(before, r.counters());
  assert.equal(d.rx_frames, 1);
  const outcomes = out.length + sumDrops(d) + sumIgnored(d);
  assert.equal(outcomes, 1, `ARP reply from a neighbour left no trace besides rx_frames: ${JSON.stringify(d)}`);
});

test('the ARP sender towards a host is the --addr of the longest prefix that holds it, as the kernel picks a source (before 2026-12-07 the first --addr given)', () => {
  const r = rig({ addrs: ['10.66.0.10/16', '10.66.1.10/24'] });
  const sender = (ip: string) => formatIp(r.dp.link.senderFor(parseIp(ip)));
  assert.equal(sender('10.66.1.22'), '10.66.1.10', 'inside the /24');
  assert.equal(sender('10.66.2.5'), '10.66.0.10', 'only the /16 holds it');
  const r2 = rig({ addrs: ['10.66.1.10/24', '10.66.0.10/16'] });
  assert.equal(formatIp(r2.dp.link.senderFor(parseIp('10.66.1.22'))), '10.66.1.10', 'whatever the order given');
});
