// test-class: shared
// uvsd's command line: bad options are refused with exit 2 and exactly one stderr line naming
// the offending value, before any TAP is opened; --help lists the options; --check-config. When run as root
// the refusal cases run as user nobody (65534), who cannot open a TAP: a check that only happened
// after opening the TAP would show up as exit 1 "cannot open TAP" instead of exit 2. The refusals are
// independent processes that exit before opening anything (no lab): they run side by side
// (REFUSALS_AT_ONCE), the suite's time being mostly node starting. The tests that need a netns lab are in
// uvsd-cli.test.ts.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot, uvsdArgv } from './lab/dr-lab.js';
import { markdownFiles } from './helpers/docs.js';
import { parseConfig, RELOADABLE_DAEMON_KEYS, START_ONLY_DAEMON_KEYS, type DaemonSettings } from '../src/control/config.js';
import { optionOf } from '../src/cli/settings.js';
import { checkCommandLine } from '../src/cli/uvsd-options.js';
import { sigCaught } from './helpers/signals.js';

const uvsdJs = join(repoRoot, 'bin', 'uvsd');
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

/** uvsd refusals run at once (each a node process starting and exiting). */
const REFUSALS_AT_ONCE = 4;

async function uvsd(args: string[], asNobody = isRoot): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const tmp = mkdtempSync(join(tmpdir(), 'uvsd-cli-'));
  try {
    return await new Promise((resolve) => {
      const [node, ...argv] = uvsdArgv(['--tap', 'uvsclitest0', '--socket', join(tmp, 's.sock'), ...args]);
      execFile(node!, argv, {
        cwd: repoRoot,
        encoding: 'utf8',
        timeout: 15_000,
        ...(asNobody ? { uid: 65534, gid: 65534 } : {}),
      }, (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null;
        resolve({ code, stdout, stderr });
      });
    });
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

type UvsdRun = Awaited<ReturnType<typeof uvsd>>;

/** uvsd for each argument list, REFUSALS_AT_ONCE at a time (independent processes); the results in the lists' order. */
async function uvsdEach<const R extends readonly string[][]>(runs: R, asNobody = isRoot): Promise<{ -readonly [K in keyof R]: UvsdRun }> {
  const out: UvsdRun[] = [];
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(REFUSALS_AT_ONCE, runs.length) }, async () => {
    for (let i = next++; i < runs.length; i = next++) out[i] = await uvsd([...runs[i]!], asNobody);
  }));
  return out as { -readonly [K in keyof R]: UvsdRun };
}

const ADDR = ['--addr', '192.168.8.10/24'];

/** A directory anyone may write (not sticky), with a FIFO anyone may write: paths uvsd refuses (src/control/trust.ts). */
const OPEN_DIR = mkdtempSync(join(tmpdir(), 'uvsd-cli-open-'));
chmodSync(OPEN_DIR, 0o777);
spawnSync('mkfifo', ['-m', '666', join(OPEN_DIR, 'vrrp.fifo')]);
after(() => rmSync(OPEN_DIR, { recursive: true, force: true }));

// `process`: run as bin/uvsd (as nobody when root) rather than its first check in this process:
// one of each kind of refusal (commander's, a value's parser, a check over options, a path's), and
// the ones that need an unprivileged user.
const BAD: Array<{ name: string; args: string[]; value: string; process?: true }> = [
  { name: '--addr bogus', args: ['--addr', 'bogus'], value: 'bogus', process: true },
  { name: '--addr with prefix length 33', args: ['--addr', '192.168.8.10/33'], value: '192.168.8.10/33' },
  { name: '--addr without a prefix length', args: ['--addr', '192.168.8.10'], value: '192.168.8.10' },
  { name: '--addr given twice (accepted before 2026-12-07)', args: [...ADDR, '--addr', '192.168.8.10/16'], value: 'the address 192.168.8.10 is given twice', process: true },
  { name: '--mac zz:00:00:00:00:01', args: [...ADDR, '--mac', 'zz:00:00:00:00:01'], value: 'zz:00:00:00:00:01' },
  { name: '--mac multicast', args: [...ADDR, '--mac', '01:00:5e:00:00:01'], value: '01:00:5e:00:00:01' },
  { name: '--mac all zeros (a bridge drops its frames)', args: [...ADDR, '--mac', '00:00:00:00:00:00'], value: '--mac 00:00:00:00:00:00 is not a valid station address', process: true },
  { name: '--conn-max 0', args: [...ADDR, '--conn-max', '0'], value: '0' },
  { name: '--conn-max 1e3', args: [...ADDR, '--conn-max', '1e3'], value: '1e3' },
  { name: '--mtu 10', args: [...ADDR, '--mtu', '10'], value: '10' },
  { name: '--log-level loud', args: [...ADDR, '--log-level', 'loud'], value: 'loud' },
  { name: '--io fast', args: [...ADDR, '--io', 'fast'], value: 'fast' },
  { name: '--gateway nope', args: [...ADDR, '--gateway', 'nope'], value: 'nope' },
  { name: '--gateway outside every --addr network', args: [...ADDR, '--gateway', '10.1.0.1'], value: '10.1.0.1', process: true },
  { name: '--metrics localhost:9478', args: [...ADDR, '--metrics', 'localhost:9478'], value: 'localhost:9478' },
  { name: '--metrics 127.0.0.1:99999', args: [...ADDR, '--metrics', '127.0.0.1:99999'], value: '127.0.0.1:99999' },
  { name: '--metrics 127.0.0.1 (no port)', args: [...ADDR, '--metrics', '127.0.0.1'], value: '127.0.0.1' },
  { name: 'unknown option --bogus', args: [...ADDR, '--bogus'], value: '--bogus', process: true },
  { name: 'a word that is no option', args: [...ADDR, 'eth0'], value: '"eth0"', process: true },
  { name: '--role leader', args: [...ADDR, '--role', 'leader'], value: 'leader' },
  { name: '--ha-group without addresses', args: [...ADDR, '--ha-group', 'web'], value: '"web"' },
  { name: '--ha-group named default', args: [...ADDR, '--ha-group', 'default=192.168.8.100'], value: 'default=192.168.8.100' },
  { name: '--ha-group holding a fixed --addr', args: [...ADDR, '--ha-group', 'web=192.168.8.10'], value: '192.168.8.10 is a fixed --addr' },
  { name: '--ha-group: an address in two groups', args: [...ADDR, '--ha-group', 'web=192.168.8.100', '--ha-group', 'api=192.168.8.100'], value: '192.168.8.100 is in group web too' },
  { name: '--vrrp-fifo naming a regular file', args: [...ADDR, '--vrrp-fifo', '/etc/hostname'], value: '/etc/hostname exists and is not a FIFO' },
  { name: '--addr with an unknown flag', args: ['--addr', '192.168.8.10/24,sticky'], value: 'sticky' },
  { name: '--addr only floating', args: ['--addr', '192.168.8.10/24,floating'], value: 'must be fixed' },
  { name: '--sloppy-tcp some', args: [...ADDR, '--sloppy-tcp', 'some'], value: 'some' },
  { name: '--synproxy-syn-retries 7', args: [...ADDR, '--synproxy-syn-retries', '7'], value: 'uvsd: --synproxy-syn-retries must be an integer 0..6, got "7"' },
  { name: '--synproxy-syn-retries one', args: [...ADDR, '--synproxy-syn-retries', 'one'], value: 'uvsd: --synproxy-syn-retries must be an integer 0..6, got "one"' },
  { name: '--bgp-watch 0', args: [...ADDR, '--bgp-include', '/tmp/x.conf', '--bgp-watch', '0'], value: 'uvsd: --bgp-watch must be an integer 1..3600, got "0"' },
  { name: '--bgp-next-hop not an address', args: [...ADDR, '--bgp-include', '/tmp/x.conf', '--bgp-next-hop', '300.1.1.1'], value: '300.1.1.1' },
  { name: '--workers 9', args: [...ADDR, '--workers', '9'], value: '9' },
  { name: '--workers 0', args: [...ADDR, '--workers', '0'], value: '0' },
  { name: '--datapath-cpus 2-x', args: [...ADDR, '--datapath-cpus', '2-x'], value: '"2-x" is no CPU list' },
  { name: '--datapath-cpus 1,1', args: [...ADDR, '--datapath-cpus', '1,1'], value: 'names CPU 1 twice' },
  { name: '--datapath-cpus 1023 (not a CPU of the process)', args: [...ADDR, '--datapath-cpus', '1023'], value: 'CPU 1023 is not one uvsd may run on' },
  { name: '--datapath-cpus 0 for two workers', args: [...ADDR, '--workers', '2', '--datapath-cpus', '0'], value: '1 CPU for 2 datapath threads (--workers 2)' },
  { name: '--steering bpf', args: [...ADDR, '--workers', '2', '--steering', 'bpf'], value: 'bpf' },
  { name: '--bgp-next-hop not one of --addr', args: [...ADDR, '--bgp-include', '/tmp/x.conf', '--bgp-next-hop', '192.168.8.11'], value: '192.168.8.11' },
  // Before, accepted and ignored (no include: nothing announced).
  { name: '--bgp-next-hop without --bgp-include', args: [...ADDR, '--bgp-next-hop', '192.168.8.10'], value: '--bgp-next-hop 192.168.8.10 without --bgp-include' },
  // Until 2026-12-07 these two started without a word (they have defaults: only one given is refused).
  { name: '--bgp-bird-socket without --bgp-include', args: [...ADDR, '--bgp-bird-socket', '/tmp/b.ctl'], value: '--bgp-bird-socket /tmp/b.ctl without --bgp-include' },
  { name: '--bgp-watch without --bgp-include', args: [...ADDR, '--bgp-watch', '7'], value: '--bgp-watch 7 without --bgp-include' },
  { name: '--steering without --workers', args: [...ADDR, '--steering', 'automq'], value: '--steering automq without --workers 2 or more' },
  { name: '--tap longer than 15 characters', args: [...ADDR, '--tap', 'abcdefghijklmnopq'], value: '1..15 characters' },
  { name: '--bridge with a space', args: [...ADDR, '--bridge', 'br 0'], value: '"br 0"' },
  { name: '--socket empty', args: [...ADDR, '--socket', ''], value: '--socket must be a path of 1..107 bytes' },
  // Before, accepted: every change was then acknowledged and none kept.
  { name: '--state-file in a directory that does not exist', args: [...ADDR, '--state-file', '/nonexistent-uvs/state.yaml'], value: '--state-file: /nonexistent-uvs/state.yaml: its directory /nonexistent-uvs does not exist' },
  { name: '--state-file naming a directory', args: [...ADDR, '--state-file', '/tmp'], value: '--state-file: /tmp exists and is not a regular file' },
  { name: '--state-file in a directory uvsd cannot write (/etc, run unprivileged)', args: [...ADDR, '--state-file', '/etc/uvs-state.yaml'], value: 'cannot write in its directory /etc (EACCES)', process: true },
  // Before, used: another user could put its own socket, FIFO or state file there (or links).
  { name: '--socket in a directory anyone may write', args: [...ADDR, '--socket', join(OPEN_DIR, 'uvsd.sock')], value: 'is writable by group or others (mode 0777, not sticky): another user could put a socket of its own at the path', process: true },
  { name: '--vrrp-fifo anyone may write', args: [...ADDR, '--vrrp-fifo', join(OPEN_DIR, 'vrrp.fifo')], value: 'vrrp.fifo: writable by group or others (mode 0666): another user could set uvsd\'s role through it' },
  { name: '--state-file in a directory anyone may write', args: [...ADDR, '--state-file', join(OPEN_DIR, 'state.yaml')], value: 'is writable by group or others (mode 0777, not sticky): another user could replace the file or plant links beside it' },
  { name: '--socket longer than a Unix socket path', args: [...ADDR, '--socket', `/tmp/${'s'.repeat(110)}`], value: '1..107 bytes' },
  // Before, `uvsd: : cannot read: ENOENT`, naming neither.
  { name: '--config empty', args: [...ADDR, '--config', ''], value: '--config must be a non-empty string, got ""' },
  { name: '--keepalived-conf empty', args: [...ADDR, '--keepalived-conf', ''], value: '--keepalived-conf must be a non-empty string, got ""' },
  // Before, commander's words: `error: option '--conn-max <n>' argument '-1' is invalid. --conn-max must be ...`.
  { name: '--conn-max -1', args: [...ADDR, '--conn-max', '-1'], value: 'uvsd: --conn-max must be an integer 1..67108864, got "-1"', process: true },
  { name: '--log-level debgu', args: [...ADDR, '--log-level', 'debgu'], value: 'uvsd: --log-level must be one of fatal, error, warn, info, debug, trace, silent, got "debgu"' },
  { name: '--mac bogus (its parser does not name the option)', args: [...ADDR, '--mac', 'bogus'], value: 'uvsd: --mac: invalid MAC address "bogus"' },
  { name: '--tap without its value', args: [...ADDR, '--tap'], value: "uvsd: option '--tap <name>' argument missing", process: true },
];

/**
 * What bin/uvsd's first check (checkCommandLine, run before it loads the daemon: nothing can be
 * opened yet) answers for `args`, run in this process: the exit code it asked for (null: none, it
 * passed) and what it wrote. A node start per refusal was most of this file's time; the cases
 * marked `process` (and the other tests here) run bin/uvsd itself, as nobody.
 */
function firstCheck(args: string[]): UvsdRun {
  const run: UvsdRun = { code: null, stdout: '', stderr: '' };
  const { exit } = process;
  const writes = { out: process.stdout.write, err: process.stderr.write };
  const stop = new Error('exit');
  process.exit = ((code?: number) => {
    run.code = code ?? 0;
    throw stop;
  }) as typeof process.exit;
  process.stdout.write = ((s: string) => (run.stdout += s, true)) as typeof process.stdout.write;
  process.stderr.write = ((s: string) => (run.stderr += s, true)) as typeof process.stderr.write;
  try {
    checkCommandLine(['node', uvsdJs, '--tap', 'uvsclitest0', '--socket', '/run/uvs-refusals-test.sock', ...args]);
  } catch (e) {
    if (e !== stop) throw e;
  } finally {
    process.exit = exit;
    process.stdout.write = writes.out;
    process.stderr.write = writes.err;
  }
  return run;
}

describe('uvsd refuses a bad option value', { concurrency: REFUSALS_AT_ONCE }, () => {
  for (const c of BAD) {
    test(`uvsd ${c.name}: exit 2, one stderr line naming "${c.value}", before opening the TAP`, async () => {
      const r = c.process === true ? await uvsd(c.args) : firstCheck(c.args);
      assert.equal(r.code, 2, `exit code; stderr ${JSON.stringify(r.stderr)}`);
      assert.equal(r.stdout, '');
      const lines = r.stderr.split('\n');
      assert.equal(lines.length, 2, `stderr must be exactly one line: ${JSON.stringify(r.stderr)}`);
      assert.equal(lines[1], '');
      assert.ok(lines[0]!.includes(c.value), `stderr ${JSON.stringify(lines[0])} does not name ${JSON.stringify(c.value)}`);
      // One form for every refusal, commander's included.
      assert.ok(lines[0]!.startsWith('uvsd: ') && !lines[0]!.includes('is invalid.'), `stderr ${JSON.stringify(lines[0])} is not in uvsd's form`);
    });
  }
});

test('every daemon setting the config file refuses empty ("") is refused empty on the command line: exit 2, one line naming the option, before opening anything (state-file, vrrp-fifo, bgp-include, bgp-bird-socket and ftp-ports were taken)', async () => {
  // sync has no option; the two flags take no value.
  const noValue = new Set(['sync', 'arpAcceptUnsolicited', 'expireQuiescentTemplate', 'toa', 'scheduleIcmp']);
  const cases: Array<[string[], string]> = [];
  for (const [k, name] of Object.entries({ ...START_ONLY_DAEMON_KEYS, ...RELOADABLE_DAEMON_KEYS })) {
    if (noValue.has(k)) continue;
    assert.throws(() => parseConfig(`daemon:\n  ${name}: ""\n`, 'u.yaml'), new RegExp(`u\\.yaml:2: daemon\\.${name}: `), `daemon.${name}: ""`);
    const option = `--${optionOf(k as keyof DaemonSettings).replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
    cases.push([[...ADDR, option, ''], option]);
  }
  assert.ok(cases.length >= 20, `${cases.length} options`);
  // The first as bin/uvsd itself, the rest as its first check in this process (firstCheck).
  const runs = [await uvsd(cases[0]![0]), ...cases.slice(1).map((c) => firstCheck(c[0]))];
  cases.forEach(([, option], i) => {
    const r = runs[i]!;
    assert.equal(r.code, 2, `${option} "": exit code; stderr ${JSON.stringify(r.stderr)}`);
    assert.match(r.stderr, /^uvsd: [^\n]+\n$/, `${option} "": one line`);
    assert.ok(r.stderr.includes(option), `${option} "": stderr ${JSON.stringify(r.stderr)} does not name the option`);
  });
});

test('uvsd without --addr: exit 2, one stderr line asking for --addr', async () => {
  const r = await uvsd([]);
  assert.equal(r.code, 2, r.stderr);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /^uvsd: [^\n]*--addr[^\n]*\n$/);
});

test('an addon uvsd or uvs-decap cannot load (never built, or built for another Node.js) is one stderr line saying how to build it, exit 2 (not a stack trace and exit 1, which systemd restarts)', () => {
  // A copy of bin/ and dist/src without build/Release, then with a file that is no addon there.
  const d = mkdtempSync(join(tmpdir(), 'uvs-addon-'));
  try {
    mkdirSync(join(d, 'bin'));
    for (const b of ['uvsd', 'uvs-decap']) cpSync(join(repoRoot, 'bin', b), join(d, 'bin', b));
    cpSync(join(repoRoot, 'dist', 'src'), join(d, 'dist', 'src'), { recursive: true });
    cpSync(join(repoRoot, 'package.json'), join(d, 'package.json'));
    symlinkSync(join(repoRoot, 'node_modules'), join(d, 'node_modules'));
    const run = (b = 'uvsd') => spawnSync(process.execPath, [join(d, 'bin', b), '--version'], { encoding: 'utf8', timeout: 30_000 });
    let r = run('uvs-decap');
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /^uvs-decap: its native addon build\/Release\/uvs_native\.node is missing: /);
    r = run();
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /^uvsd: its native addon build\/Release\/uvs_native\.node is missing: build it again for this Node\.js v[\d.]+: `npm run install` in uvs's directory[^\n]*\n$/);
    mkdirSync(join(d, 'build', 'Release'), { recursive: true });
    writeFileSync(join(d, 'build', 'Release', 'uvs_native.node'), 'not an ELF file\n');
    r = run();
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /^uvsd: its native addon build\/Release\/uvs_native\.node cannot be loaded \([^\n]+\): build it again[^\n]*\n$/);
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});

test('uvsd --help exits 0 and lists every option; --version / -V prints package.json\'s version', async () => {
  const [r, ...versions] = await uvsdEach([['--help'], ['--version'], ['-V']], false);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  for (const o of ['--tap', '--bridge', '--addr', '--gateway', '--socket', '--conn-max', '--mtu', '--io', '--log-level', '--mac', '--metrics', '--no-metrics-per-dest', '--workers', '--datapath-thread', '--datapath-cpus']) {
    assert.match(r.stdout, new RegExp(`^\\s+${o} `, 'm'), `--help lacks ${o}`);
  }
  // What each option takes, in its own words (commander wraps the lines).
  const help = r.stdout.replace(/\s+/g, ' ');
  assert.match(help, /--log-level <level> fatal, error, warn, info, debug, trace, silent /);
  assert.match(help, /--metrics <addr:port> [^-]*a port alone is on 127\.0\.0\.1/);
  assert.match(help, /--sloppy-tcp \[scope\] [^]*all = [^]*mh = [^]*off = none \(default: "off"\)/);
  assert.match(help, /--ftp-ports <ports> [^]*?\(default: none\)/);
  assert.doesNotMatch(help, /\(default: \[\]\)/);
  const { version } = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string };
  for (const v of versions) {
    assert.equal(v.code, 0, v.stderr);
    assert.equal(v.stdout, `uvsd ${version} (IPVS 1.2.1 compatible; node ${process.version})\n`);
  }
});

test('uvsd\'s and uvs-decap\'s --help and --version that cannot be written (> /dev/full) say so in one line, exit 1 (it was exit 0, nothing written)', async () => {
  const toFull = (bin: string, arg: string) => new Promise<{ code: number | null; stderr: string }>((resolve) => {
    execFile('sh', ['-c', 'exec "$@" > /dev/full', 'sh', process.execPath, join(repoRoot, 'bin', bin), arg], { cwd: repoRoot, encoding: 'utf8', timeout: 15_000 },
      (err, _stdout, stderr) => resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : null, stderr }));
  });
  for (const [bin, arg] of [['uvsd', '--help'], ['uvsd', '--version'], ['uvs-decap', '--help'], ['uvs-decap', '-V']] as const) {
    const r = await toFull(bin, arg);
    assert.deepEqual([r.code, r.stderr], [1, `${bin}: cannot write to standard output: ENOSPC: no space left on device\n`], `${bin} ${arg} > /dev/full`);
  }
});

test('uvsd --help, --version and refused options (one option\'s value, a combination) are answered by one node start loading only the command line\'s modules (no datapath, health, sync, control model or server, no pino or YAML parser); a command line that passes is run again with uvsd\'s node flags, but --check-config, which runs no daemon, is not (before 2026-12-06 it was: two starts)', async () => {
  // Each node start of `node bin/uvsd` (the one execv'd in place too: it keeps the --import)
  // logs "start" and every module it loads, through a module loader hook.
  const d = mkdtempSync(join(tmpdir(), 'uvsd-loads-'));
  try {
    writeFileSync(join(d, 'register.mjs'), "import { register } from 'node:module';\nimport { appendFileSync } from 'node:fs';\n" +
      "appendFileSync(process.env.UVS_LOAD_LOG, 'start\\n');\nregister('./hooks.mjs', import.meta.url, { data: process.env.UVS_LOAD_LOG });\n");
    writeFileSync(join(d, 'hooks.mjs'), "import { appendFileSync } from 'node:fs';\nlet log;\nexport function initialize(data) { log = data; }\n" +
      "export async function load(url, context, next) { appendFileSync(log, url + '\\n'); return next(url, context); }\n");
    const cfg = join(d, 'u.yaml');
    writeFileSync(cfg, 'services: []\n');
    // Each run logs to a file of its own: the four refusals and answers run side by side.
    let runs = 0;
    const run = (args: string[]) => new Promise<{ code: number | null; stdout: string; stderr: string; starts: number; loaded: string[] }>((resolve) => {
      const log = join(d, `loads${runs++}.txt`);
      writeFileSync(log, '');
      execFile(process.execPath, ['--import', join(d, 'register.mjs'), uvsdJs, '--socket', join(d, 's.sock'), ...args], { cwd: repoRoot, encoding: 'utf8', timeout: 15_000, env: { ...process.env, UVS_LOAD_LOG: log } },
        (err, stdout, stderr) => {
          const lines = readFileSync(log, 'utf8').split('\n').filter((l) => l !== '');
          resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : null, stdout, stderr, starts: lines.filter((l) => l === 'start').length, loaded: lines.filter((l) => l !== 'start') });
        });
    });
    const heavy = /\/dist\/src\/(datapath\/(?!addr\.js|port\.js)|health\/|sync\/|sched\/|modes\/|metrics\/(?!listen\.js)|control\/(model|server|config|verbs|statefile)\.js)|\/node_modules\/(pino|yaml|prom-client)\//;
    const [help, version, value, combination] = await Promise.all([run(['--help']), run(['--version']), run(['--conn-max', 'bogus']), run([...ADDR, '--gateway', '10.1.0.1'])]);
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, /^Usage: uvsd \[options\]/);
    assert.equal(version.code, 0, version.stderr);
    assert.equal(value.stderr, 'uvsd: --conn-max must be an integer 1..67108864, got "bogus"\n');
    assert.equal(combination.stderr, 'uvsd: --gateway 10.1.0.1 is not inside any --addr network\n');
    for (const [what, r] of Object.entries({ help, version, value, combination })) {
      assert.equal(r.starts, 1, `${what}: node started ${r.starts} times`);
      assert.ok(r.loaded.some((u) => u.endsWith('/dist/src/cli/uvsd-options.js')), `${what}: ${r.loaded.join(' ')}`);
      assert.deepEqual(r.loaded.filter((u) => heavy.test(u)), [], `${what}: loaded the daemon's modules`);
    }
    // A command line that passes: node started again with UVSD_NODE_FLAGS, the daemon loaded (here
    // to refuse a --config file bin/uvsd leaves to it); --check-config, good file or bad, runs on
    // in the first node, without the flags.
    const bad = join(d, 'bad.yaml');
    writeFileSync(bad, 'services: [\n');
    const [passes, check, checkBad] = await Promise.all([run(['--config', bad, ...ADDR]), run(['--check-config', '--config', cfg, ...ADDR]), run(['--check-config', '--config', bad, ...ADDR])]);
    assert.deepEqual([passes.code, passes.starts], [2, 2], passes.stderr);
    assert.ok(passes.loaded.some((u) => u.endsWith('/dist/src/cli/uvsd.js')));
    for (const [what, r, code] of [['--check-config', check, 0], ['--check-config of a bad file', checkBad, 2]] as const) {
      assert.equal(r.code, code, r.stderr);
      assert.equal(r.starts, 1, `${what}: node started ${r.starts} times`);
      assert.ok(r.loaded.some((u) => u.endsWith('/dist/src/cli/uvsd.js')), `${what}: the check is the daemon's`);
    }
    assert.match(check.stderr, /configuration OK/);
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});

/** uvsd args exits 2 before opening anything, with one stderr line starting `uvsd: want`. */
async function assertRefused(args: string[], want: string): Promise<void> {
  const r = await uvsd(args);
  assert.equal(r.code, 2, `exit code; stderr ${JSON.stringify(r.stderr)}`);
  assert.equal(r.stdout, '');
  assert.equal(r.stderr.split('\n').length, 2, `one line: ${JSON.stringify(r.stderr)}`);
  assert.ok(r.stderr.startsWith(`uvsd: ${want}`), `stderr ${JSON.stringify(r.stderr)} does not start with ${JSON.stringify(want)}`);
}

/** Every case refused as assertRefused says, REFUSALS_AT_ONCE at a time. */
async function assertAllRefused(cases: Array<[string[], string]>): Promise<void> {
  const left = [...cases];
  await Promise.all(Array.from({ length: REFUSALS_AT_ONCE }, async () => {
    for (let c = left.shift(); c !== undefined; c = left.shift()) await assertRefused(c[0], c[1]);
  }));
}

/** A temporary directory readable by uvsd's unprivileged checks, `file(name, text)` writing into it; removed after. */
async function withConfigDir(fn: (dir: string, file: (name: string, text: string) => string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'uvsd-cfg-'));
  chmodSync(dir, 0o755); // readable by nobody
  try {
    await fn(dir, (name, text) => {
      const p = join(dir, name);
      writeFileSync(p, text, { mode: 0o644 });
      return p;
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('uvsd --config: a bad file exits 2 with one stderr line naming file:line:field, before opening the TAP', async () => {
  await withConfigDir(async (dir, file) => {
    const weight = file('weight.yaml', 'services:\n  - proto: tcp\n    address: 192.168.8.200\n    port: 80\n    servers:\n      - { address: 192.168.8.20, weight: -1 }\n');
    const addrs = file('addrs.yaml', 'daemon:\n  addresses: [bogus]\n');
    const metrics = file('metrics.yaml', 'daemon:\n  metrics: localhost:9478\n');
    const state = file('state.yaml', 'daemon:\n  state-file: /nonexistent-uvs/state.yaml\n');
    const cases: Array<[string[], string]> = [
      [['--config', weight, ...ADDR], `${weight}:6: services[0].servers[0].weight: must be an integer 0..2147483647, got -1`],
      [['--config', addrs], `${addrs}:2: daemon.addresses[0]: invalid address "bogus"`],
      [['--config', metrics, ...ADDR], `${metrics}:2: daemon.metrics: invalid --metrics address "localhost:9478"`],
      [['--config', state, ...ADDR], `${state}:2: daemon.state-file: /nonexistent-uvs/state.yaml: its directory /nonexistent-uvs does not exist`],
      [['--config', join(dir, 'missing.yaml'), ...ADDR], `${join(dir, 'missing.yaml')}: cannot read: ENOENT`],
    ];
    await assertAllRefused(cases);
  });
});

/** uvsadm -Ln's banner and titles, as --check-config prints them (the default --conn-max's size). */
const LN_HEAD = 'IP Virtual Server version 1.2.1 (size=1048576)\nProt LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n';

test('uvsd --check-config: the table a start would set up, printed as uvsadm -Ln, warnings on stderr, exit 0; a table a start would refuse: FILE:LINE, exit 2; nothing opened (runs as nobody)', async () => {
  await withConfigDir(async (_dir, file) => {
    const conf = (rs2: string) => file(`k${rs2}.conf`, [
      'global_defs {', '  router_id lb1', '}',
      'virtual_server 192.168.8.200 80 {', '  lb_algo wrr', '  lb_kind DR', '  protocol TCP', '  persistance_timeout 50',
      '  real_server 192.168.8.20 80 {', '    weight 3', '    TCP_CHECK {', '      connect_timeout 2', '    }', '  }',
      `  real_server ${rs2} 80 {`, '    weight 1', '  }', '}', '',
    ].join('\n'));
    const off = conf('10.1.1.1');
    const plain = file('up.sh', '#!/bin/sh\n'); // mode 0644: not executable
    const misc = file('misc.conf', 'virtual_server 192.168.8.200 80 {\n  quorum_down "/nonexistent/down.sh"\n  quorum_up /bin/true\n  real_server 192.168.8.20 80 {\n' +
      `    notify_up "${plain} up"\n    MISC_CHECK {\n      misc_path "/nonexistent/check.sh 80"\n      user nobody\n    }\n  }\n  protocol TCP\n  lb_algo wlc\n  lb_kind DR\n}\n`);
    const myaml = file('misc.yaml', ['services:', '  - proto: tcp', '    address: 192.168.8.200', '    port: 80', '    health:',
      '      quorum-down: /nonexistent/down.sh', '      quorum-up: /bin/true', '    servers:', '      - address: 192.168.8.20', '        health:',
      `          notify-up: "${plain} up"`, '          checks:', '            - { type: misc, misc-path: "/nonexistent/check.sh 80" }', ''].join('\n'));
    // The files' checks are independent processes: run side by side, looked at in turn below.
    const [good, bad, groups, m, my] = await uvsdEach([
      ['--check-config', '--keepalived-conf', conf('192.168.8.21'), ...ADDR],
      // A server off every --addr network (DR).
      ['--check-config', '--keepalived-conf', off, ...ADDR],
      // An HA group address nothing in the table uses (a typo?).
      ['--check-config', '--keepalived-conf', conf('192.168.8.21'), ...ADDR, '--ha-group', 'web=192.168.8.200,192.168.8.201'],
      // A MISC_CHECK script that is not there, notify and quorum commands likewise.
      ['--check-config', '--keepalived-conf', misc, ...ADDR],
      ['--check-config', '--config', myaml, ...ADDR],
    ]);
    assert.equal(good.code, 0, good.stderr);
    assert.equal(good.stdout,
      LN_HEAD +
      'TCP  192.168.8.200:80 wrr\n' +
      '  -> 192.168.8.20:80              Route   3      0          0         \n' +
      '  -> 192.168.8.21:80              Route   1      0          0         \n');
    const warn = good.stderr.split('\n').filter((l) => l !== '');
    assert.match(warn[0]!, /^uvsd: warning: keepalived\.conf: .*k192\.168\.8\.21\.conf:1: global_defs ignored/);
    assert.match(warn[1]!, /^uvsd: warning: keepalived\.conf: .*:8: unsupported keyword "persistance_timeout"/, 'a misspelt keyword is shown');
    assert.equal(warn[2], 'uvsd: configuration OK: 1 service, 2 servers, 2 warnings');
    // A server off every --addr network (DR): refused as the start would refuse it, with the line.
    assert.equal(bad.code, 2, bad.stderr);
    assert.equal(bad.stdout, '');
    assert.match(bad.stderr.split('\n').at(-2)!, new RegExp(`^uvsd: ${off.replaceAll('.', '\\.')}:15: add server TCP 192\\.168\\.8\\.200:80 -> 10\\.1\\.1\\.1:80 weight 1: Real server is not on a directly connected network`));
    // An HA group address nothing in the table uses (a typo?): a warning, not an error.
    assert.equal(groups.code, 0, groups.stderr);
    assert.match(groups.stderr, /^uvsd: warning: HA group web: 192\.168\.8\.201 is no VIP, local address or floating --addr of the table \(yet\); it moves with nothing until one uses it$/m);
    assert.match(groups.stderr, /configuration OK: 1 service, 2 servers, 3 warnings\n$/);
    // A MISC_CHECK script that is not there: a warning with the misc_path line (a start would run the check and fail it).
    // Notify and quorum commands likewise (keepalived checks its scripts at load); one that runs is not warned about.
    assert.equal(m.code, 0, m.stderr);
    assert.equal(m.stderr, `uvsd: warning: keepalived.conf: ${misc}:2: quorum_down: /nonexistent/down.sh not found: it will fail when it is run\n` +
      `uvsd: warning: keepalived.conf: ${misc}:5: notify_up: ${plain} is not executable: it will fail when it is run\n` +
      `uvsd: warning: keepalived.conf: ${misc}:7: MISC_CHECK misc_path: /nonexistent/check.sh not found: the check fails (its real_server down) until it can run\n` +
      `uvsd: warning: keepalived.conf: ${misc}:2: scripts without a user run as root (uvsd's user): global_defs has no script_user and there is no keepalived_script user\n` +
      'uvsd: configuration OK: 1 service, 1 server, 4 warnings\n');
    // The YAML config file's command lines likewise, each named by its line and field.
    assert.equal(my.code, 0, my.stderr);
    assert.equal(my.stderr, `uvsd: warning: ${myaml}:6: services[0].health.quorum-down: /nonexistent/down.sh not found: it will fail when it is run\n` +
      `uvsd: warning: ${myaml}:11: services[0].servers[0].health.notify-up: ${plain} is not executable: it will fail when it is run\n` +
      `uvsd: warning: ${myaml}:13: services[0].servers[0].health.checks[0].misc-path: /nonexistent/check.sh not found: the check fails (its real server down) until it can run\n` +
      'uvsd: configuration OK: 1 service, 1 server, 3 warnings\n');
    // The YAML config file the same way.
    const yaml = file('u.yaml', 'services:\n  - proto: udp\n    address: 192.168.8.200\n    port: 53\n    scheduler: nosuch\n');
    await assertAllRefused([
      [['--check-config', '--config', yaml, ...ADDR], `${yaml}:2: add service UDP 192.168.8.200:53 (nosuch): Scheduler or persistence engine not found: nosuch`],
      [['--check-config', ...ADDR], '--check-config needs --config or --keepalived-conf'],
    ]);
  });
});


test('uvsd --check-config: SIGINT or SIGTERM ends it at once, by the signal: one sent as bin/uvsd starts (held until then) and one during the check (before 2026-12-06 both were lost: the check ran to its end, exit 0)', async (t) => {
  await withConfigDir(async (_dir, file) => {
    // 2,000 services: a check of about a second, long enough to be stopped in.
    const services = Array.from({ length: 2000 }, (_, i) => `  - proto: tcp\n    address: 192.168.8.200\n    port: ${10000 + i}\n    servers:\n      - address: 192.168.8.20\n`);
    const cfg = file('big.yaml', `services:\n${services.join('')}`);
    const SIGNO = { SIGINT: 2, SIGTERM: 15 } as const;
    const run = (sig: 'SIGINT' | 'SIGTERM', when: 'start' | 'check') => new Promise<string>((resolve) => {
      const c = spawn(process.execPath, uvsdArgv(['--check-config', '--config', cfg, ...ADDR]).slice(1), { cwd: repoRoot, stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      c.stderr.on('data', (d: Buffer) => { err += d.toString(); });
      const pid = c.pid!;
      // start: bin/uvsd's first line caught SIGHUP (and held SIGTERM and SIGINT: node runs with its
      // flags); check: and then let go of `sig` again (uvsd's check has begun, or was about to).
      const due = (): boolean => sigCaught(pid, 1) && (when === 'start' || !sigCaught(pid, SIGNO[sig]));
      let sent = -1;
      const t0 = performance.now();
      const poll = setInterval(() => {
        if (sent < 0 && due()) {
          sent = performance.now() - t0;
          c.kill(sig);
        }
      }, 1);
      c.on('exit', (code, signal) => {
        clearInterval(poll);
        resolve(`${when} ${sig}: sent ${sent < 0 ? 'never' : `at ${Math.round(sent)} ms`}, exit ${code ?? signal}${err.includes('configuration OK') ? ', configuration OK' : ''}`);
      });
    });
    const got = await Promise.all([run('SIGINT', 'start'), run('SIGTERM', 'start'), run('SIGINT', 'check'), run('SIGTERM', 'check')]);
    t.diagnostic(got.join('; '));
    assert.deepEqual(got.map((g) => g.replace(/ at \d+ ms/, '')), ['start SIGINT: sent, exit SIGINT', 'start SIGTERM: sent, exit SIGTERM', 'check SIGINT: sent, exit SIGINT', 'check SIGTERM: sent, exit SIGTERM']);
  });
});

test('uvsd --check-config applies the health checker\'s start rules: alpha servers start failed (out, or weight 0 with inhibit_on_failure), a quorum not met puts the sorry server in; each said in a note', async () => {
  await withConfigDir(async (_dir, file) => {
    const conf = file('start.conf', [
      'virtual_server 192.168.8.200 80 {', '  lb_algo rr', '  lb_kind DR', '  protocol TCP', '  quorum 2', '  hysteresis 1', '  sorry_server 192.168.8.40 80',
      '  real_server 192.168.8.20 80 {', '    TCP_CHECK {', '      connect_timeout 1', '    }', '  }',
      '  real_server 192.168.8.30 80 {', '    TCP_CHECK {', '      connect_timeout 1', '    }', '  }', '}',
      'virtual_server 192.168.8.201 80 {', '  lb_algo rr', '  lb_kind DR', '  protocol TCP', '  alpha',
      '  real_server 192.168.8.20 80 {', '    TCP_CHECK {', '      connect_timeout 1', '    }', '  }',
      '  real_server 192.168.8.30 80 {', '    inhibit_on_failure', '    TCP_CHECK {', '      connect_timeout 1', '    }', '  }',
      '  real_server 192.168.8.31 80 {', '    weight 2', '  }', '}', '',
    ].join('\n'));
    const r = await uvsd(['--check-config', '--keepalived-conf', conf, ...ADDR]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout,
      LN_HEAD +
      'TCP  192.168.8.200:80 rr\n' +
      '  -> 192.168.8.40:80              Route   1      0          0         \n' +
      'TCP  192.168.8.201:80 rr\n' +
      '  -> 192.168.8.30:80              Route   0      0          0         \n' +
      '  -> 192.168.8.31:80              Route   2      0          0         \n');
    assert.deepEqual(r.stderr.split('\n').filter((l) => l !== ''), [
      'uvsd: note: TCP 192.168.8.200:80 starts with its quorum down (alive weight 2 < quorum 2 + hysteresis 1): sorry server 192.168.8.40:80 in, its servers held out until enough pass their checks',
      'uvsd: note: TCP 192.168.8.201:80 -> 192.168.8.20:80 starts failed (alpha): out of the table until its checks pass',
      'uvsd: note: TCP 192.168.8.201:80 -> 192.168.8.30:80 starts failed (alpha): at weight 0 until its checks pass',
      'uvsd: configuration OK: 2 services, 3 servers',
    ]);
  });
});

test('every uvsd configuration example in the docs (```yaml blocks of README.md and docs/*.md whose first key is daemon, timeouts, marks or services, "..." fragments aside) passes uvsd --check-config', async () => {
  const examples: Array<{ where: string; text: string }> = [];
  for (const src of markdownFiles()) {
    const md = readFileSync(join(repoRoot, src), 'utf8');
    for (const m of md.matchAll(/```ya?ml\n([\s\S]*?)```/g)) {
      const text = m[1]!;
      const first = /^([a-z-]+):/m.exec(text)?.[1];
      if (first === undefined || !['daemon', 'timeouts', 'marks', 'services'].includes(first) || text.includes('...')) continue;
      examples.push({ where: `${src}:${md.slice(0, m.index).split('\n').length + 1}`, text });
    }
  }
  assert.ok(examples.length >= 4, `examples found: ${examples.map((e) => e.where).join(' ')}`);
  await withConfigDir(async (dir, file) => {
    // The examples' state-file is under /var/lib/uvs (systemd's StateDirectory), not on this host:
    // the command line's wins (the file's value is still read and checked).
    const stateDir = join(dir, 'state');
    mkdirSync(stateDir);
    // Writable by nobody, and no other user's (uvsd refuses a state file's directory that is).
    if (isRoot) chownSync(stateDir, 65534, 65534);
    const runs = await uvsdEach(examples.map((ex, i) => ['--check-config', '--config', file(`example${i}.yaml`, ex.text), ...ADDR, '--state-file', join(stateDir, 'state.yaml')]));
    for (const [i, ex] of examples.entries()) {
      const r = runs[i]!;
      assert.equal(r.code, 0, `${ex.where}: ${r.stderr}`);
      assert.match(r.stderr, /configuration OK/, ex.where);
    }
  });
});

test('uvsd: an --addr or --gateway that is no unicast host is refused with one line naming it (as uvsadm refuses such VIPs), from the command line and the config file', async () => {
  await withConfigDir(async (_dir, file) => {
    const net = file('net.yaml', 'daemon:\n  addresses: [192.168.9.0/24]\n');
    const gw = file('gw.yaml', 'daemon:\n  addresses: [192.168.8.10/24]\n  gateway: 192.168.8.255\n');
    const cases: Array<[string[], string]> = [
      [['--addr', '0.0.0.0/0'], '--addr 0.0.0.0/0: not a unicast host address: a /0 network puts every address on the link'],
      [['--addr', '192.168.9.10/0'], '--addr 192.168.9.10/0: not a unicast host address: a /0 network puts every address on the link'],
      [['--addr', '127.0.0.1/8'], '--addr 127.0.0.1/8: not a unicast host address: 127.0.0.1 is a loopback address'],
      [['--addr', '224.0.0.5/24'], '--addr 224.0.0.5/24: not a unicast host address: 224.0.0.5 is a multicast address'],
      [['--addr', '192.168.9.255/24'], '--addr 192.168.9.255/24: not a unicast host address: 192.168.9.255 is the broadcast address of 192.168.9.0/24'],
      [[...ADDR, '--addr', '10.1.0.0/16'], '--addr 10.1.0.0/16: not a unicast host address: 10.1.0.0 is the network address of 10.1.0.0/16'],
      [[...ADDR, '--gateway', '192.168.8.10'], "--gateway: not a unicast host address: 192.168.8.10 is uvsd's own director address"],
      [[...ADDR, '--gateway', '192.168.8.0'], "--gateway: not a unicast host address: 192.168.8.0 is the network address of 192.168.8.10's network"],
      [['--config', net], `${net}:2: daemon.addresses: not a unicast host address: 192.168.9.0 is the network address of 192.168.9.0/24`],
      [['--config', gw], `${gw}:3: daemon.gateway: not a unicast host address: 192.168.8.255 is the broadcast address of 192.168.8.10's network`],
    ];
    await assertAllRefused(cases);
  });
});

test('uvsd --config: a bad file value is refused (exit 2, FILE:LINE) even where the command line wins; a combination of file values refused with the line', async () => {
  await withConfigDir(async (_dir, file) => {
    const addrs = file('addrs.yaml', 'daemon:\n  addresses: [300.1.1.1/99]\n');
    const metrics = file('metrics.yaml', 'daemon:\n  tap: uvs0\n  metrics: banana\n');
    const gateway = file('gateway.yaml', 'daemon:\n  addresses: [192.168.8.10/24]\n  gateway: 999.1.1.1\n');
    const offNet = file('offnet.yaml', 'daemon:\n  addresses: [192.168.8.10/24]\n  gateway: 10.1.0.1\n');
    const syncKey = file('sync.yaml', 'daemon:\n  addresses: [192.168.8.10/24]\n  sync:\n    backup: { sync-peer: 127.0.0.1, sync-key-file: /nonexistent-uvs/sync.key }\n');
    const cases: Array<[string[], string]> = [
      [['--config', addrs, ...ADDR], `${addrs}:2: daemon.addresses[0]: invalid address "300.1.1.1/99"`],
      [['--config', metrics, ...ADDR, '--metrics', '127.0.0.1:9478'], `${metrics}:3: daemon.metrics: invalid --metrics port in "banana"`],
      [['--config', gateway, ...ADDR, '--gateway', '192.168.8.1'], `${gateway}:3: daemon.gateway: must be an IPv4 address, got "999.1.1.1"`],
      [['--config', offNet], `${offNet}:3: daemon.gateway: 10.1.0.1 is not inside any network of the addresses (192.168.8.10/24)`],
      // daemon.sync as uvsadm --start-daemon checks it: a key file that is not there.
      [['--config', syncKey, ...ADDR], `${syncKey}:4: daemon.sync.backup: sync-key-file /nonexistent-uvs/sync.key: ENOENT`],
    ];
    await assertAllRefused(cases);
  });
});

test('uvsd --check-config of a large table into a pipe read late (stdout and stderr on it, a warning first: Node made it non-blocking) waits for its reader: all of the output, exit 0 (before 2026-12-07: EAGAIN, the output cut at ~64 KB, exit 1)', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'uvsd-check-pipe-'));
  try {
    const conf = join(tmp, 'big.conf');
    const vs = Array.from({ length: 1000 }, (_, i) => `virtual_server 192.168.8.200 ${1000 + i} {\n  lb_algo rr\n  lb_kind DR\n  protocol TCP\n  real_server 192.168.8.20 ${1000 + i} {\n    weight 1\n  }\n}\n`);
    writeFileSync(conf, `global_defs {\n  router_id x\n}\n${vs.join('')}`);
    const [node, ...argv] = uvsdArgv(['--check-config', '--keepalived-conf', conf, ...ADDR]);
    const cmd = `${[node!, ...argv].map((a) => `'${a}'`).join(' ')} 2>&1 | (sleep 1; cat > ${join(tmp, 'out')}); exit \${PIPESTATUS[0]}`;
    const r = spawnSync('bash', ['-c', cmd], { cwd: repoRoot, encoding: 'utf8', timeout: 30_000 });
    const out = readFileSync(join(tmp, 'out'), 'utf8');
    assert.equal(r.status, 0, `exit ${r.status}: ${out.slice(-300)}`);
    assert.ok(out.length > 90_000, `${out.length} bytes`);
    assert.match(out, /uvsd: configuration OK: 1000 services, 1000 servers, 1 warning\n/);
    assert.match(out, /TCP {2}192\.168\.8\.200:1999 rr\n {2}-> 192\.168\.8\.20:1999 {12}Route {3}1 /);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});
