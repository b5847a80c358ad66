// SIGHUP, SIGUSR1 and SIGUSR2 held from bin/uvsd's first line until uvsd's main() hands each to
// its own handler (docs/uvsd.md, "Signals"). Without a listener Node takes each at its default:
// SIGUSR1 opens Node's inspector (a debugger on 127.0.0.1:9229 that any local user could make
// run code as root uvsd, for the rest of its life), SIGUSR2 and SIGHUP end the process at once,
// without a stop in order (until 2026-12-05 a SIGHUP during a start of many services, before
// main() set its handler, killed uvsd: exit 129, nothing logged, and systemd took it as clean).
// A signal is counted while no handler is set; handleSignal() says how many came. No imports:
// bin/uvsd loads this before anything else.
// SIGTERM and SIGINT are held too, once node will not be started again: from bin/uvsd's first line
// when node runs with UVSD_NODE_FLAGS already (the node bin/uvsd started again, or one started with them), else after
// ensureNodeFlags (holdStopSignals). A stop signal held by a process that then runs execv would be
// lost, and uvsd would start for good after a stop was asked; before then nothing is open, and
// Node's default ends the process at once. Until 2026-12-05 they took Node's default until
// main() had set up its table: a stop during the start (TAP open, the table allocated, --workers
// starting) ended uvsd at once, exit 143, no `uvsd stopped`, no STOPPING=1. Before the hold
// nothing uvsd makes exists (docs/uvsd.md "Signals": traced). --check-config lets them go again
// (releaseStopSignals).

/** The node flags uvsd runs with (node-flags.ts says why; bin/uvsd starts node again with the missing ones). */
export const UVSD_NODE_FLAGS: readonly string[] = ['--no-memory-reducer'];

export type HeldSignal = 'SIGHUP' | 'SIGUSR1' | 'SIGUSR2' | 'SIGTERM' | 'SIGINT';

// SIGUSR1 first: Node's own default for it (the inspector) is the one that must never be taken.
// One seen caught (/proc/PID/status SigCgt) means the ones before it are too.
const HELD: readonly HeldSignal[] = ['SIGUSR1', 'SIGUSR2', 'SIGHUP'];
const STOPS: readonly HeldSignal[] = ['SIGTERM', 'SIGINT'];

const handlers = new Map<HeldSignal, () => void>();
const pending = new Map<HeldSignal, number>();
const listening = new Map<HeldSignal, () => void>();

function hold(sig: HeldSignal): void {
  if (listening.has(sig)) return;
  const listener = (): void => {
    const h = handlers.get(sig);
    if (h !== undefined) h();
    else pending.set(sig, (pending.get(sig) ?? 0) + 1);
  };
  listening.set(sig, listener);
  process.on(sig, listener);
}

/**
 * Listen for SIGHUP, SIGUSR1 and SIGUSR2 from now on (SIGTERM and SIGINT too when node already
 * runs with its flags: holdStopSignals), for good: each is counted until
 * handleSignal sets its handler. The listeners stay (the handler is swapped behind them): removing
 * a signal's last listener puts it back to its default, and SIGUSR1's would kill uvsd.
 */
export function holdSignals(): void {
  for (const sig of HELD) {
    hold(sig);
    // Right after SIGUSR1 (no execv to come): SIGHUP seen caught means these are held too.
    if (sig === 'SIGUSR1' && UVSD_NODE_FLAGS.every((f) => process.execArgv.includes(f))) holdStopSignals();
  }
}

/** SIGTERM and SIGINT held as well (counted until main() handles them): only once node will not be started again. */
export function holdStopSignals(): void {
  for (const sig of STOPS) hold(sig);
}

/**
 * uvsd --check-config: SIGTERM and SIGINT back to their default (end the process at once), and
 * one that came while they were held ends it now. The check opens nothing, and runs in one piece
 * on the loop, where a held signal is never seen: until 2026-12-06 one sent during the check was
 * lost, the check ran to its end and exited 0 (Ctrl-C, or `timeout`, did nothing).
 */
export function releaseStopSignals(): void {
  for (const sig of STOPS) {
    const l = listening.get(sig);
    if (l !== undefined) {
      listening.delete(sig);
      process.removeListener(sig, l); // the last listener: the signal's default again
    }
  }
  for (const sig of STOPS) if ((pending.get(sig) ?? 0) > 0) process.kill(process.pid, sig);
}

/** `fn` handles `sig` from now on; returns how many times `sig` came before (held, not handled). */
export function handleSignal(sig: HeldSignal, fn: () => void): number {
  holdSignals(); // uvsd.js started without bin/uvsd
  hold(sig);
  handlers.set(sig, fn);
  const n = pending.get(sig) ?? 0;
  pending.delete(sig);
  return n;
}
