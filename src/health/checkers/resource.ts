// A check that could not run: uvsd itself out of a local resource (file descriptors, socket
// buffers, memory, processes) when it opens the check's socket, file or process. That says
// nothing about the real server, so the check gives no verdict (CheckResult.notRun): the
// manager changes no state, counts it and tries again at the next delay_loop. keepalived does
// the same for a socket() that fails ("TCP connect fail to create socket. Rescheduling.").

import type { CheckResult } from '../types.js';

/** errno codes of uvsd's own resources running out (socket(), open(), connect() buffers, fork()). */
const LOCAL_RESOURCE_CODES: ReadonlySet<string> = new Set(['EMFILE', 'ENFILE', 'ENOBUFS', 'ENOMEM']);

/** Messages of the same errors without a code (raw-socket's strerror text). */
const LOCAL_RESOURCE_TEXT: ReadonlyArray<[RegExp, string]> = [
  [/too many open files in system/i, 'ENFILE'], [/too many open files/i, 'EMFILE'], [/no buffer space available/i, 'ENOBUFS'], [/cannot allocate memory/i, 'ENOMEM'],
];

/** Is `code` (an errno name, e.g. a Node error's code) one of uvsd's own resources running out?
 *  EAGAIN counts only where `spawn` says so: fork() out of processes; elsewhere it is a socket's "try again". */
export function isLocalResourceError(code: string | undefined, spawn = false): boolean {
  if (code === undefined) return false;
  return LOCAL_RESOURCE_CODES.has(code) || (spawn && code === 'EAGAIN');
}

/** An error's code, or (no code) the errno name its message names. */
function codeOf(e: unknown): string | undefined {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  if (typeof code === 'string') return code;
  const msg = (e as Error | undefined)?.message ?? '';
  return LOCAL_RESOURCE_TEXT.find(([re]) => re.test(msg))?.[1];
}

/** The "could not run" result for error `e` when it is uvsd's own resource running out, else undefined. */
export function notRunResult(what: string, e: unknown): CheckResult | undefined {
  const code = codeOf(e);
  if (!isLocalResourceError(code)) return undefined;
  return { ok: false, notRun: true, reason: `${what} ${code}` };
}
