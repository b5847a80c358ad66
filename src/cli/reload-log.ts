// The fields of uvsd's log lines that carry a list which grows with the table (a reload's changes,
// a state file's entries left out): at most LOG_LIST_MAX of its entries, with the count, so one
// line stays small (and its entries' JSON at most LOG_LIST_BYTES_MAX bytes: under journald's
// LineMax). A replace-all reload at 10,000 services x 4 servers has 60,000 changes: logged whole
// they were one line of 3.06 MB, serialised by pino in one piece on the event loop (3.7-3.9 ms
// of CPU, least of 5; 24 ms the first time) and then dropped by LogOutput, whose queue holds 1 MB
// (`log_lines_dropped`): the reload was not logged at all (docs/performance.md, 2026-12-06). A
// reload's changes past the first line's go in further lines of the same size, one per turn of
// the event loop, each once the log output has written the one before (reloadLogger).

import type { Peer } from '../control/server.js';
import { withPeer } from '../control/dispatch.js';

/** At most this many entries of a list in one log line (1,000 changes: ~50 KB, ~0.1 ms: a reload of
 *  a few hundred services is logged whole, an audit trail as keepalived's one line per change). */
export const LOG_LIST_MAX = 1000;

/** At most this many bytes of JSON of a line's entries (the array as the line has it: brackets,
 *  quotes, escapes, commas, UTF-8). journald cuts a line past its LineMax (journald.conf, 48K by
 *  default) into pieces that no JSON reader takes; the rest of a line (msg, reload, via, counts,
 *  pino's fields) is a few hundred bytes. 1,000 changes of a table are 35-55 KB: this bound ends
 *  most lines before the count (~600 changes of a 10,000 x 4 replace-all). */
export const LOG_LIST_BYTES_MAX = 32 * 1024;

/** At most this many entries of each list in a status logged as one line (SIGUSR1's). */
export const STATUS_LIST_MAX = 16;

/**
 * `status` for one log line (SIGUSR1's `status (SIGUSR1)`): each list in it, or in an object in
 * it, longer than STATUS_LIST_MAX cut to its first STATUS_LIST_MAX entries, its length beside it
 * as KEYCount. The lists grow with the table (arpWatch's addresses: ~47 bytes per VIP, a 98.7 KB
 * line at 2,000 VIPs until 2026-12-07, past journald's LineMax); uvsadm --status has them whole.
 */
export function statusForLog(status: object, depth = 2): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(status)) {
    if (Array.isArray(v) && v.length > STATUS_LIST_MAX) {
      out[k] = v.slice(0, STATUS_LIST_MAX);
      out[`${k}Count`] = v.length;
    } else if (depth > 1 && typeof v === 'object' && v !== null && !Array.isArray(v)) out[k] = statusForLog(v as object, depth - 1);
    else out[k] = v;
  }
  return out;
}

/** At most this many warning lines in one turn of the event loop (each is a line of its own). */
export const WARN_LINES_MAX = 20;

/** A character other than printable ASCII without `"` and `\\` (JSON writes those as they are, a byte each). */
const NOT_PLAIN = /[^\u0020\u0021\u0023-\u005b\u005d-\u007f]/;

/** The bytes of `s` as a JSON string (quotes included), as JSON.stringify writes it in UTF-8 (pino
 *  writes no more): 0.05 ms per 1,000 changes of a table (plain: its length), JSON.stringify's otherwise. */
export function jsonBytes(s: string): number {
  return NOT_PLAIN.test(s) ? Buffer.byteLength(JSON.stringify(s)) : s.length + 2;
}

/** What one line carries of `list` from `from`: entries `from` to `to` (exclusive). */
export interface Piece {
  to: number;
  entries: readonly string[];
}

/**
 * The piece of `list` that one line carries from `from`: whole entries, at most LOG_LIST_MAX and
 * LOG_LIST_BYTES_MAX bytes of JSON, one at least; an entry that alone passes the bytes is cut
 * (cutEntry), the line saying so in the entry's text.
 */
export function piece(list: readonly string[], from: number): Piece {
  const max = Math.min(list.length, from + LOG_LIST_MAX);
  let i = from;
  let bytes = 1; // '['; each entry adds its JSON and a ',' or the ']'
  while (i < max) {
    const b = jsonBytes(list[i]!) + 1;
    if (bytes + b > LOG_LIST_BYTES_MAX) break;
    bytes += b;
    i++;
  }
  if (i === from && from < list.length) return { to: from + 1, entries: [cutEntry(list[from]!, LOG_LIST_BYTES_MAX - 2)] };
  return { to: i, entries: from === 0 && i === list.length ? list : list.slice(from, i) };
}

/** `s` cut so that its JSON is at most `max` bytes, a note of what was cut at its end (never inside a UTF-16 pair). */
export function cutEntry(s: string, max: number): string {
  const room = max - 2 - 80; // the quotes, the note
  let bytes = 0;
  let keep = 0;
  while (keep < s.length) {
    const c = s.charCodeAt(keep);
    const pair = (c & 0xfc00) === 0xd800 && (s.charCodeAt(keep + 1) & 0xfc00) === 0xdc00;
    // JSON's UTF-8 bytes: \uXXXX for a control character or a lone surrogate, \" and \\, 4 for a pair.
    const b = pair ? 4 : c < 0x20 ? 6 : c === 0x22 || c === 0x5c ? 2 : c < 0x80 ? 1 : c < 0x800 ? 2 : (c & 0xf800) === 0xd800 ? 6 : 3;
    if (bytes + b > room) break;
    bytes += b;
    keep += pair ? 2 : 1;
  }
  return `${s.slice(0, keep)}... (${s.length - keep} more characters of ${s.length} not logged)`;
}

/**
 * `{ [name]: the first entries (a line's piece: piece()), [count]: how many there are }`, and when
 * some are left out `[name + 'NotLogged']`: how many, and `[name + 'All']`: where the operator finds them all.
 */
export function listFields(name: string, count: string, list: readonly string[], where: string): Record<string, unknown> {
  const { to, entries } = piece(list, 0);
  if (to === list.length) return { [name]: entries, [count]: list.length };
  return { [name]: entries, [count]: list.length, [`${name}NotLogged`]: list.length - to, [`${name}All`]: where };
}

/** A reload's report as the log has it. */
export interface ReloadReport {
  changes: readonly string[];
  ignored: readonly string[];
}

/**
 * The `configuration reloaded` line's fields: the first changes (a line's piece: piece()), their
 * count, and when there are more `changesFollowing`: how many the lines after it carry
 * (reloadLogger); the ignored settings (a few: the daemon settings read at start only; each is
 * logged on its own line too).
 */
export function reloadLogFields(via: string, r: ReloadReport): Record<string, unknown> {
  const { to, entries } = piece(r.changes, 0);
  return { via, changes: entries, changeCount: r.changes.length, ...(to === r.changes.length ? {} : { changesFollowing: r.changes.length - to }), ignored: r.ignored };
}

/**
 * Logs each reload: the `configuration reloaded` line (reloadLogFields) at once, then, when its
 * changes do not fit in it, the rest in lines `configuration reloaded: changes 1001-2000 of 60000`
 * (fields reload, via, changes, changesFrom, changeCount), a piece each (piece()), each after
 * `next()` (uvsd: a turn of the event loop once the log output has written what it holds, so no
 * line is dropped for its 1 MB queue). `reload` numbers the reloads since start, in every line of
 * one, as two reloads' lines may come between each other. Until 2026-12-06 changes past the first
 * 1,000 were only in the reload's reply, which nobody reads for a SIGHUP.
 */
export function reloadLogger(log: { info(fields: object, msg: string): void }, next: () => Promise<void>): (via: string, r: ReloadReport, peer?: Peer) => Promise<void> {
  let reloads = 0;
  return async (via, r, peer) => {
    const reload = ++reloads;
    const first = reloadLogFields(via, r);
    // `uvsadm --reload`'s sender, as a change's audit line names it.
    log.info(withPeer({ reload, ...first }, peer), 'configuration reloaded');
    const { changes } = r;
    for (let from = (first.changes as readonly string[]).length; from < changes.length;) {
      await next();
      const { to, entries } = piece(changes, from);
      log.info({ reload, via, changes: entries, changesFrom: from + 1, changeCount: changes.length },
        `configuration reloaded: changes ${from + 1}-${to} of ${changes.length}`);
      from = to;
    }
  };
}

/** Where the config files' warnings are told: (file, message), as ConfigManager's `warn`. */
export type FileWarn = (file: string, msg: string) => void;

/**
 * The files' warnings of a read or reload, one log line each, at most LOG_LIST_MAX in one turn of
 * the event loop (a reload tells its warnings all at once); past that they are counted and one
 * line after the turn says how many were not logged and where they all are. A keepalived.conf of
 * 10,000 IPv6 virtual servers (each skipped with a warning) was 10,000 lines at once: 11-47 ms of
 * CPU on the loop, and most of them dropped by the log output's 1 MB queue.
 */
export function fileWarner(log: { warn(fields: object, msg: string): void }): FileWarn {
  let told = 0;
  let notLogged = 0;
  const endOfTurn = (): void => {
    if (notLogged > 0) {
      log.warn({ notLogged }, `${notLogged} more warnings of the configuration files not logged: ${RELOAD_WARNINGS_ALL}`);
    }
    told = 0;
    notLogged = 0;
  };
  return (file, msg) => {
    if (told === 0 && notLogged === 0) setImmediate(endOfTurn);
    if (told < WARN_LINES_MAX) {
      told++;
      log.warn({ file }, msg);
    } else notLogged++;
  };
}

/** Where a reload's warnings are all. */
export const RELOAD_WARNINGS_ALL = 'the reload\'s reply has them all ("warnings"; uvsadm --reload and --reload --dry-run print them on stderr)';
