// How long uvsadm's control verbs hold uvsd's event loop at a large table (issue 7: no verb
// holds it more than 2 ms), in process (no TAP, no lab): not a test and not in npm test.
//
//   node dist/bench/control-slices.js [--services 10000] [--servers 4] [--runs 3]
//
// A table of --services TCP services x --servers NAT real servers, served on a control socket as
// uvsd serves it (Control.callAsync); uvsadm runs as a child process. For `-L -n`, `-L -n -t
// VIP:PORT` and `-C` (the table built again before each), a timer every 1 ms notes the longest
// gap between its turns (what forwarding would have waited); also printed: the longest slice the
// verb recorded (uvsadm --status's slowest_verb_ms) and the command's wall time. Last, `-R` of
// `-C` and the same table's rules (one sliced batch of 1 + services x (1 + servers) items, each
// run against the full table), measured the same way.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rig, type Rig } from '../test/helpers/harness.js';
import { listenControl } from '../src/control/server.js';
import { loopGapProbe, round } from './lib/stats.js';
import { recordHeld } from './lib/held.js';
import { benchArgs } from './lib/args.js';

const { values } = benchArgs(import.meta.url, {
  options: {
    services: { type: 'string', default: '10000' },
    servers: { type: 'string', default: '4' },
    runs: { type: 'string', default: '3' },
  },
});
const services = Number(values.services);
const servers = Number(values.servers);

function fill(r: Rig): void {
  for (let s = 0; s < services; s++) {
    const service = { proto: 'tcp' as const, addr: `10.1.${s >> 8}.${s & 255}`, port: 80 };
    r.ctl.addService({ ...service, sched: 'wlc' });
    for (let i = 0; i < servers; i++) r.ctl.addDest({ service, addr: `10.${2 + i}.${s >> 8}.${s & 255}`, port: 80, fwd: 'nat', weight: 1 });
  }
}

const uvsadm = join(import.meta.dirname, '../../bin/uvsadm');

/** uvsadm args beside a 1 ms timer: the longest loop gap, the verb's slowest slice, the wall time (ms), the output's size. */
async function measured(r: Rig, sock: string, args: string[], input?: string): Promise<{ gap: number; slowest: number; cpu: number; slices: number; over: number; ms: number; bytes: number }> {
  r.ctl.resetSlowest();
  // Every slice Control.held records: its CPU (the thread's own: these machines are shared).
  const { cpus, stop } = recordHeld(r);
  const probe = loopGapProbe();
  const t0 = performance.now();
  const out = await new Promise<string>((resolve, reject) => {
    const child = execFile(process.execPath, [uvsadm, '--socket', sock, ...args], { maxBuffer: 1 << 30 }, (e, so) => (e ? reject(e) : resolve(so)));
    child.stdin?.end(input ?? '');
  });
  const ms = performance.now() - t0;
  const gap = probe.stop();
  stop();
  return { gap, slowest: r.ctl.slowest.ms, cpu: Math.max(0, ...cpus), slices: cpus.length, over: cpus.filter((c) => c > 2).length, ms, bytes: out.length };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'uvs-cs-'));
  const sock = join(dir, 'uvsd.sock');
  const r = rig({ addrs: ['10.0.0.1/8'], destMax: services * servers + 8 });
  const srv = await listenControl(sock, (v, a) => r.ctl.callAsync(v, a), (e) => { throw e; });
  const show = (what: string, xs: Awaited<ReturnType<typeof measured>>[]): void => {
    const f = (k: 'gap' | 'slowest' | 'cpu' | 'slices' | 'over' | 'ms'): string => xs.map((x) => round(x[k], 1)).join(' ');
    console.log(`${what}: loop gap ms ${f('gap')}; slowest slice ms ${f('slowest')}, its longest CPU ms ${f('cpu')}; ` +
      `slices ${f('slices')} (over 2 ms CPU: ${f('over')}); wall ms ${f('ms')}; ${xs[0]!.bytes} bytes out`);
  };
  try {
    console.log(`table: ${services} services x ${servers} NAT servers`);
    fill(r);
    const one = `10.1.${(services >> 1) >> 8}.${(services >> 1) & 255}:80`;
    const runs = Number(values.runs);
    const all = [];
    const single = [];
    for (let i = 0; i < runs; i++) all.push(await measured(r, sock, ['-L', '-n']));
    for (let i = 0; i < runs; i++) single.push(await measured(r, sock, ['-L', '-n', '-t', one]));
    show('-L -n', all);
    show(`-L -n -t ${one}`, single);
    const clear = [];
    for (let i = 0; i < runs; i++) {
      if (i > 0) fill(r);
      clear.push(await measured(r, sock, ['-C']));
    }
    show('-C', clear);
    // uvsadm -R of -C and the table's rules, as `uvsadm -S -n` writes them (NAT servers: -m).
    const rules = ['-C'];
    for (let s = 0; s < services; s++) {
      const vs = `10.1.${s >> 8}.${s & 255}:80`;
      rules.push(`-A -t ${vs} -s wlc`);
      for (let i = 0; i < servers; i++) rules.push(`-a -t ${vs} -r 10.${2 + i}.${s >> 8}.${s & 255}:80 -m -w 1`);
    }
    const text = rules.join('\n') + '\n';
    const restore = [];
    for (let i = 0; i < runs; i++) {
      if (r.ctl.list().services.length === 0) fill(r);
      restore.push(await measured(r, sock, ['-R'], text));
    }
    show(`-R of -C and ${rules.length - 1} rules`, restore);
  } finally {
    srv.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
