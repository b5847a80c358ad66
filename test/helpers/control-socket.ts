// The control socket's test rig: a Control whose connection table is filled directly, and a
// client's view of a reply (its line, the event loop's turns before it, what uvsd kept unwritten).
// Used by control-server.test.ts and control-listconns-slices.test.ts.

import { connect, type Server, type Socket } from 'node:net';
import { rig, type Rig } from './harness.js';

/** A rig whose table holds n UDP entries (slots 0..n-1), inserted directly. */
export function connRig(n: number, connMax: number): Rig {
  const big = rig({ addrs: ['192.168.8.10/24'], connMax });
  for (let i = 0; i < n; i++) big.dp.ct.insert(17, (0xc0a80900 + (i >> 16)) | 0, i & 0xffff, 0xc0a808c8 | 0, 53, 0xc0a80814 | 0, 53, (0xc0a80900 + (i >> 16)) | 0, i & 0xffff, big.dp.nowTick + 1000, false);
  return big;
}

/** Until the server's side of its last connection stops growing its unwritten bytes (5 looks 100 ms apart alike): those bytes. */
export async function queuedWhenStill(server: Server): Promise<number> {
  let sock: Socket | undefined;
  server.on('connection', (s: Socket) => (sock = s));
  let queued = -1;
  for (let still = 0; still < 5;) {
    await new Promise((r) => setTimeout(r, 100));
    const q = sock?.writableLength ?? -1;
    still = q === queued && q >= 0 ? still + 1 : 0;
    queued = q;
  }
  return queued;
}

/**
 * The reply line sock brings (with its newline), its bytes kept as they come and decoded once.
 * Before: `text += chunk` and text.endsWith() at each chunk flattened the whole text each time
 * (~370 chunks of a 20 MB reply: 14.6 s of this process's CPU, past the 20 s timeout at load
 * 10; now ~0.5 s), and chunks kept as strings would sit in the JS heap, copied by each young
 * collection that falls in one of the listing's slices (counted as its CPU).
 */
export function lineOf(sock: Socket): Promise<string> {
  const bufs: Buffer[] = [];
  return new Promise((resolve) => {
    const onData = (b: Buffer): void => {
      bufs.push(b);
      if (b[b.length - 1] !== 0x0a) return;
      sock.off('data', onData);
      resolve(Buffer.concat(bufs).toString('utf8'));
    };
    sock.on('data', onData);
  });
}

/** Send one request line; the reply's text, and how many times the event loop turned before its first byte came and before all of it had. */
export async function turnsUntilReply(path: string, line: string): Promise<{ text: string; first: number; all: number }> {
  let turns = 0;
  let spinning = true;
  const spin = (): void => {
    turns++;
    if (spinning) setImmediate(spin);
  };
  try {
    return await new Promise<{ text: string; first: number; all: number }>((resolve, reject) => {
      const s = connect(path);
      let at = -1;
      const timer = setTimeout(() => {
        s.destroy();
        reject(new Error('no whole reply within 20 s'));
      }, 20_000);
      s.once('data', () => (at = turns));
      void lineOf(s).then((text) => {
        clearTimeout(timer);
        s.destroy();
        resolve({ text, first: at, all: turns });
      });
      s.on('error', reject);
      s.write(line);
      setImmediate(spin);
    });
  } finally {
    spinning = false;
  }
}
