// test-class: shared
// The control plane's destination slots (src/control/slots.ts): a batch's copy shares the free
// slots and the trash with the model and keeps its own changes, so a copy made, changed and
// committed (or dropped) must leave exactly what the same changes made to a plain Map and array.
// The model's maps and its stack of free service ids (src/control/forkmap.ts) are shared the same
// way, in a Map's iteration order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SlotPool, TRASH_PERIOD_MS } from '../src/control/slots.js';
import { ForkMap, ForkStack } from '../src/control/forkmap.js';
import { runSteps } from '../src/control/slices.js';
import { native } from '../src/datapath/port.js';

type Op =
  | { t: 'set'; key: string; slot: number }
  | { t: 'take'; key: string }
  | { t: 'oldest' }
  | { t: 'pop' };

/** What the pool did before it shared anything: the trash a Map (oldest first), the free slots a stack. */
class Plain {
  constructor(public trash: Map<string, number>, public free: number[]) {}
  copy(): Plain {
    return new Plain(new Map(this.trash), [...this.free]);
  }
  run(op: Op): number | undefined {
    switch (op.t) {
      case 'set':
        this.trash.delete(op.key);
        this.trash.set(op.key, op.slot);
        return undefined;
      case 'take': {
        const s = this.trash.get(op.key);
        this.trash.delete(op.key);
        return s;
      }
      case 'oldest': {
        const first = this.trash.entries().next();
        if (first.done === true) return undefined;
        this.trash.delete(first.value[0]);
        return first.value[1];
      }
      case 'pop':
        return this.free.pop();
    }
  }
}

function run(p: SlotPool, op: Op): number | undefined {
  switch (op.t) {
    case 'set':
      p.trashSet(op.key, op.slot);
      return undefined;
    case 'take': return p.trashTake(op.key);
    case 'oldest': return p.trashTakeOldest();
    case 'pop': return p.popFree();
  }
}

/** Its free slots in the order popFree() gives them (read from a copy, the pool unchanged). */
function freeOrder(p: SlotPool): number[] {
  const c = p.fork();
  const out: number[] = [];
  for (let s = c.popFree(); s !== undefined; s = c.popFree()) out.push(s);
  return out;
}

function same(p: SlotPool, q: Plain, what: string): void {
  assert.deepEqual([...p.trashSlots()], [...q.trash.values()], `${what}: the trash, oldest first`);
  assert.equal(p.trashSize, q.trash.size, `${what}: trashSize`);
  assert.equal(p.freeCount, q.free.length, `${what}: freeCount`);
  assert.deepEqual(freeOrder(p), [...q.free].reverse(), `${what}: the free slots in pop order`);
}

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ t: fc.constant('set' as const), key: fc.constantFrom('a', 'b', 'c', 'd', 'e'), slot: fc.nat(20) }),
  fc.record({ t: fc.constant('take' as const), key: fc.constantFrom('a', 'b', 'c', 'd', 'e') }),
  fc.constant({ t: 'oldest' as const }),
  fc.constant({ t: 'pop' as const }),
);
/** A step: ops on the model itself, or a batch's copy (perhaps a copy of that) committed or dropped. */
const stepArb = fc.oneof(
  fc.record({ k: fc.constant('direct' as const), ops: fc.array(opArb, { maxLength: 4 }) }),
  fc.record({ k: fc.constant('batch' as const), ops: fc.array(opArb, { maxLength: 8 }), more: fc.array(opArb, { maxLength: 4 }), commit: fc.boolean(), whole: fc.boolean() }),
);

test('destination slots: a copy\'s changes, committed or dropped, whether or not it took a trash and free slots of its own midway (copySteps), leave what the same changes made to a plain Map and stack; a copy out of date refuses to be used', () => {
  fc.assert(fc.property(fc.array(stepArb, { maxLength: 25 }), (steps) => {
    let pool = SlotPool.create(6);
    let plain = new Plain(new Map(), [5, 4, 3, 2, 1, 0]);
    for (const [i, st] of steps.entries()) {
      if (st.k === 'direct') {
        const before = pool.fork();
        let changed = false;
        for (const op of st.ops) {
          const got = run(pool, op);
          assert.equal(got, plain.run(op), `step ${i} ${op.t}`);
          changed ||= op.t === 'set' || got !== undefined;
        }
        if (changed) assert.throws(() => before.popFree(), /out of date|after the table changed/, 'a copy made before a change of the model');
      } else {
        const copy = pool.fork();
        const q = plain.copy();
        const half = st.ops.length >> 1;
        for (const op of st.ops.slice(0, half)) assert.equal(run(copy, op), q.run(op), `step ${i} copy ${op.t}`);
        // A sliced batch's copy takes a trash and free slots of its own (a part at a time), in the middle of its changes.
        if (st.whole) assert.equal(runSteps(copy.copySteps(2)), true);
        for (const op of st.ops.slice(half)) assert.equal(run(copy, op), q.run(op), `step ${i} copy ${op.t}`);
        const copy2 = copy.fork(); // a copy of a copy
        const q2 = q.copy();
        for (const op of st.more) assert.equal(run(copy2, op), q2.run(op), `step ${i} copy of copy ${op.t}`);
        same(copy2, q2, `step ${i} copy of copy`);
        same(copy, q, `step ${i} copy`);
        same(pool, plain, `step ${i} the model while the copy exists`);
        if (st.commit) {
          copy2.own();
          if (!st.whole) assert.throws(() => pool.popFree(), /after the table changed/, 'the model a copy replaced');
          pool = copy2;
          plain = q2;
        }
      }
      same(pool, plain, `after step ${i}`);
    }
  }), { numRuns: 300 });
});

test('destination slots: a copy takes the oldest in the trash past the ones it took already without walking them again (3,000 taken then 3,000 oldest walked 4.5M entries: a reload replacing 10,000 x 4 with no free slot took minutes), and copySteps stops when the original changed', () => {
  const n = 6000;
  const pool = SlotPool.create(n);
  for (let i = 0; i < n; i++) pool.trashSet(`k${i}`, pool.popFree()!);
  const copy = pool.fork();
  for (let i = 0; i < n / 2; i++) assert.equal(copy.trashTake(`k${i}`), i);
  for (let i = 0; i < n / 2; i++) copy.trashSet(`m${i}`, i); // the copy's own, after the shared ones
  const c0 = native.threadCpuMs();
  for (let i = n / 2; i < n; i++) assert.equal(copy.trashTakeOldest(), i);
  for (let i = 0; i < n / 4; i++) assert.equal(copy.trashTakeOldest(), i);
  const cpu = native.threadCpuMs() - c0;
  assert.ok(cpu < 100, `${n / 2 + n / 4} oldest took ${cpu.toFixed(1)} ms of CPU`);
  assert.deepEqual([...copy.trashSlots()].slice(0, 2), [n / 4, n / 4 + 1]);
  // A copy whose original changed while it took structures of its own: false, and out of date.
  const late = pool.fork();
  const steps = late.copySteps(64);
  steps.next();
  assert.equal(pool.trashTake('k0'), 0);
  assert.equal(runSteps(steps), false);
  assert.throws(() => late.trashTakeOldest(), /after the table changed/);
});

test('destination slots: the sweep frees what nothing referred to for TRASH_PERIOD_MS, a part of the trash per call, from where the last call stopped', () => {
  const pool = SlotPool.create(8);
  for (let s = 0; s < 8; s++) assert.equal(pool.popFree(), s);
  for (let s = 0; s < 8; s++) pool.trashSet(`k${s}`, s);
  const refs = new Set([1, 6]); // connections still bound there
  const sweep = (now: number) => pool.sweep(now, (s) => (refs.has(s) ? 1 : 0), 3);
  assert.equal(sweep(0), 0, 'k0, k2 idle from 0 (k1 busy)');
  assert.equal(sweep(60_000), 0, 'k3..k5 idle from 60 s');
  assert.equal(sweep(TRASH_PERIOD_MS - 1), 0, 'k6 busy, k7 idle from 119.999 s; then k0 again: idle for 119.999 s only');
  assert.equal(sweep(TRASH_PERIOD_MS), 1, 'k1 busy, k2 freed, k3 idle for 60 s only');
  assert.equal(sweep(180_000), 2, 'k4 and k5 freed, k6 busy');
  refs.delete(1); // k1's connection ended
  assert.equal(sweep(180_000), 1, 'k7 idle for 60 s only, k0 freed, k1 idle from now');
  assert.deepEqual([...pool.trashSlots()], [1, 3, 6, 7]);
  assert.equal(sweep(300_000), 2, 'k3 and k7 freed, k6 busy');
  assert.equal(sweep(300_000), 1, 'k1 freed, k6 busy');
  assert.deepEqual([...pool.trashSlots()], [6]);
  assert.equal(pool.freeCount, 7);
  assert.deepEqual(freeOrder(pool).sort((a, b) => a - b), [0, 1, 2, 3, 4, 5, 7]);
  assert.throws(() => pool.fork().sweep(0, () => 0), /the sweep of a copy/);
});

type MapOp =
  | { t: 'set'; key: string; n: number }
  | { t: 'delete'; key: string }
  | { t: 'touch'; key: string } // get, then change the value in place (as verbs change a service)
  | { t: 'clear' }
  | { t: 'push'; n: number }
  | { t: 'pop' };

const mapOpArb: fc.Arbitrary<MapOp> = fc.oneof(
  fc.record({ t: fc.constant('set' as const), key: fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f'), n: fc.nat(99) }),
  fc.record({ t: fc.constant('delete' as const), key: fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f') }),
  fc.record({ t: fc.constant('touch' as const), key: fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f') }),
  fc.constant({ t: 'clear' as const }),
  fc.record({ t: fc.constant('push' as const), n: fc.nat(99) }),
  fc.constant({ t: 'pop' as const }),
);

interface Val { n: number }
/** What the model did before it shared anything: a Map of its own copies of the values, an array. */
class PlainModel {
  constructor(public map: Map<string, Val>, public stack: number[]) {}
  copy(): PlainModel {
    return new PlainModel(new Map([...this.map].map(([k, v]) => [k, { ...v }])), [...this.stack]);
  }
}

function runMap(m: ForkMap<string, Val> | Map<string, Val>, st: ForkStack | number[], op: MapOp): unknown {
  switch (op.t) {
    case 'set': m.set(op.key, { n: op.n }); return undefined;
    case 'delete': return m.delete(op.key);
    case 'touch': {
      const v = m.get(op.key);
      if (v !== undefined) v.n += 1000;
      return v?.n;
    }
    case 'clear': m.clear(); return undefined;
    case 'push': st.push(op.n); return undefined;
    case 'pop': return st.pop();
  }
}

function sameMap(m: ForkMap<string, Val>, st: ForkStack, q: PlainModel, what: string): void {
  assert.deepEqual([...m].map(([k, v]) => `${k}=${v.n}`), [...q.map].map(([k, v]) => `${k}=${v.n}`), `${what}: entries in order`);
  assert.deepEqual([...m.keys()], [...q.map.keys()], `${what}: keys`);
  assert.equal(m.size, q.map.size, `${what}: size`);
  for (const k of ['a', 'b', 'c', 'd', 'e', 'f']) assert.equal(m.has(k), q.map.has(k), `${what}: has ${k}`);
  assert.deepEqual(st.toArray(), q.stack, `${what}: the stack`);
  assert.equal(st.length, q.stack.length, `${what}: the stack's length`);
}

test('the model\'s maps and id stack: a copy\'s changes (values changed in place and clear() included), committed or dropped, leave what the same changes made to a plain Map and array, in its order; the original is untouched meanwhile', () => {
  fc.assert(fc.property(fc.array(fc.record({ direct: fc.boolean(), ops: fc.array(mapOpArb, { maxLength: 10 }), commit: fc.boolean() }), { maxLength: 20 }), (steps) => {
    let m = new ForkMap<string, Val>([['a', { n: 1 }], ['b', { n: 2 }], ['c', { n: 3 }]], (v) => ({ ...v }));
    let st = new ForkStack([7, 8, 9]);
    let q = new PlainModel(new Map([['a', { n: 1 }], ['b', { n: 2 }], ['c', { n: 3 }]]), [7, 8, 9]);
    for (const [i, step] of steps.entries()) {
      if (step.direct) {
        const before = m.fork();
        for (const op of step.ops) assert.deepEqual(runMap(m, st, op), runMap(q.map, q.stack, op), `step ${i} ${op.t}`);
        if (step.ops.some((o) => o.t === 'set' || o.t === 'clear')) assert.throws(() => before.get('a'), /after the table changed/, 'a copy made before a change');
      } else {
        const f = m.fork();
        const fs = st.fork();
        const q2 = q.copy();
        for (const op of step.ops) assert.deepEqual(runMap(f, fs, op), runMap(q2.map, q2.stack, op), `step ${i} copy ${op.t}`);
        sameMap(f, fs, q2, `step ${i} the copy`);
        sameMap(m, st, q, `step ${i} the original while the copy exists`);
        if (step.commit) {
          f.own();
          fs.own();
          assert.throws(() => m.set('z', { n: 0 }), /after the table changed/, 'the original a copy replaced: no more writes');
          m = f;
          st = fs;
          q = q2;
        }
      }
      sameMap(m, st, q, `after step ${i}`);
    }
  }), { numRuns: 300 });
});

type NumOp = { t: 'set'; key: number; n: number } | { t: 'delete'; key: number } | { t: 'clear' };
const NUM_KEYS = [1, 2, 3, 64, 65, 0xc0a80001 >>> 0];
const numOpArb: fc.Arbitrary<NumOp> = fc.oneof(
  fc.record({ t: fc.constant('set' as const), key: fc.constantFrom(...NUM_KEYS), n: fc.nat(99) }),
  fc.record({ t: fc.constant('delete' as const), key: fc.constantFrom(...NUM_KEYS) }),
  fc.constant({ t: 'clear' as const }),
);

function runNum(m: ForkMap<number, number> | Map<number, number>, op: NumOp): unknown {
  switch (op.t) {
    case 'set': m.set(op.key, op.n); return undefined;
    case 'delete': return m.delete(op.key);
    case 'clear': m.clear(); return undefined;
  }
}

test('the address and id maps (ForkMap.sharded): a copy\'s changes, committed or dropped, whether or not it was first made whole a shard at a time (copySteps), leave what the same changes made to a plain Map (compared sorted: shard by shard); the original is untouched meanwhile', () => {
  const same = (f: ForkMap<number, number>, p: Map<number, number>, what: string): void => {
    const sorted = (e: Iterable<[number, number]>): [number, number][] => [...e].sort((a, b) => a[0] - b[0]);
    assert.deepEqual(sorted(f), sorted(p), `${what}: entries`);
    assert.equal(f.size, p.size, `${what}: size`);
    for (const k of NUM_KEYS) assert.equal(f.get(k), p.get(k), `${what}: get ${k}`);
  };
  fc.assert(fc.property(fc.array(fc.record({ ops: fc.array(numOpArb, { maxLength: 10 }), whole: fc.boolean(), commit: fc.boolean() }), { maxLength: 20 }), (steps) => {
    let m = ForkMap.sharded<number, number>([[1, 1], [2, 2]]);
    let q = new Map([[1, 1], [2, 2]]);
    for (const [i, step] of steps.entries()) {
      const f = m.fork();
      const p = new Map(q);
      for (const op of step.ops) assert.deepEqual(runNum(f, op), runNum(p, op), `step ${i} ${op.t}`);
      if (step.whole) assert.equal(runSteps(f.copySteps()), true, `step ${i} copySteps`);
      same(f, p, `step ${i} the copy`);
      same(m, q, `step ${i} the original while the copy exists`);
      if (step.commit) {
        f.own();
        m = f;
        q = p;
      }
      same(m, q, `after step ${i}`);
    }
  }), { numRuns: 300 });
});

type EmptyOp = { t: 'set'; key: number; n: number } | { t: 'delete'; key: number } | { t: 'bump'; key: number; by: 1 | -1 } | { t: 'clear' } | { t: 'emptying'; on: boolean } | { t: 'fork' };
const emptyOpArb: fc.Arbitrary<EmptyOp> = fc.oneof(
  { arbitrary: fc.record({ t: fc.constant('set' as const), key: fc.nat(300), n: fc.integer({ min: 1, max: 99 }) }), weight: 4 },
  { arbitrary: fc.record({ t: fc.constant('delete' as const), key: fc.nat(300) }), weight: 4 },
  { arbitrary: fc.record({ t: fc.constant('bump' as const), key: fc.nat(300), by: fc.constantFrom(1 as const, -1 as const) }), weight: 4 },
  { arbitrary: fc.record({ t: fc.constant('emptying' as const), on: fc.boolean() }), weight: 1 },
  { arbitrary: fc.constant({ t: 'fork' as const }), weight: 1 },
  { arbitrary: fc.constant({ t: 'clear' as const }), weight: 1 },
);

test('the address and id maps while a -C empties them (emptying: a deleted key stays, GONE, so no shard shrinks; a shard whose last key goes is dropped whole): get, has, size, iteration, counts (bump) and a copy made meanwhile (fork, copySteps) are a plain Map\'s', () => {
  fc.assert(fc.property(fc.array(emptyOpArb, { maxLength: 300 }), (ops) => {
    const m = ForkMap.sharded<number, number>();
    const p = new Map<number, number>();
    for (const [i, op] of ops.entries()) {
      switch (op.t) {
        case 'set': m.set(op.key, op.n); p.set(op.key, op.n); break;
        case 'delete': assert.equal(m.delete(op.key), p.delete(op.key), `op ${i} delete ${op.key}`); break;
        case 'bump': {
          m.bump(op.key, op.by);
          const n = (p.get(op.key) ?? 0) + op.by;
          if (n > 0) p.set(op.key, n);
          else p.delete(op.key);
          break;
        }
        case 'clear': m.clear(); p.clear(); break;
        case 'emptying': m.emptying(op.on); break;
        case 'fork': {
          const f = m.fork();
          assert.equal(runSteps(f.copySteps()), true);
          assert.deepEqual([...f].sort((a, b) => a[0] - b[0]), [...p].sort((a, b) => a[0] - b[0]), `op ${i}: a copy`);
          break;
        }
      }
      assert.equal(m.size, p.size, `op ${i} ${op.t}: size`);
    }
    assert.deepEqual([...m].sort((a, b) => a[0] - b[0]), [...p].sort((a, b) => a[0] - b[0]), 'entries');
    assert.deepEqual([...m.keys()].sort((a, b) => a - b), [...p.keys()].sort((a, b) => a - b), 'keys');
    assert.deepEqual([...m.values()].sort((a, b) => a - b), [...p.values()].sort((a, b) => a - b), 'values');
    for (let k = 0; k <= 300; k++) {
      assert.equal(m.get(k), p.get(k), `get ${k}`);
      assert.equal(m.has(k), p.has(k), `has ${k}`);
    }
  }), { numRuns: 300 });
});
