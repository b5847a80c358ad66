// Source hashing (ip_vs_sh.c): 256 buckets indexed by hash_32(sport + saddr, 8) (sport only with
// the sh-port flag, and only for TCP/UDP/SCTP; else 0). Walking the destination list, each
// destination takes `weight` consecutive buckets (at least one: a weight-0 destination keeps one
// bucket, as in the kernel), and the walk wraps until all 256 are filled. The hashed destination
// is used when available; with sh-fallback, unavailable ones are skipped by probing
// (offset + hash) & 255 for offset = (k + hash) % 256, k = 0..255, exactly as the kernel does.
// The table is rebuilt in init/update, never per packet.

import { SF_SH_FALLBACK, SF_SH_PORT, type Flow, type Scheduler, type SchedService } from './types.js';
import type { DestTable } from '../datapath/dests.js';
import { destName, hash32 } from './common.js';
import { formatIp } from '../datapath/addr.js';

export const SH_BUCKETS = 256;

interface ShState {
  buckets: Int32Array; // destination slot per bucket, -1 when the service has none
}

/** ip_vs_sh_hashkey(): (offset + hash_32(port + addr, 8)) & 255. */
export function shBucket(addr: number, port: number, offset: number): number {
  return (offset + hash32((port + addr) | 0, 8)) & (SH_BUCKETS - 1);
}

/** The port sh (and mh) hash with: the source port for TCP, UDP and SCTP with the port flag. */
export function hashPort(flow: Flow, flags: number, portFlag: number): number {
  if ((flags & portFlag) === 0) return 0;
  const p = flow.proto;
  return p === 6 || p === 17 || p === 132 ? flow.sport : 0;
}

function build(svc: SchedService, dt: DestTable): void {
  const st = svc.schedState as ShState;
  const n = svc.dests.length;
  let i = 0;
  let count = 0;
  for (let b = 0; b < SH_BUCKETS; b++) {
    if (n === 0) {
      st.buckets[b] = -1;
      continue;
    }
    const d = svc.dests[i];
    st.buckets[b] = d;
    if (++count >= dt.weight[d]) {
      i = (i + 1) % n;
      count = 0;
    }
  }
}

function lookup(svc: SchedService, dt: DestTable, flow: Flow): number {
  const st = svc.schedState as ShState;
  const port = hashPort(flow, svc.schedFlags, SF_SH_PORT);
  const addr = flow.saddr | 0;
  const ihash = shBucket(addr, port, 0);
  const d = st.buckets[ihash];
  if (d < 0) return -1;
  if (dt.available(d)) return d;
  if ((svc.schedFlags & SF_SH_FALLBACK) === 0) return -1;
  for (let offset = 0; offset < SH_BUCKETS; offset++) {
    const x = st.buckets[shBucket(addr, port, (offset + ihash) % SH_BUCKETS)];
    if (dt.available(x)) return x;
  }
  return -1;
}

export const sh: Scheduler = {
  name: 'sh',
  flags: SF_SH_FALLBACK | SF_SH_PORT,
  init(svc: SchedService, dt: DestTable) {
    svc.schedState = { buckets: new Int32Array(SH_BUCKETS) } satisfies ShState;
    build(svc, dt);
  },
  update: build,
  schedule: lookup,
  explain(svc: SchedService, dt: DestTable, flow: Flow) {
    const st = svc.schedState as ShState;
    const port = hashPort(flow, svc.schedFlags, SF_SH_PORT);
    const addr = flow.saddr | 0;
    const ihash = shBucket(addr, port, 0);
    const d = st.buckets[ihash];
    const key = `${formatIp(addr >>> 0)}${port !== 0 ? `:${port}` : ''}`;
    const head = `sh: ${key} → bucket ${ihash} → ${destName(dt, d)}`;
    if (d < 0) return { dest: -1, why: `${head} (no destinations)` };
    if (dt.available(d)) return { dest: d, why: head };
    if ((svc.schedFlags & SF_SH_FALLBACK) === 0) return { dest: -1, why: `${head}, unavailable (no sh-fallback)` };
    for (let offset = 0; offset < SH_BUCKETS; offset++) {
      const b = shBucket(addr, port, (offset + ihash) % SH_BUCKETS);
      const x = st.buckets[b];
      if (dt.available(x)) return { dest: x, why: `${head}, unavailable; sh-fallback probe ${offset}: bucket ${b} → ${destName(dt, x)}` };
    }
    return { dest: -1, why: `${head}, unavailable; sh-fallback found no available destination` };
  },
};
