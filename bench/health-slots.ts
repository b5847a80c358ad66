// Health-check slots at a large keepalived.conf's size: 8,522 real servers checked as an
// explorer's file checks them (4,676 TCP_CHECK, 2,503 HTTP_GET, 969 UDP_CHECK without
// require_reply, 374 MISC_CHECK /bin/true; delay_loop 6/10/15/30 s in turn, connect_timeout 3 s)
// with the real checkers against a child process on 127.0.0.1 (an HTTP server, and a UDP socket
// that never answers: each UDP_CHECK waits its whole connect_timeout, without a slot). The table verbs are not
// called (a stub): this measures when checks run, not the table. After a warm-up of one longest
// delay_loop (the first checks are spread over it), counts the attempts over a window against
// the rate the delay_loops ask for, and reports the slots, the queue, the lateness and the most
// file descriptors uvsd's process held (sampled every 500 ms).
//
//   node dist/bench/health-slots.js [--seconds 60] [--servers 8522] [--concurrency N]
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { hostChecks, Pinger } from '../src/health/checkers/index.js';
import { HealthManager } from '../src/health/manager.js';
import type { CheckSpec, HealthConfig, RealServerSpec } from '../src/health/types.js';
import { formatIp, parseIp } from '../src/datapath/addr.js';
import { benchArgs } from './lib/args.js';

const { values } = benchArgs(import.meta.url, {
  options: {
    seconds: { type: 'string', default: '60' },
    servers: { type: 'string', default: '8522' },
    concurrency: { type: 'string' },
  },
});
const SECONDS = Number(values.seconds);
const SERVERS = Number(values.servers);
const DELAYS = [6000, 10000, 15000, 30000];
const WARMUP_MS = Math.max(...DELAYS);

const SERVER = `
const http = require('node:http');
const dgram = require('node:dgram');
const s = http.createServer((q, r) => { r.writeHead(200); r.end('ok\\n'); });
const u = dgram.createSocket('udp4');
u.bind(0, '127.0.0.1', () => s.listen(0, '127.0.0.1', () => console.log(s.address().port + ' ' + u.address().port)));
`;

async function main(): Promise<void> {
  const child = spawn(process.execPath, ['-e', SERVER], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [tcpPort, udpPort] = await new Promise<number[]>((resolve) => child.stdout!.once('data', (d: Buffer) => resolve(String(d).trim().split(' ').map(Number))));
  // The explorer's mix, in proportion: of 8,522 servers, 4,676 TCP, 2,503 HTTP, 969 UDP, 374 MISC.
  const mix: Array<[number, (d: number) => CheckSpec]> = [
    [4676, (d) => ({ type: 'TCP_CHECK', connectIp: '127.0.0.1', connectPort: tcpPort, connectTimeoutMs: 3000, delayLoopMs: d, retry: 1, delayBeforeRetryMs: 1000, rise: 1, fall: 1 })],
    [2503, (d) => ({ type: 'HTTP_GET', connectIp: '127.0.0.1', connectPort: tcpPort, connectTimeoutMs: 3000, delayLoopMs: d, retry: 1, delayBeforeRetryMs: 3000, rise: 1, fall: 1, urls: [{ path: '/' }] })],
    [969, (d) => ({ type: 'UDP_CHECK', connectIp: '127.0.0.1', connectPort: udpPort, connectTimeoutMs: 3000, delayLoopMs: d, retry: 1, delayBeforeRetryMs: 1000, rise: 1, fall: 1, requireReply: false })],
    [374, (d) => ({ type: 'MISC_CHECK', command: '/bin/true', timeoutMs: d, connectTimeoutMs: 3000, delayLoopMs: d, retry: 0, delayBeforeRetryMs: 1000, rise: 1, fall: 1, dynamic: false })],
  ];
  const total = mix.reduce((a, [n]) => a + n, 0);
  const config: HealthConfig = { services: [] };
  let due = 0;
  let i = 0;
  for (const [n, make] of mix) {
    for (let k = 0; k < Math.round((n * SERVERS) / total); k++, i++) {
      const d = DELAYS[i % DELAYS.length]!;
      due += 1000 / d;
      const rs: RealServerSpec = { addr: formatIp(parseIp('10.1.0.0') + i), port: 80, weight: 1, inhibitOnFailure: false, checkers: [make(d)] };
      // Three servers per virtual server, as 8,522 in 3,000.
      if (i % 3 === 0) config.services.push({ proto: 'tcp', addr: formatIp(parseIp('10.0.0.0') + i), port: 80, sched: 'wlc', fwd: 'dr', persistence: 0, delayLoopMs: d, quorum: 1, hysteresis: 0, alpha: false, omega: false, realServers: [] });
      config.services.at(-1)!.realServers.push(rs);
    }
  }
  const failed = new Map<string, number>();
  const pinger = new Pinger();
  const run = hostChecks(pinger);
  const mgr = new HealthManager(config, {
    call: () => undefined,
    run: async (spec, t, release) => {
      const r = await run(spec, t, release);
      if (!r.ok) failed.set(r.reason, (failed.get(r.reason) ?? 0) + 1);
      return r;
    },
    exec: async () => {},
    log: { info: () => {}, warn: (o, m) => console.log(m, JSON.stringify(o)) },
    concurrency: values.concurrency === undefined ? undefined : Number(values.concurrency),
  });
  await mgr.start();
  await new Promise((r) => setTimeout(r, WARMUP_MS));
  const a0 = mgr.attempts;
  const d0 = mgr.startDelays()!;
  const counts0 = Array.from(d0.counts);
  let waitingMax = 0;
  let lateMax = 0;
  let inFlightMax = 0;
  let fdsMax = 0;
  const poll = setInterval(() => {
    const q = mgr.queue()!;
    waitingMax = Math.max(waitingMax, q.waiting);
    lateMax = Math.max(lateMax, q.lateMaxMs);
    inFlightMax = Math.max(inFlightMax, q.inFlight);
    fdsMax = Math.max(fdsMax, readdirSync('/proc/self/fd').length);
  }, 500);
  await new Promise((r) => setTimeout(r, SECONDS * 1000));
  clearInterval(poll);
  const rate = (mgr.attempts - a0) / SECONDS;
  const d1 = mgr.startDelays()!;
  const window = Array.from(d1.counts).map((c, k) => c - counts0[k]!);
  const q = mgr.queue()!;
  console.log(JSON.stringify({
    servers: i, concurrency: values.concurrency ?? 'default', slots: q.slots, processSlots: q.processSlots,
    dueChecksPerS: Math.round(due), ranChecksPerS: Math.round(rate), ratio: Number((rate / due).toFixed(3)),
    waitingMax, lateMaxMs: lateMax, inFlightMax, fdsMax,
    startDelays: [...d1.bounds.map(String), '+Inf'].map((le, k) => `le ${le}: ${window[k]}`).join(', '),
    failedAttempts: Object.fromEntries(failed),
  }));
  await mgr.stop();
  pinger.close();
  child.kill();
  process.exit(0);
}

void main();
