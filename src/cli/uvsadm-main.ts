// uvsadm: ipvsadm's command line for uvsd. Parse (pure), send verbs over the control socket,
// print like ipvsadm. Exit statuses as ipvsadm's: 0 ok, 2 bad command line, 255 refused by the
// daemon (ipvsadm: by the kernel), 1 listing a service that does not exist; 3 no daemon.
// main() writes through an Io (the process's own streams by default): uvsadm.ts is the process
// (its exit status, output errors); tests call main() in their own process with an Io of strings.

import { ControlClient, ControlError } from '../control/client.js';
import { ERRORS, EXIT_LIST_FAILED, EXIT_NO_DAEMON, EXIT_REFUSED, EXIT_USAGE, UNREACHED, refusalLine } from '../control/errors.js';
import { parseArgs, parseRules, UsageError } from '../control/ipvsadm.js';
import type { Command } from '../control/ipvsadm.js';
import {
  formatConnRows, formatConns, formatConnsTitle, formatDaemon, formatDrain, formatExplain, formatLaddrs, formatList, formatMarks, formatNeigh, formatOneService, formatRules, formatStatus, formatTimeout, usageText, UVS_VERSION,
} from '../control/printers.js';
import type { PrintOptions } from '../control/printers.js';
import { CONNS_MAX_DEFAULT, type ConnInfo, type ConnsResult, type ListResult, type ServiceInfo, type ServiceKey } from '../control/protocol.js';
import { reverseNames } from './rdns.js';

const VERSION = `uvsadm ${UVS_VERSION} (ipvsadm v1.31 command line)`;

/** How long all reverse lookups of one listing may take together (ipvsadm has no bound). */
const DNS_BUDGET_MS = 1500;
/** Distinct addresses looked up at most (a big -Lc): the rest stay numeric. */
const DNS_MAX_LOOKUPS = 1000;

/** Where uvsadm writes and what it reads as its standard input. */
export interface Io {
  out(s: string): void;
  err(s: string): void;
  stdin(): Promise<string>;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** The process's own streams. */
export const processIo: Io = {
  out: (s) => void process.stdout.write(s),
  err: (s) => void process.stderr.write(s),
  stdin: readStdin,
};

function err(io: Io, message: string, code: number): number {
  io.err(`${message}\n`);
  return code;
}

/** Reverse names of a listing's addresses (hosts file, then DNS), within the budget. */
function resolver(addrs: Iterable<string>): Promise<(a: string) => string | undefined> {
  return reverseNames(addrs, { budgetMs: DNS_BUDGET_MS, max: DNS_MAX_LOOKUPS });
}

/** A listed service is the one a command names: by its mark (-f), else protocol, address and port. */
function sameService(s: ServiceInfo, w: ServiceKey): boolean {
  return (s.fwmark ?? 0) === (w.fwmark ?? 0) && (w.fwmark !== undefined || (s.proto === w.proto && s.addr === w.addr && s.port === w.port));
}

async function run(cmd: Exclude<Command, { kind: 'help' | 'version' }>, io: Io): Promise<number> {
  const out = io.out;
  // -R reads and checks its whole input before connecting: a bad line changes nothing.
  let rules: ReturnType<typeof parseRules> | undefined;
  if (cmd.kind === 'restore') rules = parseRules(await io.stdin());

  const client = await ControlClient.connect(cmd.socket, { timeoutMs: 60_000 });
  try {
    switch (cmd.kind) {
      case 'status':
        out(formatStatus(await client.call('status', {})));
        return 0;
      case 'daemonList':
        out(formatDaemon(await client.call('daemon', {})));
        return 0;
      case 'drain':
        out(formatDrain(await client.call('drain', cmd.timeout === undefined ? { on: cmd.on } : { on: cmd.on, timeout: cmd.timeout })));
        return 0;
      case 'reload': {
        const res = await client.call('reload', { dryRun: cmd.dryRun });
        // stdout: what would change; the ignored start-only settings (also in `changes`) go to stderr below.
        const ignored = new Set(res.ignored ?? []);
        const changes = res.changes.filter((c) => !ignored.has(c));
        if (cmd.dryRun) out(changes.length === 0 ? 'no changes\n' : changes.map((c) => `${c}\n`).join(''));
        // What reading the files warned about (a misspelt keyword is one): uvsd only logs it otherwise.
        for (const w of res.warnings ?? []) io.err(`uvsadm: warning: ${w}\n`);
        // Settings read at start only that the file changes: applied by no reload (the dry run's
        // either), said on stderr.
        for (const line of res.ignored ?? []) io.err(`uvsadm: ${line}\n`);
        return 0;
      }
      case 'explain': {
        const x = await client.call('explain', { service: cmd.service, client: cmd.client, cport: cmd.cport });
        out(formatExplain(cmd.service, cmd.client, cmd.cport, x));
        return 0;
      }
      case 'dumpConfig':
        out((await client.call('dumpConfig', {})).yaml);
        return 0;
      case 'call':
        await client.call(cmd.call.verb, cmd.call.args as never);
        return 0;
      case 'restore': {
        const r = rules!;
        try {
          await client.call('batch', cmd.dryRun ? { items: r.calls, dryRun: true } : { items: r.calls });
        } catch (e) {
          if (e instanceof ControlError && e.index !== undefined) throw new ControlError(e.code, `line ${r.lines[e.index]}: ${e.message}`, e.detail);
          if (e instanceof ControlError && e.code === 'BAD_REQUEST' && e.message.includes(' uvsd reads in one request')) {
            throw new ControlError(e.code, `${e.message}: restore the rules in parts (each part all or nothing) or load them with uvsd --config`, e.detail);
          }
          throw e;
        }
        if (cmd.dryRun) out(`${r.calls.length} ${r.calls.length === 1 ? 'command' : 'commands'} would apply to the table as it is; nothing changed\n`);
        return 0;
      }
      case 'save': {
        const list = await client.call('list', {});
        const opts: PrintOptions = { numeric: cmd.numeric };
        if (!cmd.numeric) opts.hosts = await resolver(list.services.flatMap((s) => [s.addr, ...s.dests.map((d) => d.addr)]));
        out(formatRules(list, opts));
        return 0;
      }
      case 'getMarks':
        out(formatMarks((await client.call('list', {})).marks ?? []));
        return 0;
      case 'neigh':
        out(formatNeigh(await client.call('neighList', {})));
        return 0;
      case 'getLaddr': {
        const services = (await listOf(client, cmd.service)).services;
        if (cmd.service !== undefined && services.length === 0) return err(io, ERRORS.NO_SERVICE, EXIT_LIST_FAILED);
        out(formatLaddrs(services, await client.call('laddrUsage', {}), { numeric: true }));
        return 0;
      }
      case 'list': {
        const opts: PrintOptions = { numeric: cmd.numeric, ...cmd.format };
        if (cmd.timeout) {
          out(formatTimeout(await client.call('timeouts', {})));
          return 0;
        }
        if (cmd.conns) {
          await listConns(client, opts, !cmd.numeric, io);
          return 0;
        }
        const list = await listOf(client, cmd.service);
        if (!cmd.numeric) opts.hosts = await resolver(list.services.flatMap((s) => [s.addr, ...s.dests.map((d) => d.addr)]));
        if (cmd.service === undefined) {
          out(formatList(list, opts));
          return 0;
        }
        const svc = list.services[0];
        if (svc === undefined) return err(io, ERRORS.NO_SERVICE, EXIT_LIST_FAILED);
        out(formatOneService(svc, opts));
        return 0;
      }
    }
  } finally {
    client.close();
  }
}

/**
 * The table, or with `service` that service alone (none when it does not exist): uvsd looks it
 * up and renders it alone. An older uvsd refuses the argument: it is then picked from the whole list.
 */
async function listOf(client: ControlClient, service: ServiceKey | undefined): Promise<ListResult> {
  if (service === undefined) return client.call('list', {});
  try {
    return await client.call('list', { service });
  } catch (e) {
    if (!(e instanceof ControlError && e.code === 'BAD_REQUEST' && /"service"/.test(`${e.message} ${e.detail ?? ''}`))) throw e;
  }
  const list = await client.call('list', {});
  return { ...list, services: list.services.filter((s) => sameService(s, service)) };
}

/**
 * -Lc: the rows in pages (listConns with a cursor), each printed before the next is asked for,
 * so that uvsd holds one page of rows at a time, never the listing. With names (no -n) the pages
 * are gathered first and the names looked up for the whole listing at once, as before.
 */
async function listConns(client: ControlClient, opts: PrintOptions, names: boolean, io: Io): Promise<void> {
  const out = io.out;
  const pages: ConnInfo[][] = [];
  let listed = 0;
  let r: ConnsResult = { conns: [], truncated: false, next: 0 };
  if (!names) out(formatConnsTitle(opts));
  while (r.next !== undefined) {
    r = await connsPage(client, r.next, CONNS_MAX_DEFAULT - listed);
    listed += r.conns.length;
    if (names) pages.push(r.conns);
    else out(formatConnRows(r.conns, opts));
  }
  if (names) {
    const conns = pages.flat();
    opts.hosts = await resolver(conns.flatMap((c) => [c.caddr, c.vaddr, c.daddr]));
    out(formatConns(conns, opts));
  }
  // ipvsadm lists every entry; uvsd at most 100,000 (their rows cost it memory and time): a
  // script counting or grepping them must not take the part for the whole.
  if (r.truncated) io.err(`uvsadm: only ${listed} connection entries listed (uvsd lists at most that many; uvsadm --status counts them all)\n`);
}

/** One page of -Lc from cursor on, at most max rows; an older uvsd (no cursor) answers the whole listing at once. */
async function connsPage(client: ControlClient, cursor: number, max: number): Promise<ConnsResult> {
  try {
    return await client.call('listConns', { cursor, max });
  } catch (e) {
    if (cursor === 0 && e instanceof ControlError && e.code === 'BAD_REQUEST' && /"cursor"/.test(`${e.message} ${e.detail ?? ''}`)) return client.call('listConns', {});
    throw e;
  }
}

/** `trace ...` or `--socket PATH trace ...`: the trace arguments, else undefined. */
function traceCommand(args: readonly string[]): string[] | undefined {
  if (args[0] === 'trace') return args.slice(1);
  if (args[0] === '--socket' && args[2] === 'trace') return [...args.slice(3), '--socket', args[1] ?? ''];
  if (args[0]?.startsWith('--socket=') && args[1] === 'trace') return [...args.slice(2), args[0]];
  return undefined;
}

/** uvs extension: uvsadm trace (src/cli/trace.ts, docs/metrics.md). */
async function trace(args: readonly string[], io: Io): Promise<number> {
  // Loaded here: trace (and commander, which it parses with) cost every other uvsadm start ~20 ms.
  const { parseTraceArgs, runTrace, TRACE_USAGE } = await import('./trace.js');
  try {
    const cmd = parseTraceArgs(args);
    if (cmd.help === true) {
      io.out(TRACE_USAGE);
      return 0;
    }
    return await runTrace(cmd, io.out, io.err);
  } catch (e) {
    if (e instanceof UsageError) return err(io, `uvsadm: ${e.message}`, EXIT_USAGE);
    if (e instanceof ControlError) return controlFailure(e, io);
    throw e;
  }
}

/** A ControlError as uvsadm reports it: uvsd out of reach (EXIT_NO_DAEMON), or its refusal (EXIT_REFUSED, as ipvsadm's). */
function controlFailure(e: ControlError, io: Io): number {
  const line = refusalLine(e.code, e.message.split('\n')[0] ?? e.code, e.detail);
  return UNREACHED.has(e.code) ? err(io, `uvsadm: ${line}`, EXIT_NO_DAEMON) : err(io, line, EXIT_REFUSED);
}

/** uvsadm with argv (node, script, its arguments): its exit status. */
export async function main(argv: readonly string[], io: Io = processIo): Promise<number> {
  const traceArgs = traceCommand(argv.slice(2));
  if (traceArgs !== undefined) return trace(traceArgs, io);
  let cmd: Command;
  try {
    cmd = parseArgs(argv.slice(2));
  } catch (e) {
    if (e instanceof UsageError) return err(io, e.message, e.exitCode);
    throw e;
  }
  if (cmd.kind === 'help') {
    io.out(usageText());
    return 0;
  }
  if (cmd.kind === 'version') {
    io.out(`${VERSION}\n`);
    return 0;
  }
  try {
    return await run(cmd, io);
  } catch (e) {
    if (e instanceof UsageError) return err(io, e.message, e.exitCode);
    if (e instanceof ControlError) return controlFailure(e, io);
    throw e;
  }
}
