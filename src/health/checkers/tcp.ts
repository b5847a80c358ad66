// TCP_CHECK: healthy when a TCP connection to the target is established within connect_timeout.
// checkTcp connects in the native addon (native/probe.cc), with no net.Socket; tcpSession is the
// net.Socket connection under SMTP_CHECK's conversation.
import net from 'node:net';
import { getSystemErrorName } from 'node:util';
import type { CheckResult, CheckTarget, TcpCheck } from '../types.js';
import { notRunResult } from './resource.js';
import { clearLongTimeout, setLongTimeout, type LongTimeout } from '../../control/clock.js';
import { parseIp } from '../../datapath/addr.js';
import { native, type ProbeHandle } from '../../datapath/port.js';

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
        timer = setLongTimeout(() => s.finish({ ok: false, reason }), spec.connectTimeoutMs);
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

/**
 * The thread's TCP_CHECK connects (one prober per thread, made at the first check): each check
 * is a slot in the addon, its promise's resolve at that slot here, and its result, written by the
 * addon into `results`, read at its turn. Before 2026-12-06 each check was a net.Socket (and a
 * timer of its own): at 10,000 services x 4 every 3 s, 70 % of what survived the main thread's
 * scavenges (docs/performance.md).
 */
class TcpProber {
  private readonly results = new Int32Array(RESULTS * 2);
  private readonly handle: ProbeHandle;
  private readonly waiting: Array<((r: CheckResult) => void) | undefined> = [];
  private readonly timeoutMs: number[] = [];

  constructor() {
    this.handle = native.probeOpen(this.results, (n) => this.onResults(n));
  }

  check(dst: number, port: number, src: number, srcPort: number, timeoutMs: number, resolve: (r: CheckResult) => void): void {
    const slot = this.handle.connect(dst, port, src, srcPort, timeoutMs);
    if (slot < 0) {
      resolve(failure(-slot));
      return;
    }
    this.waiting[slot] = resolve;
    this.timeoutMs[slot] = timeoutMs;
  }

  private onResults(n: number): void {
    const res = this.results;
    for (let i = 0; i < n; i++) {
      const slot = res[2 * i]!;
      const code = res[2 * i + 1]!;
      const resolve = this.waiting[slot];
      if (resolve === undefined) continue;
      this.waiting[slot] = undefined;
      resolve(code === 0 ? CONNECTED : code === TIMED_OUT ? timedOut(this.timeoutMs[slot]!) : failure(code));
    }
  }

  stats(): ReturnType<ProbeHandle['stats']> {
    return this.handle.stats();
  }
}

let prober: TcpProber | undefined;

/** This thread's prober's counts (tests); undefined before its first TCP_CHECK. */
export function tcpProbeStats(): ReturnType<ProbeHandle['stats']> | undefined {
  return prober?.stats();
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
    if (prober === undefined) {
      try {
        prober = new TcpProber();
      } catch (e) {
        // Its epoll descriptor could not be made (EMFILE, ...): tried again at the next check.
        const code = (e as NodeJS.ErrnoException).code;
        resolve(notRunResult('connect', e) ?? { ok: false, reason: `connect ${code ?? (e as Error).message}` });
        return;
      }
    }
    prober.check(dst, target.port, src, spec.bindPort ?? 0, spec.connectTimeoutMs, resolve);
  });
}
