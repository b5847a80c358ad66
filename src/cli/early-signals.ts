// SIGHUP, SIGUSR1 and SIGUSR2 held from bin/uvsd's first line until uvsd's main() hands each to
// its own handler (docs/uvsd.md, "Signals"). Without a listener Node takes each at its default:
// SIGUSR1 opens Node's inspector (a debugger on 127.0.0.1:9229 that any local user could make
// run code as root uvsd, for the rest of its life), SIGUSR2 and SIGHUP end the process at once,
// without a stop in order (until 2026-12-05 a SIGHUP during a start of many services, before
// main() set its handler, killed uvsd: exit 129, nothing logged, and systemd took it as clean).
// A signal is counted while no handler is set; handleSignal() says how many came. No imports:
// bin/uvsd loads this before anything else.

export type HeldSignal = 'SIGHUP' | 'SIGUSR1' | 'SIGUSR2';

// SIGUSR1 first: Node's own default for it (the inspector) is the one that must never be taken.
// One seen caught (/proc/PID/status SigCgt) means the ones before it are too.
const HELD: readonly HeldSignal[] = ['SIGUSR1', 'SIGUSR2', 'SIGHUP'];

const handlers = new Map<HeldSignal, () => void>();
const pending = new Map<HeldSignal, number>();
let holding = false;

/**
 * Listen for SIGHUP, SIGUSR1 and SIGUSR2 from now on, for good: each is counted until
 * handleSignal sets its handler. The listeners stay (the handler is swapped behind them): removing
 * a signal's last listener puts it back to its default, and SIGUSR1's would kill uvsd.
 */
export function holdSignals(): void {
  if (holding) return;
  holding = true;
  for (const sig of HELD) {
    process.on(sig, () => {
      const h = handlers.get(sig);
      if (h !== undefined) h();
      else pending.set(sig, (pending.get(sig) ?? 0) + 1);
    });
  }
}

/** `fn` handles `sig` from now on; returns how many times `sig` came before (held, not handled). */
export function handleSignal(sig: HeldSignal, fn: () => void): number {
  holdSignals(); // uvsd.js started without bin/uvsd
  handlers.set(sig, fn);
  const n = pending.get(sig) ?? 0;
  pending.delete(sig);
  return n;
}
