// What a piece of work does between two turns of the event loop, counted.

/**
 * Runs `run` and gives its value and the most `count()` grew between two turns of the loop (a
 * setImmediate each turn: its check phase) while it ran, the last piece (up to its end) included.
 * `count` is a running total: addresses probed, lines logged, etc.
 */
export async function mostPerTurn<T>(count: () => number, run: () => Promise<T>): Promise<{ value: T; most: number }> {
  let last = count();
  let most = 0;
  let on = true;
  const turn = (): void => {
    const now = count();
    most = Math.max(most, now - last);
    last = now;
    if (on) setImmediate(turn);
  };
  setImmediate(turn);
  try {
    const value = await run();
    turn();
    return { value, most };
  } finally {
    on = false;
  }
}
