// Long control work in slices: the event loop (and so forwarding) is never held for more than
// about SLICE_MS by one request. Used for large batches (model.ts) and for parsing a large
// request line (server.ts): JSON.parse of a 2 MB batch of 20,000 items holds the loop 15-40 ms
// on these machines, which every packet arriving meanwhile waits for.

/** A slice of control work ends once it has run this long (ms). */
export const SLICE_MS = 2;

/**
 * A slice ends this much (ms) before the next step would take it to SLICE_MS (SliceClock.due):
 * what runs after its last look at the clock (a -C's operations applied, the pause's own work),
 * and room for a step longer than those before it. On these loaded 2-CPU hosts a loop of fixed
 * arithmetic steps of 3 µs has one step of 0.3-2.3 ms of thread CPU in every 30-80 ms (the host,
 * not the step): ending slices a step short of SLICE_MS, a third of -C's slices at 10,000 x 4
 * passed it (2.0-2.2 ms); -C alone had this margin until 2026-12-06 (CLEAR_MARGIN_MS).
 */
export const SLICE_MARGIN_MS = 0.25;

/**
 * Ends a slice of long control work before it would pass SLICE_MS (Control.slicer, SliceClock):
 * lets the event loop run, then goes on. With `until`, ends the slice now and waits for that
 * (work done elsewhere, e.g. in a worker thread): the wait does not count as holding the loop.
 * due(), where given, says without an await whether pause() would end the slice now (the same
 * clock: SliceClock.due): a loop of many short steps asks it after each, and awaits pause() only
 * then (dueOf). An await per step made a Promise each (~1 KB of garbage per service of -C); an
 * await every few steps (or every so long) let a slice pass SLICE_MS by those steps.
 */
export type Pause = ((until?: Promise<unknown>) => Promise<void>) & { readonly due?: () => boolean };

/** pause.due, or (a Pause without one) always true: then pause() itself decides, at every step. */
export function dueOf(pause: Pause): () => boolean {
  return pause.due ?? alwaysDue;
}

const alwaysDue = (): boolean => true;

/**
 * Slices of long work named `what`: Control.slicer records how long each held the loop (`uvsadm --status` slowest_verb_ms).
 * ask(), where given, says whether a long loop that may pause should call pause() now (a scrape's: each await costs
 * the loop's frame; tests ask at every chance); without it the loop asks at most every so often (collectors.ts asker).
 */
export type Slicer = (what: string) => { pause: Pause; done: () => void; ask?: () => boolean };

/**
 * When a slice of work (steps with a pause() or a due() between them) ends: before the next
 * step would take it past SLICE_MS, judged by the longest step of the slice (the one before's at
 * its start). Ending it once it had run SLICE_MS, as before, made every slice SLICE_MS and a step
 * more: 2.2-3.8 ms for -L -n at 10,000 services. The one clock of every sliced loop: -C and -Z of
 * every service, a batch's items and its -C item look at it after every step (Pause.due), where
 * until 2026-12-06 each had its own check (every 8 services or 0.25 ms, every 2 items, a margin).
 */
export class SliceClock {
  /** When the slice began, and the last pause() (performance.now()). */
  start = performance.now();
  private last = this.start;
  /** The longest step (ms) of this slice, and of the one before. */
  private step = 0;
  private before = 0;

  /** At a pause() or a due() (now: performance.now()): end the slice here (before the next step could take it past SLICE_MS less SLICE_MARGIN_MS)? */
  due(now: number): boolean {
    const d = now - this.last;
    this.last = now;
    if (d > this.step) this.step = d;
    return now - this.start + Math.max(this.step, this.before) > SLICE_MS - SLICE_MARGIN_MS;
  }

  /** A slice begins (now: performance.now()). */
  restart(now: number): void {
    this.start = now;
    this.last = now;
    this.before = this.step;
    this.step = 0;
  }
}

/** A Slicer that records nothing (no Control at hand: tests, benchmarks): pause() lets the loop run before the slice would pass SLICE_MS (SliceClock). */
export const plainSlicer: Slicer = () => {
  const c = new SliceClock();
  const end = async (until?: Promise<unknown>): Promise<void> => {
    await (until ?? yieldLoop());
    c.restart(performance.now());
  };
  const pause = (until?: Promise<unknown>): Promise<void> => (!c.due(performance.now()) && until === undefined ? GOING_ON : end(until));
  return { pause: Object.assign(pause, { due: () => c.due(performance.now()) }), done: () => {} };
};

/** Let the event loop run (I/O, timers) before going on. */
export function yieldLoop(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}

/** Arrays at least this long are serialised element by element, in slices. */
export const SLICED_ARRAY_MIN = 256;

/**
 * A list in a reply that is made while the reply is written (listConns without a cursor):
 * stringifySliced serialises and writes each part before it asks for the next, so uvsd holds a
 * part, not the list. What follows the list in its object (ConnsResult.truncated) is read once
 * the list is written: the parts may still set it. `pause` (the verb's, Control.slicer) ends the
 * slices of the writing, so they count as the verb's in slowest_verb_ms.
 */
export class StreamedList {
  constructor(public parts: AsyncIterable<readonly unknown[]>, readonly pause?: Pause) {}
}

/**
 * fn on every element of a reply's list: at once for an array, as each part is made for a
 * StreamedList (before the part is written), so a decoration of the reply (uvsd's health states
 * on `list`) reaches a list made while it is written.
 */
export function eachOf<T>(list: T[], fn: (x: T) => void): void {
  if (!(list instanceof StreamedList)) {
    for (const x of list) fn(x);
    return;
  }
  const s = list as StreamedList;
  const inner = s.parts as AsyncIterable<readonly T[]>;
  s.parts = (async function* () {
    for await (const part of inner) {
      for (const x of part) fn(x);
      yield part;
    }
  })();
}

/** A StreamedList in the place of a T[] of the reply's type: written as the list its parts make (by stringifySliced alone). */
export function streamed<T>(parts: AsyncIterable<readonly T[]>, pause?: Pause): T[] {
  return new StreamedList(parts, pause) as unknown as T[];
}

/**
 * A string in a reply that is made while the reply is written (dumpConfig's yaml from the control
 * socket: ConfigManager.dumpParts): stringifySliced writes it as a JSON string a part at a time,
 * each part's bytes (UTF-8, no character split between two) escaped into a buffer of their own
 * and handed to the socket as bytes, so uvsd holds a part, not the text. Each part is read before
 * the next is asked for (its bytes may be written into again). `pause` as StreamedList's.
 */
export class StreamedText {
  constructor(readonly parts: AsyncIterable<Uint8Array>, readonly pause?: Pause) {}
}

/** A StreamedText in the place of a string of the reply's type: written as the text its parts make (by stringifySliced alone). */
export function streamedText(parts: AsyncIterable<Uint8Array>, pause?: Pause): string {
  return new StreamedText(parts, pause) as unknown as string;
}

/** JSON.stringify's escape of each character below 0x20 (\b \t \n \f \r, the others \u00XX), by its code. */
const CONTROL_ESCAPES = Array.from({ length: 0x20 }, (_v, c) => JSON.stringify(String.fromCharCode(c)).slice(1, -1));

/** UTF-8 text as the inside of a JSON string, the escapes JSON.stringify writes (", \ and the characters below 0x20; the rest as it is), into a buffer of its own. */
export function jsonStringBytes(text: Uint8Array): Buffer {
  let n = text.length;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c < 0x20) n += CONTROL_ESCAPES[c]!.length - 1;
    else if (c === 0x22 || c === 0x5c) n++;
  }
  const b = Buffer.allocUnsafe(n);
  let at = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c >= 0x20) {
      if (c === 0x22 || c === 0x5c) b[at++] = 0x5c;
      b[at++] = c;
      continue;
    }
    const e = CONTROL_ESCAPES[c]!;
    for (let k = 0; k < e.length; k++) b[at++] = e.charCodeAt(k);
  }
  return b;
}

/** Does v hold an array of SLICED_ARRAY_MIN or more elements (or a StreamedList or StreamedText), at most `depth` levels down? */
export function hasLongArray(v: unknown, depth = 3): boolean {
  if (v instanceof StreamedList || v instanceof StreamedText) return true;
  if (Array.isArray(v)) return v.length >= SLICED_ARRAY_MIN;
  if (typeof v !== 'object' || v === null || depth === 0) return false;
  for (const k of Object.keys(v)) if (hasLongArray((v as Record<string, unknown>)[k], depth - 1)) return true;
  return false;
}

/** stringifySliced's elements between two pause()s, less one: a service of 4 servers is ~30 µs to serialise (32 of them were a 1 ms step). */
const STRINGIFY_STEP = 7;

/**
 * The characters of a sliced reply handed to one write (stringifySliced's chunks), each write
 * inside a step of the reply's slices (a step of `-L -n` is ~0.1 ms otherwise). 64 KiB until
 * 2026-12-06: the first write of a `-L -n` at 10,000 x 4 took 0.6-1.4 ms of CPU, and 12.8 MB
 * written to a reading socket 64 KiB at a time took 0.4-0.9 ms a write at the 99th percentile,
 * 16 KiB at a time 0.2 (the string is encoded into a buffer of its own when the kernel does not
 * take it at once).
 */
export const WRITE_CHUNK = 16 * 1024;

/**
 * JSON.stringify(v) + end handed to `write` in chunks of about `chunk` characters, with the
 * event loop let run whenever a slice has taken SLICE_MS (o.pause: a Slicer's): a reply of
 * 10,000 services (8 MB) is 35 ms of JSON.stringify and several of encoding in one piece. Long
 * arrays (hasLongArray) are serialised element by element, the objects holding them key by key;
 * all else as JSON does. A StreamedList or StreamedText is written a part at a time: after each
 * part, o.room() (a Promise while the reader has too much unread) is waited for, and once o.gone()
 * the rest of its parts are not made (what is written then goes nowhere). A StreamedText's parts go
 * to o.bytes as bytes (after the characters written before them); without it, to write as text.
 */
export async function stringifySliced(
  v: unknown, write: (s: string) => void, chunk = WRITE_CHUNK,
  o: { pause?: Pause; end?: string; room?: () => Promise<void> | undefined; gone?: () => boolean; bytes?: (b: Uint8Array) => void } = {},
): Promise<void> {
  const pause = o.pause ?? plainSlicer('json').pause;
  let parts: string[] = [];
  let len = 0;
  const put = (s: string): void => {
    parts.push(s);
    len += s.length;
    if (len < chunk) return;
    write(parts.join(''));
    parts = [];
    len = 0;
  };
  const emit = async (x: unknown): Promise<void> => {
    if (x instanceof StreamedText) {
      const p = x.pause ?? pause;
      put('"');
      for await (const part of x.parts) {
        const b = jsonStringBytes(part);
        if (o.bytes === undefined) put(b.toString());
        else {
          if (len > 0) write(parts.join(''));
          parts = [];
          len = 0;
          o.bytes(b);
        }
        if (o.gone?.() === true) break;
        await p(o.room?.());
      }
      // As a StreamedList's: the text's last slice ended (and recorded) here.
      if (o.gone?.() !== true) await p(yieldLoop());
      put('"');
    } else if (x instanceof StreamedList) {
      const p = x.pause ?? pause;
      put('[');
      let first = true;
      for await (const part of x.parts) {
        for (let i = 0; i < part.length; i++) {
          put((first ? '' : ',') + JSON.stringify(part[i]));
          first = false;
          if ((i & STRINGIFY_STEP) === STRINGIFY_STEP) await p();
        }
        if (o.gone?.() === true) break;
        await p(o.room?.());
      }
      // The list's last slice ended (and recorded: the verb's pause) here; what follows it (a
      // few fields, the last write) is not the verb's, which has no done() of its own.
      if (o.gone?.() !== true) await p(yieldLoop());
      put(']');
    } else if (Array.isArray(x) && x.length >= SLICED_ARRAY_MIN) {
      put('[');
      for (let i = 0; i < x.length; i++) {
        const e: unknown = x[i];
        // As JSON.stringify: undefined and functions in an array are null.
        put((i > 0 ? ',' : '') + (e === undefined || typeof e === 'function' ? 'null' : JSON.stringify(e)));
        if ((i & STRINGIFY_STEP) === STRINGIFY_STEP) await pause();
      }
      put(']');
    } else if (typeof x === 'object' && x !== null && !Array.isArray(x) && hasLongArray(x, 2)) {
      put('{');
      let first = true;
      for (const k of Object.keys(x)) {
        const val = (x as Record<string, unknown>)[k];
        if (val === undefined || typeof val === 'function') continue;
        put(`${first ? '' : ','}${JSON.stringify(k)}:`);
        first = false;
        await emit(val);
      }
      put('}');
    } else put(JSON.stringify(x));
  };
  await emit(v);
  put(o.end ?? '\n');
  if (len > 0) write(parts.join(''));
}

/** A container value found too long to hand to JSON.parse in one piece is parsed element by element. */
const WHOLE_MAX = 64 * 1024;
/** The clock is read every this many values. */
const CHECK_EVERY = 64;
/**
 * Containers nested deeper than this, walked here (not handed to JSON.parse whole), are refused:
 * no request is more than a few levels deep, and each level walked holds a frame (a 64 MiB line
 * of "[" would be 64 million of them).
 */
export const MAX_DEPTH = 1000;

/**
 * Where text (JSON) nests deeper than MAX_DEPTH, or -1: a linear scan of its brackets, strings
 * skipped. A short request line is checked with it before JSON.parse (a long one while
 * SlicedJson matches its brackets, matchTo), so no request holds a value that recursion over it
 * (JSON.stringify of an error's detail, a verb's checks) could overflow the stack with.
 */
export function deeperAt(text: string): number {
  let depth = 0;
  const to = text.length;
  for (let i = 0; i < to; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) { // a string: to its closing quote
      for (i++; i < to; i++) {
        const d = text.charCodeAt(i);
        if (d === 0x5c) i++;
        else if (d === 0x22) break;
      }
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > MAX_DEPTH) return i;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return -1;
}

/** The SyntaxError for nesting found at position p. */
export function tooDeep(p: number): SyntaxError {
  return new SyntaxError(`JSON nested deeper than ${MAX_DEPTH} levels at position ${p}`);
}

// What may come next.
const St = {
  Value: 0, // a value (at the start, after ':', after ',' in an array)
  ValueOrClose: 1, // just after '[': a value or ']'
  Key: 2, // after ',' in an object: a key
  KeyOrClose: 3, // just after '{': a key or '}'
  After: 4, // after a value: ',' or the container's close
  End: 5, // after the top-level value: only whitespace
} as const;

interface Frame {
  /** The array, or the object with the key its next value goes to. */
  arr: unknown[] | undefined;
  obj: Record<string, unknown> | undefined;
  key: string;
}

function isWs(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

/**
 * A text given as the parts it arrived in (a long request line's chunks, server.ts), read in place
 * as a string is (length, charCodeAt, slice): no string of the whole text is made. Joined (by the
 * server, before 2026-12-06) a 2 MB line was a new large object whose pages the host faults in,
 * 6-7 ms of the loop's CPU in one piece (517 page faults) before its parse began.
 */
export class PartText {
  readonly length: number;
  /** Where each part begins in the text, and (last) its length. */
  private readonly starts: number[];
  /** The part read last, and where it begins. */
  private s = '';
  private at = 0;
  private k = -1;

  constructor(private readonly parts: readonly string[]) {
    let n = 0;
    this.starts = [];
    for (const x of parts) {
      this.starts.push(n);
      n += x.length;
    }
    this.starts.push(n);
    this.length = n;
  }

  /** The character code at i, NaN outside the text (as a string's). */
  charCodeAt(i: number): number {
    const j = i - this.at;
    if (j >= 0 && j < this.s.length) return this.s.charCodeAt(j);
    return this.seek(i) ? this.s.charCodeAt(i - this.at) : NaN;
  }

  /** The characters [a, b) (a part's own slice when they are in one part). */
  slice(a: number, b = this.length): string {
    b = Math.min(b, this.length);
    if (a >= b) return '';
    if (!this.seek(a)) return '';
    if (b - this.at <= this.s.length) return this.s.slice(a - this.at, b - this.at);
    const out: string[] = [this.s.slice(a - this.at)];
    for (let k = this.k + 1; this.starts[k]! < b; k++) out.push(this.parts[k]!.slice(0, b - this.starts[k]!));
    return out.join('');
  }

  /** Makes the part holding i the one read (false: i is outside the text). */
  private seek(i: number): boolean {
    if (i < 0 || i >= this.length) return false;
    // Reads go forward: the next part first, else a binary search.
    let k = this.k + 1;
    if (!(k < this.parts.length && this.starts[k]! <= i && i < this.starts[k + 1]!)) {
      let lo = 0;
      let hi = this.parts.length - 1;
      while (lo < hi) {
        const mid = (lo + hi + 1) >> 1;
        if (this.starts[mid]! <= i) lo = mid;
        else hi = mid - 1;
      }
      k = lo;
    }
    this.k = k;
    this.s = this.parts[k]!;
    this.at = this.starts[k]!;
    return true;
  }
}

/**
 * JSON.parse, resumable: step() parses until a deadline and returns whether it is done. Values up
 * to WHOLE_MAX characters (every element of a batch's item list) go through JSON.parse itself;
 * only the containers around them are walked here. Accepts and refuses exactly what JSON.parse
 * does (a refusal is a SyntaxError naming the position), but for nesting walked deeper than
 * MAX_DEPTH; keys named __proto__ become own properties, as with JSON.parse.
 */
export class SlicedJson {
  private pos = 0;
  private st: number = St.Value;
  private readonly stack: Frame[] = [];
  private result: unknown;
  // Bracket matching for containerEnd, one pass over the text ahead of the parser: searching
  // each container's window afresh took time quadratic in the nesting (4.9 s for 70,000 levels).
  /** The text before this is matched; scanInString: it ends inside a string. */
  private scanned = 0;
  private scanInString = false;
  /** Positions of the brackets opened before `scanned` and not closed yet. */
  private readonly opens: number[] = [];
  /** Containers that close within wholeMax: [opener, end] at 2 * (opener % wholeMax) (allocated at the first use). */
  private ends: Int32Array | undefined;

  /** The text read: a string, or a PartText of its parts. */
  private readonly text: string | PartText;

  /** wholeMax: the longest container handed to JSON.parse in one piece (tests walk everything with 0). */
  constructor(
    text: string | readonly string[],
    private readonly wholeMax = WHOLE_MAX,
  ) {
    this.text = Array.isArray(text) ? new PartText(text as readonly string[]) : (text as string);
  }

  get value(): unknown {
    if (this.st !== St.End || this.pos < this.text.length) throw new Error('SlicedJson: not done');
    return this.result;
  }

  /** Parse until done (true) or until performance.now() passes deadline (false). */
  step(deadline: number): boolean {
    const t = this.text;
    const n = t.length;
    for (let k = 1; ; k++) {
      let p = this.pos;
      while (p < n && isWs(t.charCodeAt(p))) p++;
      this.pos = p;
      if (this.st === St.End) {
        if (p < n) throw this.unexpected(p);
        return true;
      }
      if (p >= n) throw new SyntaxError('Unexpected end of JSON input');
      const c = t.charCodeAt(p);
      const st = this.st;
      if ((st === St.ValueOrClose && c === 0x5d) || (st === St.KeyOrClose && c === 0x7d)) {
        this.pos = p + 1;
        this.close();
      } else if (st === St.Value || st === St.ValueOrClose) {
        this.value1(p, c);
      } else if (st === St.Key || st === St.KeyOrClose) {
        if (c !== 0x22) throw this.unexpected(p);
        const end = this.stringEnd(p);
        const key = this.parseSlice(p, end) as string;
        let q = end;
        while (q < n && isWs(t.charCodeAt(q))) q++;
        if (q >= n) throw new SyntaxError('Unexpected end of JSON input');
        if (t.charCodeAt(q) !== 0x3a) throw this.unexpected(q);
        this.stack[this.stack.length - 1]!.key = key;
        this.pos = q + 1;
        this.st = St.Value;
      } else {
        // St.After
        const top = this.stack[this.stack.length - 1]!;
        if (c === 0x2c) {
          this.pos = p + 1;
          this.st = top.arr !== undefined ? St.Value : St.Key;
        } else if ((c === 0x5d && top.arr !== undefined) || (c === 0x7d && top.obj !== undefined)) {
          this.pos = p + 1;
          this.close();
        } else {
          throw this.unexpected(p);
        }
      }
      if (k % CHECK_EVERY === 0 && performance.now() >= deadline) return false;
    }
  }

  /** The value starting at p (its first character c). */
  private value1(p: number, c: number): void {
    const t = this.text;
    if (c === 0x7b || c === 0x5b) {
      const end = this.containerEnd(p);
      if (end >= 0) {
        this.pos = end;
        this.place(this.parseSlice(p, end));
        return;
      }
      if (this.stack.length >= MAX_DEPTH) throw tooDeep(p);
      this.pos = p + 1;
      if (c === 0x5b) {
        this.stack.push({ arr: [], obj: undefined, key: '' });
        this.st = St.ValueOrClose;
      } else {
        this.stack.push({ arr: undefined, obj: {}, key: '' });
        this.st = St.KeyOrClose;
      }
      return;
    }
    let end: number;
    if (c === 0x22) end = this.stringEnd(p);
    else {
      // A number or a literal: up to the next delimiter; JSON.parse judges it.
      end = p;
      while (end < t.length) {
        const d = t.charCodeAt(end);
        if (d === 0x2c || d === 0x5d || d === 0x7d || isWs(d)) break;
        end++;
      }
    }
    this.pos = end;
    this.place(this.parseSlice(p, end));
  }

  private place(v: unknown): void {
    const top = this.stack[this.stack.length - 1];
    if (top === undefined) {
      this.result = v;
      this.st = St.End;
    } else {
      if (top.arr !== undefined) top.arr.push(v);
      else if (top.key === '__proto__') Object.defineProperty(top.obj, '__proto__', { value: v, writable: true, enumerable: true, configurable: true });
      else top.obj![top.key] = v;
      this.st = St.After;
    }
  }

  private close(): void {
    const f = this.stack.pop()!;
    this.place(f.arr ?? f.obj);
  }

  /** The end (exclusive) of the object or array at p if it closes within wholeMax characters, else -1. */
  private containerEnd(p: number): number {
    const w = this.wholeMax;
    if (w === 0) return -1;
    const ends = (this.ends ??= new Int32Array(2 * w).fill(-1));
    this.matchTo(Math.min(this.text.length, p + w));
    // Positions are asked in increasing order and matched at most wholeMax ahead: the slot holds p's.
    const k = 2 * (p % w);
    return ends[k] === p ? ends[k + 1]! : -1;
  }

  /** Match brackets (outside strings) up to lim; a close is recorded when within wholeMax of its opener. */
  private matchTo(lim: number): void {
    const t = this.text;
    const w = this.wholeMax;
    const ends = this.ends!;
    const opens = this.opens;
    let inString = this.scanInString;
    let i = this.scanned;
    for (; i < lim; i++) {
      const c = t.charCodeAt(i);
      if (inString) {
        if (c === 0x5c) i++;
        else if (c === 0x22) inString = false;
      } else if (c === 0x22) inString = true;
      else if (c === 0x7b || c === 0x5b) {
        // opens holds every bracket not closed yet: the nesting here, whatever parses it later.
        if (opens.push(i) > MAX_DEPTH) throw tooDeep(i);
      } else if ((c === 0x7d || c === 0x5d) && opens.length > 0) {
        const o = opens.pop()!;
        if (i - o < w) {
          const k = 2 * (o % w);
          ends[k] = o;
          ends[k + 1] = i + 1;
        }
      }
    }
    this.scanned = i;
    this.scanInString = inString;
  }

  /** The end (exclusive) of the string at p. */
  private stringEnd(p: number): number {
    const t = this.text;
    for (let i = p + 1; i < t.length; i++) {
      const d = t.charCodeAt(i);
      if (d === 0x5c) i++;
      else if (d === 0x22) return i + 1;
    }
    throw new SyntaxError(`Unterminated string in JSON at position ${p}`);
  }

  private parseSlice(p: number, end: number): unknown {
    try {
      return JSON.parse(this.text.slice(p, end));
    } catch (e) {
      throw new SyntaxError(`${(e as Error).message} (in the value at position ${p})`);
    }
  }

  private unexpected(p: number): SyntaxError {
    return new SyntaxError(`Unexpected token '${this.text.slice(p, p + 1)}' in JSON at position ${p}`);
  }
}

/** JSON.parse in slices of about sliceMs with the event loop free in between; `check` (between slices) may throw to abandon it. */
export async function parseJsonSliced(text: string | readonly string[], sliceMs = SLICE_MS, check?: () => void): Promise<unknown> {
  const p = new SlicedJson(text);
  while (!p.step(performance.now() + sliceMs)) {
    await yieldLoop();
    check?.();
  }
  return p.value;
}

/**
 * Long control work written once for both callers: a generator that yields where it may stop
 * (every few services). runSteps runs it to its end at once (in-process callers, tests);
 * runStepsSliced awaits pause() at every yield (Control.slicer: it lets the loop run once the
 * slice has taken SLICE_MS).
 */
/**
 * Long work as steps: a generator that yields between them. Yielding SLICE_END asks a sliced run
 * to end the slice there, before a step known to be long on its own (a large array made at once),
 * so that it is not one piece with the work before it.
 */
export type Steps<T> = Generator<void | typeof SLICE_END, T, void>;

/** Yielded by Steps: end the slice here (runStepsSliced). */
export const SLICE_END: unique symbol = Symbol('slice end');

export function runSteps<T>(steps: Steps<T>): T {
  for (;;) {
    const r = steps.next();
    if (r.done === true) return r.value;
  }
}

/**
 * Awaits pause() only where the slice's clock says the slice ends (Pause.due): an await of
 * pause() at every yield made a Promise and a turn of the microtasks each (a sliced batch of
 * 10,000 x 4: ~4,000 of them, in its copy of the model, its order and its chunks' apply).
 */
export async function runStepsSliced<T>(steps: Steps<T>, pause: Pause): Promise<T> {
  const due = dueOf(pause);
  for (;;) {
    const r = steps.next();
    if (r.done === true) return r.value;
    if (r.value === SLICE_END) await pause(yieldLoop());
    else if (due()) await pause();
  }
}

/** What a Pause returns when the slice goes on (no Promise made for it: Control.slicer, plainSlicer). */
export const GOING_ON: Promise<void> = Promise.resolve();
