// test-class: lab
// The Prometheus alerting rules shipped in contrib/prometheus (docs/metrics.md, "Alerts"):
// promtool accepts them, their own promtool unit tests pass (each alert fires on the series it is
// for and not on healthy ones), and every series they read is one uvsd exports, so renaming a
// metric cannot leave a rule that silently never fires.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { repoRoot } from './lab/dr-lab.js';
import { drRig } from './helpers/harness.js';
import { createMetrics } from '../src/metrics/collectors.js';
import { promtool } from './helpers/prom.js';

const DIR = join(repoRoot, 'contrib/prometheus');
const RULES = join(DIR, 'uvs-alerts.yml');

test('promtool check rules accepts contrib/prometheus/uvs-alerts.yml', () => {
  const r = promtool(['check', 'rules', RULES], { cwd: DIR });
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /SUCCESS: 26 rules found/);
});

test('promtool test rules: every alert fires on the series it is for, with its labels and texts, and not on healthy ones', () => {
  const r = promtool(['test', 'rules', 'uvs-alerts.test.yml'], { cwd: DIR });
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /SUCCESS/);
  // Each alert has a test that expects it to fire.
  const tests = readFileSync(join(DIR, 'uvs-alerts.test.yml'), 'utf8');
  for (const [, name] of readFileSync(RULES, 'utf8').matchAll(/^\s+- alert: (\w+)$/gm)) {
    assert.match(tests, new RegExp(`alertname: ${name}\\n\\s+exp_alerts:\\n\\s+- exp_labels`), `no test where ${name} fires`);
  }
});

test('the alerts read only series uvsd exports (a renamed metric fails here)', async () => {
  const r = drRig({ udp: true });
  const m = createMetrics(r.dp, {
    link: () => ({ iface: 'uvs0', state: 'up', operstate: 'up', master: 'br0', ok: true, since: '' }),
    portDrops: () => ({ queue_full: 0 }),
    // uvsd --workers (UvsConnTableNearlyFull reads each worker's fill).
    workers: () => [{ worker: 0, io: 'syscalls', rx_frames: 0, tx_frames: 0, fwd_packets: 0, fwd_out_packets: 0, conns: 0, handoff_out: 0, handoff_in: 0, conn_max: 512, secure_tcp: false }],
    // uvsd with health checks (their global series: the check slots, the checks that could not run).
    health: { stateOf: () => 'unchecked', entries: () => [], queue: () => ({ waiting: 0, inFlight: 0, slots: 64, processes: 0, processSlots: 64, lateMaxMs: 0 }), notRunTotal: 0 },
    sync: { sent: 0, received: 0, lost: 0, authFailed: 0, otherSyncid: 0, fromMaster: 0, replayed: 0, old: 0 },
    bgp: () => ({
      status: { include: '/etc/bird/uvs-vips.conf', socket: '/run/bird/bird.ctl', nextHop: '192.168.8.21', announced: [], state: 'ok', last: '', configures: 1, routes: 0, sessions: [], established: 0 },
      draining: false,
    }),
  });
  const exported = new Set([...(await m.text()).matchAll(/^# TYPE (\S+) /gm)].map((x) => x[1]!));
  // The rules as YAML (a line-based match missed the lines of an `expr: >-` block).
  const rules = (parse(readFileSync(RULES, 'utf8')) as { groups: { rules: { alert: string; expr: string }[] }[] }).groups.flatMap((g) => g.rules);
  const read = new Set<string>();
  for (const { expr } of rules) {
    for (const [name] of expr.matchAll(/\b(uvs|node_ipvs|process)_[a-z_]+\b/g)) read.add(name);
  }
  assert.ok(read.size >= 12, [...read].join(' '));
  // UvsAddressConflict's expression spans lines.
  assert.ok(read.has('uvs_arp_conflicts_total'), [...read].join(' '));
  for (const name of read) assert.ok(exported.has(name), `${name} is read by an alert but not exported`);
});
