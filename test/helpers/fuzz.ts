// Fuzzing without a framework for the large suites (issue 13: at least 100,000 cases each, in a
// few seconds): a seeded xorshift generator, byte and text mutators shared by every suite, and
// a case loop that names the suite, the case and the seed when a case fails. Replay a failure
// with UVS_FUZZ_SEED=<seed> (the whole suite runs again from that seed, case numbers match).

/** Deterministic pseudo-random numbers (xorshift32). */
export class Rand {
  private x: number;
  constructor(readonly seed: number) {
    this.x = seed >>> 0 || 1;
  }
  /** Uniform 32-bit unsigned integer. */
  u32(): number {
    let x = this.x;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.x = x;
    return x >>> 0;
  }
  /** Integer in 0..n-1. */
  int(n: number): number {
    return n <= 0 ? 0 : this.u32() % n;
  }
  /** Integer in min..max (inclusive). */
  range(min: number, max: number): number {
    return min + this.int(max - min + 1);
  }
  chance(p: number): boolean {
    return this.u32() < p * 0x100000000;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }
  bytes(n: number): Buffer {
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) b[i] = this.u32() & 0xff;
    return b;
  }
}

/** The seed of a suite: UVS_FUZZ_SEED when set (to replay a failure), else the suite's own. */
export function fuzzSeed(fixed: number): number {
  const env = process.env['UVS_FUZZ_SEED'];
  return env !== undefined && /^\d+$/.test(env) ? Number(env) : fixed;
}

/**
 * Run `n` cases of `fn` from one generator. A failing case is reported with the suite name, its
 * number, the seed and whatever `show` says about the input.
 */
export function runCases<T>(name: string, n: number, seed: number, gen: (r: Rand, i: number) => T, fn: (input: T, i: number) => void, show: (input: T) => string = (x) => JSON.stringify(x)): void {
  const r = new Rand(seed);
  // Most mutated inputs are refused with an error, and capturing its stack was 15-20% of the CPU
  // of the config suites (UvsError's and KeepalivedError's constructors): the cases run without
  // stacks, but for a replay (UVS_FUZZ_SEED set), whose errors have theirs (and assert.ok's
  // message without one quotes the expression again: without a stack it says "false == true").
  const stackTraceLimit = Error.stackTraceLimit;
  if (process.env['UVS_FUZZ_SEED'] === undefined) Error.stackTraceLimit = 0;
  try {
    for (let i = 0; i < n; i++) {
      const input = gen(r, i);
      try {
        fn(input, i);
      } catch (e) {
        Error.stackTraceLimit = stackTraceLimit;
        let shown: string;
        try {
          shown = show(input);
        } catch {
          shown = '(cannot show the input)';
        }
        const msg = e instanceof Error ? e.message : String(e);
        throw new Error(`${name}: case ${i} failed (seed ${seed}; replay with UVS_FUZZ_SEED=${seed}): ${msg}\ninput: ${shown.slice(0, 4000)}`, { cause: e });
      }
    }
  } finally {
    Error.stackTraceLimit = stackTraceLimit;
  }
}

const EDGE_BYTES = [0x00, 0xff, 0x7f, 0x80, 0x01, 0x40, 0x45, 0x04, 0x06, 0x11];

/**
 * A mutated copy of a valid frame: 1-4 byte changes (random or edge values) at or after `keep`
 * (default 6: the destination MAC stays, so the frame reaches the parsers), then maybe a
 * truncation or random bytes appended.
 */
export function mutateFrame(src: Uint8Array, r: Rand, keep = 6, maxLen = 2048): Buffer {
  let f = Buffer.from(src);
  const edits = r.range(0, 4);
  for (let k = 0; k < edits && f.length > keep; k++) {
    const i = keep + r.int(f.length - keep);
    f[i] = r.chance(0.3) ? r.pick(EDGE_BYTES) : r.u32() & 0xff;
  }
  const tail = r.int(8);
  if (tail === 0) f = f.subarray(0, r.int(f.length + 1));
  else if (tail === 1) f = Buffer.concat([f, r.bytes(r.range(1, 64))]).subarray(0, maxLen);
  return f;
}

const TEXT_NOISE = [
  ' ', '\t', '\n', ':', '-', '#', '"', "'", '{', '}', '[', ']', ',', '*', '&', '!', '|', '>', '%', '@', '\\', '0', '1',
  '-1', '65536', '2147483648', '1e9', '0.5', 'true', 'null', '~', '\u00e9', '\u0000', '999999999999999999999',
];

/**
 * A mutated copy of a valid text (config files, rule files): 1-3 edits among deleting a span,
 * inserting noise, duplicating / deleting / swapping lines, replacing a word, truncating.
 */
export function mutateText(src: string, r: Rand, words: readonly string[] = []): string {
  let t = src;
  const edits = r.range(1, 3);
  for (let k = 0; k < edits; k++) {
    const at = r.int(t.length + 1);
    switch (r.int(7)) {
      case 0:
        t = t.slice(0, at) + t.slice(at + r.range(1, 12));
        break;
      case 1:
        t = t.slice(0, at) + r.pick(TEXT_NOISE) + t.slice(at);
        break;
      case 2: {
        const lines = t.split('\n');
        const i = r.int(lines.length);
        if (r.chance(0.5)) lines.splice(i, 0, lines[i]!);
        else lines.splice(i, 1);
        t = lines.join('\n');
        break;
      }
      case 3: {
        const lines = t.split('\n');
        const i = r.int(lines.length);
        const j = r.int(lines.length);
        [lines[i], lines[j]] = [lines[j]!, lines[i]!];
        t = lines.join('\n');
        break;
      }
      case 4: {
        // Replace the word (or number) under `at` with noise or one of the suite's own words.
        const m = /^[\w.]*/.exec(t.slice(at))![0];
        t = t.slice(0, at) + (words.length > 0 && r.chance(0.6) ? r.pick(words) : r.pick(TEXT_NOISE)) + t.slice(at + m.length);
        break;
      }
      case 5:
        t = t.slice(0, at);
        break;
      default:
        t = t.slice(0, at) + String.fromCharCode(r.int(128)) + t.slice(at + 1);
    }
  }
  return t;
}
