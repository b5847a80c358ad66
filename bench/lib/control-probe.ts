// Control-plane responsiveness while uvsd forwards: a `list` round trip every intervalMs on one
// connection of the project's own control client.
import { ControlClient } from '../../src/control/client.js';
import { delay } from '../../test/lab/netns.js';

/** Sends `list` on one connection every intervalMs until stop() and records each round trip. */
export async function probeControl(socket: string, intervalMs = 20): Promise<{ stop: () => Promise<number[]> }> {
  const client = await ControlClient.connect(socket, { timeoutMs: 5000 });
  const rtts: number[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const t0 = performance.now();
      await client.call('list', {});
      rtts.push(performance.now() - t0);
      await delay(intervalMs);
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop.catch(() => undefined);
      client.close();
      return rtts;
    },
  };
}

