// A real server for the lab: HTTP on --http-port (body "<name>\n", keep-alive) and a UDP
// responder on --udp-port that answers every datagram with "<name>\n". The UDP sockets are
// bound per address (--bind VIP,RIP): in DR the reply must leave with the VIP as source, which
// a socket bound to 0.0.0.0 would not guarantee.
// Prints "ready <name>" on stdout once everything listens. Exits on SIGTERM/SIGINT.
import http from 'node:http';
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
const httpPort = Number(values['http-port']);
const udpPort = Number(values['udp-port']);
const binds = (values.bind ?? '').split(',').filter(Boolean);

const server = http.createServer((req, res) => {
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

const sockets: dgram.Socket[] = [];
function udpListen(addr: string | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket('udp4');
    s.on('message', (_msg, rinfo) => {
      s.send(body, rinfo.port, rinfo.address);
    });
    s.once('error', reject);
    s.bind(udpPort, addr, () => resolve());
    sockets.push(s);
  });
}

async function main(): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(httpPort, '0.0.0.0', () => resolve());
  });
  if (binds.length === 0) await udpListen(undefined);
  else for (const a of binds) await udpListen(a);
  process.stdout.write(`ready ${name}\n`);
}

function shutdown(): void {
  for (const s of sockets) s.close();
  server.closeAllConnections();
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 500).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);

main().catch((e: unknown) => {
  process.stderr.write(`servers: ${String(e)}\n`);
  process.exit(1);
});
