// test-class: lab
// uvs-decap's command line (src/cli/decap.ts): a bad option is refused with exit 2 and one stderr
// line naming the option and the value, before anything is opened, as uvsd's (uvsd-refusals.test.ts);
// -V prints the version. When run as root the refusals run as user nobody (65534), who cannot
// open the packet socket or the TUN: a value taken by mistake shows as exit 1 instead of 2.
// What uvs-decap does with good options: integration-tun.test.ts; here --mtu 9000 in a namespace
// of its own (a veth pair, frames written into its other end).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { nodeArgv, repoRoot } from './lab/dr-lab.js';
import { Lab, delay, labUnavailableReason, within } from './lab/netns.js';
import { eth, ipv4, udp } from './helpers/frames.js';

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
    [['--bogus'], "uvs-decap: unknown option '--bogus'"], // named before the missing --vip (was: "required option ... not specified")
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

test('uvs-decap --dev naming no interface is one line naming the option, exit 1, before anything is opened (it was the packet socket\'s "if_nametoindex eth9: No such device")', async () => {
  assert.deepEqual(await decap([...VIP, '--dev', 'nosuchdev9']), {
    code: 1, stdout: '', stderr: 'uvs-decap: --dev nosuchdev9: no such interface in this network namespace (the one the director\'s tunnelled packets arrive on)\n',
  });
});

test('uvs-decap -V / --version prints package.json\'s version, as uvsd -V; --help shows the defaults as numbers', async () => {
  const { version } = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string };
  for (const flag of ['-V', '--version']) assert.deepEqual(await decap([flag]), { code: 0, stdout: `uvs-decap ${version}\n`, stderr: '' });
  const help = await decap(['--help']);
  assert.equal(help.code, 0, help.stderr);
  assert.match(help.stdout, /--mtu <n> +MTU of the TUN device, 576\.\.9000 \(default: 1480\)\n/);
  assert.match(help.stdout, /-V, --version/);
});

/** Writes the frame (hex) argv[2] times into interface argv[1] through a packet socket. */
const SEND = 'import socket, sys\ns = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)\ns.bind((sys.argv[1], 0))\nf = bytes.fromhex(sys.argv[3])\nfor _ in range(int(sys.argv[2])): s.send(f)\n';

/** A namespace whose eth0 (MTU 9000, 192.168.8.20/24) is fed by writing into its veth peer `wire`. */
async function jumboLink(lab: Lab): Promise<string> {
  const ns = await lab.addNs('rs');
  await lab.addVeth({ ns, ifname: 'eth0' }, { ns, ifname: 'wire' });
  await lab.batch(ns, ['link set eth0 mtu 9000', 'link set wire mtu 9000', 'addr add 192.168.8.20/24 dev eth0']);
  return ns;
}

/** A 2,974-byte IPIP frame to eth0 of `ns`: a 2,940-byte UDP datagram to the VIP inside. */
async function ipipFrame(lab: Lab, ns: string): Promise<Buffer> {
  const inner = ipv4({ src: '198.51.100.7', dst: '192.168.8.200', proto: 17 }, udp({ src: '198.51.100.7', dst: '192.168.8.200', sport: 40000, dport: 53, payload: Buffer.alloc(2940 - 28, 1) }));
  return eth({ dst: await lab.macOf(ns, 'eth0'), src: '02:00:00:00:00:0a', type: 0x0800 }, ipv4({ src: '192.168.8.10', dst: '192.168.8.20', proto: 4 }, inner));
}

test('uvs-decap --mtu 9000 on a device of MTU 9000 decapsulates 2974-byte IPIP frames (it read 2112 bytes of each and counted it "ignored"); its TUN deleted, it stops with one line and its counts', { skip: labUnavailableReason() ?? false, timeout: 30_000 }, async (t) => {
  const lab = new Lab('uvsdc');
  t.after(() => lab.destroy());
  const ns = await jumboLink(lab);
  const d = lab.spawn(ns, nodeArgv(join(repoRoot, 'bin', 'uvs-decap'), [...VIP, '--dev', 'eth0', '--mtu', '9000']), { cwd: repoRoot });
  await d.waitForLine(/uvs-decap ready/, 15_000);
  const frame = await ipipFrame(lab, ns);
  assert.equal(frame.length, 2974);
  await lab.must(['python3', '-c', SEND, 'wire', '4', frame.toString('hex')], ns);
  // Each packet decapsulated is one received by the TUN; up to 5 s for the four (none at all
  // before the fix), then SIGTERM prints the counts.
  const tunRx = async () => Number((await lab.exec(ns, ['cat', '/sys/class/net/uvsdecap0/statistics/rx_packets'])).stdout);
  for (let i = 0; i < 50 && (await tunRx()) < 4; i++) await delay(100);
  // Its TUN deleted under it: the next frame's write fails (EBADFD), uvs-decap says so in one
  // line, prints its counts and exits 1 (it died on an uncaught error before, no counts).
  await lab.must(['ip', 'link', 'del', 'uvsdecap0'], ns);
  await lab.must(['python3', '-c', SEND, 'wire', '1', frame.toString('hex')], ns);
  const code = await within(d.exited, 5000, 'still running');
  assert.equal(code, 1, `exit ${code}: ${d.stderr()}`);
  assert.match(d.stderr(), /^uvs-decap: .*; stopping\n$/);
  const last = JSON.parse(d.stdout().trim().split('\n').pop()!) as Record<string, unknown>;
  assert.deepEqual([last['msg'], last['decapsulated'], last['ignored'], last['truncated']], ['uvs-decap stopped', 4, 0, 0], d.stdout());
});

test('uvs-decap left at --mtu 1480 on a device of MTU 9000 says so at start with the --mtu to use, and logs the frames it then cuts (truncated) within seconds, not only in its exit summary', { skip: labUnavailableReason() ?? false, timeout: 30_000 }, async (t) => {
  const lab = new Lab('uvsdj');
  t.after(() => lab.destroy());
  const ns = await jumboLink(lab);
  const d = lab.spawn(ns, nodeArgv(join(repoRoot, 'bin', 'uvs-decap'), [...VIP, '--dev', 'eth0']), { cwd: repoRoot });
  await d.waitForLine(/uvs-decap ready/, 15_000);
  const start = d.stdout().split('\n').find((l) => l.includes('"warn"')) ?? '';
  assert.match(start, /eth0 has MTU 9000, above what --mtu 1480 reads \(2098 bytes\): .*truncated.*--mtu 8980/, d.stdout());
  const frame = await ipipFrame(lab, ns);
  await lab.must(['python3', '-c', SEND, 'wire', '3', frame.toString('hex')], ns);
  const line = await d.waitForLine(/cut short/, 5000);
  assert.match(line, /"uvs-decap: 3 tunnelled frames cut short and dropped \(truncated\): longer than the 2098 bytes --mtu 1480 reads; start uvs-decap with --mtu 8980"/);
});
