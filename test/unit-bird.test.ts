// test-class: lab
// uvsd's BGP announcer (src/bgp/bird.ts) against a fake BIRD control socket: configured, BIRD
// gone while nothing changes (seen by the liveness check, not only at the next change), back, and
// the state in the metrics.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BirdAnnouncer, parseProtocols, parseRouteCount } from '../src/bgp/bird.js';
import { formatDrain, formatStatus } from '../src/control/printers.js';
import { statusJson } from '../src/metrics/status.js';
import { RateEstimator } from '../src/metrics/rates.js';
import type { DrainStatus, StatusResult } from '../src/control/protocol.js';
import { parseIp } from '../src/datapath/addr.js';
import { createMetrics } from '../src/metrics/collectors.js';
import { parseExposition } from './helpers/prom.js';
import { rig } from './helpers/harness.js';

/** What the fake BIRD runs: whether its config includes uvsd's file, its BGP session's state and whether its export filter passes uvs_vips. */
interface FakeBirdConf {
  included: boolean;
  session: 'Established' | 'Active';
  exports: boolean;
  /** `configure` answers this error (a syntax error in bird.conf): BIRD keeps what it ran. */
  refuse?: string;
}

/**
 * A BIRD control socket answering as BIRD 2.0.12 does (lines taken from a real one): `configure`
 * reads the include (when its config includes it), `show protocols` lists the device protocol,
 * uvs_vips (if included) and a BGP protocol `uplink`, `show route protocol uvs_vips [export uplink]
 * count` counts the include's routes (those the session exports). Commands seen are recorded; `conf` may change while it runs.
 */
function fakeBird(path: string, seen: string[], include: string, conf: FakeBirdConf = { included: true, session: 'Established', exports: true }): Promise<Server> {
  let routes = 0;
  const answer = (cmd: string): string => {
    switch (cmd) {
      case 'configure':
        if (conf.refuse !== undefined) return `8002 ${conf.refuse}\n`;
        routes = conf.included ? (readFileSync(include, 'utf8').match(/^ {2}route /gm) ?? []).length : 0;
        return '0002-Reading configuration from bird.conf\n0003 Reconfigured\n';
      case 'show protocols':
        return '2002-Name       Proto      Table      State  Since         Info\n' +
          '1002-device1    Device     ---        up     21:36:36.018  \n' +
          (conf.included ? ' uvs_vips   Static     master4    up     21:36:36.018  \n' : '') +
          (conf.session === 'Established' ? ' uplink     BGP        ---        up     21:36:55.379  Established   \n'
            : ' uplink     BGP        ---        start  21:36:58.786  Active        Socket: Connection refused\n') +
          '0000 \n';
      case 'show route protocol uvs_vips count':
      case 'show route protocol uvs_vips export uplink count': {
        if (!conf.included) return '9001 syntax error, unexpected CF_SYM_UNDEFINED, expecting CF_SYM_KNOWN\n';
        const n = cmd.includes('export') && !conf.exports ? 0 : routes;
        return `1007-${n} of ${n} routes for ${n} networks in table master4\n0000 \n`;
      }
      default:
        return '1000-BIRD 2.0.12\n0013 Daemon is up and running\n';
    }
  };
  const srv = createServer((s: Socket) => {
    s.write('0001 BIRD 2.0.12 ready.\n');
    s.setEncoding('utf8');
    s.on('data', (d: string) => {
      const cmd = d.trim();
      seen.push(cmd);
      s.write(answer(cmd));
    });
  });
  return new Promise((resolve) => srv.listen(path, () => resolve(srv)));
}

/** --status of a director (an in-process one) with this announcer. */
const statusText = (a: BirdAnnouncer): string => formatStatus({ ...(rig().ctl.status() as StatusResult), bgp: a.status() });

/** The announcers' retry after a failure (BirdOptions.retryMs; uvsd's is 2 s): the waits for a retry below are derived from it. */
const RETRY_MS = 400;

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
  const include = join(dir, 'vips.conf');
  const seen: string[] = [];
  const warnings: string[] = [];
  const a = new BirdAnnouncer({
    include, socket, nextHop: parseIp('192.168.8.10'), watchMs: 50, retryMs: RETRY_MS,
    log: { info() {}, warn: (_o, msg) => void warnings.push(msg) },
  });
  let bird = await fakeBird(socket, seen, include);
  try {
    const r = rig();
    const m = createMetrics(r.dp, { process: false, bgp: () => ({ status: a.status(), draining: false }) });
    const up = async () => parseExposition(await m.text()).get('uvs_bgp_up', {});
    a.update([parseIp('192.168.8.200') >>> 0]);
    await until(() => a.status().state === 'ok');
    assert.deepEqual([await up(), parseExposition(await m.text()).get('uvs_bgp_vips', {})], [1, 1]);
    await until(() => seen.filter((c) => c === 'show protocols').length >= 2); // a check while nothing changes
    // BIRD stops: nothing changes in the table, yet the state says so within a check.
    await new Promise((res) => bird.close(() => res(undefined)));
    await until(() => a.status().state === 'error');
    assert.equal(await up(), 0);
    assert.match(a.status().last, /BIRD control socket .*bird\.ctl/);
    await new Promise((res) => setTimeout(res, RETRY_MS * 1.25)); // a retry or two: still one warning
    assert.equal(warnings.length, 1, warnings.join('\n'));
    // Back: the include is configured again (retried every RETRY_MS).
    seen.length = 0;
    bird = await fakeBird(socket, seen, include);
    await until(() => a.status().state === 'ok', RETRY_MS * 2.5);
    assert.ok(seen.includes('configure'));
    assert.equal(await up(), 1);
    // Withdrawn within its bound, whose timer is then cleared (it kept this file's process alive
    // the rest of the 500 ms after its last test).
    await a.withdrawAll(500);
    assert.deepEqual(process.getActiveResourcesInfo().filter((x) => x === 'Timeout'), [], 'withdrawAll left a timer');
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
    include, socket, nextHop: parseIp('192.168.8.10'), watchMs: 60_000, retryMs: RETRY_MS,
    log: { info() {}, warn: (o, msg) => void warnings.push(`${msg} ${JSON.stringify(o)}`) },
  });
  const bird = await fakeBird(socket, seen, include);
  try {
    a.update([parseIp('192.168.8.200') >>> 0]);
    await until(() => a.status().state === 'ok');
    rmSync(incDir, { recursive: true });
    // What uvsadm -A does: a change of the VIPs. Before, the write threw out of a promise nobody
    // awaited: "uvsd: internal error: ENOENT ... open '<inc>.tmp'; stopping".
    a.update([parseIp('192.168.8.200') >>> 0, parseIp('192.168.8.201') >>> 0]);
    await until(() => a.status().state === 'error');
    assert.match(a.status().last, /^cannot write the include .*vips\.conf: ENOENT/);
    await new Promise((res) => setTimeout(res, RETRY_MS * 1.15)); // a retry: still one warning
    assert.equal(warnings.length, 1, warnings.join('\n'));
    assert.match(warnings[0]!, /ENOENT/);
    // The directory back: the next retry writes and configures.
    mkdirSync(incDir);
    await until(() => a.status().state === 'ok', RETRY_MS * 2.5);
    assert.match(readFileSync(include, 'utf8'), /route 192\.168\.8\.201\/32 via 192\.168\.8\.10;/);
    assert.equal(existsSync(`${include}.tmp`), false);
  } finally {
    await new Promise((res) => bird.close(() => res(undefined)));
    await a.withdrawAll(500);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('BGP: the include is written through a FILE.tmp made anew: a link planted at FILE.tmp is replaced, the file it names left as it was (before: root wrote the include over it)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'uvs-bird-'));
  try {
    const include = join(dir, 'vips.conf');
    const victim = join(dir, 'victim');
    writeFileSync(victim, 'precious\n');
    symlinkSync(victim, `${include}.tmp`);
    new BirdAnnouncer({ include, socket: join(dir, 'bird.ctl'), nextHop: parseIp('192.168.8.10') }).writeEmpty();
    assert.equal(readFileSync(victim, 'utf8'), 'precious\n');
    assert.match(readFileSync(include, 'utf8'), /^# Written by uvsd/);
    assert.equal(existsSync(`${include}.tmp`), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('BGP: the liveness check reads the include without waiting: a FIFO or a link put at its path (BIRD\'s user may own the directory) is not read but replaced by the include written again (before: a FIFO held the event loop until someone wrote to it)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'uvs-bird-'));
  const socket = join(dir, 'bird.ctl');
  const include = join(dir, 'vips.conf');
  const seen: string[] = [];
  const a = new BirdAnnouncer({ include, socket, nextHop: parseIp('192.168.8.10'), watchMs: 50, retryMs: RETRY_MS, log: { info() {}, warn() {} } });
  const bird = await fakeBird(socket, seen, include);
  let writer: ChildProcess | undefined;
  let longest = 0;
  let last = performance.now();
  const beat = setInterval(() => {
    const now = performance.now();
    longest = Math.max(longest, now - last);
    last = now;
  }, 10);
  try {
    a.update([parseIp('192.168.8.200') >>> 0]);
    await until(() => a.status().state === 'ok');
    const ours = readFileSync(include, 'utf8');
    rmSync(include);
    execFileSync('mkfifo', ['-m', '600', include]);
    // Someone writes uvsd's own text into it 1.5 s later: read with readFileSync, the loop waited that long.
    writer = spawn('sh', ['-c', `sleep 1.5; cat '${include}.ours' > '${include}'`], { stdio: 'ignore', detached: true });
    writeFileSync(`${include}.ours`, ours);
    longest = 0;
    last = performance.now();
    await until(() => lstatSync(include).isFile(), 1000);
    await new Promise((res) => setTimeout(res, 100)); // a few more checks
    assert.ok(longest < 500, `the loop was held ${Math.round(longest)} ms`);
    assert.equal(readFileSync(include, 'utf8'), ours, 'written again in the FIFO\'s place');
    // A link to an endless device: not followed.
    rmSync(include);
    symlinkSync('/dev/zero', include);
    await until(() => lstatSync(include).isFile(), 1000);
    assert.equal(readFileSync(include, 'utf8'), ours);
    await until(() => a.status().state === 'ok');
  } finally {
    clearInterval(beat);
    try {
      if (writer?.pid !== undefined) process.kill(-writer.pid, 'SIGKILL');
    } catch {
      // gone
    }
    await a.withdrawAll(500);
    await new Promise((res) => bird.close(() => res(undefined)));
    rmSync(dir, { recursive: true, force: true });
  }
});

test('BGP: "bgp ok" only while BIRD runs the include with its routes and an Established BGP session exports them: a bird.conf without the include is an error, a session down or an export filter dropping them is "down" (uvs_bgp_up 0), seen while nothing changes', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'uvs-bird-'));
  const socket = join(dir, 'bird.ctl');
  const include = join(dir, 'vips.conf');
  const seen: string[] = [];
  const warnings: string[] = [];
  const conf: FakeBirdConf = { included: false, session: 'Established', exports: true };
  const a = new BirdAnnouncer({
    include, socket, nextHop: parseIp('192.168.8.10'), watchMs: 50, retryMs: RETRY_MS,
    log: { info() {}, warn: (_o, msg) => void warnings.push(msg) },
  });
  const bird = await fakeBird(socket, seen, include, conf);
  const r = rig();
  const m = createMetrics(r.dp, { process: false, bgp: () => ({ status: a.status(), draining: false }) });
  const gauges = async () => {
    const e = parseExposition(await m.text());
    return [e.get('uvs_bgp_up', {}), e.get('uvs_bgp_sessions_established', {})];
  };
  try {
    // (a) BIRD answers "Reconfigured" but its config does not include the file (a path typo):
    // before, "bgp ok" and uvs_bgp_up 1 while BIRD had no uvs_vips protocol and no route.
    a.update([parseIp('192.168.8.200') >>> 0]);
    await until(() => a.status().state === 'error');
    assert.match(a.status().last, /^BIRD runs no protocol uvs_vips: its configuration does not include .*vips\.conf/);
    assert.deepEqual(await gauges(), [0, 0]);
    assert.match(statusText(a), /^bgp error via BIRD .*: BIRD runs no protocol uvs_vips/m);
    // bird.conf fixed: the next retry (RETRY_MS) finds it.
    conf.included = true;
    await until(() => a.status().state === 'ok', RETRY_MS * 2.5);
    assert.deepEqual([a.status().routes, a.status().established, a.status().sessions], [1, 1, [{ name: 'uplink', state: 'up', info: 'Established', exported: 1 }]]);
    assert.deepEqual(await gauges(), [1, 1]);
    const ok = statusText(a);
    assert.match(ok, /^bgp ok via BIRD .*: BIRD runs uvs_vips with its 1 route, exported by uplink$/m);
    assert.match(ok, /^bgp_sessions uplink up Established \(exports 1\)$/m);
    // (b) the router disables its side: nothing changes in uvsd's table, yet within a check it says so.
    conf.session = 'Active';
    await until(() => a.status().state === 'down');
    assert.deepEqual(await gauges(), [0, 0]);
    assert.match(a.status().last, /no Established BGP session exports them: uplink start Active Socket: Connection refused$/);
    const sj = statusJson(r.dp, new RateEstimator(r.dp), { bgp: () => ({ status: a.status(), draining: false }) }).bgp;
    assert.deepEqual([sj?.state, sj?.established, sj?.sessions, sj?.draining], ['down', 0, [{ name: 'uplink', state: 'start', info: 'Active Socket: Connection refused' }], false]);
    await new Promise((res) => setTimeout(res, 300)); // several checks: one warning for the loss
    assert.equal(warnings.filter((w) => /no Established BGP session/.test(w)).length, 1, warnings.join('\n'));
    conf.session = 'Established';
    await until(() => a.status().state === 'ok');
    assert.deepEqual(await gauges(), [1, 1]);
    // (c) Established, but its export filter lets nothing of uvs_vips out (a misspelt proto name).
    conf.exports = false;
    await until(() => a.status().state === 'down');
    assert.deepEqual(await gauges(), [0, 1]);
    assert.match(a.status().last, /no Established BGP session exports them: uplink up Established \(exports 0\)$/);
  } finally {
    await new Promise((res) => bird.close(() => res(undefined)));
    await a.withdrawAll(500);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('BIRD\'s show protocols rows: name, proto, state and info, with either time format', () => {
  const rows = parseProtocols([
    'Name       Proto      Table      State  Since         Info',
    'device1    Device     ---        up     21:36:36.018',
    'uvs_vips   Static     master4    up     21:36:36.018',
    'uplink     BGP        ---        start  21:36:58.786  Active        Socket: Connection refused',
    'd2         BGP        ---        up     2026-12-04 21:36:55  Established',
  ]);
  assert.deepEqual(rows.map((x) => [x.name, x.proto, x.state, x.info]), [
    ['device1', 'Device', 'up', ''], ['uvs_vips', 'Static', 'up', ''],
    ['uplink', 'BGP', 'start', 'Active Socket: Connection refused'], ['d2', 'BGP', 'up', 'Established'],
  ]);
  assert.equal(parseRouteCount(['2 of 2 routes for 2 networks in table master4']), 2);
  assert.equal(parseRouteCount(['Table master4:']), undefined);
});

/** A routed director (uvsadm --drain asks the announcer) and its BIRD announcer, against a fake
 *  BIRD in a temporary directory, for `body`; all of it stopped and removed after. */
async function withDrainBird(conf: FakeBirdConf, body: (a: BirdAnnouncer, r: ReturnType<typeof rig>) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'uvs-bird-'));
  const socket = join(dir, 'bird.ctl');
  const include = join(dir, 'vips.conf');
  const a = new BirdAnnouncer({ include, socket, nextHop: parseIp('192.168.8.10'), watchMs: 60_000, retryMs: RETRY_MS });
  const bird = await fakeBird(socket, [], include, conf);
  const r = rig();
  r.ctl.routed = true;
  r.ctl.bgpWithdrawal = () => a.unconfirmedWithdrawal();
  try {
    await body(a, r);
  } finally {
    await new Promise((res) => bird.close(() => res(undefined)));
    await a.withdrawAll(500);
    rmSync(dir, { recursive: true, force: true });
  }
}

test('uvsadm --drain\'s own reply, before uvsd has written the empty include, says the routes BIRD still announces (before: "1 route still wanted")', async () => {
  await withDrainBird({ included: true, session: 'Established', exports: true }, async (a, r) => {
    a.update([parseIp('192.168.8.200') >>> 0]);
    await until(() => a.status().state === 'ok');
    // The drain verb answers at once; uvsd updates the include at the next turn of the loop.
    const d = r.ctl.call('drain', { on: true, timeout: 0 }) as DrainStatus;
    assert.equal(formatDrain(d).trimEnd().replace(/since [^,]+/, 'since T'),
      'director draining since T, 0 connections, timeout 0 s (0 s left): BGP withdrawal not confirmed: 1 route still announced by BIRD');
    a.update([parseIp('192.168.8.200') >>> 0, parseIp('192.168.8.201') >>> 0]);
    await until(() => a.status().routes === 2);
    assert.equal(a.unconfirmedWithdrawal(), '2 routes still announced by BIRD');
  });
});

test('uvsadm --drain: "drained" only once BIRD confirmed the withdrawal; while it refuses the new config (and still announces) it stays "draining" and says why, also after the timeout', async () => {
  const conf: FakeBirdConf = { included: true, session: 'Established', exports: true };
  await withDrainBird(conf, async (a, r) => {
    a.update([parseIp('192.168.8.200') >>> 0]);
    await until(() => a.status().state === 'ok');
    // A syntax error in bird.conf: BIRD refuses every configure and keeps announcing the route.
    conf.refuse = '/etc/bird/bird.conf:7:3 syntax error, unexpected \'}\'';
    r.ctl.call('drain', { on: true, timeout: 0 }); // the timeout passed at once, no connection left
    a.update([]); // what uvsd does on the drain (wantedVips: none while draining)
    await until(() => a.status().state === 'error');
    const d = r.ctl.status().drain!;
    assert.equal(d.state, 'draining', 'before, "drained" (0 s left) while BIRD still announced');
    assert.match(d.withdrawal ?? '', /^BIRD refused the configuration: \/etc\/bird\/bird\.conf:7:3 syntax error/);
    assert.match(formatDrain(d), /^director draining since \S+, 0 connections, timeout 0 s \(0 s left\): BGP withdrawal not confirmed: BIRD refused the configuration: /);
    // bird.conf fixed: the retry (RETRY_MS) configures the empty include, and the drain is done.
    conf.refuse = undefined;
    await until(() => a.status().state === 'ok', RETRY_MS * 2.5);
    const done = r.ctl.status().drain!;
    assert.deepEqual([done.state, done.withdrawal], ['drained', undefined]);
    assert.equal(a.status().routes, 0);
  });
});
