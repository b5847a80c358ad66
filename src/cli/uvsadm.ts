// uvsadm, the process: main() (uvsadm-main.ts) over the process's own streams, its exit status.
// Exit statuses as ipvsadm's: 0 ok, 2 bad command line, 255 refused by the daemon (ipvsadm: by
// the kernel), 1 listing a service that does not exist; 3 no daemon.

import { EXIT_LIST_FAILED, EXIT_USAGE, outputFailure } from '../control/errors.js';
import { main } from './uvsadm-main.js';

// `uvsadm -Ln | head -1` must not die with an EPIPE stack trace (trace ends on it: trace.ts).
// Output that cannot be written otherwise (`uvsadm -S > rules` on a full disk: ENOSPC; EIO) is
// one line and exit 1; until 2026-12-07 it was Node's stack trace of the exception.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  // trace listens too while it runs: it ends, closes its session in uvsd, then says so (trace.ts).
  if (e.code === 'EPIPE' || process.stdout.listenerCount('error') > 1) return;
  process.stderr.write(outputFailure('uvsadm', e));
  process.exit(EXIT_LIST_FAILED);
});

main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`uvsadm: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = EXIT_USAGE;
  },
);
