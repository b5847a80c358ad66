// The destination slots the control plane hands out: the free ones, and the trash of deleted
// servers (IPVS's dest_trash) that the same server added back takes its slot from, with its
// connections. Every batch works on a copy of the model (Model.clone), and this is the part of
// it that grows with --dest-max and with the servers deleted, so a copy here shares the
// original's structures and keeps only its own changes (fork()): a one-item batch costs the same
// with 65,536 free slots or a full trash as with none. The copy that becomes the model
// (Control.commit) writes its changes into the shared structures (own()). A sliced batch's copy
// (Model.cloneSliced) takes structures of its own instead, a part at a time (copySteps()), so
// that its own() is O(1): own() of a reload that replaced every service of 10,000 x 4 wrote
// 25,000-40,000 trash entries in one piece (25-53 ms).

import { ShardedMap } from './shards.js';
import { SLICE_END } from './slices.js';

/** How long a deleted server's slot stays in the trash once nothing refers to it (ms): the
 *  kernel's IP_VS_DEST_TRASH_PERIOD (120 s, ip_vs_ctl.c ip_vs_dest_trash_expire). */
export const TRASH_PERIOD_MS = 120_000;

/** Trash entries the sweep looks at per call (uvsd calls it every datapath tick, 250 ms): a
 *  trash of 65,536 is gone through in 64 s (the kernel looks every 60 s), each look a few array
 *  reads (measured at 65,000: 0.02 ms a call; a shard of the trash shrinks, not the whole of it, shards.ts). */
export const TRASH_SWEEP_BUDGET = 256;

/** A deleted server's slot, and since when the sweep has seen nothing refer to it (NaN: not yet). */
interface TrashEntry {
  readonly key: string;
  readonly slot: number;
  idleSince: number;
  /** When it went into the trash (a count): the oldest has the lowest. */
  readonly seq: number;
  /** The shared trash's order, oldest first (Shared.first): the entries before and after. */
  prev: TrashEntry | undefined;
  next: TrashEntry | undefined;
}

/**
 * The free slots: a stack in an Int32Array with room for every slot (they never outnumber them).
 * An array of them (40,000-65,536 numbers: an object of V8's large-object space) that a sliced
 * batch's copy (copySteps) grew by push was copied whole at each growth, in one step: 147, 222
 * and 333 KB at 40,064 slots.
 */
class FreeSlots {
  private readonly a: Int32Array;
  length = 0;

  constructor(readonly room: number) {
    this.a = new Int32Array(room);
  }

  push(slot: number): void {
    this.a[this.length++] = slot;
  }

  pop(): number | undefined {
    return this.length === 0 ? undefined : this.a[--this.length];
  }

  /** The slot at index i (below length). */
  at(i: number): number {
    return this.a[i]!;
  }

  /** Indexes [from, to) of `src` into the same indexes here (this stack's length at least to). */
  copy(src: FreeSlots, from: number, to: number): void {
    this.a.set(src.a.subarray(from, to), from);
    if (to > this.length) this.length = to;
  }
}

/** What the original and its copies share; written only by its owner. */
interface Shared {
  /**
   * By the server's trash key (Model's trashKeyOf), oldest first in each shard: a ShardedMap, as
   * -C of 10,000 services of 4 servers fills it to 40,000 (one Map held the loop 7-8 ms growing
   * past 32,768, in one piece; shards.ts).
   */
  readonly trash: ShardedMap<string, TrashEntry>;
  /** The next TrashEntry.seq. */
  seq: number;
  /** The oldest and the newest in `trash`, linked through TrashEntry.prev/next. */
  first: TrashEntry | undefined;
  last: TrashEntry | undefined;
  /** A stack: pop() takes the lowest at first. */
  readonly free: FreeSlots;
  /** Bumped by every change written here: a copy made before is out of date. */
  version: number;
  owner: SlotPool;
  /** The entry the sweep looks at next (undefined: the oldest); its deletion moves this on. */
  cursor: TrashEntry | undefined;
}

/** Entry `key` out of the shared trash (if there). */
function shDelete(sh: Shared, key: string): void {
  const e = sh.trash.take(key);
  if (e === undefined) return;
  if (sh.cursor === e) sh.cursor = e.next;
  if (e.prev === undefined) sh.first = e.next;
  else e.prev.next = e.next;
  if (e.next === undefined) sh.last = e.prev;
  else e.next.prev = e.prev;
  e.prev = undefined;
  e.next = undefined;
}

/** e into the shared trash, the newest (its key is not there). */
function shAppend(sh: Shared, e: TrashEntry): void {
  sh.trash.set(e.key, e);
  e.prev = sh.last;
  e.next = undefined;
  if (sh.last === undefined) sh.first = e;
  else sh.last.next = e;
  sh.last = e;
}

export class SlotPool {
  private sh: Shared;
  /** A copy's own changes (undefined: this is the owner and writes into sh directly). */
  private own_: {
    /** sh.version when the copy was made. */
    version: number;
    /** Trash keys set (an entry) or deleted (null) by the copy (their order here means nothing: `order` is the copy's). */
    trash: ShardedMap<string, TrashEntry | null>;
    /** The next TrashEntry.seq of the copy's (after the shared ones). */
    seq: number;
    /** How many slots the copy popped off sh.free's top (only the owner's sweep pushes). */
    popped: number;
    size: number;
    /** The copy's own entries in the order made (by seq); one is still the copy's while `trash` holds it for its key. */
    order: TrashEntry[];
    /**
     * Where trashTakeOldest looks first: before these, every shared entry is deleted by the copy,
     * and every one of `order` no longer its (a copy never takes one of them back): without them
     * each call walked past all those, and a reload replacing every service of 10,000 x 4 with
     * no free slot left took minutes of CPU.
     */
    sharedAt: TrashEntry | undefined;
    orderAt: number;
  } | undefined;

  private constructor(sh: Shared | undefined, destMax: number) {
    if (sh !== undefined) {
      this.sh = sh;
      return;
    }
    const free = new FreeSlots(destMax);
    for (let i = destMax - 1; i >= 0; i--) free.push(i);
    this.sh = { trash: new ShardedMap(), seq: 0, first: undefined, last: undefined, free, version: 0, owner: this, cursor: undefined };
  }

  /** destMax slots, all free. */
  static create(destMax: number): SlotPool {
    return new SlotPool(undefined, destMax);
  }

  /** A copy that shares this pool's structures: O(this copy's own changes), not O(slots). */
  fork(): SlotPool {
    this.check();
    const p = new SlotPool(this.sh, 0);
    const o = this.own_;
    p.own_ = o === undefined
      ? { version: this.sh.version, trash: new ShardedMap(), seq: this.sh.seq, popped: 0, size: this.sh.trash.size, order: [], sharedAt: this.sh.first, orderAt: 0 }
      : { ...o, trash: new ShardedMap(o.trash), order: [...o.order] };
    return p;
  }

  /**
   * This copy becomes the one that writes: its changes go into the shared structures (the pool
   * it was forked from, and any other copy of it, are out of date from then on: using one throws).
   */
  own(): void {
    const o = this.own_;
    if (o === undefined) return;
    this.check();
    const sh = this.sh;
    for (const k of o.trash.keys()) shDelete(sh, k);
    for (const e of o.order) if (o.trash.get(e.key) === e) shAppend(sh, e);
    sh.free.length -= o.popped;
    sh.seq = o.seq;
    sh.version++;
    sh.owner = this;
    this.own_ = undefined;
  }

  /**
   * The copy takes a trash (its entries, their order) and free slots of its own, `every` entries
   * a step: the original's are left as they are, and its own() is O(1) (nothing to write into
   * them). For a batch that may change much of the table (Model.cloneSliced). False (the copy
   * unchanged) when the original changed meanwhile: the copy is out of date.
   */
  *copySteps(every = 256): Generator<void | typeof SLICE_END, boolean, void> {
    this.check();
    const o = this.own_;
    if (o === undefined) return true;
    const sh = this.sh;
    // Its free stack (an Int32Array of --dest-max: 160 KB at 40,064) is made at the start of a
    // slice of its own: 0.3-0.8 ms of CPU in one step, after other work of the slice.
    yield SLICE_END;
    if (o.version !== sh.version) return false;
    const to: Shared = { trash: new ShardedMap(), seq: o.seq, first: undefined, last: undefined, free: new FreeSlots(sh.free.room), version: 0, owner: this, cursor: undefined };
    let n = 0;
    // The shared entries the copy kept, oldest first (new entries: the original's list links
    // these); the sweep goes on where it was, as own()'s deletions would leave it.
    let cursorNext = false;
    for (let e = sh.first; e !== undefined; e = e.next) {
      if (e === sh.cursor) cursorNext = true;
      if (!o.trash.has(e.key)) {
        const c: TrashEntry = { ...e, prev: undefined, next: undefined };
        shAppend(to, c);
        if (cursorNext) {
          to.cursor = c;
          cursorNext = false;
        }
      }
      if (++n % every === 0) {
        yield;
        if (o.version !== sh.version) return false;
      }
    }
    // Then the copy's, in the order made.
    for (const e of o.order) {
      if (o.trash.get(e.key) === e) shAppend(to, { ...e, prev: undefined, next: undefined });
      if (++n % every === 0) {
        yield;
        if (o.version !== sh.version) return false;
      }
    }
    const end = sh.free.length - o.popped;
    for (let i = 0; i < end; i += 16 * every) {
      to.free.copy(sh.free, i, Math.min(end, i + 16 * every));
      yield;
      if (o.version !== sh.version) return false;
    }
    this.sh = to;
    this.own_ = undefined;
    return true;
  }

  /** A copy made before its original changed (or an original whose copy took over) is out of date. */
  private check(): void {
    const o = this.own_;
    if (o === undefined ? this.sh.owner !== this : o.version !== this.sh.version) {
      throw new Error('internal error: a copy of the destination slots used after the table changed');
    }
  }

  /** A change by the owner: copies made before are out of date. */
  private wrote(): void {
    this.sh.version++;
  }

  get trashSize(): number {
    return this.own_?.size ?? this.sh.trash.size;
  }

  /** The most entries one Map of the trash holds (what one rehash copies: a shard's, shards.ts). */
  get trashLargestShard(): number {
    return Math.max(this.sh.trash.largestShard, this.own_?.trash.largestShard ?? 0);
  }

  get freeCount(): number {
    const o = this.own_;
    return o === undefined ? this.sh.free.length : this.sh.free.length - o.popped;
  }

  /** The slots in the trash, oldest first. */
  *trashSlots(): IterableIterator<number> {
    this.check();
    const o = this.own_;
    for (let e = this.sh.first; e !== undefined; e = e.next) if (o === undefined || !o.trash.has(e.key)) yield e.slot;
    if (o === undefined) return;
    for (const e of o.order) if (o.trash.get(e.key) === e) yield e.slot;
  }

  /** The slot of the server with trash key `key` in the trash, if it is there. */
  private trashGet(key: string): TrashEntry | undefined {
    const o = this.own_;
    if (o !== undefined) {
      const e = o.trash.get(key);
      if (e !== undefined || o.trash.has(key)) return e ?? undefined;
    }
    return this.sh.trash.get(key);
  }

  private trashDelete(key: string): void {
    const o = this.own_;
    if (o === undefined) {
      shDelete(this.sh, key);
      this.wrote();
      return;
    }
    const had = o.trash.get(key);
    if (had === null) return;
    if (had === undefined && !this.sh.trash.has(key)) return;
    o.size--;
    if (this.sh.trash.has(key)) o.trash.set(key, null);
    else o.trash.delete(key);
  }

  /** Slot `slot` of the deleted server `key` goes into the trash (last: the newest). */
  trashSet(key: string, slot: number): void {
    this.check();
    const o = this.own_;
    const e: TrashEntry = { key, slot, idleSince: NaN, seq: o === undefined ? this.sh.seq++ : o.seq++, prev: undefined, next: undefined };
    if (o === undefined) {
      shDelete(this.sh, key);
      shAppend(this.sh, e);
      this.wrote();
      return;
    }
    this.trashDelete(key);
    // (Where a key lies in `trash`'s shards is not its order: `order` and seq are.)
    o.trash.set(key, e);
    o.order.push(e);
    o.size++;
  }

  /** The server `key`'s slot, taken out of the trash; undefined when it is not there. */
  trashTake(key: string): number | undefined {
    this.check();
    const e = this.trashGet(key);
    if (e === undefined) return undefined;
    this.trashDelete(key);
    return e.slot;
  }

  /** The oldest slot in the trash, taken out of it (another server takes it); undefined when empty. */
  trashTakeOldest(): number | undefined {
    this.check();
    const o = this.own_;
    // The shared ones (not the copy's) before the copy's, each in its order.
    let oldest: TrashEntry | undefined;
    if (o === undefined) oldest = this.sh.first;
    else {
      let e = o.sharedAt;
      while (e !== undefined && o.trash.has(e.key)) e = e.next;
      o.sharedAt = e;
      oldest = e;
      if (oldest === undefined) {
        while (o.orderAt < o.order.length && o.trash.get(o.order[o.orderAt]!.key) !== o.order[o.orderAt]) o.orderAt++;
        oldest = o.order[o.orderAt];
      }
    }
    if (oldest === undefined) return undefined;
    this.trashDelete(oldest.key);
    return oldest.slot;
  }

  /** A free slot (the lowest at first), undefined when none. */
  popFree(): number | undefined {
    this.check();
    const o = this.own_;
    if (o === undefined) {
      const s = this.sh.free.pop();
      if (s !== undefined) this.wrote();
      return s;
    }
    if (o.popped >= this.sh.free.length) return undefined;
    return this.sh.free.at(this.sh.free.length - 1 - o.popped++);
  }

  /**
   * The kernel's ip_vs_dest_trash_expire on the owner: up to `budget` trash entries, from where
   * the last call stopped, each either seen with something referring to it (`refs(slot)` > 0:
   * connections, persistence templates), or idle since the first call that saw it so, or, idle
   * for TRASH_PERIOD_MS by `now` (ms, monotonic), back among the free slots: its server added
   * again later takes a slot as new. Returns how many went back.
   */
  sweep(now: number, refs: (slot: number) => number, budget = TRASH_SWEEP_BUDGET): number {
    this.check();
    if (this.own_ !== undefined) throw new Error('internal error: the sweep of a copy of the destination slots');
    const sh = this.sh;
    let freed = 0;
    const n = Math.min(budget, sh.trash.size);
    for (let seen = 0; seen < n; seen++) {
      // After the newest, on from the oldest again.
      const e = sh.cursor ?? sh.first;
      if (e === undefined) break;
      sh.cursor = e.next;
      if (refs(e.slot) > 0) e.idleSince = NaN;
      else if (Number.isNaN(e.idleSince)) e.idleSince = now;
      else if (now - e.idleSince >= TRASH_PERIOD_MS) {
        shDelete(sh, e.key);
        sh.free.push(e.slot);
        freed++;
      }
    }
    if (freed > 0) this.wrote();
    return freed;
  }
}
