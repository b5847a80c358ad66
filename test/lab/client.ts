// Lab client, run inside the client namespace. Every wait is bounded; it never hangs.
//
//   --http VIP:PORT --count N [--keepalive] [--parallel P] [--sport P]
//       N HTTP GETs. Default: each on a new TCP connection (agent:false, Connection: close).
//       --keepalive: all N over one keep-alive connection.
//       --sport P: every connection from source port P (one after the other: a client reusing
//       its port; the server closes first, so the port is free again once the client's FIN is
//       acknowledged: a connect() that finds the four-tuple still taken is tried again, 20 ms later).
//       Prints one JSON line: {"counts":{"rs1":n,...},"errors":n,"sequence":[...],"errorSamples":[...],"ports":[...]}
//       (ports: each request's local port, in sequence's order; 0 where its connection failed).
//   --udp VIP:PORT --count N [--sport P] [--size N] [--connect]
//       N datagrams, each from a new socket on a source port not used before in the run (with
//       --sport: P, P+1, ...), so every datagram is a new flow; the reply's body is the server name. Replies whose
//       source is not VIP:PORT count as errors (DR must answer from the VIP).
//       --size N pads each datagram to N bytes (above the MTU it leaves as IP fragments).
//       --big-reply: the server pads its reply to the datagram's size (so it comes back in fragments too).
//       --connect: each socket is connected to VIP:PORT, so an ICMP error about its datagram
//       fails it at once (port unreachable: ECONNREFUSED) instead of leaving it to time out.
//       Prints the same JSON shape, plus "errorCodes" (failures by error code; "timeout").
//   --dns VIP:PORT --count N [--name NAME] [--sport P]
//       N DNS TXT queries for NAME (default pool.example), each from a new socket on a source port
//       not used before in the run (with --sport: P, P+1, ...), a new flow, one try within --timeout; the answer's first TXT
//       string is the server name (the lab servers answer so). Prints the --http JSON shape.
//   --stream VIP:PORT --rate R --seconds S
//       UDP from one socket at R datagrams/s for S seconds, each numbered; counts the replies.
//       Prints {"sent":n,"received":n,"maxGapMs":x} (the longest wait between two replies).
//   --download VIP:PORT --bytes N     GET /big?bytes=N; prints {"server","bytes","sha256","expected"}
//   --upload VIP:PORT --bytes N       POST /sha256 with N pattern bytes; prints {"server","bytes","sha256","expected"}
//   --conns VIP:PORT --count N        opens N TCP connections at once, one request each, holds those
//       answered open until a line on stdin (or --max-ms), prints {"ok":n,"errors":n,"localPorts":[...],"n":1}
//       once all answered or failed (one not answered within --timeout is destroyed), then closes
//       them and prints {"closed":n,"n":2}.
//   --until-ok VIP:PORT [--timeout MS] [--max-ms MS]
//       HTTP GETs on new connections, each bounded by --timeout, until one is answered; prints
//       {"okAt":epoch ms,"attempts":n,"server":"rs1"} (or {"error":..} after --max-ms). Started
//       before uvsd, it measures when new connections work again after a restart.
//   --serve
//       Reads one request a line on stdin, {"id":n,"args":[...]} with the arguments of --http, --udp,
//       --dns, --download, --upload or --until-ok, runs it (requests run side by side) and prints
//       {"id":n,"code":0,"stdout":"..."} (code 2 and "stderr" when it failed). The labs keep one per
//       namespace: a request costs no node start (~0.15 s of CPU each). Exits on stdin EOF.
//   --hold VIP:PORT
//       Opens one TCP connection, sends a keep-alive request and prints
//       {"server":"rs1","localPort":p,"n":1}. Every line read on stdin sends another request on
//       the same socket and prints the next answer ({"server":..} or {"error":..}). Exits on
//       stdin EOF, on socket close, or after --max-ms (default 120 s).
import http from 'node:http';
import net from 'node:net';
import dgram from 'node:dgram';
import readline from 'node:readline';
import { parseArgs } from 'node:util';
import { createHash, randomInt } from 'node:crypto';
import { dnsQuery } from '../../src/health/checkers/dns.js';
import { requireLabNamespace } from './guard.js';
import { labPattern } from './pattern.js';

// `node --test dist/test/` (Node 20) runs every .js under a test/ directory, this script too:
// do nothing there. Lab code starts it with NODE_TEST_CONTEXT removed from the environment.
if (process.env['NODE_TEST_CONTEXT']) process.exit(0);

requireLabNamespace('client.js');

const OPTIONS = {
  http: { type: 'string' },
  udp: { type: 'string' },
  dns: { type: 'string' },
  name: { type: 'string', default: 'pool.example' },
  hold: { type: 'string' },
  'until-ok': { type: 'string' },
  download: { type: 'string' },
  upload: { type: 'string' },
  conns: { type: 'string' },
  bytes: { type: 'string', default: '0' },
  size: { type: 'string', default: '0' },
  count: { type: 'string', default: '1' },
  keepalive: { type: 'boolean', default: false },
  connect: { type: 'boolean', default: false },
  'big-reply': { type: 'boolean', default: false },
  parallel: { type: 'string', default: '1' },
  timeout: { type: 'string', default: '2000' },
  'max-ms': { type: 'string', default: '120000' },
  path: { type: 'string', default: '/' },
  sport: { type: 'string', default: '0' },
  stream: { type: 'string' },
  rate: { type: 'string', default: '1000' },
  seconds: { type: 'string', default: '5' },
  serve: { type: 'boolean', default: false },
} as const;

/** One run's options (a process's arguments, or one --serve request's). */
function parse(args: string[]) {
  const { values } = parseArgs({ args, options: OPTIONS });
  return {
    ...values,
    timeoutMs: Number(values.timeout),
    count: Math.max(0, Math.min(1_000_000, Number(values.count))),
    /** Source ports this run has used: each datagram of --udp without --sport comes from a new one. */
    usedPorts: new Set<number>(),
  };
}
type Opts = ReturnType<typeof parse>;

function hostPort(s: string): { host: string; port: number } {
  const i = s.lastIndexOf(':');
  if (i < 0) throw new Error(`expected HOST:PORT, got ${s}`);
  return { host: s.slice(0, i), port: Number(s.slice(i + 1)) };
}

interface Tally {
  counts: Record<string, number>;
  errors: number;
  sequence: string[];
  errorSamples: string[];
  /** Failures by error code (ECONNREFUSED, ...; "timeout"; "other" without a code). */
  errorCodes: Record<string, number>;
  /** The slowest request, in ms. */
  maxMs: number;
  /** HTTP: each request's local port, in sequence's order (0: its connection failed). */
  ports?: number[];
}

function newTally(): Tally {
  return { counts: {}, errors: 0, sequence: [], errorSamples: [], errorCodes: {}, maxMs: 0 };
}

function record(t: Tally, server: string | null, err?: string, code = 'other'): void {
  if (server === null) {
    t.errors++;
    t.sequence.push('!');
    t.errorCodes[code] = (t.errorCodes[code] ?? 0) + 1;
    if (err && t.errorSamples.length < 5) t.errorSamples.push(err);
    return;
  }
  t.counts[server] = (t.counts[server] ?? 0) + 1;
  t.sequence.push(server);
}

/** `then` once `sock` is closed (at once without one, or when it is). */
function whenClosed(sock: net.Socket | null, then: () => void): void {
  if (sock === null || sock.closed) then();
  else sock.once('close', then);
}

/** One GET: the body (the server's name) and the connection's local port. */
function httpOnce(o: Opts, host: string, port: number, agent: http.Agent | false): Promise<{ server: string; port: number }> {
  return new Promise((resolve, reject) => {
    let settled = false;
    let local = 0;
    const done = (err: Error | null, v?: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err) reject(err);
      else resolve({ server: v!, port: local });
    };
    const sport = Number(o.sport);
    const req = http.get({ host, port, path: o.path, agent, ...(sport > 0 ? { localPort: sport } : {}) }, (res) => {
      local = res.socket.localPort ?? 0;
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const settle = (): void => {
          if (res.statusCode !== 200) done(new Error(`HTTP ${res.statusCode}`));
          else done(null, Buffer.concat(chunks).toString('utf8').trim());
        };
        // A connection of its own is answered once closed, as a client process's exit closed it:
        // the caller reads the balancer's entry of a finished connection, or uses the port again.
        whenClosed(agent === false ? res.socket : null, settle);
      });
      res.on('error', (e) => done(e));
    });
    const timer = setTimeout(() => {
      req.destroy(new Error(`timeout after ${o.timeoutMs} ms`));
      done(new Error(`timeout after ${o.timeoutMs} ms`));
    }, o.timeoutMs);
    // The local port in the message: a refusal from a server the tuple's old entry names tells
    // itself apart from one the scheduler picked.
    req.on('error', (e) => {
      const p = req.socket?.localPort;
      if (p) e.message += ` (from port ${p})`;
      done(e);
    });
  });
}

async function runHttp(o: Opts, target: string): Promise<Tally> {
  const { host, port } = hostPort(target);
  const t = newTally();
  const agent: http.Agent | false = o.keepalive
    ? new http.Agent({ keepAlive: true, maxSockets: 1, keepAliveMsecs: 1000 })
    : false;
  const parallel = Math.max(1, Math.min(64, Number(o.parallel)));
  let next = 0;
  const results: Array<string | null> = new Array<string | null>(o.count).fill(null);
  const ports: number[] = new Array<number>(o.count).fill(0);
  const errs: Array<string | undefined> = new Array<string | undefined>(o.count);
  async function worker(): Promise<void> {
    while (next < o.count) {
      const i = next++;
      const t0 = performance.now();
      for (let tries = 1; ; tries++) {
        try {
          const r = await httpOnce(o, host, port, agent);
          results[i] = r.server;
          ports[i] = r.port;
        } catch (e) {
          // --sport: the port's last connection, this run's or the one before it in a --serve
          // process, may still hold the same four-tuple for the moment its close takes (LAST_ACK).
          if ((e as NodeJS.ErrnoException).code === 'EADDRNOTAVAIL' && Number(o.sport) > 0 && tries < 50) {
            await new Promise((r) => setTimeout(r, 20));
            continue;
          }
          errs[i] = (e as Error).message;
        }
        break;
      }
      t.maxMs = Math.max(t.maxMs, performance.now() - t0);
    }
  }
  await Promise.all(Array.from({ length: Math.min(parallel, o.count) }, () => worker()));
  for (let i = 0; i < o.count; i++) record(t, results[i] ?? null, errs[i]);
  t.ports = ports;
  if (agent) agent.destroy();
  return t;
}

/**
 * A UDP socket bound to `sport`, or with 0 to an ephemeral port this run has not used yet (the
 * kernel picks at random and may pick a port again: 60 datagrams repeat one about 6 % of runs,
 * and the repeat is the same connection to the balancer, not a new one).
 */
async function freshSocket(usedPorts: Set<number>, sport: number): Promise<dgram.Socket> {
  for (;;) {
    const s = dgram.createSocket('udp4');
    await new Promise<void>((r, j) => {
      s.once('error', (e) => {
        s.close(); // a failed bind must not leave its socket open
        j(e);
      });
      s.bind(sport, () => {
        s.removeAllListeners('error');
        r();
      });
    });
    const p = s.address().port;
    if (sport !== 0 || !usedPorts.has(p)) {
      usedPorts.add(p);
      return s;
    }
    s.close();
  }
}

/**
 * One datagram from a fresh socket (a new flow) and the first reply from host:port that `answer`
 * takes (it returns the reply's server name, or null to wait on); bounded by --timeout.
 */
async function exchange(o: Opts, host: string, port: number, sport: number, msg: Buffer, answer: (reply: Buffer) => string | null): Promise<string> {
  const s = await freshSocket(o.usedPorts, sport);
  return new Promise((resolve, reject) => {
    let settled = false;
    const done = (err: Error | null, v?: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      s.close();
      if (err) reject(err);
      else resolve(v!);
    };
    const timer = setTimeout(() => done(Object.assign(new Error(`timeout after ${o.timeoutMs} ms`), { code: 'timeout' })), o.timeoutMs);
    s.on('error', (e) => done(e));
    s.on('message', (reply, rinfo) => {
      if (rinfo.address !== host || rinfo.port !== port) {
        done(new Error(`reply from ${rinfo.address}:${rinfo.port}, expected ${host}:${port}`));
        return;
      }
      try {
        const v = answer(reply);
        if (v !== null) done(null, v);
      } catch (e) {
        done(e as Error);
      }
    });
    if (o.connect) s.connect(port, host, () => s.send(msg));
    else s.send(msg, port, host);
  });
}

function udpOnce(o: Opts, host: string, port: number, sport: number): Promise<string> {
  // --size N pads the datagram to N bytes (over the MTU: the kernel sends it as IP fragments).
  const size = Number(o.size);
  const ask = o['big-reply'] ? 'big?\n' : 'who?\n';
  const msg = size > 5 ? Buffer.concat([Buffer.from(ask), Buffer.alloc(size - 5, 0x2e)]) : Buffer.from(ask);
  return exchange(o, host, port, sport, msg, (reply) => reply.toString('utf8').split('\n')[0]!.trim());
}

async function runUdp(o: Opts, target: string): Promise<Tally> {
  const { host, port } = hostPort(target);
  const t = newTally();
  const sport = Number(o.sport);
  for (let i = 0; i < o.count; i++) {
    try {
      record(t, await udpOnce(o, host, port, sport === 0 ? 0 : sport + i));
    } catch (e) {
      record(t, null, (e as Error).message, (e as NodeJS.ErrnoException).code);
    }
  }
  return t;
}

/**
 * The first TXT string of the first answer to `query` (sent as the lab servers answer: the
 * question, then one record); a response with another RCODE is an error.
 */
function txtAnswer(query: Buffer, reply: Buffer): string | null {
  if (reply.length < 12 || reply.readUInt16BE(0) !== query.readUInt16BE(0) || (reply[2]! & 0x80) === 0) return null;
  const rcode = reply[3]! & 0x0f;
  if (rcode !== 0) throw Object.assign(new Error(`DNS rcode ${rcode}`), { code: `rcode${rcode}` });
  if (reply.readUInt16BE(6) === 0) return '(no TXT)';
  let o = query.length; // the question, echoed
  o += (reply[o]! & 0xc0) === 0xc0 ? 2 : reply.indexOf(0, o) + 1 - o; // the record's name
  const rdata = o + 10;
  if (reply.readUInt16BE(o) !== 16 || rdata >= reply.length) return '(no TXT)';
  return reply.toString('utf8', rdata + 1, rdata + 1 + reply[rdata]!);
}

async function runDns(o: Opts, target: string): Promise<Tally> {
  const { host, port } = hostPort(target);
  const t = newTally();
  const sport = Number(o.sport);
  for (let i = 0; i < o.count; i++) {
    const query = dnsQuery(randomInt(0x10000), String(o.name), 16);
    try {
      record(t, await exchange(o, host, port, sport === 0 ? 0 : sport + i, query, (reply) => txtAnswer(query, reply)));
    } catch (e) {
      record(t, null, (e as Error).message, (e as NodeJS.ErrnoException).code);
    }
  }
  return t;
}

/** A steady UDP stream from one socket (one flow); every reply counted. Bounded by --seconds. */
async function runStream(o: Opts, target: string): Promise<string> {
  const { host, port } = hostPort(target);
  const rate = Math.max(1, Math.min(100_000, Number(o.rate)));
  const seconds = Math.max(0.1, Math.min(60, Number(o.seconds)));
  const s = dgram.createSocket('udp4');
  let sent = 0;
  let received = 0;
  let last = performance.now();
  let maxGapMs = 0;
  s.on('message', () => {
    const now = performance.now();
    maxGapMs = Math.max(maxGapMs, now - last);
    last = now;
    received++;
  });
  await new Promise<void>((r) => s.bind(0, r));
  const total = Math.round(rate * seconds);
  const t0 = performance.now();
  last = t0;
  while (sent < total) {
    // Send what is due now, then wait a little: a steady rate without a timer per datagram.
    const due = Math.min(total, Math.floor(((performance.now() - t0) / 1000) * rate) + 1);
    while (sent < due) s.send(`seq ${sent++}\n`, port, host);
    await new Promise((r) => setTimeout(r, 2));
  }
  await new Promise((r) => setTimeout(r, o.timeoutMs)); // the last replies
  s.close();
  return JSON.stringify({ sent, received, maxGapMs: Math.round(maxGapMs * 10) / 10 });
}

/** One raw keep-alive connection; requests written by hand so they surely share the socket. */
async function runHold(o: Opts, target: string): Promise<void> {
  const { host, port } = hostPort(target);
  const maxMs = Number(o['max-ms']);
  const out = (v: unknown): void => {
    process.stdout.write(`${JSON.stringify(v)}\n`);
  };
  const sock = net.connect({ host, port });
  sock.setNoDelay(true);
  let buf = Buffer.alloc(0);
  let waiter: ((r: { server?: string; error?: string }) => void) | null = null;
  let closed = false;
  const tryParse = (): void => {
    if (!waiter) return;
    const headEnd = buf.indexOf('\r\n\r\n');
    if (headEnd < 0) return;
    const head = buf.subarray(0, headEnd).toString('latin1');
    const m = /content-length:\s*(\d+)/i.exec(head);
    const len = m ? Number(m[1]) : 0;
    if (buf.length < headEnd + 4 + len) return;
    const bodyText = buf.subarray(headEnd + 4, headEnd + 4 + len).toString('utf8').trim();
    buf = buf.subarray(headEnd + 4 + len);
    const w = waiter;
    waiter = null;
    w({ server: bodyText });
  };
  sock.on('data', (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    tryParse();
  });
  const onGone = (why: string): void => {
    closed = true;
    if (waiter) {
      const w = waiter;
      waiter = null;
      w({ error: why });
    }
  };
  sock.on('error', (e) => onGone(e.message));
  sock.on('close', () => onGone('connection closed'));

  const request = (): Promise<{ server?: string; error?: string }> =>
    new Promise((resolve) => {
      if (closed) {
        resolve({ error: 'connection closed' });
        return;
      }
      const timer = setTimeout(() => {
        waiter = null;
        resolve({ error: `timeout after ${o.timeoutMs} ms` });
      }, o.timeoutMs);
      waiter = (r) => {
        clearTimeout(timer);
        resolve(r);
      };
      sock.write(`GET ${o.path} HTTP/1.1\r\nHost: ${host}\r\nConnection: keep-alive\r\n\r\n`);
      tryParse();
    });

  const connected = await new Promise<string | null>((resolve) => {
    const timer = setTimeout(() => resolve(`connect timeout after ${o.timeoutMs} ms`), o.timeoutMs);
    sock.once('connect', () => {
      clearTimeout(timer);
      resolve(null);
    });
    sock.once('error', (e) => {
      clearTimeout(timer);
      resolve(e.message);
    });
  });
  if (connected !== null) {
    out({ error: connected, n: 1 });
    sock.destroy();
    return;
  }
  const localPort = sock.localPort;
  let n = 1;
  out({ ...(await request()), localPort, n });
  const deadline = setTimeout(() => {
    sock.destroy();
    process.exit(0);
  }, maxMs);
  const rl = readline.createInterface({ input: process.stdin });
  for await (const _line of rl) {
    n++;
    out({ ...(await request()), localPort, n });
  }
  clearTimeout(deadline);
  sock.destroy();
}

function expectedSha(n: number): string {
  const h = createHash('sha256');
  for (let o = 0; o < n; o += 65536) h.update(labPattern(o, Math.min(65536, n - o)));
  return h.digest('hex');
}

/** One big transfer (GET /big or POST /sha256), bounded by --max-ms. */
function transfer(o: Opts, target: string, up: boolean, n: number): Promise<unknown> {
  const { host, port } = hostPort(target);
  const maxMs = Number(o['max-ms']);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      req.destroy();
      reject(new Error(`transfer timeout after ${maxMs} ms`));
    }, maxMs);
    const req = http.request(
      { host, port, agent: false, method: up ? 'POST' : 'GET', path: up ? '/sha256' : `/big?bytes=${n}`, headers: up ? { 'content-length': n } : {} },
      (res) => {
        const h = createHash('sha256');
        const chunks: Buffer[] = [];
        let got = 0;
        res.on('data', (c: Buffer) => {
          got += c.length;
          if (up) chunks.push(c);
          else h.update(c);
        });
        res.on('end', () => whenClosed(res.socket, () => {
          clearTimeout(timer);
          if (up) {
            const r = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
            resolve({ ...r, expected: expectedSha(n) });
          } else {
            resolve({ server: res.headers['x-server'], bytes: got, sha256: h.digest('hex'), expected: expectedSha(n) });
          }
        }));
        res.on('error', (e) => reject(e));
      },
    );
    req.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    if (up) {
      let o = 0;
      const pump = (): void => {
        while (o < n) {
          const k = Math.min(65536, n - o);
          const ok = req.write(labPattern(o, k));
          o += k;
          if (!ok) {
            req.once('drain', pump);
            return;
          }
        }
        req.end();
      };
      pump();
    } else {
      req.end();
    }
  });
}

/** N concurrent connections, one request each, all held open until stdin says so. */
async function runConns(o: Opts, target: string): Promise<void> {
  const { host, port } = hostPort(target);
  const socks: net.Socket[] = [];
  const localPorts: number[] = [];
  let errors = 0;
  const samples: string[] = [];
  const one = (): Promise<void> =>
    new Promise((resolve) => {
      const s = net.connect({ host, port });
      socks.push(s);
      let buf = '';
      const timer = setTimeout(() => finish('timeout'), o.timeoutMs);
      let done = false;
      function finish(err?: string): void {
        if (done) return;
        done = true;
        clearTimeout(timer);
        if (err) {
          // A connection that failed is not held: no SYN retransmitted after the count was taken
          // (a refusal counted later would not belong to this run's tally).
          s.destroy();
          errors++;
          if (samples.length < 5) samples.push(err);
        } else {
          localPorts.push(s.localPort ?? 0);
        }
        resolve();
      }
      s.on('connect', () => s.write(`GET / HTTP/1.1\r\nHost: ${host}\r\nConnection: keep-alive\r\n\r\n`));
      s.on('data', (d: Buffer) => {
        buf += d.toString('latin1');
        if (/\r\n\r\n[\s\S]*\n/.test(buf)) finish();
      });
      s.on('error', (e) => finish(e.message));
      s.on('close', () => finish('closed'));
    });
  await Promise.all(Array.from({ length: o.count }, () => one()));
  process.stdout.write(`${JSON.stringify({ ok: localPorts.length, errors, errorSamples: samples, localPorts, n: 1 })}\n`);
  const rl = readline.createInterface({ input: process.stdin });
  const deadline = new Promise<void>((r) => setTimeout(r, Number(o['max-ms'])).unref());
  await Promise.race([new Promise<void>((r) => rl.once('line', () => r())), new Promise<void>((r) => rl.once('close', () => r())), deadline]);
  for (const s of socks) s.end();
  await new Promise((r) => setTimeout(r, 500));
  for (const s of socks) s.destroy();
  process.stdout.write(`${JSON.stringify({ closed: socks.length, n: 2 })}\n`);
}

/** One run of a mode that answers once (everything but --hold and --conns): its output line. */
async function runOnce(o: Opts): Promise<string> {
  if (o.download || o.upload) return JSON.stringify(await transfer(o, (o.download ?? o.upload)!, !o.download, Number(o.bytes)));
  if (o.stream) return runStream(o, o.stream);
  if (o['until-ok']) {
    const { host, port } = hostPort(o['until-ok']);
    const deadline = Date.now() + Number(o['max-ms']);
    let attempts = 0;
    let last = '';
    while (Date.now() < deadline) {
      attempts++;
      try {
        const { server } = await httpOnce(o, host, port, false);
        return JSON.stringify({ okAt: Date.now(), attempts, server });
      } catch (e) {
        last = (e as Error).message;
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    return JSON.stringify({ error: last, attempts });
  }
  let t: Tally;
  if (o.http) t = await runHttp(o, o.http);
  else if (o.udp) t = await runUdp(o, o.udp);
  else if (o.dns) t = await runDns(o, o.dns);
  else throw new Error('usage: client.js --http VIP:PORT | --udp VIP:PORT | --dns VIP:PORT | --hold VIP:PORT [--count N] | --serve');
  return JSON.stringify(t);
}

/** --serve: requests from stdin, each run as its own process would run it, answered by id. */
async function serve(): Promise<void> {
  const rl = readline.createInterface({ input: process.stdin });
  const answer = (v: { id: unknown; code: number; stdout: string; stderr: string }): void => {
    process.stdout.write(`${JSON.stringify(v)}\n`);
  };
  for await (const line of rl) {
    let id: unknown = null;
    let o: Opts;
    try {
      const req = JSON.parse(line) as { id: unknown; args: string[] };
      id = req.id;
      o = parse(req.args);
    } catch (e) {
      answer({ id, code: 2, stdout: '', stderr: `client: ${(e as Error).message}\n` });
      continue;
    }
    runOnce(o).then(
      (out) => answer({ id, code: 0, stdout: `${out}\n`, stderr: '' }),
      (e: unknown) => answer({ id, code: 2, stdout: '', stderr: `client: ${String((e as Error).message ?? e)}\n` }),
    );
  }
}

async function main(): Promise<void> {
  const o = parse(process.argv.slice(2));
  if (o.serve) await serve();
  else if (o.conns) await runConns(o, o.conns);
  else if (o.hold) await runHold(o, o.hold);
  else process.stdout.write(`${await runOnce(o)}\n`);
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`client: ${String((e as Error).message ?? e)}\n`);
    process.exit(2);
  },
);
