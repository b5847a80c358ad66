// The kernel's rate estimator (ip_vs_est.c), run every 2 seconds on the running totals:
// rates are kept scaled (packets and connections ×2^10 per second, bytes ×2^5 per second) and
// smoothed with avg += (rate - avg) / 4; reading rounds them back to whole units.
//
// One table holds the estimators of all destination slots (or all service ids), row by row in
// typed arrays: a step over 10,000 services allocates nothing (an object and two Float64Arrays per
// estimator took 10-25 ms per step with 10,000 services, in GC and external-memory scavenges).

import type { Rates } from './protocol.js';

/** Five totals per row: conns, inpkts, outpkts, inbytes, outbytes. */
const W = 5;

export class EstimatorTable {
  /** Per row (W values): the totals at the last step, and the smoothed scaled rates. A row that
   *  was never used, or was restarted, holds zeros: it counts from zero totals. */
  private last = new Float64Array(0);
  private avg = new Float64Array(0);

  private grow(row: number): void {
    if (row * W < this.last.length) return;
    let cap = Math.max(64, this.last.length / W);
    while (cap <= row) cap *= 2;
    const l = new Float64Array(cap * W);
    l.set(this.last);
    const a = new Float64Array(cap * W);
    a.set(this.avg);
    this.last = l;
    this.avg = a;
  }

  /** One 2-second step of a row with its current totals. */
  sample(row: number, conns: number, inpkts: number, outpkts: number, inbytes: number, outbytes: number): void {
    this.grow(row);
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
