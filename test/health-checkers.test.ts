// Each health checker against small servers on 127.0.0.1: what passes, what fails, and the
// reason it gives (SSL_GET against an https server with a self-signed test certificate). PING
// needs a raw ICMP socket (root / CAP_NET_RAW): skipped with the reason otherwise.
import { test } from 'node:test';
import { createHook } from 'node:async_hooks';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import dgram from 'node:dgram';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { Worker } from 'node:worker_threads';
import { join } from 'node:path';
import tls, { type TLSSocket } from 'node:tls';
import { checkDns, dnsQuery } from '../src/health/checkers/dns.js';
import { checkHttp, checkSsl } from '../src/health/checkers/http.js';
import { hostChecks } from '../src/health/checkers/index.js';
import { checkMisc } from '../src/health/checkers/misc.js';
import { checkPing, Pinger } from '../src/health/checkers/ping.js';
import { checkSmtp } from '../src/health/checkers/smtp.js';
import { checkTcp, tcpProbeStats } from '../src/health/checkers/tcp.js';
import { checkUdp } from '../src/health/checkers/udp.js';
import { splitCommand } from '../src/health/exec.js';
import { HealthManager } from '../src/health/manager.js';
import { parseKeepalived } from '../src/health/keepalived.js';
import { loadKeepalivedFile } from '../src/health/load.js';
import { RegexMatcher, REGEX_TIME_LIMIT_MS } from '../src/health/regex.js';
import { TEST_TLS_CERT, TEST_TLS_KEY } from './helpers/tls-cert.js';
import { allocated } from './helpers/alloc.js';
import type { CheckSpec, HttpCheck } from '../src/health/types.js';

const LO = '127.0.0.1';

function listen(server: net.Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, LO, () => resolve((server.address() as net.AddressInfo).port)));
}

/** A port nothing listens on (bound then closed). */
async function closedPort(): Promise<number> {
  const s = net.createServer();
  const p = await listen(s);
  await new Promise((r) => s.close(r));
  return p;
}

test('TCP_CHECK: a listening port passes, a closed one fails with ECONNREFUSED', async () => {
  const srv = net.createServer((c) => c.destroy());
  const port = await listen(srv);
  try {
    assert.deepEqual(await checkTcp({ connectTimeoutMs: 1000 }, { ip: LO, port }), { ok: true, reason: 'connected' });
    const closed = await closedPort();
    const r = await checkTcp({ connectTimeoutMs: 1000 }, { ip: LO, port: closed });
    assert.equal(r.ok, false);
    assert.match(r.reason, /ECONNREFUSED/);
  } finally {
    srv.close();
  }
});

/** A TCP listener on 127.0.0.1 in a child that never accepts (its loop held, backlog 1): past its
 *  first two connections every SYN goes unanswered, so a connect to it stays under way. */
async function unansweredPort(): Promise<{ port: number; child: ReturnType<typeof spawn> }> {
  const child = spawn(process.execPath, ['-e', `const s = require('net').createServer();
    s.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => { console.log(s.address().port); Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 60000); });`],
  { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve) => child.stdout!.once('data', (d: Buffer) => resolve(Number(String(d).trim()))));
  child.stdout!.destroy(); // its pipe closed now, not when the child ends (the tests count descriptors)
  return { port, child };
}

/** The code net.connect's error names (or "connected"): TCP_CHECK's reasons were these before it connected in the addon. */
function netConnectCode(opts: net.TcpNetConnectOpts): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(opts);
    s.once('connect', () => {
      s.destroy();
      resolve('connected');
    });
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
  });
}

const openFds = (): number => readdirSync('/proc/self/fd').length;

test('TCP_CHECK makes no net.Socket: 4,000 checks as uvsd runs them (hostChecks) create no TCPWRAP or TCPCONNECTWRAP and allocate under 2,500 bytes of JS heap each (before: a net.Socket, its connect request and a timer per check, 7,100 bytes)', async () => {
  // The listener in a child: its accepted sockets are neither this thread's async resources nor its heap.
  const child = spawn(process.execPath, ['-e', "const s = require('net').createServer((c) => c.destroy()).listen(0, '127.0.0.1', () => console.log(s.address().port));"], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve) => child.stdout!.once('data', (d: Buffer) => resolve(Number(String(d).trim()))));
  const pinger = new Pinger();
  const run = hostChecks(pinger);
  const spec: CheckSpec = { type: 'TCP_CHECK', connectIp: LO, connectPort: port, connectTimeoutMs: 3000, delayLoopMs: 3000, retry: 1, delayBeforeRetryMs: 1000, rise: 1, fall: 1 };
  const round = async (n: number): Promise<number> => {
    let ok = 0;
    for (let i = 0; i < n; i += 64) {
      const rs = await Promise.all(Array.from({ length: Math.min(64, n - i) }, (_, k) => run(spec, { addr: `10.0.${((i + k) >> 8) & 255}.${(i + k) & 255}`, port: 80 })));
      ok += rs.filter((r) => r.ok).length;
    }
    return ok;
  };
  try {
    assert.equal(await round(2000), 2000, 'warm-up: every check connected');
    const made = new Map<string, number>();
    const hook = createHook({ init: (_id, type) => made.set(type, (made.get(type) ?? 0) + 1) }).enable();
    let ok = 0;
    const perCheck: number[] = [];
    try {
      for (let k = 0; k < 2; k++) perCheck.push(await allocated(async () => { ok += await round(4000); }) / 4000);
    } finally {
      hook.disable();
    }
    assert.equal(ok, 8000, 'every check connected');
    assert.deepEqual([made.get('TCPWRAP') ?? 0, made.get('TCPCONNECTWRAP') ?? 0], [0, 0], `async resources made: ${JSON.stringify(Object.fromEntries(made))}`);
    assert.ok(Math.min(...perCheck) < 2500, `bytes allocated per check: ${perCheck.map(Math.round).join(', ')}`);
  } finally {
    pinger.close();
    child.kill();
  }
});

test('TCP_CHECK under the health checker: 2,000 checks due at once start with no promise each (under 0.1 promises per check; before: 2, the check\'s and its reaction\'s) and a turn\'s connects in one call into the addon (under 0.5 calls per check; before: one each)', async () => {
  // The listener in a child: its accepted sockets are neither this thread's async resources nor its heap.
  const child = spawn(process.execPath, ['-e', "const s = require('net').createServer((c) => { c.on('error', () => {}); c.destroy(); }).listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, () => console.log(s.address().port));"], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve) => child.stdout!.once('data', (d: Buffer) => resolve(Number(String(d).trim()))));
  const pinger = new Pinger();
  const N = 2000;
  const check: CheckSpec = { type: 'TCP_CHECK', connectIp: LO, connectPort: port, connectTimeoutMs: 5000, delayLoopMs: 1500, warmupMs: 200, retry: 0, delayBeforeRetryMs: 1000, rise: 1, fall: 1 };
  const services = Array.from({ length: N / 4 }, (_, s) => ({
    proto: 'tcp' as const, addr: `10.100.${s >> 8}.${s & 255}`, port: 80, sched: 'wlc', fwd: 'dr' as const, persistence: 0, delayLoopMs: 1500, quorum: 1, hysteresis: 0, alpha: false, omega: false,
    realServers: Array.from({ length: 4 }, (_, i) => ({ addr: `10.0.${(4 * s + i) >> 8}.${(4 * s + i) & 255}`, port: 80, weight: 1, inhibitOnFailure: false, checkers: [check] })),
  }));
  // Every checker due at once (its first check at the end of its warmup, the next a delay_loop later).
  const mgr = new HealthManager({ services }, { call: () => null, run: hostChecks(pinger), exec: async () => {}, log: { info: () => {}, warn: () => {} }, random: () => 0.999, concurrency: N, openFiles: 1e6 });
  /** Results in (a connect the listener's reset overtook fails: counted too). */
  const results = () => mgr.checkerStats().reduce((a, c) => a + c.passed + c.failed + c.notRun, 0);
  // One promise and one timer per wait (not per look): the count below is the checks'.
  const until = (what: string, f: () => boolean) => new Promise<void>((resolve, reject) => {
    const end = Date.now() + 60_000;
    const t = setInterval(() => {
      if (f()) resolve();
      else if (Date.now() > end) reject(new Error(`${what}: ${mgr.attempts} attempts, ${results()} results`));
      else return;
      clearInterval(t);
    }, 10);
  });
  try {
    await mgr.start();
    // The first round (its verdicts go to the table: evaluations, promises), then the second counted.
    await until('first round', () => results() === N);
    await mgr.settled();
    const made = new Map<string, number>();
    const hook = createHook({ init: (_id, type) => made.set(type, (made.get(type) ?? 0) + 1) }).enable();
    const calls0 = tcpProbeStats()!.calls;
    try {
      await until('second round', () => results() === 2 * N);
    } finally {
      hook.disable();
    }
    const calls = tcpProbeStats()!.calls - calls0;
    const promises = made.get('PROMISE') ?? 0;
    assert.ok(promises < 0.1 * N, `promises made over ${N} checks: ${promises} (async resources: ${JSON.stringify(Object.fromEntries(made))})`);
    assert.ok(calls < 0.5 * N, `calls into the addon that started ${N} checks: ${calls}`);
    assert.equal(mgr.attempts, 2 * N);
  } finally {
    await mgr.stop();
    pinger.close();
    child.kill();
  }
});

test('TCP_CHECK under the health checker: connects that fail at once in a turn\'s batch (ENETUNREACH, EADDRNOTAVAIL of bindto), refused ones and an address that is not IPv4 take servers down with net.connect\'s reasons and give their slots back', async () => {
  const mk = (extra: Partial<CheckSpec>): CheckSpec => ({ type: 'TCP_CHECK', connectTimeoutMs: 500, delayLoopMs: 400, warmupMs: 50, retry: 0, delayBeforeRetryMs: 100, rise: 1, fall: 1, ...extra } as CheckSpec);
  const closed = await closedPort();
  const kinds = [mk({ connectIp: '224.0.0.1', connectPort: 80 }), mk({ connectIp: LO, connectPort: closed, bindto: '203.0.113.7' }), mk({ connectIp: LO, connectPort: closed }), mk({ connectIp: '999.1.1.1', connectPort: 1 })];
  const services = Array.from({ length: 100 }, (_, s) => ({
    proto: 'tcp' as const, addr: `10.100.0.${s}`, port: 80, sched: 'wlc', fwd: 'dr' as const, persistence: 0, delayLoopMs: 400, quorum: 1, hysteresis: 0, alpha: false, omega: false,
    realServers: kinds.map((k, i) => ({ addr: `10.0.${s}.${i}`, port: 80, weight: 1, inhibitOnFailure: false, checkers: [k] })),
  }));
  const down = new Map<string, number>();
  const warn = (o: object, m: string) => {
    if (m.includes('real server down')) down.set((o as { reason: string }).reason, (down.get((o as { reason: string }).reason) ?? 0) + 1);
  };
  // 50 slots for 400 checkers: 400 verdicts come only through slots given back.
  const mgr = new HealthManager({ services }, { call: () => null, run: hostChecks(new Pinger()), exec: async () => {}, log: { info: () => {}, warn }, random: () => 0.5, concurrency: 50 });
  await mgr.start();
  try {
    const end = Date.now() + 30_000;
    while ([...down.values()].reduce((a, b) => a + b, 0) < 400 && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(Object.fromEntries([...down].sort()), {
      'TCP_CHECK: connect EADDRNOTAVAIL': 100, 'TCP_CHECK: connect ECONNREFUSED': 100, 'TCP_CHECK: connect ENETUNREACH': 100,
      'TCP_CHECK: connect: not an IPv4 address (999.1.1.1)': 100,
    });
    const attempts = mgr.attempts;
    await new Promise((r) => setTimeout(r, 500));
    assert.ok(mgr.attempts > attempts, 'checks go on at their delay_loop');
    assert.ok(mgr.queue()!.inFlight <= 50);
  } finally {
    await mgr.stop();
  }
});

test('TCP_CHECK in the addon: connected, refused, unreachable, bind failures (EADDRNOTAVAIL, EADDRINUSE), timed out and from a fixed bind_port, many at once, leave no descriptor open; the reasons are net.connect\'s; a connect_timeout of a year does not fire early', async () => {
  const srv = net.createServer((c) => {
    c.on('error', () => {});
    c.destroy();
  });
  const port = await listen(srv);
  const silent = await unansweredPort();
  try {
    const connected = { ok: true, reason: 'connected' };
    assert.deepEqual(await checkTcp({ connectTimeoutMs: 1000 }, { ip: LO, port }), connected, 'the first check makes the thread\'s prober (its epoll descriptor)');
    const fds0 = openFds();
    const closed = await closedPort();
    const bindPort = await closedPort();
    const c = { connectTimeoutMs: 2000 };
    const cases: Array<[string, Parameters<typeof checkTcp>[0], { ip: string; port: number }, net.TcpNetConnectOpts]> = [
      ['refused', c, { ip: LO, port: closed }, { host: LO, port: closed }],
      ['unreachable (multicast)', c, { ip: '224.0.0.1', port: 80 }, { host: '224.0.0.1', port: 80 }],
      ['bindto not on the host', { ...c, bindto: '203.0.113.7' }, { ip: LO, port }, { host: LO, port, localAddress: '203.0.113.7' }],
      ['bind_port in use by a listener', { ...c, bindPort: port }, { ip: LO, port }, { host: LO, port, localPort: port }],
    ];
    const expected = await Promise.all(cases.map(async ([, , , o]) => {
      const code = await netConnectCode(o);
      return code === 'connected' ? connected : { ok: false, reason: `connect ${code}` };
    }));
    assert.deepEqual(expected.map((e) => e.reason), ['connect ECONNREFUSED', 'connect ENETUNREACH', 'connect EADDRNOTAVAIL', 'connect EADDRINUSE']);
    for (let r = 0; r < 3; r++) {
      const all = await Promise.all([
        ...Array.from({ length: 40 }, () => checkTcp(c, { ip: LO, port })),
        ...cases.flatMap(([, spec, target]) => Array.from({ length: 20 }, () => checkTcp(spec, target))),
        ...Array.from({ length: 30 }, () => checkTcp({ connectTimeoutMs: 150 }, { ip: LO, port: silent.port })),
        (async () => {
          for (let i = 0; i < 5; i++) assert.deepEqual(await checkTcp({ ...c, bindPort }, { ip: LO, port }), connected, `round ${r}: check ${i} from bind_port ${bindPort} (reset: no TIME_WAIT)`);
          return connected;
        })(),
      ]);
      assert.deepEqual(all.slice(0, 40), Array.from({ length: 40 }, () => connected), `round ${r}: connected`);
      for (const [k, [name]] of cases.entries()) assert.deepEqual(all.slice(40 + 20 * k, 60 + 20 * k), Array.from({ length: 20 }, () => expected[k]), `round ${r}: ${name}`);
      const slow = all.slice(40 + 20 * cases.length, 70 + 20 * cases.length);
      assert.ok(slow.every((x) => x.ok || x.reason === 'connect timeout after 150 ms'), JSON.stringify(slow));
      assert.ok(slow.filter((x) => !x.ok).length >= 28, `round ${r}: timed out: ${slow.filter((x) => !x.ok).length} of 30 (the listener's queue holds 2)`);
    }
    // The silent listener's queue is full by now: this connect stays under way.
    const year = checkTcp({ connectTimeoutMs: 365 * 86_400_000 }, { ip: LO, port: silent.port });
    assert.equal(await Promise.race([year, new Promise((r) => setTimeout(() => r('in flight'), 300))]), 'in flight', 'a year\'s connect_timeout');
    silent.child.kill();
    // Its SYN sent again (1 s after the first) to a port now closed: refused.
    assert.deepEqual(await year, { ok: false, reason: 'connect ECONNREFUSED' });
    assert.equal(tcpProbeStats()!.inFlight, 0);
    assert.equal(openFds(), fds0, 'descriptors open after the checks, as before them');
  } finally {
    srv.close();
    silent.child.kill();
  }
});

test('TCP_CHECK in the addon on a worker thread: the worker terminated, or ending with process.exit(), with checks in flight does not abort the process, and their sockets are closed', async () => {
  const silent = await unansweredPort();
  try {
    const fds0 = openFds();
    for (const end of ['terminate', 'exit'] as const) {
      const w = new Worker(`
        const { parentPort } = require('node:worker_threads');
        import(${JSON.stringify(new URL('../src/health/checkers/tcp.js', import.meta.url).href)}).then(({ checkTcp, tcpProbeStats }) => {
          for (let i = 0; i < 20; i++) checkTcp({ connectTimeoutMs: 60000 }, { ip: '127.0.0.1', port: ${silent.port} });
          parentPort.postMessage(tcpProbeStats().inFlight);
          if (${JSON.stringify(end)} === 'exit') setTimeout(() => process.exit(3), 50);
        });`, { eval: true });
      const inFlight = await new Promise((resolve) => w.once('message', resolve));
      assert.equal(inFlight, 20, end);
      assert.ok(openFds() >= fds0 + 21, `${end}: the worker's sockets and epoll descriptor open`);
      const code = end === 'terminate' ? await w.terminate() : await new Promise((resolve) => w.once('exit', resolve));
      assert.equal(code, end === 'terminate' ? 1 : 3);
      assert.equal(openFds(), fds0, `${end}: the worker's descriptors closed with it`);
    }
  } finally {
    silent.child.kill();
  }
});

test('HTTP_GET: status codes, MD5 digest, regex and substring of the body, several urls', async () => {
  const body = 'hello from rs1\n';
  const srv = http.createServer((req, res) => {
    if (req.url === '/missing') {
      res.writeHead(404);
      res.end('nope');
    } else if (req.url === '/redirect') {
      res.writeHead(302, { location: '/' });
      res.end();
    } else {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(body);
    }
  });
  const port = await listen(srv);
  const t = { ip: LO, port };
  const spec = (urls: Parameters<typeof checkHttp>[0]['urls']) => ({ connectTimeoutMs: 2000, urls });
  const md5 = createHash('md5').update(body).digest('hex');
  try {
    assert.equal((await checkHttp(spec([{ path: '/' }]), t)).ok, true);
    const miss = await checkHttp(spec([{ path: '/missing' }]), t);
    assert.deepEqual(miss, { ok: false, reason: '/missing: HTTP status 404' });
    assert.equal((await checkHttp(spec([{ path: '/missing', status: [[404, 404]] }]), t)).ok, true, 'status_code 404 accepted when asked');
    assert.equal((await checkHttp(spec([{ path: '/redirect' }]), t)).ok, false, '302 is not 2xx');
    assert.equal((await checkHttp(spec([{ path: '/redirect', status: [[200, 200], [301, 303]] }]), t)).ok, true);
    assert.equal((await checkHttp(spec([{ path: '/', digest: md5 }]), t)).ok, true);
    const bad = await checkHttp(spec([{ path: '/', digest: '0'.repeat(32) }]), t);
    assert.equal(bad.ok, false);
    assert.match(bad.reason, new RegExp(`MD5 digest ${md5} differs`));
    assert.equal((await checkHttp(spec([{ path: '/', contains: 'from rs1' }]), t)).ok, true);
    assert.equal((await checkHttp(spec([{ path: '/', contains: 'from rs2' }]), t)).ok, false);
    assert.equal((await checkHttp(spec([{ path: '/', regex: '^hello .* rs\\d' }]), t)).ok, true);
    assert.equal((await checkHttp(spec([{ path: '/', regex: '^bye' }]), t)).ok, false);
    // Every url must pass: the second one fails the check.
    const two = await checkHttp(spec([{ path: '/' }, { path: '/missing' }]), t);
    assert.equal(two.ok, false);
    assert.match(two.reason, /^\/missing/);
    const closed = await checkHttp(spec([{ path: '/' }]), { ip: LO, port: await closedPort() });
    assert.equal(closed.ok, false);
    assert.match(closed.reason, /ECONNREFUSED/);
  } finally {
    srv.close();
  }
});

test('HTTP_GET from keepalived.conf: regex_no_match fails the check on a match (before: ignored, so the check was inverted), regex_options caseless / multiline / dotall / dollar_endonly, $ before a final newline as pcre2\'s, regex_min_offset and regex_max_offset in bytes of the body', async () => {
  const bodies: Record<string, string> = { '/ok': 'ok\n', '/maint': 'down for maintenance\n', '/vh': 'vh', '/lines': 'first\nsecond\n', '/utf': '\u00e9\u00e9 OK' };
  const srv = http.createServer((req, res) => res.end(bodies[req.url ?? ''] ?? ''));
  const port = await listen(srv);
  const t = { ip: LO, port };
  /** The checker of a real_server whose HTTP_GET has this url block. */
  const check = (url: string) => {
    const { config, warnings } = parseKeepalived(`virtual_server 10.0.0.1 80 {\n protocol TCP\n lb_algo rr\n lb_kind NAT\n real_server ${LO} ${port} {\n  HTTP_GET {\n   connect_timeout 2\n   url {\n${url}\n   }\n  }\n }\n}\n`, 'k.conf');
    assert.deepEqual(warnings, [], url);
    return checkHttp(config.services[0]!.realServers[0]!.checkers[0] as HttpCheck, t);
  };
  try {
    assert.deepEqual(await check('path /ok\nregex "maintenance"\nregex_no_match'), { ok: true, reason: '/ok: HTTP status 200, body matches' });
    assert.deepEqual(await check('path /maint\nregex "maintenance"\nregex_no_match'), { ok: false, reason: '/maint: body matches /maintenance/ (regex_no_match)' });
    assert.equal((await check('path /maint\nregex "maintenance"')).ok, true);
    assert.deepEqual(await check('path /vh\nregex "^VH"'), { ok: false, reason: '/vh: body does not match /^VH/' });
    assert.equal((await check('path /vh\nregex "^VH"\nregex_options caseless')).ok, true, 'caseless (before: ignored, the server taken down)');
    assert.equal((await check('path /ok\nregex "^ok$"')).ok, true, 'pcre2\'s $ matches before a final newline (before: the server taken down)');
    assert.equal((await check('path /ok\nregex "^ok$"\nregex_options dollar_endonly')).ok, false);
    assert.equal((await check('path /ok\nregex "^ok[$]"')).ok, false, 'a $ in a class is the character');
    assert.equal((await check('path /lines\nregex "^second$"')).ok, false);
    assert.equal((await check('path /lines\nregex "^second$"\nregex_options multiline')).ok, true);
    assert.equal((await check('path /lines\nregex "first.second"\nregex_options multiline')).ok, false);
    assert.equal((await check('path /lines\nregex "first.second"\nregex_options multiline dotall')).ok, true);
    // "éé OK": OK starts at byte 5 (character 3).
    assert.equal((await check('path /utf\nregex "OK"\nregex_max_offset 5')).ok, true);
    assert.equal((await check('path /utf\nregex "OK"\nregex_max_offset 4')).ok, false, 'bytes, not characters');
    assert.equal((await check('path /utf\nregex "OK"\nregex_min_offset 5')).ok, true);
    assert.equal((await check('path /utf\nregex "OK"\nregex_min_offset 6')).ok, false);
    assert.equal((await check('path /utf\nregex "OK"\nregex_min_offset 6\nregex_no_match')).ok, true, 'no match past the offset: regex_no_match passes');
    assert.equal((await check('path /utf\nregex "(?<=\u00e9 )OK"\nregex_min_offset 5')).ok, true, 'a lookbehind sees the text before the offset, as pcre2\'s');
  } finally {
    srv.close();
  }
});

test('HTTP_GET regex runs off the main thread within 100 ms: "^(a+)+$" against 34 a\'s and "!" fails in about the limit and the event loop stays responsive (before: the loop, datapath included, froze for minutes); the next match gets a fresh thread; matches waiting past the limit get no verdict', async () => {
  const srv = http.createServer((req, res) => res.end(req.url === '/evil' ? `${'a'.repeat(34)}!` : 'aaaa'));
  const t = { ip: LO, port: await listen(srv) };
  let late = 0;
  let last = performance.now();
  const tick = setInterval(() => {
    const now = performance.now();
    late = Math.max(late, now - last - 10);
    last = now;
  }, 10);
  try {
    const t0 = performance.now();
    const r = await checkHttp({ connectTimeoutMs: 5000, urls: [{ path: '/evil', regex: '^(a+)+$' }] }, t);
    const took = performance.now() - t0;
    await new Promise((resolve) => setTimeout(resolve, 25)); // a blocked loop shows in the tick after it
    assert.deepEqual(r, { ok: false, reason: '/evil: regex match exceeded 100 ms (keepalived: pcre2 match limit): no match' });
    // The limit is the thread's CPU time: ~100 ms on an idle host, longer on a busy one (its share of a CPU).
    assert.ok(took >= REGEX_TIME_LIMIT_MS && took < 5000, `failed after ${took.toFixed(0)} ms`);
    assert.ok(late < 50, `the event loop was ${late.toFixed(0)} ms late meanwhile`);
    // The thread that ran away was ended: a fresh one answers the next match.
    assert.deepEqual(await checkHttp({ connectTimeoutMs: 5000, urls: [{ path: '/ok', regex: '^(a+)+$' }] }, t), { ok: true, reason: '/ok: HTTP status 200, body matches' });
  } finally {
    clearInterval(tick);
    srv.close();
  }
  // A matcher of its own, its thread started: one match runs, one waits, the third finds the queue full (no verdict on the server).
  const m = new RegexMatcher(50, 1);
  const evil = Buffer.from(`${'a'.repeat(34)}!`);
  assert.deepEqual(await m.match({ regex: 'a$' }, evil), { matched: false });
  const all = await Promise.all([0, 1, 2].map(() => m.match({ regex: '^(a+)+$' }, evil)));
  assert.deepEqual(all, [
    { matched: false, error: 'regex match exceeded 50 ms (keepalived: pcre2 match limit)' },
    { matched: false, error: 'regex match exceeded 50 ms (keepalived: pcre2 match limit)' },
    { problem: 'regex match not run: 1 matches already wait for the regex thread', notRun: true },
  ]);
});

test('HTTP_GET regex limit is the regex thread\'s CPU time, from when it is ready: a thread that waits 150 ms off the CPU at start and before each match (as a starved one on a busy host) still matches "^(a+)+$" against "aaaa" (before: "regex match exceeded 100 ms", the server taken down); a runaway match still ends at the limit', async () => {
  const m = new RegexMatcher(REGEX_TIME_LIMIT_MS, 4, new URL('./helpers/regex-slow-worker.js', import.meta.url));
  const aaaa = Buffer.from('aaaa');
  const over = { matched: false, error: `regex match exceeded ${REGEX_TIME_LIMIT_MS} ms (keepalived: pcre2 match limit)` };
  assert.deepEqual(await m.match({ regex: '^(a+)+$' }, aaaa), { matched: true }, 'the first match, on a fresh thread');
  assert.deepEqual(await m.match({ regex: '^(a+)+$' }, aaaa), { matched: true }, 'the next match, on the same thread');
  const t0 = performance.now();
  assert.deepEqual(await m.match({ regex: '^(a+)+$' }, Buffer.from(`${'a'.repeat(34)}!`)), over);
  const took = performance.now() - t0;
  assert.ok(took >= 150 + REGEX_TIME_LIMIT_MS * 0.9 && took < 5000, `the runaway match ended after ${took.toFixed(0)} ms (150 waiting, ${REGEX_TIME_LIMIT_MS} running)`);
});

test('HTTP_GET and SSL_GET regex over the 100 ms limit is no match, as keepalived\'s pcre2 match-limit error (check_regex): regex_no_match passes, a plain regex fails (before: both failed)', async () => {
  const page = (c: net.Socket) => c.once('data', () => c.end(`HTTP/1.0 200 OK\r\n\r\n${'a'.repeat(34)}!`));
  const plain = net.createServer(page);
  const secure = tls.createServer({ key: TEST_TLS_KEY, cert: TEST_TLS_CERT }, page);
  const over = `regex match exceeded ${REGEX_TIME_LIMIT_MS} ms (keepalived: pcre2 match limit)`;
  try {
    const t = { ip: LO, port: await listen(plain) };
    assert.deepEqual(await checkHttp({ connectTimeoutMs: 5000, urls: [{ path: '/', regex: '^(a+)+$', regexNoMatch: true }] }, t), { ok: true, reason: `/: HTTP status 200, ${over}: no match (regex_no_match)` });
    assert.deepEqual(await checkHttp({ connectTimeoutMs: 5000, urls: [{ path: '/', regex: '^(a+)+$' }] }, t), { ok: false, reason: `/: ${over}: no match` });
    const ts = { ip: LO, port: await listen(secure) };
    assert.deepEqual(await checkSsl({ connectTimeoutMs: 5000, urls: [{ path: '/', regex: '^(a+)+$', regexNoMatch: true }] }, ts), { ok: true, reason: `/: HTTP status 200, ${over}: no match (regex_no_match)` });
  } finally {
    plain.close();
    secure.close();
  }
});

test('HTTP_GET and SSL_GET: a response with both Content-Length and Transfer-Encoding: chunked passes, as keepalived, which reads only the status line and the end of the headers, passes it (before: HPE_INVALID_TRANSFER_ENCODING, the server taken down)', async () => {
  const answer = 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nok\n\r\n0\r\n\r\n';
  const reply = (c: net.Socket) => c.once('data', () => c.end(answer));
  const plain = net.createServer(reply);
  const secure = tls.createServer({ key: TEST_TLS_KEY, cert: TEST_TLS_CERT }, reply);
  const spec = { connectTimeoutMs: 2000, urls: [{ path: '/', regex: '^ok$' }] };
  try {
    assert.deepEqual(await checkHttp(spec, { ip: LO, port: await listen(plain) }), { ok: true, reason: '/: HTTP status 200, body matches' });
    assert.deepEqual(await checkSsl(spec, { ip: LO, port: await listen(secure) }), { ok: true, reason: '/: HTTP status 200, body matches' });
  } finally {
    plain.close();
    secure.close();
  }
});

test('HTTP_GET digest of a 20 MB body passes: it streams through MD5 (before: "body larger than 16777216 bytes"); regex and contains, which read the body whole, still stop at 16 MB', async () => {
  const mb = Buffer.alloc(1 << 20, 'health ');
  const srv = http.createServer(async (_req, res) => {
    for (let i = 0; i < 20; i++) if (!res.write(mb)) await new Promise((r) => res.once('drain', r));
    res.end();
  });
  const md5 = createHash('md5');
  for (let i = 0; i < 20; i++) md5.update(mb);
  const t = { ip: LO, port: await listen(srv) };
  try {
    assert.deepEqual(await checkHttp({ connectTimeoutMs: 5000, urls: [{ path: '/', digest: md5.digest('hex') }] }, t), { ok: true, reason: '/: HTTP status 200, body matches' });
    assert.deepEqual(await checkHttp({ connectTimeoutMs: 5000, urls: [{ path: '/', contains: 'health' }] }, t), { ok: false, reason: '/: body larger than 16777216 bytes' });
  } finally {
    srv.close();
  }
});

test('HTTP_GET and SSL_GET: a server that accepts but never answers (nor does the TLS handshake) fails after connect_timeout', async () => {
  const socks: net.Socket[] = [];
  const srv = net.createServer((c) => socks.push(c)); // reads nothing, answers nothing
  const port = await listen(srv);
  try {
    for (const check of [checkHttp, checkSsl]) {
      const t0 = Date.now();
      const r = await check({ connectTimeoutMs: 300, urls: [{ path: '/' }] }, { ip: LO, port });
      const took = Date.now() - t0;
      assert.deepEqual(r, { ok: false, reason: '/: timeout after 300 ms' }, check.name);
      assert.ok(took >= 290 && took < 2000, `${check.name} took ${took} ms`);
    }
  } finally {
    for (const s of socks) s.destroy();
    srv.close();
  }
});

/** An https server (self-signed test certificate) answering `answer`; records each request's Host header and SNI. */
function httpsServer(answer: (path: string) => [number, string]): { srv: https.Server; seen: Array<{ path: string; host: string; sni: string; agent?: string }> } {
  const seen: Array<{ path: string; host: string; sni: string; agent?: string }> = [];
  const srv = https.createServer({ key: TEST_TLS_KEY, cert: TEST_TLS_CERT }, (req, res) => {
    const path = req.url ?? '';
    seen.push({ path, host: req.headers.host ?? '', sni: (req.socket as TLSSocket).servername || '(none)', agent: req.headers['user-agent'] });
    const [status, body] = answer(path);
    res.writeHead(status, { 'content-type': 'text/plain' });
    res.end(body);
  });
  return { srv, seen };
}

const closeServer = (srv: net.Server): Promise<void> => new Promise((r) => srv.close(() => r()));

test('SSL_GET: HTTP_GET over TLS to a self-signed server (not verified): status codes, MD5 digest, several urls; gone or plain HTTP fails', async () => {
  const body = 'hello over tls\n';
  const { srv } = httpsServer((path) => (path === '/missing' ? [404, 'nope'] : [200, body]));
  const port = await listen(srv);
  const t = { ip: LO, port };
  const spec = (urls: Parameters<typeof checkSsl>[0]['urls']) => ({ connectTimeoutMs: 2000, urls });
  const md5 = createHash('md5').update(body).digest('hex');
  let open = true;
  try {
    assert.deepEqual(await checkSsl(spec([{ path: '/' }]), t), { ok: true, reason: '/: HTTP status 200' });
    assert.deepEqual(await checkSsl(spec([{ path: '/', status: [[200, 200]], digest: md5 }]), t), { ok: true, reason: '/: HTTP status 200, body matches' });
    assert.deepEqual(await checkSsl(spec([{ path: '/missing' }]), t), { ok: false, reason: '/missing: HTTP status 404' });
    assert.deepEqual(await checkSsl(spec([{ path: '/', status: [[204, 204]] }]), t), { ok: false, reason: '/: HTTP status 200' }, 'status_code 204 asked, 200 answered');
    assert.equal((await checkSsl(spec([{ path: '/missing', status: [[404, 404]] }]), t)).ok, true, 'status_code 404 accepted when asked');
    const bad = await checkSsl(spec([{ path: '/', digest: '0'.repeat(32) }]), t);
    assert.deepEqual(bad, { ok: false, reason: `/: MD5 digest ${md5} differs from ${'0'.repeat(32)}` });
    const two = await checkSsl(spec([{ path: '/' }, { path: '/missing' }]), t);
    assert.deepEqual(two, { ok: false, reason: '/missing: HTTP status 404' }, 'every url must pass');
    // The transport really is TLS: plain HTTP to the https server fails.
    const plain = await checkHttp(spec([{ path: '/' }]), t);
    assert.equal(plain.ok, false, plain.reason);
    await closeServer(srv);
    open = false;
    const gone = await checkSsl(spec([{ path: '/' }]), t);
    assert.deepEqual(gone, { ok: false, reason: '/: ECONNREFUSED' }, 'the server is gone');
  } finally {
    if (open) srv.close();
  }
  // A plain HTTP server is not an SSL_GET pass either (the handshake fails).
  const h = http.createServer((_req, res) => res.end('plain'));
  const hp = await listen(h);
  try {
    const r = await checkSsl(spec([{ path: '/' }]), { ip: LO, port: hp });
    assert.equal(r.ok, false);
    assert.match(r.reason, /^\/: EPROTO \(.+\)$/, 'the TLS error says why');
  } finally {
    h.close();
  }
});

test('SSL_GET: Host header as HTTP_GET (virtualhost, else address:port); SNI only with enable_sni and a virtualhost (keepalived); a url\'s own virtualhost wins for that url', async () => {
  const { srv, seen } = httpsServer(() => [200, 'ok']);
  const port = await listen(srv);
  const t = { ip: LO, port };
  const urls = [{ path: '/' }];
  try {
    for (const spec of [
      { connectTimeoutMs: 2000, urls },
      { connectTimeoutMs: 2000, urls, virtualhost: 'rs.example' },
      { connectTimeoutMs: 2000, urls, enableSni: true },
      { connectTimeoutMs: 2000, urls, virtualhost: 'rs.example', enableSni: true },
      // keepalived 2.x: virtualhost inside a url block, for that url only.
      { connectTimeoutMs: 2000, urls: [{ path: '/a', virtualhost: 'a.example' }, { path: '/b' }], virtualhost: 'rs.example', enableSni: true },
    ]) assert.equal((await checkSsl(spec, t)).ok, true);
    assert.deepEqual(seen.map((s) => [s.host, s.sni]), [
      [`${LO}:${port}`, '(none)'],
      ['rs.example', '(none)'],
      [`${LO}:${port}`, '(none)'],
      ['rs.example', 'rs.example'],
      ['a.example', 'a.example'],
      ['rs.example', 'rs.example'],
    ]);
    const k = parseKeepalived('virtual_server 1.2.3.4 443 {\n  protocol TCP\n  lb_algo wlc\n  lb_kind DR\n  real_server 1.2.3.5 443 {\n    SSL_GET {\n      url {\n        path /a\n        virtualhost a.example\n      }\n    }\n  }\n}\n', 'k.conf');
    const c = k.config.services[0]!.realServers[0]!.checkers[0]!;
    assert.deepEqual(k.warnings, []);
    assert.equal(c.type === 'SSL_GET' ? c.urls[0]!.virtualhost : undefined, 'a.example');
  } finally {
    srv.close();
  }
});

test('HTTP_GET and SSL_GET send keepalived\'s User-Agent, KeepAliveClient (web servers\' rules written for keepalived\'s checks, e.g. access logs that leave them out, match them; until 2026-12-07 uvs-health)', async () => {
  const agents: Array<string | undefined> = [];
  const h = http.createServer((req, res) => {
    agents.push(req.headers['user-agent']);
    res.end('ok');
  });
  const hp = await listen(h);
  const { srv, seen } = httpsServer(() => [200, 'ok']);
  const sp = await listen(srv);
  try {
    assert.equal((await checkHttp({ connectTimeoutMs: 2000, urls: [{ path: '/' }] }, { ip: LO, port: hp })).ok, true);
    assert.equal((await checkSsl({ connectTimeoutMs: 2000, urls: [{ path: '/' }] }, { ip: LO, port: sp })).ok, true);
    assert.deepEqual([...agents, ...seen.map((s) => s.agent)], ['KeepAliveClient', 'KeepAliveClient']);
  } finally {
    h.close();
    srv.close();
  }
});

test('a checker that connects to a port, run at port 0 (a -f service\'s server without connect_port), fails at once naming it: HTTP_GET went to port 80 (Node\'s default), SSL_GET to 443', async () => {
  const pinger = new Pinger();
  try {
    const { config } = parseKeepalived(`virtual_server fwmark 7 {
  lb_kind NAT
  real_server ${LO} 0 {
    HTTP_GET { url { path / } }
    SSL_GET { url { path / } }
    TCP_CHECK { }
    UDP_CHECK { }
  }
}
`, 'keepalived.conf');
    const rs = config.services[0]!.realServers[0]!;
    for (const c of rs.checkers) {
      assert.deepEqual(await hostChecks(pinger)(c, rs), { ok: false, reason: `${c.type}: no port to check (port 0): give connect_port` });
    }
  } finally {
    pinger.close();
  }
});

test('SSL_GET from keepalived.conf, run as uvsd runs checks (hostChecks): up while /health answers 200, down on 500, down once the server is gone', async () => {
  let status = 200;
  const { srv } = httpsServer(() => [status, 'health']);
  const port = await listen(srv);
  let open = true;
  const pinger = new Pinger();
  try {
    const { config, warnings } = parseKeepalived(`virtual_server 192.168.8.200 443 {
  protocol TCP
  lb_algo wlc
  lb_kind NAT
  real_server ${LO} ${port} {
    SSL_GET {
      url {
        path /health
        status_code 200
      }
      connect_timeout 3
    }
  }
}
`, 'keepalived.conf');
    assert.deepEqual(warnings, []);
    const rs = config.services[0]!.realServers[0]!;
    assert.deepEqual(rs.checkers.map((c) => c.type), ['SSL_GET']);
    const run = () => hostChecks(pinger)(rs.checkers[0]!, rs);
    assert.deepEqual(await run(), { ok: true, reason: '/health: HTTP status 200' });
    status = 500;
    assert.deepEqual(await run(), { ok: false, reason: '/health: HTTP status 500' });
    status = 200;
    assert.equal((await run()).ok, true);
    await closeServer(srv);
    open = false;
    assert.deepEqual(await run(), { ok: false, reason: '/health: ECONNREFUSED' });
  } finally {
    pinger.close();
    if (open) srv.close();
  }
});

test('SSL_GET with keepalived\'s SSL block: a server that requires a client certificate passes only when the block gives one; unreadable files are refused at load with file:line', async () => {
  // The server trusts the test certificate as a client certificate (mutual TLS).
  const srv = https.createServer({ key: TEST_TLS_KEY, cert: TEST_TLS_CERT, requestCert: true, rejectUnauthorized: true, ca: [TEST_TLS_CERT] }, (_req, res) => res.end('ok'));
  const port = await listen(srv);
  const dir = mkdtempSync(join(tmpdir(), 'uvs-ssl-'));
  const pinger = new Pinger();
  try {
    writeFileSync(join(dir, 'client.pem'), TEST_TLS_CERT);
    writeFileSync(join(dir, 'client.key'), TEST_TLS_KEY);
    const conf = (ssl: string) => `${ssl}
virtual_server 192.168.8.200 443 {
  real_server ${LO} ${port} {
    SSL_GET {
      url {
        path /
      }
      connect_timeout 3
    }
  }
}
`;
    const ssl = `SSL {
  certificate ${join(dir, 'client.pem')}
  key ${join(dir, 'client.key')}
  ca ${join(dir, 'client.pem')}
}`;
    writeFileSync(join(dir, 'with.conf'), conf(ssl));
    writeFileSync(join(dir, 'without.conf'), conf(''));
    const run = (file: string) => {
      const rs = loadKeepalivedFile(join(dir, file)).config.services[0]!.realServers[0]!;
      return hostChecks(pinger)(rs.checkers[0]!, rs);
    };
    const without = await run('without.conf');
    assert.equal(without.ok, false, 'the server asks for a certificate: none given');
    assert.deepEqual(await run('with.conf'), { ok: true, reason: '/: HTTP status 200' });
    const spec = loadKeepalivedFile(join(dir, 'with.conf')).config.services[0]!.realServers[0]!.checkers[0]!;
    assert.equal(spec.type === 'SSL_GET' && spec.tls?.certificate, join(dir, 'client.pem'));
    // A file that goes away after the load: the check fails and says which.
    rmSync(join(dir, 'client.key'));
    assert.deepEqual(await hostChecks(pinger)(spec, { addr: LO, port }), { ok: false, reason: `SSL key ${join(dir, 'client.key')}: ENOENT` });
    // Missing at load: refused as keepalived refuses to start, with file:line of the SSL block.
    assert.throws(() => loadKeepalivedFile(join(dir, 'with.conf')), { message: `${join(dir, 'with.conf')}:1: SSL key ${join(dir, 'client.key')}: ENOENT` });
    assert.throws(() => parseKeepalived('SSL {\n  certificate /a.pem\n}\n', 'k.conf'), { message: 'k.conf:1: SSL: certificate and key go together' });
    // An unknown keyword is keepalived's "Unknown keyword": warned, and not read (refused until 2026-12-06).
    assert.deepEqual(parseKeepalived('SSL {\n  cert /a.pem\n}\n', 'k.conf').warnings, ['k.conf:2: unsupported keyword "cert" in SSL ignored']);
  } finally {
    pinger.close();
    srv.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('UDP_CHECK: port unreachable fails; silence passes unless a reply is required; reply checks (the bytes up to the shorter, masked nibbles, lengths)', async () => {
  const srv = dgram.createSocket('udp4');
  srv.on('message', (msg, r) => {
    if (msg.toString() === 'ping') srv.send(Buffer.from('pong!'), r.port, r.address);
    // anything else: no answer
  });
  await new Promise<void>((r) => srv.bind(0, LO, () => r()));
  const port = srv.address().port;
  const t = { ip: LO, port };
  const base = { connectTimeoutMs: 300, requireReply: false };
  try {
    const refused = await checkUdp({ ...base, payload: Buffer.from('ping') }, { ip: LO, port: await closedPort() });
    assert.deepEqual(refused, { ok: false, reason: 'udp ECONNREFUSED' });
    assert.deepEqual(await checkUdp({ ...base, payload: Buffer.from('quiet') }, t), { ok: true, reason: 'no ICMP error' });
    assert.deepEqual(await checkUdp({ ...base, requireReply: true, payload: Buffer.from('quiet') }, t), { ok: false, reason: 'no reply within 300 ms' });
    assert.deepEqual(await checkUdp({ ...base, requireReply: true, payload: Buffer.from('ping') }, t), { ok: true, reason: 'reply of 5 bytes' });
    assert.equal((await checkUdp({ ...base, requireReply: true, replyPrefix: Buffer.from('pong'), payload: Buffer.from('ping') }, t)).ok, true);
    const wrong = await checkUdp({ ...base, requireReply: true, replyPrefix: Buffer.from('PONG'), payload: Buffer.from('ping') }, t);
    assert.deepEqual(wrong, { ok: false, reason: 'reply byte 0 (0x70) does not match the expected bytes' });
    // keepalived's check_udp_reply: up to the shorter of the two (until 2026-12-06 a reply shorter than the bytes failed), a 0 mask bit matches anything.
    assert.equal((await checkUdp({ ...base, requireReply: true, replyPrefix: Buffer.from('pong!!!'), payload: Buffer.from('ping') }, t)).ok, true);
    const masked = { ...base, requireReply: true, replyPrefix: Buffer.from('pXng'), replyMask: Buffer.from([0xff, 0, 0xff, 0xff]), payload: Buffer.from('ping') };
    assert.equal((await checkUdp(masked, t)).ok, true);
    assert.deepEqual(await checkUdp({ ...masked, replyMask: Buffer.from([0xff, 0xf0, 0xff, 0xff]) }, t), { ok: false, reason: 'reply byte 1 (0x6f) does not match the expected bytes' });
    const short = await checkUdp({ ...base, requireReply: true, minReplyLength: 6, payload: Buffer.from('ping') }, t);
    assert.deepEqual(short, { ok: false, reason: 'reply of 5 bytes, shorter than 6' });
    const long = await checkUdp({ ...base, requireReply: true, maxReplyLength: 4, payload: Buffer.from('ping') }, t);
    assert.deepEqual(long, { ok: false, reason: 'reply of 5 bytes, longer than 4' });
  } finally {
    srv.close();
  }
});

/** The question of a DNS query: its name (dotted, "." for the root) and type. */
function question(q: Buffer): { name: string; type: number } {
  const labels: string[] = [];
  let o = 12;
  while (q[o]! > 0) {
    labels.push(q.toString('ascii', o + 1, o + 1 + q[o]!));
    o += 1 + q[o]!;
  }
  return { name: labels.length === 0 ? '.' : labels.join('.'), type: q.readUInt16BE(o + 1) };
}

test('DNS_CHECK: NOERROR passes, another RCODE or silence fails; strays (another ID, a query) are ignored; the query is keepalived\'s', async () => {
  const seen: Buffer[] = [];
  const srv = dgram.createSocket('udp4');
  srv.on('message', (q, r) => {
    seen.push(q);
    const { name } = question(q);
    const answer = (rcode: number, id = q.readUInt16BE(0), qr = true): void => {
      const a = Buffer.from(q);
      a.writeUInt16BE(id, 0);
      a.writeUInt16BE((qr ? 0x8000 : 0) | 0x0180 | rcode, 2); // QR, RD, RA, RCODE
      srv.send(a, r.port, r.address);
    };
    if (name === 'silent.example') return;
    if (name === 'strays.example') {
      answer(3, q.readUInt16BE(0) ^ 1); // another query's NXDOMAIN
      answer(3, q.readUInt16BE(0), false); // not a response
      srv.send(Buffer.from([1, 2, 3]), r.port, r.address); // too short
    }
    answer(name === 'nx.example' ? 3 : name === 'refused.example' ? 5 : 0);
  });
  await new Promise<void>((r) => srv.bind(0, LO, () => r()));
  const t = { ip: LO, port: srv.address().port };
  const base = { connectTimeoutMs: 300, queryType: 'A' as const };
  try {
    assert.deepEqual(await checkDns({ ...base, queryName: 'ok.example' }, t), { ok: true, reason: 'A ok.example: NOERROR, 0 answer(s)' });
    assert.deepEqual(await checkDns({ ...base, queryName: 'nx.example' }, t), { ok: false, reason: 'A nx.example: rcode 3 (NXDOMAIN)' });
    assert.deepEqual(await checkDns({ ...base, queryName: 'refused.example' }, t), { ok: false, reason: 'A refused.example: rcode 5 (REFUSED)' });
    assert.deepEqual(await checkDns({ ...base, queryName: 'strays.example' }, t), { ok: true, reason: 'A strays.example: NOERROR, 0 answer(s)' });
    assert.deepEqual(await checkDns({ ...base, queryName: 'silent.example' }, t), { ok: false, reason: 'A silent.example: no response within 300 ms' });
    assert.deepEqual(await checkDns({ ...base, queryName: 'x.example' }, { ip: LO, port: await closedPort() }), { ok: false, reason: 'udp ECONNREFUSED' });
    // keepalived's defaults: SOA for the root; recursion desired, one question, class IN.
    seen.length = 0;
    assert.equal((await checkDns({ connectTimeoutMs: 300, queryType: 'SOA', queryName: '.' }, t)).ok, true);
    const q = seen[0]!;
    assert.deepEqual([q.readUInt16BE(2), q.readUInt16BE(4), q.readUInt16BE(6), q.readUInt16BE(8), q.readUInt16BE(10)], [0x0100, 1, 0, 0, 0]);
    assert.deepEqual(q.subarray(12), Buffer.from([0, 0, 6, 0, 1]));
    assert.deepEqual(question(dnsQuery(7, 'www.example.com.', 28)), { name: 'www.example.com', type: 28 }, 'a trailing dot is the same name');
    // From keepalived.conf, as uvsd runs it: the real server's port unless connect_port.
    const { config } = parseKeepalived(`virtual_server 10.0.0.1 53 {\n protocol UDP\n real_server ${LO} 53 {\n  DNS_CHECK {\n   connect_port ${t.port}\n   connect_timeout 1\n   type a\n   name nx.example\n  }\n }\n}\n`, 'k.conf');
    const spec = config.services[0]!.realServers[0]!.checkers[0]!;
    assert.deepEqual(await hostChecks(new Pinger())(spec, { addr: LO, port: 53 }), { ok: false, reason: 'A nx.example: rcode 3 (NXDOMAIN)' });
  } finally {
    srv.close();
  }
});

/** An SMTP server: `greeting` (null: none), then `helo` answers HELO and 221 answers QUIT; what it read. */
async function smtpServer(greeting: string | null, helo = '250 mx.example\r\n'): Promise<{ srv: net.Server; port: number; got: string[] }> {
  const got: string[] = [];
  const srv = net.createServer((c) => {
    c.setEncoding('latin1');
    if (greeting !== null) c.write(greeting);
    c.on('data', (d: string) => {
      for (const line of d.split('\r\n').filter((l) => l.length > 0)) {
        got.push(line);
        c.write(line.startsWith('HELO ') ? helo : line === 'QUIT' ? '221 bye\r\n' : '500 what\r\n');
      }
    });
    c.on('error', () => {});
  });
  return { srv, port: await listen(srv), got };
}

test('SMTP_CHECK: a 220 greeting (also of several lines), HELO answered 250 and QUIT answered pass; anything else fails, saying where', async () => {
  const base = { connectTimeoutMs: 300, helo: 'lb1.example' };
  const good = await smtpServer('220-mx.example ESMTP\r\n220 ready\r\n');
  const badGreeting = await smtpServer('554 no service here\r\n');
  const badHelo = await smtpServer('220 mx.example\r\n', '501 syntax\r\n');
  const silent = await smtpServer(null);
  const http = await smtpServer('HTTP/1.1 400 Bad Request\r\n');
  try {
    assert.deepEqual(await checkSmtp(base, { ip: LO, port: good.port }), { ok: true, reason: 'HELO lb1.example accepted' });
    assert.deepEqual(good.got, ['HELO lb1.example', 'QUIT']);
    assert.deepEqual(await checkSmtp(base, { ip: LO, port: badGreeting.port }), { ok: false, reason: 'greeting: 554 no service here (expected 220)' });
    assert.deepEqual(await checkSmtp(base, { ip: LO, port: badHelo.port }), { ok: false, reason: 'HELO: 501 syntax (expected 250)' });
    assert.deepEqual(await checkSmtp(base, { ip: LO, port: silent.port }), { ok: false, reason: 'greeting: timeout after 300 ms' });
    assert.deepEqual(await checkSmtp(base, { ip: LO, port: http.port }), { ok: false, reason: 'greeting: not an SMTP reply: "HTTP/1.1 400 Bad Request"' });
    assert.deepEqual(await checkSmtp(base, { ip: LO, port: await closedPort() }), { ok: false, reason: 'connect ECONNREFUSED' });
    // From keepalived.conf: helo_name's default, and one check per (deprecated) host block.
    good.got.length = 0;
    const { config } = parseKeepalived(`virtual_server 10.0.0.1 25 {\n real_server ${LO} 25 {\n  SMTP_CHECK {\n   connect_timeout 1\n   host {\n    connect_port ${good.port}\n   }\n   host {\n    connect_port ${badHelo.port}\n   }\n  }\n }\n}\n`, 'k.conf');
    const specs = config.services[0]!.realServers[0]!.checkers;
    const run = hostChecks(new Pinger());
    const results = await Promise.all(specs.map((c) => run(c, { addr: LO, port: 25 })));
    assert.deepEqual(results.map((r) => r.ok), [true, false]);
    assert.deepEqual(good.got, ['HELO smtpchecker.keepalived.org', 'QUIT']);
  } finally {
    for (const s of [good, badGreeting, badHelo, silent, http]) s.srv.close();
  }
});

test('MISC_CHECK: exit 0 passes, 1 fails, misc_dynamic turns 2..255 into a weight and 0 into the configured one, timeout kills', async () => {
  assert.deepEqual(await checkMisc({ command: '/bin/true', timeoutMs: 2000, dynamic: false }), { ok: true, reason: 'exit 0' });
  assert.deepEqual(await checkMisc({ command: '/bin/true', timeoutMs: 2000, dynamic: true }), { ok: true, reason: 'exit 0', weight: null });
  assert.deepEqual(await checkMisc({ command: '/bin/false', timeoutMs: 2000, dynamic: false }), { ok: false, reason: 'exit 1' });
  assert.deepEqual(await checkMisc({ command: '/bin/sh -c "exit 7"', timeoutMs: 2000, dynamic: false }), { ok: false, reason: 'exit 7' });
  assert.deepEqual(await checkMisc({ command: '/bin/sh -c "exit 7"', timeoutMs: 2000, dynamic: true }), { ok: true, reason: 'exit 7: weight 5', weight: 5 });
  assert.deepEqual(await checkMisc({ command: "/bin/sh -c 'exit 1'", timeoutMs: 2000, dynamic: true }), { ok: false, reason: 'exit 1' });
  const t0 = Date.now();
  const slow = await checkMisc({ command: '/bin/sh -c "sleep 5"', timeoutMs: 200, dynamic: false });
  assert.deepEqual(slow, { ok: false, reason: 'misc_path timeout after 200 ms' });
  assert.ok(Date.now() - t0 < 2000, 'the script was killed at the timeout');
  const missing = await checkMisc({ command: '/nonexistent/check --x', timeoutMs: 1000, dynamic: false });
  assert.deepEqual(missing, { ok: false, reason: 'misc_path spawn ENOENT' });
});

test('connect_timeout and misc_timeout past 24.8 days (keepalived takes up to a year): a server answering 50 ms late passes MISC_CHECK, HTTP_GET, SMTP_CHECK and UDP_CHECK (before: Node\'s setTimeout fired the timeout after 1 ms, every check failed, the server was taken down)', async () => {
  const DAYS30 = 30 * 86_400_000;
  const late = (fn: () => void): void => void setTimeout(fn, 50);
  const web = http.createServer((_req, res) => late(() => res.end('ok')));
  const smtp = net.createServer((c) => {
    c.on('error', () => {});
    late(() => c.write('220 ready\r\n'));
    c.on('data', (d) => c.write(d.toString().startsWith('HELO') ? '250 ok\r\n' : '221 bye\r\n'));
  });
  const udp = dgram.createSocket('udp4');
  udp.on('message', (_m, r) => late(() => udp.send('pong!', r.port, r.address)));
  await new Promise<void>((r) => udp.bind(0, LO, () => r()));
  try {
    const [webPort, smtpPort] = [await listen(web), await listen(smtp)];
    const results = await Promise.all([
      checkMisc({ command: '/bin/sh -c "sleep 0.05"', timeoutMs: DAYS30, dynamic: false }),
      checkHttp({ connectTimeoutMs: DAYS30, urls: [{ path: '/' }] }, { ip: LO, port: webPort }),
      checkSmtp({ connectTimeoutMs: DAYS30, helo: 'lb1' }, { ip: LO, port: smtpPort }),
      checkUdp({ connectTimeoutMs: DAYS30, requireReply: true, payload: Buffer.from('ping') }, { ip: LO, port: udp.address().port }),
    ]);
    assert.deepEqual(results.map((r) => [r.ok, r.reason]), [[true, 'exit 0'], [true, '/: HTTP status 200'], [true, 'HELO lb1 accepted'], [true, 'reply of 5 bytes']]);
  } finally {
    web.close();
    smtp.close();
    udp.close();
  }
});

/** Hold this thread's event loop `ms` (as SIGSTOP, a paused VM or a CPU quota hold uvsd's). */
const holdLoop = (ms: number): void => void Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

test('a check whose answer came while uvsd\'s loop was held past connect_timeout (SIGSTOP, a paused VM, a CPU quota) passes on that answer: TCP_CHECK, HTTP_GET, UDP_CHECK with a reply (before: each timed out, as libuv runs due timers before it reads what came, and the server was taken down after every stall)', async () => {
  // The servers in a child, which answers while this loop is held; it says "got" when a request
  // came, and answers 50 ms later.
  const child = spawn(process.execPath, ['-e', `const net = require('net'), http = require('http'), dgram = require('dgram');
    const tcp = net.createServer((c) => c.destroy());
    const web = http.createServer((req, res) => { console.log('got'); setTimeout(() => res.end('ok'), 50); });
    const udp = dgram.createSocket('udp4');
    udp.on('message', (m, r) => { console.log('got'); setTimeout(() => udp.send('pong!', r.port, r.address), 50); });
    tcp.listen(0, '127.0.0.1', () => web.listen(0, '127.0.0.1', () => udp.bind(0, '127.0.0.1', () =>
      console.log([tcp.address().port, web.address().port, udp.address().port].join(' ')))));`],
  { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const lines = (async function* () {
      let buf = '';
      for await (const d of child.stdout!) {
        buf += String(d);
        for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
          yield buf.slice(0, i);
          buf = buf.slice(i + 1);
        }
      }
    })();
    const [tcpPort, webPort, udpPort] = String((await lines.next()).value).split(' ').map(Number) as [number, number, number];
    // TCP_CHECK: the connect ends in the kernel at once; the loop is held 300 ms past its 50 ms.
    const tcp = checkTcp({ connectTimeoutMs: 50 }, { ip: LO, port: tcpPort });
    holdLoop(300);
    assert.deepEqual(await tcp, { ok: true, reason: 'connected' }, 'TCP_CHECK');
    // HTTP_GET and UDP_CHECK: held from the server's "got" (the request sent) 400 ms, past the
    // 200 ms connect_timeout; the answer comes 50 ms into the hold.
    const web = checkHttp({ connectTimeoutMs: 200, urls: [{ path: '/' }] }, { ip: LO, port: webPort });
    assert.equal((await lines.next()).value, 'got');
    holdLoop(400);
    assert.deepEqual(await web, { ok: true, reason: '/: HTTP status 200' }, 'HTTP_GET');
    const udp = checkUdp({ connectTimeoutMs: 200, requireReply: true, payload: Buffer.from('ping') }, { ip: LO, port: udpPort });
    assert.equal((await lines.next()).value, 'got');
    holdLoop(400);
    const u = await udp;
    assert.deepEqual([u.ok, u.reason], [true, 'reply of 5 bytes'], 'UDP_CHECK');
    // Still a timeout when nothing came: the hold changes no verdict but the one it caused.
    const { port: silent, child: mute } = await unansweredPort();
    try {
      for (let i = 0; i < 2; i++) void netConnectCode({ host: LO, port: silent }); // its backlog full: SYNs unanswered from now on
      await new Promise((r) => setTimeout(r, 50));
      const never = checkTcp({ connectTimeoutMs: 50 }, { ip: LO, port: silent });
      holdLoop(200);
      assert.deepEqual(await never, { ok: false, reason: 'connect timeout after 50 ms' }, 'TCP_CHECK unanswered');
    } finally {
      mute.kill();
    }
  } finally {
    child.kill();
  }
});

test('a command run by uvsd at a raised priority (the unit\'s Nice=-10) runs at the default nice 0', async (t) => {
  if (process.getuid?.() !== 0) {
    t.skip('raising a priority needs root (CAP_SYS_NICE)');
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'uvs-nice-'));
  try {
    const out = join(dir, 'nice');
    const script = join(dir, 'run.mjs');
    // The parent raises its own priority, as systemd's Nice= would, then runs the command the
    // way uvsd runs misc_path and notify scripts; the shell writes its own nice (field 19).
    // uvsd lowers the child's priority just after spawn returns, when the command already runs:
    // its first moments are at uvsd's priority (read at once, the shell saw -5 now and then).
    writeFileSync(script, [
      "import { getPriority, setPriority } from 'node:os';",
      `import { runCommand } from ${JSON.stringify(new URL('../src/health/exec.js', import.meta.url).href)};`,
      'setPriority(-5);',
      `const r = await runCommand(${JSON.stringify(`/bin/sh -c "sleep 0.2; cut -d ' ' -f19 /proc/$$/stat > ${out}"`)}, 5000);`,
      'console.log(JSON.stringify({ code: r.code, parent: getPriority() }));',
    ].join('\n'));
    const child = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let text = '';
    child.stdout.on('data', (b: Buffer) => (text += b.toString()));
    await new Promise((r) => child.once('exit', r));
    assert.deepEqual(JSON.parse(text), { code: 0, parent: -5 });
    assert.equal(readFileSync(out, 'utf8').trim(), '0', 'the command at nice 0, not at its parent\'s -5');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('command lines split like keepalived: quotes group, backslash escapes, no shell', () => {
  assert.deepEqual(splitCommand('/usr/bin/check  --host "a b"  \'c "d"\' e\\ f'), ['/usr/bin/check', '--host', 'a b', 'c "d"', 'e f']);
  assert.deepEqual(splitCommand('  '), []);
  assert.deepEqual(splitCommand('x ""'), ['x', '']);
  assert.throws(() => splitCommand('x "open'), /unterminated " quote/);
});

test('PING_CHECK: 127.0.0.1 and 127.0.0.2 answer an ICMP echo', async (t) => {
  const p = new Pinger();
  try {
    const r = await checkPing(p, { connectTimeoutMs: 1000 }, { ip: LO, port: 0 });
    if (!r.ok && /Operation not permitted|EPERM/.test(r.reason)) {
      t.skip(`no raw ICMP socket here (${r.reason}): PING_CHECK needs root or CAP_NET_RAW`);
      return;
    }
    assert.deepEqual(r, { ok: true, reason: 'echo reply' });
    // Several outstanding at once, matched by sequence number and source address.
    const many = await Promise.all([LO, '127.0.0.2', LO, '127.0.0.2'].map((ip) => checkPing(p, { connectTimeoutMs: 1000 }, { ip, port: 0 })));
    assert.deepEqual(many.map((m) => m.ok), [true, true, true, true]);
  } finally {
    p.close();
  }
});

test('UDP_CHECK without require_reply as uvsd runs it (hostChecks): the checks share one socket and give their slot back once sent (300 at once: 2 more descriptors, were 300); port unreachable fails, another destination unreachable too (keepalived), silence passes after connect_timeout, a reply at once; bind_port is the source; require_reply keeps a socket and its slot', { skip: process.getuid?.() !== 0 ? 'the ICMP errors come on a raw socket: root or CAP_NET_RAW' : false }, async () => {
  const from: number[] = [];
  const srv = dgram.createSocket('udp4');
  srv.on('message', (msg, r) => {
    from.push(r.port);
    if (msg.toString() === 'ping') srv.send(Buffer.from('pong!'), r.port, r.address);
  });
  const port = await new Promise<number>((r) => srv.bind(0, LO, () => r(srv.address().port)));
  const pinger = new Pinger();
  const run = hostChecks(pinger);
  const spec = (o: Record<string, unknown> = {}) => ({
    type: 'UDP_CHECK', connectTimeoutMs: 500, delayLoopMs: 1000, retry: 0, delayBeforeRetryMs: 1000, rise: 1, fall: 1, requireReply: false, payload: Buffer.from('quiet'), ...o,
  }) as CheckSpec;
  const rs = { addr: LO, port };
  const fds = () => readdirSync('/proc/self/fd').length;
  try {
    let released = 0;
    const before = fds();
    const t0 = Date.now();
    const quiet = Array.from({ length: 300 }, () => run(spec(), rs, () => released++));
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(released, 300, 'each gave its slot back once sent');
    assert.equal(fds() - before, 2, 'one UDP socket and the raw ICMP socket');
    assert.deepEqual(new Set(from), new Set([from[0]]), 'all from one source port');
    assert.deepEqual(new Set((await Promise.all(quiet)).map((r) => JSON.stringify(r))), new Set([JSON.stringify({ ok: true, reason: 'no ICMP error' })]));
    assert.ok(Date.now() - t0 >= 500, 'after connect_timeout');
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(fds() - before, 1, 'the UDP socket closed with its last wait (the raw one stays)');
    const t1 = Date.now();
    assert.deepEqual(await run(spec(), { addr: LO, port: await closedPort() }), { ok: false, reason: 'udp ECONNREFUSED' });
    assert.deepEqual(await run(spec({ payload: Buffer.from('ping') }), rs), { ok: true, reason: 'reply of 5 bytes' });
    assert.ok(Date.now() - t1 < 500, 'both before connect_timeout');
    // A host unreachable (ICMP type 3 code 1, as a router or the director's own ARP failure sends it): a
    // connected socket never heard of it (not a hard error), keepalived's IP_RECVERR socket fails on it.
    from.length = 0;
    const wait = run(spec({ connectTimeoutMs: 2000 }), rs);
    await new Promise((r) => setTimeout(r, 100));
    const icmp = Buffer.alloc(20 + 8 + 20 + 8);
    icmp[0] = 0x45;
    icmp[20] = 3; // destination unreachable
    icmp[21] = 1; // host unreachable
    icmp[28] = 0x45;
    icmp[28 + 9] = 17;
    Buffer.from([127, 0, 0, 1]).copy(icmp, 28 + 16);
    icmp.writeUInt16BE(from[0]!, 48);
    icmp.writeUInt16BE(port, 50);
    (pinger as unknown as { onMessage(b: Buffer, addr: string): void }).onMessage(icmp, '10.9.9.9');
    assert.deepEqual(await wait, { ok: false, reason: 'udp EHOSTUNREACH' });
    // With bindto, an error quoting another source address (another program on that port there,
    // bind_port with SO_REUSEADDR) is not this check's; one quoting its own address is.
    for (const [quoted, want] of [[[127, 0, 0, 2], { ok: true, reason: 'no ICMP error' }], [[127, 0, 0, 1], { ok: false, reason: 'udp EHOSTUNREACH' }]] as const) {
      from.length = 0;
      const bound = run(spec({ bindto: LO, connectTimeoutMs: 400 }), rs);
      await new Promise((r) => setTimeout(r, 100));
      icmp.writeUInt16BE(from[0]!, 48);
      Buffer.from(quoted).copy(icmp, 28 + 12);
      (pinger as unknown as { onMessage(b: Buffer, addr: string): void }).onMessage(icmp, '10.9.9.9');
      assert.deepEqual(await bound, want, `quoting ${quoted.join('.')}`);
    }
    // bind_port: the shared socket is bound to it.
    from.length = 0;
    const bindPort = await closedPort();
    assert.equal((await run(spec({ bindPort, connectTimeoutMs: 100 }), rs)).ok, true);
    assert.deepEqual(from, [bindPort]);
    // require_reply: a connected socket of its own, its slot held until the reply.
    released = 0;
    assert.deepEqual(await run(spec({ requireReply: true, payload: Buffer.from('ping') }), rs, () => released++), { ok: true, reason: 'reply of 5 bytes' });
    assert.equal(released, 0);
  } finally {
    pinger.close();
    srv.close();
  }
});

test('UDP_CHECK without require_reply and without CAP_NET_RAW (no raw ICMP socket): a connected socket of its own, its slot held; port unreachable still fails', { skip: process.getuid?.() !== 0 || spawnSync('setpriv', ['--version']).status !== 0 ? 'needs root and setpriv to drop CAP_NET_RAW' : false }, async () => {
  const port = await closedPort();
  const mod = JSON.stringify(new URL('../src/health/checkers/index.js', import.meta.url).href);
  const script = `const { hostChecks, Pinger } = await import(${mod});
    const run = hostChecks(new Pinger());
    let released = 0;
    const spec = { type: 'UDP_CHECK', connectTimeoutMs: 300, delayLoopMs: 1000, retry: 0, delayBeforeRetryMs: 1000, rise: 1, fall: 1, requireReply: false };
    const r = await run(spec, { addr: '127.0.0.1', port: ${port} }, () => released++);
    console.log(JSON.stringify({ r, released }));`;
  const c = spawnSync('setpriv', ['--bounding-set', '-net_raw', '--inh-caps', '-net_raw', process.execPath, '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 10_000 });
  assert.equal(c.status, 0, c.stderr);
  assert.deepEqual(JSON.parse(c.stdout), { r: { ok: false, reason: 'udp ECONNREFUSED' }, released: 0 });
});

test('bind_port: TCP_CHECK, HTTP_GET, SSL_GET and UDP_CHECK leave from that source port, check after check and to two servers at once', async () => {
  const seen: Record<string, number[]> = { tcp: [], http: [], https: [], udp: [] };
  const tcp = [0, 1].map(() => net.createServer((c) => {
    seen.tcp!.push(c.remotePort!);
    c.on('error', () => {});
    c.end();
  }));
  const web = http.createServer((req, res) => {
    seen.http!.push(req.socket.remotePort!);
    res.end('ok');
  });
  const tls = https.createServer({ key: TEST_TLS_KEY, cert: TEST_TLS_CERT }, (req, res) => {
    seen.https!.push(req.socket.remotePort!);
    res.end('ok');
  });
  const udp = [0, 1].map(() => dgram.createSocket('udp4'));
  for (const s of udp) {
    s.on('message', (m, r) => {
      seen.udp!.push(r.port);
      s.send(m, r.port, r.address);
    });
  }
  const tcpPorts = await Promise.all(tcp.map(listen));
  const webPort = await listen(web);
  const tlsPort = await listen(tls as unknown as net.Server);
  const udpPorts = await Promise.all(udp.map((s) => new Promise<number>((r) => s.bind(0, LO, () => r(s.address().port)))));
  try {
    const bindPort = await closedPort();
    const spec = { connectTimeoutMs: 2000, bindPort };
    for (let i = 0; i < 3; i++) assert.deepEqual(await checkTcp(spec, { ip: LO, port: tcpPorts[0]! }), { ok: true, reason: 'connected' }, `TCP check ${i}`);
    const both = await Promise.all(tcpPorts.map((port) => checkTcp(spec, { ip: LO, port })));
    assert.ok(both.every((r) => r.ok), JSON.stringify(both));
    for (let i = 0; i < 2; i++) assert.equal((await checkHttp({ ...spec, urls: [{ path: '/' }] }, { ip: LO, port: webPort })).ok, true, `HTTP check ${i}`);
    for (let i = 0; i < 2; i++) assert.equal((await checkSsl({ ...spec, urls: [{ path: '/' }] }, { ip: LO, port: tlsPort })).ok, true, `SSL check ${i}`);
    const replies = await Promise.all(udpPorts.map((port) => checkUdp({ ...spec, requireReply: true, payload: Buffer.from('hi') }, { ip: LO, port })));
    assert.ok(replies.every((r) => r.ok), JSON.stringify(replies));
    await new Promise((r) => setTimeout(r, 50));
    for (const [what, ports] of Object.entries(seen)) {
      assert.ok(ports.length >= 2 && ports.every((p) => p === bindPort), `${what}: from ${ports.join(', ')}, not all ${bindPort}`);
    }
  } finally {
    for (const s of [...tcp, web, tls]) s.close();
    for (const s of udp) s.close();
  }
});

test('uvsd out of file descriptors: TCP_CHECK, HTTP_GET, SSL_GET (its certificate file), SMTP_CHECK, UDP_CHECK, DNS_CHECK, MISC_CHECK and FILE_CHECK could not run (notRun, no verdict); with descriptors again they run', { skip: spawnSync('prlimit', ['--version']).status !== 0 ? 'no prlimit' : false }, () => {
  // A child with 64 file descriptors, a TCP server of its own on 127.0.0.1 and a track file,
  // opens /dev/null until EMFILE and runs each checker; then frees the descriptors and runs them again.
  const dir = mkdtempSync(join(tmpdir(), 'uvs-emfile-'));
  const mod = (p: string) => JSON.stringify(new URL(`../src/health/checkers/${p}.js`, import.meta.url).href);
  writeFileSync(join(dir, 'cert.pem'), TEST_TLS_CERT);
  const script = `
    const { openSync, closeSync, writeFileSync } = await import('node:fs');
    const net = await import('node:net');
    const { checkTcp } = await import(${mod('tcp')});
    const { checkHttp, checkSsl } = await import(${mod('http')});
    const { checkSmtp } = await import(${mod('smtp')});
    const { checkUdp } = await import(${mod('udp')});
    const { checkDns } = await import(${mod('dns')});
    const { checkMisc } = await import(${mod('misc')});
    const { checkFile } = await import(${mod('file')});
    const srv = net.createServer((s) => s.destroy());
    await new Promise((r) => srv.listen(0, '127.0.0.1', r));
    const t = { ip: '127.0.0.1', port: srv.address().port };
    const file = ${JSON.stringify(join(dir, 'maint'))};
    writeFileSync(file, '1\\n');
    const c = { connectTimeoutMs: 1000 };
    const all = () => Promise.all([
      checkTcp(c, t), checkHttp({ ...c, urls: [{ path: '/' }] }, t), checkSsl({ ...c, urls: [{ path: '/' }], tls: { certificate: ${JSON.stringify(join(dir, 'cert.pem'))} } }, t),
      checkSmtp({ ...c, helo: 'x' }, t), checkUdp({ ...c, requireReply: false }, t), checkDns({ ...c, queryType: 'A', queryName: 'x' }, t),
      checkMisc({ command: '/bin/true', timeoutMs: 1000, dynamic: false }),
      checkFile({ type: 'FILE_CHECK', trackFile: 'maint', path: file, weight: 0, reverse: false }),
    ]);
    const fds = [];
    let full;
    try { for (;;) fds.push(openSync('/dev/null', 'r')); } catch (e) { full = e.code; }
    const starved = await all();
    for (const fd of fds) closeSync(fd);
    const after = await all();
    srv.close();
    console.log(JSON.stringify({ full, starved, after }));`;
  try {
    const r = spawnSync('prlimit', ['--nofile=64', process.execPath, '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { full: string; starved: CheckResultJson[]; after: CheckResultJson[] };
    assert.equal(out.full, 'EMFILE');
    const names = ['TCP_CHECK', 'HTTP_GET', 'SSL_GET', 'SMTP_CHECK', 'UDP_CHECK', 'DNS_CHECK', 'MISC_CHECK', 'FILE_CHECK'];
    for (const [i, res] of out.starved.entries()) {
      assert.equal(res.notRun, true, `${names[i]}: ${JSON.stringify(res)}`);
      assert.match(res.reason, /EMFILE/, names[i]);
    }
    assert.deepEqual(out.starved.map((x) => x.reason), [
      'connect EMFILE', '/: EMFILE', `SSL certificate ${join(dir, 'cert.pem')}: EMFILE`, 'connect EMFILE', 'udp EMFILE', 'udp EMFILE', 'misc_path spawn EMFILE', `track_file ${join(dir, 'maint')}: EMFILE`,
    ]);
    // With descriptors: verdicts again (the server closes at once and has no UDP port: a TCP connect passes, the others fail; the file's 1 fails).
    assert.deepEqual(out.after.map((x) => x.notRun ?? false), names.map(() => false));
    assert.deepEqual(out.after.map((x) => x.ok), [true, false, false, false, false, false, true, false]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

interface CheckResultJson {
  ok: boolean;
  reason: string;
  notRun?: boolean;
}
