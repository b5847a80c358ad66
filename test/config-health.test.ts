// test-class: shared
// Health checks in the YAML config file (src/control/config-health.ts) driven by the real health
// manager on a fake clock and the real control verbs on an in-process datapath: the checkers a
// file gives, file:line errors that change nothing, reloads that start / stop / restart checkers
// without disturbing unchanged servers (a failed server stays failed and out of the table),
// --dump-config round trips, keepalived.conf reloaded through the same path, and the manager's
// table changes of one decision going through one batch.
import { test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { ConfigManager, parseConfig, sorryEntry } from '../src/control/config.js';
import { formatList, formatRules } from '../src/control/printers.js';
import { parseRules } from '../src/control/ipvsadm.js';
import type { ListResult } from '../src/control/protocol.js';
import { HealthManager } from '../src/health/manager.js';
import { withHealth } from '../src/health/report.js';
import { loadKeepalivedFile } from '../src/health/load.js';
import { lookupScriptUser, scriptInsecurity } from '../src/health/exec.js';
import type { CheckResult, CheckSpec, HttpCheck, VirtualServerSpec } from '../src/health/types.js';
import { rig, type Rig } from './helpers/harness.js';
import { FakeClock } from './helpers/fake-clock.js';
import { configError } from './helpers/config-error.js';
import { serverHealthBefore, serviceHealthBefore } from './helpers/health-dump-before.js';
import { serverHealthInto, serviceHealthInto } from '../src/control/config-health.js';
import { DumpBytes, type ByteOut } from '../src/control/dump-bytes.js';

const S = 1000;
const N = { numeric: true };
const [A, B, C, D] = ['192.168.8.20', '192.168.8.21', '192.168.8.22', '192.168.8.23'];

interface World {
  r: Rig;
  clock: FakeClock;
  mgr: HealthManager;
  cm: ConfigManager;
  /** Every check attempt: "t addr type [path]". */
  attempts: string[];
  /** Verbs the manager called, batches as "batch(v1,v2)". */
  calls: string[];
  /** A check of this addr (and, for HTTP_GET / SSL_GET, this path) fails while listed. */
  failing: Set<string>;
  table(): string[];
  health(): string[];
  /** What the health manager warned about (the messages). */
  warned: string[];
  /** The notify and quorum commands run (their lines). */
  execs: string[];
}

function world(opts: { keepalived?: string; file?: string; procStatus?: () => string; drainTimeout?: number } = {}): World {
  const r = rig({ addrs: ['192.168.8.10/24'] });
  const clock = new FakeClock();
  const attempts: string[] = [];
  const calls: string[] = [];
  const failing = new Set<string>();
  const warned: string[] = [];
  const execs: string[] = [];
  const mgr = new HealthManager(undefined, {
    call: (verb, args) => {
      const a = args as { items?: Array<{ verb: string }> };
      calls.push(verb === 'batch' ? `batch(${a.items!.map((i) => i.verb).join(',')})` : verb);
      return r.ctl.call(verb, args);
    },
    run: (spec: CheckSpec, t) => {
      const path = spec.type === 'HTTP_GET' || spec.type === 'SSL_GET' ? spec.urls[0]!.path : '';
      attempts.push(`${clock.t / S} ${t.addr} ${spec.type}${path ? ` ${path}` : ''}`);
      const bad = failing.has(t.addr) || (path !== '' && failing.has(`${t.addr} ${path}`));
      return Promise.resolve<CheckResult>(bad ? { ok: false, reason: 'connect ECONNREFUSED' } : { ok: true, reason: 'ok' });
    },
    exec: ({ command }) => {
      execs.push(command);
      return Promise.resolve();
    },
    log: { info: () => {}, warn: (_o, msg) => warned.push(msg) },
    clock,
    random: () => 0,
    procStatus: opts.procStatus,
  });
  const cm = new ConfigManager(r.ctl, opts.file, { drainTimeout: opts.drainTimeout ?? 0 }, {
    health: mgr,
    keepalived: opts.keepalived,
    loadKeepalived: (f) => {
      const k = loadKeepalivedFile(f);
      return { services: k.config.services, warnings: k.warnings };
    },
  });
  r.ctl.config = cm;
  return {
    r, clock, mgr, cm, attempts, calls, failing, warned, execs,
    table: () => r.ctl.list().services.flatMap((s) => s.dests.map((d) => `${s.port} ${d.addr}/${d.weight}`)),
    health: () => (withHealth('list', r.ctl.list(), mgr) as ListResult).services.flatMap((s) => s.dests.map((d) => `${d.addr} ${d.health}`)),
  };
}

const FULL = `daemon:
  drain-timeout: 0
services:
  - proto: tcp
    address: 192.168.8.200
    port: 80
    scheduler: rr
    health:
      delay-loop: 10
      retry: 0
      sorry-server: { address: 192.168.8.40 }
      quorum: 2
      hysteresis: 1
      quorum-up: /bin/q up
      quorum-down: /bin/q down
      omega: true
      checks:
        - type: http_get
          connect-timeout: 2
          url:
            - { path: /health, status-code: [200, "301-302"], digest: 0123456789ABCDEF0123456789abcdef }
    servers:
      - { address: 192.168.8.20, weight: 3 }
      - address: 192.168.8.21
        health:
          inhibit-on-failure: true
          delay-loop: 4
          notify-down: /bin/notify down
          checks:
            - { type: tcp, connect-port: 8080, rise: 2, fall: 3 }
            - { type: misc, misc-path: "/usr/local/bin/check 21", misc-timeout: 3, misc-dynamic: true }
      - address: 192.168.8.22
        health: { checks: [] }
  - proto: udp
    address: 192.168.8.200
    port: 53
    servers:
      - address: 192.168.8.23
        health:
          checks:
            - { type: udp, payload: "0001", require-reply: "00", delay-loop: 5, bindto: 192.168.8.9 }
            - { type: ping, delay-before-retry: 0.5 }
`;

const strip = (v: VirtualServerSpec | undefined): unknown => JSON.parse(JSON.stringify(v, (k, x: unknown) => (k === 'origin' ? undefined : x)));

test('a config with health checks loads: the checkers and parameters it gives, inherited service -> server -> check', async () => {
  const cfg = parseConfig(FULL, 'f.yaml');
  const tcp = cfg.services[0]!.health!;
  assert.deepEqual([tcp.quorum, tcp.hysteresis, tcp.quorumUp, tcp.quorumDown, tcp.omega, tcp.alpha, tcp.sorryServer], [2, 1, { command: '/bin/q up' }, { command: '/bin/q down' }, true, false, { addr: '192.168.8.40', port: 80, origin: { file: 'f.yaml', line: 11 } }]);
  const [ra, rb, rc] = tcp.realServers;
  assert.deepEqual(ra!.checkers.map((c) => [c.type, c.delayLoopMs, c.connectTimeoutMs, c.retry, c.delayBeforeRetryMs, c.origin?.line]), [['HTTP_GET', 10 * S, 2 * S, 0, 3 * S, 18]]);
  assert.deepEqual((ra!.checkers[0] as HttpCheck).urls, [{ path: '/health', status: [[200, 200], [301, 302]], digest: '0123456789abcdef0123456789abcdef' }]);
  assert.equal(ra!.weight, 3);
  assert.deepEqual([rb!.inhibitOnFailure, rb!.notifyDown], [true, { command: '/bin/notify down' }]);
  assert.deepEqual(rb!.checkers.map((c) => [c.type, c.delayLoopMs, c.retry, c.rise, c.fall, c.connectPort]), [['TCP_CHECK', 4 * S, 0, 2, 3, 8080], ['MISC_CHECK', 4 * S, 0, 1, 1, undefined]]);
  assert.deepEqual(rb!.checkers[1], { ...rb!.checkers[1], command: '/usr/local/bin/check 21', timeoutMs: 3 * S, dynamic: true });
  assert.deepEqual(rc!.checkers, [], 'checks: [] at a server: no checks (the service default does not apply)');
  const udp = cfg.services[1]!.health!.realServers[0]!.checkers;
  assert.deepEqual(udp.map((c) => [c.type, c.delayLoopMs, c.delayBeforeRetryMs, c.bindto]), [['UDP_CHECK', 5 * S, 1 * S, '192.168.8.9'], ['PING_CHECK', 60 * S, 0.5 * S, undefined]]);
  assert.deepEqual(udp[0], { ...udp[0], payload: Buffer.from('0001', 'hex'), requireReply: true, replyPrefix: Buffer.from('00', 'hex') });

  const w = world();
  w.cm.apply(cfg, false);
  await w.mgr.start();
  assert.deepEqual(w.health(), [`${A} up`, `${B} up`, `${C} unchecked`, `${D} up`]);
  await w.clock.advance(0);
  assert.deepEqual(w.attempts.sort(), [`0 ${A} HTTP_GET /health`, `0 ${B} MISC_CHECK`, `0 ${B} TCP_CHECK`, `0 ${D} PING_CHECK`, `0 ${D} UDP_CHECK`]);
  await w.mgr.stop();
});

test('a bad checker field: file:line and field, and nothing changes (table, checkers, their schedule)', async () => {
  const w = world();
  w.cm.apply(parseConfig(FULL, 'f.yaml'), false);
  await w.mgr.start();
  await w.clock.advance(1 * S);
  const before = { rules: formatRules(w.r.ctl.list(), N), entries: JSON.stringify(w.mgr.entries()), attempts: w.attempts.length };
  const cases: Array<[string, string]> = [
    [FULL.replace('type: http_get', 'type: htp_get'), 'f.yaml:18: services[0].health.checks[0].type: must be one of tcp, http_get, ssl_get, udp, ping, misc, dns, smtp, file, bfd, got "htp_get"'],
    [FULL.replace('connect-port: 8080', 'connect-port: 0'), 'f.yaml:30: services[0].servers[1].health.checks[0].connect-port: must be an integer 1..65535, got 0'],
    [FULL.replace('connect-timeout: 2', 'connect-timeout: -1'), 'f.yaml:19: services[0].health.checks[0].connect-timeout: must be a number of seconds 0.001..31536000 (365 days), got -1'],
    // Over a year: the message gives the upper end too (it said ">= 0.001, got 100000000").
    [FULL.replace('connect-timeout: 2', 'connect-timeout: 100000000'), 'f.yaml:19: services[0].health.checks[0].connect-timeout: must be a number of seconds 0.001..31536000 (365 days), got 100000000'],
    [FULL.replace('misc-path: "/usr/local/bin/check 21", ', ''), 'f.yaml:31: services[0].servers[1].health.checks[1].misc-path: missing: misc checks need misc-path'],
    [FULL.replace('{ type: ping,', '{ type: ping, url: [{ path: / }],'), 'f.yaml:42: services[1].servers[0].health.checks[1].url: not a field of ping checks (known: type, delay-loop, connect-timeout, retry, delay-before-retry, rise, fall, warmup, connect-ip, connect-port, bindto, log-all-failures)'],
    [FULL.replace('digest: 0123456789ABCDEF0123456789abcdef', 'digest: xyz'), 'f.yaml:21: services[0].health.checks[0].url[0].digest: must be an MD5 digest (32 hex digits), got "xyz"'],
    [FULL.replace('"301-302"', '"302-301"'), 'f.yaml:21: services[0].health.checks[0].url[0].status-code[1]: must be a status or a range like 301-302 (100-599), got "302-301"'],
    [FULL.replace('delay-loop: 4', 'delay-lop: 4'), 'f.yaml:27: services[0].servers[1].health.delay-lop: unknown field (known: delay-loop, connect-timeout, retry, delay-before-retry, rise, fall, warmup, inhibit-on-failure, virtualhost, checks, notify-up, notify-down, alpha)'],
    [FULL.replace('sorry-server: { address: 192.168.8.40 }', 'sorry-server: { address: 192.168.8.20, inhibit: true }'),
      'f.yaml:11: services[0].health.sorry-server.inhibit: 192.168.8.20:80 is also one of the service\'s servers: its inhibit is that server\'s inhibit-on-failure (false)'],
    [FULL.replace('quorum: 2', 'quorum: 0'), 'f.yaml:12: services[0].health.quorum: must be an integer 1..2147483647, got 0'],
  ];
  for (const [text, want] of cases) {
    assert.equal(configError(() => w.cm.apply(parseConfig(text, 'f.yaml'), false)), want);
  }
  // A file whose checks are fine but whose table is refused changes no checker either.
  const refused = FULL.replace('{ type: tcp, connect-port: 8080', '{ type: ping').replace('scheduler: rr', 'scheduler: nosuch');
  assert.match(configError(() => w.cm.apply(parseConfig(refused, 'f.yaml'), false)), /^f\.yaml:4: edit service TCP 192\.168\.8\.200:80: scheduler rr -> nosuch: Scheduler/);
  assert.equal(formatRules(w.r.ctl.list(), N), before.rules);
  assert.equal(JSON.stringify(w.mgr.entries()), before.entries);
  assert.equal(w.attempts.length, before.attempts);
  await w.clock.advance(3 * S); // t=4: B's checkers (delay-loop 4) run again, still TCP_CHECK
  assert.deepEqual(w.attempts.slice(before.attempts).sort(), [`4 ${B} MISC_CHECK`, `4 ${B} TCP_CHECK`]);
  await w.mgr.stop();
});

const svc = (servers: string, health = '    health: { delay-loop: 10, retry: 0, checks: [{ type: http_get, url: { path: /health } }] }\n') => `services:
  - proto: tcp
    address: 192.168.8.200
    port: 80
    scheduler: rr
${health}    servers:
${servers}`;

test('reload: new checks start, removed ones stop, changed ones restart; an unchanged failed server stays failed and out of the table', async () => {
  const w = world();
  const v1 = svc(`      - { address: ${A} }\n      - { address: ${B}, health: { checks: [{ type: tcp }] } }\n      - { address: ${C}, health: { checks: [] } }\n`);
  w.cm.apply(parseConfig(v1, 'f.yaml'), false);
  await w.mgr.start();
  await w.clock.advance(0); // t=0 all pass
  w.failing.add(B);
  await w.clock.advance(10 * S); // t=10 B fails: out
  assert.deepEqual(w.table(), [`80 ${A}/1`, `80 ${C}/1`]);
  assert.equal(w.mgr.stateOf({ proto: 'tcp', addr: '192.168.8.200', port: 80 }, B, 80), 'down');

  // A's path changes, B untouched, C gets a check, D is new.
  const v2 = svc(`      - { address: ${A}, health: { checks: [{ type: http_get, url: { path: /ready } }] } }\n      - { address: ${B}, health: { checks: [{ type: tcp }] } }\n` +
    `      - { address: ${C}, health: { checks: [{ type: tcp }] } }\n      - { address: ${D}, health: { checks: [{ type: tcp }] } }\n`);
  const n = w.attempts.length;
  const dry = w.cm.apply(parseConfig(v2, 'f.yaml'), true);
  assert.deepEqual(dry, [
    `add server TCP 192.168.8.200:80 -> ${D}:80 weight 1`,
    `restart checks on server TCP 192.168.8.200:80 -> ${A}:80: HTTP_GET`,
    `start checks on server TCP 192.168.8.200:80 -> ${C}:80: TCP_CHECK`,
    `start checks on server TCP 192.168.8.200:80 -> ${D}:80: TCP_CHECK`,
  ], 'B is not mentioned: its checker did not change');
  assert.deepEqual(w.table(), [`80 ${A}/1`, `80 ${C}/1`], 'dry run changed nothing');
  assert.deepEqual(w.cm.apply(parseConfig(v2, 'f.yaml'), false), dry);
  assert.deepEqual(w.table(), [`80 ${A}/1`, `80 ${C}/1`, `80 ${D}/1`], 'B, still failed, was not added back');
  assert.equal(w.mgr.stateOf({ proto: 'tcp', addr: '192.168.8.200', port: 80 }, B, 80), 'down');
  assert.equal(w.mgr.entries().find((e) => e.addr === B)!.reason, 'TCP_CHECK: connect ECONNREFUSED');
  await w.clock.advance(0); // the new and restarted checkers run at once (random 0); B keeps its schedule (t=20)
  assert.deepEqual(w.attempts.slice(n).sort(), [`10 ${A} HTTP_GET /ready`, `10 ${C} TCP_CHECK`, `10 ${D} TCP_CHECK`]);
  // The restarted checker is the one with the new path: failing /ready takes A out.
  w.failing.add(`${A} /ready`);
  await w.clock.advance(10 * S); // t=20
  assert.deepEqual(w.table(), [`80 ${C}/1`, `80 ${D}/1`]);
  assert.ok(!w.attempts.some((x) => x.includes('/health') && Number(x.split(' ')[0]) > 10), 'the old /health checker stopped');
  assert.deepEqual(w.cm.apply(parseConfig(v2, 'f.yaml'), true), [], 'the same file again: nothing to do');

  // B's checks removed: an unchecked server is alive, so it is added back; D removed from the file.
  const v3 = svc(`      - { address: ${A}, health: { checks: [{ type: http_get, url: { path: /ready } }] } }\n      - { address: ${B}, health: { checks: [] } }\n` +
    `      - { address: ${C}, health: { checks: [{ type: tcp }] } }\n`);
  assert.deepEqual(w.cm.apply(parseConfig(v3, 'f.yaml'), false), [
    `add server TCP 192.168.8.200:80 -> ${B}:80 weight 1`,
    `remove server TCP 192.168.8.200:80 -> ${D}:80`,
    `stop checks on server TCP 192.168.8.200:80 -> ${B}:80`,
    `stop checks on server TCP 192.168.8.200:80 -> ${D}:80`,
  ]);
  assert.deepEqual(w.table(), [`80 ${C}/1`, `80 ${B}/1`]);
  assert.equal(w.mgr.stateOf({ proto: 'tcp', addr: '192.168.8.200', port: 80 }, B, 80), 'unchecked');
  const m = w.attempts.length;
  await w.clock.advance(30 * S);
  assert.ok(!w.attempts.slice(m).some((x) => x.includes(` ${B} `) || x.includes(` ${D} `)), `stopped checkers ran: ${w.attempts.slice(m).join('; ')}`);
  assert.ok(w.attempts.slice(m).some((x) => x.includes(` ${C} `)), 'the others go on');
  await w.mgr.stop();
});

test('a health change the table refuses (its service deleted by hand: uvsadm -C, a check, uvsadm -R) is tried again at the next check, as keepalived does; the server ends as its checks say (before: lost for good, the table against the checks)', async () => {
  const w = world();
  w.cm.apply(parseConfig(svc(`      - { address: ${A}, weight: 2 }\n      - { address: ${B}, weight: 3 }\n`, '    health: { delay-loop: 10, retry: 0, checks: [{ type: tcp }] }\n'), 'f.yaml'), false);
  await w.mgr.start();
  await w.clock.advance(0); // t=0 both pass
  const cycle = async (): Promise<void> => {
    const rules = formatRules(w.r.ctl.list(), N); // uvsadm -S -n
    w.r.ctl.call('clear', {}); // uvsadm -C
    await w.clock.advance(10 * S); // a check round: the manager's change is refused (no such service)
    w.r.ctl.call('batch', { items: parseRules(rules).calls }); // uvsadm -R
  };
  w.failing.add(A);
  await cycle();
  assert.deepEqual(w.table(), [`80 ${A}/2`, `80 ${B}/3`], 'restored as saved');
  assert.equal(w.mgr.entries().find((e) => e.addr === A)!.state, 'up', 'the refused change did not happen');
  assert.ok(w.warned.some((m) => m.startsWith('health: real server down not applied (the table refused it)')), w.warned.join('; '));
  await w.clock.advance(10 * S); // the next check: A out
  assert.deepEqual(w.table(), [`80 ${B}/3`]);
  assert.equal(w.mgr.entries().find((e) => e.addr === A)!.state, 'down');
  w.failing.delete(A);
  await cycle();
  assert.deepEqual(w.table(), [`80 ${B}/3`]);
  await w.clock.advance(10 * S); // the next check: A back
  assert.deepEqual(w.table(), [`80 ${B}/3`, `80 ${A}/2`]);
  assert.equal(w.mgr.entries().find((e) => e.addr === A)!.state, 'up');
  await w.mgr.stop();
});

test('reload: a new weight for a server that is down (removed, or inhibited at 0) is listed by --dry-run and by the reload, and applies once it passes', async () => {
  const w = world();
  const servers = (wb: number, wc: number) => `      - { address: ${A} }\n      - { address: ${B}, weight: ${wb} }\n` +
    `      - { address: ${C}, weight: ${wc}, health: { inhibit-on-failure: true } }\n`;
  w.cm.apply(parseConfig(svc(servers(2, 3)), 'f.yaml'), false);
  await w.mgr.start();
  await w.clock.advance(0);
  w.failing.add(B);
  w.failing.add(C);
  await w.clock.advance(10 * S); // B out of the table, C at weight 0
  assert.deepEqual(w.table(), [`80 ${A}/1`, `80 ${C}/0`]);
  const next = parseConfig(svc(servers(5, 7)), 'f.yaml');
  const want = [
    `re-weight server TCP 192.168.8.200:80 -> ${B}:80: configured weight 2 -> 5 (health check failed: applies when it passes)`,
    `re-weight server TCP 192.168.8.200:80 -> ${C}:80: configured weight 3 -> 7 (health check failed: applies when it passes)`,
  ];
  assert.deepEqual(w.cm.apply(next, true), want);
  assert.deepEqual(w.cm.apply(next, false), want);
  assert.deepEqual(w.table(), [`80 ${A}/1`, `80 ${C}/0`], 'down servers stay down');
  assert.deepEqual(w.cm.apply(next, true), [], 'the same file again: nothing to do');
  w.failing.clear();
  await w.clock.advance(10 * S);
  assert.deepEqual(w.table(), [`80 ${A}/1`, `80 ${C}/7`, `80 ${B}/5`], 'back with the new weights');
  await w.mgr.stop();
});

test('reload: a changed sorry server replaces the one in use at once; the manager changes the table in one batch per decision', async () => {
  const w = world();
  const cfg = (sorry: string) => svc(`      - { address: ${A} }\n      - { address: ${B} }\n`,
    `    health: { delay-loop: 10, retry: 0, sorry-server: { address: ${sorry} }, checks: [{ type: tcp }] }\n`);
  w.cm.apply(parseConfig(cfg('192.168.8.40'), 'f.yaml'), false);
  await w.mgr.start();
  await w.clock.advance(0);
  w.failing.add(A);
  await w.clock.advance(10 * S);
  w.failing.add(B);
  await w.clock.advance(10 * S);
  assert.deepEqual(w.table(), ['80 192.168.8.40/1']);
  assert.deepEqual(w.calls, ['deleteDest', 'batch(deleteDest,addDest)'], 'the last server out and the sorry server in: one batch');
  assert.deepEqual(w.cm.apply(parseConfig(cfg('192.168.8.41'), 'f.yaml'), false), [
    'add sorry server TCP 192.168.8.200:80 -> 192.168.8.41:80 (quorum lost)',
    'remove sorry server TCP 192.168.8.200:80 -> 192.168.8.40:80',
    'edit health of service TCP 192.168.8.200:80: sorryServer 192.168.8.40:80 -> 192.168.8.41:80',
  ]);
  assert.deepEqual(w.table(), ['80 192.168.8.41/1']);
  w.failing.delete(B);
  await w.clock.advance(10 * S);
  assert.deepEqual(w.table(), [`80 ${B}/1`], 'quorum back: the new sorry server leaves');
  await w.mgr.stop();
});

test('reload: a removed server that becomes the sorry server while it drains (weight 0 until its drain-timeout) takes the traffic at weight 1 when the quorum is lost, after the reload or at it, and is not deleted by the drain\'s end (before: left at 0 while "sorry in", then deleted: every request refused)', async () => {
  for (const lostFirst of [false, true]) {
    const w = world({ drainTimeout: 0.2 }); // the drain's timer is a real one
    const cfg = (servers: string[], health: string) => (svc(servers.map((x) => `      - { address: ${x} }\n`).join(''),
      `    health: { delay-loop: 10, retry: 0, checks: [{ type: tcp }]${health} }\n`));
    w.cm.apply(parseConfig(cfg([A, B, C], ''), 'f.yaml'), false);
    await w.mgr.start();
    await w.clock.advance(0);
    if (lostFirst) {
      w.failing.add(A);
      w.failing.add(B);
      await w.clock.advance(10 * S);
    }
    // C leaves the servers (drained: weight 0 for 0.2 s) and is the sorry server from now on.
    w.cm.apply(parseConfig(cfg([A, B], `, quorum: 2, sorry-server: { address: ${C} }`), 'f.yaml'), false);
    if (!lostFirst) {
      assert.deepEqual(w.table(), [`80 ${A}/1`, `80 ${B}/1`, `80 ${C}/0`], 'C draining');
      w.failing.add(A);
      await w.clock.advance(10 * S);
    }
    assert.deepEqual(w.table(), [`80 ${C}/1`], `quorum lost ${lostFirst ? 'before' : 'after'} the reload: the sorry server has the traffic`);
    assert.deepEqual(w.mgr.quorum().map((q) => q.sorryIn), [true]);
    await delay(300); // the drain's end
    assert.deepEqual(w.table(), [`80 ${C}/1`], 'the drain\'s end leaves the sorry server in');
    w.failing.clear();
    await w.clock.advance(10 * S);
    assert.deepEqual(w.table(), [`80 ${A}/1`, `80 ${B}/1`], 'quorum back: the sorry server leaves');
    await w.mgr.stop();
  }
});

test('reload with a sorry server that is also one of the servers (keepalived\'s s_svr_duplicates_rs; refused until 2026-12-05): one destination, at weight 1 while the quorum is lost, the server\'s weight when it is back; the dump writes it as configured', async () => {
  const w = world();
  const cfg = (quorum: number) => svc(`      - { address: ${A}, weight: 3 }\n      - { address: ${B}, weight: 2 }\n`,
    `    health: { delay-loop: 10, retry: 0, quorum: ${quorum}, sorry-server: { address: ${A} }, checks: [{ type: tcp }] }\n`);
  w.cm.apply(parseConfig(cfg(5), 'f.yaml'), false);
  await w.mgr.start();
  await w.clock.advance(0);
  assert.deepEqual(w.table(), [`80 ${A}/3`, `80 ${B}/2`]);
  // A quorum the alive servers no longer reach: B leaves, A is the sorry server (edited, not added twice).
  assert.deepEqual(w.cm.apply(parseConfig(cfg(6), 'f.yaml'), false), [
    `remove server TCP 192.168.8.200:80 -> ${B}:80 (health check failed)`,
    `restore sorry server TCP 192.168.8.200:80 -> ${A}:80: weight 3 -> 1 (quorum lost)`,
    'edit health of service TCP 192.168.8.200:80: quorum 5 -> 6',
  ]);
  assert.deepEqual(w.table(), [`80 ${A}/1`]);
  assert.equal(w.cm.apply(parseConfig(cfg(6), 'f.yaml'), false).length, 0, 'the same file again changes nothing');
  const again = parseConfig(w.cm.dump(), 'dump.yaml');
  assert.deepEqual(again.services[0]!.dests.map((d) => `${d.addr}/${d.weight}`), [`${A}/3`, `${B}/2`], 'dumped as configured');
  // The quorum back: A is the real server again, at its weight, and B returns.
  w.cm.apply(parseConfig(cfg(5), 'f.yaml'), false);
  assert.deepEqual(w.table(), [`80 ${A}/3`, `80 ${B}/2`]);
  // Lost by the checks, and regained.
  w.failing.add(B);
  await w.clock.advance(10 * S);
  assert.deepEqual(w.table(), [`80 ${A}/1`]);
  w.failing.delete(B);
  await w.clock.advance(10 * S);
  assert.deepEqual(w.table(), [`80 ${A}/3`, `80 ${B}/2`]);
  await w.mgr.stop();
});

test('--dump-config writes checks back: failed servers with their configured weight, the sorry server in health; loads back the same', async () => {
  const w = world();
  w.cm.apply(parseConfig(FULL, 'f.yaml'), false);
  await w.mgr.start();
  await w.clock.advance(0);
  w.failing.add(A);
  await w.clock.advance(10 * S);
  assert.ok(!w.table().some((x) => x.includes(A)), 'A failed and left the table');
  const dumped = w.cm.dump();
  // The fast writer (src/control/yaml-out.ts) writes what the yaml library writes for the same data.
  const [header, ...body] = dumped.split('\n');
  assert.equal(body.join('\n'), stringify(parse(dumped), { lineWidth: 0 }), header);
  const again = parseConfig(dumped, 'dump.yaml');
  const orig = parseConfig(FULL, 'f.yaml');
  assert.deepEqual(again.services.map((s) => strip(s.health)), orig.services.map((s) => strip(s.health)));
  assert.deepEqual(again.services.map((s) => s.dests), orig.services.map((s) => s.dests));
  // And into a fresh uvsd: the same table and checks.
  const fresh = world();
  fresh.cm.apply(again, false);
  assert.equal(formatRules(fresh.r.ctl.list(), N), formatRules(parseThen(orig), N));
  await w.mgr.stop();
});

/** The table a config gives on a fresh datapath with nothing failed. */
function parseThen(cfg: ReturnType<typeof parseConfig>): ListResult {
  const w = world();
  w.cm.apply(cfg, false);
  return w.r.ctl.list();
}

/** Servers A and B on port 80, each with a TCP_CHECK that fails at once (retry 0). */
const AB_TCP = `  real_server ${A} 80 {\n    TCP_CHECK { retry 0 }\n  }\n  real_server ${B} 80 {\n    TCP_CHECK { retry 0 }\n  }\n`;

/** A world whose table comes from this keepalived.conf (in a directory removed after fn); fn loads it (w.cm.reload). */
async function withKeepalived(text: string, fn: (w: World, file: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'uvs-kh-'));
  try {
    const file = join(dir, 'keepalived.conf');
    writeFileSync(file, text);
    await fn(world({ keepalived: file }), file);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('keepalived.conf through the config manager: one batch at import (all or nothing), reloaded with the same diff semantics', async () => {
  const vs = (path: string, extra = '') => `virtual_server 192.168.8.200 80 {
  lb_algo rr
  lb_kind DR
  protocol TCP
  delay_loop 10
  real_server ${A} 80 {
    HTTP_GET {
      url { path ${path} }
      retry 0
    }
  }
  real_server ${B} 80 {
    weight 2
    TCP_CHECK { retry 0 }
  }
}
${extra}`;
  await withKeepalived(vs('/'), async (w, file) => {
    assert.deepEqual(w.cm.reload(false), [
      'add service TCP 192.168.8.200:80 (rr)', `add server TCP 192.168.8.200:80 -> ${A}:80 weight 1`, `add server TCP 192.168.8.200:80 -> ${B}:80 weight 2`,
      `start checks on server TCP 192.168.8.200:80 -> ${A}:80: HTTP_GET`, `start checks on server TCP 192.168.8.200:80 -> ${B}:80: TCP_CHECK`,
    ]);
    await w.mgr.start();
    await w.clock.advance(0);
    w.failing.add(B);
    await w.clock.advance(10 * S);
    assert.deepEqual(w.table(), [`80 ${A}/1`]);
    const before = formatRules(w.r.ctl.list(), N);
    // A second virtual server the table refuses: nothing of the file is applied.
    writeFileSync(file, vs('/health', `virtual_server 192.168.8.200 81 {\n  protocol TCP\n  real_server 192.168.8.200 81 {\n  }\n}\n`));
    assert.equal(configError(() => w.cm.reload(false)), `${file}:19: add server TCP 192.168.8.200:81 -> 192.168.8.200:81 weight 1: ` +
      'Address already used in the table in another role: real server 192.168.8.200 is a virtual address (TCP 192.168.8.200:80)');
    assert.equal(formatRules(w.r.ctl.list(), N), before);
    writeFileSync(file, vs('/health'));
    assert.deepEqual(w.cm.reload(true), [`restart checks on server TCP 192.168.8.200:80 -> ${A}:80: HTTP_GET`]);
    w.cm.reload(false);
    const n = w.attempts.length;
    await w.clock.advance(0);
    assert.deepEqual(w.attempts.slice(n), [`10 ${A} HTTP_GET /health`]);
    assert.deepEqual(w.table(), [`80 ${A}/1`], 'B, failed and unchanged, stays out');
    // A syntax error on reload: file:line, nothing changes.
    writeFileSync(file, vs('/health').replace('protocol TCP', 'protocol SOMETIMES'));
    assert.equal(configError(() => w.cm.reload(false)), `${file}:4: protocol: "SOMETIMES" is not TCP, UDP or SCTP`);
    assert.deepEqual(w.table(), [`80 ${A}/1`]);
    await w.mgr.stop();
  });
});

test('keepalived.conf lb_kind FNAT: the service\'s local addresses come from its local_address_group (uvsadm -S prints --add-laddr lines); a reload that changes the group adds and deletes LIPs', async () => {
  const conf = (lips: string) => `local_address_group g1 {\n${lips}}\nvirtual_server 192.168.8.200 80 {\n  lb_algo rr\n  protocol TCP\n  lb_kind FNAT\n  laddr_group_name g1\n  real_server ${A} 8080 {\n    TCP_CHECK { }\n  }\n}\n`;
  await withKeepalived(conf('  192.168.8.50 dpdk0\n  192.168.8.51 dpdk0\n'), async (w, file) => {
    assert.deepEqual(w.cm.reload(false), [
      'add service TCP 192.168.8.200:80 (rr)', `add server TCP 192.168.8.200:80 -> ${A}:8080 weight 1`,
      'add local address 192.168.8.50 to TCP 192.168.8.200:80', 'add local address 192.168.8.51 to TCP 192.168.8.200:80',
      `start checks on server TCP 192.168.8.200:80 -> ${A}:8080: TCP_CHECK`,
    ]);
    assert.equal(formatRules(w.r.ctl.list(), N), '-A -t 192.168.8.200:80 -s rr\n' +
      `-a -t 192.168.8.200:80 -r ${A}:8080 --fullnat -w 1\n` +
      '--add-laddr -t 192.168.8.200:80 -z 192.168.8.50\n--add-laddr -t 192.168.8.200:80 -z 192.168.8.51\n');
    writeFileSync(file, conf('  192.168.8.51 dpdk0\n  192.168.8.52 dpdk0\n'));
    assert.deepEqual(w.cm.reload(true), ['add local address 192.168.8.52 to TCP 192.168.8.200:80', 'delete local address 192.168.8.50 from TCP 192.168.8.200:80']);
    w.cm.reload(false);
    assert.deepEqual(w.r.ctl.list().services[0]!.laddrs, ['192.168.8.51', '192.168.8.52']);
    await w.mgr.stop();
  });
});

test('keepalived.conf persistence reaches the table: uvsadm -Ln shows persistent and mask; a reload changing it edits the service', async () => {
  const conf = (extra: string) => `virtual_server 192.168.8.200 80 {\n  lb_algo rr\n  protocol TCP\n${extra}  real_server ${A} 80 {\n    TCP_CHECK { }\n  }\n}\n`;
  await withKeepalived(conf('  persistence_timeout 50\n  persistence_granularity 255.255.255.0\n'), async (w, file) => {
    assert.deepEqual(w.cm.reload(false).slice(0, 1), ['add service TCP 192.168.8.200:80 (rr)']);
    assert.match(formatList(w.r.ctl.list(), N), /^TCP {2}192\.168\.8\.200:80 rr persistent 50 mask 255\.255\.255\.0$/m);
    writeFileSync(file, conf('  persistence_timeout 0\n'));
    assert.deepEqual(w.cm.reload(true), ['edit service TCP 192.168.8.200:80: persistent 50 -> 0, netmask 255.255.255.0 -> 255.255.255.255']);
    w.cm.reload(false);
    assert.match(formatList(w.r.ctl.list(), N), /^TCP {2}192\.168\.8\.200:80 rr$/m);
    await w.mgr.stop();
  });
});

test('keepalived.conf lb_algo naming no scheduler: ignored with a warning; a reload leaves the running service\'s scheduler as it is (until 2026-12-07 it switched rr to wlc while saying it "keeps wlc"); a new service gets wlc', async () => {
  const conf = (algo: string, more = '') => `virtual_server 192.168.8.200 80 {\n  lb_algo ${algo}\n  protocol TCP\n  real_server ${A} 80 {\n    TCP_CHECK { }\n  }\n}\n${more}`;
  await withKeepalived(conf('rr'), async (w, file) => {
    w.cm.reload(false);
    assert.match(formatList(w.r.ctl.list(), N), /^TCP {2}192\.168\.8\.200:80 rr$/m);
    writeFileSync(file, conf('nosuch', `virtual_server 192.168.8.201 80 {\n  lb_algo nosuch\n  protocol TCP\n  real_server ${A} 80 {\n    TCP_CHECK { }\n  }\n}\n`));
    assert.deepEqual(w.cm.reload(true), ['add service TCP 192.168.8.201:80 (wlc)', `add server TCP 192.168.8.201:80 -> ${A}:80 weight 1`,
      `start checks on server TCP 192.168.8.201:80 -> ${A}:80: TCP_CHECK`], 'no edit of 192.168.8.200:80 (was: scheduler rr -> wlc)');
    // The warning's text: health-keepalived.test.ts.
    w.cm.reload(false);
    const list = formatList(w.r.ctl.list(), N);
    assert.match(list, /^TCP {2}192\.168\.8\.200:80 rr$/m);
    assert.match(list, /^TCP {2}192\.168\.8\.201:80 wlc$/m);
    await w.mgr.stop();
  });
});

test('keepalived.conf ops, scheduler flags and thresholds reach the table (-o, -b, -x / -y), also when a failed server is added back', async () => {
  await withKeepalived(`virtual_server 192.168.8.200 53 {
  protocol UDP
  lb_kind DR
  lb_algo sh
  sh-port
  sh-fallback
  ops
  delay_loop 10
  real_server ${A} 53 {
    uthreshold 100
    lthreshold 50
    MISC_CHECK { misc_path /bin/true }
  }
}
`, async (w) => {
    w.cm.reload(false);
    await w.mgr.start();
    const want = `-A -u 192.168.8.200:53 -s sh -o -b sh-fallback,sh-port\n-a -u 192.168.8.200:53 -r ${A}:53 -g -w 1 -x 100 -y 50\n`;
    assert.equal(formatRules(w.r.ctl.list(), N), want);
    w.failing.add(A);
    await w.clock.advance(10 * S);
    assert.deepEqual(w.table(), []);
    w.failing.delete(A);
    await w.clock.advance(10 * S);
    assert.equal(formatRules(w.r.ctl.list(), N), want, 'added back with its thresholds');
    await w.mgr.stop();
  });
});

test('keepalived.conf tunnels (lvs_method TUN type gue port N csum, a real_server\'s own lvs_method) reach the table, also when a failed server is added back; YAML tunnels too', async () => {
  await withKeepalived(`virtual_server 192.168.8.200 80 {
  lvs_method TUN type gue port 6080 csum
  protocol TCP
  delay_loop 10
  real_server ${A} 80 {
    MISC_CHECK { misc_path /bin/true }
  }
  real_server ${B} 80 {
    lvs_method TUN type gre
    MISC_CHECK { misc_path /bin/true }
  }
}
`, async (w) => {
    w.cm.reload(false);
    await w.mgr.start();
    const want = `-A -t 192.168.8.200:80 -s wlc\n-a -t 192.168.8.200:80 -r ${A}:80 -i -w 1 --tun-type gue --tun-port 6080 --tun-csum\n-a -t 192.168.8.200:80 -r ${B}:80 -i -w 1 --tun-type gre --tun-nocsum\n`;
    assert.equal(formatRules(w.r.ctl.list(), N), want);
    w.failing.add(A);
    await w.clock.advance(10 * S);
    assert.deepEqual(w.table(), [`80 ${B}/1`]);
    w.failing.delete(A);
    await w.clock.advance(10 * S);
    assert.equal(formatRules(w.r.ctl.list(), N), want, 'added back with its tunnel');
    await w.mgr.stop();
  });
  // The config file's health-checked TUN server comes back with its tunnel too.
  const text = svc(`      - { address: ${A}, method: tun, tun-type: gre, tun-csum: csum }\n`);
  const w = world();
  w.cm.apply(parseConfig(text, 'f.yaml'), false);
  await w.mgr.start();
  await w.clock.advance(0);
  w.failing.add(`${A} /health`);
  await w.clock.advance(10 * S);
  assert.deepEqual(w.table(), []);
  w.failing.delete(`${A} /health`);
  await w.clock.advance(10 * S);
  assert.match(formatRules(w.r.ctl.list(), N), /-i -w 1 --tun-type gre --tun-csum\n/);
  await w.mgr.stop();
});

test('keepalived.conf virtual_server_group: a service per entry in the table; each server checked once for the group (as keepalived), taken out of every entry when it fails and put back in each; a reload that drops the checking entry hands the checks on', async () => {
  await withKeepalived(`virtual_server_group web {
  192.168.8.200 80
  192.168.8.201-202 80
}
virtual_server group web {
  lb_algo rr
  protocol TCP
  delay_loop 10
${AB_TCP}}
`, async (w, file) => {
    w.cm.reload(false);
    await w.mgr.start();
    await w.clock.advance(0);
    const rows = () => w.r.ctl.list().services.map((s) => `${s.addr}:${s.port} ${s.dests.map((d) => d.addr).join(',')}`);
    assert.deepEqual(rows(), [`192.168.8.200:80 ${A},${B}`, `192.168.8.201:80 ${A},${B}`, `192.168.8.202:80 ${A},${B}`]);
    w.failing.add(B);
    await w.clock.advance(10 * S);
    assert.deepEqual(rows(), [`192.168.8.200:80 ${A}`, `192.168.8.201:80 ${A}`, `192.168.8.202:80 ${A}`]);
    w.failing.delete(B);
    await w.clock.advance(10 * S);
    assert.deepEqual(rows(), [`192.168.8.200:80 ${A},${B}`, `192.168.8.201:80 ${A},${B}`, `192.168.8.202:80 ${A},${B}`]);
    // Three delay_loops: each server checked 3 times, not 3 times per entry.
    assert.deepEqual([A, B].map((x) => w.attempts.filter((a) => a.includes(` ${x} `)).length), [3, 3]);
    // Every entry reports its servers' checks (--status, metrics).
    assert.equal(w.mgr.entries().length, 6);
    assert.ok(w.mgr.checkerStats().every((c) => c.passed + c.failed === 3), JSON.stringify(w.mgr.checkerStats()));
    // The first entry leaves the group: the next one runs the checks now, and they still count for both.
    writeFileSync(file, readFileSync(file, 'utf8').replace('  192.168.8.200 80\n', ''));
    w.cm.reload(false);
    const n = w.attempts.length;
    w.failing.add(A);
    await w.clock.advance(10 * S);
    // Its first checks at a random time within the warmup (0 here), then one per delay_loop: once per server, not per entry.
    assert.deepEqual(w.attempts.slice(n).map((a) => a.split(' ')[1]).sort(), [A, A, B, B]);
    assert.deepEqual(rows(), [`192.168.8.201:80 ${B}`, `192.168.8.202:80 ${B}`]);
    await w.mgr.stop();
  });
});

test('keepalived.conf virtual_server_group with address and fwmark entries (DR): a server is checked once for the whole group, the fwmark entry too (its copy at port 0), and leaves and comes back in every entry together', async () => {
  // Until 2026-12-07 the fwmark entry's copy of a DR server (at port 0, checked at the port
  // written) ran checks of its own: each server was checked twice per delay_loop and the fwmark
  // entry could drop it a check apart from the address entries.
  await withKeepalived(`virtual_server_group web {
  192.168.8.200 80
  192.168.8.201 80
  fwmark 7
}
virtual_server group web {
  lb_algo rr
  lb_kind DR
  protocol TCP
  persistence_timeout 60
  delay_loop 10
${AB_TCP}}
`, async (w) => {
    w.cm.reload(false);
    await w.mgr.start();
    await w.clock.advance(0);
    const rows = () => w.r.ctl.list().services.map((s) => `${s.fwmark ?? s.addr} ${s.dests.map((d) => `${d.addr}:${d.port}`).join(',')}`);
    assert.deepEqual(rows(), [`192.168.8.200 ${A}:80,${B}:80`, `192.168.8.201 ${A}:80,${B}:80`, `7 ${A}:0,${B}:0`]);
    w.failing.add(B);
    await w.clock.advance(10 * S);
    assert.deepEqual(rows(), [`192.168.8.200 ${A}:80`, `192.168.8.201 ${A}:80`, `7 ${A}:0`]);
    w.failing.delete(B);
    await w.clock.advance(10 * S);
    assert.deepEqual(rows(), [`192.168.8.200 ${A}:80,${B}:80`, `192.168.8.201 ${A}:80,${B}:80`, `7 ${A}:0,${B}:0`]);
    // Three delay_loops: each server checked 3 times (at port 80), not once more for the fwmark entry.
    assert.deepEqual([A, B].map((x) => w.attempts.filter((a) => a.includes(` ${x} `)).length), [3, 3], w.attempts.join('\n'));
    await w.mgr.stop();
  });
});

test('keepalived.conf virtual_server_group: a real server\'s notify_up / notify_down and the quorum_up / quorum_down run once per change for the whole group (as keepalived), not once per entry; omega at the stop too', async () => {
  // Until 2026-12-07 each entry's copy ran them: a group of a range of 100 VIPs paged 100 times.
  await withKeepalived(`virtual_server_group web {
  192.168.8.200 80
  192.168.8.201-202 80
  fwmark 7
}
virtual_server group web {
  lb_algo rr
  lb_kind DR
  protocol TCP
  persistence_timeout 60
  delay_loop 10
  omega
  quorum_up "/bin/true quorum up"
  quorum_down "/bin/true quorum down"
  real_server ${A} 80 {
    notify_up "/bin/true A up"
    notify_down "/bin/true A down"
    TCP_CHECK { retry 0 }
  }
  real_server ${B} 80 {
    notify_up "/bin/true B up"
    notify_down "/bin/true B down"
    TCP_CHECK { retry 0 }
  }
}
`, async (w) => {
    w.cm.reload(false);
    await w.mgr.start();
    await w.clock.advance(0);
    assert.equal(w.r.ctl.list().services.length, 4);
    w.failing.add(A);
    await w.clock.advance(10 * S);
    assert.deepEqual(w.execs, ['/bin/true A down']);
    w.failing.add(B);
    await w.clock.advance(10 * S);
    assert.deepEqual(w.execs.slice(1), ['/bin/true B down', '/bin/true quorum down']);
    w.failing.clear();
    await w.clock.advance(10 * S);
    assert.deepEqual(w.execs.slice(3).sort(), ['/bin/true A up', '/bin/true B up', '/bin/true quorum up']);
    w.execs.length = 0;
    await w.mgr.stop();
    assert.deepEqual(w.execs, ['/bin/true A down', '/bin/true B down', '/bin/true quorum down'], 'omega: once each at the stop');
  });
});

test('keepalived.conf virtual_server_group: an entry a reload adds starts with the group\'s servers as their checks have them (keepalived\'s ipvs_group_sync_entry), not failed by alpha with the sorry server in until the next check', async () => {
  const conf = (entries: string) => `virtual_server_group web {
${entries}}
virtual_server group web {
  lb_algo rr
  lb_kind DR
  protocol TCP
  delay_loop 10
  alpha
  sorry_server ${C} 80
${AB_TCP}}
`;
  await withKeepalived(conf('  192.168.8.200 80\n'), async (w, file) => {
    w.cm.reload(false);
    await w.mgr.start();
    await w.clock.advance(0);
    const rows = () => w.r.ctl.list().services.map((s) => `${s.addr} ${s.dests.map((d) => `${d.addr}/${d.weight}`).join(',')}`);
    w.failing.add(B);
    await w.clock.advance(10 * S);
    assert.deepEqual(rows(), [`192.168.8.200 ${A}/1`]);
    writeFileSync(file, conf('  192.168.8.200 80\n  192.168.8.201 80\n'));
    const changes = w.cm.reload(false);
    assert.ok(changes.includes(`add server TCP 192.168.8.201:80 -> ${A}:80 weight 1`), changes.join('\n'));
    assert.ok(!changes.some((c) => c.includes('sorry')), changes.join('\n'));
    await w.clock.advance(0);
    assert.deepEqual(rows(), [`192.168.8.200 ${A}/1`, `192.168.8.201 ${A}/1`], 'A up and B down in the new entry too, at once');
    assert.deepEqual(w.mgr.entries().map((e) => `${e.service.addr} ${e.addr} ${e.state} ${e.reason}`), [
      `192.168.8.200 ${A} up TCP_CHECK: ok`, `192.168.8.200 ${B} down TCP_CHECK: connect ECONNREFUSED`,
      `192.168.8.201 ${A} up TCP_CHECK: ok`, `192.168.8.201 ${B} down TCP_CHECK: connect ECONNREFUSED`,
    ], 'and says why, as the group\'s first entry');
    assert.deepEqual(w.execs, []);
    w.failing.delete(B);
    await w.clock.advance(10 * S);
    assert.deepEqual(rows(), [`192.168.8.200 ${A}/1,${B}/1`, `192.168.8.201 ${A}/1,${B}/1`]);
    await w.mgr.stop();
  });
});

test('keepalived.conf virtual_server fwmark N: a -f service whose servers leave and come back by their checks (DR servers at port 0 as keepalived clears them, checked at the port written); its marks, given by uvsadm --add-mark, survive a reload', async () => {
  await withKeepalived(`virtual_server fwmark 1 {
  lb_algo rr
  lb_kind DR
  delay_loop 10
  persistence_timeout 300
${AB_TCP}}
`, async (w) => {
    w.cm.reload(false);
    w.r.ctl.call('addMark', { fwmark: 1, proto: 'tcp', addr: '192.168.8.200', portMin: 443 });
    await w.mgr.start();
    await w.clock.advance(0);
    const rows = () => w.r.ctl.list().services.map((s) => `${s.fwmark ?? '-'} ${s.persist} ${s.dests.map((d) => `${d.addr}:${d.port}`).join(',')}`);
    assert.deepEqual(rows(), [`1 300 ${A}:0,${B}:0`]);
    w.failing.add(B);
    await w.clock.advance(10 * S);
    assert.deepEqual(rows(), [`1 300 ${A}:0`]);
    assert.deepEqual(w.health(), [`${A} up`]);
    assert.deepEqual(w.mgr.entries().map((e) => `${e.service.fwmark} ${e.addr} ${e.state}`), [`1 ${A} up`, `1 ${B} down`]);
    w.failing.delete(B);
    await w.clock.advance(10 * S);
    assert.deepEqual(rows(), [`1 300 ${A}:0,${B}:0`]);
    // A reload of the keepalived.conf (no marks in it) keeps the mark.
    assert.deepEqual(w.cm.reload(false), []);
    assert.deepEqual(w.r.ctl.list().marks, [{ fwmark: 1, proto: 'tcp', addr: '192.168.8.200', portMin: 443, portMax: 443 }]);
    await w.mgr.stop();
  });
});

test('keepalived.conf sorry_server_lvs_method: the sorry server goes in with its own method (and tunnel), the real servers keep the virtual server\'s', async () => {
  const conf = (method: string) => `virtual_server 192.168.8.200 80 {
  lb_algo rr
  lb_kind DR
  protocol TCP
  delay_loop 10
  sorry_server ${C}
${method}  real_server ${A} 80 {
    TCP_CHECK { retry 0 }
  }
}
`;
  const sorryAfterFailure = async (method: string): Promise<string[]> => {
    let out: string[] = [];
    await withKeepalived(conf(method), async (w) => {
      w.cm.reload(false);
      await w.mgr.start();
      await w.clock.advance(0);
      const rows = () => w.r.ctl.list().services.flatMap((s) => s.dests.map((d) => `${d.addr}:${d.port} ${d.fwd}${d.tunType ? ` ${d.tunType}:${d.tunPort}:${d.tunCsum}` : ''}`));
      assert.deepEqual(rows(), [`${A}:80 dr`]);
      w.failing.add(A);
      await w.clock.advance(10 * S);
      out = rows();
      await w.mgr.stop();
    });
    return out;
  };
  assert.deepEqual(await sorryAfterFailure('  sorry_server_lvs_method TUN type gue port 6080 csum\n'), [`${C}:80 tun gue:6080:csum`]);
  // Without it, the virtual server's method, as before.
  assert.deepEqual(await sorryAfterFailure(''), [`${C}:80 dr`]);
});

test('--dump-config writes a sorry server\'s own method and tunnel (sorry_server_lvs_method), which the YAML sorry-server reads back: until 2026-12-07 it wrote the virtual server\'s method (TUN gue became DR, FNAT became NAT)', async () => {
  const conf = `local_address_group lg { 192.168.8.60 }
virtual_server 192.168.8.200 80 {
  lb_algo rr
  lb_kind DR
  protocol TCP
  delay_loop 10
  sorry_server ${C}
  sorry_server_lvs_method TUN type gue port 6080 csum
  real_server ${A} 80 {
    TCP_CHECK { retry 0 }
  }
}
virtual_server 192.168.8.201 80 {
  lb_algo rr
  lb_kind NAT
  protocol TCP
  delay_loop 10
  laddr_group_name lg
  sorry_server ${C} 8080
  sorry_server_lvs_method FNAT
  real_server ${A} 80 {
    TCP_CHECK { retry 0 }
  }
}
`;
  await withKeepalived(conf, async (w) => {
    w.cm.reload(false);
    const dump = w.cm.dump();
    assert.match(dump, /sorry-server:\n\s+address: 192\.168\.8\.22\n\s+port: 80\n\s+method: tun\n\s+tun-type: gue\n\s+tun-port: 6080\n\s+tun-csum: csum\n/);
    assert.match(dump, /sorry-server:\n\s+address: 192\.168\.8\.22\n\s+port: 8080\n\s+method: fullnat\n/);
    const back = parseConfig(dump, 'dump.yaml').services.map((s) => [`${s.spec.addr}:${s.spec.port}`, sorryEntry(s.health!)]).sort();
    assert.deepEqual(back, [
      ['192.168.8.200:80', { fwd: 'tun', tunType: 'gue', tunPort: 6080, tunCsum: 'csum' }],
      ['192.168.8.201:80', { fwd: 'fullnat' }],
    ]);
  });
  // The YAML sorry-server's tunnel options need method tun (given, or its first server's).
  const yaml = (sorry: string) => `services:\n  - proto: tcp\n    address: 192.168.8.200\n    port: 80\n    health:\n      checks: [{ type: tcp }]\n      sorry-server: ${sorry}\n    servers:\n      - { address: ${A} }\n`;
  assert.deepEqual(sorryEntry(parseConfig(yaml(`{ address: ${C}, method: tun, tun-type: gre }`), 'f.yaml').services[0]!.health!), { fwd: 'tun', tunType: 'gre', tunPort: 0, tunCsum: 'nocsum' });
  // Without a method, the first server's, its tunnel included (until 2026-12-07 plain ipip).
  const gueFirst = (sorry: string) => yaml(sorry).replace(`- { address: ${A} }`, `- { address: ${A}, method: tun, tun-type: gue, tun-port: 6080 }`);
  assert.deepEqual(sorryEntry(parseConfig(gueFirst(`{ address: ${C} }`), 'f.yaml').services[0]!.health!), { fwd: 'tun', tunType: 'gue', tunPort: 6080, tunCsum: 'nocsum' });
  assert.deepEqual(sorryEntry(parseConfig(gueFirst(`{ address: ${C}, method: tun }`), 'f.yaml').services[0]!.health!), { fwd: 'tun' }, 'its own method tun: ipip');
  // Dumped, it reads back the same health spec: a reload of the dump changes nothing.
  const w = world();
  const orig = parseConfig(gueFirst(`{ address: ${C} }`), 'f.yaml');
  w.cm.apply(orig, false);
  const dumped = w.cm.dump();
  assert.match(dumped, /sorry-server:\n\s+address: 192\.168\.8\.22\n\s+port: 80\n\s+method: tun\n\s+tun-type: gue\n\s+tun-port: 6080\n/);
  assert.deepEqual(parseConfig(dumped, 'dump.yaml').services.map((s) => strip(s.health)), orig.services.map((s) => strip(s.health)));
  assert.equal(configError(() => parseConfig(yaml(`{ address: ${C}, tun-type: gue, tun-port: 6080 }`), 'f.yaml')),
    'f.yaml:7: services[0].health.sorry-server.tun-type: tunnel options are for a method tun sorry server, this one is dr');
});

test('sorry_server_inhibit (keepalived.conf) and sorry-server inhibit (YAML): a reload keeps the sorry server at weight 0; without inhibit a reload removes it; --dump-config writes it', async () => {
  const conf = (inhibit: string) => `virtual_server 192.168.8.200 80 {
  lb_algo rr
  lb_kind DR
  protocol TCP
  sorry_server ${C} 80
${inhibit}  real_server ${A} 80 {
    TCP_CHECK { retry 0 }
  }
}
`;
  await withKeepalived(conf('  sorry_server_inhibit\n'), async (w, file) => {
    w.cm.reload(false);
    await w.mgr.start();
    w.failing.add(A);
    await w.clock.advance(60 * S);
    assert.deepEqual(w.table(), [`80 ${C}/1`]);
    w.failing.delete(A);
    await w.clock.advance(60 * S);
    assert.deepEqual(w.table().sort(), [`80 ${A}/1`, `80 ${C}/0`]);
    assert.match(w.cm.dump(), /sorry-server:\n\s+address: 192\.168\.8\.22\n\s+port: 80\n\s+method: dr\n\s+inhibit: true\n/);
    assert.deepEqual(w.cm.reload(true), [], 'nothing to change: the disabled sorry server stays');
    w.cm.reload(false);
    assert.deepEqual(w.table().sort(), [`80 ${A}/1`, `80 ${C}/0`]);
    writeFileSync(file, conf(''));
    assert.deepEqual(w.cm.reload(false), [
      `remove sorry server TCP 192.168.8.200:80 -> ${C}:80`, `edit health of service TCP 192.168.8.200:80: sorryServer ${C}:80 (inhibit) -> ${C}:80`,
    ]);
    assert.deepEqual(w.table(), [`80 ${A}/1`]);
    await w.mgr.stop();
  });
});

test('a DR sorry server on another port goes in at the virtual port, as keepalived resets it (refused until 2026-12-04; before that, only once put in, e.g. at once by alpha); a YAML sorry-server takes the port as DR servers do; a moved sorry_server line is no change', async () => {
  const conf = (port: number, at: 'before' | 'after') => {
    const sorry = `  sorry_server ${C} ${port}\n`;
    return `virtual_server 192.168.8.200 80 {\n  lb_kind DR\n  protocol TCP\n  alpha\n${at === 'before' ? sorry : ''}  real_server ${A} 80 {\n    TCP_CHECK { retry 0 }\n  }\n${at === 'after' ? sorry : ''}}\n`;
  };
  await withKeepalived(conf(8080, 'after'), async (w, file) => {
    w.cm.reload(false);
    assert.deepEqual(w.table(), [`80 ${C}/1`]);
    writeFileSync(file, conf(80, 'after'));
    assert.deepEqual(w.cm.reload(true), []);
    writeFileSync(file, conf(80, 'before'));
    assert.deepEqual(w.cm.reload(true), []);
  });
  const w = world();
  const yaml = svc(`      - { address: ${A} }\n`, `    health:\n      alpha: true\n      checks: [{ type: tcp }]\n      sorry-server: { address: ${C}, port: 8080 }\n`);
  w.cm.apply(parseConfig(yaml, 'f.yaml'), false);
  assert.deepEqual(w.table(), [`80 ${C}/1`]);
});

/** A TCP service on 192.168.8.200:80 with one server (A) and these checks (YAML flow maps). */
function tcpChecks(checks: string[]): string {
  return `services:
  - proto: tcp
    address: 192.168.8.200
    port: 80
    servers:
      - address: ${A}
        health:
          checks:
${checks.map((c) => `            - ${c}\n`).join('')}`;
}

test('YAML checks take keepalived\'s per-checker retry defaults too (misc retry 0, http_get 3 s); --dump-config leaves defaults out and loads back the same', () => {
  const text = tcpChecks([
    '{ type: tcp }', '{ type: http_get, url: { path: / } }', '{ type: misc, misc-path: /bin/true }',
    '{ type: misc, misc-path: /bin/false, retry: 1, delay-before-retry: 3 }',
  ]);
  const cfg = parseConfig(text, 'f.yaml');
  const cs = cfg.services[0]!.health!.realServers[0]!.checkers;
  assert.deepEqual(cs.map((c) => `${c.type} ${c.retry} ${c.delayBeforeRetryMs}`), ['TCP_CHECK 1 1000', 'HTTP_GET 1 3000', 'MISC_CHECK 0 1000', 'MISC_CHECK 1 3000']);
  const w = world();
  w.cm.apply(cfg, false);
  const dumped = w.cm.dump();
  assert.match(dumped, /- type: misc\n\s+misc-path: \/bin\/true\n/, 'defaults are not written');
  assert.match(dumped, /retry: 1\n\s+delay-before-retry: 3\n/);
  assert.deepEqual(parseConfig(dumped, 'd.yaml').services[0]!.health!.realServers[0]!.checkers.map((c) => `${c.type} ${c.retry} ${c.delayBeforeRetryMs}`),
    cs.map((c) => `${c.type} ${c.retry} ${c.delayBeforeRetryMs}`));
});

test('YAML misc-user [misc-group] is keepalived\'s MISC_CHECK user USER [GROUP]: looked up in /etc/passwd and /etc/group when the file is read (an unknown name is refused with the field); --dump-config writes the names back', () => {
  const text = tcpChecks(['{ type: misc, misc-path: /bin/true, misc-user: nobody }', '{ type: misc, misc-path: /bin/true, misc-user: nobody, misc-group: nogroup }', '{ type: misc, misc-path: /bin/true }']);
  const cfg = parseConfig(text, 'f.yaml');
  const users = cfg.services[0]!.health!.realServers[0]!.checkers.map((c) => (c.type === 'MISC_CHECK' ? c.user : 'not misc'));
  assert.deepEqual(users, [{ name: 'nobody', uid: 65534, gid: 65534 }, { name: 'nobody', group: 'nogroup', uid: 65534, gid: 65534 }, undefined]);
  const w = world();
  w.cm.apply(cfg, false);
  const dumped = w.cm.dump();
  assert.match(dumped, /misc-user: nobody\n\s+misc-group: nogroup\n/);
  assert.deepEqual(parseConfig(dumped, 'd.yaml').services[0]!.health!.realServers[0]!.checkers.map((c) => (c.type === 'MISC_CHECK' ? c.user : 'not misc')), users);
  assert.equal(configError(() => parseConfig(tcpChecks(['{ type: misc, misc-path: /bin/true, misc-user: nobodyx }']), 'f.yaml')),
    'f.yaml:9: services[0].servers[0].health.checks[0].misc-user: no user "nobodyx" in /etc/passwd');
  assert.equal(configError(() => parseConfig(tcpChecks(['{ type: misc, misc-path: /bin/true, misc-user: nobody, misc-group: nogroupx }']), 'f.yaml')),
    'f.yaml:9: services[0].servers[0].health.checks[0].misc-group: no group "nogroupx" in /etc/group');
  assert.equal(configError(() => parseConfig(tcpChecks(['{ type: misc, misc-path: /bin/true, misc-group: nogroup }']), 'f.yaml')),
    'f.yaml:9: services[0].servers[0].health.checks[0].misc-group: needs misc-user (the group goes with a user)');
});

test('uvsd lacking CAP_SETUID, CAP_SETGID or CAP_KILL is warned about by the reload that brings the first script run as another user, once while that lasts, again after a reload that left none (before: at start only, and such a script then failed spawn EPERM unannounced)', () => {
  const w = world({ procStatus: () => 'Name:\tuvsd\nCapEff:\t0000000000003000\n' });
  const said = () => w.warned.filter((m) => m.startsWith('uvsd lacks'));
  const misc = (more: string) => parseConfig(tcpChecks([`{ type: misc, misc-path: /bin/true${more} }`]), 'f.yaml');
  w.cm.apply(misc(''), false);
  assert.deepEqual(said(), [], 'no script of another user');
  w.cm.apply(misc(', misc-user: nobody'), false);
  assert.deepEqual(said(), ['uvsd lacks CAP_SETUID, CAP_SETGID, CAP_KILL (CapEff 0000000000003000): "/bin/true" runs as nobody, which fails to start ' +
    '(spawn EPERM: its check fails, a notify or quorum command is not run); a script of another user cannot be killed at its timeout; ' +
    'give uvsd these capabilities (systemd: CapabilityBoundingSet=, as contrib/uvsd.service)']);
  w.cm.apply(misc(', misc-user: nobody, misc-timeout: 2'), false);
  assert.equal(said().length, 1, 'a reload with the same condition says nothing');
  w.cm.apply(misc(''), false);
  w.cm.apply(misc(', misc-user: nobody'), false);
  assert.equal(said().length, 2, 'brought again after a reload without one: said again');
});

test('YAML notify-up, notify-down, quorum-up, quorum-down take { command, user, group } (keepalived\'s notify_up LINE USER [GROUP]): looked up when the file is read, unknown names refused with the field; --dump-config writes them back, a reload lists a change; a line alone runs as uvsd\'s user', () => {
  const text = (quorumUp: string, notifyUp = '{ command: /bin/up, user: nobody }') => `services:
  - proto: tcp
    address: 192.168.8.200
    port: 80
    health:
      quorum-up: ${quorumUp}
      quorum-down: /bin/q down
    servers:
      - address: ${A}
        health:
          notify-up: ${notifyUp}
          notify-down: { command: "/bin/notify down", user: nobody, group: nogroup }
`;
  const cfg = parseConfig(text('{ command: /bin/q up, user: nobody, group: nogroup }'), 'f.yaml');
  const vs = cfg.services[0]!.health!;
  const scripts = (v: typeof vs) => [v.quorumUp, v.quorumDown, v.realServers[0]!.notifyUp, v.realServers[0]!.notifyDown];
  assert.deepEqual(scripts(vs), [
    { command: '/bin/q up', user: { name: 'nobody', group: 'nogroup', uid: 65534, gid: 65534 } }, { command: '/bin/q down' },
    { command: '/bin/up', user: { name: 'nobody', uid: 65534, gid: 65534 } }, { command: '/bin/notify down', user: { name: 'nobody', group: 'nogroup', uid: 65534, gid: 65534 } },
  ]);
  const w = world();
  w.cm.apply(cfg, false);
  const dumped = w.cm.dump();
  assert.match(dumped, /quorum-up:\n\s+command: \/bin\/q up\n\s+user: nobody\n\s+group: nogroup\n\s+quorum-down: \/bin\/q down\n/);
  assert.deepEqual(scripts(parseConfig(dumped, 'd.yaml').services[0]!.health!), scripts(vs));
  assert.deepEqual(w.cm.apply(parseConfig(text('/bin/q up'), 'f.yaml'), true), ['edit health of service TCP 192.168.8.200:80: quorumUp /bin/q up (as nobody nogroup) -> /bin/q up'], 'a reload lists a changed user');
  const bad = (quorumUp: string, notifyUp?: string) => configError(() => parseConfig(text(quorumUp, notifyUp), 'f.yaml'));
  assert.equal(bad('{ command: /bin/q, user: nobodyx }'), 'f.yaml:6: services[0].health.quorum-up.user: no user "nobodyx" in /etc/passwd');
  assert.equal(bad('/bin/q', '{ command: /bin/up, user: nobody, group: nogroupx }'), 'f.yaml:11: services[0].servers[0].health.notify-up.group: no group "nogroupx" in /etc/group');
  assert.equal(bad('{ command: /bin/q, group: nogroup }'), 'f.yaml:6: services[0].health.quorum-up.group: needs user (the group goes with a user)');
  assert.equal(bad('{ user: nobody }'), 'f.yaml:6: services[0].health.quorum-up.command: missing');
  assert.match(bad('{ command: /bin/q, uid: 0 }'), /^f\.yaml:6: services\[0\]\.health\.quorum-up\.uid: /);
});

test('YAML daemon.enable-script-security is keepalived\'s global_defs enable_script_security: a misc-path, notify or quorum command run as root that another user could change, or with no user, is refused with its field and left out; one run as another user is not judged; without it one SECURITY VIOLATION warning; a reload applies a change and --dump-config writes it (before: an unknown field, and such scripts ran as root)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'uvs-ysec-'));
  try {
    const open = join(dir, 'open');
    mkdirSync(open);
    chmodSync(open, 0o777);
    const check = join(open, 'check.sh');
    writeFileSync(check, '#!/bin/sh\nexit 0\n', { mode: 0o755 });
    const why = scriptInsecurity(check, lookupScriptUser('root') as { uid: number; gid: number });
    assert.ok(why !== undefined, 'a script in a directory anyone can write is insecure for root');
    const file = join(dir, 'u.yaml');
    /** Line 7 the quorum commands, 11 notify-up, 13 the misc check. */
    const write = (daemon: string): void => writeFileSync(file, `daemon:
  ${daemon}
services:
  - proto: tcp
    address: 192.168.8.200
    port: 80
    health: { quorum-up: { command: ${check}, user: root }, quorum-down: /bin/true }
    servers:
      - address: ${A}
        health:
          notify-up: { command: ${check}, user: nobody }
          checks:
            - { type: misc, misc-path: ${check}, misc-user: root }
            - { type: tcp }
`);
    const w = world({ file });
    const scripts = () => {
      const vs = w.cm.load().services[0]!.health!;
      return [vs.quorumUp?.command, vs.quorumDown?.command, vs.realServers[0]!.notifyUp?.user?.name, vs.realServers[0]!.checkers.map((c) => c.type).join(' ')];
    };
    write('drain-timeout: 0');
    assert.deepEqual(scripts(), [check, '/bin/true', 'nobody', 'MISC_CHECK TCP_CHECK']);
    assert.deepEqual(w.cm.apply(w.cm.load(), false).length > 0, true);
    assert.deepEqual(w.cm.reloadReport(true).warnings, [`${file}:7: services[0].health.quorum-up: SECURITY VIOLATION - scripts are being executed but script_security not enabled. ` +
      `There are insecure scripts (keepalived's warning; 2, the first here: ${check}: ${why}): set daemon.enable-script-security to refuse them`]);
    // On: refused with the field, the misc check left out (the server goes by its tcp check), the nobody one kept.
    write('enable-script-security: true');
    assert.deepEqual(scripts(), [undefined, undefined, 'nobody', 'TCP_CHECK']);
    const r = w.cm.reloadReport(false);
    assert.deepEqual(r.warnings, [
      `${file}:7: services[0].health.quorum-up: ${check} refused (daemon.enable-script-security): it runs as root and ${why}; it is not run (keepalived drops it too)`,
      `${file}:7: services[0].health.quorum-down: /bin/true refused (daemon.enable-script-security): no user to run it as (this file has no script_user: write it as { command, user }); it is not run (keepalived drops it too)`,
      `${file}:13: services[0].servers[0].health.checks[0].misc-path: ${check} refused (daemon.enable-script-security): it runs as root and ${why}; the misc check is left out, as keepalived disables it (its server goes by its other checks)`,
    ]);
    assert.ok(r.changes.some((c) => c.includes('quorumUp')), r.changes.join('\n'));
    assert.match(w.cm.dump(), /\n {2}enable-script-security: true\n/);
    assert.equal(parseConfig(w.cm.dump(), 'd.yaml').daemon.enableScriptSecurity, true);
    write('enable-script-security: maybe');
    assert.equal(configError(() => w.cm.load()), `${file}:2: daemon.enable-script-security: must be true or false, got "maybe"`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('YAML dns and smtp are keepalived\'s DNS_CHECK and SMTP_CHECK: dns-type, dns-name, helo-name, the same defaults; --dump-config writes them back; bad values are refused with the field', () => {
  const text = `services:
  - proto: udp
    address: 192.168.8.200
    port: 53
    servers:
      - address: ${A}
        health:
          delay-loop: 15
          checks:
            - { type: dns }
            - { type: dns, dns-type: mx, dns-name: example.com, retry: 1 }
            - { type: smtp, connect-port: 25 }
            - { type: smtp, helo-name: lb1.example.com }
`;
  const cfg = parseConfig(text, 'f.yaml');
  const cs = cfg.services[0]!.health!.realServers[0]!.checkers;
  const show = (c: CheckSpec) => `${c.type} ${c.retry} ${c.delayBeforeRetryMs} ${c.type === 'DNS_CHECK' ? `${c.queryType} ${c.queryName}` : c.type === 'SMTP_CHECK' ? c.helo : ''}`;
  assert.deepEqual(cs.map(show), ['DNS_CHECK 3 15000 SOA .', 'DNS_CHECK 1 15000 MX example.com', 'SMTP_CHECK 1 1000 smtpchecker.keepalived.org', 'SMTP_CHECK 1 1000 lb1.example.com']);
  const w = world();
  w.cm.apply(cfg, false);
  const dumped = w.cm.dump();
  assert.match(dumped, /- type: dns\n\s+delay-loop: 15\n\s+- type: dns/, 'defaults (SOA ., retry 3, delay-before-retry = delay-loop) are not written');
  assert.match(dumped, /dns-type: MX\n\s+dns-name: example.com\n/);
  assert.match(dumped, /helo-name: lb1.example.com\n/);
  assert.deepEqual(parseConfig(dumped, 'd.yaml').services[0]!.health!.realServers[0]!.checkers.map(show), cs.map(show), 'loads back the same');
  assert.equal(configError(() => parseConfig(text.replace('dns-type: mx', 'dns-type: srv'), 'f.yaml')),
    'f.yaml:11: services[0].servers[0].health.checks[1].dns-type: must be one of A, NS, CNAME, SOA, MX, TXT, AAAA, got "srv"');
  assert.equal(configError(() => parseConfig(text.replace('dns-name: example.com', 'dns-name: example..com'), 'f.yaml')),
    'f.yaml:11: services[0].servers[0].health.checks[1].dns-name: "example..com" has an empty label');
  assert.equal(configError(() => parseConfig(text.replace('{ type: smtp, connect-port: 25 }', '{ type: smtp, dns-name: x }'), 'f.yaml')),
    'f.yaml:12: services[0].servers[0].health.checks[2].dns-name: not a field of smtp checks (known: type, delay-loop, connect-timeout, retry, delay-before-retry, rise, fall, warmup, connect-ip, connect-port, bindto, log-all-failures, bind-port, helo-name)');
});

test('YAML url regex-options, regex-no-match, regex-min-offset, regex-max-offset are keepalived\'s regex_*: --dump-config writes them back (a keepalived.conf\'s too); bad values and options uvs cannot express are refused with the field', async () => {
  const text = svc(`      - { address: ${A} }\n`, `    health:
      checks:
        - type: http_get
          url:
            - { path: /a, regex: maintenance, regex-no-match: true, regex-options: caseless multiline, regex-min-offset: 2, regex-max-offset: 90 }
            - { path: /b, regex: "^ok", regex-options: [dotall] }
`);
  const cfg = parseConfig(text, 'f.yaml');
  const urls = (c: typeof cfg) => (c.services[0]!.health!.realServers[0]!.checkers[0] as HttpCheck).urls;
  assert.deepEqual(urls(cfg), [
    { path: '/a', regex: 'maintenance', regexOptions: ['caseless', 'multiline'], regexNoMatch: true, regexMinOffset: 2, regexMaxOffset: 90 },
    { path: '/b', regex: '^ok', regexOptions: ['dotall'] },
  ]);
  const w = world();
  w.cm.apply(cfg, false);
  assert.deepEqual(urls(parseConfig(w.cm.dump(), 'd.yaml')), urls(cfg), 'loads back the same');
  const bad = (from: string, to: string) => configError(() => parseConfig(text.replace(from, to), 'f.yaml'));
  assert.equal(bad('regex-options: [dotall]', 'regex-options: [ungreedy]'),
    'f.yaml:11: services[0].health.checks[0].url[1].regex-options: ungreedy: uvs cannot match so: JavaScript\'s regular expressions have no such option (uvs has caseless, multiline, dotall, dollar_endonly, utf, no_auto_possess, no_start_optimize, no_dotstar_anchor, auto_callout, use_offset_limit, never_utf, never_ucp, never_backslash_c)');
  assert.match(bad('regex-options: [dotall]', 'regex-options: [casless]'), /^f\.yaml:11: services\[0\]\.health\.checks\[0\]\.url\[1\]\.regex-options: casless: not one of keepalived's regex options \(caseless, multiline, /);
  assert.equal(bad('regex: "^ok", ', ''), 'f.yaml:11: services[0].health.checks[0].url[1].regex-options: needs regex');
  assert.equal(bad('regex-max-offset: 90', 'regex-max-offset: 1'), 'f.yaml:10: services[0].health.checks[0].url[0].regex-max-offset: must be an integer 2..2147483647, got 1');
  // keepalived.conf's regex_no_match survives --dump-config (it would be an inverted check without it).
  await withKeepalived('virtual_server 192.168.8.200 80 {\n  protocol TCP\n  lb_algo rr\n  lb_kind NAT\n  real_server 192.168.8.20 80 {\n    HTTP_GET {\n      url {\n        path /\n        regex maintenance\n        regex_no_match\n      }\n    }\n  }\n}\n', async (k) => {
    k.cm.reload(false);
    assert.match(k.cm.dump(), /regex: maintenance\n\s+regex-no-match: true\n/);
  });
});

test('YAML file is keepalived\'s track_file + FILE_CHECK: file, weight (default 0: a non-zero number takes the server out), reverse, init-file; --dump-config writes it back; other fields are refused', () => {
  const text = svc(`      - address: ${A}
        health:
          checks:
            - { type: file, file: /run/uvs/maint }
            - { type: file, file: /run/uvs/load, weight: -3, reverse: true, init-file: 2, init-overwrite: true }
`, '');
  const cfg = parseConfig(text, 'f.yaml');
  const cs = cfg.services[0]!.health!.realServers[0]!.checkers;
  const show = (c: CheckSpec) => (c.type === 'FILE_CHECK' ? `${c.path} ${c.weight} ${c.reverse} ${JSON.stringify(c.init ?? null)} ${c.delayLoopMs}` : c.type);
  assert.deepEqual(cs.map(show), ['/run/uvs/maint 0 false null 1000', '/run/uvs/load -3 true {"value":2,"overwrite":true} 1000']);
  const w = world();
  w.cm.apply(cfg, false);
  const dumped = w.cm.dump();
  assert.match(dumped, /- type: file\n\s+file: \/run\/uvs\/maint\n\s+- type: file\n\s+file: \/run\/uvs\/load\n\s+weight: -3\n\s+reverse: true\n\s+init-file: 2\n\s+init-overwrite: true\n/, dumped);
  assert.deepEqual(parseConfig(dumped, 'd.yaml').services[0]!.health!.realServers[0]!.checkers.map(show), cs.map(show), 'loads back the same');
  assert.equal(configError(() => parseConfig(text.replace('{ type: file, file: /run/uvs/maint }', '{ type: file, file: /x, delay-loop: 3 }'), 'f.yaml')),
    'f.yaml:10: services[0].servers[0].health.checks[0].delay-loop: not a field of file checks (known: type, file, weight, reverse, init-file, init-overwrite)');
  assert.equal(configError(() => parseConfig(text.replace('{ type: file, file: /run/uvs/maint }', '{ type: file }'), 'f.yaml')),
    'f.yaml:10: services[0].servers[0].health.checks[0].file: missing: file checks need the file to read');
});

test('YAML ssl_get is keepalived\'s SSL_GET: http_get\'s fields and enable-sni; a failing one takes its server out; --dump-config writes it back; enable-sni is no http_get field', async () => {
  const text = svc(`      - { address: ${A} }
      - address: ${B}
        health:
          checks:
            - type: ssl_get
              virtualhost: www.example.com
              enable-sni: true
              connect-port: 8443
              url: [{ path: /health, status-code: 200, digest: 0123456789ABCDEF0123456789abcdef }, { path: / }]
`, '    health: { delay-loop: 10, retry: 0, checks: [{ type: ssl_get, connect-timeout: 3, url: { path: /health, status-code: 200 } }] }\n');
  const cfg = parseConfig(text, 'f.yaml');
  const checkers = (c: typeof cfg) => c.services[0]!.health!.realServers.map((r) => JSON.parse(JSON.stringify(r.checkers, (k, x: unknown) => (k === 'origin' ? undefined : x))) as unknown);
  assert.deepEqual(checkers(cfg), [
    [{ type: 'SSL_GET', connectTimeoutMs: 3 * S, delayLoopMs: 10 * S, retry: 0, delayBeforeRetryMs: 3 * S, rise: 1, fall: 1, urls: [{ path: '/health', status: [[200, 200]] }], enableSni: false }],
    [{
      type: 'SSL_GET', connectPort: 8443, connectTimeoutMs: 5 * S, delayLoopMs: 10 * S, retry: 0, delayBeforeRetryMs: 3 * S, rise: 1, fall: 1,
      urls: [{ path: '/health', status: [[200, 200]], digest: '0123456789abcdef0123456789abcdef' }, { path: '/' }], virtualhost: 'www.example.com', enableSni: true,
    }],
  ]);
  const w = world();
  w.cm.apply(cfg, false);
  await w.mgr.start();
  await w.clock.advance(0);
  assert.deepEqual(w.attempts.sort(), [`0 ${A} SSL_GET /health`, `0 ${B} SSL_GET /health`]);
  w.failing.add(`${A} /health`);
  await w.clock.advance(10 * S);
  assert.deepEqual(w.table(), [`80 ${B}/1`], 'A failed its ssl_get and left the table');
  assert.equal(w.mgr.entries().find((e) => e.addr === A)!.reason, 'SSL_GET: connect ECONNREFUSED');
  const dumped = w.cm.dump();
  assert.match(dumped, /- type: ssl_get\n/);
  assert.match(dumped, /enable-sni: true\n/);
  assert.deepEqual(checkers(parseConfig(dumped, 'd.yaml')), checkers(cfg), 'loads back the same');
  await w.mgr.stop();
  assert.equal(configError(() => parseConfig(text.replace('- type: ssl_get\n', '- type: http_get\n'), 'f.yaml')),
    'f.yaml:14: services[0].servers[1].health.checks[0].enable-sni: not a field of http_get checks (known: type, delay-loop, connect-timeout, retry, delay-before-retry, rise, fall, warmup, connect-ip, connect-port, bindto, log-all-failures, bind-port, url, virtualhost)');
  assert.equal(configError(() => parseConfig(text.replace(/\n +url: \[.*\]$/m, ''), 'f.yaml')),
    'f.yaml:12: services[0].servers[1].health.checks[0].url: missing: ssl_get needs at least one url { path }');
});

test('YAML bind-port is keepalived\'s bind_port: the source port of a check; --dump-config writes it back; not a field of ping checks', () => {
  const text = tcpChecks(['{ type: tcp, bind-port: 5000 }', '{ type: ping }']);
  const cfg = parseConfig(text, 'f.yaml');
  assert.deepEqual(cfg.services[0]!.health!.realServers[0]!.checkers.map((c) => c.bindPort), [5000, undefined]);
  const w = world();
  w.cm.apply(cfg, false);
  const dumped = w.cm.dump();
  assert.match(dumped, /- type: tcp\n\s+bind-port: 5000\n/);
  assert.deepEqual(parseConfig(dumped, 'd.yaml').services[0]!.health!.realServers[0]!.checkers.map((c) => c.bindPort), [5000, undefined]);
  assert.equal(configError(() => parseConfig(text.replace('bind-port: 5000', 'bind-port: 0'), 'f.yaml')),
    'f.yaml:9: services[0].servers[0].health.checks[0].bind-port: must be an integer 1..65535, got 0');
  assert.match(configError(() => parseConfig(text.replace('{ type: ping }', '{ type: ping, bind-port: 1 }'), 'f.yaml')), /checks\[1\]\.bind-port: not a field of ping checks/);
});

test('YAML ha-suspend is keepalived\'s ha_suspend: the service\'s checks pause while the other director holds its VIP; --dump-config writes it back', () => {
  const text = tcpChecks(['{ type: tcp }']).replace('    servers:\n', '    health: { ha-suspend: true }\n    servers:\n');
  const cfg = parseConfig(text, 'f.yaml');
  assert.equal(cfg.services[0]!.health!.haSuspend, true);
  const w = world();
  w.cm.apply(cfg, false);
  const dumped = w.cm.dump();
  assert.match(dumped, /\n\s+ha-suspend: true\n/);
  assert.equal(parseConfig(dumped, 'd.yaml').services[0]!.health!.haSuspend, true);
  assert.equal(parseConfig(text.replace('ha-suspend: true', 'ha-suspend: false'), 'f.yaml').services[0]!.health!.haSuspend, undefined);
  assert.match(configError(() => parseConfig(text.replace('ha-suspend: true', 'ha-suspend: 1'), 'f.yaml')), /health\.ha-suspend: must be true or false, got 1/);
});

test('a DR sorry-server takes the service\'s port, as the service\'s DR servers do (a port given is not kept: it was refused only when the quorum was lost); a NAT one keeps its own', () => {
  const sorryOf = (s: string) => parseConfig(FULL.replace('sorry-server: { address: 192.168.8.40 }', `sorry-server: ${s}`), 'f.yaml').services[0]!.health!.sorryServer!;
  assert.equal(sorryOf('{ address: 192.168.8.40, port: 8080 }').port, 80);
  assert.equal(sorryOf('{ address: 192.168.8.40, port: 8080, method: nat }').port, 8080);
});

test('a sliced reload installs the health checker\'s new configuration in steps inside its batch (HealthPlan.commitSteps, with the reload\'s pauses between them: in one piece it held the loop 97-181 ms at 10,000 x 4), and ends as the file says', async () => {
  const w = world();
  const file = (sched: string) => parseConfig('services:\n' + Array.from({ length: 40 }, (_, i) =>
    `  - { proto: tcp, address: 192.168.9.${i + 1}, port: 80, scheduler: ${sched}, health: { delay-loop: 10, checks: [{ type: tcp }] }, servers: [ { address: 192.168.8.${30 + i} } ] }\n`).join(''), 'f.yaml');
  let next = file('wlc');
  const cm = new ConfigManager(w.r.ctl, 'f.yaml', { drainTimeout: 0 }, { health: w.mgr, readConfigSliced: async () => next });
  w.r.ctl.config = cm;
  cm.apply(file('rr'), false);
  await w.mgr.start();
  await w.clock.advance(0); // t=0: all pass
  const mid = w.mgr as unknown as { holding?: unknown };
  let inCommit = 0;
  const rep = await cm.reloadSliced(false, async () => {
    if (mid.holding !== undefined) inCommit++;
    await new Promise((r) => setImmediate(r));
  });
  assert.equal(rep.changes.length, 40);
  assert.ok(inCommit > 1, `${inCommit} pauses within the health commit`);
  assert.equal(w.table().length, 40);
  assert.match(formatRules(w.r.ctl.list(), N), /^-A -t 192\.168\.9\.40:80 -s wlc$/m);
  assert.equal(w.mgr.entries().filter((e) => e.state === 'up').length, 40);
  next = file('rr');
  w.failing.add('192.168.8.30');
  await w.clock.advance(20 * S); // t=10 and its retry: the first service's server fails: out
  assert.equal(w.table().length, 39);
  await w.mgr.stop();
});

/** Every checker kind and option the config reader takes, at the service and at a server, with texts YAML must quote. */
const EVERY_OPTION = (dir: string): string => `services:
  - proto: tcp
    address: 192.168.8.200
    port: 80
    scheduler: wrr
    health:
      delay-loop: 2.5
      connect-timeout: 4
      virtualhost: svc.example.com
      sorry-server: { address: 192.168.8.40, port: 8080, method: nat, inhibit: true }
      quorum: 3
      hysteresis: 1
      quorum-up: "/bin/q up 'now'"
      quorum-down: { command: /bin/q down, user: nobody, group: nogroup }
      alpha: true
      omega: true
      ha-suspend: true
      checks:
        - type: http_get
          url:
            - { path: /health, status-code: [200, "301-302"], digest: 0123456789ABCDEF0123456789abcdef, contains: "ok: yes", virtualhost: "0123" }
    servers:
      - address: ${A}
        weight: 3
        health:
          inhibit-on-failure: true
          alpha: false
          notify-up: { command: /bin/n up, user: nobody }
          notify-down: "/bin/n down # ü"
          checks:
            - { type: tcp, connect-ip: 192.168.8.50, connect-port: 8080, bindto: 192.168.8.10, bind-port: 3000, delay-loop: 3, connect-timeout: 1.5, retry: 2, delay-before-retry: 0.25, rise: 2, fall: 3, warmup: 4 }
            - type: http_get
              virtualhost: www.example.com
              retry: 0
              url:
                - { path: /a, status-code: [204, "500-599"], regex: "^ok: (yes|no)$", regex-no-match: true, regex-options: caseless multiline, regex-min-offset: 2, regex-max-offset: 90 }
                - { path: /b, regex: maintenance, regex-options: [dotall] }
                - { path: "/c d", status-code: 200 }
            - type: ssl_get
              enable-sni: true
              virtualhost: tls.example.com
              certificate: "${dir}/client cert.pem"
              key: ${dir}/key.pem
              password: "p@ss: 'word'"
              ca: ${dir}/ca.pem
              url: { path: /tls }
            - { type: udp, payload: "0001", require-reply: "00ff", min-reply-length: 2, max-reply-length: 512, delay-loop: 5 }
            - { type: udp, require-reply: true, bind-port: 5353 }
            - { type: ping, delay-before-retry: 0.5, connect-ip: 192.168.8.51 }
            - { type: misc, misc-path: "/usr/local/bin/check 21 \\"quoted\\"", misc-timeout: 2.5, misc-dynamic: true, misc-user: nobody, misc-group: nogroup }
            - { type: misc, misc-path: /bin/true, misc-user: nobody }
            - { type: misc, misc-path: /bin/false, retry: 1 }
            - { type: dns, dns-type: MX, dns-name: example.com, connect-port: 5353 }
            - { type: dns, dns-name: "." }
            - { type: smtp, helo-name: mail.example.com, connect-port: 2525 }
            - { type: smtp }
            - { type: file, file: /run/uvs/maint }
            - { type: file, file: "/run/uvs/load file", weight: -3, reverse: true, init-file: -2, init-overwrite: true }
            - { type: bfd, neighbor: 192.168.8.60 }
            - { type: bfd, neighbor: 192.168.8.61, source: 192.168.8.10, min-rx: 50, min-tx: 60, idle-tx: 2000, multiplier: 5 }
      - { address: ${B}, weight: 1 }
      - address: ${C}
        health: { checks: [] }
      - address: ${D}
        health: { delay-loop: 7, alpha: true, checks: [{ type: tcp }] }
  - proto: udp
    address: 192.168.8.201
    port: 53
    servers:
      - address: ${D}
        health: { checks: [{ type: dns }] }
  - proto: tcp
    address: 192.168.8.202
    port: 443
    health: { checks: [{ type: ssl_get, url: { path: / } }] }
    servers:
      - address: ${A}
`;

/** Strings and numbers a spec may hold (put in by hand into specs the reader made: what the writers must agree on whatever the reader allows). */
const ODD_STRINGS = ['', 'plain', '0123', 'true', 'Null', '1e5', '0x1F', '.5', '+1', '-x', '- y', 'a: b', 'a:b', '# c', 'a #c', 'it\'s', 'say "hi"', 'back\\slash', 'tab\there', 'line\nbreak',
  'ünïcödé', '日本語', '🙂', ' lead', 'trail ', '@at', '`tick', '*star', '&amp', '!bang', '%pct', '[x]', '{y}', 'x, y', '?q', '|pipe', '>gt', '~', 'yes', 'NO', '1_000', '/usr/bin/x --y=1'];
const ODD_NUMBERS = [0, 1, 7, 10, 250, 1500, 123457, 2147483647, 86400000, 2 ** 53 + 2, -3, 0.1];

test('require-reply takes keepalived\'s x nibbles (match anything) and log-all-failures is read; a dump writes both back, so a keepalived.conf require_reply and log_all_failures survive --dump-config', () => {
  const conf = (rr: string) => `services:\n  - proto: udp\n    address: 192.168.8.200\n    port: 53\n    servers:\n      - address: 192.168.8.23\n        health: { checks: [{ type: udp, require-reply: "${rr}" }] }\n`;
  const rs = parseConfig(conf('6fxX0a'), 'f.yaml').services[0]!.health!.realServers[0]!;
  const c = rs.checkers[0]!;
  assert.ok(c.type === 'UDP_CHECK');
  assert.deepEqual([c.replyPrefix?.toString('hex'), c.replyMask?.toString('hex')], ['6f000a', 'ff00ff']);
  const d = new DumpBytes();
  d.open();
  serverHealthInto(rs, d.serviceStart());
  d.serviceEnd('s', 0);
  d.close();
  assert.match(Buffer.concat(d.bytes()).toString(), /require-reply: 6fxx0a\n/);
  // log-all-failures (keepalived's log_all_failures) is read and written back too.
  const all = parseConfig(conf('6f').replace('require-reply: "6f"', 'require-reply: "6f", log-all-failures: true'), 'f.yaml').services[0]!.health!.realServers[0]!;
  assert.equal(all.checkers[0]!.logAllFailures, true);
  const d2 = new DumpBytes();
  d2.open();
  serverHealthInto(all, d2.serviceStart());
  d2.serviceEnd('s', 0);
  d2.close();
  assert.match(Buffer.concat(d2.bytes()).toString(), /log-all-failures: true\n/);
  assert.equal(configError(() => parseConfig(conf('6fz0'), 'f.yaml')), 'f.yaml:7: services[0].servers[0].health.checks[0].require-reply: must be hex bytes (x: a nibble that matches anything), got "6fz0"');
});

test('a dump\'s health parts are written as bytes, the text the old writer (an object per checker, url and script, and the YAML writer) made, for every checker kind and option the config reader takes and for odd strings and numbers in each', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'uvs hs ü-'));
  try {
    for (const f of ['client cert.pem', 'key.pem', 'ca.pem']) writeFileSync(join(dir, f), 'PEM\n');
    const cfg = parseConfig(EVERY_OPTION(dir), 'f.yaml');
    /** What a writer puts into a dump's ByteOut, as text. */
    const written = (fn: (o: ByteOut) => void): string => {
      const d = new DumpBytes();
      d.open();
      fn(d.serviceStart());
      d.serviceEnd('s', 0);
      d.close();
      return Buffer.concat(d.bytes()).toString();
    };
    let compared = 0;
    const same = (vs: VirtualServerSpec, what: string): void => {
      for (const fwd of [vs.fwd, undefined]) {
        assert.equal(written((o) => serviceHealthInto(vs, fwd === undefined ? undefined : { fwd }, o)), serviceHealthBefore(vs, fwd), `${what}: the service's health`);
        compared++;
      }
      for (const rs of vs.realServers) {
        assert.equal(written((o) => serverHealthInto(rs, o)), serverHealthBefore(rs), `${what}: ${rs.addr}'s health`);
        compared++;
      }
    };
    const specs = cfg.services.map((s) => s.health!);
    const kinds = new Set(specs.flatMap((vs) => vs.realServers.flatMap((r) => r.checkers.map((c) => c.type))));
    assert.deepEqual([...kinds].sort(), ['BFD_CHECK', 'DNS_CHECK', 'FILE_CHECK', 'HTTP_GET', 'MISC_CHECK', 'PING_CHECK', 'SMTP_CHECK', 'SSL_GET', 'TCP_CHECK', 'UDP_CHECK'], 'every kind');
    for (const vs of specs) same(vs, `${vs.addr}:${vs.port}`);
    assert.match(serviceHealthBefore(specs[0]!, 'nat'), /quorum-down:\n {8}command: \/bin\/q down\n {8}user: nobody\n {8}group: nogroup\n/);
    assert.equal(serviceHealthBefore(specs[2]!, 'dr'), '', 'all defaults: no health at the service');

    // Each string (but a checker's type) and each number (but a status code's) of the specs replaced in turn.
    const leaves: Array<{ at: Record<string, unknown>; k: string; v: unknown }> = [];
    const walk = (x: unknown, k: string): void => {
      if (x === null || typeof x !== 'object' || Buffer.isBuffer(x) || k === 'origin' || k === 'status') return;
      for (const [key, v] of Object.entries(x)) {
        if ((typeof v === 'string' && key !== 'type') || typeof v === 'number') leaves.push({ at: x as Record<string, unknown>, k: key, v });
        else walk(v, key);
      }
    };
    for (const vs of specs) walk(vs, '');
    assert.ok(leaves.length > 150, `${leaves.length} values`);
    for (const [i, leaf] of leaves.entries()) {
      const odd = typeof leaf.v === 'string' ? ODD_STRINGS : ODD_NUMBERS;
      for (let j = 0; j < 3; j++) {
        leaf.at[leaf.k] = odd[(i + j * 7) % odd.length];
        for (const vs of specs) same(vs, `${leaf.k} = ${JSON.stringify(leaf.at[leaf.k])}`);
      }
      leaf.at[leaf.k] = leaf.v;
    }
    t.diagnostic(`${compared} texts compared, ${leaves.length} values replaced in turn`);
    assert.ok(compared > 10_000, `${compared} texts compared`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('ssl_get\'s password refused (a number, a list, empty) names what it is, never the value: the refusal goes to the log and to stderr', () => {
  const dir = mkdtempSync(join(tmpdir(), 'uvs-pw-'));
  try {
    writeFileSync(join(dir, 'c.pem'), 'x');
    writeFileSync(join(dir, 'k.pem'), 'x');
    const conf = (pw: string) => `services:\n  - proto: tcp\n    address: 192.168.8.200\n    port: 443\n    servers:\n      - address: ${A}\n    health:\n      checks:\n` +
      `        - { type: ssl_get, certificate: ${dir}/c.pem, key: ${dir}/k.pem, password: ${pw}, url: { path: / } }\n`;
    for (const [pw, what] of [['987654321', 'a number (quote it: "...")'], ['[hunter2]', 'a list'], ['""', 'an empty string'], ['true', 'a boolean (quote it: "...")']]) {
      const msg = configError(() => parseConfig(conf(pw!), 'f.yaml'));
      assert.equal(msg, `f.yaml:9: services[0].health.checks[0].password: must be a non-empty string, got ${what} (the value is not shown: a secret)`);
      assert.doesNotMatch(msg, /987654321|hunter2/);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
