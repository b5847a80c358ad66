// A verb's first call after uvsd's start (issue 7: no verb holds the loop over 2 ms), in process:
// not a test. A fresh process each (V8's feedback is per process), as uvsd starts: a --config
// YAML of --services TCP services x --servers NAT servers read (readConfig) and applied in one
// batch (ConfigManager.apply), the datapath's JIT warm-up, and with `warm` the control warm-up
// (src/control/warmup.ts); then a control socket (Control.callAsync, as uvsd serves it) and uvsadm
// runs each command once (started by a helper process: a spawn from this process, its heap over a
// GB, would cost this thread milliseconds of its own). For each: the longest CPU of this thread
// between two turns of a 1 ms timer while it ran (native.threadCpuMs), and the longest slice the
// verb recorded.
//
//   node dist/bench/verb-first.js [--services 10000] [--servers 4] [--pairs 2] [--only=-D | --only=each]
//
// --only each: every command alone as the first request after the start (a fresh process each).
import { spawn, spawnSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { rig } from '../test/helpers/harness.js';
import { native } from '../src/datapath/port.js';
import { listenControl } from '../src/control/server.js';
import { ConfigManager, readConfig } from '../src/control/config.js';
import { warmUp } from '../src/datapath/warmup.js';
import { RX_HEADROOM } from '../src/datapath/pipeline.js';
import { cpuGaps, recordHeld } from './lib/held.js';
import { round } from './lib/stats.js';
import { benchArgs } from './lib/args.js';

const { values } = benchArgs(import.meta.url, {
  options: { only: { type: 'string' }, services: { type: 'string', default: '10000' }, servers: { type: 'string', default: '4' }, pairs: { type: 'string', default: '2' }, child: { type: 'string' } },
});
const N = Number(values.services);
const M = Number(values.servers);
const vip = (i: number): string => `10.1.${i >> 8}.${i & 255}`;
const rip = (i: number, j: number): string => `10.${2 + j}.${i >> 8}.${i & 255}`;
const uvsadm = join(import.meta.dirname, '../../bin/uvsadm');

/** The commands, in this order (-C last: it empties the table). */
const COMMANDS: [string, string[], string?][] = [
  ['-A', ['-A', '-t', '10.9.0.1:80', '-s', 'rr']],
  ['-E', ['-E', '-t', `${vip(5)}:80`, '-s', 'rr']],
  ['-a', ['-a', '-t', `${vip(5)}:80`, '-r', '10.9.9.9:80', '-m', '-w', '1']],
  ['-e', ['-e', '-t', `${vip(5)}:80`, '-r', `${rip(5, 0)}:80`, '-m', '-w', '2']],
  ['-d', ['-d', '-t', `${vip(5)}:80`, '-r', `${rip(5, 1)}:80`]],
  ['-D', ['-D', '-t', `${vip(6)}:80`]],
  ['-L -t', ['-L', '-n', '-t', `${vip(7)}:80`]],
  ['-L', ['-L', '-n']],
  ['-Z -t', ['-Z', '-t', `${vip(7)}:80`]],
  ['-Z', ['-Z']],
  ['batch (-R)', ['-R'], '-A -t 10.9.0.2:80 -s rr\n-a -t 10.9.0.2:80 -r 10.2.0.10:80 -m -w 1\n'],
  ['-C', ['-C']],
];

async function child(warm: boolean): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'uvs-vf-'));
  try {
    const yaml = ['services:'];
    for (let i = 0; i < N; i++) {
      yaml.push('  - proto: tcp', `    address: ${vip(i)}`, '    port: 80', '    scheduler: wlc', '    servers:');
      for (let j = 0; j < M; j++) yaml.push(`      - address: ${rip(i, j)}`, '        method: nat');
    }
    const file = join(dir, 'uvsd.yaml');
    writeFileSync(file, yaml.join('\n') + '\n');
    const r = rig({ addrs: ['10.0.0.1/8'], destMax: N * M + 64, connMax: 1024 });
    const cm = new ConfigManager(r.ctl, file, { drainTimeout: 0 });
    r.ctl.config = cm;
    let c0 = native.threadCpuMs();
    const cfg = readConfig(file);
    const readMs = native.threadCpuMs() - c0;
    c0 = native.threadCpuMs();
    cm.apply(cfg, false);
    const applyMs = native.threadCpuMs() - c0;
    warmUp({ vnetHdr: 0, mtu: 1500, batch: 64 }, { stride: 2048, base: RX_HEADROOM });
    let warmMs = 0;
    if (warm) {
      const { warmControl } = await import('../src/control/warmup.js');
      warmMs = (await warmControl()).cpuMs;
    }
    // The start's garbage collected first (a full collection, then a quiet 200 ms): what is left is the verbs' own.
    (globalThis as { gc?: () => void }).gc?.();
    await new Promise((resolve) => setTimeout(resolve, 200));
    const sock = join(dir, 'uvsd.sock');
    const srv = await listenControl(sock, (v, a) => r.ctl.callAsync(v, a), (e) => { throw e; });
    const helper = spawn(process.execPath, [fileURLToPath(import.meta.url), '--child', 'helper'], { stdio: ['pipe', 'pipe', 'inherit'] });
    const lines = createInterface({ input: helper.stdout! })[Symbol.asyncIterator]();
    const out: Record<string, { gap: number; noGc: number; slice: number }> = {};
    for (const [name, args, stdin] of COMMANDS.filter(([n]) => values.only === undefined || n === values.only)) {
      const { cpus, stop } = recordHeld(r);
      const gaps = cpuGaps();
      helper.stdin!.write(JSON.stringify({ args: ['--socket', sock, ...args], stdin }) + '\n');
      const done = (await lines.next()).value as string;
      if (done !== 'ok') throw new Error(`uvsadm ${args.join(' ')}: ${done}`);
      const g = gaps.stop();
      out[name] = { gap: g.cpu, noGc: g.noGc, slice: Math.max(0, ...cpus) };
      stop();
    }
    helper.stdin!.end();
    srv.close();
    console.log(JSON.stringify({ readMs, applyMs, warmMs, out }));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The helper: runs uvsadm for each line of its stdin ({ args, stdin }), then writes "ok" (or the error). */
async function helper(): Promise<void> {
  for await (const line of createInterface({ input: process.stdin })) {
    const { args, stdin } = JSON.parse(line) as { args: string[]; stdin?: string };
    const r = spawnSync(process.execPath, [uvsadm, ...args], { input: stdin ?? '', encoding: 'utf8', maxBuffer: 1 << 30 });
    process.stdout.write(r.status === 0 ? 'ok\n' : `exit ${r.status}: ${r.stderr.replace(/\n/g, ' ')}\n`);
  }
}

if (values.child === 'helper') await helper();
else if (values.child !== undefined) await child(values.child === 'warm');
else {
  const self = fileURLToPath(import.meta.url);
  console.log(`a verb's first call after the start: ${N} services x ${M} NAT servers from a --config YAML; the longest loop piece (ms CPU) while uvsadm ran / the longest with no collection seen in it, and (the verb's longest slice)`);
  // --only: each command alone, the first request after the start (a fresh process each); else all in order in one process.
  const runs = values.only === 'each' ? COMMANDS.map(([n]) => n) : [values.only];
  for (const only of runs) {
    for (let p = 1; p <= Number(values.pairs); p++) {
      for (const mode of p % 2 === 1 ? ['cold', 'warm'] : ['warm', 'cold']) {
        const c = spawnSync(process.execPath, ['--expose-gc', self, '--child', mode, '--services', String(N), '--servers', String(M), ...(only === undefined ? [] : [`--only=${only}`])], { encoding: 'utf8' });
        if (c.status !== 0) throw new Error(c.stderr);
        const j = JSON.parse(c.stdout) as { readMs: number; applyMs: number; warmMs: number; out: Record<string, { gap: number; noGc: number; slice: number }> };
        console.log(`${mode === 'warm' ? `warm-up ${round(j.warmMs, 1)} ms CPU` : 'no warm-up      '}; start: readConfig ${round(j.readMs, 0)} ms, apply ${round(j.applyMs, 0)} ms CPU in one piece; ` +
          Object.entries(j.out).map(([k, v]) => `${k} ${round(v.gap, 1)}/${round(v.noGc, 1)} (${round(v.slice, 1)})`).join(', '));
      }
    }
  }
}
process.exit(0);
