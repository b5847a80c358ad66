// What uvsd (root) may trust on the host's file system. A local user who owns, or may write, a
// directory that uvsd keeps a file in (its control socket, keepalived's FIFO, the state file)
// can put a file of its own or a symbolic link at that path: uvsadm's commands would go to a
// socket that user listens on, the user's FIFO would set the role, a link would have root
// write or chmod the file it names. docs/resilience.md, "Local users".

import { constants, lstatSync, realpathSync, statSync, unlinkSync, type Stats } from 'node:fs';
import { dirname, resolve } from 'node:path';

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
