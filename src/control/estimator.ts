// The kernel's rate estimator (ip_vs_est.c), run every 2 seconds on the running totals:
// rates are kept scaled (packets and connections ×2^10 per second, bytes ×2^5 per second) and
// smoothed with avg += (rate - avg) / 4; reading rounds them back to whole units.

import type { Rates } from './protocol.js';

export class Estimator {
  private primed = false;
  private readonly last = new Float64Array(5);
  private readonly avg = new Float64Array(5);

  /** One 2-second step with the current totals. */
  sample(conns: number, inpkts: number, outpkts: number, inbytes: number, outbytes: number): void {
    const now = [conns, inpkts, outpkts, inbytes, outbytes];
    if (!this.primed) {
      // A new estimator starts from the totals it first sees (ip_vs_start_estimator).
      for (let i = 0; i < 5; i++) this.last[i] = now[i];
      this.primed = true;
      return;
    }
    for (let i = 0; i < 5; i++) {
      const delta = Math.max(0, now[i] - this.last[i]); // totals zeroed (-Z): no negative rate
      this.last[i] = now[i];
      // counts over 2 s <<9 = per second ×2^10; bytes <<4 = per second ×2^5
      const rate = i < 3 ? delta * 512 : delta * 16;
      this.avg[i] += Math.floor((rate - this.avg[i]) / 4);
    }
  }

  read(): Rates {
    const a = this.avg;
    const cnt = (v: number): number => Math.max(0, Math.floor((v + 0x1ff) / 1024));
    const byt = (v: number): number => Math.max(0, Math.floor((v + 0xf) / 32));
    return { cps: cnt(a[0]), inpps: cnt(a[1]), outpps: cnt(a[2]), inbps: byt(a[3]), outbps: byt(a[4]) };
  }
}

export const ZERO_RATES: Rates = { cps: 0, inpps: 0, outpps: 0, inbps: 0, outbps: 0 };
