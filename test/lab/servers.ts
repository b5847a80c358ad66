// A real server for the lab: HTTP on --http-port (a comma list; body "<name>\n", keep-alive;
// GET /big?bytes=N streams N bytes of labPattern(); POST /sha256 answers the body's sha256) and a UDP
// responder on --udp-port that answers every datagram with "<name>\n" (padded with dots to the
// datagram's size when it begins "big?\n"), but a DNS query with a DNS answer: NOERROR and one TXT record "<name>" (whatever the question). The UDP sockets are
// bound per address (--bind VIP,RIP): in DR the reply must leave with the VIP as source, which
// a socket bound to 0.0.0.0 would not guarantee.
// Prints "ready <name>" on stdout once everything listens. Exits on SIGTERM/SIGINT.
import http from 'node:http';
import { createHash } from 'node:crypto';
import { labPattern } from './pattern.js';
import dgram from 'node:dgram';
import { parseArgs } from 'node:util';
import { requireLabNamespace } from './guard.js';

// `node --test dist/test/` (Node 20) runs every .js under a test/ directory, this script too:
// do nothing there. Lab code starts it with NODE_TEST_CONTEXT removed from the environment.
if (process.env['NODE_TEST_CONTEXT']) process.exit(0);

requireLabNamespace('servers.js');

const { values } = parseArgs({
  options: {
    name: { type: 'string' },
    'http-port': { type: 'string', default: '80' },
    'udp-port': { type: 'string', default: '53' },
    bind: { type: 'string', default: '' },
  },
});

const name = values.name ?? 'rs';
const body = `${name}\n`;
const httpPorts = String(values['http-port']).split(',').map(Number);
const udpPort = Number(values['udp-port']);
const binds = (values.bind ?? '').split(',').filter(Boolean);

const server = http.createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://x');
  if (req.method === 'POST' && url.pathname === '/sha256') {
    const h = createHash('sha256');
    let n = 0;
    req.on('data', (c: Buffer) => {
      h.update(c);
      n += c.length;
    });
    req.on('end', () => {
      const out = JSON.stringify({ server: name, bytes: n, sha256: h.digest('hex') });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(out), 'x-server': name });
      res.end(out);
    });
    return;
  }
  if (url.pathname.startsWith('/only/')) {
    // 200 on the server named in the path, 404 elsewhere: a health check that passes on one server only.
    req.resume();
    const mine = url.pathname.slice('/only/'.length) === name;
    res.writeHead(mine ? 200 : 404, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body), 'x-server': name });
    res.end(body);
    return;
  }
  if (url.pathname === '/big') {
    req.resume();
    const total = Math.max(0, Math.min(1 << 30, Number(url.searchParams.get('bytes') ?? '0')));
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': total, 'x-server': name });
    let sent = 0;
    const pump = (): void => {
      while (sent < total) {
        const n = Math.min(65536, total - sent);
        const ok = res.write(labPattern(sent, n));
        sent += n;
        if (!ok) {
          res.once('drain', pump);
          return;
        }
      }
      res.end();
    };
    pump();
    return;
  }
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body), 'x-server': name });
    res.end(body);
  });
});
// Long enough for the keep-alive tests to hold a connection open between requests.
server.keepAliveTimeout = 120_000;
server.headersTimeout = 130_000;
server.requestTimeout = 0;

/**
 * The answer to a DNS query (one question, no other records, not a response): the query with
 * QR, RA and NOERROR, and one TXT record holding the server's name; null for anything else.
 */
function dnsAnswer(q: Buffer): Buffer | null {
  if (q.length < 17 || (q[2]! & 0x80) !== 0 || q.readUInt16BE(4) !== 1 || q.readUInt32BE(6) !== 0 || q.readUInt16BE(10) !== 0) return null;
  let o = 12;
  while (o < q.length && q[o]! > 0 && q[o]! < 64) o += 1 + q[o]!;
  if (o + 5 > q.length || q[o] !== 0) return null;
  const question = q.subarray(0, o + 5);
  const txt = Buffer.from(name);
  const rr = Buffer.alloc(12);
  rr.writeUInt16BE(0xc00c, 0); // the question's name
  rr.writeUInt16BE(16, 2); // TXT
  rr.writeUInt16BE(1, 4); // IN
  rr.writeUInt32BE(0, 6); // TTL 0: never cached
  rr.writeUInt16BE(txt.length + 1, 10);
  const a = Buffer.concat([question, rr, Buffer.from([txt.length]), txt]);
  a.writeUInt16BE(0x8080 | (q.readUInt16BE(2) & 0x0100), 2); // QR, RA, the query's RD
  a.writeUInt16BE(1, 6); // ANCOUNT
  return a;
}

const sockets: dgram.Socket[] = [];
const extra: http.Server[] = [];
function udpListen(addr: string | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket('udp4');
    s.on('message', (msg, rinfo) => {
      // A datagram from source port 0 (uvsd forwards what it gets) cannot be answered: Node throws.
      // "big?\n...": the name padded to the datagram's size (a reply as fragmented as the request).
      const big = msg.length > body.length && msg.subarray(0, 5).toString() === 'big?\n';
      const reply = big ? Buffer.concat([Buffer.from(body), Buffer.alloc(msg.length - body.length, 0x2e)]) : (dnsAnswer(msg) ?? body);
      if (rinfo.port !== 0) s.send(reply, rinfo.port, rinfo.address);
    });
    s.once('error', reject);
    s.bind(udpPort, addr, () => resolve());
    sockets.push(s);
  });
}

async function main(): Promise<void> {
  for (const p of httpPorts) {
    const srv = p === httpPorts[0] ? server : http.createServer(server.listeners('request')[0] as http.RequestListener);
    if (srv !== server) {
      srv.keepAliveTimeout = server.keepAliveTimeout;
      extra.push(srv);
    }
    await new Promise<void>((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(p, '0.0.0.0', () => resolve());
    });
  }
  if (binds.length === 0) await udpListen(undefined);
  else for (const a of binds) await udpListen(a);
  process.stdout.write(`ready ${name}\n`);
}

function shutdown(): void {
  for (const s of sockets) s.close();
  server.closeAllConnections();
  for (const x of extra) {
    x.closeAllConnections();
    x.close();
  }
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 500).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);

main().catch((e: unknown) => {
  process.stderr.write(`servers: ${String(e)}\n`);
  process.exit(1);
});
