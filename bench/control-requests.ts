// What the control socket costs around a verb, per request, at --services x --servers (issue 7):
// a table applied in one batch, served by listenControl (Control.callAsync, as uvsd serves it);
// a client in a child process sends --requests requests one after another (each waits for its
// reply): `list` of one service (uvsadm -L -n -t) and `addDest` (uvsadm -a). This thread's CPU
// (native.threadCpuMs) over the run and inside the verbs (dispatch), per request; the rest is the
// socket's (read, framing, parse, reply, write) and libuv's. With --cpu-prof the child is not profiled.
//
//   node [--cpu-prof] dist/bench/control-requests.js [--services 10000] [--servers 4] [--requests 2000] [--runs 3]
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Datapath } from '../src/datapath/pipeline.js';
import { Control } from '../src/control/model.js';
import { listenControl } from '../src/control/server.js';
import { parseIp } from '../src/datapath/addr.js';
import { native } from '../src/datapath/port.js';
import { benchArgs } from './lib/args.js';

const { values } = benchArgs(import.meta.url, { options: { services: { type: 'string', default: '10000' }, servers: { type: 'string', default: '4' }, requests: { type: 'string', default: '2000' }, runs: { type: 'string', default: '3' }, child: { type: 'string' }, verb: { type: 'string' }, from: { type: 'string', default: '0' } } });
const N = Number(values.services);
const M = Number(values.servers);
const R = Number(values.requests);
const vip = (i: number): string => `10.1.${i >> 8}.${i & 255}`;

/** The request lines: one service's list, or a new server on one service each. */
function lines(verb: string, from: number): string[] {
  const out: string[] = [];
  for (let k = 0; k < R; k++) {
    const service = { proto: 'tcp', addr: vip((k * 7) % N), port: 80 };
    const args = verb === 'list' ? { service } : { service, addr: `10.200.${(from + k) >> 8 & 255}.${(from + k) & 255}`, port: 80, fwd: 'nat', weight: 1 };
    out.push(JSON.stringify({ id: k, verb, args }) + '\n');
  }
  return out;
}

if (values.child !== undefined) {
  // The client: one request at a time, the next once its reply line came.
  const reqs = lines(values.verb!, Number(values.from));
  const s = connect(values.child);
  s.setEncoding('utf8');
  let i = 0;
  let buf = '';
  s.on('connect', () => s.write(reqs[i++]!));
  s.on('data', (d: string) => {
    buf += d;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (!line.includes('"ok":true')) throw new Error(line.slice(0, 300));
      if (i < reqs.length) s.write(reqs[i++]!);
      else s.end();
    }
  });
} else {
  const dp = new Datapath({ mac: Uint8Array.from([2, 0, 0, 0, 0, 1]), addrs: [{ ip: parseIp('10.0.0.1'), mask: 0xff000000 }], connMax: 1 << 16, destMax: M * N + 4 * R * Number(values.runs) + 16 }, { send: (_b, _o, _l, k) => k });
  const control = new Control(dp, { tap: 'bench' });
  const items: unknown[] = [];
  for (let i = 0; i < N; i++) {
    const service = { proto: 'tcp', addr: vip(i), port: 80 };
    items.push({ verb: 'addService', args: { ...service, sched: 'wlc' } });
    for (let j = 0; j < M; j++) items.push({ verb: 'addDest', args: { service, addr: `10.${8 + ((M * i + j) >> 16)}.${((M * i + j) >> 8) & 255}.${(M * i + j) & 255}`, port: 80, fwd: 'nat', weight: 1 } });
  }
  control.call('batch', { items });
  const dir = mkdtempSync(join(tmpdir(), 'uvs-control-requests-'));
  const path = join(dir, 's');
  let verbCpu = 0;
  const srv = await listenControl(path, (verb, args) => {
    const c0 = native.threadCpuMs();
    try {
      return control.callAsync(verb, args);
    } finally {
      verbCpu += native.threadCpuMs() - c0;
    }
  }, (e) => console.error(e));
  let from = 0;
  for (let run = 0; run < Number(values.runs); run++) {
    for (const verb of ['list', 'addDest']) {
      verbCpu = 0;
      const c0 = native.threadCpuMs();
      const t0 = performance.now();
      const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--child', path, '--verb', verb, '--from', String(from), '--requests', String(R), '--services', String(N)], { stdio: 'inherit' });
      await new Promise<void>((resolve, reject) => child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`client exit ${code}`)))));
      if (verb === 'addDest') from += R;
      const cpu = native.threadCpuMs() - c0;
      console.log(JSON.stringify({ services: N, servers: M, requests: R, verb, wallMs: Math.round(performance.now() - t0), cpuPerRequestMs: +(cpu / R).toFixed(4), verbCpuPerRequestMs: +(verbCpu / R).toFixed(4), aroundVerbPerRequestMs: +((cpu - verbCpu) / R).toFixed(4) }));
    }
  }
  srv.release();
  rmSync(dir, { recursive: true, force: true });
}
