// test-class: shared
// uvsd's checks of its limits at start: the file descriptor limit (src/cli/fdlimit.ts, bin/uvsd's
// first step) and the connection table against the memory limit of its cgroup (src/cli/memlimit.ts),
// read from fixture files (test/fixtures/limits: /proc/self/limits, /proc/self/cgroup, cgroup
// trees of v1 and v2), then bin/uvsd itself under prlimit and, where this host lets a child
// memory cgroup be made, in one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmdirSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fdLimitProblem, fdLimitWorkersProblem, NOFILE_MIN, NOFILE_WARN, nofileForWorkers, openFilesLimit, parseOpenFiles } from '../src/cli/fdlimit.js';
import { memoryCgroup, memoryLimit, tableMemoryProblem } from '../src/cli/memlimit.js';

const F = fileURLToPath(new URL('../../test/fixtures/limits/', import.meta.url));
const UVSD = fileURLToPath(new URL('../../bin/uvsd', import.meta.url));
const MIB = 1024 * 1024;

test('nofile: the soft "Max open files" of /proc/self/limits (unlimited: Infinity); refused below 128, warned below 1024, nothing from 1024 or when /proc cannot tell', () => {
  assert.equal(openFilesLimit(join(F, 'proc-limits')), 1024);
  assert.equal(openFilesLimit(join(F, 'proc-limits-unlimited')), Infinity);
  assert.equal(openFilesLimit(join(F, 'no-such-file')), undefined);
  assert.equal(parseOpenFiles('Max cpu time unlimited unlimited seconds\n'), undefined);
  assert.deepEqual([NOFILE_MIN, NOFILE_WARN], [128, 1024]);
  assert.deepEqual(fdLimitProblem(64), { refuse: true, message: 'the file descriptor limit (nofile) is 64: uvsd needs at least 128 (raise it: LimitNOFILE=, ulimit -n, prlimit --nofile)' });
  assert.equal(fdLimitProblem(127)?.refuse, true);
  assert.deepEqual(fdLimitProblem(128), { refuse: false, message: 'the file descriptor limit (nofile) is 128, below 1024: health checks and control and metrics clients may run out of descriptors' });
  assert.deepEqual([fdLimitProblem(1024), fdLimitProblem(Infinity), fdLimitProblem(undefined)], [undefined, undefined, undefined]);
});

test('bin/uvsd under prlimit --nofile=64: exit 2 with one line naming the limit (before: EMFILE loading its modules and a stack trace); at 128 it starts (--version); a soft limit of 64 under a hard one of 20000 is raised by node', { skip: spawnSync('prlimit', ['--version']).status !== 0 ? 'no prlimit' : false }, () => {
  const low = spawnSync('prlimit', ['--nofile=64', UVSD, '--version'], { encoding: 'utf8' });
  assert.equal(low.status, 2, low.stderr);
  assert.equal(low.stderr, 'uvsd: the file descriptor limit (nofile) is 64: uvsd needs at least 128 (raise it: LimitNOFILE=, ulimit -n, prlimit --nofile)\n');
  for (const lim of ['128', '64:20000']) {
    const ok = spawnSync('prlimit', [`--nofile=${lim}`, UVSD, '--version'], { encoding: 'utf8' });
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, /^uvsd /);
  }
});

test('nofile with --workers: 32 more descriptors per worker past 2 (they start at once); below that uvsd --workers N exits 2 with one line naming the limit and the need, before it opens anything (before 2026-12-07: --workers 3 under 128 failed a worker\'s module load, EMFILE naming a .js file, exit 1)', { skip: spawnSync('prlimit', ['--version']).status !== 0 ? 'no prlimit' : false }, () => {
  assert.deepEqual([1, 2, 3, 4, 8].map(nofileForWorkers), [128, 128, 160, 192, 320]);
  assert.deepEqual([fdLimitWorkersProblem(128, 2), fdLimitWorkersProblem(160, 3), fdLimitWorkersProblem(undefined, 8), fdLimitWorkersProblem(Infinity, 8)], [undefined, undefined, undefined, undefined]);
  const line = 'the file descriptor limit (nofile) is 128: uvsd --workers 3 needs at least 160 to start its workers (raise it: LimitNOFILE=, ulimit -n, prlimit --nofile)';
  assert.equal(fdLimitWorkersProblem(128, 3), line);
  const r = spawnSync('prlimit', ['--nofile=128', UVSD, '--tap', 'uvsnofile0', '--addr', '192.168.99.9/24', '--workers', '3', '--socket', join(tmpdir(), 'uvs-nofile-none.sock')], { encoding: 'utf8', timeout: 20_000 });
  assert.deepEqual([r.status, r.stderr], [2, `uvsd: ${line}\n`]);
});

test('memory cgroup of /proc/self/cgroup: v1\'s memory controller line, else v2\'s 0::PATH', () => {
  assert.deepEqual(memoryCgroup(readFileSync(join(F, 'cgroup-v1'), 'utf8')), { version: 1, path: '/system.slice/uvsd.service' });
  assert.deepEqual(memoryCgroup(readFileSync(join(F, 'cgroup-v2'), 'utf8')), { version: 2, path: '/system.slice/uvsd.service' });
  assert.equal(memoryCgroup('1:name=systemd:/\n'), undefined);
});

test('memory limit: the lowest over the cgroup and its parents (v1 memory.limit_in_bytes, v2 memory.max; "max" and v1\'s 2^63 are none); none readable: undefined', () => {
  assert.deepEqual(memoryLimit({ procCgroup: join(F, 'cgroup-v1'), root: join(F, 'v1') }),
    { bytes: 150 * MIB, file: join(F, 'v1/memory/system.slice/uvsd.service/memory.limit_in_bytes') });
  assert.deepEqual(memoryLimit({ procCgroup: join(F, 'cgroup-v2'), root: join(F, 'v2') }),
    { bytes: 200 * MIB, file: join(F, 'v2/system.slice/memory.max') }, 'the service\'s own is max: its parent\'s');
  assert.equal(memoryLimit({ procCgroup: join(F, 'cgroup-v2'), root: join(F, 'v1') }), undefined, 'no such files');
  assert.equal(memoryLimit({ procCgroup: join(F, 'no-such-file'), root: join(F, 'v1') }), undefined);
});

test('--conn-max against the memory limit: refused with one line (the table\'s MiB, what uvsd needs besides, the limit and its file, the --conn-max that fits); worker threads need more; no limit: nothing', () => {
  const lim = { bytes: 150 * MIB, file: '/sys/fs/cgroup/memory/x/memory.limit_in_bytes' };
  assert.equal(tableMemoryProblem(8388608, 0, lim),
    'the connection table needs 768 MiB for --conn-max 8388608, and uvsd ~128 MiB besides; the memory limit is 150 MiB (/sys/fs/cgroup/memory/x/memory.limit_in_bytes): give --conn-max 230686 or less, or raise the limit');
  assert.equal(tableMemoryProblem(230686, 0, lim), undefined, 'what the line offers fits');
  assert.equal(tableMemoryProblem(1048576, 0, { bytes: 1024 * MIB, file: 'f' }), undefined);
  assert.match(tableMemoryProblem(1048576, 0, { bytes: 200 * MIB, file: 'f' }) ?? '', /^the connection table needs 96 MiB for --conn-max 1048576, and uvsd ~128 MiB besides; the memory limit is 200 MiB \(f\): give --conn-max 754974 or less/);
  assert.match(tableMemoryProblem(1024, 4, { bytes: 200 * MIB, file: 'f' }) ?? '', /uvsd ~224 MiB besides; .*: raise the limit$/);
  assert.equal(tableMemoryProblem(8388608, 2, undefined), undefined);
});

test('memory limit: the host\'s memory (/proc/meminfo MemTotal) where no cgroup sets a lower one; a table larger than it is refused naming it (until 2026-12-07 unchecked: the OOM killer stopped uvsd while it prefaulted the table)', () => {
  const meminfo = join(F, 'meminfo');
  const host = { bytes: 4028192 * 1024, file: `${meminfo} MemTotal`, host: true };
  assert.deepEqual(memoryLimit({ procCgroup: join(F, 'no-such-file'), root: join(F, 'v1'), meminfo }), host, 'no cgroup: the host\'s memory');
  assert.deepEqual(memoryLimit({ procCgroup: join(F, 'cgroup-v2'), root: join(F, 'v1'), meminfo }), host, 'no cgroup limit readable: the host\'s memory');
  assert.deepEqual(memoryLimit({ procCgroup: join(F, 'cgroup-v1'), root: join(F, 'v1'), meminfo }),
    { bytes: 150 * MIB, file: join(F, 'v1/memory/system.slice/uvsd.service/memory.limit_in_bytes') }, 'a lower cgroup limit wins');
  assert.equal(memoryLimit({ procCgroup: join(F, 'no-such-file'), root: join(F, 'v1'), meminfo: join(F, 'no-such-file') }), undefined, 'nothing readable');
  assert.equal(tableMemoryProblem(67108864, 0, memoryLimit({ procCgroup: join(F, 'no-such-file'), root: join(F, 'v1'), meminfo })),
    `the connection table needs 6144 MiB for --conn-max 67108864, and uvsd ~128 MiB besides; the host has 3933 MiB of memory (${meminfo} MemTotal): give --conn-max 39898316 or less, or add memory`);
  assert.equal(tableMemoryProblem(1048576, 0, host), undefined, 'the default table fits a 4 GB host');
});

/** A child memory cgroup (v1) of this process's own, or why none can be made here. */
function childMemoryCgroup(limit: string): { dir: string; file: string } | { skip: string } {
  const cg = memoryCgroup(readFileSync('/proc/self/cgroup', 'utf8'));
  if (cg === undefined) return { skip: 'no memory cgroup in /proc/self/cgroup' };
  const dir = cg.version === 1 ? join('/sys/fs/cgroup/memory', cg.path, `uvs-test-${process.pid}`) : join('/sys/fs/cgroup', cg.path, `uvs-test-${process.pid}`);
  try {
    mkdirSync(dir);
  } catch (e) {
    return { skip: `cannot make a memory cgroup under ${dir}: ${(e as NodeJS.ErrnoException).code}` };
  }
  const file = join(dir, cg.version === 1 ? 'memory.limit_in_bytes' : 'memory.max');
  try {
    writeFileSync(file, limit);
  } catch (e) {
    rmdirSync(dir);
    return { skip: `cannot set the memory limit of ${dir}: ${(e as NodeJS.ErrnoException).code}` };
  }
  return { dir, file };
}

test('uvsd in a 150 MiB memory cgroup (itest): --conn-max 8388608 exits 2 with the one line, at start and with --check-config (before: killed by the OOM killer before logging anything); --conn-max 100000 passes --check-config', { timeout: 60_000 }, (t) => {
  if (spawnSync('unshare', ['-n', 'true']).status !== 0) return t.skip('unshare -n does not work here');
  const cg = childMemoryCgroup(String(150 * MIB));
  if ('skip' in cg) {
    t.diagnostic(cg.skip);
    return t.skip(cg.skip);
  }
  const tmp = mkdtempSync(join(tmpdir(), 'uvs-memlimit-'));
  try {
    const config = join(tmp, 'uvsd.yaml');
    writeFileSync(config, 'services: []\n');
    // In the cgroup, and in a network namespace of its own (uvsd never runs in the root one).
    const run = (args: string[]) => spawnSync('sh', ['-c', 'echo $$ > "$0/cgroup.procs" && exec unshare -n "$@"', cg.dir, process.execPath, UVSD,
      '--tap', 'uvs0', '--addr', '10.0.0.1/24', '--config', config, ...args], { encoding: 'utf8', timeout: 30_000 });
    const want = `uvsd: the connection table needs 768 MiB for --conn-max 8388608, and uvsd ~128 MiB besides; the memory limit is 150 MiB (${cg.file}): give --conn-max 230686 or less, or raise the limit\n`;
    for (const extra of [[], ['--check-config']]) {
      const r = run(['--conn-max', '8388608', ...extra]);
      assert.equal(r.status, 2, `${extra.join(' ')}: ${r.stderr}`);
      assert.equal(r.stderr, want);
    }
    const fits = run(['--conn-max', '100000', '--check-config']);
    assert.equal(fits.status, 0, fits.stderr);
    assert.match(fits.stderr, /configuration OK/);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
    rmdirSync(cg.dir);
  }
});
