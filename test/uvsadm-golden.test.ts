// test-class: shared
// uvsadm's listings byte for byte against golden files (test/fixtures/ipvsadm/*.txt). The files
// were written with ipvsadm 1.31's printf formats applied by hand to the table prepared here
// (C's printf via another language, not this code), so a drift in widths, truncation, sorting,
// K/M/G shortening or the rate estimator's arithmetic fails here.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  formatConns, formatList, formatRules, formatService, formatStatus, formatTimeout, largeNum, parseServices,
} from '../src/control/printers.js';
import { parseRules } from '../src/control/ipvsadm.js';
import type { PrintOptions } from '../src/control/printers.js';
import type { ServiceInfo, StatusResult } from '../src/control/protocol.js';
import { CLIENT, DIR_MAC, drRig, rig, ROUTER_MAC, VIP, type Rig } from './helpers/harness.js';
import { tcpFrame, TCP_FLAGS, udpFrame } from './helpers/frames.js';

const FIXTURES = fileURLToPath(new URL('../../test/fixtures/ipvsadm/', import.meta.url));
const golden = (name: string): string => readFileSync(FIXTURES + name, 'utf8');

const ports = parseServices('http 80/tcp www\nhttps 443/tcp\ndomain 53/udp\ndomain 53/tcp\n');
const HOSTS: Record<string, string> = {
  '192.168.8.200': 'www.example.test',
  '192.168.8.20': 'rs1.example.test',
  '192.168.8.22': 'a-very-long-real-server-name.example.test',
  '10.1.2.3': 'service-with-a-long-name.example.test',
};

/** The prepared table: three services added out of ipvsadm's order, five servers, counters. */
function prepared(): Rig {
  const r = rig({ addrs: ['192.168.8.10/24'], connMax: 4096 });
  const udp = { proto: 'udp', addr: '192.168.8.200', port: 53 } as const;
  const web = { proto: 'tcp', addr: '192.168.8.200', port: 80 } as const;
  const tls = { proto: 'tcp', addr: '10.1.2.3', port: 443 } as const;
  r.ctl.addService({ ...udp, sched: 'rr', oneShot: true });
  r.ctl.addDest({ service: udp, addr: '192.168.8.21', port: 53, weight: 2 });
  r.ctl.addDest({ service: udp, addr: '192.168.8.20', port: 53, weight: 1 });
  r.ctl.addService({ ...web, sched: 'wrr', persist: 120, netmask: '255.255.255.0' });
  r.ctl.addDest({ service: web, addr: '192.168.8.22', port: 80, weight: 5, upper: 100, lower: 50 });
  r.ctl.addDest({ service: web, addr: '192.168.8.20', port: 80, weight: 0 });
  r.ctl.addService({ ...tls, sched: 'wlc' });
  r.ctl.addDest({ service: tls, addr: '192.168.8.23', port: 443 });
  const slot = (svc: { proto: string; addr: string; port: number }, addr: string): number => {
    for (const s of r.ctl.model.services.values()) {
      if (s.proto !== svc.proto || s.port !== svc.port) continue;
      const d = s.dests.find((x) => `${x.addr >>> 24}.${(x.addr >>> 16) & 255}.${(x.addr >>> 8) & 255}.${x.addr & 255}` === addr);
      if (d !== undefined) return d.slot;
    }
    throw new Error(`no ${addr}`);
  };
  const dt = r.dp.dt;
  const set = (k: number, v: number[]): void => {
    [dt.conns[k], dt.inPkts[k], dt.outPkts[k], dt.inBytes[k], dt.outBytes[k]] = v as [number, number, number, number, number];
  };
  const s22 = slot(web, '192.168.8.22');
  const s21 = slot(udp, '192.168.8.21');
  // --rate: the estimators started from zero totals when the servers were added; a first step
  // with nothing, then two 2-second periods with the same increments.
  r.ctl.estimate();
  const bump = (): void => {
    dt.conns[s22] += 100; dt.inPkts[s22] += 1000; dt.inBytes[s22] += 1_000_000;
    dt.conns[s21] += 1; dt.inPkts[s21] += 3; dt.inBytes[s21] += 10_000; dt.outBytes[s21] += 40;
    r.ctl.estimate();
  };
  bump();
  bump();
  // Then the totals --stats shows (the rates stay what the estimator computed).
  set(slot(web, '192.168.8.20'), [1, 2, 3, 4, 5]);
  set(s22, [123456789, 5, 0, 99999999, 100000000]);
  set(s21, [2500000000, 1e12, 0, 123456789012345, 7]);
  return r;
}

const numeric: PrintOptions = { numeric: true, ports };

test('-Ln, -L (names), --stats, --stats --exact, --rate, --thresholds, --persistent-conn: golden bytes', () => {
  const r = prepared();
  const list = r.ctl.list();
  assert.equal(formatList(list, numeric), golden('list-n.txt'));
  assert.equal(formatList(list, { numeric: false, ports, hosts: (a) => HOSTS[a] }), golden('list-names.txt'));
  assert.equal(formatList(list, { ...numeric, stats: true }), golden('stats.txt'));
  assert.equal(formatList(list, { ...numeric, stats: true, exact: true }), golden('stats-exact.txt'));
  assert.equal(formatList(list, { ...numeric, rate: true }), golden('rate.txt'));
  assert.equal(formatList(list, { ...numeric, thresholds: true }), golden('thresholds.txt'));
  assert.equal(formatList(list, { ...numeric, persistentConn: true }), golden('persistent-conn.txt'));
});

test('-S -n and --timeout: golden bytes', () => {
  const r = prepared();
  assert.equal(formatRules(r.ctl.list(), numeric), golden('save-n.txt'));
  r.ctl.call('setTimeouts', { tcp: 600, tcpfin: 0, udp: 30 });
  assert.equal(formatTimeout(r.ctl.call('timeouts', {}) as { tcp: number; tcpfin: number; udp: number }), golden('timeout.txt'));
});

test('-S -n writes a FULLNAT local address with its ports (-z ADDR:LO-HI, the default 1024-65535 as ADDR alone) and -R reads them back: -S | -R keeps the ports (before: -z ADDR, the range lost)', () => {
  const web = { proto: 'tcp', addr: '192.168.8.200', port: 80 } as const;
  const r = rig({ addrs: ['192.168.8.10/24'] });
  r.ctl.addService({ ...web, sched: 'rr' });
  r.ctl.addDest({ service: web, addr: '192.168.8.20', port: 80, fwd: 'fullnat', weight: 1 });
  r.ctl.addLaddr({ service: web, addr: '192.168.8.50' });
  r.ctl.addLaddr({ service: web, addr: '192.168.8.51', portMin: 20000, portMax: 29999 });
  const saved = formatRules(r.ctl.list(), numeric);
  assert.equal(saved, '-A -t 192.168.8.200:80 -s rr\n-a -t 192.168.8.200:80 -r 192.168.8.20:80 --fullnat -w 1\n' +
    '--add-laddr -t 192.168.8.200:80 -z 192.168.8.50\n--add-laddr -t 192.168.8.200:80 -z 192.168.8.51:20000-29999\n');
  const b = rig({ addrs: ['192.168.8.10/24'] });
  b.ctl.call('batch', { items: parseRules(saved, { ports }).calls });
  assert.equal(formatRules(b.ctl.list(), numeric), saved);
  const svc = b.ctl.list().services[0]!;
  assert.deepEqual(svc.laddrRanges, [{ addr: '192.168.8.50', portMin: 1024, portMax: 65535 }, { addr: '192.168.8.51', portMin: 20000, portMax: 29999 }]);
  // laddrs keeps its meaning (an older uvsadm reads it); a list of an older uvsd, without laddrRanges, saves bare addresses.
  assert.deepEqual(svc.laddrs, ['192.168.8.50', '192.168.8.51']);
  const { laddrRanges: _, ...older } = svc;
  assert.match(formatRules({ size: 4096, services: [older] }, numeric), /-z 192\.168\.8\.50\n.*-z 192\.168\.8\.51\n$/s);
});

test('-Lnc: connections from the live table with state and mm:ss expiry', () => {
  const r = drRig({ udp: true });
  const IN = { ethDst: DIR_MAC, ethSrc: ROUTER_MAC };
  r.run(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: 45000, dport: 80, flags: TCP_FLAGS.SYN }));
  r.run(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: 45000, dport: 80, flags: TCP_FLAGS.ACK }));
  r.run(tcpFrame(IN, { src: CLIENT, dst: VIP, sport: 45001, dport: 80, flags: TCP_FLAGS.SYN }));
  r.run(udpFrame(IN, { src: CLIENT, dst: VIP, sport: 5353, dport: 53 }));
  r.advance(1000);
  r.dp.tick();
  const res = r.ctl.call('listConns', {}) as { conns: never[]; truncated: boolean };
  assert.equal(res.truncated, false);
  assert.equal(formatConns(res.conns, numeric), golden('conns-n.txt'));
  // -Lnc --persistent-conn: ipvsadm 1.31's list_conn title with `pe name` and `pe_data`
  // ("pro expire %-11s %-18s %-18s %-18s %-16s %s"); a row without pe data (uvs has no --pe)
  // is print_conn's plain row, so only the title differs.
  const pe = golden('conns-n.txt').replace(
    'pro expire state       source             virtual            destination\n',
    'pro expire state       source             virtual            destination        pe name          pe_data\n');
  assert.notEqual(pe, golden('conns-n.txt'));
  assert.equal(formatConns(res.conns, { ...numeric, persistentConn: true }), pe);
  const capped = r.ctl.call('listConns', { max: 2 }) as { conns: unknown[]; truncated: boolean };
  assert.deepEqual([capped.conns.length, capped.truncated], [2, true]);
});

test('scheduler flags, ops and persistence on the service line; largeNum edges', () => {
  const svc: ServiceInfo = {
    proto: 'udp', addr: '10.0.0.1', port: 53, sched: 'sh', flags: ['sh-fallback', 'sh-port'], persist: 300,
    netmask: '255.255.255.255', oneShot: true, synproxy: false, laddrs: [], dests: [],
    stats: { conns: 0, inpkts: 0, outpkts: 0, inbytes: 0, outbytes: 0 }, rate: { cps: 0, inpps: 0, outpps: 0, inbps: 0, outbps: 0 },
  };
  assert.equal(formatService(svc, numeric), 'UDP  10.0.0.1:53 sh (sh-fallback,sh-port) persistent 300 ops\n');
  assert.equal(formatRules({ size: 1, services: [svc] }, numeric), '-A -u 10.0.0.1:53 -s sh -p 300 -o -b sh-fallback,sh-port\n');
  assert.deepEqual(
    [99_999_999, 100_000_000, 999_999_999, 1_000_000_000, 99_999_999_999, 100_000_000_000, 99_999_999_999_999, 100_000_000_000_000].map((n) => largeNum(n)),
    [' 99999999', '  100000K', '  999999K', '     1000M', '   99999M', '     100G', '   99999G', '     100T'].map((s) => s.slice(-9)),
  );
  assert.equal(largeNum(12345678, true), ' 12345678');
  assert.equal(largeNum(123456789, true), ' 123456789');
});

test('-f services as ipvsadm prints them: their servers\' ports stay numbers without -n (the kernel sends a mark without a protocol), and marks of 2^31 or more sort first (libipvs\'s difference as C\'s int)', () => {
  const base = {
    sched: 'rr', flags: [], persist: 0, netmask: '255.255.255.255', oneShot: false, synproxy: false, laddrs: [],
    stats: { conns: 0, inpkts: 0, outpkts: 0, inbytes: 0, outbytes: 0 }, rate: { cps: 0, inpps: 0, outpps: 0, inbps: 0, outbps: 0 },
  } as const;
  const dest = {
    addr: '192.168.8.22', port: 80, fwd: 'nat', weight: 1, upper: 0, lower: 0, active: 0, inactive: 0, persistConns: 0,
    stats: base.stats, rate: base.rate,
  } as const;
  const mark1: ServiceInfo = { ...base, proto: 'tcp', addr: '0.0.0.0', port: 0, fwmark: 1, dests: [dest] } as unknown as ServiceInfo;
  const big: ServiceInfo = { ...base, proto: 'tcp', addr: '0.0.0.0', port: 0, fwmark: 2415919104, dests: [] } as unknown as ServiceInfo;
  const web: ServiceInfo = { ...base, proto: 'tcp', addr: '192.168.8.200', port: 80, dests: [dest] } as unknown as ServiceInfo;
  const names: PrintOptions = { numeric: false, ports };
  assert.equal(formatRules({ size: 1, services: [mark1] }, names), '-A -f 1 -s rr\n-a -f 1 -r 192.168.8.22:80 -m -w 1\n');
  assert.match(formatService(mark1, names), /\n {2}-> 192\.168\.8\.22:80 /);
  // A -t service's servers are still named.
  assert.match(formatService(web, names), /\n {2}-> 192\.168\.8\.22:http /);
  // glibc's qsort with ipvs_cmp_services gives FWM 2415919104, TCP 192.168.8.200:80, FWM 1.
  const order = formatRules({ size: 3, services: [web, mark1, big] }, { numeric: true, ports }).split('\n').filter((l) => l.startsWith('-A'));
  assert.deepEqual(order, ['-A -f 2415919104 -s rr', '-A -t 192.168.8.200:80 -s rr', '-A -f 1 -s rr']);
});

test('TUN servers with their tunnels (ipvsadm 1.31): -S -n adds --tun-type (and GUE\'s port, the checksum option) to every -i line; -Ln --tun-info has the TunnelInfo column', () => {
  const r = rig({ addrs: ['192.168.8.10/24'], connMax: 4096 });
  const web = { proto: 'tcp', addr: '192.168.8.200', port: 80 } as const;
  r.ctl.addService({ ...web, sched: 'rr' });
  r.ctl.addDest({ service: web, addr: '192.168.8.23', port: 80, fwd: 'dr', weight: 1 });
  r.ctl.addDest({ service: web, addr: '192.168.8.22', port: 80, fwd: 'tun', weight: 1, tunType: 'gre' });
  r.ctl.addDest({ service: web, addr: '192.168.8.21', port: 80, fwd: 'tun', weight: 2, tunType: 'gue', tunPort: 6080, tunCsum: 'csum' });
  r.ctl.addDest({ service: web, addr: '192.168.8.20', port: 80, fwd: 'tun', weight: 1 });
  const list = r.ctl.list();
  assert.equal(formatRules(list, numeric), [
    '-A -t 192.168.8.200:80 -s rr',
    '-a -t 192.168.8.200:80 -r 192.168.8.20:80 -i -w 1 --tun-type ipip',
    '-a -t 192.168.8.200:80 -r 192.168.8.21:80 -i -w 2 --tun-type gue --tun-port 6080 --tun-csum',
    '-a -t 192.168.8.200:80 -r 192.168.8.22:80 -i -w 1 --tun-type gre --tun-nocsum',
    '-a -t 192.168.8.200:80 -r 192.168.8.23:80 -g -w 1',
    '',
  ].join('\n'));
  assert.equal(formatList(list, { ...numeric, tunInfo: true }), [
    'IP Virtual Server version 1.2.1 (size=4096)',
    'Prot LocalAddress:Port Scheduler Flags',
    '  -> RemoteAddress:Port           Forward TunnelInfo    Weight ActiveConn InActConn',
    'TCP  192.168.8.200:80 rr',
    '  -> 192.168.8.20:80              Tunnel  ipip          1      0          0         ',
    '  -> 192.168.8.21:80              Tunnel  gue:6080:+c   2      0          0         ',
    '  -> 192.168.8.22:80              Tunnel  gre:-c        1      0          0         ',
    '  -> 192.168.8.23:80              Route   n/a           1      0          0         ',
    '',
  ].join('\n'));
});

test('uvsadm --status starts with what is wrong now: `problems none`, or `problems N` and a `problem ...` line each (link down, a VIP not claimed, an ARP answerer, the state file or log failing, the table 90 % full, secure TCP, checked servers down, a quorum down, BGP not announcing); counters since start are not problems (before 2026-12-07 no summary: each was one line among ~150)', () => {
  const r = drRig();
  const st = r.ctl.status();
  st.drops = { ...st.drops, no_dest: 12, neigh_unresolved: 3 }; // history: not listed
  const head = (x: StatusResult): string[] => formatStatus(x).split('\n').filter((l) => l.startsWith('problem'));
  assert.deepEqual(head(st), ['problems none']);
  assert.equal(formatStatus(st).split('\n')[0], 'problems none', 'the first line');
  const svc = { proto: 'tcp' as const, addr: VIP, port: 80 };
  const bad: StatusResult = {
    ...st,
    link: { iface: 'uvs0', state: 'down', operstate: 'down', master: 'br0', ok: false, since: '2026-12-07T18:00:00Z' },
    unclaimed: [{ addr: '10.0.0.101', by: '02:00:00:00:00:99' }],
    stateFile: { path: '/var/lib/uvs/state.yaml', error: 'ENOSPC', failingSince: Date.now() - 5000 } as StatusResult['stateFile'],
    conns: 950, connMax: 1000,
    health: [
      { service: svc, addr: '10.0.0.11', port: 80, state: 'down', reason: 'connect refused', weight: 1, inhibit: false, since: 0 },
      { service: svc, addr: '10.0.0.12', port: 80, state: 'down', reason: 'x', weight: 1, inhibit: false, since: 0, suspended: true },
      { service: svc, addr: '10.0.0.13', port: 80, state: 'up', reason: 'x', weight: 1, inhibit: false, since: 0 },
    ],
    healthQuorum: [{ service: svc, up: false, aliveWeight: 1, quorum: 2, hysteresis: 0, sorryIn: false }],
  };
  assert.deepEqual(head(bad), [
    'problems 6',
    'problem link uvs0 down, bridge br0: frames cannot pass',
    'problem VIP 10.0.0.101 not claimed: 02:00:00:00:00:99 answered for it (re-probed every 10 s)',
    'problem state file not written: ENOSPC',
    'problem connection table 95% full (950 of 1000)',
    `problem 1 checked real server down: 10.0.0.11:80 of TCP ${VIP}:80`,
    `problem quorum down: TCP ${VIP}:80 (alive weight 1 of 2)`,
  ]);
  const more: StatusResult = {
    ...st,
    arpWatch: { lapS: 60, addrs: 2, probes: 4, answeredBy: [{ addr: VIP, mac: '02:00:00:00:01:01', server: '10.0.0.11', answers: 3 }] },
    logOutput: { dropped: 7, error: 'EPIPE', failingSince: Date.now() - 1000 },
    defense: { ...st.defense!, secureTcp: true },
    bgp: { state: 'pending', last: 'BIRD has not configured the include yet', include: '/etc/bird/uvs.conf', socket: '/run/bird/bird.ctl', nextHop: '10.0.0.1', announced: [], configures: 0, routes: null, sessions: [], established: 0 },
  };
  assert.deepEqual(head(more), [
    'problems 4',
    `problem 02:00:00:00:01:01 answers ARP for ${VIP} (real server 10.0.0.11: arp_ignore/arp_announce not set?)`,
    'problem log output failing: EPIPE (7 lines lost)',
    'problem secure TCP on (the table is filling: half-open connections expire sooner)',
    'problem bgp pending: BIRD has not configured the include yet',
  ]);
});

test('uvsadm --status: a backup\'s suspended health checks (ha_suspend) are no problem, their quorum down included (as last seen, or alpha before any check ran)', () => {
  const st = drRig().ctl.status();
  const head = (x: StatusResult): string[] => formatStatus(x).split('\n').filter((l) => l.startsWith('problem'));
  const svc = { proto: 'tcp' as const, addr: VIP, port: 80 };
  const suspended: StatusResult = {
    ...st,
    health: [{ service: svc, addr: '10.0.0.11', port: 80, state: 'down', reason: 'alpha: starts as failed', weight: 1, inhibit: false, since: 0, suspended: true }],
    healthQuorum: [{ service: svc, up: false, aliveWeight: 0, quorum: 2, hysteresis: 0, sorryIn: false, suspended: true }],
  };
  assert.deepEqual(head(suspended), ['problems none']);
});

test('uvsadm --status names the connection table a problem from 85 % full, where a flood held by --evict-above 0.9 stays, and with --workers a worker whose share is that full though the table is not', () => {
  const st = drRig().ctl.status();
  const head = (x: StatusResult): string[] => formatStatus(x).split('\n').filter((l) => l.startsWith('problem'));
  // --evict-above 0.9 (the default) holds a flooded table just under 90 %.
  assert.deepEqual(head({ ...st, conns: 899, connMax: 1000 }), ['problems 1', 'problem connection table 89% full (899 of 1000)']);
  assert.deepEqual(head({ ...st, conns: 849, connMax: 1000 }), ['problems none']);
  const worker = (n: number, conns: number): NonNullable<StatusResult['workers']>[number] => ({
    worker: n, io: 'io_uring', rx_frames: 0, tx_frames: 0, fwd_packets: 0, fwd_out_packets: 0, conns, handoff_out: 0, handoff_in: 0, conn_max: 500, secure_tcp: false,
  });
  // One worker of two full: the sum reads 45 %.
  assert.deepEqual(head({ ...st, conns: 450, connMax: 1000, workers: [worker(0, 0), worker(1, 450)] }), [
    'problems 1',
    "problem connection table: worker 1's share 90% full (450 of 500; the table at 45%)",
  ]);
  assert.deepEqual(head({ ...st, conns: 400, connMax: 1000, workers: [worker(0, 200), worker(1, 200)] }), ['problems none']);
});
