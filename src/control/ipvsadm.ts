// ipvsadm 1.31's command line, turned into a typed command without touching a socket or the
// process, so it can be unit-tested and fuzzed. The tokenizer follows popt as ipvsadm uses it
// (long/short forms, bundles like -Ln and -At, an optional -p value); the checks after it follow
// ipvsadm.c: the first option is the command, the commands_v_options table, then the per-command
// checks, with ipvsadm's messages and exit statuses (2 for fail(2, ...), 255 for popt errors).

import { DEFAULT_PERSISTENT_TIMEOUT, DEFAULT_SCHED, DEFAULT_SOCKET, DEFAULT_WEIGHT, destPort, LADDR_PORT_MAX, LADDR_PORT_MIN, LADDR_TEXT_FORM, MAX_FWMARK, parseLaddrText, MAX_THRESHOLD, MAX_TIMEOUT, MAX_WEIGHT, printableWord, TUN_TYPES } from './protocol.js';
import type { DaemonSpec, DestSpec, Fwd, LaddrRange, Proto, ServiceKey, ServiceSpec, Timeouts, TunCsum, TunOptions, TunType, VerbName, Verbs } from './protocol.js';
import { isIPv6 } from 'node:net';
import { resolve as resolvePath } from 'node:path';
import { systemPortNames } from './printers.js';
import type { ListFormat, PortNames } from './printers.js';
import { formatIp, parseIp } from '../datapath/addr.js';
import { GENERIC_SCHED_FLAGS, SCHED_FLAG_NAMES, genericSchedFlag } from '../sched/types.js';

/** A bad command line: `message` is printed as is (ipvsadm prints no program prefix). */
export class UsageError extends Error {
  readonly code = 'USAGE';
  /** 2 for ipvsadm's fail(2, ...), 255 for popt's errors and "Try ... -h". */
  readonly exitCode: number;
  constructor(message: string, exitCode = 2) {
    super(message);
    this.name = 'UsageError';
    this.exitCode = exitCode;
  }
}

/** The control-socket request for a command that changes the table. */
export type Call = { [V in VerbName]: { verb: V; args: Verbs[V]['args'] } }[VerbName];

interface Common {
  /** --socket, else $UVS_SOCKET, else DEFAULT_SOCKET */
  socket: string;
}
/** -A -E -D -C -a -e -d --set --add-laddr --del-laddr: one mutating verb. */
export interface CallCommand extends Common {
  kind: 'call';
  call: Call;
}
export interface ListCommand extends Common {
  kind: 'list';
  numeric: boolean;
  format: ListFormat;
  /** -c */
  conns: boolean;
  /** --timeout */
  timeout: boolean;
  /** -L -t vip:port lists one service */
  service?: ServiceKey;
}
export interface SaveCommand extends Common {
  kind: 'save';
  numeric: boolean;
}
export interface RestoreCommand extends Common {
  kind: 'restore';
  /** uvs: --dry-run: uvsd checks the whole input against its table, changes nothing. */
  dryRun: boolean;
}
/** uvs extension: the firewall-mark rules (--get-marks). */
export interface GetMarksCommand extends Common {
  kind: 'getMarks';
}
export interface GetLaddrCommand extends Common {
  kind: 'getLaddr';
  numeric: boolean;
  service?: ServiceKey;
}
export interface HelpCommand extends Common {
  kind: 'help';
}
export interface VersionCommand extends Common {
  kind: 'version';
}
/** uvs extension: re-read uvsd's --config file (--dry-run: only print the changes). */
export interface ReloadCommand extends Common {
  kind: 'reload';
  dryRun: boolean;
}
/** uvs extension: the running state as a config file. */
export interface DumpConfigCommand extends Common {
  kind: 'dumpConfig';
}
/** uvs extension: which real server a new connection from a client would get now, and why. */
export interface ExplainCommand extends Common {
  kind: 'explain';
  service: ServiceKey;
  client: string;
  cport: number;
}
/** uvs extension: the daemon's link identity, table use and per-reason counters. */
export interface StatusCommand extends Common {
  kind: 'status';
}
/** uvs extension: withdraw the director's routes and keep forwarding (on), or announce again. */
export interface DrainCommand extends Common {
  kind: 'drain';
  on: boolean;
  /** --drain-timeout seconds; the daemon's --drain-timeout when absent. */
  timeout?: number;
}
/** -L --daemon: the sync daemons (and, uvs, the role and sync counters). */
export interface DaemonListCommand extends Common {
  kind: 'daemonList';
}
/** uvs: the neighbour (ARP) table (--neigh). */
export interface NeighCommand extends Common {
  kind: 'neigh';
}
export type Command =
  | CallCommand | ListCommand | SaveCommand | RestoreCommand | GetLaddrCommand | GetMarksCommand | HelpCommand | VersionCommand | StatusCommand
  | ReloadCommand | DumpConfigCommand | ExplainCommand | DrainCommand | DaemonListCommand | NeighCommand;

export interface ParseContext {
  /** Where UVS_SOCKET is read from; process.env by default. */
  env?: Record<string, string | undefined>;
  /** Port names accepted in addresses (`vip:http`); /etc/services by default. */
  ports?: PortNames;
}

// ---- the option table ----------------------------------------------------------------------

// ipvsadm's optnames[] (the ones uvs has), in table order: the first violation is reported.
const OPTS = [
  'numeric', 'connection', 'service-address', 'scheduler', 'persistent', 'netmask', 'real-server',
  'forwarding-method', 'weight', 'u-threshold', 'l-threshold', 'timeout', 'stats', 'rate', 'thresholds',
  'persistent-conn', 'nosort', 'exact', 'ops', 'pe', 'sched-flags', 'laddr', 'dry-run', 'client', 'drain-timeout',
  'synproxy',
  // the sync daemon (ipvsadm's names) and uvs's sync-peer / sync-key-file (docs/ha.md)
  'daemon', 'syncid', 'mcast-interface', 'sync-peer', 'sync-key-file', 'sync-maxlen', 'mcast-group', 'mcast-port', 'mcast-ttl',
  // uvs: -Lc with FULLNAT's local address column
  'laddr-column',
  // TUN's encapsulation (ipvsadm 1.31, Linux 5.2+)
  'tun-info', 'tun-type', 'tun-port', 'tun-nocsum', 'tun-csum', 'tun-remcsum',
  // uvs: --role's HA group (active/active, docs/ha.md)
  'ha-group',
] as const;
type Opt = (typeof OPTS)[number];

type Cmd =
  | 'add-service' | 'edit-service' | 'delete-service' | 'flush' | 'list' | 'add-server' | 'delete-server'
  | 'edit-server' | 'set' | 'restore' | 'save' | 'add-laddr' | 'del-laddr' | 'get-laddr' | 'status' | 'reload'
  | 'dump-config' | 'zero' | 'explain' | 'drain' | 'undrain' | 'start-daemon' | 'stop-daemon' | 'role'
  | 'add-mark' | 'del-mark' | 'get-marks' | 'neigh' | 'neigh-flush';

// commands_v_options, one character per OPTS entry: '+' compulsory, 'x' illegal,
// '1' exclusive (only one '1' option), ' ' optional.
const RULES: Record<Cmd, string> = {
  'add-service':    'xx+   xxxxxxxxxxxx   xxxx xxxxxxxxxxxxxxxxx',
  'edit-service':   'xx+   xxxxxxxxxxxx   xxxx xxxxxxxxxxxxxxxxx',
  'delete-service': 'xx+xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',
  flush:            'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',
  list:             ' 11xxxxxxxx1      xxxxxxxx1 xxxxxxx  xxxxxx', // --syncid: ipvsadm's LIST row takes (and ignores) it
  'add-server':     'xx+xxx+    xxxxxxxxxxxxxxxxxxxxxxxxxx     x',
  'delete-server':  'xx+xxx+xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',
  'edit-server':    'xx+xxx+    xxxxxxxxxxxxxxxxxxxxxxxxxx     x',
  set:              'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',
  restore:          'xxxxxxxxxxxxxxxxxxxxxx xxxxxxxxxxxxxxxxxxxx', // -R [--dry-run] (uvs)
  save:             ' xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',
  'add-laddr':      'xx+xxxxxxxxxxxxxxxxxx+xxxxxxxxxxxxxxxxxxxxx',
  'del-laddr':      'xx+xxxxxxxxxxxxxxxxxx+xxxxxxxxxxxxxxxxxxxxx',
  'get-laddr':      ' x xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',
  status:           ' xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',
  reload:           'xxxxxxxxxxxxxxxxxxxxxx xxxxxxxxxxxxxxxxxxxx',
  'dump-config':    'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',
  zero:             'xx xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx', // -Z [service] (uvs metrics: docs/metrics.md)
  explain:          ' x+xxxxxxxxxxxxxxxxxxxx+xxxxxxxxxxxxxxxxxxx', // --explain -t|u service --client addr[:port] (uvs)
  drain:            'xxxxxxxxxxxxxxxxxxxxxxxx xxxxxxxxxxxxxxxxxx', // --drain [--drain-timeout s] (uvs: docs/scale-out.md)
  undrain:          'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',
  'start-daemon':   'xxxxxxxxxxxxxxxxxxxxxxxxxxx        xxxxxxxx', // --start-daemon master|backup [--syncid N] ...
  'stop-daemon':    'xxxxxxxxxxxxxxxxxxxxxxxxxxx xxxxxxxxxxxxxxx', // --stop-daemon state [--syncid N] (ignored, as ipvsadm's STOPD row)
  role:             'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx ', // --role master|backup [--ha-group NAME] (uvs, docs/ha.md)
  // uvs (docs/fwmark.md): --add-mark|--del-mark -f MARK -t|-u VIP[:PORT[-PORT]], --get-marks; -f is checked by hand.
  'add-mark':       'xx+xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',
  'del-mark':       'xx+xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',
  'get-marks':      'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',
  // uvs: --neigh [-n], --neigh-flush [ADDR] (docs/uvsadm.md)
  neigh:            ' xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',
  'neigh-flush':    'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',
};

/** The sync daemon's numbers and their ranges, as ipvsadm 1.31 reads them (sync-maxlen: 65535 - 20 - 8). */
const SYNC_RANGES = { syncid: [0, 255], 'sync-maxlen': [1, 65507], 'mcast-port': [1, 65535], 'mcast-ttl': [1, 255] } as const;

type Arg = 'none' | 'required' | 'optional';
const SYNC_STATES = ['master', 'backup'] as const;
type Action =
  | { cmd: Cmd | 'help' | 'version' }
  | { opt: Opt; proto?: Proto; fwd?: Fwd }
  | { socket: true }
  | { sort: true }
  | { fwmark: true };
interface OptionSpec {
  long: string;
  short?: string;
  arg: Arg;
  action: Action;
}

const OPTION_SPECS: readonly OptionSpec[] = [
  { long: 'add-service', short: 'A', arg: 'none', action: { cmd: 'add-service' } },
  { long: 'edit-service', short: 'E', arg: 'none', action: { cmd: 'edit-service' } },
  { long: 'delete-service', short: 'D', arg: 'none', action: { cmd: 'delete-service' } },
  { long: 'clear', short: 'C', arg: 'none', action: { cmd: 'flush' } },
  { long: 'list', short: 'L', arg: 'none', action: { cmd: 'list' } },
  { long: 'list', short: 'l', arg: 'none', action: { cmd: 'list' } },
  { long: 'add-server', short: 'a', arg: 'none', action: { cmd: 'add-server' } },
  { long: 'edit-server', short: 'e', arg: 'none', action: { cmd: 'edit-server' } },
  { long: 'delete-server', short: 'd', arg: 'none', action: { cmd: 'delete-server' } },
  { long: 'set', arg: 'none', action: { cmd: 'set' } },
  { long: 'help', short: 'h', arg: 'none', action: { cmd: 'help' } },
  { long: 'version', short: 'v', arg: 'none', action: { cmd: 'version' } },
  { long: 'restore', short: 'R', arg: 'none', action: { cmd: 'restore' } },
  { long: 'save', short: 'S', arg: 'none', action: { cmd: 'save' } },
  { long: 'add-laddr', arg: 'none', action: { cmd: 'add-laddr' } },
  { long: 'del-laddr', arg: 'none', action: { cmd: 'del-laddr' } },
  { long: 'get-laddr', arg: 'none', action: { cmd: 'get-laddr' } },
  { long: 'add-mark', arg: 'none', action: { cmd: 'add-mark' } },
  { long: 'del-mark', arg: 'none', action: { cmd: 'del-mark' } },
  { long: 'get-marks', arg: 'none', action: { cmd: 'get-marks' } },
  { long: 'neigh', arg: 'none', action: { cmd: 'neigh' } },
  { long: 'neigh-flush', arg: 'optional', action: { cmd: 'neigh-flush' } },
  { long: 'status', arg: 'none', action: { cmd: 'status' } },
  { long: 'reload', arg: 'none', action: { cmd: 'reload' } },
  { long: 'dump-config', arg: 'none', action: { cmd: 'dump-config' } },
  { long: 'zero', short: 'Z', arg: 'none', action: { cmd: 'zero' } },
  { long: 'dry-run', arg: 'none', action: { opt: 'dry-run' } },
  { long: 'explain', arg: 'none', action: { cmd: 'explain' } },
  { long: 'start-daemon', arg: 'required', action: { cmd: 'start-daemon' } },
  { long: 'stop-daemon', arg: 'required', action: { cmd: 'stop-daemon' } },
  { long: 'role', arg: 'required', action: { cmd: 'role' } },
  { long: 'ha-group', arg: 'required', action: { opt: 'ha-group' } },
  { long: 'daemon', arg: 'none', action: { opt: 'daemon' } },
  { long: 'syncid', arg: 'required', action: { opt: 'syncid' } },
  { long: 'mcast-interface', arg: 'required', action: { opt: 'mcast-interface' } },
  { long: 'sync-peer', arg: 'required', action: { opt: 'sync-peer' } },
  { long: 'sync-key-file', arg: 'required', action: { opt: 'sync-key-file' } },
  { long: 'sync-maxlen', arg: 'required', action: { opt: 'sync-maxlen' } },
  { long: 'mcast-group', arg: 'required', action: { opt: 'mcast-group' } },
  { long: 'mcast-port', arg: 'required', action: { opt: 'mcast-port' } },
  { long: 'mcast-ttl', arg: 'required', action: { opt: 'mcast-ttl' } },
  { long: 'drain', arg: 'none', action: { cmd: 'drain' } },
  { long: 'undrain', arg: 'none', action: { cmd: 'undrain' } },
  { long: 'drain-timeout', arg: 'required', action: { opt: 'drain-timeout' } },
  { long: 'client', arg: 'required', action: { opt: 'client' } },
  { long: 'tcp-service', short: 't', arg: 'required', action: { opt: 'service-address', proto: 'tcp' } },
  { long: 'udp-service', short: 'u', arg: 'required', action: { opt: 'service-address', proto: 'udp' } },
  { long: 'sctp-service', arg: 'required', action: { opt: 'service-address', proto: 'sctp' } },
  { long: 'fwmark-service', short: 'f', arg: 'required', action: { fwmark: true } },
  { long: 'scheduler', short: 's', arg: 'required', action: { opt: 'scheduler' } },
  { long: 'persistent', short: 'p', arg: 'optional', action: { opt: 'persistent' } },
  { long: 'netmask', short: 'M', arg: 'required', action: { opt: 'netmask' } },
  { long: 'sched-flags', short: 'b', arg: 'required', action: { opt: 'sched-flags' } },
  { long: 'ops', short: 'o', arg: 'none', action: { opt: 'ops' } },
  { long: 'pe', arg: 'required', action: { opt: 'pe' } },
  { long: 'synproxy', arg: 'none', action: { opt: 'synproxy' } },
  { long: 'real-server', short: 'r', arg: 'required', action: { opt: 'real-server' } },
  { long: 'masquerading', short: 'm', arg: 'none', action: { opt: 'forwarding-method', fwd: 'nat' } },
  { long: 'ipip', short: 'i', arg: 'none', action: { opt: 'forwarding-method', fwd: 'tun' } },
  { long: 'gatewaying', short: 'g', arg: 'none', action: { opt: 'forwarding-method', fwd: 'dr' } },
  { long: 'fullnat', arg: 'none', action: { opt: 'forwarding-method', fwd: 'fullnat' } },
  { long: 'weight', short: 'w', arg: 'required', action: { opt: 'weight' } },
  { long: 'u-threshold', short: 'x', arg: 'required', action: { opt: 'u-threshold' } },
  { long: 'l-threshold', short: 'y', arg: 'required', action: { opt: 'l-threshold' } },
  { long: 'laddr', short: 'z', arg: 'required', action: { opt: 'laddr' } },
  { long: 'numeric', short: 'n', arg: 'none', action: { opt: 'numeric' } },
  { long: 'connection', short: 'c', arg: 'none', action: { opt: 'connection' } },
  { long: 'timeout', arg: 'none', action: { opt: 'timeout' } },
  { long: 'stats', arg: 'none', action: { opt: 'stats' } },
  { long: 'rate', arg: 'none', action: { opt: 'rate' } },
  { long: 'thresholds', arg: 'none', action: { opt: 'thresholds' } },
  { long: 'persistent-conn', arg: 'none', action: { opt: 'persistent-conn' } },
  { long: 'laddr-column', arg: 'none', action: { opt: 'laddr-column' } },
  { long: 'tun-info', arg: 'none', action: { opt: 'tun-info' } },
  { long: 'tun-type', arg: 'required', action: { opt: 'tun-type' } },
  { long: 'tun-port', arg: 'required', action: { opt: 'tun-port' } },
  { long: 'tun-nocsum', arg: 'none', action: { opt: 'tun-nocsum' } },
  { long: 'tun-csum', arg: 'none', action: { opt: 'tun-csum' } },
  { long: 'tun-remcsum', arg: 'none', action: { opt: 'tun-remcsum' } },
  { long: 'nosort', arg: 'none', action: { opt: 'nosort' } },
  { long: 'sort', arg: 'none', action: { sort: true } },
  { long: 'exact', short: 'X', arg: 'none', action: { opt: 'exact' } },
  { long: 'socket', arg: 'required', action: { socket: true } },
];

const BY_LONG = new Map(OPTION_SPECS.map((s) => [s.long, s]));
const BY_SHORT = new Map(OPTION_SPECS.filter((s) => s.short !== undefined).map((s) => [s.short!, s]));

interface Occurrence {
  spec: OptionSpec;
  value: string | undefined;
  /** The argv word the option is in (a bundle's whole word), as popt's poptBadOption names it. */
  word: string;
}

const TRY_HELP = "Try `uvsadm -h' or 'uvsadm --help' for more information.";

/** The value an option was given, quoted as ipvsadm quotes one (`abc'), as JSON when it has a space or a control character (one line). */
function quoted(v: string): string {
  return printableWord(v) ? `\`${v}'` : JSON.stringify(v);
}

/** ipvsadm's "illegal X specified" for a value, the value named after it (ipvsadm's words first, as scripts grep them). */
function illegal(text: string, v: string | undefined): UsageError {
  return new UsageError(`${text}: ${quoted(v ?? '')}`);
}

/** popt's POPT_ERROR_NOARG, with the option it concerns. */
class MissingArgument extends UsageError {
  readonly spec: OptionSpec;
  readonly option: string;
  constructor(option: string, spec: OptionSpec) {
    super(`${option}: missing argument`, 255);
    this.spec = spec;
    this.option = option;
  }
}

/**
 * popt's view of argv: option occurrences in order plus leftover arguments. Like popt, which
 * ipvsadm reads one option at a time, an error is only reported once the options before it have
 * been handled, so it is returned rather than thrown.
 */
function tokenize(argv: readonly string[]): { occurrences: Occurrence[]; rest: string[]; error?: UsageError } {
  const occurrences: Occurrence[] = [];
  const rest: string[] = [];
  try {
    scan(argv, occurrences, rest);
  } catch (e) {
    if (e instanceof UsageError) return { occurrences, rest, error: e };
    throw e;
  }
  return { occurrences, rest };
}

function scan(argv: readonly string[], occurrences: Occurrence[], rest: string[]): void {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      rest.push(...argv.slice(i + 1));
      break;
    }
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = a.slice(2, eq < 0 ? undefined : eq);
      const spec = BY_LONG.get(name);
      if (spec === undefined) throw new UsageError(`${a}: unknown option`, 255);
      let value: string | undefined;
      if (eq >= 0) {
        if (spec.arg === 'none') throw new UsageError(`${a}: option does not take an argument`, 255);
        value = a.slice(eq + 1);
      } else if (spec.arg === 'required') {
        if (i + 1 >= argv.length) throw new MissingArgument(a, spec);
        value = argv[++i];
      } else if (spec.arg === 'optional' && i + 1 < argv.length && !argv[i + 1]!.startsWith('-')) {
        value = argv[++i];
      }
      occurrences.push({ spec, value, word: a });
      continue;
    }
    if (a.startsWith('-') && a.length > 1) {
      // popt names the whole word of a bundle in its errors (`-Lq: unknown option`), and takes
      // `-t=VALUE` as `-t VALUE` (poptGetNextOpt skips one '=' after a short option).
      for (let j = 1; j < a.length; j++) {
        const spec = BY_SHORT.get(a[j]!);
        if (spec === undefined) throw new UsageError(`${a}: unknown option`, 255);
        if (spec.arg === 'none') {
          if (a[j + 1] === '=') throw new UsageError(`${a}: option does not take an argument`, 255);
          occurrences.push({ spec, value: undefined, word: a });
          continue;
        }
        // An option with a value takes the rest of the bundle, else the next argument.
        let value: string | undefined = a[j + 1] === '=' ? a.slice(j + 2) : a.slice(j + 1);
        if (value === '' && a[j + 1] !== '=') {
          value = undefined;
          if (spec.arg === 'required') {
            if (i + 1 >= argv.length) throw new MissingArgument(a, spec);
            value = argv[++i];
          } else if (i + 1 < argv.length && !argv[i + 1]!.startsWith('-')) {
            value = argv[++i];
          }
        }
        occurrences.push({ spec, value, word: a });
        break;
      }
      continue;
    }
    rest.push(a);
  }
}

// ---- value parsers (ipvsadm's helpers) -------------------------------------------------------

/** strtol over the whole string within [min, max], else undefined (string_to_number). */
function toNumber(s: string, min: number, max: number): number | undefined {
  if (!/^\s*[+-]?\d+$/.test(s)) return undefined;
  const n = Number(s.trim());
  return Number.isSafeInteger(n) && n >= min && n <= max ? n : undefined;
}

/** Strict dotted quad (see parseIp), normalised; undefined if invalid. */
export function parseIPv4(text: string): string | undefined {
  const ip = parseIp(text);
  return ip < 0 ? undefined : formatIp(ip);
}

/**
 * addr[:port] as ipvsadm's parse_service: the port is after the last ':' and may be a service
 * name of the protocol. undefined where ipvsadm's result lacks SERVICE_ADDR.
 */
export function parseAddrPort(text: string, proto: Proto | undefined, ports: () => PortNames): { addr: string; port?: number } | undefined {
  if (/^\d+$/.test(text)) return undefined;
  const colon = text.lastIndexOf(':');
  const addr = parseIPv4(colon < 0 ? text : text.slice(0, colon));
  if (addr === undefined) return undefined;
  if (colon < 0) return { addr };
  const port = parsePort(text.slice(colon + 1), proto, ports);
  return port === undefined ? undefined : { addr, port };
}

/** ipvsadm's "illegal ... address" message and the address named after it; a host name, which
 *  ipvsadm resolves and uvs does not read (uvsadm -S without -n writes them), said so. */
function addressError(text: string, v: string): UsageError {
  const colon = v.lastIndexOf(':');
  const host = colon < 0 ? v : v.slice(0, colon);
  const label = '[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?';
  if (!/[A-Za-z]/.test(host) || !new RegExp(`^${label}(?:\\.${label})*\\.?$`).test(host)) return illegal(text, v);
  return new UsageError(`${text}: host name "${host}" (uvs reads IPv4 addresses only; uvsadm -S -n saves them so)`);
}

/** An -t/-u/-r/-c address as parsed; v6: an IPv6 one (refused once the command is read). */
type AddrPort = { addr: string; port?: number; v6?: true };

/**
 * An IPv6 address[:port] as ipvsadm's parse_service reads one: `[ADDR]:PORT` (the port
 * compulsory) or ADDR alone (every ':' is the address's). undefined where it reads no IPv6 address.
 */
function parseAddrPort6(text: string, proto: Proto | undefined, ports: () => PortNames): { addr: string; port?: number } | undefined {
  // inet_pton(AF_INET6) takes no %zone.
  const v6 = (a: string): boolean => isIPv6(a) && !a.includes('%');
  if (!text.startsWith('[')) return v6(text) ? { addr: text } : undefined;
  const close = text.indexOf(']');
  if (close < 0 || text[close + 1] !== ':' || !v6(text.slice(1, close))) return undefined;
  const port = parsePort(text.slice(close + 2), proto, ports);
  return port === undefined ? undefined : { addr: text.slice(1, close), port };
}

/** IN_MULTICAST: 224.0.0.0/4. */
function isIPv4Multicast(ip: string): boolean {
  return parseIp(ip) >>> 28 === 0xe;
}

/** IN6_IS_ADDR_MULTICAST (ff00::/8) of a valid IPv6 address: its first group, "" before a leading "::". */
function isIPv6Multicast(ip: string): boolean {
  return Number.parseInt(ip.slice(0, ip.indexOf(':')) || '0', 16) >= 0xff00;
}

/** libipvs's ipvs_strerror for EAFNOSUPPORT: what a kernel without IPv6 IPVS answers an IPv6 address. */
const EAFNOSUPPORT_TEXT = 'Operation not supported with specified address family';

/** A port as ipvsadm's parse_service reads it: a number 0..65535 or a service name of the protocol. */
function parsePort(p: string, proto: Proto | undefined, ports: () => PortNames): number | undefined {
  return toNumber(p, 0, 65535) ?? (proto === undefined || p === '' ? undefined : ports().port(p, proto));
}

function parseTimeout(text: string | undefined, min: number, max: number): number {
  if (text === undefined) return DEFAULT_PERSISTENT_TIMEOUT;
  const n = toNumber(text, min, max);
  if (n === undefined) throw new UsageError(`invalid timeout value \`${text}' specified`);
  return n;
}

/** ipvsadm's parse_fwmark: strtol's decimal (leading blanks, a '+'), 1..4294967295. */
export function parseFwmark(text: string): number {
  const n = /^\s*\+?\d+$/.test(text) ? Number(text) : NaN;
  if (!(n >= 1 && n <= MAX_FWMARK)) throw new UsageError(`invalid fwmark value \`${text}' specified`);
  return n;
}

/**
 * --add-mark's -t|-u value: VIP (every port), VIP:PORT or VIP:PORT-PORT, each port a number or a
 * service name (a name with a dash, http-alt, is one port; a range's end is after the last dash).
 */
function parseMarkTarget(text: string, proto: Proto, ports: () => PortNames): { addr: string; portMin: number; portMax: number } | undefined {
  const one = parseAddrPort(text, proto, ports);
  if (one !== undefined) return { addr: one.addr, portMin: one.port ?? 0, portMax: one.port ?? 65535 };
  const dash = text.lastIndexOf('-');
  const lo = dash < 0 ? undefined : parseAddrPort(text.slice(0, dash), proto, ports);
  const hi = lo?.port === undefined ? undefined : parsePort(text.slice(dash + 1), proto, ports);
  return hi === undefined || hi < lo!.port! ? undefined : { addr: lo!.addr, portMin: lo!.port!, portMax: hi };
}

/** ipvsadm's parse_sched_flags: names, comma-separated; sh-* only with sh, mh-* only with mh;
 *  the generic flag-1 and flag-2 are the scheduler's -fallback and -port flags with sh and mh.
 *  `unread`: the first generic flag `sched` reads nothing in (ipvsadm takes it and the kernel
 *  keeps an unused bit; uvs refuses it once ipvsadm's own checks have passed). */
function parseSchedFlags(sched: string, text: string): { flags: string[]; unread?: string } {
  const flags: string[] = [];
  let unread: string | undefined;
  for (const f of text.split(',').filter((x) => x !== '')) {
    const generic = GENERIC_SCHED_FLAGS.includes(f);
    if (!generic && !Object.prototype.hasOwnProperty.call(SCHED_FLAG_NAMES, f)) throw new UsageError(`invalid scheduler flag \`${f}'`);
    const name = generic ? genericSchedFlag(sched, f) : f;
    if (name === undefined) {
      unread ??= f;
      continue;
    }
    if (!name.startsWith(`${sched}-`)) throw new UsageError(`incompatible scheduler flag \`${f}'`);
    if (!flags.includes(name)) flags.push(name);
  }
  return unread === undefined ? { flags } : { flags, unread };
}

// ---- the parser ------------------------------------------------------------------------------

/**
 * argv without node and script (process.argv.slice(2)) → a typed command.
 * Throws UsageError (one line, ipvsadm's wording and exit status) for anything ipvsadm refuses
 * before talking to the kernel, and for an IPv6 address what a kernel without IPv6 IPVS answers
 * ipvsadm (EAFNOSUPPORT; exit 1 for a listing, else 255): uvs is IPv4-only.
 */
export function parseArgs(argv: readonly string[], ctx: ParseContext = {}): Command {
  const af: { v6?: string } = {};
  const cmd = parseCommand(argv, ctx, af);
  if (af.v6 !== undefined) throw new UsageError(`${EAFNOSUPPORT_TEXT}: ${af.v6} (uvs is IPv4-only)`, cmd.kind === 'list' ? 1 : 255);
  return cmd;
}

/** parseArgs before its IPv6 refusal: the first IPv6 address read is put in af.v6, as written. */
function parseCommand(argv: readonly string[], ctx: ParseContext, af: { v6?: string }): Command {
  const env = ctx.env ?? process.env;
  let portNames = ctx.ports;
  const ports = (): PortNames => (portNames ??= systemPortNames());
  const addrPort = (text: string, p: Proto | undefined): AddrPort | undefined => {
    const a = parseAddrPort(text, p, ports);
    if (a !== undefined) return a;
    const a6 = parseAddrPort6(text, p, ports);
    if (a6 === undefined) return undefined;
    af.v6 ??= text;
    return { ...a6, v6: true };
  };

  const { occurrences, rest, error } = tokenize(argv);
  let socket: string | undefined;
  for (const o of occurrences) {
    if ('socket' in o.spec.action) {
      if (o.value === undefined || o.value === '') throw new UsageError('invalid socket path ""');
      socket = o.value;
    }
  }
  const common: Common = {
    socket: socket ?? (env.UVS_SOCKET !== undefined && env.UVS_SOCKET !== '' ? env.UVS_SOCKET : DEFAULT_SOCKET),
  };
  const opts = occurrences.filter((o) => !('socket' in o.spec.action));

  // `ipvsadm` alone lists the table (list_all without -n).
  if (opts.length === 0 && rest.length === 0 && error === undefined) {
    return { kind: 'list', ...common, numeric: false, format: {}, conns: false, timeout: false };
  }
  // The first option must be the command.
  const first = opts[0];
  // A command missing its own argument (--stop-daemon, --role) says so, as `-A -t` does; ipvsadm
  // prints only "Try ..." there, which hides which option lacks what.
  if (first === undefined && error instanceof MissingArgument && 'cmd' in error.spec.action) throw error;
  if (first === undefined || !('cmd' in first.spec.action)) {
    // ipvsadm prints only "Try ..." (exit 255) when the first option is no command; uvsadm names
    // the word: popt's message for one it does not know (`--bogus: unknown option`, as ipvsadm
    // prints for a later one), else the option or argument that came where the command goes.
    if (first === undefined && error !== undefined && !(error instanceof MissingArgument)) throw error;
    const word = first?.word ?? (error instanceof MissingArgument ? error.option : rest[0]!);
    throw new UsageError(`${quoted(word)} is not a command: the command comes first (-A, -E, -D, -a, -e, -d, -L, -C, -S, -R, ...). ${TRY_HELP}`, 255);
  }
  const cmdAction = first.spec.action.cmd;
  if (cmdAction === 'help') return { kind: 'help', ...common };
  if (cmdAction === 'version') return { kind: 'version', ...common };
  const cmd: Cmd = cmdAction;
  const cmdValue = first.value;
  // ipvsadm checks the daemon's state with the command, before any other option (its two texts).
  const syncState = SYNC_STATES.find((x) => x === cmdValue);
  if (cmd === 'start-daemon' && syncState === undefined) throw illegal('illegal start-daemon parameter specified', cmdValue);
  if (cmd === 'stop-daemon' && syncState === undefined) throw illegal('illegal start_daemon specified', cmdValue);

  const seen = new Set<Opt>();
  let proto: Proto | undefined;
  let service: AddrPort | undefined;
  let sched: string | undefined;
  let persist: number | undefined;
  let netmask: string | undefined;
  let flagsText: string | undefined;
  let pe: string | undefined;
  let server: AddrPort | undefined;
  let fwd: Fwd = 'dr';
  let weight = DEFAULT_WEIGHT;
  let upper = 0;
  let lower = 0;
  let laddr: LaddrRange | undefined;
  let tunType: TunType | undefined;
  let tunPort: number | undefined;
  let client: AddrPort | undefined;
  let fwmark: number | undefined;
  let markTarget: { addr: string; portMin: number; portMax: number } | undefined;
  const markCmd = cmd === 'add-mark' || cmd === 'del-mark';
  const sync: Record<string, string> = {};
  const syncNums: Partial<Record<keyof typeof SYNC_RANGES, number>> = {};
  let mcastGroup: string | undefined;
  let drainTimeout: number | undefined;
  let haGroup: string | undefined;

  for (const { spec, value, word } of opts.slice(1)) {
    const action = spec.action;
    // ipvsadm's option loop has no case for a command letter (-h and -v included): its default.
    if ('cmd' in action) throw new UsageError(`invalid option \`${word}'`);
    if ('sort' in action) continue;
    if ('fwmark' in action) {
      // -f names the service as -t/-u do (one of them); with --add-mark it is the mark to set.
      if (fwmark !== undefined || (!markCmd && seen.has('service-address'))) throw new UsageError(`multiple 'service-address' options specified`);
      fwmark = parseFwmark(value ?? '');
      if (!markCmd) {
        seen.add('service-address');
        // ipvsadm: "set protocol to a sane value, even though it is not used": port names of -r resolve as TCP's.
        proto = 'tcp';
      }
      continue;
    }
    if (!('opt' in action)) continue;
    const opt = action.opt;
    if (seen.has(opt)) throw new UsageError(`multiple '${opt}' options specified`);
    seen.add(opt);
    const v = value ?? '';
    switch (opt) {
      case 'service-address':
        proto = action.proto;
        if (markCmd) {
          markTarget = parseMarkTarget(v, proto ?? 'tcp', ports);
          if (markTarget === undefined) throw new UsageError(`illegal marked address \`${v}' specified (address[:port[-port]])`);
          // ipvsadm's -t VIP:0 is every port (a port-zero service); a mark of port 0 alone would match no flow.
          if (markTarget.portMax === 0) throw new UsageError(`illegal marked address \`${v}' specified: port 0 marks no flow; leave the port out to mark every port`);
          break;
        }
        if (fwmark !== undefined) throw new UsageError(`multiple 'service-address' options specified`);
        service = addrPort(v, proto);
        if (service === undefined) throw addressError('illegal virtual server address[:port] specified', v);
        break;
      case 'real-server':
        server = addrPort(v, proto);
        if (server === undefined) throw addressError('illegal real server address[:port] specified', v);
        break;
      case 'scheduler':
        sched = v;
        break;
      case 'persistent':
        persist = parseTimeout(value, 1, MAX_TIMEOUT);
        break;
      case 'netmask':
        netmask = parseIPv4(v);
        if (netmask === undefined) throw illegal('illegal virtual server persistent mask specified', v);
        break;
      case 'sched-flags':
        flagsText = v;
        break;
      case 'pe':
        pe = v;
        break;
      case 'forwarding-method':
        fwd = action.fwd ?? 'dr';
        break;
      case 'weight': {
        const n = toNumber(v, 0, MAX_WEIGHT);
        if (n === undefined) throw illegal('illegal weight specified', v);
        weight = n;
        break;
      }
      case 'u-threshold': {
        const n = toNumber(v, 0, MAX_THRESHOLD);
        if (n === undefined) throw illegal('illegal u_threshold specified', v);
        upper = n;
        break;
      }
      case 'l-threshold': {
        const n = toNumber(v, 0, MAX_THRESHOLD);
        if (n === undefined) throw illegal('illegal l_threshold specified', v);
        lower = n;
        break;
      }
      case 'client':
        client = addrPort(v, undefined);
        if (client === undefined) throw illegal('illegal client address[:port] specified', v);
        break;
      case 'syncid':
      case 'sync-maxlen':
      case 'mcast-port':
      case 'mcast-ttl': {
        // ipvsadm checks these where it reads them (string_to_number), before the command/option
        // table: `-L --syncid x` is an illegal syncid, `-L --mcast-port 0` an illegal mcast-port.
        const [min, max] = SYNC_RANGES[opt];
        const n = toNumber(v, min, max);
        if (n === undefined) throw illegal(`illegal ${opt} specified`, v);
        syncNums[opt] = n;
        break;
      }
      case 'mcast-group':
        // ipvsadm 1.31 reads a group with a ':' as IPv6, else as IPv4, and refuses one that is no
        // multicast address there, in its own words. An IPv6 group is answered as an IPv6 address
        // (uvs is IPv4-only) once the command is read.
        if (v.includes(':')) {
          if (!isIPv6(v) || v.includes('%') || !isIPv6Multicast(v)) throw new UsageError(`invalid IPv6 mcast-group ${quoted(v)}`);
          af.v6 ??= v;
        } else {
          mcastGroup = parseIPv4(v);
          if (mcastGroup === undefined || !isIPv4Multicast(mcastGroup)) throw new UsageError(`invalid IPv4 mcast-group ${quoted(v)}`);
        }
        break;
      case 'mcast-interface':
      case 'sync-peer':
      case 'sync-key-file':
        sync[opt] = v;
        break;
      case 'ha-group':
        haGroup = v;
        break;
      case 'drain-timeout':
        drainTimeout = toNumber(v, 0, 86400);
        if (drainTimeout === undefined) throw new UsageError(`invalid drain timeout \`${v}' (0..86400 seconds)`);
        break;
      case 'laddr': {
        // uvs: ADDR:LO-HI, a LIP with its local ports (DPVS's -z takes the address alone).
        const colon = v.indexOf(':');
        if (parseIPv4(colon < 0 ? v : v.slice(0, colon)) === undefined) throw illegal('illegal local address specified', v);
        laddr = parseLaddrText(v);
        if (laddr === undefined) throw new UsageError(`illegal local address \`${v}' specified: must be ${LADDR_TEXT_FORM}`);
        if (cmd === 'del-laddr' && v.includes(':')) throw new UsageError(`--del-laddr takes the local address alone, got \`${v}'`);
        break;
      }
      case 'tun-type':
        tunType = TUN_TYPES.find((t) => t === v);
        if (tunType === undefined) throw illegal('illegal tunnel type specified', v);
        break;
      case 'tun-port':
        tunPort = toNumber(v, 1, 65535);
        if (tunPort === undefined) throw illegal('illegal tunnel port specified', v);
        break;
      default:
        break; // flags without a value: numeric, connection, timeout, stats, ...
    }
  }

  if (error !== undefined) throw error;

  let timeouts: Timeouts | undefined;
  if (cmd === 'set') {
    if (rest.length < 3) throw new UsageError('--set option requires 3 timeout values');
    const [tcp, tcpfin, udp] = rest.splice(0, 3).map((t) => parseTimeout(t, 0, MAX_TIMEOUT)) as [number, number, number];
    timeouts = { tcp, tcpfin, udp };
  }
  // One line whatever the argument holds (a control character would break it).
  if (rest.length > 0) throw new UsageError(`unexpected argument ${printableWord(rest[0]!) ? rest[0] : JSON.stringify(rest[0])}`);

  // ipvsadm 1.31 reads -b at the end of parse_options, after --set's values and "unexpected
  // argument" and before process_options' generic_opt_check (and its zero-port and -o checks),
  // whatever the command, with the -s given or wlc: `-L -b sh-port` is an incompatible flag, not
  // an illegal option.
  const schedName = sched === undefined || sched === '' ? DEFAULT_SCHED : sched;
  const { flags: schedFlags, unread: unreadFlag } = flagsText === undefined ? { flags: [] } : parseSchedFlags(schedName, flagsText);

  // generic_opt_check
  const rules = RULES[cmd];
  let exclusive: Opt | undefined;
  for (let j = 0; j < OPTS.length; j++) {
    const opt = OPTS[j]!;
    const rule = rules[j];
    if (!seen.has(opt)) {
      if (rule === '+') throw new UsageError(`You need to supply the '${opt}' option for the '${cmd}' command`);
      continue;
    }
    if (rule === 'x') throw new UsageError(`Illegal '${opt}' option with the '${cmd}' command`);
    if (rule === '1') {
      if (exclusive !== undefined) throw new UsageError(`The option '${opt}' conflicts with the '${exclusive}' option in the '${cmd}' command`);
      exclusive = opt;
    }
  }

  if (markCmd) {
    if (fwmark === undefined) throw new UsageError(`You need to supply the 'fwmark' option for the '${cmd}' command`);
    const args = { fwmark, proto: proto!, ...markTarget! };
    return { kind: 'call', ...common, call: { verb: cmd === 'add-mark' ? 'addMark' : 'delMark', args } };
  }
  // A -f service: ipvsadm sets protocol TCP "to a sane value, even though it is not used".
  const key: ServiceKey | undefined = fwmark !== undefined ? { proto: 'tcp', addr: '0.0.0.0', port: 0, fwmark }
    : service !== undefined && proto !== undefined ? { proto, addr: service.addr, port: service.port ?? 0 } : undefined;
  const has = (o: Opt): boolean => seen.has(o);

  switch (cmd) {
    case 'start-daemon':
    case 'stop-daemon': {
      const state = syncState!; // checked with the command
      if (cmd === 'stop-daemon') return { kind: 'call', ...common, call: { verb: 'stopDaemon', args: { state } } };
      const spec: DaemonSpec = { state };
      if (syncNums.syncid !== undefined) spec.syncid = syncNums.syncid;
      if (sync['mcast-interface'] !== undefined) spec.mcastInterface = sync['mcast-interface'];
      if (sync['sync-peer'] !== undefined) {
        const peer = parseIPv4(sync['sync-peer']);
        if (peer === undefined) throw illegal('illegal sync peer address specified', sync['sync-peer']);
        spec.syncPeer = peer;
      }
      if (sync['sync-key-file'] !== undefined) spec.keyFile = resolvePath(sync['sync-key-file']);
      if (syncNums['sync-maxlen'] !== undefined) spec.maxlen = syncNums['sync-maxlen'];
      if (mcastGroup !== undefined) spec.group = mcastGroup;
      if (syncNums['mcast-port'] !== undefined) spec.port = syncNums['mcast-port'];
      if (syncNums['mcast-ttl'] !== undefined) spec.ttl = syncNums['mcast-ttl'];
      return { kind: 'call', ...common, call: { verb: 'startDaemon', args: spec } };
    }
    case 'role': {
      const role = SYNC_STATES.find((x) => x === cmdValue);
      if (role === undefined) throw new UsageError(`illegal role \`${cmdValue ?? ''}' specified (master or backup)`);
      return { kind: 'call', ...common, call: { verb: 'setRole', args: haGroup === undefined ? { role } : { role, group: haGroup } } };
    }
    case 'list': {
      // ipvsadm.c: -c/--timeout/--daemon with --stats/--rate/--thresholds, or --timeout/--daemon
      // with --persistent-conn (-c --persistent-conn is allowed: the pe name / pe_data columns).
      if (((has('connection') || has('timeout') || has('daemon')) && (has('stats') || has('rate') || has('thresholds'))) ||
          ((has('timeout') || has('daemon')) && has('persistent-conn'))) {
        throw new UsageError('options conflicts in the list command');
      }
      if (has('daemon')) return { kind: 'daemonList', ...common };
      const format: ListFormat = {};
      if (has('stats')) format.stats = true;
      if (has('rate')) format.rate = true;
      if (has('thresholds')) format.thresholds = true;
      if (has('persistent-conn')) format.persistentConn = true;
      if (has('laddr-column')) {
        if (!has('connection')) throw new UsageError('--laddr-column goes with -c (the connection list)');
        format.laddrColumn = true;
      }
      if (has('exact')) format.exact = true;
      if (has('nosort')) format.nosort = true;
      if (has('tun-info')) format.tunInfo = true;
      const c: ListCommand = { kind: 'list', ...common, numeric: has('numeric'), format, conns: has('connection'), timeout: has('timeout') };
      if (key !== undefined) c.service = key;
      return c;
    }
    case 'save':
      return { kind: 'save', ...common, numeric: has('numeric') };
    case 'restore':
      return { kind: 'restore', ...common, dryRun: has('dry-run') };
    case 'status':
      return { kind: 'status', ...common };
    case 'undrain':
      return { kind: 'drain', ...common, on: false };
    case 'drain': {
      const c: DrainCommand = { kind: 'drain', ...common, on: true };
      if (drainTimeout !== undefined) c.timeout = drainTimeout;
      return c;
    }
    case 'reload':
      return { kind: 'reload', ...common, dryRun: has('dry-run') };
    case 'dump-config':
      return { kind: 'dumpConfig', ...common };
    case 'get-marks':
      return { kind: 'getMarks', ...common };
    case 'neigh':
      return { kind: 'neigh', ...common };
    case 'neigh-flush':
      return { kind: 'call', ...common, call: { verb: 'neighFlush', args: cmdValue === undefined ? {} : { addr: cmdValue } } };
    case 'get-laddr': {
      const c: GetLaddrCommand = { kind: 'getLaddr', ...common, numeric: has('numeric') };
      if (key !== undefined) c.service = key;
      return c;
    }
    case 'flush':
      return { kind: 'call', ...common, call: { verb: 'clear', args: {} } };
    case 'set':
      return { kind: 'call', ...common, call: { verb: 'setTimeouts', args: timeouts! } };
    case 'zero':
      return { kind: 'call', ...common, call: { verb: 'zero', args: key === undefined ? {} : { service: key } } };
  }

  if (key === undefined) throw new Error('unreachable: service-address is compulsory'); // guarded by RULES

  if (cmd === 'explain') {
    return { kind: 'explain', ...common, service: key, client: client!.addr, cport: client!.port ?? 0 };
  }

  switch (cmd) {
    case 'add-service':
    case 'edit-service': {
      if (key.port === 0 && persist === undefined && fwmark === undefined) throw new UsageError('Zero port specified for non-persistent service');
      if (has('ops') && key.proto !== 'udp' && fwmark === undefined) throw new UsageError('One-Packet Scheduling is only for UDP virtual services');
      if (unreadFlag !== undefined) {
        throw new UsageError(`scheduler flag \`${unreadFlag}' means nothing to the ${schedName} scheduler (flag-1 and flag-2 are sh-/mh-fallback and -port): uvs keeps no flag a scheduler does not read`);
      }
      // ipvsadm sends the whole service: -E without -s sets wlc (as does -s ''), without -p ends persistence.
      const spec: ServiceSpec = {
        ...key, sched: schedName, flags: schedFlags,
        persist: persist ?? 0, netmask: netmask ?? '255.255.255.255', oneShot: has('ops'), pe: pe ?? '', synproxy: has('synproxy'),
      };
      return { kind: 'call', ...common, call: { verb: cmd === 'add-service' ? 'addService' : 'editService', args: spec } };
    }
    case 'delete-service':
      return { kind: 'call', ...common, call: { verb: 'deleteService', args: key } };
    case 'add-laddr':
    case 'del-laddr': {
      // The ports only when -z gave them (an address alone takes the default, 1024-65535).
      const ports = laddr!.portMin !== LADDR_PORT_MIN || laddr!.portMax !== LADDR_PORT_MAX ? { portMin: laddr!.portMin, portMax: laddr!.portMax } : {};
      return { kind: 'call', ...common, call: { verb: cmd === 'add-laddr' ? 'addLaddr' : 'delLaddr', args: { service: key, addr: laddr!.addr, ...ports } } };
    }
  }

  if (server === undefined) throw new Error('unreachable: real-server is compulsory'); // guarded by RULES
  // The real-server port defaults to the service port, and so does :0 (destPort: ipvsadm passes
  // 0 on, and the kernel sends the connections to the service's port). -d deletes the server as
  // given (RIP:9090 is a port-mapped NAT/FULLNAT server); ipvsadm forces the service port only for
  // -a and -e with DR and TUN, which cannot map ports.
  const rport = destPort(server.port, key.port);
  if (cmd === 'delete-server') {
    return { kind: 'call', ...common, call: { verb: 'deleteDest', args: { service: key, addr: server.addr, port: rport } } };
  }
  // The kernel's mixed-family pools take TUN servers only (a -f service is IPv4 without -6).
  if (service?.v6 !== server.v6 && fwd !== 'tun') throw new UsageError('Different address family is allowed only for tunneling servers');
  const direct = fwd === 'dr' || fwd === 'tun';
  // -e names an existing server: ipvsadm would edit (and turn into DR/TUN) RIP:vport instead of
  // the RIP:9090 given, silently changing another server. Refused (-a keeps ipvsadm's forcing).
  // A -f service has no port: its DR/TUN servers keep the one given ("Don't worry about this if fwmark is used").
  if (cmd === 'edit-server' && direct && rport !== key.port && fwmark === undefined) {
    throw new UsageError(`real server ${server.addr}:${rport}: the port differs from the virtual port ${key.port}, which -g (the default) and -i servers use; add -m or --fullnat to edit a port-mapped server`);
  }
  const port = direct && fwmark === undefined ? key.port : rport;
  // ipvsadm sends the whole destination: -e without -w sets weight 1, without -g/-m/-i sets DR,
  // without --tun-type an ipip tunnel.
  const dest: DestSpec = { service: key, addr: server.addr, port, fwd, weight, upper, lower, ...tunnelOptions(fwd, tunType ?? 'ipip', tunPort, has) };
  return { kind: 'call', ...common, call: { verb: cmd === 'add-server' ? 'addDest' : 'editDest', args: dest } };
}

// tunnel_types_v_options of ipvsadm 1.31: per tunnel type, its options' rules ('+' compulsory,
// 'x' illegal, '1' at most one of them).
const TUN_OPTS = ['tun-port', 'tun-nocsum', 'tun-csum', 'tun-remcsum'] as const;
const TUN_RULES: Record<TunType, string> = { ipip: 'xxxx', gue: '+111', gre: 'x11x' };

/** ipvsadm's tunnel checks of -a/-e (its words), then the tunnel as a DestSpec's fields (TUN servers only). */
function tunnelOptions(fwd: Fwd, type: TunType, port: number | undefined, has: (o: Opt) => boolean): TunOptions {
  if ((has('tun-type') || TUN_OPTS.some(has)) && fwd !== 'tun') throw new UsageError('Tunnel options conflict with forward method');
  let last: Opt | undefined;
  TUN_OPTS.forEach((opt, j) => {
    const rule = TUN_RULES[type][j];
    if (!has(opt)) {
      if (rule === '+') throw new UsageError(`You need to supply the '${opt}' option for the '${type}' tunnel type`);
      return;
    }
    if (rule === 'x') throw new UsageError(`Illegal '${opt}' option with the '${type}' tunnel type`);
    if (rule !== '1') return;
    if (last !== undefined) throw new UsageError(`The option '${opt}' conflicts with the '${last}' option in the '${type}' tunnel type`);
    last = opt;
  });
  if (fwd !== 'tun') return {};
  const csum: TunCsum = has('tun-csum') ? 'csum' : has('tun-remcsum') ? 'remcsum' : 'nocsum';
  return { tunType: type, ...(port !== undefined ? { tunPort: port } : {}), tunCsum: csum };
}

/** Commands that change no table (uvsd runs them alone, never in a batch), by the option that names them. */
const NOT_BATCHED: Partial<Record<Call['verb'], string>> = { startDaemon: '--start-daemon', stopDaemon: '--stop-daemon', setRole: '--role' };

/** One line of an -R stream → tokens (ipvsadm's config_stream: whitespace, "..." and '...'). */
export function splitRuleLine(line: string): string[] {
  const out: string[] = [];
  const re = /"([^"]*)"|'([^']*)'|(\S+)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(line)) !== null) out.push(m[1] ?? m[2] ?? m[3] ?? '');
  return out;
}

/**
 * An -R stream → the batch it stands for. Blank lines and `#` comments are skipped; every other
 * line must be a table-changing command. Throws UsageError "line N: ..." for the first bad line.
 */
export function parseRules(text: string, ctx: ParseContext = {}): { calls: Call[]; lines: number[] } {
  const calls: Call[] = [];
  const lines: number[] = [];
  const rows = text.split('\n');
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i]!.trim();
    if (row === '' || row.startsWith('#')) continue;
    // "Lines read from stdin can optionally begin with ipvsadm" (ipvsadm.8); uvsadm's own name too.
    const words = splitRuleLine(row);
    if (words[0] === 'ipvsadm' || words[0] === 'uvsadm') words.shift();
    if (words.length === 0) continue;
    let cmd: Command;
    try {
      cmd = parseArgs(words, { ...ctx, env: {} });
    } catch (err) {
      if (err instanceof UsageError) throw new UsageError(`line ${i + 1}: ${err.message}`, err.exitCode);
      throw err;
    }
    if (cmd.kind !== 'call') throw new UsageError(`line ${i + 1}: only commands that change the table can be restored: ${row}`);
    // ipvsadm -R runs such a line as the command it is; uvsd takes -R as one batch of table
    // changes, which these are not (it answered `Invalid request: verb stopDaemon cannot be batched`).
    const alone = NOT_BATCHED[cmd.call.verb];
    if (alone !== undefined) {
      throw new UsageError(`line ${i + 1}: ${alone} is not a table change, which -R applies in one batch (all or nothing): run \`uvsadm ${words.join(' ')}' on its own`);
    }
    calls.push(cmd.call);
    lines.push(i + 1);
  }
  return { calls, lines };
}
