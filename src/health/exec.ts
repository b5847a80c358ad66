// Commands from the configuration (misc_path, notify_up/down, quorum_up/down), run like
// keepalived 2.x runs scripts: the line is split into words (single and double quotes group,
// backslash escapes), the first word is executed directly, without a shell, with a timeout.
import { spawn } from 'node:child_process';
import { accessSync, constants, lstatSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';
import { join, resolve } from 'node:path';
import type { NotifyScript, ScriptUser } from './types.js';
import { clearLongTimeout, setAnswerTimeout } from '../control/clock.js';

/** Split a command line into argv; throws on an unterminated quote. */
export function splitCommand(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let have = false;
  let quote: '"' | "'" | null = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote !== null) {
      if (c === quote) quote = null;
      else if (c === '\\' && quote === '"' && i + 1 < line.length) cur += line[++i];
      else cur += c;
      continue;
    }
    if (c === '"' || c === "'") {
      quote = c;
      have = true;
    } else if (c === '\\' && i + 1 < line.length) {
      cur += line[++i];
      have = true;
    } else if (c === ' ' || c === '\t') {
      if (have) out.push(cur);
      cur = '';
      have = false;
    } else {
      cur += c;
      have = true;
    }
  }
  if (quote !== null) throw new Error(`unterminated ${quote} quote in command ${JSON.stringify(line)}`);
  if (have) out.push(cur);
  return out;
}

/** Where a program named without a slash is looked for when PATH is unset (glibc's execvp). */
const DEFAULT_PATH = '/bin:/usr/bin';

/** Why the file at path cannot be executed, or undefined. */
function programProblem(path: string): string | undefined {
  try {
    if (!statSync(path).isFile()) return 'is not a regular file';
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return code === 'ENOENT' || code === 'ENOTDIR' ? 'not found' : `cannot be reached (${code})`;
  }
  try {
    accessSync(path, constants.X_OK);
  } catch {
    return 'is not executable';
  }
  return undefined;
}

/**
 * Where spawn finds the program of this command line: a name with a slash is a path (relative to
 * the working directory), one without is looked up in uvsd's PATH. Else why not ("/x/check.sh
 * not found", "check.sh not found in PATH (/bin:/usr/bin)", "/x/check.sh is not executable").
 */
function locateProgram(line: string): { path: string } | { problem: string } {
  let argv: string[];
  try {
    argv = splitCommand(line);
  } catch (e) {
    return { problem: (e as Error).message };
  }
  const prog = argv[0];
  if (prog === undefined) return { problem: 'empty command' };
  if (prog.includes('/')) {
    const why = programProblem(prog);
    return why === undefined ? { path: prog } : { problem: `${prog} ${why}` };
  }
  const path = process.env.PATH ?? DEFAULT_PATH;
  let found: string | undefined;
  for (const dir of path.split(':')) {
    const full = join(dir === '' ? '.' : dir, prog); // an empty entry is the working directory
    const why = programProblem(full);
    if (why === undefined) return { path: full };
    if (why !== 'not found') found ??= `${prog} (${full}) ${why}`;
  }
  return { problem: found ?? `${prog} not found in PATH (${path})` };
}

/** Why runCommand could not start this command line now (locateProgram), or undefined. */
export function commandProblem(line: string): string | undefined {
  const r = locateProgram(line);
  return 'problem' in r ? r.problem : undefined;
}

/**
 * Why someone other than root could change what this path runs, as keepalived's check_security
 * judges each of its parts from / down: a part owned by a user other than root, or writable by a
 * group other than root's or by everyone (but a directory with the sticky bit, as /tmp, where no
 * one else can replace what root owns). Parts are not followed: a symbolic link is judged by its owner.
 */
function pathInsecurity(path: string): string | undefined {
  const parts = path.split('/').filter((p) => p !== '');
  for (let i = 0; i <= parts.length; i++) {
    const p = `/${parts.slice(0, i).join('/')}`;
    let st;
    try {
      st = lstatSync(p);
    } catch (e) {
      return `${p} cannot be read (${(e as NodeJS.ErrnoException).code})`;
    }
    const mode = `mode ${(st.mode & 0o7777).toString(8).padStart(4, '0')}`;
    if (st.uid !== 0) return `${p} is owned by uid ${st.uid}, not root`;
    if (!(st.isFile() || (st.isDirectory() && (st.mode & 0o1000) === 0))) continue;
    if ((st.mode & 0o002) !== 0) return `${p} is writable by everyone (${mode})`;
    if (st.gid !== 0 && (st.mode & 0o020) !== 0) return `${p} is writable by group ${st.gid} (${mode})`;
  }
  return undefined;
}

/**
 * keepalived's check_script_secure: why a user other than root could change what this command
 * line runs with root's rights, or undefined. Only a script run as root is judged (its user's uid
 * or gid 0, or without a user uvsd's own, or a program set-uid or set-gid root): the program's
 * path as uvsd runs it and, where links lead elsewhere, its real path, every directory on them
 * and the file itself (pathInsecurity). A program that cannot be found is commandProblem's.
 */
export function scriptInsecurity(line: string, user?: Pick<ScriptUser, 'uid' | 'gid'>): string | undefined {
  const found = locateProgram(line);
  if ('problem' in found) return undefined;
  const path = resolve(found.path);
  let st;
  let real: string;
  try {
    st = statSync(path);
    real = realpathSync(path);
  } catch {
    return undefined; // gone since: commandProblem's
  }
  const uid = user?.uid ?? process.geteuid?.() ?? 0;
  const gid = user?.gid ?? process.getegid?.() ?? 0;
  const setRoot = (st.uid === 0 && (st.mode & 0o4100) === 0o4100) || (st.gid === 0 && (st.mode & 0o2010) === 0o2010);
  if (uid !== 0 && gid !== 0 && !setRoot) return undefined;
  return pathInsecurity(path) ?? (real !== path ? pathInsecurity(real) : undefined);
}

/** The entries of /etc/passwd or /etc/group: name -> its fields after the name. */
function databaseEntries(path: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let text = '';
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    // no such database: no such name
  }
  for (const line of text.split('\n')) {
    const [name, ...rest] = line.split(':');
    if (name !== undefined && name !== '' && !out.has(name)) out.set(name, rest);
  }
  return out;
}

/** Where lookupScriptUser looks names up (tests give their own). */
export interface UserDatabases {
  passwd: string;
  group: string;
}

const SYSTEM_DATABASES: UserDatabases = { passwd: '/etc/passwd', group: '/etc/group' };

/**
 * `user USER [GROUP]` as keepalived resolves it (set_script_uid_gid): USER's uid and its own
 * group, or GROUP's gid; names from /etc/passwd and /etc/group. A name not there: why, as a string.
 */
export function lookupScriptUser(user: string, group?: string, db: UserDatabases = SYSTEM_DATABASES): ScriptUser | string {
  const pw = databaseEntries(db.passwd).get(user);
  const uid = Number(pw?.[1]);
  const ownGid = Number(pw?.[2]);
  if (pw === undefined || !Number.isInteger(uid) || !Number.isInteger(ownGid)) return `no user ${JSON.stringify(user)} in ${db.passwd}`;
  if (group === undefined) return { name: user, uid, gid: ownGid };
  const gid = Number(databaseEntries(db.group).get(group)?.[1]);
  if (!Number.isInteger(gid)) return `no group ${JSON.stringify(group)} in ${db.group}`;
  return { name: user, group, uid, gid };
}

/** What uvsd needs to run a script as another user: start it as that user (setuid, setgid and
 *  setgroups), and kill its process group at its timeout (another user's processes). */
const SCRIPT_USER_CAPS: ReadonlyArray<[name: string, bit: number]> = [['CAP_SETUID', 7], ['CAP_SETGID', 6], ['CAP_KILL', 5]];

function procStatus(): string {
  try {
    return readFileSync('/proc/self/status', 'utf8');
  } catch {
    return ''; // no /proc: nothing to say
  }
}

/**
 * When a script must run as another user than uvsd's and uvsd's effective capabilities (CapEff
 * of /proc/self/status, or `status`) lack one it needs for that, what to log: the capabilities
 * missing, the first such script, and what fails. Undefined otherwise (also where there is no
 * CapEff to read).
 */
export function scriptUserCapsProblem(scripts: Iterable<NotifyScript>, status = procStatus(), self = { uid: process.geteuid?.() ?? 0, gid: process.getegid?.() ?? 0 }): string | undefined {
  return scriptUserCaps(scripts, status, self)?.text;
}

/** scriptUserCapsProblem with the capabilities missing apart (the condition: said once while it lasts). */
export function scriptUserCaps(scripts: Iterable<NotifyScript>, status = procStatus(), self = { uid: process.geteuid?.() ?? 0, gid: process.getegid?.() ?? 0 }): { missing: string[]; text: string } | undefined {
  let first: NotifyScript | undefined;
  for (const s of scripts) {
    if (s.user !== undefined && (s.user.uid !== self.uid || s.user.gid !== self.gid)) {
      first = s;
      break;
    }
  }
  const eff = /^CapEff:\s*([0-9a-f]+)$/m.exec(status)?.[1];
  if (first === undefined || eff === undefined) return undefined;
  const missing = SCRIPT_USER_CAPS.filter(([, bit]) => (BigInt(`0x${eff}`) & (1n << BigInt(bit))) === 0n).map(([name]) => name);
  if (missing.length === 0) return undefined;
  const start = missing.includes('CAP_SETUID') || missing.includes('CAP_SETGID');
  const text = `uvsd lacks ${missing.join(', ')} (CapEff ${eff}): ${JSON.stringify(first.command)} runs as ${first.user!.name}` +
    `${start ? ', which fails to start (spawn EPERM: its check fails, a notify or quorum command is not run)' : ''}` +
    `${missing.includes('CAP_KILL') ? `${start ? ';' : ','} a script of another user cannot be killed at its timeout` : ''}` +
    '; give uvsd these capabilities (systemd: CapabilityBoundingSet=, as contrib/uvsd.service)';
  return { missing, text };
}

export interface ExecOutcome {
  /** Exit code, or null when killed (timeout) or not started. */
  code: number | null;
  /** Why there is no exit code ("timeout after N ms", "spawn ENOENT"), or the signal. */
  problem?: string;
  /** The process could not be started: spawn's errno name (ENOENT, EAGAIN, EMFILE, ...). */
  spawnError?: string;
}

function spawnFailed(e: NodeJS.ErrnoException): ExecOutcome {
  return { code: null, problem: `spawn ${e.code ?? e.message}`, spawnError: e.code };
}

/**
 * Run a command line, as `user` if given (its uid and gid; no supplementary groups, where
 * keepalived leaves the one group); resolves (never rejects) when it exits or is killed after timeoutMs.
 */
export function runCommand(line: string, timeoutMs: number, user?: Pick<ScriptUser, 'uid' | 'gid'>): Promise<ExecOutcome> {
  let argv: string[];
  try {
    argv = splitCommand(line);
  } catch (e) {
    return Promise.resolve({ code: null, problem: (e as Error).message });
  }
  if (argv.length === 0) return Promise.resolve({ code: null, problem: 'empty command' });
  return new Promise((resolve) => {
    let done = false;
    const finish = (o: ExecOutcome): void => {
      if (done) return;
      done = true;
      clearLongTimeout(timer);
      resolve(o);
    };
    let child: ReturnType<typeof spawn>;
    try {
      child = spawn(argv[0]!, argv.slice(1), { stdio: 'ignore', detached: true, ...(user !== undefined ? { uid: user.uid, gid: user.gid } : {}) });
    } catch (e) {
      // setuid/setgid refused (uvsd not root): spawn throws rather than emitting 'error'.
      resolve(spawnFailed(e as NodeJS.ErrnoException));
      return;
    }
    // uvsd may run above the host's other processes (contrib/uvsd.service: Nice=-10); a check
    // script or notify command is ordinary work and runs at the default priority (from just
    // after spawn returns: its first moments, exec done, are still at uvsd's).
    if (child.pid !== undefined && getPriority() < 0) {
      try {
        setPriority(child.pid, 0);
      } catch {
        // exited already
      }
    }
    const timer = setAnswerTimeout(() => {
      // The whole process group: a script's children must not outlive the timeout either.
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
      finish({ code: null, problem: `timeout after ${timeoutMs} ms` });
    }, timeoutMs);
    child.once('error', (e: NodeJS.ErrnoException) => finish(spawnFailed(e)));
    child.once('exit', (code, signal) => finish(code === null ? { code: null, problem: `killed by ${signal}` } : { code }));
  });
}

/** A notify or quorum command as uvsd runs it (HealthDeps.exec): as its user, within timeoutMs; a failure is logged. */
export async function runNotifyScript(script: NotifyScript, timeoutMs: number, log: { warn(obj: object, msg: string): void }): Promise<void> {
  const { command, user } = script;
  const r = await runCommand(command, timeoutMs, user);
  if (r.code !== 0) log.warn({ command, ...(user !== undefined ? { user: user.name } : {}), code: r.code, problem: r.problem }, 'health: command failed');
}
