// The node flags uvsd needs from its first instruction. V8 reads them when it sets up the heap;
// v8.setFlagsFromString() later does not take them back (measured: the memory reducer still ran).
// bin/uvsd calls ensureNodeFlags() before it loads uvsd: when one is missing, node is started
// again with it, by execv (same pid, arguments and environment), so `bin/uvsd`, `node bin/uvsd`
// and the systemd unit all run with them.
//
// --no-memory-reducer: after a full collection, and while the heap is not growing, V8's memory
// reducer starts up to three more full collections (~8 s later, then 0.5 s apart) to hand memory
// back. A forwarding uvsd allocates nothing, so it always looks idle to it: ~8.6 s after every
// start two collections of 5-12 ms each, with concurrent marking on the datapath's CPU, stalled
// forwarding for 15-28 ms (docs/performance.md, "2026-12-03 16:40–17:30 UTC"). Without it full
// collections still run when the old generation fills (control-plane work), not as a timer.
import { native } from '../datapath/port.js';

// Listed in early-signals.ts (which imports nothing: bin/uvsd's first line holds SIGTERM there when none is missing).
export { UVSD_NODE_FLAGS } from './early-signals.js';
import { UVSD_NODE_FLAGS } from './early-signals.js';

/** The flags of UVSD_NODE_FLAGS that this node process was not started with. */
export function missingNodeFlags(execArgv: readonly string[] = process.execArgv): string[] {
  return UVSD_NODE_FLAGS.filter((f) => !execArgv.includes(f));
}

/** Run node again with the missing flags (does not return), or return when none is missing or
 *  execv failed (then uvsd runs without them and says so at start). */
export function ensureNodeFlags(): void {
  const missing = missingNodeFlags();
  if (missing.length === 0) return;
  try {
    native.exec([process.execPath, ...missing, ...process.execArgv, ...process.argv.slice(1)]);
  } catch (e) {
    process.stderr.write(`uvsd: cannot start node again with ${missing.join(' ')}: ${(e as Error).message}\n`);
  }
}
