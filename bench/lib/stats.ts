// Small numeric helpers for the benchmark's tables.

export function round(v: number, d: number): number {
  const k = 10 ** d;
  return Math.round(v * k) / k;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]! : 0;
}

export function pct(x: number): string {
  return `${Math.round(x * 100)}%`;
}

export function fmt(n: number): string {
  return n >= 1000 ? `${(n / 1000).toFixed(1)}k` : String(n);
}

/** A run with more CPU steal than this (any CPU) is flagged. */
const STEAL_FLAG = 0.05;
/** A p99 is set by a window's slowest 1 % of samples: a vCPU stolen for more than 1 % of the
 *  window can fill that tail by itself (milliseconds for every forwarder, direct included), so a
 *  p99 window is flagged above this. */
export const STEAL_FLAG_P99 = 0.01;

/** Whether a window's steal (share of each CPU) is above `limit`, and the flag's text. */
export function stealFlag(steal: number[], limit = STEAL_FLAG): boolean {
  return steal.some((s) => s > limit);
}
/** A steal share as text: one decimal below 10 %, so a window flagged at 1 % never reads "1%". */
export function stealPct(x: number): string {
  return x < 0.1 ? `${(x * 100).toFixed(1)}%` : pct(x);
}
export function stealText(limit = STEAL_FLAG): string {
  return `steal > ${Math.round(limit * 100)}%`;
}

/**
 * A timer every 1 ms from now: stop() ends it and gives the longest gap (ms) between two of its
 * turns, up to the stop (what a frame arriving meanwhile would have waited for the event loop).
 */
export function loopGapProbe(): { stop: () => number } {
  let last = performance.now();
  let gap = 0;
  const tick = setInterval(() => {
    const now = performance.now();
    gap = Math.max(gap, now - last);
    last = now;
  }, 1);
  return {
    stop: () => {
      clearInterval(tick);
      return Math.max(gap, performance.now() - last);
    },
  };
}
