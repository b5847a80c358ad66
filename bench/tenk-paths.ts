// Four control paths at 10,000 services x 4 servers that were not measured before (issue 7: no
// control verb or timer holds the loop over 2 ms), in process (no TAP, no threads): not a test.
//
//   node dist/bench/tenk-paths.js [--path steer,health,keepalived,ftp] [--services 10000] [--servers 4]
//
// steer:      --workers 2 with persistent (-p) NAT services: the shadow and DatapathGroup.apply's
//             steering map (a fake map, src/datapath/steer.ts) for every list of a sliced batch
//             that edits every service; and a worker applying those lists (its own thread in uvsd).
// health:     10,000 services of 4 TCP_CHECK'd servers (HealthManager, the checks against a
//             listening socket on 127.0.0.1, on a thread of its own): start (the table's batch, the commit, the first
//             checks scheduled), a reload's prepare() and commit(), a check round's results.
// keepalived: uvsd --keepalived-conf of 10,000 virtual_servers (read off the loop as uvsd does),
//             the health checker as its hook; its reload from the socket.
// ftp:        --workers 2 --ftp-ports 21: a change (one -e) with 10,000 services on port 21
//             (NAT, not persistent: every one warned about) and on port 80.
//
// For each: the longest CPU of this thread between two turns of a 1 ms timer (what forwarding,
// the other timers and the socket would have waited; native.threadCpuMs, so other processes'
// load counts only in the wall numbers), that gap's wall time, the longest slice a verb recorded
// (Control.held) and the whole wall time.
import { createServer } from 'node:net';
import { Worker } from 'node:worker_threads';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rig, type Rig } from '../test/helpers/harness.js';
import { native } from '../src/datapath/port.js';
import { DatapathGroup, type OpsMessage } from '../src/datapath/group.js';
import { fakeSteering } from '../test/helpers/steering.js';
import { destLoad } from '../src/datapath/dests.js';
import { parseMac } from '../src/datapath/addr.js';
import { HealthManager } from '../src/health/manager.js';
import type { HealthConfig, VirtualServerSpec } from '../src/health/types.js';
import { ConfigManager } from '../src/control/config.js';
import { loadKeepalivedFile } from '../src/health/load.js';
import { loadKeepalivedOffThread } from '../src/control/config-thread.js';
import type { Control } from '../src/control/model.js';
import { cpuGaps } from './lib/held.js';
import { round } from './lib/stats.js';
import { benchArgs } from './lib/args.js';

const { values } = benchArgs(import.meta.url, {
  options: {
    path: { type: 'string', default: 'steer,health,keepalived,ftp' },
    services: { type: 'string', default: '10000' },
    servers: { type: 'string', default: '4' },
  },
});
const N = Number(values.services);
const M = Number(values.servers);
const vip = (i: number): string => `10.1.${i >> 8}.${i & 255}`;
const rip = (i: number, j: number): string => `10.${2 + j}.${i >> 8}.${i & 255}`;

/** Every slice Control.held records (its thread CPU), while fn runs. */
async function measured<T>(ctl: Control, fn: () => Promise<T> | T): Promise<{ value: T; text: string }> {
  ctl.resetSlowest();
  const cpus: number[] = [];
  const c = ctl as unknown as { held: (verb: string, ms: number, cpuMs: number) => void };
  const held = c.held;
  c.held = function (this: unknown, verb: string, ms: number, cpuMs: number) {
    cpus.push(cpuMs);
    held.call(this, verb, ms, cpuMs);
  };
  const gaps = cpuGaps();
  const t0 = performance.now();
  const value = await fn();
  const ms = performance.now() - t0;
  const g = gaps.stop();
  delete (c as { held?: unknown }).held;
  return {
    value,
    text: `longest loop piece ${round(g.cpu, 1)} ms CPU (${round(g.wall, 1)} ms wall; with no collection seen in it ${round(g.noGc, 1)}), ${g.over2} pieces over 2 ms CPU; ` +
      `verb slices ${cpus.length}, longest ${round(Math.max(0, ...cpus), 1)} ms CPU; wall ${round(ms, 0)} ms`,
  };
}

/** fn's thread CPU and wall (ms): one piece. */
function once<T>(fn: () => T): { value: T; text: string } {
  const c0 = native.threadCpuMs();
  const t0 = performance.now();
  const value = fn();
  return { value, text: `${round(native.threadCpuMs() - c0, 1)} ms CPU (${round(performance.now() - t0, 1)} ms wall) in one piece` };
}

/** A shadow with a DatapathGroup of two workers that only keep what is posted to them. */
function workersRig(ftp = false): { r: Rig; group: DatapathGroup; lists: OpsMessage[] } {
  const destMax = N * M + 64;
  const r = rig({ addrs: ['10.0.0.1/8'], destMax, connMax: 1024 });
  const group = new DatapathGroup([], { io: 'syscalls', stride: 2048, batch: 64, headroom: 0, budget: 64 }, { mac: parseMac('02:00:00:00:00:01'), addrs: [], connMax: 1024, destMax });
  (group as unknown as { count: number }).count = 2;
  group.shadow = r.dp;
  r.ctl.info.workers = group;
  const lists: OpsMessage[] = [];
  const links = (group as unknown as { links: unknown[] }).links;
  for (const k of [0, 1]) links.push({ w: { postMessage: (m: OpsMessage) => { if (k === 0 && m.t === 'ops') lists.push(m); } }, shared: undefined, acked: 0, svcNext: [] });
  group.useSteering(fakeSteering().s);
  if (ftp) r.dp.setDefense({ ftpPorts: [21] });
  return { r, group, lists };
}

function fillItems(port: number, persist: number, fwd: 'nat' | 'dr'): unknown[] {
  const items: unknown[] = [];
  for (let i = 0; i < N; i++) {
    const service = { proto: 'tcp', addr: vip(i), port };
    items.push({ verb: 'addService', args: { ...service, sched: 'wlc', ...(persist > 0 ? { persist, netmask: '255.255.255.0' } : {}) } });
    for (let j = 0; j < M; j++) items.push({ verb: 'addDest', args: { service, addr: rip(i, j), port, fwd, weight: 1 } });
  }
  return items;
}

async function steer(): Promise<void> {
  const { r, lists } = workersRig();
  const fill = await measured(r.ctl, () => r.ctl.callAsync('batch', { items: fillItems(80, 300, 'nat') }));
  console.log(`steer: -A ${N} persistent services x ${M} NAT servers (one sliced batch, ${lists.length} lists): ${fill.text}`);
  // A worker applying what was posted: its own Datapath (uvsd: its thread; here one at a time).
  const w = rig({ addrs: ['10.0.0.1/8'], destMax: N * M + 64, connMax: 1024, worker: { index: 0, count: 2, load: destLoad(2, N * M + 64) } });
  const applyAll = (from: number): { max: number; sum: number; n: number } => {
    let max = 0;
    let sum = 0;
    for (const m of lists.slice(from)) {
      const c0 = native.threadCpuMs();
      w.dp.apply(m.ops);
      const c = native.threadCpuMs() - c0;
      max = Math.max(max, c);
      sum += c;
    }
    return { max, sum, n: lists.length - from };
  };
  let a = applyAll(0);
  console.log(`steer: a worker applying those ${a.n} lists: longest ${round(a.max, 1)} ms CPU, all ${round(a.sum, 0)} ms`);
  for (const [what, sched] of [['-E every service (scheduler rr)', 'rr'], ['-E every service (scheduler wlc)', 'wlc']] as const) {
    const from = lists.length;
    const items: unknown[] = [];
    for (let i = 0; i < N; i++) items.push({ verb: 'editService', args: { proto: 'tcp', addr: vip(i), port: 80, sched, persist: 300, netmask: '255.255.255.0' } });
    const e = await measured(r.ctl, () => r.ctl.callAsync('batch', { items }));
    console.log(`steer: ${what}, ${lists.length - from} lists: ${e.text}`);
    a = applyAll(from);
    console.log(`steer: a worker applying them: longest ${round(a.max, 1)} ms CPU, all ${round(a.sum, 0)} ms`);
  }
  const one = await measured(r.ctl, () => r.ctl.callAsync('editDest', { service: { proto: 'tcp', addr: vip(7), port: 80 }, addr: rip(7, 0), port: 80, fwd: 'nat', weight: 2 }));
  console.log(`steer: one -e (a weight): ${one.text}`);
  const from = lists.length;
  const d = await measured(r.ctl, () => r.ctl.callAsync('deleteDest', { service: { proto: 'tcp', addr: vip(7), port: 80 }, addr: rip(7, 0), port: 80 }));
  console.log(`steer: one -d (a NAT server): ${d.text}`);
  a = applyAll(from);
  console.log(`steer: a worker applying it: ${round(a.max, 1)} ms CPU`);
}

function healthConfig(port: number, delayLoopMs: number, weight = 1): HealthConfig {
  const services: VirtualServerSpec[] = [];
  for (let i = 0; i < N; i++) {
    const realServers = [];
    for (let j = 0; j < M; j++) {
      realServers.push({ addr: rip(i, j), port: 80, weight, inhibitOnFailure: false, checkers: [{ type: 'TCP_CHECK' as const, connectIp: '127.0.0.1', connectPort: port, connectTimeoutMs: 3000, delayLoopMs, retry: 1, delayBeforeRetryMs: 1000, rise: 1, fall: 1 }] });
    }
    services.push({ proto: 'tcp', addr: vip(i), port: 80, sched: 'wlc', fwd: 'dr', persistence: 0, delayLoopMs, quorum: 1, hysteresis: 0, alpha: false, omega: false, realServers });
  }
  return { services };
}

async function health(): Promise<void> {
  // The servers on a thread of their own (their accepts and closes are not the health checker's
  // CPU), listening with the largest backlog (a full one drops SYNs: checks wait a second then).
  const srv = new Worker(`const { parentPort } = require('node:worker_threads');
    const s = require('node:net').createServer((c) => c.destroy());
    s.listen({ port: 0, host: '127.0.0.1', backlog: 65535 }, () => parentPort.postMessage(s.address().port));`, { eval: true });
  const port = await new Promise<number>((resolve) => srv.once('message', resolve));
  const r = rig({ addrs: ['10.0.0.1/8'], destMax: N * M + 64, connMax: 1024 });
  const { hostChecks, Pinger } = await import('../src/health/checkers/index.js');
  const pinger = new Pinger();
  const DELAY = 3000;
  const mgr = new HealthManager(healthConfig(port, DELAY), {
    call: (v, a) => r.ctl.callAsync(v, a),
    run: hostChecks(pinger),
    exec: async () => {},
    log: { info: () => {}, warn: () => {} },
  });
  const s = await measured(r.ctl, () => mgr.start());
  console.log(`health: start (${N} x ${M} TCP_CHECK: the table's batch, the commit, the first checks scheduled): ${s.text}`);
  const round1 = await measured(r.ctl, () => new Promise((res) => setTimeout(res, DELAY + 1500)));
  console.log(`health: the first round of ${mgr.attempts} checks (all pass, nothing changes), ${DELAY + 1500} ms: ${round1.text}`);
  const cfg = healthConfig(port, DELAY, 2);
  const p = once(() => mgr.prepare(cfg.services));
  console.log(`health: a reload's prepare() (every weight changed): ${p.text}`);
  // The same in steps, as a reload's planner takes it (prepareSteps): the longest step.
  const g = mgr.prepareSteps(cfg.services);
  let longest = 0;
  let steps = 0;
  for (;;) {
    const c0 = native.threadCpuMs();
    const x = g.next();
    longest = Math.max(longest, native.threadCpuMs() - c0);
    if (x.done === true) break;
    steps++;
  }
  console.log(`health: prepareSteps() of the same: ${steps} steps, the longest ${round(longest, 2)} ms CPU`);
  // Its commit as a sliced reload takes it (commitSteps, inside the batch's switch): the longest step.
  if (p.value.commitSteps === undefined) {
    const c = once(() => p.value.commit());
    console.log(`health: its commit(): ${c.text}`);
  }
  const cg = p.value.commitSteps?.() ?? (function* () {})();
  longest = 0;
  steps = 0;
  const cc0 = native.threadCpuMs();
  for (;;) {
    const c0 = native.threadCpuMs();
    const x = cg.next();
    longest = Math.max(longest, native.threadCpuMs() - c0);
    if (x.done === true) break;
    steps++;
  }
  console.log(`health: its commitSteps(): ${steps} steps, the longest ${round(longest, 2)} ms CPU (all ${round(native.threadCpuMs() - cc0, 0)} ms)`);
  // A round where the checks of every server fail (the table changes).
  await srv.terminate();
  await new Promise((res) => setTimeout(res, 200));
  const fail = await measured(r.ctl, () => new Promise((res) => setTimeout(res, DELAY + 1500)));
  console.log(`health: a round where every check fails (${N * M} servers out of the table, one verb each): ${fail.text}`);
  await mgr.stop();
  pinger.close();
}

function bigKeepalived(port: number, sched: string): string {
  const out: string[] = [];
  for (let i = 0; i < N; i++) {
    out.push(`virtual_server ${vip(i)} 80 {`, '  delay_loop 3600', `  lb_algo ${sched}`, '  lb_kind DR', '  protocol TCP');
    for (let j = 0; j < M; j++) out.push(`  real_server ${rip(i, j)} 80 {`, '    weight 1', `    TCP_CHECK {`, `      connect_ip 127.0.0.1`, `      connect_port ${port}`, '    }', '  }');
    out.push('}');
  }
  return out.join('\n') + '\n';
}

async function keepalived(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'uvs-tenk-'));
  const srv = createServer((s) => s.destroy());
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as { port: number }).port;
  try {
    const k = join(dir, 'keepalived.conf');
    writeFileSync(k, bigKeepalived(port, 'wlc'));
    const r = rig({ addrs: ['10.0.0.1/8'], destMax: N * M + 64, connMax: 1024 });
    const { hostChecks, Pinger } = await import('../src/health/checkers/index.js');
    const pinger = new Pinger();
    const mgr = new HealthManager(undefined, { call: (v, a) => r.ctl.callAsync(v, a), run: hostChecks(pinger), exec: async () => {}, log: { info: () => {}, warn: () => {} } });
    const load = (f: string) => {
      const x = loadKeepalivedFile(f);
      return { services: x.config.services, warnings: x.warnings };
    };
    const cm = new ConfigManager(r.ctl, undefined, { drainTimeout: 0 }, { keepalived: k, loadKeepalived: load, loadKeepalivedSliced: loadKeepalivedOffThread, health: mgr });
    r.ctl.config = cm;
    const st = once(() => cm.apply(cm.load(), false));
    console.log(`keepalived: start (uvsd --keepalived-conf, ${N} virtual_servers x ${M}, ${st.value.length} changes): ${st.text}`);
    await mgr.start();
    for (const [what, sched] of [['every lb_algo changed', 'rr'], ['nothing changed', 'rr']] as const) {
      writeFileSync(k, bigKeepalived(port, sched));
      const dry = await measured(r.ctl, () => r.ctl.callAsync('reload', { dryRun: true }));
      console.log(`keepalived: reload --dry-run, ${what}: ${dry.text}`);
      const rel = await measured(r.ctl, () => r.ctl.callAsync('reload', {}) as Promise<{ changes: string[] }>);
      console.log(`keepalived: reload, ${what} (${rel.value.changes.length} changes): ${rel.text}`);
    }
    await mgr.stop();
    pinger.close();
  } finally {
    srv.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function ftp(): Promise<void> {
  for (const port of [21, 80]) {
    const { r } = workersRig(true);
    await r.ctl.callAsync('batch', { items: fillItems(port, 0, 'nat') });
    const warned = r.ctl.ftpNotPersistent().length;
    const svc = { proto: 'tcp', addr: vip(7), port };
    const e = await measured(r.ctl, () => r.ctl.callAsync('editDest', { service: svc, addr: rip(7, 0), port, fwd: 'nat', weight: 2 }));
    console.log(`ftp: ${N} NAT services on port ${port} (${warned} not persistent on an FTP port): one -e: ${e.text}`);
    const w = once(() => r.ctl.ftpNotPersistent());
    console.log(`ftp: port ${port}: ftpNotPersistent() alone: ${w.text}`);
    const ctl = r.ctl as unknown as { warnFtp(): void };
    const wf = once(() => ctl.warnFtp());
    console.log(`ftp: port ${port}: the check after a change (Control.warnFtp): ${wf.text}`);
  }
}

const paths: Record<string, () => Promise<void>> = { steer, health, keepalived, ftp };
for (const p of values.path!.split(',')) {
  const f = paths[p];
  if (f === undefined) throw new Error(`--path ${p}: one of ${Object.keys(paths).join(', ')}`);
  await f();
}
process.exit(0);
