// /metrics and /status.json written as UTF-8 into blocks of bytes as they are rendered: no string
// per line, nothing of 20 MB made or copied in one piece. Each full block is handed on as it is
// made (the metrics server sends it while the rest is rendered): a body of 73-94 MB (10,000
// services x 4 servers) joined into one Buffer at the end cost a copy of it all and a second
// body's worth of memory.

export const BLOCK = 256 * 1024;
/** Texts up to this long are copied by ByteOut.text itself when ASCII. */
const SHORT = 64;
const EMPTY = new Uint8Array(0);

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

/** A LabelStore's chunk: texts are appended into one until it is full. */
const CHUNK = 256 * 1024;
/** Free ids the store keeps ahead (LabelStore.nextDue): more than a scrape's loop makes texts between two pause points (~100). */
const ID_ROOM = 1024;

/**
 * Label texts kept from scrape to scrape (src/metrics/collectors.ts) as bytes in chunks of 256 KiB,
 * each text by an id: its place (chunk, offset, length) in Int32Arrays. Until 2026-12-06 a Buffer (a
 * JS object) and an object per server and checker held them: the first /metrics of 10,000 services x
 * 4 checked servers kept 41 MB of JS heap (docs/performance.md). The bytes and places are off the JS
 * heap; no text is copied as the store grows (one growing array copied 16 MB in one slice). A text
 * dropped leaves its bytes unused: tidy() frees the chunks with nothing left in them and moves the
 * texts of those under a quarter used into the current chunk (the ids stay).
 */
export class LabelStore {
  /** The chunks (undefined: freed). */
  chunks: (Uint8Array | undefined)[] = [];
  /** Bytes in use in each chunk. */
  private live: Int32Array = new Int32Array(16);
  private cur = -1;
  private end = CHUNK;
  /** By id: the text's chunk, offset in it, length (-1: a free id). */
  chunk: Int32Array = new Int32Array(1024);
  off: Int32Array = new Int32Array(1024);
  len: Int32Array = new Int32Array(1024);
  private ids = 0;
  private free: Int32Array = new Int32Array(64);
  private nFree = 0;
  /** The next chunk, made ahead (makeNext), which place() takes before it makes one. */
  private next: Uint8Array | undefined;

  /** The id of a new text: what `w` holds (LabelWriter: written as bytes, no string made). */
  addFrom(w: LabelWriter): number {
    const n = w.n;
    const at = this.place(n);
    w.copyTo(this.chunks[this.cur]!, at);
    return this.idOf(n, at);
  }

  /** Whether n more texts get an id with no growth of the id columns (idOf grows them where it is, in a step of names). */
  fits(n: number): boolean {
    return this.nFree + this.len.length - this.ids >= n;
  }

  /** An id for the n bytes at `at` of the current chunk. */
  private idOf(n: number, at: number): number {
    const c = this.cur;
    let id: number;
    if (this.nFree > 0) id = this.free[--this.nFree]!;
    else {
      id = this.ids++;
      if (id >= this.off.length) {
        this.chunk = room(this.chunk, id);
        this.off = room(this.off, id);
        this.len = room(this.len, id);
      }
    }
    this.chunk[id] = c;
    this.off[id] = at;
    this.len[id] = n;
    return id;
  }

  /** Room for n bytes in the current chunk (this.cur, a new one where it has none): the offset, counted in use. An
   *  array [chunk, offset] returned until 2026-12-06: one per text, 14 MB of the first /metrics' garbage at 10,000 x 4. */
  private place(n: number): number {
    if (this.end + n > (this.chunks[this.cur]?.length ?? 0)) {
      let c = this.chunks.indexOf(undefined);
      if (c < 0) c = this.chunks.length;
      const b = n <= CHUNK && this.next !== undefined ? this.next : new Uint8Array(Math.max(CHUNK, n));
      if (b === this.next) this.next = undefined;
      this.chunks[c] = b;
      if (c >= this.live.length) this.live = room(this.live, c);
      this.live[c] = 0;
      this.cur = c;
      this.end = 0;
    }
    const at = this.end;
    this.end += n;
    this.live[this.cur] += n;
    return at;
  }

  /** `id`'s text no longer needed (its id given to a later text; its bytes freed by tidy()). */
  drop(id: number): void {
    const n = this.len[id]!;
    if (n < 0) return;
    this.len[id] = -1;
    this.live[this.chunk[id]!] -= n;
    if (this.nFree >= this.free.length) this.free = room(this.free, this.nFree);
    this.free[this.nFree++] = id;
  }

  /** After drops: chunks with no text left freed, the texts of those under a quarter used moved (one pass over the ids). */
  tidy(): void {
    let sparse = false;
    for (let c = 0; c < this.chunks.length; c++) {
      const b = this.chunks[c];
      if (b === undefined || c === this.cur) continue;
      if (this.live[c] === 0) {
        this.chunks[c] = undefined;
      } else if (this.live[c]! < b.length / 4) sparse = true;
    }
    if (!sparse) return;
    const moved = this.chunks.map((b, c) => b !== undefined && c !== this.cur && this.live[c]! < b.length / 4);
    for (let id = 0; id < this.ids; id++) {
      const n = this.len[id]!;
      const c = this.chunk[id]!;
      if (n < 0 || !moved[c]) continue;
      const from = this.off[id]!;
      const at = this.place(n);
      const to = this.cur;
      this.chunks[to]!.set(this.chunks[c]!.subarray(from, from + n), at);
      this.live[c] -= n;
      this.chunk[id] = to;
      this.off[id] = at;
    }
    for (let c = 0; c < moved.length; c++) if (moved[c]) this.chunks[c] = undefined;
  }

  /**
   * One piece of room for `texts` texts in all, so that add() does not grow the id columns: one
   * column made larger. Returns whether it did something: call it until it returns false, a pause
   * between (a scrape, before it makes its names: the columns grown by add() at 65,536 ids took 3
   * ms in one piece, beside the texts made).
   */
  reserve(texts: number): boolean {
    if (texts <= this.len.length) return false;
    if (this.chunk.length < texts) this.chunk = room(this.chunk, texts - 1);
    else if (this.off.length < texts) this.off = room(this.off, texts - 1);
    else this.len = room(this.len, texts - 1);
    return true;
  }

  /**
   * Whether makeNext has work: the next chunk wanted ahead (the current one past half full, or none
   * yet, and no next one made), or the id columns short of ID_ROOM free ids.
   */
  get nextDue(): boolean {
    return (this.next === undefined && this.end > CHUNK / 2) || !this.fits(ID_ROOM);
  }

  /**
   * The id columns grown (one of the three a call, to twice their length) where short of ID_ROOM
   * free ids, else the next chunk made (its pages touched), for place() to take when the current one
   * is full: a scrape makes them between its steps of names, apart (collectors.ts nextChunk), where
   * place() made the chunk among them (0.5-0.8 ms of this host's page faults, in one step in every
   * ~1,000 servers of the first /metrics) and idOf grew the columns there: three arrays of 200,000
   * ids copied into 400,000, 3-8 ms of a step of the first /metrics of 10,000 services x 4 servers
   * checked by a HealthManager, whose checked servers out of the table (alpha) and checkers outnumber
   * what the scrape reserved (reserveNames) (docs/performance.md, 2026-12-06 16:45).
   */
  makeNext(): void {
    if (!this.fits(ID_ROOM)) {
      this.reserve(2 * this.len.length);
      return;
    }
    if (this.next !== undefined) return;
    if (this.chunks.length >= this.live.length) this.live = room(this.live, this.chunks.length); // place()'s for it
    const b = new Uint8Array(CHUNK);
    for (let i = 0; i < CHUNK; i += 4096) b[i] = 0;
    this.next = b;
  }

  /** The text of `id` (tests). */
  text(id: number): string {
    const b = this.chunks[this.chunk[id]!]!;
    return Buffer.from(b.buffer, b.byteOffset, b.length).toString('utf8', this.off[id], this.off[id]! + this.len[id]!);
  }

  /** Bytes held in chunks (tests). */
  get size(): number {
    return this.chunks.reduce((n, b) => n + (b?.length ?? 0), 0);
  }
}

/** Arrays room() has made larger since start (tests count where a scrape grows its columns by it). */
export const roomGrowths = { n: 0 };

/** `a`, or a copy twice as long when it has no room at index `n` (the LabelStore's columns, collectors.ts's). */
export function room<A extends Uint8Array | Int32Array | Float64Array>(a: A, n: number): A {
  if (n < a.length) return a;
  const b = new (a.constructor as new (n: number) => A)(Math.max(64, a.length * 2, n + 1));
  b.set(a);
  roomGrowths.n++;
  return b;
}

/** A Column's part: this many values (2^PART_BITS). */
const PART_BITS = 10;
const PART = 1 << PART_BITS;

/**
 * JS values by index (a service id, a slot, a place in a list) in parts of PART: a part is added
 * as the column passes it, nothing copied. An array of 30,000-40,000 strings grown by V8 (to 1.5
 * times, a copy of it all) took 2-9 ms in one piece on these hosts, one column at a time inside a
 * scrape's step of rows (docs/performance.md, 2026-12-06 11:45); a part takes 0.03-0.1 ms (one of
 * 4,096 0.1-0.27).
 */
export class Column<T> {
  private readonly parts: (T | undefined)[][] = [];

  get(i: number): T | undefined {
    return this.parts[i >>> PART_BITS]?.[i & (PART - 1)];
  }

  set(i: number, v: T): void {
    let p = this.parts[i >>> PART_BITS];
    if (p === undefined) {
      while (this.parts.length <= i >>> PART_BITS) this.parts.push(new Array<T | undefined>(PART));
      p = this.parts[i >>> PART_BITS]!;
    }
    p[i & (PART - 1)] = v;
  }

  /** Values at n and above forgotten (undefined), parts past them dropped. */
  cut(n: number): void {
    const keep = Math.ceil(n / PART);
    this.parts.length = Math.min(this.parts.length, keep);
    const last = this.parts[keep - 1];
    if (last !== undefined && n % PART !== 0) last.fill(undefined, n % PART);
  }
}

/**
 * src[from, from + n) copied to b[at]: where it ends. Byte by byte (no view made); a function of its
 * own, so that the first scrape's on-stack compilation of the loop is of this alone (inside
 * ByteOut.sampleOf, the first /metrics of 10,000 x 4 had slices of 17-38 ms with no collection).
 */
function copyBytes(src: Uint8Array, from: number, n: number, b: Uint8Array, at: number): number {
  let i = from;
  const e = from + n;
  // Four at a time: ~25% less CPU than one at a time (Buffer.copy makes a view of its source in Node 20).
  for (const e4 = e - 3; i < e4; i += 4, at += 4) {
    b[at] = src[i]!;
    b[at + 1] = src[i + 1]!;
    b[at + 2] = src[i + 2]!;
    b[at + 3] = src[i + 3]!;
  }
  for (; i < e; i++) b[at++] = src[i]!;
  return at;
}

/**
 * A label text written as UTF-8 bytes, piece by piece, for LabelStore.addFrom: what collectors.ts
 * labelText made as a string of strings (each value escaped, each number by String()) and the store
 * then copied as bytes. Made so, the first /metrics of 10,000 services x 4 checked servers made
 * ~190,000 texts of ~20 strings and objects each, ~300 of the 345 MB it allocated and its
 * scavenges went through (2026-12-06, docs/performance.md); written here, no string is made.
 */
export class LabelWriter {
  b = Buffer.alloc(256);
  /** Bytes written. */
  n = 0;

  /** An empty text. */
  start(): this {
    this.n = 0;
    return this;
  }

  /** Room for k more bytes. */
  private room(k: number): void {
    if (this.n + k <= this.b.length) return;
    const b = Buffer.alloc(Math.max(2 * this.b.length, this.n + k));
    this.b.copy(b, 0, 0, this.n);
    this.b = b;
  }

  /** `s` as it is (UTF-8): the text's own pieces (`,server="`). */
  raw(s: string): this {
    this.room(s.length);
    const b = this.b;
    let at = this.n;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) return this.slow(s.slice(i), at);
      b[at++] = c;
    }
    this.n = at;
    return this;
  }

  /**
   * A label value as the exposition format escapes it (a backslash, newline and double quote as `\\`, `\n`,
   * `\"`: escapeValue), UTF-8 as Buffer.write writes a string (a lone surrogate as U+FFFD).
   */
  value(s: string): this {
    this.room(2 * s.length);
    const b = this.b;
    let at = this.n;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) return this.slow(escapeValue(s.slice(i)), at); // each character escaped on its own: a suffix alike
      if (c === 0x5c || c === 0x22) b[at++] = 0x5c; // \ "
      else if (c === 0x0a) {
        b[at++] = 0x5c;
        b[at++] = 0x6e; // \n
        continue;
      }
      b[at++] = c;
    }
    this.n = at;
    return this;
  }

  /** A number as String() writes it (digits here for a safe integer >= 0), escaped as a value: `${v}` in a label. */
  num(v: number): this {
    if (!Number.isSafeInteger(v) || v < 0) return this.value(String(v));
    this.room(16);
    this.n = putDigits(this.b, this.n, v);
    return this;
  }

  /** An address (int32) as formatIp writes it. */
  ip(v: number): this {
    this.room(15);
    this.n = putIp(this.b, this.n, v);
    return this;
  }

  /** A uint32 as 8 upper-case hex digits (toString(16).toUpperCase().padStart(8, '0')). */
  hex8(v: number): this {
    this.room(8);
    const b = this.b;
    for (let i = 7, x = v >>> 0; i >= 0; i--, x >>>= 4) {
      const d = x & 15;
      b[this.n + i] = d < 10 ? 0x30 + d : 0x37 + d;
    }
    this.n += 8;
    return this;
  }

  /** The rest of a text that is not ASCII, from `at` on: through Buffer.write (rare: a string made). */
  private slow(s: string, at: number): this {
    this.n = at;
    const k = Buffer.byteLength(s);
    this.room(k);
    this.n += this.b.write(s, this.n);
    return this;
  }

  /**
   * What is written, copied to dst[at]. A loop of its own: copyBytes (ByteOut.sampleOf's, from a
   * chunk into a Buffer) given a Buffer to copy into a chunk too compiled for both and wrote every
   * later scrape's rows ~10 % slower (2026-12-06).
   */
  copyTo(dst: Uint8Array, at: number): void {
    const b = this.b;
    for (let i = 0; i < this.n; i++) dst[at + i] = b[i]!;
  }

  /** What is written, as a string (a text kept as such: one string made). */
  text(): string {
    return this.b.toString('utf8', 0, this.n);
  }
}

/** A label value escaped as the exposition format wants: backslash, newline and double quote. */
function escapeValue(v: string): string {
  return /["\\\n]/.test(v) ? v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"') : v;
}

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

  /**
   * As sample(), the label the text `id` of `store` (copied byte by byte: no view of it made per row,
   * a row's label is ~60-130 bytes).
   */
  sampleOf(pre: Uint8Array, store: LabelStore, id: number, suffix: Uint8Array | undefined, value: number, micros = false): void {
    const off = store.off[id]!;
    const n = store.len[id]!;
    this.room(pre.length + n + (suffix?.length ?? 0) + 32); // sample() below then writes into this block
    const b = this.b;
    let at = this.at;
    b.set(pre, at);
    at += pre.length;
    this.at = copyBytes(store.chunks[store.chunk[id]!]!, off, n, b, at);
    this.sample(EMPTY, EMPTY, suffix, value, micros);
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
