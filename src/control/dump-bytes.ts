// Where a config dump's text goes (ConfigManager.dumpInto): bytes, each piece (the settings, a
// service's text) written into 64 KiB buffers as it is made, keys and numbers and addresses as
// digits without a string made for them. uvsd --state-file (statefile.ts) keeps the last dump's
// bytes and where each service's text lies in them: a service that did not change since
// (ServiceModel.gen) is copied from there, not made again, so `uvsadm -e` makes one service's
// text; uvsadm --dump-config decodes a dump of its own. Until 2026-12-06 each service's text was
// made through objects (~12 KB of garbage per service of 4 servers) and kept as a string: after a
// batch or a reload that changed every service of 10,000, 8-10 young collections fell inside the
// dump's slices (docs/performance.md).

import { putDigits, putIp } from '../metrics/bytes.js';
import type { Steps } from './slices.js';

/** Where a service's text is written (DumpOut.serviceStart): ASCII text, integers and IPv4 addresses as digits, any string as UTF-8. */
export interface ByteOut {
  /** s, every character of which is ASCII (a key, a name of a closed set). */
  ascii(s: string): void;
  /** A non-negative integer's digits (anything else as String(n)). */
  int(n: number): void;
  /** An IPv4 address (uint32) in dotted decimal, as formatIp writes it. */
  ip(v: number): void;
  /** Any string, UTF-8. */
  str(s: string): void;
}

/** Where a dump's text goes, in its order: the settings at the top, then each service's text. */
export interface DumpOut {
  /** Text that is not a service's (the settings; the state file's end line). */
  text(s: string): void;
  /** A dump of the table begins: made at the dump epoch `epoch` (ConfigManager's), with the state file's fields or not. */
  begin(epoch: number, state: boolean): void;
  /** The service of key k at generation gen, as the last whole dump of this epoch and kind wrote it, put out (true); false: write it (serviceStart, serviceEnd). */
  kept(k: string, gen: number): boolean;
  /** A service's text begins: written into the ByteOut, then serviceEnd(). */
  serviceStart(): ByteOut;
  /** The text of the service of key k at generation gen is written. */
  serviceEnd(k: string, gen: number): void;
  /** Steps after the last service (forgetting services no longer in the table). */
  end(): Steps<void>;
}

/** Bytes of a chunk (the writer hands each chunk to one write). */
export const CHUNK_BYTES = 64 * 1024;

/** One dump's bytes: chunks, each filled to its `fills` entry; no piece (a service's text) is split between two. */
class ByteSet implements ByteOut {
  readonly chunks: Buffer[] = [];
  readonly fills: number[] = [];
  /** Chunks in use; the last of them, the bytes used in it, and where the piece being written began there. */
  used = 0;
  private buf: Buffer = EMPTY;
  at = 0;
  start = 0;
  size = 0;
  /** The dump that made it (DumpBytes.dumps), its epoch and kind (DumpOut.begin). */
  no = -1;
  epoch = -1;
  state = false;

  constructor(readonly slot: 0 | 1) {}

  reset(no: number): void {
    this.no = no;
    this.used = 0;
    this.buf = EMPTY;
    this.at = 0;
    this.start = 0;
    this.size = 0;
    this.epoch = -1;
    this.state = false;
  }

  /** A piece begins here. */
  piece(): void {
    this.start = this.at;
  }

  /**
   * The chunk, with room for n more bytes of the piece: when it has not, the piece so far moves
   * to the next chunk (made if there is none that large), so that it lies in one.
   */
  private room(n: number): Buffer {
    if (this.buf.length - this.at >= n) return this.buf;
    const part = this.at - this.start;
    if (this.used > 0) this.fills[this.used - 1] = this.start;
    let b = this.chunks[this.used];
    if (b === undefined || b.length < part + n) {
      // Outside the JS heap: kept from dump to dump, and never copied by a collection.
      b = Buffer.allocUnsafeSlow(Math.max(CHUNK_BYTES, 2 * (part + n)));
      this.chunks[this.used] = b;
    }
    this.buf.copy(b, 0, this.start, this.at);
    this.used++;
    this.buf = b;
    this.start = 0;
    this.at = part;
    return b;
  }

  ascii(s: string): void {
    const b = this.room(s.length);
    let at = this.at;
    for (let i = 0; i < s.length; i++) b[at++] = s.charCodeAt(i);
    this.at = at;
  }

  int(n: number): void {
    if (!(Number.isSafeInteger(n) && n >= 0)) {
      this.ascii(String(n));
      return;
    }
    let digits = 1;
    for (let x = n; x >= 10; x = Math.floor(x / 10)) digits++;
    this.at = putDigits(this.room(digits), this.at, n);
  }

  ip(v: number): void {
    this.at = putIp(this.room(15), this.at, v); // at most 15 bytes: 255.255.255.255
  }

  str(s: string): void {
    // At most 3 bytes a UTF-16 unit: counted only when that much may not fit.
    const b = this.room(s.length * 3 <= this.buf.length - this.at ? 0 : Buffer.byteLength(s));
    this.at += b.write(s, this.at);
  }

  /** len bytes of `from` (its chunk c, from offset off) as a piece. */
  copy(from: ByteSet, c: number, off: number, len: number): void {
    this.piece();
    const b = this.room(len);
    from.chunks[c]!.copy(b, this.at, off, off + len);
    this.at += len;
  }

  /** The last chunk's fill noted, and the size; chunks beyond those in use given back. */
  close(): void {
    if (this.used > 0) this.fills[this.used - 1] = this.at;
    this.chunks.length = this.used;
    this.fills.length = this.used;
    let size = 0;
    for (let i = 0; i < this.used; i++) size += this.fills[i]!;
    this.size = size;
  }

  /**
   * The full chunks (all but the one being written) handed to `fn`, a view each, then kept to be
   * written into again, the chunk being written made the first (DumpParts).
   */
  shift(fn: (v: Uint8Array) => void): void {
    const last = this.used - 1;
    if (last <= 0) return;
    for (let i = 0; i < last; i++) if (this.fills[i]! > 0) fn(this.chunks[i]!.subarray(0, this.fills[i]));
    const b = this.chunks[last]!;
    this.chunks[last] = this.chunks[0]!;
    this.chunks[0] = b;
    this.used = 1;
  }

  /** The bytes, chunk by chunk (views of the chunks). */
  views(): Uint8Array[] {
    const v: Uint8Array[] = [];
    for (let i = 0; i < this.used; i++) v.push(this.chunks[i]!.subarray(0, this.fills[i]));
    return v;
  }
}

const EMPTY = Buffer.alloc(0);

/** Do two closed sets hold the same bytes (compared a run at a time, wherever their chunks end)? */
function sameBytes(a: ByteSet, b: ByteSet): boolean {
  if (a.size !== b.size) return false;
  let i = 0;
  let j = 0;
  let x = 0;
  let y = 0;
  while (i < a.used && j < b.used) {
    const fa = a.fills[i]!;
    const fb = b.fills[j]!;
    const n = Math.min(fa - x, fb - y);
    if (n > 0 && a.chunks[i]!.compare(b.chunks[j]!, y, y + n, x, x + n) !== 0) return false;
    x += n;
    y += n;
    if (x === fa) {
      i++;
      x = 0;
    }
    if (y === fb) {
      j++;
      y = 0;
    }
  }
  return true;
}

/** Where a service's text lies in each of the two sets: the dump that put it there (-1: none), its gen, chunk, offset and length. */
class Placed {
  no0 = -1;
  gen0 = 0;
  chunk0 = 0;
  off0 = 0;
  len0 = 0;
  no1 = -1;
  gen1 = 0;
  chunk1 = 0;
  off1 = 0;
  len1 = 0;

  at(set: ByteSet, gen: number, chunk: number, off: number, len: number): void {
    if (set.slot === 0) {
      this.no0 = set.no;
      this.gen0 = gen;
      this.chunk0 = chunk;
      this.off0 = off;
      this.len0 = len;
    } else {
      this.no1 = set.no;
      this.gen1 = gen;
      this.chunk1 = chunk;
      this.off1 = off;
      this.len1 = len;
    }
  }
}

/** Services forgotten (DumpBytes.end) between two yields. */
const FORGET_STEP = 1024;

/**
 * The state file's dumps as bytes, in two sets that take turns: open() empties the one not
 * holding the last whole dump, the dump goes into it (a service unchanged since that dump copied
 * from there), close() makes it the last one. A dump that is not closed (a change overtook it)
 * leaves the last one as it was. Each service's place is kept in both sets (Placed, numbers
 * changed in place): no string of the text outlives the dump that made it.
 */
export class DumpBytes implements DumpOut {
  private readonly sets = [new ByteSet(0), new ByteSet(1)] as const;
  private cur: ByteSet = this.sets[0];
  private last: ByteSet = this.sets[1];
  private readonly placed = new Map<string, Placed>();
  private dumps = 0;
  /** Services put out by the dump in progress. */
  private services = 0;
  /** Services' texts made so far (the others were copied from the last dump). */
  built = 0;

  /** A dump begins (anew: what an earlier open() put out is dropped). */
  open(): void {
    this.cur.reset(++this.dumps);
    this.services = 0;
  }

  text(s: string): void {
    this.cur.piece();
    this.cur.str(s);
  }

  begin(epoch: number, state: boolean): void {
    this.cur.epoch = epoch;
    this.cur.state = state;
  }

  kept(k: string, gen: number): boolean {
    const l = this.last;
    const c = this.cur;
    if (l.epoch !== c.epoch || l.state !== c.state) return false;
    const p = this.placed.get(k);
    if (p === undefined) return false;
    let chunk: number;
    let off: number;
    let len: number;
    if (l.slot === 0) {
      if (p.no0 !== l.no || p.gen0 !== gen) return false;
      chunk = p.chunk0;
      off = p.off0;
      len = p.len0;
    } else {
      if (p.no1 !== l.no || p.gen1 !== gen) return false;
      chunk = p.chunk1;
      off = p.off1;
      len = p.len1;
    }
    c.copy(l, chunk, off, len);
    p.at(c, gen, c.used - 1, c.start, len);
    this.services++;
    return true;
  }

  serviceStart(): ByteOut {
    this.cur.piece();
    return this.cur;
  }

  serviceEnd(k: string, gen: number): void {
    const c = this.cur;
    let p = this.placed.get(k);
    if (p === undefined) this.placed.set(k, (p = new Placed()));
    p.at(c, gen, c.used - 1, c.start, c.at - c.start);
    this.services++;
    this.built++;
  }

  /** The places of services this dump did not put out (gone from the table) forgotten, FORGET_STEP at a time. */
  *end(): Steps<void> {
    if (this.placed.size <= this.services) return;
    const c = this.cur;
    let n = 0;
    for (const [k, p] of this.placed) {
      if ((c.slot === 0 ? p.no0 : p.no1) !== c.no) this.placed.delete(k);
      if (++n % FORGET_STEP === 0) yield;
    }
  }

  /** The dump is whole: it becomes the last one. Returns whether its bytes are those of the dump that was last before. */
  close(): boolean {
    this.cur.close();
    const same = sameBytes(this.cur, this.last);
    [this.cur, this.last] = [this.last, this.cur];
    return same;
  }

  /** The last whole dump's bytes, chunk by chunk. */
  bytes(): Uint8Array[] {
    return this.last.views();
  }

  /** The last whole dump's text (uvsadm --dump-config). */
  toString(): string {
    return Buffer.concat(this.last.views()).toString();
  }
}

/**
 * One dump handed on as it is made (uvsadm --dump-config from the control socket, ConfigManager
 * dumpParts): the chunks its bytes fill taken a few at a time (take()) and written into again
 * once read, so that a dump holds two or three chunks, not its text. Nothing is kept from dump
 * to dump (kept() is false).
 */
export class DumpParts implements DumpOut {
  private readonly set = new ByteSet(0);
  private readonly ready: Uint8Array[] = [];

  constructor() {
    this.set.reset(0);
  }

  text(s: string): void {
    this.set.piece();
    this.set.str(s);
  }

  begin(): void {}

  kept(): boolean {
    return false;
  }

  serviceStart(): ByteOut {
    this.set.piece();
    return this.set;
  }

  serviceEnd(): void {}

  *end(): Steps<void> {}

  /**
   * The chunks filled since the last take() (views, in order: each to be read before the dump
   * goes on, which writes into them again), or with `last` (the dump is whole) all that is left.
   * The same array each time.
   */
  take(last: boolean): readonly Uint8Array[] {
    const r = this.ready;
    r.length = 0;
    if (!last) this.set.shift((v) => r.push(v));
    else {
      this.set.close();
      for (const v of this.set.views()) if (v.length > 0) r.push(v);
    }
    return r;
  }
}
