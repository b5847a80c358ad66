// UDP_CHECK: send the payload on a connected UDP socket. Without require_reply the server is
// healthy unless an ICMP port unreachable comes back within connect_timeout (keepalived's rule);
// with require_reply it must answer in time (starting with the given bytes, within the length bounds).
import dgram from 'node:dgram';
import type { CheckResult, CheckTarget, UdpCheck } from '../types.js';

type UdpSpec = Pick<UdpCheck, 'connectTimeoutMs' | 'bindto' | 'payload' | 'requireReply' | 'replyPrefix' | 'minReplyLength' | 'maxReplyLength'>;

function replyProblem(spec: UdpSpec, msg: Buffer): string | null {
  if (spec.minReplyLength !== undefined && msg.length < spec.minReplyLength) return `reply of ${msg.length} bytes, shorter than ${spec.minReplyLength}`;
  if (spec.maxReplyLength !== undefined && msg.length > spec.maxReplyLength) return `reply of ${msg.length} bytes, longer than ${spec.maxReplyLength}`;
  if (spec.replyPrefix !== undefined && !msg.subarray(0, spec.replyPrefix.length).equals(spec.replyPrefix)) return 'reply does not start with the expected bytes';
  return null;
}

export function checkUdp(spec: UdpSpec, target: CheckTarget): Promise<CheckResult> {
  return new Promise((resolve) => {
    const sock = dgram.createSocket('udp4');
    let done = false;
    const finish = (r: CheckResult): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.close();
      resolve(r);
    };
    const timer = setTimeout(() => {
      if (spec.requireReply) finish({ ok: false, reason: `no reply within ${spec.connectTimeoutMs} ms` });
      else finish({ ok: true, reason: 'no ICMP error' });
    }, spec.connectTimeoutMs);
    sock.on('error', (e: NodeJS.ErrnoException) => finish({ ok: false, reason: `udp ${e.code ?? e.message}` }));
    sock.on('message', (msg) => {
      const bad = replyProblem(spec, msg);
      finish(bad === null ? { ok: true, reason: `reply of ${msg.length} bytes` } : { ok: false, reason: bad });
    });
    const send = (): void => {
      sock.connect(target.port, target.ip, () => {
        sock.send(spec.payload ?? Buffer.alloc(0), (err) => {
          if (err) finish({ ok: false, reason: `send ${(err as NodeJS.ErrnoException).code ?? err.message}` });
        });
      });
    };
    if (spec.bindto !== undefined) sock.bind(0, spec.bindto, send);
    else send();
  });
}
