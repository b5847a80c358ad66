// Waiting for a uvsd a lab started: its control socket answers a `list` (what `uvsadm -Ln`
// asks), polled through the product's client every 50 ms. A spawned uvsadm per poll cost
// ~170 ms of Node start-up each, for every uvsd start of the suite.
import { ControlClient } from '../../src/control/client.js';
import { delay, type Proc } from './netns.js';

/**
 * Resolves '' once uvsd at socketPath answers, or the last error when it exited or tries ran out;
 * with `timeoutMs`, each `list` may take that long, and a uvsd that accepts without answering
 * in time is not asked again (its error is returned).
 */
export async function waitForControl(socketPath: string, uvsd: Proc, tries = 200, timeoutMs?: number): Promise<string> {
  let last = 'no attempt';
  for (let i = 0; i < tries && !uvsd.done(); i++) {
    try {
      const c = await ControlClient.connect(socketPath, timeoutMs === undefined ? undefined : { timeoutMs });
      try {
        await c.call('list', {});
        return '';
      } finally {
        c.close();
      }
    } catch (e) {
      last = (e as Error).message;
      if (timeoutMs !== undefined && /within/.test(last)) return last; // connected, no answer
    }
    await delay(50);
  }
  return uvsd.done() ? `exited (${last})` : `no answer after ${tries} tries (${last})`;
}
