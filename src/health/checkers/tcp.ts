// TCP_CHECK: healthy when a TCP connection to the target is established within connect_timeout.
// tcpSession is the connection under it and under SMTP_CHECK's conversation.
import net from 'node:net';
import type { CheckResult, CheckTarget, TcpCheck } from '../types.js';
import { notRunResult } from './resource.js';
import { clearLongTimeout, setLongTimeout, type LongTimeout } from '../../control/clock.js';

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

export function checkTcp(spec: Pick<TcpCheck, 'connectTimeoutMs' | 'bindto' | 'bindPort'>, target: CheckTarget): Promise<CheckResult> {
  return tcpSession(spec, target, (s) => s.finish({ ok: true, reason: 'connected' }));
}
