// The health checker: keepalived's real-server state machine, driving the table only through the
// control verbs (addService, addDest, editDest, deleteDest). Checks run on timers, off the packet
// path, each checker at its own times as in keepalived (one timer for all of them: DueHeap);
// every state change is logged once, with its reason.
// Every check in flight holds a slot: by default one per checker (at least 64), within half of
// uvsd's open-files limit, since each holds a socket or a process's pipes (a check that goes on
// holding neither gives it back: a UDP_CHECK waiting for an ICMP error); MISC_CHECK processes
// at most --health-process-concurrency (64) of them. A check that finds no slot waits (FIFO)
// and starts late: the queue and the lateness are in queue() and startDelays() (uvsadm
// --status, /metrics).
//
// Per checker (keepalived semantics, plus rise/fall):
//   up:   an attempt fails -> retry after delay_before_retry, up to `retry` more times; when all
//         attempts of `fall` consecutive checks failed the checker goes down.
//   down: an attempt every delay_loop; `rise` consecutive passes bring it up.
// A check that could not run (uvsd out of file descriptors, memory, processes: CheckResult.notRun)
// is no verdict: no state changes, no retry, the next attempt at delay_loop; counted per checker,
// logged once per episode (warn at the first, info once checks run again: NotRunEpisode).
// A real server is alive while all its checkers are up. Failed: deleteDest, or weight 0 with
// inhibit_on_failure (its connections then continue). Alive again: back with its weight.
// Per virtual server: quorum = minimum total weight of alive servers; the service goes down when
// the alive weight drops below quorum - hysteresis (or to 0) and up again at quorum + hysteresis,
// with quorum_down / quorum_up. As keepalived's update_quorum_state / perform_quorum_state: with a
// sorry_server, losing the quorum takes the alive servers out too (deleted, or weight 0 under
// inhibit_on_failure) and puts the sorry server in, so it gets all the traffic; while it is in,
// servers changing state do not touch the table; gaining the quorum removes the sorry server and
// puts every alive server back. Without a sorry server the alive servers stay.

// The table follows the configuration through prepare()/commit() (HealthHook of
// src/control/config.ts): a reload keeps the state of servers whose checkers did not change,
// restarts changed checkers, starts new ones and stops removed ones; the config's planner asks
// weightOf() so a failed server stays out of the table. Several table changes decided together
// (a server down and the sorry server in) go through one `batch`.

import { PORT_CHECKERS, PROCESS_SLOTS, type CheckerStat, type CheckResult, type CheckSpec, type HealthConfig, type HealthEntry, type HealthQueue, type HealthQuorum, type HealthState, type NotifyScript, type RealServerSpec, type VirtualServerSpec } from './types.js';
import type { CheckSink, DirectChecks, RunCheck } from './checkers/index.js';
import { openFilesLimit } from '../cli/fdlimit.js';
import { fileVerdict, firstFileValue, writeInitFile } from './checkers/file.js';
import { MAX_WEIGHT } from '../control/protocol.js';
import { dk, entryOfServer, sorryEntry, vsServiceSpec, type HealthPlan } from '../control/config.js';
import { sorryAlsoServer } from './keepalived.js';
import { scriptUserCaps } from './exec.js';
import { clearLongTimeout, setLongTimeout, type LongTimeout } from '../control/clock.js';
import { runSteps, runStepsSliced, yieldLoop, type Steps } from '../control/slices.js';
import { serviceId, serviceKey, serviceText, type BatchItem, type Proto, type ServiceKey } from '../control/protocol.js';
import { parseIp } from '../datapath/addr.js';
import { U32PairMap } from '../datapath/lookup.js';

export interface HealthClock {
  /** A monotonic clock (ms): the checks' durations and the state changes' times. */
  now(): number;
  /** The wall clock (ms since the epoch), for the times reported (status: since). */
  wall(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realClock: HealthClock = {
  now: () => performance.now(),
  wall: () => Date.now(),
  // delay_loop and the others may be up to a year, past Node's 24.8-day setTimeout (MAX_TIMER_MS).
  setTimeout: (fn, ms) => setLongTimeout(fn, ms),
  clearTimeout: (h) => clearLongTimeout(h as LongTimeout | undefined),
};

export interface HealthLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  /** Each check's result (uvsd --log-level debug); absent: not logged. */
  debug?(obj: object, msg: string): void;
}

export interface HealthDeps {
  /** The control verbs (Control.call); may return a value or a promise; throws/rejects on refusal. */
  call(verb: string, args: unknown): unknown;
  /** One check attempt; must not reject. */
  run: RunCheck;
  /** Run a configured command (notify, quorum) as its user; resolves when it ended. */
  exec(script: NotifyScript): Promise<void>;
  log: HealthLog;
  clock?: HealthClock;
  /** Does this director hold the address now (master of its HA group, docs/ha.md)? For ha_suspend; absent: always. */
  holds?(addr: string): boolean;
  /** At most this many checks in flight (uvsd --health-concurrency); absent: one slot per checker
   *  (at least MIN_SLOTS), within half of openFiles. */
  concurrency?: number;
  /** At most this many MISC_CHECK processes at once, within the slots, and apart from them as many
   *  notify and quorum commands (uvsd --health-process-concurrency); absent: PROCESS_SLOTS. */
  processConcurrency?: number;
  /** uvsd's open-files limit (default: RLIMIT_NOFILE, read from /proc/self/limits). */
  openFiles?: number;
  /** A service's first checks have all given a verdict (awaitingFirstChecks turned false: uvsd --bgp-include may announce it). */
  firstChecksDone?(service: ServiceKey): void;
  /** 0..1, spreads the first checks over one delay_loop (default Math.random). */
  random?: () => number;
  /** uvsd's /proc/self/status, for its CapEff (default: read it): scriptUserCaps. */
  procStatus?: () => string;
}

interface CheckerState {
  spec: CheckSpec;
  rs: RsState;
  up: boolean;
  fails: number;
  oks: number;
  /** Its place in the manager's DueHeap while it waits for its next attempt, else -1. */
  heapAt: number;
  /** When its next attempt is due (clock ms): how late it starts is measured from here. */
  due: number;
  /** The manager's count of schedule() calls when it was last scheduled: the first of two due at once goes first. */
  order: number;
  /** When its attempt in flight started (clock ms): started by DirectChecks, its duration is measured from here. */
  launchedAt: number;
  /** Replaced or removed by a reload: its in-flight result is dropped, it is never rescheduled. */
  dead?: boolean;
  /** Attempts that passed and failed since this checker started, the last one's ms and reason (metrics). */
  passed: number;
  failed: number;
  /** Attempts that could not run (CheckResult.notRun) since this checker started (metrics). */
  notRun: number;
  lastMs: number;
  lastReason: string;
  /**
   * virtual_server group: the same checker of the same real server in the group's other services.
   * They never run; each result of this one is theirs too (keepalived checks once per group).
   */
  followers?: CheckerState[];
  /** Another service's checker of the group runs for this one (see followers). */
  follows?: boolean;
  /** FILE_CHECK: what its file adds to the server's weight now (0 for the other checkers). */
  delta: number;
}

interface RsState {
  vs: VsState;
  spec: RealServerSpec;
  checkers: CheckerState[];
  alive: boolean;
  reason: string;
  /** When the state last changed (clock.now()). */
  since: number;
  dynWeight: number | undefined;
  /** What the table holds for this server: nothing, its weight, or weight 0 (inhibited); 'zero'
   *  too while it is its service's sorry server in use (sorryAlsoServer: weight 1, not its own). */
  present: 'none' | 'weight' | 'zero';
  /** Gone from the configuration: pending results are ignored. */
  removed: boolean;
}

interface VsState {
  spec: VirtualServerSpec;
  key: ServiceKey;
  rs: RsState[];
  quorumUp: boolean;
  sorryIn: boolean;
  /** The sorry server is in the table at weight 0, not needed now (sorry_server_inhibit). */
  sorryParked: boolean;
  /** New (at start or by a reload) and some checker of its servers has no verdict yet (awaitingFirstChecks). */
  firstRound: boolean;
  /** ha_suspend in force when last looked at (suspendState): its checks make no attempt, its servers' state is as last seen. */
  suspended: boolean;
  /** The sorry server as the quorum reports it (`addr:port`), made with the spec (quorumRow: no text made per /status.json). */
  sorryText: string | undefined;
  /** A virtual_server group's entry after its first (shareGroupChecks): the first runs the group's quorum commands. */
  groupCopy?: boolean;
}

/** A notify command runs on its server's lane, a quorum command on its service's. */
interface Command {
  lane: RsState | VsState;
  script: NotifyScript;
  /** notify_up, quorum_up (true) or notify_down, quorum_down (false). */
  up: boolean;
}

/** A checker has given its verdict: an attempt passed, or its server is (or started) failed. */
function hasVerdict(c: CheckerState): boolean {
  return c.passed > 0 || !c.up;
}

/** Are all of rs's checkers up (its verdict: alive)? */
function allUp(rs: RsState): boolean {
  for (let i = 0; i < rs.checkers.length; i++) if (!rs.checkers[i]!.up) return false;
  return true;
}

/**
 * Whether this lane's notify or quorum commands run: not for a virtual_server group's copies of
 * a server or service (keepalived has one real server and one virtual server for the whole
 * group, so its commands run once per change, not once per entry); those of the group's first
 * entry, whose checkers lead, run (shareGroupChecks).
 */
function runsCommands(lane: RsState | VsState): boolean {
  if (!('checkers' in lane)) return lane.groupCopy !== true;
  return lane.checkers.length === 0 || lane.checkers.some((c) => c.follows !== true);
}

function awaitsVerdicts(vs: VsState): boolean {
  return vs.rs.some((rs) => rs.checkers.some((c) => !hasVerdict(c)));
}

function where(o: { origin?: { file: string; line: number } } | undefined): string {
  return o?.origin ? `${o.origin.file}:${o.origin.line}: ` : '';
}

function rsName(rs: RsState): string {
  return `${rs.spec.addr}:${rs.spec.port}`;
}

function vsName(vs: { key: ServiceKey }): string {
  return serviceText(vs.key);
}

/** Checkers compared without where they were written. */
function checkersKey(cs: CheckSpec[]): string {
  return JSON.stringify(cs.map((c) => ({ ...c, origin: undefined })));
}

/**
 * A real server of a virtual_server group as keepalived has it: one real_server statement
 * (its origin) with the checks it runs, each at the port it connects to. A group's entries each
 * hold a copy, whose port may differ (a DR server of a fwmark entry is at port 0 and checked at
 * the port written, given as its connect_port; of an address entry at the entry's port).
 */
function groupRsKey(group: string, rs: RealServerSpec, statement = true): string {
  // Without the statement (a reload's file may have moved it): the same checks of the same address.
  const at = !statement ? '' : rs.origin !== undefined ? `${rs.origin.file}:${rs.origin.line}` : String(rs.port);
  const checks = rs.checkers.map((c) => (PORT_CHECKERS.has(c.type) && c.connectPort === undefined ? { ...c, connectPort: rs.port } : c));
  return `${group}|${rs.addr}|${at}|${checkersKey(checks)}`;
}

function typesOf(cs: CheckSpec[]): string {
  return cs.map((c) => c.type).join(', ');
}

const vsKeyOf = serviceId;

/** The fewest check slots by default (uvsd's fixed default until 2026-12-05). */
const MIN_SLOTS = 64;
/** Upper bounds (s) of the uvs_health_checks_start_delay_seconds buckets. */
const START_DELAY_BOUNDS = [0.01, 0.1, 1, 5, 15, 60, 300];

function isProcess(c: CheckerState): boolean {
  return c.spec.type === 'MISC_CHECK';
}


/** keepalived update_quorum_state: lost when the alive weight is 0 or below quorum - hysteresis. */
function quorumLost(w: number, spec: VirtualServerSpec): boolean {
  return w === 0 || w < spec.quorum - spec.hysteresis;
}

/** The virtual-server settings a reload may change, for --dry-run lines. */
function vsDiff(a: VirtualServerSpec, b: VirtualServerSpec): string[] {
  const out: string[] = [];
  const show = (v: unknown) => {
    if (v === undefined) return 'none';
    if (typeof v !== 'object') return String(v);
    if ('command' in v!) {
      const { command, user } = v as NotifyScript;
      return user === undefined ? command : `${command} (as ${[user.name, user.group].filter((x) => x !== undefined).join(' ')})`;
    }
    const s = v as { addr: string; port: number; inhibit?: boolean };
    return `${s.addr}:${s.port}${s.inhibit === true ? ' (inhibit)' : ''}`;
  };
  // Objects: the sorry server (where it is written is no change) and the quorum commands.
  const text = (v: unknown) => JSON.stringify(typeof v === 'object' ? { ...v, origin: undefined } : v);
  for (const k of ['quorum', 'hysteresis', 'sorryServer', 'quorumUp', 'quorumDown', 'alpha', 'omega'] as const) {
    if (text(a[k]) !== text(b[k])) out.push(`${k} ${show(a[k])} -> ${show(b[k])}`);
  }
  return out;
}

interface RsPlan {
  spec: RealServerSpec;
  old: RsState | undefined;
  same: boolean;
  alive: boolean;
  dynWeight: number | undefined;
  /** What the FILE_CHECKs add to the weight (kept, or read now for new checkers). */
  delta: number;
  /** New checkers (not same): each one's first state, up and delta (a FILE_CHECK's from its file now). */
  first?: Array<{ up: boolean; delta: number }>;
  /** A new entry's copy of a virtual_server group's server: the group's server whose state it starts with. */
  group?: RsState;
}

/** The quorum after a change of the alive weight to w (keepalived update_quorum_state). */
function nextQuorum(up: boolean, w: number, spec: VirtualServerSpec): boolean {
  if (up && quorumLost(w, spec)) return false;
  if (!up && w >= spec.quorum + spec.hysteresis) return true;
  return up;
}

/** A server's weight: configured (or misc_dynamic's) plus what its FILE_CHECKs add, within 0..MAX_WEIGHT. */
function effectiveWeight(base: number, delta: number): number {
  return delta === 0 ? base : Math.max(0, Math.min(MAX_WEIGHT, base + delta));
}

/** A server's text as the health checks report it (a quorum's sorry server): `addr:port`. */
function serverText(s: { addr: string; port: number } | undefined): string | undefined {
  return s === undefined ? undefined : `${s.addr}:${s.port}`;
}

/** A service's protocol and port as one number (ServiceIds): a -f service's 0. */
function protoPort(proto: Proto | 'fwm', port: number): number {
  return proto === 'fwm' ? 0 : (proto === 'udp' ? 2 : proto === 'sctp' ? 3 : 1) * 0x10000 + port;
}

/**
 * The services' serviceIds by the numbers the table has a service by: its address (int32; a -f
 * service's mark), protocol and port (HealthView.serviceIdAt: /status.json names each service of
 * the table so, where it made the text of each at every request). Looked up with no allocation.
 */
class ServiceIds {
  private readonly at = new U32PairMap();
  private readonly ids: string[] = [];

  /** k's serviceId (`id`), unless k is no service the table can have (an address or port out of range). */
  add(k: ServiceKey, id: string): void {
    const fwm = k.fwmark !== undefined && k.fwmark !== 0;
    const addr = fwm ? k.fwmark! : parseIp(k.addr);
    if (addr < 0 || !Number.isInteger(addr) || addr > 0xffffffff || (!fwm && !(Number.isInteger(k.port) && k.port >= 0 && k.port <= 0xffff))) return;
    this.at.set(addr, protoPort(fwm ? 'fwm' : k.proto, k.port), this.ids.length);
    this.ids.push(id);
  }

  get(proto: Proto | 'fwm', addr: number, port: number): string | undefined {
    const i = this.at.get(addr, protoPort(proto, port));
    return i < 0 ? undefined : this.ids[i];
  }
}

/** What a server's FILE_CHECKs add to its weight (their checker states, or their first states). */
function deltaOf(checkers: ReadonlyArray<{ delta: number }>): number {
  // A loop, not reduce(): its callback was a closure made per call (32 bytes per server of every /status.json's weights, 2026-12-06).
  let d = 0;
  for (let i = 0; i < checkers.length; i++) d += checkers[i]!.delta;
  return d;
}

interface VsPlan {
  spec: VirtualServerSpec;
  key: ServiceKey;
  old: VsState | undefined;
  rs: RsPlan[];
  quorumUp: boolean;
  sorryIn: boolean;
  sorryParked: boolean;
}

/** A check that runs this long after the last one that could not run ends the episode (checks that
 *  pass and fail in turn while uvsd is at its limit make one episode, not a line each). */
export const NOT_RUN_QUIET_MS = 3000;

/**
 * Checks waiting for a slot, first in first out. Not an array's shift(): V8 moves the whole of a
 * long one (past ~16,000 entries) at each, and with 40,000 checks failing at once the slots freed
 * one after another took 1.4 s of one loop turn (bench/tenk-paths.ts --path health).
 */
class CheckQueue {
  private items: CheckerState[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(c: CheckerState): void {
    this.items.push(c);
  }

  first(): CheckerState | undefined {
    return this.items[this.head];
  }

  shift(): CheckerState | undefined {
    if (this.head >= this.items.length) return undefined;
    const c = this.items[this.head]!;
    this.items[this.head++] = undefined as unknown as CheckerState;
    // Taken ones dropped once they are half: a copy per as many shifts as it copies.
    if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return c;
  }

  clear(): void {
    this.items = [];
    this.head = 0;
  }

  count(f: (c: CheckerState) => boolean): number {
    let n = 0;
    for (let i = this.head; i < this.items.length; i++) if (f(this.items[i]!)) n++;
    return n;
  }
}

/**
 * The checkers waiting for their next attempt, the one due first on top (a binary heap on `due`,
 * then the order they were scheduled in: `order`), each knowing its place (`heapAt`, -1 when not
 * in it) so a reload or a stop takes it out at once. One timer of the clock for all of them
 * (HealthManager.armDue), for the top. Until 2026-12-06 each checker had a timer of its own, made
 * anew at each attempt (a LongTimeout, Node's Timeout and a closure, ~250 bytes): each lived a
 * delay_loop, so every one of them survived its scavenges and was promoted, and the checkers
 * (old) pointed at them (young): at 10,000 x 4 every 3 s, 1.6 MB survived each of 164 scavenges a
 * minute, 52 ms each (docs/performance.md, 2026-12-06 04:20-05:25 section).
 */
class DueHeap {
  private readonly items: CheckerState[] = [];

  top(): CheckerState | undefined {
    return this.items[0];
  }

  push(c: CheckerState): void {
    c.heapAt = this.items.length;
    this.items.push(c);
    this.up(c.heapAt);
  }

  /** Take c out (nothing when it is not in). */
  remove(c: CheckerState): void {
    const i = c.heapAt;
    if (i < 0) return;
    c.heapAt = -1;
    const last = this.items.pop()!;
    if (i === this.items.length) return;
    this.items[i] = last;
    last.heapAt = i;
    this.down(i);
    this.up(last.heapAt);
  }

  clear(): void {
    for (const c of this.items) c.heapAt = -1;
    this.items.length = 0;
  }

  private static before(a: CheckerState, b: CheckerState): boolean {
    return a.due < b.due || (a.due === b.due && a.order < b.order);
  }

  private up(i: number): void {
    const a = this.items;
    const c = a[i]!;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!DueHeap.before(c, a[p]!)) break;
      a[i] = a[p]!;
      a[i]!.heapAt = i;
      i = p;
    }
    a[i] = c;
    c.heapAt = i;
  }

  private down(i: number): void {
    const a = this.items;
    const n = a.length;
    const c = a[i]!;
    for (;;) {
      let k = 2 * i + 1;
      if (k >= n) break;
      if (k + 1 < n && DueHeap.before(a[k + 1]!, a[k]!)) k++;
      if (!DueHeap.before(a[k]!, c)) break;
      a[i] = a[k]!;
      a[i]!.heapAt = i;
      i = k;
    }
    a[i] = c;
    c.heapAt = i;
  }
}

/** Services prepareSteps() looks at between two steps (~0.3-0.5 ms of a 2 vCPU EPYC's at 4 servers each; 32 until 2026-12-06: ~1 ms, with the slicer's 1-2 ms pieces past 2). */
const PREPARE_STEP = 16;
/** The health checker's start lets the loop run once a piece of it has run this long (ms): its steps are up to ~1 ms. */
const START_SLICE_MS = 1;

/** A pause() for start(): the loop runs once START_SLICE_MS passed since the last. */
function startPause(): () => Promise<void> {
  let t0 = performance.now();
  return async () => {
    if (performance.now() - t0 < START_SLICE_MS) return;
    await yieldLoop();
    t0 = performance.now();
  };
}

/** The checks a turn of the event loop starts: for this long (ms) from its first (turnRoom). */
const LAUNCH_TURN_MS = 0.5;
/** What a direct check (DirectChecks) costs to start, ms, until flushes measured it: a TCP_CHECK's
 *  socket(), connect() and epoll_ctl() on 127.0.0.1, 17-30 µs on a 2 vCPU EPYC (the kernel's
 *  handshake included). */
const DIRECT_MS_FIRST = 0.03;
/** Services commitSteps() installs between two steps (~17 µs each at 4 servers: ~0.5 ms). */
const COMMIT_STEP = 16;

/** Checks that could not run, from the first to the last one (uvsd out of a local resource). */
interface NotRunEpisode {
  since: number;
  last: number;
  count: number;
}

export class HealthManager {
  private vss: VsState[] = [];
  private byKey = new Map<string, RsState>();
  /** The services by serviceId (awaitingFirstChecks, asked for every service at every change of the table). */
  private vsById = new Map<string, VsState>();
  /** Their serviceIds by the numbers of the table's service (serviceIdAt). */
  private ids = new ServiceIds();
  private readonly clock: HealthClock;
  /** --health-concurrency, else undefined: the slots follow the checkers (sizeSlots). */
  private readonly fixedSlots: number | undefined;
  /** --health-process-concurrency, else PROCESS_SLOTS (MISC_CHECK processes; notify and quorum commands apart). */
  private readonly processLimit: number;
  private readonly openFiles: number;
  private slots = MIN_SLOTS;
  /** Checkers that run (a group's followers do not). */
  private checkers = 0;
  /** The capabilities missing that warnScriptCaps said last (undefined: nothing to say then). */
  private capsSaid: string | undefined;
  /** Checks due without a slot, in the order they came due: processes apart, as their slots may be full when others are not. */
  private readonly waitingChecks = new CheckQueue();
  private readonly waitingProcesses = new CheckQueue();
  private inflight = 0;
  private processes = 0;
  /** When this turn of the event loop started its first check (performance.now()), -1 before it (turnRoom). */
  private turnT0 = -1;
  /** deps.run's checks started without a promise (TCP_CHECK), if any: the results come to `sink`. */
  private readonly direct: DirectChecks | undefined;
  private readonly sink: CheckSink = {
    checkDone: (token, r) => this.directDone(token as CheckerState, r),
    checksEnded: () => this.drain(),
  };
  /** Checks queued in `direct` since its last flush (drain flushes them), and what one costs to
   *  start there (ms, from the flushes' times): turnRoom counts the queued ones' start in its turn. */
  private queuedDirect = 0;
  private directMs = DIRECT_MS_FIRST;
  /** In drain() or fireDue(): results given meanwhile (a direct check that failed at once) start nothing until it ends. */
  private draining = false;
  /** Start delays (due -> launched): per START_DELAY_BOUNDS bucket, the last above them all, and their sum (s). */
  private readonly delayCounts = new Float64Array(START_DELAY_BOUNDS.length + 1);
  private delaySum = 0;
  /** The longest start delay (ms) in each of the last 60 seconds, and the second (clock s) each slot is for. */
  private readonly lateBySecond = new Float64Array(60);
  private readonly lateSecond = new Float64Array(60).fill(-1);
  private stopped = false;
  private started = false;
  /** Table changes run one after the other, in the order decided (never waiting for a command). */
  private chain: Promise<void> = Promise.resolve();
  /** The results' evaluations queued on chain and not yet done (step). */
  private evaluations = 0;
  /** The checkers waiting for their next attempt (schedule), and the clock's one timer for them (armDue): when it goes off (clock ms; Infinity: none). */
  private readonly dueHeap = new DueHeap();
  private dueTimer: unknown;
  private dueTimerAt = Infinity;
  private readonly onDue = (): void => this.fireDue();
  /** schedule() calls so far: CheckerState.order. */
  private scheduled = 0;
  /** Moved by every verdict (evaluate): a plan made before it (prepare) may hold servers' states since changed (commit). */
  private gen = 0;
  /** The last notify or quorum command queued per server (notify) or service (quorum): each one's commands run in order. */
  private readonly lanes = new Map<RsState | VsState, Promise<void>>();
  /** Per lane, its commands queued and not yet started (spawn): a state change back before the one before it started cancels both. */
  private readonly pending = new Map<RsState | VsState, Array<{ script: NotifyScript; up: boolean; skip: boolean }>>();
  /** notify and quorum commands running, at most processLimit; more wait here for one to end. */
  private commandsRunning = 0;
  private readonly waitingCommands: Array<() => void> = [];
  /** While a commit is in steps (commitSteps): the results landing meanwhile (checker, result, ...), taken at its end. */
  private holding: Array<CheckerState | CheckResult> | undefined;
  /** While a commit is in steps: the table's changes of verdicts (evaluate) wait for it. */
  private commitGate: Promise<void> | undefined;
  /** Checks run since start (for tests and the load measurement). */
  attempts = 0;
  /** Checks that could not run since start (uvsadm --status health_checks_not_run, uvs_health_checks_not_run_total). */
  notRunTotal = 0;
  /**
   * Table changes of the health checks the table refused (a server's own change, a weight-only
   * change, a quorum's sorry server in or out: tryCall), since start: uvs_health_refused_total.
   * Each is logged (`health: control verb refused`) and tried again at the next check; until
   * 2026-12-05 the log was all there was.
   */
  refusedTotal = 0;
  /**
   * The args of sorry servers' addDest (updateQuorum): a destination already at that address (a
   * real server a reload removed, draining at weight 0 until its drain-timeout) becomes the sorry
   * server (editDest, weight 1), where any other addDest of one that exists is left as it is
   * (keepalived's EEXIST). Kept at weight 0 it took no traffic while the quorum's status said
   * "sorry in", and the drain's end deleted it (found 2026-12-07 by an exploratory run).
   */
  private readonly sorryAdds = new WeakSet<object>();
  /**
   * Refusals logged and not applied since (verb and service; servers whose change was not
   * applied): a refusal repeats at every check while it lasts (a service deleted by hand), so it
   * is logged once, counted every time (refusedTotal), and logged again only after a change of it
   * went through. Until 2026-12-07 two warnings every delay_loop per server, without end.
   */
  private readonly refusalsLogged = new Set<string>();
  private readonly notAppliedLogged = new WeakSet<RsState>();
  /** The checks that cannot run now (NotRunEpisode), until one runs NOT_RUN_QUIET_MS after the last. */
  private notRunEpisode: NotRunEpisode | undefined;

  constructor(
    /** Services to import at start() (keepalived.conf without a ConfigManager: tests, benchmarks). */
    private readonly initial: HealthConfig | undefined,
    private readonly deps: HealthDeps,
  ) {
    this.clock = deps.clock ?? realClock;
    this.fixedSlots = deps.concurrency === undefined ? undefined : Math.max(1, deps.concurrency);
    this.processLimit = Math.max(1, deps.processConcurrency ?? PROCESS_SLOTS);
    // RLIMIT_NOFILE's soft limit as Node raised it at start (Infinity: unlimited or not known).
    this.openFiles = deps.openFiles ?? openFilesLimit() ?? Infinity;
    this.slots = this.fixedSlots ?? MIN_SLOTS;
    this.direct = deps.run.direct;
  }

  private key(service: ServiceKey, rip: string, rport: number): string {
    return `${serviceId(service)} ${rip}:${rport}`;
  }

  private weightOf(rs: RsState): number {
    return effectiveWeight(rs.dynWeight ?? rs.spec.weight, deltaOf(rs.checkers));
  }

  private destArgs(vs: VsState, addr: string, port: number, weight?: number): Record<string, unknown> {
    const a: Record<string, unknown> = { service: vs.key, addr, port };
    if (weight !== undefined) a.weight = weight;
    return a;
  }

  /**
   * Start checking. Given services at construction, first put them in the table in one batch
   * (all or nothing): a refused one throws "file:line: message" and nothing is added.
   */
  async start(): Promise<void> {
    if (this.started) throw new Error('health manager already started');
    // In steps with the loop free in between (startPause): in one piece, 10,000 services of 4
    // TCP_CHECK'd servers held it 266-330 ms (the plan, the batch's items, the commit, 40,000
    // first checks scheduled).
    const pause = startPause();
    if (this.initial !== undefined) {
      const p = await runStepsSliced(this.prepareSteps(this.initial.services), pause);
      const items: BatchItem[] = [];
      const origins: Array<{ origin?: { file: string; line: number } }> = [];
      const push = (o: { origin?: { file: string; line: number } }, item: BatchItem) => {
        items.push(item);
        origins.push(o);
      };
      const sorry = new Map<string, typeof p.sorry>();
      for (const s of p.sorry) sorry.set(vsKeyOf(s.service), [...sorry.get(vsKeyOf(s.service)) ?? [], s]);
      for (const [n, vs] of this.initial.services.entries()) {
        if (n % COMMIT_STEP === COMMIT_STEP - 1) await pause();
        const key = serviceKey(vs);
        push(vs, { verb: 'addService', args: vsServiceSpec(vs) });
        for (const r of vs.realServers) {
          const w = p.weightOf(key, r.addr, r.port, r.weight);
          if (w !== undefined) push(r, { verb: 'addDest', args: { service: key, addr: r.addr, port: r.port, weight: w, ...entryOfServer(vs, r) } });
        }
        for (const s of sorry.get(vsKeyOf(key)) ?? []) push({ origin: vs.sorryServer?.origin ?? vs.origin }, { verb: 'addDest', args: { ...s, weight: 1 } });
      }
      try {
        await this.deps.call('batch', { items });
      } catch (e) {
        const i = (e as { index?: number }).index;
        this.stopped = true;
        throw new Error(`${where(i === undefined ? undefined : origins[i])}${(e as Error).message}`);
      }
      await runStepsSliced(p.commitSteps!(), pause);
    }
    this.started = true;
    // The first checks: each at a random time within its warmup (default one delay_loop:
    // scheduleFirst), so a start does not check everything in one turn; scheduled a few
    // services at a time.
    let n = 0;
    for (const vs of this.vss) {
      this.deps.log.info({ service: vsName(vs), servers: vs.rs.length, quorum: vs.quorumUp ? 'up' : 'down', alpha: vs.spec.alpha }, 'health: service configured');
      for (const rs of vs.rs) for (const c of rs.checkers) if (c.follows !== true) this.scheduleFirst(c);
      if (++n % COMMIT_STEP === 0) await pause();
    }
    this.haChanged();
  }

  /**
   * The HA role may have changed (uvsd calls this after every change of the table, a role's
   * included): each ha_suspend service's checks are suspended or activated now (suspendState),
   * not only when a checker next comes due.
   */
  haChanged(): void {
    for (const vs of this.vss) this.suspendState(vs);
  }

  /** ha_suspend applies now: the other director holds the VIP (this one is backup of its HA group). */
  private suspendNow(vs: VsState): boolean {
    const s = vs.spec;
    return s.haSuspend === true && s.fwmark === undefined && this.deps.holds?.(s.addr) === false;
  }

  /**
   * Whether vs's checks are suspended (ha_suspend), noting a change: one log line per change, as
   * keepalived's update_checker_activity ("Suspending" / "Activating healthchecker for service").
   * While suspended its servers' state is as last seen (uvsadm --status, /status.json and
   * uvs_health_suspended say so). Activated, every checker waiting for its delay_loop checks now.
   */
  private suspendState(vs: VsState): boolean {
    if (!this.started || this.stopped) return vs.suspended;
    const now = this.suspendNow(vs);
    if (now === vs.suspended) return now;
    vs.suspended = now;
    this.deps.log.info({ service: vsName(vs), haSuspend: true, suspended: now },
      now ? `health: Suspending healthchecker for service ${vsName(vs)} (ha_suspend: this director does not hold the VIP; its servers keep the state last seen)`
        : `health: Activating healthchecker for service ${vsName(vs)} (ha_suspend: this director holds the VIP)`);
    // A checker in flight or waiting for a slot (not in dueHeap) goes on as it is.
    if (!now) for (const rs of vs.rs) for (const c of rs.checkers) if (c.heapAt >= 0) this.schedule(c, 0);
    return now;
  }

  /** First check of a new checker: at a random time within its warmup (default one delay_loop), as keepalived. */
  private scheduleFirst(c: CheckerState): void {
    this.schedule(c, Math.floor((this.deps.random ?? Math.random)() * (c.spec.warmupMs ?? c.spec.delayLoopMs)));
  }

  /**
   * What the table should hold under a new configuration, keeping the state of servers whose
   * checkers are unchanged: a new server starts alive (failed with alpha), a server whose
   * checkers changed keeps its state and its new checkers restart, one without checkers is alive.
   */
  prepare(specs: VirtualServerSpec[]): HealthPlan {
    return runSteps(this.prepareSteps(specs));
  }

  /**
   * prepare() a few services at a time (a reload's planner runs it in slices): in one piece it
   * held the loop 300 ms at 10,000 services of 4 TCP_CHECK'd servers (bench/tenk-paths.ts). A
   * verdict given between two steps is one prepare() in one piece may have missed too: commit()
   * takes it (since()) or evaluates it again.
   */
  *prepareSteps(specs: VirtualServerSpec[]): Steps<HealthPlan> {
    const gen = this.gen;
    const oldVs = new Map<string, VsState>();
    for (const v of this.vss) if (oldVs.set(vsKeyOf(v.key), v).size % PREPARE_STEP === 0) yield;
    // A virtual_server group's servers as their checks have them now: an entry a reload adds
    // starts with them (keepalived's ipvs_group_sync_entry adds the alive ones to a new entry).
    const groupRs = new Map<string, RsState>();
    for (const v of this.vss) {
      if (v.spec.group === undefined) continue;
      for (const r of v.rs) {
        const k = groupRsKey(v.spec.group, r.spec, false);
        if (!groupRs.has(k)) groupRs.set(k, r);
      }
    }
    const changes: string[] = [];
    const notes: string[] = [];
    const plans: VsPlan[] = [];
    for (const spec of specs) {
      if (plans.length % PREPARE_STEP === PREPARE_STEP - 1) yield;
      const key = serviceKey(spec);
      const old = oldVs.get(vsKeyOf(key));
      oldVs.delete(vsKeyOf(key));
      if (old !== undefined) {
        const d = vsDiff(old.spec, spec);
        if (d.length > 0) changes.push(`edit health of service ${vsName({ key })}: ${d.join(', ')}`);
      }
      const oldRs = new Map((old?.rs ?? []).map((r) => [`${r.spec.addr}:${r.spec.port}`, r]));
      const rs: RsPlan[] = spec.realServers.map((r) => {
        const name = `${r.addr}:${r.port}`;
        const o = oldRs.get(name);
        oldRs.delete(name);
        const same = o !== undefined && checkersKey(o.spec.checkers) === checkersKey(r.checkers);
        const what = `server ${vsName({ key })} -> ${name}`;
        if (o === undefined || o.checkers.length === 0) {
          if (r.checkers.length > 0) changes.push(`start checks on ${what}: ${typesOf(r.checkers)}`);
        } else if (!same) {
          changes.push(r.checkers.length === 0 ? `stop checks on ${what}` : `restart checks on ${what}: ${typesOf(r.checkers)}`);
        }
        // New checkers start as the server is (alive, or failed with alpha); a FILE_CHECK's state
        // is known at once from its file (keepalived clears alpha for it).
        const others = r.checkers.filter((c) => c.type !== 'FILE_CHECK').length;
        const g = o === undefined && spec.group !== undefined ? groupRs.get(groupRsKey(spec.group, r, false)) : undefined;
        const base = others === 0 ? true : (o ?? g) !== undefined ? (o ?? g)!.alive : !(r.alpha ?? spec.alpha);
        const first = same ? undefined : r.checkers.map((c) => {
          if (c.type !== 'FILE_CHECK') return { up: base, delta: 0 };
          const v = fileVerdict(c, firstFileValue(c, !this.started));
          return { up: v.ok, delta: v.delta ?? 0 };
        });
        const alive = same ? o!.alive : base && first!.every((f) => f.up);
        const delta = deltaOf(same ? o!.checkers : first!);
        const dynWeight = same ? o!.dynWeight : undefined;
        // A new configured weight the table does not show now (the server is out or at weight 0,
        // or a misc_dynamic weight is in use) is still a change: said here, not silently taken.
        if (o !== undefined && o.spec.weight !== r.weight && (!alive || dynWeight !== undefined)) {
          changes.push(`re-weight server ${vsName({ key })} -> ${name}: configured weight ${o.spec.weight} -> ${r.weight} ` +
            (alive ? `(misc_dynamic weight ${dynWeight} in use)` : '(health check failed: applies when it passes)'));
        }
        return { spec: r, old: o, same, alive, dynWeight, delta, first, ...(g !== undefined && others > 0 ? { group: g } : {}) };
      });
      for (const o of oldRs.values()) if (o.checkers.length > 0) changes.push(`stop checks on server ${vsName({ key })} -> ${o.spec.addr}:${o.spec.port}`);
      let w = 0;
      for (const r of rs) if (r.alive) w += effectiveWeight(r.dynWeight ?? r.spec.weight, r.delta);
      // keepalived (set_quorum_states): a new service starts with its quorum up only at quorum + hysteresis.
      const quorumUp = old === undefined ? w >= spec.quorum + spec.hysteresis : nextQuorum(old.quorumUp, w, spec);
      const sorryIn = !quorumUp && spec.sorryServer !== undefined;
      if (old === undefined) {
        const name = vsName({ key });
        for (const r of rs) {
          if (!r.alive) notes.push(`${name} -> ${r.spec.addr}:${r.spec.port} starts failed (alpha): ${r.spec.inhibitOnFailure ? 'at weight 0' : 'out of the table'} until its checks pass`);
        }
        const s = spec.sorryServer;
        if (sorryIn && s !== undefined) {
          notes.push(`${name} starts with its quorum down (alive weight ${w} < quorum ${spec.quorum} + hysteresis ${spec.hysteresis}): ` +
            `sorry server ${s.addr}:${s.port} in, its servers held out until enough pass their checks`);
        }
      }
      // sorry_server_inhibit: the same sorry server, in the table now (in use or at weight 0), stays at weight 0 when not needed
      // (one that is also a real server is that server's then).
      const os = old?.spec.sorryServer;
      const same = os !== undefined && spec.sorryServer !== undefined && os.addr === spec.sorryServer.addr && os.port === spec.sorryServer.port;
      const sorryParked = !sorryIn && spec.sorryServer?.inhibit === true && same && (old!.sorryIn || old!.sorryParked) && sorryAlsoServer(spec) === undefined;
      plans.push({ spec, key, old, rs, quorumUp, sorryIn, sorryParked });
    }
    for (const o of oldVs.values()) {
      for (const r of o.rs) if (r.checkers.length > 0) changes.push(`stop checks on server ${vsName(o)} -> ${r.spec.addr}:${r.spec.port}`);
    }
    const byRs = new Map<string, { r: RsPlan; held: boolean; sorry: boolean }>();
    for (const [i, p] of plans.entries()) {
      const dup = p.sorryIn ? sorryAlsoServer(p.spec) : undefined;
      for (const r of p.rs) byRs.set(this.key(p.key, r.spec.addr, r.spec.port), { r, held: p.sorryIn, sorry: r.spec === dup });
      if (i % PREPARE_STEP === PREPARE_STEP - 1) yield;
    }
    const sorryNow = new Set<string>();
    for (const v of this.vss) {
      const s = v.spec.sorryServer;
      if ((v.sorryIn || v.sorryParked) && s) sorryNow.add(dk(v.key, s.addr, s.port));
    }
    return {
      weightOf: (service, addr, port, configured) => {
        const e = byRs.get(this.key(service, addr, port));
        if (e === undefined) return configured;
        // The sorry server in use: in as that (`sorry`), not as a real server.
        if (e.sorry) return undefined;
        // Alive and not held out by the sorry server: its weight; else out, or 0 under inhibit.
        if (e.r.alive && !e.held) return effectiveWeight(e.r.dynWeight ?? configured, e.r.delta);
        return e.r.spec.inhibitOnFailure ? 0 : undefined;
      },
      sorry: plans.filter((p) => p.sorryIn).map((p) => ({ service: p.key, addr: p.spec.sorryServer!.addr, port: p.spec.sorryServer!.port, ...sorryEntry(p.spec) })),
      sorryNow,
      sorryParked: new Set(plans.filter((p) => p.sorryParked).map((p) => dk(p.key, p.spec.sorryServer!.addr, p.spec.sorryServer!.port))),
      changes,
      notes,
      commit: () => runSteps(this.commitSteps(plans, gen)),
      commitSteps: () => this.commitSteps(plans, gen),
    };
  }

  /**
   * Servers whose checkers are kept and whose verdict changed since p was planned (a sliced
   * reload plans while checks go on; one that changed the table made it plan again, one that did
   * not, e.g. held out by the sorry server, did not): when the table p made is the same under
   * their states now, p takes those states (nothing to undo, nothing run again); else they are
   * returned, to be evaluated again once p is in (the table then follows their checks).
   */
  private since(p: VsPlan): RsState[] {
    const moved = p.rs.filter((r) => r.same && (r.old!.alive !== r.alive || r.old!.dynWeight !== r.dynWeight || deltaOf(r.old!.checkers) !== r.delta));
    if (moved.length === 0 || p.old === undefined) return [];
    let w = 0;
    for (const r of p.rs) {
      const o = r.same ? r.old! : undefined;
      if (o?.alive ?? r.alive) w += effectiveWeight((o !== undefined ? o.dynWeight : r.dynWeight) ?? r.spec.weight, o !== undefined ? deltaOf(o.checkers) : r.delta);
    }
    const quorumUp = nextQuorum(p.old.quorumUp, w, p.spec);
    const tableOf = (alive: boolean, dyn: number | undefined, delta: number, spec: RealServerSpec): number | undefined =>
      alive && !p.sorryIn ? effectiveWeight(dyn ?? spec.weight, delta) : spec.inhibitOnFailure ? 0 : undefined;
    const same = quorumUp === p.quorumUp &&
      moved.every((r) => tableOf(r.alive, r.dynWeight, r.delta, r.spec) === tableOf(r.old!.alive, r.old!.dynWeight, deltaOf(r.old!.checkers), r.spec));
    if (!same) return moved.map((r) => r.old!);
    for (const r of moved) {
      r.alive = r.old!.alive;
      r.dynWeight = r.old!.dynWeight;
      r.delta = deltaOf(r.old!.checkers);
    }
    return [];
  }

  /**
   * Install a prepared configuration (its table changes are applied) in steps (commitSteps: a
   * sliced reload runs them with the loop free in between; in one piece the commit of 10,000
   * services of 4 servers held the loop 97-181 ms, inside the batch's switch). Between two steps
   * checks go on: a result landing then is held (onResult) and taken once the new configuration is
   * in, so it is not lost when its checker is kept and dropped when its checker is gone (dead);
   * the table's changes of verdicts (evaluate) wait for the commit's end too. The new lists
   * (vss, vsById, byKey) are made aside and swapped in at once: until then readers (status,
   * metrics) see the configuration before, with the settings of the services done so far.
   */
  private *commitSteps(plans: VsPlan[], gen: number): Steps<void> {
    const held: Array<CheckerState | CheckResult> = [];
    let open!: () => void;
    this.holding = held;
    this.commitGate = new Promise<void>((r) => (open = r));
    try {
      yield* this.installSteps(plans, gen);
    } finally {
      this.holding = undefined;
      this.commitGate = undefined;
      open();
    }
    // The results held meanwhile (a checker has one attempt at a time: none is newer), a few at a time.
    for (let i = 0; i < held.length; i += 2) {
      this.onResult(held[i] as CheckerState, held[i + 1] as CheckResult);
      if (i % (2 * COMMIT_STEP) === 2 * COMMIT_STEP - 2) yield;
    }
  }

  private *installSteps(plans: VsPlan[], gen: number): Steps<void> {
    // Verdicts since prepare(): taken (since), else evaluated again below, against the table now.
    const again: RsState[] = [];
    if (gen !== this.gen) {
      for (let i = 0; i < plans.length; i++) {
        for (const rs of this.since(plans[i]!)) again.push(rs);
        if (i % COMMIT_STEP === COMMIT_STEP - 1) yield;
      }
    }
    const live = again.map((rs) => ({ rs, dynWeight: rs.dynWeight }));
    const keep = new Set<RsState>();
    const vss: VsState[] = [];
    const vsById = new Map<string, VsState>();
    const ids = new ServiceIds();
    const byKey = new Map<string, RsState>();
    /** New checkers: their first check is scheduled once the group's followers are known. */
    const fresh: CheckerState[] = [];
    for (let i = 0; i < plans.length; i++) {
      if (i % COMMIT_STEP === COMMIT_STEP - 1) yield;
      const p = plans[i]!;
      const vs: VsState = p.old ?? { spec: p.spec, key: p.key, rs: [], quorumUp: p.quorumUp, sorryIn: false, sorryParked: false, firstRound: true, suspended: false, sorryText: undefined };
      if (p.old !== undefined && p.old.quorumUp !== p.quorumUp && this.started) {
        this.deps.log[p.quorumUp ? 'info' : 'warn']({ service: vsName(vs) }, p.quorumUp ? 'health: quorum gained (reload)' : 'health: quorum lost (reload)');
        const cmd = p.quorumUp ? p.spec.quorumUp : p.spec.quorumDown;
        if (cmd) this.spawn({ lane: p.old, script: cmd, up: p.quorumUp });
      }
      vs.spec = p.spec;
      vs.sorryText = serverText(p.spec.sorryServer);
      vs.quorumUp = p.quorumUp;
      vs.sorryIn = p.sorryIn;
      vs.sorryParked = p.sorryParked;
      const dup = sorryAlsoServer(p.spec);
      const id = serviceId(vs.key);
      const was = vs.rs;
      vs.rs = p.rs.map((r) => {
        const now = this.clock.now();
        const reason = r.group?.reason ?? (r.alive ? 'start' : 'alpha: starts as failed');
        const rs: RsState = r.old ?? { vs, spec: r.spec, checkers: [], alive: r.alive, reason, since: r.group?.since ?? now, dynWeight: undefined, present: 'none', removed: false };
        rs.vs = vs;
        if (r.same) {
          rs.checkers.forEach((c, i) => (c.spec = r.spec.checkers[i]!));
        } else {
          for (const c of rs.checkers) this.kill(c);
          rs.checkers = r.spec.checkers.map((c, i) => {
            if (c.type === 'FILE_CHECK') writeInitFile(c, !this.started);
            const f = r.first![i]!;
            return { spec: c, rs, up: f.up, fails: 0, oks: 0, heapAt: -1, due: 0, order: 0, launchedAt: 0, passed: 0, failed: 0, notRun: 0, lastMs: 0, lastReason: '', delta: f.delta };
          });
          if (this.started) for (const c of rs.checkers) fresh.push(c);
        }
        rs.spec = r.spec;
        rs.dynWeight = r.dynWeight;
        if (rs.alive !== r.alive) {
          rs.alive = r.alive;
          rs.reason = 'checks changed';
          rs.since = now;
        }
        rs.present = r.alive && !p.sorryIn ? 'weight' : r.spec.inhibitOnFailure || (p.sorryIn && r.spec === dup) ? 'zero' : 'none';
        keep.add(rs);
        byKey.set(`${id} ${r.spec.addr}:${r.spec.port}`, rs);
        return rs;
      });
      // Its servers gone from the configuration (a server is kept by its own service alone).
      for (const rs of was) if (!keep.has(rs)) this.remove(rs);
      vs.firstRound &&= awaitsVerdicts(vs);
      vss.push(vs);
      vsById.set(id, vs);
      ids.add(vs.key, id);
    }
    // The services gone from the configuration.
    let n = 0;
    for (const v of this.vss) {
      if (vsById.get(serviceId(v.key)) !== v) for (const rs of v.rs) this.remove(rs);
      if (++n % COMMIT_STEP === 0) yield;
    }
    this.vss = vss;
    this.vsById = vsById;
    this.ids = ids;
    this.byKey = byKey;
    const scripts = yield* this.shareGroupChecks();
    for (let i = 0; i < fresh.length; i++) {
      if (fresh[i]!.follows !== true) this.scheduleFirst(fresh[i]!);
      if (i % (4 * COMMIT_STEP) === 4 * COMMIT_STEP - 1) yield;
    }
    this.sizeSlots(scripts.checkers);
    this.warnScriptCaps(scripts.list);
    for (const { rs, dynWeight } of live) {
      this.chain = this.chain.then(() => this.evaluate(rs, rs.checkers.find((c) => !c.up)?.lastReason ?? 'checks pass', dynWeight, undefined, true));
    }
  }

  /**
   * A script runs as another user and uvsd lacks a capability for that (scriptUserCaps): said at
   * start, and by a reload that brings the first such script (or other capabilities missing), not
   * again by every reload while it lasts; after a reload that left no such script, said again by
   * the next that brings one.
   */
  private warnScriptCaps(scripts: NotifyScript[]): void {
    const p = scriptUserCaps(scripts, this.deps.procStatus?.());
    const said = p?.missing.join(' ');
    if (p !== undefined && said !== this.capsSaid) this.deps.log.warn({ missing: p.missing }, p.text);
    this.capsSaid = said;
  }

  /**
   * Without --health-concurrency: one slot per checker that runs (each has at most one attempt
   * in flight, so none waits: each runs on its own timer, as keepalived's do), at least MIN_SLOTS,
   * but at most half of the open-files limit, as each check in flight holds a socket or pipes
   * (the other half: the TAP, uvsadm, scrapes, sync). Checks due without a slot wait and start late.
   */
  private sizeSlots(checkers: number): void {
    const before = this.checkers;
    this.checkers = checkers;
    if (this.fixedSlots === undefined) {
      const slots = Math.max(1, Math.min(Math.max(MIN_SLOTS, checkers), Math.floor(this.openFiles / 2)));
      // Said at start, and again by a reload that changes the checkers.
      if (slots < checkers && checkers !== before) {
        this.deps.log.warn({ checkers, slots, openFiles: this.openFiles },
          'health: fewer check slots than checkers (half of the open-files limit): checks start late when more are due at once; raise uvsd\'s nofile limit (LimitNOFILE=)');
      }
      this.slots = slots;
    }
    this.drain();
  }

  /**
   * keepalived checks a real server of a virtual_server group once for the whole group: here the
   * first service of the group that has the server (with the same checkers) runs them, and each
   * of their results also counts for the server in the group's other services. A few services
   * at a time (commitSteps); returns the checkers that run (sizeSlots) and every configured
   * command (scripts(), for warnScriptCaps), counted on the way.
   */
  private *shareGroupChecks(): Steps<{ checkers: number; list: NotifyScript[] }> {
    const leaders = new Map<string, RsState>();
    const groups = new Set<string>();
    let checkers = 0;
    const list: NotifyScript[] = [];
    for (let n = 0; n < this.vss.length; n++) {
      if (n % COMMIT_STEP === COMMIT_STEP - 1) yield;
      const vs = this.vss[n]!;
      const group = vs.spec.group;
      vs.groupCopy = group !== undefined && groups.has(group);
      if (group !== undefined) groups.add(group);
      this.scriptsOf(vs, list);
      for (const rs of vs.rs) {
        for (const c of rs.checkers) c.followers = undefined;
        const was = rs.checkers.some((c) => c.follows === true);
        const k = group === undefined ? undefined : groupRsKey(group, rs.spec);
        const leader = k === undefined ? undefined : leaders.get(k);
        if (k !== undefined && leader === undefined) leaders.set(k, rs);
        rs.checkers.forEach((c, i) => {
          c.follows = leader !== undefined;
          if (leader === undefined) {
            // Led until now (its leader left the group): it runs from now on.
            if (was && this.started) this.scheduleFirst(c);
            return;
          }
          this.clearTimer(c);
          ((leader.checkers[i]!.followers ??= [])).push(c);
        });
        for (const c of rs.checkers) if (c.follows !== true) checkers++;
      }
    }
    return { checkers, list };
  }

  /** Stop checking; with omega, run quorum_down and notify_down commands as at a failure. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.dueHeap.clear();
    if (this.dueTimer !== undefined) this.clock.clearTimeout(this.dueTimer);
    this.dueTimer = undefined;
    this.dueTimerAt = Infinity;
    this.waitingChecks.clear();
    this.waitingProcesses.clear();
    await this.settled();
    for (const vs of this.vss) {
      if (!vs.spec.omega) continue;
      for (const rs of vs.rs) if (rs.alive && rs.spec.notifyDown && runsCommands(rs)) await this.deps.exec(rs.spec.notifyDown);
      if (vs.quorumUp && vs.spec.quorumDown && runsCommands(vs)) {
        this.deps.log.info({ service: vsName(vs) }, 'health: omega: running quorum_down at shutdown');
        await this.deps.exec(vs.spec.quorumDown);
      }
    }
  }

  /** A server gone from the configuration: its pending results are ignored, its checkers stop. */
  private remove(rs: RsState): void {
    rs.removed = true;
    for (const c of rs.checkers) this.kill(c);
  }

  private kill(c: CheckerState): void {
    c.dead = true;
    this.clearTimer(c);
  }

  private clearTimer(c: CheckerState): void {
    this.dueHeap.remove(c);
  }

  private schedule(c: CheckerState, ms: number): void {
    if (this.stopped || c.dead || c.follows === true) return;
    this.clearTimer(c);
    c.due = this.clock.now() + ms;
    c.order = this.scheduled++;
    this.dueHeap.push(c);
    this.armDue();
  }

  /** The clock's one timer for the checkers' next attempts: armed for the top of dueHeap, unless one is for an earlier time. */
  private armDue(): void {
    const top = this.dueHeap.top();
    if (top === undefined || top.due >= this.dueTimerAt) return;
    if (this.dueTimer !== undefined) this.clock.clearTimeout(this.dueTimer);
    this.dueTimerAt = top.due;
    this.dueTimer = this.clock.setTimeout(this.onDue, Math.max(0, top.due - this.clock.now()));
  }

  /** The timer went off: every checker due by now is enqueued (in the order due), then the timer is armed for the next. */
  private fireDue(): void {
    this.dueTimer = undefined;
    this.dueTimerAt = -Infinity; // no timer armed by the enqueues' schedule() meanwhile
    const now = this.clock.now();
    // One scheduled again meanwhile (ha_suspend's next look, a delay of 0) waits for the next turn of the timer.
    const before = this.scheduled;
    const draining = this.draining;
    this.draining = true;
    try {
      for (let c = this.dueHeap.top(); c !== undefined && c.due <= now && c.order < before; c = this.dueHeap.top()) {
        this.dueHeap.remove(c);
        this.enqueue(c);
      }
    } finally {
      this.draining = draining;
    }
    this.dueTimerAt = Infinity;
    this.armDue();
    this.drain(); // the direct checks queued above started
  }

  private enqueue(c: CheckerState): void {
    if (this.stopped || c.dead) return;
    if (this.suspendState(c.rs.vs)) {
      // ha_suspend: the other director holds the VIP; look again after a delay_loop, no attempt made.
      this.schedule(c, c.spec.delayLoopMs);
      return;
    }
    const proc = isProcess(c);
    if (this.inflight < this.slots && (!proc || this.processes < this.processSlots()) && this.turnRoom()) this.launch(c);
    else (proc ? this.waitingProcesses : this.waitingChecks).push(c);
  }

  /**
   * May a check start in this turn of the event loop? Each turn starts checks for LAUNCH_TURN_MS
   * at most (from its first); the others wait in the queue (in the order they came due) for the
   * next turns (setImmediate). Before, every check due at once started in the turn its timer
   * fired, and their sockets' results came back together: with 40,000 TCP_CHECKs at 10,000 x 4
   * a round that passed held the loop 310-406 ms in one turn and 40,000 failing at once 1.23 s
   * (their retries, rescheduled in one turn, came due in one turn again). Checks so start a
   * little late, never all at once: the lateness is in startDelays() and queue().
   */
  private turnRoom(): boolean {
    const now = performance.now();
    if (this.turnT0 < 0) {
      this.turnT0 = now;
      setImmediate(() => {
        this.turnT0 = -1;
        this.drain();
      });
      return true;
    }
    return now - this.turnT0 + this.queuedDirect * this.directMs < LAUNCH_TURN_MS;
  }

  private processSlots(): number {
    return Math.min(this.processLimit, this.slots);
  }

  /**
   * Start waiting checks while there are slots, the one due first first; the direct checks
   * (DirectChecks: TCP_CHECK) queued meanwhile, then started together (flush). Those that failed at
   * once free their slots in the flush: more start, in this turn's room.
   */
  private drain(): void {
    if (this.draining) return;
    this.draining = true;
    try {
      for (;;) {
        this.launchWaiting();
        const n = this.queuedDirect;
        if (n === 0) break;
        this.queuedDirect = 0;
        const t0 = performance.now();
        this.direct!.flush();
        // A flush the thread was preempted in (or collected in) counts at most twice the estimate.
        this.directMs += (Math.min((performance.now() - t0) / n, 2 * this.directMs) - this.directMs) * Math.min(1, n / 64);
      }
    } finally {
      this.draining = false;
    }
  }

  private launchWaiting(): void {
    const q = this.waitingChecks;
    const pq = this.waitingProcesses;
    while (!this.stopped && this.inflight < this.slots) {
      while (q.length > 0 && q.first()!.dead) q.shift();
      while (pq.length > 0 && pq.first()!.dead) pq.shift();
      if (q.length + pq.length === 0 || !this.turnRoom()) return;
      const p = this.processes < this.processSlots() ? pq.first() : undefined;
      const next = p !== undefined && (q.length === 0 || p.due < q.first()!.due) ? pq.shift() : q.shift();
      if (next === undefined) return;
      this.launch(next);
    }
  }

  private launch(c: CheckerState): void {
    const proc = isProcess(c);
    this.inflight++;
    if (proc) this.processes++;
    this.attempts++;
    const t0 = this.clock.now();
    this.startDelay(t0 - c.due, t0);
    if (!proc && this.direct !== undefined) {
      c.launchedAt = t0;
      if (this.direct.start(c.spec, c.rs.spec, this.sink, c)) {
        this.queuedDirect++;
        return;
      }
    }
    let held = true;
    /** The slot is free: the check ended, or goes on holding nothing (RunCheck's release). */
    const free = (): void => {
      if (!held) return;
      held = false;
      this.inflight--;
      if (proc) this.processes--;
    };
    const done = (r: CheckResult): void => {
      free();
      c.lastMs = this.clock.now() - t0;
      this.onResult(c, r);
      this.drain();
    };
    let p: Promise<CheckResult>;
    try {
      p = this.deps.run(c.spec, { addr: c.rs.spec.addr, port: c.rs.spec.port }, () => {
        free();
        this.drain();
      });
    } catch (e) {
      p = Promise.resolve({ ok: false, reason: `checker failed: ${(e as Error).message}` });
    }
    p.then(done, (e: unknown) => done({ ok: false, reason: `checker failed: ${(e as Error)?.message ?? String(e)}` }));
  }

  /** A direct check's result (sink.checkDone): its slot free (the next start in drain, at checksEnded). */
  private directDone(c: CheckerState, r: CheckResult): void {
    this.inflight--;
    c.lastMs = this.clock.now() - c.launchedAt;
    this.onResult(c, r);
  }

  private onResult(c: CheckerState, r: CheckResult): void {
    if (this.stopped || c.dead) return;
    if (this.holding !== undefined) {
      // A commit in steps: taken at its end (commitSteps), on the configuration then.
      this.holding.push(c, r);
      return;
    }
    this.deps.log.debug?.({ service: vsName(c.rs.vs), server: rsName(c.rs), check: c.spec.type, ok: r.ok, pending: r.pending, reason: r.reason, ms: Math.round(c.lastMs) },
      'health: check result');
    if (r.notRun === true) {
      c.notRun++;
      this.notRunTotal++;
      this.noteNotRun(c, r);
      this.schedule(c, c.spec.delayLoopMs);
      return;
    }
    this.noteRan();
    if (r.pending === true) {
      c.lastReason = r.reason;
      this.schedule(c, c.spec.delayLoopMs);
      return;
    }
    this.schedule(c, this.step(c, r));
    if (c.followers === undefined) return;
    for (const f of c.followers) {
      f.lastMs = c.lastMs;
      if (!f.dead) this.step(f, r);
    }
  }

  /** A check could not run: the episode's first one is logged (warn), the others counted. */
  private noteNotRun(c: CheckerState, r: CheckResult): void {
    const now = this.clock.now();
    if (this.notRunEpisode !== undefined) {
      this.notRunEpisode.last = now;
      this.notRunEpisode.count++;
      return;
    }
    this.notRunEpisode = { since: now, last: now, count: 1 };
    this.deps.log.warn({ service: vsName(c.rs.vs), server: rsName(c.rs), check: c.spec.type, reason: r.reason },
      `health: checks cannot run (${c.spec.type}: ${r.reason}): uvsd is out of a local resource (file descriptors, memory, processes); ` +
      'no server changes state for it, each check is tried again at its next delay_loop');
  }

  /** A check ran: NOT_RUN_QUIET_MS after the last that could not, the episode is over (info). */
  private noteRan(): void {
    const e = this.notRunEpisode;
    if (e === undefined) return;
    const now = this.clock.now();
    if (now - e.last < NOT_RUN_QUIET_MS) return;
    this.notRunEpisode = undefined;
    const secs = Math.round((e.last - e.since) / 100) / 10;
    this.deps.log.info({ notRun: e.count, seconds: secs }, `health: checks run again (${e.count} could not run over ${secs} s)`);
  }

  /** One result of checker c: its rise/fall/retry state and the server's evaluation; returns the delay to the next attempt. */
  private step(c: CheckerState, r: CheckResult): number {
    if (r.ok) c.passed++;
    else c.failed++;
    c.lastReason = r.reason;
    const s = c.spec;
    const rs = c.rs;
    let next = s.delayLoopMs;
    if (r.ok) {
      c.fails = 0;
      if (!c.up && ++c.oks >= s.rise) {
        c.up = true;
        c.oks = 0;
      }
    } else {
      c.oks = 0;
      if (c.up) {
        // keepalived's log_all_failures: each failure of an up checker, its retries' too (the change of state is logged anyway).
        if (s.logAllFailures) this.deps.log.info({ service: vsName(rs.vs), server: rsName(rs), check: s.type, reason: r.reason }, `health: ${s.type} failed (log_all_failures)`);
        c.fails++;
        if (c.fails >= (s.retry + 1) * s.fall) {
          c.up = false;
          c.fails = 0;
        } else if (c.fails % (s.retry + 1) !== 0) {
          next = s.delayBeforeRetryMs;
        }
      }
    }
    // misc_dynamic's exit 0 (null): the configured weight again, news only where a dynamic one is in use.
    const weight = !r.ok || (r.weight === null && rs.dynWeight === undefined) ? undefined : r.weight;
    // A FILE_CHECK's weight: what it adds while it passes (a failed one adds nothing).
    const delta = s.type === 'FILE_CHECK' ? (r.ok ? r.delta ?? 0 : 0) : undefined;
    // Nothing for the table (most results: a check that passes again): evaluate() would find the
    // verdict as it is, and no weight to set, so none is queued (its promises, closures and text
    // were ~1 KB a check: at 10,000 x 4 every 3 s, the most of the checker's garbage).
    if (this.evaluations === 0 && weight === undefined && delta === undefined && this.commitGate === undefined && !rs.vs.firstRound &&
      rs.alive === allUp(rs)) return next;
    this.evaluations++;
    this.chain = this.chain.then(() => this.evaluate(rs, `${s.type}: ${r.reason}`, weight, delta === undefined ? undefined : { c, delta }, false, c))
      .then(() => {
        this.evaluations--;
        this.firstRoundOver(rs.vs);
      });
    return next;
  }

  /** Once the table has this verdict: the service's first round may be over (awaitingFirstChecks). */
  private firstRoundOver(vs: VsState): void {
    if (!vs.firstRound || awaitsVerdicts(vs)) return;
    vs.firstRound = false;
    this.deps.firstChecksDone?.(vs.key);
  }

  /** again: a verdict already acted on before a reload put back the state it had planned (commit): its notify command ran then.
   *  by: the checker whose result this is (reason is its), when one. */
  private async evaluate(rs: RsState, reason: string, dynWeight: number | null | undefined, file?: { c: CheckerState; delta: number }, again = false, by?: CheckerState): Promise<void> {
    if (this.commitGate !== undefined) await this.commitGate; // a commit in steps: on the configuration it installs
    if (this.stopped || rs.removed) return;
    this.gen++;
    const vs = rs.vs;
    const items: BatchItem[] = [];
    const commands: Command[] = [];
    const alive = rs.checkers.every((c) => c.up);
    const oldWeight = this.weightOf(rs);
    if (dynWeight !== undefined) rs.dynWeight = dynWeight ?? undefined; // null: the configured weight
    if (file !== undefined && !file.c.dead) file.c.delta = file.delta;
    if (alive === rs.alive) {
      if (alive && this.weightOf(rs) !== oldWeight) {
        rs.reason = reason; // --status and /status.json show why the weight is what it is
        this.deps.log.info({ service: vsName(vs), server: rsName(rs), weight: this.weightOf(rs), reason },
          `health: weight changed (${file !== undefined ? 'FILE_CHECK' : 'misc_dynamic'})`);
        // Held out by the sorry server: the new weight applies when it is put back (keepalived update_svr_wgt).
        if (rs.present === 'weight') items.push({ verb: 'editDest', args: this.destArgs(vs, rs.spec.addr, rs.spec.port, this.weightOf(rs)) });
        this.updateQuorum(vs, items, commands);
        await this.applyItems(items, commands);
      }
      return;
    }
    // As it was: put back if the table refuses this server's change (below).
    const undo = { alive: rs.alive, reason: rs.reason, since: rs.since, quorumUp: vs.quorumUp, sorryIn: vs.sorryIn, sorryParked: vs.sorryParked, present: vs.rs.map((r) => r.present) };
    // Down by another checker's result, not by this one that passed (two due at once, both
    // results in before the first is evaluated): that one says why.
    const failed = alive || by?.up !== true ? undefined : rs.checkers.find((x) => !x.up);
    if (failed !== undefined) reason = `${failed.spec.type}: ${failed.lastReason}`;
    rs.alive = alive;
    rs.reason = reason;
    rs.since = this.clock.now();
    // keepalived perform_svr_state: "Change only if we have quorum or no sorry server".
    const held = vs.sorryIn;
    const action = held ? 'none (quorum down, the sorry server has the traffic)'
      : alive ? (rs.present === 'zero' ? 'weight restored' : 'added') : rs.spec.inhibitOnFailure ? 'weight set to 0 (inhibit_on_failure)' : 'removed';
    this.deps.log[alive ? 'info' : 'warn']({ service: vsName(vs), server: rsName(rs), state: alive ? 'up' : 'down', action, reason }, `health: real server ${alive ? 'up' : 'down'}`);
    const { addr, port } = rs.spec;
    if (held) {
      const cmd = alive ? rs.spec.notifyUp : rs.spec.notifyDown;
      if (cmd && !again) commands.push({ lane: rs, script: cmd, up: alive });
    } else if (alive) {
      const w = this.weightOf(rs);
      if (rs.present === 'none') items.push({ verb: 'addDest', args: { ...this.destArgs(vs, addr, port, w), ...this.entryOf(rs) } });
      else items.push({ verb: 'editDest', args: this.destArgs(vs, addr, port, w) });
      rs.present = 'weight';
      if (rs.spec.notifyUp && !again) commands.push({ lane: rs, script: rs.spec.notifyUp, up: true });
    } else {
      if (rs.spec.inhibitOnFailure) {
        if (rs.present === 'none') items.push({ verb: 'addDest', args: { ...this.destArgs(vs, addr, port, 0), ...this.entryOf(rs) } });
        else items.push({ verb: 'editDest', args: this.destArgs(vs, addr, port, 0) });
        rs.present = 'zero';
      } else if (rs.present !== 'none') {
        items.push({ verb: 'deleteDest', args: this.destArgs(vs, addr, port) });
        rs.present = 'none';
      }
      if (rs.spec.notifyDown && !again) commands.push({ lane: rs, script: rs.spec.notifyDown, up: false });
    }
    const own = items[0]; // this server's own change, if any (the quorum's follow)
    this.updateQuorum(vs, items, commands);
    if (await this.applyItems(items, commands, own)) {
      this.notAppliedLogged.delete(rs);
      return;
    }
    // keepalived perform_svr_state: when ipvs_cmd fails the server's state is not set, so its
    // next check tries the change again (e.g. the service was deleted by hand and is restored
    // later: uvsadm -C, then -R). Nothing of this decision happened: its state, the quorum's
    // and its commands are as before.
    rs.alive = undo.alive;
    rs.reason = undo.reason;
    rs.since = undo.since;
    vs.quorumUp = undo.quorumUp;
    vs.sorryIn = undo.sorryIn;
    vs.sorryParked = undo.sorryParked;
    vs.rs.forEach((r, i) => (r.present = undo.present[i]!));
    if (this.notAppliedLogged.has(rs)) return;
    this.notAppliedLogged.add(rs);
    this.deps.log.warn({ service: vsName(vs), server: rsName(rs), state: alive ? 'up' : 'down' },
      `health: real server ${alive ? 'up' : 'down'} not applied (the table refused it): its state stays ${undo.alive ? 'up' : 'down'}, the change is tried again at its next check (not logged again until one is applied)`);
  }

  /** How a server is added back: its configured method, tunnel and thresholds (else the virtual server's). */
  private entryOf(rs: RsState): Record<string, unknown> {
    return { ...entryOfServer(rs.vs.spec, rs.spec) };
  }

  /** The real server that vs's sorry server also is (sorryAlsoServer), if any. */
  private sorryDup(vs: VsState): RsState | undefined {
    const r = sorryAlsoServer(vs.spec);
    return r === undefined ? undefined : vs.rs.find((rs) => rs.spec === r);
  }

  private aliveWeight(vs: VsState): number {
    let w = 0;
    for (const rs of vs.rs) if (rs.alive) w += this.weightOf(rs);
    return w;
  }

  private updateQuorum(vs: VsState, items: BatchItem[], commands: Command[]): void {
    const w = this.aliveWeight(vs);
    const { quorum, hysteresis, sorryServer } = vs.spec;
    if (vs.quorumUp && quorumLost(w, vs.spec)) {
      vs.quorumUp = false;
      this.deps.log.warn({ service: vsName(vs), aliveWeight: w, quorum, hysteresis, sorryServer: sorryServer ? `${sorryServer.addr}:${sorryServer.port}` : undefined }, 'health: quorum lost');
      if (vs.spec.quorumDown) commands.push({ lane: vs, script: vs.spec.quorumDown, up: false });
      if (sorryServer && !vs.sorryIn) {
        const dup = this.sorryDup(vs);
        // perform_quorum_state(vs, false): the remaining alive servers leave, the sorry server takes all.
        for (const rs of vs.rs) {
          if (!rs.alive || rs.present !== 'weight' || rs === dup) continue;
          if (rs.spec.inhibitOnFailure) {
            items.push({ verb: 'editDest', args: this.destArgs(vs, rs.spec.addr, rs.spec.port, 0) });
            rs.present = 'zero';
          } else {
            items.push({ verb: 'deleteDest', args: this.destArgs(vs, rs.spec.addr, rs.spec.port) });
            rs.present = 'none';
          }
        }
        const args = this.destArgs(vs, sorryServer.addr, sorryServer.port, 1);
        if (dup !== undefined && dup.present !== 'none') {
          // Also a real server, in the table: its destination becomes the sorry server (keepalived
          // deletes it and adds the sorry server, with the sorry server's method and no thresholds).
          items.push({ verb: 'editDest', args: { ...args, ...sorryEntry(vs.spec), upper: 0, lower: 0 } });
        } else if (vs.sorryParked) items.push({ verb: 'editDest', args });
        else {
          const add = { ...args, ...sorryEntry(vs.spec) };
          this.sorryAdds.add(add);
          items.push({ verb: 'addDest', args: add });
        }
        if (dup !== undefined) dup.present = 'zero';
        vs.sorryIn = true;
        vs.sorryParked = false;
      }
    } else if (!vs.quorumUp && w >= quorum + hysteresis) {
      vs.quorumUp = true;
      this.deps.log.info({ service: vsName(vs), aliveWeight: w, quorum, hysteresis }, 'health: quorum gained');
      if (vs.spec.quorumUp) commands.push({ lane: vs, script: vs.spec.quorumUp, up: true });
      if (sorryServer && vs.sorryIn) {
        const dup = this.sorryDup(vs);
        if (dup !== undefined) {
          // Also a real server: its destination is that server's again, with its weight and
          // method if alive (below), else out (weight 0 under inhibit_on_failure).
          const { addr, port } = sorryServer;
          if (dup.alive) items.push({ verb: 'editDest', args: { ...this.destArgs(vs, addr, port, this.weightOf(dup)), ...this.entryOf(dup) } });
          else if (dup.spec.inhibitOnFailure) items.push({ verb: 'editDest', args: { ...this.destArgs(vs, addr, port, 0), ...this.entryOf(dup) } });
          else items.push({ verb: 'deleteDest', args: this.destArgs(vs, addr, port) });
          dup.present = dup.alive ? 'weight' : dup.spec.inhibitOnFailure ? 'zero' : 'none';
        } else if (sorryServer.inhibit === true) {
          // keepalived: "Disabling" (sorry_server_inhibit: weight 0, its connections go on) or "Removing" the sorry server.
          items.push({ verb: 'editDest', args: this.destArgs(vs, sorryServer.addr, sorryServer.port, 0) });
        } else items.push({ verb: 'deleteDest', args: this.destArgs(vs, sorryServer.addr, sorryServer.port) });
        vs.sorryIn = false;
        vs.sorryParked = dup === undefined && sorryServer.inhibit === true;
        // perform_quorum_state(vs, true): every alive server back with its weight.
        for (const rs of vs.rs) {
          if (!rs.alive || rs.present === 'weight') continue;
          const w1 = this.weightOf(rs);
          if (rs.present === 'none') items.push({ verb: 'addDest', args: { ...this.destArgs(vs, rs.spec.addr, rs.spec.port, w1), ...this.entryOf(rs) } });
          else items.push({ verb: 'editDest', args: this.destArgs(vs, rs.spec.addr, rs.spec.port, w1) });
          rs.present = 'weight';
        }
      }
    }
  }

  /**
   * The table changes of one decision in one batch (a server out and the sorry server in happen
   * together). If the batch is refused (e.g. an operator deleted something by hand), each change
   * is tried alone so the others still happen; refusals are logged and checking goes on. Then the
   * decision's commands start (keepalived runs notify scripts once IPVS has the change).
   */
  private async applyItems(items: BatchItem[], commands: Command[], own?: BatchItem): Promise<boolean> {
    if (!(await this.applyBatch(items, own))) return false;
    for (const c of commands) this.spawn(c);
    return true;
  }

  /**
   * Returns false when `own` (a server's own change) was refused: then nothing was applied (it
   * is tried first, alone, and the others are not tried). The server being in the table already
   * (adding it) or not there (deleting it) is no refusal: keepalived's ipvs_talk takes EEXIST and
   * ENOENT so.
   */
  private async applyBatch(items: BatchItem[], own?: BatchItem): Promise<boolean> {
    if (items.length > 1) {
      try {
        await this.deps.call('batch', { items });
        return true;
      } catch {
        // fall through: one by one
      }
    }
    if (own !== undefined && !(await this.tryCall(own.verb, own.args))) return false;
    for (const it of items) if (it !== own) await this.tryCall(it.verb, it.args);
    return true;
  }

  /** False when refused (logged). */
  private async tryCall(verb: string, args: unknown): Promise<boolean> {
    const key = `${verb} ${JSON.stringify((args as { service?: unknown }).service ?? args)}`;
    try {
      await this.deps.call(verb, args);
      if (this.refusalsLogged.size > 0) this.refusalsLogged.delete(key);
      return true;
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (verb === 'addDest' && code === 'DEST_EXISTS' && this.sorryAdds.has(args as object)) return this.tryCall('editDest', { ...(args as object), upper: 0, lower: 0 });
      if ((verb === 'addDest' && code === 'DEST_EXISTS') || (verb === 'deleteDest' && code === 'DEST_NOT_FOUND')) return true;
      // E.g. an operator deleted the service by hand: say so, count it, keep checking.
      this.refusedTotal++;
      if (this.refusalsLogged.has(key)) return false;
      this.refusalsLogged.add(key);
      this.deps.log.warn({ verb, args, error: (e as Error).message }, 'health: control verb refused (counted in health_refused; not logged again for this service until one goes through)');
      return false;
    }
  }

  /**
   * Start a command from a state change, off the table's chain (keepalived forks notify scripts
   * and never waits for them): after the commands queued before it on its lane, and once fewer
   * than processLimit run. A command that hangs holds up only its own lane, for its timeout.
   *
   * When the command queued last on a lane has not started yet, a new one for the other state
   * (the server came back before its notify_down could start) undoes it: neither runs; one for
   * the same state (a server with a notify_down and no notify_up, down again) is the one waiting:
   * it is not queued twice. Both logged. A lane so holds one running command and at most one
   * waiting, and the last command run is for the lane's state now. Before 2026-12-07 every change
   * queued: a server flapping every second with a notify script of 9 s had its commands run for
   * minutes after it was steady, and a flap that went on queued them without end.
   */
  private spawn({ lane, script, up }: Command): void {
    if (!runsCommands(lane)) return;
    let queued = this.pending.get(lane);
    const last = queued?.[queued.length - 1];
    if (last !== undefined) {
      const where = 'checkers' in lane ? { service: vsName(lane.vs), server: rsName(lane) } : { service: vsName(lane) };
      if (last.up === up) {
        this.deps.log.info({ ...where, skipped: [script.command], waiting: last.script.command },
          'health: notify command skipped: the same state\'s command is waiting to start');
        return;
      }
      last.skip = true;
      queued!.pop();
      this.deps.log.info({ ...where, skipped: [last.script.command, script.command] },
        'health: notify commands skipped: the state changed back before the first of them could start (the last one run is the state now)');
      return;
    }
    if (queued === undefined) this.pending.set(lane, (queued = []));
    const entry = { script, up, skip: false };
    queued.push(entry);
    const p = (this.lanes.get(lane) ?? Promise.resolve()).then(() => {
      const q = this.pending.get(lane);
      if (q !== undefined && q[0] === entry) q.shift();
      if (q !== undefined && q.length === 0) this.pending.delete(lane);
      return entry.skip ? undefined : this.runCommand(script);
    });
    this.lanes.set(lane, p);
    void p.then(() => {
      if (this.lanes.get(lane) === p) this.lanes.delete(lane);
    });
  }

  private async runCommand(script: NotifyScript): Promise<void> {
    if (this.commandsRunning < this.processLimit) this.commandsRunning++;
    else await new Promise<void>((r) => this.waitingCommands.push(r)); // the slot is handed over by the command that ends
    try {
      await this.deps.exec(script);
    } finally {
      const next = this.waitingCommands.shift();
      if (next !== undefined) next();
      else this.commandsRunning--;
    }
  }

  /** Every checked real server's state, for the `status` verb. */
  entries(): HealthEntry[] {
    return [...this.eachEntry()];
  }

  /**
   * entries() made as walked (HealthView.eachEntry: a scrape takes a few between its pauses; the
   * list built whole held the loop 7-16 ms at 40,000 servers). A reload meanwhile makes new lists:
   * the walk goes on over the ones it started with.
   */
  *eachEntry(): Generator<HealthEntry, void, void> {
    for (const vs of this.vss) yield* this.entriesOfVs(vs);
  }

  /** One service's checked servers, by serviceId, as eachEntry lists them (HealthView.entriesOf: /status.json asks per service, no map of them all). */
  entriesOf(id: string): Iterable<HealthEntry> | undefined {
    const vs = this.vsById.get(id);
    return vs === undefined ? undefined : this.entriesOfVs(vs);
  }

  private *entriesOfVs(vs: VsState): Generator<HealthEntry, void, void> {
    const suspended = this.suspendState(vs);
    for (const rs of vs.rs) {
      if (rs.checkers.length === 0) continue; // unchecked: nothing to report
      const e: HealthEntry = { service: vs.key, addr: rs.spec.addr, port: rs.spec.port, state: rs.alive ? 'up' : 'down', reason: rs.reason, weight: this.weightOf(rs), inhibit: rs.spec.inhibitOnFailure, since: Math.round(this.clock.wall() - (this.clock.now() - rs.since)) };
      if (suspended) e.suspended = true;
      yield e;
    }
  }

  /**
   * One service's checked servers, by serviceId, written into the caller's rows (a row made where
   * `rows` has none yet: the caller keeps them for the next service), as entriesOf lists them but
   * their since (left as it was); how many, -1: no such service (HealthView.entriesInto:
   * /status.json's writer, no object per server; it shows no since, and the clocks read for it,
   * twice per server, made a number per read of performance.now()).
   */
  entriesInto(id: string, rows: HealthEntry[]): number {
    const vs = this.vsById.get(id);
    if (vs === undefined) return -1;
    const suspended = this.suspendState(vs);
    let n = 0;
    for (let r = 0; r < vs.rs.length; r++) {
      const rs = vs.rs[r]!;
      if (rs.checkers.length === 0) continue;
      this.entryRow((rows[n++] ??= { service: vs.key, addr: '', port: 0, state: 'up', reason: '', weight: 0, inhibit: false, since: 0, suspended: undefined }), vs, rs, suspended);
    }
    return n;
  }

  /** The serviceId of the service the table has at these numbers (HealthView.serviceIdAt): vsById's own text, none made; undefined: none. */
  serviceIdAt(proto: Proto | 'fwm', addr: number, port: number): string | undefined {
    return this.ids.get(proto, addr, port);
  }

  /** A checked server's entry written into row but its since (entriesInto; entryCursor, which writes it). */
  private entryRow(row: HealthEntry, vs: VsState, rs: RsState, suspended: boolean): void {
    row.service = vs.key;
    row.addr = rs.spec.addr;
    row.port = rs.spec.port;
    row.state = rs.alive ? 'up' : 'down';
    row.reason = rs.reason;
    row.weight = this.weightOf(rs);
    row.inhibit = rs.spec.inhibitOnFailure;
    row.suspended = suspended ? true : undefined;
  }

  /** Every checker of every checked real server: its verdict and attempts (uvs_health_check_* metrics). */
  checkerStats(): CheckerStat[] {
    return [...this.eachCheckerStat()];
  }

  /** checkerStats() made as walked (as eachEntry). */
  *eachCheckerStat(): Generator<CheckerStat, void, void> {
    for (const vs of this.vss) {
      for (const rs of vs.rs) {
        for (let index = 0; index < rs.checkers.length; index++) {
          const c = rs.checkers[index]!;
          yield {
            service: vs.key, addr: rs.spec.addr, port: rs.spec.port, index, type: c.spec.type,
            up: c.up, passed: c.passed, failed: c.failed, notRun: c.notRun, lastMs: c.lastMs, lastReason: c.lastReason,
          };
        }
      }
    }
  }

  /**
   * A service new since start or since the reload that added it, some of whose servers' checkers
   * have given no verdict yet (none has passed, nor called its server down): its servers'
   * weights say nothing yet (a server starts alive, keepalived's default), so uvsd --bgp-include
   * does not count it towards announcing its VIP. Bounded by the checks themselves: the first
   * attempt within the warmup (default one delay-loop), and a failing server is down after its
   * (retry + 1) x fall attempts. Once false it stays false for the service.
   */
  awaitingFirstChecks(service: ServiceKey): boolean {
    return this.vsById.get(serviceId(service))?.firstRound === true;
  }

  /** Every configured command (MISC_CHECK misc_path, notify and quorum) with who runs it. */
  scripts(): NotifyScript[] {
    const out: NotifyScript[] = [];
    for (const vs of this.vss) this.scriptsOf(vs, out);
    return out;
  }

  /** vs's commands (scripts()), pushed to out. */
  private scriptsOf(vs: VsState, out: NotifyScript[]): void {
    if (vs.spec.quorumUp !== undefined) out.push(vs.spec.quorumUp);
    if (vs.spec.quorumDown !== undefined) out.push(vs.spec.quorumDown);
    for (const rs of vs.rs) {
      if (rs.spec.notifyUp !== undefined) out.push(rs.spec.notifyUp);
      if (rs.spec.notifyDown !== undefined) out.push(rs.spec.notifyDown);
      for (const c of rs.spec.checkers) if (c.type === 'MISC_CHECK') out.push(c);
    }
  }

  /** Health of one destination of the table: up, down, or unchecked (not configured here). */
  stateOf(service: ServiceKey, rip: string, rport: number): HealthState {
    return this.stateOfKey(this.key(service, rip, rport));
  }

  /** stateOf by the key `${serviceId(service)} ${rip}:${rport}` (HealthView.stateOfKey: a scrape keeps it, no string made per server). */
  stateOfKey(key: string): HealthState {
    const rs = this.byKey.get(key);
    if (rs === undefined || rs.checkers.length === 0) return 'unchecked';
    return rs.alive ? 'up' : 'down';
  }

  /** Quorum state of each configured virtual server (uvsadm --status, uvs_health_quorum_up). */
  quorum(): HealthQuorum[] {
    return [...this.eachQuorum()];
  }

  /** quorum() made as walked (as eachEntry). */
  *eachQuorum(): Generator<HealthQuorum, void, void> {
    for (const vs of this.vss) yield this.quorumOfVs(vs);
  }

  /** One service's quorum, by serviceId (HealthView.quorumOf). */
  quorumOf(id: string): HealthQuorum | undefined {
    const vs = this.vsById.get(id);
    return vs === undefined ? undefined : this.quorumOfVs(vs);
  }

  /**
   * One service's quorum, by serviceId, written into the caller's row (HealthView.quorumInto): its
   * fields as quorumOf's, sorry and suspended undefined where quorumOf's has none; false: no such service.
   */
  quorumInto(id: string, row: HealthQuorum): boolean {
    const vs = this.vsById.get(id);
    if (vs === undefined) return false;
    this.quorumRow(row, vs);
    return true;
  }

  /** A service's quorum written into row (quorumInto, quorumCursor, quorumOfVs): every field, sorry and suspended undefined where it has none. */
  private quorumRow(row: HealthQuorum, vs: VsState): void {
    row.service = vs.key;
    row.up = vs.quorumUp;
    row.aliveWeight = this.aliveWeight(vs);
    row.quorum = vs.spec.quorum;
    row.hysteresis = vs.spec.hysteresis;
    row.sorryIn = vs.sorryIn;
    row.sorry = vs.sorryText;
    row.suspended = this.suspendState(vs) ? true : undefined;
  }

  /** A service's quorum as an object of its own (quorum(), quorumOf): quorumRow's fields, sorry and suspended only where it has them. */
  private quorumOfVs(vs: VsState): HealthQuorum {
    const row: HealthQuorum = { service: vs.key, up: false, aliveWeight: 0, quorum: 0, hysteresis: 0, sorryIn: false, sorry: undefined, suspended: undefined };
    this.quorumRow(row, vs);
    const { sorry, suspended, ...q } = row;
    return { ...q, ...(sorry === undefined ? {} : { sorry }), ...(suspended === undefined ? {} : { suspended }) };
  }

  /**
   * eachEntry, eachCheckerStat and eachQuorum with no object per item (HealthView.entryCursor, ...:
   * a scrape's walk): each call writes the next item into the caller's row, false past the last.
   * As the generators, the walk goes on over the lists it started with.
   */
  entryCursor(): (row: HealthEntry) => boolean {
    const vss = this.vss;
    let v = 0;
    let r = 0;
    let suspended = false;
    return (row) => {
      for (; v < vss.length; v++, r = 0) {
        const vs = vss[v]!;
        if (r === 0) suspended = this.suspendState(vs);
        while (r < vs.rs.length) {
          const rs = vs.rs[r++]!;
          if (rs.checkers.length === 0) continue;
          this.entryRow(row, vs, rs, suspended);
          row.since = Math.round(this.clock.wall() - (this.clock.now() - rs.since));
          return true;
        }
      }
      return false;
    };
  }

  checkerCursor(): (row: CheckerStat) => boolean {
    const vss = this.vss;
    let v = 0;
    let r = 0;
    let k = 0;
    return (row) => {
      for (; v < vss.length; v++, r = 0) {
        const vs = vss[v]!;
        for (; r < vs.rs.length; r++, k = 0) {
          const rs = vs.rs[r]!;
          if (k >= rs.checkers.length) continue;
          const c = rs.checkers[k]!;
          row.service = vs.key;
          row.addr = rs.spec.addr;
          row.port = rs.spec.port;
          row.index = k++;
          row.type = c.spec.type;
          row.up = c.up;
          row.passed = c.passed;
          row.failed = c.failed;
          row.notRun = c.notRun;
          row.lastMs = c.lastMs;
          row.lastReason = c.lastReason;
          return true;
        }
      }
      return false;
    };
  }

  quorumCursor(): (row: HealthQuorum) => boolean {
    const vss = this.vss;
    let v = 0;
    return (row) => {
      if (v >= vss.length) return false;
      this.quorumRow(row, vss[v++]!);
      return true;
    };
  }

  /** One check started `ms` after it was due (a slot's wait, or the event loop's), at `now` (clock ms). */
  private startDelay(ms: number, now: number): void {
    const late = Math.max(0, ms);
    let i = 0;
    while (i < START_DELAY_BOUNDS.length && late / 1000 > START_DELAY_BOUNDS[i]!) i++;
    this.delayCounts[i]++;
    this.delaySum += late / 1000;
    const sec = Math.floor(now / 1000);
    const k = sec % 60;
    if (this.lateSecond[k] !== sec) {
      this.lateSecond[k] = sec;
      this.lateBySecond[k] = 0;
    }
    if (late > this.lateBySecond[k]!) this.lateBySecond[k] = late;
  }

  /** The slots, the checks waiting for one, and the longest start delay of the last 60 s (uvsadm --status health_queue); none without checkers. */
  queue(): HealthQueue | undefined {
    if (this.checkers === 0) return undefined;
    const sec = Math.floor(this.clock.now() / 1000);
    let lateMaxMs = 0;
    for (let k = 0; k < 60; k++) if (this.lateSecond[k]! > sec - 60) lateMaxMs = Math.max(lateMaxMs, this.lateBySecond[k]!);
    const live = (q: CheckQueue) => q.count((c) => c.dead !== true);
    return {
      waiting: live(this.waitingChecks) + live(this.waitingProcesses), inFlight: this.inflight, slots: this.slots,
      processes: this.processes, processSlots: this.processSlots(), lateMaxMs: Math.round(lateMaxMs),
    };
  }

  /** How late each check started since uvsd did (s): counts per START_DELAY_BOUNDS bucket (the last above them) and their sum. */
  startDelays(): { bounds: number[]; counts: Float64Array; sum: number } | undefined {
    if (this.checkers === 0) return undefined;
    return { bounds: START_DELAY_BOUNDS, counts: this.delayCounts, sum: this.delaySum };
  }

  /** Resolves once the table changes decided so far, and then every command queued, are done (stop, tests). */
  async settled(): Promise<void> {
    await this.chain;
    while (this.lanes.size > 0) await Promise.all(this.lanes.values());
  }
}
