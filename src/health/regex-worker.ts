// The thread HTTP_GET's regex matches run on (regex.ts RegexMatcher): a match that runs away
// takes this thread, which is terminated, never uvsd's main thread.
import { parentPort } from 'node:worker_threads';
import { setPriority } from 'node:os';
import { bodyMatches, type RegexUrl } from './regex.js';

// Below the datapath's priority (Linux: pid 0 is this thread alone), as the config reader thread.
try {
  setPriority(0, 10);
} catch {
  // not allowed here: at the same priority
}
parentPort!.on('message', ({ url, body }: { url: RegexUrl; body: Uint8Array }) => {
  try {
    parentPort!.postMessage({ matched: bodyMatches(url, Buffer.from(body.buffer, body.byteOffset, body.byteLength)) });
  } catch (e) {
    parentPort!.postMessage({ error: (e as Error).message });
  }
});
