// keepalived.conf (2.x) import: the virtual_server / real_server blocks and their checkers.
// Text in, {config, warnings} out; `include` is resolved through a reader the caller passes
// (loadKeepalivedFile in load.ts reads files and expands globs), `user` names through
// ParseOptions.lookupUser (default: /etc/passwd and /etc/group). Errors throw
// KeepalivedError with "file:line: problem"; sections uvs does not do (VRRP, global_defs, ...)
// are skipped with one warning each, unknown keywords inside a virtual server are named.

import { isIPv6 } from 'node:net';
import { hostname } from 'node:os';
import { dirname, resolve } from 'node:path';
import { formatIp, parseIp, prefixMask } from '../datapath/addr.js';
import type { Fwd, TunCsum, TunOptions, TunType } from '../control/protocol.js';
import { destPort, MAX_FWMARK, MAX_THRESHOLD, MAX_WEIGHT, printableWord, serviceId, serviceKey, takesServicePort, TUN_CSUMS, TUN_TYPES } from '../control/protocol.js';
import { DNS_TYPES, PORT_CHECKERS, type BfdCheck, type CheckCommon, type CheckerType, type CheckSpec, type DnsType, type FileCheck, type HealthConfig, type HttpUrl, type NotifyScript, type Origin, type RealServerSpec, type ScriptUser, type TlsClient, type VirtualServerSpec } from './types.js';
import { FILE_POLL_MS, fileCheckSpec } from './checkers/file.js';
import { BFD_POLL_MS, bfdCheckSpec } from './checkers/bfd.js';
import { BFD_DEFAULTS, type BfdParams } from './bfd.js';
import { PE_NAMES, type PeName } from '../proto/sip.js';
import { lookupScriptUser } from './exec.js';
import { bodyRegex, MAX_REGEX_OFFSET, regexOptionProblem } from './regex.js';
import { schedulerNames } from '../sched/index.js';
import { GENERIC_SCHED_FLAGS, genericSchedFlag } from '../sched/types.js';

export class KeepalivedError extends Error {
  constructor(
    readonly origin: Origin,
    problem: string,
  ) {
    super(`${origin.file}:${origin.line}: ${problem}`);
    this.name = 'KeepalivedError';
  }
}

export interface ParseResult {
  config: HealthConfig;
  warnings: string[];
}

/** Resolves an include pattern (relative to the including file) to the files it names. */
export type IncludeReader = (pattern: string, fromFile: string) => Array<{ file: string; text: string }>;

export interface ParseOptions {
  readInclude?: IncludeReader;
  /** Why a command line could not run now (exec.ts commandProblem): a misc_path it names is warned about. */
  commandProblem?: (line: string) => string | undefined;
  /** keepalived's config id (its -i): `@ID` lines are for the director with this id (default: defaultConfigId()). */
  configId?: string;
  /** Resolves `user USER [GROUP]` (default: exec.ts lookupScriptUser, /etc/passwd and /etc/group); a string says why not. */
  lookupUser?: (user: string, group?: string) => ScriptUser | string;
  /** Why a non-root user could change what a command line runs as root (exec.ts scriptInsecurity): refused
   *  under global_defs' enable_script_security, else warned about once. */
  scriptInsecurity?: (line: string, user?: ScriptUser) => string | undefined;
}

interface Token {
  text: string;
  quoted: boolean;
  file: string;
  line: number;
  /** The line it is on, counted over all lines read (a multi-line parameter gives several lines one line number). */
  seq: number;
}

interface Stmt {
  key: string;
  args: Token[];
  block?: Stmt[];
  at: Origin;
  /** On its block's `{` line (`TCP_CHECK { connect_port 80 connect_timeout 3 }`): the rest of the line is its arguments. */
  braceLine?: true;
}

/** Said of too many arguments on a `{` line: keepalived reads the line so too, and ignores what its statement does not take. */
function braceLineHint(st: Stmt): string {
  return st.braceLine ? ` (one statement per line: after "{" the rest of the line is ${st.key}'s arguments, as keepalived reads it)` : '';
}

const MAX_INCLUDE_DEPTH = 8;

// ---- lexer -------------------------------------------------------------------------------
//
// Line by line as keepalived's read_line (lib/parser.c): comments and surrounding blanks go,
// then `@ID` / `@^ID` lines are kept or dropped by the config id, `$NAME=VALUE` defines a
// parameter (a value ending in `\` goes on over the next lines), and `$NAME` / `${NAME}` are
// replaced by their value, which is read again (a multi-line value gives one line per line of
// it, each at the line that used it). Then `include`, and the words.

/** What the lines of every file read so far defined, and where the words go. */
interface Lexer {
  opts: ParseOptions;
  out: Token[];
  warnings: string[];
  configId: string;
  defs: Map<string, Definition>;
  /** A `$NAME=... \` definition the next lines go on with. */
  open?: Definition;
  /** Lines read (each line's words share its number: statements() groups by it). */
  seq: number;
}

interface Definition {
  lines: string[];
  /** Written with a trailing `\`: used only at the end of a line. */
  multiline: boolean;
}

/** Replacements one line of a file may make (a definition that uses itself would go on forever). */
const MAX_REPLACEMENTS = 1000;

/**
 * The line without its comment (`#` or `!` outside double quotes; `\#` and `\!` are the
 * characters) and without leading and trailing blanks; a trailing `\` is kept, blanks before it dropped.
 */
function decomment(raw: string): string {
  if (!/["\\#!]/.test(raw)) return raw.trim();
  let out = '';
  let quoted = false;
  let cont = false;
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i]!;
    if (c === '"') quoted = !quoted;
    else if (c === '\\') {
      if (i + 1 === raw.length || (i + 2 === raw.length && raw[i + 1] === '\r')) {
        cont = true;
        break;
      }
      if (!quoted && (raw[i + 1] === '#' || raw[i + 1] === '!')) {
        out += raw[++i];
        continue;
      }
      out += c + raw[++i]!;
      continue;
    } else if (!quoted && (c === '#' || c === '!')) break;
    out += c;
  }
  out = out.trim();
  return cont ? `${out}\\` : out;
}

/** keepalived's default config id: the host name up to its first dot. */
export function defaultConfigId(): string {
  return hostname().split('.')[0]!;
}

/** `$NAME` (followed by a blank, `,`, `)` or the end) or `${NAME}` at the start of s. */
const PARAM_REF = /^\$(?:\{([A-Za-z_]\w*)\}|([A-Za-z_]\w*)(?=[ \t,)]|$))/;

/** The value of a parameter: a definition, or keepalived's own _PWD (the file's directory) and _INSTANCE (the config id). */
function lookup(lx: Lexer, name: string, file: string): Definition | undefined {
  const d = lx.defs.get(name);
  if (d !== undefined) return d;
  if (name === '_PWD') return { lines: [resolve(dirname(file))], multiline: false };
  if (name === '_INSTANCE') return { lines: [lx.configId], multiline: false };
  return undefined;
}

/**
 * Every parameter of `text` replaced (values read again); `more` gets the further lines of a
 * multi-line value (which must end the line), first. Undefined when nothing was replaced.
 */
function substitute(lx: Lexer, text: string, at: Origin, more: string[], count: { n: number }): string | undefined {
  let t = text;
  let changed = false;
  for (let i = t.indexOf('$'); i >= 0 && i + 1 < t.length; i = t.indexOf('$', i)) {
    const m = PARAM_REF.exec(t.slice(i));
    const d = m === null ? undefined : lookup(lx, m[1] ?? m[2]!, at.file);
    const atEnd = m !== null && i + m[0].length === t.length;
    if (d === undefined || (d.multiline && !atEnd)) {
      i++;
      continue;
    }
    if (++count.n > MAX_REPLACEMENTS) throw new KeepalivedError(at, `$${m![1] ?? m![2]}: more than ${MAX_REPLACEMENTS} parameters replaced in one line (a definition that uses itself?)`);
    changed = true;
    t = t.slice(0, i) + (d.lines[0] ?? '') + t.slice(i + m![0].length);
    if (d.multiline) more.unshift(...d.lines.slice(1));
  }
  return changed ? t : undefined;
}

/** One line of a file (decommented), and the lines a multi-line parameter in it gives. */
function lexLine(lx: Lexer, first: string, at: Origin, depth: number): void {
  const todo = [first];
  const count = { n: 0 };
  for (let text = todo.shift(); text !== undefined; text = todo.shift()) {
    if (lx.open !== undefined) {
      // A definition's next line: it goes on while lines end with `\` (a blank line ends it).
      const d = lx.open;
      const cont = text.endsWith('\\');
      const body = cont ? text.slice(0, -1).trimEnd() : text;
      if (body !== '') d.lines.push(body);
      if (!cont) {
        lx.open = undefined;
        if (d.lines.length === 0) d.multiline = false;
      }
      continue;
    }
    for (;;) {
      if (text.startsWith('@')) {
        // @ID line / @^ID line: for the director whose config id is (is not) ID.
        const not = text[1] === '^';
        const end = text.search(/[ \t]/);
        const kept = end >= 0 && (text.slice(not ? 2 : 1, end) === lx.configId) !== not;
        text = kept ? text.slice(end).trimStart() : '';
      }
      const def = /^\$([A-Za-z_]\w*)=[ \t]*(.*)$/.exec(text);
      if (def !== null) {
        const v = def[2]!;
        const multiline = v.endsWith('\\');
        const value = multiline ? v.slice(0, -1).trimEnd() : v;
        const d: Definition = { lines: multiline && value === '' ? [] : [value], multiline };
        lx.defs.set(def[1]!, d);
        if (multiline) lx.open = d;
        text = '';
      }
      if (text.startsWith('~SEQ')) throw new KeepalivedError(at, '~SEQ is not supported: write the lines it would make');
      if (text === '' || !text.includes('$')) break;
      const r = substitute(lx, text, at, todo, count);
      if (r === undefined) break;
      text = r;
      if (!text.startsWith('@') && !text.includes('$')) break;
    }
    if (text !== '') words(lx, text, at, depth);
  }
}

/** A line's words (a line `include FILE` reads FILE's lines in its place). */
function words(lx: Lexer, text: string, at: Origin, depth: number): void {
  const { file, line } = at;
  const seq = ++lx.seq;
  const lineTokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === ' ' || c === '\t' || c === '\r') {
      i++;
      continue;
    }
    if (c === '{' || c === '}') {
      lineTokens.push({ text: c, quoted: false, file, line, seq });
      i++;
      continue;
    }
    if (c === '"') {
      const end = text.indexOf('"', i + 1);
      if (end < 0) throw new KeepalivedError(at, 'unterminated quoted string');
      lineTokens.push({ text: text.slice(i + 1, end), quoted: true, file, line, seq });
      i = end + 1;
      continue;
    }
    let j = i;
    while (j < text.length && !' \t\r{}"'.includes(text[j]!)) j++;
    lineTokens.push({ text: text.slice(i, j), quoted: false, file, line, seq });
    i = j;
  }
  if (lineTokens.length >= 1 && lineTokens[0]!.text === 'include' && !lineTokens[0]!.quoted) {
    const { opts, warnings } = lx;
    if (lineTokens.length !== 2) throw new KeepalivedError(at, 'include needs exactly one file name or pattern');
    if (opts.readInclude === undefined) throw new KeepalivedError(at, 'include is not available here');
    if (depth >= MAX_INCLUDE_DEPTH) throw new KeepalivedError(at, `includes nested deeper than ${MAX_INCLUDE_DEPTH}`);
    let files: Array<{ file: string; text: string }>;
    try {
      files = opts.readInclude(lineTokens[1]!.text, file);
    } catch (e) {
      throw new KeepalivedError(at, `include ${lineTokens[1]!.text}: ${(e as Error).message}`);
    }
    // keepalived: "Config files missing", and it goes on (a plain name as a pattern).
    const pattern = lineTokens[1]!.text;
    if (files.length === 0) warnings.push(`${file}:${line}: include ${pattern} ${/[*?[]/.test(pattern) ? 'matched no file' : 'skipped: no such file (keepalived goes on without it too)'}`);
    for (const f of files) lex(f.text, f.file, lx, depth + 1);
    return;
  }
  lx.out.push(...lineTokens);
}

function lex(text: string, file: string, lx: Lexer, depth: number): void {
  const lines = text.split('\n');
  for (let ln = 0; ln < lines.length; ln++) lexLine(lx, decomment(lines[ln]!), { file, line: ln + 1 }, depth);
  lx.open = undefined; // a definition ends with its file
}

// ---- statements: `key args... [{ stmts }]`, args on the key's line ------------------------

function statements(tokens: Token[], pos: { i: number }, closing: Token | null): Stmt[] {
  const out: Stmt[] = [];
  while (pos.i < tokens.length) {
    const t = tokens[pos.i]!;
    if (t.text === '}' && !t.quoted) {
      if (closing === null) throw new KeepalivedError({ file: t.file, line: t.line }, "unexpected '}'");
      pos.i++;
      return out;
    }
    if (t.text === '{' && !t.quoted) throw new KeepalivedError({ file: t.file, line: t.line }, "unexpected '{'");
    pos.i++;
    const st: Stmt = { key: t.text, args: [], at: { file: t.file, line: t.line }, ...(closing?.seq === t.seq ? { braceLine: true as const } : {}) };
    while (pos.i < tokens.length) {
      const a = tokens[pos.i]!;
      if (a.seq !== t.seq || ((a.text === '{' || a.text === '}') && !a.quoted)) break;
      st.args.push(a);
      pos.i++;
    }
    const n = tokens[pos.i];
    if (n !== undefined && n.text === '{' && !n.quoted) {
      pos.i++;
      st.block = statements(tokens, pos, n);
    }
    out.push(st);
  }
  if (closing !== null) throw new KeepalivedError({ file: closing.file, line: closing.line }, "'{' is never closed");
  return out;
}

// ---- value helpers ------------------------------------------------------------------------

function err(st: Stmt | Token, problem: string): KeepalivedError {
  return new KeepalivedError('at' in st ? st.at : { file: st.file, line: st.line }, problem);
}

function arg(st: Stmt, i: number, what: string): string {
  const a = st.args[i];
  if (a === undefined) throw err(st, `${st.key}: missing ${what}`);
  return a.text;
}

function nArgs(st: Stmt, min: number, max: number): void {
  if (st.args.length < min || st.args.length > max) {
    throw err(st, `${st.key}: expected ${min === max ? min : `${min}..${max}`} argument${max === 1 ? '' : 's'}, got ${st.args.length}${st.args.length > max ? braceLineHint(st) : ''}`);
  }
}

function ipArg(st: Stmt, i: number): string {
  const v = arg(st, i, 'IPv4 address');
  if (parseIp(v) < 0) throw err(st, `${st.key}: invalid IPv4 address "${v}"`);
  return v;
}

function portArg(st: Stmt, i: number, allowZero = false): number {
  const v = arg(st, i, 'port');
  const n = Number(v);
  if (!/^\d+$/.test(v) || n > 65535 || (n === 0 && !allowZero)) throw err(st, `${st.key}: invalid port "${v}"`);
  return n;
}

function intArg(st: Stmt, i: number, min: number, max: number): number {
  const v = arg(st, i, 'number');
  const n = Number(v);
  if (!/^-?\d+$/.test(v) || n < min || n > max) throw err(st, `${st.key}: "${v}" is not an integer ${min}..${max}`);
  return n;
}

/** The longest time a health keyword takes: a year. */
const MAX_SECONDS = 86400 * 365;

/** Seconds (keepalived accepts decimals, e.g. 0.5) -> ms. */
function secondsArg(st: Stmt, i: number, minMs = 1): number {
  const v = arg(st, i, 'seconds');
  const n = Number(v);
  // The range in the message: "100000000" (over a year) or "0" were just "not a number of seconds".
  if (!/^\d+(\.\d+)?$/.test(v) || n * 1000 < minMs || n > MAX_SECONDS) throw err(st, `${st.key}: "${v}" is not a number of seconds ${minMs / 1000}..${MAX_SECONDS} (365 days)`);
  return Math.round(n * 1000);
}

/**
 * Words of hex digits as bytes, two digits at a time, an odd last digit of a word a byte of its own
 * (keepalived.conf(5)'s HEX_STR: "Ab12f 3 456" is AB 12 0F 03 45 06). With wild, an x or X digit
 * matches anything: mask has 0 bits there (undefined when there is none). { bad: i }: word i is no
 * such digits. The YAML config's payload and require-reply are read with it too.
 */
export function hexDigits(words: readonly string[], wild: boolean): { bytes: Buffer; mask?: Buffer } | { bad: number } {
  const bytes: number[] = [];
  const mask: number[] = [];
  /** A digit's value and mask: an x is 0 and matches anything. */
  const nibble = (c: string): [number, number] => (c === 'x' || c === 'X' ? [0, 0] : [parseInt(c, 16), 0xf]);
  for (const [n, w] of words.entries()) {
    if (!(wild ? /^[0-9a-fA-FxX]+$/ : /^[0-9a-fA-F]+$/).test(w)) return { bad: n };
    for (let i = 0; i < w.length; i += 2) {
      const [hi, hm] = i + 1 < w.length ? nibble(w[i]!) : [0, 0xf];
      const [lo, lm] = nibble(w[i + 1 < w.length ? i + 1 : i]!);
      bytes.push((hi << 4) | lo);
      mask.push((hm << 4) | lm);
    }
  }
  return { bytes: Buffer.from(bytes), ...(mask.some((m) => m !== 0xff) ? { mask: Buffer.from(mask) } : {}) };
}

/** UDP_CHECK payload and require_reply: hexDigits of st's words, a leading 0x of each dropped (uvs). */
function hexWords(st: Stmt, wild: boolean): { bytes: Buffer; mask?: Buffer } {
  const r = hexDigits(st.args.map((a) => a.text.replace(/^0x(?=.)/i, '')), wild);
  if ('bad' in r) throw err(st, `${st.key}: "${st.args[r.bad]!.text}" is not hex bytes`);
  return r;
}

/** weight W [reverse|noreverse] of track_file (|W| <= 254) and FILE_CHECK. */
function trackWeight(st: Stmt, max: number): { weight: number; reverse: boolean } {
  nArgs(st, 1, 2);
  const weight = intArg(st, 0, -max, max);
  const opt = st.args[1]?.text;
  if (opt !== undefined && opt !== 'reverse' && opt !== 'noreverse') throw err(st, `weight ${weight}: "${opt}" is not reverse or noreverse`);
  return { weight, reverse: opt === 'reverse' };
}

function noArgs(st: Stmt): void {
  if (st.args.length > 0) throw err(st, `${st.key} takes no argument, got "${st.args[0]!.text}"${braceLineHint(st)}`);
}

function needBlock(st: Stmt): Stmt[] {
  if (st.block === undefined) throw err(st, `${st.key}: expected '{'`);
  return st.block;
}

// ---- the model ---------------------------------------------------------------------------

/** Check parameters that may be given at virtual_server, real_server or checker level (also in the YAML config). */
export interface Inherited {
  delayLoopMs: number;
  connectTimeoutMs: number;
  /** undefined until given: the checker type's default then applies (retryDefaults). */
  retry?: number;
  delayBeforeRetryMs?: number;
  rise: number;
  fall: number;
  inhibitOnFailure: boolean;
  virtualhost?: string;
  /** warmup: the first check comes at a random time within it (undefined: within delay_loop). */
  warmupMs?: number;
}

const DEFAULTS: Inherited = { delayLoopMs: 60_000, connectTimeoutMs: 5000, rise: 1, fall: 1, inhibitOnFailure: false };

/** delay_before_retry that defaults to the checker's delay_loop (DNS_CHECK). */
const DELAY_LOOP = -1;

/**
 * keepalived's per-checker defaults for what a checker, its real_server or its virtual_server does
 * not set (check_api.c queue_checker: retry 1, delay_before_retry 1 s; check_misc.c: retry 0;
 * check_http.c, which runs HTTP_GET and SSL_GET: delay_before_retry 3 s; check_dns.c: retry 3,
 * delay_before_retry the delay_loop).
 */
const CHECKER_RETRY_DEFAULTS: Readonly<Record<CheckerType, { retry: number; delayBeforeRetryMs: number }>> = {
  TCP_CHECK: { retry: 1, delayBeforeRetryMs: 1000 },
  UDP_CHECK: { retry: 1, delayBeforeRetryMs: 1000 },
  PING_CHECK: { retry: 1, delayBeforeRetryMs: 1000 },
  HTTP_GET: { retry: 1, delayBeforeRetryMs: 3000 },
  SSL_GET: { retry: 1, delayBeforeRetryMs: 3000 },
  MISC_CHECK: { retry: 0, delayBeforeRetryMs: 1000 },
  DNS_CHECK: { retry: 3, delayBeforeRetryMs: DELAY_LOOP },
  SMTP_CHECK: { retry: 1, delayBeforeRetryMs: 1000 },
  FILE_CHECK: { retry: 0, delayBeforeRetryMs: FILE_POLL_MS },
  BFD_CHECK: { retry: 0, delayBeforeRetryMs: BFD_POLL_MS },
};

/** A checker type's retry and delay_before_retry when nothing sets them (delay_loop: the checker's). */
export function retryDefaults(type: CheckerType, delayLoopMs: number): { retry: number; delayBeforeRetryMs: number } {
  return { retry: retryDefault(type), delayBeforeRetryMs: delayBeforeRetryDefault(type, delayLoopMs) };
}

/** retryDefaults' retry alone (no object made: the config dump asks it of every checker). */
export function retryDefault(type: CheckerType): number {
  return CHECKER_RETRY_DEFAULTS[type].retry;
}

/** retryDefaults' delay_before_retry alone. */
export function delayBeforeRetryDefault(type: CheckerType, delayLoopMs: number): number {
  const d = CHECKER_RETRY_DEFAULTS[type].delayBeforeRetryMs;
  return d === DELAY_LOOP ? delayLoopMs : d;
}

/** A checker's retry and delay_before_retry: as inherited, else its type's defaults. */
export function checkerRetry(d: Pick<Inherited, 'retry' | 'delayBeforeRetryMs' | 'delayLoopMs'>, type: CheckerType): { retry: number; delayBeforeRetryMs: number } {
  const def = retryDefaults(type, d.delayLoopMs);
  return { retry: d.retry ?? def.retry, delayBeforeRetryMs: d.delayBeforeRetryMs ?? def.delayBeforeRetryMs };
}

/**
 * The real server that a virtual server's sorry server also is, if any (keepalived's
 * s_svr_duplicates_rs): one destination, in at weight 1 (the sorry server's method) while the
 * quorum is lost, the real server's own again when it is regained.
 */
export function sorryAlsoServer(vs: Pick<VirtualServerSpec, 'sorryServer' | 'realServers'>): RealServerSpec | undefined {
  const s = vs.sorryServer;
  return s === undefined ? undefined : vs.realServers.find((r) => r.addr === s.addr && r.port === s.port);
}

/** Why `name` cannot be a DNS_CHECK name (labels of 1..63 bytes, 253 in all, ASCII), or null. */
export function dnsNameProblem(name: string): string | null {
  if (!printableWord(name)) return 'not printable ASCII';
  if (name.length > 254 || (name.length === 254 && !name.endsWith('.'))) return 'longer than 253 characters';
  const labels = name.split('.');
  if (name !== '.' && labels.slice(0, name.endsWith('.') ? -1 : undefined).some((l) => l.length === 0)) return 'has an empty label';
  if (labels.some((l) => l.length > 63)) return 'has a label longer than 63 characters';
  return null;
}

/** DNS_CHECK `type`: one of DNS_TYPES (any case), or undefined. */
export function dnsType(v: string): DnsType | undefined {
  const t = v.toUpperCase();
  return Object.hasOwn(DNS_TYPES, t) ? (t as DnsType) : undefined;
}

/** keepalived's SMTP_CHECK helo_name default. */
export const SMTP_DEFAULT_HELO = 'smtpchecker.keepalived.org';

/** Applies an inheritable keyword; false when st is not one. */
function inherited(st: Stmt, d: Inherited): boolean {
  switch (st.key) {
    case 'delay_loop': nArgs(st, 1, 1); d.delayLoopMs = secondsArg(st, 0, 10); return true;
    case 'connect_timeout': nArgs(st, 1, 1); d.connectTimeoutMs = secondsArg(st, 0, 1); return true;
    case 'retry': nArgs(st, 1, 1); d.retry = intArg(st, 0, 0, 1000); return true;
    case 'delay_before_retry': nArgs(st, 1, 1); d.delayBeforeRetryMs = secondsArg(st, 0, 0); return true;
    case 'rise': nArgs(st, 1, 1); d.rise = intArg(st, 0, 1, 1000); return true;
    case 'warmup': nArgs(st, 1, 1); d.warmupMs = secondsArg(st, 0, 0); return true;
    case 'fall': nArgs(st, 1, 1); d.fall = intArg(st, 0, 1, 1000); return true;
    case 'virtualhost': nArgs(st, 1, 1); d.virtualhost = st.args[0]!.text; return true;
    default: return false;
  }
}

/** keepalived's persistence_timeout without a value (IPVS_SVC_PERSISTENT_TIMEOUT, 6 minutes; ipvsadm's -p is 300). */
export const KEEPALIVED_PERSISTENCE_S = 360;

/** lb_kind's words; FNAT is DPVS's keepalived (FULLNAT: the service's laddr_group_name gives its local addresses). */
const FWD: Record<string, Fwd> = { DR: 'dr', NAT: 'nat', TUN: 'tun', FNAT: 'fullnat' };

/**
 * lvs_method (lb_kind) NAT|DR|TUN|FNAT, and for TUN keepalived's tunnel words: `type ipip|gue|gre`,
 * `port N` (gue only, and required there), `nocsum|csum|remcsum` (not on ipip; remcsum gue only).
 * Another word (also `dr`: keepalived compares case-sensitively) is undefined: keepalived says
 * "unknown routing method" and keeps the method it had (`why` says so).
 */
function method(st: Stmt, why: (st: Stmt, msg: string) => void): { fwd: Fwd; tun?: TunOptions } | undefined {
  if (st.args.length < 1) throw err(st, `${st.key}: missing NAT, DR, TUN or FNAT`);
  const w = st.args[0]!.text;
  if (!Object.hasOwn(FWD, w)) {
    const upper = Object.hasOwn(FWD, w.toUpperCase()) ? `; keepalived reads only capitals: write ${w.toUpperCase()}` : '';
    why(st, `${st.key} "${w}" ignored: not NAT, DR, TUN or FNAT, so keepalived keeps the method it had (without one, NAT)${upper}`);
    return undefined;
  }
  const fwd = FWD[w]!;
  if (st.args.length === 1) return { fwd };
  if (fwd !== 'tun') throw err(st, `${st.key} ${st.args[0]!.text}: tunnel options ("${st.args[1]!.text}") are for TUN only`);
  let type: TunType = 'ipip';
  let port = 0;
  let csum: TunCsum = 'nocsum';
  for (let i = 1; i < st.args.length; i++) {
    const w = st.args[i]!.text;
    const next = st.args[i + 1]?.text;
    if (w === 'type') {
      type = TUN_TYPES.find((t) => t === next) ?? (() => { throw err(st, `${st.key}: unknown tunnel type "${next ?? ''}" (ipip, gue or gre)`); })();
      i++;
    } else if (w === 'port') {
      const n = Number(next);
      if (next === undefined || !/^\d+$/.test(next) || n < 1 || n > 65535) throw err(st, `${st.key}: invalid gue tunnel port "${next ?? ''}" (1..65535)`);
      port = n;
      i++;
    } else {
      csum = TUN_CSUMS.find((c) => c === w) ?? (() => { throw err(st, `${st.key}: invalid tunnel option "${w}" (type, port, nocsum, csum, remcsum)`); })();
    }
  }
  if ((type === 'gue') !== (port !== 0)) throw err(st, `${st.key}: gue tunnels require a port, and only they take one`);
  if (type === 'ipip' && csum !== 'nocsum') throw err(st, `${st.key}: ipip tunnels have no checksum option`);
  if (type === 'gre' && csum === 'remcsum') throw err(st, `${st.key}: gre tunnels have no remote checksum option`);
  return { fwd, tun: { tunType: type, tunPort: port, tunCsum: csum } };
}
/** A virtual_server_group entry: an address and port, or (addr 0.0.0.0, port 0) a firewall mark. */
interface GroupEntry {
  addr: string;
  port: number;
  fwmark?: number;
}

/** What entries a virtual_server_group has: a fwmark one (mark), an address one (addr). */
interface GroupKinds {
  mark: boolean;
  addr: boolean;
}

/** Who runs scripts when global_defs names no script_user, if the host has that user (keepalived's default). */
const DEFAULT_SCRIPT_USER = 'keepalived_script';

/** A checker left out for its IPv6 connect_ip (its real server warns, knowing what else checks it). */
interface V6Check {
  checker: string;
  connectIp: Stmt;
}

/** Why nb_get_retry outside HTTP_GET and SSL_GET is ignored (keepalived 2.x: "Unknown keyword" there). */
const NB_GET_RETRY_ELSEWHERE = 'keepalived 2.x reads nb_get_retry only in HTTP_GET and SSL_GET, as a deprecated retry: write retry';
/** The global_defs keywords read (the others are skipped with the section's one warning). */
const GLOBALS_READ = new Set(['script_user', 'enable_script_security', 'checker_log_all_failures']);
/** keepalived's max_reply_length when none is given (UINT8_MAX in check_udp.c). */
export const KEEPALIVED_UDP_MAX_REPLY = 255;
/** The most words read as one HEX_STR. */
const MAX_HEX_WORDS = 512;
/** What keepalived 2.x does not read in a MISC_CHECK ("Unknown keyword"): it connects nowhere, misc_timeout is its limit. */
const MISC_FOREIGN = new Set(['connect_ip', 'connect_port', 'bindto', 'bind_port', 'connect_timeout']);
const CHECKERS = new Set(['TCP_CHECK', 'HTTP_GET', 'SSL_GET', 'UDP_CHECK', 'PING_CHECK', 'MISC_CHECK', 'DNS_CHECK', 'SMTP_CHECK']);

/** A top-level track_file NAME { file PATH; weight W [reverse]; init_file [VALUE] [overwrite] }. */
interface TrackFile {
  path: string;
  weight: number;
  reverse: boolean;
  init?: { value: number; overwrite: boolean };
}

/** The one argument of `st`, the name of a top-level `kind NAME { example }` block defined in `defined`. */
function definedName(st: Stmt, defined: ReadonlyMap<string, unknown>, kind: string, example: string): string {
  nArgs(st, 1, 1);
  const name = st.args[0]!.text;
  if (!defined.has(name)) throw err(st, `${kind} ${name} is not defined (a top-level ${kind} ${name} { ${example} } block)`);
  return name;
}

/**
 * The top-level `KEY NAME { ... }` blocks of stmts (KEY: keys[0] or an alias of it), each read by
 * parse, by name; a name defined twice is an error with its line.
 */
function namedBlocks<T>(stmts: Stmt[], keys: readonly string[], parse: (st: Stmt, name: string) => T): Map<string, T> {
  const out = new Map<string, T>();
  for (const st of stmts) {
    if (!keys.includes(st.key)) continue;
    nArgs(st, 1, 1);
    const name = st.args[0]!.text;
    if (out.has(name)) throw err(st, `${keys[0]} ${name} is defined twice`);
    out.set(name, parse(st, name));
  }
  return out;
}

/** The most addresses one range entry gives (a /20). */
const MAX_RANGE = 4096;

/**
 * An entry's key as its addresses: `IP`, `A.B.C.D-E` (the last byte from D to E), `A.B.C.D-E.F.G.H`
 * (D to H across bytes) or `A.B.C.D/N` (from A.B.C.D to the last address of its /N), as
 * keepalived.conf(5) writes a virtual_server_group's ranges; both ends included.
 */
function addrRange(s: Stmt, where: string): string[] {
  const bad = (): never => { throw err(s, `${where}: "${s.key}" is not an IPv4 address or range (e.g. 192.168.1.1-10, 192.168.1.250-192.168.2.10, 192.168.1.8/29)`); };
  const m = /^([\d.]+)(?:-([\d.]+)|\/(\d{1,2}))?$/.exec(s.key);
  const first = m === null ? -1 : parseIp(m[1]!);
  if (first < 0) return bad();
  let last = first;
  if (m![2] !== undefined) {
    const byte = !m![2].includes('.');
    const end = byte ? first - (first % 256) + Number(m![2]) : parseIp(m![2]);
    if (end < 0) return bad();
    if (end <= first || (byte && Number(m![2]) > 255)) throw err(s, `${where}: "${s.key}": the range end must be above its start${byte ? ' and at most 255' : ''}`);
    last = end;
  } else if (m![3] !== undefined) {
    const len = Number(m![3]);
    if (len > 32) return bad();
    last = (first | ~prefixMask(len)) >>> 0;
  }
  if (last - first + 1 > MAX_RANGE) throw err(s, `${where}: "${s.key}" is ${last - first + 1} addresses, more than ${MAX_RANGE} in one entry`);
  const out: string[] = [];
  for (let a = first; a <= last; a++) out.push(formatIp(a));
  return out;
}

class Parser {
  readonly warnings: string[] = [];
  /** While a group's entry is read (groupServers): where what that entry's own port makes is warned. */
  private entryWarnings: string[] | undefined;
  /** The top-level track_file blocks by name (FILE_CHECK names one). */
  private trackFiles = new Map<string, TrackFile>();
  /** The top-level SSL block: the client certificate every SSL_GET presents. */
  private ssl: TlsClient | undefined;
  /** The top-level local_address_group blocks by name (DPVS's; a virtual_server's laddr_group_name names one). */
  private laddrGroups = new Map<string, string[]>();
  /** The top-level bfd_instance blocks by name (BFD_CHECK names one). */
  private bfds = new Map<string, BfdParams>();
  /** Who runs a script without a user: global_defs' script_user, else keepalived_script if there is one. */
  private scriptUser: ScriptUser | undefined;
  /** The first script (MISC_CHECK, notify or quorum command) that runs as root (uvsd's user): warned about once. */
  private asRoot: Stmt | undefined;
  /** global_defs' enable_script_security: scripts without a user to run as, or that others could change, are refused. */
  private scriptSecurity = false;
  /** global_defs checker_log_all_failures: every checker's log_all_failures unless its own says. */
  private logAllFailures = false;
  /** Without enable_script_security: the first script others could change, and why (one warning for all). */
  private insecure: { st: Stmt; why: string } | undefined;
  private insecureCount = 0;
  /** The DR/TUN real_server statements of virtual_server fwmark blocks written with a port (cleared to 0): one warning for all. */
  private readonly portCleared = new Set<Stmt>();
  /** A checker's own alpha (keepalived 2.x: in a checker block as in a real_server). */
  private readonly checkerAlpha = new WeakMap<CheckSpec, boolean>();

  constructor(private readonly opts: ParseOptions) {}

  /** `user USER [GROUP]` (MISC_CHECK, global_defs' script_user): a name not found is an error, as keepalived refuses it. */
  private user(st: Stmt): ScriptUser {
    nArgs(st, 1, 2);
    return this.userAt(st, 0);
  }

  /** USER [GROUP] from st's argument i on. */
  private userAt(st: Stmt, i: number): ScriptUser {
    const u = (this.opts.lookupUser ?? lookupScriptUser)(st.args[i]!.text, st.args[i + 1]?.text);
    if (typeof u === 'string') throw err(st, `${st.key}: ${u}`);
    return u;
  }

  /**
   * Who runs script `command` (line st): its own user, else the default script user; none (root):
   * remembered for the one warning. Under enable_script_security, as keepalived's
   * check_script_secure, undefined with a warning at st when there is no user to run it as
   * ("Unable to set default user keepalived_script") or when a user other than root could change
   * what it runs as root: the script is left out (`leftOut` says how). The warning about root names rootAt.
   */
  private runAs(st: Stmt, command: string, own: ScriptUser | undefined, leftOut: string, rootAt = st): { user?: ScriptUser } | undefined {
    const user = own ?? this.scriptUser;
    const refuse = (why: string): undefined => {
      this.warn(st, `${st.key} ${command} refused (enable_script_security): ${why}; ${leftOut}`);
      return undefined;
    };
    if (user === undefined && this.scriptSecurity) {
      return refuse(`no user to run it as: global_defs has no script_user and there is no ${DEFAULT_SCRIPT_USER} user (keepalived refuses it too)`);
    }
    const why = this.opts.scriptInsecurity?.(command, user);
    if (why !== undefined && this.scriptSecurity) return refuse(`it runs as root and ${why}`);
    if (why !== undefined) {
      this.insecure ??= { st, why: `${command}: ${why}` };
      this.insecureCount++;
    }
    if (user === undefined) this.asRoot ??= rootAt;
    return user !== undefined ? { user } : {};
  }

  /** keepalived's default script user: global_defs' script_user, else the user keepalived_script if it exists, else root (undefined). */
  private defaultScriptUser(globals: Stmt[]): ScriptUser | undefined {
    const st = globals.filter((s) => s.key === 'script_user').at(-1);
    if (st !== undefined) return this.user(st);
    const u = (this.opts.lookupUser ?? lookupScriptUser)(DEFAULT_SCRIPT_USER);
    return typeof u === 'string' ? undefined : u;
  }

  /**
   * `notify_up "LINE" [USER [GROUP]]` (notify_down, quorum_up, quorum_down): run as USER, else as
   * the default script user (keepalived's notify_script_init). A line that could not run now is
   * warned about (keepalived checks its scripts at load too).
   */
  private script(st: Stmt): NotifyScript | undefined {
    nArgs(st, 1, 3);
    const command = st.args[0]!.text;
    const why = this.opts.commandProblem?.(command);
    if (why !== undefined) this.warn(st, `${st.key}: ${why}: it will fail when it is run`);
    const user = this.runAs(st, command, st.args.length > 1 ? this.userAt(st, 1) : undefined, 'it is not run (keepalived drops it too)');
    return user === undefined ? undefined : { command, ...user };
  }

  /**
   * `KEY [on|off]` (alpha of a real_server or checker, a real_server's inhibit_on_failure, SSL_GET's
   * enable_sni: keepalived's check_true_false words); a bad word is warned about and undefined.
   */
  boolArg(st: Stmt): boolean | undefined {
    nArgs(st, 0, 1);
    const w = st.args[0]?.text ?? 'true';
    if (['true', 'on', 'yes'].includes(w)) return true;
    if (['false', 'off', 'no'].includes(w)) return false;
    this.warn(st, `${st.key} "${w}" ignored: not on/off, true/false or yes/no (keepalived: "Invalid ${st.key} parameter")`);
    return undefined;
  }

  /**
   * Whether st (sorry_server_lvs_method or _inhibit) comes after a sorry_server; else it is said to be
   * ignored, as keepalived 2.x ignores it ("sorry_server forwarding used without sorry_server",
   * "Ignoring sorry_server inhibit used before or without sorry_server").
   */
  afterSorry(st: Stmt, vs: VirtualServerSpec, name: string): boolean {
    if (vs.sorryServer !== undefined) return true;
    this.warn(st, `${st.key} ignored: no sorry_server before it in virtual_server ${name} (keepalived reads it only after one)`);
    return false;
  }

  /**
   * inherited() in a virtual_server or real_server, where keepalived 2.x takes a retry of 1 or more
   * only ("retry value invalid - 0": its checkers keep their own or their default); 0 is a checker's.
   */
  outerInherited(st: Stmt, d: Inherited): boolean {
    if (st.key !== 'retry' || st.args.length !== 1 || !/^0+$/.test(st.args[0]!.text)) return inherited(st, d);
    this.warn(st, 'retry 0 ignored outside a checker, as keepalived ignores it ("retry value invalid - 0"): write it in the checker');
    return true;
  }

  /**
   * A flag keepalived 2.2.7 sets whatever words follow it (a virtual_server's alpha, omega, ha_suspend,
   * inhibit_on_failure; ops, sorry_server_inhibit, the scheduler flags, misc_dynamic, regex_no_match):
   * on, the words said to be ignored. On its block's "{" line they are refused (noArgs says why).
   */
  flag(st: Stmt): true {
    if (st.braceLine) noArgs(st);
    if (st.args.length > 0) this.warn(st, `${st.key} ${st.args.map((a) => `"${a.text}"`).join(' ')}: keepalived reads no word after ${st.key} and sets it: on, as there (without the line it is off)`);
    return true;
  }

  /** A warning at st's line (a property: handed to method() as it is). */
  readonly warn = (st: Stmt, msg: string): void => {
    this.warnAt(st.at, msg);
  };

  warnAt(at: Origin, msg: string, to: string[] = this.warnings): void {
    to.push(`${at.file}:${at.line}: ${msg}`);
  }

  /** An unknown keyword, warned about and ignored (keepalived's "Unknown keyword"); why: said after it. */
  unsupported(st: Stmt, inside: string, why = st.key === 'nb_get_retry' ? NB_GET_RETRY_ELSEWHERE : undefined): void {
    this.warn(st, `unsupported keyword "${st.key}" in ${inside} ignored${why !== undefined ? ` (${why})` : ''}`);
  }

  top(stmts: Stmt[]): HealthConfig {
    const services: VirtualServerSpec[] = [];
    const seen = new Set<string>();
    const add = (st: Stmt, vs: VirtualServerSpec | undefined): void => {
      if (vs === undefined) return;
      const k = serviceId(serviceKey(vs));
      if (seen.has(k)) throw err(st, `virtual_server ${vs.fwmark !== undefined ? `fwmark ${vs.fwmark}` : `${vs.addr} ${vs.port} (${vs.proto})`} is defined twice`);
      seen.add(k);
      services.push(vs);
    };
    // Groups first: a virtual_server may name one defined further down (keepalived reads the
    // whole file before it checks).
    const groups = this.groups(stmts);
    this.trackFiles = this.trackFileBlocks(stmts);
    this.ssl = this.sslBlock(stmts);
    this.bfds = this.bfdInstances(stmts);
    this.laddrGroups = this.localAddressGroups(stmts);
    // The global_defs statements read (GLOBALS_READ), of every global_defs block.
    const globals = stmts.filter((g) => g.key === 'global_defs').flatMap((g) => g.block ?? []);
    this.scriptUser = this.defaultScriptUser(globals);
    this.scriptSecurity = globals.some((s) => s.key === 'enable_script_security');
    for (const s of globals) if (s.key === 'checker_log_all_failures') this.logAllFailures = this.boolArg(s) ?? this.logAllFailures;
    for (const st of stmts) {
      if (['virtual_server_group', 'local_address_group', 'track_file', 'vrrp_track_file', 'SSL', 'bfd_instance'].includes(st.key)) continue;
      if (st.key === 'virtual_server') {
        if (st.args[0]?.text === 'fwmark') {
          // The marks themselves were iptables rules: uvsd's come from uvsadm --add-mark or a --config file's marks.
          nArgs(st, 2, 2);
          add(st, this.virtualServer(st, '0.0.0.0', 0, intArg(st, 1, 1, MAX_FWMARK)));
          continue;
        }
        if (st.args[0]?.text === 'group') {
          nArgs(st, 2, 2);
          for (const vs of this.groupServers(st, groups)) add(st, vs);
          continue;
        }
        nArgs(st, 1, 2);
        if (isIPv6(st.args[0]!.text)) {
          this.warn(st, `virtual_server ${st.args.map((a) => a.text).join(' ')} skipped: uvs does not support IPv6`);
          continue;
        }
        // No port (keepalived takes one as 0), or 0: every port of the address, made persistent.
        add(st, this.virtualServer(st, ipArg(st, 0), st.args.length > 1 ? portArg(st, 1, true) : 0));
        continue;
      }
      // One warning per skipped section, naming what was inside.
      const name = [st.key, ...st.args.map((a) => a.text)].join(' ');
      // global_defs' script_user (defaultScriptUser), enable_script_security and checker_log_all_failures are read.
      const inner = st.block ? [...new Set(st.block.map((s) => s.key))].filter((k) => st.key !== 'global_defs' || !GLOBALS_READ.has(k)) : [];
      if (inner.length === 0 && st.block?.length) continue;
      const why = /^vrrp_/.test(st.key) ? 'uvs does no VRRP' : 'not a virtual_server';
      this.warn(st, `${name} ignored (${why})${inner.length > 0 ? `; skipped: ${inner.join(', ')}` : ''}`);
      // keepalived would run the sync daemons; uvs's need a key file keepalived has no keyword for.
      for (const sd of st.block ?? []) {
        if (sd.key === 'lvs_sync_daemon' || sd.key === 'lvs_sync_daemon_interface') {
          this.warn(sd, `${sd.key} ignored: start uvs's sync daemons with daemon.sync in the --config file (or uvsadm --start-daemon), which also take the key file (docs/ha.md)`);
        }
      }
    }
    const first = this.portCleared.values().next().value;
    if (first !== undefined) {
      const n = this.portCleared.size;
      this.warn(first, `${n === 1 ? 'a DR/TUN real_server' : `${n} DR/TUN real_servers`} of virtual_server fwmark written with a port (the first here): ` +
        'at port 0 in the table, as keepalived programs them (ipvsadm -r RIP: each flow keeps its own port); checks without connect_port use the port written');
    }
    if (this.insecure !== undefined) {
      const n = this.insecureCount;
      this.warn(this.insecure.st, `SECURITY VIOLATION - scripts are being executed but script_security not enabled. There are insecure scripts (keepalived's warning; ` +
        `${n === 1 ? 'this one' : `${n}, the first here`}: ${this.insecure.why}): add enable_script_security to global_defs to refuse them`);
    }
    if (this.asRoot !== undefined) {
      // keepalived: "WARNING - default user 'keepalived_script' for script execution does not exist - please create."
      this.warn(this.asRoot, `scripts without a user run as root (uvsd's user): global_defs has no script_user and there is no ${DEFAULT_SCRIPT_USER} user`);
    }
    return { services };
  }

  /**
   * track_file NAME { file PATH; weight W [reverse]; init_file [VALUE] [overwrite] } (also its
   * deprecated name vrrp_track_file): files whose number a real server's FILE_CHECK follows.
   * Stricter than keepalived, which skips a bad one with a message: an error with file:line (an
   * unknown keyword is a warning, as keepalived's "Unknown keyword").
   */
  trackFileBlocks(stmts: Stmt[]): Map<string, TrackFile> {
    return namedBlocks(stmts, ['track_file', 'vrrp_track_file'], (st, name) => {
      if (st.key === 'vrrp_track_file') this.warn(st, 'vrrp_track_file is deprecated: write track_file (keepalived warns the same)');
      let path: string | undefined;
      const tf: Omit<TrackFile, 'path'> = { weight: 1, reverse: false };
      for (const s of needBlock(st)) {
        switch (s.key) {
          case 'file': nArgs(s, 1, 1); path = s.args[0]!.text; break;
          case 'weight': Object.assign(tf, trackWeight(s, 254)); break;
          case 'init_file': {
            nArgs(s, 0, 2);
            const init = { value: 0, overwrite: false };
            for (let i = 0; i < s.args.length; i++) {
              if (s.args[i]!.text === 'overwrite') init.overwrite = true;
              else init.value = intArg(s, i, -254, 254);
            }
            tf.init = init;
            break;
          }
          default: this.unsupported(s, `track_file ${name}`);
        }
      }
      if (path === undefined || path === '') throw err(st, `track_file ${name} needs a file`);
      return { ...tf, path };
    });
  }

  /**
   * SSL { password P; ca FILE; certificate FILE; key FILE }: what every SSL_GET presents to a
   * server that asks for a client certificate (keepalived's check_ssl.c: the CA file is loaded,
   * the server is not verified). The files are checked when the file is loaded (load.ts).
   */
  sslBlock(stmts: Stmt[]): TlsClient | undefined {
    const blocks = stmts.filter((st) => st.key === 'SSL');
    if (blocks.length === 0) return undefined;
    if (blocks.length > 1) throw err(blocks[1]!, 'SSL is defined twice');
    const st = blocks[0]!;
    noArgs(st);
    const t: TlsClient = { origin: st.at };
    for (const s of needBlock(st)) {
      nArgs(s, 1, 1);
      const v = s.args[0]!.text;
      switch (s.key) {
        case 'password': t.password = v; break;
        case 'ca': t.ca = v; break;
        case 'certificate': t.certificate = v; break;
        case 'key': t.key = v; break;
        default: this.unsupported(s, 'SSL');
      }
    }
    if ((t.certificate === undefined) !== (t.key === undefined)) throw err(st, 'SSL: certificate and key go together');
    return t;
  }

  /**
   * bfd_instance NAME { neighbor_ip IP; source_ip IP; min_rx MS; min_tx MS; idle_tx MS;
   * multiplier N } (keepalived's BFD process): the BFD sessions a real server's BFD_CHECK follows.
   * passive, ttl, max_hops and weight are warned about and ignored.
   */
  bfdInstances(stmts: Stmt[]): Map<string, BfdParams> {
    return namedBlocks(stmts, ['bfd_instance'], (st, name) => {
      const p: Omit<BfdParams, 'neighbor'> & { neighbor?: string } = { ...BFD_DEFAULTS };
      for (const s of needBlock(st)) {
        switch (s.key) {
          case 'neighbor_ip':
          case 'neighbour_ip': nArgs(s, 1, 1); p.neighbor = ipArg(s, 0); break;
          case 'source_ip': nArgs(s, 1, 1); p.source = ipArg(s, 0); break;
          case 'min_rx': nArgs(s, 1, 1); p.minRxMs = intArg(s, 0, 1, 60000); break;
          case 'min_tx': nArgs(s, 1, 1); p.minTxMs = intArg(s, 0, 1, 60000); break;
          case 'idle_tx': nArgs(s, 1, 1); p.idleTxMs = intArg(s, 0, 1, 60000); break;
          case 'multiplier': nArgs(s, 1, 1); p.multiplier = intArg(s, 0, 1, 255); break;
          default: this.unsupported(s, `bfd_instance ${name}`); // passive, ttl, hoplimit, max_hops, weight too
        }
      }
      if (p.neighbor === undefined) throw err(st, `bfd_instance ${name} needs a neighbor_ip`);
      return { ...p, neighbor: p.neighbor };
    });
  }

  /** BFD_CHECK { name NAME; alpha [on|off] }: passes while the named bfd_instance's session is Up (weight: warned, ignored). */
  bfdCheck(st: Stmt): BfdCheck {
    noArgs(st);
    let name: string | undefined;
    let alpha: boolean | undefined;
    for (const s of needBlock(st)) {
      switch (s.key) {
        case 'name': name = definedName(s, this.bfds, 'bfd_instance', 'neighbor_ip IP'); break;
        case 'alpha': alpha = this.boolArg(s) ?? alpha; break;
        default: this.unsupported(s, 'BFD_CHECK');
      }
    }
    if (name === undefined) throw err(st, 'BFD_CHECK needs the name of a bfd_instance');
    const c = bfdCheckSpec({ origin: st.at, instance: name, bfd: this.bfds.get(name)! });
    if (alpha !== undefined) this.checkerAlpha.set(c, alpha);
    return c;
  }

  /**
   * FILE_CHECK { track_file NAME; weight W [reverse|noreverse] } (keepalived 2.2): the named
   * track_file's number; its weight and reverse unless the checker gives its own. Read at start
   * and every FILE_POLL_MS; no retry, rise or fall (each reading applies at once, as keepalived's).
   */
  fileCheck(st: Stmt): FileCheck {
    noArgs(st);
    let name: string | undefined;
    let own: { weight: number; reverse: boolean } | undefined;
    for (const s of needBlock(st)) {
      switch (s.key) {
        case 'track_file': name = definedName(s, this.trackFiles, 'track_file', 'file PATH'); break;
        case 'weight': own = trackWeight(s, 2147483647); break;
        default: this.unsupported(s, 'FILE_CHECK');
      }
    }
    if (name === undefined) throw err(st, 'FILE_CHECK needs a track_file');
    const tf = this.trackFiles.get(name)!;
    return fileCheckSpec({ origin: st.at, trackFile: name, path: tf.path, ...(own ?? { weight: tf.weight, reverse: tf.reverse }), init: tf.init });
  }

  /**
   * virtual_server_group NAME { IP [PORT]; A.B.C.D-E [PORT]; fwmark N }: the entries of each
   * group (a range is of the last byte, both ends included; no port or 0 is every port, as in
   * keepalived; a fwmark entry is a -f service, its marks uvsd's --add-mark rules).
   */
  groups(stmts: Stmt[]): Map<string, GroupEntry[]> {
    return namedBlocks(stmts, ['virtual_server_group'], (st, name) => {
      const entries: GroupEntry[] = [];
      const seen = new Set<string>();
      for (const s of needBlock(st)) {
        if (s.block !== undefined) throw err(s, `${s.key}: a virtual_server_group entry takes no block`);
        if (s.key === 'fwmark') {
          // fwmark N [inet|inet6]: the family of its (tunnelled) servers, keepalived.conf(5).
          nArgs(s, 1, 2);
          const fwmark = intArg(s, 0, 1, MAX_FWMARK);
          const family = s.args[1]?.text;
          if (family !== undefined && family !== 'inet' && family !== 'inet6') throw err(s, `virtual_server_group ${name}: fwmark ${fwmark} "${family}": the family is inet or inet6`);
          if (family === 'inet6') {
            this.warn(s, `virtual_server_group ${name}: fwmark ${fwmark} inet6 skipped: uvs does not support IPv6`);
            continue;
          }
          if (seen.has(`fwmark ${fwmark}`)) throw err(s, `virtual_server_group ${name}: fwmark ${fwmark} is listed twice`);
          seen.add(`fwmark ${fwmark}`);
          entries.push({ addr: '0.0.0.0', port: 0, fwmark });
          continue;
        }
        nArgs(s, 0, 1);
        if (isIPv6(s.key.split('-')[0]!)) {
          this.warn(s, `virtual_server_group ${name}: ${s.key} skipped: uvs does not support IPv6`);
          continue;
        }
        const port = s.args.length === 0 ? 0 : portArg(s, 0, true);
        for (const addr of addrRange(s, `virtual_server_group ${name}`)) {
          const k = `${addr}:${port}`;
          if (seen.has(k)) throw err(s, `virtual_server_group ${name}: ${addr} ${port} is listed twice`);
          seen.add(k);
          entries.push({ addr, port });
        }
      }
      return entries;
    });
  }

  /**
   * DPVS's local_address_group NAME { IP [IFACE]; A.B.C.D-E [IFACE] }: the FULLNAT local
   * addresses (LIPs) of the virtual servers that name it in laddr_group_name. The interface word
   * is read and not used: uvsd has one port, and answers ARP for its LIPs there.
   */
  localAddressGroups(stmts: Stmt[]): Map<string, string[]> {
    return namedBlocks(stmts, ['local_address_group'], (st, name) => {
      const addrs: string[] = [];
      for (const s of needBlock(st)) {
        if (s.block !== undefined) throw err(s, `${s.key}: a local_address_group entry takes no block`);
        nArgs(s, 0, 1);
        for (const a of addrRange(s, `local_address_group ${name}`)) {
          if (addrs.includes(a)) throw err(s, `local_address_group ${name}: ${a} is listed twice`);
          addrs.push(a);
        }
      }
      return addrs;
    });
  }

  /**
   * virtual_server group NAME: one service per entry of the group, each with the block's
   * settings and real servers (a real_server without a port takes the entry's). The block's
   * warnings are said once. A real server is checked once for the whole group, as keepalived
   * does (HealthManager shares the checks of a group's services).
   */
  groupServers(st: Stmt, groups: Map<string, GroupEntry[]>): VirtualServerSpec[] {
    const name = st.args[1]!.text;
    const entries = groups.get(name);
    if (entries === undefined || entries.length === 0) {
      // keepalived: "virtual server group ... not configured - ignoring virtual server"
      this.warn(st, `virtual_server group ${name} skipped: ${entries === undefined ? `no virtual_server_group ${name} is defined` : `virtual_server_group ${name} has no entries`}`);
      return [];
    }
    const out: VirtualServerSpec[] = [];
    // What an entry's own port makes (a DR or TUN real or sorry server's port reset to it: keepalived
    // warns "ports don't match" for each such entry) is said for every entry, each text once.
    const said = new Set<string>();
    // keepalived: a group with a port-0 address entry makes its virtual server persistent.
    const zeroPort = entries.some((e) => e.fwmark === undefined && e.port === 0);
    // keepalived checks a group's virtual server once: a fwmark entry clears its ha_suspend ("cannot use ha_suspend
    // with fwmarks"), an address entry makes it need a protocol.
    const kinds: GroupKinds = { mark: entries.some((e) => e.fwmark !== undefined), addr: entries.some((e) => e.fwmark === undefined) };
    for (const [i, e] of entries.entries()) {
      const from = this.warnings.length;
      const own: string[] = [];
      this.entryWarnings = own;
      try {
        const vs = this.virtualServer(st, e.addr, e.port, e.fwmark, zeroPort, kinds);
        if (vs !== undefined) out.push({ ...vs, group: name });
      } finally {
        this.entryWarnings = undefined;
      }
      // The block's own warnings are the same for every entry: said for the first.
      if (i > 0) this.warnings.length = from;
      for (const w of own) {
        if (said.has(w)) continue;
        said.add(w);
        this.warnings.push(w);
      }
    }
    return out;
  }

  /**
   * One service of a virtual_server block, checked as keepalived's validate_check_config checks it
   * (each fix warned): none without real servers; no protocol is UDP, no lb_kind NAT; port 0 makes
   * it persistent (zeroPort: a group with such an entry); quorum at most the real servers' weight.
   */
  virtualServer(st: Stmt, addr: string, port: number, fwmark = 0, zeroPort = port === 0 && fwmark === 0, grp?: GroupKinds): VirtualServerSpec | undefined {
    const body = needBlock(st);
    // How messages name it, as it is written: "192.168.8.200 80", "fwmark 1".
    const name = fwmark !== 0 ? `fwmark ${fwmark}` : `${addr} ${port}`;
    const d: Inherited = { ...DEFAULTS };
    const vs: VirtualServerSpec = {
      proto: 'tcp', addr, port, ...(fwmark !== 0 ? { fwmark } : {}), sched: 'wlc', fwd: 'nat', persistence: 0, delayLoopMs: DEFAULTS.delayLoopMs,
      quorum: 1, hysteresis: 0, alpha: false, omega: false, realServers: [], origin: st.at,
    };
    // Inheritable keywords first, so they apply to every real server whatever the order.
    const rest: Stmt[] = [];
    for (const s of body) if (!this.outerInherited(s, d)) rest.push(s);
    vs.delayLoopMs = d.delayLoopMs;
    const rsStmts: Stmt[] = [];
    let granularity: string | undefined;
    let ops: Stmt | undefined;
    let synproxy: Stmt | undefined;
    let laddrGroup: Stmt | undefined;
    let pe: Stmt | undefined;
    let sorryMethod: { fwd: Fwd; tun?: TunOptions } | undefined;
    let sorryInhibit = false;
    let fwdGiven = false;
    let protoAt: Stmt | undefined;
    let schedGiven = false;
    let quorumAt: Stmt | undefined;
    let weight = 1;
    const flagStmts: Stmt[] = [];
    let inet6: Stmt | undefined;
    for (const s of rest) {
      switch (s.key) {
        case 'lb_algo':
        case 'lvs_sched':
          nArgs(s, 1, 1);
          schedGiven = true;
          // keepalived: "Invalid lvs_scheduler '...' - ignoring". A running service keeps the
          // scheduler it has (keepalivedServices); a new one gets the default, wlc. Until
          // 2026-12-07 a reload switched a running rr service to wlc while saying it "keeps" it.
          if (schedulerNames().includes(s.args[0]!.text)) {
            vs.sched = s.args[0]!.text;
            delete vs.schedIgnored;
          } else {
            vs.schedIgnored = true;
            this.warn(s, `${s.key} "${s.args[0]!.text}" ignored: no such scheduler (${schedulerNames().join(', ')}); virtual_server ${name} keeps the scheduler it runs with (new: ${vs.sched})`);
          }
          break;
        case 'lb_kind':
        case 'lvs_method': {
          const m = method(s, this.warn);
          if (m !== undefined) Object.assign(vs, m);
          fwdGiven ||= m !== undefined;
          break;
        }
        case 'protocol': {
          nArgs(s, 1, 1);
          const p = s.args[0]!.text.toUpperCase();
          if (p !== 'TCP' && p !== 'UDP' && p !== 'SCTP') throw err(s, `protocol: "${s.args[0]!.text}" is not TCP, UDP or SCTP`);
          vs.proto = p === 'TCP' ? 'tcp' : p === 'UDP' ? 'udp' : 'sctp';
          protoAt = s;
          break;
        }
        case 'persistence_timeout':
          nArgs(s, 0, 1);
          if (s.args.length === 1 && /^0+$/.test(s.args[0]!.text)) {
            // keepalived logs "persistence_timeout invalid" and ignores it: not persistent.
            this.warn(s, `persistence_timeout 0 ignored (as keepalived does): virtual_server ${name} is not persistent`);
            vs.persistence = 0;
            break;
          }
          vs.persistence = s.args.length === 0 ? KEEPALIVED_PERSISTENCE_S : intArg(s, 0, 1, 2678400);
          break;
        case 'persistence_granularity': {
          nArgs(s, 1, 1);
          const v = s.args[0]!.text;
          if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(v) || parseIp(v) < 0) throw err(s, `persistence_granularity: "${v}" is not an IPv4 netmask (e.g. 255.255.255.0)`);
          granularity = v;
          break;
        }
        case 'sorry_server':
          nArgs(s, 1, 2);
          // keepalived: "Address family of virtual server and sorry server ... don't match - skipping sorry server".
          if (isIPv6(s.args[0]!.text)) this.warn(s, `sorry_server ${s.args[0]!.text} ignored: uvs does not support IPv6`);
          else vs.sorryServer = { addr: ipArg(s, 0), port: destPort(s.args.length > 1 ? portArg(s, 1, true) : undefined, port), origin: s.at };
          break;
        case 'sorry_server_lvs_method': {
          const m = method(s, this.warn);
          if (m !== undefined && this.afterSorry(s, vs, name)) sorryMethod = m;
          break;
        }
        case 'sorry_server_inhibit': this.flag(s); if (this.afterSorry(s, vs, name)) sorryInhibit = true; break;
        case 'quorum': nArgs(s, 1, 1); vs.quorum = intArg(s, 0, 1, 2147483647); quorumAt = s; break;
        case 'weight': nArgs(s, 1, 1); weight = intArg(s, 0, 1, MAX_WEIGHT); break; // its real servers' weight when they give none
        case 'hysteresis': nArgs(s, 1, 1); vs.hysteresis = intArg(s, 0, 0, 2147483647); break;
        case 'quorum_up':
        case 'quorum_down': {
          const sc = this.script(s);
          if (sc !== undefined) vs[s.key === 'quorum_up' ? 'quorumUp' : 'quorumDown'] = sc;
          break;
        }
        case 'alpha': vs.alpha = this.flag(s); break;
        case 'omega': vs.omega = this.flag(s); break;
        case 'ha_suspend': vs.haSuspend = this.flag(s); break;
        case 'inhibit_on_failure': d.inhibitOnFailure = this.flag(s); break;
        case 'ops': this.flag(s); ops = s; break;
        case 'syn_proxy': noArgs(s); synproxy = s; break;
        case 'laddr_group_name': definedName(s, this.laddrGroups, 'local_address_group', 'IP [IFACE]'); laddrGroup = s; break;
        case 'persistence_engine': {
          nArgs(s, 1, 1);
          const v = s.args[0]!.text;
          if (!PE_NAMES.includes(v as PeName) || v === '') throw err(s, `persistence_engine: "${v}" is not a persistence engine (uvs has sip)`);
          pe = s;
          break;
        }
        case 'sh-port':
        case 'sh-fallback':
        case 'mh-port':
        case 'mh-fallback':
        case 'flag-1':
        case 'flag-2':
        case 'flag-3': this.flag(s); flagStmts.push(s); break;
        case 'real_server': rsStmts.push(s); break;
        case 'ip_family': {
          // keepalived: inet or inet6; another word "unknown address family", one against the address "conflicts with server family".
          nArgs(s, 1, 1);
          const f = s.args[0]!.text;
          if (f === 'inet6' && fwmark !== 0) inet6 = s;
          else if (f !== 'inet') this.warn(s, `ip_family ${f} ignored: ${f === 'inet6' ? `virtual_server ${name} is IPv4` : 'not inet or inet6'}, as keepalived ignores it`);
          break;
        }
        default: this.unsupported(s, `virtual_server ${name}`);
      }
    }
    if (inet6 !== undefined) {
      this.warn(inet6, `virtual_server ${name} skipped: ip_family inet6 makes it an IPv6 service, and uvs does not support IPv6`);
      return undefined;
    }
    const seen = new Set<string>();
    for (const s of rsStmts) {
      const rs = this.realServer(s, d, vs, weight);
      if (rs === undefined) continue;
      const k = `${rs.addr}:${rs.port}`;
      if (seen.has(k)) {
        this.warn(s, `real_server ${rs.addr} ${rs.port} is already in virtual_server ${name}: this one is dropped, as keepalived does ("is duplicated - removing second rs")`);
        continue;
      }
      seen.add(k);
      vs.realServers.push(rs);
    }
    if (vs.realServers.length === 0) {
      // keepalived: "Virtual server ... has no real servers - ignoring": no service at all, even with a sorry_server.
      this.warn(st, `virtual_server ${name} skipped: it has no real servers (keepalived ignores it too, sorry_server or not)`);
      return undefined;
    }
    if (!schedGiven) {
      // keepalived: "Virtual server ...: no scheduler set, setting default 'wlc'".
      this.warn(st, `virtual_server ${name} has no lb_algo: wlc, keepalived's default`);
    }
    if (vs.haSuspend && grp?.mark === true) {
      // keepalived clears it for the whole virtual server when its group has a fwmark entry (one real server, one set of checks).
      this.warn(st, `virtual_server group ${st.args[1]!.text}: ha_suspend cleared for all its entries, as keepalived clears it: the group has a fwmark entry, which has no VIP to hold, so its checks always run`);
      delete vs.haSuspend;
    } else if (vs.haSuspend && fwmark !== 0) {
      // keepalived: "Virtual server FWM N: cannot use ha_suspend with fwmarks - clearing ha_suspend" (no VIP to hold).
      this.warn(st, `virtual_server ${name}: ha_suspend cleared, as keepalived clears it: a fwmark service has no VIP to hold, its checks always run`);
      delete vs.haSuspend;
    }
    // A group with address entries needs its protocol (keepalived warns only when all its entries are marks).
    if (protoAt !== undefined && fwmark !== 0 && grp?.addr !== true) {
      // keepalived: "Virtual server FWM N: protocol specified for fwmark - protocol will be ignored".
      this.warn(protoAt, `protocol ignored: virtual_server ${name} takes what its marks select, whatever the protocol, as keepalived says ("protocol will be ignored")`);
    }
    if (protoAt === undefined && grp?.addr === true) {
      // Said by every entry (the first's kept), a fwmark entry's too: its address entries are UDP.
      this.warn(st, `virtual_server group ${st.args[1]!.text} has no protocol: its address entries are UDP, keepalived's default`);
      if (fwmark === 0) vs.proto = 'udp';
    } else if (protoAt === undefined && fwmark === 0) {
      // keepalived: "no protocol set - defaulting to UDP" (what the kernel makes of protocol 0).
      this.warn(st, `virtual_server ${name} has no protocol: UDP, keepalived's default`);
      vs.proto = 'udp';
    }
    if (zeroPort && vs.persistence === 0 && granularity === undefined) {
      // keepalived: "zero port only valid for persistent services - setting" (IPVS refuses a port-0 service otherwise).
      this.warn(st, `virtual_server ${name}: port 0 needs persistence: persistence_timeout ${KEEPALIVED_PERSISTENCE_S}, as keepalived sets it`);
      vs.persistence = KEEPALIVED_PERSISTENCE_S;
    }
    // After the loop, so lb_algo and protocol count wherever they are written.
    if (pe !== undefined) {
      // The kernel takes it anywhere and uses it only for persistent UDP datagrams (others dropped).
      if (vs.persistence === 0) this.warn(pe, `persistence_engine ignored: virtual_server ${name} has no persistence_timeout`);
      else if (vs.proto !== 'udp' && fwmark === 0) this.warn(pe, `persistence_engine ignored: the SIP engine reads UDP datagrams (virtual_server ${name} is TCP)`);
      else vs.pe = pe.args[0]!.text as PeName;
    }
    if (ops !== undefined) {
      // The kernel applies one-packet scheduling to UDP only; ipvsadm -o refuses other services.
      if (vs.proto === 'udp' || fwmark !== 0) vs.oneShot = true;
      else this.warn(ops, `ops ignored: one-packet scheduling applies to UDP services only (virtual_server ${name} is TCP)`);
    }
    for (const f of flagStmts) {
      // flag-N are the kernel's generic scheduler flags (genericSchedFlag).
      const name = GENERIC_SCHED_FLAGS.includes(f.key) ? genericSchedFlag(vs.sched, f.key) : f.key;
      const sched = name?.slice(0, 2);
      if (name === undefined) {
        this.warn(f, `${f.key} ignored: no flag of the ${vs.sched} scheduler (flag-1 and flag-2 are sh-/mh-fallback and -port)`);
      } else if (vs.sched !== sched) {
        // keepalived: "sh-port only applies to sh scheduler - ignoring" (likewise mh-*).
        this.warn(f, `${f.key} ignored: it applies to the ${sched} scheduler only (lb_algo is ${vs.sched})`);
      } else if (!(vs.schedFlags ??= []).includes(name!)) vs.schedFlags.push(name!);
    }
    // Set after the loop, on the sorry_server read last (afterSorry: they came after one).
    if (sorryMethod !== undefined) Object.assign(vs.sorryServer!, sorryMethod);
    if (sorryInhibit) vs.sorryServer!.inhibit = true;
    if (granularity !== undefined) {
      vs.netmask = granularity;
      // keepalived: a granularity without a (valid) persistence_timeout makes the service persistent.
      if (vs.persistence === 0) vs.persistence = KEEPALIVED_PERSISTENCE_S;
    }
    if (!fwdGiven && [...vs.realServers, ...(vs.sorryServer ? [vs.sorryServer] : [])].some((r) => r.fwd === undefined)) {
      // keepalived: "no forwarding method set, setting default NAT" (said when a server takes the virtual server's).
      this.warn(st, `virtual_server ${name} has no lb_kind: NAT, keepalived's default`);
    }
    // keepalived: "quorum N ... exceeds total weight of real servers W, reducing quorum to W", else
    // it could never be reached and only the sorry server would serve (at least 1 here: at alive
    // weight 0 the quorum is lost anyway); then hysteresis below the quorum.
    const total = vs.realServers.reduce((sum, r) => sum + r.weight, 0);
    if (vs.quorum > Math.max(total, 1)) {
      this.warn(quorumAt!, `quorum ${vs.quorum} is above the total weight of virtual_server ${name}'s real servers (${total}): lowered to ${Math.max(total, 1)}, as keepalived does`);
      vs.quorum = Math.max(total, 1);
    }
    if (vs.hysteresis >= vs.quorum) {
      this.warn(st, `virtual_server ${name}: hysteresis ${vs.hysteresis} is not below quorum ${vs.quorum}: set to ${vs.quorum - 1}, as keepalived does`);
      vs.hysteresis = vs.quorum - 1;
    }
    const fnat = [vs.fwd, ...vs.realServers.map((r) => r.fwd), vs.sorryServer?.fwd].includes('fullnat');
    if (laddrGroup !== undefined) vs.laddrs = this.laddrGroups.get(laddrGroup.args[0]!.text)!;
    else if (fnat) {
      // DPVS's FNAT service without one has no source address for its servers: every connection would be dropped (laddr_exhausted).
      throw err(st, `virtual_server ${name}: lb_kind FNAT needs local addresses: laddr_group_name NAME (a top-level local_address_group NAME { IP [IFACE] })`);
    }
    if (synproxy !== undefined) {
      // Refused as uvsadm -A --synproxy is, but when the file is read, with the line.
      if (vs.proto !== 'tcp' || fwmark !== 0) {
        throw err(synproxy, `syn_proxy: virtual_server ${name} is ${fwmark !== 0 ? 'a fwmark service' : vs.proto.toUpperCase()}; the SYN proxy is for TCP services only`);
      }
      const servers: Array<[string, { fwd?: Fwd; addr: string; port: number }]> = vs.realServers.map((r) => ['real_server', r]);
      if (vs.sorryServer !== undefined) servers.push(['sorry_server', vs.sorryServer]);
      for (const [kind, r] of servers) {
        const fwd = r.fwd ?? vs.fwd;
        if (fwd === 'dr' || fwd === 'tun') {
          throw err(synproxy, `syn_proxy: ${kind} ${r.addr} ${r.port} is ${fwd.toUpperCase()}; a SYN proxy service's servers are NAT or FULLNAT (lb_kind NAT or FNAT)`);
        }
      }
      vs.synproxy = true;
    }
    const sorry = vs.sorryServer;
    // Set now, as a real_server's port is: the sorry server is only added once the quorum is lost.
    const sorryFwd = sorry?.fwd ?? vs.fwd;
    if (sorry && takesServicePort(sorryFwd, vs.fwmark) && sorry.port !== vs.port) {
      // keepalived: "virtual server ... and sorry server ports don't match - resetting".
      this.warnAt(sorry.origin!, `sorry_server ${sorry.addr} ${sorry.port}: a ${sorryFwd === 'dr' ? 'DR' : 'TUN'} server takes the virtual port: set to ${vs.port}, as keepalived does ` +
        '(sorry_server_lvs_method NAT reaches another port)', this.entryWarnings);
      sorry.port = vs.port;
    }
    // A sorry_server that is also a real_server (sorryAlsoServer) shares its inhibit setting, the real server's.
    const dup = sorryAlsoServer(vs);
    if (dup !== undefined && (sorry!.inhibit === true) !== dup.inhibitOnFailure) {
      // keepalived: "real server ... matches sorry server, but inhibit setting differs, setting|clearing on sorry server".
      this.warnAt(sorry!.origin!, `sorry_server ${sorry!.addr} ${sorry!.port} is also a real_server: sorry_server_inhibit ${dup.inhibitOnFailure ? 'set' : 'cleared'} ` +
        `to match its inhibit_on_failure, as keepalived does`);
      if (dup.inhibitOnFailure) sorry!.inhibit = true;
      else delete sorry!.inhibit;
    }
    return vs;
  }

  /** A real_server of vs (weight: the virtual server's `weight`, for one without its own); undefined: skipped (IPv6). */
  realServer(st: Stmt, vsDefaults: Inherited, vs: VirtualServerSpec, weight: number): RealServerSpec | undefined {
    nArgs(st, 1, 2);
    if (isIPv6(st.args[0]!.text)) {
      // keepalived: "Address family of virtual server and real server ... don't match - skipping real server".
      this.warn(st, `real_server ${st.args[0]!.text} skipped: uvs does not support IPv6`);
      return undefined;
    }
    const addr = ipArg(st, 0);
    // No port, or 0: the virtual server's (keepalived's validate_check_config sets it).
    const port = destPort(st.args.length > 1 ? portArg(st, 1, true) : undefined, vs.port);
    const body = needBlock(st);
    const d: Inherited = { ...vsDefaults };
    const rest: Stmt[] = [];
    for (const s of body) if (!this.outerInherited(s, d)) rest.push(s);
    const rs: RealServerSpec = { addr, port, weight, inhibitOnFailure: d.inhibitOnFailure, checkers: [], origin: st.at };
    let lowerAt: Stmt | undefined;
    let alpha = vs.alpha;
    const v6: V6Check[] = [];
    for (const s of rest) {
      if (CHECKERS.has(s.key)) {
        rs.checkers.push(...this.checkers(s, d, v6));
        continue;
      }
      switch (s.key) {
        case 'FILE_CHECK': rs.checkers.push(this.fileCheck(s)); break;
        case 'BFD_CHECK': rs.checkers.push(this.bfdCheck(s)); break;
        case 'weight': nArgs(s, 1, 1); rs.weight = intArg(s, 0, 0, MAX_WEIGHT); break;
        case 'lvs_method': Object.assign(rs, method(s, this.warn)); break;
        case 'lb_kind': this.unsupported(s, `real_server ${addr} ${port}`, 'keepalived 2.x reads a real_server\'s own method as lvs_method only: the server takes the virtual_server\'s'); break;
        case 'inhibit_on_failure': rs.inhibitOnFailure = this.boolArg(s) ?? rs.inhibitOnFailure; break;
        case 'alpha': alpha = this.boolArg(s) ?? alpha; break;
        case 'uthreshold': nArgs(s, 1, 1); rs.upper = intArg(s, 0, 0, MAX_THRESHOLD); break;
        case 'lthreshold': nArgs(s, 1, 1); rs.lower = intArg(s, 0, 0, MAX_THRESHOLD); lowerAt = s; break;
        case 'notify_up':
        case 'notify_down': {
          const sc = this.script(s);
          if (sc !== undefined) rs[s.key === 'notify_up' ? 'notifyUp' : 'notifyDown'] = sc;
          break;
        }
        default: this.unsupported(s, `real_server ${addr} ${port}`);
      }
    }
    // The kernel (ip_vs_add_dest) refuses a lower threshold above the upper one: say so here, with the line.
    if (lowerAt !== undefined && rs.lower! > (rs.upper ?? 0)) {
      throw err(lowerAt, `lthreshold ${rs.lower} is above uthreshold ${rs.upper ?? 0} in real_server ${addr} ${port}`);
    }
    const fwd = rs.fwd ?? vs.fwd;
    const servicePort = vs.fwmark !== undefined ? 0 : vs.port;
    if (port !== servicePort && (fwd === 'dr' || fwd === 'tun')) {
      // keepalived's validate_check_config: "fwmark virtual server FWM N, real server ... has port
      // specified - clearing": a DR/TUN server of a -f service is at port 0 (ipvsadm -r RIP), where
      // each flow keeps its own port; of another service: "ports don't match - resetting", to the
      // virtual port, which DR and TUN leave as it is. Its checkers without connect_port were given
      // the port written, so they still use it.
      const relying = rs.checkers.filter((c) => PORT_CHECKERS.has(c.type) && c.connectPort === undefined);
      for (const c of relying) c.connectPort = port;
      rs.port = servicePort;
      // A fwmark pool's servers usually all have a port: one line for the whole file (portCleared), not one each.
      if (vs.fwmark !== undefined) this.portCleared.add(st);
      else this.warnAt(st.at, `real_server ${addr} ${port}: a ${fwd.toUpperCase()} server takes the virtual port: port set to ${servicePort}, as keepalived does${relying.length > 0 ? `; its checks still use ${port}` : ''}`, this.entryWarnings);
    }
    // Said once the server is read, with what is left to check it (a server without checkers is never changed).
    for (const { checker, connectIp } of v6) {
      this.warn(connectIp, `${checker} skipped: connect_ip ${connectIp.args[0]!.text} is IPv6 and uvs does not support IPv6 (keepalived checks that address); ` +
        `real_server ${addr} ${port} ${rs.checkers.length > 0 ? 'is checked by its other checkers' : 'has no other checker: it stays in, unchecked'}`);
    }
    // keepalived's alpha: the server's, else the virtual server's, is its checkers' default; it starts failed if one of them has it on.
    const checkAlpha = rs.checkers.filter((c) => c.type !== 'FILE_CHECK').map((c) => this.checkerAlpha.get(c) ?? alpha);
    const startsFailed = checkAlpha.length === 0 ? alpha : checkAlpha.includes(true);
    if (startsFailed !== vs.alpha) rs.alpha = startsFailed;
    for (const c of rs.checkers) {
      if (PORT_CHECKERS.has(c.type) && (c.connectPort ?? rs.port) === 0) {
        this.warn(st, `real_server ${addr} ${port}: its ${c.type} has no port to check (port 0): it fails every attempt; give connect_port`);
      }
    }
    return rs;
  }

  /**
   * The checkers one checker block makes: one, or for an SMTP_CHECK with (deprecated) `host`
   * blocks one per host, each with the block's options but for its own connect options (keepalived
   * checks every host in turn and fails the server when one fails: a real_server's checkers do too).
   * One whose connect_ip is IPv6 is left out and put in v6.
   */
  checkers(st: Stmt, parent: Inherited, v6: V6Check[]): CheckSpec[] {
    const body = st.block ?? [];
    const hosts = st.key === 'SMTP_CHECK' ? body.filter((s) => s.key === 'host') : [];
    const rest = body.filter((s) => s.key !== 'host');
    // A host block takes the checker's common keywords (its own win), not helo_name (keepalived: "Unknown keyword").
    const blocks = hosts.length === 0 ? [st] : hosts.map((h) => {
      this.warn(h, 'the SMTP_CHECK host block is deprecated: write one SMTP_CHECK per host (keepalived warns the same); read as one check for this host');
      const own = needBlock(h).filter((s) => {
        if (s.key !== 'helo_name') return true;
        this.unsupported(s, 'an SMTP_CHECK host block');
        return false;
      });
      return { ...st, block: [...rest, ...own] };
    });
    return blocks.flatMap((b) => this.checker(b, parent, v6) ?? []);
  }

  /** A checker, and its own `alpha [on|off]` remembered for its real server (checkerAlpha); undefined: in v6. */
  checker(st: Stmt, parent: Inherited, v6: V6Check[]): CheckSpec | undefined {
    const alpha: { own?: boolean } = {};
    const c = this.checkerOf(st, parent, alpha, v6);
    if (c !== undefined && alpha.own !== undefined) this.checkerAlpha.set(c, alpha.own);
    return c;
  }

  private checkerOf(st: Stmt, parent: Inherited, alpha: { own?: boolean }, v6: V6Check[]): CheckSpec | undefined {
    noArgs(st);
    const body = st.block ?? [];
    const d: Inherited = { ...parent };
    const c: Partial<CheckCommon> = {};
    const dns: { queryType: DnsType; queryName: string } = { queryType: 'SOA', queryName: '.' };
    let helo = SMTP_DEFAULT_HELO;
    const urls: HttpUrl[] = [];
    let enableSni = false;
    const lengthAt: Stmt[] = [];
    const udp: { payload?: Buffer; requireReply: boolean; replyPrefix?: Buffer; replyMask?: Buffer; minReplyLength?: number; maxReplyLength?: number } = { requireReply: false };
    const misc: { command?: string; at?: Stmt; timeoutMs?: number; dynamic: boolean; user?: ScriptUser } = { dynamic: false };
    const inside = st.key;
    let connectIp6: Stmt | undefined;
    const http = st.key === 'HTTP_GET' || st.key === 'SSL_GET';
    let logAll = this.logAllFailures;
    for (const s of body) {
      // keepalived 2.x reads nb_get_retry (deprecated), and virtualhost, only in these two checkers, and has no
      // connect options in MISC_CHECK (misc_timeout is its limit): "Unknown keyword" elsewhere, and ignored, as here.
      if (http && s.key === 'nb_get_retry') {
        nArgs(s, 1, 1);
        d.retry = intArg(s, 0, 0, 1000);
        this.warn(s, `nb_get_retry is deprecated: write retry (keepalived warns the same; taken as retry ${d.retry})`);
        continue;
      }
      if ((s.key === 'virtualhost' && !http) || (st.key === 'MISC_CHECK' && MISC_FOREIGN.has(s.key))) {
        this.unsupported(s, inside);
        continue;
      }
      if (inherited(s, d)) continue;
      switch (s.key) {
        case 'connect_ip':
          nArgs(s, 1, 1);
          // keepalived checks an IPv6 connect_ip of an IPv4 server over IPv6: uvs cannot, the checker is left out (realServer says so).
          if (!isIPv6(s.args[0]!.text)) c.connectIp = ipArg(s, 0);
          else connectIp6 = s;
          continue;
        case 'connect_port': nArgs(s, 1, 1); c.connectPort = portArg(s, 0); continue;
        case 'bindto':
          nArgs(s, 1, 1);
          // keepalived: "bindto address ... does not match address family of connect_ip - skipping" (the real server's, IPv4, without one).
          if (isIPv6(s.args[0]!.text)) this.warn(s, `bindto ${s.args[0]!.text} ignored: it is IPv6 and the check goes to an IPv4 address (keepalived: "does not match address family of connect_ip - skipping")`);
          else c.bindto = ipArg(s, 0);
          continue;
        case 'bind_port':
          nArgs(s, 1, 1);
          if (st.key === 'PING_CHECK') this.warn(s, 'bind_port ignored: PING_CHECK has no source port');
          else c.bindPort = portArg(s, 0);
          continue;
      }
      if (s.key === 'alpha') {
        alpha.own = this.boolArg(s) ?? alpha.own;
        continue;
      }
      if (s.key === 'log_all_failures') {
        logAll = this.boolArg(s) ?? logAll;
        continue;
      }
      if (http && s.key === 'fast_recovery') {
        // Every attempt here checks every url: keepalived's fast_recovery, always (its words are read, and change nothing).
        this.boolArg(s);
        continue;
      }
      if (http && s.key === 'url') {
        urls.push(this.url(s));
        continue;
      }
      if (st.key === 'SSL_GET' && s.key === 'enable_sni') {
        enableSni = this.boolArg(s) ?? enableSni;
        continue;
      }
      if (st.key === 'UDP_CHECK') {
        switch (s.key) {
          case 'payload': nArgs(s, 1, MAX_HEX_WORDS); udp.payload = hexWords(s, false).bytes; continue;
          case 'require_reply': {
            nArgs(s, 0, MAX_HEX_WORDS);
            udp.requireReply = true;
            if (s.args.length === 0) continue;
            const { bytes, mask } = hexWords(s, true);
            udp.replyPrefix = bytes;
            if (mask !== undefined) udp.replyMask = mask;
            continue;
          }
          case 'min_reply_length': nArgs(s, 1, 1); udp.minReplyLength = intArg(s, 0, 0, 65535); lengthAt.push(s); continue;
          case 'max_reply_length': nArgs(s, 1, 1); udp.maxReplyLength = intArg(s, 0, 0, 65535); lengthAt.push(s); continue;
        }
      }
      if (st.key === 'DNS_CHECK' && s.key === 'type') {
        nArgs(s, 1, 1);
        const t = dnsType(s.args[0]!.text);
        if (t === undefined) this.warn(s, `DNS_CHECK type "${s.args[0]!.text}" is not one of ${Object.keys(DNS_TYPES).join(', ')}: SOA is queried (as keepalived does)`);
        else dns.queryType = t;
        continue;
      }
      if (st.key === 'DNS_CHECK' && s.key === 'name') {
        nArgs(s, 1, 1);
        const bad = dnsNameProblem(s.args[0]!.text);
        if (bad !== null) throw err(s, `DNS_CHECK name "${s.args[0]!.text}" ${bad}`);
        dns.queryName = s.args[0]!.text;
        continue;
      }
      if (st.key === 'SMTP_CHECK' && s.key === 'helo_name') {
        nArgs(s, 1, 1);
        if (!printableWord(s.args[0]!.text)) throw err(s, `helo_name "${s.args[0]!.text}" is not one printable word`);
        helo = s.args[0]!.text;
        continue;
      }
      if (st.key === 'MISC_CHECK') {
        switch (s.key) {
          case 'misc_path': {
            nArgs(s, 1, 1);
            misc.command = s.args[0]!.text;
            misc.at = s;
            // keepalived drops such a checker ("Disabling misc script"); here it fails, and says why, until the script can run.
            const why = this.opts.commandProblem?.(misc.command);
            if (why !== undefined) this.warn(s, `MISC_CHECK misc_path: ${why}: the check fails (its real_server down) until it can run`);
            continue;
          }
          case 'misc_timeout':
            nArgs(s, 1, 1);
            // keepalived reads whole seconds there ("Invalid misc_timeout value '2.5'"): a fraction leaves the default.
            if (/^\d+\.\d*$/.test(s.args[0]!.text)) this.warn(s, `misc_timeout ${s.args[0]!.text} ignored: keepalived takes whole seconds there ("Invalid misc_timeout value"), so the limit stays delay_loop`);
            else misc.timeoutMs = secondsArg(s, 0, 1);
            continue;
          case 'misc_dynamic': misc.dynamic = this.flag(s); continue;
          case 'user': misc.user = this.user(s); continue;
        }
      }
      this.unsupported(s, inside);
    }
    if (http && urls.length === 0) {
      // keepalived: "HTTP/SSL_GET checker has no urls specified - ignoring": the server keeps its other checkers, or none.
      this.warn(st, `${st.key} without a url { path ... } ignored, as keepalived ignores it: it would check nothing`);
      return undefined;
    }
    if (connectIp6 !== undefined) {
      v6.push({ checker: st.key, connectIp: connectIp6 });
      return undefined;
    }
    const type = st.key as CheckerType;
    const common: CheckCommon = {
      type, origin: st.at, connectIp: c.connectIp, connectPort: c.connectPort, bindto: c.bindto, ...(c.bindPort !== undefined ? { bindPort: c.bindPort } : {}),
      connectTimeoutMs: d.connectTimeoutMs, delayLoopMs: d.delayLoopMs,
      ...checkerRetry(d, type), rise: d.rise, fall: d.fall, ...(d.warmupMs !== undefined ? { warmupMs: d.warmupMs } : {}),
      ...(logAll ? { logAllFailures: true as const } : {}),
    };
    switch (st.key) {
      case 'TCP_CHECK': return { ...common, type: 'TCP_CHECK' };
      case 'PING_CHECK': return { ...common, type: 'PING_CHECK' };
      case 'HTTP_GET':
      case 'SSL_GET':
        return { ...common, type: st.key, urls, virtualhost: d.virtualhost, ...(st.key === 'SSL_GET' ? { enableSni, ...(this.ssl !== undefined ? { tls: this.ssl } : {}) } : {}) };
      case 'UDP_CHECK':
        // keepalived's check_udp_reply: the lengths bound a reply only with require_reply's bytes, at most 255 by default.
        if (udp.replyPrefix !== undefined) udp.maxReplyLength ??= KEEPALIVED_UDP_MAX_REPLY;
        else if (lengthAt.length > 0) {
          for (const l of lengthAt) this.warn(l, `${l.key} ignored: keepalived bounds the reply's length only when require_reply gives the bytes to match`);
          delete udp.minReplyLength;
          delete udp.maxReplyLength;
        }
        return { ...common, type: 'UDP_CHECK', ...udp };
      case 'DNS_CHECK':
        return { ...common, type: 'DNS_CHECK', ...dns };
      case 'SMTP_CHECK':
        return { ...common, type: 'SMTP_CHECK', helo };
      default: {
        if (misc.command === undefined) throw err(st, 'MISC_CHECK needs misc_path');
        // keepalived never runs a refused MISC_CHECK: its real server goes by its other checkers.
        const user = this.runAs(misc.at!, misc.command, misc.user, 'the MISC_CHECK is left out, as keepalived disables it (its real_server goes by its other checkers)', st);
        if (user === undefined) return undefined;
        return { ...common, type: 'MISC_CHECK', command: misc.command, timeoutMs: misc.timeoutMs ?? d.delayLoopMs, dynamic: misc.dynamic, ...user };
      }
    }
  }

  url(st: Stmt): HttpUrl {
    noArgs(st);
    let path: string | undefined;
    const u: Omit<HttpUrl, 'path'> = {};
    let regexAt: Stmt | undefined;
    /** The regex_* keywords given, and what they say: keepalived drops them, with a warning, without a regex. */
    const regexParams: Stmt[] = [];
    const r: Pick<HttpUrl, 'regexOptions' | 'regexNoMatch' | 'regexMinOffset' | 'regexMaxOffset'> = {};
    for (const s of needBlock(st)) {
      switch (s.key) {
        case 'path': nArgs(s, 1, 1); path = s.args[0]!.text; break;
        case 'digest': {
          nArgs(s, 1, 1);
          const v = s.args[0]!.text;
          if (!/^[0-9a-fA-F]{32}$/.test(v)) throw err(s, `digest: "${v}" is not an MD5 digest (32 hex digits)`);
          u.digest = v.toLowerCase();
          break;
        }
        case 'status_code': {
          if (s.args.length === 0) throw err(s, 'status_code: missing status');
          u.status = [...(u.status ?? []), ...s.args.map((a) => this.statusRange(s, a.text))];
          break;
        }
        case 'regex': nArgs(s, 1, 1); u.regex = s.args[0]!.text; regexAt = s; break;
        case 'regex_no_match': r.regexNoMatch = this.flag(s); regexParams.push(s); break;
        case 'regex_options':
          if (s.args.length === 0) throw err(s, 'regex_options: missing option');
          for (const { text: w } of s.args) {
            const bad = regexOptionProblem(w);
            if (bad?.known === true) throw err(s, `regex_options ${w}: ${bad.problem}`);
            if (bad !== undefined) this.warn(s, `regex_options "${w}" ignored: ${bad.problem} (keepalived ignores it too)`);
            else r.regexOptions = [...(r.regexOptions ?? []), w];
          }
          regexParams.push(s);
          break;
        case 'regex_min_offset': nArgs(s, 1, 1); r.regexMinOffset = intArg(s, 0, 0, MAX_REGEX_OFFSET); regexParams.push(s); break;
        case 'regex_max_offset': nArgs(s, 1, 1); r.regexMaxOffset = intArg(s, 0, 0, MAX_REGEX_OFFSET); regexParams.push(s); break;
        // pcre2's JIT stack (start and max sizes): JavaScript's RegExp has none to size.
        case 'regex_stack': this.warn(s, 'regex_stack ignored: uvs matches with JavaScript\'s regular expressions, which have no JIT stack to size'); break;
        case 'contains': nArgs(s, 1, 1); u.contains = s.args[0]!.text; break; // uvs extension
        case 'virtualhost': nArgs(s, 1, 1); u.virtualhost = s.args[0]!.text; break;
        default: this.unsupported(s, 'url');
      }
    }
    if (path === undefined) throw err(st, 'url needs a path');
    if (!path.startsWith('/')) throw err(st, `url path "${path}" must start with /`);
    if (regexAt === undefined) {
      // keepalived url_check: "regex parameters specified without regex", and clears them.
      for (const s of regexParams) this.warn(s, `${s.key} ignored: the url has no regex (keepalived ignores it too)`);
      return { path, ...u };
    }
    try {
      bodyRegex({ regex: u.regex, ...r });
    } catch (e) {
      throw err(regexAt, `regex: ${(e as Error).message}`);
    }
    if (r.regexMinOffset !== undefined && r.regexMaxOffset !== undefined && r.regexMinOffset > r.regexMaxOffset) {
      // keepalived: "regex min offset %zu > regex_max_offset %zu - ignoring", both.
      this.warn(regexAt, `regex_min_offset ${r.regexMinOffset} and regex_max_offset ${r.regexMaxOffset} ignored: the minimum is beyond the maximum (keepalived ignores both too)`);
      delete r.regexMinOffset;
      delete r.regexMaxOffset;
    }
    return { path, ...u, ...r };
  }

  statusRange(st: Stmt, v: string): [number, number] {
    const m = /^(\d{3})(?:-(\d{3}))?$/.exec(v);
    const lo = m ? Number(m[1]) : 0;
    const hi = m ? Number(m[2] ?? m[1]) : 0;
    if (!m || lo < 100 || hi > 599 || lo > hi) throw err(st, `status_code: "${v}" is not a status or range (100-599)`);
    return [lo, hi];
  }
}

/** Parse keepalived.conf text (file is the name used in messages and for relative includes). */
export function parseKeepalived(text: string, file: string, opts: ParseOptions = {}): ParseResult {
  const lx: Lexer = { opts, out: [], warnings: [], configId: opts.configId ?? defaultConfigId(), defs: new Map(), seq: 0 };
  lex(text, file, lx, 0);
  const stmts = statements(lx.out, { i: 0 }, null);
  const p = new Parser(opts);
  const config = p.top(stmts);
  return { config, warnings: [...lx.warnings, ...p.warnings] };
}
