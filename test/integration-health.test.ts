// Health checks against a real uvsd in the DR lab, configured from a keepalived.conf
// (uvsd --keepalived-conf): a server whose HTTP process stops leaves the rotation within
// delay_loop x retry + connect_timeout, 100 requests then all succeed on the other one, it comes
// back after a restart; inhibit_on_failure shows weight 0 in -Ln; the sorry server answers while
// all are down; quorum_down / quorum_up run, and omega runs quorum_down at shutdown. The checks run on the director namespace's own stack (lab hostAddr on br0).
// A DNS pool (UDP, DNS_CHECK) loses a resolver that stops and gets it back.
// Needs root and network namespaces (skipped with the reason otherwise, see lab/itest.ts).
import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { delay } from './lab/netns.js';
import { diagnosticLines, withDrLab } from './lab/itest.js';
import { labDir, VIP, type ClientTally, type DrLab } from './lab/dr-lab.js';

const DELAY_LOOP_S = 1;
const RETRY = 2;
const DELAY_BEFORE_RETRY_S = 0.3;
const CONNECT_TIMEOUT_S = 1;
/** The bound the issue asks for: out of rotation within delay_loop x retry + connect_timeout. */
const OUT_WITHIN_MS = (DELAY_LOOP_S * RETRY + CONNECT_TIMEOUT_S) * 1000;

function conf(rs1: string, rs2: string, sorry: string, qlog: string, maint: string): string {
  return `! uvs integration test
global_defs {
    router_id uvs_test
}
track_file maint_rs1 {
    file ${maint}
    weight 0
    init_file 0
}
virtual_server ${VIP} 80 {
    delay_loop ${DELAY_LOOP_S}
    lb_algo rr
    lb_kind DR
    protocol TCP
    sorry_server ${sorry} 80
    quorum_up "/bin/sh -c 'echo up >> ${qlog}'"
    quorum_down "/bin/sh -c 'echo down >> ${qlog}'"
    omega

    real_server ${rs1} 80 {
        weight 1
        HTTP_GET {
            url {
                path /
                status_code 200
            }
            connect_timeout ${CONNECT_TIMEOUT_S}
            retry ${RETRY}
            delay_before_retry ${DELAY_BEFORE_RETRY_S}
        }
        FILE_CHECK {
            track_file maint_rs1
        }
    }
    real_server ${rs2} 80 {
        weight 2
        inhibit_on_failure
        TCP_CHECK {
            connect_timeout ${CONNECT_TIMEOUT_S}
            retry ${RETRY}
            delay_before_retry ${DELAY_BEFORE_RETRY_S}
        }
        PING_CHECK {
            connect_timeout ${CONNECT_TIMEOUT_S}
        }
    }
}
`;
}

/** Real-server lines of -Ln as "addr:port weight". */
async function rsLines(lab: DrLab): Promise<string[]> {
  const ln = await lab.uvsadmMust(['-Ln']);
  return ln.split('\n').filter((l) => l.startsWith('  -> ') && !l.includes('RemoteAddress')).map((l) => {
    const f = l.trim().split(/\s+/);
    return `${f[1]} ${f[3]}`;
  });
}

/**
 * tally's counts are want's; where not, first the requests in order with their client ports, the
 * connection table and uvsd's health lines (a count off by one in CI, rs1 4 / rs2 6 of 10 after
 * rs1's restart, was not explained by what the failure showed).
 */
async function countsMust(t: TestContext, lab: DrLab, tally: ClientTally, want: Record<string, number>): Promise<void> {
  if (!isDeepStrictEqual(tally.counts, want)) {
    t.diagnostic(`requests (server@client port): ${tally.sequence.map((x, i) => `${x}@${tally.ports?.[i] ?? '?'}`).join(' ')}`);
    diagnosticLines(t, 'uvsadm -Lnc:', await lab.uvsadmMust(['-Lnc']));
    diagnosticLines(t, 'uvsd health lines:', lab.uvsd!.stdout().split('\n').filter((l) => l.includes('health')).join('\n'), 30);
  }
  assert.deepEqual(tally.counts, want);
}

/** Poll the control socket until pred holds; returns the elapsed ms. Bounded by limitMs. */
async function until(lab: DrLab, what: string, pred: (lines: string[]) => boolean, limitMs: number): Promise<number> {
  const t0 = Date.now();
  let last: string[] = [];
  while (Date.now() - t0 < limitMs) {
    const l = await lab.list();
    last = l.services.flatMap((s) => s.dests.map((d) => `${d.addr}:${d.port} ${d.weight}`));
    if (pred(last)) return Date.now() - t0;
    await delay(50);
  }
  throw new Error(`${what}: not within ${limitMs} ms; table: ${JSON.stringify(last)}`);
}

// Two labs at a time: the first test (~11 s of check rounds) beside the nofile one, then the DNS and
// fwmark pools (their bounds are delay_loop rounds, seconds). The BFD test (a 150 ms detection
// time) runs after them, alone.
describe('health checks from keepalived.conf in the lab: two labs at a time', { concurrency: 2 }, () => {
  test('health checks from keepalived.conf: out within delay_loop x retry + connect_timeout, back after restart, inhibit shows weight 0, sorry server when all down, quorum commands and omega', { timeout: 90_000 }, async (t) => {
    await withDrLab(t, { servers: 3, clients: 2, hostAddr: '192.168.8.9/24', uvsd: false }, async (lab) => {
      const [s1, s2, s3] = lab.servers;
      // From the inhibit step on, requests come from a second client: the first one's finished
      // connections to rs2 stay in the table in FIN_WAIT (DR sees only the client's half, 120 s)
      // and, as in IPVS with conn_reuse_mode 1, a SYN that reuses one of their ports goes to rs2
      // even at weight 0 (seen once in CI: 2 of 10 requests refused).
      const fresh = { ns: lab.ns.clients[1]! };
      const [rs1, rs2, sorry] = [s1!.addr, s2!.addr, s3!.addr];
      const file = join(lab.tmp, 'keepalived.conf');
      const qlog = join(lab.tmp, 'quorum.log');
      const maint = join(lab.tmp, 'maint-rs1');
      writeFileSync(file, conf(rs1, rs2, sorry, qlog, maint));
      await lab.startUvsd(['--keepalived-conf', file]);
      // The import is in the table before the socket answers; wait for it all the same.
      await until(lab, 'keepalived.conf imported', (l) => l.length === 2, 10_000);

      assert.deepEqual(await rsLines(lab), [`${rs1}:80 1`, `${rs2}:80 2`], 'imported from keepalived.conf');
      const l0 = await lab.list();
      assert.deepEqual(l0.services[0]!.dests.map((d) => d.health), ['up', 'up']);
      const warm = await lab.http(10);
      assert.equal(warm.errors, 0, JSON.stringify(warm.errorSamples));
      await countsMust(t, lab, warm, { rs1: 5, rs2: 5 });

      // rs1's HTTP process stops: out of rotation in time, then every request lands on rs2.
      await s1!.proc!.stop(2000);
      const outMs = await until(lab, 'rs1 removed', (l) => l.length === 1 && l[0] === `${rs2}:80 2`, OUT_WITHIN_MS + 2000);
      t.diagnostic(`rs1 out of rotation ${outMs} ms after its HTTP process stopped (bound ${OUT_WITHIN_MS} ms)`);
      assert.ok(outMs <= OUT_WITHIN_MS, `took ${outMs} ms, more than delay_loop x retry + connect_timeout = ${OUT_WITHIN_MS} ms`);
      const after = await lab.http(100);
      assert.equal(after.errors, 0, JSON.stringify(after.errorSamples));
      await countsMust(t, lab, after, { rs2: 100 });
      const st = await lab.uvsadmMust(['--status']);
      diagnosticLines(t, 'uvsadm --status (health lines):', st.split('\n').filter((x) => x.startsWith('health ')).join('\n'));
      assert.match(st, new RegExp(`^health TCP ${VIP.replace(/\./g, '\\.')}:80 ${rs1.replace(/\./g, '\\.')}:80 down weight 1 \\(HTTP_GET: /: ECONNREFUSED\\)$`, 'm'));
      assert.match(st, new RegExp(`^health TCP ${VIP.replace(/\./g, '\\.')}:80 ${rs2.replace(/\./g, '\\.')}:80 up weight 2 inhibit \\(start\\)$`, 'm'));

      // Restarted: back with its weight, and served again.
      await lab.startServer(s1!);
      const backMs = await until(lab, 'rs1 back', (l) => l.includes(`${rs1}:80 1`), 5000);
      t.diagnostic(`rs1 back ${backMs} ms after restart`);
      const back = await lab.http(10);
      assert.equal(back.errors, 0, JSON.stringify(back.errorSamples));
      await countsMust(t, lab, back, { rs1: 5, rs2: 5 });

      // Maintenance by FILE_CHECK (keepalived's track_file, created by init_file 0 at start): a
      // non-zero number takes rs1 out within a poll (1 s), 0 puts it back.
      assert.equal(readFileSync(maint, 'utf8'), '0\n', 'init_file wrote the file');
      writeFileSync(maint, '1\n');
      const maintMs = await until(lab, 'rs1 out for maintenance', (l) => l.length === 1 && l[0] === `${rs2}:80 2`, 3000);
      t.diagnostic(`rs1 out of rotation ${maintMs} ms after its maintenance file read 1`);
      assert.match(await lab.uvsadmMust(['--status']), new RegExp(`^health TCP \\S+ ${rs1.replace(/\./g, '\\.')}:80 down weight 1 \\(FILE_CHECK: track_file maint_rs1 reads 1\\)$`, 'm'));
      await countsMust(t, lab, await lab.http(6), { rs2: 6 });
      writeFileSync(maint, '0\n');
      await until(lab, 'rs1 back after maintenance', (l) => l.includes(`${rs1}:80 1`), 3000);

      // inhibit_on_failure: rs2 stays in -Ln with weight 0 and gets no new connections. Its host
      // still answers PING_CHECK: a server is alive only while all its checkers pass.
      await s2!.proc!.stop(2000);
      await until(lab, 'rs2 inhibited', (l) => l.includes(`${rs2}:80 0`), OUT_WITHIN_MS + 2000);
      const ln = await lab.uvsadmMust(['-Ln']);
      diagnosticLines(t, '-Ln with rs2 inhibited:', ln);
      assert.match(ln, new RegExp(`^  -> ${rs2.replace(/\./g, '\\.')}:80 +Route +0 +`, 'm'));
      assert.match(await lab.uvsadmMust(['--status']), new RegExp(`^health TCP \\S+ ${rs2.replace(/\./g, '\\.')}:80 down weight 2 inhibit \\(TCP_CHECK: connect ECONNREFUSED\\)$`, 'm'));
      assert.deepEqual((await lab.list()).services[0]!.dests.map((d) => `${d.addr} ${d.health}`).sort(), [`${rs1} up`, `${rs2} down`]);
      const inh = await lab.http(10, fresh);
      assert.equal(inh.errors, 0, JSON.stringify(inh.errorSamples));
      await countsMust(t, lab, inh, { rs1: 10 });

      // All down: the sorry server answers.
      await s1!.proc!.stop(2000);
      await until(lab, 'sorry server in', (l) => l.includes(`${sorry}:80 1`), OUT_WITHIN_MS + 2000);
      const sorryTally = await lab.http(10, fresh);
      assert.equal(sorryTally.errors, 0, JSON.stringify(sorryTally.errorSamples));
      await countsMust(t, lab, sorryTally, { rs3: 10 });

      // One back: the sorry server leaves.
      await lab.startServer(s1!);
      await until(lab, 'sorry server out', (l) => !l.some((x) => x.startsWith(`${sorry}:`)) && l.includes(`${rs1}:80 1`), 5000);
      const end = await lab.http(4, fresh);
      await countsMust(t, lab, end, { rs1: 4 });
      // Every state change was logged once by uvsd (not per check).
      const out = lab.uvsd!.stdout();
      const downs = out.split('\n').filter((x) => x.includes('health: real server down'));
      assert.equal(downs.length, 4, downs.join('\n'));
      // quorum_down ran when all were down, quorum_up when rs1 came back, and omega runs
      // quorum_down once more at shutdown.
      for (let i = 0; i < 40 && readFileSync(qlog, 'utf8') !== 'down\nup\n'; i++) await delay(50); // commands run asynchronously
      assert.equal(readFileSync(qlog, 'utf8'), 'down\nup\n');
      assert.equal(await lab.stopUvsd(), 0);
      assert.equal(readFileSync(qlog, 'utf8'), 'down\nup\ndown\n');
    });
  });

  test('uvsd out of file descriptors (nofile 128, 150 idle control connections): its health checks cannot run, no server is removed; one warning, one line when they run again, health_checks_not_run counts them', { timeout: 60_000 }, async (t) => {
    // Before: every check failed with "connect EMFILE" and took its server out (the explorer's 200
    // servers of 100 services all removed under nofile 128).
    await withDrLab(t, { servers: 2, hostAddr: '192.168.8.9/24', uvsd: false }, async (lab) => {
      const check = `        TCP_CHECK {\n            connect_timeout 1\n            retry 1\n        }\n`;
      const file = join(lab.tmp, 'keepalived.conf');
      writeFileSync(file, `virtual_server ${VIP} 80 {\n    delay_loop 1\n    lb_algo rr\n    lb_kind DR\n    protocol TCP\n` +
        lab.servers.map((s) => `    real_server ${s.addr} 80 {\n        weight 1\n${check.repeat(10)}    }\n`).join('') + '}\n');
      await lab.startUvsd({ wrap: ['prlimit', '--nofile=128'], extraArgs: ['--keepalived-conf', file] });
      const both = lab.servers.map((s) => `${s.addr}:80 1`);
      await until(lab, 'both servers in', (l) => l.length === 2, 10_000);
      const msgs = () => lab.uvsd!.stdout().split('\n').filter((l) => l.startsWith('{')).map((l) => (JSON.parse(l) as { msg: string }).msg);
      assert.ok(msgs().includes('the file descriptor limit (nofile) is 128, below 1024: health checks and control and metrics clients may run out of descriptors'));
      const hold = () => connect(lab.socketPath).on('error', () => {});
      const held = Array.from({ length: 150 }, hold);
      try {
        // Two rounds of 20 checks at least. More connections every 25 ms: a descriptor uvsd gets
        // back (a check's socket in flight when the first ones took the rest; libuv closes what
        // waits to be accepted once accept() fails) is taken again, so uvsd stays out of them
        // (once in CI, without this, 1 check could not run instead of 20 or more).
        for (let i = 0; i < 100; i++) {
          await delay(25);
          for (let k = 0; k < 4; k++) held.push(hold());
        }
      } finally {
        for (const s of held) s.destroy();
      }
      // The quiet time (3 s) and a round that runs: the "run again" line, asked for every 200 ms.
      const again = (m: string) => /^health: checks run again \(\d+ could not run over [\d.]+ s\)$/.test(m);
      for (let i = 0; i < 50 && !msgs().some(again); i++) await delay(200);
      await delay(1000); // a further round: no second line, no server changed
      const lines = msgs();
      assert.deepEqual(lines.filter((m) => m.startsWith('health: real server')), [], 'no server changed state');
      assert.equal(lines.filter((m) => m.startsWith('health: checks cannot run (TCP_CHECK: connect EMFILE)')).length, 1, lines.filter((m) => m.startsWith('health:')).join('\n'));
      assert.equal(lines.filter(again).length, 1, lines.filter((m) => m.startsWith('health:')).join('\n'));
      const notRun = Number(/^health_checks_not_run (\d+)$/m.exec(await lab.uvsadmMust(['--status']))?.[1]);
      t.diagnostic(`${notRun} checks could not run`);
      assert.ok(notRun >= 20, String(notRun));
      assert.deepEqual((await lab.list()).services.flatMap((s) => s.dests.map((d) => `${d.addr}:${d.port} ${d.weight}`)).sort(), both.sort());
    });
  });

  test('a DNS pool from keepalived.conf: DNS_CHECK takes a resolver that stops out of the UDP service, queries through the VIP are all answered by the other, it comes back after a restart', { timeout: 60_000 }, async (t) => {
    await withDrLab(t, { servers: 2, hostAddr: '192.168.8.9/24', uvsd: false }, async (lab) => {
      const [s1, s2] = lab.servers;
      const rs = (s: typeof s1) => `    real_server ${s!.addr} 53 {
          DNS_CHECK {
              type TXT
              name pool.example
              connect_timeout ${CONNECT_TIMEOUT_S}
              retry ${RETRY}
              delay_before_retry ${DELAY_BEFORE_RETRY_S}
          }
      }`;
      const file = join(lab.tmp, 'keepalived.conf');
      writeFileSync(file, `virtual_server ${VIP} 53 {
      delay_loop ${DELAY_LOOP_S}
      lb_algo rr
      lb_kind DR
      protocol UDP
  ${rs(s1)}
  ${rs(s2)}
  }
  `);
      await lab.startUvsd(['--keepalived-conf', file]);
      await until(lab, 'keepalived.conf imported', (l) => l.length === 2, 10_000);
      // Each run's queries from ports no earlier run used: such a port would still have its
      // connection (UDP, 300 s) and go where that one went.
      const dns = async (n: number) => {
        const r = await lab.client(['--dns', `${VIP}:53`, '--count', String(n), '--sport', String(lab.freshPorts(n)), '--timeout', '1000'], { timeoutMs: 30_000 });
        assert.equal(r.code, 0, `client: ${r.stderr}`);
        return JSON.parse(r.stdout.trim().split('\n').pop()!) as { counts: Record<string, number>; errors: number; errorSamples: string[] };
      };
      const both = await dns(10);
      assert.equal(both.errors, 0, JSON.stringify(both.errorSamples));
      assert.deepEqual(both.counts, { rs1: 5, rs2: 5 }, `rr over both resolvers: ${JSON.stringify(both.counts)}`);

      // rs1's resolver stops: its DNS_CHECK gets port unreachable, it leaves within the bound.
      await s1!.proc!.stop(2000);
      const outMs = await until(lab, 'rs1 removed', (l) => l.length === 1 && l[0] === `${s2!.addr}:53 1`, OUT_WITHIN_MS + 2000);
      t.diagnostic(`rs1 out of the DNS pool ${outMs} ms after its resolver stopped (bound ${OUT_WITHIN_MS} ms)`);
      assert.ok(outMs <= OUT_WITHIN_MS, `took ${outMs} ms, more than delay_loop x retry + connect_timeout = ${OUT_WITHIN_MS} ms`);
      assert.match(await lab.uvsadmMust(['--status']),
        new RegExp(`^health UDP ${VIP.replace(/\./g, '\\.')}:53 ${s1!.addr.replace(/\./g, '\\.')}:53 down weight 1 \\(DNS_CHECK: udp ECONNREFUSED\\)$`, 'm'));
      const one = await dns(10);
      assert.equal(one.errors, 0, JSON.stringify(one.errorSamples));
      assert.deepEqual(one.counts, { rs2: 10 });

      // Back after a restart.
      await lab.startServer(s1!);
      const backMs = await until(lab, 'rs1 back', (l) => l.includes(`${s1!.addr}:53 1`), 5000);
      t.diagnostic(`rs1 back ${backMs} ms after restart`);
      const again = await dns(10);
      assert.equal(again.errors, 0, JSON.stringify(again.errorSamples));
      assert.deepEqual(again.counts, { rs1: 5, rs2: 5 });
    });
  });

  test('a firewall-mark pool from keepalived.conf (virtual_server fwmark 1) with its marks in --config: ports 80 and 8080 of a client on one checked server; a stopped server leaves and its clients move', { timeout: 60_000 }, async (t) => {
    await withDrLab(t, { servers: 2, hostAddr: '192.168.8.9/24', uvsd: false }, async (lab) => {
      const [s1, s2] = lab.servers;
      const rs = (s: typeof s1) => `    real_server ${s!.addr} 80 {
          TCP_CHECK {
              connect_timeout ${CONNECT_TIMEOUT_S}
              retry ${RETRY}
              delay_before_retry ${DELAY_BEFORE_RETRY_S}
          }
      }`;
      const kconf = join(lab.tmp, 'keepalived.conf');
      writeFileSync(kconf, `virtual_server fwmark 1 {
      delay_loop ${DELAY_LOOP_S}
      lb_algo rr
      lb_kind DR
      persistence_timeout 60
  ${rs(s1)}
  ${rs(s2)}
  }
  `);
      // The marks were iptables rules on an LVS director: here they are uvsd's, in its config file.
      const yconf = join(lab.tmp, 'uvsd.yaml');
      writeFileSync(yconf, `marks:\n  - { fwmark: 1, proto: tcp, address: ${VIP}, ports: 80 }\n  - { fwmark: 1, proto: tcp, address: ${VIP}, ports: 8080 }\nservices: []\n`);
      await lab.startUvsd(['--config', yconf, '--keepalived-conf', kconf]);
      await until(lab, 'keepalived.conf imported', (l) => l.length === 2, 10_000);
      assert.match(await lab.uvsadmMust(['-Ln']), /\nFWM  1 rr persistent 60\n/);
      const web = await lab.http(10);
      const alt = await lab.http(10, { target: `${VIP}:8080` });
      t.diagnostic(`:80 ${JSON.stringify(web.counts)}, :8080 ${JSON.stringify(alt.counts)}`);
      for (const x of [web, alt]) assert.equal(x.errors, 0, x.errorSamples.join('; '));
      const name = Object.keys(web.counts);
      assert.equal(name.length, 1, 'one server for the client');
      assert.deepEqual(alt.counts, { [name[0]!]: 10 });
      // That server's process stops (both its ports): TCP_CHECK takes it out; the client's next
      // connections, on either port, go to the other one (its template named a deleted server).
      const gone = lab.servers.find((s) => s.name === name[0])!;
      const other = lab.servers.find((s) => s !== gone)!;
      await gone.proc!.stop(2000);
      // DR servers of a -f service are at port 0 (keepalived clears the port; checked at 80).
      const outMs = await until(lab, `${gone.name} removed`, (l) => l.length === 1 && l[0] === `${other.addr}:0 1`, OUT_WITHIN_MS + 2000);
      t.diagnostic(`${gone.name} out of the fwmark pool ${outMs} ms after it stopped (bound ${OUT_WITHIN_MS} ms)`);
      assert.match(await lab.uvsadmMust(['--status']), new RegExp(`^health FWM 1 ${gone.addr.replace(/\./g, '\\.')}:0 down `, 'm'));
      const moved = await lab.http(10, { target: `${VIP}:8080` });
      assert.equal(moved.errors, 0, moved.errorSamples.join('; '));
      assert.deepEqual(moved.counts, { [other.name]: 10 });
    });
  });
});

test('BFD_CHECK from keepalived.conf: a server whose BFD peer stops leaves within the detection time (3 x 50 ms), the other keeps every request; back once its peer runs again', { timeout: 60_000 }, async (t) => {
  await withDrLab(t, { servers: 2, hostAddr: '192.168.8.9/24', uvsd: false }, async (lab) => {
    const [s1, s2] = lab.servers;
    const peer = (s: typeof s1) => lab.lab.spawn(s!.ns, [process.execPath, join(labDir, 'bfd-peer.js'), '--neighbor', '192.168.8.9', '--source', s!.addr]);
    const peers = [peer(s1), peer(s2)];
    for (const p of peers) await p.waitForLine(/^ready$/);
    const inst = (i: number, s: typeof s1) => `bfd_instance rs${i} {
    neighbor_ip ${s!.addr}
    source_ip 192.168.8.9
    min_rx 50
    min_tx 50
    multiplier 3
}`;
    const rs = (i: number, s: typeof s1) => `    real_server ${s!.addr} 80 {
        BFD_CHECK {
            name rs${i}
        }
    }`;
    const file = join(lab.tmp, 'keepalived.conf');
    writeFileSync(file, `${inst(1, s1)}
${inst(2, s2)}
virtual_server ${VIP} 80 {
    lb_algo rr
    lb_kind DR
    protocol TCP
${rs(1, s1)}
${rs(2, s2)}
}
`);
    await lab.startUvsd(['--keepalived-conf', file]);
    await until(lab, 'keepalived.conf imported', (l) => l.length === 2, 10_000);
    for (const p of peers) await p.waitForLine(/^state Up$/, 10_000);
    assert.match(await lab.uvsadmMust(['--status']), new RegExp(`^health TCP ${VIP.replace(/\./g, '\\.')}:80 ${s1!.addr.replace(/\./g, '\\.')}:80 up weight 1 `, 'm'));
    const both = await lab.http(10);
    assert.deepEqual(both.counts, { rs1: 5, rs2: 5 });

    // rs1's BFD peer stops: uvsd's session misses 3 packets (150 ms) and the server leaves.
    await peers[0]!.stop(2000);
    const outMs = await until(lab, 'rs1 removed', (l) => l.length === 1 && l[0] === `${s2!.addr}:80 1`, 5000);
    t.diagnostic(`rs1 out ${outMs} ms after its BFD peer stopped (detection time 150 ms, check every 100 ms, table polled every 50 ms)`);
    assert.ok(outMs < 1000, `took ${outMs} ms`);
    assert.match(await lab.uvsadmMust(['--status']), /BFD_CHECK: BFD rs1 \([\d.]+\): Down \(control detection time expired\)/);
    const one = await lab.http(10);
    assert.equal(one.errors, 0, one.errorSamples.join('; '));
    assert.deepEqual(one.counts, { rs2: 10 });

    // Its peer runs again: the session comes Up (slow start, about a second) and the server is back.
    peers[0] = peer(s1);
    const backMs = await until(lab, 'rs1 back', (l) => l.includes(`${s1!.addr}:80 1`), 10_000);
    t.diagnostic(`rs1 back ${backMs} ms after its peer restarted`);
    assert.deepEqual((await lab.http(10)).counts, { rs1: 5, rs2: 5 });
  });
});
