// uvsd --metrics ADDR:PORT: one HTTP listener serving /metrics (Prometheus text format),
// /status.json and the status page at /. Timers here (rate estimates every 2 s, the
// connection-state census every CENSUS_MS) run beside the datapath, never inside it.

import http from 'node:http';
import type net from 'node:net';
import type { AddressInfo } from 'node:net';
import zlib from 'node:zlib';
import type { Datapath } from '../datapath/pipeline.js';
import { CENSUS_MS } from '../datapath/census.js';
import { parseIp } from '../datapath/addr.js';
import { refusals, type OnRefused } from '../control/server.js';
import { asker, createMetrics, type MetricsOptions } from './collectors.js';
import { STATUS_PAGE } from './page.js';
import { EST_INTERVAL_MS, RateEstimator } from './rates.js';
import { startTicks } from '../control/estimator.js';
import { writeStatus } from './status.js';
import { plainSlicer, yieldLoop } from '../control/slices.js';
import { BLOCK, ByteOut } from './bytes.js';

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
/** The answers write their blocks for this long (ms) per turn of the event loop at most. */
const SEND_MS = 1;

export interface MetricsServerOptions extends MetricsOptions {
  limits?: Partial<MetricsLimits>;
  /** Told that connections were refused or accept() failed: at most once per 10 s, with how many since (as the control socket's). */
  onRefused?: OnRefused;
}

/**
 * The body of one /metrics or /status.json answer, rendered once for every request that arrived
 * while it was being rendered or its answers were being written (each then gets data from no
 * earlier than one rendering before its arrival); gzip made once too, when a client asks for it.
 * Sent as it is made, a block at a time (chunked): the whole body (73-94 MB for 10,000 services
 * of 4 servers) joined before its first byte went cost a second copy of it and a write of it all.
 */
interface Body {
  /** The blocks made so far, kept for the requests that join while it is made or written. */
  blocks: Buffer[];
  /** Set once made (failed: why). */
  ended: boolean;
  failed?: Error;
  /** Told when a block or the end comes (the answers sending it). */
  readers: Set<() => void>;
}

interface Rendering {
  text: Body;
  gzip?: Body;
  /** Requests given this rendering and not answered yet: shared while any is. */
  waiting: number;
  /** Answers whose last byte has not been handed to the kernel yet ('finish'); one cut or gone (dirty) keeps the blocks from reuse. */
  flushing: number;
  dirty: boolean;
  /** No request may join it any more (waiting went to 0). */
  retired: boolean;
}

/**
 * Blocks of answers sent whole kept for the next renderings (ByteOut's take), at most this many
 * (128 MB): each scrape of 10,000 services x 4 servers wrote 94 MB into new 256 KB buffers, and
 * every 32 MB of them made V8 run a scavenge at once, inside a slice (5-40 ms each, 3 a scrape,
 * 2026-12-06: "external memory pressure").
 */
const SPARE_MAX = 512;

function newBody(): Body {
  return { blocks: [], ended: false, readers: new Set() };
}

function tellReaders(b: Body): void {
  for (const r of b.readers) r();
}

/** A block of the body made: its readers told. */
function addBlock(b: Body, x: Buffer): void {
  b.blocks.push(x);
  tellReaders(b);
}

/** The body made whole, or cut by `failed`: its readers told. */
function endBody(b: Body, failed?: Error): void {
  b.ended = true;
  if (failed !== undefined) b.failed = failed;
  tellReaders(b);
}

/** A Body made by make(), which hands its blocks on as it makes them. */
function bodyOf(make: (block: (b: Buffer) => void) => Promise<void>): Body {
  const b = newBody();
  // A bug here must cost a 500 (or a cut answer), never the daemon.
  make((x) => addBlock(b, x)).then(
    () => endBody(b),
    (err: Error) => endBody(b, err),
  );
  return b;
}

/** The body gzipped as its blocks come (zlib's stream, in libuv's thread pool). */
function gzipBody(src: Body): Body {
  const g = newBody();
  const z = zlib.createGzip({ level: zlib.constants.Z_BEST_SPEED });
  z.on('data', (x: Buffer) => addBlock(g, x));
  z.on('end', () => endBody(g));
  z.on('error', (err) => endBody(g, g.failed ?? err));
  let fed = 0;
  const feed = (): void => {
    while (fed < src.blocks.length) z.write(src.blocks[fed++]);
    if (!src.ended) return;
    src.readers.delete(feed);
    if (src.failed === undefined) {
      z.end();
      return;
    }
    z.destroy();
    endBody(g, src.failed);
  };
  src.readers.add(feed);
  feed();
  return g;
}

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
  // A row starts at its tick's first run and folds every EST_INTERVAL_MS from then on, each tick
  // in slices (startTicks). Until 2026-12-05 every row started at once here (rates.sample(): the
  // whole table in one piece, 13-19 ms at 10,000 services of 4 servers) and its first fold came
  // (t + 1) / EST_TICKS of an interval later; now the first rates come one interval later.
  const rates = new RateEstimator(dp, opts.portDrops);
  // With workers (opts.states) each walks its own table; this one is an empty shell.
  if (opts.states === undefined) census.full();
  // With workers each tick sums its share of the table (and tick 0 the counters), not all of it.
  const pullTick = opts.pullShare ?? ((t: number) => t === 0 && pull());
  const stopRates = startTicks((deadline) => rates.tickSome(performance.now(), deadline, pullTick), EST_INTERVAL_MS);
  const timers: NodeJS.Timeout[] = [];
  if (opts.states === undefined) timers.push(setInterval(() => census.step(), CENSUS_MS));
  for (const t of timers) t.unref();

  const renderings = new Map<string, Rendering>();
  const spare: Buffer[] = [];
  const take = (): Buffer | undefined => spare.pop();
  /**
   * A rendering's blocks back to `spare` once nothing may read them: no request can join it, the
   * body was made whole, every answer's last byte went to the kernel ('finish': the writes before
   * it too), none was cut, and gzip (if made) has read them all.
   */
  const recycle = (r: Rendering): void => {
    const g = r.gzip;
    if (!r.retired || r.flushing > 0 || r.dirty || !r.text.ended || r.text.failed !== undefined || (g !== undefined && (!g.ended || g.failed !== undefined))) return;
    r.dirty = true; // once
    for (const b of r.text.blocks) {
      if (spare.length >= SPARE_MAX) break;
      if (b.byteOffset === 0 && b.buffer.byteLength === BLOCK) spare.push(Buffer.from(b.buffer, 0, BLOCK));
    }
    r.text.blocks = [];
  };
  const render = (path: string, make: (block: (b: Buffer) => void, take: () => Buffer | undefined) => Promise<void>): Rendering => {
    let r = renderings.get(path);
    if (r === undefined) {
      // With workers the table is summed in pieces, the loop run between them, before the
      // rendering starts (requests arriving meanwhile share it); until 2026-12-05 a whole pull()
      // here held the loop 10-30 ms at 10,000 services of 4 servers.
      const sliced = opts.pullSliced;
      if (sliced === undefined) pull();
      r = { text: bodyOf(sliced === undefined ? (block) => make(block, take) : async (block) => {
        await sliced(yieldLoop);
        await make(block, take);
      }), waiting: 0, flushing: 0, dirty: false, retired: false };
      renderings.set(path, r);
    }
    r.waiting++;
    return r;
  };
  const answered = (path: string, r: Rendering): void => {
    if (--r.waiting === 0 && renderings.get(path) === r) {
      renderings.delete(path);
      r.retired = true;
      recycle(r);
    }
  };
  // /status.json built and serialised in slices, as /metrics (Metrics.stream()): in one piece, 3,000
  // services x 3 servers (3.8 MB) held the loop 75-140 ms.
  const statusText = async (block: (b: Buffer) => void, take: () => Buffer | undefined): Promise<void> => {
    const { pause, done, ask } = (opts.slicer ?? plainSlicer)('status.json');
    const due = ask ?? asker();
    try {
      await writeStatus(dp, rates, opts, new ByteOut(block, take), pause, due);
    } finally {
      done();
    }
  };

  // The answers write their blocks in turns of the event loop, SEND_MS of writing a turn at most
  // (each write copies what the kernel takes at once: 64 answers of 7.6 MB ended in a row held
  // the loop 100-160 ms), an answer's next block once its socket took the last ('drain').
  const sends = new Set<() => void>();
  let sending = false;
  const sendTurn = (): void => {
    const until = performance.now() + SEND_MS;
    for (const f of sends) {
      sends.delete(f);
      f();
      if (performance.now() >= until) break;
    }
    sending = sends.size > 0;
    if (sending) setImmediate(sendTurn);
  };
  const send = (f: () => void): void => {
    sends.add(f);
    if (!sending) {
      sending = true;
      setImmediate(sendTurn);
    }
  };
  const serveShared = (req: http.IncomingMessage, res: http.ServerResponse, path: string, type: string,
    make: (block: (b: Buffer) => void, take: () => Buffer | undefined) => Promise<void>): void => {
    const r = render(path, make);
    r.flushing++;
    res.once('finish', () => {
      r.flushing--;
      recycle(r);
    });
    const gz = acceptsGzip(req.headers['accept-encoding']);
    const body = gz ? (r.gzip ??= gzipBody(r.text)) : r.text;
    let sent = 0;
    let draining = false;
    let over = false;
    const finish = (): void => {
      if (over) return;
      over = true;
      body.readers.delete(wake);
      sends.delete(write);
      answered(path, r);
    };
    const head = (): void => {
      if (res.headersSent) return;
      const headers: http.OutgoingHttpHeaders = { 'content-type': type, vary: 'accept-encoding', 'cache-control': 'no-store' };
      // Made whole before its first block went: its length is known (else chunked).
      if (body.ended && body.failed === undefined) headers['content-length'] = body.blocks.reduce((n, b) => n + b.length, 0);
      if (gz) headers['content-encoding'] = 'gzip';
      res.writeHead(200, headers);
    };
    function write(): void {
      if (over || draining) return;
      const until = performance.now() + SEND_MS;
      while (sent < body.blocks.length) {
        head();
        if (!res.write(body.blocks[sent++]!)) {
          draining = true;
          res.once('drain', () => {
            draining = false;
            send(write);
          });
          return;
        }
        if (performance.now() >= until) {
          send(write);
          return;
        }
      }
      if (!body.ended) return;
      finish();
      if (body.failed === undefined) {
        head();
        res.end();
      } else if (!res.headersSent) {
        res.writeHead(500, { 'content-type': 'text/plain' }).end(`${path.slice(1)} failed: ${body.failed.message}\n`);
      } else {
        res.destroy(body.failed); // the answer is cut: the client sees it incomplete
      }
    }
    const wake = (): void => send(write);
    body.readers.add(wake);
    res.once('close', () => {
      // The client went away (or the answer ended): its writes may still hold the blocks.
      if (!res.writableFinished) r.dirty = true;
      finish();
    });
    send(write);
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
      serveShared(req, res, path, registry.contentType, (block, take) => metrics.stream(block, take));
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
      stopRates();
      server.close();
    },
  };
}
