// test-class: shared
// Prometheus metrics, -Z, the status JSON and the trace ring on the in-process datapath (no
// network): known traffic in, exact numbers out of a scrape. The netns end-to-end checks are in
// metrics-lab.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tcpFrame, TCP_FLAGS, udpFrame } from './helpers/frames.js';
import { CLIENT, DIR_MAC, drRig, rig, ROUTER_MAC, RS, VIP, type Rig } from './helpers/harness.js';
import { parseIp } from '../src/datapath/addr.js';
import { parseExposition, promtool, promtoolCheck, type Exposition } from './helpers/prom.js';
import { createMetrics, type MetricsOptions } from '../src/metrics/collectors.js';
import { RateEstimator } from '../src/metrics/rates.js';
import { statusJson } from '../src/metrics/status.js';
import { statusTexts } from './helpers/status-text.js';
import { STATUS_PAGE } from '../src/metrics/page.js';
import { HealthManager } from '../src/health/manager.js';
import { withHealth } from '../src/health/report.js';
import { formatStatus } from '../src/control/printers.js';
import { TraceSessions, SESSION_IDLE_MS } from '../src/control/trace.js';
import { registerScheduler } from '../src/sched/index.js';
import type { HealthEntry, ServiceKey, StatusResult, TracePollResult } from '../src/control/protocol.js';
import { repoRoot } from './lab/dr-lab.js';
import { parseArgs, UsageError } from '../src/control/ipvsadm.js';
import { formatEvent, parseTraceArgs } from '../src/cli/trace.js';
import { startMetricsServer } from '../src/metrics/server.js';
import { parseListen } from '../src/metrics/listen.js';
import { COUNTER_NAMES, DROP_NAMES } from '../src/datapath/counters.js';
import { stepClock } from './helpers/step-clock.js';
import { native } from '../src/datapath/port.js';

const IN = { ethDst: DIR_MAC, ethSrc: ROUTER_MAC };
const syn = (sport: number, src = CLIENT) => tcpFrame(IN, { src, dst: VIP, sport, dport: 80, flags: TCP_FLAGS.SYN });
const ack = (sport: number, payload = 0) =>
  tcpFrame(IN, { src: CLIENT, dst: VIP, sport, dport: 80, flags: TCP_FLAGS.ACK, payload: new Uint8Array(payload) });
const dgram = (sport: number, dport = 53, payload = 10) =>
  udpFrame(IN, { src: CLIENT, dst: VIP, sport, dport, payload: new Uint8Array(payload) });

async function scrape(r: Rig, opts: MetricsOptions = {}): Promise<{ text: string; ex: Exposition }> {
  const m = createMetrics(r.dp, { process: false, ...opts });
  m.census.full();
  const text = await m.text();
  return { text, ex: parseExposition(text) };
}

const backend = (rs: number, port = 80, proto = 'TCP') => ({
  local_address: VIP, local_port: String(port), remote_address: RS[rs]!.ip, remote_port: String(port), proto, local_mark: '',
});

/** 6 SYNs in one batch (rr: 3 each), 1 ACK with 5 bytes, 4 UDP datagrams one per batch, 1 to no service. */
function knownTraffic(r: Rig): void {
  r.run(...[1000, 1001, 1002, 1003, 1004, 1005].map((p) => syn(p)));
  r.run(ack(1000, 5));
  for (const p of [2000, 2001, 2002, 2003]) r.run(dgram(p));
  r.run(dgram(3000, 54));
}

test('scrape after known traffic: node_ipvs_* totals and backend gauges, uvs_* counters, states, neighbours', async () => {
  const r = drRig({ weights: [1, 1], udp: true });
  knownTraffic(r);
  const { ex } = await scrape(r);
  // 6 TCP + 4 UDP connections; 6 SYN (40 bytes) + 1 ACK (45) + 4 UDP (20 + 8 + 10 = 38).
  assert.equal(ex.get('node_ipvs_connections_total'), 10);
  assert.equal(ex.get('node_ipvs_incoming_packets_total'), 11);
  assert.equal(ex.get('node_ipvs_incoming_bytes_total'), 6 * 40 + 45 + 4 * 38);
  assert.equal(ex.get('node_ipvs_outgoing_packets_total'), 0);
  assert.equal(ex.get('node_ipvs_outgoing_bytes_total'), 0);
  assert.equal(ex.type.get('node_ipvs_connections_total'), 'counter');
  assert.equal(ex.help.get('node_ipvs_connections_total'), 'The total number of connections made.');
  // rr: SYNs 1000, 1002, 1004 to rs1 (1000 then ESTABLISHED by its ACK), 1001, 1003, 1005 to rs2;
  // SYN_RECV and ESTABLISHED both count active.
  assert.equal(ex.get('node_ipvs_backend_connections_active', backend(0)), 3);
  assert.equal(ex.get('node_ipvs_backend_connections_inactive', backend(0)), 0);
  assert.equal(ex.get('node_ipvs_backend_connections_active', backend(1)), 3);
  assert.equal(ex.get('node_ipvs_backend_connections_inactive', backend(1)), 0);
  assert.equal(ex.get('node_ipvs_backend_connections_inactive', backend(0, 53, 'UDP')), 2);
  assert.equal(ex.get('node_ipvs_backend_weight', backend(1)), 1);
  assert.equal(ex.all('node_ipvs_backend_weight').length, 4);
  assert.deepEqual(Object.keys(ex.all('node_ipvs_backend_weight')[0]!.labels).sort(),
    ['local_address', 'local_mark', 'local_port', 'proto', 'remote_address', 'remote_port']);

  assert.equal(ex.get('uvs_conns_created_total'), 10);
  assert.equal(ex.get('uvs_fwd_packets_total'), 11);
  assert.equal(ex.get('uvs_drops_total', { reason: 'no_service' }), 1);
  assert.equal(ex.get('uvs_drops_total', { reason: 'no_conn' }), 0);
  assert.equal(ex.get('uvs_conn_table_entries'), 10);
  assert.equal(ex.get('uvs_conn_table_capacity'), 1024);
  assert.equal(ex.get('uvs_conn_table_insert_failures_total'), 0);
  assert.equal(ex.get('uvs_secure_tcp'), 0);
  r.dp.setDefense({ secureTcpAbove: 0.005 }); // 10 entries are above 6 of 1024
  assert.equal((await scrape(r)).ex.get('uvs_secure_tcp'), 1, 'secure TCP on');
  r.dp.setDefense({ secureTcpAbove: 0.5 });
  assert.equal(ex.get('uvs_conn_table_entries_by_state', { state: 'SYN_RECV' }), 5);
  assert.equal(ex.get('uvs_conn_table_entries_by_state', { state: 'ESTABLISHED' }), 1);
  assert.equal(ex.get('uvs_conn_table_entries_by_state', { state: 'UDP' }), 4);
  assert.equal(ex.get('uvs_neigh_entries'), 2);
  assert.equal(ex.get('uvs_neigh_unresolved'), 0);

  const tcpSvc = { proto: 'tcp', service: `${VIP}:80` };
  const udpSvc = { proto: 'udp', service: `${VIP}:53` };
  assert.equal(ex.get('uvs_service_connections_total', tcpSvc), 6);
  assert.equal(ex.get('uvs_service_connections_total', udpSvc), 4);
  assert.equal(ex.get('uvs_service_in_packets_total', tcpSvc), 7);
  assert.equal(ex.get('uvs_service_in_bytes_total', udpSvc), 4 * 38);
  assert.equal(ex.get('uvs_service_info', { ...tcpSvc, scheduler: 'rr' }), 1);
  const rs1 = { ...tcpSvc, server: `${RS[0]!.ip}:80` };
  assert.equal(ex.get('uvs_dest_connections_total', rs1), 3);
  assert.equal(ex.get('uvs_dest_in_packets_total', rs1), 4);
  assert.equal(ex.get('uvs_dest_in_bytes_total', rs1), 3 * 40 + 45);
  assert.equal(ex.get('uvs_dest_up', rs1), 1);
  assert.match(ex.help.get('uvs_dest_up')!, /no health checker watches counts as up/);
  assert.equal(ex.get('uvs_dest_health_checked', rs1), 0);
  assert.equal(ex.get('uvs_dest_info', { ...rs1, fwd: 'dr' }), 1);
  assert.equal(ex.get('uvs_dest_weight', rs1), 1);
  assert.equal(ex.get('uvs_trace_active'), 0);
});

test('uvs_conn_table_entries_by_state files persistence templates under the state -Lnc names them (NONE, or ASSURED once a connection served the client), so the two agree', async () => {
  const r = rig();
  const svc = { proto: 'tcp' as const, addr: VIP, port: 443 };
  r.ctl.addService({ ...svc, sched: 'rr', persist: 300 });
  r.ctl.addDest({ service: svc, addr: RS[0]!.ip, port: 443, fwd: 'dr', weight: 1 });
  r.learn(RS[0]!.ip, RS[0]!.mac);
  const seg = (src: string, flags: number) => tcpFrame(IN, { src, dst: VIP, sport: 1000, dport: 443, flags });
  r.run(seg(CLIENT, TCP_FLAGS.SYN));
  r.run(seg(CLIENT, TCP_FLAGS.ACK)); // handshake done: its template ASSURED
  r.run(seg('192.0.2.11', TCP_FLAGS.SYN)); // half open: its template NONE
  const lnc: Record<string, number> = {};
  for (const c of r.ctl.connections()) lnc[c.state] = (lnc[c.state] ?? 0) + 1;
  assert.deepEqual(lnc, { ESTABLISHED: 1, SYN_RECV: 1, ASSURED: 1, NONE: 1 }, '-Lnc');
  const { ex } = await scrape(r);
  const census = Object.fromEntries(ex.all('uvs_conn_table_entries_by_state').filter((x) => x.value > 0).map((x) => [x.labels.state, x.value]));
  assert.deepEqual(census, lnc, 'the census as -Lnc');
});

test('uvs_batch_frames: receive batches bucketed by frame count, sum = frames', async () => {
  const r = drRig({ weights: [1], udp: true });
  const before = (await scrape(r)).ex;
  r.run(...[1, 2, 3, 4, 5, 6].map((p) => dgram(p)));
  r.run(dgram(7));
  r.run(dgram(8), dgram(9));
  r.run(...Array.from({ length: 100 }, (_v, i) => dgram(100 + i)));
  const after = (await scrape(r)).ex;
  const d = (le: string) => after.get('uvs_batch_frames_bucket', { le }) - before.get('uvs_batch_frames_bucket', { le });
  assert.deepEqual(['1', '2', '4', '8', '64', '128', '1024', '+Inf'].map(d), [1, 2, 2, 3, 3, 4, 4, 4]);
  assert.equal(after.get('uvs_batch_frames_count') - before.get('uvs_batch_frames_count'), 4);
  assert.equal(after.get('uvs_batch_frames_sum') - before.get('uvs_batch_frames_sum'), 6 + 1 + 2 + 100);
  assert.equal(after.type.get('uvs_batch_frames'), 'histogram');
});

test('-Z zeroes the ipvsadm statistics; exported *_total counters stay monotonic, also when a server is deleted', async () => {
  const r = drRig({ weights: [1, 1], udp: true });
  knownTraffic(r);
  const before = (await scrape(r)).ex;
  r.ctl.estimate(); // the --rate estimators run ...
  r.ctl.call('zero', {});
  const dt = r.dp.dt;
  for (const svc of r.dp.services) for (const d of svc!.dests) assert.deepEqual([dt.conns[d], dt.inPkts[d], dt.inBytes[d]], [0, 0, 0]);
  const zeroed = (await scrape(r)).ex;
  for (const name of ['node_ipvs_connections_total', 'node_ipvs_incoming_packets_total', 'node_ipvs_incoming_bytes_total']) {
    assert.equal(zeroed.get(name), before.get(name), `${name} after -Z`);
  }
  const rs1 = { proto: 'tcp', service: `${VIP}:80`, server: `${RS[0]!.ip}:80` };
  assert.equal(zeroed.get('uvs_dest_connections_total', rs1), 3);
  // After -Z new traffic adds on top; -Z of one service leaves the other alone.
  r.run(syn(5000), syn(5001), dgram(5002));
  const udpDests = r.dp.services[1]!.dests;
  assert.equal(udpDests.reduce((n, d) => n + dt.conns[d]!, 0), 1);
  r.ctl.call('zero', { service: { proto: 'udp', addr: VIP, port: 53 } });
  const tcpDest = r.dp.services[0]!.dests[0]!;
  assert.equal(dt.conns[tcpDest], 1, '-Z of the UDP service left the TCP counters alone');
  assert.equal(udpDests.reduce((n, d) => n + dt.conns[d]!, 0), 0, '... and zeroed the UDP service\'s');
  const more = (await scrape(r)).ex;
  assert.equal(more.get('node_ipvs_connections_total'), 13);
  assert.equal(more.get('uvs_dest_connections_total', rs1), 4);
  assert.equal(more.get('uvs_service_connections_total', { proto: 'tcp', service: `${VIP}:80` }), 8);
  // Deleting a real server: the node_ipvs totals keep what it had.
  r.ctl.call('deleteDest', { service: { proto: 'tcp', addr: VIP, port: 80 }, addr: RS[0]!.ip, port: 80 });
  const gone = (await scrape(r)).ex;
  assert.equal(gone.get('node_ipvs_connections_total'), 13);
  assert.equal(gone.get('node_ipvs_incoming_bytes_total'), more.get('node_ipvs_incoming_bytes_total'));
  assert.equal(gone.all('uvs_dest_connections_total', rs1).length, 0, 'the deleted server has no series');
  // -Z of a service that does not exist is refused and changes nothing.
  assert.throws(() => r.ctl.call('zero', { service: { proto: 'tcp', addr: VIP, port: 81 } }), /No such service/);
});

test('--rate after -Z and for a new server counts from the zeroed totals: traffic of the first 2 s step after -Z is not lost', () => {
  const r = drRig({ weights: [1, 1], udp: true });
  knownTraffic(r);
  const rate = () => r.ctl.list().services.find((s) => s.proto === 'tcp')!;
  // Scaled ×1024 and smoothed by 1/4 per step as the kernel: the service's first step counts the 6
  // connections since it was added (avg 768), the next 8 more (avg 1600, read as 2/s).
  r.ctl.estimate();
  assert.equal(rate().rate.cps, 1, 'the first step counts what came since the service was added');
  r.run(...Array.from({ length: 8 }, (_v, i) => syn(4000 + i)));
  r.ctl.estimate();
  assert.equal(rate().rate.cps, 2);
  r.ctl.call('zero', {});
  assert.deepEqual(rate().rate, { cps: 0, inpps: 0, outpps: 0, inbps: 0, outbps: 0 }, '-Z zeroes the rates, as the kernel zeroes its estimators');
  // The kernel's zeroed estimator goes on from the zeroed totals: the next step sees all of these.
  r.run(...Array.from({ length: 16 }, (_v, i) => syn(5000 + i)));
  r.ctl.estimate();
  assert.deepEqual([rate().rate.cps, rate().rate.inpps, ...rate().dests.map((d) => d.rate.cps)], [2, 2, 1, 1],
    'the first step after -Z counts its 16 connections (service avg 2048: 2/s; each server 8: 1/s)');
  // A server added now: its first step counts from zero too.
  r.ctl.call('addDest', { service: { proto: 'tcp', addr: VIP, port: 80 }, addr: RS[2].ip, port: 80, weight: 1, fwd: 'dr' });
  r.learn(RS[2].ip, RS[2].mac);
  r.run(...Array.from({ length: 16 }, (_v, i) => syn(6000 + i)));
  r.ctl.estimate();
  const added = rate().dests.find((d) => d.addr === RS[2].ip)!;
  assert.ok(added.stats.conns >= 5, `rr gave the new server its third: ${added.stats.conns}`);
  assert.equal(added.rate.cps, Math.floor((added.stats.conns * 128 + 0x1ff) / 1024), `its first step counts them all: ${JSON.stringify(added)}`);
  assert.ok(added.rate.cps >= 1);
});

test('deleting a real server does not lower its service\'s statistics (-Ln --stats, --rate, /metrics, status.json); -Z zeroes them', async () => {
  const r = drRig({ weights: [1, 1], udp: true });
  knownTraffic(r); // TCP: 6 connections, 3 to each server (rr), 7 packets, 6 * 40 + 45 bytes
  const tcp = { proto: 'tcp' as const, addr: VIP, port: 80 };
  const tcpSvc = { proto: 'tcp', service: `${VIP}:80` };
  const stats = () => r.ctl.list().services.find((s) => s.proto === 'tcp')!.stats; // what -Ln --stats prints
  const prom = async () => {
    const { ex } = await scrape(r);
    return ['connections', 'in_packets', 'in_bytes'].map((n) => ex.get(`uvs_service_${n}_total`, tcpSvc));
  };
  const status = () => {
    const s = statusJson(r.dp, new RateEstimator(r.dp)).services.find((x) => x.proto === 'tcp')!;
    return [s.conns, s.inPkts, s.inBytes];
  };
  const node = async () => (await scrape(r)).ex.get('node_ipvs_connections_total');
  const full = [6, 7, 6 * 40 + 45];
  const udpStats = () => Object.values(r.ctl.list().services.find((s) => s.proto === 'udp')!.stats);
  const udpBefore = udpStats();
  assert.deepEqual([stats().conns, stats().inpkts, stats().inbytes], full);
  assert.deepEqual(await prom(), full);
  assert.deepEqual(status(), full);
  r.ctl.estimate(); // the --rate estimator's first step: the 6 connections since the service was added
  // 40 more connections (20 each), then the first server is deleted (uvsadm -d, or a failed check).
  r.run(...Array.from({ length: 40 }, (_v, i) => syn(6000 + i)));
  r.ctl.call('deleteDest', { service: tcp, addr: RS[0]!.ip, port: 80 });
  const after = [46, 47, 46 * 40 + 45];
  assert.deepEqual([stats().conns, stats().inpkts, stats().inbytes], after, '-Ln --stats service line keeps the deleted server\'s share');
  assert.deepEqual(await prom(), after, 'uvs_service_*_total did not go down');
  assert.deepEqual(status(), after, 'status.json service totals');
  assert.equal(await node(), 46 + 4, 'node_ipvs_connections_total = the services\' sums (+ 4 UDP)');
  // --rate: 40 connections in one 2 s step, averaged with weight 1/4 onto the first step's 6:
  // (768 + (40 × 512 - 768) / 4) / 1024 → 6 per second (no false dip).
  r.ctl.estimate();
  assert.equal(r.ctl.list().services.find((s) => s.proto === 'tcp')!.rate.cps, 6);
  // And again for the second server: nothing left in the table, still the same totals.
  r.ctl.call('deleteDest', { service: tcp, addr: RS[1]!.ip, port: 80 });
  assert.deepEqual([stats().conns, stats().inpkts, stats().inbytes], after);
  assert.deepEqual(await prom(), after);
  // -Z zeroes what -Ln --stats and status.json show (also the deleted servers' share) ...
  r.ctl.call('zero', { service: { proto: 'tcp', addr: VIP, port: 80 } });
  assert.deepEqual([stats().conns, stats().inpkts, stats().inbytes, stats().outpkts, stats().outbytes], [0, 0, 0, 0, 0]);
  assert.deepEqual(status(), [0, 0, 0]);
  // ... and the Prometheus counters keep counting; a server added afterwards adds on top.
  assert.deepEqual(await prom(), after);
  r.ctl.call('addDest', { service: tcp, addr: RS[0]!.ip, port: 80, weight: 1, fwd: 'dr' });
  r.run(syn(7000));
  assert.deepEqual([stats().conns, stats().inpkts], [1, 1]);
  assert.deepEqual((await prom()).slice(0, 2), [47, 48]);
  // A service none of whose servers was deleted shares its (zero) deleted servers' sums with the
  // others (pipeline.ts NO_RETIRED): the deletions and the -Z above wrote none of it.
  assert.deepEqual(udpStats(), udpBefore, 'the UDP service\'s statistics');
  r.ctl.addService({ proto: 'tcp', addr: VIP, port: 81, sched: 'rr' });
  const fresh = r.ctl.list().services.find((s) => s.port === 81)!.stats;
  assert.deepEqual([fresh.conns, fresh.inpkts, fresh.inbytes, fresh.outpkts, fresh.outbytes], [0, 0, 0, 0, 0]);
  assert.equal((await scrape(r)).ex.get('uvs_service_connections_total', { proto: 'tcp', service: `${VIP}:81` }), 0);
});

test('uvs_service_no_dest_total: which service\'s clients met no real server (/status.json noDest), kept through -Z and a server deleted, gone with its service', async () => {
  const r = drRig({ weights: [1, 1], udp: true });
  const tcp = { proto: 'tcp' as const, addr: VIP, port: 80 };
  const udpSvc = { proto: 'udp', service: `${VIP}:53` };
  const tcpSvc = { proto: 'tcp', service: `${VIP}:80` };
  knownTraffic(r); // every server up: none
  let { ex, text } = await scrape(r);
  assert.match(text, /^# TYPE uvs_service_no_dest_total counter$/m);
  assert.deepEqual([ex.get('uvs_service_no_dest_total', tcpSvc), ex.get('uvs_service_no_dest_total', udpSvc)], [0, 0]);
  for (const s of RS.slice(0, 2)) r.ctl.editDest({ service: tcp, addr: s.ip, port: 80, fwd: 'dr', weight: 0 });
  r.run(syn(5000), syn(5001), syn(5002));
  ({ ex } = await scrape(r));
  assert.deepEqual([ex.get('uvs_service_no_dest_total', tcpSvc), ex.get('uvs_service_no_dest_total', udpSvc)], [3, 0]);
  assert.equal(ex.get('uvs_drops_total', { reason: 'no_dest' }), 3);
  const noDest = () => statusJson(r.dp, new RateEstimator(r.dp)).services.map((x) => [x.proto, x.noDest]);
  assert.deepEqual(noDest(), [['tcp', 3], ['udp', 0]]);
  r.ctl.call('zero', {});
  r.ctl.deleteDest({ service: tcp, addr: RS[0]!.ip, port: 80 });
  ({ ex } = await scrape(r));
  assert.equal(ex.get('uvs_service_no_dest_total', tcpSvc), 3, 'not reset by -Z, not lowered by a server deleted');
  assert.deepEqual(noDest(), [['tcp', 3], ['udp', 0]]);
  r.ctl.deleteService(tcp);
  ({ ex } = await scrape(r));
  assert.deepEqual(ex.all('uvs_service_no_dest_total').map((x) => x.labels), [udpSvc], 'the deleted service\'s series is gone');
});

test('promtool check metrics accepts the exposition (with and without per-destination series)', async () => {
  const r = drRig({ weights: [1, 2], udp: true });
  knownTraffic(r);
  for (const perDest of [true, false]) {
    const m = createMetrics(r.dp, { perDest }); // process metrics included, as uvsd serves them
    const text = await m.text();
    assert.equal(promtoolCheck(text), '', `promtool complaints (perDest ${perDest})`);
    assert.ok(parseExposition(text).all('process_cpu_seconds_total').length === 1, 'process metrics present');
  }
});

test('--metrics-no-per-dest: no per-destination series, the rest unchanged', async () => {
  const r = drRig({ weights: [1, 1], udp: true });
  knownTraffic(r);
  const { ex } = await scrape(r, { perDest: false });
  const names = new Set(ex.samples.map((s) => s.name));
  for (const n of names) assert.ok(!n.startsWith('uvs_dest_') && !n.startsWith('node_ipvs_backend_'), `${n} is per destination`);
  assert.equal(ex.get('node_ipvs_connections_total'), 10);
  assert.equal(ex.get('uvs_service_connections_total', { proto: 'tcp', service: `${VIP}:80` }), 6);
});

test('health checks in the metrics and the status JSON: a down server is 0, also once the checks removed it', async () => {
  const r = drRig({ weights: [1, 1, 1] });
  r.ctl.call('editDest', { service: { proto: 'tcp', addr: VIP, port: 80 }, addr: RS[1]!.ip, port: 80, weight: 0 }); // inhibit_on_failure
  r.ctl.call('deleteDest', { service: { proto: 'tcp', addr: VIP, port: 80 }, addr: RS[2].ip, port: 80 }); // removed
  const svc = { proto: 'tcp' as const, addr: VIP, port: 80 };
  const entry = (i: number, state: 'up' | 'down', reason: string) => ({ service: svc, addr: RS[i]!.ip, port: 80, state, reason, weight: 1, inhibit: i === 1, since: 0 });
  const entries = [entry(0, 'up', 'start'), entry(1, 'down', 'HTTP_GET: status 500'), entry(2, 'down', 'TCP_CHECK: connection refused')];
  const health = {
    entries: () => entries,
    stateOf: (service: ServiceKey, rip: string, rport: number) =>
      entries.find((e) => e.service.proto === service.proto && e.service.addr === service.addr && e.service.port === service.port && e.addr === rip && e.port === rport)?.state ?? 'unchecked' as const,
  };
  const m = createMetrics(r.dp, { process: false, health });
  const ex = parseExposition(await m.text());
  const lbl = (i: number) => ({ proto: 'tcp', service: `${VIP}:80`, server: `${RS[i]!.ip}:80` });
  assert.deepEqual([0, 1, 2].map((i) => ex.get('uvs_dest_up', lbl(i))), [1, 0, 0]);
  // Still watched once removed (the checks put it back when it recovers): checked, like uvs_dest_up's 0.
  assert.deepEqual([0, 1, 2].map((i) => ex.get('uvs_dest_health_checked', lbl(i))), [1, 1, 1]);
  // Servers in the table (as -Ln lists them): the removed one is not counted.
  assert.equal(ex.get('uvs_service_destinations', { proto: 'tcp', service: `${VIP}:80` }), 2);
  // Of those, the ones new connections can go to: not the inhibited one at weight 0 (UvsServiceWithoutServers reads this).
  assert.equal(ex.get('uvs_service_destinations_available', { proto: 'tcp', service: `${VIP}:80` }), 1);
  const st = statusJson(r.dp, new RateEstimator(r.dp), { health });
  assert.equal(st.healthChecks, true);
  assert.deepEqual(st.services[0]!.dests.map((d) => [d.addr, d.health, d.removed, d.weight, d.reason]), [
    [RS[0]!.ip, 'up', false, 1, 'start'],
    [RS[1]!.ip, 'down', false, 0, 'HTTP_GET: status 500'],
    [RS[2].ip, 'down', true, 0, 'TCP_CHECK: connection refused'],
  ]);
});

test('a healthy server the checks hold out of the table while its service\'s quorum is lost is uvs_dest_up 1 (it was 0: UvsRealServerDown fired for healthy servers)', async () => {
  const r = drRig({ weights: [1, 1] });
  const svc = { proto: 'tcp' as const, addr: VIP, port: 80 };
  r.ctl.call('deleteDest', { service: svc, addr: RS[1].ip, port: 80 }); // held out (the sorry server would be in)
  const entries = [0, 1].map((i) => ({ service: svc, addr: RS[i]!.ip, port: 80, state: 'up' as const, reason: 'start', weight: 1, inhibit: false, since: 0 }));
  const health = { entries: () => entries, stateOf: () => 'up' as const };
  const ex = parseExposition(await createMetrics(r.dp, { process: false, health }).text());
  assert.equal(ex.get('uvs_dest_up', { proto: 'tcp', service: `${VIP}:80`, server: `${RS[1].ip}:80` }), 1);
  assert.equal(ex.get('uvs_service_destinations', { proto: 'tcp', service: `${VIP}:80` }), 1, 'out of the table');
});

test('status JSON: the role (and HA groups), the link as --status words it, and a lost quorum: the sorry server marked, the held-out servers, -Ln\'s count', () => {
  const r = rig();
  const SORRY = '10.0.0.19';
  const svc = { proto: 'tcp' as const, addr: VIP, port: 80 };
  r.ctl.addService({ ...svc, sched: 'rr' });
  // Quorum lost with sorry_server: the sorry server is the table's only server; RS[0] is down, RS[1] alive but held out, RS[2] alive at weight 0 (inhibit_on_failure).
  r.ctl.addDest({ service: svc, addr: SORRY, port: 80, fwd: 'dr', weight: 1 });
  r.ctl.addDest({ service: svc, addr: RS[2]!.ip, port: 80, fwd: 'dr', weight: 0 });
  const entry = (i: number, state: 'up' | 'down', reason: string) => ({ service: svc, addr: RS[i]!.ip, port: 80, state, reason, weight: 1, inhibit: i === 2, since: 0 });
  const entries = [entry(0, 'down', 'TCP_CHECK: connection refused'), entry(1, 'up', 'TCP_CHECK: connected'), entry(2, 'up', 'TCP_CHECK: connected')];
  const quorum = { service: svc, up: false, aliveWeight: 2, quorum: 3, hysteresis: 0, sorry: `${SORRY}:80`, sorryIn: true };
  const health = { entries: () => entries, stateOf: () => 'unchecked' as const, quorum: () => [quorum] };
  const link = () => ({ iface: 'uvs0', state: 'up' as const, operstate: 'up', master: null, bridge: 'br0', bridgeExists: false, ok: false, since: '' });
  r.ctl.call('setRole', { role: 'backup' });
  const st = statusJson(r.dp, new RateEstimator(r.dp), { health, link });
  assert.deepEqual([st.role, st.haGroups], ['backup', undefined]);
  assert.deepEqual([st.link.iface, st.link.ok, st.link.text], ['uvs0', false, 'up, not in bridge br0 (br0 is gone)']);
  const s = st.services[0]!;
  assert.deepEqual(s.quorum, { up: false, aliveWeight: 2, quorum: 3, hysteresis: 0, sorry: `${SORRY}:80`, sorryIn: true });
  assert.equal(s.servers, 2, 'as -Ln lists them: the sorry server and the inhibited one');
  assert.deepEqual(s.dests.map((d) => [d.addr, d.weight, d.health, d.removed, d.sorry, d.heldOut]), [
    [SORRY, 1, 'unchecked', false, true, false],
    [RS[2]!.ip, 0, 'up', false, false, true],
    [RS[0]!.ip, 0, 'down', true, false, false],
    [RS[1]!.ip, 0, 'up', true, false, true],
  ]);
  // Without health checks and link watch: no quorum, no link state; HA groups each with its role.
  r.ctl.setHaGroups([{ name: 'web', addrs: [parseIp(VIP)] }]);
  r.ctl.call('setRole', { role: 'master', group: 'web' });
  const plain = statusJson(r.dp, new RateEstimator(r.dp));
  assert.deepEqual([plain.role, plain.haGroups], ['backup', [{ name: 'default', role: 'backup' }, { name: 'web', role: 'master' }]]);
  assert.deepEqual([plain.link.iface, plain.link.text, plain.services[0]!.quorum], [undefined, undefined, undefined]);
});

test('status JSON: the health checks\' queue as uvsadm --status health_queue words it (healthQueue), none without checkers', () => {
  const r = rig();
  const q = { waiting: 3, inFlight: 64, slots: 64, processes: 2, processSlots: 16, lateMaxMs: 1250 };
  const health = { entries: () => [], stateOf: () => 'unchecked' as const, queue: (): typeof q | undefined => q };
  const st = statusJson(r.dp, new RateEstimator(r.dp), { health });
  assert.deepEqual(st.healthQueue, q);
  // The page shows it in its header (hidden while absent), amber while checks wait.
  assert.match(STATUS_PAGE, /<span class="kv" id="hq-kv" hidden>health checks <b id="hq">-<\/b><\/span>/);
  assert.match(STATUS_PAGE, /st\.healthQueue/);
  // Configured health checks but no checker running (queue() undefined), or no health checks at all: none.
  assert.equal('healthQueue' in statusJson(r.dp, new RateEstimator(r.dp), { health: { ...health, queue: () => undefined } }), false);
  assert.equal('healthQueue' in statusJson(r.dp, new RateEstimator(r.dp)), false);
});

test('status JSON: the health checks\' not-run and refused counts, the numbers uvsadm --status (health_checks_not_run, health_refused) and /metrics give (healthChecksNotRun, healthRefused), none without checks', async () => {
  const r = rig();
  const mgr = new HealthManager(undefined, {
    call: (verb, args) => r.ctl.call(verb, args), run: () => Promise.resolve({ ok: true, reason: 'ok' }), exec: () => Promise.resolve(),
    log: { info: () => {}, warn: () => {} },
  });
  mgr.notRunTotal = 3;
  mgr.refusedTotal = 2;
  const st = statusJson(r.dp, new RateEstimator(r.dp), { health: mgr });
  assert.deepEqual([st.healthChecksNotRun, st.healthRefused], [3, 2]);
  const text = formatStatus(withHealth('status', r.ctl.call('status', {}), mgr) as StatusResult);
  assert.deepEqual([/^health_checks_not_run (\d+)$/m.exec(text)?.[1], /^health_refused (\d+)$/m.exec(text)?.[1]], ['3', '2'], text);
  const ex = parseExposition(await createMetrics(r.dp, { process: false, health: mgr }).text());
  assert.deepEqual([ex.get('uvs_health_checks_not_run_total', {}), ex.get('uvs_health_refused_total', {})], [3, 2]);
  // The page's health checks line names them once not zero.
  assert.match(STATUS_PAGE, /st\.healthChecksNotRun \? ", " \+ st\.healthChecksNotRun \+ " not run"/);
  assert.match(STATUS_PAGE, /st\.healthRefused \? ", " \+ st\.healthRefused \+ " refused by the table"/);
  // No health checks configured: neither.
  const plain = statusJson(r.dp, new RateEstimator(r.dp));
  assert.deepEqual(['healthChecksNotRun' in plain, 'healthRefused' in plain], [false, false]);
});

test('status JSON is linear in removed servers: 4,000 services each with a server the checks removed, well under 400 ms of CPU', () => {
  const r = rig({ destMax: 8192 });
  const entries: HealthEntry[] = [];
  const n = 4000;
  for (let i = 0; i < n; i++) {
    const svc: ServiceKey = { proto: 'udp', addr: `10.1.${i >> 8}.${i & 255}`, port: 53 };
    r.ctl.addService({ ...svc, sched: 'rr' });
    r.ctl.addDest({ service: svc, addr: RS[0]!.ip, port: 53, fwd: 'dr', weight: 1 });
    entries.push({ service: svc, addr: RS[0]!.ip, port: 53, state: 'up', reason: 'start', weight: 1, inhibit: false, since: 0 });
    entries.push({ service: svc, addr: RS[1]!.ip, port: 53, state: 'down', reason: 'TCP_CHECK: connection refused', weight: 1, inhibit: false, since: 0 });
  }
  const health = { entries: () => entries, stateOf: () => 'up' as const };
  const rates = new RateEstimator(r.dp);
  let st = statusJson(r.dp, rates, { health });
  assert.equal(st.services.length, n);
  assert.ok(st.services.every((s) => s.servers === 1 && s.dests.length === 2 && s.dests[1]!.removed && s.dests[1]!.addr === RS[1]!.ip));
  // Quadratic (a scan of every service per removed server) took 1.1 s here; linear 15-25 ms.
  // This thread's CPU, not wall time: the file runs beside a lab at nice 10 (test-class shared).
  let best = Infinity;
  for (let k = 0; k < 3; k++) {
    const c0 = native.threadCpuMs();
    st = statusJson(r.dp, rates, { health });
    best = Math.min(best, native.threadCpuMs() - c0);
  }
  assert.ok(best < 400, `statusJson took ${best.toFixed(1)} ms of CPU for ${n} removed servers`);
});

test('status JSON: a service\'s rates are its own, as --rate\'s service line: a deleted server\'s share stays in them, a new service in its id starts from 0', () => {
  const r = drRig({ weights: [1, 1] });
  const tcp = { proto: 'tcp' as const, addr: VIP, port: 80 };
  const rates = new RateEstimator(r.dp);
  const svcRates = () => statusJson(r.dp, rates).services[0]!.rates;
  rates.sample(0);
  r.run(...Array.from({ length: 40 }, (_v, i) => syn(6000 + i))); // rr: 20 to each server
  rates.sample(2000);
  // 40 connections in 2 s = 20/s; the first estimate a quarter of it.
  assert.equal(svcRates().cps, 5);
  // The first server goes (uvsadm -d, a failed check): nothing more arrives in the next 2 s.
  r.ctl.call('deleteDest', { service: tcp, addr: RS[0]!.ip, port: 80 });
  rates.sample(4000);
  // The service's estimate decays from 5 (5 + (0 - 5) / 4), as IPVS's svc->stats estimator and
  // `--rate`'s service line; the sum of the servers left would be the second's 2.5 decayed, 1.875.
  assert.equal(svcRates().cps, 3.75);
  r.ctl.estimate();
  r.ctl.estimate();
  assert.ok(r.ctl.list().services[0]!.rate.cps > 0, '--rate\'s service line has the deleted server\'s share too');
  // The status JSON writer (the bytes /status.json sends) says the same.
  const { written, objects } = statusTexts(r.dp, rates);
  assert.equal(written, objects);
  assert.equal((JSON.parse(written) as { rates: { cps: number } }[])[0]!.rates.cps, 3.75);
  // A service deleted and another added in its id: its rates start from its own zero totals.
  r.ctl.call('deleteService', tcp);
  r.ctl.call('addService', { ...tcp, sched: 'rr' });
  r.ctl.call('addDest', { service: tcp, addr: RS[1]!.ip, port: 80, fwd: 'dr', weight: 1 });
  assert.deepEqual(svcRates(), { cps: 0, inpps: 0, inbps: 0, outpps: 0, outbps: 0 }, 'nothing of the deleted service');
  rates.sample(6000);
  assert.equal(svcRates().cps, 0, 'the first step starts the new service\'s row');
  r.run(...Array.from({ length: 8 }, (_v, i) => syn(7000 + i)));
  rates.sample(8000);
  assert.equal(svcRates().cps, 1, '8 connections in 2 s: 4/s, a quarter of it');
});

test('status JSON: services, servers with weight, forwarding, health, active/inactive, rates and drops', () => {
  const r = drRig({ weights: [3, 1] });
  const rates = new RateEstimator(r.dp);
  rates.sample(0);
  r.run(...Array.from({ length: 40 }, (_v, i) => syn(6000 + i)));
  r.run(dgram(1, 99));
  rates.sample(2000);
  const st = statusJson(r.dp, rates);
  assert.equal(st.services.length, 1);
  const s = st.services[0]!;
  assert.deepEqual([s.proto, s.addr, s.port, s.sched, s.conns], ['tcp', VIP, 80, 'rr', 40]);
  assert.deepEqual(s.dests.map((d) => [d.addr, d.port, d.forward, d.weight, d.health, d.removed, d.active, d.inactive, d.conns]),
    [[RS[0]!.ip, 80, 'Route', 3, 'unchecked', false, 20, 0, 20], [RS[1]!.ip, 80, 'Route', 1, 'unchecked', false, 20, 0, 20]]);
  // 20 connections in 2 s = 10/s; the first estimate is a quarter of it (avg += (rate - avg) / 4).
  assert.equal(s.dests[0]!.rates.cps, 2.5);
  assert.equal(s.rates.cps, 5);
  assert.equal(st.drops.find((d) => d.reason === 'no_service')!.total, 1);
  assert.equal(st.drops.find((d) => d.reason === 'no_service')!.rate, 0.125);
  assert.equal(st.healthChecks, false);
  assert.equal(st.drops.find((d) => d.reason.startsWith('port_')), undefined, 'no port drops without a port that counts them');
});

test('status page numbers: three significant digits with K/M/G/T, a value rounding up written in the next width or unit', () => {
  const src = /function num\(v\) \{[\s\S]*?\n\}/.exec(STATUS_PAGE)?.[0];
  assert.ok(src, 'the page has num()');
  const num = new Function(`${src}; return num;`)() as (v: number) => string;
  const cases: [number, string][] = [
    [0, '0'], [0.04, '0'], [2.5, '2.5'], [999.94, '999.9'], [999.96, '1.00K'], [1234, '1.23K'], [9994, '9.99K'],
    [9999, '10.0K'], [99949, '99.9K'], [99990, '100K'], [123456, '123K'], [999_400, '999K'], [999_600, '1.00M'],
    [1.5e9, '1.50G'], [999.7e9, '1.00T'], [2.5e15, '2500T'],
  ];
  assert.deepEqual(cases.map(([v]) => num(v)), cases.map(([, t]) => t));
});

test('status JSON: frames the port lost before the datapath are drops port_<reason>, with their rate', () => {
  const r = drRig();
  let queueFull = 100;
  const portDrops = () => ({ queue_full: queueFull });
  const rates = new RateEstimator(r.dp, portDrops);
  rates.sample(0);
  queueFull = 180; // 80 in 2 s = 40/s; the first estimate is a quarter of it
  rates.sample(2000);
  const d = statusJson(r.dp, rates, { portDrops }).drops.find((x) => x.reason === 'port_queue_full');
  assert.deepEqual(d, { reason: 'port_queue_full', total: 180, rate: 10 });
});

test('trace: decisions are recorded only while a session is open, name the chosen server and the why', () => {
  registerScheduler({
    name: 'test-explained',
    schedule: (svc) => svc.dests[svc.dests.length - 1] ?? -1,
    explain: (svc) => ({ dest: svc.dests[svc.dests.length - 1] ?? -1, why: `the last of ${svc.dests.length}` }),
  });
  const r = drRig({ weights: [1, 1], udp: true });
  r.run(syn(7000));
  assert.equal(r.dp.trace.seq, 0, 'nothing recorded without a session');
  const { session } = r.ctl.call('traceStart', {}) as { session: number };
  assert.equal(r.dp.trace.on, true);
  r.run(syn(7001), syn(7002), dgram(7003), dgram(7004, 99));
  const p = r.ctl.call('tracePoll', { session }) as TracePollResult;
  // rr's explain() (src/sched/rr.ts) says where it continues from and what it picks.
  assert.deepEqual(p.events.map((e) => [e.proto, e.client, e.service, e.server, e.sched, e.why]), [
    ['tcp', `${CLIENT}:7001`, `${VIP}:80`, `${RS[1]!.ip}:80`, 'rr', `rr: next available after ${RS[0]!.ip}:80 → ${RS[1]!.ip}:80`],
    ['tcp', `${CLIENT}:7002`, `${VIP}:80`, `${RS[0]!.ip}:80`, 'rr', `rr: next available after ${RS[1]!.ip}:80 → ${RS[0]!.ip}:80`],
    ['udp', `${CLIENT}:7003`, `${VIP}:53`, `${RS[0]!.ip}:53`, 'rr', `rr: next available after the list head → ${RS[0]!.ip}:53`],
  ]);
  assert.deepEqual(p.drops, [{ reason: 'no_service', count: 1 }]);
  assert.equal(p.lost, 0);
  // A scheduler without explain(): the why is its name.
  registerScheduler({ name: 'test-unexplained', schedule: (svc) => svc.dests[0] ?? -1 });
  r.ctl.call('editService', { proto: 'udp', addr: VIP, port: 53, sched: 'test-unexplained' });
  r.run(dgram(7100));
  assert.deepEqual((r.ctl.call('tracePoll', { session }) as TracePollResult).events.map((e) => [e.server, e.sched, e.why]),
    [[`${RS[0]!.ip}:53`, 'test-unexplained', 'test-unexplained']]);
  // A service filter, a scheduler with explain(), and no server available.
  r.ctl.call('editService', { proto: 'tcp', addr: VIP, port: 80, sched: 'test-explained' });
  const f = r.ctl.call('traceStart', { service: { proto: 'tcp', addr: VIP, port: 80 } }) as { session: number };
  r.run(dgram(7005), syn(7006));
  r.ctl.call('editDest', { service: { proto: 'tcp', addr: VIP, port: 80 }, addr: RS[1]!.ip, port: 80, weight: 0 });
  r.ctl.call('deleteDest', { service: { proto: 'tcp', addr: VIP, port: 80 }, addr: RS[0]!.ip, port: 80 });
  r.ctl.call('deleteDest', { service: { proto: 'tcp', addr: VIP, port: 80 }, addr: RS[1]!.ip, port: 80 });
  r.run(syn(7007));
  const q = r.ctl.call('tracePoll', { session: f.session }) as TracePollResult;
  assert.deepEqual(q.events.map((e) => [e.client, e.server, e.sched, e.why]), [
    [`${CLIENT}:7006`, `${RS[1]!.ip}:80`, 'test-explained', 'the last of 2'],
    [`${CLIENT}:7007`, null, 'test-explained', 'the last of 0'],
  ]);
  assert.deepEqual(q.drops, [{ reason: 'no_dest', count: 1 }]);
  assert.equal((r.ctl.call('tracePoll', { session }) as TracePollResult).events.length, 3, 'the unfiltered session sees all three');
  r.ctl.call('traceStop', { session });
  assert.equal(r.dp.trace.on, true, 'still one session open');
  r.ctl.call('traceStop', { session: f.session });
  assert.equal(r.dp.trace.on, false);
  assert.throws(() => r.ctl.call('tracePoll', { session }), /No such trace session/);
  assert.throws(() => r.ctl.call('traceStart', { service: { proto: 'udp', addr: VIP, port: 54 } }), /No such service/);
});

test('trace: a session nobody polls is closed after the idle time; a slow reader is told what it lost', () => {
  const r = drRig({ weights: [1], udp: true, connMax: 8192 });
  let now = 0;
  const ts = new TraceSessions(r.dp, () => now);
  const { session } = ts.start(-1);
  r.run(...Array.from({ length: 64 }, (_v, i) => dgram(10000 + i)));
  for (let b = 0; b < 64; b++) r.run(...Array.from({ length: 64 }, (_v, i) => dgram(20000 + b * 64 + i)));
  const p = ts.poll(session);
  assert.equal(p.lost, 64 + 64 * 64 - r.dp.trace.cap);
  assert.equal(p.events.length, 1000);
  assert.equal(p.more, true);
  now += SESSION_IDLE_MS + 1;
  ts.expire();
  assert.equal(ts.open, 0);
  assert.equal(r.dp.trace.on, false);
});

test('trace: a step of the wall clock (NTP) neither closes a session that is polled (an hour forward) nor keeps one nobody polls (an hour back)', (t) => {
  const clock = stepClock(t, []);
  const r = drRig({ weights: [1], udp: true });
  const ts = new TraceSessions(r.dp); // uvsd's clock
  const { session } = ts.start(-1);
  clock.step(3_600_000);
  assert.equal(ts.poll(session).lost, 0, 'before: No such trace session');
  clock.step(-7_200_000);
  clock.tick(SESSION_IDLE_MS + 1);
  ts.expire();
  assert.equal(ts.open, 0, 'before: open for another hour');
});

test('trace with workers: a worker\'s ring taken in batches and appended to the main ring reads as one; what it overwrote counts as lost; the workers record only while a session is open', () => {
  const w = drRig({ weights: [1], udp: true, connMax: 8192 }); // a worker's datapath
  const main = drRig({ weights: [1], udp: true, connMax: 8192 }); // the shadow: no frames
  const calls: boolean[] = [];
  const ts = new TraceSessions(main.dp, () => 0, { trace: (on) => calls.push(on) });
  const { session } = ts.start(-1);
  assert.deepEqual(calls, [true], 'the workers are told to record');
  w.dp.trace.on = true;
  let cursor = w.dp.trace.seq;
  const move = (): void => {
    main.dp.trace.append(w.dp.trace.take(cursor));
    cursor = w.dp.trace.seq;
  };
  w.run(...Array.from({ length: 10 }, (_v, i) => dgram(10000 + i)));
  move();
  const p = ts.poll(session);
  assert.deepEqual(p.events.map((e) => e.client), Array.from({ length: 10 }, (_v, i) => `${CLIENT}:${10000 + i}`));
  assert.equal(p.lost, 0);
  assert.equal(p.events[0]!.time, new Date(performance.timeOrigin + w.dp.trace.time[0]!).toISOString(), 'the worker\'s time, through epoch ms');
  // The worker's ring overwrites 100 events before they are taken: lost, the rest read.
  w.run(...Array.from({ length: 64 }, (_v, i) => dgram(20000 + i)));
  for (let b = 0; b < 64; b++) w.run(...Array.from({ length: 64 }, (_v, i) => dgram(30000 + b * 64 + i)));
  w.run(...Array.from({ length: 36 }, (_v, i) => dgram(40000 + i)));
  move();
  const q = ts.poll(session);
  assert.equal(q.lost, 64 + 64 * 64 + 36 - w.dp.trace.cap);
  ts.stop(session);
  assert.deepEqual(calls, [true, false], 'and to stop when the last session closes');
});

test('uvs_worker_*: each worker\'s frames, forwarded packets, handoffs, entries, table size and secure TCP, labelled by worker (uvsd --workers), and promtool accepts them', async () => {
  const r = drRig({ weights: [1] });
  const status = [
    { worker: 0, io: 'io_uring', rx_frames: 10, tx_frames: 9, fwd_packets: 8, fwd_out_packets: 7, conns: 6, handoff_out: 1, handoff_in: 2, conn_max: 512, secure_tcp: false },
    { worker: 1, io: 'io_uring', rx_frames: 20, tx_frames: 19, fwd_packets: 18, fwd_out_packets: 17, conns: 16, handoff_out: 2, handoff_in: 1, conn_max: 512, secure_tcp: true },
  ];
  const m = createMetrics(r.dp, { workers: () => status });
  const text = await m.text();
  const ex = parseExposition(text);
  const val = (name: string, worker: string) => ex.samples.find((s) => s.name === name && s.labels.worker === worker)?.value;
  assert.deepEqual(['uvs_worker_rx_frames_total', 'uvs_worker_fwd_packets_total', 'uvs_worker_fwd_out_packets_total', 'uvs_worker_handoff_out_total', 'uvs_worker_conn_table_entries',
    'uvs_worker_conn_table_capacity', 'uvs_worker_secure_tcp']
    .map((n) => [val(n, '0'), val(n, '1')]), [[10, 20], [8, 18], [7, 17], [1, 2], [6, 16], [512, 512], [0, 1]]);
  assert.equal(promtoolCheck(text), '', 'promtool complaints');
  // Without workers no such series.
  assert.ok(!(await createMetrics(r.dp, {}).text()).includes('uvs_worker_'));
});

test('grafana dashboard: valid JSON whose queries use only metrics uvsd exports', async () => {
  const dash = JSON.parse(readFileSync(join(repoRoot, 'docs', 'grafana-dashboard.json'), 'utf8')) as {
    title: string; panels: { title: string; type: string; targets?: { expr: string }[] }[];
    templating: { list: { query: { query: string } }[] };
  };
  assert.ok(dash.title && Array.isArray(dash.panels) && dash.panels.length >= 5);
  const r = drRig({ weights: [1, 1], udp: true });
  knownTraffic(r);
  // One health checker, so that its per-checker series exist too.
  const health = {
    entries: () => [],
    stateOf: () => 'unchecked' as const,
    checkerStats: () => [{ service: { proto: 'udp' as const, addr: VIP, port: 53 }, addr: RS[0]!.ip, port: 53, index: 0, type: 'DNS_CHECK', up: true, passed: 1, failed: 0, notRun: 0, lastMs: 2, lastReason: 'ok' }],
  };
  // An HA group and the sync counters, so that the HA row's series exist too.
  r.dp.apply([{ op: 'haGroups', groups: [{ name: 'web', addrs: [parseIp(VIP)] }] }]);
  const m = createMetrics(r.dp, { health, sync: r.ctl.sync.stats, portDrops: () => ({ queue_full: 0 }) });
  const exported = new Set(parseExposition(await m.text()).samples.map((s) => s.name));
  const used = new Set<string>();
  const exprs = [...dash.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr)), ...dash.templating.list.map((v) => v.query.query)];
  for (const expr of exprs) {
    for (const name of expr.match(/\b(?:node_ipvs|uvs|process|nodejs)_[a-z0-9_]+/g) ?? []) used.add(name);
  }
  assert.ok(used.size >= 8, `only ${[...used].join(', ')}`);
  for (const name of used) assert.ok(exported.has(name), `dashboard queries ${name}, which uvsd does not export`);
  for (const must of ['uvs_service_in_packets_total', 'uvs_service_no_dest_total', 'uvs_dest_in_packets_total', 'uvs_drops_total', 'uvs_conn_table_entries', 'uvs_dest_up', 'uvs_ha_group_master', 'uvs_sync_messages_sent_total']) {
    assert.ok(used.has(must), `dashboard has no panel on ${must}`);
  }
  // The TAP's forwarded packets both ways: a NAT or FULLNAT director forwards the replies too
  // (uvs_fwd_packets_total alone, labelled "forwarded", showed half of what it forwarded).
  const tap = dash.panels.find((p) => p.title === 'Frames on the TAP')!;
  const fwd = (tap.targets as { expr: string; legendFormat: string }[]).filter((t) => /uvs_fwd_(out_)?packets_total/.test(t.expr));
  assert.deepEqual(fwd.map((t) => /uvs_fwd_(?:out_)?packets_total/.exec(t.expr)![0]).sort(), ['uvs_fwd_out_packets_total', 'uvs_fwd_packets_total']);
  assert.ok(fwd.every((t) => /forwarded (to servers|back to clients)/.test(t.legendFormat)), fwd.map((t) => t.legendFormat).join(', '));
  // Several directors in one Prometheus: every series is picked by the director variable, and the
  // process series (any program's) only where they are uvsd's.
  for (const expr of exprs.filter((e) => !e.startsWith('label_values(uvs_conn_table_capacity'))) {
    for (const m of expr.matchAll(/\b(?:node_ipvs|uvs|process|nodejs)_[a-z0-9_]+(\{[^}]*\})?/g)) {
      if (expr.slice(m.index - 'on (job, instance) '.length, m.index) === 'on (job, instance) ') continue;
      assert.match(m[1] ?? '', /instance=~"\$instance"/, `${m[0]} in ${expr}: no director matcher`);
    }
    // Any other program's series of the same name (process_*, nodejs_*, a real node_exporter's
    // node_ipvs_* on a kube-proxy node) is in at instance "All" unless guarded by a uvsd series.
    const foreign = [...expr.matchAll(/\b([a-zA-Z_:][a-zA-Z0-9_:]*)\{/g)].map((x) => x[1]!).filter((n) => !n.startsWith('uvs_'));
    if (foreign.length) assert.match(expr, /and on \(job, instance\) uvs_/, `${foreign.join(', ')} in ${expr}: not only uvsd's`);
  }
});

test('grafana dashboard: the median and p99 frames per batch read 1 when every batch is one frame, never less (promtool evaluates the panel\'s queries)', () => {
  const dash = JSON.parse(readFileSync(join(repoRoot, 'docs', 'grafana-dashboard.json'), 'utf8')) as {
    panels: { title: string; targets?: { expr: string; legendFormat: string }[] }[];
  };
  const panel = dash.panels.find((p) => p.title === 'Frames per receive batch');
  assert.ok(panel?.targets, 'no panel "Frames per receive batch"');
  const expr = (legend: string): string => {
    const t = panel.targets!.find((x) => x.legendFormat === `{{instance}} ${legend}`);
    assert.ok(t, `no ${legend} query`);
    return t.expr.replaceAll('$instance', '.*').replaceAll('$__rate_interval', '2m');
  };
  // histogram_quantile() takes the first bucket (le="1") to start at 0 and interpolates in it: 60
  // one-frame batches a second read median 0.5 and p99 0.99 frames per batch (0.56 and 3.5 in a lab
  // at light load, 2026-12-07), less than any batch holds. In the second bucket (1, 2] it reads as
  // it should: 40 % of the batches two frames, p99 1.98.
  const dir = mkdtempSync(join(tmpdir(), 'uvs-dash-'));
  try {
    writeFileSync(join(dir, 'rules.yml'), JSON.stringify({
      groups: [{ name: 'dashboard', rules: ['median', 'p99'].map((l) => ({ record: `dashboard_batch_${l}`, expr: expr(l) })) }],
    }));
    const series = (instance: string, per: Record<string, number>) =>
      Object.entries(per).map(([le, n]) => ({ series: `uvs_batch_frames_bucket{job="uvs",instance="${instance}",le="${le}"}`, values: `0+${n * 15}x20` }));
    const all = (n1: number, n2: number) => ({ '1': n1, '2': n1 + n2, '4': n1 + n2, '64': n1 + n2, '1024': n1 + n2, '+Inf': n1 + n2 });
    writeFileSync(join(dir, 'test.yml'), JSON.stringify({
      rule_files: ['rules.yml'],
      evaluation_interval: '15s',
      tests: [{
        interval: '15s',
        input_series: [...series('ones', all(60, 0)), ...series('mixed', all(60, 40))],
        promql_expr_test: [
          { expr: 'dashboard_batch_median', eval_time: '4m', exp_samples: [{ labels: 'dashboard_batch_median{instance="ones"}', value: 1 }, { labels: 'dashboard_batch_median{instance="mixed"}', value: 1 }] },
          { expr: 'dashboard_batch_p99', eval_time: '4m', exp_samples: [{ labels: 'dashboard_batch_p99{instance="ones"}', value: 1 }, { labels: 'dashboard_batch_p99{instance="mixed"}', value: 1.975 }] },
        ],
      }],
    }));
    const r = promtool(['test', 'rules', 'test.yml'], { cwd: dir });
    assert.equal(r.code, 0, r.out);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('uvsadm -Z [service] parses to the zero verb; trace arguments are checked before connecting', () => {
  const env = { UVS_SOCKET: '/tmp/s.sock' };
  assert.deepEqual(parseArgs(['-Z'], { env }), { kind: 'call', socket: '/tmp/s.sock', call: { verb: 'zero', args: {} } });
  assert.deepEqual(parseArgs(['--zero', '-t', `${VIP}:80`], { env }),
    { kind: 'call', socket: '/tmp/s.sock', call: { verb: 'zero', args: { service: { proto: 'tcp', addr: VIP, port: 80 } } } });
  assert.throws(() => parseArgs(['-Z', '-t', `${VIP}:80`, '-r', '10.0.0.1'], { env }), /Illegal 'real-server' option with the 'zero' command/);
  assert.deepEqual(parseTraceArgs(['-u', `${VIP}:53`, '--count', '10'], env), { socket: '/tmp/s.sock', service: { proto: 'udp', addr: VIP, port: 53 }, count: 10 });
  assert.deepEqual(parseTraceArgs([], {}), { socket: '/run/uvs/uvsd.sock' });
  // A port-zero service (-t VIP:0 -p) is traced by that address, as -L -t VIP:0 lists it.
  assert.deepEqual(parseTraceArgs(['-t', `${VIP}:0`], env), { socket: '/tmp/s.sock', service: { proto: 'tcp', addr: VIP, port: 0 } });
  assert.deepEqual(parseTraceArgs(['-t', `${VIP}:80`, '--help'], env), { socket: '', help: true });
  assert.deepEqual(parseTraceArgs(['-h'], env), { socket: '', help: true });
  for (const [args, re] of [
    [['--count', '0'], /invalid --count "0"/],
    [['--count', 'ten'], /invalid --count "ten"/],
    [['-t', `${VIP}:80`, '-u', `${VIP}:53`], /multiple 'service-address'/],
    [['-t', '10.0.0.300:80'], /invalid service address "10\.0\.0\.300:80"/],
    [['-t', VIP], /needs a port \(\S+:0 for a port-zero service\)/],
    [['--bogus'], /unknown option '--bogus'/],
  ] as const) {
    assert.throws(() => parseTraceArgs(args, env), (e: Error) => e instanceof UsageError && re.test(e.message) && !e.message.includes('\n'), args.join(' '));
  }
  assert.equal(formatEvent({ time: 'T', proto: 'tcp', client: 'c:1', service: 'v:80', server: null, sched: 'wlc', why: 'wlc: none available' }),
    'T TCP c:1 -> v:80 server none (dropped: no_dest) sched wlc why wlc: none available\n');
});

test('--metrics values: a.b.c.d:port, or a port alone on 127.0.0.1; anything else names the value', () => {
  assert.deepEqual(parseListen('127.0.0.1:9478'), { host: '127.0.0.1', port: 9478 });
  assert.deepEqual(parseListen('0.0.0.0:80'), { host: '0.0.0.0', port: 80 });
  assert.deepEqual(parseListen('9478'), { host: '127.0.0.1', port: 9478 });
  assert.deepEqual(parseListen(':0'), { host: '127.0.0.1', port: 0 });
  for (const bad of ['localhost:9478', '127.0.0.1:65536', '127.0.0.1:', '1.2.3:80', '[::1]:9478', '127.0.0.1:9478x', '']) {
    assert.throws(() => parseListen(bad), (e: Error) => e.message.includes(`"${bad}"`), bad);
  }
});

test('NAT: replies through the director count as outgoing (node_ipvs_outgoing_*, uvs_dest_out_*, uvs_fwd_out_*)', async () => {
  const GW = '10.0.0.254';
  const r = rig({ gateway: GW });
  const svc = { proto: 'tcp' as const, addr: VIP, port: 80 };
  r.ctl.addService({ ...svc, sched: 'rr' });
  r.ctl.addDest({ service: svc, addr: RS[0]!.ip, port: 8080, fwd: 'nat', weight: 1 });
  r.dp.resolve(parseIp(GW));
  r.learn(GW, ROUTER_MAC);
  r.learn(RS[0]!.ip, RS[0]!.mac);
  r.sink.take();
  assert.equal(r.run(syn(4000)).length, 1, 'SYN forwarded to the real server');
  const back = { ethDst: DIR_MAC, ethSrc: RS[0]!.mac };
  const synAck = tcpFrame(back, { src: RS[0]!.ip, dst: CLIENT, sport: 8080, dport: 4000, flags: TCP_FLAGS.SYN | TCP_FLAGS.ACK, payload: new Uint8Array(4) });
  assert.equal(r.run(synAck).length, 1, 'reply forwarded to the client');
  const ex = parseExposition(await createMetrics(r.dp, { process: false }).text());
  const lbl = { proto: 'tcp', service: `${VIP}:80`, server: `${RS[0]!.ip}:8080` };
  assert.equal(ex.get('node_ipvs_outgoing_packets_total'), 1);
  assert.equal(ex.get('node_ipvs_outgoing_bytes_total'), 44);
  assert.equal(ex.get('node_ipvs_incoming_packets_total'), 1);
  assert.equal(ex.get('uvs_fwd_out_packets_total'), 1);
  assert.equal(ex.get('uvs_dest_out_packets_total', lbl), 1);
  assert.equal(ex.get('uvs_service_out_bytes_total', { proto: 'tcp', service: `${VIP}:80` }), 44);
  assert.equal(ex.get('uvs_dest_info', { ...lbl, fwd: 'nat' }), 1);
  assert.equal(ex.get('node_ipvs_backend_weight', { remote_address: RS[0]!.ip, remote_port: '8080', local_port: '80' }), 1);
  const st = statusJson(r.dp, new RateEstimator(r.dp)).services[0]!;
  assert.equal(st.dests[0]!.forward, 'Masq');
  assert.deepEqual([st.outPkts, st.outBytes, st.inPkts], [1, 44, 1], 'status.json: the service\'s out totals too');
});

test('the HTTP listener: /metrics, /status.json and / answer; other paths 404, other methods 405', async () => {
  const r = drRig({ weights: [1, 1] });
  r.run(syn(9000));
  const srv = await startMetricsServer(r.dp, { host: '127.0.0.1', port: 0 }, { process: false });
  try {
    assert.match(srv.address, /^127\.0\.0\.1:\d+$/);
    const base = `http://${srv.address}`;
    const m = await fetch(`${base}/metrics`);
    assert.equal(m.status, 200);
    assert.match(m.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    assert.equal(parseExposition(await m.text()).get('node_ipvs_connections_total'), 1);
    const st = (await (await fetch(`${base}/status.json`)).json()) as { services: { dests: unknown[] }[] };
    assert.equal(st.services[0]!.dests.length, 2);
    const page = await fetch(`${base}/`);
    assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
    assert.match(await page.text(), /fetch\("\/status\.json"/);
    assert.equal((await fetch(`${base}/nope`)).status, 404);
    assert.equal((await fetch(`${base}/metrics`, { method: 'POST' })).status, 405);
  } finally {
    srv.close();
  }
});

test('docs/uvsd.md "Drops, by reason" explains every drop reason uvsadm --status and uvs_drops_total show (DROP_NAMES)', () => {
  const doc = readFileSync(join(repoRoot, 'docs', 'uvsd.md'), 'utf8');
  const table = doc.slice(doc.indexOf('Drops, by reason:'), doc.indexOf('uvsd logs the final counters'));
  const named = new Set([...table.matchAll(/^\|([^|]*)\|/gm)].flatMap((m) => [...m[1]!.matchAll(/`([a-z0-9_]+)`/g)].map((x) => x[1]!)));
  assert.deepEqual(DROP_NAMES.filter((n) => !named.has(n)), [], 'drop reasons without a row');
});

test('docs/uvsd.md "Counters" names every counter uvsadm --status and /metrics show (COUNTER_NAMES)', () => {
  const doc = readFileSync(join(repoRoot, 'docs', 'uvsd.md'), 'utf8');
  const list = doc.slice(doc.indexOf('Counters (every one'), doc.indexOf('Drops, by reason:'));
  const named = new Set([...list.matchAll(/`([a-z0-9_ \n]+)`/g)].flatMap((m) => m[1]!.split(/\s+/)));
  assert.deepEqual(COUNTER_NAMES.filter((n) => !named.has(n)), [], 'counters the list leaves out');
});

test('uvs_port_drops_total: frames lost before the datapath, one series per reason the port reports (none without a port that counts)', async () => {
  const r = drRig();
  let drops: Record<string, number> | null = { queue_full: 7 };
  const { ex } = await scrape(r, { portDrops: () => drops });
  assert.equal(ex.get('uvs_port_drops_total', { reason: 'queue_full' }), 7);
  drops = { ring_full: 3, too_long: 1 };
  const ring = (await scrape(r, { portDrops: () => drops })).ex;
  assert.deepEqual(ring.all('uvs_port_drops_total').map((s) => [s.labels.reason, s.value]), [['ring_full', 3], ['too_long', 1]]);
  drops = null;
  assert.deepEqual((await scrape(r, { portDrops: () => drops })).ex.all('uvs_port_drops_total'), []);
  assert.deepEqual((await scrape(r)).ex.all('uvs_port_drops_total'), []);
});
