// A small hash map over (int32, int32) keys for the per-packet lookups of local addresses and
// services. Open addressing with linear probing; deletion shifts the following entries back
// (no tombstones), so lookups never slow down after churn. Changed only by the control plane,
// one entry at a time; the per-packet get() never allocates.
//
// It grows without a pause: a larger table is made (zeroed, nothing to fill: an empty slot is
// 0 and a value v is stored as v + 1) and the old one's entries move into it a few slots at each
// change after (STEP), while get() looks in the new table and then, on a miss, in the old one.
// Moving them all at once took 2-3 ms in one piece past 8,192 entries and 10-13 ms past 65,536
// (services, and the real servers' addresses: one -A or -a held the loop that long, issue 7).
// The old table is gone before the new one can fill: growth doubles at half full, so ~size/2
// changes come before the next growth, and the old table's size/2 slots move in size/(2*STEP).
// Without changes, the datapath's timer moves them (settle()).
//
// A batch that will add many entries makes the room first (reserve(), one piece at a time, each
// in a slice of the control's own): the larger table's arrays are made (and their pages touched)
// there, so no piece of the batch's apply holds a growth with its other work (three arrays of
// 16,384 took 0.37-0.70 ms each on a loaded host, at the operation that passed half full).

/** Old slots moved into the new table at each change while growing. */
const STEP = 8;
/** Old slots moved by one settle() (a timer's share: ~20-40 us). */
const SETTLE = 4096;

export class U32PairMap {
  private ka: Int32Array;
  private kb: Int32Array;
  /** value + 1; 0: empty. */
  private val: Int32Array;
  private mask: number;
  /** Entries, in both tables while growing. */
  count = 0;
  /** While growing, the table before (null otherwise): slots below `moved` are in the new one; a
   *  value of -1 is an entry deleted (or set again, into the new table) before it moved. */
  private oka: Int32Array | null = null;
  private okb: Int32Array | null = null;
  private oval: Int32Array | null = null;
  private omask = 0;
  private moved = 0;
  /** reserve(): the next table's arrays made so far (ka, kb, val of one size), before it replaces this one. */
  private next: Int32Array[] = [];

  constructor(entries: ReadonlyArray<readonly [number, number, number]> = []) {
    this.mask = 15;
    this.ka = new Int32Array(16);
    this.kb = new Int32Array(16);
    this.val = new Int32Array(16);
    for (const [a, b, v] of entries) this.set(a, b, v);
  }

  private static home(a: number, b: number, mask: number): number {
    return Math.imul(a ^ Math.imul(b, 0x85ebca77), 0x9e3779b1) & mask;
  }

  /** The value for (a, b) (compared as int32), or -1. Values must be >= 0. */
  get(a: number, b: number): number {
    const m = this.mask;
    let i = U32PairMap.home(a, b, m);
    for (;;) {
      const v = this.val[i];
      if (v === 0) return this.oval === null ? -1 : this.getOld(a, b);
      if (this.ka[i] === (a | 0) && this.kb[i] === (b | 0)) return v - 1;
      i = (i + 1) & m;
    }
  }

  /** get() of an entry not moved yet (while growing). */
  private getOld(a: number, b: number): number {
    const i = this.findOld(a, b);
    return i < 0 ? -1 : this.oval![i] - 1;
  }

  /** Where (a, b) is in the old table and not moved yet, or -1. */
  private findOld(a: number, b: number): number {
    const ka = this.oka!;
    const kb = this.okb!;
    const val = this.oval!;
    const m = this.omask;
    let i = U32PairMap.home(a, b, m);
    for (;;) {
      const v = val[i];
      if (v === 0) return -1;
      if (v > 0 && ka[i] === (a | 0) && kb[i] === (b | 0)) return i < this.moved ? -1 : i; // (below: moved, and deleted since)
      i = (i + 1) & m;
    }
  }

  /** Insert or replace; v must be >= 0. Grows (a larger table, filled a few slots per change) to keep it at most half full. */
  set(a: number, b: number, v: number): void {
    if (v < 0 || v >= 0x7fffffff) throw new RangeError('U32PairMap values must be 0..2^31-2');
    if (this.oval !== null) {
      this.step();
      if (this.oval !== null) {
        const o = this.findOld(a, b);
        if (o >= 0) {
          this.oval[o] = -1; // into the new table, in place of the old
          this.count--;
        }
      }
    }
    if (!this.put(a, b, v + 1)) return; // replaced
    this.count++;
    if (this.count * 2 > this.mask + 1) this.grow();
  }

  /** (a, b) = stored value w in the new table; false when it was there already (replaced). */
  private put(a: number, b: number, w: number): boolean {
    const m = this.mask;
    let i = U32PairMap.home(a, b, m);
    for (;;) {
      if (this.val[i] === 0) {
        this.ka[i] = a | 0;
        this.kb[i] = b | 0;
        this.val[i] = w;
        return true;
      }
      if (this.ka[i] === (a | 0) && this.kb[i] === (b | 0)) {
        this.val[i] = w;
        return false;
      }
      i = (i + 1) & m;
    }
  }

  /** Remove (a, b); returns whether it was there. */
  delete(a: number, b: number): boolean {
    if (this.oval !== null) {
      this.step();
      if (this.oval !== null) {
        const o = this.findOld(a, b);
        if (o >= 0) {
          this.oval[o] = -1;
          this.count--;
          return true;
        }
      }
    }
    const m = this.mask;
    let i = U32PairMap.home(a, b, m);
    for (;;) {
      if (this.val[i] === 0) return false;
      if (this.ka[i] === (a | 0) && this.kb[i] === (b | 0)) break;
      i = (i + 1) & m;
    }
    // Backward-shift deletion: move later entries of the probe run into the hole when their
    // home slot is not between the hole and their current position.
    let hole = i;
    let j = (i + 1) & m;
    while (this.val[j] !== 0) {
      const h = U32PairMap.home(this.ka[j], this.kb[j], m);
      if (((j - h) & m) >= ((j - hole) & m)) {
        this.ka[hole] = this.ka[j];
        this.kb[hole] = this.kb[j];
        this.val[hole] = this.val[j];
        hole = j;
      }
      j = (j + 1) & m;
    }
    this.val[hole] = 0;
    this.count--;
    return true;
  }

  /** Twice the size (or reserve()'s table when made whole): the entries move in later (step()); any still in an older table first. */
  private grow(): void {
    while (this.oval !== null) this.step(); // (cannot happen: see the top)
    const next = this.next;
    this.next = [];
    const made = next.length === 3 && next[0]!.length > this.mask + 1;
    const size = made ? next[0]!.length : (this.mask + 1) * 2;
    this.oka = this.ka;
    this.okb = this.kb;
    this.oval = this.val;
    this.omask = this.mask;
    this.moved = 0;
    this.mask = size - 1;
    this.ka = made ? next[0]! : new Int32Array(size);
    this.kb = made ? next[1]! : new Int32Array(size);
    this.val = made ? next[2]! : new Int32Array(size);
  }

  /** Whether `entries` fit without growing (at most half full). */
  fits(entries: number): boolean {
    return entries * 2 <= this.mask + 1;
  }

  /**
   * One piece of making room for `entries` (control time, before a batch that adds them):
   * a move into a larger table still in progress goes on (settle()), else one array of the
   * table that holds them is made (its pages touched, so the faults are here too), and once it
   * has all three it replaces this one, whose entries move in as after any growth. Returns
   * whether it did something: call it until it returns false, each call where a pause may
   * follow. Nothing changes what get() answers.
   */
  reserve(entries: number): boolean {
    if (this.fits(entries)) return false;
    if (this.oval !== null) {
      this.settle();
      return true;
    }
    let size = this.mask + 1;
    while (entries * 2 > size) size *= 2;
    if (this.next.length > 0 && this.next[0]!.length !== size) this.next = [];
    if (this.next.length < 3) {
      const a = new Int32Array(size);
      for (let i = 0; i < size; i += 1024) a[i] = 0; // 4 KiB pages
      this.next.push(a);
      return true;
    }
    this.grow();
    return true;
  }

  /** STEP more slots of the old table into the new one; the old table dropped after its last. */
  private step(): void {
    const ka = this.oka!;
    const kb = this.okb!;
    const val = this.oval!;
    const end = Math.min(val.length, this.moved + STEP);
    for (let i = this.moved; i < end; i++) if (val[i] > 0) this.put(ka[i], kb[i], val[i]);
    this.moved = end;
    if (end === val.length) {
      this.oka = null;
      this.okb = null;
      this.oval = null;
    }
  }

  /**
   * A timer's share (SETTLE slots) of the move into a larger table: a table that stops changing
   * after it grew would otherwise keep both tables, and every miss look in both, until its next
   * change (the datapath's tick calls it for its lookups).
   */
  settle(): void {
    for (let n = 0; n < SETTLE && this.oval !== null; n += STEP) this.step();
  }

  /** Whether a table is still being moved into a larger one (tests). */
  get growing(): boolean {
    return this.oval !== null;
  }
}
