// The kernel's rate estimator (ip_vs_est.c), run every 2 seconds on the running totals:
// rates are kept scaled (packets and connections ×2^10 per second, bytes ×2^5 per second) and
// smoothed with avg += (rate - avg) / 4; reading rounds them back to whole units.
//
// One table holds the estimators of all destination slots (or all service ids), row by row in
// typed arrays: a step over 10,000 services allocates nothing (an object and two Float64Arrays per
// estimator took 10-25 ms per step with 10,000 services, in GC and external-memory scavenges).
// The status page's rates (src/metrics/rates.ts) keep their rows the same way (RateTable).
//
// The 2-second period is run in EST_TICKS ticks, a share of the rows each, as the kernel since
// Linux 6.2 spreads its estimators over IPVS_EST_NTICKS ticks of the period: row r steps at tick
// r % EST_TICKS, so every row keeps an exact 2 s period and no tick does the whole table (a
// whole step took 4-6 ms with 10,000 services of 4 servers, the status page's 37-78 ms).

import type { Rates } from './protocol.js';

/** Ticks per 2-second period (every 250 ms); a row steps at tick row % EST_TICKS. */
export const EST_TICKS = 8;

/** A tick run from its timer gives the event loop a turn once it has run this long (ms), then goes on. */
export const EST_SLICE_MS = 1;
/** Rows stepped between two looks at the clock. */
export const EST_CHECK_ROWS = 64;

/**
 * Runs the ticks every periodMs / EST_TICKS, each in slices of EST_SLICE_MS: step(deadline)
 * steps rows of the current tick until it is done (true) or the clock passes the deadline (false:
 * the rest at the next turn of the loop). The first ticks after a start run before the JIT has
 * compiled them: a first tick over 10,000 services of 4 servers held the loop 8-19 ms at once.
 */
export function startTicks(step: (deadline: number) => boolean, periodMs: number): () => void {
  let going = false;
  const run = (): void => {
    going = !step(performance.now() + EST_SLICE_MS);
    if (going) setImmediate(run);
  };
  const timer = setInterval(() => {
    if (!going) run(); // else the tick before goes on (its next slice is queued)
  }, periodMs / EST_TICKS);
  timer.unref();
  return () => clearInterval(timer);
}

/**
 * Walks a tick's services, ids `from`, `from + EST_TICKS`, ... (the rows of tick `from %
 * EST_TICKS`), calling `each(svc, id)` for each present one; between services, once
 * EST_CHECK_ROWS rows (a service and each of its servers) went by since the last look (`rows`
 * counted before the first), it looks at the clock: the id to go on from when performance.now()
 * passed `deadline`, else -1 (the tick's services done). A service's servers are stepped in one
 * slice. The estimators (Control.estimateSome) and the status page's rates (Rates.tickSome) walk
 * the same services; `each` is bound once, so a walk allocates nothing.
 */
export function walkTick<S extends { readonly dests: ArrayLike<number> }>(
  services: readonly (S | undefined)[],
  from: number,
  deadline: number,
  each: (svc: S, id: number) => void,
  rows = 0,
): number {
  const timed = deadline !== Infinity;
  let n = rows;
  for (let id = from; id < services.length; id += EST_TICKS) {
    if (timed && n >= EST_CHECK_ROWS) {
      n = 0;
      if (performance.now() >= deadline) return id;
    }
    const svc = services[id];
    if (svc === undefined) continue;
    n += svc.dests.length + 1;
    each(svc, id);
  }
  return -1;
}

/** Five totals per row: conns, inpkts, outpkts, inbytes, outbytes. */
const W = 5;

/**
 * Rows of `width` numbers in typed arrays: `capacity` rows from the start (the rows the caller
 * knows it can have: the destination slots, --dest-max), so a tick never grows them (the first
 * tick over 10,000 services of 4 servers grew them by doubling to full size: 40-57 ms); a row
 * beyond it doubles them. A step allocates nothing. Untouched rows are zero pages the kernel has
 * not handed out yet: the capacity costs memory as rows are used.
 */
class EstRows {
  /** Per row (width values): the totals at the row's last step, and its smoothed rates. */
  protected last: Float64Array;
  protected avg: Float64Array;
  /** Rows stepped, ever (tests: a tick steps only its share of the rows). */
  steps = 0;
  /** Times the rows were reallocated (grow()), ever (tests: none below the capacity). */
  grows = 0;

  constructor(readonly width: number, capacity = 0) {
    this.last = new Float64Array(capacity * width);
    this.avg = new Float64Array(capacity * width);
  }

  protected grow(row: number): void {
    const w = this.width;
    if (row * w < this.last.length) return;
    let cap = Math.max(64, this.last.length / w);
    while (cap <= row) cap *= 2;
    const l = new Float64Array(cap * w);
    l.set(this.last);
    const a = new Float64Array(cap * w);
    a.set(this.avg);
    this.last = l;
    this.avg = a;
    this.grows++;
    this.resized(cap);
  }

  protected resized(_cap: number): void {}
}

/** ipvsadm --rate's estimators (W totals a row, the smoothed rates scaled as the kernel's). A row
 *  that was never used, or was restarted, holds zeros: it counts from zero totals. */
export class EstimatorTable extends EstRows {
  /** capacity: rows allocated now (EstRows). */
  constructor(capacity = 0) {
    super(W, capacity);
  }

  /** One 2-second step of a row with its current totals. */
  sample(row: number, conns: number, inpkts: number, outpkts: number, inbytes: number, outbytes: number): void {
    this.grow(row);
    this.steps++;
    const o = row * W;
    // counts over 2 s <<9 = per second ×2^10; bytes <<4 = per second ×2^5
    this.step(o, conns, 512);
    this.step(o + 1, inpkts, 512);
    this.step(o + 2, outpkts, 512);
    this.step(o + 3, inbytes, 16);
    this.step(o + 4, outbytes, 16);
  }

  private step(i: number, now: number, scale: number): void {
    const delta = Math.max(0, now - this.last[i]!); // totals zeroed (-Z): no negative rate
    this.last[i] = now;
    this.avg[i]! += Math.floor((delta * scale - this.avg[i]!) / 4);
  }

  /**
   * Start a row from zero totals and zero rates: its counters were just set to zero (a new service
   * or server, a reused slot or id, or -Z). As the kernel's ip_vs_zero_estimator, the next step
   * counts everything since then: traffic in the first 2 seconds after -Z shows in --rate.
   */
  restart(row: number): void {
    if (row * W >= this.last.length) return; // never used: zeros already
    this.last.fill(0, row * W, row * W + W);
    this.avg.fill(0, row * W, row * W + W);
  }

  read(row: number): Rates {
    if (row * W >= this.avg.length) return ZERO_RATES;
    const o = row * W;
    const a = this.avg;
    const cnt = (v: number): number => Math.max(0, Math.floor((v + 0x1ff) / 1024));
    const byt = (v: number): number => Math.max(0, Math.floor((v + 0xf) / 32));
    return { cps: cnt(a[o]!), inpps: cnt(a[o + 1]!), outpps: cnt(a[o + 2]!), inbps: byt(a[o + 3]!), outbps: byt(a[o + 4]!) };
  }
}

export const ZERO_RATES: Rates = { cps: 0, inpps: 0, outpps: 0, inbps: 0, outbps: 0 };

/**
 * The status page's rates (src/metrics/rates.ts): per second, over the time the caller measured
 * since the row's last step, smoothed with avg += (rate - avg) / 4, unscaled. A row belongs to a
 * tag (a destination slot's generation): a step with another tag, or the first step, starts the
 * row from the totals then (zero rates until its next step).
 */
export class RateTable extends EstRows {
  /** The caller fills it with a row's current totals before step(). */
  readonly now: Float64Array;
  /** Per row: its tag + 1 (0: no row). */
  private tags: Float64Array;

  /** capacity: rows allocated now (EstRows). */
  constructor(width: number, capacity = 0) {
    super(width, capacity);
    this.now = new Float64Array(width);
    this.tags = new Float64Array(capacity);
  }

  protected override resized(cap: number): void {
    const t = new Float64Array(cap);
    t.set(this.tags);
    this.tags = t;
  }

  /** Step a row with the totals in `now`, `secs` after its last step. */
  step(row: number, tag: number, secs: number): void {
    this.grow(row);
    this.steps++;
    const w = this.width;
    const o = row * w;
    const now = this.now;
    if (this.tags[row] !== tag + 1) {
      this.tags[row] = tag + 1;
      for (let k = 0; k < w; k++) {
        this.last[o + k] = now[k];
        this.avg[o + k] = 0;
      }
      return;
    }
    for (let k = 0; k < w; k++) {
      if (secs > 0) this.avg[o + k] += (Math.max(0, now[k] - this.last[o + k]) / secs - this.avg[o + k]) / 4;
      this.last[o + k] = now[k];
    }
  }

  /** The row is gone (its slot is free): its next step starts it again. */
  forget(row: number): void {
    if (row < this.tags.length) this.tags[row] = 0;
  }

  /** Rate k of the row, per second; 0 for no row of that tag. */
  rate(row: number, tag: number, k: number): number {
    return row < this.tags.length && this.tags[row] === tag + 1 ? this.avg[row * this.width + k] : 0;
  }
}
