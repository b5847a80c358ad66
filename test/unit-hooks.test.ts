// The boundaries the reshape introduced, one test per hook: scheduler init/update/delDest/done/
// tick as struct ip_vs_scheduler calls them, and destination binding (bind/unbind/activate and the
// -x/-y thresholds) done in one place, DestTable.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DestTable, DEST_F_OVERLOAD } from '../src/datapath/dests.js';
import { registerScheduler, type SchedService } from '../src/sched/index.js';
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

test('bind/unbind: a new connection is bound inactive, moves to active on ESTABLISHED, and unbinds on expiry', () => {
  const r = drRig({ weights: [1] });
  const d = 0;
  const syn = tcpFrame({ ethDst: DIR_MAC, ethSrc: ROUTER_MAC }, { src: CLIENT, dst: VIP, sport: 1234, dport: 80, flags: TCP_FLAGS.SYN });
  const ack = tcpFrame({ ethDst: DIR_MAC, ethSrc: ROUTER_MAC }, { src: CLIENT, dst: VIP, sport: 1234, dport: 80, flags: TCP_FLAGS.ACK });
  r.run(syn);
  assert.deepEqual([r.dp.dt.active[d], r.dp.dt.inactive[d], r.dp.dt.conns[d]], [0, 1, 1]);
  r.run(ack);
  assert.deepEqual([r.dp.dt.active[d], r.dp.dt.inactive[d]], [1, 0], 'ESTABLISHED is active');
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
