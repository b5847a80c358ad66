// test-class: lab
// The memory budget for the connection table: at most 128 bytes per entry, hash
// buckets included, at the default size and at awkward (non power of two) sizes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConnTable } from '../src/datapath/conntable.js';
import { repoRoot } from './lab/dr-lab.js';

test('conn table memory stays within 128 bytes per entry', () => {
  for (const max of [1, 1000, 1 << 20, (1 << 20) + 1, 3_000_000]) {
    const b = ConnTable.bytesPerEntry(max);
    assert.ok(b <= 128, `conn-max ${max}: ${b} bytes per entry`);
  }
});

test('bytesPerEntry matches the typed arrays a table really allocates', () => {
  const max = 65536; // larger than the fixed-size timer wheel, which is not per entry
  const ct = new ConnTable(max, 0, 1);
  let bytes = 0;
  for (const v of Object.values(ct)) if (ArrayBuffer.isView(v) && v.byteLength >= max) bytes += v.byteLength;
  assert.equal(bytes / max, ConnTable.bytesPerEntry(max));
});

test('the docs quote the table\'s size at the default --conn-max as bytesPerEntry gives it (README.md, docs/uvsd.md, docs/architecture.md)', () => {
  const b = ConnTable.bytesPerEntry(1 << 20); // bytes per entry; 1,048,576 entries: as many MiB
  const doc = (f: string) => readFileSync(join(repoRoot, f), 'utf8');
  assert.match(doc('README.md'), new RegExp(`\\(${b} MiB at the default \`--conn-max\`: ${b} bytes per entry, hash buckets included\\)`));
  assert.match(doc('docs/uvsd.md'), new RegExp(`\\*\\*${b} bytes per entry\\*\\* when conn-max[^]*default 1,048,576 entries take ${b} MiB`));
  assert.match(doc('docs/architecture.md'), new RegExp(` ${b} MiB at the default \`--conn-max\``));
});
