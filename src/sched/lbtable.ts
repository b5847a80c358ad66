// The lblc/lblcr cache: destination IP → entry, as the kernel's ip_vs_lblc_table (1024 hash
// buckets, chained). Entries live in typed arrays with a free list, so schedule() looks up and
// inserts without allocating; when the pool is empty the flow is scheduled but not cached
// (the kernel does the same when its GFP_ATOMIC allocation fails), and tick() grows the pool
// off the packet path. Expiry follows ip_vs_lblc_check_expire(): every 60 s; every 30th check is
// a full check that drops entries idle for `expiration` (24 h); the others, only while the table
// holds more than `maxSize` (16384) entries, drop entries idle for `entryTimeout` (6 min), up to
// 4/3 of the excess. Times come from tick() (a coarse clock kept on the table): no clock read per
// packet. A check walks at most LB_CHECK_BUDGET entries per tick() and goes on from there at the
// next ones (the kernel's check runs in a timer and takes the lock per bucket): in one piece, a
// check of a table at its 262,144-entry cap held the loop 3.4-13.5 ms (more under load).

import { hash32 } from './common.js';

export const LB_BUCKET_BITS = 10;
export const LB_CHECK_INTERVAL_MS = 60_000;
export const LB_ENTRY_TIMEOUT_MS = 6 * 60_000;
export const LB_EXPIRATION_MS = 24 * 60 * 60_000;
export const LB_FULL_CHECK_EVERY = 30;
export const LB_MAX_SIZE = 1024 * 16;
/** Entries one tick() walks at most while a check is in progress (~13-51 ns each on the AMD EPYC
 *  host: 0.1-0.4 ms); a check of a table at its cap takes 32 ticks (32 s), within its 60 s. */
export const LB_CHECK_BUDGET = 8192;
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
  /** Entries the checks have walked (a counter: what the budget bounds). */
  walked = 0;
  private free = -1;
  private nextCheck = -1;
  private counter = 1;
  private rover = 0;
  /** The check in progress: buckets it has still to walk (0: none), the bucket it is in and the
   *  last entry it kept there (-1: it goes on at the bucket's head), entries it has still to drop
   *  (Infinity: a full check), and how long an entry must have been idle at the check's start
   *  (the kernel reads jiffies once per check) to be dropped. */
  private walkLeft = 0;
  private walkBucket = 0;
  private walkPrev = -1;
  private walkGoal = 0;
  private walkNow = 0;
  private walkIdle = 0;

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
   * The periodic work: keep the clock, every LB_CHECK_INTERVAL_MS begin the kernel's expiry
   * check, walk LB_CHECK_BUDGET entries of a check in progress, grow the pool when it is 3/4
   * full. `onFree(e)` runs for each dropped entry.
   */
  tick(nowMs: number, onFree?: (e: number) => void): void {
    this.now = nowMs;
    if (this.nextCheck < 0) this.nextCheck = nowMs + LB_CHECK_INTERVAL_MS;
    else if (nowMs >= this.nextCheck && this.walkLeft === 0) {
      // Due while a check is still walking (a table walked slower than every 60 s): begun when it ends.
      this.nextCheck = nowMs + LB_CHECK_INTERVAL_MS;
      this.check();
    }
    if (this.walkLeft > 0) this.walk(LB_CHECK_BUDGET, onFree);
    if (this.count * 4 >= this.capacity * 3 && this.capacity < MAX_CAPACITY) this.grow(this.capacity * 2);
  }

  /** Whether a check is walking the table (it goes on at the next tick()). */
  get checking(): boolean {
    return this.walkLeft > 0;
  }

  /** Begin a check: what ip_vs_lblc_check_expire() decides before its walk. */
  private check(): void {
    if (this.counter % LB_FULL_CHECK_EVERY === 0) {
      this.counter = 1;
      this.begin(Infinity, this.expiration);
      return;
    }
    if (this.count <= this.maxSize) {
      this.counter++;
      return;
    }
    const goal = Math.min(Math.floor(((this.count - this.maxSize) * 4) / 3), Math.floor(this.maxSize / 2));
    this.begin(goal, this.entryTimeout);
  }

  private begin(goal: number, idle: number): void {
    this.walkLeft = this.bucket.length;
    this.walkBucket = (this.rover + 1) & (this.bucket.length - 1);
    this.walkPrev = -1;
    this.walkGoal = goal;
    this.walkNow = this.now;
    this.walkIdle = idle;
  }

  /**
   * The check's walk, from where it stopped: buckets from the rover on, dropping entries idle for
   * walkIdle at the check's start, until every bucket is walked or (at a bucket's end, as the kernel)
   * `goal` are dropped; at most `budget` entries this call. Entries added meanwhile go in at a
   * bucket's head, so the entry it kept last is still where it left off.
   */
  private walk(budget: number, onFree?: (e: number) => void): void {
    const mask = this.bucket.length - 1;
    const now = this.walkNow;
    const idle = this.walkIdle;
    let j = this.walkBucket;
    let prev = this.walkPrev;
    let n = 0;
    while (this.walkLeft > 0) {
      let e = prev < 0 ? this.bucket[j] : this.next[prev];
      while (e >= 0) {
        if (n >= budget) {
          this.walkBucket = j;
          this.walkPrev = prev;
          this.walked += n;
          return;
        }
        n++;
        const nx = this.next[e];
        if (this.lastuse[e] + idle <= now) {
          if (prev < 0) this.bucket[j] = nx;
          else this.next[prev] = nx;
          onFree?.(e);
          this.next[e] = this.free;
          this.free = e;
          this.count--;
          this.walkGoal--;
        } else prev = e;
        e = nx;
      }
      this.rover = j;
      this.walkLeft--;
      prev = -1;
      if (this.walkGoal <= 0) this.walkLeft = 0;
      j = (j + 1) & mask;
    }
    this.walkPrev = -1;
    this.walked += n;
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
