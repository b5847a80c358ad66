// The control socket: a unix socket (mode 0600, root-only) speaking JSON lines
// (docs/control-protocol.md). Each line is one request, answered by one line, in order.
// Every request runs to completion before the next one starts (the verbs are synchronous), so
// each is atomic; only a large table's `list` or -Lc is read in slices (as a netlink dump of the
// kernel's is), and long replies are written in slices. Clients are bounded: request size,
// unread replies (reading stops while a client's unread replies exceed a limit), idle time, the
// number of connections and the unfinished request lines of all of them together.

import { lstatSync, mkdirSync, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import { foreignSocketProblem, socketDirProblem } from './trust.js';
import net from 'node:net';
import { ERRORS, UvsError } from './errors.js';
import { MAX_REQUEST_LINE, monoMs, type ControlSocketStatus, type ErrorBody, type Reply } from './protocol.js';
import { deeperAt, hasLongArray, parseJsonSliced, stringifySliced, tooDeep } from './slices.js';
import { native } from '../datapath/port.js';

export interface ServerLimits {
  /** Longest request line; a longer one is answered with an error and the connection closed. */
  maxLine: number;
  /** Unread reply bytes at which reading from that client stops until it reads. */
  writeHigh: number;
  /** A connection with no traffic for this long is closed. */
  idleMs: number;
  /** Connections beyond this many get one error line (TOO_MANY_CLIENTS) and are closed. */
  maxClients: number;
  /**
   * Unfinished request lines of all connections together: the connection whose data would take
   * them past this gets one error line (BUSY) and is closed (each may hold up to maxLine).
   */
  maxBuffered: number;
}

export const DEFAULT_LIMITS: ServerLimits = {
  maxLine: MAX_REQUEST_LINE, // a batch of 100,000 services fits
  writeHigh: 1 << 20,
  idleMs: 10 * 60_000,
  maxClients: 256,
  maxBuffered: 128 << 20, // two of the longest lines at once
};

/** How often the control socket's file is looked at (bound again when it was removed). */
export const SOCKET_CHECK_MS = 1000;

/** A refused connection is given this long to read its error line and close. */
const REFUSED_LINGER_MS = 2000;
/** uvsd logs refused connections (control socket, metrics listener) at most once per this long (with how many since the last line). */
const REFUSED_LOG_MS = 10_000;

/** Told (at most once per REFUSED_LOG_MS) that connections were refused: why, and how many since the last call. */
export type OnRefused = (reason: string, refused: number) => void;

/** Shared by the connections of one socket. */
interface Shared {
  /** Characters of unfinished request lines held by all connections. */
  buffered: number;
  refuse(sock: net.Socket, code: 'TOO_MANY_CLIENTS' | 'BUSY', detail: string): void;
}

/** Runs a verb; may return a Promise (a verb that must wait, e.g. for an ARP probe). */
/** Who sent a request: the process at the other end of its connection, as the kernel saw it connect (SO_PEERCRED). */
export interface Peer {
  pid: number;
  uid: number;
  gid: number;
}

/** Runs one request's verb; `peer`: who sent it, where the socket knows (the audit line names it). */
export type Dispatch = (verb: string, args: unknown, peer?: Peer) => unknown;

/** The process at the other end of a control connection, or undefined where the kernel says none. */
function peerOf(sock: net.Socket): Peer | undefined {
  const fd = (sock as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) return undefined;
  const c = native.peerCred(fd);
  return c === null ? undefined : { pid: c[0], uid: c[1], gid: c[2] };
}

function errorBody(code: string, message: string, detail?: string, index?: number): ErrorBody {
  const e: ErrorBody = { code, message };
  if (detail !== undefined) e.detail = detail;
  if (index !== undefined) e.index = index;
  return e;
}

function failure(id: unknown, err: unknown, onInternal: (err: unknown) => void): Reply {
  if (err instanceof UvsError) return { id, ok: false, error: errorBody(err.code, err.text, err.detail, err.index) };
  if (err instanceof SyntaxError) return { id, ok: false, error: errorBody('BAD_REQUEST', ERRORS.BAD_REQUEST, `not JSON: ${err.message}`) };
  onInternal(err);
  return { id, ok: false, error: errorBody('INTERNAL', `internal error: ${(err as Error).message}`) };
}

/** A request line at least this long is parsed in slices (slices.ts): JSON.parse of it would hold the loop over a millisecond. */
export const SLICED_PARSE_MIN = 128 * 1024;

/**
 * Turn one request line into one reply (a Promise of one when the verb waits or the line is long);
 * never throws. `gone`: the reply can no longer be sent; a long line's parse stops at its next slice.
 */
export function handleLine(line: string | readonly string[], dispatch: Dispatch, onInternal: (err: unknown) => void, gone?: () => boolean): Reply | Promise<Reply> {
  // A long line may come as the parts it arrived in (serve), read in place (slices.ts PartText).
  if (typeof line !== 'string' || line.length >= SLICED_PARSE_MIN) {
    const abandon = (): void => {
      if (gone?.() === true) throw new UvsError('BAD_REQUEST', 'the client closed the connection');
    };
    return parseJsonSliced(line, undefined, abandon).then((req) => handleRequest(req, dispatch, onInternal), (err: unknown) => failure(null, err, onInternal));
  }
  let req: unknown;
  try {
    const deep = deeperAt(line);
    if (deep >= 0) throw tooDeep(deep);
    req = JSON.parse(line);
  } catch (err) {
    return failure(null, err, onInternal);
  }
  return handleRequest(req, dispatch, onInternal);
}

const REQUEST_KEYS: ReadonlySet<string> = new Set(['id', 'verb', 'args', 'timing']);

/** A value named in an error: JSON, but a list or object only by its kind (it may be deep or long). */
function shown(v: unknown): string {
  return Array.isArray(v) ? 'a list' : typeof v === 'object' && v !== null ? 'an object' : JSON.stringify(v);
}

function handleRequest(req: unknown, dispatch: Dispatch, onInternal: (err: unknown) => void): Reply | Promise<Reply> {
  let id: unknown = null;
  // A request that asks ("timing": true) gets when it was handled (protocol.ts ReplyTiming).
  const recv = typeof req === 'object' && req !== null && (req as { timing?: unknown }).timing === true ? monoMs() : 0;
  const timed = (reply: Reply): Reply => (recv === 0 ? reply : { ...reply, timing: { recv, sent: monoMs() } });
  try {
    if (typeof req !== 'object' || req === null || Array.isArray(req)) throw new UvsError('BAD_REQUEST', 'not a JSON object');
    const r = req as Record<string, unknown>;
    if ('id' in r) id = r.id;
    if (r.verb === undefined) throw new UvsError('BAD_REQUEST', 'missing "verb"');
    if (typeof r.verb !== 'string') throw new UvsError('BAD_REQUEST', `"verb" must be a string, got ${shown(r.verb)}`);
    // A misspelt "args" would run the verb without its arguments (zero: of every service).
    for (const k of Object.keys(r)) {
      if (!REQUEST_KEYS.has(k)) throw new UvsError('BAD_REQUEST', `unknown request field ${JSON.stringify(k)} (a request has ${[...REQUEST_KEYS].join(', ')})`);
    }
    // As every boolean of the protocol (null: not asked, as args null is {}): "timing": "yes" or 1 was taken as false.
    if (r.timing !== undefined && r.timing !== null && typeof r.timing !== 'boolean') throw new UvsError('BAD_REQUEST', `"timing" must be true or false, got ${shown(r.timing)}`);
    const result = dispatch(r.verb, r.args ?? {});
    if (result instanceof Promise) {
      const rid = id;
      return result.then((v: unknown): Reply => timed({ id: rid, ok: true, result: v ?? null }), (err: unknown) => timed(failure(rid, err, onInternal)));
    }
    return timed({ id, ok: true, result: result ?? null });
  } catch (err) {
    return timed(failure(id, err, onInternal));
  }
}

/**
 * Is a daemon already answering on this path? true: it accepted; false: the socket is stale
 * (ECONNREFUSED: nobody listens on it; ENOENT: gone meanwhile). Any other failure (EAGAIN: a
 * listener whose backlog is full because it is stopped or busy; ETIMEDOUT ...) may be a live
 * daemon: refused with its code, never taken for stale.
 */
function probe(path: string): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const s = net.connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'ECONNREFUSED' || e.code === 'ENOENT') resolve(false);
      else reject(new Error(`another uvsd may be listening on ${path} (connect: ${e.code ?? e.message})`));
    });
  });
}

/** Serve one connection: lines in, replies out, with the limits above. */
function serve(sock: net.Socket, dispatch: Dispatch, onInternal: (err: unknown) => void, limits: ServerLimits, shared: Shared): void {
  const peer = peerOf(sock);
  const run: Dispatch = peer === undefined ? dispatch : (verb, args) => dispatch(verb, args, peer);
  let pending = '';
  /** pending[0, scanned) holds no newline. */
  let scanned = 0;
  /**
   * Chunks after pending that hold no newline: a long request line arriving in many chunks is
   * kept as they came and joined once, when its newline arrives (appending each chunk to pending
   * and searching it would copy the whole line again for every chunk).
   */
  let partial: string[] = [];
  let partialLen = 0;
  /** This connection's share of shared.buffered. */
  let held = 0;
  const account = (): void => {
    const now = closed ? 0 : pending.length + partialLen;
    shared.buffered += now - held;
    held = now;
  };
  /** pending and the chunks after it as one string (one copy: a join, no concatenation flattened later). */
  const merge = (): void => {
    if (partial.length === 0) return;
    if (pending !== '') partial.unshift(pending);
    pending = partial.length === 1 ? partial[0]! : partial.join('');
    partial = [];
    partialLen = 0;
  };
  let ended = false;
  let closed = false;
  /** A verb that waits (a Promise) holds this connection's later requests, so replies stay in order. */
  let waiting = false;
  sock.setEncoding('utf8');
  sock.setTimeout(limits.idleMs, () => sock.destroy());
  /** Answer a line: a string, or a long one's parts (not made into one string: slices.ts PartText). */
  const answer = (line: string | string[]): void => {
    const trimmed = typeof line === 'string' ? line.trim() : trimParts(line);
    if (trimmed.length === 0) return;
    const reply = handleLine(trimmed, run, onInternal, () => sock.destroyed || sock.writableEnded);
    if (!(reply instanceof Promise) && !hasLongArray(reply)) {
      sock.write(JSON.stringify(reply) + '\n');
      return;
    }
    waiting = true;
    sock.pause(); // nothing more is read from this client until its reply is out
    void Promise.resolve(reply)
      .then((r) => {
        if (sock.destroyed || sock.writableEnded) return; // refused meanwhile (BUSY)
        // A long reply (a large -Ln or -Lc) is serialised and written in slices; a list or a
        // text made while written (StreamedList, StreamedText: --dump-config's) waits while the
        // client has more than writeHigh unread.
        if (!hasLongArray(r)) sock.write(JSON.stringify(r) + '\n');
        else {
          const write = (s: string | Uint8Array): void => {
            if (!sock.destroyed) sock.write(s);
          };
          return stringifySliced(r, write, undefined, { room: () => drained(sock, limits.writeHigh), gone: () => sock.destroyed, bytes: write });
        }
      })
      .then(() => {
        waiting = false;
        if (sock.destroyed) return;
        if (!ended) sock.resume();
        pump();
      }, (err: unknown) => {
        // Part of a reply may be out: the connection cannot carry another one.
        onInternal(err);
        sock.destroy();
      });
  };
  const pump = (): void => {
    pumpLines();
    account();
  };
  const pumpLines = (): void => {
    if (closed || waiting) return;
    let nl: number;
    while (!waiting && sock.writableLength <= limits.writeHigh && (nl = pending.indexOf('\n', scanned)) >= 0) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      scanned = 0;
      answer(line);
    }
    if (sock.writableLength > limits.writeHigh) {
      sock.pause(); // the client is not reading its replies: stop reading its requests
      return;
    }
    if (!waiting && sock.writableLength <= limits.writeHigh) scanned = pending.length;
    if (pending.length + partialLen > limits.maxLine) {
      closed = true;
      pending = '';
      partial = [];
      partialLen = 0;
      const reply: Reply = { id: null, ok: false, error: errorBody('BAD_REQUEST', ERRORS.BAD_REQUEST, `line longer than ${limits.maxLine} bytes`) };
      sock.end(JSON.stringify(reply) + '\n');
      return;
    }
    if (ended && !waiting) {
      // Every line answered (a verb that waits runs pump again once its reply is out): what
      // is left, without a newline, is a last request still.
      merge();
      const last = pending;
      pending = '';
      answer(last);
      if (waiting) return; // ended after its reply (pump runs again then)
      closed = true;
      sock.end();
    }
  };
  sock.on('data', (chunk: string) => {
    if (closed) return;
    if (shared.buffered + chunk.length > limits.maxBuffered) {
      closed = true;
      account();
      shared.refuse(sock, 'BUSY', `unfinished requests of all connections over ${limits.maxBuffered} bytes`);
      return;
    }
    const nl = chunk.indexOf('\n');
    if (nl < 0) {
      partial.push(chunk);
      partialLen += chunk.length;
      if (pending.length + partialLen > limits.maxLine) pump(); // refused there
      else account();
      return;
    }
    // A long line that ends in this chunk (pending holds no line before it) is answered as the
    // parts it came in, never one string: joined, a 2 MB batch's line was a large object of new
    // pages, 6-7 ms of the loop's CPU in one piece before its parse; joined and then flattened with
    // this chunk (until 2026-12-06), two of them, 13-17 ms.
    if (!waiting && sock.writableLength <= limits.writeHigh && pending.length + partialLen + nl >= SLICED_PARSE_MIN && pending.indexOf('\n', scanned) < 0) {
      const parts = pending === '' ? partial : [pending, ...partial];
      parts.push(chunk.slice(0, nl));
      pending = chunk.slice(nl + 1);
      scanned = 0;
      partial = [];
      partialLen = 0;
      answer(parts);
      pump();
      return;
    }
    partial.push(chunk);
    partialLen += chunk.length;
    merge();
    pump();
  });
  sock.on('drain', () => {
    if (!ended && !waiting) sock.resume();
    pump();
  });
  sock.on('end', () => {
    ended = true;
    pump();
  });
  sock.on('error', () => sock.destroy());
  sock.on('close', () => {
    closed = true;
    account();
  });
}

/** A line's parts with what trim() takes off the line taken off its ends (none left: a blank line). */
function trimParts(parts: string[]): string[] {
  let a = 0;
  let b = parts.length;
  while (a < b && parts[a]!.trimStart() === '') a++;
  while (b > a && parts[b - 1]!.trimEnd() === '') b--;
  if (a === b) return [];
  const out = parts.slice(a, b);
  out[0] = out[0]!.trimStart();
  out[out.length - 1] = out[out.length - 1]!.trimEnd();
  return out;
}

/** undefined while sock holds at most `high` bytes unwritten (the client's unread replies), else when it has written them or closed. */
function drained(sock: net.Socket, high: number): Promise<void> | undefined {
  if (sock.destroyed || sock.writableLength <= high) return undefined;
  return new Promise((resolve) => {
    const done = (): void => {
      sock.off('drain', done);
      sock.off('close', done);
      resolve();
    };
    sock.on('drain', done);
    sock.on('close', done);
  });
}

/**
 * Counts refused connections; tells onRefused at most once per `everyMs` (the reason of the last
 * one, how many since the last call): the first at once, those that come within `everyMs` of it
 * `everyMs` after it, in one call. Until 2026-12-07 those were told only with the next refusal
 * after a quiet `everyMs`, maybe days later: a burst of 72 refusals was logged as `refused: 1`.
 */
export function refusals(onRefused: OnRefused | undefined, everyMs = REFUSED_LOG_MS): (reason: string) => void {
  let refused = 0;
  let last = -Infinity;
  let lastReason = '';
  let timer: NodeJS.Timeout | undefined;
  const tell = (): void => {
    timer = undefined;
    if (refused === 0) return;
    onRefused!(lastReason, refused);
    refused = 0;
    last = performance.now();
  };
  return (reason) => {
    refused++;
    lastReason = reason;
    if (onRefused === undefined || timer !== undefined) return;
    const now = performance.now();
    if (now - last >= everyMs) tell();
    else timer = setTimeout(tell, last + everyMs - now).unref(); // never keeps uvsd from exiting
  };
}

/**
 * Refused connections: one error line each, then closed. The client's request is read and
 * dropped meanwhile, so its write does not fail (EPIPE) before it reads why.
 */
function refuser(tell: (reason: string) => void): Shared['refuse'] {
  return (sock, code, detail) => {
    tell(`${ERRORS[code]}: ${detail}`);
    sock.removeAllListeners('data');
    sock.on('error', () => sock.destroy());
    sock.on('end', () => sock.destroy());
    sock.setTimeout(REFUSED_LINGER_MS, () => sock.destroy());
    sock.resume();
    const reply: Reply = { id: null, ok: false, error: errorBody(code, ERRORS[code], detail) };
    sock.end(JSON.stringify(reply) + '\n');
  };
}

/** The control socket's server: uvsd stops it with release(). */
export interface ControlServer extends net.Server {
  /**
   * Stop listening and remove the socket file, only if the file at the path is still the socket
   * listen made (its device and inode): closing a server unlinks its path (libuv), whatever is
   * there by then, and another uvsd may have put its own socket there (this one's removed by
   * hand, or replaced by an uvsd before 2026-12-05 that took it for stale). Otherwise the server
   * is left as it is until the process exits, which unlinks nothing: nobody can reach it, its
   * file being gone. True when it was closed.
   */
  release(): boolean;
  /** Its path, how many times it was bound again (its file removed), and what keeps it from being reached now. */
  socketStatus(): ControlSocketStatus;
}

/** Why the control socket's directory is not uvsd's alone: src/control/trust.ts. */
export { socketDirProblem } from './trust.js';

/**
 * Can a control socket listen at path? Its directory made (0700) and safe, no other file there
 * and no uvsd answering there (a stale socket is removed); throws why not. listenControl checks
 * the same; uvsd asks early, before it opens the network, and listens only once it will keep
 * running (after the probe of its --addr), so a socket that answers means a uvsd that stays.
 */
export async function checkControlPath(path: string): Promise<void> {
  try {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  } catch (e) {
    // EEXIST/ENOTDIR: a part of the directory is a file.
    const code = (e as NodeJS.ErrnoException).code;
    throw new Error(code === 'EEXIST' || code === 'ENOTDIR' ? `${dirname(path)} is not a directory` : (e as Error).message);
  }
  const why = socketDirProblem(path);
  if (why !== undefined) throw new Error(why);
  let st: ReturnType<typeof lstatSync> | undefined;
  try {
    st = lstatSync(path);
  } catch {
    st = undefined;
  }
  if (st !== undefined) {
    // Only ever remove a stale socket: a --socket pointing at a file (a typo) must not delete it.
    if (!st.isSocket()) throw new Error(`${path} exists and is not a socket; refusing to replace it`);
    // Before the probe: another user's socket that answers is not "another uvsd".
    const foreign = foreignSocketProblem(path);
    if (foreign !== undefined) throw new Error(`${path}: ${foreign}; remove it, or give --socket a path in a directory only root may write (the default /run/uvs)`);
    if (await probe(path)) throw new Error(`another uvsd is already listening on ${path}`);
    unlinkSync(path); // stale socket of a daemon that died
  }
}

/**
 * Listen on the control socket at path. Every SOCKET_CHECK_MS its file is looked at: removed (an
 * operator's rm, a cleanup of /run), the socket is bound again at the path (its directory made
 * again, 0700, and checked as at start) and `onSocket` told once; another file or socket there now
 * (not the one bound: device and inode, as release() compares) is left as it is, `onSocket` told
 * once. Before 2026-12-05 the socket was bound once: with its file removed uvsd could never be
 * reached again (uvsadm --role from keepalived's notify failed) while it went on forwarding.
 */
export async function listenControl(
  path: string, dispatch: Dispatch, onInternal: (err: unknown) => void, limits: Partial<ServerLimits> = {}, onRefused?: OnRefused,
  onSocket?: (message: string) => void,
): Promise<ControlServer> {
  const lim: ServerLimits = { ...DEFAULT_LIMITS, ...limits };
  await checkControlPath(path);
  const tell = refusals(onRefused);
  const shared: Shared = { buffered: 0, refuse: refuser(tell) };
  let clients = 0;
  // Counted here, not with server.maxConnections: that closes a connection without a word, and
  // the client's first write fails with EPIPE.
  const server = net.createServer({ allowHalfOpen: true }, (sock) => {
    if (clients >= lim.maxClients) {
      shared.refuse(sock, 'TOO_MANY_CLIENTS', `${lim.maxClients} open (uvsd's limit)`);
      return;
    }
    clients++;
    sock.once('close', () => clients--);
    serve(sock, dispatch, onInternal, lim, shared);
  });
  // The socket is created 0600 by bind(). Never chmod'ed by path after: by then the path may
  // name a link to any file, which root would chmod.
  const old = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => resolve());
    });
  } finally {
    process.umask(old);
  }
  /** The socket file bound (device and inode): only that one is ever removed (release) or taken for ours. */
  let made = lstatSync(path);
  let rebound = 0;
  /** What keeps the socket from being reached now (said once by onSocket), or undefined. */
  let problem: string | undefined;
  const say = (p: string): void => {
    if (p !== problem) onSocket?.(p);
    problem = p;
  };
  /** A bind again is under way: its error is not an accept's. */
  let rebinding = false;
  /** Not listening because a bind again failed (else not listening means closed: the watch stops). */
  let unbound = false;
  let stopped = false;
  // accept() failing (EMFILE, ENFILE: out of file descriptors; libuv's spare descriptor absorbs
  // most of these) is an 'error' of the listening server: with no listener it would be uncaught
  // and stop uvsd. The socket keeps listening; the refused-connection log says it.
  server.on('error', (err) => {
    if (!rebinding) return tell(`accept failed: ${err.message}`);
    rebinding = false;
    unbound = true;
    say(`control socket ${path} was removed and cannot be bound again (${err.message}): uvsd cannot be reached; tried again every ${SOCKET_CHECK_MS / 1000} s`);
  });
  server.on('listening', () => {
    if (!rebinding) return;
    rebinding = false;
    unbound = false;
    made = lstatSync(path);
    rebound++;
    problem = undefined;
    onSocket?.(`control socket ${path} was removed under uvsd: bound again, uvsadm reaches uvsd again`);
  });
  const check = (): void => {
    if (stopped || rebinding) return;
    if (!server.listening && !unbound) {
      // Closed (server.close()): nothing to watch any more.
      stopped = true;
      clearInterval(watch);
      return;
    }
    let now: ReturnType<typeof lstatSync> | undefined;
    try {
      now = lstatSync(path);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') return; // nothing known
    }
    if (now !== undefined) {
      if (now.dev === made.dev && now.ino === made.ino) return; // ours
      say(`control socket ${path} is not uvsd's any more (${now.isSocket() ? 'another socket' : 'another file'} is there now): left as it is; uvsd cannot be reached through it`);
      return;
    }
    try {
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
      const why = socketDirProblem(path);
      if (why !== undefined) throw new Error(why);
    } catch (e) {
      say(`control socket ${path} was removed and is not bound again: ${(e as Error).message}`);
      return;
    }
    // The socket of the removed file stops accepting (its connections go on); libuv unlinks the
    // path as it closes it (nothing there: it was just looked at), then bind() makes it again.
    if (server.listening) server.close();
    rebinding = true;
    const mask = process.umask(0o177);
    try {
      server.listen(path);
    } catch (e) {
      rebinding = false;
      unbound = true;
      say(`control socket ${path} was removed and cannot be bound again (${(e as Error).message})`);
    } finally {
      process.umask(mask);
    }
  };
  const watch = setInterval(check, SOCKET_CHECK_MS).unref();
  return Object.assign(server, {
    release(): boolean {
      stopped = true;
      clearInterval(watch);
      let now: ReturnType<typeof lstatSync> | undefined;
      try {
        now = lstatSync(path);
      } catch {
        now = undefined;
      }
      if (now?.dev !== made.dev || now.ino !== made.ino) return false;
      server.close();
      return true;
    },
    socketStatus(): ControlSocketStatus {
      return { path, rebound, ...(problem === undefined ? {} : { problem }) };
    },
  });
}
