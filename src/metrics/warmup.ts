// Start-up warm-up of the /status.json answer (docs/architecture.md, "JIT warm-up"), as
// src/control/warmup.ts warms the control verbs: the first /status.json after uvsd's start ran
// code not run before (the HTTP request, gzip's first stream, the writer), its first slice 4-5 ms
// of CPU at 10,000 services of 4 checked servers, where later ones stay near 2 (node
// dist/bench/scrape-slices.js). So once the metrics listener is up, uvsd asks a scratch listener
// (127.0.0.1, a port of the kernel's choice, closed at once) for the status of a scratch table
// (a scratch Datapath, Control and health view: the functions are the same for every table of the
// thread; the real table, datapath and listener are not touched), gzipped and not, and writes
// it once more without health checks. Documentation addresses (RFC 5737).

import http from 'node:http';
import { native } from '../datapath/port.js';
import { scratchControl } from '../control/warmup.js';
import { serviceId, type HealthEntry, type HealthQuorum, type ServiceKey } from '../control/protocol.js';
import { plainSlicer, type Slicer } from '../control/slices.js';
import { BLOCK, ByteOut } from './bytes.js';
import { RateEstimator } from './rates.js';
import { writeStatus } from './status.js';
import { startMetricsServer } from './server.js';
import { asker, createMetrics, type Metrics } from './collectors.js';
import type { HealthView } from './view.js';

/** Services in the scratch table, of two servers each (one of them checked, down or removed on some). */
const SERVICES = 24;

/** The longest wait for one warm-up answer. */
const REPLY_MS = 5000;

/** A health view of the scratch table: every server checked, a few down, one checked server not in the table, a quorum with a sorry server. */
function scratchHealth(services: ServiceKey[]): HealthView {
  const entries = new Map<string, HealthEntry[]>();
  const quorums = new Map<string, HealthQuorum>();
  services.forEach((service, i) => {
    const mine: HealthEntry[] = [];
    for (let j = 0; j < 3; j++) {
      mine.push({ service, addr: `198.51.100.${10 + j}`, port: 80, state: (i + j) % 5 === 0 ? 'down' : 'up', reason: j === 2 ? 'removed' : 'start', weight: 1, inhibit: false, since: 0, ...(i === 1 ? { suspended: true } : {}) });
    }
    entries.set(serviceId(service), mine);
    quorums.set(serviceId(service), { service, up: i % 3 !== 0, aliveWeight: 2, quorum: 1, hysteresis: 0, ...(i % 2 === 0 ? { sorry: '198.51.100.10:80' } : {}), sorryIn: i % 3 === 0 });
  });
  const all = (): HealthEntry[] => [...entries.values()].flat();
  return {
    stateOf: () => 'up', entries: all, quorum: () => [...quorums.values()],
    entriesOf: (id) => entries.get(id), quorumOf: (id) => quorums.get(id),
  };
}

/** GET path from address (host:port), the body read to its end; rejects on an error, a status but 200, or no answer in REPLY_MS. */
function get(address: string, path: string, gzip: boolean): Promise<void> {
  const [host, port] = [address.slice(0, address.lastIndexOf(':')), Number(address.slice(address.lastIndexOf(':') + 1))];
  return new Promise((resolve, reject) => {
    const req = http.get({ host, port, path, agent: false, headers: gzip ? { 'accept-encoding': 'gzip' } : {}, timeout: REPLY_MS }, (res) => {
      res.on('data', () => {});
      res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`status.json warm-up: ${path}: HTTP ${res.statusCode}`))));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`status.json warm-up: no answer in ${REPLY_MS} ms`)));
    req.on('error', reject);
  });
}

/**
 * /status.json of a scratch table asked of a scratch listener, gzipped and not (without a
 * listener, a loopback address refused: written in process), then written without health checks;
 * returns its wall time and this thread's CPU (ms). Throws only on a bug.
 */
export async function warmStatus(): Promise<{ ms: number; cpuMs: number }> {
  const t0 = performance.now();
  const c0 = native.threadCpuMs();
  const ctl = scratchControl(SERVICES * 2 + 16, 0x03);
  const dp = ctl.dp;
  const services: ServiceKey[] = [];
  const items: unknown[] = [];
  for (let i = 0; i < SERVICES; i++) {
    const service: ServiceKey = i === SERVICES - 1 ? { proto: 'tcp', addr: '0.0.0.0', port: 0, fwmark: 7 } : { proto: i % 4 === 3 ? 'udp' : 'tcp', addr: `192.0.2.${100 + i}`, port: 80 };
    services.push(service);
    items.push({ verb: 'addService', args: { ...service, sched: 'wlc' } });
    for (let j = 0; j < 2; j++) items.push({ verb: 'addDest', args: { service, addr: `198.51.100.${10 + j}`, port: 80, fwd: j === 0 ? 'nat' : 'dr', weight: 1 } });
  }
  ctl.call('batch', { items });
  const health = scratchHealth(services);
  const srv = await startMetricsServer(dp, { host: '127.0.0.1', port: 0 }, { process: false, health }).catch(() => undefined);
  const rates = new RateEstimator(dp);
  const write = (src: { health?: HealthView }): Promise<void> => writeStatus(dp, rates, src, new ByteOut(() => {}), plainSlicer('warm-up').pause, () => true);
  if (srv === undefined) {
    await write({ health });
    await write({ health });
  } else {
    try {
      for (const gzip of [true, false, true, false]) await get(srv.address, '/status.json', gzip);
    } finally {
      srv.close();
    }
  }
  await write({});
  await write({});
  return { ms: performance.now() - t0, cpuMs: native.threadCpuMs() - c0 };
}

/** A health view of `services` scratch services of 4 servers made through `call` (a scratch Control's), of the kind uvsd's is (src/health/scratch.ts scratchHealth), and its end. */
export type ScratchHealth = (call: (verb: string, args: unknown) => unknown, services: number) => Promise<{ view: HealthView; stop(): Promise<void> }>;

/**
 * Services of the /metrics warm-up's scratch table, of four servers each: as many quorums as a
 * family's samples between two pause points (64) and more checkers than its rows between two (256),
 * so each pause point runs.
 */
const METRICS_SERVICES = 64;

/** The /metrics warm-up's Metrics, kept for the life of the process: what their scrapes keep (view.ts RowWalk) keeps the shapes V8 saw. */
const retained: Metrics[] = [];

/**
 * /metrics at start, as warmStatus /status.json: the first scrape after uvsd's start of 10,000
 * services x 4 servers checked by its HealthManager held the loop 7-10 ms in one slice, V8
 * deoptimising `gather` and `checkedNamesOf` (collectors.ts) at the health lists' walks and
 * compiling them again inside the scrape (docs/performance.md, 2026-12-06 16:45). So that scrape is
 * run first on a scratch table through a health view of the kind uvsd's is (`health`: uvsd's is a
 * HealthManager, this a scratch one; none: uvsd has no health checks), half its servers' counters
 * past 2^32 (not small integers, as a live table's soon are), in process (the listener's request
 * path is /status.json's, warmed by warmStatus), by three Metrics whose pauses come from two places: a
 * scrape's helpers are closures of each Metrics and its pause and due() the caller's, so a call
 * site that saw only one function is compiled for it and deoptimised by uvsd's own ones. The real
 * table, datapath and listener are not touched. Returns its wall time and this thread's CPU (ms);
 * throws only on a bug.
 */
export async function warmMetrics(health?: ScratchHealth): Promise<{ ms: number; cpuMs: number }> {
  const t0 = performance.now();
  const c0 = native.threadCpuMs();
  const ctl = scratchControl(METRICS_SERVICES * 5 + 16, 0x04);
  const dp = ctl.dp;
  const scratch = health === undefined ? undefined : await health((verb, args) => ctl.call(verb, args), METRICS_SERVICES);
  try {
    if (scratch === undefined) {
      const items: unknown[] = [];
      for (let i = 0; i < METRICS_SERVICES; i++) {
        const service = { proto: i % 7 === 3 ? 'udp' : 'tcp', addr: `192.0.2.${100 + i}`, port: 80 };
        items.push({ verb: 'addService', args: { ...service, sched: 'wlc' } });
        for (let j = 0; j < 4; j++) items.push({ verb: 'addDest', args: { service, addr: `198.51.100.${10 + j + 4 * (i % 40)}`, port: 80, fwd: 'dr', weight: 1 } });
      }
      ctl.call('batch', { items });
    }
    const dt = dp.dt;
    for (const s of dp.services) {
      for (const d of s?.dests ?? []) {
        if (d % 2 === 0) continue;
        dt.conns[d] = 3e9 + d;
        dt.inPkts[d] = 1e10 + d;
        dt.inBytes[d] = 2 ** 40 + d;
        dt.outPkts[d] = 7e9 + d;
        dt.outBytes[d] = 2 ** 45 + d;
      }
    }
    const view = scratch?.view;
    const block = Buffer.allocUnsafe(BLOCK);
    const other: Slicer = (what) => {
      const { pause, done } = plainSlicer(what);
      const ask = asker();
      return { pause: (until) => pause(until), done, ask: () => ask() };
    };
    // A third: a call site that had seen one function when the first scrape ran (its feedback made only then) sees two more.
    for (const slicer of [plainSlicer, other, plainSlicer]) {
      const m = createMetrics(dp, { process: false, health: view, slicer });
      retained.push(m);
      await m.stream(() => {}, () => block);
    }
  } finally {
    await scratch?.stop();
  }
  return { ms: performance.now() - t0, cpuMs: native.threadCpuMs() - c0 };
}
