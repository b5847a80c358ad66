// Health checks in the YAML config file (docs/config.md "Health checks"): keepalived's checkers
// and virtual/real-server parameters with the file's spelling (dashes, seconds), read into the
// same HealthConfig types the keepalived.conf parser produces (src/health/types.ts: types
// and constants only, so control does not load health code), and written back for --dump-config.

import type { Node as YamlNode } from 'yaml';
import { yaml } from './yaml-lazy.js';
import { scalar } from './yaml-out.js';
import type { ByteOut } from './dump-bytes.js';
import type { Fwd, Proto, TunOptions } from './protocol.js';
import { destPort, printableWord, takesServicePort, TUN_CSUMS, TUN_TYPES } from './protocol.js';
import { DNS_TYPES, type CheckSpec, type CheckerType, type HttpUrl, type NotifyScript, type RealServerSpec, type ScriptUser, type TlsClient, type VirtualServerSpec } from '../health/types.js';
import { fileCheckSpec } from '../health/checkers/file.js';
import { bfdCheckSpec } from '../health/checkers/bfd.js';
import { BFD_DEFAULTS, type BfdParams } from '../health/bfd.js';
import { tlsFilesProblem } from '../health/checkers/http.js';
import { lookupScriptUser } from '../health/exec.js';
import { bodyRegex, MAX_REGEX_OFFSET, regexOptionProblem } from '../health/regex.js';
import { checkerRetry, delayBeforeRetryDefault, dnsNameProblem, dnsType, hexDigits, retryDefault, SMTP_DEFAULT_HELO, sorryAlsoServer, type Inherited } from '../health/keepalived.js';

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
const CHECK_COMMON_KEYS = ['type', ...COMMON, 'connect-ip', 'connect-port', 'bindto', 'log-all-failures'];
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

/** The longest time a health field takes (keepalived's timers take as long). */
const MAX_SECONDS = 86400 * 365;

/** Seconds (decimals allowed, like keepalived's 0.5) to ms. */
function seconds(h: FieldHelpers, f: Field, minMs: number): number {
  const v = yaml().isScalar(f.node) ? f.node.value : undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || v * 1000 < minMs || v > MAX_SECONDS) {
    // The range, both ends: a value above a year was "must be ... >= 0.001, got 100000000".
    h.fail(f.line, f.path, `must be a number of seconds ${minMs / 1000}..${MAX_SECONDS} (365 days), got ${h.show(f)}`);
  }
  return Math.round(v * 1000);
}

function hexBytes(h: FieldHelpers, f: Field): Buffer {
  return hexMasked(h, f, false).bytes;
}

/**
 * Hex bytes, with wild also keepalived's x nibbles, which match anything (require-reply: mask has 0
 * bits there, undefined when there is none; written back by maskedHex).
 */
function hexMasked(h: FieldHelpers, f: Field, wild: boolean): { bytes: Buffer; mask?: Buffer } {
  const v = h.str(f).replace(/^0x/i, '');
  // Pairs of digits here (keepalived.conf's HEX_STR also takes words with an odd last digit).
  const r = /^(..)+$/.test(v) ? hexDigits([v], wild) : { bad: 0 };
  if ('bad' in r) h.fail(f.line, f.path, `must be hex bytes${wild ? ' (x: a nibble that matches anything)' : ''}, got ${h.show(f)}`);
  return r;
}

/** bytes as hex, an x for each nibble mask leaves out (hexMasked's form). */
function maskedHex(bytes: Buffer, mask: Buffer | undefined): string {
  const hex = bytes.toString('hex');
  if (mask === undefined) return hex;
  return [...hex].map((c, i) => (((mask[i >> 1]! >> (i % 2 === 0 ? 4 : 0)) & 0xf) === 0 ? 'x' : c)).join('');
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
    ...(g('log-all-failures') && h.bool(g('log-all-failures')!) ? { logAllFailures: true as const } : {}),
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
      let replyMask: Buffer | undefined;
      if (rr) {
        if (yaml().isScalar(rr.node) && typeof rr.node.value === 'boolean') requireReply = rr.node.value;
        else {
          requireReply = true;
          ({ bytes: replyPrefix, mask: replyMask } = hexMasked(h, rr, true));
        }
      }
      return {
        ...common, type, requireReply, replyPrefix, ...(replyMask !== undefined ? { replyMask } : {}),
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

/**
 * A secret's text (ssl_get's key password): a refusal names what the value is, never the value,
 * since it goes to the log (a reload's refusal line) and to uvsadm's stderr. Until 2026-12-07
 * `password: 987654321` (a YAML number) was refused as `..., got 987654321`.
 */
function secretStr(h: FieldHelpers, f: Field): string {
  const v = yaml().isScalar(f.node) ? f.node.value : undefined;
  if (typeof v === 'string' && v !== '') return v;
  const what = v === '' ? 'an empty string' : typeof v === 'number' ? 'a number (quote it: "...")' : typeof v === 'boolean' ? 'a boolean (quote it: "...")' :
    yaml().isSeq(f.node) ? 'a list' : yaml().isMap(f.node) ? 'a mapping' : 'nothing';
  return h.fail(f.line, f.path, `must be a non-empty string, got ${what} (the value is not shown: a secret)`);
}

/** A server's (or sorry server's) tunnel fields. */
export const TUN_KEYS = ['tun-type', 'tun-port', 'tun-csum'] as const;

/**
 * The tunnel of a server (`m`: its fields) of method `fwd`: for a TUN one the whole tunnel (ipip,
 * no port, nocsum by default, so that a reload puts back what a file leaves out), else none, its
 * tunnel fields refused (`whose`: who may have them, for the message).
 */
export function tunnelOf(h: FieldHelpers, m: Map<string, Field>, fwd: Fwd, whose: string): TunOptions | undefined {
  const [tf, pf, cf] = TUN_KEYS.map((k) => m.get(k));
  if (fwd !== 'tun') {
    const any = tf ?? pf ?? cf;
    if (any !== undefined) h.fail(any.line, any.path, `tunnel options are for ${whose}, this one is ${fwd}`);
    return undefined;
  }
  const pick = <T extends string>(f: Field, of: readonly T[]): T => of.find((t) => t === h.str(f)) ?? h.fail(f.line, f.path, `must be one of ${of.join(', ')}, got "${h.str(f)}"`);
  return { tunType: tf ? pick(tf, TUN_TYPES) : 'ipip', tunPort: pf ? h.int(pf, 1, 65535) : 0, tunCsum: cf ? pick(cf, TUN_CSUMS) : 'nocsum' };
}

/** ssl_get's certificate, key, password and ca (keepalived's SSL block, per check here); the files must be readable. */
function clientTls(h: FieldHelpers, f: Field, m: Map<string, Field>): { tls?: TlsClient } {
  const t: TlsClient = { origin: { file: h.file, line: f.line } };
  for (const k of TLS_KEYS) {
    const v = m.get(k);
    if (v !== undefined) t[k] = k === 'password' ? secretStr(h, v) : h.str(v);
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
    proto: svc.proto, addr: svc.addr, port: svc.port, ...(svc.fwmark !== undefined ? { fwmark: svc.fwmark } : {}), sched: svc.sched, fwd: servers[0]?.fwd ?? 'dr',
    // The sorry server's method when it gives none is the first server's, its tunnel included (a
    // TUN gue first server: gue at its port, not ipip), as keepalived's takes lb_kind's words.
    ...(servers[0]?.fwd === 'tun' && servers[0].tun !== undefined ? { tun: servers[0].tun } : {}), persistence: 0,
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
      const sm = h.mapFields(sf, ['address', 'port', 'method', 'inhibit', ...TUN_KEYS]);
      const addr = h.ip(sm.get('address') ?? h.fail(sf.line, `${sf.path}.address`, 'missing'));
      vs.sorryServer = { addr, port: destPort(sm.get('port') ? h.int(sm.get('port')!, 0, 65535) : undefined, svc.port), origin: { file: h.file, line: sf.line } };
      sorryInhibit = sm.get('inhibit');
      if (sorryInhibit && h.bool(sorryInhibit)) vs.sorryServer.inhibit = true;
      if (sm.get('method')) {
        delete vs.tun; // its own method: not the first server's tunnel
        const mt = h.str(sm.get('method')!);
        const fwd = ({ dr: 'dr', route: 'dr', nat: 'nat', masq: 'nat', tun: 'tun', tunnel: 'tun', fullnat: 'fullnat' } as Record<string, Fwd>)[mt];
        vs.fwd = fwd ?? h.fail(sm.get('method')!.line, sm.get('method')!.path, `must be one of dr, nat, tun, fullnat, got "${mt}"`);
      }
      // A TUN sorry server's tunnel (keepalived's sorry_server_lvs_method TUN type gue port N csum),
      // as a server's; where the method is (vs.fwd, vs.tun: sorryEntry), so that a dump of a
      // service whose sorry server takes its first server's tunnel reads back the same spec.
      if (TUN_KEYS.some((k) => sm.has(k))) vs.tun = tunnelOf(h, sm, vs.fwd, 'a method tun sorry server');
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

// ---- writing back (--dump-config, the state file) --------------------------------------------
// The `health` parts of a service's text written as bytes into the dump's ByteOut, the text
// yaml-out.ts's toYaml writes for the mappings they were made as until 2026-12-06 (a mapping per
// checker, url and script and the generic writer: ~12 KB of garbage per service of 4 checked
// servers, 8 collections in the state file's write after a reload of 10,000 of them). Keys and
// names of closed sets are ASCII as they are; numbers as String() writes them (digits for an
// integer); any other string through scalar() (quoted only where YAML needs it, as before).
// test/helpers/health-dump-before.ts keeps the old writer, compared with this one for every
// checker kind and option (config-health.test.ts).

/** Indents (spaces) of the dump's health lines, deepest: a url's status-code items (20). */
const INDENTS = Array.from({ length: 24 }, (_v, i) => ' '.repeat(i));
/** The same, their last two spaces a sequence item's dash ("- "): its mapping's first key. */
const DASHED = INDENTS.map((s) => (s.length < 2 ? s : `${s.slice(2)}- `));

/** `k:` at `ind` spaces (item: as the first key of a sequence item, after its dash). */
function key(o: ByteOut, ind: number, k: string, item = false): void {
  o.ascii((item ? DASHED : INDENTS)[ind]!);
  o.ascii(k);
  o.ascii(':');
}

/** A scalar item's dash of a sequence at `ind` spaces (a list under a key at ind - 2). */
function dash(o: ByteOut, ind: number): void {
  o.ascii(INDENTS[ind]!);
  o.ascii('- ');
}

/** `k: s` (s as scalar() writes it). */
function textLine(o: ByteOut, ind: number, k: string, s: string, item = false): void {
  key(o, ind, k, item);
  o.ascii(' ');
  o.str(scalar(s));
  o.ascii('\n');
}

/** `k: n` (as String(n)). */
function numLine(o: ByteOut, ind: number, k: string, n: number): void {
  key(o, ind, k);
  o.ascii(' ');
  o.int(n);
  o.ascii('\n');
}

/** `k: true` or `k: false`. */
function boolLine(o: ByteOut, ind: number, k: string, b: boolean): void {
  key(o, ind, k);
  o.ascii(b ? ' true\n' : ' false\n');
}

/** Seconds as the file gives them (ms / 1000, as String() writes it). */
function secLine(o: ByteOut, ind: number, k: string, ms: number): void {
  numLine(o, ind, k, ms / 1000);
}

/** A notify or quorum command as notifyScript reads it: the line alone when it runs as uvsd's user, else { command, user, group }. */
function scriptLine(o: ByteOut, ind: number, k: string, s: NotifyScript): void {
  const user = s.user;
  if (user === undefined) {
    textLine(o, ind, k, s.command);
    return;
  }
  key(o, ind, k);
  o.ascii('\n');
  textLine(o, ind + 2, 'command', s.command);
  textLine(o, ind + 2, 'user', user.name);
  if (user.group !== undefined) textLine(o, ind + 2, 'group', user.group);
}

/** A list of strings (regex-options) under `k:`, or `k: []`. */
function wordsLine(o: ByteOut, ind: number, k: string, words: readonly string[]): void {
  key(o, ind, k);
  if (words.length === 0) {
    o.ascii(' []\n');
    return;
  }
  o.ascii('\n');
  for (const w of words) {
    dash(o, ind + 2);
    o.str(scalar(w));
    o.ascii('\n');
  }
}

/** A url's mapping as a sequence item whose keys are at `ind`. */
function urlInto(o: ByteOut, ind: number, u: HttpUrl): void {
  textLine(o, ind, 'path', u.path, true);
  if (u.status) {
    key(o, ind, 'status-code');
    if (u.status.length === 0) o.ascii(' []\n');
    else {
      o.ascii('\n');
      for (const [lo, hi] of u.status) {
        // A range is the string "lo-hi", plain YAML.
        dash(o, ind + 2);
        o.int(lo);
        if (lo !== hi) {
          o.ascii('-');
          o.int(hi);
        }
        o.ascii('\n');
      }
    }
  }
  if (u.digest !== undefined) textLine(o, ind, 'digest', u.digest);
  if (u.regex !== undefined) textLine(o, ind, 'regex', u.regex);
  if (u.regexOptions !== undefined) wordsLine(o, ind, 'regex-options', u.regexOptions);
  if (u.regexNoMatch === true) boolLine(o, ind, 'regex-no-match', true);
  if (u.regexMinOffset !== undefined) numLine(o, ind, 'regex-min-offset', u.regexMinOffset);
  if (u.regexMaxOffset !== undefined) numLine(o, ind, 'regex-max-offset', u.regexMaxOffset);
  if (u.contains !== undefined) textLine(o, ind, 'contains', u.contains);
  if (u.virtualhost !== undefined) textLine(o, ind, 'virtualhost', u.virtualhost);
}

/** A checker's mapping as a sequence item whose keys are at `ind`: its type, then what is not a default. */
function checkerInto(o: ByteOut, ind: number, c: CheckSpec): void {
  key(o, ind, 'type', true);
  o.ascii(' ');
  o.ascii(TYPE_NAMES[c.type]);
  o.ascii('\n');
  if (c.type === 'BFD_CHECK') {
    const b = c.bfd;
    textLine(o, ind, 'neighbor', b.neighbor);
    if (b.source !== undefined) textLine(o, ind, 'source', b.source);
    if (b.minRxMs !== BFD_DEFAULTS.minRxMs) numLine(o, ind, 'min-rx', b.minRxMs);
    if (b.minTxMs !== BFD_DEFAULTS.minTxMs) numLine(o, ind, 'min-tx', b.minTxMs);
    if (b.idleTxMs !== BFD_DEFAULTS.idleTxMs) numLine(o, ind, 'idle-tx', b.idleTxMs);
    if (b.multiplier !== BFD_DEFAULTS.multiplier) numLine(o, ind, 'multiplier', b.multiplier);
    return;
  }
  if (c.type === 'FILE_CHECK') {
    textLine(o, ind, 'file', c.path);
    if (c.weight !== 0) numLine(o, ind, 'weight', c.weight);
    if (c.reverse) boolLine(o, ind, 'reverse', true);
    if (c.init !== undefined) {
      numLine(o, ind, 'init-file', c.init.value);
      if (c.init.overwrite) boolLine(o, ind, 'init-overwrite', true);
    }
    return;
  }
  const D = HEALTH_DEFAULTS;
  if (c.delayLoopMs !== D.delayLoopMs) secLine(o, ind, 'delay-loop', c.delayLoopMs);
  if (c.connectTimeoutMs !== D.connectTimeoutMs) secLine(o, ind, 'connect-timeout', c.connectTimeoutMs);
  if (c.retry !== retryDefault(c.type)) numLine(o, ind, 'retry', c.retry);
  if (c.delayBeforeRetryMs !== delayBeforeRetryDefault(c.type, c.delayLoopMs)) secLine(o, ind, 'delay-before-retry', c.delayBeforeRetryMs);
  if (c.rise !== D.rise) numLine(o, ind, 'rise', c.rise);
  if (c.fall !== D.fall) numLine(o, ind, 'fall', c.fall);
  if (c.warmupMs !== undefined) secLine(o, ind, 'warmup', c.warmupMs);
  if (c.connectIp !== undefined) textLine(o, ind, 'connect-ip', c.connectIp);
  if (c.connectPort !== undefined) numLine(o, ind, 'connect-port', c.connectPort);
  if (c.bindto !== undefined) textLine(o, ind, 'bindto', c.bindto);
  if (c.bindPort !== undefined) numLine(o, ind, 'bind-port', c.bindPort);
  if (c.logAllFailures) boolLine(o, ind, 'log-all-failures', true);
  switch (c.type) {
    case 'HTTP_GET':
    case 'SSL_GET': {
      if (c.virtualhost !== undefined) textLine(o, ind, 'virtualhost', c.virtualhost);
      if (c.enableSni === true) boolLine(o, ind, 'enable-sni', true);
      const tls = c.tls;
      if (tls !== undefined) {
        for (const k of TLS_KEYS) {
          const v = tls[k];
          if (v !== undefined) textLine(o, ind, k, v);
        }
      }
      key(o, ind, 'url');
      if (c.urls.length === 0) o.ascii(' []\n');
      else {
        o.ascii('\n');
        for (const u of c.urls) urlInto(o, ind + 4, u);
      }
      break;
    }
    case 'UDP_CHECK':
      if (c.payload !== undefined) textLine(o, ind, 'payload', c.payload.toString('hex'));
      if (c.replyPrefix !== undefined) textLine(o, ind, 'require-reply', maskedHex(c.replyPrefix, c.replyMask));
      else if (c.requireReply) boolLine(o, ind, 'require-reply', true);
      if (c.minReplyLength !== undefined) numLine(o, ind, 'min-reply-length', c.minReplyLength);
      if (c.maxReplyLength !== undefined) numLine(o, ind, 'max-reply-length', c.maxReplyLength);
      break;
    case 'MISC_CHECK':
      textLine(o, ind, 'misc-path', c.command);
      secLine(o, ind, 'misc-timeout', c.timeoutMs);
      if (c.dynamic) boolLine(o, ind, 'misc-dynamic', true);
      if (c.user !== undefined) {
        textLine(o, ind, 'misc-user', c.user.name);
        if (c.user.group !== undefined) textLine(o, ind, 'misc-group', c.user.group);
      }
      break;
    case 'DNS_CHECK':
      if (c.queryType !== 'SOA') textLine(o, ind, 'dns-type', c.queryType);
      if (c.queryName !== '.') textLine(o, ind, 'dns-name', c.queryName);
      break;
    case 'SMTP_CHECK':
      if (c.helo !== SMTP_DEFAULT_HELO) textLine(o, ind, 'helo-name', c.helo);
      break;
    default:
  }
}

/**
 * The service's `health` (its lines at indent 4, after its settings): the sorry server (with
 * `sorryFwd`, its method) and what is not a default; nothing when every value is one.
 */
export function serviceHealthInto(vs: VirtualServerSpec, sorry: ({ fwd: Fwd } & TunOptions) | undefined, o: ByteOut): void {
  const delay = vs.delayLoopMs !== HEALTH_DEFAULTS.delayLoopMs;
  if (!delay && !vs.sorryServer && vs.quorum === 1 && vs.hysteresis === 0 && vs.quorumUp === undefined && vs.quorumDown === undefined
    && !vs.alpha && !vs.omega && vs.haSuspend !== true) return;
  o.ascii('    health:\n');
  if (delay) secLine(o, 6, 'delay-loop', vs.delayLoopMs);
  const s = vs.sorryServer;
  if (s) {
    o.ascii('      sorry-server:\n');
    textLine(o, 8, 'address', s.addr);
    numLine(o, 8, 'port', s.port);
    if (sorry !== undefined) {
      textLine(o, 8, 'method', sorry.fwd);
      // Its tunnel, as a server's is written (config.ts serverInto): what is not the default.
      if (sorry.fwd === 'tun' && (sorry.tunType ?? 'ipip') !== 'ipip') {
        textLine(o, 8, 'tun-type', sorry.tunType!);
        if (sorry.tunType === 'gue' && sorry.tunPort !== undefined) numLine(o, 8, 'tun-port', sorry.tunPort);
        if ((sorry.tunCsum ?? 'nocsum') !== 'nocsum') textLine(o, 8, 'tun-csum', sorry.tunCsum!);
      }
    }
    if (s.inhibit === true) boolLine(o, 8, 'inhibit', true);
  }
  if (vs.quorum !== 1) numLine(o, 6, 'quorum', vs.quorum);
  if (vs.hysteresis !== 0) numLine(o, 6, 'hysteresis', vs.hysteresis);
  if (vs.quorumUp !== undefined) scriptLine(o, 6, 'quorum-up', vs.quorumUp);
  if (vs.quorumDown !== undefined) scriptLine(o, 6, 'quorum-down', vs.quorumDown);
  if (vs.alpha) boolLine(o, 6, 'alpha', true);
  if (vs.omega) boolLine(o, 6, 'omega', true);
  if (vs.haSuspend === true) boolLine(o, 6, 'ha-suspend', true);
}

/** A server's `health` (its lines at indent 8, after its settings): its own checks written out in full. */
export function serverHealthInto(rs: RealServerSpec, o: ByteOut): void {
  o.ascii('        health:\n');
  if (rs.inhibitOnFailure) boolLine(o, 10, 'inhibit-on-failure', true);
  if (rs.alpha !== undefined) boolLine(o, 10, 'alpha', rs.alpha);
  if (rs.notifyUp !== undefined) scriptLine(o, 10, 'notify-up', rs.notifyUp);
  if (rs.notifyDown !== undefined) scriptLine(o, 10, 'notify-down', rs.notifyDown);
  if (rs.checkers.length === 0) {
    o.ascii('          checks: []\n');
    return;
  }
  o.ascii('          checks:\n');
  for (const c of rs.checkers) checkerInto(o, 14, c);
}
