// The control model's maps and its stack of free service ids, made so that a batch's copy of the
// model (Model.clone) costs what the batch touches, not the table's size: a copy (fork()) shares
// the original's structure and keeps only its own changes; the copy that becomes the model
// (Control.commit) writes them into the shared structure (own()). With ~32,750 services a
// one-item batch took 0.5-0.7 s copying every service and every address map; slots.ts does the
// same for the destination slots.
//
// A ForkMap iterates in a Map's order (insertion order, which is the listing order of services):
// a key set again keeps its place, a key deleted and set again goes to the end. With `copy`, a
// fork hands out its own copy of a value the first time it is read (get or iteration), so a
// verb that changes a service in place changes the fork's, never the original's.
//
// While a fork lives, its original may only be read: a write to it (or a fork that took over)
// makes the fork out of date, and using it then throws (a sliced batch validates again when the
// table changed meanwhile, Control.batchInSlices). The original that a fork took over from still
// reads the shared structure, which then holds the fork's changes. own() is O(the fork's changes)
// in one piece (5,000 services deleted and added back: ~4 ms a map on a loaded host), so a batch
// large enough to be sliced copies the maps a part at a time instead (copySteps()), as before.
//
// V8 grows or shrinks a Map by copying it whole in one piece (7-8 ms at 32,768 entries), so no
// map here is one Map: the maps whose order nothing reads (the address counts, the ids:
// ForkMap.sharded) keep the shared entries and a fork's changes in ShardedMaps (shards.ts), a
// shard ~1/64 of the map, and copySteps() copies such a map a shard at a time; the services,
// whose order is the listing order, in OrderedShardedMaps (ForkMap.ordered: the same shards, the
// order a list linked through the entries).

import { OrderedShardedMap, SHARDS, ShardedMap } from './shards.js';

const STALE = 'internal error: a copy of the control model used after the table changed';

/** Where a ForkMap keeps entries: a Map (insertion order), a ShardedMap (no table-sized rehash), or
 *  an OrderedShardedMap (both). */
type Store<K extends number | string, V> = Map<K, V> | ShardedMap<K, V> | OrderedShardedMap<K, V>;

/** Which store a ForkMap keeps its entries (and a fork its changes) in. */
export type StoreKind = 'map' | 'sharded' | 'ordered';

interface Shared<K extends number | string, V> {
  readonly map: Store<K, V>;
  /** Bumped by every write into `map`: forks made before are out of date. */
  version: number;
  owner: object;
}

/** A key of the shared map the fork deleted. */
const TOMB: unique symbol = Symbol('deleted');

/** A fork's own changes over the shared map (two maps: a batch that rewrites the whole table grows
 *  them together, and each doubling of a large Map is a pause of its own). */
interface Own<K extends number | string, V> {
  version: number;
  /** Keys of the shared map, in place: values it set or copied, or TOMB where it deleted one. */
  readonly over: Store<K, V | typeof TOMB>;
  tombs: number;
  /** It was cleared (clear()): the shared map's keys are all gone for it, `over` is empty. */
  cleared: boolean;
  /** Keys it set that the shared map lacks (or that it deleted), in the order set: they follow the shared map's. */
  readonly added: Store<K, V>;
}

/**
 * What ForkMap and ForkStack share: the structure (`sh`, with the version every write bumps and
 * the map or stack that wrote last) and a fork's own changes (`own_`, the version it forked at).
 */
abstract class Forked<S extends { version: number; owner: object }, O extends { version: number }> {
  protected abstract sh: S;
  protected own_: O | undefined;

  /** The fork's changes (checked up to date), or undefined for the map or stack itself. */
  protected mine(): O | undefined {
    const o = this.own_;
    if (o !== undefined && o.version !== this.sh.version) throw new Error(STALE);
    return o;
  }

  /** A write by the map or stack itself: its forks are out of date. */
  protected wrote(): void {
    if (this.sh.owner !== this) throw new Error(STALE);
    this.sh.version++;
  }

  /** The fork's changes are in the shared structure now: it is the original, forks made before are out of date. */
  protected took(): void {
    this.sh.version++;
    this.sh.owner = this;
    this.own_ = undefined;
  }
}

export class ForkMap<K extends number | string, V> extends Forked<Shared<K, V>, Own<K, V>> {
  protected sh: Shared<K, V>;
  private readonly copy: ((v: V) => V) | undefined;
  private readonly kind: StoreKind;

  /** In a Map's order (kind 'map' or 'ordered'); with `copy`, a fork copies a value at its first read. */
  constructor(entries?: Iterable<readonly [K, V]>, copy?: (v: V) => V, kind: StoreKind = 'map') {
    super();
    this.copy = copy;
    this.kind = kind;
    const map = this.store<V>();
    if (entries !== undefined) for (const [k, v] of entries) map.set(k, v);
    this.sh = { map, version: 0, owner: this };
  }

  /** A map in ShardedMaps, the original's and its forks' (iterated shard by shard: for maps whose order nothing reads). */
  static sharded<K extends number | string, V>(entries?: Iterable<readonly [K, V]>): ForkMap<K, V> {
    return new ForkMap<K, V>(entries, undefined, 'sharded');
  }

  /** A map in OrderedShardedMaps: a Map's order, and no rehash of the whole map (the services). */
  static ordered<K extends number | string, V>(copy?: (v: V) => V): ForkMap<K, V> {
    return new ForkMap<K, V>(undefined, copy, 'ordered');
  }

  private store<W>(): Store<K, W> {
    return this.kind === 'sharded' ? new ShardedMap<K, W>() : this.kind === 'ordered' ? new OrderedShardedMap<K, W>() : new Map<K, W>();
  }

  /** A copy sharing this map: O(1). Not of a fork (nothing needs one). */
  fork(): ForkMap<K, V> {
    if (this.own_ !== undefined) throw new Error('internal error: a copy of a copy of the control model');
    const f = new ForkMap<K, V>(undefined, this.copy, this.kind);
    f.sh = this.sh;
    f.own_ = { version: this.sh.version, over: this.store(), tombs: 0, cleared: false, added: this.store() };
    return f;
  }

  /** The most entries one Map of it holds (what one V8 rehash copies): a shard's when sharded. */
  get largestShard(): number {
    const most = (m: Store<K, unknown>): number => (m instanceof Map ? m.size : m.largestShard);
    const o = this.own_;
    return Math.max(most(this.sh.map), o === undefined ? 0 : Math.max(most(o.over), most(o.added)));
  }

  /** This fork becomes the map: its changes go into the shared map, O(its changes). */
  own(): void {
    const o = this.mine();
    if (o === undefined) return;
    const m = this.sh.map;
    if (o.cleared) m.clear();
    if (o.over.size > 0) {
      for (const [k, v] of o.over) {
        if (v === TOMB) m.delete(k);
        else m.set(k, v); // in place
      }
    }
    if (o.added.size > 0) for (const [k, v] of o.added) m.set(k, v); // at the end, in the order set
    this.took();
  }

  /**
   * The fork takes a whole map of its own, built `every` entries a step, with its own copies of
   * the values: the original's map and values are left as they are, and its own() is O(1). For a
   * batch that may change much of the table (Model.cloneSliced). False (the fork unchanged) when
   * the original changed meanwhile: the fork is out of date.
   */
  *copySteps(every = 64): Generator<void, boolean, void> {
    const o = this.own_;
    if (o === undefined) return true;
    if (this.kind === 'sharded' && this.copy === undefined) return yield* this.copyShards(o);
    const m = this.store<V>();
    let n = 0;
    for (const [k, v] of o.cleared ? [] : this.sh.map) {
      const w = o.over.get(k);
      if (w !== TOMB) m.set(k, w ?? (this.copy === undefined ? v : this.copy(v)));
      if (++n % every === 0) {
        yield;
        if (o.version !== this.sh.version) return false;
      }
    }
    for (const [k, v] of o.added) m.set(k, v);
    this.sh = { map: m, version: 0, owner: this };
    this.own_ = undefined;
    return true;
  }

  /**
   * copySteps() of a sharded map: a shard at a time (the fork's changes are sharded by the same
   * hash, so shard i's changes are in its shards i), a native copy of each (no `copy` here).
   */
  private *copyShards(o: Own<K, V>): Generator<void, boolean, void> {
    const from = this.sh.map as ShardedMap<K, V>;
    const over = o.over as ShardedMap<K, V | typeof TOMB>;
    const added = o.added as ShardedMap<K, V>;
    const shards: Map<K, V>[] = [];
    for (let i = 0; i < SHARDS; i++) {
      const s = o.cleared ? new Map<K, V>() : from.liveCopy(i);
      for (const [k, v] of over.shards[i]!) {
        if (v === TOMB) s.delete(k);
        else s.set(k, v);
      }
      for (const [k, v] of added.shards[i]!) s.set(k, v);
      shards.push(s);
      yield;
      if (o.version !== this.sh.version) return false;
    }
    this.sh = { map: ShardedMap.ofShards(shards), version: 0, owner: this };
    this.own_ = undefined;
    return true;
  }

  get size(): number {
    const o = this.mine();
    return o === undefined ? this.sh.map.size : (o.cleared ? 0 : this.sh.map.size - o.tombs) + o.added.size;
  }

  has(k: K): boolean {
    const o = this.mine();
    if (o === undefined) return this.sh.map.has(k);
    if (o.added.has(k)) return true;
    if (o.cleared) return false;
    const w = o.over.get(k);
    return w === undefined ? this.sh.map.has(k) : w !== TOMB;
  }

  get(k: K): V | undefined {
    const o = this.mine();
    if (o === undefined) return this.sh.map.get(k);
    const a = o.added.get(k);
    if (a !== undefined || o.cleared) return a;
    const w = o.over.get(k);
    if (w === TOMB) return undefined;
    return w ?? this.ownCopy(o, k, this.sh.map.get(k));
  }

  /** A value of the shared map as the fork sees it: its own copy, made at the first read. */
  private ownCopy(o: Own<K, V>, k: K, v: V | undefined): V | undefined {
    if (v === undefined || this.copy === undefined) return v;
    const c = this.copy(v);
    o.over.set(k, c);
    return c;
  }

  set(k: K, v: V): this {
    const o = this.mine();
    if (o === undefined) {
      this.wrote();
      this.sh.map.set(k, v);
      return this;
    }
    if (o.cleared) {
      o.added.set(k, v);
      return this;
    }
    // A key of `added` is TOMB in `over` when the shared map has it, else in neither: set in
    // `added` again (in its place) either way, with no has() of `added` first.
    const w = o.over.get(k);
    if (w === undefined ? this.sh.map.has(k) : w !== TOMB) o.over.set(k, v); // in its place
    else o.added.set(k, v); // new, or deleted and set again: at the end (or in its place in `added`)
    return this;
  }

  delete(k: K): boolean {
    const o = this.mine();
    if (o === undefined) {
      // One lookup (has() then delete() were two): out of date, it throws (wrote()) before it deletes.
      if (this.sh.owner !== this) {
        if (!this.sh.map.has(k)) return false;
        this.wrote();
      }
      if (!this.sh.map.delete(k)) return false;
      this.sh.version++;
      return true;
    }
    if (o.added.delete(k)) return true; // (a key of the shared map is TOMB in `over` already)
    if (o.cleared) return false;
    const w = o.over.get(k);
    if (w === TOMB || (w === undefined && !this.sh.map.has(k))) return false;
    o.over.set(k, TOMB);
    o.tombs++;
    return true;
  }

  /** For a map of counts: k's count moved by delta, gone at 0 or less (Model's addRef); one lookup in a sharded map itself (ShardedMap.bump). */
  bump(this: ForkMap<K, number>, k: K, delta: number): void {
    const m = this.sh.map;
    if (this.own_ === undefined && m instanceof ShardedMap) {
      this.wrote();
      m.bump(k, delta);
      return;
    }
    const n = (this.get(k) ?? 0) + delta;
    if (n > 0) this.set(k, n);
    else this.delete(k);
  }

  /** Whether this is a fork that shares its original's map. */
  get forked(): boolean {
    return this.own_ !== undefined;
  }

  /**
   * Every key of the map itself is going, one at a time (a sliced -C of the model, not of a fork,
   * which clear()s): its shards do not shrink meanwhile (ShardedMap.emptying). A plain Map's, and a fork's, do as before.
   */
  emptying(on: boolean): void {
    const m = this.sh.map;
    if (this.own_ === undefined && !(m instanceof Map)) m.emptying(on);
  }

  /** Every key gone: O(1) in a fork (a -C in a batch). */
  clear(): void {
    const o = this.mine();
    if (o === undefined) {
      this.wrote();
      this.sh.map.clear();
      return;
    }
    o.over.clear();
    o.added.clear();
    o.tombs = 0;
    o.cleared = true;
  }

  // The map itself hands out its store's own iterators (native for a Map: a list of 10,000
  // services' keys through a generator took ~2 ms in one piece, the plan of a reload); a fork, its view.
  entries(): IterableIterator<[K, V], undefined> {
    const o = this.mine();
    return o === undefined ? this.sh.map.entries() : this.forkEntries(o);
  }

  private *forkEntries(o: Own<K, V>): Generator<[K, V], undefined> {
    for (const [k, v] of o.cleared ? [] : this.sh.map) {
      this.mine();
      const w = o.over.get(k);
      if (w !== TOMB) yield [k, w ?? this.ownCopy(o, k, v)!];
    }
    for (const [k, v] of o.added) {
      this.mine();
      yield [k, v];
    }
  }

  /**
   * The values in order, without a fork's copies of those it has not read yet: for callers that
   * only read them (a -C item reads every service and changes none).
   */
  *readValues(): Generator<V, undefined> {
    const o = this.mine();
    if (o === undefined) {
      yield* this.sh.map.values();
      return;
    }
    for (const [k, v] of o.cleared ? [] : this.sh.map) {
      this.mine();
      const w = o.over.get(k);
      if (w !== TOMB) yield w ?? v;
    }
    for (const v of o.added.values()) {
      this.mine();
      yield v;
    }
  }

  /** readValues() as an array (a fork that changed nothing yet: the shared map's, at native speed). */
  readValuesArray(): V[] {
    const o = this.mine();
    if (o === undefined || (o.over.size === 0 && o.added.size === 0 && !o.cleared)) return [...this.sh.map.values()];
    return [...this.readValues()];
  }

  keys(): IterableIterator<K, undefined> {
    const o = this.mine();
    return o === undefined ? this.sh.map.keys() : this.forkKeys(o);
  }

  private *forkKeys(o: Own<K, V>): Generator<K, undefined> {
    for (const [k] of this.forkEntries(o)) yield k;
  }

  values(): IterableIterator<V, undefined> {
    const o = this.mine();
    return o === undefined ? this.sh.map.values() : this.forkValues(o);
  }

  private *forkValues(o: Own<K, V>): Generator<V, undefined> {
    for (const [, v] of this.forkEntries(o)) yield v;
  }

  [Symbol.iterator](): IterableIterator<[K, V], undefined> {
    return this.entries();
  }
}

/** A stack (push, pop) shared the same way: a fork pops from the shared stack's top without changing it. */
interface SharedStack {
  readonly stack: PartStack;
  version: number;
  owner: object;
}

/** Numbers in parts of this many (PartStack). */
const STACK_PART = 4096;

/**
 * A stack of numbers kept in arrays of STACK_PART: the service ids a -C frees (10,000 at 10,000
 * services) went into one array grown by push, each growth a copy of it in one step, and from
 * 16,384 on an object of V8's large-object space.
 */
class PartStack {
  private readonly parts: number[][] = [];
  length = 0;

  constructor(items: readonly number[] = []) {
    for (const x of items) this.push(x);
  }

  push(x: number): void {
    const i = this.length % STACK_PART;
    if (i === 0) this.parts.push([]);
    this.parts[this.parts.length - 1]![i] = x;
    this.length++;
  }

  pop(): number | undefined {
    if (this.length === 0) return undefined;
    const last = this.parts[this.parts.length - 1]!;
    const x = last.pop()!;
    if (last.length === 0) this.parts.pop();
    this.length--;
    return x;
  }

  /** The number at index i (from the bottom; below length). */
  at(i: number): number {
    return this.parts[Math.floor(i / STACK_PART)]![i % STACK_PART]!;
  }

  /** The top n gone. */
  drop(n: number): void {
    for (let k = 0; k < n; k++) this.pop();
  }

  toArray(): number[] {
    return this.parts.flat();
  }
}

export class ForkStack extends Forked<SharedStack, { version: number; popped: number; pushed: PartStack }> {
  protected readonly sh: SharedStack;

  constructor(items: readonly number[] = [], sh?: SharedStack) {
    super();
    this.sh = sh ?? { stack: new PartStack(items), version: 0, owner: this };
  }

  fork(): ForkStack {
    if (this.own_ !== undefined) throw new Error('internal error: a copy of a copy of the control model');
    const f = new ForkStack(undefined, this.sh);
    f.own_ = { version: this.sh.version, popped: 0, pushed: new PartStack() };
    return f;
  }

  own(): void {
    const o = this.mine();
    if (o === undefined) return;
    const st = this.sh.stack;
    st.drop(o.popped);
    for (let i = 0; i < o.pushed.length; i++) st.push(o.pushed.at(i));
    this.took();
  }

  get length(): number {
    const o = this.mine();
    return o === undefined ? this.sh.stack.length : this.sh.stack.length - o.popped + o.pushed.length;
  }

  push(x: number): void {
    const o = this.mine();
    if (o === undefined) {
      this.wrote();
      this.sh.stack.push(x);
    } else o.pushed.push(x);
  }

  pop(): number | undefined {
    const o = this.mine();
    if (o === undefined) {
      if (this.sh.stack.length === 0) return undefined;
      this.wrote();
      return this.sh.stack.pop();
    }
    if (o.pushed.length > 0) return o.pushed.pop();
    const st = this.sh.stack;
    if (o.popped >= st.length) return undefined;
    return st.at(st.length - 1 - o.popped++);
  }

  /** Bottom to top (tests). */
  toArray(): number[] {
    const o = this.mine();
    if (o === undefined) return this.sh.stack.toArray();
    return [...this.sh.stack.toArray().slice(0, this.sh.stack.length - o.popped), ...o.pushed.toArray()];
  }
}
