// The order and the cuts in which a sliced batch's datapath operations are applied
// (Control.batchInSlices), so that a service the batch deletes and adds back (-C, then the same
// rules: uvsadm -R) is never absent from the datapath between two slices: a packet of one of its
// connections meeting it deleted, its servers in the trash, would end that connection (as
// IPVS's expire_nodest_conn does) before the re-add took the servers back with their connections.

import type { DpOp } from '../datapath/ops.js';
import type { Steps } from './slices.js';
import type { GoneService } from './verbs.js';
import { OrderedShardedMap, ShardedMap } from './shards.js';

/** Operations looked at between two yields (where a sliced run may pause): 1,024 were 1.5-2 ms of
 *  CPU (a reload replacing 10,000 x 4: 60,000 operations), past a slice begun by other work. */
const ORDER_STEP = 128;

/** The reordered operations are kept in arrays of this many (a power of two). */
const OUT_PART_BITS = 12;
const OUT_PART = 1 << OUT_PART_BITS;

/**
 * The batch's operations (`opParts`, in the batch's order: the parts it holds them in, so that no
 * array of all of them grows by push, Control.batchInSlices) in chunks of about `chunk` (one
 * dp.apply each). The deletion of a
 * service the batch adds back (`back`: it took its id back, Model.takeId) is moved to just before
 * that addition, unless something in between could depend on it: another server taking one of
 * its slots (flushed before), an address of it in another role, an operation other than a
 * service's or server's add, edit or delete (all deletions held are applied before it). A chunk
 * is never cut between such a deletion and the last operation that adds the service or one of
 * its servers back (revive), so both reach the datapath in the same dp.apply. The final table is
 * the same as in the batch's order: only independent operations change places.
 *
 * A server's deletion followed by its revive (-d, then -a of the same server to the same service:
 * it takes its slot back) is held the same way until just before the revive, unless another
 * server takes the slot, its address takes another role or its service is deleted (flushed
 * before), and no chunk is cut between the two: its connections never meet it in the trash.
 */
export function* orderForSlices(
  opParts: readonly (readonly DpOp[])[], gone: { get(id: number): GoneService | undefined; has(id: number): boolean }, back: { has(id: number): boolean }, chunk: number,
): Steps<DpOp[][]> {
  // A batch that deletes no service and no server (a table loaded into an empty one, adds and
  // edits) holds nothing back: its own order, cut every `chunk` operations, with no Map made.
  // Until 2026-12-06 it went through the look below: a Map of every service's addition and ~6 Map
  // operations an operation (120,000 for 10,000 services and their servers, 12-20 ms of CPU).
  if (!(yield* deletesAny(opParts))) return yield* inChunks(opParts, chunk);
  // Which deletions may wait for their re-add: one deletion then one addition of the id. The maps
  // by id, address or slot may hold every service or server: ShardedMaps (shards.ts), as one Map
  // of 10,000 copied itself whole in one step growing past 8,192. (held and heldDests: Maps, their
  // order is the batch's.)
  const delAt = new ShardedMap<number, number>();
  const addAt = new ShardedMap<number, number>();
  const twice = new ShardedMap<number, true>();
  let i = 0;
  for (const ops of opParts) {
    for (let j = 0; j < ops.length; j++, i++) {
      const o = ops[j]!;
      if (o.op === 'delService') {
        if (delAt.has(o.id)) twice.set(o.id, true);
        delAt.set(o.id, i);
      } else if (o.op === 'addService') {
        if (addAt.has(o.id)) twice.set(o.id, true);
        addAt.set(o.id, i);
      }
      if ((i + 1) % ORDER_STEP === 0) yield;
    }
  }
  const waits = (id: number): boolean =>
    back.has(id) && gone.has(id) && !twice.has(id) && (addAt.get(id) ?? -1) > (delAt.get(id) ?? Infinity);
  // Which server deletions may wait for their revive (the same server added back to the same
  // service takes its slot back: addDest with revive), by the deletion's index.
  const destWaits = new ShardedMap<number, number>(); // -> the server's address (its revive's)
  {
    const deleted = new ShardedMap<number, number>(); // slot -> index of its last delDest
    i = 0;
    for (const ops of opParts) {
      for (let j = 0; j < ops.length; j++, i++) {
        const o = ops[j]!;
        if (o.op === 'delDest') deleted.set(o.dest, i);
        else if (o.op === 'addDest' && o.revive === true && deleted.has(o.dest)) {
          destWaits.set(deleted.get(o.dest)!, o.addr);
          deleted.delete(o.dest);
        }
        if ((i + 1) % ORDER_STEP === 0) yield;
      }
    }
  }

  // The operations in their new order (as many as ops), in parts of OUT_PART: one array of
  // 60,000 was ~1.5 ms of CPU in one step made at once (its pages touched), and each of its
  // growths by push a copy of it in one step.
  const parts: DpOp[][] = [];
  let outN = 0;
  const put = (o: DpOp): void => {
    if ((outN & (OUT_PART - 1)) === 0) parts.push([]);
    parts[parts.length - 1]!.push(o);
    outN++;
  };
  const outAt = (i: number): DpOp => parts[i >> OUT_PART_BITS]![i & (OUT_PART - 1)]!;
  // The held deletions, in the batch's order (OrderedShardedMap: one Map of 10,000 grew past
  // 8,192 in one step), and which held ones have each address (or service): a list per key, with
  // the ids released since left in it (release() looks at `held`), dropped whole once looked at:
  // a Set per address, of every service when their servers share 4 addresses (-C, then the same
  // rules: uvsadm -R), rehashed the 4 of them together, 4.5-5.8 ms of CPU past 8,192 in one step.
  const held = new OrderedShardedMap<number, DpOp>(); // id -> its delService
  const vips = new ShardedMap<number, number[]>();
  const rips = new ShardedMap<number, number[]>();
  const lips = new ShardedMap<number, number[]>();
  const slots = new ShardedMap<number, number>(); // a held service's servers' slots (in the datapath's trash)
  const index = (m: ShardedMap<number, number[]>, key: number, id: number): void => {
    const ids = m.get(key);
    if (ids === undefined) m.set(key, [id]);
    else ids.push(id);
  };
  /** The ids held under key when it is looked at (its list dropped: each list is gone through once). */
  const takeIds = (m: ShardedMap<number, number[]>, key: number): number[] | undefined => m.take(key);
  const mark = (id: number, on: boolean): void => {
    const g = gone.get(id)!;
    for (const k of g.slots) {
      if (on) slots.set(k, id);
      else slots.delete(k);
    }
    if (!on) return;
    if (g.vip !== undefined) index(vips, g.vip, id);
    for (const a of g.rips) index(rips, a, id);
    for (const a of g.lips) index(lips, a, id);
  };
  const release = (id: number): void => {
    const d = held.get(id);
    if (d === undefined) return;
    held.delete(id);
    mark(id, false);
    put(d);
  };
  const releaseAt = (m: ShardedMap<number, number[]>, addr: number): void => {
    const ids = takeIds(m, addr);
    if (ids !== undefined) for (const id of ids) release(id);
  };
  // Servers' deletions held until their revive: slot -> its delDest, and by address and service
  // (lists as above: a slot held again since under another key is left for that key's list).
  const heldDests = new OrderedShardedMap<number, { op: DpOp; svc: number; addr: number }>();
  const destAddrs = new ShardedMap<number, number[]>();
  const destSvcs = new ShardedMap<number, number[]>();
  const releaseDest = (slot: number): void => {
    const d = heldDests.get(slot);
    if (d === undefined) return;
    heldDests.delete(slot);
    put(d.op);
  };
  const releaseDestsAt = (m: ShardedMap<number, number[]>, key: number, byAddr: boolean): void => {
    const slots = takeIds(m, key);
    if (slots === undefined) return;
    for (const k of slots) {
      const d = heldDests.get(k);
      if (d !== undefined && (byAddr ? d.addr : d.svc) === key) releaseDest(k);
    }
  };
  const releaseAll = (): void => {
    for (const k of [...heldDests.keys()]) releaseDest(k);
    for (const id of [...held.keys()]) release(id);
  };
  i = 0;
  for (const ops of opParts) {
    for (let j = 0; j < ops.length; j++, i++) {
      if (i > 0 && i % ORDER_STEP === 0) yield; // (not at the loop's end: a held deletion skips it)
      const o = ops[j]!;
      switch (o.op) {
        case 'delService':
          releaseDestsAt(destSvcs, o.id, false); // a server's deletion before its service's
          if (waits(o.id)) {
            held.set(o.id, o);
            mark(o.id, true);
            continue;
          }
          break;
        case 'addService':
          release(o.id);
          releaseAt(rips, o.vip);
          releaseAt(lips, o.vip);
          releaseDestsAt(destAddrs, o.vip, true);
          break;
        case 'addDest':
          // Another server taking a held service's slot (the oldest in the trash, none free).
          if (o.revive !== true && slots.has(o.dest)) release(slots.get(o.dest)!);
          releaseAt(vips, o.addr);
          releaseAt(lips, o.addr);
          // The held deletion of this slot's server: just before its revive (or before another
          // server takes the slot).
          releaseDest(o.dest);
          break;
        case 'addLaddr':
          releaseAt(vips, o.addr);
          releaseAt(rips, o.addr);
          releaseAt(lips, o.addr);
          releaseDestsAt(destAddrs, o.addr, true);
          break;
        case 'delDest':
          if (destWaits.has(i)) {
            const addr = destWaits.get(i)!;
            heldDests.set(o.dest, { op: o, svc: o.svc, addr });
            index(destAddrs, addr, o.dest);
            index(destSvcs, o.svc, o.dest);
            continue;
          }
          break;
        case 'editService':
        case 'editDest':
        case 'delLaddr':
          break;
        default:
          releaseAll();
      }
      put(o);
    }
  }
  releaseAll();

  // Where each held service is whole again: its addition and its servers' revives; where each
  // deleted server is revived (by the index of its deletion).
  const whole = new ShardedMap<number, number>();
  const revivedAt = new ShardedMap<number, number>();
  const lastDel = new ShardedMap<number, number>(); // slot -> index of its last delDest in out
  for (let i = 0; i < outN; i++) {
    const o = outAt(i);
    if (o.op === 'addService' && waits(o.id)) whole.set(o.id, i);
    else if (o.op === 'addDest' && o.revive === true) {
      if (whole.has(o.svc)) whole.set(o.svc, i);
      const d = lastDel.get(o.dest);
      if (d !== undefined) {
        revivedAt.set(d, i);
        lastDel.delete(o.dest);
      }
    } else if (o.op === 'delDest') lastDel.set(o.dest, i);
    if ((i + 1) % ORDER_STEP === 0) yield;
  }
  const chunks: DpOp[][] = [];
  let cur: DpOp[] = [];
  let until = -1;
  for (let i = 0; i < outN; i++) {
    const o = outAt(i);
    if (o.op === 'delService') until = Math.max(until, whole.get(o.id) ?? -1);
    else if (o.op === 'delDest') until = Math.max(until, revivedAt.get(i) ?? -1);
    cur.push(o);
    if (cur.length >= chunk && i >= until) {
      chunks.push(cur);
      cur = [];
    }
    if ((i + 1) % ORDER_STEP === 0) yield;
  }
  if (cur.length > 0) chunks.push(cur);
  return chunks;
}

/** Whether any of the operations deletes a service or a server (what orderForSlices may hold back). */
function* deletesAny(opParts: readonly (readonly DpOp[])[]): Steps<boolean> {
  let i = 0;
  for (const ops of opParts) {
    for (let j = 0; j < ops.length; j++, i++) {
      const op = ops[j]!.op;
      if (op === 'delService' || op === 'delDest') return true;
      if ((i + 1) % ORDER_STEP === 0) yield;
    }
  }
  return false;
}

/** The operations in their order, in chunks of `chunk` (the last one shorter). */
function* inChunks(opParts: readonly (readonly DpOp[])[], chunk: number): Steps<DpOp[][]> {
  const chunks: DpOp[][] = [];
  let cur: DpOp[] = [];
  let i = 0;
  for (const ops of opParts) {
    for (let j = 0; j < ops.length; j++, i++) {
      cur.push(ops[j]!);
      if (cur.length >= chunk) {
        chunks.push(cur);
        cur = [];
      }
      if ((i + 1) % ORDER_STEP === 0) yield;
    }
  }
  if (cur.length > 0) chunks.push(cur);
  return chunks;
}
