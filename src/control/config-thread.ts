// readConfig off the event loop, for reloads: parsing the YAML of 2,000 services takes 300-470 ms
// and its shape check 70-100 ms (10,000: over a second), which held forwarding for all of it.
// A worker thread reads, parses and checks the file; the result comes back as plain data in
// parts, each deserialized in its own slice (pause() between them). uvsd's start and
// --check-config read the file on the loop (readConfig): nothing is forwarded yet.
import { Worker } from 'node:worker_threads';
import { deserialize } from 'node:v8';
import type { ConfigFile, DesiredService } from './config.js';
import { UvsError, type ErrorCode } from './errors.js';
import type { Pause } from './slices.js';

type Outcome = { parts: ArrayBuffer[] } | { error: { code: ErrorCode; detail?: string; text: string } | { message: string } };

/** readConfig(file) in a worker thread: the same ConfigFile, or the same error (a BAD_CONFIG naming FILE:LINE). */
export async function readConfigOffThread(file: string, pause: Pause): Promise<ConfigFile> {
  const answer = new Promise<Outcome>((resolve, reject) => {
    const w = new Worker(new URL('./config-worker.js', import.meta.url), { workerData: { file } });
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
  const cfg = deserialize(Buffer.from(head!)) as Omit<ConfigFile, 'services'>;
  const services: DesiredService[] = [];
  for (const p of parts) {
    await pause();
    for (const s of deserialize(Buffer.from(p)) as DesiredService[]) services.push(s);
  }
  return { ...cfg, services } as ConfigFile;
}
