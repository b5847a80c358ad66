// uvsd --state-file: the table written after every change and read back at start
// (docs/resilience.md). A rename without fsync can leave a 0-byte file after a power loss
// (ext4's delayed allocation): the file and then its directory are fsynced.

import { open, rename } from 'node:fs/promises';
import { dirname } from 'node:path';

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
 * The writer: changed() after every change of the table; the table is dumped once per turn of
 * the event loop however many changes ran in it (after the control reply is sent), and written
 * only when its text differs from the last one written. One write at a time: changes made during
 * a write are written after it.
 */
export class StateFile {
  private saved = '';
  private queued = false;
  private writing: Promise<void> | undefined;
  private again = false;

  constructor(
    readonly file: string,
    /** The table as a config file (ConfigManager.dump). */
    private readonly dump: () => string,
    private readonly onError: (message: string) => void,
  ) {}

  changed(): void {
    if (this.queued) return;
    this.queued = true;
    setImmediate(() => this.save());
  }

  /** Resolves once every change so far is on disk (or its write failed and was reported). */
  async flush(): Promise<void> {
    while (this.queued || this.writing !== undefined) {
      await (this.writing ?? new Promise((r) => setImmediate(r)));
    }
  }

  private save(): void {
    this.queued = false;
    if (this.writing !== undefined) {
      this.again = true;
      return;
    }
    const text = this.dump();
    if (text === this.saved) return;
    this.writing = writeDurably(this.file, text).then(
      () => {
        this.saved = text;
      },
      (e: unknown) => this.onError((e as Error).message),
    ).finally(() => {
      this.writing = undefined;
      if (this.again) {
        this.again = false;
        this.save();
      }
    });
  }
}
