// ipvsadm 1.31's command line, turned into a typed command without touching a socket or the
// process, so it can be unit-tested and fuzzed. commander tokenises (long/short forms, -Ln, -At x);
// the checks after it follow ipvsadm.c: one command, the commands_v_options table, its messages.

import { Command as Commander, CommanderError } from 'commander';
import { DEFAULT_SOCKET } from './protocol.js';
import type { DestKey, DestSpec, Fwd, Proto, ServiceKey, ServiceSpec, VerbName, Verbs } from './protocol.js';
import { systemPortNames } from './printers.js';
import type { PortNames } from './printers.js';
import { formatIp, parseIp } from '../datapath/addr.js';

/** A bad command line: the message is one line, printed as `uvsadm: <message>`, exit EXIT_USAGE. */
export class UsageError extends Error {
  readonly code = 'USAGE';
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export const DEFAULT_SCHEDULER = 'wlc';
export const DEFAULT_WEIGHT = 1;
export const MAX_WEIGHT = 2147483647;

interface Common {
  /** -n */
  numeric: boolean;
  /** --socket, else $UVS_SOCKET, else DEFAULT_SOCKET */
  socket: string;
}
export interface AddServiceCommand extends Common {
  kind: 'addService';
  service: ServiceSpec & { sched: string };
}
export interface EditServiceCommand extends Common {
  kind: 'editService';
  /** sched only when -s was given */
  service: ServiceSpec;
}
export interface DeleteServiceCommand extends Common {
  kind: 'deleteService';
  service: ServiceKey;
}
export interface ClearCommand extends Common {
  kind: 'clear';
}
export interface AddDestCommand extends Common {
  kind: 'addDest';
  service: ServiceKey;
  dest: DestSpec & { fwd: Fwd; weight: number };
}
export interface EditDestCommand extends Common {
  kind: 'editDest';
  service: ServiceKey;
  /** fwd and weight only when -g/-m/-i and -w were given: absent means "keep". */
  dest: DestSpec;
}
export interface DeleteDestCommand extends Common {
  kind: 'deleteDest';
  service: ServiceKey;
  dest: DestKey;
}
export interface ListCommand extends Common {
  kind: 'list';
  /** -L -t vip:port lists one service */
  service?: ServiceKey;
}
export interface HelpCommand extends Common {
  kind: 'help';
}
/** uvs extension: the daemon's link identity, table use and per-reason counters. */
export interface StatusCommand extends Common {
  kind: 'status';
}
/** -Z [virtual-service]: zero statistics (uvs metrics/trace bits, docs/metrics.md). */
export interface ZeroCommand extends Common {
  kind: 'zero';
  service?: ServiceKey;
}
export type Command =
  | ZeroCommand
  | AddServiceCommand
  | EditServiceCommand
  | DeleteServiceCommand
  | ClearCommand
  | AddDestCommand
  | EditDestCommand
  | DeleteDestCommand
  | ListCommand
  | HelpCommand
  | StatusCommand;
export type CommandKind = Command['kind'];

export interface ParseContext {
  /** Where UVS_SOCKET is read from; process.env by default. */
  env?: Record<string, string | undefined>;
  /** Port names accepted in addresses (`vip:http`); /etc/services by default. */
  ports?: PortNames;
}

// ipvsadm's option names (optnames[]) in its table order; the first violation is reported.
type OptName = 'numeric' | 'service-address' | 'scheduler' | 'real-server' | 'forwarding-method' | 'weight';
const OPT_ORDER: readonly OptName[] = ['numeric', 'service-address', 'scheduler', 'real-server', 'forwarding-method', 'weight'];

// '+' compulsory, 'x' illegal, ' ' optional (commands_v_options, restricted to our options).
type Rule = '+' | 'x' | ' ';
const RULES: Record<CommandKind, { name: string; rules: Record<OptName, Rule> }> = {
  addService: { name: 'add-service', rules: { numeric: 'x', 'service-address': '+', scheduler: ' ', 'real-server': 'x', 'forwarding-method': 'x', weight: 'x' } },
  editService: { name: 'edit-service', rules: { numeric: 'x', 'service-address': '+', scheduler: ' ', 'real-server': 'x', 'forwarding-method': 'x', weight: 'x' } },
  deleteService: { name: 'delete-service', rules: { numeric: 'x', 'service-address': '+', scheduler: 'x', 'real-server': 'x', 'forwarding-method': 'x', weight: 'x' } },
  clear: { name: 'flush', rules: { numeric: 'x', 'service-address': 'x', scheduler: 'x', 'real-server': 'x', 'forwarding-method': 'x', weight: 'x' } },
  list: { name: 'list', rules: { numeric: ' ', 'service-address': ' ', scheduler: 'x', 'real-server': 'x', 'forwarding-method': 'x', weight: 'x' } },
  addDest: { name: 'add-server', rules: { numeric: 'x', 'service-address': '+', scheduler: 'x', 'real-server': '+', 'forwarding-method': ' ', weight: ' ' } },
  editDest: { name: 'edit-server', rules: { numeric: 'x', 'service-address': '+', scheduler: 'x', 'real-server': '+', 'forwarding-method': ' ', weight: ' ' } },
  deleteDest: { name: 'delete-server', rules: { numeric: 'x', 'service-address': '+', scheduler: 'x', 'real-server': '+', 'forwarding-method': 'x', weight: 'x' } },
  help: { name: 'help', rules: { numeric: 'x', 'service-address': 'x', scheduler: 'x', 'real-server': 'x', 'forwarding-method': 'x', weight: 'x' } },
  zero: { name: 'zero', rules: { numeric: 'x', 'service-address': ' ', scheduler: 'x', 'real-server': 'x', 'forwarding-method': 'x', weight: 'x' } },
  status: { name: 'status', rules: { numeric: ' ', 'service-address': 'x', scheduler: 'x', 'real-server': 'x', 'forwarding-method': 'x', weight: 'x' } },
};

type Spec =
  | { flags: string; cmd: CommandKind }
  | { flags: string; opt: 'service-address'; proto: Proto }
  | { flags: string; opt: 'forwarding-method'; fwd: Fwd }
  | { flags: string; opt: 'scheduler' | 'real-server' | 'weight' | 'numeric' | 'socket' };

const SPECS: readonly Spec[] = [
  { flags: '-A, --add-service', cmd: 'addService' },
  { flags: '-E, --edit-service', cmd: 'editService' },
  { flags: '-D, --delete-service', cmd: 'deleteService' },
  { flags: '-C, --clear', cmd: 'clear' },
  { flags: '-a, --add-server', cmd: 'addDest' },
  { flags: '-e, --edit-server', cmd: 'editDest' },
  { flags: '-d, --delete-server', cmd: 'deleteDest' },
  { flags: '-L, --list', cmd: 'list' },
  { flags: '-l', cmd: 'list' },
  { flags: '-h, --help', cmd: 'help' },
  { flags: '--status', cmd: 'status' },
  { flags: '-Z, --zero', cmd: 'zero' },
  { flags: '-t, --tcp-service <service-address>', opt: 'service-address', proto: 'tcp' },
  { flags: '-u, --udp-service <service-address>', opt: 'service-address', proto: 'udp' },
  { flags: '-s, --scheduler <scheduler>', opt: 'scheduler' },
  { flags: '-r, --real-server <server-address>', opt: 'real-server' },
  { flags: '-g, --gatewaying', opt: 'forwarding-method', fwd: 'dr' },
  { flags: '-i, --ipip', opt: 'forwarding-method', fwd: 'tun' },
  { flags: '-m, --masquerading', opt: 'forwarding-method', fwd: 'nat' },
  { flags: '-w, --weight <weight>', opt: 'weight' },
  { flags: '-n, --numeric', opt: 'numeric' },
  { flags: '--socket <path>', opt: 'socket' },
];

interface Occurrence {
  spec: Spec;
  value: string | undefined;
}

/** Runs commander over argv and returns every option occurrence in order, plus stray arguments. */
function tokenize(argv: readonly string[]): { occurrences: Occurrence[]; rest: string[] } {
  const program = new Commander('uvsadm');
  program
    .exitOverride()
    .configureOutput({ writeOut: () => {}, writeErr: () => {} })
    .helpOption(false)
    .showSuggestionAfterError(false)
    .allowExcessArguments(true);
  const occurrences: Occurrence[] = [];
  for (const spec of SPECS) {
    program.option(spec.flags);
    const option = program.options[program.options.length - 1];
    if (option === undefined) continue;
    // One event per occurrence, so repeats are visible (commander itself keeps only the last).
    program.on(`option:${option.name()}`, (value: unknown) => {
      occurrences.push({ spec, value: typeof value === 'string' ? value : undefined });
    });
  }
  try {
    program.parse([...argv], { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) throw new UsageError(err.message.replace(/^error: /, '').split('\n')[0] ?? 'invalid arguments');
    throw err;
  }
  return { occurrences, rest: program.args };
}

/** Strict dotted quad (see parseIp), normalised; undefined if invalid. */
export function parseIPv4(text: string): string | undefined {
  const ip = parseIp(text);
  return ip < 0 ? undefined : formatIp(ip);
}

/** addr[:port] as ipvsadm's parse_service: the port is after the last ':' and may be a service name. */
export function parseAddrPort(text: string, proto: Proto, ports: () => PortNames): { addr: string; port?: number } {
  const colon = text.lastIndexOf(':');
  const host = colon < 0 ? text : text.slice(0, colon);
  const addr = parseIPv4(host);
  if (addr === undefined) {
    throw new UsageError(host === text ? `invalid address ${JSON.stringify(text)}` : `invalid address ${JSON.stringify(host)} in ${JSON.stringify(text)}`);
  }
  if (colon < 0) return { addr };
  const portText = text.slice(colon + 1);
  let port: number | undefined;
  if (/^\d{1,5}$/.test(portText)) {
    const n = Number(portText);
    if (n <= 65535) port = n;
  } else if (/^[A-Za-z][A-Za-z0-9._+-]*$/.test(portText)) {
    port = ports().port(portText, proto);
  }
  if (port === undefined) throw new UsageError(`invalid port ${JSON.stringify(portText)} in ${JSON.stringify(text)}`);
  return { addr, port };
}

function parseWeight(text: string): number {
  const n = /^\d{1,10}$/.test(text) ? Number(text) : NaN;
  if (!(n <= MAX_WEIGHT)) throw new UsageError(`invalid weight ${JSON.stringify(text)} (must be 0..${MAX_WEIGHT})`);
  return n;
}

function parseScheduler(text: string): string {
  // Which names exist is the daemon's business ("Scheduler not found"); only reject junk here.
  if (!/^[A-Za-z0-9_-]{1,15}$/.test(text)) throw new UsageError(`invalid scheduler ${JSON.stringify(text)}`);
  return text;
}

/**
 * argv without node and script (process.argv.slice(2)) → a typed command.
 * Throws UsageError (one-line message) for anything ipvsadm would refuse before talking to the kernel.
 */
export function parseArgs(argv: readonly string[], ctx: ParseContext = {}): Command {
  const env = ctx.env ?? process.env;
  let portNames = ctx.ports;
  const ports = (): PortNames => (portNames ??= systemPortNames());

  const { occurrences, rest } = tokenize(argv);

  let kind: CommandKind | undefined;
  const seen = new Set<OptName | 'socket'>();
  let proto: Proto | undefined;
  let serviceText: string | undefined;
  let sched: string | undefined;
  let serverText: string | undefined;
  let fwd: Fwd | undefined;
  let weight: number | undefined;
  let socket: string | undefined;

  // A -r port name is looked up with the service's protocol, wherever -t/-u appears.
  for (const { spec } of occurrences) if ('proto' in spec) proto ??= spec.proto;

  for (const { spec, value } of occurrences) {
    if ('cmd' in spec) {
      if (kind !== undefined) throw new UsageError('multiple commands specified');
      kind = spec.cmd;
      continue;
    }
    if (seen.has(spec.opt)) throw new UsageError(`multiple '${spec.opt}' options specified`);
    seen.add(spec.opt);
    const v = value ?? '';
    switch (spec.opt) {
      case 'service-address':
        serviceText = v;
        parseAddrPort(v, spec.proto, ports); // report a bad value in argv order, like ipvsadm
        break;
      case 'real-server':
        serverText = v;
        parseAddrPort(v, proto ?? 'tcp', ports);
        break;
      case 'scheduler':
        sched = parseScheduler(v);
        break;
      case 'weight':
        weight = parseWeight(v);
        break;
      case 'forwarding-method':
        fwd = spec.fwd;
        break;
      case 'socket':
        if (v === '') throw new UsageError('invalid socket path ""');
        socket = v;
        break;
      case 'numeric':
        break;
    }
  }
  if (rest.length > 0) throw new UsageError(`unexpected argument ${rest[0]}`);

  if (kind === undefined) {
    // Bare `ipvsadm` lists the table; anything else without a command is a mistake.
    if ([...seen].every((o) => o === 'socket')) kind = 'list';
    else throw new UsageError("no command specified (try 'uvsadm -h')");
  }

  const table = RULES[kind];
  for (const opt of OPT_ORDER) {
    const rule = table.rules[opt];
    if (rule === '+' && !seen.has(opt)) throw new UsageError(`You need to supply the '${opt}' option for the '${table.name}' command`);
    if (rule === 'x' && seen.has(opt)) throw new UsageError(`Illegal '${opt}' option with the '${table.name}' command`);
  }

  const common: Common = {
    numeric: seen.has('numeric'),
    socket: socket ?? (env.UVS_SOCKET !== undefined && env.UVS_SOCKET !== '' ? env.UVS_SOCKET : DEFAULT_SOCKET),
  };

  let service: ServiceKey | undefined;
  if (serviceText !== undefined && proto !== undefined) {
    const s = parseAddrPort(serviceText, proto, ports);
    service = { proto, addr: s.addr, port: s.port ?? 0 };
  }

  switch (kind) {
    case 'help':
    case 'clear':
    case 'status':
      return { kind, ...common };
    case 'list':
    case 'zero':
      return service === undefined ? { kind, ...common } : { kind, ...common, service };
  }

  if (service === undefined) throw new Error('unreachable: service is compulsory'); // guarded by RULES

  switch (kind) {
    case 'addService':
    case 'editService': {
      if (service.port === 0) throw new UsageError('Zero port specified for non-persistent service');
      if (kind === 'addService') return { kind, ...common, service: { ...service, sched: sched ?? DEFAULT_SCHEDULER } };
      return { kind, ...common, service: sched === undefined ? { ...service } : { ...service, sched } };
    }
    case 'deleteService':
      return { kind, ...common, service };
  }

  if (serverText === undefined) throw new Error('unreachable: real server is compulsory'); // guarded by RULES
  const r = parseAddrPort(serverText, service.proto, ports);
  // The real-server port defaults to the service port; DR and TUN cannot map ports (ipvsadm.c forces it).
  let port = r.port ?? service.port;
  switch (kind) {
    case 'addDest': {
      const method = fwd ?? 'dr';
      if (method === 'dr' || method === 'tun') port = service.port;
      return { kind, ...common, service, dest: { service, addr: r.addr, port, fwd: method, weight: weight ?? DEFAULT_WEIGHT } };
    }
    case 'editDest': {
      if (fwd === 'dr' || fwd === 'tun') port = service.port;
      const dest: DestSpec = { service, addr: r.addr, port };
      if (fwd !== undefined) dest.fwd = fwd;
      if (weight !== undefined) dest.weight = weight;
      return { kind, ...common, service, dest };
    }
    case 'deleteDest':
      return { kind, ...common, service, dest: { service, addr: r.addr, port } };
  }
}

/** The control-socket request for a command (help has none). */
export type Call = { [V in VerbName]: { verb: V; args: Verbs[V]['args'] } }[VerbName];

export function callFor(cmd: Exclude<Command, HelpCommand>): Call {
  switch (cmd.kind) {
    case 'addService':
      return { verb: 'addService', args: cmd.service };
    case 'editService':
      return { verb: 'editService', args: cmd.service };
    case 'deleteService':
      return { verb: 'deleteService', args: cmd.service };
    case 'clear':
      return { verb: 'clear', args: {} };
    case 'addDest':
      return { verb: 'addDest', args: cmd.dest };
    case 'editDest':
      return { verb: 'editDest', args: cmd.dest };
    case 'deleteDest':
      return { verb: 'deleteDest', args: cmd.dest };
    case 'list':
      return { verb: 'list', args: {} };
    case 'status':
      return { verb: 'status', args: {} };
    case 'zero':
      return { verb: 'zero', args: cmd.service === undefined ? {} : { service: cmd.service } };
  }
}
