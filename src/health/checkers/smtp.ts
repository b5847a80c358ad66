// SMTP_CHECK (keepalived's check_smtp.c): connect, a 220 greeting, "HELO helo_name" answered 250,
// "QUIT" answered (any code); each step within connect_timeout. A reply may span lines
// ("250-..." continued, "250 ..." last, RFC 5321 4.2.1): its last line ends it, where keepalived
// reads only the first.
import type { CheckResult, CheckTarget, SmtpCheck } from '../types.js';
import { tcpSession } from './tcp.js';

/** A reply longer than this (all its lines) fails the check instead of being buffered. */
const MAX_REPLY = 4096;

export function checkSmtp(spec: Pick<SmtpCheck, 'connectTimeoutMs' | 'bindto' | 'bindPort' | 'helo'>, target: CheckTarget): Promise<CheckResult> {
  // What each reply must be, and what is sent after it.
  const steps: Array<{ what: string; code: number | null; then: string | null }> = [
    { what: 'greeting', code: 220, then: `HELO ${spec.helo}\r\n` },
    { what: 'HELO', code: 250, then: 'QUIT\r\n' },
    { what: 'QUIT', code: null, then: null },
  ];
  return tcpSession(spec, target, (s) => {
    let step = 0;
    let buf = '';
    s.arm(steps[0]!.what);
    s.sock.setEncoding('latin1');
    s.sock.on('data', (chunk: string) => {
      buf += chunk;
      if (buf.length > MAX_REPLY) return s.finish({ ok: false, reason: `${s.phase()}: reply longer than ${MAX_REPLY} bytes` });
      for (let nl = buf.indexOf('\n'); nl >= 0 && !s.done(); nl = buf.indexOf('\n')) {
        const line = buf.slice(0, nl).replace(/\r$/, '');
        buf = buf.slice(nl + 1);
        const m = /^(\d{3})([ -]|$)/.exec(line);
        const st = steps[step]!;
        if (m === null) return s.finish({ ok: false, reason: `${st.what}: not an SMTP reply: ${JSON.stringify(line.slice(0, 80))}` });
        if (m[2] === '-') continue; // more lines of the same reply
        if (st.code !== null && Number(m[1]) !== st.code) return s.finish({ ok: false, reason: `${st.what}: ${line.slice(0, 80)} (expected ${st.code})` });
        if (st.then === null) return s.finish({ ok: true, reason: `HELO ${spec.helo} accepted` });
        s.sock.write(st.then);
        step++;
        s.arm(steps[step]!.what);
      }
    });
  });
}
