// Destination hashing (ip_vs_dh.c): 256 buckets indexed by (daddr * 2654435761) & 255 (the
// packet's destination address, host order); destinations take the buckets round robin in list
// order, one bucket each in turn, whatever their weights. The hashed destination is used only
// when available (weight > 0, not overloaded); there is no fallback: otherwise no destination.
// The table is rebuilt in init/update, never per packet.

import type { Flow, Scheduler, SchedService } from './types.js';
import type { DestTable } from '../datapath/dests.js';
import { destName } from './common.js';
import { formatIp } from '../datapath/addr.js';

export const DH_BUCKETS = 256;

interface DhState {
  buckets: Int32Array; // destination slot per bucket, -1 when the service has none
}

/** ip_vs_dh_hashkey(). */
export function dhBucket(daddr: number): number {
  return Math.imul(daddr | 0, 0x9e3779b1 | 0) & (DH_BUCKETS - 1);
}

function build(svc: SchedService): void {
  const st = svc.schedState as DhState;
  const n = svc.dests.length;
  for (let b = 0; b < DH_BUCKETS; b++) st.buckets[b] = n === 0 ? -1 : svc.dests[b % n];
}

export const dh: Scheduler = {
  name: 'dh',
  init(svc: SchedService) {
    svc.schedState = { buckets: new Int32Array(DH_BUCKETS) } satisfies DhState;
    build(svc);
  },
  update: build,
  schedule(svc: SchedService, dt: DestTable, flow: Flow): number {
    const d = (svc.schedState as DhState).buckets[dhBucket(flow.daddr)];
    return d >= 0 && dt.available(d) ? d : -1;
  },
  explain(svc: SchedService, dt: DestTable, flow: Flow) {
    const b = dhBucket(flow.daddr);
    const d = (svc.schedState as DhState).buckets[b];
    const head = `dh: ${formatIp(flow.daddr >>> 0)} → bucket ${b} → ${destName(dt, d)}`;
    if (d < 0) return { dest: -1, why: `${head} (no destinations)` };
    if (!dt.available(d)) return { dest: -1, why: `${head}, unavailable (dh has no fallback)` };
    return { dest: d, why: head };
  },
};
