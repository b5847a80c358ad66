// `uvsadm trace [-t|-u VIP:port] [--count N]`: a live stream of new-connection decisions and
// drops, one line each, from the traceStart/tracePoll/traceStop verbs (docs/metrics.md).
//
//   2026-11-30T23:40:01.123Z TCP 192.168.8.100:40312 -> 192.168.8.200:80 server 192.168.8.20:80 sched rr why rr: ...
//   2026-11-30T23:40:01.400Z drop no_service +3
//
// --count N stops after N decisions (drop lines do not count). The header goes to stderr.

import { Command as Commander, CommanderError } from 'commander';
import { ControlClient } from '../control/client.js';
import { outputFailure } from '../control/errors.js';
import { parseAddrPort, parseFwmark, UsageError } from '../control/ipvsadm.js';
import { systemPortNames } from '../control/printers.js';
import { DEFAULT_SOCKET, type ServiceKey, type TraceEvent, type TracePollResult } from '../control/protocol.js';

export const POLL_MS = 200;

/** `uvsadm trace -h|--help` (stdout, exit 0). */
export const TRACE_USAGE = `Usage: uvsadm trace [-t|-u|--sctp-service service-address | -f fwmark] [--count N] [--socket PATH]
  One line per new connection (time, client, service, chosen server, scheduler, why) and per drop
  reason that moved, for one service or all; stops after N decisions (--count) or on Ctrl-C.
`;

export interface TraceCommand {
  service?: ServiceKey;
  count?: number;
  socket: string;
  /** -h / --help: print TRACE_USAGE, nothing else. */
  help?: true;
}

export function parseTraceArgs(argv: readonly string[], env: Record<string, string | undefined> = process.env): TraceCommand {
  const program = new Commander('uvsadm trace')
    .exitOverride()
    .configureOutput({ writeOut: () => {}, writeErr: () => {} })
    .helpOption(false)
    .allowExcessArguments(false)
    .option('-t, --tcp-service <service-address>')
    .option('-u, --udp-service <service-address>')
    .option('--sctp-service <service-address>')
    .option('-f, --fwmark-service <fwmark>')
    .option('--count <n>')
    .option('--socket <path>')
    .option('-h, --help');
  try {
    program.parse([...argv], { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) throw new UsageError(`trace: ${err.message.replace(/^error: /, '').split('\n')[0]}`);
    throw err;
  }
  const o = program.opts<{ tcpService?: string; udpService?: string; sctpService?: string; fwmarkService?: string; count?: string; socket?: string; help?: boolean }>();
  if (o.help === true) return { socket: '', help: true };
  if ([o.tcpService, o.udpService, o.sctpService, o.fwmarkService].filter((x) => x !== undefined).length > 1) throw new UsageError("trace: multiple 'service-address' options specified");
  const cmd: TraceCommand = { socket: o.socket ?? (env.UVS_SOCKET !== undefined && env.UVS_SOCKET !== '' ? env.UVS_SOCKET : DEFAULT_SOCKET) };
  const text = o.tcpService ?? o.udpService ?? o.sctpService;
  if (text !== undefined) {
    const proto = o.tcpService !== undefined ? 'tcp' : o.udpService !== undefined ? 'udp' : 'sctp';
    const a = parseAddrPort(text, proto, systemPortNames);
    if (a === undefined) throw new UsageError(`trace: invalid service address ${JSON.stringify(text)} (a.b.c.d:port)`);
    // VIP:0 names a port-zero (all ports, -p) service, as -L -t VIP:0 does; a bare VIP is refused.
    if (a.port === undefined) throw new UsageError(`trace: service ${JSON.stringify(text)} needs a port (${text}:0 for a port-zero service)`);
    cmd.service = { proto, addr: a.addr, port: a.port };
  }
  if (o.fwmarkService !== undefined) {
    let fwmark: number;
    try {
      fwmark = parseFwmark(o.fwmarkService);
    } catch (e) {
      throw new UsageError(`trace: ${(e as Error).message}`);
    }
    cmd.service = { proto: 'tcp', addr: '0.0.0.0', port: 0, fwmark };
  }
  if (o.count !== undefined) {
    if (!/^\d{1,9}$/.test(o.count) || Number(o.count) < 1) throw new UsageError(`trace: invalid --count ${JSON.stringify(o.count)} (a positive integer)`);
    cmd.count = Number(o.count);
  }
  return cmd;
}

export function formatEvent(e: TraceEvent): string {
  const server = e.server === null ? 'none (dropped: no_dest)' : e.server;
  return `${e.time} ${e.proto.toUpperCase()} ${e.client} -> ${e.service} server ${server} sched ${e.sched} why ${e.why}\n`;
}

/** Runs until --count decisions were printed or SIGINT/SIGTERM; returns the exit status. */
export async function runTrace(cmd: TraceCommand, out: (s: string) => void, err: (s: string) => void): Promise<number> {
  const client = await ControlClient.connect(cmd.socket);
  let session: number | undefined;
  let stop = false;
  const onSignal = () => {
    stop = true;
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  // The reader gone (`uvsadm trace | head -1`, `| grep -m1 ...`): the next line's write fails
  // EPIPE, and trace ends as after Ctrl-C (its session in uvsd closed), as tcpdump ends on
  // SIGPIPE. Until 2026-12-07 it polled on, writing to nobody, until killed.
  // Output that cannot be written otherwise (`> /dev/full`: ENOSPC) ends it too, its session
  // closed, then one line and exit 1 as uvsadm's other listings (until 2026-12-07 uvsadm's own
  // handler exited at once and the session stayed open in uvsd until its idle time).
  let outFailed: NodeJS.ErrnoException | undefined;
  const onOutError = (e: NodeJS.ErrnoException) => {
    stop = true;
    if (e.code !== 'EPIPE') outFailed ??= e;
  };
  process.stdout.on('error', onOutError);
  try {
    session = (await client.call('traceStart', cmd.service === undefined ? {} : { service: cmd.service })).session;
    const s = cmd.service;
    const what = s === undefined ? 'all services' : s.fwmark !== undefined ? `FWM ${s.fwmark}` : `${s.proto.toUpperCase()} ${s.addr}:${s.port}`;
    err(`uvsadm: tracing new connections to ${what}${cmd.count === undefined ? '' : ` (stops after ${cmd.count})`}; Ctrl-C to stop\n`);
    let decisions = 0;
    while (!stop) {
      const r: TracePollResult = await client.call('tracePoll', { session });
      const now = new Date().toISOString();
      if (r.lost > 0) out(`${now} lost ${r.lost} decisions (uvsd's trace ring was overwritten before this poll)\n`);
      for (const e of r.events) {
        out(formatEvent(e));
        if (cmd.count !== undefined && ++decisions >= cmd.count) {
          stop = true;
          break;
        }
      }
      for (const d of r.drops) out(`${now} drop ${d.reason} +${d.count}\n`);
      if (!stop && !r.more) await new Promise((res) => setTimeout(res, POLL_MS));
    }
    if (outFailed === undefined) return 0;
    err(outputFailure('uvsadm', outFailed));
    return 1;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.stdout.off('error', onOutError);
    if (session !== undefined) await client.call('traceStop', { session }).catch(() => undefined);
    client.close();
  }
}
