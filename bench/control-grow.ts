// The thread CPU of one -A (with its -a's) or -D as the table crosses a power of two (issue 7:
// no verb holds the loop more than 2 ms; V8 copies a Map or array whole when it grows past one),
// in process (no TAP, no socket): not a test and not in npm test.
//
//   node --expose-gc dist/bench/control-grow.js [--sizes 8192,16384] [--servers 4] [--runs 3]
//
// For each size P: a table of P-1 TCP services x --servers NAT servers (Control.callAsync, as
// the socket calls it), then -A of services P and P+1, each with its servers (-a), then -D of
// both (P+1 -> P-1). Printed per verb: the thread CPU of the verb's one piece (Control.held's
// cpuMs, native threadCpuMs: the host is shared), every run; gc() before each verb when exposed
// (a collection is not what this measures).
import { rig, type Rig } from '../test/helpers/harness.js';
import type { ServiceKey } from '../src/control/protocol.js';
import { round } from './lib/stats.js';
import { recordHeld } from './lib/held.js';
import { benchArgs } from './lib/args.js';

const { values } = benchArgs(import.meta.url, {
  options: {
    sizes: { type: 'string', default: '8192,16384' },
    servers: { type: 'string', default: '4' },
    runs: { type: 'string', default: '3' },
  },
});
const sizes = values.sizes.split(',').map(Number);
const servers = Number(values.servers);
const runs = Number(values.runs);
const gc = (globalThis as { gc?: () => void }).gc;

// (sizes up to 65,535 services of up to 8 servers: every address in --addr 10.0.0.1/8)
const keyOf = (s: number): ServiceKey => ({ proto: 'tcp', addr: `10.1.${s >> 8}.${s & 255}`, port: 80 });
const destOf = (s: number, i: number): string => `10.${2 + i}.${s >> 8}.${s & 255}`;

/** The thread CPU (ms) of each piece Control.held records while fn runs. */
async function pieces(r: Rig, fn: () => unknown): Promise<number[]> {
  const rec = recordHeld(r);
  try {
    await fn();
  } finally {
    rec.stop();
  }
  return rec.cpus;
}

async function verb(r: Rig, name: string, args: unknown): Promise<number> {
  gc?.();
  return Math.max(0, ...(await pieces(r, () => r.ctl.callAsync(name, args))));
}

/** -A of service s with its servers: the longest piece of each (ms of thread CPU). */
async function add(r: Rig, s: number): Promise<{ A: number; a: number }> {
  const service = keyOf(s);
  const A = await verb(r, 'addService', { ...service, sched: 'wlc' });
  let a = 0;
  for (let i = 0; i < servers; i++) a = Math.max(a, await verb(r, 'addDest', { service, addr: destOf(s, i), port: 80, fwd: 'nat', weight: 1 }));
  return { A, a };
}

async function main(): Promise<void> {
  console.log(`servers per service: ${servers}; gc before each verb: ${gc !== undefined}`);
  for (const p of sizes) {
    const rows: string[][] = [];
    for (let run = 0; run < runs; run++) {
      const r = rig({ addrs: ['10.0.0.1/8'], destMax: (p + 2) * servers + 8 });
      for (let s = 0; s < p - 1; s++) {
        const service = keyOf(s);
        r.ctl.addService({ ...service, sched: 'wlc' });
        for (let i = 0; i < servers; i++) r.ctl.addDest({ service, addr: destOf(s, i), port: 80, fwd: 'nat', weight: 1 });
      }
      const x = await add(r, p - 1); // the P-th service
      const y = await add(r, p); // the (P+1)-th
      const d1 = await verb(r, 'deleteService', keyOf(p));
      const d2 = await verb(r, 'deleteService', keyOf(p - 1));
      rows.push([x.A, x.a, y.A, y.a, d1, d2].map((v) => String(round(v, 2))));
    }
    const col = (i: number): string => rows.map((row) => row[i]).join(' ');
    console.log(`${p - 1} -> ${p + 1} services: -A #${p} ${col(0)} (its -a ${col(1)}); -A #${p + 1} ${col(2)} (its -a ${col(3)}); ` +
      `-D #${p + 1} ${col(4)}; -D #${p} ${col(5)} (ms of thread CPU, runs)`);
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
