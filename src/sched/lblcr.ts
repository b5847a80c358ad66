// Locality-based least-connection with replication (ip_vs_lblcr.c): each destination IP maps to
// a set of servers. A flow goes to the set's weighted least-connection member; when there is
// none (all unavailable) or it is overloaded (as lblc: active > weight while some server has
// active*2 < weight), wlc over the whole service picks a server and it joins the set. A set with
// more than one member that has not changed for `expiration` (24 h, as lblcr_expiration) loses
// its most loaded member. New members go to the front of the set (list_add_rcu), which decides
// ties. Sets are chains of elements in a typed-array pool; a member whose slot was released
// (destination deleted) is ignored and leaves with its entry. Entries expire as LbTable says.

import type { Flow, Scheduler, SchedService } from './types.js';
import type { DestTable } from '../datapath/dests.js';
import { destName, wlcPick, wlcWhy } from './common.js';
import { LbTable } from './lbtable.js';
import { productLess } from './tourney.js';
import { lbOverloaded } from './lblc.js';
import { formatIp } from '../datapath/addr.js';

const INITIAL_ELEMS = 16384;
const MAX_ELEMS = 1 << 20;

/** Set elements: destination slot, its generation when added, next element (-1 ends). */
class Elems {
  dest = new Int32Array(0);
  gen = new Uint32Array(0);
  next = new Int32Array(0);
  capacity = 0;
  used = 0;
  full = 0;
  private free = -1;

  constructor() {
    this.grow(INITIAL_ELEMS);
  }

  alloc(): number {
    const x = this.free;
    if (x < 0) {
      this.full++;
      return -1;
    }
    this.free = this.next[x];
    this.used++;
    return x;
  }

  release(x: number): void {
    this.next[x] = this.free;
    this.free = x;
    this.used--;
  }

  maybeGrow(): void {
    if (this.used * 4 >= this.capacity * 3 && this.capacity < MAX_ELEMS) this.grow(this.capacity * 2);
  }

  private grow(capacity: number): void {
    const dest = new Int32Array(capacity);
    dest.set(this.dest);
    const gen = new Uint32Array(capacity);
    gen.set(this.gen);
    const next = new Int32Array(capacity);
    next.set(this.next);
    for (let x = capacity - 1; x >= this.capacity; x--) {
      next[x] = this.free;
      this.free = x;
    }
    this.dest = dest;
    this.gen = gen;
    this.next = next;
    this.capacity = capacity;
  }
}

interface LblcrState {
  tbl: LbTable;
  el: Elems;
  freeSet: (e: number) => void;
}

function valid(el: Elems, dt: DestTable, x: number): boolean {
  return el.gen[x] === dt.gen[el.dest[x]];
}

/** ip_vs_dest_set_min(): the member with the least overhead/weight; ties keep set order. */
function setMin(st: LblcrState, dt: DestTable, e: number): number {
  const el = st.el;
  let least = -1;
  let loh = 0;
  for (let x = st.tbl.val[e]; x >= 0; x = el.next[x]) {
    const d = el.dest[x];
    if (!valid(el, dt, x) || !dt.available(d)) continue;
    const doh = dt.overhead(d);
    if (least < 0 || productLess(doh, dt.weight[least], loh, dt.weight[d])) {
      least = d;
      loh = doh;
    }
  }
  return least;
}

/** ip_vs_dest_set_max(): the member with the most overhead/weight among weight > 0; ties keep set order. */
function setMax(st: LblcrState, dt: DestTable, e: number): number {
  const el = st.el;
  let most = -1;
  let moh = 0;
  for (let x = st.tbl.val[e]; x >= 0; x = el.next[x]) {
    const d = el.dest[x];
    if (!valid(el, dt, x) || dt.weight[d] <= 0) continue;
    const doh = dt.overhead(d);
    if (most < 0 || productLess(moh, dt.weight[d], doh, dt.weight[most])) {
      most = d;
      moh = doh;
    }
  }
  return most;
}

function contains(st: LblcrState, dt: DestTable, e: number, d: number): boolean {
  const el = st.el;
  for (let x = st.tbl.val[e]; x >= 0; x = el.next[x]) if (el.dest[x] === d && valid(el, dt, x)) return true;
  return false;
}

/** ip_vs_dest_set_insert() at the front; lastmod = now. */
function insert(st: LblcrState, dt: DestTable, e: number, d: number): void {
  const el = st.el;
  const x = el.alloc();
  if (x < 0) return;
  el.dest[x] = d;
  el.gen[x] = dt.gen[d];
  el.next[x] = st.tbl.val[e];
  st.tbl.val[e] = x;
  st.tbl.size[e]++;
  st.tbl.lastmod[e] = st.tbl.now;
}

/** ip_vs_dest_set_erase(); lastmod = now. */
function erase(st: LblcrState, dt: DestTable, e: number, d: number): void {
  const el = st.el;
  let prev = -1;
  for (let x = st.tbl.val[e]; x >= 0; prev = x, x = el.next[x]) {
    if (el.dest[x] !== d || !valid(el, dt, x)) continue;
    if (prev < 0) st.tbl.val[e] = el.next[x];
    else el.next[prev] = el.next[x];
    el.release(x);
    st.tbl.size[e]--;
    st.tbl.lastmod[e] = st.tbl.now;
    return;
  }
}

function shrinkDue(tbl: LbTable, e: number): boolean {
  return tbl.size[e] > 1 && tbl.now > tbl.lastmod[e] + tbl.expiration;
}

export function lblcrTable(svc: SchedService): LbTable {
  return (svc.schedState as LblcrState).tbl;
}

/** The live members of the set for destination address `addr`, in set order (tests, explain). */
export function lblcrSet(svc: SchedService, dt: DestTable, addr: number): number[] {
  const st = svc.schedState as LblcrState;
  const e = st.tbl.get(addr);
  const out: number[] = [];
  if (e < 0) return out;
  for (let x = st.tbl.val[e]; x >= 0; x = st.el.next[x]) if (valid(st.el, dt, x)) out.push(st.el.dest[x]);
  return out;
}

export const lblcr: Scheduler = {
  name: 'lblcr',
  init(svc: SchedService) {
    const el = new Elems();
    const tbl = new LbTable();
    const freeSet = (e: number): void => {
      for (let x = tbl.val[e]; x >= 0; ) {
        const nx = el.next[x];
        el.release(x);
        x = nx;
      }
    };
    svc.schedState = { tbl, el, freeSet } satisfies LblcrState;
  },
  // As lblc's: the table and its element pool go with the state, not walked.
  done(svc: SchedService) {
    svc.schedState = undefined;
  },
  tick(svc: SchedService, _dt: DestTable, nowMs: number) {
    const st = svc.schedState as LblcrState;
    st.tbl.tick(nowMs, st.freeSet);
    st.el.maybeGrow();
  },
  schedule(svc: SchedService, dt: DestTable, flow: Flow): number {
    const st = svc.schedState as LblcrState;
    const tbl = st.tbl;
    const e = tbl.get(flow.daddr);
    if (e >= 0) {
      tbl.lastuse[e] = tbl.now;
      let d = setMin(st, dt, e);
      if (shrinkDue(tbl, e)) {
        const m = setMax(st, dt, e);
        if (m >= 0) erase(st, dt, e, m);
      }
      if (d >= 0 && !lbOverloaded(svc, dt, d)) return d;
      d = wlcPick(svc, dt);
      if (d < 0) return -1;
      if (!contains(st, dt, e, d)) insert(st, dt, e, d);
      return d;
    }
    const d = wlcPick(svc, dt);
    if (d < 0) return -1;
    const n = tbl.add(flow.daddr);
    if (n >= 0) {
      tbl.val[n] = -1;
      tbl.size[n] = 0;
      insert(st, dt, n, d);
    }
    return d;
  },
  explain(svc: SchedService, dt: DestTable, flow: Flow) {
    const st = svc.schedState as LblcrState;
    const tbl = st.tbl;
    const ip = formatIp(flow.daddr >>> 0);
    const e = tbl.get(flow.daddr);
    if (e < 0) {
      const d = wlcPick(svc, dt);
      return { dest: d, why: `lblcr: no cache entry for ${ip}; ${wlcWhy('wlc', dt, svc, d)}${d >= 0 ? ', a new set' : ''}` };
    }
    const members = lblcrSet(svc, dt, flow.daddr).map((d) => destName(dt, d)).join(', ');
    const min = setMin(st, dt, e);
    const m = shrinkDue(tbl, e) ? setMax(st, dt, e) : -1;
    const shrink = m >= 0 ? `; the set is unchanged for ${tbl.expiration / 1000} s, so ${destName(dt, m)} (most loaded) leaves it` : '';
    if (min >= 0 && !lbOverloaded(svc, dt, min)) {
      return { dest: min, why: `lblcr: ${ip} set {${members}}: least loaded ${destName(dt, min)} (${dt.overhead(min)}/${dt.weight[min]})${shrink}` };
    }
    const d = wlcPick(svc, dt);
    const why = min < 0 ? 'no member available' : `least loaded ${destName(dt, min)} is overloaded (active ${dt.active[min]} > weight ${dt.weight[min]} while another server has active*2 < weight)`;
    return { dest: d, why: `lblcr: ${ip} set {${members}}: ${why}${shrink}; ${wlcWhy('wlc', dt, svc, d)}${d >= 0 ? ', joins the set' : ''}` };
  },
};
