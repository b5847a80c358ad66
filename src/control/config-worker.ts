// The body of the config reader thread (config-thread.ts): reads and checks the --config file
// as readConfig does (or a keepalived.conf as loadKeepalivedFile does) and posts the outcome,
// the services (virtual servers) cut into parts of
// PART_SERVICES so that the event loop takes them a part at a time. v8.serialize keeps what a
// structured clone of the whole would not: Buffers (a check's payload) stay Buffers.
import { parentPort, workerData } from 'node:worker_threads';
import { serialize } from 'node:v8';
import { setPriority } from 'node:os';
import { readConfig } from './config.js';
import { loadKeepalivedFile } from '../health/load.js';
import { UvsError } from './errors.js';

/** Services per part: ~0.3 ms to deserialize on these machines. */
const PART_SERVICES = 64;

/** A keepalived.conf as ConfigSources.loadKeepalived reads it. */
function keepalived(f: string, configId: string | undefined): { services: unknown[]; warnings: string[] } {
  const r = loadKeepalivedFile(f, configId);
  return { services: r.config.services, warnings: r.warnings };
}

/** An ArrayBuffer of its own (transferable) with b's bytes. */
const own = (b: Buffer): ArrayBuffer => b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;

type Job = { file: string; kind: 'config' | 'keepalived' | 'warm'; configId?: string };

// Below the datapath's priority (Linux: pid 0 is this thread alone): on a 2-CPU host the parse
// takes the CPU the datapath has no use for, not the one it needs.
try {
  setPriority(0, 10);
} catch {
  // not allowed here: at the same priority
}

/** One job: the outcome posted, the services in parts (transferred). */
function answer({ file, kind, configId }: Job): void {
  try {
    // 'warm' (warmConfigThread): nothing read, an empty answer.
    const { services, ...rest } = kind === 'warm' ? { services: [] } : kind === 'keepalived' ? keepalived(file, configId) : readConfig(file);
    const parts = [own(serialize(rest))];
    for (let i = 0; i < services.length; i += PART_SERVICES) parts.push(own(serialize(services.slice(i, i + PART_SERVICES))));
    parentPort!.postMessage({ parts }, parts);
  } catch (e) {
    const err = e as Error;
    parentPort!.postMessage({ error: e instanceof UvsError ? { code: e.code, detail: e.detail, text: e.text } : { message: err.message ?? String(e) } });
  }
}

// The thread is kept between jobs (config-thread.ts ReaderThread): the first job comes with the
// thread, the later ones as messages.
answer(workerData as Job);
parentPort!.on('message', answer);
