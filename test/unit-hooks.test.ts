// test-class: shared
// The boundaries the reshape introduced, one test per hook: scheduler init/update/delDest/done/
// tick as struct ip_vs_scheduler calls them, and destination binding (bind/unbind/activate and the
// -x/-y thresholds) done in one place, DestTable.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DestTable, DEST_F_OVERLOAD } from '../src/datapath/dests.js';
import { parseIp } from '../src/datapath/addr.js';
import { TRASH_SWEEP_BUDGET } from '../src/control/slots.js';
import { registerScheduler, type SchedService } from '../src/sched/index.js';
import { skipped, SKIPPED_NAMED } from '../src/sched/common.js';
import { refusalLine, type UvsError } from '../src/control/errors.js';
import { tcpFrame, TCP_FLAGS } from './helpers/frames.js';
import { CLIENT, DIR_MAC, drRig, RS, rig, ROUTER_MAC, VIP } from './helpers/harness.js';

const calls: string[] = [];
registerScheduler({
  name: 'hookspy',
  init: (svc: SchedService) => void calls.push(`init ${svc.dests.length}`),
  update: (svc: SchedService) => void calls.push(`update ${svc.dests.length}`),
  delDest: (_svc, _dt, index) => void calls.push(`delDest ${index}`),
  done: (svc: SchedService) => void calls.push(`done ${svc.dests.length}`),
  tick: (_svc, _dt, nowMs) => void calls.push(`tick ${nowMs}`),
  schedule: (svc, dt) => svc.dests.find((d) => dt.available(d)) ?? -1,
});

const SVC = { proto: 'tcp' as const, addr: VIP, port: 80 };

test('scheduler hooks: init on add, update after each destination change, delDest before removal, done on switch and delete', () => {
  calls.length = 0;
  const r = rig();
  r.ctl.addService({ ...SVC, sched: 'hookspy' });
  r.ctl.addDest({ service: SVC, addr: RS[0].ip, port: 80, fwd: 'dr', weight: 1 });
  r.ctl.addDest({ service: SVC, addr: RS[1].ip, port: 80, fwd: 'dr', weight: 1 });
  r.ctl.editDest({ service: SVC, addr: RS[0].ip, port: 80, weight: 3 });
  r.ctl.deleteDest({ service: SVC, addr: RS[0].ip, port: 80 });
  assert.deepEqual(calls, ['init 0', 'update 1', 'update 2', 'update 2', 'delDest 0', 'update 1']);
  calls.length = 0;
  r.ctl.editService({ ...SVC, sched: 'rr' });
  assert.deepEqual(calls, ['done 1'], 'switching away calls done with the destinations still there');
  r.ctl.editService({ ...SVC, sched: 'hookspy' });
  calls.length = 0;
  r.ctl.deleteService(SVC);
  assert.deepEqual(calls, ['done 1']);
});

test('scheduler tick: run from the datapath timer about once a second, with the coarse clock', () => {
  calls.length = 0;
  const r = rig();
  r.ctl.addService({ ...SVC, sched: 'hookspy' });
  calls.length = 0;
  r.dp.tick();
  assert.deepEqual(calls, [`tick ${r.clock.now}`]);
  r.advance(250);
  r.dp.tick();
  assert.equal(calls.length, 1, 'not again within a second');
  r.advance(800);
  r.dp.tick();
  assert.deepEqual(calls.at(-1), `tick ${r.clock.now}`);
});

test('bind/unbind: a new connection is bound, active from SYN_RECV on (the kernel since 4.7), inactive once closed, and unbinds on expiry', () => {
  const r = drRig({ weights: [1] });
  const d = 0;
  const syn = tcpFrame({ ethDst: DIR_MAC, ethSrc: ROUTER_MAC }, { src: CLIENT, dst: VIP, sport: 1234, dport: 80, flags: TCP_FLAGS.SYN });
  const ack = tcpFrame({ ethDst: DIR_MAC, ethSrc: ROUTER_MAC }, { src: CLIENT, dst: VIP, sport: 1234, dport: 80, flags: TCP_FLAGS.ACK });
  const rst = tcpFrame({ ethDst: DIR_MAC, ethSrc: ROUTER_MAC }, { src: CLIENT, dst: VIP, sport: 1234, dport: 80, flags: TCP_FLAGS.RST });
  r.run(syn);
  assert.deepEqual([r.dp.dt.active[d], r.dp.dt.inactive[d], r.dp.dt.conns[d]], [1, 0, 1], 'SYN_RECV is active');
  r.run(ack);
  assert.deepEqual([r.dp.dt.active[d], r.dp.dt.inactive[d]], [1, 0], 'ESTABLISHED is active');
  r.run(rst);
  assert.deepEqual([r.dp.dt.active[d], r.dp.dt.inactive[d]], [0, 1], 'CLOSE is inactive');
  r.advance(16 * 60_000);
  r.dp.tick();
  assert.equal(r.dp.ct.count, 0);
  assert.deepEqual([r.dp.dt.active[d], r.dp.dt.inactive[d], r.dp.dt.conns[d]], [0, 0, 1], 'unbound; the total stays');
});

test('thresholds: OVERLOAD at upper, cleared under lower (or under 3/4 of upper without one), as ip_vs_bind/unbind_dest', () => {
  const dt = new DestTable(4);
  dt.set(0, 1, 80, 0, 1, 4, 2);
  const over = () => (dt.flags[0] & DEST_F_OVERLOAD) !== 0;
  for (let i = 0; i < 3; i++) dt.bind(0);
  assert.equal(over(), false);
  dt.bind(0);
  assert.equal(over(), true, '4 >= upper 4');
  assert.equal(dt.available(0), false, 'an overloaded destination takes no new connections');
  dt.unbind(0, false);
  dt.unbind(0, false);
  assert.equal(over(), true, '2 is not under lower 2');
  dt.unbind(0, false);
  assert.equal(over(), false, '1 < lower 2');
  dt.setThresholds(0, 4, 0);
  for (let i = 0; i < 3; i++) dt.bind(0);
  assert.equal(over(), true);
  dt.unbind(0, false);
  assert.equal(over(), true, '3*4 < 4*3 is false');
  dt.unbind(0, false);
  assert.equal(over(), false, '2*4 < 4*3');
});

test('thresholds edited (-e -x): a raised upper threshold clears OVERLOAD at once, as __ip_vs_update_dest; a lowered one marks a server already at it', () => {
  const dt = new DestTable(4);
  dt.set(0, 1, 80, 0, 1, 4, 0);
  const over = () => (dt.flags[0] & DEST_F_OVERLOAD) !== 0;
  for (let i = 0; i < 4; i++) dt.bind(0);
  assert.equal(over(), true, '4 >= upper 4');
  dt.setThresholds(0, 4, 0);
  assert.equal(over(), true, 'the same threshold again: still marked (4 is not under 3/4 of 4)');
  dt.setThresholds(0, 5, 0);
  assert.equal(over(), false, 'upper raised to 5 with 4 connections: cleared, not waiting for 3/4 of 5');
  dt.setThresholds(0, 8, 2);
  assert.equal(over(), false, 'raised again with a lower threshold the total is not under: still clear');
  dt.setThresholds(0, 3, 0);
  assert.equal(over(), true, 'lowered to 3 with 4 connections: marked now');
  dt.setThresholds(0, 0, 0);
  assert.equal(over(), false, 'no upper threshold: never overloaded');
  dt.setThresholds(0, 4, 0);
  assert.equal(over(), true, 'a threshold set again on a full server marks it');
});

test('the dest trash: a server deleted and added back (also after -C and its service added again) takes its connections back, counted in it; one that sent meanwhile is gone; another server reuses a trashed slot only when none is free', () => {
  const r = drRig({ weights: [1, 1] });
  const dt = r.dp.dt;
  const seg = (sport: number, flags: number) => tcpFrame({ ethDst: DIR_MAC, ethSrc: ROUTER_MAC }, { src: CLIENT, dst: VIP, sport, dport: 80, flags });
  const macOf = (f: Buffer) => [...f.subarray(0, 6)].map((b) => b.toString(16).padStart(2, '0')).join(':');
  // rr: 1001 → RS[0], 1002 → RS[1], 1003 → RS[0]; all established.
  for (const p of [1001, 1002, 1003]) r.run(seg(p, TCP_FLAGS.SYN), seg(p, TCP_FLAGS.ACK));
  const slot0 = r.ctl.list().services[0]!.dests.find((d) => d.addr === RS[0].ip)!;
  assert.equal(slot0.active, 2);
  const d0 = 0; // RS[0] was added first: slot 0
  r.ctl.deleteDest({ service: SVC, addr: RS[0].ip, port: 80 });
  // 1003 sends while RS[0] is gone: ended (expire_nodest_conn), not forwarded.
  assert.equal(r.run(seg(1003, TCP_FLAGS.ACK)).length, 0);
  r.ctl.addDest({ service: SVC, addr: RS[0].ip, port: 80, fwd: 'dr', weight: 1 });
  assert.deepEqual([dt.active[d0], dt.inactive[d0]], [1, 0], '1001 still counts in RS[0] (1003 was unbound when it ended)');
  const out = r.run(seg(1001, TCP_FLAGS.ACK));
  assert.equal(out.length, 1);
  assert.equal(macOf(out[0]!), RS[0].mac, '1001 goes on to RS[0]');

  // ipvsadm -C; -R: the service and both servers deleted and added again.
  r.ctl.clear();
  r.ctl.addService({ ...SVC, sched: 'rr' });
  r.ctl.addDest({ service: SVC, addr: RS[1].ip, port: 80, fwd: 'dr', weight: 1 });
  r.ctl.addDest({ service: SVC, addr: RS[0].ip, port: 80, fwd: 'dr', weight: 1 });
  const after = r.ctl.list().services[0]!.dests;
  assert.deepEqual(after.map((d) => [d.addr, d.active]).sort(), [[RS[0].ip, 1], [RS[1].ip, 1]], 'ActiveConn as before the reload');
  for (const [p, rs] of [[1001, RS[0]], [1002, RS[1]]] as const) {
    const f = r.run(seg(p, TCP_FLAGS.ACK));
    assert.equal(f.length, 1, `${p} forwarded after -C/-R`);
    assert.equal(macOf(f[0]!), rs.mac);
  }
  // Expiry of a revived server's connection unbinds it; ended while in the trash, too.
  r.ctl.deleteDest({ service: SVC, addr: RS[1].ip, port: 80 });
  r.advance(16 * 60_000);
  r.dp.tick();
  assert.equal(r.dp.ct.count, 0);
  r.ctl.addDest({ service: SVC, addr: RS[1].ip, port: 80, fwd: 'dr', weight: 1 });
  assert.deepEqual(r.ctl.list().services[0]!.dests.map((d) => d.active + d.inactive), [0, 0], 'nothing left counted');
  // A new server takes a free slot, not a trashed one: the trashed server can still come back.
  r.ctl.deleteDest({ service: SVC, addr: RS[1].ip, port: 80 });
  r.ctl.addDest({ service: SVC, addr: RS[2].ip, port: 80, fwd: 'dr', weight: 1 });
  assert.notEqual(r.ctl.model.services.values().next().value!.dests.find((d) => d.addr === (parseIp(RS[2].ip) >>> 0))!.slot,
    r.ctl.model.slots.trashSlots().next().value, 'RS[2] did not take RS[1]\'s trashed slot');
});

test('the dest trash: with no free slot left, another server takes the oldest trashed slot as new (its old connections do not count in it)', () => {
  const r = rig({ destMax: 2 });
  r.ctl.addService({ ...SVC, sched: 'rr' });
  r.ctl.addDest({ service: SVC, addr: RS[0].ip, port: 80, fwd: 'dr', weight: 1 });
  r.ctl.addDest({ service: SVC, addr: RS[1].ip, port: 80, fwd: 'dr', weight: 1 });
  r.learn(RS[0].ip, RS[0].mac);
  r.learn(RS[1].ip, RS[1].mac);
  const seg = (sport: number, flags: number) => tcpFrame({ ethDst: DIR_MAC, ethSrc: ROUTER_MAC }, { src: CLIENT, dst: VIP, sport, dport: 80, flags });
  r.run(seg(2001, TCP_FLAGS.SYN), seg(2001, TCP_FLAGS.ACK)); // RS[0], slot 0
  r.ctl.deleteDest({ service: SVC, addr: RS[0].ip, port: 80 });
  r.ctl.addDest({ service: SVC, addr: RS[2].ip, port: 80, fwd: 'dr', weight: 1 });
  const d2 = r.ctl.list().services[0]!.dests.find((d) => d.addr === RS[2].ip)!;
  assert.deepEqual([d2.active, d2.inactive], [0, 0], 'the slot is RS[2]\'s, fresh');
  assert.equal(r.run(seg(2001, TCP_FLAGS.ACK)).length, 0, 'RS[0]\'s connection is not sent to RS[2]');
  assert.throws(() => r.ctl.addDest({ service: SVC, addr: RS[0].ip, port: 80, fwd: 'dr', weight: 1 }), (e: UvsError) =>
    // uvsadm's line: ipvsadm's words, then which limit (uvsd's own, not the host out of memory).
    refusalLine(e.code, e.text, e.detail) === 'Memory allocation problem: destination table full (2, uvsd --dest-max)');
});

test('the dest trash: a deleted server\'s slot that nothing refers to for 120 s is free again (ip_vs_dest_trash_expire); one with a connection stays until 120 s after it ended; one added back before takes its slot back', () => {
  const r = drRig({ weights: [1, 1, 1] });
  const seg = (sport: number, flags: number) => tcpFrame({ ethDst: DIR_MAC, ethSrc: ROUTER_MAC }, { src: CLIENT, dst: VIP, sport, dport: 80, flags });
  r.run(seg(1001, TCP_FLAGS.SYN), seg(1001, TCP_FLAGS.ACK)); // rr: RS[0]
  const slotOf = (ip: string) => r.ctl.model.services.values().next().value!.dests.find((d) => d.addr === (parseIp(ip) >>> 0))!.slot;
  const slot2 = slotOf(RS[2].ip);
  for (const s of RS) r.ctl.deleteDest({ service: SVC, addr: s.ip, port: 80 });
  const trash = () => [...r.ctl.model.slots.trashSlots()];
  const sweep = () => r.ctl.sweepTrash(r.clock.now);
  const free = r.ctl.model.slots.freeCount;
  assert.equal(trash().length, 3);
  assert.equal(sweep(), 0, 'the first look only notes that RS[1] and RS[2] are idle');
  r.advance(60_000);
  assert.equal(sweep(), 0);
  r.ctl.addDest({ service: SVC, addr: RS[2].ip, port: 80, fwd: 'dr', weight: 1 });
  assert.equal(slotOf(RS[2].ip), slot2, 'RS[2], added back within the period, has its slot back');
  r.advance(60_000);
  assert.equal(sweep(), 1, 'RS[1]: idle for 120 s');
  assert.deepEqual(trash(), [0], 'RS[0] stays: its connection is still bound to it');
  assert.equal(r.ctl.model.slots.freeCount, free + 1);
  r.advance(16 * 60_000); // 1001's 15-minute ESTABLISHED timeout: it ends, unbinding RS[0]
  r.dp.tick();
  assert.equal(r.dp.ct.count, 0);
  assert.equal(sweep(), 0);
  r.advance(119_000);
  assert.equal(sweep(), 0, 'RS[0] idle for 119 s only');
  r.advance(1_000);
  assert.equal(sweep(), 1);
  assert.deepEqual(trash(), []);
});

test('the dest trash: it does not grow with every server ever deleted: after 2,000 distinct servers added and deleted and 120 s, every slot is free again and a batch\'s copy of the model keeps only its own changes', () => {
  const r = rig({ destMax: 4096 });
  for (let b = 0; b < 4; b++) {
    const keys = Array.from({ length: 250 }, (_, j) => ({ proto: 'udp' as const, addr: `10.0.1.${1 + ((b * 250 + j) % 200)}`, port: 1000 + b * 250 + j }));
    r.ctl.call('batch', { items: keys.flatMap((k) => [{ verb: 'addService', args: { ...k, sched: 'rr' } },
      ...RS.slice(0, 2).map((s) => ({ verb: 'addDest', args: { service: k, addr: s.ip, port: k.port, fwd: 'dr', weight: 1 } }))]) });
    r.ctl.call('batch', { items: keys.map((k) => ({ verb: 'deleteService', args: k })) });
  }
  const slots = () => r.ctl.model.slots;
  assert.equal(slots().trashSize, 2000);
  const calls = Math.ceil(2000 / TRASH_SWEEP_BUDGET); // a part of the trash per call
  for (let i = 0; i < calls; i++) r.ctl.sweepTrash(r.clock.now);
  r.advance(120_000);
  for (let i = 0; i < calls; i++) r.ctl.sweepTrash(r.clock.now);
  assert.equal(slots().trashSize, 0);
  assert.equal(slots().freeCount, 4096);
  // A copy (every batch's) shares the slots: its changes are its own until it becomes the model.
  r.ctl.addService({ ...SVC, sched: 'rr' });
  const copy = r.ctl.model.clone();
  copy.takeSlot(copy.services.values().next().value!, parseIp(RS[0].ip) >>> 0, 80);
  assert.equal(copy.slots.freeCount, 4095);
  assert.equal(slots().freeCount, 4096, 'the model is untouched');
});

test('explain\'s skipped list names the first SKIPPED_NAMED servers and counts the rest, so a large pool\'s why line stays short', () => {
  const dt = new DestTable(32);
  const svc = { dests: [] as number[], schedState: undefined, schedFlags: 0 };
  for (let d = 0; d < 20; d++) {
    dt.set(d, (0x0a000000 + d + 1) | 0, 80, 0, d < 15 ? 0 : 1, d === 19 ? 1 : 0, 0);
    svc.dests.push(d);
  }
  dt.bind(19);
  const line = skipped(svc, dt);
  assert.equal(line.split('(weight 0)').length - 1, SKIPPED_NAMED, line);
  assert.match(line, /^; skipped 10\.0\.0\.1:80 \(weight 0\), .*, 10\.0\.0\.8:80 \(weight 0\), and 8 more: 7 weight 0, 1 overloaded$/);
  svc.dests.splice(2);
  assert.equal(skipped(svc, dt), '; skipped 10.0.0.1:80 (weight 0), 10.0.0.2:80 (weight 0)');
});
