// Per-source new-connection limit (uvsd --max-conn-rate-per-source): a token bucket per hash
// bucket of the client address, in two typed arrays, refilled lazily when the bucket is used.
// Sources that collide share a bucket (65,536 of them by default), which only ever makes the
// limit stricter for those sources. No allocation after construction. With one bucket it is one
// limit for everything (the ICMP errors uvsd sends, pipeline.ts icmpLimit); the ICMP errors' per-
// source limit in front of it is another of these (icmpPeerLimit). With --workers the
// buckets are shared memory (sharedBuckets): one limit per source over all workers, whichever
// worker each of its connections reaches; two workers refilling one bucket at the same moment
// may let one connection more through, never fewer.

/** Buckets of the ICMP errors' per-source limit (pipeline.ts ICMP_PEER_*): 64 KB, 4,096 sources apart. */
export const ICMP_PEER_BUCKETS = 4096;

/** A limiter's buckets, which several limiters (one per worker) may share. */
export interface LimiterBuckets {
  tokens: Float64Array;
  /** ms of the last refill per bucket. */
  last: Float64Array;
  seed: number;
}

/** Buckets in shared memory, for the limiters of every worker. */
export function sharedBuckets(buckets = 65536): LimiterBuckets {
  return {
    tokens: new Float64Array(new SharedArrayBuffer(8 * buckets)),
    last: new Float64Array(new SharedArrayBuffer(8 * buckets)).fill(-Infinity),
    seed: (Math.random() * 0x100000000) | 0,
  };
}

export class SourceLimiter {
  /** New connections per second allowed per source; 0 = no limit. */
  rate = 0;
  /** Bucket depth: how many new connections a quiet source may open at once. */
  burst = 0;
  private readonly tokens: Float64Array;
  /** ms of the last refill per bucket. */
  private readonly last: Float64Array;
  private readonly mask: number;
  private readonly seed: number;

  /** `buckets` of its own, or `shared` ones (sharedBuckets: their count and seed). */
  constructor(buckets = 65536, seed = (Math.random() * 0x100000000) | 0, shared?: LimiterBuckets) {
    if (shared !== undefined) buckets = shared.tokens.length;
    if (buckets < 1 || (buckets & (buckets - 1)) !== 0) throw new RangeError('limiter buckets must be a power of two');
    this.tokens = shared?.tokens ?? new Float64Array(buckets);
    this.last = shared?.last ?? new Float64Array(buckets).fill(-Infinity);
    this.mask = buckets - 1;
    this.seed = shared?.seed ?? seed;
  }

  /** Limit every source to `rate` new connections per second, bursts up to `burst` (default rate). */
  configure(rate: number, burst = rate): void {
    this.rate = rate;
    this.burst = Math.max(1, burst);
    this.last.fill(-Infinity); // every bucket starts full
  }

  /** Take a token for a new connection from `src` (int32) at `now` ms; false = over the limit. */
  allow(src: number, now: number): boolean {
    const h = this.bucket(src);
    let t = this.tokens[h] + ((now - this.last[h]) * this.rate) / 1000;
    if (!(t < this.burst)) t = this.burst; // also the first use (-Infinity elapsed → NaN/Infinity)
    this.last[h] = now;
    if (t < 1) {
      this.tokens[h] = t;
      return false;
    }
    this.tokens[h] = t - 1;
    return true;
  }

  /** Would allow(src, now) let one through? Nothing taken, nothing changed. */
  has(src: number, now: number): boolean {
    const h = this.bucket(src);
    return !(this.tokens[h] + ((now - this.last[h]) * this.rate) / 1000 < 1); // NaN/Infinity (first use): full
  }

  /** The bucket of `src` (int32): sources hashing alike share a limit (the seed is random per start). */
  bucket(src: number): number {
    const h = Math.imul(src ^ this.seed, 0x9e3779b1);
    return (h ^ (h >>> 16)) & this.mask;
  }
}

