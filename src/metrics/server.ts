// uvsd --metrics ADDR:PORT: one HTTP listener serving /metrics (Prometheus text format),
// /status.json and the status page at /. Timers here (rate estimates every 2 s, the
// connection-state census every CENSUS_MS) run beside the datapath, never inside it.

import http from 'node:http';
import type net from 'node:net';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import type { Datapath } from '../datapath/pipeline.js';
import { CENSUS_MS } from '../datapath/census.js';
import { parseIp } from '../datapath/addr.js';
import { refusals, type OnRefused } from '../control/server.js';
import { createMetrics, type MetricsOptions } from './collectors.js';
import { STATUS_PAGE } from './page.js';
import { EST_INTERVAL_MS, RateEstimator } from './rates.js';
import { EST_TICKS } from '../control/estimator.js';
import { statusSteps } from './status.js';
import { plainSlicer, runStepsSliced, stringifySliced } from '../control/slices.js';
import { ByteOut } from './bytes.js';

export interface MetricsServer {
  server: http.Server;
  /** The address actually bound ("127.0.0.1:9478"; port 0 picks a free one). */
  address: string;
  close(): void;
}

/**
 * Bounds on the clients of the listener: a monitoring endpoint must never take the datapath
 * down (file descriptors, memory, the event loop). Prometheus keeps one connection per scraper.
 */
export interface MetricsLimits {
  /**
   * Connections open at once. One more is answered 503 (its request, if it sends one within
   * REFUSED_LINGER_MS) and closed, as the control socket answers TOO_MANY_CLIENTS; beyond twice
   * this many, closed at once without a word.
   */
  maxConnections: number;
  /** A request must arrive whole within this long (ms) of its first byte or of the connection: else 408 and closed (slowloris). */
  requestMs: number;
  /** A connection with no new request this long (ms) after its last answer is closed (HTTP keep-alive). */
  keepAliveMs: number;
  /** No byte either way for this long (ms), e.g. a client that stopped reading its answer: closed. */
  idleMs: number;
}

export const METRICS_LIMITS: MetricsLimits = { maxConnections: 64, requestMs: 10_000, keepAliveMs: 5_000, idleMs: 30_000 };

/** A refused connection is given this long to send its request and read the 503. */
const REFUSED_LINGER_MS = 1000;
/** How often Node checks requestMs (its connectionsCheckingInterval; the default is 30 s). */
const CHECK_MS = 1000;

export interface MetricsServerOptions extends MetricsOptions {
  limits?: Partial<MetricsLimits>;
  /** Told that connections were refused or accept() failed: at most once per 10 s, with how many since (as the control socket's). */
  onRefused?: OnRefused;
}

/**
 * The body of one /metrics or /status.json answer, rendered once for every request that arrived
 * while it was being rendered or its answers were being written (each then gets data from no
 * earlier than one rendering before its arrival); gzip made once too, when a client asks for it.
 */
interface Rendering {
  text: Promise<Buffer>;
  gzip?: Promise<Buffer>;
  /** Requests given this rendering and not answered yet: shared while any is. */
  waiting: number;
}

const gzipAsync = promisify(zlib.gzip);

/** The client takes gzip (Accept-Encoding: gzip, not with q=0). */
export function acceptsGzip(header: string | undefined): boolean {
  if (header === undefined) return false;
  return header.split(',').some((part) => {
    const [coding, ...params] = part.split(';').map((x) => x.trim().toLowerCase());
    if (coding !== 'gzip') return false;
    const q = params.find((p) => p.startsWith('q='));
    return q === undefined || Number(q.slice(2)) > 0;
  });
}

/** The path of a request target: origin form (/metrics?x) or absolute form (http://host:9478/metrics, RFC 7230 5.3.2). */
export function targetPath(url: string): string {
  if (url.startsWith('/')) return url.split('?')[0]!;
  try {
    return new URL(url).pathname;
  } catch {
    return url;
  }
}

/**
 * May a request with this Host header be answered on a connection to `local` (the address it
 * reached)? On a loopback address only `localhost`, an IP address or no Host: a web page whose
 * name was made to resolve to 127.0.0.1 (DNS rebinding) would otherwise have a browser on the
 * director read /status.json for it, and its requests carry its own name. On other addresses
 * any (Prometheus may scrape by the director's name; docs/metrics.md).
 */
export function hostAllowed(local: string | undefined, host: string | undefined): boolean {
  if (host === undefined || local === undefined || !local.replace(/^::ffff:/, '').startsWith('127.')) return true;
  const name = (host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.replace(/:\d*$/, '')).toLowerCase();
  return name === 'localhost' || name === 'localhost.' || name.startsWith('[') || parseIp(name) >= 0;
}

export async function startMetricsServer(dp: Datapath, listen: { host: string; port: number }, opts: MetricsServerOptions = {}): Promise<MetricsServer> {
  const lim: MetricsLimits = { ...METRICS_LIMITS, ...opts.limits };
  const metrics = createMetrics(dp, opts);
  const { registry, census } = metrics;
  const pull = opts.pull ?? (() => {});
  pull();
  // Every row starts now; tick t first folds (t + 1) / EST_TICKS of the interval (per second all
  // the same), then each row every EST_INTERVAL_MS.
  const rates = new RateEstimator(dp, opts.portDrops);
  rates.sample(performance.now());
  // With workers (opts.states) each walks its own table; this one is an empty shell.
  if (opts.states === undefined) census.full();
  const timers = [
    setInterval(() => rates.tick(performance.now(), pull), EST_INTERVAL_MS / EST_TICKS),
  ];
  if (opts.states === undefined) timers.push(setInterval(() => census.step(), CENSUS_MS));
  for (const t of timers) t.unref();

  const renderings = new Map<string, Rendering>();
  const render = (path: string, make: () => Promise<Buffer>): Rendering => {
    let r = renderings.get(path);
    if (r === undefined) {
      pull();
      r = { text: make(), waiting: 0 };
      renderings.set(path, r);
    }
    r.waiting++;
    return r;
  };
  const answered = (path: string, r: Rendering): void => {
    if (--r.waiting === 0 && renderings.get(path) === r) renderings.delete(path);
  };
  const gzipOf = (r: Rendering): Promise<Buffer> => (r.gzip ??= r.text.then((b) => gzipAsync(b, { level: zlib.constants.Z_BEST_SPEED })));
  // /status.json built and serialised in slices, as /metrics (Metrics.body()): in one piece, 3,000
  // services x 3 servers (3.8 MB) held the loop 75-140 ms.
  const statusText = async (): Promise<Buffer> => {
    const { pause, done } = (opts.slicer ?? plainSlicer)('status.json');
    try {
      const st = await runStepsSliced(statusSteps(dp, rates, opts), pause);
      const out = new ByteOut();
      await stringifySliced(st, (s) => out.text(s), 64 * 1024, { pause, end: '' });
      return await out.buffer(pause);
    } finally {
      done();
    }
  };

  // The requests that shared a rendering get their answers one per turn of the event loop: each
  // end() copies what the kernel takes at once (megabytes on loopback), 64 of them in a row held
  // the loop 100-160 ms.
  const answers: (() => void)[] = [];
  const answerNext = (): void => {
    answers.shift()?.();
    if (answers.length > 0) setImmediate(answerNext);
  };
  const answer = (f: () => void): void => {
    if (answers.push(f) === 1) setImmediate(answerNext);
  };
  const serveShared = (req: http.IncomingMessage, res: http.ServerResponse, path: string, type: string, make: () => Promise<Buffer>): void => {
    const r = render(path, make);
    const gz = acceptsGzip(req.headers['accept-encoding']);
    (gz ? gzipOf(r) : r.text).then(
      (body) => answer(() => {
        answered(path, r);
        const headers: http.OutgoingHttpHeaders = { 'content-type': type, 'content-length': body.length, vary: 'accept-encoding', 'cache-control': 'no-store' };
        if (gz) headers['content-encoding'] = 'gzip';
        res.writeHead(200, headers).end(body);
      }),
      // A bug here must cost a 500, never the daemon.
      (err: Error) => {
        answered(path, r);
        res.writeHead(500, { 'content-type': 'text/plain' }).end(`${path.slice(1)} failed: ${err.message}\n`);
      },
    );
  };

  /** Connections over maxConnections: answered 503 when their request comes, closed soon after either way. */
  const refused = new WeakSet<net.Socket>();
  let open = 0;
  let lingering = 0;
  const tell = refusals(opts.onRefused);
  const refuse = (sock: net.Socket): void => {
    tell(`too many connections: ${lim.maxConnections} open (uvsd's limit)`);
    if (lingering >= lim.maxConnections) {
      sock.destroy();
      return;
    }
    lingering++;
    refused.add(sock);
    // A timer of its own: http sets the socket's timeout (idleMs) after this.
    const t = setTimeout(() => sock.destroy(), REFUSED_LINGER_MS).unref();
    sock.once('close', () => {
      lingering--;
      clearTimeout(t);
    });
  };

  const server = http.createServer({
    requestTimeout: lim.requestMs, headersTimeout: lim.requestMs, keepAliveTimeout: lim.keepAliveMs,
    connectionsCheckingInterval: Math.min(CHECK_MS, lim.requestMs),
  }, (req, res) => {
    res.on('error', () => {}); // a client that went away
    res.setHeader('x-content-type-options', 'nosniff'); // a browser takes each answer as the type it says
    if (refused.has(req.socket)) {
      res.writeHead(503, { 'content-type': 'text/plain', connection: 'close', 'retry-after': '1' })
        .end(`too many connections: ${lim.maxConnections} open (uvsd's limit)\n`);
      return;
    }
    if (!hostAllowed(req.socket.localAddress, req.headers.host)) {
      res.writeHead(421, { 'content-type': 'text/plain' })
        .end(`Host ${req.headers.host} refused: on a loopback address uvsd answers Host: localhost or an IP address only\n`);
      return;
    }
    const path = targetPath(req.url ?? '/');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/metrics') {
      serveShared(req, res, path, registry.contentType, () => metrics.body());
    } else if (path === '/status.json') {
      serveShared(req, res, path, 'application/json', statusText);
    } else if (path === '/') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(STATUS_PAGE);
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /, /metrics or /status.json\n');
    }
  });
  // Ahead of http's own listener, which still parses a refused connection's request (answered 503).
  server.prependListener('connection', (sock: net.Socket) => {
    if (open >= lim.maxConnections) {
      refuse(sock);
      return;
    }
    open++;
    sock.once('close', () => open--);
  });
  server.timeout = lim.idleMs;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port, listen.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  // accept() failing (EMFILE: out of file descriptors) is an 'error' of the listening server;
  // without a listener it would be uncaught and stop uvsd. It keeps listening.
  server.on('error', (err) => tell(`accept failed: ${err.message}`));
  const a = server.address() as AddressInfo;
  return {
    server,
    address: `${a.address}:${a.port}`,
    close() {
      for (const t of timers) clearInterval(t);
      server.close();
    },
  };
}
