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

/**
 * Node's longest timer delay (2^31-1 ms, 24.8 days): setTimeout fires a longer one after 1 ms,
 * with a TimeoutOverflowWarning. keepalived takes timers of up to a year (delay_loop,
 * connect_timeout, misc_timeout...) and so does uvs: such delays go through setLongTimeout.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** The timers a LongTimeout arms (tests: a fake one). */
export interface TimerHost {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  /** The monotonic clock (ms). */
  now(): number;
  unref(handle: unknown): void;
}

const nodeTimers: TimerHost = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
  now: () => performance.now(),
  unref: (h) => (h as NodeJS.Timeout).unref(),
};

/**
 * A timer of any delay: one past MAX_TIMER_MS is armed in steps of at most that until its due
 * time (by the monotonic clock), then fn runs; a shorter one (or NaN, or below 1 ms: 1 ms as
 * setTimeout makes it) is one setTimeout as before. Infinity never fires.
 */
export class LongTimeout {
  private handle: unknown;
  private unrefed = false;
  /** When fn is due (host.now()), for a delay past MAX_TIMER_MS. */
  private readonly due: number;

  constructor(private readonly fn: () => void, ms: number, private readonly host: TimerHost = nodeTimers) {
    this.due = ms > MAX_TIMER_MS ? host.now() + ms : NaN;
    this.arm(ms);
  }

  private arm(left: number): void {
    if (left > MAX_TIMER_MS) this.handle = this.host.setTimeout(() => this.arm(this.due - this.host.now()), MAX_TIMER_MS);
    else this.handle = this.host.setTimeout(this.fn, left);
    if (this.unrefed) this.host.unref(this.handle);
  }

  /** Also run by cancel() (setAnswerTimeout: its pending run taken back). */
  onCancel: (() => void) | undefined;

  /** As clearTimeout: fn will not run. */
  cancel(): void {
    this.host.clearTimeout(this.handle);
    this.onCancel?.();
  }

  /** As Timeout.unref(): the timer does not keep the process alive (every step of it). */
  unref(): this {
    this.unrefed = true;
    this.host.unref(this.handle);
    return this;
  }
}

/** setTimeout for delays that may be longer than MAX_TIMER_MS (user values: health check timers, a drain's end). */
export function setLongTimeout(fn: () => void, ms: number): LongTimeout {
  return new LongTimeout(fn, ms);
}

/**
 * setLongTimeout for the deadline of an answer from outside uvsd (a health check's
 * connect_timeout, a MISC_CHECK's misc_timeout): fn runs once the turn of the loop that found the
 * deadline passed has polled for I/O (setImmediate: libuv's check phase, after its poll phase), and
 * not at all when what came then ended the wait (cancel() takes the pending run back too). libuv
 * runs due timers before it polls: after the loop was held past the deadline (uvsd stopped by
 * SIGSTOP, a paused VM, a CPU quota, a long collection), a plain timer declared the timeout while
 * the answer, in time, was waiting to be read (until 2026-12-07: a server taken down after every
 * such stall; docs/health.md).
 */
export function setAnswerTimeout(fn: () => void, ms: number): LongTimeout {
  let later: NodeJS.Immediate | undefined;
  const t = new LongTimeout(() => {
    later = setImmediate(fn);
  }, ms);
  t.onCancel = () => {
    if (later !== undefined) clearImmediate(later);
  };
  return t;
}

/** clearTimeout of a setLongTimeout (none: nothing). */
export function clearLongTimeout(t: LongTimeout | undefined): void {
  t?.cancel();
}
