// UDP_CHECK: send the payload on a connected UDP socket. Without require_reply the server is
// healthy unless an ICMP port unreachable comes back within connect_timeout (keepalived's rule);
// with require_reply it must answer in time (starting with the given bytes, within the length bounds).
import dgram from 'node:dgram';
import type { CheckResult, CheckTarget, UdpCheck } from '../types.js';
import { notRunResult } from './resource.js';

type UdpSpec = Pick<UdpCheck, 'connectTimeoutMs' | 'bindto' | 'bindPort' | 'payload' | 'requireReply' | 'replyPrefix' | 'minReplyLength' | 'maxReplyLength'>;

function replyProblem(spec: UdpSpec, msg: Buffer): string | null {
  if (spec.minReplyLength !== undefined && msg.length < spec.minReplyLength) return `reply of ${msg.length} bytes, shorter than ${spec.minReplyLength}`;
  if (spec.maxReplyLength !== undefined && msg.length > spec.maxReplyLength) return `reply of ${msg.length} bytes, longer than ${spec.maxReplyLength}`;
  if (spec.replyPrefix !== undefined && !msg.subarray(0, spec.replyPrefix.length).equals(spec.replyPrefix)) return 'reply does not start with the expected bytes';
  return null;
}

/**
 * One datagram exchange on a connected UDP socket (from `bindto` and `bindPort` when given; checks
 * of several servers may share that port, SO_REUSEADDR): `payload` is sent,
 * every datagram that comes back goes to `onReply` (a result ends the check, null waits for
 * another), an ICMP error fails it, and after connect_timeout `onSilence` decides.
 */
export function udpExchange(
  spec: Pick<UdpCheck, 'connectTimeoutMs' | 'bindto' | 'bindPort'>, target: CheckTarget, payload: Buffer,
  onReply: (msg: Buffer) => CheckResult | null, onSilence: () => CheckResult,
): Promise<CheckResult> {
  return new Promise((resolve) => {
    const sock = dgram.createSocket({ type: 'udp4', reuseAddr: spec.bindPort !== undefined });
    let done = false;
    const finish = (r: CheckResult): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.close();
      resolve(r);
    };
    const timer = setTimeout(() => finish(onSilence()), spec.connectTimeoutMs);
    sock.on('error', (e: NodeJS.ErrnoException) => finish(notRunResult('udp', e) ?? { ok: false, reason: `udp ${e.code ?? e.message}` }));
    sock.on('message', (msg) => {
      const r = onReply(msg);
      if (r !== null) finish(r);
    });
    const send = (): void => {
      sock.connect(target.port, target.ip, () => {
        sock.send(payload, (err) => {
          if (err) finish(notRunResult('send', err) ?? { ok: false, reason: `send ${(err as NodeJS.ErrnoException).code ?? err.message}` });
        });
      });
    };
    if (spec.bindto !== undefined || spec.bindPort !== undefined) sock.bind(spec.bindPort ?? 0, spec.bindto, send);
    else send();
  });
}

export function checkUdp(spec: UdpSpec, target: CheckTarget): Promise<CheckResult> {
  return udpExchange(spec, target, spec.payload ?? Buffer.alloc(0), (msg) => {
    const bad = replyProblem(spec, msg);
    return bad === null ? { ok: true, reason: `reply of ${msg.length} bytes` } : { ok: false, reason: bad };
  }, () => (spec.requireReply
    ? { ok: false, reason: `no reply within ${spec.connectTimeoutMs} ms` }
    : { ok: true, reason: 'no ICMP error' }));
}
