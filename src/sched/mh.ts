// Maglev hashing (ip_vs_mh.c; Eisenbud et al., NSDI 2016 §3.4): a lookup table of prime size M
// (default 4093 as the kernel's; any of MH_PRIMES) filled from one permutation per destination:
//   offset = hsiphash(addr + port, key1) % M,  skip = hsiphash(addr + port, key2) % (M - 1) + 1,
// the destination's j-th preference being (offset + j*skip) % M. Walking the destination list,
// each destination in turn claims its next free preferred entries, `turns` of them per round,
// until the table is full. turns = (last_weight / gcd) >> rshift (at least 1 for a non-zero
// weight), rshift keeping the largest turns within 2^(bits) as the kernel does. last_weight is
// the weight at add time or the latest non-zero weight, so quiescing a server (weight 0) keeps
// its entries (its flows get no destination, or the fallback) instead of reshuffling the table.
// A server deleted and added back (from the trash) is an add: added with weight 0, it has none.
// A flow is looked up at hsiphash(saddr + sport', key1) % M (sport' = source port with mh-port,
// else 0). Adding or removing one of N servers moves about 1/N of the flows (Maglev's minimal
// disruption). Tables are built in init/update (and setMhTableSize), never per packet.
// The kernel's table depends on the destination list's order (who claims first wins a contested
// entry). With SF_ADDR_ORDER (uvsd --sloppy-tcp mh, many directors behind ECMP) the list is
// taken sorted by address and port instead, so every director with the same servers and weights
// builds the same table whatever order they were added in (docs/scale-out.md).

import { SF_ADDR_ORDER, SF_MH_FALLBACK, SF_MH_PORT, type Flow, type Scheduler, type SchedService } from './types.js';
import type { DestTable } from '../datapath/dests.js';
import { destName } from './common.js';
import { hsiphash32 } from './hsiphash.js';
import { hashPort } from './sh.js';
import { formatIp } from '../datapath/addr.js';

/** The kernel's table sizes (CONFIG_IP_VS_MH_TAB_INDEX 8..17). */
export const MH_PRIMES: readonly number[] = [251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521, 131071];
export const MH_DEFAULT_SIZE = 4093;

// The kernel's fixed hash keys (generate_hash_secret): each hsiphash key is two equal words.
const K1 = 2654435761 | 0;
const K2 = 2654446892 | 0;

/** ip_vs_mh_hashkey() for IPv4 (hsiphash of the 32-bit sum offset + port + addr) modulo m.
 *  addr as an int32 (`| 0`) and the small index returned, so no uint32 is boxed on the way. */
export function mhHash(addr: number, port: number, offset: number, key: 1 | 2, m: number): number {
  const k = key === 1 ? K1 : K2;
  return (hsiphash32((offset + port + addr) | 0, 0, k, 0, k) >>> 0) % m;
}

interface MhState {
  kind: 'mh';
  size: number;
  lookup: Int32Array; // destination slot per entry, -1 = none
  // last_weight per destination slot, valid while lwAdds matches the slot's dt.adds (an add,
  // a server revived from the trash too, starts it again from the weight it is added with)
  lw: Int32Array;
  lwAdds: Uint32Array;
  gcd: number;
  rshift: number;
}

let defaultSize = MH_DEFAULT_SIZE;

function checkSize(size: number): void {
  if (!MH_PRIMES.includes(size)) {
    throw new Error(`invalid mh table size ${JSON.stringify(size)} (one of ${MH_PRIMES.join(', ')})`);
  }
}

/** The table size new mh services get (UVS_MH_TABLE_SIZE at start, default 4093). Throws on a bad size. */
export function setMhDefaultTableSize(size: number): void {
  checkSize(size);
  defaultSize = size;
}

export function mhDefaultTableSize(): number {
  return defaultSize;
}

/** Operators set the default size with UVS_MH_TABLE_SIZE in uvsd's environment. */
const envSize = process.env.UVS_MH_TABLE_SIZE;
if (envSize !== undefined && envSize !== '') {
  if (MH_PRIMES.includes(Number(envSize))) defaultSize = Number(envSize);
  else process.emitWarning(`UVS_MH_TABLE_SIZE=${JSON.stringify(envSize)} is not one of ${MH_PRIMES.join(', ')}; using ${MH_DEFAULT_SIZE}`);
}

/**
 * Resize one mh service's lookup table (a prime of MH_PRIMES) and rebuild it. Validates first:
 * a bad size or a service that is not on mh throws and changes nothing.
 */
export function setMhTableSize(svc: SchedService, dt: DestTable, size: number): void {
  checkSize(size);
  const st = svc.schedState as MhState | undefined;
  if (st === undefined || st.kind !== 'mh') throw new Error('setMhTableSize: the service does not use the mh scheduler');
  st.size = size;
  st.lookup = new Int32Array(size).fill(-1);
  build(svc, dt);
}

/** The lookup table (destination slot per entry, -1 = none); read-only use (tests, tools). */
export function mhLookup(svc: SchedService): Int32Array {
  return (svc.schedState as MhState).lookup;
}

export function mhTableSize(svc: SchedService): number {
  return (svc.schedState as MhState).size;
}

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

/** The destinations in the order the table is populated from: list order, or address order. */
function populateOrder(svc: SchedService, dt: DestTable): readonly number[] {
  if ((svc.schedFlags & SF_ADDR_ORDER) === 0) return svc.dests;
  return [...svc.dests].sort((a, b) => (dt.addr[a] >>> 0) - (dt.addr[b] >>> 0) || dt.port[a] - dt.port[b]);
}

/** ip_vs_mh_dest_changed(): last weights, gcd, shift, permutations, populate. */
function build(svc: SchedService, dt: DestTable): void {
  const st = svc.schedState as MhState;
  const dests = populateOrder(svc, dt);
  const M = st.size;
  let g = 0;
  let max = 0;
  for (const d of dests) {
    // __ip_vs_update_dest: last_weight = the weight at add time, then the latest non-zero one.
    if (st.lwAdds[d] !== dt.adds[d]) {
      st.lwAdds[d] = dt.adds[d];
      st.lw[d] = dt.weight[d];
    } else if (dt.weight[d] !== 0) {
      st.lw[d] = dt.weight[d];
    }
    const w = st.lw[d];
    if (w > 0) g = g > 0 ? gcd(w, g) : w;
    if (w > max) max = w;
  }
  st.gcd = g;
  // ip_vs_mh_shift_weight(): fls(max / gcd) - IP_VS_MH_TAB_BITS, where the kernel's
  // IP_VS_MH_TAB_BITS is CONFIG_IP_VS_MH_TAB_INDEX / 2 and the index is the prime's + 8.
  const bits = Math.floor((MH_PRIMES.indexOf(M) + 8) / 2);
  st.rshift = g < 1 ? 0 : Math.max(0, 32 - Math.clz32(Math.floor(max / g)) - bits);
  const lookup = st.lookup;
  if (g < 1) {
    lookup.fill(-1);
    return;
  }
  const n = dests.length;
  const skip = new Int32Array(n);
  const perm = new Int32Array(n);
  const turns = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const d = dests[i];
    perm[i] = mhHash(dt.addr[d] | 0, dt.port[d], 0, 1, M);
    skip[i] = mhHash(dt.addr[d] | 0, dt.port[d], 0, 2, M - 1) + 1;
    const lw = st.lw[d];
    turns[i] = Math.floor(lw / g) >> st.rshift || (lw !== 0 ? 1 : 0);
  }
  const taken = new Uint8Array(M);
  let filled = 0;
  let count = 0;
  while (filled < M) {
    for (let i = 0; i < n; ) {
      if (turns[i] < 1) {
        i++;
        continue;
      }
      let c = perm[i];
      while (taken[c] !== 0) {
        c += skip[i];
        if (c >= M) c -= M;
      }
      perm[i] = c;
      taken[c] = 1;
      lookup[c] = dests[i];
      if (++filled === M) return;
      if (++count >= turns[i]) {
        count = 0;
        i++;
      }
    }
  }
}

function lookupFlow(svc: SchedService, dt: DestTable, flow: Flow): number {
  const st = svc.schedState as MhState;
  const M = st.size;
  const port = hashPort(flow, svc.schedFlags, SF_MH_PORT);
  const addr = flow.saddr | 0;
  const ihash = mhHash(addr, port, 0, 1, M);
  const d = st.lookup[ihash];
  if (d < 0) return -1;
  if (dt.available(d)) return d;
  if ((svc.schedFlags & SF_MH_FALLBACK) === 0) return -1;
  // ip_vs_mh_get_fallback(): rehash with offsets from ihash on.
  for (let offset = 0; offset < M; offset++) {
    const x = st.lookup[mhHash(addr, port, (offset + ihash) % M, 1, M)];
    if (x < 0) return -1;
    if (dt.available(x)) return x;
  }
  return -1;
}

/** The table's destination for the flow, available or not (an established flow stays on a
 *  quiesced server); -1 when the table is empty. */
function ownerOf(svc: SchedService, _dt: DestTable, flow: Flow): number {
  const st = svc.schedState as MhState;
  return st.lookup[mhHash(flow.saddr | 0, hashPort(flow, svc.schedFlags, SF_MH_PORT), 0, 1, st.size)];
}

export const mh: Scheduler = {
  name: 'mh',
  flags: SF_MH_FALLBACK | SF_MH_PORT,
  init(svc: SchedService, dt: DestTable) {
    const size = defaultSize;
    svc.schedState = {
      kind: 'mh', size, lookup: new Int32Array(size).fill(-1),
      lw: new Int32Array(dt.max), lwAdds: new Uint32Array(dt.max), gcd: 0, rshift: 0,
    } satisfies MhState;
    build(svc, dt);
  },
  update: build,
  schedule: lookupFlow,
  owner: ownerOf,
  explain(svc: SchedService, dt: DestTable, flow: Flow) {
    const st = svc.schedState as MhState;
    const M = st.size;
    const port = hashPort(flow, svc.schedFlags, SF_MH_PORT);
    const addr = flow.saddr | 0;
    const ihash = mhHash(addr, port, 0, 1, M);
    const d = st.lookup[ihash];
    const head = `mh: ${formatIp(addr >>> 0)}${port !== 0 ? `:${port}` : ''} → entry ${ihash} of ${M} → ${destName(dt, d)}`;
    if (d < 0) return { dest: -1, why: `${head} (empty table: no destination with a weight)` };
    if (dt.available(d)) return { dest: d, why: head };
    if ((svc.schedFlags & SF_MH_FALLBACK) === 0) return { dest: -1, why: `${head}, unavailable (no mh-fallback)` };
    for (let offset = 0; offset < M; offset++) {
      const e = mhHash(addr, port, (offset + ihash) % M, 1, M);
      const x = st.lookup[e];
      if (x < 0) break;
      if (dt.available(x)) return { dest: x, why: `${head}, unavailable; mh-fallback probe ${offset}: entry ${e} → ${destName(dt, x)}` };
    }
    return { dest: -1, why: `${head}, unavailable; mh-fallback found no available destination` };
  },
};
