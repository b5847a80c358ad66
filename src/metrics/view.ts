// A read-only view of the datapath for the collectors and the status page: walks services and
// destinations at scrape time and names them as labels. Nothing here runs per packet.

import { formatIp } from '../datapath/addr.js';
import { DEST_F_OVERLOAD, type DestTable } from '../datapath/dests.js';
import { PROTO_UDP } from '../datapath/frame.js';
import type { Datapath, SvcRuntime } from '../datapath/pipeline.js';
import { FWD_NAMES } from '../modes/index.js';

export interface DestRef {
  svc: SvcRuntime;
  /** Destination slot in dp.dt. */
  d: number;
  proto: 'tcp' | 'udp';
  /** "vip:port" and "rip:port". */
  service: string;
  server: string;
  fwd: string;
}

export function protoName(svc: SvcRuntime): 'tcp' | 'udp' {
  return svc.proto === PROTO_UDP ? 'udp' : 'tcp';
}

export function serviceName(svc: SvcRuntime): string {
  return `${formatIp(svc.vip)}:${svc.port}`;
}

export function liveServices(dp: Datapath): SvcRuntime[] {
  return dp.services.filter((s): s is SvcRuntime => s !== undefined);
}

export function liveDests(dp: Datapath): DestRef[] {
  const dt = dp.dt;
  const out: DestRef[] = [];
  for (const svc of liveServices(dp)) {
    const service = serviceName(svc);
    const proto = protoName(svc);
    for (const d of svc.dests) {
      out.push({ svc, d, proto, service, server: `${formatIp(dt.addr[d])}:${dt.port[d]}`, fwd: FWD_NAMES[dt.fwd[d]] ?? String(dt.fwd[d]) });
    }
  }
  return out;
}

/**
 * Health of a destination: 1 up, 0 down. There are no health checks yet, so every configured
 * destination is up (as on plain LVS without keepalived, traffic keeps going to a dead server).
 */
export function destUp(_dt: DestTable, _d: number): number {
  return 1;
}

export function destOverloaded(dt: DestTable, d: number): boolean {
  return (dt.flags[d] & DEST_F_OVERLOAD) !== 0;
}
