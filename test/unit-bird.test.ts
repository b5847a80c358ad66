// uvsd's BGP announcer (src/bgp/bird.ts) against a fake BIRD control socket: configured, BIRD
// gone while nothing changes (seen by the liveness check, not only at the next change), back, and
// the state in the metrics.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BirdAnnouncer } from '../src/bgp/bird.js';
import { parseIp } from '../src/datapath/addr.js';
import { createMetrics } from '../src/metrics/collectors.js';
import { parseExposition } from './helpers/prom.js';
import { rig } from './helpers/harness.js';

/** A BIRD control socket answering every command with success; commands seen are recorded. */
function fakeBird(path: string, seen: string[]): Promise<Server> {
  const srv = createServer((s: Socket) => {
    s.write('0001 BIRD 2.0.12 ready.\n');
    s.setEncoding('utf8');
    s.on('data', (d: string) => {
      const cmd = d.trim();
      seen.push(cmd);
      s.write(cmd === 'configure' ? '0003 Reconfigured\n' : '1000-BIRD 2.0.12\n0013 Daemon is up and running\n');
    });
  });
  return new Promise((resolve) => srv.listen(path, () => resolve(srv)));
}

const until = async (what: () => boolean, ms = 3000): Promise<void> => {
  const end = Date.now() + ms;
  while (!what()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
};

test('BGP: a BIRD that goes away while nothing changes is seen by the liveness check (bgp error, uvs_bgp_up 0), said once, and configured again when it is back', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'uvs-bird-'));
  const socket = join(dir, 'bird.ctl');
  const seen: string[] = [];
  const warnings: string[] = [];
  const a = new BirdAnnouncer({
    include: join(dir, 'vips.conf'), socket, nextHop: parseIp('192.168.8.10'), watchMs: 50,
    log: { info() {}, warn: (_o, msg) => void warnings.push(msg) },
  });
  let bird = await fakeBird(socket, seen);
  try {
    const r = rig();
    const m = createMetrics(r.dp, { process: false, bgp: () => ({ status: a.status(), draining: false }) });
    const up = async () => parseExposition(await m.text()).get('uvs_bgp_up', {});
    a.update([parseIp('192.168.8.200') >>> 0]);
    await until(() => a.status().state === 'ok');
    assert.deepEqual([await up(), parseExposition(await m.text()).get('uvs_bgp_vips', {})], [1, 1]);
    await until(() => seen.includes('show status'));
    // BIRD stops: nothing changes in the table, yet the state says so within a check.
    await new Promise((res) => bird.close(() => res(undefined)));
    await until(() => a.status().state === 'error');
    assert.equal(await up(), 0);
    assert.match(a.status().last, /BIRD control socket .*bird\.ctl/);
    await new Promise((res) => setTimeout(res, 2500)); // a retry or two: still one warning
    assert.equal(warnings.length, 1, warnings.join('\n'));
    // Back: the include is configured again (retried every 2 s).
    seen.length = 0;
    bird = await fakeBird(socket, seen);
    await until(() => a.status().state === 'ok', 5000);
    assert.ok(seen.includes('configure'));
    assert.equal(await up(), 1);
  } finally {
    await a.withdrawAll(500);
    await new Promise((res) => bird.close(() => res(undefined)));
    rmSync(dir, { recursive: true, force: true });
  }
});

test('BGP: an include uvsd cannot write after start (its directory removed) is an error, said once and retried, not a stop of uvsd', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'uvs-bird-'));
  const incDir = join(dir, 'bird');
  mkdirSync(incDir);
  const include = join(incDir, 'vips.conf');
  const socket = join(dir, 'bird.ctl');
  const seen: string[] = [];
  const warnings: string[] = [];
  const a = new BirdAnnouncer({
    include, socket, nextHop: parseIp('192.168.8.10'), watchMs: 60_000,
    log: { info() {}, warn: (o, msg) => void warnings.push(`${msg} ${JSON.stringify(o)}`) },
  });
  const bird = await fakeBird(socket, seen);
  try {
    a.update([parseIp('192.168.8.200') >>> 0]);
    await until(() => a.status().state === 'ok');
    rmSync(incDir, { recursive: true });
    // What uvsadm -A does: a change of the VIPs. Before, the write threw out of a promise nobody
    // awaited: "uvsd: internal error: ENOENT ... open '<inc>.tmp'; stopping".
    a.update([parseIp('192.168.8.200') >>> 0, parseIp('192.168.8.201') >>> 0]);
    await until(() => a.status().state === 'error');
    assert.match(a.status().last, /^cannot write the include .*vips\.conf: ENOENT/);
    await new Promise((res) => setTimeout(res, 2300)); // a retry: still one warning
    assert.equal(warnings.length, 1, warnings.join('\n'));
    assert.match(warnings[0]!, /ENOENT/);
    // The directory back: the next retry writes and configures.
    mkdirSync(incDir);
    await until(() => a.status().state === 'ok', 5000);
    assert.match(readFileSync(include, 'utf8'), /route 192\.168\.8\.201\/32 via 192\.168\.8\.10;/);
    assert.equal(existsSync(`${include}.tmp`), false);
  } finally {
    await new Promise((res) => bird.close(() => res(undefined)));
    await a.withdrawAll(500);
    rmSync(dir, { recursive: true, force: true });
  }
});
