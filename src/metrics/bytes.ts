// /metrics and /status.json written as UTF-8 into blocks of bytes as they are rendered: no string
// per line, nothing of 20 MB made or copied in one piece. Each full block is handed on as it is
// made (the metrics server sends it while the rest is rendered): a body of 73-94 MB (10,000
// services x 4 servers) joined into one Buffer at the end cost a copy of it all and a second
// body's worth of memory.

export const BLOCK = 256 * 1024;
/** Texts up to this long are copied by ByteOut.text itself when ASCII. */
const SHORT = 64;

/** A safe integer >= 0 as String() writes it (and "0" for -0), at b[at]: where it ends. */
export function putDigits(b: Uint8Array, at: number, value: number): number {
  let n = 1;
  for (let x = value; x >= 10; x = Math.floor(x / 10)) n++;
  for (let i = at + n - 1, x = value; i >= at; i--, x = Math.floor(x / 10)) b[i] = 0x30 + (x % 10);
  return at + n;
}

/**
 * A safe integer of microseconds as the exact decimal of seconds, at b[at]: where it ends. The
 * fraction's trailing zeros left out, as String(us / 1e6) writes it (the same text below 10^15 µs:
 * 1234 → 0.001234, 1500000 → 1.5, 0 → 0, -5 → -0.000005), no string made.
 */
export function putMicros(b: Uint8Array, at: number, us: number): number {
  if (us < 0) {
    b[at++] = 0x2d; // -
    us = -us;
  }
  let frac = us % 1e6;
  at = putDigits(b, at, (us - frac) / 1e6); // exact: us - frac is a multiple of 10^6
  if (frac === 0) return at;
  b[at++] = 0x2e; // .
  let n = 6;
  while (frac % 10 === 0) {
    frac /= 10;
    n--;
  }
  for (let i = at + n - 1; i >= at; i--) {
    const d = frac % 10;
    b[i] = 0x30 + d;
    frac = (frac - d) / 10; // exact: no fraction made (a number boxed where this code is not optimized)
  }
  return at + n;
}

/** An address (int32) as formatIp writes it (a.b.c.d), at b[at]: where it ends. */
export function putIp(b: Uint8Array, at: number, v: number): number {
  for (let shift = 24; shift >= 0; shift -= 8) {
    at = putDigits(b, at, (v >>> shift) & 255);
    if (shift > 0) b[at++] = 0x2e; // .
  }
  return at;
}

/** num()'s and ip()'s number, handed to numAt / ipAt. */
const ONE = new Float64Array(1);

export class ByteOut {
  private b: Buffer;
  private at = 0;

  /**
   * `block`: given each block once full (and the last at end()), never written to again.
   * `take`: a BLOCK-long buffer to write into (one the metrics server had sent and got back), or
   * undefined (a new one).
   */
  constructor(private readonly block: (b: Buffer) => void, private readonly take?: () => Buffer | undefined) {
    this.b = take?.() ?? Buffer.allocUnsafe(BLOCK);
  }

  /** Room for n more bytes in the current block (a new block when it has not). */
  private room(n: number): void {
    if (this.at + n <= this.b.length) return;
    if (this.at > 0) this.block(this.b.subarray(0, this.at));
    this.b = (n <= BLOCK ? this.take?.() : undefined) ?? Buffer.allocUnsafe(Math.max(BLOCK, n));
    this.at = 0;
  }

  text(s: string): void {
    const n = s.length;
    if (n <= SHORT) {
      // A short ASCII text copied here: Buffer.byteLength and Buffer.write each a call into C++
      // were most of /status.json's CPU (~25 short texts per server, 2026-12-06).
      this.room(n);
      const b = this.b;
      let at = this.at;
      let i = 0;
      for (; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) break;
        b[at++] = c;
      }
      if (i === n) {
        this.at = at;
        return;
      }
    }
    this.room(Buffer.byteLength(s));
    this.at += this.b.write(s, this.at);
  }

  /**
   * An exposition sample: `${pre}${label}${suffix}} ${value}\n` (the value as `${value}` writes it;
   * with `micros`, a number of microseconds written as seconds: `${value / 1e6}`, digits by putMicros when an integer).
   */
  sample(pre: Uint8Array, label: Uint8Array, suffix: Uint8Array | undefined, value: number, micros = false): void {
    const s = suffix?.length ?? 0;
    this.room(pre.length + label.length + s + 32);
    const b = this.b;
    let at = this.at;
    b.set(pre, at);
    at += pre.length;
    b.set(label, at);
    at += label.length;
    if (suffix !== undefined) {
      b.set(suffix, at);
      at += s;
    }
    b[at++] = 0x7d; // }
    b[at++] = 0x20;
    if (micros) {
      if (Number.isSafeInteger(value)) at = putMicros(b, at, value);
      else at += b.write(String(value / 1e6), at, 'latin1'); // NaN, Infinity
    } else if (Number.isSafeInteger(value) && value >= 0) {
      at = putDigits(b, at, value);
    } else {
      at += b.write(String(value), at, 'latin1'); // ASCII: 0.125, 1e+21, NaN, -Infinity
    }
    b[at++] = 0x0a;
    this.at = at;
  }

  /** A number as JSON.stringify writes it (null for NaN and the infinities); digits written here below 2^53, no string made. */
  num(value: number): void {
    ONE[0] = value;
    this.numAt(ONE, 0);
  }

  /** An address (int32) as formatIp writes it (a.b.c.d), no string made. */
  ip(v: number): void {
    ONE[0] = v;
    this.ipAt(ONE, 0);
  }

  /**
   * num(a[i]) and ip(a[i]), the number read here: one past 2^30 (a counter past 1 GiB, an address
   * from 64.0.0.0 to 191.255.255.255 as int32) passed to a call not inlined is a heap number
   * (/status.json at 10,000 x 4 with such counters: 2.9 MB a request, 2026-12-06).
   */
  numAt(a: ArrayLike<number>, i: number): void {
    const value = a[i]!;
    if (!Number.isSafeInteger(value) || value < 0) {
      this.text(Number.isFinite(value) ? String(value) : 'null');
      return;
    }
    this.room(16);
    this.at = putDigits(this.b, this.at, value);
  }

  ipAt(a: ArrayLike<number>, i: number): void {
    this.room(15);
    this.at = putIp(this.b, this.at, a[i]!);
  }

  /** Hand on what the current block holds: the end of the text. */
  end(): void {
    if (this.at > 0) this.block(this.b.subarray(0, this.at));
    this.b = Buffer.alloc(0);
    this.at = 0;
  }
}

/**
 * A ByteOut kept for as long as uvsd runs, writing nowhere: a class's map (the shape of its
 * objects, fields added in the constructor) lives only while one of its objects does. With none
 * alive (between two answers) a full collection dropped it, and with it the optimised code of
 * every function written against it (ByteOut's methods, the /status.json and /metrics writers'
 * loops): the next answer ran in code that boxes its numbers while they were compiled again
 * (100-300 ms of compiling on a loaded host; 2026-12-06, node --trace-deopt: "weak objects").
 */
export const keptByteOut = new ByteOut(() => {}, () => Buffer.alloc(0));
