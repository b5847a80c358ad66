// keepalived's notify FIFO read by uvsd itself (uvsd --vrrp-fifo, docs/ha.md): keepalived writes a
// line per VRRP transition to the FIFO named in global_defs (`vrrp_notify_fifo` or `notify_fifo`),
// `INSTANCE "VI_1" MASTER 100`, and uvsd turns each into the role change a notify script's
// `uvsadm --role` would make. No process starts per transition (a Node start took 0.1 s idle and
// seconds on a loaded machine), and the changes come in keepalived's order (it runs notify scripts
// concurrently, so two quick transitions may reach uvsd reversed).
//
// The FIFO is opened read-write and non-blocking, as keepalived opens it, so neither side ever sees
// an end of file while the other restarts. keepalived creates the FIFO when it is missing and
// removes it at exit if it created it; uvsd creates it first at start, and every second looks
// whether the path still names the FIFO it reads, opening it again (creating it if need be) when
// not. Whoever can write the FIFO sets the role: one another user owns or may read or write, or
// one in a directory another user may write (who could put such a FIFO there), is refused.

import { execFileSync } from 'node:child_process';
import { closeSync, constants, fstatSync, openSync, statSync, type Stats } from 'node:fs';
import { Socket } from 'node:net';
import { dirname } from 'node:path';
import type { RoleArgs } from './protocol.js';
import { wallOf } from './clock.js';
import { dirTrustProblem, foreignUid, modeText } from './trust.js';

/** One line keepalived wrote: an instance's or a sync group's new state and priority. */
export interface VrrpEvent {
  type: 'INSTANCE' | 'GROUP';
  name: string;
  state: string;
  priority: number;
}

/** A VRRP line of the FIFO, or undefined for any other line (lvs_notify_fifo's `VS ...`/`RS ...` when one FIFO has both). */
export function parseFifoLine(line: string): VrrpEvent | undefined {
  const m = /^(INSTANCE|GROUP) "([^"]*)" ([A-Z_]+) (\d+)$/.exec(line.trim());
  if (m === null) return undefined;
  return { type: m[1] as VrrpEvent['type'], name: m[2]!, state: m[3]!, priority: Number(m[4]) };
}

/** The role each state sets (roleCallOf); other states set none. */
const ROLE_OF: Readonly<Record<string, 'master' | 'backup'>> = {
  MASTER: 'master', MASTER_RX_LOWER_PRI: 'master', BACKUP: 'backup', FAULT: 'backup', STOP: 'backup', DELETED: 'backup',
};
const ROLE_STATES = Object.keys(ROLE_OF);

/** Names of no HA group whose last role line is kept (VrrpFifo.groupsAdded). */
const MAX_UNMATCHED = 256;

/** The longest line read (keepalived's are under 100 bytes). */
const MAX_LINE = 4096;

/**
 * The role change an event asks for, as `uvsadm --role` would make it, or undefined (a priority
 * change, or a name that is not an HA group while uvsd has groups). MASTER makes master;
 * MASTER_RX_LOWER_PRI (the master heard a lower priority master: a split brain that healed) makes
 * master again, which announces the addresses again; BACKUP, FAULT, STOP and DELETED make backup,
 * as the notify scripts of docs/ha.md do. Without HA groups every instance and sync group drives
 * the whole director; with groups, the one whose name is a group's (`default` included) drives it.
 */
export function roleCallOf(ev: VrrpEvent, groupNames: readonly string[]): RoleArgs | undefined {
  const role = Object.hasOwn(ROLE_OF, ev.state) ? ROLE_OF[ev.state] : undefined;
  if (role === undefined) return undefined;
  if (groupNames.length === 1) return { role };
  return groupNames.includes(ev.name) ? { role, group: ev.name } : undefined;
}

/**
 * Why `path` cannot be the FIFO (it exists and is something else, another user owns or may read
 * or write it or may change its directory, or its directory does not exist), or undefined.
 */
export function fifoPathProblem(path: string): string | undefined {
  return lookAtFifoPath(path).problem;
}

/**
 * Why an existing file cannot be the FIFO, or undefined: another user who may write it sets the
 * role; one who may read it takes keepalived's lines before uvsd does (keepalived makes it 0600).
 */
function fifoProblem(path: string, st: Stats): string | undefined {
  if (!st.isFIFO()) return `${path} exists and is not a FIFO`;
  if (foreignUid(st.uid)) return `${path}: owned by uid ${st.uid} (not root): another user could set uvsd's role through it`;
  if ((st.mode & 0o022) !== 0) return `${path}: writable by group or others (mode ${modeText(st.mode)}): another user could set uvsd's role through it`;
  if ((st.mode & 0o044) !== 0) return `${path}: readable by group or others (mode ${modeText(st.mode)}): another user could take keepalived's lines from it`;
  return undefined;
}

/** fifoPathProblem's answer, and whether the path exists (a FIFO when there is no problem). */
function lookAtFifoPath(path: string): { problem?: string; exists: boolean } {
  let exists = true;
  try {
    const problem = fifoProblem(path, statSync(path));
    if (problem !== undefined) return { problem, exists };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') return { problem: `${path}: ${(e as Error).message}`, exists };
    exists = false;
  }
  let dir = false;
  try {
    dir = statSync(dirname(path)).isDirectory();
  } catch {
    // missing
  }
  if (!dir) return { problem: `${path}: its directory ${dirname(path)} does not exist`, exists };
  const why = dirTrustProblem(dirname(path));
  return why === undefined ? { exists } : { problem: `${path}: ${why}: another user could put a FIFO of its own there`, exists };
}

export interface VrrpFifoStatus {
  path: string;
  /** VRRP lines read, and those that asked for nothing (priority changes, names of no HA group). */
  events: number;
  ignored: number;
  /** The last VRRP line and when it came (ms since the epoch; performance.now() in stats, converted by status()). */
  last?: string;
  lastAt?: number;
}

export class VrrpFifo {
  private sock: Socket | undefined;
  /** The open FIFO's inode (the path is looked at again each check). */
  private ino = -1;
  private pending = '';
  /** A line grew past MAX_LINE: the rest of it, up to its newline, is dropped (not read as a line). */
  private skipping = false;
  private readonly stats: VrrpFifoStatus;
  /** Names of no HA group and states uvsd does not act on, each warned about once. */
  private readonly warned = new Set<string>();
  /** The last role line (MASTER, BACKUP, ...) of each instance or sync group named after no HA group
   *  (ignored then): a reload that adds that group takes it (groupsAdded). At most MAX_UNMATCHED names. */
  private readonly unmatched = new Map<string, VrrpEvent>();

  constructor(
    private readonly path: string,
    /** Make the role change (Control.call('setRole', ...)); called in the FIFO's order. */
    private readonly setRole: (args: RoleArgs, ev: VrrpEvent) => void,
    private readonly groupNames: () => readonly string[],
    private readonly warn: (msg: string, extra: Record<string, unknown>) => void,
  ) {
    this.stats = { path, events: 0, ignored: 0 };
  }

  /** Create the FIFO if it is missing (mode 0600) and read it; throws with the problem (fifoPathProblem's). */
  open(): void {
    const { problem, exists } = lookAtFifoPath(this.path);
    if (problem !== undefined) throw new Error(problem);
    if (!exists) execFileSync('mkfifo', ['-m', '600', this.path], { stdio: ['ignore', 'ignore', 'pipe'] });
    const fd = openSync(this.path, constants.O_RDWR | constants.O_NONBLOCK);
    // What was opened, looked at again: the path may have changed since it was looked at.
    const st = fstatSync(fd);
    const changed = fifoProblem(this.path, st);
    if (changed !== undefined) {
      closeSync(fd);
      throw new Error(changed);
    }
    this.ino = st.ino;
    const sock = new Socket({ fd, readable: true, writable: false });
    sock.setEncoding('utf8');
    sock.on('data', (chunk: string) => this.read(chunk));
    sock.on('error', (e) => this.warn('vrrp fifo read failed', { path: this.path, error: e.message }));
    this.sock = sock;
  }

  /** Every second: the path gone or another FIFO (keepalived made it anew): read the one the path names. */
  check(): void {
    let ino = -1;
    try {
      ino = statSync(this.path).ino;
    } catch {
      // gone: created again below
    }
    if (ino === this.ino) return;
    this.close();
    try {
      this.open();
    } catch (e) {
      this.warn('vrrp fifo cannot be opened again', { path: this.path, error: (e as Error).message });
    }
  }

  close(): void {
    this.sock?.destroy();
    this.sock = undefined;
    this.ino = -1;
    this.pending = '';
    this.skipping = false;
  }

  /**
   * HA groups a reload just added: each takes the role keepalived last wrote for the instance (or
   * sync group) of its name, if it wrote one while that name was no group's. keepalived writes a
   * state once, at its change: when its reload (the new vrrp_instance) came before uvsd's, the
   * group would stay backup on both directors, its VIPs answered by no one (until 2026-12-07).
   */
  groupsAdded(names: readonly string[]): void {
    for (const name of names) {
      const ev = this.unmatched.get(name);
      if (ev === undefined) continue;
      this.unmatched.delete(name);
      const call = roleCallOf(ev, this.groupNames());
      if (call === undefined) continue;
      this.warn(`vrrp fifo: HA group ${name} added by the reload takes keepalived's last state of it, ${ev.state}`, { group: name, state: ev.state });
      try {
        this.setRole(call, ev);
      } catch (e) {
        this.warn('vrrp fifo: role change refused', { line: `${ev.type} "${ev.name}" ${ev.state}`, error: (e as Error).message });
      }
    }
  }

  status(): VrrpFifoStatus {
    const { lastAt, ...rest } = this.stats;
    return lastAt === undefined ? rest : { ...rest, lastAt: wallOf(lastAt) };
  }

  private read(chunk: string): void {
    if (this.skipping) {
      const nl = chunk.indexOf('\n');
      if (nl < 0) return;
      this.skipping = false;
      chunk = chunk.slice(nl + 1);
    }
    const lines = (this.pending + chunk).split('\n');
    this.pending = lines.pop() ?? '';
    // Not keepalived's: never a line that long. Its end must not pass for a line of its own.
    if (this.pending.length > MAX_LINE) {
      this.pending = '';
      this.skipping = true;
    }
    for (const line of lines) {
      const ev = parseFifoLine(line);
      if (ev === undefined) continue;
      this.stats.events++;
      this.stats.last = line.trim();
      this.stats.lastAt = performance.now();
      const call = roleCallOf(ev, this.groupNames());
      if (call === undefined) {
        this.stats.ignored++;
        const who = { [ev.type === 'GROUP' ? 'group' : 'instance']: ev.name };
        if (/PRIORITY$/.test(ev.state)) continue; // a priority change: nothing to do
        if (!ROLE_STATES.includes(ev.state)) {
          if (!this.warned.has(`state ${ev.state}`)) {
            this.warned.add(`state ${ev.state}`);
            this.warn(`vrrp fifo: state ${ev.state} is none uvsd acts on (${ROLE_STATES.join(', ')}): ignored`, { ...who, state: ev.state });
          }
        } else {
          this.unmatched.delete(ev.name);
          if (this.unmatched.size < MAX_UNMATCHED) this.unmatched.set(ev.name, ev);
          if (!this.warned.has(`name ${ev.name}`)) {
            this.warned.add(`name ${ev.name}`);
            this.warn('vrrp fifo: an instance or sync group named after no HA group (uvsd --ha-group) is ignored', who);
          }
        }
        continue;
      }
      this.unmatched.delete(ev.name);
      try {
        this.setRole(call, ev);
      } catch (e) {
        this.warn('vrrp fifo: role change refused', { line: this.stats.last, error: (e as Error).message });
      }
    }
  }
}
