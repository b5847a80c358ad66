// test-class: lab
// uvsd --config in the DR lab: a long-lived TCP connection keeps working across `uvsadm --reload`
// of a changed file; --reload --dry-run prints the changes and changes nothing; a broken file is
// refused with file:line and the table is unchanged; 1,000 malformed requests on the control
// socket leave uvsd serving; a changed start-only daemon setting is reported and ignored, a bad
// daemon value refuses the whole reload. Needs root and network namespaces (skipped with the reason otherwise).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, openSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { waitLog, withDrLab } from './lab/itest.js';
import { VIP } from './lab/dr-lab.js';

function config(rs: string[], weights: number[], extra = ''): string {
  return `daemon:
  drain-timeout: 0
services:
  - proto: tcp
    address: ${VIP}
    port: 80
    scheduler: rr
    servers:
${rs.map((a, i) => `      - { address: ${a}, weight: ${weights[i]} }`).join('\n')}
${extra}`;
}

test('--config: reload keeps a long-lived connection; dry run; a broken file is refused with file:line; SIGHUP; daemon.vrrp-fifo added and dropped by reloads; a start-only setting reported and ignored, a bad one refused; 1,000 malformed requests', { timeout: 120_000 }, async (t) => {
  await withDrLab(t, { servers: 2, uvsd: false }, async (lab) => {
    const rs = lab.servers.map((s) => s.addr);
    const file = join(lab.tmp, 'uvsd.yaml');
    writeFileSync(file, config(rs, [1, 1]));
    await lab.startUvsd(['--config', file]);
    const held = await lab.hold();
    try {
      assert.ok(held.first.server, `no answer on the held connection: ${held.first.error}`);
      const ln0 = await lab.uvsadmMust(['-Ln']);
      assert.match(ln0, new RegExp(`TCP  ${VIP.replace(/\./g, '\\.')}:80 rr\n`));
      const heldIdx = lab.servers.findIndex((s) => s.name === held.first.server);
      const weights = [1, 1];
      weights[1 - heldIdx] = 4; // re-weight the other server only
      const udp = `  - proto: udp\n    address: ${VIP}\n    port: 53\n    scheduler: rr\n    servers:\n      - address: ${rs[0]}\n`;
      writeFileSync(file, config(rs, weights, udp));

      const dry = await lab.uvsadmMust(['--reload', '--dry-run']);
      t.diagnostic(`--reload --dry-run:\n${dry}`);
      assert.equal(dry,
        `re-weight server TCP ${VIP}:80 -> ${rs[1 - heldIdx]}:80: weight 1 -> 4\n` +
        `add service UDP ${VIP}:53 (rr)\n` +
        `add server UDP ${VIP}:53 -> ${rs[0]}:53 weight 1\n`);
      assert.equal(await lab.uvsadmMust(['-Ln']), ln0, 'dry run changed the table');

      assert.equal(await lab.uvsadmMust(['--reload']), '');
      // Logged as a SIGHUP reload is, with what changed (the dry run is not logged).
      const logged = await lab.uvsd!.waitForLine(/"via":"uvsadm --reload".*configuration reloaded/, 5000);
      assert.match(logged, /"changes":\["re-weight server TCP .*weight 1 -> 4","add service UDP/);
      assert.equal(lab.uvsd!.stdout().match(/configuration reloaded/g)?.length, 1, 'one reload logged: the dry run is not');
      const ln1 = await lab.uvsadmMust(['-Ln']);
      assert.match(ln1, new RegExp(`\n  -> ${rs[1 - heldIdx]!.replace(/\./g, '\\.')}:80 +Route +4 `));
      assert.match(ln1, /\nUDP  /);
      const again = await held.again();
      assert.equal(again.server, held.first.server, `held connection after reload: ${JSON.stringify(again)}`);

      // A broken file: refused with file:line, nothing changes, the held connection still works.
      writeFileSync(file, config(rs, [1, 1]).replace('weight: 1 }', 'weight: -3 }'));
      const bad = await lab.uvsadm(['--reload']);
      t.diagnostic(`broken reload: ${bad.code} ${bad.stderr.trim()}`);
      assert.equal(bad.code, 255);
      assert.equal(bad.stderr, `${file}:9: services[0].servers[0].weight: must be an integer 0..2147483647, got -3\n`);
      await lab.uvsd!.waitForLine(/"via":"uvsadm --reload".*uvsd\.yaml:9: services\[0\]\.servers\[0\]\.weight.*configuration reload refused/, 5000);
      assert.equal(await lab.uvsadmMust(['-Ln']), ln1);
      assert.equal((await held.again()).server, held.first.server);
    } finally {
      await held.close();
    }

    // SIGHUP re-reads the file: a broken one is refused (logged), a good one applied.
    const uvsd = lab.uvsd!;
    writeFileSync(file, config(rs, [1, 1]).replace('weight: 1 }', 'weight: -3 }'));
    uvsd.child.kill('SIGHUP');
    await uvsd.waitForLine(/"via":"SIGHUP".*uvsd\.yaml:9: services\[0\]\.servers\[0\]\.weight.*configuration reload refused/, 5000);
    writeFileSync(file, config(rs, [2, 5]));
    uvsd.child.kill('SIGHUP');
    await uvsd.waitForLine(/"via":"SIGHUP".*configuration reloaded/, 5000);
    const ln2 = await lab.uvsadmMust(['-Ln']);
    assert.match(ln2, new RegExp(`\n  -> ${rs[1]!.replace(/\./g, '\\.')}:80 +Route +5 `), ln2);
    assert.doesNotMatch(ln2, /\nUDP  /, 'the UDP service left the file, so it left the table');

    // keepalived's notify FIFO added by a reload (daemon.vrrp-fifo): made 0600 and read at once,
    // its lines set the role; a later reload without it stops reading it.
    const fifo = join(lab.tmp, 'vrrp.fifo');
    const withFifo = config(rs, [2, 5]).replace('  drain-timeout: 0\n', `  drain-timeout: 0\n  vrrp-fifo: ${fifo}\n`);
    writeFileSync(file, withFifo);
    assert.equal(await lab.uvsadmMust(['--reload', '--dry-run']), `set vrrp-fifo (none) -> ${fifo}\n`);
    assert.equal(await lab.uvsadmMust(['--reload']), '');
    const st = statSync(fifo);
    assert.ok(st.isFIFO() && (st.mode & 0o777) === 0o600, `a FIFO, mode 0600: ${st.mode.toString(8)}`);
    const roleAfter = async (line: string, want: string): Promise<string> => {
      const fd = openSync(fifo, 'w'); // uvsd holds it open for reading: no wait
      writeSync(fd, `${line}\n`);
      closeSync(fd);
      let text = '';
      for (let i = 0; i < 50 && !new RegExp(`^role ${want}$`, 'm').test(text); i++) {
        await new Promise((r) => setTimeout(r, 50));
        text = await lab.uvsadmMust(['--status']);
      }
      return text;
    };
    assert.match(await roleAfter('INSTANCE "VI_1" BACKUP 100', 'backup'), new RegExp(`^role backup$[^]*^vrrp_fifo ${fifo} events 1 ignored 0`, 'm'));
    assert.match(await roleAfter('INSTANCE "VI_1" MASTER 100', 'master'), /^role master$/m);
    writeFileSync(file, config(rs, [2, 5]));
    assert.equal(await lab.uvsadmMust(['--reload']), '');
    assert.doesNotMatch(await lab.uvsadmMust(['--status']), /^vrrp_fifo /m, 'the FIFO is no longer read');

    // Daemon settings on reload: a start-only one that changed is reported (uvsadm's stderr, the
    // dry run, uvsd's log) and ignored while the rest applies; a bad value refuses the whole reload.
    const startOnly = config(rs, [3, 5]).replace('  drain-timeout: 0\n', '  drain-timeout: 7\n');
    writeFileSync(file, startOnly);
    const ignoredLine = 'ignored daemon.drain-timeout 0 -> 7: read at start only (restart uvsd to change it)';
    const dryIgnored = await lab.uvsadm(['--reload', '--dry-run']);
    assert.equal(dryIgnored.code, 0, dryIgnored.stderr);
    assert.match(dryIgnored.stdout, /weight 2 -> 3\n/);
    assert.doesNotMatch(dryIgnored.stdout, /ignored/, 'the ignored setting is said on stderr only');
    assert.equal(dryIgnored.stderr, `uvsadm: ${ignoredLine}\n`);
    const withIgnored = await lab.uvsadm(['--reload']);
    assert.equal(withIgnored.code, 0, withIgnored.stderr);
    assert.equal(withIgnored.stderr, `uvsadm: ${ignoredLine}\n`);
    await uvsd.waitForLine(new RegExp(`"level":40.*${ignoredLine.replace(/[()]/g, '\\$&')}`), 5000);
    await uvsd.waitForLine(/"via":"uvsadm --reload".*"ignored":\["ignored daemon\.drain-timeout 0 -> 7.*configuration reloaded/, 5000);
    assert.match(await lab.uvsadmMust(['-Ln']), new RegExp(`\n  -> ${rs[0]!.replace(/\./g, '\\.')}:80 +Route +3 `), 'the rest of the reload applied');
    const ln3 = await lab.uvsadmMust(['-Ln']);
    writeFileSync(file, startOnly.replace('  drain-timeout: 7\n', '  drain-timeout: 7\n  evict-above: 7\n').replace('weight: 3 }', 'weight: 9 }'));
    const badDaemon = await lab.uvsadm(['--reload']);
    assert.equal(badDaemon.code, 255);
    assert.equal(badDaemon.stderr, `${file}:3: daemon.evict-above: must be a fraction 0..1, got 7\n`);
    assert.equal(await lab.uvsadmMust(['-Ln']), ln3, 'a refused reload changes nothing');

    // 1,000 malformed requests on one connection: each answered with an error, uvsd keeps serving.
    const replies = await new Promise<number>((resolve, reject) => {
      const s = connect(lab.socketPath);
      let buf = '';
      let n = 0;
      const timer = setTimeout(() => reject(new Error(`only ${n} replies`)), 15_000);
      s.setEncoding('utf8');
      s.on('data', (c: string) => {
        buf += c;
        let i: number;
        while ((i = buf.indexOf('\n')) >= 0) {
          const reply = JSON.parse(buf.slice(0, i)) as { ok: boolean };
          buf = buf.slice(i + 1);
          if (reply.ok) reject(new Error('a malformed request succeeded'));
          if (++n === 1000) {
            clearTimeout(timer);
            s.destroy();
            resolve(n);
          }
        }
      });
      s.on('error', reject);
      const junk = ['{', 'null', '{"verb":7}', '{"id":1,"verb":"addService","args":{"port":"x"}}', '\u0000\u0001', '{"id":[],"verb":"batch","args":{"items":[{"verb":"clear"},0]}}'];
      s.write(Array.from({ length: 1000 }, (_v, i) => junk[i % junk.length]).join('\n') + '\n');
    });
    assert.equal(replies, 1000);
    assert.ok(lab.uvsdAlive());
    assert.match(await lab.uvsadmMust(['-Ln']), /\n  -> .* +Route +5 /, 'the batch with a bad item cleared nothing');
    const http = await lab.http(4);
    assert.equal(http.errors, 0, JSON.stringify(http.errorSamples));
  });
});

test('every request that changes the table is one info line once applied ("table changed: VERB", component control, with its arguments and who sent it: pid, uid, command line; uvsadm -R one batch line); reads and refused requests none; the start line names the version and pid and how long the start took (startMs)', { timeout: 60_000 }, async (t) => {
  await withDrLab(t, { servers: 1 }, async (lab) => {
    const changes = (): Array<Record<string, unknown>> => lab.uvsd!.stdout().split('\n').filter((l) => l.includes('"component":"control"'))
      .map((l) => JSON.parse(l) as Record<string, unknown>).filter((o) => /^table changed: /.test(o.msg as string));
    // Logged once everything is up, which may be just after the control socket answers.
    const started = JSON.parse((await waitLog(lab, /^uvsd started$/))[0]!) as { version: string; pid: number; startMs: number; services: number; role: string; config?: string };
    assert.match(started.version, /^\d+\.\d+\.\d+/);
    assert.equal(started.pid, lab.uvsd!.child.pid);
    // What it started with (since 2026-12-07): the table's size and the role; no --config here.
    assert.deepEqual([started.services, started.role, started.config], [0, 'master', undefined]);
    // The start's own length: node's start to this line (the control socket answers by then), within the lab's wait for it.
    assert.ok(Number.isInteger(started.startMs) && started.startMs > 0 && started.startMs < 15_000, `startMs ${started.startMs}`);
    t.diagnostic(`uvsd started in ${started.startMs} ms`);
    const rs = lab.servers[0]!.addr;
    // Real uvsadm processes where the audit line names the sender's command line (below).
    const spawned = async (args: string[], input?: string): Promise<void> => {
      const r = await lab.uvsadmProcess(args, input);
      assert.equal(r.code, 0, r.stderr);
    };
    await spawned(['-A', '-t', `${VIP}:80`, '-s', 'rr']);
    await lab.uvsadmMust(['-a', '-t', `${VIP}:80`, '-r', `${rs}:80`, '-g']);
    await lab.uvsadmMust(['-e', '-t', `${VIP}:80`, '-r', `${rs}:80`, '-g', '-w', '4']);
    await lab.uvsadmMust(['-Ln']);
    assert.notEqual((await lab.uvsadm(['-a', '-t', `${VIP}:80`, '-r', `${rs}:80`, '-g'])).code, 0, 'refused: already there');
    await spawned(['-R'], `-A -u ${VIP}:53 -s rr\n-a -u ${VIP}:53 -r ${rs}:53 -g\n`);
    await spawned(['-C']);
    const got = changes();
    assert.deepEqual(got.map((o) => o.msg), ['table changed: addService', 'table changed: addDest', 'table changed: editDest', 'table changed: batch', 'table changed: clear']);
    assert.deepEqual((got[2]!.args as { weight: number }).weight, 4);
    assert.deepEqual([got[3]!.items, got[3]!.verbs], [2, { addService: 1, addDest: 1 }]);
    // Who: the uvsadm process (SO_PEERCRED), root, and its command line (since 2026-12-07); the
    // lab's in-process uvsadm is this test's process.
    for (const [i, tail] of [[0, `-A -t ${VIP}:80 -s rr`], [3, '-R'], [4, '-C']] as const) {
      const peer = got[i]!.peer as { pid: number; uid: number; cmd: string };
      assert.ok(Number.isInteger(peer.pid) && peer.pid > 1 && peer.uid === 0, JSON.stringify(peer));
      assert.ok(peer.cmd.includes('bin/uvsadm --socket ') && peer.cmd.endsWith(` ${tail}`), peer.cmd);
    }
    assert.equal((got[1]!.peer as { pid: number }).pid, process.pid);
  });
});
