// The thread HTTP_GET's regex matches run on (regex.ts RegexMatcher): a match that runs away
// takes this thread, which is terminated, never uvsd's main thread.
import { readlinkSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';
import { setPriority } from 'node:os';
import { bodyMatches, ThreadCpu, type RegexUrl, type RegexWorkerMessage } from './regex.js';

// Below the datapath's priority (Linux: pid 0 is this thread alone), as the config reader thread.
try {
  setPriority(0, 10);
} catch {
  // not allowed here: at the same priority
}
// This thread's CPU time, read after each answer: the matcher compares the thread's CPU time with
// it when a match reaches its limit (a starved thread has used less, and gets the rest).
const cpu = ThreadCpu.open('/proc/thread-self');
let tid: number | undefined;
try {
  tid = Number(/\/task\/(\d+)$/.exec(readlinkSync('/proc/thread-self'))?.[1]) || undefined;
} catch {
  // no /proc: the matcher's limit is wall time
}
const post = (m: RegexWorkerMessage): void => parentPort!.postMessage(m);
parentPort!.on('message', ({ url, body }: { url: RegexUrl; body: Uint8Array }) => {
  let matched: boolean;
  try {
    matched = bodyMatches(url, Buffer.from(body.buffer, body.byteOffset, body.byteLength));
  } catch (e) {
    post({ error: (e as Error).message, cpuMs: cpu?.ms() });
    return;
  }
  post({ matched, cpuMs: cpu?.ms() });
});
// Ready once the handler is installed: the matcher's first limit does not count this start-up.
post({ ready: true, tid, clock: cpu?.clock, cpuMs: cpu?.ms() });
