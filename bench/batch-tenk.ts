// integration-reshape's "10,000 services through the batch verb in under a second" in process
// (no TAP, no lab): not a test. A Control over a Datapath of uvsd's --dest-max, its control
// verbs warmed up as uvsd's start does (warmControl), served on a control socket through uvsd's
// dispatch (controlDispatch, the VIP probe's path: the VIP exists); the table of that test (one
// service of 2 DR servers), then the batch of --services addService + addDest items sent as one
// JSON line by a client on a thread of its own. Each round from a table emptied by -C, the first
// that of a fresh Control's verbs (the test's round 1).
//
//   node --no-memory-reducer dist/bench/batch-tenk.js [--services 10000] [--rounds 4]
//
// For each round: the client's wall time (its write to the reply read), this (the loop's)
// thread's CPU over it, its scavenges and mark-compacts (ms), the slices the verbs recorded
// (Control.held: how many, the longest's CPU, how many over 2 ms), the longest CPU between two
// turns of a 1 ms timer (cpuGaps), the minor page faults of the process and of the loop's thread
// (each ~12-20 us of CPU on these hosts), and the first and last slice the batch's slicer recorded
// (ms after the client's write: before the first, the request was read and parsed).
import { Worker } from 'node:worker_threads';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PerformanceObserver } from 'node:perf_hooks';
import { rig } from '../test/helpers/harness.js';
import { listenControl } from '../src/control/server.js';
import { controlDispatch } from '../src/control/dispatch.js';
import { warmControl } from '../src/control/warmup.js';
import { native } from '../src/datapath/port.js';
import { cpuGaps } from './lib/held.js';
import { benchArgs } from './lib/args.js';

/** This thread's minor page faults (/proc/thread-self/stat minflt). */
const myFaults = (): number => Number(readFileSync('/proc/thread-self/stat', 'latin1').split(') ')[1]!.split(' ')[7]);

const { values } = benchArgs(import.meta.url, {
  options: {
    services: { type: 'string', default: '10000' },
    rounds: { type: 'string', default: '4' },
  },
});
const N = Number(values.services);
const VIP = '10.0.0.200';
const SERVERS = ['10.0.0.11', '10.0.0.12'];

/** The client: sends the line on a connection of its own, reports its wall time (ms) once the reply's line is read. */
const CLIENT = `
const { parentPort } = require('node:worker_threads');
const net = require('node:net');
parentPort.on('message', ({ path, line }) => {
  const sock = net.createConnection(path, () => {
    const t0 = performance.now();
    let got = '';
    sock.setEncoding('utf8');
    sock.on('data', (c) => {
      got += c;
      const nl = got.indexOf('\\n');
      if (nl < 0) return;
      const ms = performance.now() - t0;
      sock.destroy();
      parentPort.postMessage({ ms, reply: got.slice(0, Math.min(nl, 300)), sentAt: performance.timeOrigin + t0 });
    });
    sock.write(line + '\\n');
  });
});
`;

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'uvs-bt-'));
  const sock = join(dir, 'uvsd.sock');
  const w0 = await warmControl();
  console.log(`warmControl: ${w0.ms.toFixed(0)} ms, ${w0.cpuMs.toFixed(0)} ms CPU`);
  const r = rig({ addrs: ['10.0.0.10/24'], destMax: 65536 });
  const dispatch = controlDispatch({ control: r.ctl, dp: r.dp, probeMs: 50, log: { info: () => {} } });
  const srv = await listenControl(sock, dispatch, (e) => { throw e; });
  const client = new Worker(CLIENT, { eval: true });
  const items: { verb: string; args: Record<string, unknown> }[] = [];
  for (let i = 0; i < N; i++) {
    const service = { proto: 'tcp', addr: VIP, port: 10_000 + i };
    items.push({ verb: 'addService', args: { ...service, sched: 'wlc' } });
    items.push({ verb: 'addDest', args: { service, addr: SERVERS[i % 2]!, port: 10_000 + i } });
  }
  const line = JSON.stringify({ id: 1, verb: 'batch', args: { items } });
  const gcs: { kind: number; ms: number; at: number }[] = [];
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) gcs.push({ kind: (e as unknown as { detail: { kind: number } }).detail.kind, ms: e.duration, at: e.startTime });
  });
  obs.observe({ entryTypes: ['gc'] });
  const ctl = r.ctl as unknown as { held: (verb: string, ms: number, cpuMs: number) => void };
  const held0 = ctl.held;
  try {
    for (let round = 1; round <= Number(values.rounds); round++) {
      await dispatch('clear', {});
      await dispatch('addService', { proto: 'tcp', addr: VIP, port: 80, sched: 'rr' });
      for (const a of SERVERS) await dispatch('addDest', { service: { proto: 'tcp', addr: VIP, port: 80 }, addr: a, port: 80 });
      await new Promise((res) => setTimeout(res, 100));
      gcs.length = 0;
      const slices: { verb: string; at: number; ms: number; cpu: number }[] = [];
      ctl.held = function (this: unknown, verb: string, ms: number, cpuMs: number) {
        slices.push({ verb, at: performance.now(), ms, cpu: cpuMs });
        held0.call(this, verb, ms, cpuMs);
      };
      const gaps = cpuGaps();
      const c0 = native.threadCpuMs();
      const pf0 = process.resourceUsage().minorPageFault;
      const my0 = myFaults();
      const t0 = performance.now();
      const reply = new Promise<{ ms: number; reply: string; sentAt: number }>((res) => client.once('message', res));
      client.postMessage({ path: sock, line });
      const got = await reply;
      const cpu = native.threadCpuMs() - c0;
      const pf = process.resourceUsage().minorPageFault - pf0;
      const my = myFaults() - my0;
      const wall = performance.now() - t0;
      const g = gaps.stop();
      delete (ctl as { held?: unknown }).held;
      if (!got.reply.includes('"ok":true')) throw new Error(`refused: ${got.reply}`);
      await new Promise((res) => setTimeout(res, 20)); // the gc entries of the round
      const sum = (k: number): string => gcs.filter((x) => (x.kind & k) !== 0).reduce((a, x) => a + x.ms, 0).toFixed(0);
      const sent = got.sentAt - performance.timeOrigin;
      const byVerb = new Map<string, { n: number; first: number; last: number; cpu: number; max: number }>();
      for (const s of slices) {
        const v = byVerb.get(s.verb) ?? { n: 0, first: s.at - s.ms, last: 0, cpu: 0, max: 0 };
        v.n++;
        v.last = s.at;
        v.cpu += s.cpu;
        v.max = Math.max(v.max, s.cpu);
        byVerb.set(s.verb, v);
      }
      const phases = [...byVerb].map(([k, v]) => `${k} ${v.n} slices ${(v.first - sent).toFixed(0)}..${(v.last - sent).toFixed(0)} ms, CPU ${v.cpu.toFixed(0)} (max ${v.max.toFixed(2)})`).join('; ');
      console.log(`round ${round}: wall ${got.ms.toFixed(0)} ms (loop's view ${wall.toFixed(0)}), loop CPU ${cpu.toFixed(0)} ms, minor faults ${pf} (the loop's thread ${my}), ` +
        `scavenge ${sum(1)} ms, mark-compact ${sum(2 | 4)} ms; slices ${slices.length}, longest CPU ${Math.max(0, ...slices.map((s) => s.cpu)).toFixed(2)} ms, ` +
        `over 2 ms ${slices.filter((s) => s.cpu > 2).length}; longest CPU between timer turns ${g.cpu.toFixed(2)} ms (${g.over2} over 2)`);
      console.log(`  ${phases}`);
    }
  } finally {
    await client.terminate();
    obs.disconnect();
    srv.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
