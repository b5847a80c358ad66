// SYN cookies for the SYN proxy (src/modes/synproxy.ts): the initial sequence number uvsd
// answers a SYN with carries everything needed to accept the client's ACK later without having
// kept any state. The idea is Linux's and DPVS's (net/ipv4/syncookies.c); the layout is ours:
//
//   bits 31-30  the time period (16 s each) the cookie was made in, modulo 4
//   bits 29-28  index of the client's MSS in MSS_TABLE (the largest entry not above it)
//   bits 27-0   a keyed hash of (client addr, VIP, ports, client ISN, full period, MSS index)
//
// The key is random per period and forgotten after four periods (four key slots, the slot of
// period t is t & 3), so a cookie is accepted for 48-64 s after it was made and a stolen key
// ages out. The hash is hsiphash chained over the words (the kernel's keyed hash for short
// inputs); 28 bits leave a blind guess a 1 in 268 million chance per ACK.
//
// A client whose SYN carries timestamps gets the rest of its options kept in the SYN|ACK's TSval,
// which its ACK echoes as TSecr (Linux's cookie_init_timestamp / cookie_timestamp_decode):
//
//   bits 31-6  the director's timestamp clock
//   bit 5      0 (Linux: ECN; uvs does not negotiate ECN, docs/resilience.md)
//   bit 4      SACK-permitted
//   bits 3-0   the client's window scale, 15: none
//
// These bits are not in the cookie's hash: the cookie is checked as before, and a client that
// changes them only changes the options of its own connection.

import { randomFillSync } from 'node:crypto';
import { hsiphash32 } from '../sched/hsiphash.js';

/** Length of one cookie time period (ms). */
export const COOKIE_PERIOD_MS = 16_000;
/** A cookie made this many periods ago is still accepted (its key slot is not reused before). */
export const COOKIE_MAX_AGE = 3;
/** MSS values a cookie can carry (the client's MSS is rounded down to one of them), as Linux's msstab. */
export const MSS_TABLE: readonly number[] = [536, 1300, 1440, 1460];

const HASH_MASK = 0x0fffffff;

/** The low bits of a timestamp cookie (see above). */
export const TSC_WSCALE = 0x0f;
export const TSC_NO_WSCALE = 0x0f;
export const TSC_SACK = 0x10;
const TSC_BITS = 0x3f;

/** The TSval of a SYN|ACK: `clock` (any int32 timestamp clock) with the client's window scale (-1: none) and SACK-permitted. */
export function cookieTsval(clock: number, wscale: number, sack: boolean): number {
  return (clock & ~TSC_BITS) | (wscale < 0 ? TSC_NO_WSCALE : wscale) | (sack ? TSC_SACK : 0);
}

export class SynCookies {
  /** Four key slots of four int32 words (two 64-bit hsiphash keys as hi/lo pairs). */
  private readonly keys = new Int32Array(16);
  /** The period each slot's key belongs to (-1: none yet). */
  private readonly keyPeriod = new Float64Array(4).fill(-1);
  private readonly fresh = new Int32Array(4);
  private readonly random: (a: Int32Array) => void;

  /** `random` fills a key (tests pass a deterministic one). */
  constructor(random: (a: Int32Array) => void = (a) => void randomFillSync(a)) {
    this.random = random;
  }

  /** The MSS_TABLE index for a client's MSS (0 when it announced none or less than 536), at most `maxMss`. */
  static mssIndex(mss: number, maxMss: number): number {
    const m = mss < maxMss ? mss : maxMss;
    let i = MSS_TABLE.length - 1;
    while (i > 0 && MSS_TABLE[i] > m) i--;
    return i;
  }

  /** The key slot of period t, made now if t has none yet (a new random key: the rotation). */
  private slotFor(t: number): number {
    const s = t & 3;
    if (this.keyPeriod[s] !== t) {
      this.random(this.fresh);
      for (let i = 0; i < 4; i++) this.keys[s * 4 + i] = this.fresh[i];
      this.keyPeriod[s] = t;
    }
    return s;
  }

  private hash(s: number, caddr: number, cport: number, vaddr: number, vport: number, cisn: number, t: number, mssIdx: number): number {
    const k = this.keys;
    const b = s * 4;
    let h = hsiphash32(caddr, k[b], k[b + 1], k[b + 2], k[b + 3]);
    h = hsiphash32(vaddr, h, k[b + 1], k[b + 2], k[b + 3]);
    h = hsiphash32((cport << 16) | vport, h, k[b + 1], k[b + 2], k[b + 3]);
    return hsiphash32(cisn, h, (t << 2) | mssIdx, k[b + 2], k[b + 3]);
  }

  /** The period a time (ms) falls in: what make() and check() take (an integer: never boxed on the way). */
  static period(nowMs: number): number {
    return Math.floor(nowMs / COOKIE_PERIOD_MS);
  }

  /** The cookie (an int32 ISN) for a SYN from caddr:cport to vaddr:vport with ISN cisn, in period t. */
  make(caddr: number, cport: number, vaddr: number, vport: number, cisn: number, mssIdx: number, t: number): number {
    const s = this.slotFor(t);
    return ((t & 3) << 30) | (mssIdx << 28) | (this.hash(s, caddr, cport, vaddr, vport, cisn, t, mssIdx) & HASH_MASK);
  }

  /**
   * Check a cookie (the client's ack - 1) against the tuple and the client's ISN (its seq - 1) in period `now`:
   * the MSS index it carries, or -1 when it was not made for this tuple, is too old, or its key
   * was rotated away.
   */
  check(caddr: number, cport: number, vaddr: number, vport: number, cisn: number, cookie: number, now: number): number {
    const t = now - ((now - (cookie >>> 30)) & 3); // the latest period with these two bits
    if (now - t > COOKIE_MAX_AGE || this.keyPeriod[t & 3] !== t) return -1;
    const mssIdx = (cookie >>> 28) & 3;
    const h = this.hash(t & 3, caddr, cport, vaddr, vport, cisn, t, mssIdx) & HASH_MASK;
    return h === (cookie & HASH_MASK) ? mssIdx : -1;
  }
}
