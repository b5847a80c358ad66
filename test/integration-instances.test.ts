// test-class: lab
// Two uvsd on one host, end to end in a network namespace (each on a TAP of its own): one
// --state-file is held by one uvsd at a time (a second is refused naming the first one's pid; a
// uvsd killed with SIGKILL leaves nothing that keeps the next one out); a --state-file that is a
// symbolic link stays one and the table is written 0600 at its target; a control socket whose
// uvsd is stopped (backlog full: EAGAIN) is not taken for stale; a uvsd stopping removes its
// socket file only while it is its own.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdirSync, readFileSync, statSync, symlinkSync, unlinkSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { repoRoot, uvsdArgv, uvsadmArgv } from './lab/dr-lab.js';
import { withLab } from './lab/itest.js';
import { delay, type Lab, type Proc, within } from './lab/netns.js';

const VIP = '192.168.8.200';

/** Connect to a unix socket until the connect fails; that error's code (the sockets kept open in `held`). */
async function fillBacklog(path: string, held: Socket[]): Promise<string | undefined> {
  for (let i = 0; i < 2048; i++) {
    const c = connect(path);
    held.push(c);
    const code = await new Promise<string | undefined>((resolve) => {
      c.once('connect', () => resolve(undefined));
      c.once('error', (e: NodeJS.ErrnoException) => resolve(e.code));
    });
    if (code !== undefined) return code;
  }
  return undefined;
}

test('two uvsd on one host: one --state-file is held by one uvsd (the second refused naming the first one\'s pid, exit 1; not after SIGKILL), written 0600 through its symbolic link; a stopped uvsd\'s socket (EAGAIN) is not replaced; a uvsd stopping leaves the socket another uvsd put at its path', { timeout: 120_000 }, async (t) => {
  await withLab(t, 'uvsinst', async (lab: Lab, tmp: string) => {
    const ns = await lab.addNs('dir');
    await lab.must(['ip', 'link', 'set', 'lo', 'up'], ns);
    const persist = join(tmp, 'persist');
    mkdirSync(persist);
    const real = join(persist, 'state.yaml');
    const link = join(tmp, 'state.yaml');
    symlinkSync(real, link); // an appliance's state file on persistent storage, not there yet
    const sockA = join(tmp, 'a.sock');
    const uvsd = (tap: string, sock: string, extra: string[] = []): Proc =>
      lab.spawn(ns, uvsdArgv(['--tap', tap, '--addr', '192.168.8.10/24', '--socket', sock, '--arp-probe-ms', '50', ...extra]), { cwd: repoRoot });
    const started = async (p: Proc): Promise<number> => (JSON.parse(await p.waitForLine(/"uvsd started"/, 15_000)) as { pid: number }).pid;
    const uvsadm = (sock: string, args: string[]): Promise<string> => lab.must(uvsadmArgv(['--socket', sock, ...args]), null);
    /** The stderr of a uvsd that must refuse to start (exit 1); one still running after 15 s is stopped. */
    const refused = async (p: Proc): Promise<string> => {
      const code = await within(p.exited, 15_000, null);
      if (code === null) await p.stop(3000);
      assert.equal(code, 1, `${p.stderr()}${p.stdout().slice(-1000)}`);
      return p.stderr();
    };

    const a = uvsd('uvs0', sockA, ['--state-file', link]);
    const pidA = await started(a);
    await a.waitForLine(/state file read and written where its path leads/, 5_000);
    await uvsadm(sockA, ['-A', '-t', `${VIP}:80`, '-s', 'rr']);
    for (let i = 0; i < 50 && !(existsSync(real) && readFileSync(real, 'utf8').includes(VIP)); i++) await delay(100);
    assert.ok(lstatSync(link).isSymbolicLink(), 'the link is kept');
    assert.ok(readFileSync(real, 'utf8').includes(`${VIP}`), 'the table is at the link\'s target');
    assert.equal((statSync(real).mode & 0o777).toString(8), '600');
    const saved = readFileSync(real, 'utf8');

    // The same state file by its own path: refused before anything is opened.
    const b = uvsd('uvs1', join(tmp, 'b.sock'), ['--state-file', real]);
    assert.equal(await refused(b), `uvsd: --state-file ${real} is in use by uvsd pid ${pidA} (it holds ${real}.lock)\n`);
    assert.equal(readFileSync(real, 'utf8'), saved, 'the first one\'s table is untouched');

    // The first uvsd stopped (SIGSTOP: or busy) with its listen backlog full: a uvsd started on
    // its socket refuses to start and leaves the socket alone.
    process.kill(pidA, 'SIGSTOP');
    const held: Socket[] = [];
    try {
      assert.equal(await fillBacklog(sockA, held), 'EAGAIN');
      const c = uvsd('uvs2', sockA);
      assert.equal(await refused(c), `uvsd: cannot listen on ${sockA}: another uvsd may be listening on ${sockA} (connect: EAGAIN)\n`);
    } finally {
      for (const s of held) s.destroy();
      process.kill(pidA, 'SIGCONT');
    }
    // The connections that filled its backlog are still queued until it has accepted (and closed)
    // them: until then a connect is refused EAGAIN, on a fast host too (a node start hid it).
    let listed = '';
    for (let i = 0; i < 40 && listed === ''; i++) listed = await uvsadm(sockA, ['-Ln']).catch(async () => (await delay(50), ''));
    assert.match(listed, new RegExp(`TCP  ${VIP.replaceAll('.', '\\.')}:80 rr`), 'the first uvsd answers on its socket');

    // Its socket file removed by hand and another uvsd listening there: stopping the first one
    // leaves the other's socket. The first one is held (SIGSTOP) until the other listens: it binds
    // a removed socket again within a second, and the other's start (node, the warm-ups, the probe)
    // can take longer on a loaded host (CI 2026-12-06: 'another uvsd is already listening').
    process.kill(pidA, 'SIGSTOP');
    let d: Proc;
    try {
      unlinkSync(sockA);
      d = uvsd('uvs2', sockA);
      await started(d);
    } finally {
      process.kill(pidA, 'SIGCONT');
    }
    assert.equal(await a.stop(3000), 0);
    assert.ok(existsSync(sockA), 'the other uvsd\'s socket is still there');
    assert.doesNotMatch(await uvsadm(sockA, ['-Ln']), /TCP/, 'and answers (its own, empty table)');
    assert.equal(await d.stop(3000), 0);
    assert.equal(existsSync(sockA), false, 'a uvsd removes its own socket');

    // The lock is the kernel's: a uvsd killed with SIGKILL keeps nobody out.
    const e = uvsd('uvs0', sockA, ['--state-file', link]);
    await started(e);
    assert.match(await uvsadm(sockA, ['-Ln']), new RegExp(`TCP  ${VIP.replaceAll('.', '\\.')}:80 rr`), 'restored');
    e.child.kill('SIGKILL');
    await e.exited;
    const f = uvsd('uvs0', sockA, ['--state-file', link]);
    await started(f);
    assert.equal(await f.stop(3000), 0);
  });
});
