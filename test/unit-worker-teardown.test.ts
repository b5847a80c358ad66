// test-class: lab
// A worker thread that ends while its port is polling (native/rx.cc's rxStart): an uncaught
// error, process.exit() or terminate(). Node closes a worker's event loop when the thread ends
// and aborts the whole process if a handle is still open there ("uv_loop_close() while having
// open handles", exit 134); the addon closes its poll handle when the worker's environment is
// torn down (napi_add_env_cleanup_hook). With uvsd --workers the error then reaches the main
// thread (DatapathGroup.onFatal), which stops uvsd in order. The queues here are FIFOs (rxStart
// polls any fd), so no namespace or root is needed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { Worker } from 'node:worker_threads';
import { parseMac } from '../src/datapath/addr.js';
import { DatapathGroup } from '../src/datapath/group.js';
import { RX_HEADROOM } from '../src/datapath/pipeline.js';
import type { TapInfo } from '../src/datapath/port.js';

const ADDON = fileURLToPath(new URL('../../build/Release/uvs_native.node', import.meta.url));

/** A FIFO opened read-write (never EOF, never ready: nothing is written to it). */
function fifo(dir: string, name: string): number {
  const path = join(dir, name);
  execFileSync('mkfifo', [path]);
  return openSync(path, constants.O_RDWR | constants.O_NONBLOCK);
}

// In a child process, so an abort is an exit code here rather than the end of this file's run.
// The worker's code is CommonJS (execArgv: not the child's --input-type=module).
const CHILD = `
import { Worker } from 'node:worker_threads';
const [addon, fifo] = process.argv.slice(1);
const body = \`
  const { parentPort, workerData } = require('node:worker_threads');
  const fs = require('node:fs');
  const native = require(workerData.addon);
  native.rxStart(fs.openSync(workerData.fifo, 'r+'), Buffer.alloc(64), 16, new Uint32Array(4), 4, () => {});
  if (workerData.how === 'throw') throw new Error('boom');
  if (workerData.how === 'exit') process.exit(3);
  parentPort.postMessage('polling');
\`;
for (const how of ['throw', 'exit', 'terminate']) {
  const seen = await new Promise((resolve) => {
    const w = new Worker(body, { eval: true, execArgv: [], workerData: { addon, fifo, how } });
    let error = null;
    w.on('error', (e) => { error = e.message; });
    w.on('message', () => void w.terminate());
    w.on('exit', (code) => resolve({ how, error, code }));
  });
  console.log(JSON.stringify(seen));
}
console.log(JSON.stringify({ how: 'main', alive: true }));
`;

test('a worker thread polling a port (rxStart) that throws, calls process.exit(3) or is terminated ends alone: the process goes on, the error reaches the main thread (before: Node aborted the process, exit 134)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'uvs-teardown-'));
  try {
    const path = join(dir, 'q');
    execFileSync('mkfifo', [path]);
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', CHILD, ADDON, path], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(r.status, 0, `child exited ${r.status} ${r.signal ?? ''}; stderr: ${r.stderr.slice(0, 1500)}`);
    assert.deepEqual(r.stdout.trim().split('\n').map((l) => JSON.parse(l) as unknown), [
      { how: 'throw', error: 'boom', code: 1 },
      { how: 'exit', error: null, code: 3 },
      { how: 'terminate', error: null, code: 1 },
      { how: 'main', alive: true },
    ]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--workers: an error nothing catches in a worker reaches DatapathGroup.onFatal (uvsd logs it as one line and stops in order), the process goes on, and close() does not wait for the dead worker', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'uvs-teardown-'));
  const queues: TapInfo[] = [0, 1].map((i) => ({
    fd: fifo(dir, `q${i}`), name: `q${i}`, ifindex: 0, created: false, mac: '', vnetHdr: 0, offload: 0, offloadError: '', qlen: 0,
  }));
  try {
    const group = new DatapathGroup(queues, { io: 'syscalls', stride: 2048, batch: 64, headroom: RX_HEADROOM, budget: 64 },
      { mac: parseMac('02:00:00:00:00:01'), addrs: [], connMax: 1024 });
    const fatal: string[] = [];
    group.onFatal = (err) => fatal.push(err.message);
    await group.ready();
    // Worker 1 throws in its message handler (a frame to send that is none).
    (group as unknown as { links: { w: Worker }[] }).links[1]!.w.postMessage({ t: 'tx', frames: [null] });
    for (let i = 0; i < 100 && fatal.length < 2; i++) await sleep(20);
    assert.match(fatal[0] ?? '', /^worker 1: Cannot read properties of null \(reading 'buffer'\)$/);
    assert.deepEqual(fatal.slice(1), ['worker 1 exited (code 1)']);
    const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = timers();
    const t0 = performance.now();
    await group.close();
    const ms = performance.now() - t0;
    assert.ok(ms < 900, `close() took ${ms.toFixed(0)} ms (it waited for the dead worker)`);
    // Its bound on each worker's end is cleared once the worker ended (it kept this file's
    // process alive 1 s after its last test).
    assert.equal(timers(), before, 'close() left a timer behind');
  } finally {
    // Worker 0 closed its queue; worker 1's fd is still open (its poll handle was closed).
    closeSync(queues[1]!.fd);
    rmSync(dir, { recursive: true, force: true });
  }
});
