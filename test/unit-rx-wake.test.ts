// The receive loop's frame budget (native/rx.cc, uvsd --rx-budget): after each budget of frames
// the addon returns to the event loop only when something else waits for it (a timer due, an
// immediate, another fd ready); with nothing else to do it goes on draining, up to 8 budgets per
// readiness event, so a flood costs few loop turns (each allocates in Node) while control,
// metrics and health still get the loop after one budget. The flood: `yes` writing into a FIFO
// that rxStart reads (one read() per "frame" on a fd without io_uring).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { native } from '../src/datapath/port.js';

const STRIDE = 2048;
const MAX = 16;
const BUDGET = 64;
const BUDGETS_PER_WAKE = 8;

/** Frames per readiness event while `others` keeps the rest of the loop busy (or not) for ms. */
async function framesPerWake(others: 'none' | 'immediates' | 'fd', ms = 300): Promise<{ perWake: number; frames: number }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'uvs-rx-'));
  const fifo = path.join(dir, 'flood');
  execFileSync('mkfifo', [fifo]);
  const fd = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
  const w = openSync(fifo, constants.O_WRONLY);
  const flood = spawn('yes', ['uvs'], { stdio: ['ignore', w, 'ignore'] });
  closeSync(w);
  let busy: ChildProcess | null = null;
  let running = true;
  try {
    if (others === 'immediates') {
      const again = (): void => {
        if (running) setImmediate(again);
      };
      setImmediate(again);
    } else if (others === 'fd') {
      // Another fd in libuv's set that is ready nearly all the time: a child's stdout pipe.
      busy = spawn('yes', ['busy'], { stdio: ['ignore', 'pipe', 'ignore'] });
      busy.stdout!.on('data', () => undefined);
    }
    const buf = Buffer.alloc(STRIDE * MAX);
    const lens = new Uint32Array(MAX);
    const h = native.rxStart(fd, buf, STRIDE, lens, MAX, () => undefined, BUDGET);
    await sleep(ms);
    h.stop();
    const s = h.stats();
    return { perWake: s.frames / s.wakes, frames: s.frames };
  } finally {
    running = false;
    flood.kill();
    busy?.kill();
    closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  }
}

test('rx budget: with nothing else waiting a wake drains several budgets; a pending immediate or another ready fd gets the loop after one', async (t) => {
  // Alone, a wake can only drain more than one budget while `yes` refills the FIFO (64 KiB, ~32
  // reads) from the other core; on a loaded machine it may not keep up, so up to three tries.
  let alone = await framesPerWake('none');
  for (let i = 1; i < 3 && alone.perWake <= 2 * BUDGET; i++) {
    t.diagnostic(`alone, try ${i}: ${alone.perWake.toFixed(1)} frames per wake: the flood did not keep up, again`);
    alone = await framesPerWake('none');
  }
  const immediates = await framesPerWake('immediates');
  const fd = await framesPerWake('fd');
  const show = (r: { perWake: number; frames: number }): string => `${r.perWake.toFixed(1)} frames per wake (${r.frames} frames)`;
  t.diagnostic(`alone: ${show(alone)}; immediates: ${show(immediates)}; another fd: ${show(fd)}`);
  for (const r of [alone, immediates, fd]) assert.ok(r.frames > 10 * BUDGET, `the flood arrived: ${show(r)}`);
  assert.ok(alone.perWake > 2 * BUDGET && alone.perWake <= BUDGETS_PER_WAKE * BUDGET, `alone: ${show(alone)}`);
  // Never more than one budget while immediates are pending (libuv's backend timeout is 0).
  assert.ok(immediates.perWake <= BUDGET, `with immediates: ${show(immediates)}`);
  // The other fd is drained by its own callback between wakes, so now and then it is not ready.
  assert.ok(fd.perWake < 2 * BUDGET, `with another ready fd: ${show(fd)}`);
});
