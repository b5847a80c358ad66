// One entry point for every checker type: run one attempt of `spec` against the real server.
import { PORT_CHECKERS, type CheckResult, type CheckSpec } from '../types.js';
import { checkDns } from './dns.js';
import { checkHttp, checkSsl } from './http.js';
import { checkFile } from './file.js';
import { checkMisc } from './misc.js';
import { checkPing, Pinger } from './ping.js';
import { checkSmtp } from './smtp.js';
import { checkTcp, flushTcp, startTcp } from './tcp.js';
import { checkUdp, UdpProber } from './udp.js';
import { checkBfd } from './bfd.js';
import { BfdHub } from '../bfd.js';

export { Pinger };

/** One check attempt against the real server. A check that goes on without holding anything (a
 *  socket, a process) calls `release` then: its slot is free for another (HealthManager).
 *  `direct`: the checks it can also start without a promise (DirectChecks). */
export type RunCheck = ((spec: CheckSpec, rs: { addr: string; port: number }, release?: () => void) => Promise<CheckResult>) & { direct?: DirectChecks };

/** Where a check started by DirectChecks gives its result: checkDone(token, result) for each (it
 *  must start no check), then checksEnded() once for those given together (it may start checks). */
export interface CheckSink {
  checkDone(token: object, r: CheckResult): void;
  checksEnded(): void;
}

/**
 * Checks started with no promise and no closure each (TCP_CHECK: tcp.ts startTcp): start() queues
 * one, flush() starts those queued (for TCP_CHECK one call into the addon for a turn's checks),
 * each result goes to the sink given. At 10,000 services x 4 every 3 s (13,333 checks a second) a
 * promise, its reactions and three closures per check were most of the health checker's own CPU.
 */
export interface DirectChecks {
  /** Queue spec's check against rs (token comes back with its result); false, nothing queued: run() it instead. */
  start(spec: CheckSpec, rs: { addr: string; port: number }, sink: CheckSink, token: object): boolean;
  /** Start the checks queued (their results to come; those that failed at once given now). */
  flush(): void;
}

/** A RunCheck on the host's own network stack (one shared ICMP socket for PING_CHECK and the
 *  ICMP errors of UDP_CHECK; BFD sessions on `bfd`, made at the first BFD_CHECK when not given:
 *  the caller closes it). */
export function hostChecks(pinger: Pinger, bfd?: BfdHub): RunCheck {
  const udp = new UdpProber(pinger);
  const run: RunCheck = (spec, rs, release) => {
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
  run.direct = {
    start: (spec, rs, sink, token) => {
      if (spec.type !== 'TCP_CHECK') return false;
      const port = spec.connectPort ?? rs.port;
      // Port 0: run() says why (above).
      return port !== 0 && startTcp(spec, spec.connectIp ?? rs.addr, port, sink, token);
    },
    flush: flushTcp,
  };
  return run;
}
