// FILE_CHECK: the number in a tracked file decides (keepalived's track_file + FILE_CHECK). The
// file is read as keepalived reads it: its first 127 bytes through C's strtol(s, NULL, 0) (space,
// a sign, then 0x hex, 0 octal or decimal digits; no digits is 0); a file that cannot be opened
// or is empty is 0; a number outside the 32-bit range is ignored (the last value stands).
// Operators use it to take a server out for maintenance (`echo 1 > /etc/uvs/rs1-maint`) or to
// weigh it down without touching the table.
import { closeSync, constants, existsSync, openSync, readSync, writeFileSync, promises as fsp } from 'node:fs';
import type { CheckResult, FileCheck } from '../types.js';
import { notRunResult } from './resource.js';

/** How often a FILE_CHECK reads its file (keepalived reacts through inotify at once). */
export const FILE_POLL_MS = 1000;

const INT_MIN = -2147483648;
const INT_MAX = 2147483647;
const READ_MAX = 127;

/** C's strtol(text, NULL, 0) for 32-bit use: the number, or undefined when out of range. */
export function parseTrackValue(text: string): number | undefined {
  let i = 0;
  while (i < text.length && ' \t\n\v\f\r'.includes(text[i]!)) i++;
  let sign = 1;
  if (text[i] === '+' || text[i] === '-') sign = text[i++] === '-' ? -1 : 1;
  let base = 10;
  if (text[i] === '0' && (text[i + 1] === 'x' || text[i + 1] === 'X') && /[0-9a-fA-F]/.test(text[i + 2] ?? '')) {
    base = 16;
    i += 2;
  } else if (text[i] === '0') {
    base = 8;
  }
  let v = 0;
  for (; i < text.length; i++) {
    const d = parseInt(text[i]!, base);
    if (Number.isNaN(d)) break;
    v = v * base + d;
    if (v > INT_MAX + 1) return undefined;
  }
  v *= sign;
  // keepalived takes INT32_MIN .. INT32_MAX + 1
  return v < INT_MIN ? undefined : v;
}

/** The last value read from each file, for a reading that is ignored (out of range). */
const last = new Map<string, number>();

function valueOf(path: string, text: string): number {
  const v = parseTrackValue(text);
  if (v === undefined) return last.get(path) ?? 0;
  last.set(path, v);
  return v;
}

/** The file's value now, read synchronously (start and reload: the server's first state). */
export function readTrackFileSync(path: string): number {
  let text = '';
  try {
    const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
    try {
      const b = Buffer.alloc(READ_MAX);
      text = b.toString('latin1', 0, readSync(fd, b, 0, READ_MAX, null));
    } finally {
      closeSync(fd);
    }
  } catch {
    // cannot be opened or read: 0, as keepalived
  }
  return valueOf(path, text);
}

/** The file's value, or (uvsd out of a local resource) the check's "could not run". */
async function readTrackFile(path: string): Promise<number | CheckResult> {
  let text = '';
  try {
    const fh = await fsp.open(path, constants.O_RDONLY | constants.O_NONBLOCK);
    try {
      const b = Buffer.alloc(READ_MAX);
      const { bytesRead } = await fh.read(b, 0, READ_MAX, null);
      text = b.toString('latin1', 0, bytesRead);
    } finally {
      await fh.close();
    }
  } catch (e) {
    // cannot be opened or read: 0; uvsd out of file descriptors (or memory) says nothing of the file
    const notRun = notRunResult(`track_file ${path}:`, e);
    if (notRun !== undefined) return notRun;
  }
  return valueOf(path, text);
}

/**
 * What value v means for the server (keepalived update_track_file_status): with weight 0 a
 * non-zero value fails it (reverse: zero fails it); otherwise it passes and adds v x weight
 * (negated with reverse) to its weight, unless that reaches -2^31 (a fault: failed).
 */
export function fileVerdict(spec: Pick<FileCheck, 'trackFile' | 'weight' | 'reverse'>, v: number): CheckResult {
  const what = `track_file ${spec.trackFile} reads ${v}`;
  if (spec.weight === 0) {
    return (v !== 0) !== spec.reverse ? { ok: false, reason: `${what}${spec.reverse ? ' (reverse: 0 fails)' : ''}` } : { ok: true, reason: what, delta: 0 };
  }
  const d = Math.max(INT_MIN, Math.min(INT_MAX, v * spec.weight * (spec.reverse ? -1 : 1)));
  if (d === INT_MIN) return { ok: false, reason: `${what}: weight ${d} is a fault` };
  return { ok: true, reason: `${what}: weight ${d < 0 ? '' : '+'}${d}`, delta: d };
}

/** A FILE_CHECK as uvs runs it: every FILE_POLL_MS, no retry, rise or fall (keepalived.conf's and the config file's). */
export function fileCheckSpec(o: Pick<FileCheck, 'trackFile' | 'path' | 'weight' | 'reverse' | 'init' | 'origin'>): FileCheck {
  const { init, ...rest } = o;
  return {
    type: 'FILE_CHECK', ...rest, ...(init !== undefined ? { init } : {}),
    connectTimeoutMs: 0, delayLoopMs: FILE_POLL_MS, warmupMs: FILE_POLL_MS, retry: 0, delayBeforeRetryMs: FILE_POLL_MS, rise: 1, fall: 1,
  };
}

export async function checkFile(spec: FileCheck): Promise<CheckResult> {
  const v = await readTrackFile(spec.path);
  return typeof v === 'number' ? fileVerdict(spec, v) : v;
}

/** init_file applies now: the file is missing, or overwrite when uvsd starts (never on a reload). */
function initApplies(spec: FileCheck, starting: boolean): boolean {
  if (spec.init === undefined) return false;
  return (spec.init.overwrite && starting) || !existsSync(spec.path);
}

/** The file's value when a FILE_CHECK starts (the server's first state, known at once, as in
 *  keepalived): its init_file value where writeInitFile will write it, else what the file holds. */
export function firstFileValue(spec: FileCheck, starting: boolean): number {
  return initApplies(spec, starting) ? spec.init!.value : readTrackFileSync(spec.path);
}

/** track_file's init_file: write VALUE where it applies (a directory that is missing or not
 *  writable leaves the file as it is: the next reading says what it holds). */
export function writeInitFile(spec: FileCheck, starting: boolean): void {
  if (!initApplies(spec, starting)) return;
  try {
    writeFileSync(spec.path, `${spec.init!.value}\n`);
  } catch {
    // see above
  }
}
