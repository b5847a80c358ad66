// uvsd --state-file: the table written after every change and read back at start
// (docs/resilience.md). The file is a config file (uvsd --config reads it) framed by two
// comment lines: STATE_HEADER first, STATE_END last. A rename without fsync can leave a 0-byte
// file after a power loss (ext4's delayed allocation), and a copy can be cut short; both parse
// as a smaller table, so a file that begins with STATE_HEADER is refused unless it ends with STATE_END.
// Files of the version before the end line have no STATE_HEADER either: they are still read,
// unless they say nothing (empty, or comments only).

import { chmodSync, closeSync, constants, existsSync, fstatSync, ftruncateSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { open, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { native } from '../datapath/port.js';
import { dk, parseConfig, readConfigText, stateCutOff, STATE_END, STATE_HEADER, type ConfigFile, type ConfigManager } from './config.js';

export { STATE_END, STATE_HEADER };
import { UvsError } from './errors.js';
import { yaml } from './yaml-lazy.js';
import { serviceKey, serviceText } from './protocol.js';
import { wallOf } from './clock.js';
import { DumpBytes, type DumpOut } from './dump-bytes.js';
import { CREATE_NEW, foreignUid, removeStale } from './trust.js';

/** Why a state file's text cannot be trusted, or undefined if it can. */
export function stateProblem(text: string): string | undefined {
  if (text.trim() === '') return 'empty';
  const cut = stateCutOff(text);
  if (cut !== undefined) return cut ? 'incomplete: no end marker (cut off?)' : undefined;
  // Written before the end line existed: trusted as before, but not when it holds no setting.
  return /^[ \t]*[^#\s]/m.test(text) ? undefined : 'empty (comments only)';
}

/** Where the state file is (a symbolic link followed) and why uvsd could not write it there: src/control/trust.ts. */
export { resolveStatePath, stateFilePathProblem } from './trust.js';

/**
 * Hold the state file (its resolved path) for the life of this process: flock(2) on FILE.lock
 * (created 0600 beside it, kept; this uvsd's pid written in it). Two uvsd writing one state file
 * would each restore the other's table, claim its VIPs, and overwrite each other's changes. The
 * kernel releases the lock when the process ends, however it ends: a lock left by a uvsd that
 * died never keeps the next one out. Returns why the file cannot be held (naming the holder's
 * pid), or undefined once it is.
 */
export function lockStateFile(file: string): string | undefined {
  const lock = `${file}.lock`;
  let fd: number;
  try {
    // Never through a link (ELOOP): root would truncate the file it names.
    fd = openSync(lock, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
  } catch (e) {
    return `cannot create its lock file ${lock} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`;
  }
  try {
    // Nothing another user made, nor a hard link to another file: refused, not truncated.
    const st = fstatSync(fd);
    const not = !st.isFile() ? 'not a regular file' : st.nlink !== 1 ? `a file of ${st.nlink} links` : foreignUid(st.uid) ? `owned by uid ${st.uid}` : undefined;
    if (not !== undefined) {
      closeSync(fd);
      return `its lock file ${lock} is ${not}: remove it`;
    }
    if (!native.tryLock(fd)) {
      // The holder writes its pid right after taking the lock: read at once, it may not be there yet.
      const pid = /^(\d+)\n/.exec(readFileSync(lock, 'utf8'))?.[1];
      closeSync(fd);
      return `${file} is in use by ${pid === undefined ? 'another uvsd' : `uvsd pid ${pid}`} (it holds ${lock})`;
    }
    ftruncateSync(fd);
    writeSync(fd, `${process.pid}\n`, 0);
  } catch (e) {
    closeSync(fd);
    return `cannot lock ${lock} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`;
  }
  return undefined; // fd stays open: the lock lasts as long as the process
}

/**
 * Read a state file: its table, or a BAD_CONFIG "FILE: problem" (as for invalid YAML). A service
 * or server entry the reading refuses (a field a newer uvsd wrote, a value out of this one's range:
 * a downgrade) is left out, its lines made comments, and said in leftOut ("FILE:LINE: why: left
 * out ..."); a refusal outside the services (daemon settings, marks) refuses the file.
 */
function readStateFile(file: string, leftOut: string[]): ConfigFile {
  const original = readConfigText(file);
  const problem = stateProblem(original);
  if (problem !== undefined) throw new UvsError('BAD_CONFIG', file, `${file}: ${problem}`);
  let entries: Entries | undefined;
  let text = original;
  for (;;) {
    try {
      return parseConfig(text, file, { stateFile: true });
    } catch (e) {
      const at = e instanceof UvsError ? /^(.*):(\d+)$/.exec(e.detail ?? '') : null;
      const cut = at === null || at[1] !== file ? undefined : (entries ??= new Entries(original)).cut(text, Number(at[2]));
      if (cut === undefined) throw e;
      // The path as the file has it (the text read has the entries left out before as comments).
      const why = (e as Error).message.replace(/^(.*?: )services\[\d+\](\.servers\[\d+\])?/, (_m, head: string, srv?: string) =>
        `${head}${cut.path}${srv === undefined || cut.server === undefined ? '' : `.servers[${cut.server}]`}`);
      leftOut.push(`${why}: ${cut.what}`);
      text = cut.text;
    }
  }
}

/** A state file's service and server entries, by line: what to leave out when reading refuses one (readStateFile). */
class Entries {
  private readonly lc;
  private readonly services;

  constructor(private readonly original: string) {
    const Y = yaml();
    this.lc = new Y.LineCounter();
    const services = Y.parseDocument(original, { lineCounter: this.lc }).get('services', true);
    this.services = Y.isSeq(services) ? services.items : [];
  }

  /**
   * text (the file's, line for line) with the entry holding `line` (1-based) made comments, the
   * entry's path in the file and what was left out; undefined when the line is in no service, or
   * the entry shares a line with something else (a flow list on one line). A server of a service
   * with health checks takes its service with it (they list its servers by position).
   */
  cut(text: string, line: number): { text: string; path: string; server?: number; what: string } | undefined {
    const Y = yaml();
    const lineOf = (offset: number): number => this.lc.linePos(offset).line;
    const lines = (n: { range?: [number, number, number] | null }): [number, number] =>
      n.range == null ? [0, -1] : [lineOf(n.range[0]), lineOf(Math.max(n.range[0], n.range[1] - 1))];
    const inside = (n: { range?: [number, number, number] | null }): boolean => lines(n)[0] <= line && line <= lines(n)[1];
    const i = this.services.findIndex((n) => Y.isMap(n) && inside(n));
    const svc = this.services[i];
    if (!Y.isMap(svc)) return undefined;
    const list = svc.get('servers', true);
    const servers = Y.isSeq(list) ? list.items : [];
    const j = servers.findIndex((d) => Y.isMap(d) && inside(d));
    const entry = (j >= 0 && !svc.has('health') ? servers[j]! : svc) as { range: [number, number, number] };
    const [from, to] = lines(entry);
    // The entry alone on its lines: "- " (and indentation) before it, nothing but a comment after it.
    const [start, end] = entry.range;
    const bol = this.original.lastIndexOf('\n', start - 1) + 1;
    const eol = this.original.indexOf('\n', end);
    // A block mapping's range ends after its last line's newline; a flow one's at its brace.
    const after = this.original[end - 1] === '\n' ? '' : this.original.slice(end, eol === -1 ? this.original.length : eol);
    if (!/^\s*-\s*$/.test(this.original.slice(bol, start)) || !/^\s*(#.*)?$/.test(after)) return undefined;
    const out = text.split('\n');
    for (let k = from - 1; k < to; k++) out[k] = `#${out[k]}`;
    return {
      text: out.join('\n'), path: `services[${i}]`, ...(j >= 0 ? { server: j } : {}),
      what: entry === svc ? `left out the service at line ${from} and its servers` : `left out the server at line ${from}`,
    };
  }
}

/** A refused state file at start: why, and where it was kept (or why it could not be). */
export interface RefusedState {
  refused: string;
  keptAs?: string;
  keepError?: string;
}

/** A state file restored at start; leftOut: its entries the table refused (each "FILE:LINE: why"), the file kept aside as keptAs. */
export interface RestoredState {
  changes: string[];
  saved: ConfigFile;
  leftOut: string[];
  keptAs?: string;
  keepError?: string;
}

/**
 * uvsd's start: the state file's table applied over the one in place (--config's); undefined
 * when there is no file. A file that cannot be read (unreadable, empty, cut off, invalid YAML)
 * changes nothing: uvsd goes on with the table it has, and the file is renamed aside
 * (keepRefused) before uvsd writes that table in its place. A file the table refuses in parts
 * (written by an older uvsd whose rules were looser: a server listed as RIP:0 and RIP:PORT, a
 * real server that is another service's VIP) is restored without the refused servers or
 * services, one at a time by the line the refusal names, each said in leftOut, and the file is
 * kept aside too: an upgrade must not start a director with an empty table. `saved` is the
 * file read (its daemon.sync: the sync daemons that ran, syncAtStart).
 */
export function restoreState(config: ConfigManager, file: string, now = new Date()): RestoredState | RefusedState | undefined {
  if (!existsSync(file)) return undefined;
  const kept = (): { keptAs: string } | { keepError: string } => {
    try {
      return { keptAs: keepRefused(file, now) };
    } catch (k) {
      return { keepError: (k as NodeJS.ErrnoException).code ?? (k as Error).message };
    }
  };
  let saved: ConfigFile;
  const leftOut: string[] = [];
  try {
    saved = readStateFile(file, leftOut);
  } catch (e) {
    return { refused: (e as Error).message, ...kept() };
  }
  leftOut.push(...saved.warnings ?? []);
  for (;;) {
    try {
      const changes = config.apply(saved, false);
      return { changes, saved, leftOut, ...(leftOut.length > 0 ? kept() : {}) };
    } catch (e) {
      const rest = e instanceof UvsError ? withoutEntryAt(saved, e.detail) : undefined;
      if (rest === undefined) return { refused: (e as Error).message, ...kept() };
      leftOut.push(`${(e as Error).message}: ${rest.instead ?? 'left out'}`);
      saved = rest.cfg;
    }
  }
}

/**
 * cfg without the service or server at `at` ("FILE:LINE", a refusal's place), or undefined if no
 * entry is there; `instead`: what was left out when it was not that entry.
 */
function withoutEntryAt(cfg: ConfigFile, at: string | undefined): { cfg: ConfigFile; instead?: string } | undefined {
  const m = at === undefined ? null : /^(.*):(\d+)$/.exec(at);
  if (m === null || m[1] !== cfg.file) return undefined;
  const line = Number(m[2]);
  // A service refused because its VIP is another service's real server (an older uvsd allowed
  // that): the servers are the entries this uvsd refuses, so they go, not the service.
  const svc = cfg.services.find((s) => s.line === line);
  const vip = svc?.spec.fwmark === undefined ? svc?.spec.addr : undefined;
  const asServer = vip === undefined ? [] : cfg.services.filter((s) => s !== svc && s.dests.some((d) => d.addr === vip));
  if (asServer.length > 0) {
    const other = asServer[0]!;
    const i = other.dests.findIndex((d) => d.addr === vip);
    const rest = withoutEntryAt(cfg, `${cfg.file}:${other.destLines[i]}`);
    const d = other.dests[i]!;
    return rest === undefined ? undefined : { cfg: rest.cfg, instead: `left out the real server ${d.addr}:${d.port} of ${serviceText(d.service)} at line ${other.destLines[i]} instead` };
  }
  const services = [];
  let found = false;
  let instead: string | undefined;
  for (const s of cfg.services) {
    if (s.line === line) {
      found = true;
      // Said whole: the refusal may name an edit of the service (--config's, in the table before the
      // restore), and the service is gone from the table until a reload of --config adds it again.
      instead = `left out the service ${serviceText(serviceKey(s.spec))} and its servers`;
      continue;
    }
    const i = s.destLines.indexOf(line);
    if (i < 0) {
      services.push(s);
      continue;
    }
    found = true;
    // A server alone; with its service when that has health checks (they list its servers by position).
    if (s.health === undefined) services.push({ ...s, dests: s.dests.filter((_, j) => j !== i), destLines: s.destLines.filter((_, j) => j !== i) });
  }
  if (!found) return undefined;
  const kept = new Set(services.flatMap((s) => s.dests.map((d) => dk(d.service, d.addr, d.port))));
  const drains = cfg.drains?.filter((d) => kept.has(dk(d.service, d.addr, d.port)));
  return { cfg: { ...cfg, services, ...(drains !== undefined ? { drains } : {}) }, ...(instead !== undefined ? { instead } : {}) };
}

/**
 * Rename a refused state file to FILE.refused-YYYYMMDDTHHMMSSZ (the time of the refusal; .1, .2
 * ... after it if that name is taken, so an earlier refused file is never overwritten) and return
 * the new name. Under Restart=on-failure no operator gets to copy it aside before uvsd writes
 * its table there, and the file may hold every change made with uvsadm.
 */
export function keepRefused(file: string, now: Date): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  for (let n = 0; ; n++) {
    const to = `${file}.refused-${stamp}${n === 0 ? '' : `.${n}`}`;
    if (existsSync(to)) continue;
    renameSync(file, to);
    chmodSync(to, 0o600); // a state file holds secrets (key passphrases, passwords): see writeDurably
    return to;
  }
}

/**
 * Replace `file` by `chunks` (bytes, in order), so that a crash or power loss leaves the old or
 * the new text, whole: written to FILE.tmp (made anew, mode 0600, which FILE then has too: an
 * older 0644 file is tightened) and fsynced, renamed over FILE, then the directory fsynced (the
 * rename itself is on disk). The writes (a chunk each) and fsyncs run on libuv's thread pool, not
 * on the event loop: the text was encoded as it was made (DumpBytes).
 */
export async function writeDurably(file: string, chunks: readonly Uint8Array[]): Promise<void> {
  const tmp = `${file}.tmp`;
  // Owner only: the table holds ssl_get key passphrases and checkers' passwords. A FILE.tmp that
  // is there (left by a crash, or a link planted to have root write the table where it leads)
  // is removed, and the file made anew: never opened through a link, never one with another mode.
  removeStale(tmp);
  const fh = await open(tmp, CREATE_NEW, 0o600);
  try {
    try {
      for (const b of chunks) {
        for (let off = 0; off < b.length;) off += (await fh.write(b, off)).bytesWritten;
      }
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch (e) {
    // The part written goes: on a full disk (ENOSPC, EDQUOT) it held the space the log and the
    // host's other writers need until the next try (until 2026-12-07 left in place: 56 KiB of a
    // 64 KiB file system). The next try makes FILE.tmp anew anyway.
    await unlink(tmp).catch(() => {});
    throw e;
  }
  await rename(tmp, file);
  const dir = await open(dirname(file), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

/**
 * How the writer gets the table's text: into `out` (ConfigManager.dumpInto), whose first line is
 * `header`. With `sliced`, it may let the event loop run while it makes it (changes may land
 * meanwhile); without, in one piece. out (DumpBytes) puts out a service unchanged since the
 * last dump as that dump wrote it; the others are written into it as they are made.
 */
export type StateDump = (header: string, sliced: boolean, out: DumpOut) => void | Promise<void>;

/** Sliced dumps that a change overtook before the writer builds the text in one piece. */
const SLICED_TRIES = 3;
/** A dump that follows another one at once (changes kept coming) waits until this many times the
 *  last dump's duration has passed since that dump began: dumping takes at most 1/DUMP_SPACING
 *  of the time however fast changes come (10,000 services dumped whole: 30-70 ms a dump, one every
 *  120-280 ms; one service changed: a few ms, the rest of the text copied from the last dump: DumpBytes). */
const DUMP_SPACING = 4;
/** ... but never longer than this (ms) after the previous dump began. */
const DUMP_WAIT_MAX_MS = 2000;
/** A failed write is tried again after this long (ms) without waiting for a change: a disk made
 *  free again, a directory put back, is written without one. */
export const STATE_RETRY_MS = 5000;

/** The writer's state, as uvsadm --status shows it. */
/** The state file at start, when not restored whole: leftOut entries refused (-1: the whole file), and a line for --status. */
export interface StartRestore {
  leftOut: number;
  text: string;
}

export interface StateFileStatus {
  path: string;
  /** At start: the file refused, or restored without some entries (absent when restored whole, or there was none). */
  atStart?: StartRestore;
  /** When (ms since the epoch) the table was last written. */
  savedAt?: number;
  /** The last write's error while writes fail, and since when (ms since the epoch). */
  error?: string;
  failingSince?: number;
}

/**
 * The writer: changed() after every change of the table; the table is dumped once per turn of
 * the event loop however many changes ran in it (after the control reply is sent), and written
 * only when its text differs from the last one written. One dump and write at a time: changes
 * made meanwhile are written after it. The dump runs in slices (a large table holds the loop
 * for at most a slice); a change that lands during one may have left the text a mix of before
 * and after it, so that text is dumped again, in one piece after SLICED_TRIES such tries.
 * The first change after a quiet spell is dumped at once; while changes keep coming, dumps are
 * spaced (DUMP_SPACING) so that a script of thousands of commands against a large table does not
 * keep a core busy dumping it.
 */
export class StateFile {
  /** The last dump's bytes (and before it, the one written last), where each service's text lies in them. */
  private readonly bytes = new DumpBytes();
  private queued = false;
  private writing: Promise<void> | undefined;
  private again = false;
  /** Bumped by changed(): a dump that saw it move is dumped again. */
  private gen = 0;
  /** gen as of the last whole dump: a save queued meanwhile with nothing newer has nothing to do. */
  private dumpedGen = -1;
  /** When (performance.now()) the last dump began and how long its dumping took (ms). */
  private dumpStart = 0;
  private dumpMs = 0;
  /** A save waiting for the spacing after the last dump (its timer), or undefined. */
  private spaced: Promise<void> | undefined;
  /** When (performance.now()) the file was last written, and since when writes fail: status() gives them as wall times. */
  private savedAt: number | undefined;
  private failure: { error: string; since: number } | undefined;
  /** The retry after a failed write (STATE_RETRY_MS). */
  private retry: NodeJS.Timeout | undefined;

  constructor(
    readonly file: string,
    /** The table as a config file whose first line is `header`. */
    private readonly dump: StateDump,
    /** Told when writes start failing, or fail otherwise (not at each retry with the same error). */
    private readonly onError: (message: string) => void,
    /** Told when a write succeeds after failed ones. */
    private readonly onRecovered?: () => void,
    /**
     * While it gives a promise, the table is changing in place between slices (a sliced -C,
     * Control.midChange): no dump starts until it settles, and a dump that a sliced -C began
     * during is made again, so a half-cleared table is never written.
     */
    private readonly hold?: () => Promise<unknown> | undefined,
  ) {}

  status(): StateFileStatus {
    return {
      path: this.file, ...(this.savedAt === undefined ? {} : { savedAt: wallOf(this.savedAt) }),
      ...(this.failure === undefined ? {} : { error: this.failure.error, failingSince: wallOf(this.failure.since) }),
    };
  }

  changed(): void {
    this.gen++;
    if (this.queued) return;
    this.queued = true;
    setImmediate(() => this.save());
  }

  /** Resolves once every change so far is on disk (or its write failed and was reported). */
  async flush(): Promise<void> {
    while (this.queued || this.writing !== undefined || this.spaced !== undefined) {
      await (this.writing ?? this.spaced ?? new Promise((r) => setImmediate(r)));
    }
  }

  private save(): void {
    this.queued = false;
    if (this.writing !== undefined) {
      this.again = true;
      return;
    }
    if (this.spaced !== undefined) return; // the save waiting for its spacing dumps this change too
    if (this.gen === this.dumpedGen) return; // a dump that ran again for a change already has it
    this.writing = this.dumpAndWrite().catch((e: unknown) => this.failed((e as Error).message)).finally(() => {
      this.writing = undefined;
      if (!this.again) return;
      this.again = false;
      const wait = Math.min(DUMP_WAIT_MAX_MS, DUMP_SPACING * this.dumpMs) - (performance.now() - this.dumpStart);
      if (wait <= 0) {
        this.save();
        return;
      }
      this.spaced = new Promise<void>((resolve) => setTimeout(() => {
        this.spaced = undefined;
        this.save();
        resolve();
      }, wait));
    });
  }

  private failed(error: string): void {
    if (this.failure?.error !== error) this.onError(error);
    this.failure = { error, since: this.failure?.since ?? performance.now() };
    clearTimeout(this.retry);
    this.retry = setTimeout(() => this.changed(), STATE_RETRY_MS);
    this.retry.unref();
  }

  private async dumpAndWrite(): Promise<void> {
    let same: boolean;
    this.dumpStart = performance.now();
    for (let tries = 0; ; tries++) {
      for (let h = this.hold?.(); h !== undefined; h = this.hold?.()) await h;
      const gen = this.gen;
      const sliced = tries < SLICED_TRIES;
      this.bytes.open();
      await this.dump(STATE_HEADER, sliced, this.bytes);
      if (this.hold?.() !== undefined) continue; // a sliced -C began meanwhile: dumped again once it ends
      if (!sliced || gen === this.gen) {
        this.bytes.text(`${STATE_END}\n`);
        same = this.bytes.close();
        this.dumpedGen = gen;
        break;
      }
    }
    this.dumpMs = performance.now() - this.dumpStart;
    // The same bytes as the last dump, which was written (a failed write is reported, and the
    // next dump written while writes fail: the last text written may be gone with its directory).
    if (same && this.failure === undefined) return;
    await writeDurably(this.file, this.bytes.bytes());
    this.savedAt = performance.now();
    if (this.failure === undefined) return;
    this.failure = undefined;
    clearTimeout(this.retry);
    this.onRecovered?.();
  }
}
