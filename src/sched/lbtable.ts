// The lblc/lblcr cache: destination IP → entry, as the kernel's ip_vs_lblc_table (1024 hash
// buckets, chained). Entries live in typed arrays with a free list, so schedule() looks up and
// inserts without allocating; when the pool is empty the flow is scheduled but not cached
// (the kernel does the same when its GFP_ATOMIC allocation fails), and tick() grows the pool
// off the packet path. Expiry follows ip_vs_lblc_check_expire(): every 60 s; every 30th check is
// a full check that drops entries idle for `expiration` (24 h); the others, only while the table
// holds more than `maxSize` (16384) entries, drop entries idle for `entryTimeout` (6 min), up to
// 4/3 of the excess. Times come from tick() (a coarse clock kept on the table): no clock read per
// packet.

import { hash32 } from './common.js';

export const LB_BUCKET_BITS = 10;
export const LB_CHECK_INTERVAL_MS = 60_000;
export const LB_ENTRY_TIMEOUT_MS = 6 * 60_000;
export const LB_EXPIRATION_MS = 24 * 60 * 60_000;
export const LB_FULL_CHECK_EVERY = 30;
export const LB_MAX_SIZE = 1024 * 16;
// As many entries as the kernel's soft maximum from the start (about 600 KB per service), so the
// cache works at full size even before tick() has run; tick() doubles it when 3/4 full.
const INITIAL_CAPACITY = LB_MAX_SIZE;
const MAX_CAPACITY = 1 << 18;

export class LbTable {
  readonly bucket = new Int32Array(1 << LB_BUCKET_BITS).fill(-1);
  key: Int32Array;
  /** lblc: the cached destination slot; lblcr: the head of the entry's set (element index). */
  val: Int32Array;
  /** lblc: the slot generation when cached (a released slot is never mistaken for its successor). */
  gen: Uint32Array;
  lastuse: Float64Array;
  /** lblcr: when the entry's set last changed, and its size. */
  lastmod: Float64Array;
  size: Int32Array;
  next: Int32Array;
  capacity: number;
  count = 0;
  /** Inserts refused because the pool was full (until tick() grows it). */
  full = 0;
  /** The coarse clock (ms), set by tick(). */
  now = 0;
  expiration = LB_EXPIRATION_MS;
  entryTimeout = LB_ENTRY_TIMEOUT_MS;
  maxSize = LB_MAX_SIZE;
  private free = -1;
  private nextCheck = -1;
  private counter = 1;
  private rover = 0;

  constructor(capacity = INITIAL_CAPACITY) {
    this.capacity = 0;
    this.key = new Int32Array(0);
    this.val = new Int32Array(0);
    this.gen = new Uint32Array(0);
    this.lastuse = new Float64Array(0);
    this.lastmod = new Float64Array(0);
    this.size = new Int32Array(0);
    this.next = new Int32Array(0);
    this.grow(capacity);
  }

  static bucketOf(addr: number): number {
    return hash32(addr, LB_BUCKET_BITS);
  }

  /** The entry for this destination address, or -1. */
  get(addr: number): number {
    const k = addr | 0;
    for (let e = this.bucket[LbTable.bucketOf(k)]; e >= 0; e = this.next[e]) {
      if (this.key[e] === k) return e;
    }
    return -1;
  }

  /** A new entry (caller checked there is none), lastuse = now; -1 when the pool is empty. */
  add(addr: number): number {
    const e = this.free;
    if (e < 0) {
      this.full++;
      return -1;
    }
    this.free = this.next[e];
    const k = addr | 0;
    const b = LbTable.bucketOf(k);
    this.key[e] = k;
    this.lastuse[e] = this.now;
    this.next[e] = this.bucket[b];
    this.bucket[b] = e;
    this.count++;
    return e;
  }

  /**
   * The periodic work: keep the clock, every LB_CHECK_INTERVAL_MS run the kernel's expiry check,
   * grow the pool when it is 3/4 full. `onFree(e)` runs for each dropped entry.
   */
  tick(nowMs: number, onFree?: (e: number) => void): void {
    this.now = nowMs;
    if (this.nextCheck < 0) this.nextCheck = nowMs + LB_CHECK_INTERVAL_MS;
    else if (nowMs >= this.nextCheck) {
      this.nextCheck = nowMs + LB_CHECK_INTERVAL_MS;
      this.check(onFree);
    }
    if (this.count * 4 >= this.capacity * 3 && this.capacity < MAX_CAPACITY) this.grow(this.capacity * 2);
  }

  private check(onFree?: (e: number) => void): void {
    const now = this.now;
    const nb = this.bucket.length;
    if (this.counter % LB_FULL_CHECK_EVERY === 0) {
      this.sweep(nb, Infinity, (e) => this.lastuse[e] + this.expiration <= now, onFree);
      this.counter = 1;
      return;
    }
    if (this.count <= this.maxSize) {
      this.counter++;
      return;
    }
    const goal = Math.min(Math.floor(((this.count - this.maxSize) * 4) / 3), Math.floor(this.maxSize / 2));
    this.sweep(nb, goal, (e) => now >= this.lastuse[e] + this.entryTimeout, onFree);
  }

  /** Walk buckets from the rover, dropping entries `stale` says so, until `goal` are dropped. */
  private sweep(nb: number, goal: number, stale: (e: number) => boolean, onFree?: (e: number) => void): void {
    let j = this.rover;
    for (let i = 0; i < nb; i++) {
      j = (j + 1) & (nb - 1);
      let prev = -1;
      let e = this.bucket[j];
      while (e >= 0) {
        const nx = this.next[e];
        if (stale(e)) {
          if (prev < 0) this.bucket[j] = nx;
          else this.next[prev] = nx;
          onFree?.(e);
          this.next[e] = this.free;
          this.free = e;
          this.count--;
          goal--;
        } else prev = e;
        e = nx;
      }
      if (goal <= 0) break;
    }
    this.rover = j;
  }

  /** Drop everything (done()). */
  clear(onFree?: (e: number) => void): void {
    this.sweep(this.bucket.length, Infinity, () => true, onFree);
  }

  private grow(capacity: number): void {
    const old = this.capacity;
    const key = new Int32Array(capacity);
    key.set(this.key);
    const val = new Int32Array(capacity);
    val.set(this.val);
    const gen = new Uint32Array(capacity);
    gen.set(this.gen);
    const lastuse = new Float64Array(capacity);
    lastuse.set(this.lastuse);
    const lastmod = new Float64Array(capacity);
    lastmod.set(this.lastmod);
    const size = new Int32Array(capacity);
    size.set(this.size);
    const next = new Int32Array(capacity);
    next.set(this.next);
    this.lastmod = lastmod;
    this.size = size;
    this.key = key;
    this.val = val;
    this.gen = gen;
    this.lastuse = lastuse;
    this.next = next;
    // New slots go on the free list.
    for (let e = capacity - 1; e >= old; e--) {
      next[e] = this.free;
      this.free = e;
    }
    this.capacity = capacity;
  }
}
