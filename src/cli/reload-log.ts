// The fields of uvsd's log lines that carry a list which grows with the table (a reload's changes,
// a state file's entries left out): at most LOG_LIST_MAX of its entries, with the count, so one
// line stays small. A replace-all reload at 10,000 services x 4 servers has 60,000 changes: logged
// whole they were one line of 3.06 MB, serialised by pino in one piece on the event loop (3.7-3.9 ms
// of CPU, least of 5; 24 ms the first time) and then dropped by LogOutput, whose queue holds 1 MB
// (`log_lines_dropped`): the reload was not logged at all (docs/performance.md, 2026-12-06). A
// reload's changes past the first line's go in further lines of the same size, one per turn of
// the event loop, each once the log output has written the one before (reloadLogger).

/** At most this many entries of a list in one log line (1,000 changes: ~50 KB, ~0.1 ms: a reload of
 *  a few hundred services is logged whole, an audit trail as keepalived's one line per change). */
export const LOG_LIST_MAX = 1000;

/** At most this many characters of entries in one log line (a quarter of the log output's 1 MB
 *  queue: 1,000 changes of a table are ~35-80 KB, so this bounds only a list of unusually long entries). */
export const LOG_LINE_CHARS_MAX = 256 * 1024;

/** At most this many warning lines in one turn of the event loop (each is a line of its own). */
export const WARN_LINES_MAX = 20;

/**
 * `{ [name]: the first LOG_LIST_MAX entries (fewer past LOG_LINE_CHARS_MAX characters: pieceEnd), [count]: how many
 * there are }`, and when some are
 * left out `[name + 'NotLogged']`: how many, and `[name + 'All']`: where the operator finds them all.
 */
export function listFields(name: string, count: string, list: readonly string[], where: string): Record<string, unknown> {
  const end = pieceEnd(list, 0);
  if (end === list.length) return { [name]: list, [count]: list.length };
  return { [name]: list.slice(0, end), [count]: list.length, [`${name}NotLogged`]: list.length - end, [`${name}All`]: where };
}

/** Where the piece of `list` that one line carries from `from` ends: at most LOG_LIST_MAX entries and LOG_LINE_CHARS_MAX characters (one entry at least). */
export function pieceEnd(list: readonly string[], from: number): number {
  const max = Math.min(list.length, from + LOG_LIST_MAX);
  let i = from;
  let chars = 0;
  while (i < max && (i === from || chars + list[i]!.length <= LOG_LINE_CHARS_MAX)) chars += list[i++]!.length;
  return i;
}

/** A reload's report as the log has it. */
export interface ReloadReport {
  changes: readonly string[];
  ignored: readonly string[];
}

/**
 * The `configuration reloaded` line's fields: the first changes (a line's piece: pieceEnd), their
 * count, and when there are more `changesFollowing`: how many the lines after it carry
 * (reloadLogger); the ignored settings (a few: the daemon settings read at start only; each is
 * logged on its own line too).
 */
export function reloadLogFields(via: string, r: ReloadReport): Record<string, unknown> {
  const end = pieceEnd(r.changes, 0);
  const changes = end === r.changes.length ? r.changes : r.changes.slice(0, end);
  return { via, changes, changeCount: r.changes.length, ...(end === r.changes.length ? {} : { changesFollowing: r.changes.length - end }), ignored: r.ignored };
}

/**
 * Logs each reload: the `configuration reloaded` line (reloadLogFields) at once, then, when its
 * changes do not fit in it, the rest in lines `configuration reloaded: changes 1001-2000 of 60000`
 * (fields reload, via, changes, changesFrom, changeCount), a piece each (pieceEnd), each after
 * `next()` (uvsd: a turn of the event loop once the log output has written what it holds, so no
 * line is dropped for its 1 MB queue). `reload` numbers the reloads since start, in every line of
 * one, as two reloads' lines may come between each other. Until 2026-12-06 changes past the first
 * 1,000 were only in the reload's reply, which nobody reads for a SIGHUP.
 */
export function reloadLogger(log: { info(fields: object, msg: string): void }, next: () => Promise<void>): (via: string, r: ReloadReport) => Promise<void> {
  let reloads = 0;
  return async (via, r) => {
    const reload = ++reloads;
    log.info({ reload, ...reloadLogFields(via, r) }, 'configuration reloaded');
    const { changes } = r;
    for (let from = pieceEnd(changes, 0); from < changes.length;) {
      await next();
      const to = pieceEnd(changes, from);
      log.info({ reload, via, changes: changes.slice(from, to), changesFrom: from + 1, changeCount: changes.length },
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
