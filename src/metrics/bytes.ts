// /metrics and /status.json written as UTF-8 into blocks of bytes as they are rendered: no string
// per line, nothing of 20 MB made or copied in one piece (a scrape renders in slices: the blocks
// become one Buffer in slices too, buffer()).

import type { Pause } from '../control/slices.js';

const BLOCK = 256 * 1024;

export class ByteOut {
  private readonly blocks: Buffer[] = [];
  private b = Buffer.allocUnsafe(BLOCK);
  private at = 0;

  /** Room for n more bytes in the current block (a new block when it has not). */
  private room(n: number): void {
    if (this.at + n <= this.b.length) return;
    this.blocks.push(this.b.subarray(0, this.at));
    this.b = Buffer.allocUnsafe(Math.max(BLOCK, n));
    this.at = 0;
  }

  text(s: string): void {
    this.room(Buffer.byteLength(s));
    this.at += this.b.write(s, this.at);
  }

  /** An exposition sample: `${pre}${label}${suffix}} ${value}\n` (the value as `${value}` writes it). */
  sample(pre: Uint8Array, label: Uint8Array, suffix: Uint8Array | undefined, value: number): void {
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
    if (Number.isSafeInteger(value) && value >= 0) {
      // Decimal digits, as String() writes them below 2^53 (and "0" for -0).
      let n = 1;
      for (let x = value; x >= 10; x = Math.floor(x / 10)) n++;
      for (let i = at + n - 1, x = value; i >= at; i--, x = Math.floor(x / 10)) b[i] = 0x30 + (x % 10);
      at += n;
    } else {
      at += b.write(String(value), at, 'latin1'); // ASCII: 0.125, 1e+21, NaN, -Infinity
    }
    b[at++] = 0x0a;
    this.at = at;
  }

  /** Everything written, in one Buffer: the blocks copied into it one per pause. */
  async buffer(pause: Pause): Promise<Buffer> {
    const blocks = [...this.blocks, this.b.subarray(0, this.at)];
    let n = 0;
    for (const x of blocks) n += x.length;
    const out = Buffer.allocUnsafe(n);
    let at = 0;
    for (const x of blocks) {
      out.set(x, at);
      at += x.length;
      await pause();
    }
    return out;
  }
}
