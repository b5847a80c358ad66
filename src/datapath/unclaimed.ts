// The VIPs uvsd holds but does not claim (Link.unclaimed): another station answered the probe for
// them (src/control/claim.ts), so uvsd neither answers ARP for them nor announces nor defends them.
// An address is one of them alone (a re-probe's answer: DpOp unclaimed) or as one of a record of
// many (uvsd's start: DpOp unclaimedSet): the record is made beside the datapath, a piece at a
// time (UnclaimedBuilder), and taken in one write, so that every one of its VIPs stops being
// answered for at once, in no more of the loop than a record's. Until 2026-12-06 each went in as a
// Map entry of its own, all in one piece: 8-11 ms of CPU at 10,000 VIPs (docs/performance.md).

/**
 * Many unclaimed VIPs as one record, all typed arrays and a short list of MACs: what a worker gets
 * (postMessage) is a copy of a few arrays, not an object per address. Open addressing over the
 * addresses, linear probing; a claimed or deleted address is 0 in `addrs` (its slot stays: the
 * probe goes past it), so nothing moves after the record is made.
 */
export interface UnclaimedSet {
  /** The addresses in the order put; 0 once claimed or deleted (0.0.0.0 is never a VIP). */
  addrs: Int32Array;
  /** Each address's station: its index in macs. */
  by: Int32Array;
  /** The stations' MACs ("aa:bb:..."), each once. */
  macs: string[];
  /** 1 + the index in addrs of the address hashed to each slot; 0: empty. A power of two, at least twice addrs' length. */
  slots: Int32Array;
  /** The entries of addrs put, and those of them still unclaimed. */
  n: number;
  live: number;
}

/** slots' index of ip's first probe: the high bits of a multiplicative hash (slots.length = 2^(32 - shift)). */
function home(ip: number, shift: number): number {
  return Math.imul(ip, 0x9e3779b1) >>> shift;
}

function shiftOf(s: UnclaimedSet): number {
  return Math.clz32(s.slots.length) + 1;
}

/** The index in s.addrs of ip, or -1. */
export function findUnclaimed(s: UnclaimedSet, ip: number): number {
  const slots = s.slots;
  const mask = slots.length - 1;
  for (let h = home(ip, shiftOf(s)); ; h = (h + 1) & mask) {
    const k = slots[h]!;
    if (k === 0) return -1;
    if (s.addrs[k - 1] === ip) return k - 1;
  }
}

/** Makes one UnclaimedSet of up to `max` addresses, put a few at a time (claim.ts leaveUnclaimed) before it is taken (DpOp unclaimedSet). */
export class UnclaimedBuilder {
  readonly set: UnclaimedSet;
  private readonly macIndex = new Map<string, number>();

  constructor(max: number) {
    let size = 16;
    while (size < 2 * max) size *= 2;
    this.set = { addrs: new Int32Array(max), by: new Int32Array(max), macs: [], slots: new Int32Array(size), n: 0, live: 0 };
  }

  /** ip unclaimed, another station (mac) holding it; again: the last station put. */
  put(ip: number, mac: string): void {
    const s = this.set;
    ip |= 0;
    let m = this.macIndex.get(mac);
    if (m === undefined) {
      m = s.macs.push(mac) - 1;
      this.macIndex.set(mac, m);
    }
    const slots = s.slots;
    const mask = slots.length - 1;
    let h = home(ip, shiftOf(s));
    for (; slots[h] !== 0; h = (h + 1) & mask) {
      const k = slots[h]! - 1;
      if (s.addrs[k] === ip) {
        s.by[k] = m;
        return;
      }
    }
    if (s.n === s.addrs.length) throw new RangeError(`UnclaimedBuilder: more than ${s.addrs.length} addresses`);
    s.addrs[s.n] = ip;
    s.by[s.n] = m;
    slots[h] = ++s.n;
    s.live++;
  }
}

/**
 * Link.unclaimed: the unclaimed VIPs → the MAC of the station holding each, read as a Map (has,
 * get, size, keys, entries) by the ARP lookup (Link.routed: only while size > 0), the re-probe and
 * `uvsadm --status`. Each address is either in `one` or in one record of `sets`, never in two.
 */
export class Unclaimed {
  private readonly one = new Map<number, string>();
  private readonly sets: UnclaimedSet[] = [];
  /** A record being made on this thread (UnclaimedBuilder, before its DpOp unclaimedSet): an address deleted meanwhile goes from it too. */
  private building: UnclaimedSet | undefined;
  size = 0;

  /** Is ip unclaimed (the ARP lookup's: no allocation)? */
  has(ip: number): boolean {
    ip |= 0;
    if (this.one.size > 0 && this.one.has(ip)) return true;
    const sets = this.sets;
    for (let i = 0; i < sets.length; i++) if (findUnclaimed(sets[i]!, ip) >= 0) return true;
    return false;
  }

  get(ip: number): string | undefined {
    const v = this.one.get(ip | 0);
    if (v !== undefined) return v;
    for (const s of this.sets) {
      const k = findUnclaimed(s, ip | 0);
      if (k >= 0) return s.macs[s.by[k]!];
    }
    return undefined;
  }

  /** ip unclaimed, held by mac (alone: DpOp unclaimed). */
  set(ip: number, mac: string): void {
    this.delete(ip);
    this.one.set(ip | 0, mac);
    this.size++;
  }

  /** ip claimed (or no longer uvsd's); whether it was unclaimed. */
  delete(ip: number): boolean {
    ip |= 0;
    if (this.building !== undefined) {
      const k = findUnclaimed(this.building, ip);
      if (k >= 0) {
        this.building.addrs[k] = 0;
        this.building.live--;
      }
    }
    if (this.one.delete(ip)) {
      this.size--;
      return true;
    }
    const sets = this.sets;
    for (let i = 0; i < sets.length; i++) {
      const s = sets[i]!;
      const k = findUnclaimed(s, ip);
      if (k < 0) continue;
      s.addrs[k] = 0;
      this.size--;
      if (--s.live === 0) sets.splice(i, 1);
      return true;
    }
    return false;
  }

  /** A record being made here: addresses deleted before it is taken are left out of it (delete). */
  begin(s: UnclaimedSet): void {
    this.building = s;
  }

  /**
   * Every address of s unclaimed, in one write (DpOp unclaimedSet): s is this Link's from now on
   * (a worker's is its own copy). Addresses unclaimed already (none at uvsd's start, where it is used) are left where they are.
   */
  add(s: UnclaimedSet): void {
    if (this.building === s) this.building = undefined;
    if (this.size > 0) {
      for (let k = 0; k < s.n; k++) {
        const ip = s.addrs[k]!;
        if (ip !== 0 && this.has(ip)) {
          s.addrs[k] = 0;
          s.live--;
        }
      }
    }
    if (s.live === 0) return;
    this.sets.push(s);
    this.size += s.live;
  }

  *entries(): IterableIterator<[number, string]> {
    yield* this.one;
    for (const s of this.sets) {
      for (let k = 0; k < s.n; k++) if (s.addrs[k] !== 0) yield [s.addrs[k]!, s.macs[s.by[k]!]!];
    }
  }

  *keys(): IterableIterator<number> {
    for (const [ip] of this.entries()) yield ip;
  }

  [Symbol.iterator](): IterableIterator<[number, string]> {
    return this.entries();
  }
}
