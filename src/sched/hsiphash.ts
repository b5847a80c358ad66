// hsiphash() of one 32-bit word as Linux computes it on 64-bit machines (lib/siphash.c: there
// "HalfSipHash-1-3" is SipHash-1-3 with two 64-bit key words, truncated to 32 bits). mh hashes
// with it, so uvs builds the same Maglev permutations as a kernel director.
//
// SipHash works on 64-bit words. JavaScript has no cheap 64-bit integers (BigInt allocates;
// (hi, lo) int32 pairs with carries cost ~85 ns per hash), so the function is a small
// WebAssembly module, whose i64 arithmetic is native: ~10-15 ns per call, no allocation. The
// module is assembled below at load time from its instructions (no binary blob, no toolchain);
// test/unit-sched-all.test.ts checks it against a BigInt SipHash written from the paper.

// WebAssembly opcodes used (core spec, binary format).
const LOCAL_GET = 0x20;
const LOCAL_SET = 0x21;
const I64_CONST = 0x42;
const I32_WRAP_I64 = 0xa7;
const I64_EXTEND_I32_U = 0xad;
const I64_ADD = 0x7c;
const I64_OR = 0x84;
const I64_XOR = 0x85;
const I64_SHL = 0x86;
const I64_ROTL = 0x89;
const END = 0x0b;
const I32 = 0x7f;
const I64 = 0x7e;

/** Unsigned LEB128 (sizes and counts). */
function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

/** Signed LEB128 of a 64-bit constant (i64.const's immediate). */
function sleb(v: bigint): number[] {
  const out: number[] = [];
  for (;;) {
    const b = Number(v & 0x7fn);
    v >>= 7n;
    if ((v === 0n && (b & 0x40) === 0) || (v === -1n && (b & 0x40) !== 0)) return [...out, b];
    out.push(b | 0x80);
  }
}

/** The code of hsiphash32(v, k0h, k0l, k1h, k1l) -> i32. Params 0..4 (i32); locals 5..8 are
 *  v0..v3, 9 is the message word b, 10 and 11 the keys (all i64). */
function hashBody(): number[] {
  const [V0, V1, V2, V3, B, K0, K1] = [5, 6, 7, 8, 9, 10, 11];
  const get = (i: number) => [LOCAL_GET, i];
  const set = (i: number) => [LOCAL_SET, i];
  const c64 = (v: bigint) => [I64_CONST, ...sleb(BigInt.asIntN(64, v))];
  const u64 = (i: number) => [...get(i), I64_EXTEND_I32_U];
  // a += b; b = rotl(b, r) ^ a
  const addRotXor = (a: number, b: number, r: bigint) => [
    ...get(a), ...get(b), I64_ADD, ...set(a), ...get(b), ...c64(r), I64_ROTL, ...get(a), I64_XOR, ...set(b),
  ];
  const rotl32 = (a: number) => [...get(a), ...c64(32n), I64_ROTL, ...set(a)];
  const xorInto = (a: number, code: number[]) => [...get(a), ...code, I64_XOR, ...set(a)];
  const sipround = [
    ...addRotXor(V0, V1, 13n), ...rotl32(V0), ...addRotXor(V2, V3, 16n),
    ...addRotXor(V0, V3, 21n), ...addRotXor(V2, V1, 17n), ...rotl32(V2),
  ];
  return [
    // k = hi << 32 | lo
    ...u64(1), ...c64(32n), I64_SHL, ...u64(2), I64_OR, ...set(K0),
    ...u64(3), ...c64(32n), I64_SHL, ...u64(4), I64_OR, ...set(K1),
    // the initial state "somepseudorandomlygeneratedbytes" xor the keys
    ...c64(0x736f6d6570736575n), ...get(K0), I64_XOR, ...set(V0),
    ...c64(0x646f72616e646f6dn), ...get(K1), I64_XOR, ...set(V1),
    ...c64(0x6c7967656e657261n), ...get(K0), I64_XOR, ...set(V2),
    ...c64(0x7465646279746573n), ...get(K1), I64_XOR, ...set(V3),
    // b = len << 56 | v (len = 4 bytes, little-endian word)
    ...u64(0), ...c64(4n << 56n), I64_OR, ...set(B),
    // one compression round, then three finalization rounds
    ...xorInto(V3, get(B)), ...sipround, ...xorInto(V0, get(B)),
    ...xorInto(V2, c64(0xffn)), ...sipround, ...sipround, ...sipround,
    ...get(V0), ...get(V1), I64_XOR, ...get(V2), I64_XOR, ...get(V3), I64_XOR, I32_WRAP_I64,
    END,
  ];
}

function moduleBytes(): Uint8Array<ArrayBuffer> {
  const section = (id: number, content: number[]) => [id, ...uleb(content.length), ...content];
  const name = [...Buffer.from('h')];
  const func = [1, 7, I64, ...hashBody()]; // one local group: 7 × i64
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // "\0asm", version 1
    ...section(1, [1, 0x60, 5, I32, I32, I32, I32, I32, 1, I32]), // type: (i32 × 5) -> i32
    ...section(3, [1, 0]), // function 0 has type 0
    ...section(7, [1, name.length, ...name, 0x00, 0]), // export "h" = function 0
    ...section(10, [1, ...uleb(func.length), ...func]), // its code
  ]);
}

type Hash = (v: number, k0h: number, k0l: number, k1h: number, k1l: number) => number;

/**
 * hsiphash(&v, 4, key) with key = {k0, k1}, each a 64-bit word given as (hi, lo); returns the
 * result as an int32 (callers take `>>> 0` where they use it, so no uint32 is boxed on return).
 * v is read as a little-endian 32-bit word (the machine's own order on x86).
 */
export const hsiphash32: Hash = new WebAssembly.Instance(new WebAssembly.Module(moduleBytes())).exports.h as Hash;
