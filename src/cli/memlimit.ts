// The connection table against the process's memory limit (its cgroup's), checked before the
// table is allocated: the table is prefaulted at start (docs/uvsd.md "Connection table"), so a
// --conn-max too large for the limit got uvsd killed by the OOM killer before it logged anything
// (under systemd's Restart=on-failure, a crash loop with no uvsd line).
//
// The limit: cgroup v1, the memory controller's memory.limit_in_bytes; cgroup v2 ("0::PATH"),
// memory.max; each of the process's cgroup and its parents up to the mount's root, the lowest
// (a parent's limit covers its children); and the host's memory (/proc/meminfo MemTotal) when it
// is lower, as it is where no cgroup sets a limit (a plain systemd service, a shell).

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConnTable } from '../datapath/conntable.js';

const MIB = 1024 * 1024;
/** uvsd's RSS without the table, measured 83 MB (keepalived.conf checks, --metrics), with room for
 *  the heap to grow under control work (docs/uvsd.md "File descriptors and memory limits"). */
export const RSS_BASE_MIB = 128;
/** Each datapath worker thread (--workers N >= 2: N, --datapath-thread: 1): measured +38 MB with
 *  --workers 2, ~20 MB with --datapath-thread. */
export const RSS_PER_THREAD_MIB = 24;

/** A limit and the file that sets it; `host`: the host's memory (MemTotal), not a cgroup's limit. */
export interface MemoryLimit {
  bytes: number;
  file: string;
  host?: boolean;
}

/** Where the process's cgroups are: /proc/self/cgroup and the mount of the cgroup file systems;
 *  meminfo: /proc/meminfo (tests give their own; without it the host's memory is not read). */
export interface CgroupPaths {
  procCgroup: string;
  root: string;
  meminfo?: string;
}

const SYSTEM: CgroupPaths = { procCgroup: '/proc/self/cgroup', root: '/sys/fs/cgroup', meminfo: '/proc/meminfo' };

/** The host's memory, MemTotal of a /proc/meminfo file; undefined when unreadable. */
function hostMemory(file: string): MemoryLimit | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  const m = /^MemTotal:\s+(\d+) kB$/m.exec(text);
  const kb = m === null ? NaN : Number(m[1]);
  return Number.isFinite(kb) && kb > 0 ? { bytes: kb * 1024, file: `${file} MemTotal`, host: true } : undefined;
}

/** The memory cgroup of a /proc/PID/cgroup text: v1's memory controller line, else v2's "0::PATH". */
export function memoryCgroup(text: string): { version: 1 | 2; path: string } | undefined {
  let v2: string | undefined;
  for (const line of text.split('\n')) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line);
    if (m === null) continue;
    if (m[2]!.split(',').includes('memory')) return { version: 1, path: m[3]! };
    if (m[1] === '0' && m[2] === '') v2 = m[3]!;
  }
  return v2 === undefined ? undefined : { version: 2, path: v2 };
}

/** A limit file's value in bytes; undefined for none ("max", v1's 2^63 rounded to pages) or unreadable. */
function readLimit(file: string): number | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8').trim();
  } catch {
    return undefined;
  }
  const n = Number(text);
  return text === 'max' || !Number.isFinite(n) || n <= 0 || n >= 2 ** 62 ? undefined : n;
}

/**
 * The lowest memory limit over the process's cgroup and its parents and the host's memory, or
 * undefined when none can be read. Without a cgroup limit a table larger than the host's memory
 * had the OOM killer stop uvsd (or another process) while it prefaulted the table, before any
 * line: only the cgroup's limit was checked until 2026-12-07.
 */
export function memoryLimit(paths: CgroupPaths = SYSTEM): MemoryLimit | undefined {
  const cg = cgroupLimit(paths);
  const host = paths.meminfo === undefined ? undefined : hostMemory(paths.meminfo);
  return host !== undefined && (cg === undefined || host.bytes < cg.bytes) ? host : cg;
}

/** The lowest memory limit over the process's cgroup and its parents, or undefined when none is set (or none can be read). */
function cgroupLimit(paths: CgroupPaths): MemoryLimit | undefined {
  let text: string;
  try {
    text = readFileSync(paths.procCgroup, 'utf8');
  } catch {
    return undefined;
  }
  const cg = memoryCgroup(text);
  if (cg === undefined) return undefined;
  const [base, name] = cg.version === 1 ? [join(paths.root, 'memory'), 'memory.limit_in_bytes'] : [paths.root, 'memory.max'];
  let best: MemoryLimit | undefined;
  let dir = cg.path;
  for (;;) {
    const file = join(base, dir, name);
    const bytes = readLimit(file);
    if (bytes !== undefined && (best === undefined || bytes < best.bytes)) best = { bytes, file };
    if (dir === '/' || dir === '' || dir === '.') return best;
    dir = join(dir, '..');
  }
}

/**
 * Why the table of `connMax` entries cannot fit under `limit` with `workerThreads` datapath
 * worker threads (0 without), as one line, or undefined when it fits (or there is no limit).
 */
export function tableMemoryProblem(connMax: number, workerThreads: number, limit: MemoryLimit | undefined): string | undefined {
  if (limit === undefined) return undefined;
  const tableMib = Math.ceil((ConnTable.bytesPerEntry(connMax) * connMax) / MIB);
  const besides = RSS_BASE_MIB + RSS_PER_THREAD_MIB * workerThreads;
  const limitMib = Math.floor(limit.bytes / MIB);
  if (tableMib + besides <= limitMib) return undefined;
  // At most this many entries fit: bytesPerEntry(1) + 4 bounds every size's bytes per entry (its
  // hash heads, 4 x nextPow2(n) / n, are under 8 bytes an entry).
  const fits = Math.max(0, Math.floor(((limitMib - besides) * MIB) / (ConnTable.bytesPerEntry(1) + 4)));
  const what = limit.host === true ? `the host has ${limitMib} MiB of memory (${limit.file})` : `the memory limit is ${limitMib} MiB (${limit.file})`;
  const more = limit.host === true ? 'add memory' : 'raise the limit';
  return `the connection table needs ${tableMib} MiB for --conn-max ${connMax}, and uvsd ~${besides} MiB besides; ${what}: ` +
    (fits > 0 ? `give --conn-max ${fits} or less, or ${more}` : more);
}
