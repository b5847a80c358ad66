// uvsd --state-file: the table written after every change and read back at start
// (docs/resilience.md). The file is a config file (uvsd --config reads it) framed by two
// comment lines: STATE_HEADER first, STATE_END last. A rename without fsync can leave a 0-byte
// file after a power loss (ext4's delayed allocation), and a copy can be cut short; both parse
// as a smaller table, so a file that begins with STATE_HEADER is refused unless it ends with STATE_END.
// Files of the version before the end line have no STATE_HEADER either: they are still read,
// unless they say nothing (empty, or comments only).

import { existsSync } from 'node:fs';
import { open, rename } from 'node:fs/promises';
import { dirname } from 'node:path';
import { parseConfig, readConfigText, type ConfigFile, type ConfigManager } from './config.js';
import { UvsError } from './errors.js';

export const STATE_END = '# uvs state end';
export const STATE_HEADER = `# uvsd state file (uvsd --state-file): complete only if its last line is "${STATE_END}"`;

/** Why a state file's text cannot be trusted, or undefined if it can. */
export function stateProblem(text: string): string | undefined {
  if (text.trim() === '') return 'empty';
  const head = `${STATE_HEADER}\n`;
  if (text.startsWith(head) || head.startsWith(text)) {
    return text.trimEnd().endsWith(`\n${STATE_END}`) ? undefined : 'incomplete: no end marker (cut off?)';
  }
  // Written before the end line existed: trusted as before, but not when it holds no setting.
  return /^[ \t]*[^#\s]/m.test(text) ? undefined : 'empty (comments only)';
}

/** Read a state file: its table, or a BAD_CONFIG "FILE: problem" (as for invalid YAML). */
export function readStateFile(file: string): ConfigFile {
  const text = readConfigText(file);
  const problem = stateProblem(text);
  if (problem !== undefined) throw new UvsError('BAD_CONFIG', file, `${file}: ${problem}`);
  return parseConfig(text, file);
}

/**
 * uvsd's start: the state file's table applied over the one in place (--config's), all or
 * nothing; undefined when there is no file. A refused file (unreadable, empty, cut off, invalid)
 * changes nothing: uvsd goes on with the table it has.
 */
export function restoreState(config: ConfigManager, file: string): { changes: string[] } | { refused: string } | undefined {
  if (!existsSync(file)) return undefined;
  try {
    return { changes: config.apply(readStateFile(file), false) };
  } catch (e) {
    return { refused: (e as Error).message };
  }
}

/**
 * Replace `file` by `text` so that a crash or power loss leaves the old or the new text, whole:
 * written to FILE.tmp and fsynced, renamed over FILE, then the directory fsynced (the rename
 * itself is on disk). The fsyncs run on libuv's thread pool, not on the event loop.
 */
export async function writeDurably(file: string, text: string): Promise<void> {
  const tmp = `${file}.tmp`;
  const fh = await open(tmp, 'w');
  try {
    await fh.writeFile(text);
    await fh.sync();
  } finally {
    await fh.close();
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
 * How the writer gets the table's text (ConfigManager.dump / dumpSliced): with `sliced`, it may
 * let the event loop run while it builds it (changes may land meanwhile); without, in one piece.
 */
export type StateDump = (header: string, sliced: boolean) => string | Promise<string>;

/** Sliced dumps that a change overtook before the writer builds the text in one piece. */
const SLICED_TRIES = 3;
/** A dump that follows another one at once (changes kept coming) waits until this many times the
 *  last dump's duration has passed since that dump began: dumping takes at most 1/DUMP_SPACING
 *  of the time however fast changes come (10,000 services: ~60 ms a dump, one every ~240 ms). */
const DUMP_SPACING = 4;
/** ... but never longer than this (ms) after the previous dump began. */
const DUMP_WAIT_MAX_MS = 2000;

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
  private saved = '';
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

  constructor(
    readonly file: string,
    /** The table as a config file whose first line is `header`. */
    private readonly dump: StateDump,
    private readonly onError: (message: string) => void,
  ) {}

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
    this.writing = this.dumpAndWrite().catch((e: unknown) => this.onError((e as Error).message)).finally(() => {
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

  private async dumpAndWrite(): Promise<void> {
    let text: string;
    this.dumpStart = performance.now();
    for (let tries = 0; ; tries++) {
      const gen = this.gen;
      const sliced = tries < SLICED_TRIES;
      text = `${await this.dump(STATE_HEADER, sliced)}${STATE_END}\n`;
      if (!sliced || gen === this.gen) {
        this.dumpedGen = gen;
        break;
      }
    }
    this.dumpMs = performance.now() - this.dumpStart;
    if (text === this.saved) return;
    await writeDurably(this.file, text);
    this.saved = text;
  }
}
