// Health checks in the YAML config file (docs/config.md "Health checks"): keepalived's checkers
// and virtual/real-server parameters with the file's spelling (dashes, seconds), read into the
// same HealthConfig types the keepalived.conf parser produces (src/health/types.ts: types
// and constants only, so control does not load health code), and written back for --dump-config.

import type { Node as YamlNode } from 'yaml';
import { yaml } from './yaml-lazy.js';
import type { Fwd, Proto, TunOptions } from './protocol.js';
import { destPort, printableWord, takesServicePort } from './protocol.js';
import { DNS_TYPES, type CheckSpec, type CheckerType, type HttpUrl, type NotifyScript, type RealServerSpec, type ScriptUser, type TlsClient, type VirtualServerSpec } from '../health/types.js';
import { fileCheckSpec } from '../health/checkers/file.js';
import { bfdCheckSpec } from '../health/checkers/bfd.js';
import { BFD_DEFAULTS, type BfdParams } from '../health/bfd.js';
import { tlsFilesProblem } from '../health/checkers/http.js';
import { lookupScriptUser } from '../health/exec.js';
import { bodyRegex, MAX_REGEX_OFFSET, regexOptionProblem } from '../health/regex.js';
import { checkerRetry, dnsNameProblem, dnsType, retryDefaults, SMTP_DEFAULT_HELO, sorryAlsoServer, type Inherited } from '../health/keepalived.js';

/** One YAML value with where it is: the parse helpers of config.ts work on these. */
export interface Field {
  node: YamlNode | null;
  line: number;
  path: string;
}

/** config.ts's shape checks, handed over so both files fail the same way. */
export interface FieldHelpers {
  file: string;
  fail(line: number, field: string, problem: string): never;
  mapFields(f: Field, allowed: string[]): Map<string, Field>;
  str(f: Field): string;
  int(f: Field, min: number, max: number): number;
  bool(f: Field): boolean;
  list(f: Field): Field[];
  show(f: Field): string;
  ip(f: Field): string;
  /** A command line (misc-path, notify-*, quorum-*): one that could not run now is warned about,
   *  `outcome` saying what that means. */
  command(f: Field, outcome: string): string;
  /**
   * May the script `command` at f run as `user` (none: uvsd's user)? false when
   * daemon.enable-script-security refuses it (no user, or root's and changeable by another user),
   * warned about with `leftOut` (what that means) and `userHint` (how to give it a user); an
   * insecure one without the setting goes into the file's one SECURITY VIOLATION warning.
   */
  script(f: Field, command: string, user: ScriptUser | undefined, leftOut: string, userHint: string): boolean;
}


/**
 * keepalived's defaults (REFERENCE.md): delay_loop 60 s, connect_timeout 5 s; retry and
 * delay_before_retry depend on the checker type (retryDefaults in health/keepalived.ts).
 */
export const HEALTH_DEFAULTS: Readonly<Inherited> = { delayLoopMs: 60_000, connectTimeoutMs: 5000, rise: 1, fall: 1, inhibitOnFailure: false };

/** What a notify or quorum command that cannot run means (the keepalived.conf reader says the same). */
const SCRIPT_FAILS = 'it will fail when it is run';

const COMMON = ['delay-loop', 'connect-timeout', 'retry', 'delay-before-retry', 'rise', 'fall', 'warmup'];
const SERVICE_HEALTH_KEYS = [...COMMON, 'inhibit-on-failure', 'virtualhost', 'checks', 'sorry-server', 'quorum', 'hysteresis', 'quorum-up', 'quorum-down', 'alpha', 'omega', 'ha-suspend'];
const SERVER_HEALTH_KEYS = [...COMMON, 'inhibit-on-failure', 'virtualhost', 'checks', 'notify-up', 'notify-down', 'alpha'];
const CHECK_TYPES: Record<string, CheckerType> = {
  tcp: 'TCP_CHECK', http_get: 'HTTP_GET', ssl_get: 'SSL_GET', udp: 'UDP_CHECK', ping: 'PING_CHECK', misc: 'MISC_CHECK', dns: 'DNS_CHECK', smtp: 'SMTP_CHECK',
  file: 'FILE_CHECK', bfd: 'BFD_CHECK',
};
const TYPE_NAMES = Object.fromEntries(Object.entries(CHECK_TYPES).map(([k, v]) => [v, k])) as Record<CheckerType, string>;
const CHECK_COMMON_KEYS = ['type', ...COMMON, 'connect-ip', 'connect-port', 'bindto'];
/** A bfd check's fields (keepalived's bfd_instance keywords) and its parameters' names. */
const BFD_FIELDS = { neighbor: 'neighbor', source: 'source', 'min-rx': 'minRxMs', 'min-tx': 'minTxMs', 'idle-tx': 'idleTxMs', multiplier: 'multiplier' } as const;
const BFD_KEYS = Object.keys(BFD_FIELDS);
/** The checkers with a source port (keepalived's bind_port): all but ping and misc. */
const PORT_KEYS = [...CHECK_COMMON_KEYS, 'bind-port'];
const HTTP_KEYS = [...PORT_KEYS, 'url', 'virtualhost'];
/** keepalived's SSL block, as fields of an ssl_get check. */
const TLS_KEYS = ['certificate', 'key', 'password', 'ca'] as const;
const CHECK_KEYS: Record<CheckerType, string[]> = {
  TCP_CHECK: PORT_KEYS,
  PING_CHECK: CHECK_COMMON_KEYS,
  HTTP_GET: HTTP_KEYS,
  SSL_GET: [...HTTP_KEYS, 'enable-sni', ...TLS_KEYS],
  UDP_CHECK: [...PORT_KEYS, 'payload', 'require-reply', 'min-reply-length', 'max-reply-length'],
  MISC_CHECK: [...CHECK_COMMON_KEYS, 'misc-path', 'misc-timeout', 'misc-dynamic', 'misc-user', 'misc-group'],
  DNS_CHECK: [...PORT_KEYS, 'dns-type', 'dns-name'],
  SMTP_CHECK: [...PORT_KEYS, 'helo-name'],
  // keepalived's track_file and FILE_CHECK in one: read every second, applied at once.
  FILE_CHECK: ['type', 'file', 'weight', 'reverse', 'init-file', 'init-overwrite'],
  // keepalived's bfd_instance and BFD_CHECK in one: the session's own timers decide.
  BFD_CHECK: ['type', ...BFD_KEYS],
};
const ALL_CHECK_KEYS = [...new Set(Object.values(CHECK_KEYS).flat())];
const REGEX_KEYS = ['regex-options', 'regex-no-match', 'regex-min-offset', 'regex-max-offset'];
const URL_KEYS = ['path', 'status-code', 'digest', 'regex', ...REGEX_KEYS, 'contains', 'virtualhost'];

/** Seconds (decimals allowed, like keepalived's 0.5) to ms. */
function seconds(h: FieldHelpers, f: Field, minMs: number): number {
  const v = yaml().isScalar(f.node) ? f.node.value : undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || v * 1000 < minMs || v > 86400 * 365) {
    h.fail(f.line, f.path, `must be a number of seconds${minMs > 0 ? ` >= ${minMs / 1000}` : ' >= 0'}, got ${h.show(f)}`);
  }
  return Math.round(v * 1000);
}

function hexBytes(h: FieldHelpers, f: Field): Buffer {
  const v = h.str(f).replace(/^0x/i, '');
  if (!/^([0-9a-fA-F]{2})+$/.test(v)) h.fail(f.line, f.path, `must be hex bytes, got ${h.show(f)}`);
  return Buffer.from(v, 'hex');
}

/**
 * misc-user [misc-group] (keepalived's MISC_CHECK `user USER [GROUP]`), a notify or quorum
 * command's user [group] (userKey: the user field's name): the names, looked up now; none: uvsd's user.
 */
function scriptUser(h: FieldHelpers, uf: Field | undefined, gf: Field | undefined, userKey: string): { user?: ScriptUser } {
  if (uf === undefined) {
    if (gf !== undefined) h.fail(gf.line, gf.path, `needs ${userKey} (the group goes with a user)`);
    return {};
  }
  const user = lookupScriptUser(h.str(uf), gf === undefined ? undefined : h.str(gf));
  if (typeof user === 'string') {
    const at = gf !== undefined && user.startsWith('no group') ? gf : uf;
    h.fail(at.line, at.path, user);
  }
  return { user };
}

/**
 * notify-up, notify-down, quorum-up, quorum-down: a command line, or `{ command, user, group }`
 * (keepalived's `notify_up "LINE" USER [GROUP]`: run as that user); a line alone runs as uvsd's user.
 */
function notifyScript(h: FieldHelpers, f: Field): NotifyScript | undefined {
  let s: NotifyScript;
  if (!yaml().isMap(f.node)) s = { command: h.command(f, SCRIPT_FAILS) };
  else {
    const m = h.mapFields(f, ['command', 'user', 'group']);
    const cf = m.get('command') ?? h.fail(f.line, `${f.path}.command`, 'missing');
    s = { command: h.command(cf, SCRIPT_FAILS), ...scriptUser(h, m.get('user'), m.get('group'), 'user') };
  }
  return h.script(f, s.command, s.user, 'it is not run (keepalived drops it too)', 'write it as { command, user }') ? s : undefined;
}

/** A notify or quorum command as notifyScript reads it: the line alone when it runs as uvsd's user. */
function dumpScript(s: NotifyScript): unknown {
  const { command, user } = s;
  return user === undefined ? command : { command, user: user.name, ...(user.group !== undefined ? { group: user.group } : {}) };
}

/** Apply the inheritable keys present in m to d. */
function inherit(h: FieldHelpers, m: Map<string, Field>, d: Inherited): void {
  const g = (k: string) => m.get(k);
  if (g('delay-loop')) d.delayLoopMs = seconds(h, g('delay-loop')!, 10);
  if (g('connect-timeout')) d.connectTimeoutMs = seconds(h, g('connect-timeout')!, 1);
  if (g('retry')) d.retry = h.int(g('retry')!, 0, 1000);
  if (g('delay-before-retry')) d.delayBeforeRetryMs = seconds(h, g('delay-before-retry')!, 0);
  if (g('rise')) d.rise = h.int(g('rise')!, 1, 1000);
  if (g('fall')) d.fall = h.int(g('fall')!, 1, 1000);
  if (g('warmup')) d.warmupMs = seconds(h, g('warmup')!, 0);
  if (g('inhibit-on-failure')) d.inhibitOnFailure = h.bool(g('inhibit-on-failure')!);
  if (g('virtualhost')) d.virtualhost = h.str(g('virtualhost')!);
}

function statusRange(h: FieldHelpers, f: Field): [number, number] {
  const v = yaml().isScalar(f.node) ? String(f.node.value) : '';
  const m = /^(\d{3})(?:-(\d{3}))?$/.exec(v);
  const lo = m ? Number(m[1]) : 0;
  const hi = m ? Number(m[2] ?? m[1]) : 0;
  if (!m || lo < 100 || hi > 599 || lo > hi) h.fail(f.line, f.path, `must be a status or a range like 301-302 (100-599), got ${h.show(f)}`);
  return [lo, hi];
}

/** keepalived's regex_options, regex_no_match, regex_min_offset and regex_max_offset. */
function regexParams(h: FieldHelpers, m: Map<string, Field>): Pick<HttpUrl, 'regexOptions' | 'regexNoMatch' | 'regexMinOffset' | 'regexMaxOffset'> {
  const out: ReturnType<typeof regexParams> = {};
  const ro = m.get('regex-options');
  if (ro) {
    const words = yaml().isScalar(ro.node) ? h.str(ro).split(/\s+/).filter((w) => w !== '') : h.list(ro).map((x) => h.str(x));
    for (const w of words) {
      const bad = regexOptionProblem(w);
      if (bad !== undefined) h.fail(ro.line, ro.path, `${w}: ${bad.problem}`);
    }
    out.regexOptions = words;
  }
  if (m.get('regex-no-match') && h.bool(m.get('regex-no-match')!)) out.regexNoMatch = true;
  const min = m.get('regex-min-offset');
  const max = m.get('regex-max-offset');
  if (min) out.regexMinOffset = h.int(min, 0, MAX_REGEX_OFFSET);
  if (max) out.regexMaxOffset = h.int(max, out.regexMinOffset ?? 0, MAX_REGEX_OFFSET);
  return out;
}

function url(h: FieldHelpers, f: Field): HttpUrl {
  const m = h.mapFields(f, URL_KEYS);
  const pf = m.get('path') ?? h.fail(f.line, `${f.path}.path`, 'missing');
  const path = h.str(pf);
  if (!path.startsWith('/')) h.fail(pf.line, pf.path, `must start with /, got ${h.show(pf)}`);
  const u: HttpUrl = { path };
  const sc = m.get('status-code');
  if (sc) u.status = (yaml().isScalar(sc.node) ? [sc] : h.list(sc)).map((x) => statusRange(h, x));
  const dg = m.get('digest');
  if (dg) {
    const v = h.str(dg);
    if (!/^[0-9a-fA-F]{32}$/.test(v)) h.fail(dg.line, dg.path, `must be an MD5 digest (32 hex digits), got ${h.show(dg)}`);
    u.digest = v.toLowerCase();
  }
  const re = m.get('regex');
  if (re) {
    u.regex = h.str(re);
    Object.assign(u, regexParams(h, m));
    try {
      bodyRegex(u);
    } catch (e) {
      h.fail(re.line, re.path, (e as Error).message);
    }
  } else {
    const k = REGEX_KEYS.find((x) => m.has(x));
    if (k !== undefined) h.fail(m.get(k)!.line, m.get(k)!.path, 'needs regex');
  }
  if (m.get('contains')) u.contains = h.str(m.get('contains')!);
  if (m.get('virtualhost')) u.virtualhost = h.str(m.get('virtualhost')!);
  return u;
}

function checker(h: FieldHelpers, f: Field, parent: Inherited): CheckSpec | undefined {
  const m = h.mapFields(f, ALL_CHECK_KEYS);
  const tf = m.get('type') ?? h.fail(f.line, `${f.path}.type`, `missing (one of ${Object.keys(CHECK_TYPES).join(', ')})`);
  const typeName = h.str(tf);
  const type = CHECK_TYPES[typeName] ?? h.fail(tf.line, tf.path, `must be one of ${Object.keys(CHECK_TYPES).join(', ')}, got "${typeName}"`);
  for (const [k, v] of m) if (!CHECK_KEYS[type].includes(k)) h.fail(v.line, v.path, `not a field of ${typeName} checks (known: ${CHECK_KEYS[type].join(', ')})`);
  const d: Inherited = { ...parent };
  inherit(h, m, d);
  const g = (k: string) => m.get(k);
  const common = {
    origin: { file: h.file, line: f.line },
    connectIp: g('connect-ip') ? h.ip(g('connect-ip')!) : undefined,
    connectPort: g('connect-port') ? h.int(g('connect-port')!, 1, 65535) : undefined,
    bindto: g('bindto') ? h.ip(g('bindto')!) : undefined,
    ...(g('bind-port') ? { bindPort: h.int(g('bind-port')!, 1, 65535) } : {}),
    connectTimeoutMs: d.connectTimeoutMs, delayLoopMs: d.delayLoopMs,
    ...checkerRetry(d, type), rise: d.rise, fall: d.fall, ...(d.warmupMs !== undefined ? { warmupMs: d.warmupMs } : {}),
  };
  switch (type) {
    case 'FILE_CHECK': {
      const ff = g('file') ?? h.fail(f.line, `${f.path}.file`, 'missing: file checks need the file to read');
      const path = h.str(ff);
      if (path === '') h.fail(ff.line, ff.path, 'must be a path, got ""');
      return fileCheckSpec({
        origin: common.origin, trackFile: path, path,
        weight: g('weight') ? h.int(g('weight')!, -2147483647, 2147483647) : 0, reverse: g('reverse') ? h.bool(g('reverse')!) : false,
        init: g('init-file') ? { value: h.int(g('init-file')!, -254, 254), overwrite: g('init-overwrite') ? h.bool(g('init-overwrite')!) : false } : undefined,
      });
    }
    case 'BFD_CHECK': {
      const nf = g('neighbor') ?? h.fail(f.line, `${f.path}.neighbor`, 'missing: bfd checks need the neighbour\'s address');
      const ms = (k: 'min-rx' | 'min-tx' | 'idle-tx', def: number): number => (g(k) ? h.int(g(k)!, 1, 60000) : def);
      const bfd: BfdParams = {
        neighbor: h.ip(nf), ...(g('source') ? { source: h.ip(g('source')!) } : {}),
        minRxMs: ms('min-rx', BFD_DEFAULTS.minRxMs), minTxMs: ms('min-tx', BFD_DEFAULTS.minTxMs), idleTxMs: ms('idle-tx', BFD_DEFAULTS.idleTxMs),
        multiplier: g('multiplier') ? h.int(g('multiplier')!, 1, 255) : BFD_DEFAULTS.multiplier,
      };
      return bfdCheckSpec({ origin: common.origin, instance: `bfd ${bfd.neighbor}`, bfd });
    }
    case 'TCP_CHECK': return { ...common, type };
    case 'PING_CHECK': return { ...common, type };
    case 'HTTP_GET':
    case 'SSL_GET': {
      const uf = g('url') ?? h.fail(f.line, `${f.path}.url`, `missing: ${typeName} needs at least one url { path }`);
      const urls = (yaml().isMap(uf.node) ? [uf] : h.list(uf)).map((x) => url(h, x));
      if (urls.length === 0) h.fail(uf.line, uf.path, 'needs at least one url { path }');
      const sni = type === 'SSL_GET' ? { enableSni: g('enable-sni') ? h.bool(g('enable-sni')!) : false, ...clientTls(h, f, m) } : {};
      return { ...common, type, urls, virtualhost: d.virtualhost, ...sni };
    }
    case 'UDP_CHECK': {
      const rr = g('require-reply');
      let requireReply = false;
      let replyPrefix: Buffer | undefined;
      if (rr) {
        if (yaml().isScalar(rr.node) && typeof rr.node.value === 'boolean') requireReply = rr.node.value;
        else {
          requireReply = true;
          replyPrefix = hexBytes(h, rr);
        }
      }
      return {
        ...common, type, requireReply, replyPrefix,
        payload: g('payload') ? hexBytes(h, g('payload')!) : undefined,
        minReplyLength: g('min-reply-length') ? h.int(g('min-reply-length')!, 0, 65535) : undefined,
        maxReplyLength: g('max-reply-length') ? h.int(g('max-reply-length')!, 0, 65535) : undefined,
      };
    }
    case 'MISC_CHECK': {
      const mp = g('misc-path') ?? h.fail(f.line, `${f.path}.misc-path`, 'missing: misc checks need misc-path');
      const command = h.command(mp, 'the check fails (its real server down) until it can run');
      const user = scriptUser(h, g('misc-user'), g('misc-group'), 'misc-user');
      const misc = {
        ...common, type, command,
        timeoutMs: g('misc-timeout') ? seconds(h, g('misc-timeout')!, 1) : d.delayLoopMs,
        dynamic: g('misc-dynamic') ? h.bool(g('misc-dynamic')!) : false,
        ...user,
      };
      return h.script(mp, command, user.user, 'the misc check is left out, as keepalived disables it (its server goes by its other checks)', 'give the check a misc-user') ? misc : undefined;
    }
    case 'DNS_CHECK': {
      const tf2 = g('dns-type');
      const queryType = tf2 ? (dnsType(h.str(tf2)) ?? h.fail(tf2.line, tf2.path, `must be one of ${Object.keys(DNS_TYPES).join(', ')}, got ${h.show(tf2)}`)) : 'SOA';
      const nf = g('dns-name');
      const queryName = nf ? h.str(nf) : '.';
      const bad = dnsNameProblem(queryName);
      if (nf && bad !== null) h.fail(nf.line, nf.path, `${h.show(nf)} ${bad}`);
      return { ...common, type, queryType, queryName };
    }
    case 'SMTP_CHECK': {
      const hf = g('helo-name');
      const helo = hf ? h.str(hf) : SMTP_DEFAULT_HELO;
      if (!printableWord(helo)) h.fail(hf!.line, hf!.path, `must be one printable word, got ${h.show(hf!)}`);
      return { ...common, type, helo };
    }
  }
}

/** ssl_get's certificate, key, password and ca (keepalived's SSL block, per check here); the files must be readable. */
function clientTls(h: FieldHelpers, f: Field, m: Map<string, Field>): { tls?: TlsClient } {
  const t: TlsClient = { origin: { file: h.file, line: f.line } };
  for (const k of TLS_KEYS) {
    const v = m.get(k);
    if (v !== undefined) t[k] = h.str(v);
  }
  if (Object.keys(t).length === 1) return {};
  if ((t.certificate === undefined) !== (t.key === undefined)) h.fail(f.line, f.path, 'certificate and key go together');
  const problem = tlsFilesProblem(t);
  if (problem !== undefined) h.fail(f.line, f.path, problem);
  return { tls: t };
}

function checks(h: FieldHelpers, f: Field, d: Inherited): CheckSpec[] {
  return h.list(f).flatMap((x) => checker(h, x, d) ?? []);
}

export interface ServerForHealth {
  addr: string;
  port: number;
  weight: number;
  fwd: Fwd;
  upper: number;
  lower: number;
  /** A TUN server's tunnel. */
  tun?: TunOptions;
  health: Field | undefined;
  line: number;
}

/**
 * The health part of one service: `health` at the service (defaults for its servers and the
 * virtual server's own settings) and at each server. undefined when neither has any.
 */
export function parseServiceHealth(
  h: FieldHelpers, svc: { proto: Proto; addr: string; port: number; fwmark?: number; sched: string; line: number }, health: Field | undefined, servers: ServerForHealth[],
): VirtualServerSpec | undefined {
  if (health === undefined && servers.every((s) => s.health === undefined)) return undefined;
  const d: Inherited = { ...HEALTH_DEFAULTS };
  const vs: VirtualServerSpec = {
    proto: svc.proto, addr: svc.addr, port: svc.port, ...(svc.fwmark !== undefined ? { fwmark: svc.fwmark } : {}), sched: svc.sched, fwd: servers[0]?.fwd ?? 'dr', persistence: 0,
    delayLoopMs: d.delayLoopMs, quorum: 1, hysteresis: 0, alpha: false, omega: false, realServers: [], origin: { file: h.file, line: svc.line },
  };
  let defaults: CheckSpec[] | undefined;
  let defaultsField: Field | undefined;
  let sorryInhibit: Field | undefined;
  if (health !== undefined) {
    const m = h.mapFields(health, SERVICE_HEALTH_KEYS);
    inherit(h, m, d);
    vs.delayLoopMs = d.delayLoopMs;
    const g = (k: string) => m.get(k);
    if (g('quorum')) vs.quorum = h.int(g('quorum')!, 1, 2147483647);
    if (g('hysteresis')) vs.hysteresis = h.int(g('hysteresis')!, 0, 2147483647);
    if (g('quorum-up')) vs.quorumUp = notifyScript(h, g('quorum-up')!);
    if (g('quorum-down')) vs.quorumDown = notifyScript(h, g('quorum-down')!);
    if (g('alpha')) vs.alpha = h.bool(g('alpha')!);
    if (g('omega')) vs.omega = h.bool(g('omega')!);
    if (g('ha-suspend') && h.bool(g('ha-suspend')!)) vs.haSuspend = true;
    const sf = g('sorry-server');
    if (sf) {
      const sm = h.mapFields(sf, ['address', 'port', 'method', 'inhibit']);
      const addr = h.ip(sm.get('address') ?? h.fail(sf.line, `${sf.path}.address`, 'missing'));
      vs.sorryServer = { addr, port: destPort(sm.get('port') ? h.int(sm.get('port')!, 0, 65535) : undefined, svc.port), origin: { file: h.file, line: sf.line } };
      sorryInhibit = sm.get('inhibit');
      if (sorryInhibit && h.bool(sorryInhibit)) vs.sorryServer.inhibit = true;
      if (sm.get('method')) {
        const mt = h.str(sm.get('method')!);
        const fwd = ({ dr: 'dr', route: 'dr', nat: 'nat', masq: 'nat', tun: 'tun', tunnel: 'tun', fullnat: 'fullnat' } as Record<string, Fwd>)[mt];
        vs.fwd = fwd ?? h.fail(sm.get('method')!.line, sm.get('method')!.path, `must be one of dr, nat, tun, fullnat, got "${mt}"`);
      }
      // DR and TUN servers take the service's port, as the service's own servers do (config.ts).
      if (takesServicePort(vs.fwd, svc.fwmark)) vs.sorryServer.port = svc.port;
    }
    defaultsField = g('checks');
  }
  // Checkers inherit what is given at the service and at the server, whatever the order of keys.
  if (defaultsField !== undefined) defaults = checks(h, defaultsField, d);
  for (const s of servers) {
    const rd: Inherited = { ...d };
    const rs: RealServerSpec = {
      addr: s.addr, port: s.port, weight: s.weight, inhibitOnFailure: d.inhibitOnFailure, checkers: [], origin: { file: h.file, line: s.line },
      fwd: s.fwd, upper: s.upper, lower: s.lower, ...(s.tun !== undefined ? { tun: s.tun } : {}),
    };
    let own: Field | undefined;
    if (s.health !== undefined) {
      const m = h.mapFields(s.health, SERVER_HEALTH_KEYS);
      inherit(h, m, rd);
      rs.inhibitOnFailure = rd.inhibitOnFailure;
      if (m.get('alpha') && h.bool(m.get('alpha')!) !== vs.alpha) rs.alpha = h.bool(m.get('alpha')!);
      if (m.get('notify-up')) rs.notifyUp = notifyScript(h, m.get('notify-up')!);
      if (m.get('notify-down')) rs.notifyDown = notifyScript(h, m.get('notify-down')!);
      own = m.get('checks');
    }
    // A server's own checks replace the service's; the service's are read again with the
    // server's inherited parameters, so `delay-loop` at the server applies to them too.
    if (own !== undefined) rs.checkers = checks(h, own, rd);
    else if (defaultsField !== undefined) rs.checkers = s.health === undefined ? defaults!.map((c) => ({ ...c })) : checks(h, defaultsField, rd);
    vs.realServers.push(rs);
  }
  // A sorry server that is also one of the servers (sorryAlsoServer): its inhibit is the server's inhibit-on-failure.
  const dup = sorryAlsoServer(vs);
  if (dup !== undefined) {
    if (sorryInhibit !== undefined && h.bool(sorryInhibit) !== dup.inhibitOnFailure) {
      h.fail(sorryInhibit.line, sorryInhibit.path, `${dup.addr}:${dup.port} is also one of the service's servers: its inhibit is that server's inhibit-on-failure (${dup.inhibitOnFailure})`);
    }
    if (dup.inhibitOnFailure) vs.sorryServer!.inhibit = true;
  }
  return vs;
}

// ---- writing back (--dump-config) ------------------------------------------------------------

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
export function dumpServiceHealth(vs: VirtualServerSpec, serviceSorryFwd: Fwd | undefined): Record<string, unknown> | undefined {
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
export function dumpServerHealth(rs: RealServerSpec): Record<string, unknown> | undefined {
  const o: Record<string, unknown> = {};
  if (rs.inhibitOnFailure) o['inhibit-on-failure'] = true;
  if (rs.alpha !== undefined) o.alpha = rs.alpha;
  if (rs.notifyUp !== undefined) o['notify-up'] = dumpScript(rs.notifyUp);
  if (rs.notifyDown !== undefined) o['notify-down'] = dumpScript(rs.notifyDown);
  o.checks = rs.checkers.map(dumpChecker);
  return o;
}
