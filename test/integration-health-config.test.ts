// Health checks from uvsd's YAML config file in the DR lab: an HTTP check on both servers; a
// stopped server leaves the rotation (and -Ln) and comes back after a restart; then the file's
// check path is changed to one only rs1 answers (/only/rs1, see lab/servers.ts) and
// `uvsadm --reload` takes rs2 out while rs1, checked the new way, stays. --reload --dry-run lists
// the checker changes; --dump-config writes the new check. The checks run on the director
// namespace's own stack (lab hostAddr on br0); /metrics shows the failed server with uvs_dest_up 0. Needs root and network namespaces (skipped with
// the reason otherwise).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { delay } from './lab/netns.js';
import { diagnosticLines, getInDirector, withDrLab, withLab } from './lab/itest.js';
import { parseExposition } from './helpers/prom.js';
import { repoRoot, uvsdArgv, VIP, type DrLab } from './lab/dr-lab.js';

const METRICS = '127.0.0.1:9478'; // inside the director namespace

function config(rs: string[], path: string): string {
  return `daemon:
  drain-timeout: 0
services:
  - proto: tcp
    address: ${VIP}
    port: 80
    scheduler: rr
    health:
      delay-loop: 0.5
      connect-timeout: 1
      retry: 0
      checks:
        - type: http_get
          url: [{ path: ${path}, status-code: [200] }]
    servers:
${rs.map((a) => `      - { address: ${a}, weight: 1 }`).join('\n')}
`;
}

/** Poll the list verb until pred holds on "addr health" rows; bounded by limitMs. */
async function until(lab: DrLab, what: string, pred: (rows: string[]) => boolean, limitMs: number): Promise<number> {
  const t0 = Date.now();
  let last: string[] = [];
  while (Date.now() - t0 < limitMs) {
    const l = await lab.list();
    last = l.services.flatMap((s) => s.dests.map((d) => `${d.addr} ${d.health}`));
    if (pred(last)) return Date.now() - t0;
    await delay(50);
  }
  throw new Error(`${what}: not within ${limitMs} ms; table: ${JSON.stringify(last)}`);
}

test('health checks from the config file: a stopped server leaves the rotation; a reload changing the check path takes the other server out', { timeout: 60_000 }, async (t) => {
  await withDrLab(t, { servers: 2, hostAddr: '192.168.8.9/24', uvsd: false }, async (lab) => {
    const [s1, s2] = lab.servers;
    const [rs1, rs2] = [s1!.addr, s2!.addr];
    const file = join(lab.tmp, 'uvsd.yaml');
    writeFileSync(file, config([rs1, rs2], '/'));
    await lab.startUvsd(['--config', file, '--metrics', METRICS]);
    await until(lab, 'both checked and up', (r) => r.join() === `${rs1} up,${rs2} up`, 5000);
    const warm = await lab.http(10);
    assert.equal(warm.errors, 0, JSON.stringify(warm.errorSamples));
    assert.deepEqual(warm.counts, { rs1: 5, rs2: 5 });

    // rs1's HTTP process stops: it leaves the table (and -Ln), every request goes to rs2.
    await s1!.proc!.stop(2000);
    const outMs = await until(lab, 'rs1 out', (r) => r.join() === `${rs2} up`, 5000);
    t.diagnostic(`rs1 out of rotation ${outMs} ms after its HTTP process stopped`);
    const ln = await lab.uvsadmMust(['-Ln']);
    assert.doesNotMatch(ln, new RegExp(`${rs1.replace(/\./g, '\\.')}:80`));
    assert.match(await lab.uvsadmMust(['--status']), new RegExp(`^health TCP \\S+ ${rs1.replace(/\./g, '\\.')}:80 down weight 1 \\(HTTP_GET: /: ECONNREFUSED\\)$`, 'm'));
    const after = await lab.http(20);
    assert.equal(after.errors, 0, JSON.stringify(after.errorSamples));
    assert.deepEqual(after.counts, { rs2: 20 });
    await lab.startServer(s1!);
    await until(lab, 'rs1 back', (r) => r.length === 2 && r.every((x) => x.endsWith(' up')), 5000);

    // The check path changes to one only rs1 answers: a reload restarts both checkers, rs2 fails.
    writeFileSync(file, config([rs1, rs2], '/only/rs1'));
    const dry = await lab.uvsadmMust(['--reload', '--dry-run']);
    t.diagnostic(`--reload --dry-run:\n${dry}`);
    assert.equal(dry,
      `restart checks on server TCP ${VIP}:80 -> ${rs1}:80: HTTP_GET\n` +
      `restart checks on server TCP ${VIP}:80 -> ${rs2}:80: HTTP_GET\n`);
    assert.equal(await lab.uvsadmMust(['--reload']), '');
    const rs2Out = await until(lab, 'rs2 out after the reload', (r) => r.join() === `${rs1} up`, 5000);
    t.diagnostic(`rs2 out ${rs2Out} ms after the reload`);
    const ln2 = await lab.uvsadmMust(['-Ln']);
    diagnosticLines(t, '-Ln after the reload:', ln2);
    assert.match(ln2, new RegExp(`^  -> ${rs1.replace(/\./g, '\\.')}:80 +Route +1 `, 'm'));
    assert.doesNotMatch(ln2, new RegExp(`${rs2.replace(/\./g, '\\.')}:80`));
    assert.match(await lab.uvsadmMust(['--status']), new RegExp(`^health TCP \\S+ ${rs2.replace(/\./g, '\\.')}:80 down weight 1 \\(HTTP_GET: /only/rs1: HTTP status 404\\)$`, 'm'));
    // Prometheus sees the same health (uvs_dest_up reads the list verb's health).
    const ex = parseExposition(await getInDirector(lab, `http://${METRICS}/metrics`));
    const up = (addr: string) => ex.get('uvs_dest_up', { proto: 'tcp', service: `${VIP}:80`, server: `${addr}:80` });
    assert.deepEqual([up(rs1), up(rs2)], [1, 0]);
    assert.equal(ex.get('uvs_dest_health_checked', { server: `${rs1}:80` }), 1);
    const end = await lab.http(20);
    assert.equal(end.errors, 0, JSON.stringify(end.errorSamples));
    assert.deepEqual(end.counts, { rs1: 20 });
    // rs1 stays in through later checks (the new checker passes there), and the dump has the new path.
    await delay(1200);
    assert.equal((await lab.list()).services[0]!.dests.map((d) => `${d.addr} ${d.health}`).join(), `${rs1} up`);
    const dump = await lab.uvsadmMust(['--dump-config']);
    assert.match(dump, /path: \/only\/rs1/);
    assert.match(dump, new RegExp(`address: ${rs2.replace(/\./g, '\\.')}\\n`), 'the failed server is still in the dump');
  });
});

test('keepalived.conf is re-read on SIGHUP and uvsadm --reload: a changed check path takes a server out, a new weight applies, failed servers stay out', { timeout: 60_000 }, async (t) => {
  await withDrLab(t, { servers: 2, hostAddr: '192.168.8.9/24', uvsd: false }, async (lab) => {
    const [s1, s2] = lab.servers;
    const [rs1, rs2] = [s1!.addr, s2!.addr];
    const file = join(lab.tmp, 'keepalived.conf');
    const conf = (path: string, w1: number) => `virtual_server ${VIP} 80 {
    delay_loop 0.5
    lb_algo rr
    lb_kind DR
    protocol TCP
    real_server ${rs1} 80 {
        weight ${w1}
        HTTP_GET {
            url {
              path ${path}
            }
            connect_timeout 1
            retry 0
        }
    }
    real_server ${rs2} 80 {
        HTTP_GET {
            url {
              path ${path}
            }
            connect_timeout 1
            retry 0
        }
    }
}
`;
    writeFileSync(file, conf('/', 1));
    const uvsd = await lab.startUvsd(['--keepalived-conf', file]);
    await until(lab, 'imported and up', (r) => r.join() === `${rs1} up,${rs2} up`, 5000);
    writeFileSync(file, conf('/only/rs1', 3));
    uvsd.child.kill('SIGHUP');
    await uvsd.waitForLine(/configuration reloaded/, 5000);
    await until(lab, 'rs2 out after SIGHUP', (r) => r.join() === `${rs1} up`, 5000);
    assert.match(await lab.uvsadmMust(['-Ln']), new RegExp(`^  -> ${rs1.replace(/\./g, '\\.')}:80 +Route +3 `, 'm'));
    // A broken file is refused by --reload with file:line; the table stays.
    writeFileSync(file, conf('/only/rs1', 3).replace('protocol TCP', 'protocol SOMETIMES'));
    const bad = await lab.uvsadm(['--reload']);
    assert.equal(bad.code, 255);
    assert.equal(bad.stderr, `${file}:5: protocol: "SOMETIMES" is not TCP, UDP or SCTP\n`);
    // --reload with a weight change only: rs2, still failing its check, is not put back.
    writeFileSync(file, conf('/only/rs1', 2));
    assert.equal(await lab.uvsadmMust(['--reload', '--dry-run']), `re-weight server TCP ${VIP}:80 -> ${rs1}:80: weight 3 -> 2\n`);
    assert.equal(await lab.uvsadmMust(['--reload']), '');
    await delay(1200);
    assert.equal((await lab.list()).services[0]!.dests.map((d) => `${d.addr} ${d.weight} ${d.health}`).join(), `${rs1} 2 up`);
    const tally = await lab.http(10);
    assert.equal(tally.errors, 0, JSON.stringify(tally.errorSamples));
    assert.deepEqual(tally.counts, { rs1: 10 });
  });
});

test('a keepalived.conf server the table refuses at start: uvsd exits 1 with one line naming file:line and the change', { timeout: 30_000 }, async (t) => {
  await withLab(t, 'uvshcfg', async (lab, tmp) => {
    const ns = await lab.addNs('dir');
    const yaml = join(tmp, 'uvsd.yaml');
    const kconf = join(tmp, 'keepalived.conf');
    writeFileSync(yaml, `services:\n  - proto: tcp\n    address: ${VIP}\n    port: 80\n    servers: [{ address: 192.168.8.20 }]\n`);
    writeFileSync(kconf, `virtual_server ${VIP} 81 {\n  lb_kind NAT\n  real_server 172.16.0.9 8080 {\n    TCP_CHECK {\n    }\n  }\n  protocol TCP\n}\n`);
    const r = await lab.exec(ns, uvsdArgv(['--tap', 'uvs0', '--addr', '192.168.8.10/24', '--socket', join(tmp, 's.sock'),
      '--config', yaml, '--keepalived-conf', kconf]), { cwd: repoRoot, timeoutMs: 15_000 });
    t.diagnostic(`uvsd: ${r.code} ${r.stderr.trim()}`);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, `uvsd: --keepalived-conf: ${kconf}:3: add server TCP ${VIP}:81 -> 172.16.0.9:8080 weight 1: ` +
      'No route to the real server: 172.16.0.9 is outside every --addr network and uvsd has no --gateway\n');
    assert.doesNotMatch(r.stdout, /uvsd started/);
  });
});
