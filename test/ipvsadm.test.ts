// The ipvsadm argument parser: every command, its defaults, ipvsadm's refusals, and a fuzz
// property that arbitrary argv only ever yields a well-typed command or a one-line UsageError.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { callFor, MAX_WEIGHT, parseArgs, UsageError } from '../src/control/ipvsadm.js';
import type { Command, ParseContext } from '../src/control/ipvsadm.js';
import { parseServices } from '../src/control/printers.js';
import { DEFAULT_SOCKET } from '../src/control/protocol.js';

const ctx: ParseContext = {
  env: {},
  ports: parseServices('http\t\t80/tcp\t\twww\nhttps 443/tcp\ndomain 53/tcp\ndomain 53/udp\n'),
};
const parse = (line: string, c: ParseContext = ctx): Command => parseArgs(line.split(' ').filter((s) => s !== ''), c);
const svc = { proto: 'tcp', addr: '192.168.8.200', port: 80 } as const;
const common = { numeric: false, socket: DEFAULT_SOCKET };

function usage(line: string, message: string | RegExp): void {
  assert.throws(() => parse(line), (err: unknown) => {
    assert.ok(err instanceof UsageError, `expected UsageError for ${line}, got ${String(err)}`);
    if (typeof message === 'string') assert.equal(err.message, message);
    else assert.match(err.message, message);
    assert.ok(!err.message.includes('\n'), 'one line');
    return true;
  });
}

test('-A defaults to wlc, -s overrides, long forms work', () => {
  assert.deepEqual(parse('-A -t 192.168.8.200:80'), { kind: 'addService', ...common, service: { ...svc, sched: 'wlc' } });
  assert.deepEqual(parse('--add-service --tcp-service 192.168.8.200:80 --scheduler rr'), {
    kind: 'addService', ...common, service: { ...svc, sched: 'rr' },
  });
  assert.deepEqual(parse('-A -u 10.0.0.1:53 -s sh'), {
    kind: 'addService', ...common, service: { proto: 'udp', addr: '10.0.0.1', port: 53, sched: 'sh' },
  });
  assert.deepEqual(parse('-At 192.168.8.200:80 -s rr'), { kind: 'addService', ...common, service: { ...svc, sched: 'rr' } });
});

test('-E sends sched only if given; -D and -C', () => {
  assert.deepEqual(parse('-E -t 192.168.8.200:80'), { kind: 'editService', ...common, service: { ...svc } });
  assert.deepEqual(parse('-E -t 192.168.8.200:80 -s lc'), { kind: 'editService', ...common, service: { ...svc, sched: 'lc' } });
  assert.deepEqual(parse('-D -t 192.168.8.200:80'), { kind: 'deleteService', ...common, service: svc });
  assert.deepEqual(parse('--delete-service -t 192.168.8.200:80'), { kind: 'deleteService', ...common, service: svc });
  assert.deepEqual(parse('-C'), { kind: 'clear', ...common });
  assert.deepEqual(parse('--clear'), { kind: 'clear', ...common });
});

test('--status is a command of its own and takes no service options', () => {
  assert.deepEqual(parse('--status'), { kind: 'status', ...common });
  assert.deepEqual(parse('--status -n'), { kind: 'status', ...common, numeric: true });
  assert.throws(() => parse('--status -t 192.168.8.200:80'), /Illegal 'service-address' option with the 'status' command/);
  assert.throws(() => parse('--status -L'), /multiple commands specified/);
});

test('-a: -r without port takes the service port, defaults dr and weight 1', () => {
  assert.deepEqual(parse('-a -t 192.168.8.200:80 -r 192.168.8.20'), {
    kind: 'addDest', ...common, service: svc,
    dest: { service: svc, addr: '192.168.8.20', port: 80, fwd: 'dr', weight: 1 },
  });
  assert.deepEqual(parse('--add-server -t 192.168.8.200:80 --real-server 192.168.8.20 --weight 3'), {
    kind: 'addDest', ...common, service: svc,
    dest: { service: svc, addr: '192.168.8.20', port: 80, fwd: 'dr', weight: 3 },
  });
});

test('-g and -i force the real-server port to the service port; -m keeps it', () => {
  const d = (line: string) => {
    const c = parse(line);
    assert.equal(c.kind, 'addDest');
    return c.kind === 'addDest' ? c.dest : undefined;
  };
  assert.deepEqual(d('-a -t 192.168.8.200:80 -r 192.168.8.20:8080 -g'), { service: svc, addr: '192.168.8.20', port: 80, fwd: 'dr', weight: 1 });
  assert.deepEqual(d('-a -t 192.168.8.200:80 -r 192.168.8.20:8080'), { service: svc, addr: '192.168.8.20', port: 80, fwd: 'dr', weight: 1 });
  assert.deepEqual(d('-a -t 192.168.8.200:80 -r 192.168.8.20:8080 -i -w 0'), { service: svc, addr: '192.168.8.20', port: 80, fwd: 'tun', weight: 0 });
  assert.deepEqual(d('-a -t 192.168.8.200:80 -r 192.168.8.20:8080 -m -w 5'), { service: svc, addr: '192.168.8.20', port: 8080, fwd: 'nat', weight: 5 });
  assert.deepEqual(d('-a -t 192.168.8.200:80 -r 192.168.8.20 --masquerading'), { service: svc, addr: '192.168.8.20', port: 80, fwd: 'nat', weight: 1 });
});

test('-e leaves weight and method out unless given; -d', () => {
  assert.deepEqual(parse('-e -t 192.168.8.200:80 -r 192.168.8.20'), {
    kind: 'editDest', ...common, service: svc, dest: { service: svc, addr: '192.168.8.20', port: 80 },
  });
  assert.deepEqual(parse('-e -t 192.168.8.200:80 -r 192.168.8.20:8080 -m -w 7'), {
    kind: 'editDest', ...common, service: svc, dest: { service: svc, addr: '192.168.8.20', port: 8080, fwd: 'nat', weight: 7 },
  });
  assert.deepEqual(parse('-e -t 192.168.8.200:80 -r 192.168.8.20:8080 -g'), {
    kind: 'editDest', ...common, service: svc, dest: { service: svc, addr: '192.168.8.20', port: 80, fwd: 'dr' },
  });
  assert.deepEqual(parse('-d -t 192.168.8.200:80 -r 192.168.8.20:8080'), {
    kind: 'deleteDest', ...common, service: svc, dest: { service: svc, addr: '192.168.8.20', port: 8080 },
  });
});

test('-L/-l/-Ln/--list, one service, bare command line lists', () => {
  assert.deepEqual(parse('-L'), { kind: 'list', ...common });
  assert.deepEqual(parse('-l'), { kind: 'list', ...common });
  assert.deepEqual(parse('--list --numeric'), { kind: 'list', ...common, numeric: true });
  assert.deepEqual(parse('-Ln'), { kind: 'list', ...common, numeric: true });
  assert.deepEqual(parse('-nL'), { kind: 'list', ...common, numeric: true });
  assert.deepEqual(parse('-Ln -t 192.168.8.200:80'), { kind: 'list', ...common, numeric: true, service: svc });
  assert.deepEqual(parse('-Lnt 192.168.8.200:http'), { kind: 'list', ...common, numeric: true, service: svc });
  assert.deepEqual(parse(''), { kind: 'list', ...common });
  assert.deepEqual(parse('--socket /tmp/s'), { kind: 'list', ...common, socket: '/tmp/s' });
  assert.deepEqual(parse('-h'), { kind: 'help', ...common });
  assert.deepEqual(parse('--help'), { kind: 'help', ...common });
});

test('socket: --socket, then $UVS_SOCKET, then the default', () => {
  assert.equal(parse('-C --socket /tmp/a.sock').socket, '/tmp/a.sock');
  assert.equal(parse('-C', { ...ctx, env: { UVS_SOCKET: '/tmp/env.sock' } }).socket, '/tmp/env.sock');
  assert.equal(parse('-C --socket /tmp/a.sock', { ...ctx, env: { UVS_SOCKET: '/tmp/env.sock' } }).socket, '/tmp/a.sock');
  assert.equal(parse('-C', { ...ctx, env: { UVS_SOCKET: '' } }).socket, DEFAULT_SOCKET);
});

test('port names from the services table, per protocol', () => {
  assert.deepEqual(parse('-A -t 192.168.8.200:http'), { kind: 'addService', ...common, service: { ...svc, sched: 'wlc' } });
  assert.deepEqual(parse('-A -t 192.168.8.200:www'), { kind: 'addService', ...common, service: { ...svc, sched: 'wlc' } });
  assert.deepEqual(parse('-A -u 10.0.0.1:domain'), {
    kind: 'addService', ...common, service: { proto: 'udp', addr: '10.0.0.1', port: 53, sched: 'wlc' },
  });
  usage('-A -u 10.0.0.1:http', 'invalid port "http" in "10.0.0.1:http"');
});

test('invalid values name the offending value', () => {
  usage('-A -t 192.168.8.200:80x', 'invalid port "80x" in "192.168.8.200:80x"');
  usage('-A -t 192.168.8.200:65536', 'invalid port "65536" in "192.168.8.200:65536"');
  usage('-A -t 192.168.8.200:', 'invalid port "" in "192.168.8.200:"');
  usage('-A -t 192.168.8.300:80', 'invalid address "192.168.8.300" in "192.168.8.300:80"');
  usage('-A -t www.example.com:80', 'invalid address "www.example.com" in "www.example.com:80"');
  usage('-A -t 80', 'invalid address "80"');
  usage('-A -t [::1]:80', 'invalid address "[::1]" in "[::1]:80"');
  usage('-a -t 192.168.8.200:80 -r 10.1.1', 'invalid address "10.1.1"');
  usage('-a -t 192.168.8.200:80 -r 10.1.1.1 -w -1', `invalid weight "-1" (must be 0..${MAX_WEIGHT})`);
  usage('-a -t 192.168.8.200:80 -r 10.1.1.1 -w 2147483648', /invalid weight "2147483648"/);
  usage('-a -t 192.168.8.200:80 -r 10.1.1.1 -w 1.5', /invalid weight "1.5"/);
  usage('-A -t 192.168.8.200:80 -s r!r', 'invalid scheduler "r!r"');
  assert.equal(parse(`-a -t 192.168.8.200:80 -r 10.1.1.1 -w ${MAX_WEIGHT}`).kind, 'addDest');
});

test('command/option combinations refused with ipvsadm wording', () => {
  usage('-A -t 192.168.8.200:0', 'Zero port specified for non-persistent service');
  usage('-E -t 192.168.8.200', 'Zero port specified for non-persistent service');
  usage('-A', "You need to supply the 'service-address' option for the 'add-service' command");
  usage('-a -t 192.168.8.200:80', "You need to supply the 'real-server' option for the 'add-server' command");
  usage('-d -t 192.168.8.200:80', "You need to supply the 'real-server' option for the 'delete-server' command");
  usage('-a -t 192.168.8.200:80 -r 10.1.1.1 -s rr', "Illegal 'scheduler' option with the 'add-server' command");
  usage('-A -t 192.168.8.200:80 -r 10.1.1.1', "Illegal 'real-server' option with the 'add-service' command");
  usage('-A -t 192.168.8.200:80 -n', "Illegal 'numeric' option with the 'add-service' command");
  usage('-C -t 192.168.8.200:80', "Illegal 'service-address' option with the 'flush' command");
  usage('-d -t 192.168.8.200:80 -r 10.1.1.1 -w 2', "Illegal 'weight' option with the 'delete-server' command");
  usage('-L -s rr', "Illegal 'scheduler' option with the 'list' command");
  usage('-A -E -t 192.168.8.200:80', 'multiple commands specified');
  usage('-L -l', 'multiple commands specified');
  usage('-a -t 192.168.8.200:80 -r 10.1.1.1 -g -m', "multiple 'forwarding-method' options specified");
  usage('-A -t 192.168.8.200:80 -u 192.168.8.200:80', "multiple 'service-address' options specified");
  usage('-n', "no command specified (try 'uvsadm -h')");
  usage('-A -t 192.168.8.200:80 extra', 'unexpected argument extra');
  usage('-A -t 192.168.8.200:80 -p', "unknown option '-p'");
  usage('-A -t', /argument missing/);
  usage('-C --socket=', 'invalid socket path ""');
});

test('callFor maps commands to protocol verbs and args', () => {
  assert.deepEqual(callFor(parse('-A -t 192.168.8.200:80 -s rr') as Exclude<Command, { kind: 'help' }>), {
    verb: 'addService', args: { ...svc, sched: 'rr' },
  });
  assert.deepEqual(callFor(parse('-C') as Exclude<Command, { kind: 'help' }>), { verb: 'clear', args: {} });
  assert.deepEqual(callFor(parse('-e -t 192.168.8.200:80 -r 10.1.1.1 -w 4') as Exclude<Command, { kind: 'help' }>), {
    verb: 'editDest', args: { service: svc, addr: '10.1.1.1', port: 80, weight: 4 },
  });
  const json = JSON.stringify(callFor(parse('-e -t 192.168.8.200:80 -r 10.1.1.1') as Exclude<Command, { kind: 'help' }>).args);
  assert.ok(!json.includes('weight') && !json.includes('fwd'), json);
});

// ---- fuzz -----------------------------------------------------------------------------------

const isQuad = (s: unknown): boolean =>
  typeof s === 'string' && /^\d+\.\d+\.\d+\.\d+$/.test(s) && s.split('.').every((o) => Number(o) <= 255 && String(Number(o)) === o);
const isPort = (p: unknown): boolean => Number.isInteger(p) && (p as number) >= 0 && (p as number) <= 65535;
const isKey = (k: unknown): boolean => {
  const o = k as Record<string, unknown>;
  return typeof o === 'object' && o !== null && (o.proto === 'tcp' || o.proto === 'udp') && isQuad(o.addr) && isPort(o.port);
};
const sameKey = (a: { proto: string; addr: string; port: number }, b: { proto: string; addr: string; port: number }): boolean =>
  a.proto === b.proto && a.addr === b.addr && a.port === b.port;

/** Every invariant the Command type and ipvsadm's rules promise. */
function checkCommand(c: Command): void {
  assert.equal(typeof c.numeric, 'boolean');
  assert.ok(typeof c.socket === 'string' && c.socket.length > 0);
  // -n is taken by -L and, from -Ln habit, by --status (which prints numbers anyway).
  if (c.numeric) assert.ok(c.kind === 'list' || c.kind === 'status', `-n with ${c.kind}`);
  switch (c.kind) {
    case 'help':
    case 'clear':
      assert.deepEqual(Object.keys(c).sort(), ['kind', 'numeric', 'socket']);
      return;
    case 'list':
    case 'zero':
      if (c.service !== undefined) assert.ok(isKey(c.service));
      return;
    case 'addService':
      assert.ok(isKey(c.service) && c.service.port !== 0 && typeof c.service.sched === 'string' && c.service.sched !== '');
      return;
    case 'editService':
      assert.ok(isKey(c.service) && c.service.port !== 0);
      if ('sched' in c.service) assert.equal(typeof c.service.sched, 'string');
      return;
    case 'deleteService':
      assert.ok(isKey(c.service));
      return;
    case 'addDest':
    case 'editDest':
    case 'deleteDest': {
      assert.ok(isKey(c.service) && isQuad(c.dest.addr) && isPort(c.dest.port) && sameKey(c.dest.service, c.service));
      if (c.kind === 'deleteDest') return;
      const { fwd, weight } = c.dest;
      if (c.kind === 'addDest') assert.ok(fwd !== undefined && weight !== undefined);
      if (fwd !== undefined) assert.ok(['dr', 'nat', 'tun'].includes(fwd));
      if (weight !== undefined) assert.ok(Number.isInteger(weight) && weight >= 0 && weight <= MAX_WEIGHT);
      if (fwd === 'dr' || fwd === 'tun') assert.equal(c.dest.port, c.service.port);
      return;
    }
    case 'status':
      return;
    default: {
      const never: never = c;
      assert.fail(`unknown kind ${JSON.stringify(never)}`);
    }
  }
}

const FLAGS = [
  '-A', '-E', '-D', '-C', '-a', '-e', '-d', '-L', '-l', '-h', '-t', '-u', '-s', '-r', '-g', '-m', '-i', '-w', '-n',
  '--add-service', '--edit-service', '--delete-service', '--clear', '--add-server', '--edit-server', '--delete-server',
  '--list', '--help', '--tcp-service', '--udp-service', '--scheduler', '--real-server', '--gatewaying', '--masquerading',
  '--ipip', '--weight', '--numeric', '--socket', '--status', '-Z', '--zero', '-Ln', '-At', '-at', '-nL', '-Lnt', '-x', '-p', '--', '-', '--list=1',
];
const VALUES = [
  '192.168.8.200:80', '192.168.8.200', '10.0.0.1:0', '10.0.0.1:65535', '10.0.0.1:65536', '1.2.3.4:http', '1.2.3.4:domain',
  '1.2.3:80', '256.1.1.1:1', '::1', '[::1]:80', '0.0.0.0:1', '01.2.3.4:5', 'rr', 'wlc', '', ' ', '0', '1', '-1', '2147483647',
  '2147483648', '1e3', '0x10', '/tmp/s.sock', 'junk', '\u00e9', ':', '1.2.3.4:80:90',
];

test('fuzz: any argv yields a valid Command or a one-line UsageError', () => {
  const token = fc.oneof(fc.constantFrom(...FLAGS), fc.constantFrom(...VALUES), fc.string({ maxLength: 8 }));
  fc.assert(
    fc.property(fc.array(token, { maxLength: 10 }), (argv) => {
      let c: Command;
      try {
        c = parseArgs(argv, ctx);
      } catch (err) {
        assert.ok(err instanceof UsageError, `non-usage error for ${JSON.stringify(argv)}: ${String(err)}`);
        assert.ok(err.message.length > 0 && !err.message.includes('\n'), JSON.stringify(err.message));
        return;
      }
      checkCommand(c);
    }),
    { numRuns: 3000 },
  );
});

test('fuzz: realistic option mixes are mostly accepted and always well-typed', () => {
  const cmd = fc.constantFrom('-A', '-E', '-D', '-C', '-a', '-e', '-d', '-L', '-Ln', '-l');
  const opt = fc.oneof(
    fc.tuple(fc.constantFrom('-t', '-u'), fc.constantFrom('192.168.8.200:80', '10.0.0.1:53', '10.0.0.1', '1.2.3.4:http')),
    fc.tuple(fc.constant('-r'), fc.constantFrom('192.168.8.20', '192.168.8.21:8080', '10.9.9.9:domain')),
    fc.tuple(fc.constant('-s'), fc.constantFrom('rr', 'wlc', 'mh')),
    fc.tuple(fc.constant('-w'), fc.constantFrom('0', '1', '100', String(MAX_WEIGHT))),
    fc.tuple(fc.constantFrom('-g', '-m', '-i', '-n')),
    fc.tuple(fc.constant('--socket'), fc.constant('/tmp/x.sock')),
  );
  let accepted = 0;
  fc.assert(
    fc.property(cmd, fc.uniqueArray(opt, { maxLength: 4, selector: (o) => o[0] }), (c, opts) => {
      try {
        checkCommand(parseArgs([c, ...opts.flat()], ctx));
        accepted++;
      } catch (err) {
        assert.ok(err instanceof UsageError, String(err));
      }
    }),
    { numRuns: 2000 },
  );
  assert.ok(accepted > 100, `only ${accepted} accepted: the property would be vacuous`);
});

test('fuzz: well-formed -a command lines always parse', () => {
  const quad = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((o) => o.join('.'));
  fc.assert(
    fc.property(quad, fc.integer({ min: 1, max: 65535 }), quad, fc.option(fc.nat(65535)), fc.constantFrom('-g', '-m', '-i'),
      fc.nat(MAX_WEIGHT), (vip, vport, rip, rport, method, w) => {
        const r = rport === null ? rip : `${rip}:${rport}`;
        const c = parseArgs(['-a', '-t', `${vip}:${vport}`, '-r', r, method, '-w', String(w)], ctx);
        checkCommand(c);
        assert.equal(c.kind, 'addDest');
        if (c.kind !== 'addDest') return;
        assert.equal(c.dest.weight, w);
        assert.equal(c.dest.port, method === '-m' && rport !== null ? rport : vport);
      }),
    { numRuns: 500 },
  );
});
