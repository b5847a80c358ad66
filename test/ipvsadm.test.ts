// test-class: shared
// The ipvsadm argument parser: every command, its defaults, ipvsadm's refusals (message and exit
// status), the -R line parser, and fuzz properties: arbitrary argv only ever yields a well-typed
// command or a one-line UsageError.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseArgs, parseRules, splitRuleLine, UsageError } from '../src/control/ipvsadm.js';
import { MAX_WEIGHT } from '../src/control/protocol.js';
import type { Command, ParseContext } from '../src/control/ipvsadm.js';
import { parseServices } from '../src/control/printers.js';
import { DEFAULT_SOCKET } from '../src/control/protocol.js';
import { fuzzSeed, mutateText, runCases, type Rand } from './helpers/fuzz.js';

const ctx: ParseContext = {
  env: {},
  ports: parseServices('http\t\t80/tcp\t\twww\nhttps 443/tcp\ndomain 53/tcp\ndomain 53/udp\n'),
};
const parse = (line: string, c: ParseContext = ctx): Command => parseArgs(line.split(' ').filter((s) => s !== ''), c);
const svc = { proto: 'tcp', addr: '192.168.8.200', port: 80 } as const;
const common = { socket: DEFAULT_SOCKET };
const svcDefaults = { flags: [], persist: 0, netmask: '255.255.255.255', oneShot: false, pe: '', synproxy: false };
const call = (verb: string, args: unknown) => ({ kind: 'call', ...common, call: { verb, args } });

function usage(line: string, message: string | RegExp, exitCode = 2): void {
  assert.throws(() => parse(line), (err: unknown) => {
    assert.ok(err instanceof UsageError, `expected UsageError for ${line}, got ${String(err)}`);
    if (typeof message === 'string') assert.equal(err.message, message, line);
    else assert.match(err.message, message, line);
    assert.equal(err.exitCode, exitCode, `exit status of ${line}`);
    assert.ok(!err.message.includes('\n'), 'one line');
    return true;
  });
}

test('-A defaults to wlc; -s, -p, -M, -b, -o; long forms and bundles', () => {
  assert.deepEqual(parse('-A -t 192.168.8.200:80'), call('addService', { ...svc, sched: 'wlc', ...svcDefaults }));
  assert.deepEqual(parse('--add-service --tcp-service 192.168.8.200:80 --scheduler rr'), call('addService', { ...svc, sched: 'rr', ...svcDefaults }));
  assert.deepEqual(parse('-At 192.168.8.200:80 -s rr'), call('addService', { ...svc, sched: 'rr', ...svcDefaults }));
  assert.deepEqual(parse('-A -t 192.168.8.200:80 -s sh -b sh-port,sh-fallback -p -M 255.255.255.0'),
    call('addService', { ...svc, sched: 'sh', flags: ['sh-port', 'sh-fallback'], persist: 300, netmask: '255.255.255.0', oneShot: false, pe: '', synproxy: false }));
  assert.deepEqual(parse('-A -t 192.168.8.200:80 -p 60'), call('addService', { ...svc, sched: 'wlc', ...svcDefaults, persist: 60 }));
  assert.deepEqual(parse('-A -t 192.168.8.200:0 -p'), call('addService', { ...svc, port: 0, sched: 'wlc', ...svcDefaults, persist: 300 }));
  // popt takes `-t=VALUE` as `-t VALUE` (one '=' skipped after a short option), as ipvsadm reads it.
  assert.deepEqual(parse('-A -t=192.168.8.200:80 -p=60'), call('addService', { ...svc, sched: 'wlc', ...svcDefaults, persist: 60 }));
  assert.deepEqual(parse('-At=192.168.8.200:80 -s=rr'), call('addService', { ...svc, sched: 'rr', ...svcDefaults }));
  assert.deepEqual(parse('-A -u 10.0.0.1:53 -o'), call('addService', { proto: 'udp', addr: '10.0.0.1', port: 53, sched: 'wlc', ...svcDefaults, oneShot: true }));
  assert.deepEqual(parse('-A -t 192.168.8.200:80 --persistent=90'), call('addService', { ...svc, sched: 'wlc', ...svcDefaults, persist: 90 }));
});

test('-s \'\' is the default scheduler, as ipvsadm (an empty sched_name becomes wlc), also for -b', () => {
  const p = (...argv: string[]) => parseArgs(argv, ctx);
  assert.deepEqual(p('-A', '-t', '192.168.8.200:80', '-s', ''), call('addService', { ...svc, sched: 'wlc', ...svcDefaults }));
  assert.deepEqual(p('-E', '-t', '192.168.8.200:80', '--scheduler='), call('editService', { ...svc, sched: 'wlc', ...svcDefaults }));
  assert.throws(() => p('-A', '-t', '192.168.8.200:80', '-s', '', '-b', 'sh-port'), (e: unknown) => e instanceof UsageError && e.message === "incompatible scheduler flag `sh-port'");
});

test('-E sends the whole service like ipvsadm (-s defaults to wlc, no -p ends persistence); -D and -C', () => {
  assert.deepEqual(parse('-E -t 192.168.8.200:80'), call('editService', { ...svc, sched: 'wlc', ...svcDefaults }));
  assert.deepEqual(parse('-E -t 192.168.8.200:80 -s lc -p 10'), call('editService', { ...svc, sched: 'lc', ...svcDefaults, persist: 10 }));
  assert.deepEqual(parse('-D -t 192.168.8.200:80'), call('deleteService', svc));
  assert.deepEqual(parse('-C'), call('clear', {}));
  assert.deepEqual(parse('--clear'), call('clear', {}));
});

test('-a/-e: defaults dr, weight 1, no thresholds; -g/-i force the service port, -m keeps it; --fullnat', () => {
  const dest = (over: object) => ({ service: svc, addr: '192.168.8.20', port: 80, fwd: 'dr', weight: 1, upper: 0, lower: 0, ...over });
  assert.deepEqual(parse('-a -t 192.168.8.200:80 -r 192.168.8.20'), call('addDest', dest({})));
  assert.deepEqual(parse('-a -t 192.168.8.200:80 -r 192.168.8.20:8080 -g'), call('addDest', dest({})));
  assert.deepEqual(parse('-a -t 192.168.8.200:80 -r 192.168.8.20:8080 -i -w 0'), call('addDest', dest({ fwd: 'tun', weight: 0, tunType: 'ipip', tunCsum: 'nocsum' })));
  assert.deepEqual(parse('-a -t 192.168.8.200:80 -r 192.168.8.20:8080 -m -w 5 -x 100 -y 50'), call('addDest', dest({ fwd: 'nat', port: 8080, weight: 5, upper: 100, lower: 50 })));
  assert.deepEqual(parse('-a -t 192.168.8.200:80 -r 192.168.8.20:8080 --fullnat'), call('addDest', dest({ fwd: 'fullnat', port: 8080 })));
  assert.deepEqual(parse('-e -t 192.168.8.200:80 -r 192.168.8.20'), call('editDest', dest({})));
});

test('--tun-type ipip|gue|gre, --tun-port, --tun-nocsum|--tun-csum|--tun-remcsum for -i servers, checked with ipvsadm 1.31\'s words; --tun-info lists them', () => {
  const dest = (over: object) => ({ service: svc, addr: '192.168.8.20', port: 80, fwd: 'tun', weight: 1, upper: 0, lower: 0, tunCsum: 'nocsum', ...over });
  assert.deepEqual(parse('-a -t 192.168.8.200:80 -r 192.168.8.20 -i --tun-type ipip'), call('addDest', dest({ tunType: 'ipip' })));
  assert.deepEqual(parse('-a -t 192.168.8.200:80 -r 192.168.8.20 -i --tun-type gue --tun-port 6080 --tun-csum'), call('addDest', dest({ tunType: 'gue', tunPort: 6080, tunCsum: 'csum' })));
  assert.deepEqual(parse('-a -t 192.168.8.200:80 -r 192.168.8.20 -i --tun-type gue --tun-port 6080 --tun-remcsum'), call('addDest', dest({ tunType: 'gue', tunPort: 6080, tunCsum: 'remcsum' })));
  assert.deepEqual(parse('-e -t 192.168.8.200:80 -r 192.168.8.20 -i --tun-type gre --tun-csum'), call('editDest', dest({ tunType: 'gre', tunCsum: 'csum' })));
  assert.deepEqual(parse('-e -t 192.168.8.200:80 -r 192.168.8.20 -i'), call('editDest', dest({ tunType: 'ipip' })), '-e sends the whole server: ipip unless --tun-type');
  const refused: Array<[string, string]> = [
    ['-i --tun-type gue', "You need to supply the 'tun-port' option for the 'gue' tunnel type"],
    ['-i --tun-type gre --tun-port 6080', "Illegal 'tun-port' option with the 'gre' tunnel type"],
    ['-i --tun-type gre --tun-remcsum', "Illegal 'tun-remcsum' option with the 'gre' tunnel type"],
    ['-i --tun-csum', "Illegal 'tun-csum' option with the 'ipip' tunnel type"],
    ['-i --tun-type gue --tun-port 1 --tun-nocsum --tun-csum', "The option 'tun-csum' conflicts with the 'tun-nocsum' option in the 'gue' tunnel type"],
    ['-m --tun-type gre', 'Tunnel options conflict with forward method'],
    ['-i --tun-type vxlan', "illegal tunnel type specified: `vxlan'"],
    ['-i --tun-type gue --tun-port 70000', "illegal tunnel port specified: `70000'"],
  ];
  for (const [opts, message] of refused) usage(`-a -t 192.168.8.200:80 -r 192.168.8.20 ${opts}`, message);
  usage('-A -t 192.168.8.200:80 --tun-type gre', "Illegal 'tun-type' option with the 'add-service' command");
  assert.deepEqual(parse('-L -n --tun-info'), { kind: 'list', ...common, numeric: true, format: { tunInfo: true }, conns: false, timeout: false });
});

test('-r RIP:0 is the service port for -a, -e and -d, with every method (ipvsadm passes 0 on; the kernel sends the connections to the service port); a port-zero service keeps 0', () => {
  const dest = (over: object) => ({ service: svc, addr: '192.168.8.20', port: 80, fwd: 'dr', weight: 1, upper: 0, lower: 0, ...over });
  assert.deepEqual(parse('-a -t 192.168.8.200:80 -r 192.168.8.20:0 -m'), call('addDest', dest({ fwd: 'nat' })));
  assert.deepEqual(parse('-a -t 192.168.8.200:80 -r 192.168.8.20:0 --fullnat'), call('addDest', dest({ fwd: 'fullnat' })));
  assert.deepEqual(parse('-a -t 192.168.8.200:80 -r 192.168.8.20:0 -g'), call('addDest', dest({})));
  assert.deepEqual(parse('-e -t 192.168.8.200:80 -r 192.168.8.20:0 -w 2'), call('editDest', dest({ weight: 2 })), '-e of a DR server at :0 is not refused as port-mapped');
  assert.deepEqual(parse('-e -t 192.168.8.200:80 -r 192.168.8.20:0 -m -w 2'), call('editDest', dest({ fwd: 'nat', weight: 2 })));
  assert.deepEqual(parse('-d -t 192.168.8.200:80 -r 192.168.8.20:0'), call('deleteDest', { service: svc, addr: '192.168.8.20', port: 80 }));
  const zero = { ...svc, port: 0 };
  assert.deepEqual(parse('-a -t 192.168.8.200:0 -r 192.168.8.20:0 -m'), call('addDest', { ...dest({ fwd: 'nat' }), service: zero, port: 0 }));
});

test('-d deletes the real server at the port given (ipvsadm forces the service port only for -a/-e with -g/-i)', () => {
  const del = (port: number) => call('deleteDest', { service: svc, addr: '192.168.8.20', port });
  assert.deepEqual(parse('-d -t 192.168.8.200:80 -r 192.168.8.20:8080'), del(8080));
  assert.deepEqual(parse('-d -t 192.168.8.200:80 -r 192.168.8.20:80'), del(80));
  assert.deepEqual(parse('-d -t 192.168.8.200:80 -r 192.168.8.20'), del(80));
  assert.deepEqual(parse('-d -t 192.168.8.200:http -r 192.168.8.20:9090'), del(9090));
  // -e of a port-mapped server keeps its port with -m/--fullnat; with -g/-i (or none: DR) it would
  // silently edit RIP:80 instead, so it is refused, one line naming the server.
  const dest = (over: object) => ({ service: svc, addr: '192.168.8.20', port: 9090, fwd: 'nat', weight: 3, upper: 0, lower: 0, ...over });
  assert.deepEqual(parse('-e -t 192.168.8.200:80 -r 192.168.8.20:9090 -m -w 3'), call('editDest', dest({})));
  assert.deepEqual(parse('-e -t 192.168.8.200:80 -r 192.168.8.20:9090 --fullnat -w 3'), call('editDest', dest({ fwd: 'fullnat' })));
  assert.deepEqual(parse('-e -t 192.168.8.200:80 -r 192.168.8.20:80 -g -w 3'), call('editDest', dest({ fwd: 'dr', port: 80 })));
  for (const m of ['', ' -g', ' -i']) {
    usage(`-e -t 192.168.8.200:80 -r 192.168.8.20:9090${m} -w 3`,
      'real server 192.168.8.20:9090: the port differs from the virtual port 80, which -g (the default) and -i servers use; add -m or --fullnat to edit a port-mapped server');
  }
});

test('-L and its formats; -S, -R, --set, laddr commands, --status, -h, -v', () => {
  const list = { kind: 'list', ...common, numeric: false, format: {}, conns: false, timeout: false };
  assert.deepEqual(parse('-L'), list);
  assert.deepEqual(parse('-l'), list);
  assert.deepEqual(parse(''), list);
  assert.deepEqual(parse('--socket /tmp/s'), { ...list, socket: '/tmp/s' });
  assert.deepEqual(parse('-Ln'), { ...list, numeric: true });
  assert.deepEqual(parse('-Lnt 192.168.8.200:http'), { ...list, numeric: true, service: svc });
  assert.deepEqual(parse('-Ln --stats --exact'), { ...list, numeric: true, format: { stats: true, exact: true } });
  assert.deepEqual(parse('-L --rate --nosort --sort'), { ...list, format: { rate: true, nosort: true } });
  assert.deepEqual(parse('-L --thresholds --persistent-conn'), { ...list, format: { thresholds: true, persistentConn: true } });
  assert.deepEqual(parse('-Lnc'), { ...list, numeric: true, conns: true });
  // ipvsadm 1.31 allows -c with --persistent-conn (pe name / pe_data columns).
  assert.deepEqual(parse('-Lnc --persistent-conn'), { ...list, numeric: true, conns: true, format: { persistentConn: true } });
  assert.deepEqual(parse('-L --connection --persistent-conn'), { ...list, conns: true, format: { persistentConn: true } });
  assert.deepEqual(parse('-L --timeout'), { ...list, timeout: true });
  assert.deepEqual(parse('-S -n'), { kind: 'save', ...common, numeric: true });
  assert.deepEqual(parse('-R'), { kind: 'restore', ...common, dryRun: false });
  // uvs: -R --dry-run (uvsd checks the rules against its table, changes nothing); --reload's other option.
  assert.deepEqual(parse('-R --dry-run'), { kind: 'restore', ...common, dryRun: true });
  usage('-L --dry-run', "Illegal 'dry-run' option with the 'list' command");
  assert.deepEqual(parse('--set 900 120 0'), call('setTimeouts', { tcp: 900, tcpfin: 120, udp: 0 }));
  assert.deepEqual(parse('--add-laddr -z 10.0.0.5 -t 192.168.8.200:80'), call('addLaddr', { service: svc, addr: '10.0.0.5' }));
  assert.deepEqual(parse('--del-laddr -t 192.168.8.200:80 -z 10.0.0.5'), call('delLaddr', { service: svc, addr: '10.0.0.5' }));
  assert.deepEqual(parse('--get-laddr -t 192.168.8.200:80'), { kind: 'getLaddr', ...common, numeric: false, service: svc });
  assert.deepEqual(parse('--status'), { kind: 'status', ...common });
  assert.deepEqual(parse('-h'), { kind: 'help', ...common });
  // -h first prints help whatever follows (ipvsadm exits in its first popt step).
  assert.deepEqual(parse('-h -t 1.2.3.4:80 --bogus-value'), { kind: 'help', ...common });
  assert.deepEqual(parse('--version'), { kind: 'version', ...common });
});

test('--add-laddr -z ADDR:LO-HI (uvs): the LIP with its local ports; a bare address sends none (the default 1024-65535); a bad range or a range to --del-laddr is refused naming it', () => {
  assert.deepEqual(parse('--add-laddr -t 192.168.8.200:80 -z 10.0.0.5:20000-29999'), call('addLaddr', { service: svc, addr: '10.0.0.5', portMin: 20000, portMax: 29999 }));
  assert.deepEqual(parse('--add-laddr -t 192.168.8.200:80 -z 10.0.0.5:7-7'), call('addLaddr', { service: svc, addr: '10.0.0.5', portMin: 7, portMax: 7 }));
  assert.deepEqual(parse('--add-laddr -t 192.168.8.200:80 -z 10.0.0.5:1024-65535'), call('addLaddr', { service: svc, addr: '10.0.0.5' }));
  const form = 'must be ADDR or ADDR:LO-HI (an IPv4 address, local ports 1..65535, LO <= HI)';
  for (const z of ['10.0.0.5:3000-2000', '10.0.0.5:0-100', '10.0.0.5:1-65536', '10.0.0.5:5000', '10.0.0.5:', '10.0.0.5:a-b']) {
    usage(`--add-laddr -t 192.168.8.200:80 -z ${z}`, `illegal local address \`${z}' specified: ${form}`);
  }
  usage('--add-laddr -t 192.168.8.200:80 -z 10.0.0:5000-6000', "illegal local address specified: `10.0.0:5000-6000'");
  usage('--del-laddr -t 192.168.8.200:80 -z 10.0.0.5:20000-29999', "--del-laddr takes the local address alone, got `10.0.0.5:20000-29999'");
});

test('sync daemon and role: --start-daemon/--stop-daemon as ipvsadm spells them, -L --daemon, --role', () => {
  assert.deepEqual(parse('--start-daemon master'), call('startDaemon', { state: 'master' }));
  assert.deepEqual(parse('--start-daemon backup --syncid 7 --mcast-interface eth1 --sync-key-file /etc/uvs/k --sync-peer 10.0.0.2'),
    call('startDaemon', { state: 'backup', syncid: 7, mcastInterface: 'eth1', syncPeer: '10.0.0.2', keyFile: '/etc/uvs/k' }));
  assert.deepEqual(parse('--start-daemon master --sync-maxlen 1400 --mcast-group 239.1.1.1 --mcast-port 9000 --mcast-ttl 2'),
    call('startDaemon', { state: 'master', maxlen: 1400, group: '239.1.1.1', port: 9000, ttl: 2 }));
  assert.deepEqual(parse('--stop-daemon backup'), call('stopDaemon', { state: 'backup' }));
  assert.deepEqual(parse('-L --daemon'), { kind: 'daemonList', ...common });
  assert.deepEqual(parse('--role master'), call('setRole', { role: 'master' }));
  assert.deepEqual(parse('--role backup --ha-group web'), call('setRole', { role: 'backup', group: 'web' }));
  usage('-L --ha-group web', "Illegal 'ha-group' option with the 'list' command");
  // ipvsadm 1.31's two texts, checked with the command before any other option.
  usage('--start-daemon primary', "illegal start-daemon parameter specified: `primary'");
  usage('--stop-daemon primary', "illegal start_daemon specified: `primary'");
  usage('--start-daemon primary -t 192.168.8.200:80', "illegal start-daemon parameter specified: `primary'");
  usage('--stop-daemon=', 'illegal start_daemon specified: ""');
  usage('--start-daemon master --syncid 256', "illegal syncid specified: `256'");
  usage('--start-daemon master --sync-peer 10.0.0', "illegal sync peer address specified: `10.0.0'");
  // ipvsadm 1.31's LIST and STOPD rows take --syncid (and ignore it); every sync number is checked
  // where ipvsadm reads it, before the command/option table (until 2026-12-07 both were refused).
  assert.deepEqual(parse('--stop-daemon master --syncid 1'), call('stopDaemon', { state: 'master' }));
  assert.deepEqual(parse('-Ln --syncid 1'), { kind: 'list', ...common, numeric: true, format: {}, conns: false, timeout: false });
  usage('-L --syncid x', "illegal syncid specified: `x'");
  usage('--stop-daemon master --syncid 256', "illegal syncid specified: `256'");
  usage('--start-daemon master --syncid 256 -n', "illegal syncid specified: `256'");
  usage('-L --mcast-port 0', "illegal mcast-port specified: `0'");
  usage('-L --mcast-port 8848', "Illegal 'mcast-port' option with the 'list' command");
  // --mcast-group in ipvsadm 1.31's words, a group that is no multicast address refused there
  // too (until 2026-12-07 `illegal mcast-group specified`, and uvsd refused 10.0.0.1, exit 255).
  usage('--start-daemon master --mcast-group 10.0.0.1', "invalid IPv4 mcast-group `10.0.0.1'");
  usage('--start-daemon master --mcast-group 239.1.1', "invalid IPv4 mcast-group `239.1.1'");
  usage('--start-daemon master --mcast-group fe80::1', "invalid IPv6 mcast-group `fe80::1'");
  usage('--start-daemon master --mcast-group ff02::1', 'Operation not supported with specified address family: ff02::1 (uvs is IPv4-only)', 255);
  usage('-L --daemon -c', "The option 'daemon' conflicts with the 'connection' option in the 'list' command");
  usage('--role leader', "illegal role `leader' specified (master or backup)");
  usage('-A -t 192.168.8.200:80 --syncid 1', "Illegal 'syncid' option with the 'add-service' command");
});

test('--drain [--drain-timeout s] and --undrain (uvs scale-out); bad timeouts and options refused', () => {
  assert.deepEqual(parse('--drain'), { kind: 'drain', ...common, on: true });
  assert.deepEqual(parse('--drain --drain-timeout 60'), { kind: 'drain', ...common, on: true, timeout: 60 });
  assert.deepEqual(parse('--undrain'), { kind: 'drain', ...common, on: false });
  usage('--drain --drain-timeout soon', "invalid drain timeout `soon' (0..86400 seconds)");
  usage('--drain --drain-timeout 86401', "invalid drain timeout `86401' (0..86400 seconds)");
  usage('--undrain --drain-timeout 5', /illegal|not allowed|option/);
  usage('--drain -t 192.168.8.200:80', /illegal|not allowed|option/);
  usage('-L --drain-timeout 5', /illegal|not allowed|option/);
});

test('socket: --socket (anywhere), then $UVS_SOCKET, then the default', () => {
  assert.equal(parse('-C --socket /tmp/a.sock').socket, '/tmp/a.sock');
  assert.equal(parse('--socket /tmp/a.sock -C').socket, '/tmp/a.sock');
  assert.equal(parse('-C', { ...ctx, env: { UVS_SOCKET: '/tmp/env.sock' } }).socket, '/tmp/env.sock');
  assert.equal(parse('-C', { ...ctx, env: { UVS_SOCKET: '' } }).socket, DEFAULT_SOCKET);
});

test('port names from the services table, per protocol', () => {
  assert.deepEqual(parse('-A -t 192.168.8.200:www'), call('addService', { ...svc, sched: 'wlc', ...svcDefaults }));
  assert.deepEqual(parse('-A -u 10.0.0.1:domain'), call('addService', { proto: 'udp', addr: '10.0.0.1', port: 53, sched: 'wlc', ...svcDefaults }));
  usage('-A -u 10.0.0.1:http', "illegal virtual server address[:port] specified: `10.0.0.1:http'");
  // A -f service's servers: TCP's names are read, as ipvsadm sets a -f service's protocol to TCP
  // (its -L and -S print their ports as numbers, the kernel giving the mark without a protocol).
  const byName = parse('-a -f 2 -r 10.8.1.30:www -m') as { call: { args: { port: number; service: { fwmark: number } } } };
  assert.equal(byName.call.args.port, 80);
  assert.equal(byName.call.args.service.fwmark, 2);
  // parse_fwmark is strtoul's: leading blanks and a '+' are taken.
  for (const mark of ['+3', ' 3']) {
    assert.equal((parseArgs(['-a', '-f', mark, '-r', '10.8.1.30', '-m'], ctx) as { call: { args: { service: { fwmark: number } } } }).call.args.service.fwmark, 3);
  }
});

test('bad values: ipvsadm messages, exit 2', () => {
  for (const bad of ['192.168.8.200:80x', '192.168.8.200:65536', '192.168.8.200:', '192.168.8.300:80', '80', '-bad-:80']) {
    usage(`-A -t ${bad}`, `illegal virtual server address[:port] specified: \`${bad}'`);
  }
  usage('-a -t 192.168.8.200:80 -r 10.1.1', "illegal real server address[:port] specified: `10.1.1'");
  usage('-a -t 192.168.8.200:80 -r 10.1.1.1 -w -1', "illegal weight specified: `-1'");
  usage('-a -t 192.168.8.200:80 -r 10.1.1.1 -w 2147483648', "illegal weight specified: `2147483648'");
  usage('-a -t 192.168.8.200:80 -r 10.1.1.1 -w 1.5', "illegal weight specified: `1.5'");
  usage('-a -t 192.168.8.200:80 -r 10.1.1.1 -x x', "illegal u_threshold specified: `x'");
  usage('-a -t 192.168.8.200:80 -r 10.1.1.1 -y -3', "illegal l_threshold specified: `-3'");
  usage('-A -t 192.168.8.200:80 -p 0', "invalid timeout value `0' specified");
  usage('-A -t 192.168.8.200:80 -p 2678401', "invalid timeout value `2678401' specified");
  usage('-A -t 192.168.8.200:80 -M 255.255.255', "illegal virtual server persistent mask specified: `255.255.255'");
  usage('-A -t 192.168.8.200:80 -s sh -b sh-bogus', "invalid scheduler flag `sh-bogus'");
  usage('-A -t 192.168.8.200:80 -s rr -b sh-port', "incompatible scheduler flag `sh-port'");
  usage('-A -t 192.168.8.200:80 -b mh-port', "incompatible scheduler flag `mh-port'");
  usage('--set 1 2', '--set option requires 3 timeout values');
  usage('--set 1 2 x', "invalid timeout value `x' specified");
  usage('--add-laddr -t 192.168.8.200:80 -z 1.2.3', "illegal local address specified: `1.2.3'");
  assert.equal(parse(`-a -t 192.168.8.200:80 -r 10.1.1.1 -w ${MAX_WEIGHT}`).kind, 'call');
});

test('-b flag-1 and flag-2 (ipvsadm\'s generic names) are sh-/mh-fallback and -port; a flag the scheduler does not read is refused after ipvsadm\'s own checks', () => {
  const flags = (line: string): unknown => (parse(line) as { call: { args: { flags: unknown } } }).call.args.flags;
  assert.deepEqual(flags('-A -t 192.168.8.200:80 -s sh -b flag-1,flag-2'), ['sh-fallback', 'sh-port']);
  assert.deepEqual(flags('-E -t 192.168.8.200:80 -s mh -b flag-2,mh-port,flag-1'), ['mh-port', 'mh-fallback']);
  assert.deepEqual(flags('-A -t 192.168.8.200:80 -s sh -b sh-fallback,flag-1'), ['sh-fallback']);
  const unread = (flag: string, sched: string): string =>
    `scheduler flag \`${flag}' means nothing to the ${sched} scheduler (flag-1 and flag-2 are sh-/mh-fallback and -port): uvs keeps no flag a scheduler does not read`;
  usage('-A -t 192.168.8.200:80 -s rr -b flag-1', unread('flag-1', 'rr'));
  usage('-A -t 192.168.8.200:80 -b flag-2', unread('flag-2', 'wlc'));
  usage('-A -t 192.168.8.200:80 -s sh -b sh-port,flag-3', unread('flag-3', 'sh'));
  // ipvsadm takes them whatever the scheduler: its own checks speak first.
  usage('-L -b flag-3', "Illegal 'sched-flags' option with the 'list' command");
  usage('-A -t 192.168.8.200:0 -s rr -b flag-1', 'Zero port specified for non-persistent service');
  usage('-A -t 192.168.8.200:80 -s rr -b flag-1,sh-port', "incompatible scheduler flag `sh-port'");
  usage('-A -t 192.168.8.200:80 -s sh -b flag-4', "invalid scheduler flag `flag-4'");
});

test('-b is checked where ipvsadm 1.31 checks it: after the option loop, --set and the unexpected-argument check, before the command/option table and the zero-port and -o checks', () => {
  usage('-L -b sh-port', "incompatible scheduler flag `sh-port'");
  usage('-L -b bogus', "invalid scheduler flag `bogus'");
  usage('-A -b sh-port', "incompatible scheduler flag `sh-port'");
  usage('-a -t 192.168.8.200:80 -r 10.1.1.1 -b mh-port', "incompatible scheduler flag `mh-port'");
  usage('-A -t 192.168.8.200:0 -s rr -b sh-fallback', "incompatible scheduler flag `sh-fallback'");
  usage('-A -t 192.168.8.200:80 -o -b bogus', "invalid scheduler flag `bogus'");
  // Good flags for the -s given: the table speaks next.
  usage('-L -s sh -b sh-port', "Illegal 'scheduler' option with the 'list' command");
  // Before -b: the values read in the loop, --set's three values, a stray argument.
  usage('-A -t 192.168.8.300:80 -b bogus', "illegal virtual server address[:port] specified: `192.168.8.300:80'");
  usage('--set 1 2 -b bogus', '--set option requires 3 timeout values');
  usage('-A -t 192.168.8.200:80 -b bogus extra', 'unexpected argument extra');
});

test('command/option combinations refused with ipvsadm wording and exit status', () => {
  usage('-A -t 192.168.8.200:0', 'Zero port specified for non-persistent service');
  usage('-E -t 192.168.8.200', 'Zero port specified for non-persistent service');
  usage('-A -t 192.168.8.200:80 -o', 'One-Packet Scheduling is only for UDP virtual services');
  usage('-A', "You need to supply the 'service-address' option for the 'add-service' command");
  usage('-a -t 192.168.8.200:80', "You need to supply the 'real-server' option for the 'add-server' command");
  usage('-d -t 192.168.8.200:80', "You need to supply the 'real-server' option for the 'delete-server' command");
  usage('-a -t 192.168.8.200:80 -r 10.1.1.1 -s rr', "Illegal 'scheduler' option with the 'add-server' command");
  usage('-A -t 192.168.8.200:80 -r 10.1.1.1', "Illegal 'real-server' option with the 'add-service' command");
  usage('-A -t 192.168.8.200:80 -n', "Illegal 'numeric' option with the 'add-service' command");
  usage('-C -t 192.168.8.200:80', "Illegal 'service-address' option with the 'flush' command");
  usage('-d -t 192.168.8.200:80 -r 10.1.1.1 -w 2', "Illegal 'weight' option with the 'delete-server' command");
  usage('-S -t 192.168.8.200:80', "Illegal 'service-address' option with the 'save' command");
  usage('-L -s rr', "Illegal 'scheduler' option with the 'list' command");
  usage('-L -c -t 192.168.8.200:80', "The option 'service-address' conflicts with the 'connection' option in the 'list' command");
  usage('-L -c --stats', 'options conflicts in the list command');
  usage('-L --timeout --persistent-conn', 'options conflicts in the list command');
  usage('-L --daemon --persistent-conn', 'options conflicts in the list command');
  usage('-L --daemon --stats', 'options conflicts in the list command');
  usage('-L --timeout --rate', 'options conflicts in the list command');
  // A later command letter (-h and -v too) falls to the default of ipvsadm's option loop: popt's
  // bad option is the argv word it is in (a bundle whole); options before it are read first.
  usage('-A -E -t 192.168.8.200:80', "invalid option `-E'");
  usage('-L -l', "invalid option `-l'");
  usage('-L -A', "invalid option `-A'");
  usage('-L -h', "invalid option `-h'");
  usage('-L -v', "invalid option `-v'");
  usage('-Lnh', "invalid option `-Lnh'");
  usage('-L --status', "invalid option `--status'");
  usage('-L --role=master', "invalid option `--role=master'");
  usage('-A -t 192.168.8.300:80 -E', "illegal virtual server address[:port] specified: `192.168.8.300:80'");
  usage('-L -A --bogus', "invalid option `-A'");
  usage('-a -t 192.168.8.200:80 -r 10.1.1.1 -g -m', "multiple 'forwarding-method' options specified");
  usage('-A -t 192.168.8.200:80 -u 192.168.8.200:80', "multiple 'service-address' options specified");
  usage('-A -t 192.168.8.200:80 extra', 'unexpected argument extra');
  usage('-A -f 1 -u 192.168.8.200:80', "multiple 'service-address' options specified");
  usage('-A -f 0', "invalid fwmark value `0' specified");
  usage('-A -f -3', "invalid fwmark value `-3' specified");
  usage('-A -t=', 'illegal virtual server address[:port] specified: ""');
  // popt's own errors and "no command first" exit 255, as ipvsadm's tryhelp_exit(-1); uvsadm names
  // the word where the command should be (ipvsadm prints only "Try ...").
  const notCommand = (word: string): string => `\`${word}' is not a command: the command comes first (-A, -E, -D, -a, -e, -d, -L, -C, -S, -R, ...). Try \`uvsadm -h' or 'uvsadm --help' for more information.`;
  usage('-n', notCommand('-n'), 255);
  usage('-t 192.168.8.200:80 -A', notCommand('-t'), 255);
  usage('-nL', notCommand('-nL'), 255);
  usage('list', notCommand('list'), 255);
  usage('-A -t', '-t: missing argument', 255);
  usage('-A --tcp-service', '--tcp-service: missing argument', 255);
  // uvs: a command missing its own argument is named too (ipvsadm prints only "Try ..." there).
  usage('--stop-daemon', '--stop-daemon: missing argument', 255);
  usage('--start-daemon', '--start-daemon: missing argument', 255);
  usage('--socket /tmp/x --role', '--role: missing argument', 255);
  usage('-t', notCommand('-t'), 255);
  usage('-A --bogus', '--bogus: unknown option', 255);
  usage('--bogus', '--bogus: unknown option', 255);
  usage('--bogus -A -t 192.168.8.200:80', '--bogus: unknown option', 255);
  // popt names the whole word of a bundle, and refuses '=' after an option without a value.
  usage('-Aq', '-Aq: unknown option', 255);
  usage('-Lnt', '-Lnt: missing argument', 255);
  usage('-L -n=1', '-n=1: option does not take an argument', 255);
  usage('-C --socket=', 'invalid socket path ""');
});

test('a host name (ipvsadm resolves it, uvs does not) is named in the refusal with the way out, also in -R of a table saved without -n', () => {
  const hint = (name: string): string => `: host name "${name}" (uvs reads IPv4 addresses only; uvsadm -S -n saves them so)`;
  usage('-A -t www.example.com:80', `illegal virtual server address[:port] specified${hint('www.example.com')}`);
  usage('-A -t localhost', `illegal virtual server address[:port] specified${hint('localhost')}`);
  usage('-a -t 192.168.8.200:80 -r web1:http -g', `illegal real server address[:port] specified${hint('web1')}`);
  // What uvsadm -S without -n writes where /etc/hosts names the VIP.
  assert.throws(() => parseRules('-A -t vip1:http -s rr\n-a -t vip1:http -r web1:http -g -w 1\n', ctx),
    (e: unknown) => e instanceof UsageError && e.message === `line 1: illegal virtual server address[:port] specified${hint('vip1')}` && e.exitCode === 2);
});

test('-R lines: tokens, comments, line numbers of the first bad line', () => {
  assert.deepEqual(splitRuleLine(' -A  -t 1.2.3.4:80 "-s" \'rr\' '), ['-A', '-t', '1.2.3.4:80', '-s', 'rr']);
  const r = parseRules('# saved\n-A -t 192.168.8.200:80 -s rr\n\n-a -t 192.168.8.200:80 -r 192.168.8.20:80 -g -w 1\n', ctx);
  assert.deepEqual(r.lines, [2, 4]);
  assert.deepEqual(r.calls.map((c) => c.verb), ['addService', 'addDest']);
  assert.throws(() => parseRules('-A -t 192.168.8.200:80\n-a -t 192.168.8.200:80 -r 1.2.3.4 -w x\n', ctx),
    (e: unknown) => e instanceof UsageError && e.message === "line 2: illegal weight specified: `x'" && e.exitCode === 2);
  assert.throws(() => parseRules('-C\n-Ln\n', ctx), (e: unknown) => e instanceof UsageError && /^line 2: only commands that change the table/.test(e.message));
  // "Lines read from stdin can optionally begin with ipvsadm" (ipvsadm.8); uvsadm too. A line of
  // the word alone is skipped, as ipvsadm does; elsewhere the word is an argument like any other.
  const named = parseRules('ipvsadm -A -t 192.168.8.203:80 -s rr\nuvsadm -a -t 192.168.8.203:80 -r 192.168.8.20\n  ipvsadm\n-D -t 192.168.8.203:80\n', ctx);
  assert.deepEqual(named.calls, parseRules('-A -t 192.168.8.203:80 -s rr\n-a -t 192.168.8.203:80 -r 192.168.8.20\n-D -t 192.168.8.203:80\n', ctx).calls);
  assert.deepEqual(named.lines, [1, 2, 4]);
  assert.throws(() => parseRules('-A -t 192.168.8.203:80 ipvsadm\n', ctx), (e: unknown) => e instanceof UsageError && e.message === 'line 1: unexpected argument ipvsadm');
  // ipvsadm -R runs a sync daemon line as a command; uvsd's batch takes table changes only, so it
  // is refused before anything is sent, naming the line (until 2026-12-07 uvsd's words, exit 255:
  // `line 2: Invalid request: verb stopDaemon cannot be batched`).
  for (const [line, opt] of [['--stop-daemon backup', '--stop-daemon'], ['ipvsadm --start-daemon master --syncid 1', '--start-daemon'], ['--role backup', '--role']] as const) {
    const run = line.replace(/^ipvsadm /, '');
    assert.throws(() => parseRules(`-C\n${line}\n-A -t 192.168.8.203:80\n`, ctx), (e: unknown) => e instanceof UsageError && e.exitCode === 2 &&
      e.message === `line 2: ${opt} is not a table change, which -R applies in one batch (all or nothing): run \`uvsadm ${run}' on its own`);
  }
});

test('IPv6 addresses are read as ipvsadm 1.31 reads them ([ADDR]:PORT, bare ADDR) and answered as a kernel without IPv6 IPVS answers ipvsadm (EAFNOSUPPORT, exit 255; 1 for a listing), no longer with the syntax error', () => {
  const af = (a: string) => `Operation not supported with specified address family: ${a} (uvs is IPv4-only)`;
  usage('-A -t [2001:db8::1]:80 -s rr', af('[2001:db8::1]:80'), 255);
  usage('-A -u [2001:db8::1]:domain', af('[2001:db8::1]:domain'), 255);
  usage('-A -t 2001:db8::1 -s rr -p', af('2001:db8::1'), 255);
  usage('-E -t [::ffff:192.168.8.200]:80', af('[::ffff:192.168.8.200]:80'), 255);
  usage('-D -t [2001:db8::1]:80', af('[2001:db8::1]:80'), 255);
  usage('-Z -t [2001:db8::1]:80', af('[2001:db8::1]:80'), 255);
  usage('-a -t [2001:db8::1]:80 -r [2001:db8::20]:80 -m', af('[2001:db8::1]:80'), 255);
  usage('-a -t 192.168.8.200:80 -r [2001:db8::20]:80 -i', af('[2001:db8::20]:80'), 255);
  usage('-d -t 192.168.8.200:80 -r [2001:db8::20]:80', af('[2001:db8::20]:80'), 255);
  usage('-L -n -t [2001:db8::1]:80', af('[2001:db8::1]:80'), 1);
  // ipvsadm's own checks come first, as they come before the kernel.
  usage('-a -t 192.168.8.200:80 -r [2001:db8::20]:80', 'Different address family is allowed only for tunneling servers');
  usage('-e -f 1 -r 2001:db8::20 -m', 'Different address family is allowed only for tunneling servers');
  usage('-a -t [2001:db8::1]:80 -r 192.168.8.20 -m', 'Different address family is allowed only for tunneling servers');
  usage('-A -t 2001:db8::1 -s rr', 'Zero port specified for non-persistent service');
  // What ipvsadm does not read as an address stays its syntax error: brackets need a port, no %zone, no bad port.
  usage('-A -t [2001:db8::1] -s rr', "illegal virtual server address[:port] specified: `[2001:db8::1]'");
  usage('-A -t [2001:db8::1]:x -s rr', "illegal virtual server address[:port] specified: `[2001:db8::1]:x'");
  usage('-A -t fe80::1%eth0 -s rr', "illegal virtual server address[:port] specified: `fe80::1%eth0'");
  usage('-a -t 192.168.8.200:80 -r [2001:db8::20:80', "illegal real server address[:port] specified: `[2001:db8::20:80'");
  // -R: a dual-stack ipvsadm -S dump names its first IPv6 line.
  assert.throws(() => parseRules('-A -t 192.168.8.200:80 -s rr\n-a -t 192.168.8.200:80 -r 192.168.8.20:80 -g -w 1\n-A -t [2001:db8::1]:80 -s rr\n-a -t [2001:db8::1]:80 -r [2001:db8::20]:80 -m -w 1\n', ctx),
    (e: unknown) => e instanceof UsageError && e.message === `line 3: ${af('[2001:db8::1]:80')}` && e.exitCode === 255);
});

// ---- fuzz -----------------------------------------------------------------------------------

const isQuad = (s: unknown): boolean =>
  typeof s === 'string' && /^\d+\.\d+\.\d+\.\d+$/.test(s) && s.split('.').every((o) => Number(o) <= 255 && String(Number(o)) === o);
const isPort = (p: unknown): boolean => Number.isInteger(p) && (p as number) >= 0 && (p as number) <= 65535;
const isKey = (k: unknown): boolean => {
  const o = k as Record<string, unknown>;
  return typeof o === 'object' && o !== null && (o.proto === 'tcp' || o.proto === 'udp') && isQuad(o.addr) && isPort(o.port);
};

/** Every invariant the Command type and ipvsadm's rules promise. */
function checkCommand(c: Command): void {
  assert.ok(typeof c.socket === 'string' && c.socket.length > 0);
  switch (c.kind) {
    case 'help': case 'version': case 'status': case 'daemonList':
      assert.deepEqual(Object.keys(c).sort(), ['kind', 'socket']);
      return;
    case 'restore':
      assert.deepEqual(Object.keys(c).sort(), ['dryRun', 'kind', 'socket']);
      assert.equal(typeof c.dryRun, 'boolean');
      return;
    case 'save':
      assert.equal(typeof c.numeric, 'boolean');
      return;
    case 'list': case 'getLaddr':
      if (c.service !== undefined) assert.ok(isKey(c.service));
      return;
    case 'call': {
      const a = c.call.args as Record<string, unknown>;
      switch (c.call.verb) {
        case 'addService': case 'editService':
          assert.ok(isKey(a) && typeof a.sched === 'string' && a.sched !== '');
          assert.ok(a.port !== 0 || (a.persist as number) > 0);
          assert.ok(Number.isInteger(a.persist) && isQuad(a.netmask) && Array.isArray(a.flags));
          if (a.oneShot === true) assert.equal(a.proto, 'udp');
          return;
        case 'deleteService':
          assert.ok(isKey(a));
          return;
        case 'addDest': case 'editDest': case 'deleteDest': {
          assert.ok(isKey(a.service) && isQuad(a.addr) && isPort(a.port));
          if (c.call.verb === 'deleteDest') return;
          assert.ok(['dr', 'nat', 'tun', 'fullnat'].includes(a.fwd as string));
          assert.ok(Number.isInteger(a.weight) && (a.weight as number) >= 0 && (a.weight as number) <= MAX_WEIGHT);
          if (a.fwd === 'dr' || a.fwd === 'tun') assert.equal(a.port, (a.service as { port: number }).port);
          return;
        }
        case 'clear':
          assert.deepEqual(a, {});
          return;
        case 'setTimeouts':
          assert.ok([a.tcp, a.tcpfin, a.udp].every((n) => Number.isInteger(n) && (n as number) >= 0));
          return;
        case 'addLaddr': case 'delLaddr':
          assert.ok(isKey(a.service) && isQuad(a.addr));
          return;
        case 'setRole':
          assert.ok((a.role === 'master' || a.role === 'backup') && (a.group === undefined || typeof a.group === 'string'));
          return;
        case 'startDaemon': case 'stopDaemon':
          assert.ok(a.state === 'master' || a.state === 'backup');
          if (a.syncid !== undefined) assert.ok(Number.isInteger(a.syncid) && (a.syncid as number) >= 0 && (a.syncid as number) <= 255);
          if (a.syncPeer !== undefined) assert.ok(isQuad(a.syncPeer));
          return;
        default:
          assert.fail(`unexpected verb ${c.call.verb}`);
      }
    }
  }
}

const FLAGS = [
  '-A', '-E', '-D', '-C', '-a', '-e', '-d', '-L', '-l', '-h', '-t', '-u', '-s', '-r', '-g', '-m', '-i', '-w', '-n', '-S', '-R',
  '-p', '-M', '-b', '-o', '-x', '-y', '-c', '-z', '--set', '--timeout', '--stats', '--rate', '--exact', '--thresholds',
  '--persistent-conn', '--nosort', '--sort', '--fullnat', '--add-laddr', '--del-laddr', '--get-laddr',
  '--add-service', '--edit-service', '--delete-service', '--clear', '--add-server', '--edit-server', '--delete-server',
  '--list', '--help', '--tcp-service', '--udp-service', '--scheduler', '--real-server', '--gatewaying', '--masquerading',
  '--ipip', '--weight', '--numeric', '--socket', '--status', '-Ln', '-At', '-at', '-nL', '-Lnt', '--', '-', '--list=1',
  '--start-daemon', '--stop-daemon', '--role', '--daemon', '--syncid', '--mcast-interface', '--sync-peer', '--sync-key-file',
  '--sync-maxlen', '--mcast-group', '--mcast-port', '--mcast-ttl', 'master', 'backup',
];
const VALUES = [
  '192.168.8.200:80', '192.168.8.200', '10.0.0.1:0', '10.0.0.1:65535', '10.0.0.1:65536', '1.2.3.4:http', '1.2.3.4:domain',
  '1.2.3:80', '256.1.1.1:1', '::1', '[::1]:80', '0.0.0.0:1', '01.2.3.4:5', 'rr', 'wlc', 'sh', 'sh-port', '', ' ', '0', '1',
  '-1', '2147483647', '2147483648', '1e3', '0x10', '/tmp/s.sock', 'junk', '\u00e9', ':', '1.2.3.4:80:90', '255.255.255.0',
];

const ARGV_CASES = 100_000;
const SHORT = [...'AEDCaedLlhtusrgmiwnSRpMbozxyc'];

/** A random argv token: an option, a typical value, a bundle of short options, or noise. */
function token(g: Rand): string {
  switch (g.int(6)) {
    case 0: case 1: return g.pick(FLAGS);
    case 2: case 3: return g.pick(VALUES);
    case 4: return `-${Array.from({ length: g.range(1, 4) }, () => g.pick(SHORT)).join('')}`;
    default: return Array.from({ length: g.int(9) }, () => String.fromCharCode(g.chance(0.9) ? g.range(32, 126) : g.int(0x250))).join('');
  }
}

test(`fuzz: ${ARGV_CASES.toLocaleString('en')} random argv yield a valid Command or a one-line UsageError with exit 2 or 255`, () => {
  let accepted = 0;
  runCases('ipvsadm argv', ARGV_CASES, fuzzSeed(1320), (g) => Array.from({ length: g.int(11) }, () => token(g)), (argv) => {
    let c: Command;
    try {
      c = parseArgs(argv, ctx);
    } catch (err) {
      assert.ok(err instanceof UsageError, `not a UsageError: ${String(err)}`);
      assert.ok(err.message.length > 0 && !err.message.includes('\n'), JSON.stringify(err.message));
      assert.ok(err.exitCode === 2 || err.exitCode === 255, `exit ${err.exitCode}`);
      return;
    }
    checkCommand(c);
    accepted++;
  });
  assert.ok(accepted > 1000, `only ${accepted} accepted: the generator would not reach the commands`);
});

// Each file is six lines (six parses): fewer files for the same time.
const RULE_CASES = 10_000;

test(`fuzz: ${RULE_CASES.toLocaleString('en')} mutated -R rule files give calls or a UsageError naming the line`, () => {
  const rules = [
    '-A -t 192.168.8.200:80 -s rr', '-a -t 192.168.8.200:80 -r 192.168.8.20:80 -g -w 1', '-a -t 192.168.8.200:80 -r 192.168.8.21:80 -g -w 3',
    '-A -u 192.168.8.200:53 -s wlc -p 60', '-a -u 192.168.8.200:53 -r 10.0.0.2:5353 -m -w 2 -x 10 -y 5', '-A -t 10.0.0.1:0 -s sh -b sh-port -p 300',
  ].join('\n') + '\n';
  runCases('ipvsadm -R', RULE_CASES, fuzzSeed(1321), (g) => mutateText(rules, g, FLAGS), (text) => {
    let r: ReturnType<typeof parseRules>;
    try {
      r = parseRules(text, ctx);
    } catch (err) {
      assert.ok(err instanceof UsageError, `not a UsageError: ${String(err)}`);
      assert.match(err.message, /^line \d+: [^\n]+$/);
      return;
    }
    assert.equal(r.calls.length, r.lines.length);
    for (const call of r.calls) checkCommand({ kind: 'call', socket: DEFAULT_SOCKET, call });
  });
});

test('fuzz: realistic option mixes are mostly accepted and always well-typed', () => {
  const cmd = fc.constantFrom('-A', '-E', '-D', '-C', '-a', '-e', '-d', '-L', '-Ln', '-l', '-S');
  const opt = fc.oneof(
    fc.tuple(fc.constantFrom('-t', '-u'), fc.constantFrom('192.168.8.200:80', '10.0.0.1:53', '10.0.0.1', '1.2.3.4:http')),
    fc.tuple(fc.constant('-r'), fc.constantFrom('192.168.8.20', '192.168.8.21:8080', '10.9.9.9:domain')),
    fc.tuple(fc.constant('-s'), fc.constantFrom('rr', 'wlc', 'mh')),
    fc.tuple(fc.constant('-w'), fc.constantFrom('0', '1', '100', String(MAX_WEIGHT))),
    fc.tuple(fc.constantFrom('-g', '-m', '-i', '-n', '--stats', '-p')),
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
        assert.ok(c.kind === 'call' && c.call.verb === 'addDest');
        const a = c.call.args as { weight: number; port: number };
        assert.equal(a.weight, w);
        assert.equal(a.port, method === '-m' && rport !== null && rport !== 0 ? rport : vport);
      }),
    { numRuns: 500 },
  );
});
