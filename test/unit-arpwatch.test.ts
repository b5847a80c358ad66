// test-class: shared
// uvsd's ARP watch (src/control/arpwatch.ts, uvsd --arp-watch): the addresses uvsd claims are
// probed once per lap, spread over it and at most 10 a second; a VIP soon after a DR/TUN server
// joins its service; a station answering is counted, defended and logged once until it stops.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseIp } from '../src/datapath/addr.js';
import { ArpWatch } from '../src/control/arpwatch.js';
import { leaveUnclaimed, reprobeUnclaimed } from '../src/control/claim.js';
import { formatStatus } from '../src/control/printers.js';
import { statusJson } from '../src/metrics/status.js';
import { RateEstimator } from '../src/metrics/rates.js';
import type { StatusResult } from '../src/control/protocol.js';
import { arpFrame, BROADCAST } from './helpers/frames.js';
import { DIR_IP, DIR_MAC, RS, rig, VIP, type Rig } from './helpers/harness.js';
import { logRecorder } from './helpers/log-recorder.js';

/** The targets of the RFC 5227 probes (ARP requests from 0.0.0.0) among frames. */
function probed(frames: Buffer[]): string[] {
  const ip = (f: Buffer, o: number) => `${f[o]}.${f[o + 1]}.${f[o + 2]}.${f[o + 3]}`;
  return frames.filter((f) => f.readUInt16BE(12) === 0x0806 && f.readUInt16BE(20) === 1 && f.readUInt32BE(28) === 0).map((f) => ip(f, 38));
}

/** Gratuitous ARP (sender = target) among frames: the addresses announced. */
function announced(frames: Buffer[]): string[] {
  const ip = (f: Buffer, o: number) => `${f[o]}.${f[o + 1]}.${f[o + 2]}.${f[o + 3]}`;
  return frames.filter((f) => f.readUInt16BE(12) === 0x0806 && f.readUInt32BE(28) !== 0 && f.readUInt32BE(28) === f.readUInt32BE(38)).map((f) => ip(f, 28));
}

/** Run uvsd's 250 ms ticks for ms; the probes sent, each with its time. */
function ticks(r: Rig, w: ArpWatch, ms: number): Array<{ t: number; ip: string }> {
  const out: Array<{ t: number; ip: string }> = [];
  for (let t = 0; t < ms; t += 250) {
    r.advance(250);
    w.check(r.clock.now);
    for (const ip of probed(r.sink.take())) out.push({ t: r.clock.now, ip });
  }
  return out;
}

/** RS[0]'s ARP reply for the VIP: a DR real server that holds it on lo with arp_ignore=0. */
function serverAnswersVip(): Buffer {
  return arpFrame({ ethDst: DIR_MAC, ethSrc: RS[0].mac }, { op: 2, sha: RS[0].mac, spa: VIP, tha: DIR_MAC, tpa: '0.0.0.0' });
}

/** A VIP service whose DR real server is RS[0] (its MAC learnt), and the ARP watch at a 2 s lap. */
function watchedVip(): { r: Rig; log: ReturnType<typeof logRecorder>; w: ArpWatch } {
  const r = rig();
  r.ctl.addService({ ...svc(VIP), sched: 'rr' });
  const log = logRecorder();
  const w = new ArpWatch(r.dp, log, 2000, r.clock.now);
  r.ctl.addDest({ service: svc(VIP), addr: RS[0].ip, port: 80, fwd: 'dr', weight: 1 });
  r.learn(RS[0].ip, RS[0].mac);
  return { r, log, w };
}

const svc = (addr: string) => ({ proto: 'tcp' as const, addr, port: 80 });

test('the watch probes every address uvsd claims once per lap, spread over it; not routed, unclaimed or backup VIPs; nothing with --arp-watch 0', () => {
  const r = rig();
  const [held, unclaimed, backup] = [VIP, '10.0.0.101', '10.0.0.102'];
  for (const a of [held, unclaimed, backup]) r.ctl.addService({ ...svc(a), sched: 'rr' });
  r.dp.apply([
    { op: 'unclaimed', addr: parseIp(unclaimed), by: '02:00:00:00:00:99' },
    { op: 'haGroups', groups: [{ name: 'b', addrs: [parseIp(backup)] }] },
    { op: 'setRole', master: false, group: 1 },
  ]);
  r.sink.take();
  const w = new ArpWatch(r.dp, logRecorder(), 60_000, r.clock.now);
  assert.deepEqual(ticks(r, w, 59_750), [], 'the start\'s probe covered them: the first lap begins a lap later');
  const lap = ticks(r, w, 60_000);
  assert.deepEqual(lap.map((p) => p.ip).sort(), [DIR_IP, VIP].sort(), 'the director address and the held VIP, once each');
  assert.equal(lap[1]!.t - lap[0]!.t, 30_000, 'two addresses: 30 s apart');
  assert.deepEqual(ticks(r, w, 60_000).map((p) => p.ip).sort(), [DIR_IP, VIP].sort(), 'and again the next lap');

  const routed = rig();
  routed.dp.link.routedVips = true; // uvsd --bgp-include: VIPs reached by route, never by ARP
  routed.ctl.addService({ ...svc(VIP), sched: 'rr' });
  const rw = new ArpWatch(routed.dp, logRecorder(), 1000, routed.clock.now);
  assert.deepEqual(ticks(routed, rw, 2500).map((p) => p.ip), [DIR_IP, DIR_IP], 'only the director address');

  const off = rig();
  off.ctl.addService({ ...svc(VIP), sched: 'rr' });
  const ow = new ArpWatch(off.dp, logRecorder(), 0, off.clock.now);
  off.ctl.addDest({ service: svc(VIP), addr: RS[0].ip, port: 80, fwd: 'dr', weight: 1 });
  assert.deepEqual(ticks(off, ow, 10_000), []);
});

test('at most 10 probes a second: 1,200 VIPs take a lap of 120 s, not the 60 s asked; a VIP whose service gains a DR or TUN server is probed at the next tick, ahead of the lap, a NAT one not', () => {
  const r = rig();
  const vips = Array.from({ length: 1200 }, (_, i) => `10.1.${Math.floor(i / 250)}.${(i % 250) + 1}`);
  for (const a of vips) r.ctl.addService({ ...svc(a), sched: 'rr' });
  const n = vips.length + 1; // and the director address
  r.sink.take();
  const w = new ArpWatch(r.dp, logRecorder(), 60_000, r.clock.now);
  ticks(r, w, 59_750);
  const lap = ticks(r, w, 150_000);
  const first = lap.slice(0, n);
  assert.equal(new Set(first.map((p) => p.ip)).size, n, 'every address once in the lap');
  for (let t = first[0]!.t; t < first[n - 1]!.t; t += 1000) {
    const inSecond = lap.filter((p) => p.t > t && p.t <= t + 1000).length;
    assert.ok(inSecond <= 11, `${inSecond} probes in the second after ${t}`);
  }
  assert.ok(first[n - 1]!.t - first[0]!.t >= (n - 1) * 100 - 250, `the lap took ${first[n - 1]!.t - first[0]!.t} ms`);

  // -a of a DR server (uvsadm, a reload, keepalived: all apply addDest), or -e to TUN: probed soon.
  const s = rig();
  s.ctl.addService({ ...svc(VIP), sched: 'rr' });
  s.ctl.addService({ ...svc('10.0.0.101'), sched: 'rr' });
  s.ctl.addService({ ...svc('10.0.0.102'), sched: 'rr' });
  const sw = new ArpWatch(s.dp, logRecorder(), 60_000, s.clock.now);
  ticks(s, sw, 1000);
  s.ctl.addDest({ service: svc(VIP), addr: RS[0].ip, port: 80, fwd: 'dr', weight: 1 });
  s.ctl.addDest({ service: svc('10.0.0.101'), addr: RS[1].ip, port: 8080, fwd: 'nat', weight: 1 });
  s.ctl.addDest({ service: svc('10.0.0.102'), addr: RS[2].ip, port: 80, fwd: 'nat', weight: 1 });
  assert.deepEqual(ticks(s, sw, 250).map((p) => p.ip), [VIP]);
  s.ctl.editDest({ service: svc('10.0.0.102'), addr: RS[2].ip, port: 80, fwd: 'tun', weight: 1 });
  assert.deepEqual(ticks(s, sw, 250).map((p) => p.ip), ['10.0.0.102']);
  assert.deepEqual(ticks(s, sw, 10_000), []);
});

test("a DR real server that ARPs from the VIP (arp_announce 0) is named for what it does: it sends ARP requests from the VIP, it answers none (before: 'answers ARP for VIP', and its arp_ignore, right, was looked at); counted and defended as an answer", () => {
  const { r, log, w } = watchedVip();
  r.sink.take();
  // Its request for a client's MAC, sent from the VIP: what the client (and the LAN) learn.
  const ask = arpFrame({ ethDst: BROADCAST, ethSrc: RS[0].mac }, { op: 1, sha: RS[0].mac, spa: VIP, tpa: '10.0.0.77' });
  assert.deepEqual(announced(r.run(ask)), [VIP], 'defended at once');
  assert.equal(r.counters().arp_conflicts, 1);
  w.check(r.clock.now);
  const warned = log.take();
  assert.deepEqual(warned.map((l) => [l.level, l.msg]), [['warn',
    `address conflict: real server ${RS[0].ip} (${RS[0].mac}) sends ARP requests from VIP ${VIP}: the DR ARP problem (arp_announce), set arp_ignore=1 and arp_announce=2 on it (docs/dr-setup.md); defended by gratuitous ARP`]]);
  assert.deepEqual(warned[0]!.fields, { addr: VIP, mac: RS[0].mac, server: RS[0].ip, answers: 1 });
  // One that answers too is the answering kind.
  const other = watchedVip();
  other.r.run(serverAnswersVip());
  other.r.run(ask);
  other.w.check(other.r.clock.now);
  assert.match(other.log.take()[0]!.msg, /answers ARP for VIP/);
});

test('a station answering a probe for a claimed VIP is counted, defended with a gratuitous ARP (at most every 10 s) and logged once, naming the real server its MAC belongs to, until a probe goes unanswered', () => {
  const { r, log, w } = watchedVip();
  const answer = serverAnswersVip();
  const answerProbes = (ms: number): { probes: number; garps: string[] } => {
    let probes = 0;
    const garps: string[] = [];
    for (let t = 0; t < ms; t += 250) {
      r.advance(250);
      w.check(r.clock.now);
      const sent = r.sink.take();
      const mine = probed(sent).filter((ip) => ip === VIP).length;
      probes += mine;
      garps.push(...announced(sent));
      if (mine > 0) garps.push(...announced(r.run(answer)));
    }
    return { probes, garps };
  };
  r.sink.take();
  const first = answerProbes(250);
  assert.deepEqual(first, { probes: 1, garps: [VIP] }, 'probed at once (a DR server joined), answered, defended');
  assert.equal(r.counters().arp_conflicts, 1);
  w.check(r.clock.now);
  const warned = log.take();
  assert.deepEqual(warned.map((l) => [l.level, l.msg]), [['warn',
    `address conflict: real server ${RS[0].ip} (${RS[0].mac}) answers ARP for VIP ${VIP}: the DR ARP problem, set arp_ignore=1 and arp_announce=2 on it (docs/dr-setup.md); defended by gratuitous ARP`]]);
  assert.deepEqual(warned[0]!.fields, { addr: VIP, mac: RS[0].mac, server: RS[0].ip, answers: 1 });
  // 9.5 s (laps of 2 s), answered each time: probed every second while in conflict
  // (CONFLICT_PROBE_MS; once a lap until 2026-12-07), counted each time, defended every 10 s, not said again.
  const more = answerProbes(9_500);
  assert.equal(more.probes, 9);
  assert.deepEqual(more.garps, [], 'within 10 s of the defence: not again');
  assert.equal(r.counters().arp_conflicts, 10);
  assert.deepEqual(r.dp.link.conflictsByAddr!.get(parseIp(VIP)), 10, 'uvs_arp_conflicts_total{addr}');
  assert.deepEqual(log.take(), []);
  assert.match(formatStatus({ ...(r.ctl.call('status', {}) as StatusResult), arpWatch: w.status(r.clock.now) }), new RegExp(`^arp_answered_by ${VIP} ${RS[0].mac} real_server ${RS[0].ip} answers 10$`, 'm'));
  assert.deepEqual(answerProbes(2000).garps, [VIP], '10 s on: defended again');
  // It stops answering (arp_ignore set): the next probe (a second after the last) unanswered for
  // a second ends it, and the VIP is announced then, 2 s after the last answer at most (until
  // 2026-12-07: the next lap's probe, up to --arp-watch seconds later).
  let overAt = -1;
  const stopped = r.clock.now;
  for (let t = 0; t < 3000; t += 250) {
    r.advance(250);
    w.check(r.clock.now);
    if (overAt < 0 && announced(r.sink.take()).includes(VIP)) overAt = r.clock.now - stopped;
  }
  assert.ok(overAt > 0 && overAt <= 2250, `announced ${overAt} ms after the last answer`);
  assert.deepEqual(log.take().map((l) => [l.level, l.msg]), [['info', `address conflict over: real server ${RS[0].ip} (${RS[0].mac}) no longer answers ARP for ${VIP} (12 answers)`]]);
  assert.deepEqual(r.dp.link.claimants, []);
  // Answering again later is news again.
  answerProbes(2000);
  w.check(r.clock.now);
  assert.equal(log.take().filter((l) => l.level === 'warn').length, 1);

});

test('--workers: the main thread\'s datapath probes; the worker that reads the answer counts and defends it and shows it to the main thread, whose watch logs it (and ends it)', () => {
  const worker = rig({ worker: { index: 0, count: 2 } });
  const shadow = rig();
  for (const x of [worker, shadow]) x.ctl.addService({ ...svc(VIP), sched: 'rr' });
  worker.dp.onArp = (buf, off, len) => shadow.dp.arpShared(buf, off, len);
  const log = logRecorder();
  const w = new ArpWatch(shadow.dp, log, 2000, shadow.clock.now);
  shadow.sink.take();
  const probes = ticks(shadow, w, 3000).filter((p) => p.ip === VIP);
  assert.equal(probes.length, 1);
  const station = '02:00:00:00:00:99';
  const out = worker.run(arpFrame({ ethDst: DIR_MAC, ethSrc: station }, { op: 2, sha: station, spa: VIP, tha: DIR_MAC, tpa: '0.0.0.0' }));
  assert.deepEqual([worker.counters().arp_conflicts, announced(out)], [1, [VIP]], 'counted and defended by the worker');
  assert.equal(shadow.counters().arp_conflicts, 0, 'counted once (the main thread sums the workers\')');
  w.check(shadow.clock.now);
  assert.deepEqual(log.take().map((l) => l.msg), [`address conflict: ${station} answers ARP for VIP ${VIP}, which uvsd holds (another director that is master too, a split brain? or a DR/TUN real server holding the VIP: set arp_ignore=1 and arp_announce=2 on it (docs/dr-setup.md)); defended by gratuitous ARP`]);
  ticks(shadow, w, 3000);
  assert.deepEqual(log.take().map((l) => l.msg), [`address conflict over: ${station} no longer answers ARP for ${VIP} (1 answer)`]);
});

test('a station answering for two VIPs gets both defended at once (RFC 5227 2.4: once per 10 s per address), each again only after 10 s', () => {
  const r = rig();
  const VIP2 = '10.0.0.101';
  for (const v of [VIP, VIP2]) r.ctl.addService({ ...svc(v), sched: 'rr' });
  r.sink.take();
  const answer = (spa: string) => arpFrame({ ethDst: DIR_MAC, ethSrc: RS[0].mac }, { op: 2, sha: RS[0].mac, spa, tha: DIR_MAC, tpa: DIR_IP });
  assert.deepEqual(announced(r.run(answer(VIP), answer(VIP2))), [VIP, VIP2], 'each address defended (was the first only)');
  r.advance(9_000);
  assert.deepEqual(announced(r.run(answer(VIP), answer(VIP2))), [], 'not again within 10 s');
  r.advance(1_000);
  assert.deepEqual(announced(r.run(answer(VIP2))), [VIP2]);
  assert.equal(r.counters().arp_conflicts, 5);
});

test('its state in uvsadm --status and /status.json: the lap and the addresses it watches (from the start: was 0 during the first lap); each address uvsd claims, a VIP or not, with its last probe and conflicts; the stations answering, by address', () => {
  const { r, w } = watchedVip();
  r.sink.take();
  const before = w.status(r.clock.now);
  assert.deepEqual(before.addresses, [{ addr: DIR_IP, vip: false, conflicts: 0 }, { addr: VIP, vip: true, conflicts: 0 }], 'no probe yet: no probedAt');
  assert.match(formatStatus({ ...(r.ctl.call('status', {}) as StatusResult), arpWatch: before }), new RegExp(`^arp_watch lap 2s addresses 2 probes 0\narp_addr ${DIR_IP} probed never conflicts 0\narp_vip ${VIP} probed never conflicts 0$`, 'm'));
  // The VIP probed at once (a DR server joined) and answered twice, then 0.75 s on (before its
  // next probe: CONFLICT_PROBE_MS).
  r.advance(250);
  w.check(r.clock.now);
  const answer = serverAnswersVip();
  r.run(answer, answer);
  r.advance(750);
  w.check(r.clock.now);
  const st = w.status(r.clock.now);
  const vip = st.addresses!.find((a) => a.addr === VIP)!;
  assert.deepEqual([vip.vip, vip.conflicts], [true, 2]);
  assert.ok(Math.abs(Date.now() - 750 - vip.probedAt!) < 100, 'probed 0.75 s ago, as wall time');
  assert.deepEqual(st.answeredBy, [{ addr: VIP, mac: RS[0].mac, server: RS[0].ip, answers: 2 }]);
  assert.match(formatStatus({ ...(r.ctl.call('status', {}) as StatusResult), arpWatch: st }),
    new RegExp(`^arp_vip ${VIP} probed [01]s ago conflicts 2\narp_answered_by ${VIP} ${RS[0].mac} real_server ${RS[0].ip} answers 2$`, 'm'));
  // /status.json: the same object (from uvsd's watch, once it started); none before.
  assert.deepEqual(statusJson(r.dp, new RateEstimator(r.dp), { arpWatch: () => st }).arpWatch, st);
  assert.equal('arpWatch' in statusJson(r.dp, new RateEstimator(r.dp), { arpWatch: () => undefined }), false);
  // Off (--arp-watch 0): no addresses listed, the stations all the same.
  const off = new ArpWatch(r.dp, logRecorder(), 0, r.clock.now).status(r.clock.now);
  assert.deepEqual([off.addresses, formatStatus({ ...(r.ctl.call('status', {}) as StatusResult), arpWatch: off }).match(/^arp_(watch|vip|addr).*$/gm)], [[], ['arp_watch off']]);
});

test('an unclaimed VIP a real server keeps answering for (the start\'s probe found it): one warning, no "conflict over" while it answers both probes of each 10 s re-probe, arp_answered_by in uvsadm --status; once it stops, claimed and "over"', async () => {
  const r = rig();
  const vip = parseIp(VIP);
  r.ctl.addService({ ...svc(VIP), sched: 'rr' });
  r.ctl.addDest({ service: svc(VIP), addr: RS[0].ip, port: 80, fwd: 'dr', weight: 1 });
  r.learn(RS[0].ip, RS[0].mac);
  const claimLog = { info: () => {}, error: () => {} };
  await leaveUnclaimed(r.dp, (ops) => r.dp.apply(ops), [{ ip: vip, mac: RS[0].mac }], claimLog).unclaimed;
  const log = logRecorder();
  const w = new ArpWatch(r.dp, log, 60_000, r.clock.now);
  const answer = serverAnswersVip();
  const probe = r.dp.probe.bind(r.dp);
  let answering = true;
  r.dp.probe = (ips) => {
    r.advance(150); // the window's two probes are apart on the datapath's clock too
    probe(ips);
    if (answering) r.feed(answer);
  };
  for (let i = 0; i < 3; i++) {
    await reprobeUnclaimed(r.dp, (ops) => r.dp.apply(ops), 20, claimLog);
    ticks(r, w, 10_000); // uvsd re-probes every 10 s
  }
  assert.deepEqual(log.take().map((l) => [l.level, l.msg]), [['warn', `address conflict: real server ${RS[0].ip} (${RS[0].mac}) answers ARP for ${VIP}, an address uvsd probes before claiming it`]]);
  assert.match(formatStatus({ ...(r.ctl.call('status', {}) as StatusResult), arpWatch: w.status(r.clock.now) }), new RegExp(`^arp_answered_by ${VIP} ${RS[0].mac} real_server ${RS[0].ip} answers 6$`, 'm'));
  answering = false;
  await reprobeUnclaimed(r.dp, (ops) => r.dp.apply(ops), 20, claimLog);
  ticks(r, w, 1000);
  assert.equal(r.dp.link.unclaimed.size, 0, 'claimed');
  assert.deepEqual(log.take().map((l) => l.msg), [`address conflict over: real server ${RS[0].ip} (${RS[0].mac}) no longer answers ARP for ${VIP} (6 answers)`]);
});

test('a conflict on a claimed VIP that ends ("address conflict over"): one gratuitous ARP for the VIP then, 2 s after the defence, so a client the server pinned points at uvsd again', () => {
  const { r, log, w } = watchedVip();
  r.sink.take();
  assert.deepEqual(ticks(r, w, 250).map((p) => p.ip), [VIP], 'probed at once (a DR server joined)');
  const answer = serverAnswersVip();
  assert.deepEqual(announced(r.run(answer)), [VIP], 'defended');
  w.check(r.clock.now);
  assert.match(log.take()[0]!.msg, /^address conflict: real server/);
  // Fixed on the server: the next lap's probe goes unanswered.
  const seen: string[] = [];
  for (let t = 0; t < 4000; t += 250) {
    r.advance(250);
    w.check(r.clock.now);
    seen.push(...log.take().map((l) => l.msg.replace(/:.*/, '')), ...announced(r.sink.take()).map((ip) => `garp ${ip}`));
  }
  assert.deepEqual(seen, ['address conflict over', `garp ${VIP}`], 'one gratuitous ARP, in the tick that logs the end');
});
