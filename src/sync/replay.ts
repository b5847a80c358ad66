// Anti-replay for sync datagrams (docs/ha.md), as IPsec's sliding window (RFC 4303 3.4.3): per
// sender, the highest sequence number heard and a bitmap of the REPLAY_WINDOW numbers up to it.
// A number already heard, or older than the window, is refused: a datagram recorded off the wire
// and sent again (or duplicated, or very late) installs nothing. A sender's id is random per
// uvsd start (codec.ts), so a restarted master is a new sender with a window of its own; a
// sender takes a new id before its numbers reach 2^31 (daemon.ts SEQ_LIMIT): a number up to
// 2^31-1 ahead of the newest is new here, so one that wrapped would let a datagram recorded
// 2^31 datagrams ago in as new, and refuse every genuine one after it as old.

/** Sequence numbers a late (reordered) datagram may be behind the newest and still be taken. */
export const REPLAY_WINDOW = 1024;

/** What check() says of a sequence number: a gap count ≥ 0 (new, after that many unheard), or one of these. */
export const SEQ_LATE = -1;
export const SEQ_REPLAYED = -2;
export const SEQ_OLD = -3;

export class ReplayWindow {
  /** The newest sequence number heard. */
  private top: number;
  /** How many numbers up to top the bitmap covers: fewer than REPLAY_WINDOW for a sender heard since lately. */
  private span = 1;
  /** Bit s % REPLAY_WINDOW: number s heard (for s within the span). */
  private readonly bits = new Uint32Array(REPLAY_WINDOW / 32);
  /** The socket was closed since: the next number ahead is not a gap (nobody listened). */
  fresh = false;
  /** When (the caller's clock, ms) a number was last taken. */
  heardAt: number;

  constructor(first: number, now = 0) {
    this.top = first >>> 0;
    this.set(this.top);
    this.heardAt = now;
  }

  /** Take seq (marking it heard, at `now`) or refuse it. */
  check(seq: number, now = this.heardAt): number {
    seq >>>= 0;
    const ahead = (seq - this.top) >>> 0;
    if (ahead !== 0 && ahead < 0x80000000) {
      // New: the numbers skipped are unheard; those that leave the window are forgotten.
      for (let s = this.top + 1, n = Math.min(ahead, REPLAY_WINDOW); n > 0; s++, n--) this.clear(s >>> 0);
      this.top = seq;
      this.span = Math.min(REPLAY_WINDOW, this.span + ahead);
      this.set(seq);
      this.heardAt = now;
      const gap = this.fresh ? 0 : ahead - 1;
      this.fresh = false;
      return gap;
    }
    const back = (this.top - seq) >>> 0;
    if (back >= this.span) return SEQ_OLD;
    if (this.heard(seq)) return SEQ_REPLAYED;
    this.set(seq);
    this.heardAt = now;
    return SEQ_LATE;
  }

  private heard(s: number): boolean {
    const i = s % REPLAY_WINDOW;
    return (this.bits[i >>> 5] & (1 << (i & 31))) !== 0;
  }

  private set(s: number): void {
    const i = s % REPLAY_WINDOW;
    this.bits[i >>> 5] |= 1 << (i & 31);
  }

  private clear(s: number): void {
    const i = s % REPLAY_WINDOW;
    this.bits[i >>> 5] &= ~(1 << (i & 31));
  }
}
