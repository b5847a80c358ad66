// test-class: shared
// Stateless agreement between directors behind ECMP (docs/scale-out.md), in-process: two
// datapaths with the same mh service, servers added in different orders. With --sloppy-tcp mh
// their tables are equal (address order); a flow opened on director A and moved mid-stream to
// director B is adopted by B and sent to the same real server, also when that server is
// quiesced; services on other schedulers are not adopted in mh mode; 'all' keeps the kernel's
// sloppy_tcp behaviour.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { macStr, tcpFrame, TCP_FLAGS } from './helpers/frames.js';
import { CLIENT, DIR_MAC, ROUTER_MAC, VIP, delta, rig, type Rig } from './helpers/harness.js';
import { S_ESTABLISHED } from '../src/datapath/tcpstate.js';
import { parseIp } from '../src/datapath/addr.js';
import { mhLookup } from '../src/sched/mh.js';
import type { SloppyTcp } from '../src/datapath/pipeline.js';
import { includeText, wantedVips, type AnnounceState } from '../src/bgp/bird.js';
import type { DrainStatus } from '../src/control/protocol.js';
import { stepClock } from './helpers/step-clock.js';

const ipToInt = (s: string): number => parseIp(s) | 0;
const IN = { ethDst: DIR_MAC, ethSrc: ROUTER_MAC };
const SVC = { proto: 'tcp' as const, addr: VIP, port: 80 };
// Four servers; the list below is one director's add order, the reverse another's.
const SERVERS = [
  { ip: '10.0.0.21', mac: '02:00:00:00:00:21' },
  { ip: '10.0.0.22', mac: '02:00:00:00:00:22' },
  { ip: '10.0.0.23', mac: '02:00:00:00:00:23' },
  { ip: '10.0.0.24', mac: '02:00:00:00:00:24' },
];
const syn = (sport: number) => tcpFrame(IN, { src: CLIENT, dst: VIP, sport, dport: 80, flags: TCP_FLAGS.SYN });
const data = (sport: number, flags: number = TCP_FLAGS.ACK | TCP_FLAGS.PSH) =>
  tcpFrame(IN, { src: CLIENT, dst: VIP, sport, dport: 80, flags, payload: Buffer.from('ping\n') });

/** A director with the mh service (mh-port: the client port spreads one client's flows). */
function director(order: number[], sloppy: SloppyTcp, sched = 'mh', fwd: 'dr' | 'tun' = 'dr'): Rig {
  const r = rig();
  r.dp.setDefense({ sloppyTcp: sloppy });
  r.ctl.addService({ ...SVC, sched, flags: sched === 'mh' ? ['mh-port'] : [] });
  for (const i of order) r.ctl.addDest({ service: SVC, addr: SERVERS[i].ip, port: 80, fwd, weight: 1 });
  for (const s of SERVERS) r.learn(s.ip, s.mac);
  r.sink.take();
  return r;
}

/** What uvsd announces besides the table: the drain, and the VIPs the director holds in its HA role. */
const announce = (r: Rig, draining: boolean): AnnounceState => ({ draining, holds: (v) => r.dp.link.held(v) });

/** The mh table as server addresses (comparable across datapaths, whose slots differ). */
function table(r: Rig): string[] {
  const svc = r.dp.services.find((s) => s !== undefined)!;
  return [...mhLookup(svc)].map((d) => (d < 0 ? '-' : String(r.dp.dt.addr[d])));
}

test('mh tables: list order as the kernel by default; with --sloppy-tcp mh the same servers give the same table in any order', () => {
  const fwd = [0, 1, 2, 3];
  const rev = [3, 2, 1, 0];
  assert.notDeepEqual(table(director(fwd, 'off')), table(director(rev, 'off')), 'list order changes the kernel table');
  assert.deepEqual(table(director(fwd, 'mh')), table(director(rev, 'mh')));
  // Switching the mode on a running director rebuilds its tables.
  const a = director(rev, 'off');
  a.dp.setDefense({ sloppyTcp: 'mh' });
  assert.deepEqual(table(a), table(director(fwd, 'mh')));
  // A server removed (health check) and added back lands at the end of the list: still the same table.
  const b = director(fwd, 'mh');
  b.ctl.deleteDest({ service: SVC, addr: SERVERS[1].ip, port: 80 });
  b.ctl.addDest({ service: SVC, addr: SERVERS[1].ip, port: 80, fwd: 'dr', weight: 1 });
  assert.deepEqual(table(b), table(director(rev, 'mh')));
});

test('a flow moved to another director mid-stream goes to the same real server (200 flows), as ESTABLISHED, counted', () => {
  const a = director([0, 1, 2, 3], 'mh');
  const b = director([2, 0, 3, 1], 'mh');
  const before = b.counters();
  const used = new Set<string>();
  for (let i = 0; i < 200; i++) {
    const sport = 30000 + i * 7;
    const first = a.run(syn(sport));
    assert.equal(first.length, 1, `flow ${i}: SYN forwarded by A`);
    const server = macStr(first[0], 0);
    used.add(server);
    const moved = b.run(data(sport));
    assert.equal(moved.length, 1, `flow ${i}: mid-stream segment forwarded by B`);
    assert.equal(macStr(moved[0], 0), server, `flow ${i}: B chose the server A chose`);
    const e = b.dp.ct.lookup(6, ipToInt(CLIENT), sport, ipToInt(VIP), 80) >>> 1;
    assert.equal(b.dp.ct.state[e], S_ESTABLISHED);
    // The next segment is an ordinary hit on B's new entry.
    assert.equal(macStr(b.run(data(sport, TCP_FLAGS.ACK))[0], 0), server);
  }
  assert.equal(used.size, 4, 'the flows spread over all four servers');
  const d = delta(before, b.counters());
  assert.equal(d.conns_sloppy, 200);
  assert.equal(d.conns_adopted_hash, 200);
  const active = b.ctl.list().services[0].dests.reduce((n, x) => n + x.active, 0);
  assert.equal(active, 200, 'adopted flows count as active');
});

test('TUN: the moved flow is wrapped for the same real server (outer destination) by the other director', () => {
  const a = director([0, 1, 2, 3], 'mh', 'mh', 'tun');
  const b = director([3, 0, 2, 1], 'mh', 'mh', 'tun');
  const outerDst = (f: Buffer) => f.readUInt32BE(14 + 16);
  for (let i = 0; i < 50; i++) {
    const sport = 20000 + i * 13;
    const first = a.run(syn(sport));
    assert.equal(first.length, 1);
    assert.equal(first[0][14 + 9], 4, 'IPIP');
    const moved = b.run(data(sport));
    assert.equal(moved.length, 1, `flow ${i} adopted`);
    assert.equal(outerDst(moved[0]), outerDst(first[0]), `flow ${i}: same real server`);
  }
  assert.equal(b.counters().conns_adopted_hash, 50);
});

test('an adopted flow stays on a quiesced (weight 0) server; a new SYN there finds none; RST never adopts', () => {
  const a = director([0, 1, 2, 3], 'mh');
  const b = director([0, 1, 2, 3], 'mh');
  // Flows of server 0, opened on A.
  const mine: number[] = [];
  for (let sport = 40000; mine.length < 5; sport++) {
    const out = a.run(syn(sport));
    if (macStr(out[0], 0) === SERVERS[0].mac) mine.push(sport);
  }
  b.ctl.editDest({ service: SVC, addr: SERVERS[0].ip, port: 80, fwd: 'dr', weight: 0 });
  for (const sport of mine) {
    const out = b.run(data(sport));
    assert.equal(out.length, 1);
    assert.equal(macStr(out[0], 0), SERVERS[0].mac, 'existing flow kept on the quiesced server');
  }
  const before = b.counters();
  // A new connection that hashes to server 0 gets no destination (no mh-fallback), as the kernel.
  let probe = 50000;
  for (; probe < 60000; probe++) {
    const e = b.dp.services.find((s) => s !== undefined)!;
    const d = e.scheduler.owner!(e, b.dp.dt, { proto: 6, saddr: ipToInt(CLIENT), sport: probe, daddr: ipToInt(VIP), dport: 80 });
    if ((b.dp.dt.addr[d] | 0) === ipToInt(SERVERS[0].ip)) break;
  }
  const b2 = b.counters();
  assert.equal(b.run(syn(probe)).length, 0);
  assert.equal(delta(b2, b.counters())['drop.no_dest'], 1);
  assert.equal(b.run(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: 61000, dport: 80, flags: TCP_FLAGS.RST })).length, 0);
  assert.ok(delta(before, b.counters())['drop.no_conn'] >= 1, 'a RST opens nothing');
});

test('--sloppy-tcp mh adopts only mh services; all adopts any (the kernel sloppy_tcp), off none', () => {
  const wlc = director([0, 1, 2, 3], 'mh', 'wlc');
  const before = wlc.counters();
  assert.equal(wlc.run(data(30001)).length, 0, 'a wlc director could disagree: not adopted');
  assert.equal(delta(before, wlc.counters())['drop.no_conn'], 1);
  const all = director([0, 1, 2, 3], 'all', 'wlc');
  assert.equal(all.run(data(30001)).length, 1);
  assert.equal(all.counters().conns_sloppy, 1);
  assert.equal(all.counters().conns_adopted_hash, 0, 'scheduled, not placed by a hash owner');
  const off = director([0, 1, 2, 3], 'off');
  assert.equal(off.run(data(30001)).length, 0);
  assert.equal(off.counters().conns_sloppy, 0);
});

test('drain verb: withdraws (onChange on each switch only), status draining -> drained, --undrain; bad timeout changes nothing', () => {
  const a = director([0, 1], 'mh');
  let changes = 0;
  a.ctl.onChange = () => changes++;
  a.ctl.drainTimeoutS = 30;
  assert.equal(a.ctl.status().drain?.state, 'off');
  assert.throws(() => a.ctl.call('drain', { on: true, timeout: -1 }), /drain timeout must be an integer 0..86400 seconds, got -1/);
  assert.throws(() => a.ctl.call('drain', { on: 'yes' }), /"on" must be true or false/);
  // Without --bgp-include there is no route to withdraw: refused, nothing changes.
  assert.throws(() => a.ctl.call('drain', { on: true }), /runs without --bgp-include: it announces no route, so a drain would withdraw nothing/);
  assert.equal(a.ctl.drain, undefined);
  a.ctl.routed = true;
  assert.equal(a.ctl.drain, undefined);
  assert.equal(changes, 0);
  a.run(syn(30000)); // one connection left
  const d = a.ctl.call('drain', { on: true }) as { state: string; timeout: number; conns: number };
  assert.deepEqual([d.state, d.timeout, d.conns], ['draining', 30, 1]);
  assert.equal(changes, 1);
  a.ctl.call('drain', { on: true, timeout: 0 }); // already draining: the timeout changes, no new switch
  assert.equal(changes, 1);
  assert.equal(a.ctl.status().drain?.state, 'drained', 'timeout 0: drained at once');
  assert.equal((a.ctl.call('drain', { on: false }) as { state: string }).state, 'off');
  assert.equal(changes, 2);
});

test('drain verb: the wall clock stepped forward an hour (NTP) leaves the time left as it was, not "drained" with connections left; stepped back, since moves with the clock and the drain still ends on time', (t) => {
  const clock = stepClock(t, []);
  const a = director([0, 1], 'mh');
  a.ctl.routed = true;
  a.run(syn(30000)); // one connection left
  a.ctl.call('drain', { on: true, timeout: 600 });
  clock.tick(100_000);
  const drain = () => a.ctl.status().drain as DrainStatus;
  assert.deepEqual([drain().state, drain().left, drain().since], ['draining', 500, '2026-12-04T16:00:00.000Z']);
  clock.step(3_600_000);
  assert.deepEqual([drain().state, drain().left, drain().conns], ['draining', 500, 1], 'before: drained, 0 s left, with a connection left');
  assert.equal(drain().since, '2026-12-04T17:00:00.000Z', 'since: 100 s before now by the clock as it reads');
  clock.step(-7_200_000);
  assert.deepEqual([drain().state, drain().left], ['draining', 500], 'stepped back: not an hour more');
  clock.tick(500_000);
  assert.deepEqual([drain().state, drain().left], ['drained', 0]);
});

test('BGP: a VIP is announced while one of its services has a server with weight > 0, none while draining; include text', () => {
  const a = director([0, 1], 'mh');
  const vip = parseIp(VIP) >>> 0;
  assert.deepEqual(wantedVips(a.ctl.model, announce(a, false)), [vip]);
  assert.deepEqual(wantedVips(a.ctl.model, announce(a, true)), []);
  for (const i of [0, 1]) a.ctl.editDest({ service: SVC, addr: SERVERS[i].ip, port: 80, fwd: 'dr', weight: 0 });
  assert.deepEqual(wantedVips(a.ctl.model, announce(a, false)), [], 'every server at weight 0: withdrawn');
  // Another service on the same VIP with a live server keeps the /32.
  a.ctl.addService({ proto: 'udp', addr: VIP, port: 53, sched: 'rr' });
  a.ctl.addDest({ service: { proto: 'udp', addr: VIP, port: 53 }, addr: SERVERS[0].ip, port: 53, fwd: 'dr', weight: 1 });
  assert.deepEqual(wantedVips(a.ctl.model, announce(a, false)), [vip]);
  const text = includeText([vip, parseIp('192.168.8.201') >>> 0], parseIp('192.168.8.21') >>> 0);
  assert.match(text, /^protocol static uvs_vips \{\n  ipv4;\n  route 10\.0\.0\.100\/32 via 192\.168\.8\.21;\n  route 192\.168\.8\.201\/32 via 192\.168\.8\.21;\n\}\n$/m);
});

test('BGP: a backup announces nothing (it drops the VIPs\' traffic); with HA groups only the VIPs of the groups it is master of; a role change is a change (re-announced)', () => {
  const a = director([0, 1], 'mh');
  const vip = parseIp(VIP) >>> 0;
  const vip2 = parseIp('10.0.0.101') >>> 0;
  a.ctl.addService({ proto: 'tcp', addr: '10.0.0.101', port: 80, sched: 'rr' });
  a.ctl.addDest({ service: { proto: 'tcp', addr: '10.0.0.101', port: 80 }, addr: SERVERS[0].ip, port: 80, fwd: 'dr', weight: 1 });
  let changes = 0;
  a.ctl.onChange = () => changes++;
  assert.deepEqual(wantedVips(a.ctl.model, announce(a, false)), [vip, vip2]);
  // uvsd --role backup (or keepalived's BACKUP): before, the routes were announced and the router
  // sent the traffic to a director that drops it (drop_backup).
  a.ctl.call('setRole', { role: 'backup' });
  assert.equal(changes, 1, 'uvsd looks at what to announce again');
  assert.deepEqual(wantedVips(a.ctl.model, announce(a, false)), []);
  a.ctl.call('setRole', { role: 'master' });
  assert.deepEqual(wantedVips(a.ctl.model, announce(a, false)), [vip, vip2]);
  // Active/active: the second VIP moves with group "api", which this director is backup of.
  a.ctl.setHaGroups([{ name: 'api', addrs: [vip2] }]);
  a.ctl.call('setRole', { role: 'backup', group: 'api' });
  assert.deepEqual(wantedVips(a.ctl.model, announce(a, false)), [vip]);
  a.ctl.call('setRole', { role: 'master', group: 'api' });
  a.ctl.call('setRole', { role: 'backup', group: 'default' });
  assert.deepEqual(wantedVips(a.ctl.model, announce(a, false)), [vip2]);
});
