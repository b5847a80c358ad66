// test-class: shared
// uvsd --workers N, the main thread's side of the statistics (src/datapath/group.ts), in-process:
// a DatapathGroup whose two "workers" are Datapaths of this thread with shared arrays, each
// applying the DpOp lists the group posts only when the test delivers them, so every read can
// land between the shadow applying a change (-d, -a, -Z, -D) and a worker applying it. The
// totals read there are every worker's own totals: never down, never a server counted twice.
// (test/integration-workers.test.ts runs the threads.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tcpFrame, TCP_FLAGS } from './helpers/frames.js';
import { CLIENT, DIR_MAC, ROUTER_MAC, RS, VIP, rig, type Rig } from './helpers/harness.js';
import { parseExposition } from './helpers/prom.js';
import { parseIp, parseMac } from '../src/datapath/addr.js';
import { destLoad } from '../src/datapath/dests.js';
import { DatapathGroup, SCALARS, applyLocked, publishTick, workerShared, type OpsMessage, type WorkerShared } from '../src/datapath/group.js';
import { createMetrics } from '../src/metrics/collectors.js';
import { RateEstimator } from '../src/metrics/rates.js';
import { startMetricsServer } from '../src/metrics/server.js';
import { EST_TICKS } from '../src/control/estimator.js';
import { C, SVC_SLOTS } from '../src/datapath/counters.js';
import { FaultWatch } from '../src/control/faults.js';
import { formatStatus } from '../src/control/printers.js';
import type { ListResult, StatusResult } from '../src/control/protocol.js';
import { STEER_MASKED, STEER_SERVER, steerValue } from '../src/datapath/steer.js';
import { fakeSteering } from './helpers/steering.js';

const DEST_MAX = 64;
const service = { proto: 'tcp' as const, addr: VIP, port: 80 };
const IN = { ethDst: DIR_MAC, ethSrc: ROUTER_MAC };

interface Lab {
  shadow: Rig;
  group: DatapathGroup;
  /** Apply the lists posted to worker k so far (as worker.ts does: under its lock, with their seq). */
  deliver(...k: number[]): void;
  /** New connections (one SYN each, to VIP:dport) through worker k; all of them so far. */
  syn(k: number, n: number, dport?: number): void;
  sent: number;
  /** Every worker's tick as worker.ts runs it (its table swept, what it publishes written), then the group's pullTick() as uvsd's tick. */
  tick(): void;
  w: Rig[];
  /** What each worker shares with the group (its lock among them). */
  shared: WorkerShared[];
}

/** connMax: uvsd's --conn-max (the shadow's); each worker holds its share, as DatapathGroup gives it. */
function lab(connMax = 1024, destMax = DEST_MAX, addrs?: string[]): Lab {
  const shadow = rig({ destMax, connMax, addrs });
  const group = new DatapathGroup([], { io: 'syscalls', stride: 2048, batch: 64, headroom: 0, budget: 64 },
    { mac: parseMac(DIR_MAC), addrs: [], connMax, destMax });
  group.shadow = shadow.dp;
  shadow.ctl.info.workers = group;
  const load = destLoad(2, destMax);
  const inbox: OpsMessage[][] = [[], []];
  const w = [0, 1].map((index) => {
    const r = rig({ destMax, connMax: Math.ceil(connMax / 2), worker: { index, count: 2, load }, addrs });
    for (const s of RS) r.learn(s.ip, s.mac);
    return r;
  });
  const shared: WorkerShared[] = w.map((r) => workerShared(r.dp, new Float64Array(new SharedArrayBuffer(8 * SCALARS)), new Float64Array(8), 'test', ''));
  // The group's links as its constructor makes them for threads: a worker that queues what is posted.
  const links = (group as unknown as { links: { w: { postMessage(m: unknown): void }; shared: WorkerShared; acked: number; svcNext: unknown[] }[] }).links;
  for (const k of [0, 1]) {
    links.push({
      w: { postMessage: (m: OpsMessage) => { if (m.t === 'ops') inbox[k].push(m); } },
      shared: shared[k], acked: 0, svcNext: [],
    });
  }
  let sport = 30000;
  const l: Lab = {
    shadow, group, sent: 0, w, shared,
    tick: () => {
      for (const [k, r] of w.entries()) {
        r.dp.tick();
        publishTick(shared[k], r.dp);
      }
      group.pullTick();
      shadow.dp.tick();
    },
    deliver: (...ks) => {
      for (const k of ks) {
        for (const m of inbox[k]) applyLocked(shared[k], w[k].dp, m);
        inbox[k] = [];
      }
    },
    syn: (k, n, dport = 80) => {
      for (let i = 0; i < n; i++) w[k].feed(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: sport++, dport, flags: TCP_FLAGS.SYN }));
      l.sent += n;
    },
  };
  return l;
}

test('--workers: a server deleted, added again, zeroed, its service deleted, each read before and after every worker applies it: node_ipvs_*_total equal the connections made at every read, uvs_service_*_total never go down, -Ln --stats and --rate zero at -Z and count no server twice', async () => {
  const l = lab();
  const { shadow, group } = l;
  const m = createMetrics(shadow.dp, { process: false });
  const rs0 = { service, addr: RS[0].ip, port: 80 };
  shadow.ctl.addService({ ...service, sched: 'rr' });
  for (const s of RS.slice(0, 2)) shadow.ctl.addDest({ service, addr: s.ip, port: 80, fwd: 'dr', weight: 1 });
  l.deliver(0, 1);
  let last = { node: 0, svc: 0, svcPkts: 0 };
  /** A scrape and -Ln --stats after `what`: the node totals exact, the service's not lower than before. */
  const read = async (what: string): Promise<{ stats: number; cps: number; dests: Record<string, number> }> => {
    group.pull();
    const ex = parseExposition(await m.text());
    const now = {
      node: ex.get('node_ipvs_connections_total'),
      svc: ex.all('uvs_service_connections_total')[0]?.value ?? last.svc,
      svcPkts: ex.all('uvs_service_in_packets_total')[0]?.value ?? last.svcPkts,
    };
    assert.equal(now.node, l.sent, `${what}: node_ipvs_connections_total is every connection made, once`);
    assert.equal(ex.get('node_ipvs_incoming_packets_total'), l.sent, `${what}: node_ipvs_incoming_packets_total`);
    assert.ok(now.svc >= last.svc && now.svcPkts >= last.svcPkts, `${what}: the service's totals went down: ${JSON.stringify(last)} -> ${JSON.stringify(now)}`);
    assert.ok(now.svc <= l.sent, `${what}: the service counts no connection twice (${now.svc} of ${l.sent})`);
    last = now;
    const svc = shadow.ctl.list().services[0];
    const dests = Object.fromEntries(ex.all('uvs_dest_connections_total').map((x) => [x.labels.server, x.value]));
    return { stats: svc?.stats.conns ?? 0, cps: svc?.rate.cps ?? 0, dests };
  };
  l.syn(0, 10);
  l.syn(1, 10);
  assert.equal((await read('traffic on both workers')).stats, 20);

  shadow.ctl.deleteDest(rs0);
  await read('-d, no worker has applied it');
  l.syn(1, 4); // worker 1 still schedules to rs0
  await read('traffic on the worker without the -d');
  l.deliver(0);
  await read('-d applied by worker 0');
  l.deliver(1);
  await read('-d applied by both');

  shadow.ctl.addDest({ ...rs0, fwd: 'dr', weight: 1 });
  let r = await read('rs0 added again (the same slot), no worker has applied it');
  assert.equal(r.dests[`${RS[0].ip}:80`], 0, 'the new rs0 starts from 0, not from the deleted one\'s numbers');
  l.deliver(1);
  await read('-a applied by worker 1');
  l.deliver(0);
  r = await read('-a applied by both');
  assert.equal(r.dests[`${RS[0].ip}:80`], 0);
  l.syn(0, 6);
  l.syn(1, 6);
  assert.equal((await read('traffic after -a')).dests[`${RS[0].ip}:80`], 6, 'rr on each worker: half of the 12 to rs0');

  shadow.ctl.estimate();
  shadow.ctl.call('zero', {});
  r = await read('-Z, no worker has applied it');
  assert.equal(r.stats, 0, '-Ln --stats: zeroed at once');
  shadow.ctl.estimate();
  assert.equal(shadow.ctl.list().services[0]!.rate.cps, 0, '--rate: no connections counted since -Z, no rate');
  l.deliver(0);
  l.syn(0, 2);
  l.syn(1, 2); // worker 1 has not applied -Z: counted in the totals, not since -Z
  r = await read('-Z applied by worker 0');
  assert.equal(r.stats, 2, '-Ln --stats: worker 0\'s connections since it zeroed');
  l.deliver(1);
  l.syn(1, 3);
  assert.equal((await read('-Z applied by both')).stats, 5);

  shadow.ctl.deleteService(service);
  await read('-D, no worker has applied it');
  l.syn(0, 2);
  await read('traffic on workers without the -D');
  l.deliver(1);
  await read('-D applied by worker 1');
  l.deliver(0);
  await read('-D applied by both: the deleted service\'s numbers stay in node_ipvs_*_total');
  assert.equal(l.sent, 45);
});

test('--workers: uvs_service_no_dest_total is the sum of every worker\'s count of the service, never reset by -Z; a service added in a deleted one\'s id starts from 0 while a worker still counts the old one there; service ids past the workers\' arrays grow them (sent with the list), no count lost', async () => {
  const l = lab();
  const { shadow, group } = l;
  const m = createMetrics(shadow.dp, { process: false });
  const svc = (port: number) => ({ proto: 'tcp' as const, addr: VIP, port });
  const read = async (port: number): Promise<number> => {
    group.pull();
    const ex = parseExposition(await m.text());
    return ex.get('uvs_service_no_dest_total', { proto: 'tcp', service: `${VIP}:${port}` });
  };
  shadow.ctl.addService({ ...svc(80), sched: 'rr' }); // no server: every SYN is no_dest
  l.deliver(0, 1);
  l.syn(0, 3);
  l.syn(1, 2);
  assert.equal(await read(80), 5, 'both workers\' drops');
  shadow.ctl.call('zero', {});
  l.deliver(0, 1);
  assert.equal(await read(80), 5, 'not reset by -Z');

  // :80 deleted and :81 added in its id, the workers not told yet: worker 1 still counts :80 there.
  const id = shadow.dp.services.findIndex((s) => s?.port === 80);
  shadow.ctl.deleteService(svc(80));
  shadow.ctl.addService({ ...svc(81), sched: 'rr' });
  assert.equal(shadow.dp.services.findIndex((s) => s?.port === 81), id, 'the id is used again');
  assert.equal(await read(81), 0, 'no worker has the new service');
  l.deliver(0);
  l.syn(1, 4, 80);
  assert.equal(await read(81), 0, 'worker 1\'s drops of the deleted :80 in the same id are not :81\'s');
  l.syn(0, 1, 81);
  assert.equal(await read(81), 1);
  l.deliver(1);
  l.syn(1, 2, 81);
  assert.equal(await read(81), 3);

  // 70 services more (ids past SVC_SLOTS): the list that adds them brings each worker a larger array.
  for (let p = 100; p < 170; p++) shadow.ctl.addService({ ...svc(p), sched: 'rr' });
  assert.ok(shadow.dp.services.length > SVC_SLOTS);
  l.syn(1, 1, 81); // worker 1, still on its first array
  assert.equal(await read(81), 4);
  l.deliver(0);
  l.syn(0, 2, 169);
  l.syn(0, 1, 81); // worker 0, on its larger array
  assert.equal(await read(169), 2, 'worker 0 counts :169 while worker 1 has not got it');
  assert.equal(await read(81), 5, 'worker 0\'s count of :81 carried into its larger array');
  l.deliver(1);
  l.syn(1, 3, 169);
  assert.deepEqual([await read(81), await read(169), await read(100)], [5, 5, 0]);
  assert.equal(parseExposition(await m.text()).get('uvs_drops_total', { reason: 'no_dest' }), 19, 'the daemon-wide count has every drop, the deleted :80\'s too');
});

test('--workers 2, one worker full: secure TCP is on in /metrics, uvsadm --status and the log while any worker is in it, its switches counted; each worker\'s fill and capacity exported (the sum against --conn-max read 45 %)', async () => {
  const l = lab(1024);
  const { shadow } = l;
  const m = createMetrics(shadow.dp, { process: false, workers: () => l.group.status() });
  const logged: string[] = [];
  const faults = new FaultWatch(shadow.dp, { warn: (_f, msg) => logged.push(`warn ${msg}`), info: (_f, msg) => logged.push(`info ${msg}`) }, 0,
    undefined, () => l.group.fullest());
  shadow.ctl.addService({ ...service, sched: 'rr' });
  for (const s of RS.slice(0, 2)) shadow.ctl.addDest({ service, addr: s.ip, port: 80, fwd: 'dr', weight: 1 });
  l.deliver(0, 1);
  // A SYN flood the steering puts on worker 0 alone: its 512 entries fill to --evict-above.
  l.syn(0, 1000);
  l.tick();
  faults.check(1);
  assert.equal(l.w[0].dp.secureTcp, true, 'worker 0 is in secure TCP');
  assert.equal(l.w[1].dp.secureTcp, false);
  const ex = parseExposition(await m.text());
  const g = (name: string, labels = {}) => ex.get(name, labels);
  const entries0 = l.w[0].dp.ct.count;
  assert.ok(entries0 >= 0.85 * 512, `worker 0 holds ${entries0} of 512`);
  assert.equal(g('uvs_conn_table_entries'), entries0, 'the sum');
  assert.equal(g('uvs_conn_table_capacity'), 1024);
  assert.equal(g('uvs_secure_tcp'), 1, 'secure TCP on: worker 0 is in it');
  assert.equal(g('uvs_secure_tcp_switches_total'), 1, 'worker 0 switched once');
  assert.deepEqual([0, 1].map((k) => [g('uvs_worker_conn_table_entries', { worker: String(k) }), g('uvs_worker_conn_table_capacity', { worker: String(k) }),
    g('uvs_worker_secure_tcp', { worker: String(k) })]), [[entries0, 512, 1], [0, 512, 0]]);
  const text = formatStatus(shadow.ctl.status() as StatusResult);
  assert.match(text, /^secure_tcp on \(above 0\.5\)$/m);
  assert.match(text, new RegExp(`^worker 0 .* conns ${entries0} conn_max 512 secure_tcp on `, 'm'));
  assert.match(text, /^worker 1 .* conns 0 conn_max 512 secure_tcp off /m);
  // The servers here never answer ARP, so the SYNs are also dropped unresolved and warned about
  // (unit-neigh.test.ts, unit-faults.test.ts); this test is about secure TCP.
  assert.deepEqual(logged.filter((l) => !l.startsWith('warn no ARP answer')),
    [`warn secure_tcp on: connection table at ${entries0} of 1024 entries (above 0.5; worker 0 at ${entries0} of 512): half-open TCP connections time out in seconds`]);
});

test('--workers: the dest trash sweep counts a deleted server\'s connections on the workers (the shadow\'s counts of a slot stop at its deletion)', () => {
  const l = lab();
  const { shadow } = l;
  shadow.ctl.addService({ ...service, sched: 'rr' });
  shadow.ctl.addDest({ service, addr: RS[0].ip, port: 80, fwd: 'dr', weight: 1 });
  l.deliver(0, 1);
  l.syn(1, 3); // worker 1's connections to RS[0]
  l.tick();
  const slot = shadow.ctl.model.services.values().next().value!.dests[0]!.slot;
  assert.equal(shadow.dp.dt.active[slot], 3, 'the shadow counts them while RS[0] is in the table');
  shadow.ctl.deleteDest({ service, addr: RS[0].ip, port: 80 });
  l.deliver(0, 1);
  const sweep = () => shadow.ctl.sweepTrash(shadow.clock.now);
  sweep();
  shadow.advance(120_000);
  assert.equal(sweep(), 0, 'worker 1 still has RS[0]\'s connections');
  for (const w of l.w) w.advance(16 * 60_000); // they end
  l.tick();
  assert.equal(l.w[1]!.dp.dt.active[slot], 0);
  assert.equal(sweep(), 0, 'idle from now');
  shadow.advance(120_000);
  assert.equal(sweep(), 1, 'RS[0]\'s slot is free again');
  assert.equal(shadow.ctl.model.slots.trashSize, 0);
});

test('--workers: -Z and -C of 600 services (sliced) sum no worker statistics while they run, none per slice (each summed the whole table: 10,000 services of 4 servers took 11-21 s); -Ln --stats shows 0 after -Z, the totals never go down; a tick sums a bounded share of the table, round it', async () => {
  const N = 600; // more than Control's SLICE: -Z and -C go service by service, 8 at a time
  const l = lab(256, 2 * N + 8);
  const { shadow, group } = l;
  const m = createMetrics(shadow.dp, { process: false, perDest: false });
  const svc = (i: number) => ({ proto: 'tcp' as const, addr: VIP, port: 1000 + i });
  shadow.ctl.call('batch', { items: Array.from({ length: N }, (_, i) => [{ verb: 'addService', args: { ...svc(i), sched: 'rr' } },
    ...RS.slice(0, 2).map((s) => ({ verb: 'addDest', args: { service: svc(i), addr: s.ip, port: 1000 + i, fwd: 'dr', weight: 1 } }))]).flat() });
  l.deliver(0, 1);
  l.syn(0, 3, 1000);
  l.syn(1, 2, 1000 + N - 1);
  // Every pull() the group is asked for while a verb runs: the whole table (all) or the slots given.
  const asked: (number | 'all')[] = [];
  const pull = group.pull.bind(group);
  group.pull = (slots?: readonly number[]) => {
    asked.push(slots === undefined ? 'all' : slots.length);
    pull(slots);
  };
  const totals = async (what: string): Promise<void> => {
    pull();
    const ex = parseExposition(await m.text());
    assert.equal(ex.get('node_ipvs_connections_total'), l.sent, `${what}: node_ipvs_connections_total is every connection made, once`);
    assert.equal(ex.get('node_ipvs_incoming_packets_total'), l.sent, `${what}: node_ipvs_incoming_packets_total`);
  };
  const stats = (): number[] => shadow.ctl.list().services.map((s) => s.stats.conns);

  await shadow.ctl.callAsync('zero', {});
  assert.deepEqual(asked, [], `-Z of ${N} services pulled nothing from the workers`);
  await totals('-Z, no worker has applied it');
  assert.deepEqual(stats(), new Array<number>(N).fill(0), '-Ln --stats: every service zeroed at once');
  l.syn(1, 4, 1000);
  l.deliver(0);
  l.syn(0, 1, 1000);
  await totals('-Z applied by worker 0');
  assert.equal(stats()[0], 1, '-Ln --stats: worker 0\'s connection since it zeroed (worker 1\'s 4 came before its -Z)');
  l.deliver(1);
  await totals('-Z applied by both');

  // The tick: at most tickPull services and slots each, the next ones after the last tick's.
  group.tickPull = 100;
  l.syn(1, 2, 1000 + N - 1); // the last service: summed by the tick that reaches it
  const before = group.slotsSummed;
  let ticks = 0;
  while (shadow.dp.services.findIndex((x) => x?.port === 1000 + N - 1) >= 0 && serviceConns(shadow, N - 1) < 2 && ticks < 100) {
    const at = group.slotsSummed;
    l.tick();
    assert.ok(group.slotsSummed - at <= 100, `a tick summed ${group.slotsSummed - at} services and slots, more than 100`);
    ticks++;
  }
  assert.equal(serviceConns(shadow, N - 1), 2, 'the last service\'s connections reached the shadow by ticks alone');
  assert.ok(ticks >= (3 * N) / 100 - 1 && ticks <= (3 * N) / 100 + 1, `${ticks} ticks to go round ${3 * N} services and slots, 100 a tick`);
  assert.ok(group.slotsSummed - before <= ticks * 100);

  asked.length = 0;
  await shadow.ctl.callAsync('clear', {});
  assert.deepEqual(asked, [], `-C of ${N} services pulled nothing from the workers`);
  await totals('-C, no worker has applied it');
  l.syn(0, 2, 1000); // worker 0 still has the services
  await totals('traffic on workers without the -C');
  l.deliver(0);
  await totals('-C applied by worker 0');
  l.deliver(1);
  await totals('-C applied by both: the deleted services\' numbers stay in node_ipvs_*_total');
  assert.equal(l.sent, 14);
});

test('--workers: only a verb whose answer shows the workers\' numbers sums them first, and only what it shows: -L the whole table, -L of one service its servers\' slots, status and drain the counters and entries; -a, -e, -E, -A, --set, --role, a batch, -Z of a service, --timeout pull nothing and -d its one slot (a whole-table pull held the loop 10-30 ms at 10,000 services of 4 servers); each shows the workers\' latest', () => {
  const l = lab();
  const { shadow, group } = l;
  const ctl = shadow.ctl;
  // Every pull a verb asks for: the whole table (all), the slots given, or the counters and entries (head).
  const asked: (number | 'all' | 'head')[] = [];
  const pull = group.pull.bind(group);
  group.pull = (slots?: readonly number[]) => {
    asked.push(slots === undefined ? 'all' : slots.length);
    pull(slots);
  };
  const pullHead = group.pullHead.bind(group);
  group.pullHead = () => {
    asked.push('head');
    pullHead();
  };
  const udp = { proto: 'udp' as const, addr: VIP, port: 53 };
  ctl.call('addService', { ...service, sched: 'rr' });
  ctl.call('addDest', { service, addr: RS[0].ip, port: 80, fwd: 'dr', weight: 1 });
  ctl.call('addDest', { service, addr: RS[1].ip, port: 80, fwd: 'dr', weight: 1 });
  ctl.call('editDest', { service, addr: RS[1].ip, port: 80, weight: 2 });
  ctl.call('editService', { ...service, sched: 'wrr' });
  ctl.call('setTimeouts', { tcp: 900, tcpfin: 0, udp: 0 });
  ctl.call('setRole', { role: 'master' });
  ctl.call('batch', { items: [{ verb: 'addService', args: { ...udp, sched: 'rr' } }, { verb: 'deleteService', args: udp }] });
  ctl.call('zero', { service });
  ctl.call('timeouts', {});
  assert.deepEqual(asked, [], 'no change (nor --timeout) summed the workers\' table');
  ctl.call('deleteDest', { service, addr: RS[1].ip, port: 80 });
  assert.deepEqual(asked, [1], '-d summed its one slot (its numbers go into the service\'s retired sums), not the table');
  l.deliver(0, 1);
  l.syn(0, 2);
  l.syn(1, 3);
  asked.length = 0;
  assert.equal(ctl.list().services[0]!.stats.conns, 5, '-Ln --stats: the workers\' connections, summed when asked (no tick since)');
  assert.deepEqual(asked, ['all'], '-L summed the whole table first');
  l.syn(0, 2);
  asked.length = 0;
  const one = ctl.call('list', { service }) as ListResult;
  assert.equal(one.services[0]!.stats.conns, 7, '-L -t VIP:80: the workers\' connections, summed when asked');
  assert.equal(one.services[0]!.dests[0]!.stats.conns, 7);
  assert.deepEqual(asked, [1], '-L of one service summed its one server\'s slot, not the table');
  asked.length = 0;
  assert.deepEqual((ctl.call('list', { service: udp }) as ListResult).services, []);
  assert.throws(() => ctl.call('list', { service: { proto: 'tcp', addr: 'nope', port: 80 } }), /nope/);
  assert.deepEqual(asked, [], '-L of a service that does not exist, or a bad key, sums nothing');
  l.syn(1, 1);
  for (const k of [0, 1]) publishTick(l.shared[k], l.w[k].dp);
  const st = ctl.status();
  assert.equal(st.counters.conns_created, 8, 'status: the workers\' counters, summed when asked');
  assert.equal(st.conns, 8, 'status: the workers\' entries');
  assert.deepEqual(asked, ['head'], 'status summed the counters and entries alone, not the table');
  asked.length = 0;
  assert.equal((ctl.call('drain', { on: false }) as { conns: number; state: string }).conns, 8, '--undrain counts the workers\' connections');
  assert.deepEqual(asked, ['head'], '--undrain summed the counters and entries alone');
});

/** The shadow's conns of service VIP:1000+i since the last -Z, as summed into it last (no pull). */
function serviceConns(shadow: Rig, i: number): number {
  const svc = shadow.dp.services.find((x) => x?.port === 1000 + i);
  return svc === undefined ? -1 : svc.dests.reduce((a, d) => a + shadow.dp.dt.conns[d], 0);
}

test('--workers: pull() holds no lock a worker waits for: in the middle of a pull each worker\'s lock is as the worker left it, and a list a worker applies then makes the pull read that part of the table again; the totals stay exact', async () => {
  const l = lab();
  const { shadow, group } = l;
  const m = createMetrics(shadow.dp, { process: false });
  shadow.ctl.addService({ ...service, sched: 'rr' });
  for (const s of RS.slice(0, 2)) shadow.ctl.addDest({ service, addr: s.ip, port: 80, fwd: 'dr', weight: 1 });
  l.deliver(0, 1);
  l.syn(0, 4);
  l.syn(1, 4);
  shadow.ctl.call('zero', { service }); // the shadow's -Z: the workers have not applied it
  // The pull reads the service's servers: there, worker 0's lock is looked at and its lists applied (as its thread would meanwhile).
  const svc = shadow.dp.services.find((x) => x !== undefined)!;
  let dests = svc.dests;
  const locked: number[] = [];
  Object.defineProperty(svc, 'dests', {
    configurable: true,
    get: () => {
      locked.push(Atomics.load(l.shared[0].lock, 0) % 2);
      if (locked.length === 1 && locked[0] === 0) l.deliver(0);
      return dests;
    },
    set: (v: number[]) => (dests = v),
  });
  group.pull();
  Object.defineProperty(svc, 'dests', { configurable: true, writable: true, value: dests });
  assert.equal(locked[0], 0, 'worker 0\'s lock was held by pull() (the worker would wait for it)');
  assert.equal(locked.length, 2, 'the service was read again after worker 0 applied a list in the middle of the pull');
  const ex = parseExposition(await m.text());
  assert.equal(ex.get('node_ipvs_connections_total'), 8);
  assert.equal(ex.all('uvs_service_connections_total')[0]?.value, 8);
  assert.equal(shadow.ctl.list().services[0]?.stats.conns, 0, '-Ln --stats after -Z');
  l.deliver(1);
  l.syn(0, 1);
  assert.equal(shadow.ctl.list().services[0]?.stats.conns, 1);
});

test('--workers: status\'s counters and its per-worker rows are one read: the rows add up to the totals though a worker forwards while status is built, and a worker in a list past PULL_WAIT_MS leaves no counter stale (the statistics it does are counted, pull_timeouts)', () => {
  const l = lab();
  const { shadow } = l;
  const ctl = shadow.ctl;
  ctl.addService({ ...service, sched: 'rr' });
  for (const s of RS.slice(0, 2)) ctl.addDest({ service, addr: s.ip, port: 80, fwd: 'dr', weight: 1 });
  l.deliver(0, 1);
  l.syn(0, 3);
  l.syn(1, 2);
  const live = (): number => l.w[0].dp.counters.c[C.fwd_packets] + l.w[1].dp.counters.c[C.fwd_packets];
  const rows = (st: StatusResult): number => st.workers!.reduce((a, w) => a + w.fwd_packets, 0);
  // A worker forwards while status is built (after its pull, before its rows are read).
  ctl.info.vrrpFifo = () => (l.syn(1, 2), undefined);
  let st = ctl.status();
  ctl.info.vrrpFifo = undefined;
  assert.equal(rows(st), st.counters.fwd_packets, 'the rows are the numbers the totals were summed from');
  assert.equal(st.counters.fwd_packets, 5, 'the totals as the pull read them');
  assert.equal(live(), 7);
  assert.equal(ctl.list().services[0]!.stats.conns, 7);
  // Worker 0 in the middle of a list for longer than a pull waits (a long -C, its thread not run).
  l.syn(0, 4);
  for (const k of [0, 1]) publishTick(l.shared[k], l.w[k].dp); // the entries, as worker.ts after a batch
  Atomics.add(l.shared[0].lock, 0, 1);
  let stale: number;
  try {
    st = ctl.status();
    stale = ctl.list().services[0]!.stats.conns; // the statistics wait for worker 0, and give up
  } finally {
    Atomics.add(l.shared[0].lock, 0, 1);
  }
  assert.equal(st.counters.fwd_packets, live(), 'the counters are the workers\' latest, not those of the pull before');
  assert.equal(st.counters.conns_created, l.sent);
  assert.equal(rows(st), st.counters.fwd_packets);
  assert.equal(st.conns, l.sent, 'the entries too');
  assert.equal(stale, 7, '-L: the statistics as the pull before left them');
  assert.equal(ctl.status().counters.pull_timeouts, 1, 'the pull that left the statistics as they were is counted');
  assert.equal(ctl.list().services[0]!.stats.conns, l.sent, 'the next pull reads all');
  assert.equal(ctl.status().counters.pull_timeouts, 1);
});

test('--workers: each tick of the rate estimators (--rate, the status page) sums from the workers its services and their servers, no tick the whole table (tick 0 summed all: 10-30 ms every 2 s at 10,000 services of 4 servers); the rates are the workers\' traffic by the kernel\'s formula', () => {
  const l = lab();
  const { shadow, group } = l;
  const ctl = shadow.ctl;
  const N = 16;
  const svc = (i: number) => ({ proto: 'tcp' as const, addr: VIP, port: 1000 + i });
  for (let i = 0; i < N; i++) {
    ctl.addService({ ...svc(i), sched: 'rr' });
    for (const r of RS.slice(0, 2)) ctl.addDest({ service: svc(i), addr: r.ip, port: 1000 + i, fwd: 'dr', weight: 1 });
  }
  l.deliver(0, 1);
  const whole: string[] = [];
  const pull = group.pull.bind(group);
  group.pull = (slots?: readonly number[]) => {
    if (slots === undefined) whole.push(new Error().stack!.split('\n')[2]!.trim());
    pull(slots);
  };
  const rates = new RateEstimator(shadow.dp);
  let now = 0;
  const perTick: number[] = [];
  const period = (): void => {
    for (let t = 0; t < 8; t++) {
      const s0 = group.slotsSummed;
      ctl.estimateTick();
      rates.tick((now += 250), (k) => group.pullShare(k, 8, k === 0));
      perTick.push(group.slotsSummed - s0);
    }
  };
  for (let i = 0; i < N; i++) {
    l.syn(0, i + 1, 1000 + i);
    l.syn(1, 1, 1000 + i);
  }
  period();
  for (let i = 0; i < N; i++) l.syn(0, 2 * (i + 1), 1000 + i);
  period();
  group.pull = pull;
  assert.deepEqual(whole, [], 'no tick summed the whole table');
  // Each estimator's tick: 2 of the 16 services and their 2 servers each.
  assert.deepEqual(perTick, Array.from({ length: 16 }, () => 2 * 2 * 3));
  const list = ctl.list(); // rates are not pulled: the estimators' own rows
  const dt = shadow.dp.dt;
  for (let i = 0; i < N; i++) {
    const s = list.services.find((x) => x.port === 1000 + i)!;
    // The kernel's formula (estimator.ts): the first period counts from zero totals.
    let avg = Math.floor(((i + 2) * 512) / 4);
    avg += Math.floor((2 * (i + 1) * 512 - avg) / 4);
    assert.equal(s.rate.cps, Math.floor((avg + 0x1ff) / 1024), `--rate of service ${i}`);
    const ds = shadow.dp.services.find((x) => x?.port === 1000 + i)!.dests;
    assert.equal(ds.reduce((a, d) => a + rates.dest(d).cps, 0), (2 * (i + 1)) / 2 / 4, `the status page's conn/s of service ${i}'s servers`);
    assert.equal(ds.reduce((a, d) => a + dt.conns[d], 0), 3 * (i + 1) + 1);
  }
});

/** A method of obj without arguments wrapped to count its calls (`n`, which a test may reset); `call` is the original, not counted. */
function counted<K extends string>(obj: Record<K, () => unknown>, name: K): { n: number; call: () => unknown } {
  const call = obj[name].bind(obj);
  const c = { n: 0, call };
  obj[name] = () => (c.n++, call());
  return c;
}

/** A lab whose group steers into an in-memory map (fakeSteering), the shadow's steerAddrs() walks counted. */
function steeredLab(addrs?: string[]) {
  const l = lab(1024, 2048, addrs);
  const { s, map } = fakeSteering();
  l.group.useSteering(s);
  const dp = l.shadow.dp;
  return { l, shadow: l.shadow, group: l.group, map, dp, walks: counted(dp, 'steerAddrs') };
}

test('--workers: a sliced -A and -C of 600 services keep the steering map equal to the shadow\'s steerAddrs() by the addresses each list touched, never walking the table per list (before: one steerAddrs() walk and sync per list); local addresses, marks and persistence too', async () => {
  const { l, shadow, group, map, walks } = steeredLab();
  const links = (group as unknown as { links: { w: { postMessage(m: OpsMessage): void } }[] }).links;
  let lists = 0;
  const post = links[0].w.postMessage;
  links[0].w.postMessage = (m) => (m.t === 'ops' && lists++, post(m));
  const same = (what: string): void => assert.deepEqual(map, walks.call(), `${what}: the map is the shadow's steerAddrs()`);
  same('at start');
  const svc = (i: number) => ({ proto: 'tcp' as const, addr: `10.1.${i >> 8}.${i & 255}`, port: 80 });
  const items = [];
  for (let i = 0; i < 600; i++) {
    items.push({ verb: 'addService', args: { ...svc(i), sched: 'rr' } });
    items.push({ verb: 'addDest', args: { service: svc(i), addr: RS[i % 3].ip, port: 80, fwd: 'dr', weight: 1 } });
  }
  await shadow.ctl.callAsync('batch', { items });
  assert.ok(lists > 1, `-A went in slices (${lists} lists)`);
  same('after -A');
  assert.equal(walks.n, 0, `-A of ${lists} lists walked the table for the steering map ${walks.n} times`);
  // A worker applying them: no persistent service, so no steering window to compare masks for
  // (before: every list walked every VIP, Datapath.vips()).
  const vipWalks = counted(l.w[0].dp, 'vips');
  l.deliver(0, 1);
  assert.equal(vipWalks.n, 0, `worker 0 walked every VIP ${vipWalks.n} times applying -A`);
  // Each kind of entry, one change at a time: a FULLNAT local address, a mark, persistence (a
  // mask: kinds 3 and 4, the whole table then); -C takes the local address with its service.
  const fn = { proto: 'tcp' as const, addr: '10.0.0.150', port: 80 };
  shadow.ctl.call('addService', { ...fn, sched: 'rr' });
  shadow.ctl.call('addDest', { service: fn, addr: RS[0].ip, port: 80, fwd: 'fullnat', weight: 1 });
  shadow.ctl.call('addLaddr', { service: fn, addr: '10.0.0.200' });
  same('a local address');
  shadow.ctl.call('addMark', { fwmark: 1, proto: 'tcp', addr: '10.0.0.160', portMin: 443 });
  same('a marked address');
  shadow.ctl.call('addDest', { service: svc(3), addr: RS[1].ip, port: 81, fwd: 'nat', weight: 1 });
  shadow.ctl.call('editService', { ...svc(3), sched: 'rr', persist: 300, netmask: '255.255.255.0' });
  same('-p: its VIP masked, its NAT server too');
  assert.ok([...map.values()].some((v) => v % 8 === STEER_SERVER));
  shadow.ctl.call('editService', { ...svc(3), sched: 'rr', persist: 0 });
  same('-p off');
  shadow.ctl.call('delMark', { fwmark: 1, proto: 'tcp', addr: '10.0.0.160', portMin: 443 });
  same('the mark gone');
  l.deliver(0, 1);
  walks.n = 0;
  vipWalks.n = 0;
  lists = 0;
  await shadow.ctl.callAsync('clear', {});
  assert.ok(lists > 1, `-C went in slices (${lists} lists)`);
  same('after -C');
  assert.equal(map.size, 1, 'the --addr alone');
  assert.equal(walks.n, 0, `-C of ${lists} lists walked the table for the steering map ${walks.n} times`);
  l.deliver(0, 1);
  assert.equal(vipWalks.n, 0, `worker 0 walked every VIP ${vipWalks.n} times applying -C`);
  assert.deepEqual(l.w[0].dp.vips(), [], 'the workers applied -C');
});

/** dp's steerMasks() made from the whole table now (what it keeps is left as it was). */
function masksFromScratch(dp: Rig['dp']): { vips: Map<number, number>; servers: Map<number, number> } {
  const d = dp as unknown as { steerMaskMap: unknown; steerIdx: unknown };
  const kept = [d.steerMaskMap, d.steerIdx];
  d.steerMaskMap = undefined;
  const m = dp.steerMasks();
  [d.steerMaskMap, d.steerIdx] = kept;
  return { vips: new Map(m.vips), servers: new Map(m.servers) };
}

test('--workers with persistent services: a list makes the masks of the services it touched and of those their addresses link, not the whole table\'s (before: each list of a sliced -A, -E or -d made every mask again and walked the table: 40-80 ms of the loop a list at 10,000 x 4); the map and each worker\'s masks equal those made from the whole table', async () => {
  const { l, shadow, map, dp, walks } = steeredLab(['10.0.0.1/8']);
  const w0 = l.w[0].dp;
  const vipWalks = counted(w0, 'vips');
  const same = (what: string): void => {
    const d = dp as unknown as { steerMaskMap: unknown; steerIdx: unknown };
    const kept = [d.steerMaskMap, d.steerIdx];
    d.steerMaskMap = undefined;
    assert.deepEqual(map, walks.call(), `${what}: the map is the whole table's steerAddrs()`);
    [d.steerMaskMap, d.steerIdx] = kept;
    assert.deepEqual(dp.steerMasks(), masksFromScratch(dp), `${what}: the shadow's masks`);
  };
  // 400 persistent services (/24) of 2 NAT servers: one of their own, one shared by 10 services
  // (10.3.0.k), which links those 10 VIPs into one mask.
  const svc = (i: number) => ({ proto: 'tcp' as const, addr: `10.1.${i >> 8}.${i & 255}`, port: 80 });
  const items = [];
  for (let i = 0; i < 400; i++) {
    items.push({ verb: 'addService', args: { ...svc(i), sched: 'rr', persist: 300, netmask: '255.255.255.0' } });
    for (const addr of [`10.2.${i >> 8}.${i & 255}`, `10.3.0.${Math.floor(i / 10)}`]) items.push({ verb: 'addDest', args: { service: svc(i), addr, port: 80, fwd: 'nat', weight: 1 } });
  }
  await shadow.ctl.callAsync('batch', { items });
  same('after -A');
  l.deliver(0, 1);
  assert.deepEqual(w0.steerMasks(), masksFromScratch(w0), 'worker 0\'s masks after -A');
  assert.ok(walks.n <= 1 && vipWalks.n <= 1, `-A: ${walks.n} walks of the table for the map, worker 0 ${vipWalks.n} of every VIP (the first list's only)`);
  walks.n = 0;
  vipWalks.n = 0;
  const masked = (a: string, m: number) => assert.equal(map.get(parseIp(a) | 0), steerValue(STEER_MASKED, m), `${a}'s mask`);
  // One service of the first ten to /16: the other nine follow through 10.3.0.0; the next ten do not.
  shadow.ctl.call('editService', { ...svc(3), sched: 'rr', persist: 300, netmask: '255.255.0.0' });
  same('-E one service -M 255.255.0.0');
  masked('10.1.0.9', 0xffff0000);
  masked('10.1.0.10', 0xffffff00);
  // The shared server leaves service 9: it is on its own again, at /24.
  shadow.ctl.call('deleteDest', { service: svc(9), addr: '10.3.0.0', port: 80 });
  same('-d the server linking service 9');
  masked('10.1.0.9', 0xffffff00);
  masked('10.1.0.8', 0xffff0000);
  // A sliced batch over every service: -p off for the odd ones.
  const edits = [];
  for (let i = 1; i < 400; i += 2) edits.push({ verb: 'editService', args: { ...svc(i), sched: 'rr', persist: 0 } }, { verb: 'editDest', args: { service: svc(i), addr: `10.2.${i >> 8}.${i & 255}`, port: 80, fwd: 'nat', weight: 2 } }, { verb: 'editService', args: { ...svc(i - 1), sched: 'wlc', persist: 300, netmask: '255.255.255.0' } });
  await shadow.ctl.callAsync('batch', { items: edits });
  same('-E -p off for half');
  l.deliver(0, 1);
  assert.deepEqual(w0.steerMasks(), masksFromScratch(w0), 'worker 0\'s masks');
  assert.equal(walks.n, 0, `${walks.n} walks of the table for the map`);
  assert.equal(vipWalks.n, 0, `worker 0 walked every VIP ${vipWalks.n} times`);
  await shadow.ctl.callAsync('clear', {});
  same('after -C');
  l.deliver(0, 1);
  assert.equal(w0.steerMasks().vips.size, 0);
});

test('--workers: a scrape (/metrics, /status.json) sums the workers\' table in pieces with the loop run between them, no whole-table pull() (one held the loop 10-30 ms at 10,000 services of 4 servers); its numbers are the workers\' sums', async () => {
  const N = 40;
  const l = lab(256, 2 * N + 8);
  const { shadow, group } = l;
  const svc = (i: number) => ({ proto: 'tcp' as const, addr: VIP, port: 1000 + i });
  shadow.ctl.call('batch', { items: Array.from({ length: N }, (_, i) => [{ verb: 'addService', args: { ...svc(i), sched: 'rr' } },
    ...RS.slice(0, 2).map((s) => ({ verb: 'addDest', args: { service: svc(i), addr: s.ip, port: 1000 + i, fwd: 'dr', weight: 1 } }))]).flat() });
  l.deliver(0, 1);
  group.tickPull = 12; // services and slots a piece: 4 services of 2 servers
  // As uvsd passes them (src/cli/uvsd.ts); not a literal: the old MetricsServerOptions had no pullSliced.
  const opts = { process: false, pull: () => group.pull(), pullShare: (t: number) => group.pullShare(t, EST_TICKS, t === 0), pullSliced: (p: () => Promise<void>) => group.pullSliced(p) };
  const srv = await startMetricsServer(shadow.dp, { host: '127.0.0.1', port: 0 }, opts);
  try {
    const asked: string[] = [];
    const pull = group.pull.bind(group);
    group.pull = (slots?: readonly number[]) => {
      asked.push(slots === undefined ? 'all' : `${slots.length}`);
      pull(slots);
    };
    const url = `http://${srv.address}`;
    for (const round of [1, 2]) {
      for (let i = 0; i < N; i++) l.syn(i % 2, 1 + (i % 3), 1000 + i);
      // How far the pull had gone at each turn of the loop while the scrape ran.
      const turns: number[] = [];
      let on = true;
      const watch = (): void => {
        turns.push(group.slotsSummed);
        if (on) setImmediate(watch);
      };
      const from = group.slotsSummed;
      setImmediate(watch);
      const ex = parseExposition(await (await fetch(`${url}/metrics`)).text());
      on = false;
      assert.deepEqual(asked, [], `round ${round}: the scrape made no whole-table pull()`);
      assert.equal(ex.get('node_ipvs_connections_total'), l.sent, `round ${round}: node_ipvs_connections_total is the workers' sum`);
      const perService = ex.all('uvs_service_connections_total');
      assert.equal(perService.length, N);
      assert.equal(perService.reduce((a, x) => a + x.value, 0), l.sent, `round ${round}: the services' totals are the workers' sums`);
      const dests = ex.all('uvs_dest_connections_total').reduce((a, x) => a + x.value, 0);
      assert.equal(dests, l.sent, `round ${round}: the servers' totals are the workers' sums`);
      const mid = new Set(turns.filter((t) => t > from && t < from + 3 * N));
      assert.ok(mid.size >= 3, `round ${round}: the loop ran between the pull's pieces (summed at each turn: ${[...new Set(turns)].join(' ')})`);
    }
    l.syn(0, 5, 1000 + N - 1);
    const st = await (await fetch(`${url}/status.json`)).json() as { services: { conns: number }[] };
    assert.equal(st.services.reduce((a, x) => a + x.conns, 0), l.sent, '/status.json: the services\' totals are the workers\' sums');
    assert.deepEqual(asked, [], '/status.json made no whole-table pull()');
  } finally {
    srv.close();
    srv.server.closeAllConnections();
  }
});
