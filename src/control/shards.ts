// A Map split by key into SHARDS Maps. V8 grows a Map (and shrinks it, as entries are deleted)
// by copying it whole into a new table, in one piece: 7-8 ms of CPU at 32,768 entries on these
// machines, 3.4 ms for a shrink at 16,384. The model's per-server maps reach that with 10,000
// services of 4 servers (the dest trash fills to 40,000 during -C, the real servers' addresses
// empty from 40,000), and so do a reload's model copy and its plan's maps of every service: a
// shard copies its part only (~1/64 of it), and a sliced copy (ForkMap.copySteps) pauses between shards.
//
// The shards of a map hold about as many keys each, so they would reach each size, and be copied,
// at about the same change: with keys that count up (addresses, ids) and a hash that spreads
// them evenly, all 64 at once (-C at 10,000 x 4: the 64 shards of the real servers' addresses
// shrank within ~80 services, ~1 ms in all). The hash of a number mixes its bits (shardOf), so the
// shards' sizes differ as random ones do and their copies spread over hundreds of changes; and a
// map whose every key is going (-C: emptying()) never shrinks: a deleted key leaves a mark, and a
// shard whose last key goes is dropped whole.
/** Shards per map: at --dest-max 65,536 (the default) a shard holds ~1,000 entries, at the most (1,048,576) ~16,000. */
const SHARD_BITS = 6;
export const SHARDS = 1 << SHARD_BITS;

/**
 * The shard of key k: a number's bits mixed (murmur3's finalizer), FNV-1a of a string's
 * characters. A multiplicative hash alone (until 2026-12-06) put keys that count up into the
 * shards in turn: every shard the same size, copied by V8 at the same change as the others.
 */
export function shardOf(k: number | string): number {
  if (typeof k === 'number') {
    let h = k | 0;
    h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
    return (h ^ (h >>> 16)) >>> (32 - SHARD_BITS);
  }
  let h = 0x811c9dc5;
  for (let i = 0; i < k.length; i++) h = Math.imul(h ^ k.charCodeAt(i), 0x01000193);
  return Math.imul(h, 0x9e3779b1) >>> (32 - SHARD_BITS);
}

/** What every shard is until its first set(): empty, never written (64 new Maps took ~0.1 ms on
 *  this loaded host, and a batch's copy of the model makes 19 of these maps, most never written). */
const NONE = new Map<never, never>();

/** What a deleted key holds in a map that is emptying (ShardedMap.emptying): its place, so its Map does not shrink. */
const GONE: unique symbol = Symbol('gone');

/** The Map methods the model uses (get, has, set, delete, size, iteration), over SHARDS Maps; iterates shard by shard. */
export class ShardedMap<K extends number | string, V> {
  private readonly maps: Map<K, V>[];
  private n: number;
  /** Per shard, its keys that are GONE (undefined until the map first empties: none anywhere). */
  private dead: number[] | undefined;
  /** Deletes leave GONE (emptying()). */
  private marking = false;

  /** Empty, or a copy of `from`. */
  constructor(from?: ShardedMap<K, V>) {
    const none = NONE as unknown as Map<K, V>;
    this.maps = from === undefined ? new Array<Map<K, V>>(SHARDS).fill(none) : from.maps.map((m, i) => (m === none ? none : from.liveCopy(i)));
    this.n = from?.n ?? 0;
  }

  /** Shard i's entries are shards[i]'s (to read only; a map that emptied may hold GONE there: liveCopy(i) for its entries). */
  get shards(): readonly ReadonlyMap<K, V>[] {
    return this.maps;
  }

  /** A new Map of shard i's entries (those not GONE). */
  liveCopy(i: number): Map<K, V> {
    const m = this.maps[i]!;
    if (this.clean(i)) return new Map(m);
    const c = new Map<K, V>();
    for (const [k, v] of m) if (v !== (GONE as unknown)) c.set(k, v);
    return c;
  }

  /**
   * While on: every key is going (-C), so a delete leaves the key GONE in its Map (which then
   * never shrinks: V8 copies a Map whole to shrink it) and a shard whose last key goes is dropped
   * whole, with nothing copied. Keys GONE read as absent; set again, they are back in place.
   * Off: deletes delete again (GONE keys stay until set again or their shard empties).
   */
  emptying(on: boolean): void {
    if (on) this.dead ??= new Array<number>(SHARDS).fill(0);
    this.marking = on;
  }

  /** The map whose shard i is shards[i] (each holding only keys of shard i: ForkMap.copySteps). */
  static ofShards<K extends number | string, V>(shards: Map<K, V>[]): ShardedMap<K, V> {
    const m = new ShardedMap<K, V>();
    let n = 0;
    for (let i = 0; i < SHARDS; i++) {
      m.maps[i] = shards[i]!;
      n += shards[i]!.size;
    }
    m.n = n;
    return m;
  }

  /** A map of `entries`. */
  static of<K extends number | string, V>(entries: Iterable<readonly [K, V]>): ShardedMap<K, V> {
    const m = new ShardedMap<K, V>();
    for (const [k, v] of entries) m.set(k, v);
    return m;
  }

  get size(): number {
    return this.n;
  }

  /** The most entries one shard holds (what one of its rehashes copies; GONE keys too). */
  get largestShard(): number {
    let most = 0;
    for (const m of this.shards) if (m.size > most) most = m.size;
    return most;
  }

  get(k: K): V | undefined {
    const v = this.maps[shardOf(k)]!.get(k);
    return v === (GONE as unknown) ? undefined : v;
  }

  has(k: K): boolean {
    const i = shardOf(k);
    const m = this.maps[i]!;
    return this.clean(i) ? m.has(k) : m.get(k) !== (GONE as unknown) && m.has(k);
  }

  set(k: K, v: V): this {
    const i = shardOf(k);
    let m = this.maps[i]!;
    if (m === (NONE as unknown)) this.maps[i] = m = new Map();
    const d = this.dead;
    if (d !== undefined && d[i]! > 0 && m.get(k) === (GONE as unknown)) {
      d[i]!--;
      this.n++;
      m.set(k, v); // in its place
      return this;
    }
    const had = m.size;
    m.set(k, v);
    this.n += m.size - had;
    return this;
  }

  /**
   * For a map of counts: k's count moved by delta, the key gone at 0 or less (Model's addRef):
   * the key hashed and looked up once, where get() then set() or delete() did both twice.
   */
  bump(this: ShardedMap<K, number>, k: K, delta: number): void {
    const i = shardOf(k);
    const m = this.maps[i]!;
    const v = m.get(k);
    const live = v !== undefined && v !== (GONE as unknown);
    const n = (live ? v : 0) + delta;
    if (n <= 0) {
      if (live) this.drop(i, m, k);
    } else if (live) m.set(k, n); // in its place
    else this.set(k, n);
  }

  delete(k: K): boolean {
    const i = shardOf(k);
    const m = this.maps[i]!;
    if (this.dead === undefined) {
      const gone = m.delete(k); // (NONE has nothing to delete)
      if (gone) this.n--;
      return gone;
    }
    const v = m.get(k);
    if (v === (GONE as unknown) || (v === undefined && !m.has(k))) return false;
    this.drop(i, m, k);
    return true;
  }

  /** get(k), then delete(k): the key hashed and its shard found once. */
  take(k: K): V | undefined {
    const i = shardOf(k);
    const m = this.maps[i]!;
    const v = m.get(k);
    if (v === undefined || v === (GONE as unknown)) return undefined;
    this.drop(i, m, k);
    return v;
  }

  /** Key k (there, not GONE) of shard i (m) goes. */
  private drop(i: number, m: Map<K, V>, k: K): void {
    this.n--;
    const d = this.dead;
    if (d === undefined) m.delete(k);
    else if (m.size - d[i]! === 1) {
      // Its last key: the shard goes whole (a Map deleted down to nothing copies itself smaller at every quarter).
      this.maps[i] = NONE as unknown as Map<K, V>;
      d[i] = 0;
    } else if (this.marking) {
      m.set(k, GONE as unknown as V);
      d[i]!++;
    } else m.delete(k);
  }

  clear(): void {
    this.maps.fill(NONE as unknown as Map<K, V>);
    this.dead?.fill(0);
    this.n = 0;
  }

  /** Whether shard i holds no GONE key. */
  private clean(i: number): boolean {
    return this.dead === undefined || this.dead[i] === 0;
  }

  *entries(): IterableIterator<[K, V]> {
    for (let i = 0; i < SHARDS; i++) {
      const m = this.maps[i]!;
      if (this.clean(i)) yield* m;
      else for (const e of m) if (e[1] !== (GONE as unknown)) yield e;
    }
  }

  *keys(): IterableIterator<K> {
    for (let i = 0; i < SHARDS; i++) {
      const m = this.maps[i]!;
      if (this.clean(i)) yield* m.keys();
      else for (const [k, v] of m) if (v !== (GONE as unknown)) yield k;
    }
  }

  *values(): IterableIterator<V> {
    for (let i = 0; i < SHARDS; i++) {
      const m = this.maps[i]!;
      if (this.clean(i)) yield* m.values();
      else for (const v of m.values()) if (v !== (GONE as unknown)) yield v;
    }
  }

  [Symbol.iterator](): IterableIterator<[K, V]> {
    return this.entries();
  }
}

/** An entry of an OrderedShardedMap, linked in insertion order. */
interface Link<K, V> {
  readonly k: K;
  v: V;
  prev: Link<K, V> | undefined;
  next: Link<K, V> | undefined;
  /** Deleted (or its map cleared: `epoch` behind the map's): iterators step past it. */
  dead: boolean;
  readonly epoch: number;
}

/**
 * A ShardedMap in insertion order, as a Map iterates (a key set again keeps its place, a key
 * deleted and set again goes to the end), for the control model's services, whose order is the
 * listing order (uvsadm -L): the entries are in shards (no table-sized rehash: one Map of the
 * services copied itself whole growing past 8,192, 2-3 ms in one piece, and past 16,384, 4-6 ms)
 * and the order is a list linked through them, which never copies. Its iterators see changes
 * made meanwhile as a Map's do: deleted entries are skipped, entries added are reached.
 */
export class OrderedShardedMap<K extends number | string, V> {
  private readonly byKey = new ShardedMap<K, Link<K, V>>();
  /** The first and the last live entries. */
  head: Link<K, V> | undefined;
  private tail: Link<K, V> | undefined;
  /** Bumped by clear(): every entry made before is dead. */
  epoch = 0;

  /** A map of `entries`, in their order. */
  static of<K extends number | string, V>(entries: Iterable<readonly [K, V]>): OrderedShardedMap<K, V> {
    const m = new OrderedShardedMap<K, V>();
    for (const [k, v] of entries) m.set(k, v);
    return m;
  }

  get size(): number {
    return this.byKey.size;
  }

  /** The most entries one shard holds (what one of its rehashes copies). */
  get largestShard(): number {
    return this.byKey.largestShard;
  }

  get(k: K): V | undefined {
    return this.byKey.get(k)?.v;
  }

  has(k: K): boolean {
    return this.byKey.has(k);
  }

  set(k: K, v: V): this {
    const e = this.byKey.get(k);
    if (e !== undefined) {
      e.v = v; // in its place
      return this;
    }
    const n: Link<K, V> = { k, v, prev: this.tail, next: undefined, dead: false, epoch: this.epoch };
    if (this.tail === undefined) this.head = n;
    else this.tail.next = n;
    this.tail = n;
    this.byKey.set(k, n);
    return this;
  }

  delete(k: K): boolean {
    const e = this.byKey.take(k);
    if (e === undefined) return false;
    // Its own links are kept: an iterator standing on it finds its way on (OrderedIterator).
    e.dead = true;
    if (e.prev === undefined) this.head = e.next;
    else e.prev.next = e.next;
    if (e.next === undefined) this.tail = e.prev;
    else e.next.prev = e.prev;
    return true;
  }

  /** ShardedMap.emptying, of the entries by key (the order's list never copies). */
  emptying(on: boolean): void {
    this.byKey.emptying(on);
  }

  clear(): void {
    this.byKey.clear();
    this.head = undefined;
    this.tail = undefined;
    this.epoch++;
  }

  entries(): IterableIterator<[K, V]> {
    return new EntryIterator(this);
  }

  keys(): IterableIterator<K> {
    return new KeyIterator(this);
  }

  values(): IterableIterator<V> {
    return new ValueIterator(this);
  }

  [Symbol.iterator](): IterableIterator<[K, V]> {
    return this.entries();
  }
}

/**
 * The iterators of an OrderedShardedMap: classes, one per kind, not generators (a generator, or
 * one class calling a function per entry, took ~1 ms over 10,000 services, where a Map's own
 * took ~0.05 ms).
 */
abstract class OrderedIterator<K extends number | string, V> {
  /** The entry last handed out; undefined before the first. */
  private at: Link<K, V> | undefined;
  private done = false;

  constructor(private readonly m: OrderedShardedMap<K, V>) {}

  /** The next entry, or undefined at the end. */
  protected step(): Link<K, V> | undefined {
    if (this.done) return undefined;
    const m = this.m;
    const at = this.at;
    let n: Link<K, V> | undefined;
    if (at === undefined) n = m.head;
    else if (!at.dead && at.epoch === m.epoch) n = at.next;
    else {
      // It was deleted meanwhile: on from the nearest live entry before it (entries are only
      // ever added at the end, so what lay between is gone too), or from the first.
      let p = at.prev;
      while (p !== undefined && (p.dead || p.epoch !== m.epoch)) p = p.prev;
      n = p === undefined ? m.head : p.next;
    }
    if (n === undefined) this.done = true;
    else this.at = n;
    return n;
  }
}

class KeyIterator<K extends number | string, V> extends OrderedIterator<K, V> implements IterableIterator<K> {
  next(): IteratorResult<K> {
    const n = this.step();
    return n === undefined ? { value: undefined, done: true } : { value: n.k, done: false };
  }

  [Symbol.iterator](): IterableIterator<K> {
    return this;
  }
}

class ValueIterator<K extends number | string, V> extends OrderedIterator<K, V> implements IterableIterator<V> {
  next(): IteratorResult<V> {
    const n = this.step();
    return n === undefined ? { value: undefined, done: true } : { value: n.v, done: false };
  }

  [Symbol.iterator](): IterableIterator<V> {
    return this;
  }
}

class EntryIterator<K extends number | string, V> extends OrderedIterator<K, V> implements IterableIterator<[K, V]> {
  next(): IteratorResult<[K, V]> {
    const n = this.step();
    return n === undefined ? { value: undefined, done: true } : { value: [n.k, n.v], done: false };
  }

  [Symbol.iterator](): IterableIterator<[K, V]> {
    return this;
  }
}
