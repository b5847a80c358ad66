// A Map split by key into SHARDS Maps. V8 grows a Map (and shrinks it, as entries are deleted)
// by copying it whole into a new table, in one piece: 7-8 ms of CPU at 32,768 entries on these
// machines, 3.4 ms for a shrink at 16,384. The model's per-server maps reach that with 10,000
// services of 4 servers (the dest trash fills to 40,000 during -C, the real servers' addresses
// empty from 40,000), and so do a reload's model copy and its plan's maps of every service: a
// shard copies its part only (~1/64 of it), and a sliced copy (ForkMap.copySteps) pauses between shards.

/** Shards per map: at --dest-max 65,536 (the default) a shard holds ~1,000 entries, at the most (1,048,576) ~16,000. */
const SHARD_BITS = 6;
export const SHARDS = 1 << SHARD_BITS;

/** The shard of key k: a multiplicative hash of a number, FNV-1a of a string's characters. */
export function shardOf(k: number | string): number {
  if (typeof k === 'number') return Math.imul(k | 0, 0x9e3779b1) >>> (32 - SHARD_BITS);
  let h = 0x811c9dc5;
  for (let i = 0; i < k.length; i++) h = Math.imul(h ^ k.charCodeAt(i), 0x01000193);
  return Math.imul(h, 0x9e3779b1) >>> (32 - SHARD_BITS);
}

/** What every shard is until its first set(): empty, never written (64 new Maps took ~0.1 ms on
 *  this loaded host, and a batch's copy of the model makes 19 of these maps, most never written). */
const NONE = new Map<never, never>();

/** The Map methods the model uses (get, has, set, delete, size, iteration), over SHARDS Maps; iterates shard by shard. */
export class ShardedMap<K extends number | string, V> {
  private readonly maps: Map<K, V>[];
  private n: number;

  /** Empty, or a copy of `from`. */
  constructor(from?: ShardedMap<K, V>) {
    const none = NONE as unknown as Map<K, V>;
    this.maps = from === undefined ? new Array<Map<K, V>>(SHARDS).fill(none) : from.maps.map((m) => (m === none ? none : new Map(m)));
    this.n = from?.n ?? 0;
  }

  /** Shard i's entries are shards[i]'s (to read only). */
  get shards(): readonly ReadonlyMap<K, V>[] {
    return this.maps;
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

  /** The most entries one shard holds (what one of its rehashes copies). */
  get largestShard(): number {
    let most = 0;
    for (const m of this.shards) if (m.size > most) most = m.size;
    return most;
  }

  get(k: K): V | undefined {
    return this.maps[shardOf(k)]!.get(k);
  }

  has(k: K): boolean {
    return this.maps[shardOf(k)]!.has(k);
  }

  set(k: K, v: V): this {
    const i = shardOf(k);
    let m = this.maps[i]!;
    if (m === (NONE as unknown)) this.maps[i] = m = new Map();
    const had = m.size;
    m.set(k, v);
    this.n += m.size - had;
    return this;
  }

  delete(k: K): boolean {
    const gone = this.maps[shardOf(k)]!.delete(k); // (NONE has nothing to delete)
    if (gone) this.n--;
    return gone;
  }

  /** get(k), then delete(k): the key hashed and its shard found once. */
  take(k: K): V | undefined {
    const m = this.maps[shardOf(k)]!;
    const v = m.get(k);
    if (v !== undefined && m.delete(k)) this.n--;
    return v;
  }

  clear(): void {
    this.maps.fill(NONE as unknown as Map<K, V>);
    this.n = 0;
  }

  *entries(): IterableIterator<[K, V]> {
    for (const m of this.maps) yield* m;
  }

  *keys(): IterableIterator<K> {
    for (const m of this.maps) yield* m.keys();
  }

  *values(): IterableIterator<V> {
    for (const m of this.maps) yield* m.values();
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
