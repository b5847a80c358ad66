// readConfig off the event loop, for reloads: parsing the YAML of 2,000 services takes 300-470 ms
// and its shape check 70-100 ms (10,000: over a second), which held forwarding for all of it.
// A keepalived.conf likewise (loadKeepalivedFile: 48-265 ms for 2,000 virtual servers).
// A worker thread reads, parses and checks the file; the result comes back as plain data in
// parts, each deserialized in its own slice (pause() between them). uvsd's start and
// --check-config read the file on the loop (readConfig): nothing is forwarded yet.
import { Worker } from 'node:worker_threads';
import { deserialize } from 'node:v8';
import type { ConfigFile, DesiredService } from './config.js';
import type { VirtualServerSpec } from '../health/types.js';
import { UvsError, type ErrorCode } from './errors.js';
import type { Pause } from './slices.js';

type Outcome = { parts: ArrayBuffer[] } | { error: { code: ErrorCode; detail?: string; text: string } | { message: string } };

/** readConfig(file) in a worker thread: the same ConfigFile, or the same error (a BAD_CONFIG naming FILE:LINE). */
export async function readConfigOffThread(file: string, pause: Pause): Promise<ConfigFile> {
  const { rest, services } = await offThread<Omit<ConfigFile, 'services'>, DesiredService>('config', file, pause);
  return { ...rest, services } as ConfigFile;
}

/** loadKeepalivedFile(file) in a worker thread, as ConfigSources.loadKeepalived gives it, or its error ("FILE:LINE: problem"). */
export async function loadKeepalivedOffThread(file: string, pause: Pause, configId?: string): Promise<{ services: VirtualServerSpec[]; warnings: string[] }> {
  const { rest, services } = await offThread<{ warnings: string[] }, VirtualServerSpec>('keepalived', file, pause, configId);
  return { ...rest, services };
}

/**
 * The reader thread started once, reading nothing, its empty answer taken as a reload takes one:
 * a process's first Worker costs its thread ~4 ms of CPU in the constructor (the worker's stdio
 * streams, first made then, and code run the first time) and ~3 more while it starts and ends
 * (0.8-1.4 ms in all for every later one). uvsd runs this at start (nothing is served yet), so a
 * reload's thread is never the first. Resolves with the (empty) answer; the thread is then kept as
 * after a reload (READER_KEEP_MS).
 */
export async function warmConfigThread(): Promise<void> {
  await offThread('warm', '', () => new Promise<void>((resolve) => setImmediate(resolve)));
}

type Job = { file: string; kind: 'config' | 'keepalived' | 'warm'; configId?: string };

/**
 * A reader thread is kept this long (ms) after its last answer, then ended (its heap, which a
 * large file's parse grew, goes back to the system). A thread's first parse runs code V8 has not
 * compiled yet: a 2,000-service file took 1.05 s of its CPU the first time, 0.39-0.49 s the third
 * and later; reloads in a row (a --dry-run, then the reload) find it warm.
 */
export const READER_KEEP_MS = 60_000;

/**
 * An answer larger than this (its parts' bytes: ~50,000 servers make 7 MB) ends the thread at
 * once instead: such a parse grew its heap by hundreds of MB (a 50,000-server file: RSS +270 MB,
 * kept for the 60 s, and a reload every minute kept it for good), which matters more than the
 * next reload's warm start (a second or two of its several).
 */
export const READER_KEEP_MAX_BYTES = 2 << 20;

/** The config reader thread: one at a time, started for a job, kept keepMs (READER_KEEP_MS) after it (unref'd: it keeps no process alive while it waits). */
class ReaderThread {
  private worker: Worker | undefined;
  /** The job being answered: its settlement. */
  private current: { resolve: (o: Outcome) => void; reject: (e: Error) => void } | undefined;
  /** Jobs that wait for it (reloads run one at a time anyway: this keeps the thread's answers in order). */
  private readonly waiting: Array<{ job: Job; resolve: (o: Outcome) => void; reject: (e: Error) => void }> = [];
  private idle: NodeJS.Timeout | undefined;
  /** How many threads were started (tests). */
  started = 0;
  /** How long an idle thread is kept (ms; tests shorten it). */
  keepMs = READER_KEEP_MS;
  /** An answer larger than this ends the thread at once (READER_KEEP_MAX_BYTES; tests lower it). */
  keepMaxBytes = READER_KEEP_MAX_BYTES;

  /** The thread's outcome for `job`; with nothing in hand, the thread is started (or sent the job) before this returns. */
  run(job: Job): Promise<Outcome> {
    return new Promise<Outcome>((resolve, reject) => {
      this.waiting.push({ job, resolve, reject });
      if (this.current === undefined) this.next();
    });
  }

  private next(): void {
    const j = this.waiting.shift();
    if (j === undefined) return;
    clearTimeout(this.idle);
    this.current = j;
    if (this.worker === undefined) this.start(j.job);
    else {
      this.worker.ref();
      this.worker.postMessage(j.job);
    }
  }

  private start(job: Job): void {
    const w = new Worker(new URL('./config-worker.js', import.meta.url), { workerData: job });
    this.worker = w;
    this.started++;
    w.on('message', (m: Outcome) => {
      const c = this.current;
      this.current = undefined;
      w.unref();
      const bytes = 'parts' in m ? m.parts.reduce((n, p) => n + p.byteLength, 0) : 0;
      this.idle = setTimeout(() => this.end(w), bytes > this.keepMaxBytes ? 0 : this.keepMs).unref();
      c?.resolve(m);
      this.next();
    });
    // An error or an exit of the thread in use fails its job; one ended by end() is no longer in use.
    const gone = (e: Error): void => {
      if (this.worker !== w) return;
      this.worker = undefined;
      const c = this.current;
      this.current = undefined;
      c?.reject(e);
      this.next();
    };
    w.once('error', gone);
    w.once('exit', (code) => gone(new Error(`the config reader thread exited with code ${code} before answering`)));
  }

  private end(w: Worker): void {
    if (this.worker !== w || this.current !== undefined) return;
    this.worker = undefined;
    void w.terminate();
  }
}

/** The process's reader thread. */
export const readerThread = new ReaderThread();

/** The reader thread's outcome for `file`: what it read besides the services, and the services, a part per slice. */
async function offThread<R, S>(kind: Job['kind'], file: string, pause: Pause, configId?: string): Promise<{ rest: R; services: S[] }> {
  const answer = readerThread.run({ file, kind, configId });
  // The loop is free while the thread works: the wait is no slice of the reload's.
  await pause(answer);
  const out = await answer;
  if ('error' in out) {
    const e = out.error;
    throw 'code' in e ? new UvsError(e.code, e.detail, e.text) : new Error(e.message);
  }
  const [head, ...parts] = out.parts;
  const rest = deserialize(Buffer.from(head!)) as R;
  const services: S[] = [];
  for (const p of parts) {
    await pause();
    for (const s of deserialize(Buffer.from(p)) as S[]) services.push(s);
  }
  return { rest, services };
}
