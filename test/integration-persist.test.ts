// test-class: lab
// Scheduling end to end in network namespaces (DR lab): least-connection schedulers against
// connections held open, source/Maglev hashing, persistence templates with -M, -x/-y thresholds,
// and uvsadm --explain agreeing with the next real decision. Each test builds its own lab
// (test/lab/dr-lab.ts) and tears it down in finally. Table changes whose output is nothing to read
// go over the control socket as uvsadm sends them (uvsadmCall: no uvsadm node start each).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { uvsadmCall, withDrLab } from './lab/itest.js';
import { VIP, type DrLab } from './lab/dr-lab.js';

const OPTS = { timeout: 120_000 };
const SVC = `${VIP}:80`;

async function service(lab: DrLab, args: string[], servers: number, extra: (i: number) => string[] = () => []): Promise<void> {
  await uvsadmCall(lab, ['-A', '-t', SVC, ...args]);
  for (let i = 0; i < servers; i++) {
    await uvsadmCall(lab, ['-a', '-t', SVC, '-r', `${lab.servers[i]!.addr}:80`, '-g', '-w', '1', ...extra(i)]);
  }
}

function nameOf(lab: DrLab, addr: string | undefined): string | undefined {
  return lab.servers.find((s) => s.addr === addr)?.name;
}

/** Poll the table until pred holds (bounded: 50 × 100 ms). */
async function until(what: string, pred: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 50; i++) {
    if (await pred()) return;
    await delay(100);
  }
  throw new Error(`timed out waiting for ${what}`);
}

test('wlc and lc: with 3 connections held open on rs1, new connections go to the less loaded rs2', OPTS, async (t) => {
  await withDrLab(t, { servers: 2 }, async (lab) => {
    await service(lab, ['-s', 'wlc'], 1);
    const held = await lab.openConns(3);
    try {
      assert.equal(held.ok, 3, `held connections: ${held.errorSamples.join('; ')}`);
      await until('three active connections on rs1', async () => (await lab.list()).services[0]!.dests[0]!.active === 3);
      await uvsadmCall(lab, ['-a', '-t', SVC, '-r', `${lab.servers[1]!.addr}:80`, '-g', '-w', '1']);
      const wlc = await lab.http(10);
      t.diagnostic(`wlc: ${JSON.stringify(wlc.counts)}`);
      assert.equal(wlc.errors, 0, wlc.errorSamples.join('; '));
      // rs1 overhead 3*256 = 768; rs2 stays below it with up to 10 inactive connections.
      assert.deepEqual(wlc.counts, { rs2: 10 });
      await uvsadmCall(lab, ['-E', '-t', SVC, '-s', 'lc']);
      const lc = await lab.http(10);
      t.diagnostic(`lc: ${JSON.stringify(lc.counts)}`);
      assert.equal(lc.errors, 0, lc.errorSamples.join('; '));
      assert.deepEqual(lc.counts, { rs2: 10 });
      // rr on the same table would not care about the load.
      await uvsadmCall(lab, ['-E', '-t', SVC, '-s', 'rr']);
      const rr = await lab.http(10);
      assert.deepEqual(rr.counts, { rs1: 5, rs2: 5 });
    } finally {
      await held.release();
    }
  });
});

test('sh and mh keep one client on one server across 20 connections', OPTS, async (t) => {
  await withDrLab(t, { servers: 3 }, async (lab) => {
    await service(lab, ['-s', 'sh'], 3);
    const sh = await lab.http(20);
    t.diagnostic(`sh: ${JSON.stringify(sh.counts)}`);
    assert.equal(sh.errors, 0, sh.errorSamples.join('; '));
    assert.deepEqual(Object.values(sh.counts), [20]);
    await uvsadmCall(lab, ['-E', '-t', SVC, '-s', 'mh']);
    const mh = await lab.http(20);
    t.diagnostic(`mh: ${JSON.stringify(mh.counts)}`);
    assert.equal(mh.errors, 0, mh.errorSamples.join('; '));
    assert.deepEqual(Object.values(mh.counts), [20]);
  });
});

test('persistence -p 60 -M 255.255.255.0: 20 connections from one client and 20 from a second client of the /24 reach one server', OPTS, async (t) => {
  await withDrLab(t, { servers: 2, clients: 2 }, async (lab) => {
    await service(lab, ['-s', 'rr', '-p', '60', '-M', '255.255.255.0'], 2);
    const a = await lab.http(20);
    t.diagnostic(`client 1: ${JSON.stringify(a.counts)}`);
    assert.equal(a.errors, 0, a.errorSamples.join('; '));
    const names = Object.keys(a.counts);
    assert.equal(names.length, 1, 'rr alone would alternate');
    const b = await lab.http(20, { ns: lab.ns.clients[1] });
    t.diagnostic(`client 2: ${JSON.stringify(b.counts)}`);
    assert.deepEqual(b.counts, { [names[0]!]: 20 });
    // The template as ipvsadm -Lnc shows it, and PersistConn 1 on that server.
    const lnc = await lab.uvsadmMust(['-Lnc']);
    const rip = lab.servers.find((s) => s.name === names[0])!.addr;
    const tpl = lnc.split('\n').filter((l) => / ASSURED +192\.168\.8\.0:0 /.test(l));
    t.diagnostic(`template: ${tpl.join(' | ')}`);
    assert.equal(tpl.length, 1);
    assert.match(tpl[0]!, new RegExp(`^TCP 0[01]:\\d\\d  ASSURED     192\\.168\\.8\\.0:0 +${VIP.replace(/\./g, '\\.')}:80 +${rip.replace(/\./g, '\\.')}:80$`));
    const pc = await lab.uvsadmMust(['-Ln', '--persistent-conn']);
    assert.match(pc, new RegExp(`-> ${rip.replace(/\./g, '\\.')}:80 +1 +1 `), pc);
  });
});

test('threshold -x 2 -y 1: a full server takes no new connections, and takes them again once under the lower threshold', OPTS, async (t) => {
  await withDrLab(t, { servers: 2 }, async (lab) => {
    // FIN_WAIT 1 s: closed DR connections leave the table quickly.
    await uvsadmCall(lab, ['--set', '0', '1', '0']);
    await service(lab, ['-s', 'rr'], 2, (i) => (i === 0 ? ['-x', '2', '-y', '1'] : []));
    const held = await lab.openConns(4);
    let released = false;
    try {
      assert.equal(held.ok, 4, held.errorSamples.join('; '));
      await until('rs1 holding 2 connections', async () => (await lab.list()).services[0]!.dests[0]!.active === 2);
      const th = await lab.uvsadmMust(['-Ln', '--thresholds']);
      t.diagnostic(th);
      assert.match(th, /-> 192\.168\.8\.20:80 +2 +1 +2 +0 /);
      const full = await lab.http(6);
      t.diagnostic(`rs1 full: ${JSON.stringify(full.counts)}`);
      assert.equal(full.errors, 0, full.errorSamples.join('; '));
      assert.deepEqual(full.counts, { rs2: 6 });
      await held.release();
      released = true;
      await until('rs1 without connections', async () => {
        const d = (await lab.list()).services[0]!.dests[0]!;
        return d.active + d.inactive === 0;
      });
      const again = await lab.http(6);
      t.diagnostic(`rs1 under the lower threshold: ${JSON.stringify(again.counts)}`);
      assert.equal(again.errors, 0, again.errorSamples.join('; '));
      // rr takes rs1 again, until its closing connections (FIN_WAIT, 1 s) reach -x 2 once more.
      const rs1 = again.counts.rs1 ?? 0;
      assert.ok(rs1 >= 1 && rs1 <= 3, `rs1 got ${rs1} of 6`);
    } finally {
      if (!released) await held.release();
    }
  });
});

test('uvsadm --explain names the server the next connection reaches (wlc, then a persistence template)', OPTS, async (t) => {
  await withDrLab(t, { servers: 3 }, async (lab) => {
    await service(lab, ['-s', 'rr'], 3);
    for (let i = 0; i < 4; i++) {
      const x = await lab.uvsadmMust(['--explain', '-t', SVC, '--client', lab.clientAddr]);
      const m = / -> (\S+):80\n/.exec(x);
      const r = await lab.http(1);
      t.diagnostic(`explain said ${m?.[1]}, ${JSON.stringify(r.counts)}`);
      assert.equal(r.errors, 0, r.errorSamples.join('; '));
      assert.deepEqual(Object.keys(r.counts), [nameOf(lab, m?.[1])], x);
    }
    await uvsadmCall(lab, ['-E', '-t', SVC, '-s', 'wlc', '-p', '30']);
    const first = await lab.uvsadmMust(['--explain', '-t', SVC, '--client', lab.clientAddr]);
    assert.match(first, /decided by scheduler\nwhy persistence: no template for 192\.168\.8\.100\/255\.255\.255\.255, a new one \(30 s\) would be made; wlc: /);
    const chosen = / -> (\S+):80\n/.exec(first)?.[1];
    const r = await lab.http(3);
    assert.deepEqual(r.counts, { [nameOf(lab, chosen)!]: 3 });
    const hit = await lab.uvsadmMust(['--explain', '-t', SVC, '--client', lab.clientAddr]);
    t.diagnostic(hit);
    assert.match(hit, new RegExp(` -> ${chosen!.replace(/\./g, '\\.')}:80\ndecided by persistence template\nwhy persistence: template 192\\.168\\.8\\.100/255\\.255\\.255\\.255 -> `));
    // An unknown service: refused like other verbs (exit 255, one line).
    const bad = await lab.uvsadm(['--explain', '-t', `${VIP}:81`, '--client', lab.clientAddr]);
    assert.equal(bad.code, 255);
    assert.match(bad.stderr, /^No such service/);
    assert.equal(bad.stderr.split('\n').length, 2, 'one line');
  });
});

test('fwmark (-f) with persistence: HTTP on ports 80 and 8080 and UDP 53 of the VIP, marked by uvsadm --add-mark, all reach the one server of the client; without -p rr splits them; -S restores the same', OPTS, async (t) => {
  await withDrLab(t, { servers: 2 }, async (lab) => {
    for (const m of [['-t', `${VIP}:80`], ['-t', `${VIP}:8080`], ['-u', `${VIP}:53`]]) await uvsadmCall(lab, ['--add-mark', '-f', '1', ...m]);
    await uvsadmCall(lab, ['-A', '-f', '1', '-s', 'rr', '-p', '60']);
    for (const s of lab.servers) await uvsadmCall(lab, ['-a', '-f', '1', '-r', s.addr, '-g']);
    const web = await lab.http(10);
    const alt = await lab.http(10, { target: `${VIP}:8080` });
    const dns = await lab.udp(10);
    t.diagnostic(`-p 60: :80 ${JSON.stringify(web.counts)}, :8080 ${JSON.stringify(alt.counts)}, udp/53 ${JSON.stringify(dns.counts)}`);
    for (const x of [web, alt, dns]) assert.equal(x.errors, 0, x.errorSamples.join('; '));
    const names = Object.keys(web.counts);
    assert.equal(names.length, 1, 'one server for the client');
    assert.deepEqual(alt.counts, { [names[0]!]: 10 });
    assert.deepEqual(dns.counts, { [names[0]!]: 10 });
    const ln = await lab.uvsadmMust(['-Ln']);
    assert.match(ln, /\nFWM  1 rr persistent 60\n {2}-> 192\.168\.8\.20:0 +Route +1 /, ln);
    assert.match(await lab.uvsadmMust(['-Lnc']), new RegExp(`\\nIP +\\d\\d:\\d\\d +ASSURED +${lab.clientAddr.replace(/\./g, '\\.')}:0 +0\\.0\\.0\\.1:0 `));
    // -S, -C, -R: the same table, marks included.
    const saved = await lab.uvsadmMust(['-S', '-n']);
    assert.match(saved, /^--add-mark -f 1 -t 192\.168\.8\.200:80\n--add-mark -f 1 -t 192\.168\.8\.200:8080\n--add-mark -f 1 -u 192\.168\.8\.200:53\n-A -f 1 -s rr -p 60\n/);
    // -C keeps the marks (as ipvsadm -C keeps iptables rules): -R's --add-mark lines of them change nothing.
    await uvsadmCall(lab, ['-C']);
    assert.match(await lab.uvsadmMust(['--get-marks']), /\n1 +TCP  192\.168\.8\.200:80\n/);
    await lab.uvsadmMust(['-R'], saved);
    assert.equal(await lab.uvsadmMust(['-S', '-n']), saved);
    // Without persistence every marked flow is scheduled on its own: rr over both servers.
    await uvsadmCall(lab, ['-E', '-f', '1', '-s', 'rr']);
    const rr = await lab.http(10, { target: `${VIP}:8080` });
    assert.equal(rr.errors, 0, rr.errorSamples.join('; '));
    assert.deepEqual(rr.counts, { rs1: 5, rs2: 5 });
  });
});

/** A node script for a client namespace: sends each [sport, Call-ID] SIP message to VIP:53 in turn and prints the repliers' names (JSON; "-" for no reply in 500 ms). */
function sipClient(sends: Array<[number, string | null]>): string {
  return `const dgram = require('dgram');
const sends = ${JSON.stringify(sends)};
(async () => {
  const out = [];
  for (const [sport, cid] of sends) {
    const s = dgram.createSocket('udp4');
    await new Promise((r) => s.bind(sport, r));
    const msg = cid === null ? 'OPTIONS sip:x SIP/2.0\\r\\nVia: SIP/2.0/UDP x\\r\\n\\r\\n'
      : 'INVITE sip:bob@example.com SIP/2.0\\r\\nVia: SIP/2.0/UDP x;branch=z9hG4bK1\\r\\nCall-ID: ' + cid + '\\r\\nCSeq: 1 INVITE\\r\\nContent-Length: 0\\r\\n\\r\\n';
    const reply = new Promise((r) => { s.once('message', (m) => r(m.toString().trim())); setTimeout(() => r('-'), 500); });
    s.send(msg, 53, '${VIP}');
    out.push(await reply);
    s.close();
  }
  console.log(JSON.stringify(out));
})();`;
}

test('--pe sip: one call\'s messages from two clients and two ports reach one server; six calls split over both by rr; no Call-ID, no answer; -Lnc --persistent-conn lists each Call-ID', OPTS, async (t) => {
  await withDrLab(t, { servers: 2, clients: 2 }, async (lab) => {
    await uvsadmCall(lab, ['-A', '-u', `${VIP}:53`, '-s', 'rr', '-p', '60', '-M', '0.0.0.0', '--pe', 'sip', '-o']);
    for (const s of lab.servers) await uvsadmCall(lab, ['-a', '-u', `${VIP}:53`, '-r', s.addr, '-g']);
    const calls = ['c1@a', 'c2@a', 'c3@a', 'c4@a', 'c5@a', 'c6@a'];
    const run = async (ns: string, sends: Array<[number, string | null]>): Promise<string[]> => {
      const r = await lab.lab.exec(ns, [process.execPath, '-e', sipClient(sends)], { timeoutMs: 30_000 });
      assert.equal(r.code, 0, r.stderr);
      return JSON.parse(r.stdout) as string[];
    };
    // Client 1 starts each call from one port; client 2 sends each call's next message from two others.
    const first = await run(lab.ns.clients[0]!, calls.map((c) => [5060, c]));
    const second = await run(lab.ns.clients[1]!, calls.flatMap((c) => [[5070, c], [5080, c]] as Array<[number, string]>));
    t.diagnostic(`first ${first.join(' ')}; second ${second.join(' ')}`);
    assert.deepEqual(first, ['rs1', 'rs2', 'rs1', 'rs2', 'rs1', 'rs2'], 'rr over new calls');
    assert.deepEqual(second, first.flatMap((n) => [n, n]), 'each call stays on its server, whoever sends it');
    assert.deepEqual(await run(lab.ns.clients[0]!, [[5090, null]]), ['-'], 'a datagram without a Call-ID is not forwarded');
    assert.match(await lab.uvsadmMust(['--status']), /\ndrop_pe_no_callid 1\n/);
    assert.match(await lab.uvsadmMust(['-Ln']), new RegExp(`\\nUDP  ${VIP.replace(/\./g, '\\.')}:53 rr persistent 60 mask 0\\.0\\.0\\.0 pe sip ops\\n`));
    const lnc = await lab.uvsadmMust(['-Lnc', '--persistent-conn']);
    for (const [i, c] of calls.entries()) {
      assert.match(lnc, new RegExp(`\\nUDP +\\d\\d:\\d\\d +NONE +0\\.0\\.0\\.0:0 +${VIP.replace(/\./g, '\\.')}:53 +${lab.servers[i % 2]!.addr.replace(/\./g, '\\.')}:53 +sip +${c}\\n`), lnc);
    }
  });
});
