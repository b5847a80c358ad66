// One entry point for every checker type: run one attempt of `spec` against the real server.
import { PORT_CHECKERS, type CheckResult, type CheckSpec } from '../types.js';
import { checkDns } from './dns.js';
import { checkHttp, checkSsl } from './http.js';
import { checkFile } from './file.js';
import { checkMisc } from './misc.js';
import { checkPing, Pinger } from './ping.js';
import { checkSmtp } from './smtp.js';
import { checkTcp } from './tcp.js';
import { checkUdp, UdpProber } from './udp.js';
import { checkBfd } from './bfd.js';
import { BfdHub } from '../bfd.js';

export { Pinger };

/** One check attempt against the real server. A check that goes on without holding anything (a
 *  socket, a process) calls `release` then: its slot is free for another (HealthManager). */
export type RunCheck = (spec: CheckSpec, rs: { addr: string; port: number }, release?: () => void) => Promise<CheckResult>;

/** A RunCheck on the host's own network stack (one shared ICMP socket for PING_CHECK and the
 *  ICMP errors of UDP_CHECK; BFD sessions on `bfd`, made at the first BFD_CHECK when not given:
 *  the caller closes it). */
export function hostChecks(pinger: Pinger, bfd?: BfdHub): RunCheck {
  const udp = new UdpProber(pinger);
  return (spec, rs, release) => {
    const target = { ip: spec.connectIp ?? rs.addr, port: spec.connectPort ?? rs.port };
    // Port 0 (a -f service's server without connect_port): Node's http.get would go to 80 and
    // dgram would throw; a connect() to port 0 is refused, as keepalived's check finds it.
    if (target.port === 0 && PORT_CHECKERS.has(spec.type)) return Promise.resolve({ ok: false, reason: `${spec.type}: no port to check (port 0): give connect_port` });
    switch (spec.type) {
      case 'TCP_CHECK': return checkTcp(spec, target);
      case 'HTTP_GET': return checkHttp(spec, target);
      case 'SSL_GET': return checkSsl(spec, target);
      case 'UDP_CHECK': return checkUdp(spec, target, udp, release);
      case 'PING_CHECK': return checkPing(pinger, spec, target);
      case 'MISC_CHECK': return checkMisc(spec);
      case 'DNS_CHECK': return checkDns(spec, target);
      case 'SMTP_CHECK': return checkSmtp(spec, target);
      case 'FILE_CHECK': return checkFile(spec);
      case 'BFD_CHECK': return checkBfd(bfd ??= new BfdHub(), spec);
    }
  };
}
