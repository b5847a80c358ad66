// Start-up warm-up of the control verbs (docs/architecture.md, "JIT warm-up"). A verb's first call
// runs code V8 has not compiled yet: after a start that applied 10,000 services x 4 in one batch,
// the first `uvsadm -D` held the loop 2.5-2.9 ms of CPU (later ones well under 1 ms). So before
// the control socket answers, uvsd sends each verb uvsadm's table commands use through a control
// socket of its own (accept, the request's parse, the verb, its datapath operations, the reply)
// to a scratch Control over a scratch Datapath: the functions are the same for every Control of
// the thread, the real table, datapath and socket are not touched. Documentation addresses (RFC 5737); the scratch datapath sends
// nothing (its sink discards).

import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Datapath } from '../datapath/pipeline.js';
import { native } from '../datapath/port.js';
import type { FrameSink } from '../datapath/tx.js';
import { Control } from './model.js';
import { handleLine, listenControl } from './server.js';
import { stringifySliced } from './slices.js';

const ip4 = (a: number, b: number, c: number, d: number): number => ((a << 24) | (b << 16) | (c << 8) | d) | 0;
const discard: FrameSink = { send: (_b, _o, _l, count) => count };
/** Services in the scratch table: more than a batch or -C / -Z does in one piece (model.ts SLICE), so their sliced paths run too. */
const SERVICES = 24;
/** The longest wait for one warm-up reply. */
const REPLY_MS = 5000;

/** Scratch datapaths kept for the life of the process (datapath/warmup.ts: a collected one may take its feedback along). */
const retained: Control[] = [];

/**
 * Sends each request line on a control socket served as uvsd serves its own (listenControl, on a
 * path of a new private directory: accept, read, the verb, the reply written), one after another;
 * without a directory to put it in, through the same request path in process (handleLine).
 */
async function requests(ctl: Control, lines: string[]): Promise<void> {
  const dispatch = (v: string, a: unknown): unknown => ctl.callAsync(v, a);
  let dir: string | undefined;
  try {
    dir = mkdtempSync(join(tmpdir(), 'uvsd-warm-up-'));
  } catch {
    // no private directory (a read-only /tmp): in process below
  }
  if (dir !== undefined) {
    try {
      const path = join(dir, 's');
      const srv = await listenControl(path, dispatch, () => {}).catch(() => undefined);
      if (srv !== undefined) {
        try {
          return await socketRequests(path, lines);
        } finally {
          srv.release();
        }
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  for (const line of lines) {
    const reply = await handleLine(line, dispatch, () => {});
    if (!reply.ok) throw new Error(`control warm-up: ${line}: ${reply.error.message}`);
    await stringifySliced(reply, () => {}); // as the socket writes it (a list's services are made as written)
  }
}

/** Each line sent on a connection to path, its reply awaited before the next; a refusal throws, so
 *  does a connection that ends or stays silent for REPLY_MS (the start never waits on it for long). */
async function socketRequests(path: string, lines: string[]): Promise<void> {
  const sock = createConnection(path);
  sock.setEncoding('utf8');
  sock.setTimeout(REPLY_MS, () => sock.destroy(new Error(`control warm-up: no reply in ${REPLY_MS} ms`)));
  let got = '';
  try {
    for (const line of lines) {
      sock.write(line + '\n');
      await new Promise<void>((resolve, reject) => {
        const on = (chunk: string): void => {
          got += chunk;
          const nl = got.indexOf('\n');
          if (nl < 0) return;
          sock.off('data', on).off('error', reject).off('close', closed);
          const reply = JSON.parse(got.slice(0, nl)) as { ok: boolean; error?: { message: string } };
          got = got.slice(nl + 1);
          if (reply.ok) resolve();
          else reject(new Error(`control warm-up: ${line}: ${reply.error?.message}`));
        };
        const closed = (): void => reject(new Error('control warm-up: the connection ended before its reply'));
        sock.on('data', on).once('error', reject).once('close', closed);
      });
    }
  } finally {
    sock.destroy();
  }
}

/**
 * A Control over a scratch Datapath (192.0.2.1/24 and 198.51.100.1/24, a sink that discards, room
 * for destMax servers; `mac`: its MAC's last byte), kept for the life of the process (retained).
 * The metrics warm-up's table too (src/metrics/warmup.ts).
 */
export function scratchControl(destMax: number, mac: number): Control {
  const dp = new Datapath({
    mac: Uint8Array.from([0x02, 0x00, 0x5e, 0x00, 0x53, mac]),
    addrs: [{ ip: ip4(192, 0, 2, 1), mask: ip4(255, 255, 255, 0) }, { ip: ip4(198, 51, 100, 1), mask: ip4(255, 255, 255, 0) }],
    gateway: 0, connMax: 1024, neighMax: 64, destMax, batch: 64, mtu: 1500, vnetHdr: 0,
  }, discard);
  const ctl = new Control(dp, { tap: 'warm-up' });
  retained.push(ctl);
  return ctl;
}

/**
 * Every verb uvsadm's table commands reach (-A -E -D -a -e -d -C -Z -L, a batch as -R sends it,
 * small and sliced), on a scratch table; returns its wall time and this thread's CPU (ms). Throws
 * only on a bug (a refused warm-up request).
 */
export async function warmControl(): Promise<{ ms: number; cpuMs: number }> {
  const t0 = performance.now();
  const c0 = native.threadCpuMs();
  const ctl = scratchControl(SERVICES * 4 + 16, 0x02);
  const svc = (i: number) => ({ proto: 'tcp', addr: `192.0.2.${100 + i}`, port: 80 });
  const dest = (i: number, j: number) => ({ service: svc(i), addr: `198.51.100.${10 + j}`, port: 80, fwd: 'nat', weight: 1 });
  const items: unknown[] = [];
  for (let i = 0; i < SERVICES; i++) {
    items.push({ verb: 'addService', args: { ...svc(i), sched: 'wlc' } });
    for (let j = 0; j < 2; j++) items.push({ verb: 'addDest', args: dest(i, j) });
  }
  const s = { proto: 'udp', addr: '192.0.2.99', port: 53 };
  const calls: [string, unknown][] = [
    ['batch', { items }], // sliced: more than SLICE items
    ['batch', { items: [{ verb: 'addService', args: { ...svc(SERVICES), sched: 'rr' } }, { verb: 'addDest', args: dest(SERVICES, 0) }] }],
  ];
  // Twice: a function's second call may still take a slower path its first left behind.
  for (let k = 0; k < 2; k++) {
    calls.push(
      ['addService', { ...s, sched: 'rr' }],
      ['editService', { ...s, sched: 'wrr', persist: 300 }],
      ['addDest', { service: s, addr: '198.51.100.50', port: 53, fwd: 'nat', weight: 1 }],
      ['addDest', { service: s, addr: '192.0.2.50', port: 53, fwd: 'dr', weight: 1 }],
      ['editDest', { service: s, addr: '198.51.100.50', port: 53, fwd: 'nat', weight: 3 }],
      ['deleteDest', { service: s, addr: '192.0.2.50', port: 53 }],
      ['list', { service: s }],
      ['zero', { service: s }],
      ['deleteService', s],
      ['list', {}],
      ['timeouts', {}],
      ['status', {}],
      ['zero', {}], // every service: one at a time (sliced)
    );
  }
  calls.push(['clear', {}]); // every service: one at a time (sliced)
  await requests(ctl, calls.map(([verb, args], id) => JSON.stringify({ id, verb, args })));
  return { ms: performance.now() - t0, cpuMs: native.threadCpuMs() - c0 };
}
