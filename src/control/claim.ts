// Never harm the network uvsd joins: before it answers ARP for a new VIP or director address, it
// probes for the address (RFC 5227: ARP requests with sender 0.0.0.0) and refuses it when another
// station answers; and it refuses addresses that can never be a unicast host. A typo that names a
// real server's or the gateway's address would otherwise take that host off the LAN at once.

import { formatIp, formatMac, parseIp, unicastProblem } from '../datapath/addr.js';
import { UvsError } from './errors.js';
import { plainSlicer, runSteps, yieldLoop, type Pause, type Slicer, type Steps } from './slices.js';
import type { Datapath } from '../datapath/pipeline.js';
import type { DpOp } from '../datapath/ops.js';
import { UnclaimedBuilder } from '../datapath/unclaimed.js';

/** How long a new address is probed before it is claimed, in ms (uvsd --arp-probe-ms) (src/defaults.ts). */
export { DEFAULT_PROBE_MS } from '../defaults.js';

export interface Conflict {
  ip: number;
  mac: string;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Addresses probed, or whose answers are looked at, in one turn of the loop (probeConflicts): on
 * a TAP a piece of 128 probes is ~0.1-0.4 ms of the loop's CPU (Datapath.probe writes them a
 * batch at a time), and their answers, at most one a station, wait in the TAP's queue of 4,096
 * frames (--tap-qlen) at most a piece's worth at a time: read before the next piece is sent. In
 * one piece, 10,000 addresses held the loop 38-57 ms of CPU on a TAP (docs/performance.md).
 */
export const PROBE_STEP = 128;

/**
 * The slices a probe's pieces are recorded in: Control.slicer(verb) (`uvsadm --status`
 * slowest_verb_ms, busiest_verb_cpu_ms), the verb's name for a verb's probe (a batch's, -A's),
 * `vip-probe` for uvsd's own (its start's, the re-probe of the unclaimed VIPs, leaveUnclaimed); without
 * one, plainSlicer (recorded nowhere). Every wait of the probe (a turn of the loop, half a window,
 * the port's first read, the end of a list's pieces: inPieces) ends a slice: only the pieces' own
 * work counts, not what the caller runs before it next awaits (uvsd's start: the JIT warm-up,
 * 100-200 ms, was recorded as `vip-probe` when a round's one piece ran at once and the wait after it
 * came later; and what uvsd's start ran after leaveUnclaimed's `unclaimed`, before its lines' last). Until 2026-12-06 the
 * pieces of a batch's probe ran after its walks' slicer ended and before the batch's began, seen by none.
 */
export type ProbeSlices = ReturnType<Slicer>;

/** The slices of uvsd's own probes (not a verb's) in `uvsadm --status`. */
export const PROBE_SLICES = 'vip-probe';

/**
 * fn of each piece of PROBE_STEP items of xs in turn: the first now, a turn of the loop (pause: the
 * slice ends) before each other. The last piece's slice ends as it ran too: what the caller (or
 * whoever runs before this resumes) does before it next awaits is not recorded as the probe's.
 */
async function inPieces<T>(xs: readonly T[], pause: Pause, fn: (piece: readonly T[], last: boolean) => void): Promise<void> {
  for (let i = 0; i < xs.length; i += PROBE_STEP) {
    if (i > 0) await pause(yieldLoop());
    fn(xs.slice(i, i + PROBE_STEP), i + PROBE_STEP >= xs.length);
  }
  if (xs.length > 0) await pause(Promise.resolve());
}

/**
 * One probe of every address, PROBE_STEP of them a turn of the loop, the first piece now; then
 * `waitMs` counted from the last piece's send, as it ran: not from whenever this resumes after it
 * (uvsd's start sends its first round and runs its warm-ups, 150-250 ms, before it resumes: until
 * 2026-12-06 the half window began only then).
 */
async function probeRound(dp: Datapath, ips: readonly number[], pause: Pause, waitMs: number): Promise<void> {
  let waited: Promise<void> = Promise.resolve();
  await inPieces(ips, pause, (piece, last) => {
    dp.probe(piece);
    if (last) waited = sleep(waitMs);
  });
  await pause(waited);
}

/**
 * Probe each address twice (at the start and halfway through `waitMs`) and report every one that
 * another station answered for. A host answers an ARP request within milliseconds; the second
 * probe covers one lost frame. The answers are looked at one loop turn after the window: the
 * window's timer runs before the loop reads the port, so an answer that came in time but waits
 * in the TAP's queue (the loop was busy when it came) is read first. `reading`: resolves once the
 * port is being read (uvsd's start reads it only after its warm-ups, which await a socket of their
 * own): when the window's second probe went before that, the addresses are probed once more once
 * it is read and looked at half a window later (before 2026-12-06 the answers of a window that
 * ended during the control verbs' warm-up were never read in time: a VIP another station holds
 * was claimed; and until 13:40 that day a window that ended after the port was first read was
 * looked at without a probe sent while it was read).
 * Each round of probes, and the look at the answers, goes PROBE_STEP addresses a turn of the
 * loop; each half window is waited from the end of a round, so an address's probes are at least
 * half a window apart and its answers looked at at least half a window after its last probe.
 */
export function probeConflicts(dp: Datapath, ips: readonly number[], waitMs: number, reading?: Promise<unknown>, slices?: ProbeSlices): Promise<Conflict[]> {
  return inSlices(slices, (pause) => probeIn(dp, ips, waitMs, reading, pause));
}

/** fn with the slices' pause (plainSlicer's without any), their done() when it ends (the last slice recorded). */
async function inSlices<T>(slices: ProbeSlices | undefined, fn: (pause: Pause) => Promise<T>): Promise<T> {
  const { pause, done } = slices ?? plainSlicer(PROBE_SLICES);
  try {
    return await fn(pause);
  } finally {
    done();
  }
}

/** probeConflicts, its slices ended by `pause` (the caller's done() records the last). */
async function probeIn(dp: Datapath, ips: readonly number[], waitMs: number, reading: Promise<unknown> | undefined, pause: Pause): Promise<Conflict[]> {
  if (ips.length === 0 || waitMs <= 0) return [];
  let read = reading === undefined;
  void reading?.then(() => (read = true));
  await probeRound(dp, ips, pause, waitMs / 2);
  // Answers to a round sent before the port was read waited in its queue, which may have filled
  // meanwhile (a restart's clients' frames) and dropped them: the answers looked at are those of
  // the second round, sent once the port is read (uvsd's start reads it after its JIT warm-up,
  // 110-250 ms on these hosts: until 2026-12-06 a second round could go unread and a third follow).
  if (!read) await pause(reading);
  await probeRound(dp, ips, pause, waitMs / 2);
  const out: Conflict[] = [];
  await pause(yieldLoop());
  await inPieces(ips, pause, (piece) => {
    for (const ip of piece) {
      const mac = dp.link.conflictOf(ip);
      if (mac !== null) out.push({ ip, mac: formatMac(mac) });
      dp.link.endProbe(ip);
    }
  });
  return out;
}

/** How often the VIPs of the start's table that another station answered for are probed again, in
 *  ms: every 10 s, or each lap of the ARP watch (uvsd --arp-watch) when that is shorter. */
export const UNCLAIMED_REPROBE_MS = 10_000;
export const reprobeMs = (arpWatchS: number): number => (arpWatchS > 0 ? Math.min(UNCLAIMED_REPROBE_MS, arpWatchS * 1000) : UNCLAIMED_REPROBE_MS);

/**
 * uvsd's start: the VIPs another station answered the probe for are not claimed (in the table,
 * but no ARP answer, announcement nor defence), each logged once as an error. All are unclaimed
 * at once, in one write (DpOp unclaimedSet: one record of them all, made PROBE_STEP addresses a
 * turn of the loop beside the datapath; Link.unclaimed.begin: a VIP deleted meanwhile, before or
 * after it was put in, is left out): `unclaimed` resolves then (uvsd announces its addresses only
 * after it). Then their lines, PROBE_STEP a turn (`logged` resolves after the last: 10,000 lines
 * were 74-78 ms of CPU in one piece through uvsd's log output). Until 2026-12-06 each VIP was an
 * operation and a Map entry of its own, all in one piece: 8-11 ms of CPU at 10,000. `slices`: as
 * probeConflicts' (done() after the last line).
 */
export function leaveUnclaimed(
  dp: Datapath, apply: (ops: DpOp[]) => void, taken: readonly Conflict[], log: ClaimLog, everyMs = UNCLAIMED_REPROBE_MS, slices?: ProbeSlices,
): { unclaimed: Promise<void>; logged: Promise<void> } {
  const { pause, done } = slices ?? plainSlicer(PROBE_SLICES);
  const b = new UnclaimedBuilder(taken.length);
  if (taken.length > 0) dp.link.unclaimed.begin(b.set);
  const unclaimed = inPieces(taken, pause, (piece) => {
    for (const c of piece) if (dp.link.isLocal(c.ip)) b.put(c.ip, c.mac);
  }).then(() => {
    if (taken.length > 0) apply([{ op: 'unclaimedSet', set: b.set }]);
  });
  const logged = unclaimed.then(() => inPieces(taken, pause, (piece) => {
    for (const c of piece) {
      log.error({ addr: formatIp(c.ip), mac: c.mac }, `VIP ${conflictMessage(c)}: not claimed (no ARP answer nor announcement for it) until a probe every ${everyMs / 1000} s finds it free`);
    }
  })).finally(done);
  return { unclaimed, logged };
}

/**
 * Probe the unclaimed VIPs again (those of the HA groups this director is master of: a backup
 * claims nothing) and claim, with a gratuitous ARP, each one no station answers for any more.
 * `slices`: as probeConflicts' (done() after the last piece).
 */
export function reprobeUnclaimed(dp: Datapath, apply: (ops: DpOp[]) => void, probeMs: number, log: ClaimLog, slices?: ProbeSlices): Promise<void> {
  return inSlices(slices, async (pause) => {
    const ips = [...dp.link.unclaimed.keys()].filter((ip) => dp.link.held(ip));
    const taken = new Map((await probeIn(dp, ips, probeMs, undefined, pause)).map((c) => [c.ip, c.mac]));
    // PROBE_STEP addresses a turn of the loop, as the probe's answers were looked at.
    await inPieces(ips, pause, (piece) => {
      const ops: { op: 'unclaimed'; addr: number; by: string | null }[] = [];
      for (const ip of piece) {
        const by = taken.get(ip) ?? null;
        const was = dp.link.unclaimed.get(ip);
        if (was === undefined) continue; // deleted during the probe
        if (by !== was) ops.push({ op: 'unclaimed', addr: ip, by });
      }
      if (ops.length === 0) return;
      apply(ops);
      for (const o of ops) {
        if (o.by !== null) {
          log.error({ addr: formatIp(o.addr), mac: o.by }, `VIP ${conflictMessage({ ip: o.addr, mac: o.by })}: still not claimed`);
          continue;
        }
        dp.announce(o.addr);
        log.info({ addr: formatIp(o.addr) }, `VIP ${formatIp(o.addr)} claimed: no other station answers for it any more`);
      }
    });
  });
}

export interface ClaimLog {
  info(fields: object, msg: string): void;
  error(fields: object, msg: string): void;
}

/** One line naming the address and the station that holds it. */
export function conflictMessage(c: Conflict): string {
  return `${formatIp(c.ip)} is already in use on the LAN by ${c.mac}`;
}

/** The detail of an ADDRESS_IN_USE refusal, which follows its title ("Address already in use on
 *  the LAN: 192.168.8.100 answered from b2:7d:..."), so it does not say "in use" again. */
export function conflictDetail(c: Conflict): string {
  return `${formatIp(c.ip)} answered from ${c.mac}`;
}

/** Why an address cannot be a VIP, a real server or a director address: src/datapath/addr.ts (uvsd's command line checks them without the datapath). */
export { linkAddrProblem, unicastProblem } from '../datapath/addr.js';

/** A batch's items walked between two yields (newAddressSteps, verbs.ts changeRecordSteps): ~10-20 µs of CPU. */
export const WALK_STEP = 64;

/** Addresses a request would make uvsd start answering for: VIPs of services it adds and addresses
 *  it marks (addMark) that are not local yet. Malformed arguments are skipped here; the verb itself refuses them. */
export function newAddresses(dp: Datapath, verb: string, args: unknown): number[] {
  return runSteps(newAddressSteps(dp, verb, args));
}

/** newAddresses as steps: a batch's items WALK_STEP at a time (20,000 of them were 3.6-4.3 ms of
 *  CPU in one piece, in uvsd's turn that hands the batch to its slicer: dispatch.ts). */
export function* newAddressSteps(dp: Datapath, verb: string, args: unknown): Steps<number[]> {
  const out = new Set<number>();
  // A batch of 10,000 services usually names a few VIPs: each distinct string is looked at once.
  const seen = new Set<string>();
  const consider = (v: string, a: unknown): void => {
    if ((v !== 'addService' && v !== 'addMark') || typeof a !== 'object' || a === null) return;
    const addr = (a as { addr?: unknown }).addr;
    if (typeof addr !== 'string' || seen.has(addr)) return;
    seen.add(addr);
    const ip = parseIp(addr);
    if (ip >= 0 && !dp.isLocal(ip) && unicastProblem(ip, dp.addrs) === undefined) out.add(ip);
  };
  consider(verb, args);
  if (verb === 'batch' && typeof args === 'object' && args !== null && Array.isArray((args as { items?: unknown }).items)) {
    const items = (args as { items: unknown[] }).items;
    for (let i = 0; i < items.length; i++) {
      const it = items[i];
      if (typeof it === 'object' && it !== null) {
        const v = (it as { verb?: unknown }).verb;
        if (v === 'addService' || v === 'addMark') consider(v, (it as { args?: unknown }).args);
      }
      if ((i + 1) % WALK_STEP === 0) yield;
    }
  }
  return [...out];
}

/**
 * Run a verb, first probing every address it would claim (RFC 5227): when another station answers
 * for one, the request is refused with that address and the station's MAC and changes nothing.
 * Returns the verb's result directly when nothing needs probing. `slicer`: the probe's pieces
 * are recorded as the verb's (probeConflicts' slices).
 */
export function callClaiming(
  dp: Datapath, call: (verb: string, args: unknown) => unknown, verb: string, args: unknown, probeMs: number, slicer?: Slicer,
): unknown {
  return callProbed(dp, () => call(verb, args), probeMs > 0 ? newAddresses(dp, verb, args) : [], probeMs, slicer === undefined ? undefined : () => slicer(verb));
}

/** callClaiming with the request's new addresses found already (newAddresses, newAddressSteps): `run` runs the verb; `slices` makes the probe's (only when it probes). */
export function callProbed(dp: Datapath, run: () => unknown, found: readonly number[], probeMs: number, slices?: () => ProbeSlices): unknown {
  // A backup claims nothing: the master holds the VIPs (docs/ha.md); they are announced on
  // takeover. With HA groups, the addresses of the groups this director is master of.
  const ips = probeMs > 0 ? found.filter((ip) => dp.link.held(ip)) : [];
  if (ips.length === 0) return run();
  return probeConflicts(dp, ips, probeMs, undefined, slices?.()).then((taken) => {
    if (taken.length > 0) throw new UvsError('ADDRESS_IN_USE', conflictDetail(taken[0]));
    return run();
  });
}
