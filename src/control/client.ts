// A client for uvsd's control socket (docs/control-protocol.md): JSON lines over a unix socket,
// one request per line, replies matched by id. Used by uvsadm, the tests and the demo.

import { connect as netConnect } from 'node:net';
import type { Socket } from 'node:net';
import { ERRORS } from './errors.js';
import { foreignSocketProblem } from './trust.js';
import { MAX_REQUEST_LINE, type Reply, type ReplyTiming, type Request, type VerbName, type Verbs } from './protocol.js';

/** A failed call: a daemon refusal ({code, message} exactly as sent) or a client-side failure. */
export class ControlError extends Error {
  readonly code: string;
  /** The offending value, when the daemon named one. */
  readonly detail: string | undefined;
  /** batch: the 0-based index of the refused item. */
  readonly index: number | undefined;
  constructor(code: string, message: string, detail?: string, index?: number) {
    super(message);
    this.name = 'ControlError';
    this.code = code;
    this.detail = detail;
    this.index = index;
  }
}

export interface ClientOptions {
  /** How long a call waits for its reply; 5 s by default. */
  timeoutMs?: number;
  /** The longest request line it sends (bytes with the newline); MAX_REQUEST_LINE, uvsd's limit, by default (tests lower it). */
  maxRequest?: number;
}

export const DEFAULT_TIMEOUT_MS = 5000;

// Readable reasons for the usual connect failures (Node only gives the errno name).
const REASONS: Record<string, string> = {
  ENOENT: 'No such file or directory',
  ECONNREFUSED: 'Connection refused',
  EACCES: 'Permission denied',
  EPERM: 'Operation not permitted',
  ENOTSOCK: 'Not a socket',
  ENOTDIR: 'Not a directory',
  ECONNRESET: 'Connection reset by peer',
  EAGAIN: 'Resource temporarily unavailable',
};

function reasonOf(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (typeof e?.code === 'string') return REASONS[e.code] ?? e.code;
  return e instanceof Error ? e.message : String(err);
}

interface Pending {
  resolve: (result: unknown) => void;
  reject: (err: ControlError) => void;
  timer: NodeJS.Timeout;
  timing?: (t: ReplyTiming) => void;
}

export class ControlClient {
  private nextId = 1;
  private parts: string[] = [];
  private readonly pending = new Map<number, Pending>();
  private closedError: ControlError | undefined;

  private constructor(
    private readonly socket: Socket,
    readonly path: string,
    private readonly timeoutMs: number,
    private readonly maxRequest: number,
  ) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => this.onData(chunk));
    socket.on('error', (err) => this.failAll(new ControlError('NO_DAEMON', `connection to uvsd at ${path} failed: ${reasonOf(err)}`)));
    socket.on('close', () => this.failAll(new ControlError('NO_DAEMON', `uvsd at ${path} closed the connection`)));
  }

  /** Connects to the daemon; rejects with code NO_DAEMON and "cannot connect to uvsd at <path>: <reason>". */
  static connect(path: string, options: ClientOptions = {}): Promise<ControlClient> {
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    // Another user's socket at the path (a sticky --socket directory such as /tmp while uvsd is
    // stopped) would get the commands and make the answers: not connected to (trust.ts).
    const foreign = foreignSocketProblem(path);
    if (foreign !== undefined) return Promise.reject(new ControlError('NO_DAEMON', `${ERRORS.NO_DAEMON} at ${path}: ${foreign}; refusing to send it commands`));
    return new Promise((resolve, reject) => {
      const socket = netConnect({ path });
      const fail = (reason: string): void => {
        socket.destroy();
        reject(new ControlError('NO_DAEMON', `${ERRORS.NO_DAEMON} at ${path}: ${reason}`));
      };
      const timer = setTimeout(() => fail('timed out'), timeoutMs);
      socket.once('error', (err) => {
        clearTimeout(timer);
        fail(reasonOf(err));
      });
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        resolve(new ControlClient(socket, path, timeoutMs, options.maxRequest ?? MAX_REQUEST_LINE));
      });
    });
  }

  /** Sends one verb; resolves with its result, rejects with ControlError (daemon's code and message on ok:false). */
  /** One request; `timing` (when given) gets when uvsd handled it (protocol.ts ReplyTiming) before the result resolves. */
  call<V extends VerbName>(verb: V, args: Verbs[V]['args'], timing?: (t: ReplyTiming) => void): Promise<Verbs[V]['result']> {
    if (this.closedError !== undefined) return Promise.reject(this.closedError);
    const id = this.nextId++;
    const request: Request<V> = timing === undefined ? { id, verb, args } : { id, verb, args, timing: true };
    return new Promise<Verbs[V]['result']>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new ControlError('TIMEOUT', `${ERRORS.TIMEOUT} at ${this.path} within ${this.timeoutMs / 1000} s (verb ${verb})`));
      }, this.timeoutMs);
      const line = JSON.stringify(request) + '\n';
      // uvsd would read 64 MiB of it and refuse it (uvsadm -R of a huge file: seconds, then "line
      // longer than"): refused here at once, saying how large.
      const max = this.maxRequest;
      if (line.length > max || Buffer.byteLength(line) > max) {
        clearTimeout(timer);
        const mib = (n: number): string => (n % 1048576 === 0 ? String(n / 1048576) : (n / 1048576).toFixed(n < 1048576 ? 3 : 1));
        reject(new ControlError('BAD_REQUEST', `${ERRORS.BAD_REQUEST}: ${verb} request of ${mib(Buffer.byteLength(line))} MiB, above the ${mib(max)} MiB uvsd reads in one request`, undefined));
        return;
      }
      this.pending.set(id, { resolve: resolve as (r: unknown) => void, reject, timer, timing });
      this.socket.write(line);
    });
  }

  close(): void {
    this.failAll(new ControlError('NO_DAEMON', 'client closed'));
    this.socket.end();
    this.socket.destroy();
  }

  /** The pieces of a reply line whose newline has not come yet: a long reply (a large -Ln)
   *  arrives in many chunks, each searched once and the line joined once. */
  private onData(chunk: string): void {
    let start = 0;
    let nl: number;
    while ((nl = chunk.indexOf('\n', start)) >= 0) {
      this.parts.push(chunk.slice(start, nl));
      const line = this.parts.join('').trim();
      this.parts = [];
      start = nl + 1;
      if (line !== '') this.onLine(line);
    }
    if (start < chunk.length) this.parts.push(chunk.slice(start));
  }

  private onLine(line: string): void {
    let reply: Reply;
    try {
      reply = JSON.parse(line) as Reply;
    } catch {
      this.failAll(new ControlError('BAD_REPLY', `${ERRORS.BAD_REPLY}: not JSON`));
      return;
    }
    const id = reply?.id;
    if (id === null && reply.ok === false && typeof reply.error?.message === 'string') {
      // Not an answer to a request: uvsd refused the connection (too many, a line too long) and closes it.
      const e = reply.error;
      this.failAll(new ControlError(String(e.code), e.message, typeof e.detail === 'string' ? e.detail : undefined));
      return;
    }
    const p = typeof id === 'number' ? this.pending.get(id) : undefined;
    if (p === undefined) return; // a reply nobody waits for any more (timed out)
    this.pending.delete(id as number);
    clearTimeout(p.timer);
    if (p.timing !== undefined && typeof reply.timing?.recv === 'number' && typeof reply.timing.sent === 'number') p.timing(reply.timing);
    if (reply.ok === true) {
      p.resolve(reply.result);
    } else if (reply.ok === false && typeof reply.error?.message === 'string') {
      const e = reply.error;
      p.reject(new ControlError(String(e.code), e.message, typeof e.detail === 'string' ? e.detail : undefined, typeof e.index === 'number' ? e.index : undefined));
    } else {
      p.reject(new ControlError('BAD_REPLY', `${ERRORS.BAD_REPLY}: no ok/result/error`));
    }
  }

  private failAll(err: ControlError): void {
    this.closedError ??= err;
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      this.pending.delete(id);
      p.reject(err);
    }
  }
}
