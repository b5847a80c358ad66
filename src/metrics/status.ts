// /status.json: what the status page shows, read from the datapath when asked.

import { formatIp, formatMac } from '../datapath/addr.js';
import { C, DROP_NAMES } from '../datapath/counters.js';
import type { Datapath } from '../datapath/pipeline.js';
import { FWD_NAMES } from '../modes/index.js';
import { forwardName } from '../control/printers.js';
import type { Fwd, Proto } from '../control/protocol.js';
import type { RateEstimator, Rates } from './rates.js';
import { destHealth, destOverloaded, fwmarkOf, liveDests, removedByHealth, serviceKeyOf, serviceLabels, type HealthView } from './view.js';
import { serviceId } from '../control/protocol.js';
import type { SvcRuntime } from '../datapath/pipeline.js';
import { STAT_CONNS, STAT_IN_BYTES, STAT_IN_PKTS, STAT_OUT_BYTES, STAT_OUT_PKTS, serviceStat } from '../datapath/dests.js';

export interface StatusDest {
  addr: string;
  port: number;
  fwd: string;
  /** ipvsadm's name for the method: Route, Masq, Tunnel, FullNat. */
  forward: string;
  weight: number;
  /** up / down from the health checks; unchecked when no checker watches the server. */
  health: 'up' | 'down' | 'unchecked';
  /** Taken out of the table by the health checks (shown so a down server does not just vanish). */
  removed: boolean;
  /** The health checks' reason for the current state, when checked. */
  reason: string;
  overloaded: boolean;
  active: number;
  inactive: number;
  /** Totals since the last -Z (as ipvsadm --stats). */
  conns: number;
  inPkts: number;
  inBytes: number;
  outPkts: number;
  outBytes: number;
  rates: Rates;
}

export interface StatusService {
  proto: Proto | 'fwm';
  addr: string;
  port: number;
  /** A -f service's mark (then proto fwm, addr "", port 0). */
  fwmark?: number;
  sched: string;
  conns: number;
  inPkts: number;
  inBytes: number;
  outPkts: number;
  outBytes: number;
  rates: Rates;
  dests: StatusDest[];
}

export interface StatusJson {
  time: string;
  uptimeS: number;
  mac: string;
  addrs: string[];
  /** Health checks exist? (not yet: every server shows up) */
  healthChecks: boolean;
  conns: { entries: number; capacity: number };
  link: { rxFrames: number; txFrames: number; rxfps: number; rxbps: number; txfps: number; txbps: number };
  drops: { reason: string; total: number; rate: number }[];
  services: StatusService[];
}

function sumRates(rs: Rates[]): Rates {
  const out: Rates = { cps: 0, inpps: 0, inbps: 0, outpps: 0, outbps: 0 };
  for (const r of rs) {
    out.cps += r.cps;
    out.inpps += r.inpps;
    out.inbps += r.inbps;
    out.outpps += r.outpps;
    out.outbps += r.outbps;
  }
  return out;
}

const NO_RATES: Rates = { cps: 0, inpps: 0, inbps: 0, outpps: 0, outbps: 0 };

/** portDrops: frames lost before the datapath (MetricsOptions.portDrops), listed as drops `port_<reason>`. */
export function statusJson(dp: Datapath, rates: RateEstimator, health?: HealthView, portDrops?: () => Record<string, number> | null): StatusJson {
  const dt = dp.dt;
  const c = dp.counters;
  const refs = liveDests(dp);
  const removed = removedByHealth(health, dp);
  const reasons = new Map((health?.entries() ?? []).map((e) => [`${serviceId(e.service)} ${e.addr}:${e.port}`, e.reason]));
  const byService = new Map<SvcRuntime, StatusDest[]>();
  for (const s of dp.services) if (s !== undefined) byService.set(s, []);
  for (const r of refs) {
    const d = r.d;
    const fwd = FWD_NAMES[dt.fwd[d]] ?? 'dr';
    byService.get(r.svc)!.push({
      addr: formatIp(dt.addr[d]), port: dt.port[d], fwd, forward: forwardName(fwd as Fwd), weight: dt.weight[d],
      health: destHealth(health, r, dt), removed: false, reason: reasons.get(`${serviceId(serviceKeyOf(r.svc))} ${r.server}`) ?? '',
      overloaded: destOverloaded(dt, d), active: dt.active[d], inactive: dt.inactive[d],
      conns: dt.conns[d], inPkts: dt.inPkts[d], inBytes: dt.inBytes[d], outPkts: dt.outPkts[d], outBytes: dt.outBytes[d],
      rates: rates.dest(d),
    });
  }
  for (const e of removed) {
    const svc = [...byService.keys()].find((s) => serviceId(serviceKeyOf(s)) === serviceId(e.service));
    if (svc === undefined) continue;
    byService.get(svc)!.push({
      addr: e.addr, port: e.port, fwd: '', forward: '-', weight: 0, health: 'down', removed: true, reason: e.reason, overloaded: false,
      active: 0, inactive: 0, conns: 0, inPkts: 0, inBytes: 0, outPkts: 0, outBytes: 0, rates: NO_RATES,
    });
  }
  const services = [...byService].map(([s, dests]): StatusService => {
    return {
      proto: serviceLabels(serviceKeyOf(s)).proto, addr: fwmarkOf(s) !== 0 ? '' : formatIp(s.vip), port: s.port, ...(fwmarkOf(s) !== 0 ? { fwmark: fwmarkOf(s) } : {}), sched: s.scheduler.name,
      // Since the last -Z, also what deleted servers had (as -Ln --stats): serviceStat.
      conns: serviceStat(dt, s, STAT_CONNS, true), inPkts: serviceStat(dt, s, STAT_IN_PKTS, true),
      inBytes: serviceStat(dt, s, STAT_IN_BYTES, true), outPkts: serviceStat(dt, s, STAT_OUT_PKTS, true),
      outBytes: serviceStat(dt, s, STAT_OUT_BYTES, true), rates: sumRates(dests.map((d) => d.rates)), dests,
    };
  });
  const lr = rates.linkRates();
  return {
    time: new Date().toISOString(),
    uptimeS: Math.round(process.uptime()),
    mac: formatMac(dp.mac),
    addrs: dp.addrs.map((a) => formatIp(a.ip)),
    healthChecks: health !== undefined,
    conns: { entries: dp.ct.count, capacity: dp.ct.max },
    link: { rxFrames: c.c[C.rx_frames], txFrames: c.c[C.tx_frames], ...lr },
    drops: [
      ...DROP_NAMES.map((reason, k) => ({ reason, total: c.d[k], rate: rates.drop(k) })),
      ...Object.entries(portDrops?.() ?? {}).map(([reason, total]) => ({ reason: `port_${reason}`, total, rate: rates.portDrop(reason) })),
    ],
    services,
  };
}

