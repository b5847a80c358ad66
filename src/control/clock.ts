// The control plane's two clocks (docs/resilience.md, "The clock stepped"). Durations, timeouts
// and rate windows are measured on the monotonic clock, performance.now(), as the datapath's
// timeouts are: an NTP step of the wall clock must not silence a warning for an hour or end a
// drain early. The wall clock (Date.now()) is for the timestamps shown, logged or saved, and
// these two convert at that boundary.

/**
 * The wall time (ms since the epoch) of `mono`, a performance.now() instant, by the wall clock
 * as it reads now: after a step of it, Date.now() minus the result is still the time elapsed
 * (uvsadm --status's `saved Ns ago`).
 */
export function wallOf(mono: number): number {
  return Math.round(Date.now() - (performance.now() - mono));
}

/** The performance.now() instant of `wall` (ms since the epoch): a time saved as wall time read back (drain-until). */
export function monoOf(wall: number): number {
  return performance.now() + (wall - Date.now());
}
