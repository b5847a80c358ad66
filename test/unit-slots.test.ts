// test-class: shared
// The control plane's destination slots (src/control/slots.ts): a batch's copy shares the free
// slots and the trash with the model and keeps its own changes, so a copy made, changed and
// committed (or dropped) must leave exactly what the same changes made to a plain Map and array.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SlotPool, TRASH_PERIOD_MS } from '../src/control/slots.js';

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
  fc.record({ k: fc.constant('batch' as const), ops: fc.array(opArb, { maxLength: 8 }), more: fc.array(opArb, { maxLength: 4 }), commit: fc.boolean() }),
);

test('destination slots: a copy\'s changes, committed or dropped, leave what the same changes made to a plain Map and stack; a copy out of date refuses to be used', () => {
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
        for (const op of st.ops) assert.equal(run(copy, op), q.run(op), `step ${i} copy ${op.t}`);
        const copy2 = copy.fork(); // a copy of a copy
        const q2 = q.copy();
        for (const op of st.more) assert.equal(run(copy2, op), q2.run(op), `step ${i} copy of copy ${op.t}`);
        same(copy2, q2, `step ${i} copy of copy`);
        same(copy, q, `step ${i} copy`);
        same(pool, plain, `step ${i} the model while the copy exists`);
        if (st.commit) {
          copy2.own();
          assert.throws(() => pool.popFree(), /after the table changed/, 'the model a copy replaced');
          pool = copy2;
          plain = q2;
        }
      }
      same(pool, plain, `after step ${i}`);
    }
  }), { numRuns: 300 });
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
