// test-class: shared
// The neighbour (ARP) table's garbage collection (src/datapath/neigh.ts, docs/resilience.md "The
// neighbour table"), in-process with a fake clock: more on-link addresses than the table holds —
// real servers added and deleted, NAT clients, spoofed sources answered with resets — never
// leave a new real server, the gateway or a new client without an entry.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { arpFrame, ipStr, macStr, tcpFrame, TCP_FLAGS, udpFrame } from './helpers/frames.js';
import { logRecorder } from './helpers/log-recorder.js';
import { FaultWatch } from '../src/control/faults.js';
import { DIR_IP, DIR_MAC, RS, ROUTER_MAC, VIP, delta, rig, type Rig } from './helpers/harness.js';
import { parseIp } from '../src/datapath/addr.js';
import { C, Counters } from '../src/datapath/counters.js';
import { N_INCOMPLETE, NeighTable, type NeighRow } from '../src/datapath/neigh.js';
import { Control } from '../src/control/model.js';
import type { Workers } from '../src/datapath/group.js';
import { parseArgs } from '../src/control/ipvsadm.js';
import { formatNeigh, formatStatus } from '../src/control/printers.js';
import type { NeighInfo, StatusResult } from '../src/control/protocol.js';

const IN = { ethDst: DIR_MAC, ethSrc: ROUTER_MAC };
const SVC = { proto: 'tcp' as const, addr: VIP, port: 80 };
const dstMac = (f: Buffer): string => macStr(f, 0);
const isArp = (f: Buffer): boolean => f[12] === 8 && f[13] === 6;
const isIp = (f: Buffer): boolean => f[12] === 8 && f[13] === 0;
/** The k-th on-link host of 10.0.4.0/14 .. (clear of the harness's addresses). */
const host = (k: number): string => ipStr(parseIp('10.0.4.0') + k);
const macOf = (k: number): string => `02:0e:00:${((k >> 16) & 255).toString(16).padStart(2, '0')}:${((k >> 8) & 255).toString(16).padStart(2, '0')}:${(k & 255).toString(16).padStart(2, '0')}`;

/** A /16 director (so thousands of hosts are on-link) with a small neighbour table. */
function bigLink(neighMax: number, gateway?: string): Rig {
  return rig({ addrs: [`${DIR_IP}/16`], neighMax, gateway });
}

/** Let `ms` pass in uvsd's 250 ms ticks. */
function pass(r: Rig, ms: number): void {
  for (let t = 0; t < ms; t += 250) {
    r.advance(250);
    r.dp.tick();
  }
}

test('neighbour table: 1,030 real servers added and deleted, then a healthy one added: it is resolved and gets every SYN (the deleted ones\' entries are reclaimed)', () => {
  const r = bigLink(256);
  r.ctl.addService({ ...SVC, sched: 'rr' });
  for (let k = 0; k < 1030; k++) {
    r.ctl.addDest({ service: SVC, addr: host(k), port: 80, fwd: 'dr', weight: 1 });
    r.ctl.deleteDest({ service: SVC, addr: host(k), port: 80 });
  }
  assert.ok(r.dp.neigh.count <= 256);
  r.sink.take();
  r.ctl.addDest({ service: SVC, addr: RS[0].ip, port: 80, fwd: 'dr', weight: 1 });
  assert.ok(r.sink.take().some(isArp), 'the new server is probed');
  r.learn(RS[0].ip, RS[0].mac);
  const before = r.counters();
  const out = r.run(...Array.from({ length: 20 }, (_x, i) => tcpFrame(IN, { src: '192.0.2.10', dst: VIP, sport: 1000 + i, dport: 80, flags: TCP_FLAGS.SYN })));
  assert.equal(out.length, 20);
  for (const f of out) assert.equal(dstMac(f), RS[0].mac);
  const d = delta(before, r.counters());
  assert.equal(d['drop.neigh_unresolved'] ?? 0, 0);
  assert.ok(r.counters().neigh_reclaimed >= 1030 - 256);
});

test('neighbour table: 1,181 on-link NAT clients, 20 ms apart, through a 512-entry table: every one gets its SYN|ACK; 101 more after a quiet minute too', () => {
  const r = bigLink(512);
  r.ctl.addService({ ...SVC, sched: 'rr' });
  r.ctl.addDest({ service: SVC, addr: RS[0].ip, port: 8080, fwd: 'nat', weight: 1 });
  r.learn(RS[0].ip, RS[0].mac);
  const fromRs = { ethDst: DIR_MAC, ethSrc: RS[0].mac };
  const client = (k: number): boolean => {
    const ip = host(k);
    const mac = macOf(k);
    r.feed(tcpFrame({ ethDst: DIR_MAC, ethSrc: mac }, { src: ip, dst: VIP, sport: 40000, dport: 80, flags: TCP_FLAGS.SYN }));
    r.sink.take();
    // The server's SYN|ACK waits for the client's MAC; the client answers the probe.
    const out = r.run(tcpFrame(fromRs, { src: RS[0].ip, dst: ip, sport: 8080, dport: 40000, flags: TCP_FLAGS.SYN | TCP_FLAGS.ACK }));
    if (!out.some(isArp)) return out.some((f) => isIp(f) && dstMac(f) === mac);
    const got = r.run(arpFrame({ ethDst: DIR_MAC, ethSrc: mac }, { op: 2, sha: mac, spa: ip, tha: DIR_MAC, tpa: DIR_IP }));
    return got.some((f) => isIp(f) && dstMac(f) === mac);
  };
  const failed: number[] = [];
  for (let k = 0; k < 1181; k++) {
    if (!client(k)) failed.push(k);
    r.advance(20);
    if (k % 12 === 0) r.dp.tick();
  }
  assert.deepEqual(failed, []);
  assert.ok(r.dp.neigh.count <= 512);
  pass(r, 60_000);
  const later: number[] = [];
  for (let k = 2000; k < 2101; k++) if (!client(k)) later.push(k);
  assert.deepEqual(later, []);
  assert.equal(r.counters()['drop.neigh_table_full'], 0);
});

test('neighbour table: 1,100 spoofed on-link ACKs to VIP:80 (a reset to each) leave the real server\'s and the gateway\'s entries alone; a server and a client that come later are resolved', () => {
  const GW = '10.0.255.254';
  const r = bigLink(256, GW);
  r.ctl.addService({ ...SVC, sched: 'rr' });
  r.ctl.addDest({ service: SVC, addr: RS[0].ip, port: 80, fwd: 'dr', weight: 1 });
  r.dp.resolve(parseIp(GW));
  r.learn(RS[0].ip, RS[0].mac);
  r.learn(GW, ROUTER_MAC);
  const before = r.counters();
  for (let k = 0; k < 1100; k++) {
    r.feed(tcpFrame(IN, { src: host(k), dst: VIP, sport: 5000, dport: 80, flags: TCP_FLAGS.ACK }));
    r.advance(10);
    if (k % 25 === 0) r.dp.tick();
  }
  const d = delta(before, r.counters());
  assert.ok((d.tcp_rst_sent ?? 0) > 1000, 'resets were sent');
  assert.ok(r.dp.neigh.count <= 256);
  for (const ip of [RS[0].ip, GW]) {
    const n = r.dp.neigh.find(parseIp(ip));
    assert.ok(n >= 0 && r.dp.neigh.usable(n), `${ip} kept its entry`);
  }
  // The real server and the gateway (an off-link client's reply) still work at once.
  let out = r.run(tcpFrame(IN, { src: '192.0.2.10', dst: VIP, sport: 1, dport: 80, flags: TCP_FLAGS.SYN }));
  assert.equal(dstMac(out[0]!), RS[0].mac);
  out = r.run(tcpFrame(IN, { src: '192.0.2.10', dst: VIP, sport: 2, dport: 80, flags: TCP_FLAGS.ACK }));
  assert.equal(dstMac(out[0]!), ROUTER_MAC, 'a reset to the off-link client, through the gateway');
  // A new server and a new on-link client are resolved.
  r.ctl.addDest({ service: SVC, addr: RS[1].ip, port: 80, fwd: 'dr', weight: 1 });
  assert.ok(r.sink.take().some(isArp), 'the new server is probed');
  r.learn(RS[1].ip, RS[1].mac);
  assert.ok(r.dp.neigh.usable(r.dp.neigh.find(parseIp(RS[1].ip))));
  const c = host(5000);
  out = r.run(tcpFrame(IN, { src: c, dst: VIP, sport: 7, dport: 80, flags: TCP_FLAGS.ACK }));
  assert.ok(out.some(isArp), 'the new client is probed (its reset waits)');
  out = r.run(arpFrame({ ethDst: DIR_MAC, ethSrc: macOf(5000) }, { op: 2, sha: macOf(5000), spa: c, tha: DIR_MAC, tpa: DIR_IP }));
  assert.ok(out.some((f) => isIp(f) && dstMac(f) === macOf(5000)), 'and gets its reset');
});

test('NeighTable: a full table of pinned entries refuses a new address (counted) and takes it once one is unpinned; failed and idle unpinned entries are freed by the sweep, pinned ones never', () => {
  const k = new Counters();
  const c = k.c;
  const nb = new NeighTable(4, k);
  for (let i = 1; i <= 4; i++) {
    nb.pin(i);
    assert.ok(nb.obtain(i, 0) >= 0);
  }
  assert.equal(nb.obtain(5, 0), -1);
  assert.equal(c[C.neigh_refused], 1);
  assert.equal(nb.lastRefused, 5);
  nb.unpin(2);
  const n = nb.obtain(5, 0);
  assert.ok(n >= 0 && nb.find(2) < 0 && nb.find(5) === n, 'the unpinned entry was taken');
  // Everything unanswered for minutes: only the unpinned entry (5) goes.
  nb.gc(120_000);
  assert.equal(nb.find(5), -1);
  for (const ip of [1, 3, 4]) assert.equal(nb.state[nb.find(ip)], N_INCOMPLETE);
  assert.equal(nb.count, 3);
  // A hash, not a scan: 4 of 4 addresses found after churn, misses answered.
  assert.equal(nb.flushAll(), 3);
  assert.equal(nb.count, 0);
  for (let i = 0; i < 1000; i++) assert.ok(nb.obtain(1000 + i, 0) >= 0);
  assert.equal(nb.count, 4);
  assert.ok(nb.find(1999) >= 0 && nb.find(1000) < 0);
});

test('NeighTable: on a full table an unpinned resolved entry in use (within 5 s) is not taken for another unpinned address, one idle 5 s is', () => {
  const k = new Counters();
  const c = k.c;
  const nb = new NeighTable(2, k);
  const mac = new Uint8Array(6);
  for (const ip of [1, 2]) nb.learn(nb.obtain(ip, 0), mac, 0, 0);
  assert.equal(nb.obtain(3, 4_000), -1);
  assert.ok(nb.obtain(3, 6_000) >= 0);
  assert.equal(c[C.neigh_reclaimed], 1);
});

test('uvsadm --neigh lists the table (address, MAC, state, ages, what needs it); --neigh-flush ADDR forgets one entry, without an address all; a bad address is refused naming it', () => {
  const GW = '10.0.255.254';
  const r = bigLink(256, GW);
  r.ctl.addService({ ...SVC, sched: 'rr' });
  r.ctl.addDest({ service: SVC, addr: RS[0].ip, port: 80, fwd: 'dr', weight: 1 });
  r.ctl.addService({ proto: 'udp', addr: VIP, port: 53, sched: 'rr' });
  r.ctl.addDest({ service: { proto: 'udp', addr: VIP, port: 53 }, addr: RS[0].ip, port: 53, fwd: 'dr', weight: 1 });
  r.dp.resolve(parseIp(GW));
  r.learn(RS[0].ip, RS[0].mac);
  r.advance(3500);
  // A client's reset waits for its MAC.
  r.feed(tcpFrame(IN, { src: host(1), dst: VIP, sport: 5000, dport: 80, flags: TCP_FLAGS.ACK }));
  r.advance(500);
  const rows = r.ctl.call('neighList', {}) as NeighInfo[];
  assert.deepEqual(rows, [
    { addr: RS[0].ip, mac: RS[0].mac, state: 'REACHABLE', confirmed: 4, used: 4, gateway: false, servers: 2 },
    { addr: host(1), mac: null, state: 'INCOMPLETE', confirmed: null, used: 0.5, gateway: false, servers: 0 },
    { addr: GW, mac: null, state: 'FAILED', confirmed: null, used: 4, gateway: true, servers: 0 },
  ]);
  assert.equal(formatNeigh(rows), [
    'Address          MAC               State      Confirmed     Used Users',
    '10.0.0.11        02:00:00:00:00:11 REACHABLE         4s       4s 2 servers',
    '10.0.4.1         -                 INCOMPLETE         -     0.5s -',
    '10.0.255.254     -                 FAILED             -       4s gateway',
    '',
  ].join('\n'));
  assert.deepEqual(parseArgs(['--neigh'], { env: {} }).kind, 'neigh');
  assert.deepEqual((parseArgs(['--neigh-flush', RS[0].ip], { env: {} }) as { call: unknown }).call, { verb: 'neighFlush', args: { addr: RS[0].ip } });
  assert.deepEqual((parseArgs(['--neigh-flush'], { env: {} }) as { call: unknown }).call, { verb: 'neighFlush', args: {} });
  r.ctl.call('neighFlush', { addr: RS[0].ip });
  assert.deepEqual((r.ctl.call('neighList', {}) as NeighInfo[]).map((x) => x.addr), [host(1), GW]);
  assert.throws(() => r.ctl.call('neighFlush', { addr: '10.0.0.300' }), /10\.0\.0\.300/);
  const before = r.counters();
  r.ctl.call('neighFlush', {});
  assert.deepEqual(r.ctl.call('neighList', {}), []);
  assert.equal(delta(before, r.counters())['drop.neigh_unresolved'], 1, 'the waiting reset is dropped, counted');
  // The real server is resolved again when next needed, and still pinned.
  const out = r.run(tcpFrame(IN, { src: '192.0.2.10', dst: VIP, sport: 1, dport: 80, flags: TCP_FLAGS.SYN }));
  assert.ok(out.some(isArp));
  assert.equal(r.dp.neigh.pinned[r.dp.neigh.find(parseIp(RS[0].ip))], 1);
});

test('uvsadm --neigh with --workers: one line per address over every worker\'s table, from the worker with the best state, and how many workers hold it', async () => {
  const r = bigLink(64);
  const row = (addr: string, state: NeighRow['state'], usedMs: number, mac: string | null = null): NeighRow =>
    ({ addr: parseIp(addr) | 0, mac: mac === null ? null : Uint8Array.from(mac.split(':').map((x) => parseInt(x, 16))), state, confirmedMs: mac === null ? -1 : 1000, usedMs, pins: 0 });
  const workers = { pull: () => undefined, neigh: () => Promise.resolve([[row('10.0.4.1', 'INCOMPLETE', 100), row('10.0.4.2', 'STALE', 9000, '02:00:00:00:04:02')],
    [row('10.0.4.1', 'REACHABLE', 5000, '02:00:00:00:04:01')]]) };
  const ctl = new Control(r.dp, { tap: 't', workers: workers as unknown as Workers });
  assert.deepEqual(await ctl.call('neighList', {}), [
    { addr: '10.0.4.1', mac: '02:00:00:00:04:01', state: 'REACHABLE', confirmed: 1, used: 5, gateway: false, servers: 0, workers: 2 },
    { addr: '10.0.4.2', mac: '02:00:00:00:04:02', state: 'STALE', confirmed: 1, used: 9, gateway: false, servers: 0, workers: 1 },
  ]);
});

/** Count the entries a NeighTable's calls look at: reads of `state` and `pinned` by index (every
 *  entry a walk visits reads one of them), through proxies put in place of the two arrays. */
function countLooks(nb: NeighTable): { n: number } {
  const looks = { n: 0 };
  const watch = (a: Uint8Array): Uint8Array => new Proxy(a, {
    get(t, k) {
      if (typeof k === 'string' && /^\d+$/.test(k)) looks.n++;
      const v = Reflect.get(t, k, t) as unknown;
      return typeof v === 'function' ? (v as (...x: unknown[]) => unknown).bind(t) : v;
    },
    set(t, k, v) {
      return Reflect.set(t, k, v, t);
    },
  });
  const w = nb as unknown as { state: Uint8Array; pinned: Uint8Array };
  w.state = watch(nb.state);
  w.pinned = watch(nb.pinned);
  return looks;
}

test('NeighTable: with more real servers than entries, a new one on a full table looks at a few entries, not all of them (refused when all are pinned, one unpinned taken at once)', () => {
  const SIZE = 4096;
  const k = new Counters();
  const nb = new NeighTable(SIZE, k);
  for (let i = 1; i <= SIZE; i++) {
    nb.pin(i);
    nb.obtain(i, 0);
  }
  const looks = countLooks(nb);
  const most = { n: 0 };
  const call = (ip: number): number => {
    const before = looks.n;
    const n = nb.obtain(ip, 1_000);
    most.n = Math.max(most.n, looks.n - before);
    return n;
  };
  // All pinned: 50 more servers refused (counted), each without walking the table.
  for (let i = 0; i < 50; i++) {
    nb.pin(10_000 + i);
    assert.equal(call(10_000 + i), -1);
  }
  assert.equal(k.c[C.neigh_refused], 50);
  // Servers deleted here and there (their entries unpinned): each new one takes one of theirs.
  for (let j = 0; j < 200; j++) {
    const old = 1 + ((j * 1531) % SIZE);
    nb.unpin(old);
    nb.pin(20_000 + j);
    const n = call(20_000 + j);
    assert.ok(n >= 0 && nb.find(old) < 0 && nb.pinned[n] === 1, `server ${j} got the deleted one's entry`);
    // An on-link client now finds nothing it may take, quickly too.
    assert.equal(call(30_000 + j), -1);
  }
  assert.equal(nb.count, SIZE);
  // The unpinned ring's 64 at most, and for a real server the 64 pinned entries looked at for a
  // failed one (reclaimFailedPin, since 2026-12-07).
  assert.ok(most.n <= 150, `at most ${most.n} entries looked at by one call (the table has ${SIZE})`);
});

test('NeighTable: a full table of real servers, some down (their entries failed): a server added after them takes a failed one, not refused for good (before 2026-12-07 dead servers held their entries and live ones got none)', () => {
  const k = new Counters();
  const nb = new NeighTable(16, k);
  for (let i = 1; i <= 16; i++) {
    nb.pin(i);
    nb.obtain(i, 0);
  }
  nb.state[nb.find(5)] = 2; // server 5 answered (REACHABLE, N_INCOMPLETE + 1): never taken
  nb.pin(100);
  assert.equal(nb.obtain(100, 1_000), -1, 'the others still probing (not failed yet): refused');
  assert.equal(k.c[C.neigh_refused], 1);
  const n = nb.obtain(100, 5_000);
  assert.ok(n >= 0 && nb.pinned[n] === 1, 'a failed entry freed for the new server, pinned to it');
  assert.equal(k.c[C.neigh_reclaimed], 1);
  assert.ok(nb.find(5) >= 0, 'the server that answered keeps its entry');
  // An on-link client (not pinned) still gets none of the pinned entries.
  assert.equal(nb.obtain(200, 5_000), -1);
  // Each dead server sent to again takes another failed one; the live ones keep theirs.
  for (let i = 1; i <= 16; i++) if (nb.find(i) < 0) assert.ok(nb.obtain(i, 9_000) >= 0, `dead server ${i} gets an entry back`);
  assert.ok(nb.find(5) >= 0 && nb.find(100) >= 0);
});

test('a real server or the gateway that never answers ARP: its dropped frames (neigh_unresolved) name it, and uvsd\'s fault watch logs it (before 2026-12-07 nothing was logged: a wrong --gateway showed only as timeouts)', () => {
  const r = rig({ gateway: '10.0.0.254' });
  const log = logRecorder();
  const w = new FaultWatch(r.dp, log, 0);
  r.ctl.addService({ ...SVC, sched: 'rr' });
  r.ctl.addDest({ service: SVC, addr: RS[0].ip, port: 80, fwd: 'dr', weight: 1 }); // never answers
  const before = r.counters();
  r.run(...Array.from({ length: 3 }, (_x, i) => tcpFrame(IN, { src: '192.0.2.10', dst: VIP, sport: 2000 + i, dport: 80, flags: TCP_FLAGS.SYN })));
  pass(r, 4000); // its frames wait 3 s
  w.check(1000);
  assert.equal(delta(before, r.counters())['drop.neigh_unresolved'], 3);
  assert.equal(r.dp.link.neigh.lastUnresolved, parseIp(RS[0].ip) | 0);
  assert.equal(r.dp.link.neigh.lastUnresolvedPinned, 1);
  assert.deepEqual(log.take().map((l) => l.msg), [
    `no ARP answer from real server ${RS[0].ip}: 3 frames dropped waiting for its MAC (neigh_unresolved): is it up on uvsd's link with that address, answering ARP from uvsd's --addr? (uvsadm --neigh)`,
  ]);
  // NAT replies to an off-link client go to the gateway, which never answers either.
  r.ctl.addService({ proto: 'udp', addr: VIP, port: 53, sched: 'rr' });
  r.ctl.addDest({ service: { proto: 'udp', addr: VIP, port: 53 }, addr: RS[1].ip, port: 53, fwd: 'nat', weight: 1 });
  r.learn(RS[1].ip, RS[1].mac);
  r.run(udpFrame(IN, { src: '192.0.2.10', dst: VIP, sport: 3000, dport: 53 }));
  r.run(udpFrame({ ethDst: DIR_MAC, ethSrc: RS[1].mac }, { src: RS[1].ip, dst: '192.0.2.10', sport: 53, dport: 3000 }));
  pass(r, 4000);
  w.check(11_000);
  assert.deepEqual(log.take().map((l) => l.msg), [
    "no ARP answer from the gateway 10.0.0.254 (--gateway): 1 frame dropped since the last warning waiting for its MAC (neigh_unresolved): is it up on uvsd's link with that address, answering ARP from uvsd's --addr? (uvsadm --neigh)",
  ]);
});

test('uvsadm --status names the --gateway after the addresses (`gateway none` without one; no line from an older uvsd): a mistyped gateway was visible only in --neigh', () => {
  const withGw = formatStatus(rig({ gateway: '10.0.0.254' }).ctl.status() as StatusResult).split('\n');
  const at = withGw.findIndex((l) => l.startsWith('addresses '));
  assert.equal(withGw[at + 1], 'gateway 10.0.0.254');
  assert.ok(formatStatus(rig().ctl.status() as StatusResult).split('\n').includes('gateway none'));
  const older = { ...(rig().ctl.status() as StatusResult) };
  delete older.gateway;
  assert.ok(!formatStatus(older).split('\n').some((l) => l.startsWith('gateway')));
});
