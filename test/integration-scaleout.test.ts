// test-class: lab
// Scale-out end to end (docs/scale-out.md; test/lab/ecmp-lab.ts): a router namespace running BIRD
// with ECMP (fib_multipath_hash_policy=1) learns the VIP by BGP from three directors, each running
// uvsd (--sloppy-tcp mh, --bgp-include) and BIRD; four DR real servers answer through the router.
// 300 long-lived TCP connections exchange a request every 500 ms while
//   - director 2 stops (its BIRD, then uvsd): its route leaves the router, >= 99 % of the
//     connections keep working on the same server (the others adopt them by the mh table);
//   - director 2 comes back (servers added in another order): no connection changes server;
//   - director 1 drains (uvsadm --drain): its route leaves, connections keep working, --status says so;
//   - director 3's uvsd stops (SIGTERM) while its BIRD runs: it withdraws its routes on the way out;
//   - the router disables director 1's BGP session: its --status says "bgp down", then "bgp ok" again;
// and a VIP whose servers all go to weight 0 (uvsadm), or all fail their health checks, leaves the router's table.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { skipIf, skipReason } from './lab/itest.js';
import { delay, hasCommand, type Proc } from './lab/netns.js';
import { labDir, repoRoot } from './lab/dr-lab.js';
import { EcmpLab, CLIENT_NET, SEG, type Director } from './lab/ecmp-lab.js';
import type { ConnReport } from './lab/longconns.js';
import { birdCommand } from '../src/bgp/bird.js';
import { formatStatus } from '../src/control/printers.js';

const VIP = `${SEG}.200`;
const VIP2 = `${SEG}.201`;
/** Health-checked through the YAML config: a TCP check of port 81, every second. */
const VIP3 = `${SEG}.202`;
const CHECK_PORT = 81;

function healthConfig(servers: readonly { addr: string }[]): string {
  return `services:
  - proto: tcp
    address: ${VIP3}
    port: 80
    scheduler: mh
    health:
      delay-loop: 1
      connect-timeout: 1
      retry: 0
      checks:
        - { type: tcp, connect-port: ${CHECK_PORT} }
    servers:
${servers.map((s) => `      - { address: ${s.addr} }\n`).join('')}`;
}
const CONNS = 300;

function birdMissing(): string | null {
  return hasCommand('bird') ? null : 'bird (Debian package bird2) is not installed; .ci/run installs it';
}

/** Every director gets the same services; `order` is the order its servers are added in (uvsadm's verbs, one by one). */
async function configure(lab: EcmpLab, d: Director, order: number[]): Promise<void> {
  for (const vip of [VIP, VIP2]) {
    await lab.uvsadmCall(d, ['-A', '-t', `${vip}:80`, '-s', 'mh', '-b', 'mh-port']);
    for (const i of order) await lab.uvsadmCall(d, ['-a', '-t', `${vip}:80`, '-r', `${lab.servers[i]!.addr}:80`, '-g', '-w', '1']);
  }
}

async function report(p: Proc): Promise<ConnReport[]> {
  const before = p.stdout().length;
  p.child.stdin!.write('report\n');
  for (let i = 0; i < 100; i++) {
    const fresh = p.stdout().slice(before).split('\n').find((l) => l.startsWith('{"report"'));
    if (fresh !== undefined) {
      try {
        return (JSON.parse(fresh) as { conns: ConnReport[] }).conns;
      } catch {
        // line not complete yet
      }
    }
    await delay(50);
  }
  throw new Error('longconns: no report');
}

async function mark(p: Proc): Promise<void> {
  p.child.stdin!.write('mark\n');
  await delay(50);
}

/**
 * Wait (asked, not guessed: the machine may be busy) until every connection has either answered
 * since the mark at least `rounds` times or failed, or until timeoutMs; returns the last report.
 */
async function settle(p: Proc, rounds: number, timeoutMs = 30_000): Promise<ConnReport[]> {
  const t0 = Date.now();
  for (;;) {
    const conns = await report(p);
    if (conns.every((c) => c.failed !== '' || c.okSinceMark >= rounds) || Date.now() - t0 > timeoutMs) return conns;
    await delay(500);
  }
}

/** Connections that answered since the mark, on the server they started with. */
function summary(conns: ConnReport[]) {
  const alive = conns.filter((c) => c.failed === '' && c.okSinceMark > 0);
  const sameServer = alive.filter((c) => c.changed === 0 && c.last === c.first);
  const bySrv: Record<string, number> = {};
  for (const c of conns) bySrv[c.first] = (bySrv[c.first] ?? 0) + 1;
  return {
    alive: alive.length, sameServer: sameServer.length, changed: conns.filter((c) => c.changed > 0).length,
    failed: conns.filter((c) => c.failed !== '').map((c) => `${c.localPort}: ${c.failed}`).slice(0, 5), bySrv,
  };
}

test('ECMP + BGP: 3 directors, 300 long-lived connections survive a director stop, its return and a drain; a dead service is withdrawn', { timeout: 300_000 }, async (t) => {
  const reason = skipReason() ?? birdMissing();
  if (reason?.startsWith('bird') && process.env.CI) throw new Error(reason); // CI installs bird2: never skip there
  if (skipIf(t, reason)) return;
  const lab = new EcmpLab({ log: (m) => t.diagnostic(m), vips: [VIP, VIP2, VIP3] });
  const t0 = Date.now();
  let conns: Proc | null = null;
  try {
    await lab.build();
    const [d1, d2, d3] = lab.directors as [Director, Director, Director];
    const orders = [[0, 1, 2, 3], [3, 1, 0, 2], [2, 3, 1, 0]];
    // What the health checks of VIP3 connect to: a listener on port 81 in every real server.
    const checked = await Promise.all(lab.servers.map(async (srv) => {
      const p = lab.lab.spawn(srv.ns, [process.execPath, join(labDir, 'servers.js'), '--name', `${srv.name}-hc`, '--http-port', String(CHECK_PORT),
        '--udp-port', '5381', '--bind', srv.addr], { cwd: repoRoot });
      await p.waitForLine(/^ready /, 10_000);
      return p;
    }));
    const config = join(lab.tmp, 'uvsd.yaml');
    writeFileSync(config, healthConfig(lab.servers));
    const uvsdArgs = ['--config', config];
    // The three directors side by side: each one's uvsd, services and BIRD in that order.
    await Promise.all(lab.directors.map(async (d) => {
      await lab.startUvsd(d, uvsdArgs);
      await configure(lab, d, orders[d.n - 1]!);
      lab.startDirectorBird(d);
    }));
    const all = lab.directors.map((d) => d.uvsdAddr);
    const up = await lab.waitNextHops(VIP, all, 20_000);
    await lab.waitNextHops(VIP2, all);
    await lab.waitNextHops(VIP3, all);
    t.diagnostic(`router: ECMP route to ${VIP} via ${all.join(', ')} ${up} ms after the last BIRD started`);
    // What BIRD really does (docs/scale-out.md, "What bgp ok means"): every director says ok once
    // its session exports the routes; the router disabling d1's session makes d1 say "down".
    // Polled every 100 ms: the status as uvsadm --status prints it (its printer), without a uvsadm process each time.
    const bgpLine = async (d: Director) => formatStatus(await lab.status(d)).split('\n').find((l) => l.startsWith('bgp '))!;
    const bgpState = async (d: Director, want: RegExp, ms = 15_000): Promise<number> => {
      const t1 = Date.now();
      while (!want.test(await bgpLine(d))) {
        if (Date.now() - t1 > ms) throw new Error(`d${d.n}: ${await bgpLine(d)} (waited for ${want})`);
        await delay(100);
      }
      return Date.now() - t1;
    };
    for (const d of lab.directors) await bgpState(d, /^bgp ok .*: BIRD runs uvs_vips with its 3 routes, exported by uplink$/);
    const rtrCtl = join(lab.tmp, 'rtr-bird.ctl');
    await birdCommand(rtrCtl, 'disable d1');
    const seenDown = await bgpState(d1, /^bgp down .*no Established BGP session exports them: uplink start /);
    t.diagnostic(`router disabled d1's session: d1 said "bgp down" after ${seenDown} ms`);
    assert.equal((await lab.status(d1)).bgp?.established, 0);
    await birdCommand(rtrCtl, 'enable d1');
    const seenUp = await bgpState(d1, /^bgp ok /);
    await lab.waitNextHops(VIP, all, 20_000);
    t.diagnostic(`enabled again: d1 said "bgp ok" after ${seenUp} ms`);

    conns = lab.lab.spawn(lab.ns.cli, [process.execPath, join(labDir, 'longconns.js'), '--target', `${VIP}:80`, '--count', String(CONNS), '--interval', '500', '--timeout', '15000'],
      { cwd: repoRoot, maxCapture: 16 * 1024 * 1024 });
    let s = summary(await settle(conns, 2));
    t.diagnostic(`opened: ${JSON.stringify(s)}`);
    assert.equal(s.alive, CONNS, `all ${CONNS} connections answer before anything changes: ${s.failed.join('; ')}`);
    assert.equal(Object.keys(s.bySrv).length, 4, 'the connections spread over the four servers');
    const carried = await Promise.all(lab.directors.map(async (d) => (await lab.status(d)).conns));
    t.diagnostic(`connections per director: ${carried.join(' ')}`);
    assert.ok(carried.every((n) => n > 0), 'ECMP spread the connections over the three directors');

    // 1. Director 2 stops: BIRD first (its session closes, the router withdraws at once), then uvsd.
    await mark(conns);
    const stop = Date.now();
    await d2.bird!.stop(2000);
    await d2.uvsd!.stop(100);
    const gone = await lab.waitNextHops(VIP, [d1.uvsdAddr, d3.uvsdAddr]);
    t.diagnostic(`director 2 stopped: its route left the router after ${gone} ms`);
    s = summary(await settle(conns, 3));
    t.diagnostic(`after the stop: ${JSON.stringify(s)} (${Date.now() - stop} ms)`);
    assert.ok(s.alive >= CONNS * 0.99, `${s.alive}/${CONNS} connections still answer (>= 99 %): ${s.failed.join('; ')}`);
    assert.equal(s.changed, 0, 'no connection answered from another server');
    const adopted = (await lab.status(d1)).counters.conns_adopted_hash! + (await lab.status(d3)).counters.conns_adopted_hash!;
    t.diagnostic(`adopted by directors 1 and 3: ${adopted}`);
    assert.ok(adopted >= carried[1]! * 0.9, `the stopped director's ${carried[1]} connections were adopted (${adopted})`);

    // 2. Director 2 comes back, servers added in yet another order: nothing changes server.
    await mark(conns);
    await lab.startUvsd(d2, uvsdArgs);
    await configure(lab, d2, [1, 3, 2, 0]);
    lab.startDirectorBird(d2);
    const back = await lab.waitNextHops(VIP, all, 20_000);
    t.diagnostic(`director 2 back: its route is on the router after ${back} ms`);
    s = summary(await settle(conns, 3));
    const adoptedBack = (await lab.status(d2)).counters.conns_adopted_hash!;
    t.diagnostic(`after the return: ${JSON.stringify(s)}; director 2 adopted ${adoptedBack}`);
    assert.ok(adoptedBack > 0, 'ECMP moved connections back to director 2');
    assert.ok(s.alive >= CONNS * 0.99, `${s.alive}/${CONNS} connections still answer: ${s.failed.join('; ')}`);
    assert.equal(s.changed, 0, 'adding the director back moved no connection to a different server');

    // 3. Director 1 drains: routes withdrawn, connections keep working through the others.
    await mark(conns);
    const dr = await lab.uvsadmMust(d1, ['--drain', '--drain-timeout', '60']);
    assert.match(dr, /^director draining since .*, \d+ connections, timeout 60 s/);
    const drained = await lab.waitNextHops(VIP, [d2.uvsdAddr, d3.uvsdAddr]);
    await lab.waitNextHops(VIP2, [d2.uvsdAddr, d3.uvsdAddr]);
    t.diagnostic(`director 1 drains: its routes left the router after ${drained} ms`);
    const st = await lab.uvsadmMust(d1, ['--status']);
    assert.match(st, /^director (draining|drained) since /m);
    assert.match(st, /^bgp_announced -$/m);
    s = summary(await settle(conns, 3));
    t.diagnostic(`after the drain: ${JSON.stringify(s)}`);
    assert.ok(s.alive >= CONNS * 0.99, `${s.alive}/${CONNS} connections still answer: ${s.failed.join('; ')}`);
    assert.equal(s.changed, 0);
    assert.match(await lab.uvsadmMust(d1, ['--undrain']), /^director announcing/);
    await lab.waitNextHops(VIP, all);

    // 4. Every server of the second VIP at weight 0 (as a health check would set them): withdrawn.
    const w0 = Date.now();
    const zero = lab.servers.map((srv) => `-e -t ${VIP2}:80 -r ${srv.addr}:80 -g -w 0\n`).join('');
    await Promise.all(lab.directors.map((d) => lab.uvsadmMust(d, ['-R'], zero)));
    const withdrawn = await lab.waitNextHops(VIP2, [], 10_000);
    t.diagnostic(`${VIP2}: all servers at weight 0 -> withdrawn from the router ${withdrawn} ms after the last change (${Date.now() - w0} ms after the first)`);
    assert.ok(withdrawn < 5000, `withdrawn within 5 s (${withdrawn} ms; a few ms on an idle machine)`);
    assert.deepEqual(await lab.nextHops(VIP), all.sort(), 'the first VIP stays announced');

    // 5. The health-checked VIP's servers all fail (their check port closes): withdrawn within the check interval.
    await Promise.all(checked.map((p) => p.stop(1000)));
    const failed = await lab.waitNextHops(VIP3, [], 10_000);
    t.diagnostic(`${VIP3}: check port closed on every server -> withdrawn from the router after ${failed} ms (delay-loop 1 s)`);
    assert.ok(failed < 3000, `withdrawn within the 1 s health-check interval plus 2 s of slack for a busy machine (${failed} ms)`);
    const hs = await lab.uvsadmMust(d1, ['--status']);
    assert.match(hs, new RegExp(`^health TCP ${VIP3.replace(/\./g, '\\.')}:80 \\S+ down`, 'm'));

    // 6. uvsd of director 3 gets SIGTERM while its BIRD runs: it withdraws before exiting.
    await mark(conns);
    await d3.uvsd!.stop(3000);
    const bye = await lab.waitNextHops(VIP, [d1.uvsdAddr, d2.uvsdAddr], 5000);
    t.diagnostic(`director 3's uvsd stopped (SIGTERM): its route left the router ${bye} ms after it exited`);
    s = summary(await settle(conns, 2));
    t.diagnostic(`at the end: ${JSON.stringify(s)}; client ${CLIENT_NET}.2; ${Date.now() - t0} ms in all`);
    assert.ok(s.alive >= CONNS * 0.99, `${s.alive}/${CONNS} connections still answer: ${s.failed.join('; ')}`);
    assert.equal(s.changed, 0);
  } catch (e) {
    for (const d of lab.directors) {
      if (d.uvsd) t.diagnostic(`d${d.n} uvsd stderr: ${d.uvsd.stderr().slice(-800)}`);
      if (d.bird) t.diagnostic(`d${d.n} bird: ${d.bird.stderr().slice(-800)}`);
    }
    throw e;
  } finally {
    if (conns) conns.child.stdin?.write('close\n');
    await lab.destroy();
    t.diagnostic(`lab ${lab.lab.prefix}: ${Date.now() - t0} ms`);
  }
});
