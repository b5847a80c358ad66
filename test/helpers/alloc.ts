// Shared by the allocation tests (unit-alloc*.test.ts): a sink that keeps nothing, the young
// generation's use, and the child process that measures a window under --trace-gc.
import { execFileSync } from 'node:child_process';
import { getHeapSpaceStatistics } from 'node:v8';
import { Session } from 'node:inspector/promises';
import type { FrameSink } from '../../src/datapath/pipeline.js';

/** Count-only sink: nothing kept, nothing allocated. */
export class CountSink implements FrameSink {
  frames = 0;
  send(_buf: Buffer, _offs: Uint32Array, _lens: Uint32Array, count: number): number {
    this.frames += count;
    return count;
  }
}

export function newSpaceUsed(): number {
  return getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_used_size ?? 0;
}

/** In the child: mark the measured window (after a full GC, so it starts with an empty young generation). */
export function windowStart(): void {
  (globalThis as { gc?: () => void }).gc?.();
  process.stdout.write('\nMEASURE-START\n');
}

export function windowEnd(): void {
  process.stdout.write('\nMEASURE-END\n');
}

/** In the child: the result, on a line of its own (GC trace lines may follow). */
export function report(result: unknown): void {
  process.stdout.write('\n' + JSON.stringify(result) + '\n');
}

/** Young generation of a fixed 64 MiB: a million frames at under a byte each fit without a collection. */
export const BIG_YOUNG = ['--min-semi-space-size=64', '--max-semi-space-size=64'];

/**
 * Run `file --child ...args` with these V8 flags under --trace-gc and return its result with the
 * scavenges counted inside the window. --no-concurrent-recompilation: optimising compiles run on
 * the main thread, so the warm-up surely ends in optimised code (on a loaded machine a background
 * compile can still be pending, and the window would then measure baseline code, which boxes).
 */
export function runChild<T>(file: string, args: string[], flags: string[] = []): T & { scavenges: number } {
  const out = execFileSync(process.execPath, ['--no-concurrent-recompilation', ...flags, '--expose-gc', '--trace-gc', file, '--child', ...args], { encoding: 'utf8' });
  const window = out.slice(out.indexOf('MEASURE-START'), out.indexOf('MEASURE-END'));
  const json = out.slice(out.lastIndexOf('\n{') + 1);
  const r = JSON.parse(json.slice(0, json.indexOf('\n')), (_k, v: unknown) => (v === null ? Infinity : v)) as T;
  return { ...r, scavenges: (window.match(/Scavenge/g) ?? []).length };
}

/**
 * Rounds run before a window: with --no-concurrent-recompilation (runChild) the hot functions are
 * optimised within the first few hundred batches; 3,000 measured the same bytes per frame as
 * 20,000 (2026-12-03: 0.252 / 0.502 for every mode of unit-alloc-modes) in half the time.
 */
export const WARM_ROUNDS = 3000;

/**
 * In the child: call `step` `warm` times (so the JIT settles), then `rounds` times inside the
 * measured window; returns the young-generation bytes used during the window.
 */
export function measureRounds(step: () => void, rounds: number, warm = WARM_ROUNDS): number {
  for (let k = 0; k < warm; k++) step();
  windowStart();
  const used0 = newSpaceUsed();
  for (let k = 0; k < rounds; k++) step();
  const used1 = newSpaceUsed();
  windowEnd();
  return used1 - used0;
}

/**
 * A receive batch as Datapath.processBatch reads it: `count` slots of `stride` bytes after `pre`
 * bytes of room (for a vnet header in front of the first frame); put(i, frame) copies a frame into
 * slot i and records its length (plus `vh`, the vnet header bytes in front of it).
 */
export function frameBatch(count: number, o: { stride?: number; pre?: number; vh?: number } = {}): {
  buf: Buffer; lens: Uint32Array; stride: number; put: (i: number, f: Uint8Array) => void;
} {
  const stride = o.stride ?? 2048;
  const pre = o.pre ?? 0;
  const vh = o.vh ?? 0;
  const buf = Buffer.alloc(pre + stride * count);
  const lens = new Uint32Array(count);
  return {
    buf, lens, stride,
    put: (i, f) => {
      buf.set(f, pre + i * stride);
      lens[i] = f.length + vh;
    },
  };
}

interface HeapNode { callFrame: { url: string; functionName: string }; selfSize: number; children: HeapNode[] }

/**
 * Bytes fn() allocates on the JS heap (V8's sampling heap profiler every 1 KiB, collected objects
 * included), but those allocated in code whose script URL `skip` names, and those a function
 * `self` names allocated itself (not in what it calls).
 */
export async function allocated(fn: () => Promise<unknown>, skip?: (url: string) => boolean, self?: (url: string, name: string) => boolean): Promise<number> {
  const total = (n: HeapNode): number => (skip?.(n.callFrame.url) ? 0
    : n.children.reduce((s, c) => s + total(c), self?.(n.callFrame.url, n.callFrame.functionName) ? 0 : n.selfSize));
  const s = new Session();
  s.connect();
  try {
    await s.post('HeapProfiler.startSampling', { samplingInterval: 1024, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
    await fn();
    const { profile } = await s.post('HeapProfiler.stopSampling');
    return total(profile.head as HeapNode);
  } finally {
    s.disconnect();
  }
}

/** In a child run with --expose-gc: the JS heap in use after two full collections, its code spaces left out (code the JIT makes meanwhile is not what is kept). */
export function heldBytes(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('run with --expose-gc');
  gc();
  gc();
  return getHeapSpaceStatistics().filter((s) => !s.space_name.startsWith('code')).reduce((n, s) => n + s.space_used_size, 0);
}

/**
 * fn()'s result and the size of the largest object it allocated on the JS heap (V8's sampling heap
 * profiler every 1 KiB, collected objects included: an object of 64 KiB or more is all but
 * surely sampled). A Buffer's bytes are outside the heap: not counted.
 */
export async function largestAllocated<T>(fn: () => Promise<T>): Promise<{ result: T; largest: number }> {
  const { result, sizes } = await largeAllocations(fn, 0);
  return { result, largest: Math.max(0, ...sizes) };
}

/** fn()'s result and the sizes of the objects of at least `min` bytes it allocated on the JS heap (sampled as largestAllocated's). */
export async function largeAllocations<T>(fn: () => Promise<T>, min: number): Promise<{ result: T; sizes: number[] }> {
  const s = new Session();
  s.connect();
  try {
    await s.post('HeapProfiler.startSampling', { samplingInterval: 1024, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
    const result = await fn();
    const { profile } = await s.post('HeapProfiler.stopSampling');
    // Each sample: an object's size (the protocol's SamplingHeapProfileSample; not in @types/node).
    const samples = (profile as { samples?: Array<{ size: number }> }).samples;
    if (samples === undefined) throw new Error('no samples in the heap profile');
    return { result, sizes: samples.filter((x) => x.size >= min).map((x) => x.size) };
  } finally {
    s.disconnect();
  }
}
