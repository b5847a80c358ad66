// Small read-only hash maps over uint32 keys for the per-packet lookups of local addresses
// and services. Rebuilt by the control plane on every change (rare), never mutated in place,
// so the hot path needs no deletion logic and never allocates.

export class U32PairMap {
  private readonly ka: Int32Array;
  private readonly kb: Int32Array;
  private readonly val: Int32Array;
  private readonly mask: number;

  constructor(entries: ReadonlyArray<readonly [number, number, number]>) {
    let size = 16;
    while (size < entries.length * 2) size *= 2;
    this.mask = size - 1;
    this.ka = new Int32Array(size);
    this.kb = new Int32Array(size);
    this.val = new Int32Array(size).fill(-1);
    for (const [a, b, v] of entries) {
      let i = this.home(a, b);
      while (this.val[i] >= 0) i = (i + 1) & this.mask;
      this.ka[i] = a | 0;
      this.kb[i] = b | 0;
      this.val[i] = v;
    }
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
}
