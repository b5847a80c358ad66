// test-class: lab
// The --metrics HTTP listener's hardening (src/metrics/server.ts), on 127.0.0.1 ephemeral ports in
// this process (no uvsd): a bounded number of connections (the excess answered 503), idle and
// slow clients timed out, concurrent scrapes sharing one rendering, absolute-form request
// targets, gzip, accept() errors that do not throw, and Host names refused on loopback (DNS rebinding).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import http from 'node:http';
import { gunzipSync } from 'node:zlib';
import { TCP_FLAGS, tcpFrame } from './helpers/frames.js';
import { CLIENT, DIR_MAC, drRig, rig, ROUTER_MAC, VIP, type Rig } from './helpers/harness.js';
import { parseExposition } from './helpers/prom.js';
import { acceptsGzip, hostAllowed, startMetricsServer, targetPath, type MetricsServer, type MetricsServerOptions } from '../src/metrics/server.js';
import { createMetrics } from '../src/metrics/collectors.js';
import { bigHealthTable } from './helpers/big-table.js';
import { plainSlicer, type Slicer } from '../src/control/slices.js';

const syn = (sport: number) => tcpFrame({ ethDst: DIR_MAC, ethSrc: ROUTER_MAC }, { src: CLIENT, dst: VIP, sport, dport: 80, flags: TCP_FLAGS.SYN });

async function withServer(r: Rig, opts: MetricsServerOptions, fn: (srv: MetricsServer, port: number) => Promise<void>): Promise<void> {
  const srv = await startMetricsServer(r.dp, { host: '127.0.0.1', port: 0 }, { process: false, ...opts });
  try {
    await fn(srv, Number(srv.address.split(':')[1]));
  } finally {
    srv.close();
    srv.server.closeAllConnections();
  }
}

/** A raw connection: what it received, and when it closed (ms after it connected). */
interface Raw {
  sock: Socket;
  data(): string;
  closed: Promise<number>;
}

async function raw(port: number): Promise<Raw> {
  const sock = connect(port, '127.0.0.1');
  let got = '';
  sock.setEncoding('utf8').on('data', (d: string) => (got += d));
  sock.on('error', () => {});
  await new Promise((res) => sock.once('connect', res));
  const t0 = performance.now();
  const closed = new Promise<number>((res) => sock.once('close', () => res(performance.now() - t0)));
  return { sock, data: () => got, closed };
}

/** The body of a raw HTTP/1.1 answer, its chunks joined when it came chunked (a body sent as it is rendered). */
function bodyOf(answer: string): string {
  const at = answer.indexOf('\r\n\r\n');
  const rest = answer.slice(at + 4);
  if (!/\r\ntransfer-encoding: chunked\r\n/i.test(answer.slice(0, at + 2))) return rest;
  let out = '';
  for (let p = 0; ;) {
    const eol = rest.indexOf('\r\n', p);
    const n = parseInt(rest.slice(p, eol), 16);
    if (n === 0) return out;
    out += rest.slice(eol + 2, eol + 2 + n);
    p = eol + 2 + n + 2;
  }
}

/** GET path over a raw connection (request line as given), the whole answer once the server closes. */
async function rawGet(port: number, target: string, headers = ''): Promise<string> {
  const c = await raw(port);
  c.sock.write(`GET ${target} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n${headers}\r\n`);
  await c.closed;
  return c.data();
}

function bigRig(services: number): Rig {
  const r = rig({ addrs: ['10.0.0.1/8'], destMax: 2 * services + 8 });
  for (let s = 0; s < services; s++) {
    const svc = { proto: 'tcp' as const, addr: `10.1.${s >> 8}.${s & 255}`, port: 80 };
    r.ctl.addService({ ...svc, sched: 'rr' });
    for (let i = 0; i < 2; i++) r.ctl.addDest({ service: svc, addr: `10.${2 + i}.${s >> 8}.${s & 255}`, port: 80, fwd: 'nat', weight: 1 });
  }
  return r;
}

test('connections over maxConnections: the excess is answered 503 naming the limit and closed, beyond twice the limit closed at once; told once; a place that frees up is taken', async () => {
  const told: [string, number][] = [];
  await withServer(drRig(), { limits: { maxConnections: 2 }, onRefused: (reason, n) => told.push([reason, n]) }, async (_srv, port) => {
    const held = [await raw(port), await raw(port)];
    // Refused, with an answer to its request.
    const refused = await rawGet(port, '/metrics');
    assert.match(refused, /^HTTP\/1\.1 503 Service Unavailable\r\n/);
    assert.match(refused, /too many connections: 2 open \(uvsd's limit\)/);
    // Refused connections that send nothing: two wait for their request (up to 1 s); more are closed at once.
    const idle = [await raw(port), await raw(port), await raw(port)];
    assert.ok((await idle[2]!.closed) < 500, 'closed at once');
    assert.equal(idle[2]!.data(), '');
    const lingered = await idle[0]!.closed;
    assert.ok(lingered >= 800 && lingered < 3000, `a refused idle connection lingers ~1 s: ${lingered} ms`);
    await idle[1]!.closed;
    assert.deepEqual(told, [["too many connections: 2 open (uvsd's limit)", 1]], 'told once (at most once per 10 s)');
    held[0]!.sock.destroy();
    await held[0]!.closed;
    assert.match(await rawGet(port, '/metrics'), /^HTTP\/1\.1 200 OK\r\n[^]*node_ipvs_connections_total 0/);
    held[1]!.sock.destroy();
  });
});

test('slow clients are timed out: a connection that sends nothing and one that trickles its request get 408 after requestMs; an idle keep-alive connection is closed after keepAliveMs', async () => {
  await withServer(drRig(), { limits: { requestMs: 300, keepAliveMs: 200 } }, async (_srv, port) => {
    const silent = await raw(port);
    const slow = await raw(port);
    slow.sock.write('GET /metrics HTTP/1.1\r\n');
    const trickle = setInterval(() => slow.sock.write('X-Slow: 1\r\n'), 50);
    try {
      for (const c of [silent, slow]) {
        const ms = await c.closed;
        assert.ok(ms >= 250 && ms < 2000, `closed after ${ms} ms`);
        assert.match(c.data(), /^HTTP\/1\.1 408 Request Timeout\r\n/);
      }
    } finally {
      clearInterval(trickle);
    }
    const kept = await raw(port);
    kept.sock.write(`GET /status.json HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
    const ms = await kept.closed;
    assert.match(kept.data(), /^HTTP\/1\.1 200 OK\r\n/);
    assert.ok(ms >= 150 && ms < 2000, `idle keep-alive connection closed after ${ms} ms`);
  });
});

for (const path of ['/metrics', '/status.json']) {
  test(`concurrent ${path} requests on a large table share one rendering: 20 at once, one rendering, the same body; a request after them gets a new one`, async () => {
    const r = bigRig(2000);
    // Renderings counted where each starts (its slicer), not by counter reads: the rate
    // estimator's timer reads them too, every 2 s, which a loaded machine's slow test reaches.
    let renders = 0;
    const slicer: Slicer = (what) => {
      renders++;
      return plainSlicer(what);
    };
    await withServer(r, { slicer }, async (srv, port) => {
      // uvsd accepts one connection per turn of its event loop: all 20 accepted first.
      let accepted = 0;
      srv.server.on('connection', () => accepted++);
      const conns = await Promise.all(Array.from({ length: 20 }, () => raw(port)));
      while (accepted < 20) await new Promise((res) => setImmediate(res));
      renders = 0;
      for (const c of conns) c.sock.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
      await Promise.all(conns.map((c) => c.closed));
      assert.equal(renders, 1, 'one rendering for the 20');
      const bodies = new Set(conns.map((c) => bodyOf(c.data())));
      assert.equal(bodies.size, 1, 'the same text');
      const body = [...bodies][0]!;
      const destinationsOf = (text: string, service: string): number | undefined => {
        if (path === '/metrics') return parseExposition(text).get('uvs_service_destinations', { proto: 'tcp', service });
        const st = JSON.parse(text) as { services: Array<{ proto: string; addr: string; port: number; dests: unknown[] }> };
        return st.services.find((s) => `${s.addr}:${s.port}` === service && s.proto === 'tcp')?.dests.length;
      };
      assert.equal(destinationsOf(body, '10.1.7.207:80'), 2, 'the 2000th service is there');
      r.ctl.addService({ proto: 'tcp', addr: '10.9.9.9', port: 80, sched: 'rr' });
      const after = await (await fetch(`http://${srv.address}${path}`)).text();
      assert.equal(renders, 2);
      assert.equal(destinationsOf(after, '10.9.9.9:80'), 0, 'a service added since is there');
    });
  });
}

test('a large table\'s scrape is rendered in slices (the event loop runs between them) and reads as the one-pass registry text followed by the families', async () => {
  const r = bigRig(1000);
  const m = createMetrics(r.dp, { process: false });
  m.census.full();
  let turns = 0;
  const spin = setInterval(() => turns++, 0);
  try {
    const text = await m.text();
    assert.ok(turns >= 2, `the loop ran ${turns} times during the scrape`);
    assert.ok(text.startsWith(await m.registry.metrics()), 'the registry part is what Registry.metrics() gives');
    assert.equal(parseExposition(text).samples.filter((s) => s.name === 'uvs_dest_weight').length, 2000);
  } finally {
    clearInterval(spin);
  }
});

test('a server deleted while a scrape renders (between its slices) is left out of the families rendered after that', async () => {
  const r = bigRig(1000);
  const m = createMetrics(r.dp, { process: false });
  m.census.full();
  const text = m.text();
  // A few slices in (the first per-server family has listed the servers), the 1000th service is
  // deleted and made again with a server of weight 7, which takes a slot its servers had.
  for (let i = 0; i < 3; i++) await new Promise((res) => setImmediate(res));
  const svc = { proto: 'tcp' as const, addr: '10.1.3.231', port: 80 };
  r.ctl.deleteService(svc);
  r.ctl.addService({ ...svc, sched: 'rr' });
  r.ctl.addDest({ service: svc, addr: '10.9.0.1', port: 80, fwd: 'nat', weight: 7 });
  const ex = parseExposition(await text);
  const weights = ex.samples.filter((x) => x.labels.service === '10.1.3.231:80' && x.name === 'uvs_dest_weight').map((x) => `${x.labels.server} ${x.value}`);
  for (const w of weights) assert.ok(['10.2.3.231:80 1', '10.3.3.231:80 1', '10.9.0.1:80 7'].includes(w), `a server's own weight under its own labels: ${w}`);
});

test('an absolute-form request target (GET http://host:port/metrics, RFC 7230 5.3.2) is routed by its path', async () => {
  assert.equal(targetPath('/metrics?x=1'), '/metrics');
  assert.equal(targetPath('http://127.0.0.1:9478/status.json?y'), '/status.json');
  assert.equal(targetPath('*'), '*');
  await withServer(drRig(), {}, async (_srv, port) => {
    assert.match(await rawGet(port, `http://127.0.0.1:${port}/metrics`), /^HTTP\/1\.1 200 OK\r\n[^]*node_ipvs_connections_total/);
    assert.match(await rawGet(port, `http://127.0.0.1:${port}/status.json`), /^HTTP\/1\.1 200 OK\r\n[^]*"services"/);
    assert.match(await rawGet(port, `http://127.0.0.1:${port}/nope`), /^HTTP\/1\.1 404 /);
  });
});

test('DNS rebinding: on a loopback address a request whose Host is not localhost or an IP address is answered 421, on another address any Host is (Prometheus by name); every answer says X-Content-Type-Options: nosniff (before: /status.json to any name, no nosniff)', async () => {
  for (const host of ['127.0.0.1:9478', '127.0.0.1', 'localhost:9478', 'LocalHost', 'localhost.', '[::1]:9478', '10.1.2.3:9478', undefined]) {
    assert.equal(hostAllowed('127.0.0.1', host), true, String(host));
  }
  for (const host of ['rebind.example:9478', 'rebind.example', '127.0.0.1.rebind.example', 'localhost.example', '[::1']) {
    assert.equal(hostAllowed('127.0.0.1', host), false, host);
  }
  assert.equal(hostAllowed('127.0.0.2', 'rebind.example'), false, '127.0.0.0/8');
  assert.equal(hostAllowed('192.168.8.10', 'director.example:9478'), true, 'not a loopback address');
  await withServer(drRig(), {}, async (_srv, port) => {
    const get = async (host: string): Promise<string> => {
      const c = await raw(port);
      c.sock.write(`GET /status.json HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
      await c.closed;
      return c.data();
    };
    const refused = await get(`rebind.example:${port}`);
    assert.match(refused, /^HTTP\/1\.1 421 Misdirected Request\r\n/);
    assert.match(refused, /\r\nX-Content-Type-Options: nosniff\r\n/i);
    assert.doesNotMatch(refused, /"services"/);
    for (const host of [`localhost:${port}`, `127.0.0.1:${port}`]) {
      const ok = await get(host);
      assert.match(ok, /^HTTP\/1\.1 200 OK\r\n[^]*"services"/, host);
      assert.match(ok, /\r\nX-Content-Type-Options: nosniff\r\n/i);
    }
    assert.match(await rawGet(port, '/nope'), /^HTTP\/1\.1 404 [^]*\r\nX-Content-Type-Options: nosniff\r\n/i);
  });
});

test('Accept-Encoding: gzip gets the same text gzipped (Content-Encoding: gzip); q=0 or no header gets it plain', async () => {
  assert.deepEqual(['gzip', 'deflate, gzip;q=0.5', 'GZIP', 'gzip;q=0', 'identity', 'x-gzip', undefined].map(acceptsGzip), [true, true, true, false, false, false, false]);
  const r = drRig();
  r.run(syn(1000));
  await withServer(r, {}, async (srv) => {
    const get = (enc?: string) => new Promise<{ headers: http.IncomingHttpHeaders; body: Buffer }>((resolve, reject) => {
      http.get(`http://${srv.address}/metrics`, { headers: enc === undefined ? {} : { 'accept-encoding': enc } }, (res) => {
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => parts.push(c)).on('end', () => resolve({ headers: res.headers, body: Buffer.concat(parts) }));
      }).on('error', reject);
    });
    const gz = await get('gzip');
    assert.equal(gz.headers['content-encoding'], 'gzip');
    // Sent as it is made (chunked); with a length when it was whole before its first block went.
    if (gz.headers['content-length'] !== undefined) assert.equal(Number(gz.headers['content-length']), gz.body.length);
    else assert.equal(gz.headers['transfer-encoding'], 'chunked');
    const text = gunzipSync(gz.body).toString();
    assert.equal(parseExposition(text).get('node_ipvs_connections_total'), 1);
    for (const enc of ['gzip;q=0', undefined]) {
      const plain = await get(enc);
      assert.equal(plain.headers['content-encoding'], undefined);
      assert.equal(plain.body.toString(), text, 'the same text (no traffic in between)');
    }
  });
});

test('HEAD of /metrics and /status.json (plain and gzip, the first request of all, beside GETs of a rendering in slices): 200 with the GET\'s headers and no body, on a connection that serves the next request', async () => {
  const r = bigRig(1000);
  await withServer(r, {}, async (srv) => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const ask = (method: string, path: string, enc?: string) => new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }>((resolve, reject) => {
      http.request(`http://${srv.address}${path}`, { method, agent, headers: enc === undefined ? {} : { 'accept-encoding': enc } }, (res) => {
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => parts.push(c)).on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(parts) }));
      }).on('error', reject).end();
    });
    try {
      // The first request of all a HEAD: its rendering is the one the GET after it shares.
      for (let round = 0; round < 3; round++) {
        const [head, headGz, get, headStatus, getGz] = await Promise.all([
          ask('HEAD', '/metrics'), ask('HEAD', '/metrics', 'gzip'), ask('GET', '/metrics'), ask('HEAD', '/status.json'), ask('GET', '/metrics', 'gzip'),
        ]);
        for (const [what, a] of Object.entries({ head, headGz, headStatus })) {
          assert.equal(a.status, 200, `round ${round} ${what}: ${a.body.toString()}`);
          assert.equal(a.body.length, 0, `round ${round} ${what}: a body`);
        }
        assert.equal(head.headers['content-type'], get.headers['content-type']);
        assert.equal(headGz.headers['content-encoding'], 'gzip');
        assert.equal(headStatus.headers['content-type'], 'application/json');
        assert.equal(get.status, 200);
        assert.equal(parseExposition(get.body.toString()).samples.filter((x) => x.name === 'uvs_dest_weight').length, 2000);
        assert.equal(getGz.status, 200);
        assert.equal(parseExposition(gunzipSync(getGz.body).toString()).samples.filter((x) => x.name === 'uvs_dest_weight').length, 2000);
      }
    } finally {
      agent.destroy();
    }
  });
});

test('accept() failing (EMFILE) is no uncaught error: the listener is told, keeps listening and answering', async () => {
  const told: string[] = [];
  await withServer(drRig(), { onRefused: (reason) => told.push(reason) }, async (srv, port) => {
    const emfile = Object.assign(new Error('accept EMFILE'), { code: 'EMFILE', syscall: 'accept' });
    srv.server.emit('error', emfile);
    srv.server.emit('error', emfile);
    assert.deepEqual(told, ['accept failed: accept EMFILE'], 'told once per 10 s');
    assert.match(await rawGet(port, '/metrics'), /^HTTP\/1\.1 200 OK\r\n/);
  });
});

test('the 256 KB blocks of answers sent whole are written again by the next renderings: a second /metrics and /status.json make no new block (before: every block new, at 10,000 x 4 a scavenge inside a slice every 32 MB); every answer the same bytes, two at once, gzip, and after a client that went away mid-answer', async () => {
  const { r, health } = bigHealthTable(200, 4); // /metrics ~1.9 MB, /status.json ~0.3 MB: a few blocks and one
  const srv = await startMetricsServer(r.dp, { host: '127.0.0.1', port: 0 }, { process: false, health });
  const BLOCK = 256 * 1024; // src/metrics/bytes.ts BLOCK
  const alloc = Buffer.allocUnsafe;
  let made = 0;
  Buffer.allocUnsafe = (n: number) => {
    if (n === BLOCK) made++;
    return alloc(n);
  };
  const settled = () => new Promise((res) => setTimeout(res, 30)); // the answers' 'finish'
  const get = async (path: string, gzip = false): Promise<string> => {
    const t = await (await fetch(`http://${srv.address}${path}`, { headers: { 'accept-encoding': gzip ? 'gzip' : 'identity' } })).text();
    return path === '/status.json' ? t.replace(/"time":"[^"]*","uptimeS":\d+/, '') : t;
  };
  try {
    const text = await get('/metrics');
    const status = await get('/status.json');
    await settled();
    made = 0;
    assert.equal(await get('/metrics'), text);
    assert.equal(await get('/status.json'), status);
    assert.equal(made, 0, `a second /metrics and /status.json made ${made} new blocks`);
    await settled();
    assert.deepEqual(await Promise.all([get('/metrics'), get('/metrics', true), get('/status.json')]), [text, text, status]);
    // A client gone after its first bytes: its answer's blocks are not taken again (its writes may hold them).
    await new Promise<void>((res, rej) => {
      http.get(`http://${srv.address}/metrics`, (m) => m.once('data', () => {
        m.destroy();
        res();
      })).on('error', rej);
    });
    await settled();
    for (let i = 0; i < 3; i++) assert.equal(await get('/metrics'), text);
  } finally {
    Buffer.allocUnsafe = alloc;
    srv.close();
  }
});
