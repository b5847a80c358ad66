// uvsd --check-config (keepalived -t for uvs): the --config / --keepalived-conf table checked as a
// start would check it, on a scratch datapath (no TAP, no socket, nothing sent), then printed as
// uvsadm -Ln shows it, with the servers a start holds out (alpha, a quorum not met) held out. The files' shape was already checked when they were read.

import { writeSync } from 'node:fs';
import { nextPow2 } from '../datapath/conntable.js';
import { Datapath } from '../datapath/pipeline.js';
import type { FrameSink } from '../datapath/tx.js';
import type { LinkAddr } from '../datapath/link.js';
import { ConfigManager, haGroupWarnings, type ConfigFile, type HaGroupSpec, type HealthHook } from '../control/config.js';
import { HealthManager } from '../health/manager.js';
import { Control } from '../control/model.js';
import { formatList } from '../control/printers.js';

export interface CheckConfigInput {
  mac: Uint8Array;
  addr: LinkAddr[];
  gateway?: number;
  connMax: number;
  destMax: number;
  mtu: number;
  /** The table to check: the --config file's, with --keepalived-conf's services merged in. */
  initial: ConfigFile;
  /** Lines the reading of the files left (keepalived.conf keywords skipped, ...). */
  warnings: string[];
  /** uvsd --ha-group: an address of a group that the table does not use is warned about. */
  haGroups?: HaGroupSpec[];
}

const discard: FrameSink = { send: (_b, _o, _l, n) => n };

/**
 * All of s to fd, waiting while a pipe is full: --check-config's output (megabytes for a large
 * table) into a slow reader. Node makes a pipe it inherits non-blocking, so a plain writeSync met
 * EAGAIN there and --check-config exited 1 with its output cut (before 2026-12-07). A one-shot
 * command may wait for its reader, as cat does; the daemon's log never waits (logout.ts).
 */
export function writeAllSync(fd: number, s: string): void {
  const buf = Buffer.from(s);
  const nap = new Int32Array(new SharedArrayBuffer(4));
  for (let off = 0; off < buf.length;) {
    try {
      off += writeSync(fd, buf, off);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
      Atomics.wait(nap, 0, 0, 5);
    }
  }
}

/** Exit code: 0 and the table on stdout, or 2 and the FILE:LINE error; warnings on stderr either way. */
export function checkConfig(c: CheckConfigInput, out: (s: string) => void, err: (s: string) => void): number {
  for (const w of c.warnings) err(`uvsd: warning: ${w}\n`);
  const dp = new Datapath({ mac: c.mac, addrs: c.addr, gateway: c.gateway, connMax: 1024, destMax: c.destMax, batch: 64, mtu: c.mtu }, discard);
  const control = new Control(dp, { tap: '(check)' });
  // The health checker's start rules (alpha: a server starts failed; a quorum not met: its sorry
  // server instead), with nothing checked: its plan is never committed.
  const health = new HealthManager(undefined, {
    call: () => undefined, run: async () => ({ ok: false, reason: 'not run' }), exec: async () => {}, log: { info() {}, warn() {} },
  });
  const notes: string[] = [];
  const hook: HealthHook = {
    prepare: (specs) => {
      const p = health.prepare(specs);
      notes.push(...p.notes);
      return { ...p, commit: () => {}, commitSteps: undefined };
    },
  };
  const cm = new ConfigManager(control, undefined, {}, { health: hook });
  control.config = cm;
  try {
    cm.apply(c.initial, false);
  } catch (e) {
    err(`uvsd: ${(e as Error).message}\n`);
    return 2;
  }
  const warnings = [...c.warnings, ...haGroupWarnings(c.haGroups ?? [], dp.heldAddrs())];
  for (const w of warnings.slice(c.warnings.length)) err(`uvsd: warning: ${w}\n`);
  // The banner's size= as the started uvsd would print it (its table's buckets; the scratch
  // table is small).
  const list = { ...control.list(), size: nextPow2(c.connMax) };
  const servers = list.services.reduce((n, s) => n + s.dests.length, 0);
  out(formatList(list, { numeric: true }));
  for (const n of notes) err(`uvsd: note: ${n}\n`);
  const count = (n: number, what: string): string => `${n} ${what}${n === 1 ? '' : 's'}`;
  err(`uvsd: configuration OK: ${count(list.services.length, 'service')}, ${count(servers, 'server')}${warnings.length > 0 ? `, ${count(warnings.length, 'warning')}` : ''}\n`);
  return 0;
}
