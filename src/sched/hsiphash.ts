// hsiphash() of one 32-bit word as Linux computes it on 64-bit machines (lib/siphash.c: there
// "HalfSipHash-1-3" is SipHash-1-3 with two 64-bit key words, truncated to 32 bits). mh hashes
// with it, so uvs builds the same Maglev permutations as a kernel director.
// 64-bit words are kept as (hi, lo) int32 pairs in locals: no BigInt, no allocation per call.

/** SipHash's initial state "somepseudorandomlygeneratedbytes", as (hi, lo) pairs. */
const C0H = 0x736f6d65, C0L = 0x70736575;
const C1H = 0x646f7261, C1L = 0x6e646f6d;
const C2H = 0x6c796765, C2L = 0x6e657261;
const C3H = 0x74656462, C3L = 0x79746573;

/**
 * hsiphash(&v, 4, key) with key = {k0, k1}, each a 64-bit word given as (hi, lo); returns the
 * result as an int32 (callers take `>>> 0` where they use it, so no uint32 is boxed on return).
 * v is read as a little-endian 32-bit word (the machine's own order on x86).
 */
export function hsiphash32(v: number, k0h: number, k0l: number, k1h: number, k1l: number): number {
  let v0h = C0H ^ k0h, v0l = C0L ^ k0l;
  let v1h = C1H ^ k1h, v1l = C1L ^ k1l;
  let v2h = C2H ^ k0h, v2l = C2L ^ k0l;
  let v3h = C3H ^ k1h, v3l = C3L ^ k1l;
  // b = len << 56 | v  (len = 4)
  const bh = 0x04000000;
  const bl = v | 0;
  v3h ^= bh;
  v3l ^= bl;
  for (let r = 0; r < 4; r++) {
    if (r === 1) {
      v0h ^= bh;
      v0l ^= bl;
      v2l ^= 0xff;
    }
    // SIPROUND
    let lo = (v0l + v1l) | 0;
    v0h = (v0h + v1h + ((lo >>> 0) < (v0l >>> 0) ? 1 : 0)) | 0;
    v0l = lo;
    let th = (v1h << 13) | (v1l >>> 19);
    let tl = (v1l << 13) | (v1h >>> 19);
    v1h = th ^ v0h;
    v1l = tl ^ v0l;
    th = v0h; // rotl 32
    v0h = v0l;
    v0l = th;

    lo = (v2l + v3l) | 0;
    v2h = (v2h + v3h + ((lo >>> 0) < (v2l >>> 0) ? 1 : 0)) | 0;
    v2l = lo;
    th = (v3h << 16) | (v3l >>> 16);
    tl = (v3l << 16) | (v3h >>> 16);
    v3h = th ^ v2h;
    v3l = tl ^ v2l;

    lo = (v0l + v3l) | 0;
    v0h = (v0h + v3h + ((lo >>> 0) < (v0l >>> 0) ? 1 : 0)) | 0;
    v0l = lo;
    th = (v3h << 21) | (v3l >>> 11);
    tl = (v3l << 21) | (v3h >>> 11);
    v3h = th ^ v0h;
    v3l = tl ^ v0l;

    lo = (v2l + v1l) | 0;
    v2h = (v2h + v1h + ((lo >>> 0) < (v2l >>> 0) ? 1 : 0)) | 0;
    v2l = lo;
    th = (v1h << 17) | (v1l >>> 15);
    tl = (v1l << 17) | (v1h >>> 15);
    v1h = th ^ v2h;
    v1l = tl ^ v2l;
    th = v2h; // rotl 32
    v2h = v2l;
    v2l = th;
  }
  return v0l ^ v1l ^ v2l ^ v3l;
}
