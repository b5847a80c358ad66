// uvsadm: ipvsadm's command line for uvsd. Parse (pure), send one verb over the control socket,
// print like ipvsadm. Exit status: 0 ok, EXIT_REFUSED daemon said no, EXIT_USAGE, EXIT_NO_DAEMON.

import { ControlClient, ControlError } from '../control/client.js';
import { ERRORS, EXIT_NO_DAEMON, EXIT_REFUSED, EXIT_USAGE } from '../control/errors.js';
import { callFor, parseArgs, UsageError } from '../control/ipvsadm.js';
import type { Command } from '../control/ipvsadm.js';
import { formatList, formatOneService, formatStatus, usageText } from '../control/printers.js';
import { parseTraceArgs, runTrace } from './trace.js';

function fail(message: string, code: number): number {
  process.stderr.write(`uvsadm: ${message}\n`);
  return code;
}

function exitCodeFor(err: ControlError): number {
  return err.code === 'NO_DAEMON' || err.code === 'TIMEOUT' ? EXIT_NO_DAEMON : EXIT_REFUSED;
}

async function run(cmd: Exclude<Command, { kind: 'help' }>): Promise<number> {
  const client = await ControlClient.connect(cmd.socket);
  try {
    if (cmd.kind === 'status') {
      process.stdout.write(formatStatus(await client.call('status', {})));
      return 0;
    }
    if (cmd.kind !== 'list') {
      const call = callFor(cmd);
      await client.call(call.verb, call.args as never);
      return 0;
    }
    const result = await client.call('list', {});
    const opts = { numeric: cmd.numeric };
    if (cmd.service === undefined) {
      process.stdout.write(formatList(result, opts));
      return 0;
    }
    const want = cmd.service;
    const svc = result.services.find((s) => s.proto === want.proto && s.addr === want.addr && s.port === want.port);
    if (svc === undefined) return fail(ERRORS.SERVICE_NOT_FOUND, EXIT_REFUSED);
    process.stdout.write(formatOneService(svc, opts));
    return 0;
  } finally {
    client.close();
  }
}

export async function main(argv: readonly string[]): Promise<number> {
  const traceArgs = traceCommand(argv.slice(2));
  if (traceArgs !== undefined) return trace(traceArgs); // uvs extension (src/cli/trace.ts)
  let cmd: Command;
  try {
    cmd = parseArgs(argv.slice(2));
  } catch (err) {
    if (err instanceof UsageError) return fail(err.message, EXIT_USAGE);
    throw err;
  }
  if (cmd.kind === 'help') {
    process.stdout.write(usageText());
    return 0;
  }
  try {
    return await run(cmd);
  } catch (err) {
    if (err instanceof ControlError) return fail(err.message.split('\n')[0] ?? err.code, exitCodeFor(err));
    throw err;
  }
}

/** `trace ...` or `--socket PATH trace ...`: the trace arguments, else undefined. */
function traceCommand(args: readonly string[]): string[] | undefined {
  if (args[0] === 'trace') return args.slice(1);
  if (args[0] === '--socket' && args[2] === 'trace') return [...args.slice(3), '--socket', args[1] ?? ''];
  if (args[0]?.startsWith('--socket=') && args[1] === 'trace') return [...args.slice(2), args[0]];
  return undefined;
}

async function trace(args: readonly string[]): Promise<number> {
  try {
    return await runTrace(parseTraceArgs(args), (s) => process.stdout.write(s), (s) => process.stderr.write(s));
  } catch (err) {
    if (err instanceof UsageError) return fail(err.message, EXIT_USAGE);
    if (err instanceof ControlError) return fail(err.message.split('\n')[0] ?? err.code, exitCodeFor(err));
    throw err;
  }
}

// `uvsadm -Ln | head -1` must not die with an EPIPE stack trace.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code !== 'EPIPE') throw err;
});

main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`uvsadm: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = EXIT_REFUSED;
  },
);
