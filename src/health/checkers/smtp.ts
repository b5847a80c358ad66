// SMTP_CHECK (keepalived's check_smtp.c): connect, a 220 greeting, "HELO helo_name" answered 250,
// "QUIT" answered (any code); each step within connect_timeout. A reply may span lines
// ("250-..." continued, "250 ..." last, RFC 5321 4.2.1): its last line ends it, where keepalived
// reads only the first.
import net from 'node:net';
import type { CheckResult, CheckTarget, SmtpCheck } from '../types.js';

/** A reply longer than this (all its lines) fails the check instead of being buffered. */
const MAX_REPLY = 4096;

export function checkSmtp(spec: Pick<SmtpCheck, 'connectTimeoutMs' | 'bindto' | 'helo'>, target: CheckTarget): Promise<CheckResult> {
  return new Promise((resolve) => {
    let done = false;
    let timer: NodeJS.Timeout | undefined;
    const sock = net.connect({ host: target.ip, port: target.port, localAddress: spec.bindto });
    const finish = (r: CheckResult): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      resolve(r);
    };
    // What each reply must be, and what is sent after it.
    const steps: Array<{ what: string; code: number | null; then: string | null }> = [
      { what: 'greeting', code: 220, then: `HELO ${spec.helo}\r\n` },
      { what: 'HELO', code: 250, then: 'QUIT\r\n' },
      { what: 'QUIT', code: null, then: null },
    ];
    let step = 0;
    let buf = '';
    let phase = 'connect';
    /** A new phase: connect_timeout starts again. */
    const arm = (what: string): void => {
      phase = what;
      clearTimeout(timer);
      timer = setTimeout(() => finish({ ok: false, reason: `${what}: timeout after ${spec.connectTimeoutMs} ms` }), spec.connectTimeoutMs);
    };
    arm('connect');
    sock.setEncoding('latin1');
    sock.once('connect', () => arm(steps[0]!.what));
    sock.on('data', (chunk: string) => {
      buf += chunk;
      if (buf.length > MAX_REPLY) return finish({ ok: false, reason: `${phase}: reply longer than ${MAX_REPLY} bytes` });
      for (let nl = buf.indexOf('\n'); nl >= 0 && !done; nl = buf.indexOf('\n')) {
        const line = buf.slice(0, nl).replace(/\r$/, '');
        buf = buf.slice(nl + 1);
        const m = /^(\d{3})([ -]|$)/.exec(line);
        const s = steps[step]!;
        if (m === null) return finish({ ok: false, reason: `${s.what}: not an SMTP reply: ${JSON.stringify(line.slice(0, 80))}` });
        if (m[2] === '-') continue; // more lines of the same reply
        if (s.code !== null && Number(m[1]) !== s.code) return finish({ ok: false, reason: `${s.what}: ${line.slice(0, 80)} (expected ${s.code})` });
        if (s.then === null) return finish({ ok: true, reason: `HELO ${spec.helo} accepted` });
        sock.write(s.then);
        step++;
        arm(steps[step]!.what);
      }
    });
    sock.once('end', () => finish({ ok: false, reason: `${phase}: connection closed by the server` }));
    sock.once('error', (e: NodeJS.ErrnoException) => finish({ ok: false, reason: `${phase} ${e.code ?? e.message}` }));
  });
}
