// The control socket's dispatch in uvsd: a verb run through the VIP probe (claim.ts), the health
// and BGP parts of `list`/`status`, the audit line of a change and, with workers, the wait for
// every worker to have applied it. Here rather than in uvsd.ts so a test can call it.

import { changeRecord, changeRecordSteps, changesTable } from './verbs.js';
import { UvsError } from './errors.js';
import { callClaiming, callProbed, newAddressSteps, WALK_STEP } from './claim.js';
import { runStepsSliced, SLICE_END, type Steps } from './slices.js';
import type { Control } from './model.js';
import type { Datapath } from '../datapath/pipeline.js';
import type { HealthManager } from '../health/manager.js';
import { withHealth } from '../health/report.js';
import { readFileSync } from 'node:fs';
import type { Peer } from './server.js';

/** At most this many characters of the sender's command line in an audit line. */
export const PEER_CMD_MAX = 200;

/**
 * The sender of a change as its audit line names it: pid, uid and command line (/proc/PID/cmdline,
 * its arguments joined by spaces, cut to PEER_CMD_MAX; left out when it cannot be read: the
 * process gone, another pid namespace). Read when the line is written: the sender waits for
 * its reply until then.
 */
export function peerFields(peer: Peer): { pid: number; uid: number; cmd?: string } {
  let cmd: string | undefined;
  try {
    const raw = readFileSync(`/proc/${peer.pid}/cmdline`, 'utf8').replace(/\0+$/, '').replace(/\0/g, ' ');
    if (raw !== '') cmd = raw.length > PEER_CMD_MAX ? `${raw.slice(0, PEER_CMD_MAX - 3)}...` : raw;
  } catch {
    // gone, or not ours to read: pid and uid say who
  }
  return cmd === undefined ? { pid: peer.pid, uid: peer.uid } : { pid: peer.pid, uid: peer.uid, cmd };
}

/** A log line's fields with its sender's (peerFields) where there is one: the audit lines' and a reload's. */
export function withPeer(fields: object, peer: Peer | undefined): object {
  return peer === undefined ? fields : { ...fields, peer: peerFields(peer) };
}

export interface DispatchOpts {
  /** The verbs' runner (uvsd: Control.callAsync), and its slicer. */
  control: Pick<Control, 'callAsync' | 'slicer'>;
  dp: Datapath;
  /** How long a new VIP is probed before it is claimed (0: not probed: with BGP). */
  probeMs: number;
  health?: HealthManager;
  /** With BGP: its part of `status`. */
  bgpStatus?: () => unknown;
  /** With workers: resolves once every worker has applied the changes made so far (DatapathGroup.synced). */
  synced?: () => Promise<void> | undefined;
  /** The audit line's logger (uvsd: pino's child of component 'control'). */
  log: { info(fields: object, msg: string): void };
  /** uvsd is stopping (SIGTERM): changes are refused (STOPPING), reads answered. */
  stopping?: () => boolean;
}

/** uvsd's control socket's handler; idle(): settles once every change it took so far has ended (replied). */
export type ControlDispatch = ((verb: string, args: unknown, peer?: Peer) => unknown) & { idle(): Promise<unknown> };

/** The function uvsd's control socket calls for each request (listenControl's handler). */
export function controlDispatch(o: DispatchOpts): ControlDispatch {
  // The verbs run with their sender (a reload names it in its own log lines: uvsd.ts reloadLogger).
  const callFor = (peer: Peer | undefined) => (verb: string, args: unknown) => o.control.callAsync(verb, args, peer);
  const withBgp = (verb: string, r: unknown): unknown => {
    if (verb !== 'status' || o.bgpStatus === undefined) return r;
    const bgpStatus = o.bgpStatus;
    const add = (st: unknown) => Object.assign(st as object, { bgp: bgpStatus() });
    return r instanceof Promise ? r.then(add) : add(r);
  };
  // With workers a reply waits until every worker has applied the change it made.
  const synced = (r: unknown): unknown => {
    if (o.synced === undefined) return r;
    const s = o.synced;
    const after = (v: unknown): unknown => s()?.then(() => v) ?? v;
    return r instanceof Promise ? r.then(after) : after(r);
  };
  // One info line per request that changed the table (uvsadm -A/-a/-e/-d/-C/-R/-Z/--set ...), once
  // it succeeded, naming who sent it (peer: pid, uid, command line) where the socket knows.
  const audited = (verb: string, rec: Record<string, unknown> | undefined, r: unknown, peer: Peer | undefined): unknown => {
    if (rec === undefined) return r;
    const said = <T>(v: T): T => (o.log.info(withPeer(rec, peer), `table changed: ${verb}`), v);
    return r instanceof Promise ? r.then(said) : said(r);
  };
  // One info line per sync daemon started or stopped from the socket (uvsadm --start-daemon /
  // --stop-daemon), once done, as the kernel logs its sync thread's start and stop. Until
  // 2026-12-07 neither was logged: a daemon that installs connections came and went unseen.
  const daemonAudited = (verb: string, args: unknown, r: unknown, peer: Peer | undefined): unknown => {
    if (verb !== 'startDaemon' && verb !== 'stopDaemon') return r;
    const a = (args ?? {}) as Record<string, unknown>;
    const said = <T>(v: T): T => (o.log.info(withPeer({ verb, args: a }, peer), `sync daemon ${verb === 'startDaemon' ? 'started' : 'stopped'}: ${String(a.state)}`), v);
    return r instanceof Promise ? r.then(said) : said(r);
  };
  const after = (verb: string, r: unknown): unknown => withBgp(verb, withHealth(verb, r, o.health));
  /** A verb's slices, recorded in `uvsadm --status` slowest_verb_ms (Control.slicer). */
  const slicer = (verb: string) => o.control.slicer(verb);
  // A batch of more than WALK_STEP items: its addresses to probe and its audit line's counts are
  // found WALK_STEP items at a time in slices of its own (recorded as the batch's: Control.slicer),
  // begun after a turn of the loop and ended with one, so that neither shares a piece with the
  // request's parse (its last slice) nor with the batch's first slice. In one piece, 20,000 items
  // were 7.5-8.2 ms of CPU of the loop before the batch's slicer began, recorded by none.
  const batchSliced = async (verb: string, args: unknown, peer: Peer | undefined): Promise<unknown> => {
    let found: number[] = [];
    let rec: Record<string, unknown> | undefined;
    const walk = function* (): Steps<void> {
      yield SLICE_END;
      if (o.probeMs > 0) found = yield* newAddressSteps(o.dp, verb, args);
      rec = yield* changeRecordSteps(verb, args);
      yield SLICE_END;
    };
    const { pause, done } = slicer(verb);
    try {
      await runStepsSliced(walk(), pause);
    } finally {
      done();
    }
    // The probe's pieces are the batch's too (its own slicer: the walk's ended with a turn of the loop).
    return synced(audited(verb, rec, after(verb, callProbed(o.dp, () => callFor(peer)(verb, args), found, o.probeMs, () => slicer(verb))), peer));
  };
  const handle = (verb: string, args: unknown, peer: Peer | undefined): unknown => {
    if (longBatch(verb, args)) return batchSliced(verb, args, peer);
    const r = after(verb, callClaiming(o.dp, callFor(peer), verb, args, o.probeMs, slicer));
    return synced(daemonAudited(verb, args, audited(verb, changeRecord(verb, args), r, peer), peer));
  };
  // Changes run in arrival order: each after the one before has ended, its VIP probe included
  // (a change adding a new VIP waits the probe, 300 ms, before Control's queue: the changes
  // after it overtook it until 2026-12-07, so an add then a delete of a service from two
  // clients ended with the service in). Reads answer at once.
  let last: Promise<unknown> = Promise.resolve();
  const quiet = (): void => {};
  return Object.assign((verb: string, args: unknown, peer?: Peer): unknown => {
    if (!changesTable(verb)) return handle(verb, args, peer);
    if (o.stopping?.() === true) throw new UvsError('STOPPING');
    const r = last.then(() => handle(verb, args, peer));
    last = r.then(quiet, quiet);
    return r;
  }, { idle: () => last });
}

/** A batch whose items are walked in slices before it runs (dispatch). */
function longBatch(verb: string, args: unknown): boolean {
  return verb === 'batch' && typeof args === 'object' && args !== null && Array.isArray((args as { items?: unknown }).items) &&
    (args as { items: unknown[] }).items.length > WALK_STEP;
}
