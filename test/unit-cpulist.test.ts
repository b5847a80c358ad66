// test-class: shared
// CPU lists (src/control/cpulist.ts) as uvsd --datapath-cpus reads them and --status prints them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatCpuList, parseCpuList } from '../src/control/cpulist.js';

test('CPU lists: taskset -c syntax read in order, printed sorted with ranges; a bad list, a backwards range or a CPU named twice refused with the text', () => {
  assert.deepEqual(parseCpuList('1'), [1]);
  assert.deepEqual(parseCpuList('3,0-2,8'), [3, 0, 1, 2, 8], 'worker order kept');
  assert.equal(formatCpuList([3, 0, 1, 2, 5]), '0-3,5');
  assert.equal(formatCpuList([7]), '7');
  assert.equal(formatCpuList([1, 3, 4]), '1,3-4');
  for (const [text, why] of [['', /"" is no CPU list/], ['1,', /"1," is no CPU list/], ['a', /"a" is no CPU list/], ['-1', /is no CPU list/],
    ['4-2', /"4-2": the range 4-2 runs backwards/], ['0-2,1', /"0-2,1" names CPU 1 twice/]] as const) {
    assert.throws(() => parseCpuList(text), why, text);
  }
});
