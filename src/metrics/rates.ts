// Rate estimates for the status page, as IPVS estimates them (ip_vs_est.c, ipvsadm --rate):
// every 2 s the per-second rate over the last interval is folded into an average,
// avg += (rate - avg) / 4. Sampled from the never-zeroed totals (DestTable.total), so -Z does
// not make a rate jump. Runs on a timer, never per packet.

import { STAT_CONNS, STAT_IN_BYTES, STAT_IN_PKTS, STAT_OUT_BYTES, STAT_OUT_PKTS } from '../datapath/dests.js';
import { C } from '../datapath/counters.js';
import type { Datapath } from '../datapath/pipeline.js';

export const EST_INTERVAL_MS = 2000;

/** conns/s, in packets/s, in bytes/s, out packets/s, out bytes/s. */
export interface Rates {
  cps: number;
  inpps: number;
  inbps: number;
  outpps: number;
  outbps: number;
}

const STATS = [STAT_CONNS, STAT_IN_PKTS, STAT_IN_BYTES, STAT_OUT_PKTS, STAT_OUT_BYTES];

interface Est {
  last: Float64Array;
  avg: Float64Array;
  seen: number;
}

export class RateEstimator {
  private readonly dp: Datapath;
  private readonly dests = new Map<string, Est>();
  private readonly drops: Est;
  private readonly link: Est;
  /** Frames lost before the datapath, by the port's reason (MetricsOptions.portDrops). */
  private readonly portDrops?: () => Record<string, number> | null;
  private readonly port = new Map<string, Est>();
  private lastMs = -1;
  private round = 0;

  constructor(dp: Datapath, portDrops?: () => Record<string, number> | null) {
    this.dp = dp;
    this.portDrops = portDrops;
    this.drops = { last: Float64Array.from(dp.counters.d), avg: new Float64Array(dp.counters.d.length), seen: 0 };
    this.link = { last: this.linkTotals(), avg: new Float64Array(4), seen: 0 };
  }

  private linkTotals(): Float64Array {
    const c = this.dp.counters.c;
    return Float64Array.from([c[C.rx_frames], c[C.rx_bytes], c[C.tx_frames], c[C.tx_bytes]]);
  }

  /** Take a sample (every EST_INTERVAL_MS from a timer; tests call it with their own clock). */
  sample(nowMs: number): void {
    const secs = this.lastMs < 0 ? 0 : (nowMs - this.lastMs) / 1000;
    this.lastMs = nowMs;
    this.round++;
    const dt = this.dp.dt;
    for (const svc of this.dp.services) {
      if (svc === undefined) continue;
      for (const d of svc.dests) {
        const key = `${d}/${dt.gen[d]}`;
        const now = Float64Array.from(STATS, (k) => dt.total(d, k));
        const e = this.dests.get(key);
        if (e === undefined) this.dests.set(key, { last: now, avg: new Float64Array(STATS.length), seen: this.round });
        else fold(e, now, secs, this.round);
      }
    }
    for (const [key, e] of this.dests) if (e.seen !== this.round) this.dests.delete(key); // deleted servers
    fold(this.drops, Float64Array.from(this.dp.counters.d), secs, this.round);
    fold(this.link, this.linkTotals(), secs, this.round);
    for (const [reason, total] of Object.entries(this.portDrops?.() ?? {})) {
      const e = this.port.get(reason);
      if (e === undefined) this.port.set(reason, { last: Float64Array.of(total), avg: new Float64Array(1), seen: this.round });
      else fold(e, Float64Array.of(total), secs, this.round);
    }
  }

  dest(d: number): Rates {
    const e = this.dests.get(`${d}/${this.dp.dt.gen[d]}`);
    const a = e?.avg;
    return { cps: a?.[0] ?? 0, inpps: a?.[1] ?? 0, inbps: a?.[2] ?? 0, outpps: a?.[3] ?? 0, outbps: a?.[4] ?? 0 };
  }

  /** Drops per second, by reason number (DROP_NAMES). */
  drop(k: number): number {
    return this.drops.avg[k] ?? 0;
  }

  /** Frames/s the port lost before the datapath, for one of its reasons (queue_full, ring_full, ...). */
  portDrop(reason: string): number {
    return this.port.get(reason)?.avg[0] ?? 0;
  }

  /** rx frames/s, rx bytes/s, tx frames/s, tx bytes/s. */
  linkRates(): { rxfps: number; rxbps: number; txfps: number; txbps: number } {
    const a = this.link.avg;
    return { rxfps: a[0], rxbps: a[1], txfps: a[2], txbps: a[3] };
  }
}

function fold(e: Est, now: Float64Array, secs: number, round: number): void {
  if (secs > 0) {
    for (let k = 0; k < now.length; k++) {
      const rate = Math.max(0, now[k] - e.last[k]) / secs;
      e.avg[k] += (rate - e.avg[k]) / 4;
    }
  }
  e.last = now;
  e.seen = round;
}
