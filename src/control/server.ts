// The control socket: a unix socket (mode 0600, root-only) speaking JSON lines
// (docs/control-protocol.md). Each line is one request, answered by one line.

import { chmodSync, existsSync, mkdirSync, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import net from 'node:net';
import { ERRORS, UvsError } from './errors.js';
import type { Reply } from './protocol.js';

/** Longest request line accepted; longer input closes the connection. */
const MAX_LINE = 1 << 20;

export type Dispatch = (verb: string, args: unknown) => unknown;

/** Turn one request line into one reply; never throws. */
export function handleLine(line: string, dispatch: Dispatch, onInternal: (err: unknown) => void): Reply {
  let id = 0;
  try {
    const req: unknown = JSON.parse(line);
    if (typeof req !== 'object' || req === null || Array.isArray(req)) throw new UvsError('BAD_REQUEST', 'not a JSON object');
    const r = req as Record<string, unknown>;
    if (typeof r.id === 'number') id = r.id;
    if (typeof r.verb !== 'string') throw new UvsError('BAD_REQUEST', 'missing "verb"');
    return { id, ok: true, result: dispatch(r.verb, r.args ?? {}) ?? null };
  } catch (err) {
    if (err instanceof UvsError) return { id, ok: false, error: { code: err.code, message: err.message } };
    if (err instanceof SyntaxError) return { id, ok: false, error: { code: 'BAD_REQUEST', message: `${ERRORS.BAD_REQUEST}: ${err.message}` } };
    onInternal(err);
    return { id, ok: false, error: { code: 'INTERNAL', message: `internal error: ${(err as Error).message}` } };
  }
}

/** Is a daemon already answering on this path? */
function probe(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export async function listenControl(path: string, dispatch: Dispatch, onInternal: (err: unknown) => void): Promise<net.Server> {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  if (existsSync(path)) {
    if (await probe(path)) throw new Error(`another uvsd is already listening on ${path}`);
    unlinkSync(path); // stale socket of a daemon that died
  }
  const server = net.createServer((sock) => {
    let pending = '';
    sock.setEncoding('utf8');
    sock.on('data', (chunk: string) => {
      pending += chunk;
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl).trim();
        pending = pending.slice(nl + 1);
        if (line.length > 0) sock.write(JSON.stringify(handleLine(line, dispatch, onInternal)) + '\n');
      }
      if (pending.length > MAX_LINE) {
        sock.end(JSON.stringify({ id: 0, ok: false, error: { code: 'BAD_REQUEST', message: `${ERRORS.BAD_REQUEST}: line longer than ${MAX_LINE} bytes` } }) + '\n');
        pending = '';
      }
    });
    sock.on('error', () => sock.destroy());
  });
  const old = process.umask(0o177); // the socket is created 0600 by bind()
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => resolve());
    });
  } finally {
    process.umask(old);
  }
  chmodSync(path, 0o600);
  return server;
}
