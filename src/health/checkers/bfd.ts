// BFD_CHECK: the state of the BFD session with the bfd_instance's neighbour (src/health/bfd.ts),
// read every BFD_POLL_MS. Up passes; anything else fails, once the session has had its start-up
// time: until it has been Up once, or for idle_tx x (multiplier + 1), the check gives no verdict.
import { idleTxMs, type BfdHub, type BfdParams } from '../bfd.js';
import type { BfdCheck, CheckResult } from '../types.js';

/** How often a BFD_CHECK reads its session's state (the session itself detects in min_rx x multiplier). */
export const BFD_POLL_MS = 100;

/** A BFD_CHECK as uvs runs it: every BFD_POLL_MS, no retry, rise or fall (keepalived.conf's and the config file's). */
export function bfdCheckSpec(o: Pick<BfdCheck, 'instance' | 'bfd' | 'origin'>): BfdCheck {
  return {
    type: 'BFD_CHECK', ...o,
    connectTimeoutMs: 0, delayLoopMs: BFD_POLL_MS, warmupMs: BFD_POLL_MS, retry: 0, delayBeforeRetryMs: BFD_POLL_MS, rise: 1, fall: 1,
  };
}

/** How long a session that was never Up gives no verdict: the slow start of RFC 5880 6.8.3. */
export function bfdStartupMs(p: BfdParams): number {
  return idleTxMs(p) * (p.multiplier + 1);
}

export function checkBfd(hub: BfdHub, spec: BfdCheck): Promise<CheckResult> {
  const st = hub.status(spec.bfd);
  const who = `BFD ${spec.instance} (${spec.bfd.neighbor})`;
  if (st.error !== undefined) return Promise.resolve({ ok: false, reason: `${who}: ${st.error}` });
  if (st.state === 'Up') {
    return Promise.resolve({ ok: true, reason: `${who}: Up` });
  }
  const why = `${who}: ${st.state}${st.diag !== '' ? ` (${st.diag})` : ''}`;
  if (!st.everUp && st.ageMs < bfdStartupMs(spec.bfd)) return Promise.resolve({ ok: false, pending: true, reason: `${why}, starting` });
  return Promise.resolve({ ok: false, reason: why });
}
