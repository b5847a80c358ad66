// test-class: shared
// Faults that the datapath only counts, logged by uvsd's periodic check (src/control/faults.ts):
// counter snapshots in, log lines out.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { logRecorder } from './helpers/log-recorder.js';
import { stepClock } from './helpers/step-clock.js';
import { C, COUNTER_NAMES, D, DROP_NAMES } from '../src/datapath/counters.js';
import { FaultWatch, type FaultSource } from '../src/control/faults.js';

/** What the watch reads of a Datapath, with a table of 100 entries. */
function source(): FaultSource & { d: Float64Array; c: Float64Array; ct: { count: number; max: number }; secureTcp: boolean;
  link: { gateway: number; neigh: { size: number; lastRefused: number; lastUnresolved: number; lastUnresolvedPinned: number }; mac: Uint8Array; ownMacFrames: number; ownMacSender: number } } {
  const d = new Float64Array(DROP_NAMES.length);
  const c = new Float64Array(COUNTER_NAMES.length);
  return {
    d, c, counters: { d, c }, ct: { count: 0, max: 100 }, secureTcp: false, defense: { secureTcpAbove: 0.5 },
    link: { gateway: 0, neigh: { size: 1024, lastRefused: 0, lastUnresolved: 0, lastUnresolvedPinned: 0 }, mac: Uint8Array.from([2, 0, 0, 0, 0, 1]), ownMacFrames: 0, ownMacSender: 0 },
  };
}

/** Checks every 250 ms (uvsd's tick) from `from` to `to` ms; refused(t) adds to conn_table_full before each. */
function run(w: FaultWatch, src: ReturnType<typeof source>, from: number, to: number, refused: (t: number) => number = () => 0): void {
  for (let t = from; t <= to; t += 250) {
    src.d[D.conn_table_full] += refused(t);
    w.check(t);
  }
}

test('connection table full: one warning when refusals start, again at most every 10 s with the count since the last, one info line 3 s after they stop', () => {
  const src = source();
  const log = logRecorder();
  const w = new FaultWatch(src, log, 0);
  run(w, src, 0, 750);
  assert.deepEqual(log.take(), [], 'nothing refused: nothing logged');
  // 1 refusal every 250 ms from t = 1000 to 11000 (41 in all).
  run(w, src, 1000, 11_000, () => 1);
  let lines = log.take();
  assert.deepEqual(lines.map((l) => [l.level, l.msg]), [
    ['warn', 'connection table full: 1 new connection refused in the last 1s (conn-max 100)'],
    ['warn', 'connection table full: 40 new connections refused in the last 10s (conn-max 100)'],
  ]);
  assert.deepEqual(lines[0]!.fields, { refused: 1, seconds: 1, conns: 0, connMax: 100 });
  // Quiet: still full for 3 s (retrying clients do not make it flap), then one info line.
  run(w, src, 11_250, 13_750);
  assert.deepEqual(log.take(), []);
  run(w, src, 14_000, 20_000);
  lines = log.take();
  assert.deepEqual(lines.map((l) => [l.level, l.msg]), [
    ['info', 'connection table has room again: 41 new connections refused over 11s, none in the last 3s'],
  ]);
  // A new episode warns at once.
  run(w, src, 20_250, 21_000, (t) => (t === 20_500 ? 7 : 0));
  assert.deepEqual(log.take().map((l) => l.msg), ['connection table full: 7 new connections refused in the last 1s (conn-max 100)']);
});

test('connection table full: a burst shorter than the quiet time is one warning and one info line; refusals before the watch began are not news', () => {
  const src = source();
  src.d[D.conn_table_full] = 500; // counted before the watch began
  const log = logRecorder();
  const w = new FaultWatch(src, log, 0);
  run(w, src, 0, 2000);
  assert.deepEqual(log.take(), []);
  run(w, src, 2250, 10_000, (t) => (t <= 3500 ? 2 : 0));
  assert.deepEqual(log.take().map((l) => [l.level, l.msg]), [
    ['warn', 'connection table full: 8 new connections refused in the last 1s (conn-max 100)'],
    ['info', 'connection table has room again: 12 new connections refused over 2s, none in the last 3s'],
  ]);
});

test('connection table full: refusals between the watch\'s start and its first check are news (uvsd forwards before its first tick)', () => {
  const src = source();
  const log = logRecorder();
  const w = new FaultWatch(src, log, 0);
  src.d[D.conn_table_full] += 12;
  run(w, src, 250, 5000);
  assert.deepEqual(log.take().map((l) => l.msg), [
    'connection table full: 12 new connections refused in the last 1s (conn-max 100)',
    'connection table has room again: 12 new connections refused over 1s, none in the last 3s',
  ]);
});

test('connection table full: when refusals stop while the table is still full (nobody asked for room since), the info line says so instead of "has room again"', () => {
  const src = source();
  const log = logRecorder();
  const w = new FaultWatch(src, log, 0);
  src.ct.count = 100;
  run(w, src, 250, 5000, (t) => (t === 1000 ? 7 : 0));
  assert.deepEqual(log.take().map((l) => [l.level, l.msg]), [
    ['warn', 'connection table full: 7 new connections refused in the last 1s (conn-max 100)'],
    ['info', 'connection table refusals stopped: 7 new connections refused over 1s, none in the last 3s; still full (100 of 100)'],
  ]);
});

test('uvsd --workers: when refusals stop while a worker\'s share is still full, the info line names that worker (still full), though the workers\' sum has room (before 2026-12-06: "has room again", while that worker went on refusing the clients its queue gets)', () => {
  const src = source();
  const log = logRecorder();
  let fullest = { worker: 0, count: 50, max: 50 };
  const w = new FaultWatch(src, log, 0, {}, () => fullest);
  src.ct.count = 70;
  run(w, src, 250, 5000, (t) => (t === 1000 ? 7 : 0));
  // Then the worker's entries go: the next refusals, once they stop, leave room.
  fullest = { worker: 1, count: 20, max: 50 };
  src.ct.count = 40;
  run(w, src, 5250, 10_000, (t) => (t === 6000 ? 3 : 0));
  assert.deepEqual(log.take().map((l) => [l.level, l.msg]), [
    ['warn', 'connection table full: 7 new connections refused in the last 1s (conn-max 100; worker 0\'s share full, 50 of 50, the table at 70)'],
    ['info', 'connection table refusals stopped: 7 new connections refused over 1s, none in the last 3s; still full (70 of 100; worker 0 at 50 of 50)'],
    ['warn', 'connection table full: 3 new connections refused in the last 1s (conn-max 100)'],
    ['info', 'connection table has room again: 3 new connections refused over 1s, none in the last 3s'],
  ]);
});

test('connection table full: ticks a few ms early or late (timer jitter) still give "none in the last 3s", not a tick more', () => {
  const src = source();
  const log = logRecorder();
  const w = new FaultWatch(src, log, 0);
  // uvsd's 250 ms tick as performance.now() sees it: 2 ms late, 1 ms early, on time, in turn (so
  // ticks 1000 ms apart differ by up to 3 ms).
  const jitter = (t: number): number => [2, -1, 0][(t / 250) % 3]!;
  for (let t = 0; t <= 12_000; t += 250) {
    if (t >= 1000 && t <= 3000) src.d[D.conn_table_full] += 1;
    w.check(t + jitter(t));
  }
  assert.deepEqual(log.take().map((l) => l.msg), [
    'connection table full: 1 new connection refused in the last 1s (conn-max 100)',
    'connection table has room again: 9 new connections refused over 3s, none in the last 3s',
  ]);
});

test('secure_tcp: one warning when it switches on, one info line when it switches off', () => {
  const src = source();
  const log = logRecorder();
  const w = new FaultWatch(src, log, 0);
  run(w, src, 0, 1000);
  src.secureTcp = true;
  src.ct.count = 50;
  run(w, src, 1250, 5000);
  src.secureTcp = false;
  src.ct.count = 39;
  run(w, src, 5250, 9000);
  assert.deepEqual(log.take().map((l) => [l.level, l.msg]), [
    ['warn', 'secure_tcp on: connection table at 50 of 100 entries (above 0.5): half-open TCP connections time out in seconds'],
    ['info', 'secure_tcp off: connection table at 39 of 100 entries'],
  ]);
});

test('neighbour table full: a warning with the count of addresses refused an entry and the last of them, again at most every 10 s; none without new refusals', () => {
  const src = source();
  const log = logRecorder();
  const w = new FaultWatch(src, log, 0);
  for (let t = 0; t <= 11_000; t += 250) {
    if (t >= 1000) {
      src.c[C.neigh_refused] += 2;
      src.link.neigh.lastRefused = 0x0a000105; // 10.0.1.5
    }
    w.check(t);
  }
  const lines = log.take();
  assert.deepEqual(lines.map((l) => [l.level, l.msg]), [
    ['warn', 'neighbour table full: 2 addresses refused an entry, the last 10.0.1.5 (neigh-max 1024); their frames are dropped (neigh_table_full)'],
    ['warn', 'neighbour table full: 80 addresses refused an entry since the last warning, the last 10.0.1.5 (neigh-max 1024); their frames are dropped (neigh_table_full)'],
  ]);
  assert.deepEqual(lines[0]!.fields, { refused: 2, neighMax: 1024, addr: '10.0.1.5' });
  for (let t = 11_250; t <= 30_000; t += 250) w.check(t);
  assert.deepEqual(log.take(), []);
});

test("another station with uvsd's own MAC (one --mac given to two uvsd, a loop on the bridge): a warning naming the MAC, the count and the last sender, again at most every 10 s; none without new frames (before: nothing said)", () => {
  const src = source();
  const log = logRecorder();
  const w = new FaultWatch(src, log, 0);
  for (let t = 0; t <= 11_000; t += 250) {
    if (t >= 1000) {
      src.link.ownMacFrames += 1;
      src.link.ownMacSender = 0xc0a8080b | 0; // 192.168.8.11: int32, negative
    }
    w.check(t);
  }
  const lines = log.take();
  const tail = ': two uvsd (or hosts) given one --mac, or a loop on the bridge; the switch sends this MAC\'s traffic to whichever sent last (dropped, arp_bad_sender)';
  assert.deepEqual(lines.map((l) => [l.level, l.msg]), [
    ['warn', `another station uses uvsd's MAC 02:00:00:00:00:01: 1 ARP frame with it, the last from 192.168.8.11${tail}`],
    ['warn', `another station uses uvsd's MAC 02:00:00:00:00:01: 40 ARP frames with it since the last warning, the last from 192.168.8.11${tail}`],
  ]);
  assert.deepEqual(lines[0]!.fields, { frames: 1, mac: '02:00:00:00:00:01', sender: '192.168.8.11' });
  for (let t = 11_250; t <= 30_000; t += 250) w.check(t);
  assert.deepEqual(log.take(), []);
});

test('the wall clock stepped back an hour, then forward (NTP): the warnings go on every 10 s, on the monotonic clock (before, none for an hour after the step back)', (t) => {
  const clock = stepClock(t, []);
  const src = source();
  const log = logRecorder();
  const w = new FaultWatch(src, log); // uvsd's: its own clock
  const tick = (refused: number, neigh: number): void => {
    src.d[D.conn_table_full] += refused;
    src.c[C.neigh_refused] += neigh;
    clock.tick(250);
    w.check();
  };
  const count = (lines: { msg: string }[], prefix: string) => lines.filter((l) => l.msg.startsWith(prefix)).length;
  const run60 = (): ReturnType<typeof log.take> => {
    for (let i = 0; i < 240; i++) tick(10, 1);
    return log.take();
  };
  const before = run60();
  assert.deepEqual([count(before, 'connection table full'), count(before, 'neighbour table full')], [6, 6]);
  clock.step(-3_600_000);
  const back = run60();
  assert.deepEqual([count(back, 'connection table full'), count(back, 'neighbour table full')], [6, 6],
    '2,400 refusals in the minute after the step back are warned about every 10 s');
  // A step forward shortens nothing: refusals paused for 1 s across it are still one episode.
  for (let i = 0; i < 4; i++) tick(0, 0);
  clock.step(3_600_000);
  tick(0, 0);
  tick(5, 0);
  assert.deepEqual(log.take().filter((l) => l.msg.startsWith('connection table')), [],
    'no "has room again" after 1 s without refusals, and no warning within 10 s of the last');
});

test('no ARP answer: frames dropped waiting for a neighbour\'s MAC are a warning naming the gateway or real server, again at most every 10 s; none without new drops', () => {
  const src = source();
  src.d[D.neigh_unresolved] = 40; // counted before the watch began: not news
  src.link.gateway = 0xc0a808fe | 0; // 192.168.8.254, as an int32 like the datapath's addresses
  const log = logRecorder();
  const w = new FaultWatch(src, log, 0);
  for (let t = 0; t <= 11_000; t += 250) {
    if (t >= 1000) {
      src.d[D.neigh_unresolved] += 1;
      src.link.neigh.lastUnresolved = 0xc0a808fe | 0;
      src.link.neigh.lastUnresolvedPinned = 1;
    }
    w.check(t);
  }
  const lines = log.take();
  assert.deepEqual(lines.map((l) => [l.level, l.msg]), [
    ['warn', "no ARP answer from the gateway 192.168.8.254 (--gateway): 1 frame dropped waiting for its MAC (neigh_unresolved): is it up on uvsd's link with that address, answering ARP from uvsd's --addr? (uvsadm --neigh)"],
    ['warn', "no ARP answer from the gateway 192.168.8.254 (--gateway): 40 frames dropped since the last warning waiting for its MAC (neigh_unresolved): is it up on uvsd's link with that address, answering ARP from uvsd's --addr? (uvsadm --neigh)"],
  ]);
  assert.deepEqual(lines[0]!.fields, { dropped: 1, addr: '192.168.8.254', neighbour: 'gateway' });
  for (let t = 11_250; t <= 30_000; t += 250) w.check(t);
  assert.deepEqual(log.take(), [], 'no new drops: nothing more');
  // A real server (pinned, not the gateway), then an unpinned on-link host (a NAT client), then
  // the shadow of uvsd --workers, which names no address.
  src.d[D.neigh_unresolved] += 3;
  src.link.neigh.lastUnresolved = 0x0a080163; // 10.8.1.99
  w.check(30_250);
  src.d[D.neigh_unresolved] += 2;
  src.link.neigh.lastUnresolved = 0x0a080164;
  src.link.neigh.lastUnresolvedPinned = 0;
  w.check(40_250);
  src.d[D.neigh_unresolved] += 1;
  src.link.neigh.lastUnresolved = 0;
  w.check(50_250);
  assert.deepEqual(log.take().map((l) => l.msg), [
    "no ARP answer from real server 10.8.1.99: 3 frames dropped since the last warning waiting for its MAC (neigh_unresolved): is it up on uvsd's link with that address, answering ARP from uvsd's --addr? (uvsadm --neigh)",
    'no ARP answer from on-link host 10.8.1.100: 2 frames dropped since the last warning waiting for its MAC (neigh_unresolved)',
    "no ARP answer: 1 frame dropped since the last warning waiting for a next hop's MAC (neigh_unresolved); uvsadm --neigh shows the FAILED entries",
  ]);
});

test('no destination available: new connections dropped because every real server of their service is down, at weight 0 or over -x are a warning naming the services with the most, again at most every 10 s; none without new drops (before 2026-12-07 only counted, where the kernel logs "no destination available")', () => {
  const base = source();
  const svcNoDest = new Float64Array(8);
  const services: ({ proto: number; vip: number; port: number } | undefined)[] = [
    undefined,
    { proto: 6, vip: 0xc0a808c8 | 0, port: 80 }, // TCP 192.168.8.200:80
    { proto: 17, vip: 0xc0a808c8 | 0, port: 53 },
    { proto: 0, vip: 7, port: 0 }, // -f 7
    { proto: 6, vip: 0x0a000001, port: 443 },
    { proto: 6, vip: 0x0a000002, port: 443 },
  ];
  const counters = { d: base.d, c: base.c, svcNoDest };
  const src = { ...base, counters, services };
  const tail = ': the service has no real server available (none, or each down, at weight 0 or over its -x threshold); answered with ICMP port unreachable (no_dest)';
  src.d[D.no_dest] = 5; // counted before the watch began: not news
  svcNoDest[1] = 5;
  const log = logRecorder();
  const w = new FaultWatch(src, log, 0);
  for (let t = 0; t <= 11_000; t += 250) {
    if (t >= 1000) {
      src.d[D.no_dest] += 1;
      svcNoDest[1] += 1;
    }
    w.check(t);
  }
  const lines = log.take();
  assert.deepEqual(lines.map((l) => [l.level, l.msg]), [
    ['warn', `no destination available: 1 new connection refused to TCP 192.168.8.200:80 (1)${tail}`],
    ['warn', `no destination available: 40 new connections refused since the last warning to TCP 192.168.8.200:80 (40)${tail}`],
  ]);
  assert.deepEqual(lines[0]!.fields, { refused: 1, services: [{ service: 'TCP 192.168.8.200:80', refused: 1 }] });
  for (let t = 11_250; t <= 30_000; t += 250) w.check(t);
  assert.deepEqual(log.take(), [], 'no new drops: nothing more');
  // Several services: the most first, three named, the others counted.
  svcNoDest[2] += 3;
  svcNoDest[3] += 5;
  svcNoDest[4] += 1;
  svcNoDest[5] += 2;
  src.d[D.no_dest] += 11;
  w.check(30_250);
  // A service id used again (its count restarts), in a larger array (more services).
  const more = new Float64Array(16);
  more.set(svcNoDest);
  more[1] = 2;
  counters.svcNoDest = more;
  src.d[D.no_dest] += 2;
  w.check(40_250);
  // uvsd --workers: drops the tick's pull has not yet summed per service are counted, no service named.
  src.d[D.no_dest] += 4;
  w.check(50_250);
  assert.deepEqual(log.take().map((l) => l.msg), [
    `no destination available: 11 new connections refused since the last warning to FWM 7 (5), UDP 192.168.8.200:53 (3), TCP 10.0.0.2:443 (2) and 1 more service${tail}`,
    `no destination available: 2 new connections refused since the last warning to TCP 192.168.8.200:80 (2)${tail}`,
    `no destination available: 4 new connections refused since the last warning${tail}`,
  ]);
});
