// What uvsd and uvs-decap share of their commander command lines: the value parsers, and bad
// options as one line `NAME: ...` naming the option and the value, exit 2.

import { writeSync } from 'node:fs';
import { outputFailure } from '../control/errors.js';
import { InvalidArgumentError, type Command } from 'commander';

/** An integer option min..max, written in decimal digits (no 1e3, 0x300, +5 or 1.0). */
export function intArg(name: string, min: number, max: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!/^\d+$/.test(v) || n < min || n > max) throw new InvalidArgumentError(`${name} must be an integer ${min}..${max}, got "${v}"`);
    return n;
  };
}

/** An option whose value `problem` checks (the message names the option and the value). */
export function checkedArg(name: string, problem: (v: string) => string | undefined) {
  return (v: string): string => {
    const why = problem(v);
    if (why !== undefined) throw new InvalidArgumentError(`${name} ${why}`);
    return v;
  };
}

/** An option that takes one of `values`. */
export function oneOfArg<T extends string>(name: string, values: readonly T[]) {
  return checkedArg(name, (v) => ((values as readonly string[]).includes(v) ? undefined : `must be one of ${values.join(', ')}, got ${JSON.stringify(v)}`)) as (v: string) => T;
}

/** Why `v` cannot be a path (or any text) option: empty, as the config file's strings. */
export const emptyProblem = (v: string): string | undefined => (v === '' ? 'must be a non-empty string, got ""' : undefined);

/**
 * --help's and --version's text on standard output, written before the exit that follows: one
 * that cannot be written (`> /dev/full`, a full disk: ENOSPC; EIO) is one line on stderr and
 * exit 1, as GNU tools do. commander's process.stdout.write failed after the exit(0) it was
 * followed by, unseen (until 2026-12-07: nothing written, exit 0). A reader gone (EPIPE,
 * `| head -1`) is no failure.
 */
function writeOutOrExit(name: string, str: string): void {
  const b = Buffer.from(str);
  for (let off = 0; off < b.length;) {
    try {
      off += writeSync(1, b, off);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN') continue; // a non-blocking pipe that is full: its reader takes it
      if (code === 'EPIPE') return;
      process.stderr.write(outputFailure(name, e as Error));
      process.exit(1);
    }
  }
}

/**
 * commander's errors as `NAME: ...` on one line, exit 2 (0 for --help and --version): an
 * invalid value as its parser's message, prefixed by the option when the message does not start
 * with it (`--mac: invalid MAC address "x"`), the rest as commander words them (`unknown option
 * '--bogus'`). Words after the options are refused by parseCommandLine.
 */
export function usageErrors(program: Command, name: string): Command {
  return program
    .showHelpAfterError(false)
    .configureOutput({
      writeOut: (str) => writeOutOrExit(name, str),
      outputError: (str, write) => {
        const line = str.split('\n')[0]!;
        const bad = /^error: option '(?:-\w, )?(--[\w-]+)[^']*' argument '[\s\S]*' is invalid\. ([\s\S]*)$/.exec(line);
        const text = bad === null ? line.replace(/^error: /, '') : bad[2]!.startsWith(bad[1]!) ? bad[2]! : `${bad[1]}: ${bad[2]}`;
        write(`${name}: ${text}\n`);
      },
    })
    .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2))
    .allowExcessArguments(true);
}

/** Parse `argv` with `program` (set up by usageErrors): a word that is no option is refused, naming it. */
export function parseCommandLine(program: Command, argv?: string[]): void {
  program.parse(argv);
  // commander's own words ("too many arguments") would not say which.
  if (program.args.length > 0) program.error(`error: unexpected argument "${program.args[0]}": ${program.name()} takes options only (${program.name()} --help)`);
}
