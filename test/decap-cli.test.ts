// uvs-decap's command line (src/cli/decap.ts): a bad option is refused with exit 2 and one stderr
// line naming the option and the value, before anything is opened, as uvsd's (uvsd-cli.test.ts);
// -V prints the version. When run as root the refusals run as user nobody (65534), who cannot
// open the packet socket or the TUN: a value taken by mistake shows as exit 1 instead of 2.
// What uvs-decap does with good options: integration-tun.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { nodeArgv, repoRoot } from './lab/dr-lab.js';

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

function decap(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const [node, ...argv] = nodeArgv(join(repoRoot, 'bin', 'uvs-decap'), args);
  return new Promise((resolve) => {
    execFile(node!, argv, { cwd: repoRoot, encoding: 'utf8', timeout: 15_000, ...(isRoot ? { uid: 65534, gid: 65534 } : {}) }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : null, stdout, stderr });
    });
  });
}

const VIP = ['--vip', '192.168.8.200'];

test('uvs-decap refuses a bad option with exit 2 and one line naming it, commander\'s own errors too (before: exit 1 for those; --tun "", --mtu 1e3 / 0x300, --gue-port 1e3 taken)', async () => {
  const cases: Array<[string[], string]> = [
    [[], "uvs-decap: required option '--vip <list>' not specified"],
    [[...VIP, '--bogus'], "uvs-decap: unknown option '--bogus'"],
    [[...VIP, 'eth0'], 'uvs-decap: unexpected argument "eth0": uvs-decap takes options only (uvs-decap --help)'],
    [[...VIP, '--tun'], "uvs-decap: option '--tun <name>' argument missing"],
    [[...VIP, '--tun', ''], 'uvs-decap: --tun must be an interface name of 1..15 characters without "/" or spaces, got ""'],
    [[...VIP, '--dev', 'a/b'], 'uvs-decap: --dev must be an interface name of 1..15 characters without "/" or spaces, got "a/b"'],
    [[...VIP, '--mtu', '1e3'], 'uvs-decap: --mtu must be an integer 576..9000, got "1e3"'],
    [[...VIP, '--mtu', '0x300'], 'uvs-decap: --mtu must be an integer 576..9000, got "0x300"'],
    [[...VIP, '--mtu', '100'], 'uvs-decap: --mtu must be an integer 576..9000, got "100"'],
    [[...VIP, '--gue-port', '1e3'], 'uvs-decap: --gue-port must be an integer 1..65535, got "1e3"'],
    [[...VIP, '--gue-port', '0'], 'uvs-decap: --gue-port must be an integer 1..65535, got "0"'],
    [['--vip', '0.0.0.0'], 'uvs-decap: invalid VIP "0.0.0.0": 0.0.0.0 is not a host address'],
  ];
  const results = await Promise.all(cases.map(([args]) => decap(args)));
  for (const [i, r] of results.entries()) {
    const [args, want] = cases[i]!;
    assert.deepEqual({ code: r.code, stdout: r.stdout, stderr: r.stderr }, { code: 2, stdout: '', stderr: `${want}\n` }, `uvs-decap ${args.join(' ')}`);
  }
});

test('uvs-decap -V / --version prints package.json\'s version, as uvsd -V; --help shows the defaults as numbers', async () => {
  const { version } = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string };
  for (const flag of ['-V', '--version']) assert.deepEqual(await decap([flag]), { code: 0, stdout: `uvs-decap ${version}\n`, stderr: '' });
  const help = await decap(['--help']);
  assert.equal(help.code, 0, help.stderr);
  assert.match(help.stdout, /--mtu <n> +MTU of the TUN device, 576\.\.9000 \(default: 1480\)\n/);
  assert.match(help.stdout, /-V, --version/);
});
