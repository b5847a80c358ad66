// TCP_CHECK: healthy when a TCP connection to the target is established within connect_timeout.
import net from 'node:net';
import type { CheckResult, CheckTarget, TcpCheck } from '../types.js';

export function checkTcp(spec: Pick<TcpCheck, 'connectTimeoutMs' | 'bindto'>, target: CheckTarget): Promise<CheckResult> {
  return new Promise((resolve) => {
    let done = false;
    const sock = net.connect({ host: target.ip, port: target.port, localAddress: spec.bindto });
    const finish = (r: CheckResult): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      resolve(r);
    };
    const timer = setTimeout(() => finish({ ok: false, reason: `connect timeout after ${spec.connectTimeoutMs} ms` }), spec.connectTimeoutMs);
    sock.once('connect', () => finish({ ok: true, reason: 'connected' }));
    sock.once('error', (e: NodeJS.ErrnoException) => finish({ ok: false, reason: `connect ${e.code ?? e.message}` }));
  });
}
