// The real bin/uvsadm as a child process against a tiny fake uvsd (a unix socket server in a tmp
// dir that speaks the JSON-lines protocol and records every request), plus ControlClient directly.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ControlClient, ControlError } from '../src/control/client.js';
import { EXIT_NO_DAEMON, EXIT_REFUSED, EXIT_USAGE } from '../src/control/errors.js';
import type { Request, ServiceInfo } from '../src/control/protocol.js';

// dist/test/uvsadm-cli.test.js → repo root
const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

interface FakeDaemon {
  path: string;
  requests: Request[];
  services: ServiceInfo[];
  server: Server;
}

/** Just enough uvsd to exercise uvsadm: add/list in memory, refuse what it does not know. */
function startFake(path: string, opts: { silent?: boolean } = {}): Promise<FakeDaemon> {
  const fake: FakeDaemon = { path, requests: [], services: [], server: createServer() };
  const reply = (sock: Socket, body: object): void => {
    sock.write(JSON.stringify(body) + '\n');
  };
  fake.server.on('connection', (sock) => {
    let buf = '';
    sock.setEncoding('utf8');
    sock.on('data', (chunk: string) => {
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const req = JSON.parse(buf.slice(0, nl)) as Request;
        buf = buf.slice(nl + 1);
        fake.requests.push(req);
        if (opts.silent) continue;
        const a = req.args as Record<string, unknown>;
        const find = (k: Record<string, unknown>) => fake.services.find((s) => s.proto === k.proto && s.addr === k.addr && s.port === k.port);
        switch (req.verb) {
          case 'addService': {
            if (find(a)) {
              reply(sock, { id: req.id, ok: false, error: { code: 'SERVICE_EXISTS', message: 'Service already exists' } });
              break;
            }
            fake.services.push({ proto: a.proto as 'tcp', addr: a.addr as string, port: a.port as number, sched: (a.sched as string) ?? 'wlc', flags: [], dests: [] });
            reply(sock, { id: req.id, ok: true, result: null });
            break;
          }
          case 'addDest': {
            const svc = find(a.service as Record<string, unknown>);
            if (!svc) {
              reply(sock, { id: req.id, ok: false, error: { code: 'SERVICE_NOT_FOUND', message: 'Service not defined' } });
              break;
            }
            svc.dests.push({ addr: a.addr as string, port: a.port as number, fwd: (a.fwd as 'dr') ?? 'dr', weight: (a.weight as number) ?? 1, active: 0, inactive: 0 });
            reply(sock, { id: req.id, ok: true, result: null });
            break;
          }
          case 'list':
            reply(sock, { id: req.id, ok: true, result: { size: 4096, services: fake.services } });
            break;
          default:
            reply(sock, { id: req.id, ok: false, error: { code: 'SERVICE_NOT_FOUND', message: 'Service not defined' } });
        }
      }
    });
    sock.on('error', () => {});
  });
  return new Promise((resolve, reject) => {
    fake.server.once('error', reject);
    fake.server.listen(path, () => resolve(fake));
  });
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Async on purpose: the fake daemon lives in this process and must keep answering. */
function uvsadm(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['bin/uvsadm', ...args], { cwd: repoRoot, env: { ...process.env, UVS_SOCKET: '', ...env } },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
        resolve({ code, stdout, stderr });
      });
  });
}

let dir: string;
let fake: FakeDaemon;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'uvsadm-test-'));
  fake = await startFake(join(dir, 'uvsd.sock'));
});

after(() => {
  fake.server.close();
  rmSync(dir, { recursive: true, force: true });
});

test('-A / -a / -Ln round trip through the socket', async () => {
  const sock = ['--socket', fake.path];
  let r = await uvsadm(['-A', '-t', '192.168.8.200:80', '-s', 'rr', ...sock]);
  assert.deepEqual(r, { code: 0, stdout: '', stderr: '' });
  r = await uvsadm(['-a', '-t', '192.168.8.200:80', '-r', '192.168.8.20', ...sock]);
  assert.deepEqual(r, { code: 0, stdout: '', stderr: '' });
  r = await uvsadm(['-a', '-t', '192.168.8.200:80', '-r', '192.168.8.21:8080', '-m', '-w', '3', ...sock]);
  assert.deepEqual(r, { code: 0, stdout: '', stderr: '' });

  const [addSvc, addDr, addNat] = fake.requests.slice(-3);
  assert.equal(typeof addSvc?.id, 'number');
  assert.deepEqual({ verb: addSvc?.verb, args: addSvc?.args }, {
    verb: 'addService', args: { proto: 'tcp', addr: '192.168.8.200', port: 80, sched: 'rr' },
  });
  const service = { proto: 'tcp', addr: '192.168.8.200', port: 80 };
  assert.deepEqual({ verb: addDr?.verb, args: addDr?.args }, {
    verb: 'addDest', args: { service, addr: '192.168.8.20', port: 80, fwd: 'dr', weight: 1 },
  });
  assert.deepEqual({ verb: addNat?.verb, args: addNat?.args }, {
    verb: 'addDest', args: { service, addr: '192.168.8.21', port: 8080, fwd: 'nat', weight: 3 },
  });

  r = await uvsadm(['-Ln'], { UVS_SOCKET: fake.path });
  assert.equal(r.stderr, '');
  assert.equal(r.code, 0);
  assert.equal(
    r.stdout,
    'IP Virtual Server version 1.2.1 (size=4096)\n' +
      'Prot LocalAddress:Port Scheduler Flags\n' +
      '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n' +
      'TCP  192.168.8.200:80 rr\n' +
      '  -> 192.168.8.20:80              Route   1      0          0         \n' +
      '  -> 192.168.8.21:8080            Masq    3      0          0         \n',
  );
  assert.deepEqual(fake.requests.at(-1)?.verb, 'list');

  r = await uvsadm(['-L', '-n', '-t', '192.168.8.200:80', ...sock]);
  assert.equal(r.code, 0);
  assert.ok(r.stdout.startsWith('Prot LocalAddress:Port Scheduler Flags\n'), r.stdout);
  assert.ok(r.stdout.includes('TCP  192.168.8.200:80 rr\n'));

  r = await uvsadm(['-Ln', '-t', '192.168.8.200:81', ...sock]);
  assert.deepEqual(r, { code: EXIT_REFUSED, stdout: '', stderr: 'uvsadm: Service not defined\n' });
});

test('a refused request prints the daemon message and exits 1', async () => {
  const r = await uvsadm(['-A', '-t', '192.168.8.200:80', '--socket', fake.path]);
  assert.deepEqual(r, { code: EXIT_REFUSED, stdout: '', stderr: 'uvsadm: Service already exists\n' });
  const r2 = await uvsadm(['-D', '-t', '10.9.9.9:99', '--socket', fake.path]);
  assert.deepEqual(r2, { code: EXIT_REFUSED, stdout: '', stderr: 'uvsadm: Service not defined\n' });
  assert.deepEqual(fake.requests.at(-1)?.args, { proto: 'tcp', addr: '10.9.9.9', port: 99 });
});

test('no daemon: "cannot connect to uvsd at <path>" and a non-zero exit', async () => {
  const path = join(dir, 'nobody-home.sock');
  const r = await uvsadm(['-Ln', '--socket', path]);
  assert.equal(r.code, EXIT_NO_DAEMON);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /^uvsadm: cannot connect to uvsd at .*nobody-home\.sock: No such file or directory\n$/);
});

test('usage errors exit 2 without touching the daemon; -h prints help on stdout', async () => {
  const before = fake.requests.length;
  const r = await uvsadm(['-A', '-t', '192.168.8.200:80x', '--socket', fake.path]);
  assert.deepEqual(r, { code: EXIT_USAGE, stdout: '', stderr: 'uvsadm: invalid port "80x" in "192.168.8.200:80x"\n' });
  const h = await uvsadm(['-h']);
  assert.equal(h.code, 0);
  assert.match(h.stdout, /--add-service +-A/);
  assert.equal(fake.requests.length, before);
});

test('ControlClient: incrementing ids, results, refusals as ControlError', async () => {
  const client = await ControlClient.connect(fake.path);
  try {
    const first = fake.requests.length;
    const list = await client.call('list', {});
    assert.equal(list.size, 4096);
    await assert.rejects(client.call('deleteService', { proto: 'udp', addr: '1.1.1.1', port: 1 }), (err: unknown) => {
      assert.ok(err instanceof ControlError);
      assert.equal(err.code, 'SERVICE_NOT_FOUND');
      assert.equal(err.message, 'Service not defined');
      return true;
    });
    const ids = fake.requests.slice(first).map((r) => r.id);
    assert.deepEqual(ids, [1, 2]);
  } finally {
    client.close();
  }
});

test('ControlClient: a silent daemon times out with code TIMEOUT', async () => {
  const silent = await startFake(join(dir, 'silent.sock'), { silent: true });
  try {
    const client = await ControlClient.connect(silent.path, { timeoutMs: 200 });
    try {
      await assert.rejects(client.call('list', {}), (err: unknown) => err instanceof ControlError && err.code === 'TIMEOUT' && /no reply from uvsd/.test(err.message));
    } finally {
      client.close();
    }
  } finally {
    silent.server.close();
  }
});
