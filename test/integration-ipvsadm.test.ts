// `uvsadm -Ln` against a running uvsd, compared as whole text with the layout ipvsadm 1.31 prints
// (print_title / print_service_entry in ipvsadm.c). The expected text is built here, independently
// of src/control/printers.ts; only the connection counters are taken from the daemon (`list`).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { diagnosticLines, withDrLab } from './lab/itest.js';
import { repoRoot, uvsadmArgv, VIP } from './lab/dr-lab.js';
import type { ListResult } from '../src/control/protocol.js';

function pad(s: string | number, w: number): string {
  return String(s).padEnd(w, ' ');
}

const FWD: Record<string, string> = { dr: 'Route', nat: 'Masq', tun: 'Tunnel', fullnat: 'FullNat' };

interface Want {
  proto: 'tcp' | 'udp';
  port: number;
  sched: string;
  dests: Array<{ addr: string; port: number; weight: number }>;
}

/** ipvsadm -Ln text for `want`, with ActiveConn/InActConn and the banner size taken from `list`. */
function expected(list: ListResult, want: Want[]): string {
  let s = `IP Virtual Server version 1.2.1 (size=${list.size})\n`;
  s += 'Prot LocalAddress:Port Scheduler Flags\n';
  s += '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n';
  for (const svc of list.services) {
    const w = want.find((x) => x.proto === svc.proto && x.port === svc.port && svc.addr === VIP);
    assert.ok(w, `unexpected service in list: ${JSON.stringify(svc)}`);
    s += `${svc.proto.toUpperCase()}  ${VIP}:${w.port} ${w.sched}\n`;
    assert.equal(svc.dests.length, w.dests.length, `destinations of ${svc.proto} ${svc.port}`);
    for (const d of svc.dests) {
      const wd = w.dests.find((x) => x.addr === d.addr && x.port === d.port);
      assert.ok(wd, `unexpected destination ${d.addr}:${d.port}`);
      // printf("  -> %-28s %-7s %-6d %-10u %-10u\n", ...)
      s += `  -> ${pad(`${wd.addr}:${wd.port}`, 28)} ${pad(FWD.dr!, 7)} ${pad(wd.weight, 6)} ${pad(d.active, 10)} ${pad(d.inactive, 10)}\n`;
    }
  }
  assert.equal(list.services.length, want.length, 'number of services');
  return s;
}

function showWs(s: string): string {
  return s.replace(/ /g, '·').replace(/\n/g, '⏎\n');
}

test('uvsadm -Ln prints the ipvsadm layout exactly (after config and traffic)', { timeout: 120_000 }, async (t) => {
  await withDrLab(t, { servers: 2 }, async (lab) => {
    const [rs1, rs2] = [lab.servers[0]!.addr, lab.servers[1]!.addr];
    await lab.uvsadmMust(['-A', '-t', `${VIP}:80`, '-s', 'wrr']);
    await lab.uvsadmMust(['-a', '-t', `${VIP}:80`, '-r', `${rs1}:80`, '-g', '-w', '3']);
    await lab.uvsadmMust(['-a', '-t', `${VIP}:80`, '-r', `${rs2}:80`, '-g', '-w', '1']);
    await lab.uvsadmMust(['-A', '-u', `${VIP}:53`, '-s', 'rr']);
    await lab.uvsadmMust(['-a', '-u', `${VIP}:53`, '-r', `${rs1}:53`, '-g', '-w', '1']);
    await lab.uvsadmMust(['-a', '-u', `${VIP}:53`, '-r', `${rs2}:53`, '-g', '-w', '2']);
    const want: Want[] = [
      { proto: 'tcp', port: 80, sched: 'wrr', dests: [{ addr: rs1, port: 80, weight: 3 }, { addr: rs2, port: 80, weight: 1 }] },
      { proto: 'udp', port: 53, sched: 'rr', dests: [{ addr: rs1, port: 53, weight: 1 }, { addr: rs2, port: 53, weight: 2 }] },
    ];

    // Fresh configuration: all counters 0.
    const fresh = await lab.uvsadm(['-Ln']);
    assert.equal(fresh.code, 0, fresh.stderr);
    const freshList = await lab.list();
    for (const s of freshList.services) for (const d of s.dests) assert.equal(d.active + d.inactive, 0);
    assert.equal(fresh.stdout, expected(freshList, want), `fresh -Ln differs:\n${showWs(fresh.stdout)}`);

    // With traffic: take the counters from `list` around the -Ln call and retry until they agree.
    const http = await lab.http(4);
    const udp = await lab.udp(2);
    assert.equal(http.errors + udp.errors, 0, 'traffic failed');
    let ok = false;
    let last = '';
    let exp = '';
    for (let i = 0; i < 5 && !ok; i++) {
      const l1 = await lab.list();
      const ln = await lab.uvsadm(['-Ln']);
      const l2 = await lab.list();
      assert.equal(ln.code, 0, ln.stderr);
      if (JSON.stringify(l1) !== JSON.stringify(l2)) continue; // counters moved in between
      last = ln.stdout;
      exp = expected(l1, want);
      ok = true;
      const udpSvc = l1.services.find((s) => s.proto === 'udp')!;
      assert.equal(udpSvc.dests.reduce((a, d) => a + d.active + d.inactive, 0), 2, 'two UDP datagrams from two ports = two connections');
    }
    assert.ok(ok, 'connection counters never settled');
    diagnosticLines(t, 'uvsadm -Ln:', last);
    assert.equal(last, exp, `-Ln with traffic differs:\ngot:\n${showWs(last)}\nwant:\n${showWs(exp)}`);
  });
});

test('uvsadm -L (names) takes /etc/hosts names and exits at its 1.5 s budget when DNS never answers', { timeout: 120_000 }, async (t) => {
  await withDrLab(t, { servers: 2 }, async (lab) => {
    const [rs1, rs2] = [lab.servers[0]!.addr, lab.servers[1]!.addr];
    await lab.uvsadmMust(['-A', '-t', `${VIP}:80`, '-s', 'rr']);
    await lab.uvsadmMust(['-a', '-t', `${VIP}:80`, '-r', `${rs1}:80`, '-g']);
    await lab.uvsadmMust(['-a', '-t', `${VIP}:80`, '-r', `${rs2}:80`, '-g']);
    // `ip netns exec` mounts /etc/netns/NS/{hosts,resolv.conf} over /etc's: a hosts file naming
    // rs1, and a name server (in the namespace) that reads every query and never answers.
    const etc = `/etc/netns/${lab.ns.dir}`;
    mkdirSync(etc, { recursive: true });
    try {
      writeFileSync(`${etc}/hosts`, `127.0.0.1 localhost\n${rs1} web-one.example web-one\n`);
      writeFileSync(`${etc}/resolv.conf`, 'nameserver 127.0.0.1\n');
      const silent = lab.lab.spawn(lab.ns.dir, [process.execPath, '-e', "require('node:dgram').createSocket('udp4').bind(53, '127.0.0.1', () => console.log('bound'))"]);
      await silent.waitForLine(/bound/, 10_000);
      const t0 = Date.now();
      const r = await lab.lab.exec(lab.ns.dir, uvsadmArgv(['--socket', lab.socketPath, '-L']), { cwd: repoRoot, timeoutMs: 30_000 });
      const ms = Date.now() - t0;
      await silent.stop(1000);
      diagnosticLines(t, `uvsadm -L (${ms} ms):`, r.stdout + r.stderr);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /-> web-one\.example:(80|http) /, 'the hosts file names rs1');
      assert.match(r.stdout, new RegExp(`-> ${rs2.replace(/\./g, '\\.')}:(80|http) `), 'rs2 (no answer) stays numeric');
      // 1.5 s of lookups plus node's start; before, uvsadm printed at 1.9 s and exited at 6.5 s
      // (Node joined the thread pool's getnameinfo calls, still waiting on the resolver, at exit).
      assert.ok(ms < 4000, `uvsadm -L took ${ms} ms to exit`);
    } finally {
      rmSync(etc, { recursive: true, force: true });
    }
  });
});
