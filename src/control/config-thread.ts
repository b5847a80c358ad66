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
 * reload's thread is never the first. Resolves when the thread has ended.
 */
export async function warmConfigThread(): Promise<void> {
  await offThread('warm', '', () => new Promise<void>((resolve) => setImmediate(resolve)));
}

/** The reader thread's outcome for `file`: what it read besides the services, and the services, a part per slice. */
async function offThread<R, S>(kind: 'config' | 'keepalived' | 'warm', file: string, pause: Pause, configId?: string): Promise<{ rest: R; services: S[] }> {
  const answer = new Promise<Outcome>((resolve, reject) => {
    const w = new Worker(new URL('./config-worker.js', import.meta.url), { workerData: { file, kind, configId } });
    let got: Outcome | undefined;
    w.once('message', (m: Outcome) => { got = m; });
    w.once('error', reject);
    w.once('exit', (code) => (got !== undefined ? resolve(got) : reject(new Error(`the config reader thread exited with code ${code} before answering`))));
  });
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
