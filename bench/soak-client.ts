// Soak traffic, run by bench/soak.ts inside a lab client namespace until stdin says "stop":
//   - keep-alive HTTP workers (one connection each, reused request after request),
//   - short-connection HTTP workers (a new TCP connection per request),
//   - UDP workers (one socket each: one flow, request/reply).
// Each worker remembers the server that answered it last (the servers answer with their name).
// A failed request is retried, and counted "retried" instead of "failed", only when that server
// was removed from the table after its last answer: the controller writes "removed rsN" on stdin
// once a server is gone. Every other failure counts. Every --report-s seconds, and at the end,
// one JSON line: {"t":ms,"ok":{..},"failed":{..},"retried":{..},"samples":[..],"final":bool}.
//
//   node dist/bench/soak-client.js --vip 192.168.8.200 [--ka 4] [--short 2] [--udp 2] [--pause-ms 50] [--timeout-ms 1500] [--report-s 10]
//   (in a lab namespace: ip netns exec NS node ...)
import http from 'node:http';
import dgram from 'node:dgram';
import readline from 'node:readline';
import { requireLabNamespace } from '../test/lab/guard.js';
import { benchArgs } from './lib/args.js';

const { values } = benchArgs(import.meta.url, {
  options: {
    vip: { type: 'string', default: '192.168.8.200' },
    ka: { type: 'string', default: '4' },
    short: { type: 'string', default: '2' },
    udp: { type: 'string', default: '2' },
    'pause-ms': { type: 'string', default: '50' },
    'timeout-ms': { type: 'string', default: '1500' },
    'report-s': { type: 'string', default: '10' },
  },
});
// After the command line: --help prints the usage anywhere.
requireLabNamespace('soak-client.js');

type Kind = 'ka' | 'short' | 'udp';
const KINDS: Kind[] = ['ka', 'short', 'udp'];
const vip = values.vip!;
const pauseMs = Number(values['pause-ms']);
const timeoutMs = Number(values['timeout-ms']);
/** How long a failure waits for a "removed" notice before it is judged (the notice follows the removal). */
const JUDGE_AFTER_MS = 1000;

const ok: Record<Kind, number> = { ka: 0, short: 0, udp: 0 };
const failed: Record<Kind, number> = { ka: 0, short: 0, udp: 0 };
const retried: Record<Kind, number> = { ka: 0, short: 0, udp: 0 };
const samples: string[] = [];
/** Server name -> when its last removal was announced. */
const removedAt = new Map<string, number>();
let stopping = false;
const t0 = Date.now();

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A worker's view of the server that answers it. */
interface Peer {
  server?: string;
  lastOk: number;
}

/** Count a failure: a retry when the worker's server was removed since its last answer. */
async function judge(kind: Kind, peer: Peer, err: string): Promise<void> {
  await sleep(JUDGE_AFTER_MS);
  const gone = peer.server === undefined ? undefined : removedAt.get(peer.server);
  if (gone !== undefined && gone >= peer.lastOk) {
    retried[kind]++;
    peer.server = undefined; // the retry goes wherever the scheduler sends it
    return;
  }
  failed[kind]++;
  if (samples.length < 20) samples.push(`${new Date().toISOString()} ${kind} (last server ${peer.server ?? 'none'}): ${err}`);
}

function get(agent: http.Agent | false): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: vip, port: 80, path: '/', agent, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => (res.statusCode === 200 ? resolve(body.trim()) : reject(new Error(`HTTP ${res.statusCode}`))));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`timeout after ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}

async function httpWorker(kind: 'ka' | 'short'): Promise<void> {
  const agent = kind === 'ka' ? new http.Agent({ keepAlive: true, maxSockets: 1 }) : false;
  const peer: Peer = { lastOk: Date.now() };
  while (!stopping) {
    try {
      peer.server = await get(agent);
      peer.lastOk = Date.now();
      ok[kind]++;
    } catch (e) {
      await judge(kind, peer, (e as Error).message);
    }
    await sleep(pauseMs);
  }
  if (agent) agent.destroy();
}

async function udpWorker(): Promise<void> {
  const s = dgram.createSocket('udp4');
  const peer: Peer = { lastOk: Date.now() };
  let waiting: ((name: string) => void) | undefined;
  s.on('message', (m) => waiting?.(m.toString('utf8').trim()));
  await new Promise<void>((r) => s.bind(0, r));
  while (!stopping) {
    const answer = new Promise<string | undefined>((resolve) => {
      const timer = setTimeout(() => resolve(undefined), timeoutMs);
      waiting = (name) => {
        clearTimeout(timer);
        resolve(name);
      };
    });
    s.send('soak', 53, vip);
    const name = await answer;
    waiting = undefined;
    if (name === undefined) {
      await judge('udp', peer, `no reply within ${timeoutMs} ms`);
    } else {
      peer.server = name;
      peer.lastOk = Date.now();
      ok.udp++;
    }
    await sleep(pauseMs);
  }
  s.close();
}

function report(final: boolean): void {
  process.stdout.write(`${JSON.stringify({ t: Date.now() - t0, ok, failed, retried, samples, final })}\n`);
}

readline.createInterface({ input: process.stdin }).on('line', (line) => {
  const m = /^removed (\S+)$/.exec(line.trim());
  if (m) removedAt.set(m[1]!, Date.now());
  else if (line.trim() === 'stop') stopping = true;
});

const timer = setInterval(() => report(false), Number(values['report-s']) * 1000);
const workers: Array<Promise<void>> = [];
const n = (k: Kind) => Math.max(0, Math.min(64, Number(values[k])));
for (const k of KINDS) {
  for (let i = 0; i < n(k); i++) workers.push(k === 'udp' ? udpWorker() : httpWorker(k));
}
await Promise.all(workers);
clearInterval(timer);
report(true);
process.exit(0);
