// The message of the BAD_CONFIG error f() throws (fails the test if it throws nothing or anything else).
import assert from 'node:assert/strict';
import { UvsError } from '../../src/control/errors.js';

export function configError(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    assert.ok(e instanceof UvsError && e.code === 'BAD_CONFIG', String(e));
    return e.message;
  }
  assert.fail('expected a config error');
}
