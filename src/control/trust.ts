// What uvsd (root) may trust on the host's file system. A local user who owns, or may write, a
// directory that uvsd keeps a file in (its control socket, keepalived's FIFO, the state file)
// can put a file of its own or a symbolic link at that path: uvsadm's commands would go to a
// socket that user listens on, the user's FIFO would set the role, a link would have root
// write or chmod the file it names. docs/resilience.md, "Local users".

import { accessSync, closeSync, constants, fstatSync, lstatSync, openSync, readlinkSync, readSync, realpathSync, statSync, unlinkSync, type Stats } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';

/** Flags of a temporary file created for a rename over the real one: never one that was there, never through a link. */
export const CREATE_NEW = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

/** A uid that is neither root nor uvsd's own (uvsd run unprivileged trusts its own files). */
export function foreignUid(uid: number): boolean {
  return uid !== 0 && uid !== process.geteuid?.();
}

/**
 * Why another user could replace what uvsd keeps in directory `dir` (or its nearest ancestor that
 * exists: uvsd would create the rest), or undefined. That directory and every one above it, as
 * named and as its real path, must be owned by root (or uvsd's user) and not writable by group
 * or others, unless sticky (/tmp: others may not rename or remove the files root made there).
 */
export function dirTrustProblem(dir: string): string | undefined {
  let d = resolve(dir);
  while (!exists(d) && dirname(d) !== d) d = dirname(d);
  const starts = [d];
  try {
    const real = realpathSync(d);
    if (real !== d) starts.push(real);
  } catch {
    // gone meanwhile: the lexical walk still runs
  }
  for (let up of starts) {
    for (;;) {
      let st: Stats;
      try {
        st = statSync(up);
      } catch {
        return undefined; // gone or unreadable: the caller's own checks name it
      }
      if (foreignUid(st.uid)) return `directory ${up} is owned by uid ${st.uid} (not root)`;
      if ((st.mode & 0o022) !== 0 && (st.mode & STICKY) === 0) return `directory ${up} is writable by group or others (mode ${modeText(st.mode)}, not sticky)`;
      if (dirname(up) === up) break;
      up = dirname(up);
    }
  }
  return undefined;
}

/** Remove what is at `path` (a stale temporary file, or a link planted there), if anything. */
export function removeStale(path: string): void {
  try {
    unlinkSync(path); // a link itself, never what it names
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
}

function exists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

const STICKY = 0o1000;

/** A file's permission bits as chmod takes them ("0666"). */
export const modeText = (mode: number): string => `0${(mode & 0o7777).toString(8)}`;

/**
 * Why the control socket's directory is not uvsd's alone, or undefined: a user who owns or may
 * write it can move uvsd's socket aside and listen at its path (uvsadm's commands would go to
 * that user). A sticky directory (/tmp) is allowed: others may not rename root's socket there.
 */
export function socketDirProblem(path: string): string | undefined {
  const why = dirTrustProblem(dirname(path));
  return why === undefined ? undefined : `${why}: another user could put a socket of its own at the path`;
}

/**
 * Why the socket at `path` is not a uvsd's, or undefined: one another user owns (as the socket's
 * file says; a path it does not reach is left to connect() or bind() to name). A sticky
 * directory (/tmp) keeps others from moving root's socket aside, but not from putting one of
 * their own at the path while none is there (uvsd stopped or not yet started): uvsd took it for
 * another uvsd and refused to start, and root's uvsadm sent its commands to that user's program
 * and printed its answers.
 */
export function foreignSocketProblem(path: string): string | undefined {
  let st: Stats;
  try {
    st = statSync(path);
  } catch {
    return undefined;
  }
  if (!st.isSocket() || !foreignUid(st.uid)) return undefined;
  return `the socket there is owned by uid ${st.uid} (not root): not a uvsd's, another user's program may listen there`;
}

/** Symbolic links followed at most (the kernel's limit, MAXSYMLINKS). */
const MAX_LINKS = 40;

/**
 * Where uvsd reads and writes the state file given as `path`: a symbolic link (or a chain of
 * them) is followed to the file it names, which may not exist yet, in its directory's real path.
 * The file is replaced by a rename (writeDurably), which would put a regular file in the link's
 * place: an appliance whose state file links to persistent storage would lose the table at the
 * next reboot. Never throws: what cannot be resolved (a directory that does not exist, a loop)
 * is left as it is, for stateFilePathProblem to name.
 */
export function resolveStatePath(path: string): string {
  let p = resolve(path);
  for (let links = 0; links < MAX_LINKS; links++) {
    try {
      if (!lstatSync(p).isSymbolicLink()) break;
      p = resolve(dirname(p), readlinkSync(p));
    } catch {
      break;
    }
  }
  try {
    return join(realpathSync(dirname(p)), basename(p));
  } catch {
    return p;
  }
}

/**
 * Why uvsd could not write its state file at `path` (FILE.tmp is made in its directory, then
 * renamed over it; a symbolic link is followed: resolveStatePath), or undefined: checked at
 * start, else every change would be acknowledged and none kept. Refused too: a file another
 * user owns, or a directory another user may write (trust.ts): what uvsd restores at start
 * would be that user's table.
 */
export function stateFilePathProblem(path: string): string | undefined {
  const real = resolveStatePath(path);
  const named = real === resolve(path) ? path : `${path} (-> ${real})`;
  try {
    const st = statSync(real);
    if (!st.isFile()) return `${named} exists and is not a regular file`;
    if (foreignUid(st.uid)) return `${named}: owned by uid ${st.uid} (not root): uvsd would restore another user's table`;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') return `${named}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`;
  }
  const dir = dirname(real);
  try {
    if (!statSync(dir).isDirectory()) return `${named}: ${dir} is not a directory`;
    accessSync(dir, constants.W_OK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? `${named}: its directory ${dir} does not exist` : `${named}: cannot write in its directory ${dir} (${code ?? (e as Error).message})`;
  }
  const why = dirTrustProblem(dir);
  return why === undefined ? undefined : `${named}: ${why}: another user could replace the file or plant links beside it`;
}

/** What a file that is not a regular one is, for a message ("a FIFO"). */
function kindOf(st: Stats): string {
  if (st.isFIFO()) return 'a FIFO';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isDirectory()) return 'a directory';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

/** A file readSmallFile refused: why, and the errno's code where the system said no. */
export class SmallFileError extends Error {
  constructor(message: string, readonly code?: string) {
    super(message);
  }
}

/**
 * The bytes of a small file that uvsd reads on its event loop (a sync key file, the BGP include
 * it wrote), and its fstat. Opened without waiting (O_NONBLOCK) and judged by fstat of what was
 * opened before a byte is read: a FIFO put at the path would otherwise hold the loop, and every
 * frame with it, until someone wrote to it and closed it (readFileSync), and a device such as
 * /dev/zero never ends. So only a regular file of at most maxBytes is read; anything else throws
 * a SmallFileError saying what it is. noFollow: a symbolic link at the path is refused (ELOOP).
 */
export function readSmallFile(path: string, maxBytes: number, noFollow = false): { data: Buffer; st: Stats } {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY | (noFollow ? constants.O_NOFOLLOW : 0));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new SmallFileError(code ?? (e as Error).message, code);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new SmallFileError(`is ${kindOf(st)}, not a regular file: not read`);
    if (st.size > maxBytes) throw new SmallFileError(`holds ${st.size} bytes, more than the ${maxBytes} such a file may: not read`);
    // One byte more than allowed: a file grown since fstat is still caught.
    const buf = Buffer.alloc(maxBytes + 1);
    let n = 0;
    for (let got; n < buf.length && (got = readSync(fd, buf, n, buf.length - n, null)) > 0;) n += got;
    if (n > maxBytes) throw new SmallFileError(`holds more than the ${maxBytes} bytes such a file may: not read`);
    return { data: buf.subarray(0, n), st };
  } catch (e) {
    if (e instanceof SmallFileError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw new SmallFileError(code ?? (e as Error).message, code);
  } finally {
    closeSync(fd);
  }
}
