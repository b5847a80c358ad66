// Health checks at scale: 1,000 destinations checked every second (HTTP_GET or TCP_CHECK against
// a server in a child process on 127.0.0.1, via connect_ip/connect_port), in the same process
// and event loop as a Datapath and the control socket, as in uvsd. Measures the event-loop delay,
// the control round trip (`list` over the unix socket; of one service past 1,000 destinations) and the main thread's scavenges (count,
// mean, longest: PerformanceObserver) without and with the checks. Under node --trace-gc-nvp the
// phases are marked on stdout (`phase NAME start` / `end`) to read the collections' survivors between.
//
//   node dist/bench/health-load.js [--type http|tcp] [--seconds 10] [--dests 1000] [--concurrency 64]
//                                  [--delay-loop 1] [--per-service 100]
//
// uvsd's TCP_CHECK load at 10,000 services x 4 (docs/performance.md): --type tcp --dests 40000
// --per-service 4 --delay-loop 3 --concurrency 40000 --seconds 60. The checks' phase also says the
// main thread's CPU per check, the start delays' p99 (uvs_health_checks_start_delay_seconds' bucket)
// and the health checker's launch work per call (its due timer and its drain: CPU, p50/p99/max).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { constants as perfConstants, monitorEventLoopDelay, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import { pino } from 'pino';
import { Datapath } from '../src/datapath/pipeline.js';
import { native } from '../src/datapath/port.js';
import { Control } from '../src/control/model.js';
import { ControlClient } from '../src/control/client.js';
import { listenControl } from '../src/control/server.js';
import { formatIp, parseIp } from '../src/datapath/addr.js';
import { hostChecks, Pinger } from '../src/health/checkers/index.js';
import { HealthManager } from '../src/health/manager.js';
import { withHealth } from '../src/health/report.js';
import type { CheckSpec, HealthConfig } from '../src/health/types.js';
import { benchArgs } from './lib/args.js';

const { values } = benchArgs(import.meta.url, {
  options: {
    type: { type: 'string', default: 'http' },
    seconds: { type: 'string', default: '10' },
    dests: { type: 'string', default: '1000' },
    concurrency: { type: 'string', default: '64' },
    'delay-loop': { type: 'string', default: '1' },
    'per-service': { type: 'string', default: '100' },
  },
});
const SECONDS = Number(values.seconds);
const DESTS = Number(values.dests);
const PER_SVC = Number(values['per-service']);
const DELAY_MS = Number(values['delay-loop']) * 1000;

const SERVER = `
const http = require('node:http');
const s = http.createServer((q, r) => { r.writeHead(200, {'content-type': 'text/plain'}); r.end('ok\\n'); });
s.keepAliveTimeout = 1000;
s.listen(0, '127.0.0.1', () => console.log(s.address().port));
`;

// TCP_CHECK's server: accepts and closes, with a backlog for thousands of connects a second.
const TCP_SERVER = `
const s = require('node:net').createServer((c) => { c.on('error', () => {}); c.destroy(); });
s.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, () => console.log(s.address().port));
`;

/** The CPU (ms) of each outermost call of the health checker's launch work in the phase (above). */
const launchCpu: number[] = [];

async function main(): Promise<void> {
  const child = spawn(process.execPath, ['-e', values.type === 'tcp' ? TCP_SERVER : SERVER], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve) => child.stdout!.once('data', (d: Buffer) => resolve(Number(String(d).trim()))));
  const tmp = mkdtempSync(join(tmpdir(), 'uvs-health-load-'));
  const sock = join(tmp, 'ctl.sock');
  const dp = new Datapath({ mac: Uint8Array.from([2, 0, 0, 0, 0, 1]), addrs: [{ ip: parseIp('10.0.0.1'), mask: 0xffff0000 }], connMax: 1 << 16, destMax: DESTS + 16 }, { send: (_b, _o, _l, n) => n });
  const control = new Control(dp, { tap: 'bench' });

  const check: CheckSpec =
    values.type === 'tcp'
      ? { type: 'TCP_CHECK', connectIp: '127.0.0.1', connectPort: port, connectTimeoutMs: 1000, delayLoopMs: DELAY_MS, retry: 1, delayBeforeRetryMs: 1000, rise: 1, fall: 1 }
      : { type: 'HTTP_GET', connectIp: '127.0.0.1', connectPort: port, connectTimeoutMs: 1000, delayLoopMs: DELAY_MS, retry: 1, delayBeforeRetryMs: 1000, rise: 1, fall: 1, urls: [{ path: '/', status: [[200, 200]] }] };
  const config: HealthConfig = { services: [] };
  for (let s = 0; s * PER_SVC < DESTS; s++) {
    const realServers = [];
    for (let i = 0; i < PER_SVC && s * PER_SVC + i < DESTS; i++) {
      realServers.push({ addr: formatIp(parseIp('10.0.1.0') + s * PER_SVC + i), port: 80, weight: 1, inhibitOnFailure: false, checkers: [check] });
    }
    config.services.push({ proto: 'tcp', addr: formatIp(parseIp('10.100.0.0') + s), port: 80, sched: 'wlc', fwd: 'dr', persistence: 0, delayLoopMs: DELAY_MS, quorum: 1, hysteresis: 0, alpha: false, omega: false, realServers });
  }
  const pinger = new Pinger();
  const log = pino({ level: 'warn' });
  let health: HealthManager | undefined;
  const server = await listenControl(sock, (v, a) => withHealth(v, control.call(v, a), health), () => {});
  const client = await ControlClient.connect(sock);

  // Past 1,000 destinations the whole list would be the probe's own load (seconds at 40,000): one service's.
  const LIST_ARGS = DESTS > 1000 ? { service: { proto: 'tcp' as const, addr: config.services[0]!.addr, port: 80 } } : {};
  async function phase(name: string, attempts: () => number): Promise<void> {
    const h = monitorEventLoopDelay({ resolution: 1 });
    const rtt: number[] = [];
    const scavenges: number[] = [];
    const gc = new PerformanceObserver((list) => {
      for (const e of list.getEntries() as Array<PerformanceEntry & { detail?: { kind?: number } }>) {
        if (e.detail?.kind === perfConstants.NODE_PERFORMANCE_GC_MINOR) scavenges.push(e.duration);
      }
    });
    const attempts0 = attempts();
    const cpu0 = native.threadCpuMs();
    const delays0 = health === undefined ? undefined : Array.from(health.startDelays()?.counts ?? []);
    launchCpu.length = 0;
    console.log(`phase ${name} start`);
    gc.observe({ entryTypes: ['gc'] });
    h.enable();
    const end = Date.now() + SECONDS * 1000;
    while (Date.now() < end) {
      const t0 = performance.now();
      await client.call('list', LIST_ARGS);
      rtt.push(performance.now() - t0);
      await new Promise((r) => setTimeout(r, 20));
    }
    h.disable();
    gc.disconnect();
    const cpu = native.threadCpuMs() - cpu0;
    const ran = attempts() - attempts0;
    const queue = health?.queue();
    console.log(`phase ${name} end${queue === undefined ? '' : `: checks waiting ${queue.waiting}, in flight ${queue.inFlight} of ${queue.slots} slots, longest start delay ${queue.lateMaxMs} ms`}`);
    rtt.sort((a, b) => a - b);
    const q = (p: number) => rtt[Math.min(rtt.length - 1, Math.floor(p * rtt.length))]!.toFixed(2);
    const ms = (ns: number) => (ns / 1e6).toFixed(2);
    console.log(
      `${name}: checks/s ${((attempts() - attempts0) / SECONDS).toFixed(0)}; event-loop delay p50 ${ms(h.percentile(50))} p99 ${ms(h.percentile(99))} max ${ms(h.max)} ms; ` +
        `control list round trip p50 ${q(0.5)} p99 ${q(0.99)} max ${q(1)} ms (${rtt.length} calls); ` +
        `scavenges ${(scavenges.length * 60 / SECONDS).toFixed(0)} a minute, mean ${(scavenges.reduce((a, b) => a + b, 0) / Math.max(1, scavenges.length)).toFixed(1)} ms, longest ${Math.max(0, ...scavenges).toFixed(1)} ms`,
    );
    if (ran === 0 || health === undefined) return;
    const d = health.startDelays()!;
    const window = Array.from(d.counts, (c, k) => c - delays0![k]!);
    const total = window.reduce((a, b) => a + b, 0);
    let k = 0;
    for (let acc = window[0]!; acc < 0.99 * total; acc += window[++k]!);
    launchCpu.sort((a, b) => a - b);
    const lq = (p: number) => (launchCpu[Math.min(launchCpu.length - 1, Math.floor(p * launchCpu.length))] ?? 0).toFixed(3);
    console.log(
      `${name}: main thread CPU ${(cpu / 1000).toFixed(2)} s, ${((cpu * 1000) / ran).toFixed(1)} µs a check (${((cpu / (SECONDS * 1000)) * 100).toFixed(0)} % of the window); ` +
        `start delay p99 ${k < d.bounds.length ? `<= ${d.bounds[k]} s` : `> ${d.bounds.at(-1)} s`} (${[...d.bounds.map(String), '+Inf'].map((b, i) => `le ${b}: ${window[i]}`).join(', ')}); ` +
        `launch work a call (CPU ms, ${launchCpu.length} calls) p50 ${lq(0.5)} p99 ${lq(0.99)} max ${lq(1)}, over 1 ms ${launchCpu.filter((x) => x > 1).length}`,
    );
  }

  // The table is filled through the verbs once; the checking manager below gets no-op verbs, so
  // the only difference between the two phases is the checking itself.
  const filler = new HealthManager(config, { call: (v, a) => control.call(v, a), run: hostChecks(pinger), exec: async () => {}, log });
  await filler.start();
  await filler.stop();
  // As uvsd below --log-level debug: no per-check debug line (its object) built.
  const mgr = new HealthManager(config, { call: () => null, run: hostChecks(pinger), exec: async () => {}, log: { info: log.info.bind(log), warn: log.warn.bind(log) }, concurrency: Number(values.concurrency) });
  // The launch work: each outermost call of the manager's due timer (fireDue) and drain, its CPU.
  let depth = 0; // a drain inside fireDue is its work
  for (const name of ['fireDue', 'drain']) {
    const proto = HealthManager.prototype as unknown as Record<string, (...a: unknown[]) => unknown>;
    const f = proto[name]!;
    proto[name] = function (this: unknown, ...a: unknown[]) {
      if (depth++ > 0) {
        try {
          return f.apply(this, a);
        } finally {
          depth--;
        }
      }
      const c0 = native.threadCpuMs();
      try {
        return f.apply(this, a);
      } finally {
        depth--;
        if (launchCpu.length < 1e6) launchCpu.push(native.threadCpuMs() - c0);
      }
    };
  }
  await phase(`baseline, ${DESTS} destinations, no checks`, () => 0);
  health = mgr;
  await mgr.start();
  await phase(`${values.type} checks of ${DESTS} destinations every ${DELAY_MS / 1000} s, concurrency ${values.concurrency}`, () => mgr.attempts);
  await mgr.stop();
  const down = mgr.entries().filter((e) => e.state === 'down').length;
  console.log(`destinations down at the end: ${down}`);
  client.close();
  server.close();
  pinger.close();
  child.kill();
  rmSync(tmp, { recursive: true, force: true });
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
