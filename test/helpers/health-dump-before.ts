// The `health` parts of a config dump as they were written until 2026-12-06: through objects
// (a mapping per checker, url and script) and the generic YAML writer (yaml-out.ts toYaml).
// Kept as the reference the byte writer (src/control/config-health.ts serviceHealthInto,
// serverHealthInto) is compared with, text for text (config-health.test.ts): not used by uvsd.
import type { Fwd } from '../../src/control/protocol.js';
import { toYaml } from '../../src/control/yaml-out.js';
import { HEALTH_DEFAULTS } from '../../src/control/config-health.js';
import type { CheckSpec, CheckerType, NotifyScript, RealServerSpec, VirtualServerSpec } from '../../src/health/types.js';
import { BFD_DEFAULTS } from '../../src/health/bfd.js';
import { retryDefaults, SMTP_DEFAULT_HELO } from '../../src/health/keepalived.js';

const TYPE_NAMES: Record<CheckerType, string> = {
  TCP_CHECK: 'tcp', HTTP_GET: 'http_get', SSL_GET: 'ssl_get', UDP_CHECK: 'udp', PING_CHECK: 'ping', MISC_CHECK: 'misc', DNS_CHECK: 'dns', SMTP_CHECK: 'smtp',
  FILE_CHECK: 'file', BFD_CHECK: 'bfd',
};
const BFD_FIELDS = { neighbor: 'neighbor', source: 'source', 'min-rx': 'minRxMs', 'min-tx': 'minTxMs', 'idle-tx': 'idleTxMs', multiplier: 'multiplier' } as const;
const TLS_KEYS = ['certificate', 'key', 'password', 'ca'] as const;

/** A notify or quorum command as notifyScript reads it: the line alone when it runs as uvsd's user. */
function dumpScript(s: NotifyScript): unknown {
  const { command, user } = s;
  return user === undefined ? command : { command, user: user.name, ...(user.group !== undefined ? { group: user.group } : {}) };
}

const sec = (ms: number): number => ms / 1000;

function dumpChecker(c: CheckSpec): Record<string, unknown> {
  const o: Record<string, unknown> = { type: TYPE_NAMES[c.type] };
  if (c.type === 'BFD_CHECK') {
    for (const [k, p] of Object.entries(BFD_FIELDS)) {
      const v = c.bfd[p];
      if (v !== undefined && (p === 'neighbor' || p === 'source' || v !== BFD_DEFAULTS[p])) o[k] = v;
    }
    return o;
  }
  if (c.type === 'FILE_CHECK') {
    return {
      ...o, file: c.path, ...(c.weight !== 0 ? { weight: c.weight } : {}), ...(c.reverse ? { reverse: true } : {}),
      ...(c.init !== undefined ? { 'init-file': c.init.value, ...(c.init.overwrite ? { 'init-overwrite': true } : {}) } : {}),
    };
  }
  const D = HEALTH_DEFAULTS;
  if (c.delayLoopMs !== D.delayLoopMs) o['delay-loop'] = sec(c.delayLoopMs);
  if (c.connectTimeoutMs !== D.connectTimeoutMs) o['connect-timeout'] = sec(c.connectTimeoutMs);
  const def = retryDefaults(c.type, c.delayLoopMs);
  if (c.retry !== def.retry) o.retry = c.retry;
  if (c.delayBeforeRetryMs !== def.delayBeforeRetryMs) o['delay-before-retry'] = sec(c.delayBeforeRetryMs);
  if (c.rise !== D.rise) o.rise = c.rise;
  if (c.fall !== D.fall) o.fall = c.fall;
  if (c.warmupMs !== undefined) o.warmup = sec(c.warmupMs);
  if (c.connectIp !== undefined) o['connect-ip'] = c.connectIp;
  if (c.connectPort !== undefined) o['connect-port'] = c.connectPort;
  if (c.bindto !== undefined) o.bindto = c.bindto;
  if (c.bindPort !== undefined) o['bind-port'] = c.bindPort;
  switch (c.type) {
    case 'HTTP_GET':
    case 'SSL_GET':
      if (c.virtualhost !== undefined) o.virtualhost = c.virtualhost;
      if (c.enableSni) o['enable-sni'] = true;
      for (const k of TLS_KEYS) if (c.tls?.[k] !== undefined) o[k] = c.tls[k];
      o.url = c.urls.map((u) => {
        const x: Record<string, unknown> = { path: u.path };
        if (u.status) x['status-code'] = u.status.map(([lo, hi]) => (lo === hi ? lo : `${lo}-${hi}`));
        if (u.digest !== undefined) x.digest = u.digest;
        if (u.regex !== undefined) x.regex = u.regex;
        if (u.regexOptions !== undefined) x['regex-options'] = u.regexOptions;
        if (u.regexNoMatch === true) x['regex-no-match'] = true;
        if (u.regexMinOffset !== undefined) x['regex-min-offset'] = u.regexMinOffset;
        if (u.regexMaxOffset !== undefined) x['regex-max-offset'] = u.regexMaxOffset;
        if (u.contains !== undefined) x.contains = u.contains;
        if (u.virtualhost !== undefined) x.virtualhost = u.virtualhost;
        return x;
      });
      break;
    case 'UDP_CHECK':
      if (c.payload !== undefined) o.payload = c.payload.toString('hex');
      if (c.replyPrefix !== undefined) o['require-reply'] = c.replyPrefix.toString('hex');
      else if (c.requireReply) o['require-reply'] = true;
      if (c.minReplyLength !== undefined) o['min-reply-length'] = c.minReplyLength;
      if (c.maxReplyLength !== undefined) o['max-reply-length'] = c.maxReplyLength;
      break;
    case 'MISC_CHECK':
      o['misc-path'] = c.command;
      o['misc-timeout'] = sec(c.timeoutMs);
      if (c.dynamic) o['misc-dynamic'] = true;
      if (c.user !== undefined) o['misc-user'] = c.user.name;
      if (c.user?.group !== undefined) o['misc-group'] = c.user.group;
      break;
    case 'DNS_CHECK':
      if (c.queryType !== 'SOA') o['dns-type'] = c.queryType;
      if (c.queryName !== '.') o['dns-name'] = c.queryName;
      break;
    case 'SMTP_CHECK':
      if (c.helo !== SMTP_DEFAULT_HELO) o['helo-name'] = c.helo;
      break;
    default:
  }
  return o;
}

/** The service-level `health` mapping (undefined when every value is a default). */
function dumpServiceHealth(vs: VirtualServerSpec, serviceSorryFwd: Fwd | undefined): Record<string, unknown> | undefined {
  const o: Record<string, unknown> = {};
  if (vs.delayLoopMs !== HEALTH_DEFAULTS.delayLoopMs) o['delay-loop'] = sec(vs.delayLoopMs);
  if (vs.sorryServer) {
    const s: Record<string, unknown> = { address: vs.sorryServer.addr, port: vs.sorryServer.port };
    if (serviceSorryFwd !== undefined) s.method = serviceSorryFwd;
    if (vs.sorryServer.inhibit === true) s.inhibit = true;
    o['sorry-server'] = s;
  }
  if (vs.quorum !== 1) o.quorum = vs.quorum;
  if (vs.hysteresis !== 0) o.hysteresis = vs.hysteresis;
  if (vs.quorumUp !== undefined) o['quorum-up'] = dumpScript(vs.quorumUp);
  if (vs.quorumDown !== undefined) o['quorum-down'] = dumpScript(vs.quorumDown);
  if (vs.alpha) o.alpha = true;
  if (vs.omega) o.omega = true;
  if (vs.haSuspend === true) o['ha-suspend'] = true;
  return Object.keys(o).length > 0 ? o : undefined;
}

/** A server's `health` mapping: its own checks written out in full (undefined: nothing to say). */
function dumpServerHealth(rs: RealServerSpec): Record<string, unknown> | undefined {
  const o: Record<string, unknown> = {};
  if (rs.inhibitOnFailure) o['inhibit-on-failure'] = true;
  if (rs.alpha !== undefined) o.alpha = rs.alpha;
  if (rs.notifyUp !== undefined) o['notify-up'] = dumpScript(rs.notifyUp);
  if (rs.notifyDown !== undefined) o['notify-down'] = dumpScript(rs.notifyDown);
  o.checks = rs.checkers.map(dumpChecker);
  return o;
}

/** `health: h` as toYaml writes it inside a mapping whose keys are at `indent` (as yaml-out.ts entryYaml wrote it). */
const healthAt = (h: Record<string, unknown>, indent: string): string => toYaml({ health: h }).replace(/^(?=.)/gm, indent);

/** The service's `health` lines (indent 4) as the dump wrote them before: '' when every value is a default. */
export function serviceHealthBefore(vs: VirtualServerSpec, serviceSorryFwd: Fwd | undefined): string {
  const h = dumpServiceHealth(vs, serviceSorryFwd);
  return h === undefined ? '' : healthAt(h, '    ');
}

/** A server's `health` lines (indent 8) as the dump wrote them before. */
export function serverHealthBefore(rs: RealServerSpec): string {
  return healthAt(dumpServerHealth(rs)!, '        ');
}
