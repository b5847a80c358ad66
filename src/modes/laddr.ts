// FULLNAT local addresses (LIPs) and their source ports, per service (DPVS "laddr"). Every LIP
// has two port bitmaps, TCP's and one that UDP and SCTP share (a set bit = in use), so the
// reply tuple (proto, RIP, rport) → (LIP, lport) is unique per LIP. Allocation walks the bitmap from a
// rotating cursor; nothing allocates per connection. The control plane adds and removes LIPs
// through DpOps (addLaddr/delLaddr).

import { PROTO_TCP } from '../datapath/frame.js';

/** What reclaim needs of the connection table (ConnTable). */
export interface Evictor {
  reclaimable(e: number): boolean;
  expireNow(e: number): void;
}

/** A LIP's local ports in use by protocol and its conflicts (LaddrPools.usage; summed over workers). */
export interface LaddrUsage {
  addr: number;
  tcp: number;
  udp: number;
  conflicts: number;
}

/** The usage of several datapaths (workers) summed by address. */
export function sumLaddrUsage(parts: readonly (readonly LaddrUsage[])[]): LaddrUsage[] {
  const by = new Map<number, LaddrUsage>();
  for (const part of parts) {
    for (const u of part) {
      const s = by.get(u.addr);
      if (s === undefined) by.set(u.addr, { ...u });
      else {
        s.tcp += u.tcp;
        s.udp += u.udp;
        s.conflicts += u.conflicts;
      }
    }
  }
  return [...by.values()];
}

export const LPORT_MIN = 1024;
export const LPORT_MAX = 65535;

/** Where a LIP's port allocation begins, as a fraction of its range: random (Laddr's constructor). Tests may fix it (setLaddrStart). */
let laddrStart: () => number = Math.random;

/** Fix where new LIPs begin allocating (0: at the range's first port, as before 2026-12-07); none: random again. For tests that name the ports. */
export function setLaddrStart(fraction?: number): void {
  laddrStart = fraction === undefined ? Math.random : () => fraction;
}

export class Laddr {
  readonly addr: number;
  readonly lo: number;
  readonly hi: number;
  /** Ports in use, one bit per port, [0] TCP, [1] UDP. */
  private readonly used = [new Uint32Array(2048), new Uint32Array(2048)];
  private readonly cursor = new Uint32Array(2);
  /** Ports in use per protocol (of lo..hi). */
  readonly inUse = new Uint32Array(2);
  /** Ports still held outside lo..hi, per protocol: taken under the range the LIP had before
   *  it was added again with other ports (rerange); given back as their connections end. */
  readonly stray = new Uint32Array(2);
  /** Times a port was wanted and none was free here (a new connection: every port of the range
   *  taken; a synced one: its port taken): DPVS's CONFLICTS of --get-laddr. */
  conflicts = 0;
  /** The connection entry holding each port (index port - lo), -1 = none; made at first use. */
  private readonly owner: (Int32Array | null)[] = [null, null];
  /** Services holding this LIP (one LIP may serve several services; ports stay unique per LIP). */
  refs = 0;
  /** Ports this datapath hands out: first, first + step, ... up to hi (uvsd --workers splits
   *  the range by port % workers; step 1 otherwise). */
  private readonly first: number;
  private readonly step: number;
  private readonly last: number;
  /** How many ports that is (0: none of this datapath's phase in lo..hi). */
  private readonly size: number;

  constructor(addr: number, lo = LPORT_MIN, hi = LPORT_MAX, phase = 0, step = 1) {
    this.addr = addr;
    this.lo = lo;
    this.hi = hi;
    this.step = step;
    this.first = lo + ((((phase - lo) % step) + step) % step);
    this.last = this.first > hi ? this.first : this.first + Math.floor((hi - this.first) / step) * step;
    // Allocation begins at a random port of the range (RFC 6056's random offset), not at its
    // first: the ports a uvsd used just before a restart (or the other director before a
    // failover) are in TIME_WAIT on the real servers, which close first; a new SYN from one of
    // them is answered with the old connection's ACK, reset, and sent again a second later (18-50 %
    // of new FULLNAT connections after a restart, until 2026-12-07).
    this.size = this.first > hi ? 0 : (this.last - this.first) / step + 1;
    const at = this.first + Math.max(0, Math.min(this.size - 1, Math.floor(laddrStart() * this.size))) * step;
    this.cursor[0] = at;
    this.cursor[1] = at;
  }

  /**
   * This LIP with the ports lo..hi from now on: the ports held stay taken (one outside lo..hi
   * counts in stray until it is given back), as do the owners of those in both ranges and the
   * conflicts. For a LIP deleted and added again with other ports while its connections live.
   */
  rerange(lo: number, hi: number, phase: number, step: number): Laddr {
    const n = new Laddr(this.addr, lo, hi, phase, step);
    n.conflicts = this.conflicts;
    n.refs = this.refs;
    for (let p = 0; p < 2; p++) {
      n.used[p]!.set(this.used[p]!);
      const held = this.inUse[p]! + this.stray[p]!;
      let inside = 0;
      for (let port = lo; port <= hi; port++) if ((n.used[p]![port >>> 5]! & (1 << (port & 31))) !== 0) inside++;
      n.inUse[p] = inside;
      n.stray[p] = held - inside;
      const own = this.owner[p];
      if (own === null) continue;
      const nown = new Int32Array(hi - lo + 1).fill(-1);
      for (let port = Math.max(lo, this.lo); port <= Math.min(hi, this.hi); port++) nown[port - lo] = own[port - this.lo]!;
      n.owner[p] = nown;
    }
    return n;
  }

  /** Ports held, both protocols (stray ones too). */
  held(): number {
    return this.inUse[0]! + this.inUse[1]! + this.stray[0]! + this.stray[1]!;
  }

  /** The port allocation goes to after `port` (round the range, this datapath's ports only). */
  private after(port: number): number {
    return port === this.last ? this.first : port + this.step;
  }

  /** A free port for proto, marked used; -1 when every port of the range is taken. */
  take(proto: number): number {
    const p = proto === PROTO_TCP ? 0 : 1;
    const size = this.size;
    if (size === 0) return -1;
    if (this.inUse[p] >= size) {
      this.conflicts++;
      return -1;
    }
    const bits = this.used[p];
    let port = this.cursor[p];
    for (let i = 0; i < size; i++) {
      const w = port >>> 5;
      const b = 1 << (port & 31);
      const next = this.after(port);
      if ((bits[w] & b) === 0) {
        bits[w] |= b;
        this.inUse[p]++;
        this.cursor[p] = next;
        return port;
      }
      port = next;
    }
    return -1;
  }

  /** Mark a given port used (a connection synced from the master, docs/ha.md); false if taken. */
  reserve(proto: number, port: number): boolean {
    const p = proto === PROTO_TCP ? 0 : 1;
    if (port < this.lo || port > this.hi) return false;
    const w = port >>> 5;
    const b = 1 << (port & 31);
    if ((this.used[p][w] & b) !== 0) {
      this.conflicts++;
      return false;
    }
    this.used[p][w] |= b;
    this.inUse[p]++;
    return true;
  }

  /** Release a port taken with take(). */
  give(proto: number, port: number): void {
    const p = proto === PROTO_TCP ? 0 : 1;
    const w = port >>> 5;
    const b = 1 << (port & 31);
    if ((this.used[p][w] & b) === 0) return;
    this.used[p][w] &= ~b;
    if (port < this.lo || port > this.hi) {
      this.stray[p]--;
      return;
    }
    this.inUse[p]--;
    const own = this.owner[p];
    if (own !== null) own[port - this.lo] = -1;
  }

  /** Record the connection entry that holds a port (FULLNAT bind, a synced entry). */
  setOwner(proto: number, port: number, e: number): void {
    const p = proto === PROTO_TCP ? 0 : 1;
    let own = this.owner[p];
    if (own === null) {
      own = new Int32Array(this.hi - this.lo + 1).fill(-1); // once per LIP and protocol
      this.owner[p] = own;
    }
    own[port - this.lo] = e;
  }

  /** The connection entry holding a port (setOwner), or -1. */
  ownerOf(proto: number, port: number): number {
    const own = this.owner[proto === PROTO_TCP ? 0 : 1];
    return own === null || port < this.lo || port > this.hi ? -1 : own[port - this.lo];
  }

  /**
   * Every port taken: look at the entries holding the `n` ports at the allocation cursor — the
   * ones handed out longest ago, as allocation goes round from the cursor — and expire the first
   * one `ct` calls reclaimable (its unbind gives the port back). The cursor stops at the freed port,
   * so the next take() finds it at once; or moves past the n looked at, so the next call looks at
   * the next ones. true when a port was freed.
   */
  reclaim(proto: number, n: number, ct: Evictor): boolean {
    const p = proto === PROTO_TCP ? 0 : 1;
    const own = this.owner[p];
    if (this.first > this.hi) return false;
    let port = this.cursor[p];
    for (let i = 0; i < n; i++) {
      const e = own === null ? -1 : own[port - this.lo];
      if (e >= 0 && ct.reclaimable(e)) {
        this.cursor[p] = port;
        ct.expireNow(e);
        return true;
      }
      port = this.after(port);
    }
    this.cursor[p] = port;
    return false;
  }
}

/** LIPs by service id, plus a round-robin cursor per service. Addresses are int32 (as on the hot path). */
/** A port of LIP l for entry e (out: the LIP and the port); false if it has none free. */
function takeFrom(l: Laddr, proto: number, e: number, out: Int32Array): boolean {
  const port = l.take(proto);
  if (port < 0) return false;
  l.setOwner(proto, port, e);
  out[0] = l.addr;
  out[1] = port;
  return true;
}

export class LaddrPools {
  readonly bySvc: (Laddr[] | undefined)[] = [];
  private readonly next: number[] = [];
  /** Every LIP ever added and still referenced, by address (ports are released to it on expiry). */
  private readonly byAddr = new Map<number, Laddr>();
  /** This datapath takes the ports p with p % step === phase (uvsd --workers). */
  private phase = 0;
  private step = 1;

  /** Worker index of count: take only ports p with p % count === index (set before any add). */
  share(index: number, count: number): void {
    this.phase = index;
    this.step = count;
  }

  /** Is addr a local address some service has now (in addrs()), not only one its connections still hold? */
  configured(addr: number): boolean {
    return (this.byAddr.get(addr | 0)?.refs ?? 0) > 0;
  }

  /** Is addr a LIP no service has any longer whose connections still hold ports (given back: give)? */
  draining(addr: number): boolean {
    const l = this.byAddr.get(addr | 0);
    return l !== undefined && l.refs === 0;
  }

  /** Is addr a local address of some service (a FULLNAT reply's destination)? */
  isLaddr(addr: number): boolean {
    return this.byAddr.has(addr | 0);
  }

  add(svc: number, addr: number, lo?: number, hi?: number): void {
    addr |= 0;
    let list = this.bySvc[svc];
    if (list === undefined) {
      list = [];
      this.bySvc[svc] = list;
      this.next[svc] = 0;
    }
    if (list.some((l) => l.addr === addr)) throw new Error(`apply: local address already in service ${svc}`);
    let l = this.byAddr.get(addr);
    if (l === undefined) {
      l = new Laddr(addr, lo, hi, this.phase, this.step);
      this.byAddr.set(addr, l);
    } else if (l.lo !== (lo ?? LPORT_MIN) || l.hi !== (hi ?? LPORT_MAX)) {
      // Added again with other ports (a reload's delLaddr + addLaddr) while its connections, or
      // another service, still hold it: one pool per address, with the ports given last.
      const old = l;
      l = old.rerange(lo ?? LPORT_MIN, hi ?? LPORT_MAX, this.phase, this.step);
      this.byAddr.set(addr, l);
      for (const other of this.bySvc) if (other !== undefined) for (let i = 0; i < other.length; i++) if (other[i] === old) other[i] = l;
    }
    l.refs++;
    list.push(l);
  }

  del(svc: number, addr: number): void {
    addr |= 0;
    const list = this.bySvc[svc];
    const i = list === undefined ? -1 : list.findIndex((l) => l.addr === addr);
    if (i < 0) throw new Error(`apply: no local address in service ${svc}`);
    // Connections still using it give their ports back (give) until they expire.
    this.unref(list![i]!);
    list!.splice(i, 1);
  }

  delService(svc: number): void {
    for (const l of this.bySvc[svc] ?? []) this.unref(l);
    this.bySvc[svc] = undefined;
  }

  private unref(l: Laddr): void {
    l.refs--;
    if (l.refs === 0 && l.held() === 0) this.byAddr.delete(l.addr);
  }

  /**
   * Take a local address and port for connection entry e of service svc, trying its LIPs round
   * robin. Writes the address and port to out[0], out[1]; false when there is no LIP or every
   * port is taken.
   */
  take(svc: number, proto: number, e: number, out: Int32Array): boolean {
    const list = this.bySvc[svc];
    if (list === undefined || list.length === 0) return false;
    const n = list.length;
    const start = this.next[svc]! % n;
    for (let i = 0; i < n; i++) {
      if (takeFrom(list[(start + i) % n]!, proto, e, out)) {
        this.next[svc] = (start + i + 1) % n;
        return true;
      }
    }
    return false;
  }

  /** Take a port of the local address addr (as take(), one LIP only); false if it has none free. */
  takeOn(addr: number, proto: number, e: number, out: Int32Array): boolean {
    const l = this.byAddr.get(addr | 0);
    return l !== undefined && takeFrom(l, proto, e, out);
  }

  /** Free one port of service svc's LIPs by early drop (Laddr.reclaim, n ports looked at per LIP). */
  reclaim(svc: number, proto: number, n: number, ct: Evictor): boolean {
    const list = this.bySvc[svc];
    if (list !== undefined) for (let i = 0; i < list.length; i++) if (list[i]!.reclaim(proto, n, ct)) return true;
    return false;
  }

  /** Record which connection entry holds a local port (see Laddr.setOwner). */
  setOwner(addr: number, proto: number, port: number, e: number): void {
    this.byAddr.get(addr | 0)?.setOwner(proto, port, e);
  }

  /** The connection entry holding a local port, or -1 (none known). */
  owner(addr: number, proto: number, port: number): number {
    return this.byAddr.get(addr | 0)?.ownerOf(proto, port) ?? -1;
  }

  /** Reserve a given local port (a synced FULLNAT connection); false if the LIP is unknown or the port taken. */
  reserve(addr: number, proto: number, port: number): boolean {
    const l = this.byAddr.get(addr | 0);
    return l !== undefined && l.reserve(proto, port);
  }

  /** Give a port back (connection expiry). */
  give(addr: number, proto: number, port: number): void {
    const l = this.byAddr.get(addr);
    if (l === undefined) return;
    l.give(proto, port);
    if (l.refs === 0 && l.held() === 0) {
      this.byAddr.delete(addr);
      this.onDrained?.(addr);
    }
  }

  /** Told when a draining LIP gives its last port back (the datapath stops answering ARP for it). */
  onDrained: ((addr: number) => void) | undefined;

  /** Every LIP currently configured (uvsd answers ARP for them). */
  addrs(): number[] {
    const a: number[] = [];
    for (const list of this.bySvc) if (list !== undefined) for (const l of list) a.push(l.addr);
    return a;
  }

  /** Every LIP with its ports in use (those deleted but still holding ports too). */
  usage(): LaddrUsage[] {
    const out: LaddrUsage[] = [];
    for (const l of this.byAddr.values()) out.push({ addr: l.addr, tcp: l.inUse[0] + l.stray[0], udp: l.inUse[1] + l.stray[1], conflicts: l.conflicts });
    return out;
  }

  /** Ports in use on a LIP (both protocols), for status and tests. */
  inUse(addr: number): number {
    const l = this.byAddr.get(addr | 0);
    return l === undefined ? 0 : l.held();
  }
}
