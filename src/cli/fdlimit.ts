// uvsd's file descriptor limit (nofile), checked by bin/uvsd before anything else is loaded: with
// fewer than ~80 descriptors node cannot even load uvsd's modules (EMFILE and a stack trace).
// Imports node's own modules only, so that this check itself loads. Node raises the soft limit
// to the hard one when it starts: the soft limit read here is the one uvsd runs with.
//
// Measured (docs/uvsd.md "File descriptors and memory limits"): a start with a keepalived.conf and --metrics needs
// 80 (77 fails loading modules); running, uvsd holds 23 (--workers 2: 35), plus one per health
// check in flight (at most 64), per control client (at most 256) and per metrics client (at most 64).

import { readFileSync } from 'node:fs';

/** Below this uvsd refuses to start: the start itself (80) and the health checks in flight (64) would not fit. */
export const NOFILE_MIN = 128;
/** Below this uvsd warns at start: 23 held + 64 checks + 256 control + 64 metrics clients (407), --workers more. */
export const NOFILE_WARN = 1024;

/** The soft "Max open files" of a /proc/PID/limits text (Infinity for unlimited), or undefined. */
export function parseOpenFiles(limits: string): number | undefined {
  const m = /^Max open files\s+(\S+)\s+(\S+)/m.exec(limits);
  if (m === null) return undefined;
  if (m[1] === 'unlimited') return Infinity;
  const n = Number(m[1]);
  return Number.isInteger(n) && n >= 0 ? n : undefined;
}

/** This process's nofile limit, or undefined where /proc cannot tell. */
export function openFilesLimit(path = '/proc/self/limits'): number | undefined {
  try {
    return parseOpenFiles(readFileSync(path, 'utf8'));
  } catch {
    return undefined;
  }
}

/** The one-line refusal (below NOFILE_MIN) or warning (below NOFILE_WARN) for a limit, or undefined. */
export function fdLimitProblem(limit: number | undefined): { refuse: boolean; message: string } | undefined {
  if (limit === undefined || limit >= NOFILE_WARN) return undefined;
  if (limit < NOFILE_MIN) {
    return { refuse: true, message: `the file descriptor limit (nofile) is ${limit}: uvsd needs at least ${NOFILE_MIN} (raise it: LimitNOFILE=, ulimit -n, prlimit --nofile)` };
  }
  return {
    refuse: false,
    message: `the file descriptor limit (nofile) is ${limit}, below ${NOFILE_WARN}: health checks and control and metrics clients may run out of descriptors`,
  };
}

/**
 * Descriptors a start with `workers` datapath workers needs: the workers start at once, and each
 * opens what its thread, event loop, queue and modules take while the others do. Measured
 * 2026-12-07 (netns, --conn-max 65536): --workers 2 starts at 128, 3 failed at 128 and started
 * at 130, 8 failed at 250 and 270 and started at 230, 260 and 280: the need moves from start to
 * start, so 32 more per worker past 2 (8: 320).
 */
export function nofileForWorkers(workers: number): number {
  return NOFILE_MIN + 32 * Math.max(0, workers - 2);
}

/** The refusal of a start with `workers` workers under `limit` (nofileForWorkers), or undefined. */
export function fdLimitWorkersProblem(limit: number | undefined, workers: number): string | undefined {
  const need = nofileForWorkers(workers);
  if (limit === undefined || limit >= need || need === NOFILE_MIN) return undefined;
  return `the file descriptor limit (nofile) is ${limit}: uvsd --workers ${workers} needs at least ${need} to start its workers (raise it: LimitNOFILE=, ulimit -n, prlimit --nofile)`;
}

/** bin/uvsd's first step: exit 2 with one line when the limit is below NOFILE_MIN. */
export function refuseLowFdLimit(): void {
  const p = fdLimitProblem(openFilesLimit());
  if (p?.refuse !== true) return;
  process.stderr.write(`uvsd: ${p.message}\n`);
  process.exit(2);
}
