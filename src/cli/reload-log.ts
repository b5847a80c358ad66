// The fields of uvsd's log lines that carry a list which grows with the table (a reload's changes,
// a state file's entries left out): at most LOG_LIST_MAX of its entries, with the count, so one
// line stays small. A replace-all reload at 10,000 services x 4 servers has 60,000 changes: logged
// whole they were one line of 3.06 MB, serialised by pino in one piece on the event loop (3.7-3.9 ms
// of CPU, least of 5; 24 ms the first time) and then dropped by LogOutput, whose queue holds 1 MB
// (`log_lines_dropped`): the reload was not logged at all (docs/performance.md, 2026-12-06).

/** At most this many entries of a list in one log line (1,000 changes: ~50 KB, ~0.1 ms: a reload of
 *  a few hundred services is logged whole, an audit trail as keepalived's one line per change). */
export const LOG_LIST_MAX = 1000;

/** At most this many warning lines in one turn of the event loop (each is a line of its own). */
export const WARN_LINES_MAX = 20;

/**
 * `{ [name]: the first LOG_LIST_MAX entries, [count]: how many there are }`, and when some are
 * left out `[name + 'NotLogged']`: how many, and `[name + 'All']`: where the operator finds them all.
 */
export function listFields(name: string, count: string, list: readonly string[], where: string): Record<string, unknown> {
  if (list.length <= LOG_LIST_MAX) return { [name]: list, [count]: list.length };
  return { [name]: list.slice(0, LOG_LIST_MAX), [count]: list.length, [`${name}NotLogged`]: list.length - LOG_LIST_MAX, [`${name}All`]: where };
}

/** Where a reload's changes are all. */
export const RELOAD_CHANGES_ALL = 'in the reload\'s reply ("changes"; uvsadm --reload --dry-run prints them before a reload)';

/**
 * The `configuration reloaded` line's fields: the first changes, their count, the ignored settings
 * (a few: the daemon settings read at start only; each is logged on its own line too).
 */
export function reloadLogFields(via: string, r: { changes: readonly string[]; ignored: readonly string[] }): Record<string, unknown> {
  return { via, ...listFields('changes', 'changeCount', r.changes, RELOAD_CHANGES_ALL), ignored: r.ignored };
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
