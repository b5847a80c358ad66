// A small hash map over (int32, int32) keys for the per-packet lookups of local addresses and
// services. Open addressing with linear probing; deletion shifts the following entries back
// (no tombstones), so lookups never slow down after churn. Changed only by the control plane,
// one entry at a time (O(1) amortised: 10,000 services load in milliseconds); the per-packet
// get() never allocates.

export class U32PairMap {
  private ka: Int32Array;
  private kb: Int32Array;
  private val: Int32Array;
  private mask: number;
  count = 0;

  constructor(entries: ReadonlyArray<readonly [number, number, number]> = []) {
    this.mask = 15;
    this.ka = new Int32Array(16);
    this.kb = new Int32Array(16);
    this.val = new Int32Array(16).fill(-1);
    for (const [a, b, v] of entries) this.set(a, b, v);
  }

  private home(a: number, b: number): number {
    return Math.imul(a ^ Math.imul(b, 0x85ebca77), 0x9e3779b1) & this.mask;
  }

  /** The value for (a, b) (compared as int32), or -1. Values must be >= 0. */
  get(a: number, b: number): number {
    let i = this.home(a, b);
    for (;;) {
      const v = this.val[i];
      if (v < 0) return -1;
      if (this.ka[i] === (a | 0) && this.kb[i] === (b | 0)) return v;
      i = (i + 1) & this.mask;
    }
  }

  /** Insert or replace; v must be >= 0. Grows (rehash) to keep the table at most half full. */
  set(a: number, b: number, v: number): void {
    if (v < 0) throw new RangeError('U32PairMap values must be >= 0');
    if ((this.count + 1) * 2 > this.mask + 1) this.resize((this.mask + 1) * 2);
    let i = this.home(a, b);
    for (;;) {
      if (this.val[i] < 0) {
        this.ka[i] = a | 0;
        this.kb[i] = b | 0;
        this.val[i] = v;
        this.count++;
        return;
      }
      if (this.ka[i] === (a | 0) && this.kb[i] === (b | 0)) {
        this.val[i] = v;
        return;
      }
      i = (i + 1) & this.mask;
    }
  }

  /** Remove (a, b); returns whether it was there. */
  delete(a: number, b: number): boolean {
    const m = this.mask;
    let i = this.home(a, b);
    for (;;) {
      if (this.val[i] < 0) return false;
      if (this.ka[i] === (a | 0) && this.kb[i] === (b | 0)) break;
      i = (i + 1) & m;
    }
    // Backward-shift deletion: move later entries of the probe run into the hole when their
    // home slot is not between the hole and their current position.
    let hole = i;
    let j = (i + 1) & m;
    while (this.val[j] >= 0) {
      const h = this.home(this.ka[j], this.kb[j]);
      if (((j - h) & m) >= ((j - hole) & m)) {
        this.ka[hole] = this.ka[j];
        this.kb[hole] = this.kb[j];
        this.val[hole] = this.val[j];
        hole = j;
      }
      j = (j + 1) & m;
    }
    this.val[hole] = -1;
    this.count--;
    return true;
  }

  private resize(size: number): void {
    const { ka, kb, val } = this;
    this.mask = size - 1;
    this.ka = new Int32Array(size);
    this.kb = new Int32Array(size);
    this.val = new Int32Array(size).fill(-1);
    this.count = 0;
    for (let i = 0; i < val.length; i++) if (val[i] >= 0) this.set(ka[i], kb[i], val[i]);
  }
}
