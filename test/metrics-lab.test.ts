// test-class: lab
// Observability end to end in network namespaces (test/lab/): uvsd --metrics in the director
// namespace, real traffic from the client namespace, then /metrics scraped (and checked with
// promtool), the status page rendered by headless chromium, and `uvsadm trace` watching new
// connections. Each test builds its own lab and tears it down in finally (withDrLab).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { getInDirector, withDrLab } from './lab/itest.js';
import { delay, within } from './lab/netns.js';
import { writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { repoRoot, VIP, type DrLab } from './lab/dr-lab.js';
import { parseExposition, promtoolCheck } from './helpers/prom.js';

const OPTS = { timeout: 120_000 };
const METRICS = '127.0.0.1:9478'; // inside the director namespace: its own port space
const UVSD = { uvsd: { extraArgs: ['--metrics', METRICS] } };

/** GET a path from uvsd's metrics listener, from inside the director namespace. */
function get(lab: DrLab, path: string): Promise<string> {
  return getInDirector(lab, `http://${METRICS}${path}`);
}

/** Writes a keepalived.conf with the DR service VIP:80 (rr, checks every second), its `vsLines`,
 *  and real servers each with weight 1, its own lines and a TCP_CHECK; returns its path. */
function keepalivedConf(lab: DrLab, vsLines: string[], servers: { addr: string; lines?: string[] }[]): string {
  const file = join(lab.tmp, 'keepalived.conf');
  const rs = servers.map((s) => `    real_server ${s.addr} 80 {
        weight 1
${(s.lines ?? []).map((l) => `        ${l}\n`).join('')}        TCP_CHECK {
            connect_timeout 1
            retry 1
        }
    }
`);
  writeFileSync(file, `virtual_server ${VIP} 80 {
    delay_loop 1
    lb_algo rr
    lb_kind DR
    protocol TCP
${vsLines.map((l) => `    ${l}\n`).join('')}${rs.join('')}}
`);
  return file;
}

/** The status page's DOM once headless chromium ran its script (a few 1.5 s refreshes of virtual time). */
async function pageDom(lab: DrLab): Promise<string> {
  const r = await lab.lab.exec(lab.ns.dir, [
    'chromium', '--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', `--user-data-dir=${lab.tmp}/chromium`,
    '--virtual-time-budget=4000', '--dump-dom', `http://${METRICS}/`,
  ], { timeoutMs: 45_000 });
  assert.equal(r.code, 0, `chromium failed: ${r.stderr.slice(-1500)}`);
  return r.stdout;
}

/** TCP VIP:80 and UDP VIP:53, rr over every real server (DR, weight 1), then the rule lines
 *  `more`: one `uvsadm -R` (each uvsadm is a node process starting: ~0.3 s). */
async function services(lab: DrLab, more: string[] = []): Promise<void> {
  const rules = [`-A -t ${VIP}:80 -s rr`, `-A -u ${VIP}:53 -s rr`];
  for (const s of lab.servers) rules.push(`-a -t ${VIP}:80 -r ${s.addr}:80 -g -w 1`, `-a -u ${VIP}:53 -r ${s.addr}:53 -g -w 1`);
  await lab.uvsadmMust(['-R'], [...rules, ...more, ''].join('\n'));
}

// Each test builds its own lab (separate namespaces, its own uvsd and metrics port): two at a time,
// as their bounds are seconds wide and most of their time is waits (health checks, chromium, the
// link's one-second look).
describe('observability in the netns lab: two labs at a time', { concurrency: 2 }, () => {
  test('after exactly 1,000 UDP datagrams and 50 TCP connections over DR, the scraped counters equal them; promtool accepts the scrape', OPTS, async (t) => {
    await withDrLab(t, { servers: 2, ...UVSD }, async (lab) => {
      await services(lab);
      // Two client processes side by side: the services' counters are their own.
      const [udp, http] = await Promise.all([lab.udp(1000, { sport: 20000 }), lab.http(50)]);
      assert.equal(udp.errors, 0, `failed datagrams: ${udp.errorSamples.join('; ')}`);
      assert.equal(http.errors, 0, `failed requests: ${http.errorSamples.join('; ')}`);
      assert.deepEqual(http.counts, { rs1: 25, rs2: 25 });
      const text = await get(lab, '/metrics');
      const ex = parseExposition(text);
      const udpSvc = { proto: 'udp', service: `${VIP}:53` };
      const tcpSvc = { proto: 'tcp', service: `${VIP}:80` };
      assert.equal(ex.get('node_ipvs_connections_total'), 1050);
      assert.equal(ex.get('uvs_conns_created_total'), 1050);
      assert.equal(ex.get('uvs_service_connections_total', udpSvc), 1000);
      assert.equal(ex.get('uvs_service_connections_total', tcpSvc), 50);
      // Each datagram is one packet of 20 + 8 + 5 ("who?\n") bytes.
      assert.equal(ex.get('uvs_service_in_packets_total', udpSvc), 1000);
      assert.equal(ex.get('uvs_service_in_bytes_total', udpSvc), 33_000);
      for (const s of lab.servers) {
        assert.equal(ex.get('uvs_dest_connections_total', { ...udpSvc, server: `${s.addr}:53` }), 500, `${s.name} UDP`);
        assert.equal(ex.get('uvs_dest_connections_total', { ...tcpSvc, server: `${s.addr}:80` }), 25, `${s.name} TCP`);
        assert.equal(ex.get('uvs_dest_in_packets_total', { ...udpSvc, server: `${s.addr}:53` }), 500, `${s.name} UDP packets`);
        assert.equal(ex.get('node_ipvs_backend_connections_inactive', {
          local_address: VIP, local_port: '53', remote_address: s.addr, remote_port: '53', proto: 'UDP', local_mark: '',
        }), 500, `${s.name}: UDP entries count as inactive`);
      }
      // TCP packets per connection vary (SYN, ACKs, request, FIN): the totals must agree with each other.
      const tcpPkts = ex.get('uvs_service_in_packets_total', tcpSvc);
      assert.ok(tcpPkts >= 50 * 3, `at least SYN, ACK and request per connection: ${tcpPkts}`);
      assert.equal(ex.get('node_ipvs_incoming_packets_total'), 1000 + tcpPkts);
      assert.equal(ex.get('uvs_fwd_packets_total'), 1000 + tcpPkts);
      assert.equal(ex.get('node_ipvs_outgoing_packets_total'), 0, 'DR replies bypass the director');
      assert.ok(ex.get('uvs_batch_frames_count') > 0 && ex.get('uvs_batch_frames_sum') === ex.get('uvs_rx_frames_total'));
      assert.equal(promtoolCheck(text), '');
      // -Z through uvsadm: the ipvsadm view restarts, the exported counters do not.
      await lab.uvsadmMust(['-Z']);
      const [afterText, stText] = await Promise.all([get(lab, '/metrics'), get(lab, '/status.json')]);
      const after = parseExposition(afterText);
      assert.equal(after.get('node_ipvs_connections_total'), 1050);
      assert.equal(after.get('uvs_service_connections_total', udpSvc), 1000);
      const st = JSON.parse(stText) as { services: { conns: number }[] };
      assert.deepEqual(st.services.map((s) => s.conns), [0, 0], 'status page shows the zeroed (ipvsadm) statistics');
    });
  });

  test('the status page renders in headless chromium with the services, their servers, weights and health, and a service\'s clients that found no server', OPTS, async (t) => {
    await withDrLab(t, { servers: 2, ...UVSD }, async (lab) => {
      await services(lab, [
        `-e -t ${VIP}:80 -r ${lab.servers[1]!.addr}:80 -g -w 3`,
        `-A -t ${VIP}:81 -s rr`, // no server: a client is refused
      ]);
      const http = await lab.http(8);
      assert.equal(http.errors, 0);
      const [, refused] = await Promise.all([
        // One no_service drop: no answer is waited for beyond 300 ms (it is counted as uvsd reads it).
        lab.udp(1, { target: `${VIP}:54`, timeoutMs: 300 }).catch(() => undefined),
        lab.http(1, { target: `${VIP}:81`, timeoutMs: 5000 }),
      ]);
      assert.equal(refused.errors, 1);
      const dom = await pageDom(lab);
      t.diagnostic(`DOM ${dom.length} bytes`);
      assert.match(dom, /<section class="service" data-service="TCP 192\.168\.8\.200:80">/);
      assert.match(dom, /<section class="service" data-service="UDP 192\.168\.8\.200:53">/);
      for (const s of lab.servers) assert.ok(dom.includes(`<tr class="dest" data-server="${s.addr}:80">`), `row of ${s.name}`);
      // Row cells: server, forward, weight, health, active, inactive, conns, ...
      const row = (addr: string) => dom.match(new RegExp(`data-server="${addr.replace(/\./g, '\\.')}:80">(.*?)</tr>`))?.[1] ?? '';
      const cells = (addr: string) => [...row(addr).matchAll(/<td[^>]*>([^<]*)<\/td>/g)].map((m) => m[1]);
      assert.deepEqual(cells(lab.servers[0]!.addr).slice(0, 4), [`${lab.servers[0]!.addr}:80`, 'Route', '1', 'up (unchecked)']);
      assert.deepEqual(cells(lab.servers[1]!.addr).slice(0, 4), [`${lab.servers[1]!.addr}:80`, 'Route', '3', 'up (unchecked)']);
      assert.equal(cells(lab.servers[0]!.addr)[6], '4', 'rr sent 4 of the 8 connections to rs1');
      assert.match(dom, /<tr class="drop" data-reason="no_service"><td>no_service<\/td><td>1<\/td>/);
      assert.match(dom, /data-service="TCP 192\.168\.8\.200:81"><h2>[^]*?<span class="sub nodest"[^>]*>1 found no server<\/span><\/h2>/, 'the refused client, on its service');
      assert.doesNotMatch(dom.match(/data-service="TCP 192\.168\.8\.200:80"><h2>(.*?)<\/h2>/)?.[1] ?? 'no header', /nodest|no header/, 'none on a service whose clients were served');
      assert.match(dom, /<div id="err"><\/div>/, "the page reached /status.json");
      assert.match(dom, /<b id="role" class="">master<\/b>/);
      assert.match(dom, /<b id="link" class="">\S+ up, bridge br0<\/b>/, 'the TAP, up in its bridge');
    });
  });

  test('uvsadm trace --count 10 prints the 10 decisions of 10 new connections, naming the servers that served them', OPTS, async (t) => {
    await withDrLab(t, { servers: 2, ...UVSD }, async (lab) => {
      await services(lab);
      const uvsadm = join(repoRoot, 'bin', 'uvsadm');
      const p = lab.lab.spawn(null, [process.execPath, uvsadm, '--socket', lab.socketPath, 'trace', '-t', `${VIP}:80`, '--count', '10']);
      try {
        for (let i = 0; i < 100 && !p.stderr().includes('tracing'); i++) await delay(50);
        assert.match(p.stderr(), /tracing new connections to TCP 192\.168\.8\.200:80/);
        await lab.udp(3); // other service: not in this trace
        const http = await lab.http(10);
        assert.equal(http.errors, 0);
        const code = await within(p.exited, 10_000, 'timeout');
        assert.equal(code, 0, `uvsadm trace: ${p.stderr()}`);
        const lines = p.stdout().trim().split('\n').filter((l) => !/ drop /.test(l));
        t.diagnostic(lines[0] ?? '');
        assert.equal(lines.length, 10, p.stdout());
        const byAddr = new Map(lab.servers.map((s) => [`${s.addr}:80`, s.name]));
        const served = lines.map((l) => {
          const m = /^\S+Z TCP 192\.168\.8\.100:\d+ -> 192\.168\.8\.200:80 server (\S+) sched rr why (.+)$/.exec(l);
          assert.ok(m, `line format: ${l}`);
          return byAddr.get(m[1]!) ?? m[1];
        });
        assert.deepEqual(served, http.sequence, 'the trace names, in order, the servers that answered');
      } finally {
        await p.stop(1000);
      }
    });
  });

  test('with health checks (keepalived.conf) a down real server is uvs_dest_up 0 and "down" on the status page, also once removed', OPTS, async (t) => {
    await withDrLab(t, { servers: 2, hostAddr: '192.168.8.9/24', uvsd: false }, async (lab) => {
      const [s1, s2] = lab.servers;
      const file = keepalivedConf(lab, [], [{ addr: s1!.addr }, { addr: s2!.addr, lines: ['inhibit_on_failure'] }]);
      await lab.startUvsd(['--keepalived-conf', file, '--metrics', METRICS]);
      const up = (ex: ReturnType<typeof parseExposition>, s: { addr: string }) =>
        ex.get('uvs_dest_up', { proto: 'tcp', service: `${VIP}:80`, server: `${s.addr}:80` });
      let ex = parseExposition(await get(lab, '/metrics'));
      // The import follows uvsd's address probe; the servers count as up once it completed.
      for (let i = 0; i < 100 && ex.all('uvs_dest_up').filter((x) => x.value === 1).length < 2; i++) {
        await delay(100);
        ex = parseExposition(await get(lab, '/metrics'));
      }
      assert.deepEqual([up(ex, s1!), up(ex, s2!)], [1, 1], await get(lab, '/status.json'));
      assert.equal(ex.get('uvs_dest_health_checked', { server: `${s1!.addr}:80` }), 1);
      await s1!.proc!.stop(2000);
      await s2!.proc!.stop(2000);
      const t0 = Date.now();
      while (Date.now() - t0 < 8000) {
        ex = parseExposition(await get(lab, '/metrics'));
        if (up(ex, s1!) === 0 && up(ex, s2!) === 0) break;
        await delay(100);
      }
      t.diagnostic(`both down in /metrics after ${Date.now() - t0} ms`);
      assert.deepEqual([up(ex, s1!), up(ex, s2!)], [0, 0]);
      assert.equal(ex.all('uvs_dest_weight', { server: `${s1!.addr}:80` }).length, 0, 'rs1 was removed from the table');
      assert.equal(ex.get('uvs_dest_weight', { server: `${s2!.addr}:80` }), 0, 'rs2 was inhibited (weight 0)');
      const st = JSON.parse(await get(lab, '/status.json')) as { healthChecks: boolean; services: { dests: { addr: string; health: string; removed: boolean; reason: string }[] }[] };
      assert.equal(st.healthChecks, true);
      assert.deepEqual(st.services[0]!.dests.map((d) => [d.addr, d.health, d.removed]).sort(),
        [[s1!.addr, 'down', true], [s2!.addr, 'down', false]]);
      assert.ok(st.services[0]!.dests.every((d) => /TCP_CHECK/.test(d.reason)), JSON.stringify(st.services[0]!.dests));
    });
  });

  test('the status page shows a backup director, the link, a lost quorum with its sorry server in, the health checks\' queue, and counts real servers as -Ln does', OPTS, async (t) => {
    await withDrLab(t, { servers: 3, hostAddr: '192.168.8.9/24', uvsd: false }, async (lab) => {
      const [s1, s2, sorry] = lab.servers;
      const file = keepalivedConf(lab, ['quorum 2', `sorry_server ${sorry!.addr} 80`], [{ addr: s1!.addr }, { addr: s2!.addr }]);
      await lab.startUvsd(['--keepalived-conf', file, '--metrics', METRICS]);
      type St = { role: string; link: { ok?: boolean; text?: string }; healthQueue?: { waiting: number; slots: number; processSlots: number }; services: { servers: number; quorum?: { up: boolean; sorryIn: boolean }; dests: { addr: string; sorry: boolean; heldOut: boolean; removed: boolean; health: string }[] }[] };
      const status = async (): Promise<St> => JSON.parse(await get(lab, '/status.json')) as St;
      let st = await status();
      for (let i = 0; i < 100 && st.services[0]?.quorum?.up !== true; i++) {
        await delay(100);
        st = await status();
      }
      assert.equal(st.services[0]?.quorum?.up, true, JSON.stringify(st));
      await s1!.proc!.stop(2000); // alive weight 1 < quorum 2: the sorry server in, rs2 held out
      const t0 = Date.now();
      while (Date.now() - t0 < 8000 && st.services[0]!.quorum!.sorryIn !== true) {
        await delay(100);
        st = await status();
      }
      await lab.uvsadmMust(['--role', 'backup']);
      let ln: string;
      [st, ln] = await Promise.all([status(), lab.uvsadmMust(['-Ln'])]);
      assert.equal(st.role, 'backup');
      assert.equal(st.link.ok, true, JSON.stringify(st.link));
      const s = st.services[0]!;
      assert.deepEqual(s.quorum && [s.quorum.up, s.quorum.sorryIn], [false, true]);
      assert.equal(s.servers, ln.split('\n').filter((l) => l.includes('->') && !/RemoteAddress/.test(l)).length, '-Ln\'s count');
      assert.equal(s.servers, 1);
      // As --status's health_queue line: two TCP_CHECKs in the default 64 slots.
      assert.deepEqual(st.healthQueue && [st.healthQueue.waiting, st.healthQueue.slots, st.healthQueue.processSlots], [0, 64, 64], JSON.stringify(st.healthQueue));
      assert.deepEqual(s.dests.map((d) => [d.addr, d.health, d.removed, d.sorry, d.heldOut]).sort(),
        [[s1!.addr, 'down', true, false, false], [s2!.addr, 'up', true, false, true], [sorry!.addr, 'unchecked', false, true, false]].sort());

      const dom = await pageDom(lab);
      assert.match(dom, /<b id="role" class="warn">backup<\/b>/);
      assert.match(dom, /<b id="link" class="">\S+ up, bridge br0<\/b>/, 'the TAP, up in its bridge');
      assert.match(dom, /<span class="sub servers">1 real server, 2 out of the table<\/span>/);
      assert.match(dom, /<span class="kv" id="hq-kv">health checks <b id="hq" class="">[0-2] \/ 64 in flight, 0 waiting, scripts 0 \/ 64, latest start \+\d+ ms \(60 s\)<\/b><\/span>/);
      assert.ok(dom.includes(`<span class="sub quorum down">quorum lost (alive weight 1, quorum 2), sorry server ${sorry!.addr}:80 in</span>`), dom.slice(0, 4000));
      const health = (addr: string) => dom.match(new RegExp(`data-server="${addr.replace(/\./g, '\\.')}:80">(?:<td[^>]*>[^<]*</td>){3}<td[^>]*>([^<]*)</td>`))?.[1];
      assert.equal(health(sorry!.addr), 'sorry server (in: quorum lost)');
      assert.equal(health(s2!.addr), 'up (held out: quorum lost)');
      assert.match(health(s1!.addr) ?? '', /^down \(removed\): TCP_CHECK/);
    });
  });

  test('idle connections to the metrics port and the control socket with uvsd out of file descriptors (nofile 150): uvsd keeps forwarding, its link is not taken for gone', OPTS, async (t) => {
    await withDrLab(t, { servers: 2, ...UVSD }, async (lab) => {
      await services(lab);
      const pid = lab.uvsd!.child.pid!;
      await lab.lab.must(['prlimit', `--pid=${pid}`, '--nofile=150:150']);
      // 300 idle connections to the metrics port from the director namespace, held until stdin ends.
      const hold = `const net = require('node:net'); const socks = []; let open = 0;
        for (let i = 0; i < 300; i++) { const s = net.connect(9478, '127.0.0.1'); s.on('error', () => {}); s.on('connect', () => open++); socks.push(s); }
        console.log('connecting'); setTimeout(() => console.log('open ' + open), 1500); process.stdin.resume(); process.stdin.on('end', () => process.exit(0));`;
      const holder = lab.lab.spawn(lab.ns.dir, [process.execPath, '-e', hold]);
      // And 300 to the control socket (its limit is 256): together past 150 descriptors.
      const ctl = Array.from({ length: 300 }, () => connect(lab.socketPath).on('error', () => {}));
      try {
        await holder.waitForLine(/^connecting$/, 10_000);
        const held = Date.now();
        await holder.waitForLine(/^open /, 10_000);
        // The link is looked at every second: 3 s with all of them held (counted from the holder's connects).
        await delay(3000 - (Date.now() - held));
        assert.ok(lab.uvsdAlive(), `uvsd stopped: ${lab.uvsd!.stderr()}`);
        const lines = lab.uvsd!.stdout().split('\n').filter((l) => l.startsWith('{')).map((l) => (JSON.parse(l) as { msg: string }).msg);
        assert.ok(!lines.some((m) => /link fault|does not exist|stopping/.test(m)), lines.filter((m) => /link|stop/.test(m)).join('\n'));
        t.diagnostic(lines.filter((m) => /refused|link check/.test(m)).join(' | '));
      } finally {
        for (const s of ctl) s.destroy();
        holder.child.stdin?.end();
        await holder.exited;
      }
      await delay(500);
      const udp = await lab.udp(100, { sport: 21000 });
      assert.equal(udp.errors, 0, `forwarding after the flood: ${udp.errorSamples.join('; ')}`);
      assert.equal(parseExposition(await get(lab, '/metrics')).get('uvs_service_connections_total', { proto: 'udp', service: `${VIP}:53` }), 100);
      await lab.uvsadmMust(['-Ln']);
    });
  });
});
