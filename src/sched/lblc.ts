// Locality-based least-connection (ip_vs_lblc.c): a cache maps each destination IP of the
// traffic to a server. The cached server is reused unless it is no longer available (deleted,
// weight 0, over its -x threshold) or "overloaded": more active connections than its weight
// while some server of the service has active*2 < weight. Otherwise wlc picks a server and the
// cache entry is (re)pointed at it. Entries expire as LbTable describes (tick()).

import type { Flow, Scheduler, SchedService } from './types.js';
import type { DestTable } from '../datapath/dests.js';
import { destName, wlcPick, wlcWhy } from './common.js';
import { LbTable } from './lbtable.js';
import { formatIp } from '../datapath/addr.js';

interface LblcState {
  tbl: LbTable;
}

/** The kernel's is_overloaded() of lblc/lblcr. */
export function lbOverloaded(svc: SchedService, dt: DestTable, d: number): boolean {
  if (dt.active[d] <= dt.weight[d]) return false;
  const dests = svc.dests;
  for (let i = 0; i < dests.length; i++) {
    const x = dests[i];
    if (dt.active[x] * 2 < dt.weight[x]) return true;
  }
  return false;
}

/** The cached destination of entry e when it may be used, else -1. */
function cached(svc: SchedService, dt: DestTable, tbl: LbTable, e: number): number {
  if (e < 0) return -1;
  const d = tbl.val[e];
  return tbl.gen[e] === dt.gen[d] && dt.available(d) && !lbOverloaded(svc, dt, d) ? d : -1;
}

export function lblcTable(svc: SchedService): LbTable {
  return (svc.schedState as LblcState).tbl;
}

export const lblc: Scheduler = {
  name: 'lblc',
  init(svc: SchedService) {
    svc.schedState = { tbl: new LbTable() } satisfies LblcState;
  },
  // The caller drops the state right after (delService, or editService to another scheduler):
  // let the whole table go at once rather than walk it (up to 262,144 entries, 0.1-1 ms).
  done(svc: SchedService) {
    svc.schedState = undefined;
  },
  tick(svc: SchedService, _dt: DestTable, nowMs: number) {
    (svc.schedState as LblcState).tbl.tick(nowMs);
  },
  schedule(svc: SchedService, dt: DestTable, flow: Flow): number {
    const tbl = (svc.schedState as LblcState).tbl;
    let e = tbl.get(flow.daddr);
    if (e >= 0) {
      tbl.lastuse[e] = tbl.now;
      const c = cached(svc, dt, tbl, e);
      if (c >= 0) return c;
    }
    const d = wlcPick(svc, dt);
    if (d < 0) return -1;
    if (e < 0) e = tbl.add(flow.daddr);
    if (e >= 0) {
      tbl.val[e] = d;
      tbl.gen[e] = dt.gen[d];
    }
    return d;
  },
  explain(svc: SchedService, dt: DestTable, flow: Flow) {
    const tbl = (svc.schedState as LblcState).tbl;
    const e = tbl.get(flow.daddr);
    const ip = formatIp(flow.daddr >>> 0);
    const c = cached(svc, dt, tbl, e);
    if (c >= 0) return { dest: c, why: `lblc: ${ip} cached → ${destName(dt, c)}` };
    const d = wlcPick(svc, dt);
    let reason = `no cache entry for ${ip}`;
    if (e >= 0) {
      const old = tbl.val[e];
      const gone = tbl.gen[e] !== dt.gen[old];
      reason = gone ? `${ip} was cached to a deleted destination`
        : !dt.available(old) ? `${ip} cached → ${destName(dt, old)}, unavailable`
        : `${ip} cached → ${destName(dt, old)}, overloaded (active ${dt.active[old]} > weight ${dt.weight[old]} while another server has active*2 < weight)`;
    }
    return { dest: d, why: `lblc: ${reason}; ${wlcWhy('wlc', dt, svc, d)}` };
  },
};
