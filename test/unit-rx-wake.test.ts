// The receive loop's frame budget (native/rx.cc, uvsd --rx-budget): after each budget of frames
// the addon returns to the event loop only when something else waits for it (a timer due, an
// immediate, another fd ready); with nothing else to do it goes on draining, up to 8 budgets per
// readiness event, so a flood costs few loop turns (each allocates in Node) while control,
// metrics and health still get the loop after one budget.
//
// The flood: a FIFO filled before rxStart reads it (one read() per 16-byte "frame" on a fd
// without io_uring), its writer kept open, so the count does not depend on another process
// keeping up (a concurrent writer made this test flaky on a loaded machine). The other ready fd:
// a second rx handle on a second filled FIFO, a watcher in libuv's epoll set that stays ready
// until it is drained.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { native } from '../src/datapath/port.js';

const STRIDE = 16;
const MAX = 64;
const BUDGET = 16;
const BUDGETS_PER_WAKE = 8;

interface Flood {
  frames: number;
  start(): { stop(): void; stats(): { wakes: number; frames: number } };
  close(): void;
}

/** A FIFO holding as many STRIDE-byte frames as its buffer takes, its writer open (no EOF). */
function filledFifo(dir: string, name: string): Flood {
  const fifo = path.join(dir, name);
  execFileSync('mkfifo', [fifo]);
  const fd = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
  const w = openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK);
  const chunk = Buffer.alloc(STRIDE * 256, 0x61);
  let bytes = 0;
  for (;;) {
    try {
      bytes += writeSync(w, chunk);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EAGAIN') break;
      throw e;
    }
  }
  const buf = Buffer.alloc(STRIDE * MAX);
  const lens = new Uint32Array(MAX);
  return {
    frames: Math.floor(bytes / STRIDE),
    start: () => native.rxStart(fd, buf, STRIDE, lens, MAX, () => undefined, BUDGET),
    close: () => {
      closeSync(w);
      closeSync(fd);
    },
  };
}

/** Frames per readiness event while `others` keeps the rest of the loop busy (or not). */
async function framesPerWake(others: 'none' | 'immediates' | 'fd'): Promise<{ perWake: number; frames: number; filled: number }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'uvs-rx-'));
  const floods: Flood[] = [];
  let running = true;
  try {
    const flood = filledFifo(dir, 'flood');
    floods.push(flood);
    if (others === 'immediates') {
      const again = (): void => {
        if (running) setImmediate(again);
      };
      setImmediate(again);
    }
    const other = others === 'fd' ? filledFifo(dir, 'other') : null;
    if (other) floods.push(other);
    const h = flood.start();
    const o = other?.start();
    // No timer falls due while the FIFOs drain (a few ms): the sleep's own is far off.
    await sleep(300);
    h.stop();
    o?.stop();
    const s = h.stats();
    return { perWake: s.frames / s.wakes, frames: s.frames, filled: flood.frames };
  } finally {
    running = false;
    for (const f of floods) f.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

test('rx budget: with nothing else waiting a wake drains several budgets; a pending immediate or another ready fd gets the loop after one', async (t) => {
  const alone = await framesPerWake('none');
  const immediates = await framesPerWake('immediates');
  const fd = await framesPerWake('fd');
  const show = (r: { perWake: number; frames: number; filled: number }): string =>
    `${r.perWake.toFixed(1)} frames per wake (${r.frames} of ${r.filled} frames)`;
  t.diagnostic(`alone: ${show(alone)}; immediates: ${show(immediates)}; another fd: ${show(fd)}`);
  for (const r of [alone, immediates, fd]) {
    assert.ok(r.filled >= 4 * BUDGETS_PER_WAKE * BUDGET, `the FIFO took a flood: ${show(r)}`);
    assert.equal(r.frames, r.filled, `every frame read: ${show(r)}`);
  }
  // Alone: every wake but the last drains the full 8 budgets.
  const wakes = Math.ceil(alone.filled / (BUDGETS_PER_WAKE * BUDGET));
  assert.equal(alone.perWake, alone.frames / wakes, `alone: ${show(alone)}`);
  // Never more than one budget while immediates are pending (libuv's backend timeout is 0).
  assert.ok(immediates.perWake <= BUDGET, `with immediates: ${show(immediates)}`);
  // The other handle is ready until it is drained (it reads a budget per wake too): one budget
  // per wake while both hold frames.
  assert.ok(fd.perWake < 2 * BUDGET, `with another ready fd: ${show(fd)}`);
});

test('rx below full rate: a drained wake waits for the next frame inside the addon (no loop turn per frame), yet a timer due still gets the loop on time', async (t) => {
  // One frame every 2 ms from another process: before, each was a readiness event and a loop
  // turn of its own (Node allocates ~56 bytes on every turn). Now the addon waits in libuv's
  // epoll set for the next one while nothing else is due; a 50 ms interval timer still runs.
  const FRAMES = 200;
  const dir = mkdtempSync(path.join(tmpdir(), 'uvs-rx-'));
  const fifo = path.join(dir, 'trickle');
  execFileSync('mkfifo', [fifo]);
  const fd = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
  const writer = spawn(process.execPath, ['-e', `
    const fs = require('node:fs');
    const fd = fs.openSync(${JSON.stringify(fifo)}, 'w');
    let i = 0;
    const t = setInterval(() => { fs.writeSync(fd, Buffer.alloc(${STRIDE}, 97)); if (++i === ${FRAMES}) clearInterval(t); }, 2);
    setTimeout(() => undefined, 60_000); // keeps the FIFO open (no EOF) until killed
  `], { stdio: 'ignore' });
  const buf = Buffer.alloc(STRIDE * MAX);
  const lens = new Uint32Array(MAX);
  let batches = 0;
  const h = native.rxStart(fd, buf, STRIDE, lens, MAX, () => void batches++, BUDGET);
  const ticks: number[] = [];
  const started = performance.now();
  const tick = setInterval(() => ticks.push(performance.now() - started), 50);
  try {
    const end = Date.now() + 10_000;
    while (h.stats().frames < FRAMES && Date.now() < end) await sleep(100);
  } finally {
    clearInterval(tick);
    h.stop();
    writer.kill();
    closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  }
  const s = h.stats();
  const ms = performance.now() - started;
  // Node reschedules an interval from when it ran: each tick's lateness is against the one before.
  const late = ticks.map((at, i) => at - (i === 0 ? 0 : ticks[i - 1]!) - 50);
  t.diagnostic(`${s.frames} frames in ${batches} batches, ${s.wakes} wakes (${(s.frames / s.wakes).toFixed(1)} frames per wake) over ${ms.toFixed(0)} ms; ${ticks.length} ticks of the 50 ms timer, latest ${Math.max(...late).toFixed(1)} ms late`);
  assert.equal(s.frames, FRAMES);
  // A loop turn at most per timer tick (and per 100 ms sleep), not per frame.
  assert.ok(s.wakes <= ticks.length + ms / 100 + 5, `${s.wakes} wakes for ${FRAMES} frames and ${ticks.length} ticks`);
  assert.ok(s.frames / s.wakes >= 5, `frames per wake ${(s.frames / s.wakes).toFixed(1)}`);
  // The timer ran whenever it was due: a wait that ignored it would hold the loop until the frame
  // bound per wake (8 budgets of 16 frames, 2 ms apart: ~250 ms), so 100 ms late is a failure
  // while a loaded machine's scheduling delays stay far below it.
  assert.ok(ticks.length >= 3, `${ticks.length} ticks in ${ms.toFixed(0)} ms`);
  assert.ok(Math.max(...late) < 100, `a tick ${Math.max(...late).toFixed(1)} ms late`);
});
