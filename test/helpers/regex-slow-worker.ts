// A regex thread as a starved one runs (RegexMatcher's script in a test): it waits off the CPU,
// 150 ms before its handler is installed and 150 ms before each match, then is uvs's own.
import { parentPort } from 'node:worker_threads';

const wait = (ms: number): unknown => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
wait(150);
parentPort!.on('message', () => wait(150)); // before regex-worker's handler: listeners run in order
await import('../../src/health/regex-worker.js');
