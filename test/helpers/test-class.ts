// A test file's class (docs/lab.md "Two files at a time"): what `npm test` (test/run-tests.ts) may
// run beside it, from a line of its header comment.
import { closeSync, openSync, readSync } from 'node:fs';

export type Kind = 'alone' | 'lab' | 'shared';

/** A test file's class, from its header line (alone when it has none). */
export function kindOf(file: string): Kind {
  const fd = openSync(file, 'r');
  const head = Buffer.alloc(4096);
  const n = readSync(fd, head, 0, head.length, 0);
  closeSync(fd);
  const m = /^\/\/ test-class: (lab|shared)\s*$/m.exec(head.toString('utf8', 0, n));
  return m ? (m[1] as Kind) : 'alone';
}
