// The control verbs against a real uvsd in the DR lab: -E / -D / -C change what -Ln shows and
// what the datapath does; refused requests exit 1 with one ipvsadm-style line and change nothing;
// the control socket is root-only (0600); `uvsadm --status` shows station, table use, drops and
// the receive wake-ups.
// Needs root and network namespaces (skipped with the reason otherwise, see lab/itest.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { diagnosticLines, withDrLab } from './lab/itest.js';
import { UVSD_MAC, VIP, type DrLab } from './lab/dr-lab.js';

/** An on-link address with no real server behind it (never added to a service). */
const SUBNET_RS3 = '192.168.8.40';

/** Service lines of `-Ln` (everything after the three title lines). */
function serviceLines(ln: string): string[] {
  return ln.replace(/\n$/, '').split('\n').slice(3);
}

/** One HTTP request to target with a short timeout; returns the client's tally. */
async function httpOnce(lab: DrLab, target: string, timeoutMs = 1500): Promise<{ counts: Record<string, number>; errors: number; errorSamples: string[] }> {
  const r = await lab.client(['--http', target, '--count', '1', '--timeout', String(timeoutMs)], { timeoutMs: 20_000 });
  assert.equal(r.code, 0, `client: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as { counts: Record<string, number>; errors: number; errorSamples: string[] };
}

test('-E -s wrr switches an rr service to wrr; -D removes it and its VIP:port gets no answer; -C clears all', { timeout: 120_000 }, async (t) => {
  await withDrLab(t, { servers: 2 }, async (lab) => {
    const [rs1, rs2] = [lab.servers[0]!.addr, lab.servers[1]!.addr];
    const svc = `${VIP}:80`;
    await lab.uvsadmMust(['-A', '-t', svc, '-s', 'rr']);
    await lab.uvsadmMust(['-a', '-t', svc, '-r', `${rs1}:80`, '-g', '-w', '3']);
    await lab.uvsadmMust(['-a', '-t', svc, '-r', `${rs2}:80`, '-g', '-w', '1']);
    await lab.uvsadmMust(['-A', '-u', `${VIP}:53`, '-s', 'rr']);
    await lab.uvsadmMust(['-a', '-u', `${VIP}:53`, '-r', `${rs1}:53`, '-g']);

    let ln = await lab.uvsadmMust(['-Ln']);
    assert.match(ln, new RegExp(`^TCP  ${VIP.replace(/\./g, '\\.')}:80 rr$`, 'm'), ln);

    // -E -s wrr: the scheduler shown changes, the destinations stay, and traffic follows wrr 3:1.
    const e = await lab.uvsadm(['-E', '-t', svc, '-s', 'wrr']);
    assert.equal(e.code, 0, e.stderr);
    assert.equal(e.stdout + e.stderr, '');
    ln = await lab.uvsadmMust(['-Ln']);
    diagnosticLines(t, 'after -E -s wrr:', ln);
    assert.match(ln, new RegExp(`^TCP  ${VIP.replace(/\./g, '\\.')}:80 wrr$`, 'm'), ln);
    assert.equal(serviceLines(ln).filter((l) => l.startsWith('  -> ')).length, 3, 'destinations kept');
    const split = await lab.http(40);
    assert.equal(split.errors, 0, JSON.stringify(split.errorSamples));
    assert.deepEqual(split.counts, { rs1: 30, rs2: 10 }, 'wrr 3:1 after -E');

    // -E without -s sets wlc, as ipvsadm does (it sends the whole service); destinations stay.
    const config = async () =>
      (await lab.list()).services.map((s) => ({ sched: s.sched, dests: s.dests.map((x) => ({ addr: x.addr, port: x.port, fwd: x.fwd, weight: x.weight })) }));
    const before = await config();
    await lab.uvsadmMust(['-E', '-t', svc]);
    const after = await config();
    assert.deepEqual(after.map((s) => s.dests), before.map((s) => s.dests));
    assert.deepEqual(after.map((s) => s.sched), before.map((s) => (s.sched === 'wrr' ? 'wlc' : s.sched)));

    // -D: the TCP service is gone from -Ln, the UDP one stays, and VIP:80 gets no answer.
    const d = await lab.uvsadm(['-D', '-t', svc]);
    assert.equal(d.code, 0, d.stderr);
    ln = await lab.uvsadmMust(['-Ln']);
    diagnosticLines(t, 'after -D:', ln);
    assert.doesNotMatch(ln, /^TCP /m);
    assert.match(ln, new RegExp(`^UDP  ${VIP.replace(/\./g, '\\.')}:53 rr$`, 'm'));
    const noSvcBefore = (await lab.status()).drops['no_service'] ?? 0;
    const gone = await httpOnce(lab, svc, 600);
    t.diagnostic(`HTTP to ${svc} after -D: ${JSON.stringify(gone)}`);
    assert.equal(gone.errors, 1, 'a request to a deleted service must not be answered');
    assert.deepEqual(gone.counts, {});
    assert.ok(((await lab.status()).drops['no_service'] ?? 0) > noSvcBefore, 'the SYN is dropped as no_service');
    const l = await lab.uvsadm(['-L', '-n', '-t', svc]);
    assert.equal(l.code, 1);
    assert.equal(l.stderr, 'No such service\n');

    // -C: no services at all (title lines only), and the UDP VIP:port stops answering too.
    await lab.uvsadmMust(['-A', '-t', svc, '-s', 'wlc']);
    await lab.uvsadmMust(['-a', '-t', svc, '-r', `${rs2}:80`]);
    const c = await lab.uvsadm(['-C']);
    assert.equal(c.code, 0, c.stderr);
    ln = await lab.uvsadmMust(['-Ln']);
    assert.deepEqual(serviceLines(ln), [], `-Ln after -C:\n${ln}`);
    assert.equal((await lab.list()).services.length, 0);
    const udp = await lab.udp(1, { timeoutMs: 600 });
    assert.equal(udp.errors, 1, 'UDP to a cleared service must not be answered');
    // uvsd is still fine: a new service works again.
    await lab.uvsadmMust(['-A', '-t', svc, '-s', 'rr']);
    await lab.uvsadmMust(['-a', '-t', svc, '-r', `${rs1}:80`]);
    const again = await lab.http(2);
    assert.deepEqual(again.counts, { rs1: 2 });
  });
});

test('refused requests exit 255 with ipvsadm\'s one-line message and leave -Ln byte-identical', { timeout: 120_000 }, async (t) => {
  await withDrLab(t, { servers: 2 }, async (lab) => {
    const [rs1, rs2] = [lab.servers[0]!.addr, lab.servers[1]!.addr];
    const svc = `${VIP}:80`;
    await lab.uvsadmMust(['-A', '-t', svc, '-s', 'wrr']);
    await lab.uvsadmMust(['-a', '-t', svc, '-r', `${rs1}:80`, '-g', '-w', '2']);
    await lab.uvsadmMust(['-a', '-t', svc, '-r', `${rs2}:80`, '-g', '-w', '1']);
    const before = await lab.uvsadmMust(['-Ln']);
    const statusBefore = await lab.list();

    const cases: Array<{ args: string[]; want: RegExp }> = [
      { args: ['-A', '-t', svc, '-s', 'rr'], want: /^Service already exists$/ },
      { args: ['-a', '-t', `${VIP}:81`, '-r', `${rs1}:81`], want: /^Service not defined$/ },
      { args: ['-a', '-t', svc, '-r', '10.99.0.1:80'], want: /^Real server is not on a directly connected network/ },
      { args: ['-e', '-t', svc, '-r', `${SUBNET_RS3}:80`, '-w', '5'], want: /^No such destination$/ },
      { args: ['-A', '-t', `${VIP}:8080`, '-s', 'nosuch'], want: /^Scheduler or persistence engine not found$/ },
      { args: ['-a', '-t', svc, '-r', `${rs1}:80`, '-w', '7'], want: /^Destination already exists$/ },
      { args: ['-d', '-t', svc, '-r', `${SUBNET_RS3}:80`], want: /^No such destination$/ },
      { args: ['-E', '-t', svc, '-s', 'nosuch'], want: /^Scheduler or persistence engine not found$/ },
      { args: ['-D', '-u', `${VIP}:80`], want: /^No such service$/ },
    ];
    // Refusals change nothing, so they run side by side (a process start each is most of the
    // time), and -Ln is compared once after all of them. bin/uvsadm itself: its exit status.
    const results = await Promise.all(cases.map((c) => lab.uvsadmProcess(c.args)));
    cases.forEach((c, i) => {
      const r = results[i]!;
      const label = `uvsadm ${c.args.join(' ')}`;
      t.diagnostic(`${label} -> ${r.code} ${JSON.stringify(r.stderr)}`);
      assert.equal(r.code, 255, `${label}: exit code (stderr ${JSON.stringify(r.stderr)})`);
      assert.equal(r.stdout, '', `${label}: stdout`);
      assert.ok(r.stderr.endsWith('\n') && r.stderr.indexOf('\n') === r.stderr.length - 1, `${label}: stderr is not one line: ${JSON.stringify(r.stderr)}`);
      assert.match(r.stderr.trimEnd(), c.want, label);
    });
    assert.equal(await lab.uvsadmMust(['-Ln']), before, 'a refusal changed -Ln');
    assert.deepEqual(await lab.list(), statusBefore, 'list (weights, counters) unchanged');
    // The refused edits did not touch the datapath either: traffic still splits 2:1.
    const http = await lab.http(30);
    assert.equal(http.errors, 0);
    assert.deepEqual(http.counts, { rs1: 20, rs2: 10 });
  });
});

test('the control socket is a unix socket, mode 0600, owned by root', { timeout: 60_000 }, async (t) => {
  await withDrLab(t, { servers: 1, startServers: false }, async (lab) => {
    const st = statSync(lab.socketPath);
    t.diagnostic(`${lab.socketPath}: mode ${(st.mode & 0o7777).toString(8)} uid ${st.uid} gid ${st.gid}`);
    assert.ok(st.isSocket(), 'not a socket');
    assert.equal(st.mode & 0o777, 0o600);
    assert.equal(st.uid, 0);
  });
});

test('uvsadm --status prints the station, table use and drop counters by reason', { timeout: 60_000 }, async (t) => {
  // uvsd's own table size (the lab gives others LAB_CONN_MAX): the default is checked below.
  await withDrLab(t, { servers: 2, uvsd: { connMax: 'default' } }, async (lab) => {
    await lab.uvsadmMust(['-A', '-t', `${VIP}:80`, '-s', 'rr']);
    await lab.uvsadmMust(['-a', '-t', `${VIP}:80`, '-r', `${lab.servers[0]!.addr}:80`]);
    const http = await lab.http(3);
    assert.equal(http.errors, 0);
    const gone = await httpOnce(lab, `${VIP}:81`, 800); // no such service: a no_service drop
    assert.equal(gone.errors, 1);
    const r = await lab.uvsadm(['--status']);
    diagnosticLines(t, 'uvsadm --status:', r.stdout);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    const lines = r.stdout.replace(/\n$/, '').split('\n');
    // A lab with nothing wrong: the summary says so (a dropped request to :81 is history, not a problem).
    assert.equal(lines[0], 'problems none');
    assert.equal(lines[1], `station ${UVSD_MAC} on uvs0`);
    // io_uring unless the kernel refused it (port.test.ts checks both paths frame by frame).
    assert.match(lines[2] ?? '', /^io (io_uring|syscalls)$/);
    assert.ok(lines.includes(`addresses ${lab.dirAddr}/24`), 'addresses line');
    const conns = r.stdout.match(/^connections (\d+) of (\d+)$/m);
    assert.ok(conns, 'connections line');
    assert.ok(Number(conns[1]) >= 3, `connections ${conns[1]} (3 HTTP connections just made)`);
    assert.equal(Number(conns[2]), 1048576, 'default --conn-max');
    for (const l of lines) assert.match(l, /^\S+ \S.*$/, `not a "name value" line: ${JSON.stringify(l)}`);
    const st = await lab.status();
    for (const [k, v] of Object.entries(st.drops)) {
      const m = r.stdout.match(new RegExp(`^drop_${k} (\\d+)$`, 'm'));
      assert.ok(m, `--status lacks drop_${k}`);
      assert.ok(Number(m[1]) <= v, `drop_${k} went backwards`);
    }
    assert.match(r.stdout, /^drop_no_service [1-9]\d*$/m, 'the request to :81 is a no_service drop');
    // Gratuitous ARP for --addr at start, one when the service brought up the VIP, and both again
    // 1 s and 5 s after the start (since 2026-12-07; the VIP once it exists): 2 to 6 by now.
    const garp = Number(/^arp_gratuitous_sent (\d+)$/m.exec(r.stdout)?.[1]);
    assert.ok(garp >= 2 && garp <= 6, `arp_gratuitous_sent ${garp}`);
    // Wake-ups that delivered frames, taken from the port every 250 ms tick: some, and never more
    // than the frames they delivered.
    let c = (await lab.status()).counters;
    for (let i = 0; i < 20 && !(c['rx_wakes']! > 0); i++) {
      await new Promise((res) => setTimeout(res, 100));
      c = (await lab.status()).counters;
    }
    assert.ok(c['rx_wakes']! >= 1 && c['rx_wakes']! <= c['rx_frames']!, `rx_wakes ${c['rx_wakes']}, rx_frames ${c['rx_frames']}`);
  });
});

test('a real uvsd\'s control socket at its limits: 256 stalled connections make uvsadm say why (exit 3) and uvsd log it once; 70,000 nested brackets are refused at once; a misspelt argument is refused', { timeout: 120_000 }, async (t) => {
  await withDrLab(t, { servers: 1, startServers: false }, async (lab) => {
    const held: Socket[] = [];
    try {
      for (let i = 0; i < 256; i++) held.push(connect(lab.socketPath));
      await Promise.all(held.map((s) => new Promise((res) => s.once('connect', res))));
      for (let i = 0; i < 3; i++) {
        const r = await lab.uvsadm(['-Ln']);
        assert.deepEqual([r.code, r.stdout, r.stderr], [3, '', "uvsadm: Too many connections: 256 open (uvsd's limit)\n"]);
      }
      const warnings = lab.uvsd!.stdout().split('\n').filter((l) => l.includes('connection refused'));
      diagnosticLines(t, 'uvsd:', warnings.join('\n'));
      assert.equal(warnings.length, 1, 'one warning for three refusals within 10 s');
      assert.match(warnings[0]!, /"refused":1.*control socket: connection refused: Too many connections: 256 open/);
    } finally {
      for (const s of held) s.destroy();
    }
    await lab.uvsadmMust(['-Ln']);
    const raw = (line: string): Promise<{ error?: { detail?: string } }> => new Promise((resolve, reject) => {
      const s = connect(lab.socketPath);
      let buf = '';
      s.setEncoding('utf8');
      s.on('data', (c: string) => {
        buf += c;
        if (buf.includes('\n')) {
          s.destroy();
          resolve(JSON.parse(buf.slice(0, buf.indexOf('\n'))) as { error?: { detail?: string } });
        }
      });
      s.on('error', reject);
      s.write(line);
    });
    const t0 = Date.now();
    const deep = await raw('{"id":1,"verb":"list","args":{"a":' + '['.repeat(70_000) + ']'.repeat(70_000) + '}}\n');
    t.diagnostic(`70,000 levels answered in ${Date.now() - t0} ms (4.9 s of uvsd's CPU before)`);
    assert.match(deep.error!.detail!, /^not JSON: JSON nested deeper than 1000 levels/);
    const typo = await raw(`{"id":2,"verb":"addService","args":{"proto":"tcp","addr":"${VIP}","port":80,"sheduler":"rr"}}\n`);
    assert.match(typo.error!.detail!, /^unknown argument "sheduler" of addService/);
    assert.equal((await lab.list()).services.length, 0);
  });
});
