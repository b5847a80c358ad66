// test-class: lab
// The FTP helper end to end (uvsd --ftp-ports 21): a NAT service on port 21 over two real servers
// running the lab's tiny FTP server (test/lab/ftpd.ts; none is installed here), Python's ftplib
// and curl as clients in the client namespace. Passive (PASV, the 227 reply's address trusted,
// so the rewrite is what makes it work; curl's EPSV) and active (PORT) transfers: every file
// arrives whole and from the server its control connection went to, though rr alternates.
// With --workers 2: the service without -p is warned about; with -p the transfers work.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { logLines, uvsadmCall, waitLog, withDrLab } from './lab/itest.js';
import { nodeArgv, repoRoot, VIP, type DrLab } from './lab/dr-lab.js';
import { labPattern } from './lab/pattern.js';

const OPTS = { timeout: 120_000 };
const BYTES = 300_000;

/** Four ftplib sessions to VIP:21, each fetching RETR BYTES passively and actively; one JSON line each. */
const FTPLIB = `
import ftplib, hashlib, json, sys
for i in range(4):
    f = ftplib.FTP()
    f.trust_server_pasv_ipv4_address = True  # connect where the 227 reply says: the VIP only if rewritten
    greeting = f.connect(sys.argv[1], 21, timeout=10)
    f.login('u', 'p')
    out = {'greeting': greeting}
    for mode in ('passive', 'active'):
        f.set_pasv(mode == 'passive')
        chunks = []
        f.retrbinary('RETR ${BYTES}', chunks.append)
        data = b''.join(chunks)
        name, _, body = data.partition(b'\\n')
        out[mode] = {'server': name.decode(), 'bytes': len(body), 'sha256': hashlib.sha256(body).hexdigest()}
    f.quit()
    print(json.dumps(out), flush=True)
`;

async function ftpService(lab: DrLab): Promise<void> {
  for (const s of lab.servers) {
    const p = lab.lab.spawn(s.ns, nodeArgv(join(repoRoot, 'dist/test/lab/ftpd.js'), ['--name', s.name, '--bind', s.addr]), { cwd: repoRoot });
    await p.waitForLine(/^ready /, 10_000);
  }
  await uvsadmCall(lab, ['-A', '-t', `${VIP}:21`, '-s', 'rr']);
  for (const s of lab.servers) await uvsadmCall(lab, ['-a', '-t', `${VIP}:21`, '-r', `${s.addr}:21`, '-m', '-w', '1']);
}

/**
 * Run FTPLIB in the client namespace: every session's passive and active file whole and from
 * its control connection's server; the servers that greeted the four sessions.
 */
async function ftplibWhole(t: { diagnostic(s: string): void }, lab: DrLab): Promise<string[]> {
  const expected = createHash('sha256').update(labPattern(0, BYTES)).digest('hex');
  const r = await lab.lab.exec(lab.ns.cli, ['python3', '-c', FTPLIB, VIP], { timeoutMs: 60_000 });
  t.diagnostic(`ftplib: ${r.stdout.trim()} ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`);
  assert.equal(r.code, 0, r.stderr);
  const sessions = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, { server: string; bytes: number; sha256: string }> & { greeting: string });
  assert.equal(sessions.length, 4);
  const greeted = sessions.map((s) => /220 (rs\d)/.exec(s.greeting)![1]!);
  sessions.forEach((s, i) => {
    for (const mode of ['passive', 'active']) {
      assert.deepEqual(s[mode], { server: greeted[i], bytes: BYTES, sha256: expected }, `session ${i + 1} ${mode}`);
    }
  });
  return greeted;
}

test('FTP through NAT (--ftp-ports 21): ftplib passive (227 rewritten) and active (PORT), curl EPSV: whole files from the control connection\'s server', OPTS, async (t) => {
  await withDrLab(t, { servers: 2, mode: 'nat', uvsd: { extraArgs: ['--ftp-ports', '21'] } }, async (lab) => {
    await ftpService(lab);
    assert.deepEqual(await ftplibWhole(t, lab), ['rs1', 'rs2', 'rs1', 'rs2'], 'rr alternates the control connections');
    // curl asks EPSV first (229: only a port, the data connection to the VIP).
    const c = await lab.lab.exec(lab.ns.cli, ['curl', '-sS', '--max-time', '20', '-u', 'u:p', `ftp://${VIP}/${BYTES}`], { timeoutMs: 30_000 });
    assert.equal(c.code, 0, c.stderr);
    assert.match(c.stdout.slice(0, 4), /^rs[12]\n/);
    const st = await lab.status();
    t.diagnostic(`ftp_passive ${st.counters['ftp_passive']} ftp_active ${st.counters['ftp_active']} drops ${JSON.stringify(st.drops)}`);
    assert.equal(st.counters['ftp_passive'], 5, 'four 227 replies and one 229');
    assert.equal(st.counters['ftp_active'], 4, 'four PORT commands');
  });
});

test('FTP with --workers 2: the NAT service of port 21 without -p is warned about once by name and listed by --status (not refused); made persistent, the line goes and ftplib\'s passive and active transfers are whole', OPTS, async (t) => {
  await withDrLab(t, { servers: 2, mode: 'nat', uvsd: { extraArgs: ['--ftp-ports', '21', '--workers', '2'] } }, async (lab) => {
    await ftpService(lab);
    const warned = /^FTP service TCP [\d.]+:21 is not persistent with --workers 2: .*make it persistent \(-p\)/;
    const [line] = await waitLog(lab, warned);
    assert.equal((JSON.parse(line!) as { level: number }).level, 40, 'a warning');
    assert.match((await lab.uvsadmMust(['--status'])), new RegExp(`^ftp_not_persistent TCP ${VIP.replaceAll('.', '\\.')}:21$`, 'm'));
    await uvsadmCall(lab, ['-E', '-t', `${VIP}:21`, '-s', 'rr', '-p', '300']);
    assert.doesNotMatch(await lab.uvsadmMust(['--status']), /^ftp_not_persistent/m);
    await ftplibWhole(t, lab);
    assert.equal(logLines(lab, warned).length, 1, 'said once');
  });
});
