// test-class: shared
// The service/local-address map: incremental set/delete with backward-shift deletion, checked
// against a plain Map over random operation sequences (keys collide on purpose: few distinct
// values, and addresses above 2^31 given as uint32 or int32 are the same key).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { U32PairMap } from '../src/datapath/lookup.js';

const key = fc.tuple(fc.constantFrom(0xc0a808c8, 0xc0a808c9, 0x0a000001, -1, 7), fc.integer({ min: 0, max: 40 }));
const op = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), k: key, v: fc.integer({ min: 0, max: 1000 }) }),
  fc.record({ kind: fc.constant('del' as const), k: key }),
);

test('U32PairMap agrees with a Map under random set/delete (growth and backward-shift deletion)', () => {
  fc.assert(
    fc.property(fc.array(op, { maxLength: 400 }), (ops) => {
      const m = new U32PairMap();
      const ref = new Map<string, number>();
      const name = ([a, b]: [number, number]) => `${a | 0}/${b}`;
      for (const o of ops) {
        if (o.kind === 'set') {
          m.set(o.k[0], o.k[1], o.v);
          ref.set(name(o.k), o.v);
        } else {
          assert.equal(m.delete(o.k[0], o.k[1]), ref.delete(name(o.k)));
        }
        assert.equal(m.count, ref.size);
      }
      for (const a of [0xc0a808c8, 0xc0a808c9, 0x0a000001, -1, 7]) {
        for (let b = 0; b <= 40; b++) {
          assert.equal(m.get(a, b), ref.get(name([a, b])) ?? -1);
          assert.equal(m.get(a >>> 0, b), m.get(a | 0, b), 'uint32 and int32 forms are one key');
        }
      }
    }),
    { numRuns: 300 },
  );
});

test('U32PairMap: 10,000 inserts, then every other one deleted', () => {
  const m = new U32PairMap();
  for (let i = 0; i < 10_000; i++) m.set(0xc0a80000 + i, 80, i);
  for (let i = 0; i < 10_000; i += 2) m.delete(0xc0a80000 + i, 80);
  assert.equal(m.count, 5_000);
  for (let i = 0; i < 10_000; i++) assert.equal(m.get(0xc0a80000 + i, 80), i % 2 === 0 ? -1 : i);
});
