// uvsd --state-file (src/control/statefile.ts): the table is written once per turn of the event
// loop however many changes ran in it, through FILE.tmp renamed over FILE.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StateFile } from '../src/control/statefile.js';

const withDir = async (fn: (dir: string) => Promise<void>): Promise<void> => {
  const dir = mkdtempSync(join(tmpdir(), 'uvs-state-'));
  try {
    await fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
};

test('changes in one turn of the event loop are written once, the latest table; an unchanged table is not written again', () => withDir(async (dir) => {
  const file = join(dir, 'state.yaml');
  let table = 'a: 1\n';
  let dumps = 0;
  const errors: string[] = [];
  const sf = new StateFile(file, () => (dumps++, table), (e) => errors.push(e));
  sf.changed();
  table = 'a: 2\n';
  sf.changed();
  await sf.flush();
  assert.equal(dumps, 1);
  assert.equal(readFileSync(file, 'utf8'), 'a: 2\n');
  assert.equal(existsSync(`${file}.tmp`), false, 'the temporary file was renamed');
  sf.changed();
  await sf.flush();
  assert.equal(dumps, 2);
  assert.deepEqual(errors, []);
}));

test('a change during a write is written after it; a write that fails is reported and retried on the next change', () => withDir(async (dir) => {
  const file = join(dir, 'state.yaml');
  let table = 'a: 1\n';
  const errors: string[] = [];
  const sf = new StateFile(file, () => table, (e) => errors.push(e));
  sf.changed();
  await new Promise((r) => setImmediate(r)); // the first write is under way
  table = 'a: 2\n';
  sf.changed();
  await sf.flush();
  assert.equal(readFileSync(file, 'utf8'), 'a: 2\n');
  const gone = new StateFile(join(dir, 'no-such-dir', 'state.yaml'), () => table, (e) => errors.push(e));
  gone.changed();
  await gone.flush();
  assert.equal(errors.length, 1);
  assert.match(errors[0]!, /ENOENT/);
  mkdirSync(join(dir, 'no-such-dir'));
  gone.changed();
  await gone.flush();
  assert.equal(readFileSync(join(dir, 'no-such-dir', 'state.yaml'), 'utf8'), 'a: 2\n');
}));
