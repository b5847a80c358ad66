// test-class: lab
// Resilience in the netns lab (docs/resilience.md), the tests whose bounds are seconds wide and
// that flood nothing (the floods and the restart's 1 s bound: integration-resilience.test.ts):
//  - a server draining when uvsd stops is deleted when its drain was due, after a restart with --state-file;
//  - a state file refused (in part or whole) at start is renamed aside (FILE.refused-TIME) before uvsd writes its table;
//  - the TAP deleted under uvsd stops it in order, and a restart with its state file forwards again;
//  - defenses from the --config daemon section, changed by SIGHUP and uvsadm --reload;
//  - the TAP set down, out of its bridge, the bridge deleted: logged once each way, shown by --status,
//    the TAP put back on the re-created bridge; frames written while it is down dropped and counted;
//  - with --workers 2, a full table and secure TCP are logged from the workers' summed counters.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { drService, getInDirector, logLines, uvsadmCall, waitLog, waitStatusLine, withDrLab } from './lab/itest.js';
import { SUBNET, VIP } from './lab/dr-lab.js';
import { delay, within } from './lab/netns.js';
import { parseExposition } from './helpers/prom.js';
import type { DrLab } from './lab/dr-lab.js';

/**
 * The drain test's drain-timeout (s): the restart (a stop, a start, a uvsadm -Ln) must come well
 * within it. 6 s ran out once in a run on a host at load 14 (2 CPUs), the -Ln 1.3 s after the drain
 * ended: 10 s, as this file runs beside others (a lab beside the shared files).
 */
const DRAIN_S = 10;

// The drain test mostly waits (its drain-timeout): it runs beside the next three, two labs at
// a time (none floods; their bounds are seconds: the drain test restarts uvsd well within its drain).
describe('state files, the TAP deleted, --config defenses: two labs at a time', { concurrency: 2 }, () => {
  test('a server draining when uvsd is stopped (a reload removed it) is deleted when its drain ends after a restart with the same --state-file, and that is logged', { timeout: 60_000 }, async (t) => {
    await withDrLab(t, { servers: 2, uvsd: false }, async (lab) => {
      const stateFile = join(lab.tmp, 'uvsd.state.yaml');
      const config = join(lab.tmp, 'uvsd.yaml');
      const [a, b] = lab.servers.map((s) => s.addr);
      const conf = (servers: string[]): string => `daemon:\n  drain-timeout: ${DRAIN_S}\nservices:\n  - proto: tcp\n    address: ${VIP}\n    port: 80\n    scheduler: rr\n` +
        `    servers:\n${servers.map((x) => `      - address: ${x}\n`).join('')}`;
      writeFileSync(config, conf([a!, b!]));
      const args = ['--config', config, '--state-file', stateFile];
      await lab.startUvsd(args);
      writeFileSync(config, conf([a!]));
      assert.match(await lab.uvsadmMust(['--reload', '--dry-run']), new RegExp(`drain server TCP ${VIP}:80 -> ${b}:80: weight 1 -> 0, removed after ${DRAIN_S} s`));
      await lab.uvsadmMust(['--reload']);
      const drained = Date.now();
      const stateText = (): string => (existsSync(stateFile) ? readFileSync(stateFile, 'utf8') : '');
      for (let i = 0; i < 30 && !/drain-until/.test(stateText()); i++) await delay(100);
      assert.match(stateText(), /drain-until: \d{4}-\d\d-\d\dT/);
      assert.equal(await lab.stopUvsd(), 0);
      await lab.startUvsd(args);
      assert.match(await lab.uvsadmMust(['-Ln']), new RegExp(`-> ${b!.replaceAll('.', '\\.')}:80 +Route +0 `), 'back at weight 0, still draining');
      // The start's line says what the state file changed of --config's table: the draining server back.
      const restored = JSON.parse((await waitLog(lab, /^table restored from the state file$/))[0]!) as { changeList?: string[]; changes: number };
      assert.ok(restored.changes >= 1 && restored.changeList?.some((c) => c.includes(`${b}:80`)), JSON.stringify(restored));
      const [removed] = await waitLog(lab, /^drained server TCP .* removed$/, 1, DRAIN_S * 1000 + 4000);
      assert.equal(JSON.parse(removed!).msg, `drained server TCP ${VIP}:80 -> ${b}:80 removed`);
      assert.ok(Date.now() - drained >= DRAIN_S * 1000 - 500, 'when the drain the reload began ends, not a new one');
      assert.doesNotMatch(await lab.uvsadmMust(['-Ln']), new RegExp(`${b!.replaceAll('.', '\\.')}:80`));
      assert.equal((await lab.http(2)).errors, 0);
    });
  });

  test('a state file whose table is refused in part at start: the rest restored, the entry named in the log, the file renamed aside before uvsd writes its table, uvsadm --status says so; one refused whole: started without it', { timeout: 60_000 }, async (t) => {
    await withDrLab(t, { servers: 1, uvsd: false }, async (lab) => {
      const stateFile = join(lab.tmp, 'uvsd.state.yaml');
      const esc = (s: string) => s.replaceAll('.', '\\.');
      await lab.startUvsd(['--state-file', stateFile]);
      await drService(lab, undefined, [`-A -t ${VIP}:443 -s wrr`]);
      for (let i = 0; i < 30 && !readFileSync(stateFile, 'utf8').includes('port: 443'); i++) await delay(100);
      const whole = await lab.uvsadmMust(['-Sn']);
      const restart = async (text: string): Promise<string> => {
        lab.uvsd!.child.kill('SIGKILL');
        await lab.uvsd!.exited;
        writeFileSync(stateFile, text);
        await lab.startUvsd(['--state-file', stateFile]);
        return (await lab.uvsadmMust(['--status'])).split('\n').find((l) => l.startsWith('state_file '))!;
      };
      // One service this uvsd cannot take (as one written by an older uvsd): left out, the rest restored.
      const text = readFileSync(stateFile, 'utf8').replace('scheduler: wrr', 'scheduler: nosuch');
      const status = await restart(text);
      const [line] = await waitLog(lab, /^table restored from the state file without 1 entry of it/);
      const logged = JSON.parse(line!) as { keptAs: string; leftOut: string[] };
      assert.match(logged.keptAs, new RegExp(`^${esc(stateFile)}\\.refused-\\d{8}T\\d{6}Z$`));
      assert.equal(readFileSync(logged.keptAs, 'utf8'), text, 'the file as it was, byte for byte');
      assert.match(logged.leftOut[0]!, /: add service TCP .*:443 \(nosuch\): Scheduler or persistence engine not found: nosuch: left out the service TCP .*:443 and its servers$/);
      assert.equal(await lab.uvsadmMust(['-Sn']), whole.replace(/^-A -t \S+:443 -s wrr\n/m, ''), 'the rest restored');
      // Its first save may still be pending (a timer after the start): either wording before the part tested.
      assert.match(status, new RegExp(`^state_file ${esc(stateFile)} (saved \\d+s ago|not saved yet); at start restored without 1 entry \\(the file kept as ${esc(logged.keptAs)}\\): `));
      // Not a config file at all: refused whole, started without it.
      const broken = await restart('services: [\n');
      const [refused] = await waitLog(lab, /^state file refused; kept as /);
      const keptAs = (JSON.parse(refused!) as { keptAs: string }).keptAs;
      assert.equal(readFileSync(keptAs, 'utf8'), 'services: [\n');
      assert.equal(await lab.uvsadmMust(['-Sn']), '', 'started without it');
      assert.match(broken, new RegExp(`^state_file ${esc(stateFile)} saved \\d+s ago; at start refused \\(kept as ${esc(keptAs)}\\): `));
    });
  });

  test('the TAP deleted under uvsd: it stops in order (one stderr line naming the interface, socket removed, counters logged, exit 1), also with --workers 2; restarted with its --state-file it forwards again', { timeout: 60_000 }, async (t) => {
    await withDrLab(t, { servers: 2, uvsd: false }, async (lab) => {
      const stateFile = join(lab.tmp, 'uvsd.state.yaml');
      for (const extra of [[], ['--workers', '2']]) {
        await lab.startUvsd([...extra, '--state-file', stateFile]);
        if (extra.length === 0) await drService(lab);
        assert.equal((await lab.http(4)).errors, 0);
        await lab.lab.must(['ip', 'link', 'del', 'uvs0'], lab.ns.dir);
        const code = await within(lab.uvsd!.exited, 10_000, 'still running');
        const err = lab.uvsd!.stderr().trim();
        t.diagnostic(`${extra.join(' ') || '--workers 1'}: exit ${code}, stderr: ${err}`);
        assert.equal(code, 1, `uvsd exits 1 (stderr: ${err})`);
        const lines = err.split('\n');
        assert.equal(lines.length, 1, `one line: ${err}`);
        assert.match(lines[0]!, /^uvsd: frame I\/O on uvs0 failed \(.+\): was the interface deleted\?; stopping$/);
        assert.ok(!existsSync(lab.socketPath), 'the control socket is removed');
        assert.match(lab.uvsd!.stdout(), /"msg":"uvsd stopped"/, 'the counters are logged');
      }
      await lab.startUvsd(['--state-file', stateFile]);
      const back = await lab.http(4);
      assert.equal(back.errors, 0, `after the restart: ${back.errorSamples.join('; ')}`);
    });
  });

  test('defenses from the --config daemon section: used at start, the command line wins, SIGHUP and uvsadm --reload change them', { timeout: 60_000 }, async (t) => {
    await withDrLab(t, { servers: 1, uvsd: false }, async (lab) => {
      const file = join(lab.tmp, 'uvsd.yaml');
      const conf = (d: string) => `daemon:\n${d}services:\n  - { proto: tcp, address: ${VIP}, port: 80, servers: [{ address: ${lab.servers[0]!.addr} }] }\n`;
      writeFileSync(file, conf('  secure-tcp-above: 0.7\n  evict-above: 0.6\n  max-conn-rate-per-source: 40\n  sloppy-tcp: true\n'));
      await lab.startUvsd(['--config', file, '--evict-above', '0.95']);
      const status = async () => (await lab.uvsadmMust(['--status'])).split('\n');
      let st = await status();
      assert.ok(st.includes('secure_tcp off (above 0.7)'), st.join('\n'));
      assert.ok(st.includes('evict_above 0.95'), 'the command line wins');
      assert.ok(st.includes('max_conn_rate_per_source 40'));
      assert.ok(st.includes('sloppy_tcp all'));
      assert.equal((await lab.http(2)).errors, 0);
      writeFileSync(file, conf('  evict-above: 0.5\n  arp-accept-unsolicited: true\n'));
      const dry = await lab.uvsadmMust(['--reload', '--dry-run']);
      t.diagnostic(`dry run: ${dry.trim().replace(/\n/g, '; ')}`);
      assert.match(dry, /^set secure-tcp-above 0\.7 -> 0\.5$/m);
      assert.match(dry, /^set arp-accept-unsolicited false -> true$/m);
      assert.doesNotMatch(dry, /evict-above/);
      assert.ok((await status()).includes('secure_tcp off (above 0.7)'), 'a dry run changes nothing');
      lab.uvsd!.child.kill('SIGHUP');
      for (let i = 0; i < 30 && !(st = await status()).includes('arp_accept_unsolicited yes'); i++) await delay(100);
      for (const line of ['secure_tcp off (above 0.5)', 'evict_above 0.95', 'max_conn_rate_per_source 0', 'arp_accept_unsolicited yes', 'sloppy_tcp off']) {
        assert.ok(st.includes(line), `after SIGHUP: ${line}\n${st.join('\n')}`);
      }
      // A bad value is refused with file:line and changes nothing.
      writeFileSync(file, conf('  secure-tcp-above: 2\n'));
      const bad = await lab.uvsadm(['--reload']);
      assert.equal(bad.code, 255);
      assert.match(bad.stderr, /uvsd\.yaml:2: daemon\.secure-tcp-above: must be a fraction 0\.\.1, got 2/);
      assert.ok((await status()).includes('secure_tcp off (above 0.5)'));
      assert.equal((await lab.http(2)).errors, 0);
    });
  });
});

/**
 * While the TAP is down (the kernel refuses every write: EIO): a VIP added (its claim probed)
 * and the ARP watch's probes (--arp-watch 1: a lap a second) write frames that are dropped and
 * counted tx_failed; uvsd goes on. Before, the first such write stopped it ("frame I/O on uvs0
 * failed (... Input/output error): was the interface deleted?"); with --workers the worker died
 * and Node aborted the process.
 */
async function whileDown(lab: DrLab): Promise<void> {
  const st0 = await lab.status();
  const vip2 = `${SUBNET}.201`;
  await uvsadmCall(lab, ['-A', '-t', `${vip2}:80`, '-s', 'rr']);
  // With workers the counts reach --status at the next pull.
  const probed = (st: typeof st0) => st.arpWatch!.probes > st0.arpWatch!.probes && st.drops.tx_failed! > st0.drops.tx_failed!;
  let st = st0;
  for (let i = 0; i < 30 && !probed(st = await lab.status()); i++) await delay(100);
  assert.ok(probed(st), `the ARP watch probed (${st0.arpWatch!.probes} -> ${st.arpWatch!.probes}), the frames counted (tx_failed ${st0.drops.tx_failed} -> ${st.drops.tx_failed})`);
  assert.ok(lab.uvsdAlive(), `uvsd still runs; stderr: ${lab.uvsd!.stderr()}`);
  await uvsadmCall(lab, ['-D', '-t', `${vip2}:80`]);
}

test('the TAP link under uvsd: set down (a VIP added and ARP watch probes meanwhile: frames dropped, uvsd goes on, also with --workers 2), out of its bridge, the bridge set down, the bridge deleted: one warning each, one info line when back (the TAP put back on a re-created bridge), --status and uvs_link_up show it', { timeout: 60_000 }, async (t) => {
  const metrics = '127.0.0.1:9478';
  const ip = (lab: DrLab, ...args: string[]) => lab.lab.must(['ip', 'link', ...args], lab.ns.dir);
  const linkUp = async (lab: DrLab) => parseExposition(await getInDirector(lab, `http://${metrics}/metrics`)).get('uvs_link_up', { iface: 'uvs0' });
  const linkLine = async (lab: DrLab, want: string) => {
    await waitStatusLine(lab, want);
    assert.equal(await linkUp(lab), want === 'link up, bridge br0' ? 1 : 0, `uvs_link_up with ${want}`);
  };
  // Two labs side by side, each its own uvsd (the link is looked at once a second: the steps are
  // mostly waits for that): one uvsd through three faults, one with --workers 2 through a TAP set
  // down and its bridge deleted.
  const one = withDrLab(t, { servers: 1, uvsd: { extraArgs: ['--metrics', metrics, '--arp-watch', '1'] } }, async (lab) => {
    await drService(lab);
    await linkLine(lab, 'link up, bridge br0');
    const steps: [string[], string[], string, RegExp][] = [
      [['set', 'uvs0', 'down'], ['set', 'uvs0', 'up'], 'link down, bridge br0', /^uvs0 link fault: down, bridge br0;/],
      [['set', 'uvs0', 'nomaster'], ['set', 'uvs0', 'master', 'br0'], 'link up, not in bridge br0', /^uvs0 link fault: up, not in bridge br0;/],
      [['set', 'br0', 'down'], ['set', 'br0', 'up'], 'link up, bridge br0 (br0 is down)', /^uvs0 link fault: up, bridge br0 \(br0 is down\);/],
    ];
    let backs = 0;
    for (const [fault, fix, statusLine, warn] of steps) {
      const st0 = await lab.status();
      await ip(lab, ...fault);
      await waitLog(lab, warn);
      await linkLine(lab, statusLine);
      if (fault.join(' ') === 'set uvs0 down') await whileDown(lab);
      await ip(lab, ...fix);
      const back = await waitLog(lab, /^uvs0 link back: up, bridge br0$/, ++backs);
      t.diagnostic(`${fault.join(' ')}: ${back[backs - 1]}`);
      await linkLine(lab, 'link up, bridge br0');
      assert.equal(logLines(lab, warn).length, 1, 'one warning while it lasted');
      // Back on the wire: uvsd announced its address again, and forwards.
      assert.ok((await lab.status()).counters.arp_gratuitous_sent > st0.counters.arp_gratuitous_sent, 'gratuitous ARP when back');
      assert.equal((await lab.http(2)).errors, 0);
    }
  });
  // The TAP set down under uvsd --workers 2 (the shadow's probes go out through worker 0's queue).
  const workers = withDrLab(t, { servers: 1, uvsd: { extraArgs: ['--workers', '2', '--metrics', metrics, '--arp-watch', '1'] } }, async (lab) => {
    await drService(lab);
    await ip(lab, 'set', 'uvs0', 'down');
    await whileDown(lab);
    await waitLog(lab, /^uvs0 link fault: down, bridge br0;/);
    await ip(lab, 'set', 'uvs0', 'up');
    const backs = 1;
    await waitLog(lab, /^uvs0 link back: up, bridge br0$/, backs);
    await linkLine(lab, 'link up, bridge br0');
    const back = await lab.http(2);
    assert.equal(back.errors, 0, back.errorSamples.join('; '));
    // The bridge deleted (the TAP leaves it) and created again: uvsd puts the TAP back.
    await ip(lab, 'del', 'br0');
    await waitLog(lab, /^uvs0 link fault: up, not in bridge br0 \(br0 is gone\);/);
    await linkLine(lab, 'link up, not in bridge br0 (br0 is gone)');
    await lab.lab.addBridge(lab.ns.dir, 'br0');
    await waitLog(lab, /^uvs0 put back on bridge br0 \(the bridge was deleted and exists again\)$/);
    await waitLog(lab, /^uvs0 link back: up, bridge br0$/, backs + 1);
    await linkLine(lab, 'link up, bridge br0');
    const st = await lab.status();
    // A TAP set down and up again says "unknown" (it reports no carrier changes): up.
    // The re-created bridge may still say "unknown" (as up) when this is read, as the TAP does.
    assert.ok(['up', 'unknown'].includes(st.link?.bridgeOperstate ?? ''), `bridge operstate ${st.link?.bridgeOperstate}`);
    assert.deepEqual({ ...st.link, operstate: '', bridgeOperstate: '', since: '' }, { iface: 'uvs0', state: 'up', operstate: '', master: 'br0', bridge: 'br0', bridgeExists: true, bridgeOperstate: '', ok: true, since: '' });
  });
  // Both to their end (each lab removed in its finally), then the first failure, if any.
  for (const r of await Promise.allSettled([one, workers])) if (r.status === 'rejected') throw r.reason;
});

test('--workers 2: a full connection table and secure TCP are logged from the workers\' summed counters (one warning, one info line when refusals stop)', { timeout: 60_000 }, async (t) => {
  await withDrLab(t, { servers: 1, uvsd: { extraArgs: ['--workers', '2', '--conn-max', '4', '--evict-above', '1'] } }, async (lab) => {
    await drService(lab);
    // Each worker holds 2 entries. The first connections fill a worker's share with confirmed
    // entries (a SYN finding only unconfirmed ones evicts one); of the next 12, those steered to a
    // full worker are refused (all 12 steered to the other one: 1 in 4,096).
    const held = await lab.openConns(4, { timeoutMs: 1500 });
    try {
      const more = await lab.openConns(12, { timeoutMs: 1500 });
      t.diagnostic(`held ${held.ok} + ${more.ok}, failed ${held.errors} + ${more.errors}`);
      const [full] = await waitLog(lab, /^connection table full: \d+ new connections? refused in the last [\d.]+s \(conn-max 4(; worker \d's share full, 2 of 2, the table at [0-4])?\)$/);
      t.diagnostic(full!);
      await waitLog(lab, /^secure_tcp on: connection table at \d+ of 4 entries/);
      // The clients gave up each refused connection after 1.5 s (their SYNs retried until then):
      // one info line 3 s after the last refusal (a tick late under load says 3.1 s, as it was).
      // The held connections (and those just closed, now FIN_WAIT or TIME_WAIT) keep their
      // entries: 4 of 4, the line says it is still full. With fewer (a third SYN on one worker
      // evicts the first, unconfirmed yet, whose client is then reset: 3 of 4, seen in CI) the
      // worker that refused is still full, and the line names it; room only if none is.
      await more.release();
      const st = await lab.status();
      const rows = st.workers ?? [];
      t.diagnostic(`${rows.map((w) => `worker ${w.worker}: ${w.conns} of ${w.conn_max}, rx ${w.rx_frames}`).join('; ')}; held errors ${held.errorSamples.join(', ')}; evicted ${st.counters.conns_evicted}, no_conn ${st.drops.no_conn}`);
      const conns = st.conns;
      const fullRow = rows.find((w) => w.conns >= w.conn_max);
      const quiet = 'new connections refused over [\\d.]+s, none in the last (?:3|3\\.\\d)s';
      const re = conns === 4 ? new RegExp(`^connection table refusals stopped: \\d+ ${quiet}; still full \\(4 of 4\\)$`)
        : fullRow !== undefined ? new RegExp(`^connection table refusals stopped: \\d+ ${quiet}; still full \\(${conns} of 4; worker ${fullRow.worker} at 2 of 2\\)$`)
        : new RegExp(`^connection table has room again: \\d+ ${quiet}$`);
      const [room] = await waitLog(lab, re, 1, 8000);
      t.diagnostic(room!);
      const line = JSON.parse(room!) as { refused: number; conns: number };
      assert.equal(line.conns, conns, 'the line counts the entries the workers hold');
      assert.ok(line.refused > 0);
      assert.equal(line.refused, (await lab.status()).drops.conn_table_full, 'every refusal counted by the workers was seen');
      assert.equal(logLines(lab, /^connection table full/).length, 1);
    } finally {
      await held.release();
    }
  });
});
