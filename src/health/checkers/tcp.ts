// TCP_CHECK: healthy when a TCP connection to the target is established within connect_timeout.
// checkTcp connects in the native addon (native/probe.cc), with no net.Socket; tcpSession is the
// net.Socket connection under SMTP_CHECK's conversation.
import net from 'node:net';
import { getSystemErrorName } from 'node:util';
import type { CheckResult, CheckTarget, TcpCheck } from '../types.js';
import { notRunResult } from './resource.js';
import { clearLongTimeout, setAnswerTimeout, type LongTimeout } from '../../control/clock.js';
import { parseIp } from '../../datapath/addr.js';
import { native, type ProbeHandle } from '../../datapath/port.js';
import type { CheckSink } from './index.js';

/** A check's TCP connection, once established: what the checker says on it. */
export interface TcpSession {
  sock: net.Socket;
  /** End the check with this result (the socket is destroyed; later calls do nothing). */
  finish(r: CheckResult): void;
  /** A new phase (what the next reply is to): connect_timeout starts again for it. */
  arm(phase: string): void;
  /** The phase the check is in (errors and timeouts are reported with it). */
  phase(): string;
  done(): boolean;
}

/**
 * End a check's connection. From a fixed source port (bind_port) with a reset: a normal close
 * would leave the director's side in TIME_WAIT for a minute, and the next check from that port to
 * the same server could not connect meanwhile.
 */
export function closeCheckSocket(sock: net.Socket | null | undefined, fixedPort: boolean): void {
  if (sock === null || sock === undefined) return;
  sock.on('error', () => {}); // nothing more to report: the check has its result
  if (fixedPort && !sock.destroyed && sock.readyState === 'open') {
    try {
      sock.resetAndDestroy();
      return;
    } catch {
      // A TLS socket has no TCP handle of its own to reset (SSL_GET): closed as usual.
    }
  }
  sock.destroy();
}

/**
 * Connect to the target (from `bindto` and `bindPort`) within connect_timeout, then hand the
 * connection to `onConnect`; a timeout, an error or the server closing ends the check as failed,
 * named by phase.
 */
export function tcpSession(spec: Pick<TcpCheck, 'connectTimeoutMs' | 'bindto' | 'bindPort'>, target: CheckTarget, onConnect: (s: TcpSession) => void): Promise<CheckResult> {
  return new Promise((resolve) => {
    let done = false;
    let timer: LongTimeout | undefined;
    let phase = 'connect';
    const sock = net.connect({ host: target.ip, port: target.port, localAddress: spec.bindto, localPort: spec.bindPort });
    const s: TcpSession = {
      sock,
      finish(r) {
        if (done) return;
        done = true;
        clearLongTimeout(timer);
        closeCheckSocket(sock, spec.bindPort !== undefined);
        resolve(r);
      },
      arm(what) {
        phase = what;
        clearLongTimeout(timer);
        const reason = what === 'connect' ? `connect timeout after ${spec.connectTimeoutMs} ms` : `${what}: timeout after ${spec.connectTimeoutMs} ms`;
        timer = setAnswerTimeout(() => s.finish({ ok: false, reason }), spec.connectTimeoutMs);
      },
      phase: () => phase,
      done: () => done,
    };
    s.arm('connect');
    sock.once('connect', () => onConnect(s));
    sock.once('end', () => s.finish({ ok: false, reason: `${phase}: connection closed by the server` }));
    sock.once('error', (e: NodeJS.ErrnoException) => s.finish(notRunResult(phase, e) ?? { ok: false, reason: `${phase} ${e.code ?? e.message}` }));
  });
}

/** A probe's code for connect_timeout passed (native/probe.cc kTimedOut). */
const TIMED_OUT = -1;
/** Results the addon hands over per call at most ([slot, code] pairs; it takes 128 ended connects a turn). */
const RESULTS = 256;

const CONNECTED: CheckResult = Object.freeze({ ok: true, reason: 'connected' });
/** The results of connect errors and timeouts, made once each (by errno; by connect_timeout): a
 *  check's result is shared, never changed by its reader (HealthManager). */
const failures = new Map<number, CheckResult>();
const timeouts = new Map<number, CheckResult>();

/** The result of a failed connect: `connect CODE` as net.connect's error named it (notRun when
 *  uvsd itself is out of descriptors, buffers or memory: resource.ts). */
function failure(errno: number): CheckResult {
  let r = failures.get(errno);
  if (r === undefined) {
    const code = getSystemErrorName(-errno);
    r = Object.freeze(notRunResult('connect', { code }) ?? { ok: false, reason: `connect ${code}` });
    failures.set(errno, r);
  }
  return r;
}

function timedOut(ms: number): CheckResult {
  let r = timeouts.get(ms);
  if (r === undefined) {
    r = Object.freeze({ ok: false, reason: `connect timeout after ${ms} ms` });
    timeouts.set(ms, r);
  }
  return r;
}

/** Checks queued for one connectMany() call at most (startTcp; the rest in the next). */
const BATCH = 256;
/** A connectMany() request's numbers (native/probe.cc kRequestFields). */
const FIELDS = 5;

/**
 * The thread's TCP_CHECK connects (one prober per thread, made at the first check): each check
 * is a slot in the addon, and at that slot here what its result goes to: a promise's resolve
 * (checkTcp), or a CheckSink and its token (startTcp: no promise, no closure per check, and the
 * checks queued until flushTcp() go to the addon in one connectMany() call). Its result, written
 * by the addon into `results`, is read at its turn. Before 2026-12-06 each check was a net.Socket
 * (and a timer of its own): at 10,000 services x 4 every 3 s, 70 % of what survived the main
 * thread's scavenges (docs/performance.md).
 */
class TcpProber {
  private readonly results = new Int32Array(RESULTS * 2);
  private readonly requests = new Float64Array(BATCH * FIELDS);
  private readonly handle: ProbeHandle;
  /** Per slot: its check's sink (undefined: `tokens` holds a promise's resolve), its token, its connect_timeout. */
  private readonly sinks: Array<CheckSink | undefined> = [];
  private readonly tokens: unknown[] = [];
  private readonly timeoutMs: number[] = [];
  /** Checks queued for the next connectMany(): their sinks and tokens (their numbers in `requests`). */
  private queued = 0;
  private readonly queuedSinks: Array<CheckSink | undefined> = [];
  private readonly queuedTokens: unknown[] = [];
  /** The sinks given results in this call (checksEnded once each). */
  private readonly ended: CheckSink[] = [];
  /** Calls into the addon that started connects (connect, connectMany): tcpProbeStats, tests. */
  calls = 0;

  constructor() {
    this.handle = native.probeOpen(this.results, (n) => this.onResults(n), this.requests);
  }

  check(dst: number, port: number, src: number, srcPort: number, timeoutMs: number, resolve: (r: CheckResult) => void): void {
    this.calls++;
    const slot = this.handle.connect(dst, port, src, srcPort, timeoutMs);
    if (slot < 0) {
      resolve(failure(-slot));
      return;
    }
    this.tokens[slot] = resolve;
    this.timeoutMs[slot] = timeoutMs;
  }

  /** A check queued for flush() (at once when BATCH are queued): its result to sink.checkDone(token, ...). */
  queue(dst: number, port: number, src: number, srcPort: number, timeoutMs: number, sink: CheckSink, token: object): void {
    const q = this.requests;
    const i = this.queued++;
    q[FIELDS * i] = dst;
    q[FIELDS * i + 1] = port;
    q[FIELDS * i + 2] = src;
    q[FIELDS * i + 3] = srcPort;
    q[FIELDS * i + 4] = timeoutMs;
    this.queuedSinks[i] = sink;
    this.queuedTokens[i] = token;
    if (this.queued === BATCH) this.flush();
  }

  /** The queued checks started, in one call; those that failed at once given their results now. */
  flush(): void {
    const n = this.queued;
    if (n === 0) return;
    this.queued = 0;
    const q = this.requests;
    let thrown: CheckResult | undefined;
    this.calls++;
    try {
      this.handle.connectMany(n);
    } catch (e) {
      // Not expected (startTcp gives good numbers): every queued check fails, none is lost.
      thrown = { ok: false, reason: `checker failed: ${(e as Error).message}` };
    }
    for (let i = 0; i < n; i++) {
      const slot = thrown === undefined ? q[FIELDS * i]! : -1;
      if (slot < 0) continue;
      this.sinks[slot] = this.queuedSinks[i];
      this.tokens[slot] = this.queuedTokens[i];
      this.timeoutMs[slot] = q[FIELDS * i + 4]!;
      this.queuedSinks[i] = undefined;
      this.queuedTokens[i] = undefined;
    }
    // Then those that failed at once (a sink starts no check in checkDone: these entries stay as they are meanwhile).
    for (let i = 0; i < n; i++) {
      const sink = this.queuedSinks[i];
      if (sink === undefined) continue;
      const token = this.queuedTokens[i];
      this.queuedSinks[i] = undefined;
      this.queuedTokens[i] = undefined;
      sink.checkDone(token as object, thrown ?? failure(-q[FIELDS * i]!));
      this.end(sink);
    }
    this.endAll();
  }

  private onResults(n: number): void {
    const res = this.results;
    for (let i = 0; i < n; i++) {
      const slot = res[2 * i]!;
      const code = res[2 * i + 1]!;
      const token = this.tokens[slot];
      if (token === undefined) continue;
      const sink = this.sinks[slot];
      this.tokens[slot] = undefined;
      this.sinks[slot] = undefined;
      const r = code === 0 ? CONNECTED : code === TIMED_OUT ? timedOut(this.timeoutMs[slot]!) : failure(code);
      if (sink === undefined) (token as (r: CheckResult) => void)(r);
      else {
        sink.checkDone(token as object, r);
        this.end(sink);
      }
    }
    this.endAll();
  }

  private end(sink: CheckSink): void {
    if (!this.ended.includes(sink)) this.ended.push(sink);
  }

  /** checksEnded() of each sink given results (it may start checks: queue, flush). */
  private endAll(): void {
    while (this.ended.length > 0) this.ended.pop()!.checksEnded();
  }

  stats(): ReturnType<ProbeHandle['stats']> & { calls: number } {
    return { ...this.handle.stats(), calls: this.calls };
  }
}

let prober: TcpProber | undefined;

/** This thread's prober's counts (tests); undefined before its first TCP_CHECK. */
export function tcpProbeStats(): (ReturnType<ProbeHandle['stats']> & { calls: number }) | undefined {
  return prober?.stats();
}

/** This thread's prober, made at its first check; undefined when its epoll descriptor cannot be made (`failed` says why). */
function theProber(failed: (e: unknown) => void): TcpProber | undefined {
  if (prober === undefined) {
    try {
      prober = new TcpProber();
    } catch (e) {
      // Its epoll descriptor could not be made (EMFILE, ...): tried again at the next check.
      failed(e);
    }
  }
  return prober;
}

/**
 * TCP_CHECK as checkTcp, without a promise: queued, and started with the others queued in this
 * turn by flushTcp() (one call into the addon for up to BATCH checks); its result to
 * sink.checkDone(token, result), then sink.checksEnded() once for the results given together
 * (those of connects that failed at once come in flushTcp() itself). False, nothing queued, when
 * checkTcp is to run it (an address that is not IPv4, no prober): it says why.
 */
export function startTcp(spec: Pick<TcpCheck, 'connectTimeoutMs' | 'bindto' | 'bindPort'>, ip: string, port: number, sink: CheckSink, token: object): boolean {
  const dst = parseIp(ip);
  const src = spec.bindto !== undefined ? parseIp(spec.bindto) : spec.bindPort !== undefined ? 0 : -1;
  if (dst < 0 || (spec.bindto !== undefined && src < 0)) return false;
  const p = theProber(() => {});
  if (p === undefined) return false;
  p.queue(dst, port, src, spec.bindPort ?? 0, spec.connectTimeoutMs, sink, token);
  return true;
}

/** The TCP_CHECKs queued by startTcp started (one call into the addon). */
export function flushTcp(): void {
  prober?.flush();
}

/**
 * TCP_CHECK: a connect (from `bindto` and `bindPort`) to the target within connect_timeout,
 * closed once made (with a reset from a fixed bindPort, as closeCheckSocket). The reasons are
 * net.connect's: `connected`, `connect timeout after N ms`, `connect ECONNREFUSED`, ... IPv4 only,
 * as the configuration (keepalived.ts, config-health.ts) takes no IPv6 address for a check.
 */
export function checkTcp(spec: Pick<TcpCheck, 'connectTimeoutMs' | 'bindto' | 'bindPort'>, target: CheckTarget): Promise<CheckResult> {
  return new Promise((resolve) => {
    const dst = parseIp(target.ip);
    const src = spec.bindto !== undefined ? parseIp(spec.bindto) : spec.bindPort !== undefined ? 0 : -1;
    if (dst < 0 || (spec.bindto !== undefined && src < 0)) {
      resolve({ ok: false, reason: `connect: not an IPv4 address (${dst < 0 ? target.ip : spec.bindto})` });
      return;
    }
    const p = theProber((e) => {
      const code = (e as NodeJS.ErrnoException).code;
      resolve(notRunResult('connect', e) ?? { ok: false, reason: `connect ${code ?? (e as Error).message}` });
    });
    p?.check(dst, target.port, src, spec.bindPort ?? 0, spec.connectTimeoutMs, resolve);
  });
}
