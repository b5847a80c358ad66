// Bounded waits that do not outlive what they wait for.

/**
 * What p gives, or `late` if it takes more than ms; the timer is cleared when p settles first (a
 * `Promise.race` with a bare `setTimeout` leaves it running: the process then waits out the whole
 * ms before its loop is empty, e.g. 1 s after every DatapathGroup.close(), 15 s of a test file's 17).
 */
export async function within<T, L>(p: Promise<T>, ms: number, late: L): Promise<T | L> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<L>((r) => (timer = setTimeout(() => r(late), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}
