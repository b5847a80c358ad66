// The control plane's own model of the table: services and destinations as plain objects, with
// the service ids and destination slots the control plane chooses. Verbs (verbs.ts) validate
// against it and change the datapath only through dp.apply(ops). A batch runs its verbs against
// a copy, so a refusal part-way leaves both the model and the datapath untouched; the copy shares
// the model's structures and keeps only its own changes (forkmap.ts, slots.ts), so a batch costs
// what it touches.

import type { Peer } from './server.js';
import type { VrrpFifoStatus } from './vrrpfifo.js';
import type { ArpWatchStatus } from './arpwatch.js';
import type { StateFileStatus } from './statefile.js';
import { EST_TICKS, EstimatorTable, startTicks, walkTick } from './estimator.js';
import { SlotPool } from './slots.js';
import { ForkMap, ForkStack } from './forkmap.js';
import { ShardedMap } from './shards.js';
import { dueOf, GOING_ON, runSteps, runStepsSliced, SliceClock, yieldLoop, type Pause, type Steps } from './slices.js';
import { formatIp } from '../datapath/addr.js';
import { native } from '../datapath/port.js';
import { KEYS_STEP, VERBS, batchArgs, isBatchClear, removeService, runBatchClearSliced, runBatchItem, verbArgs, zeroService, type Pulls, type VerbCtx } from './verbs.js';
import type {
  ConnInfo, DestKey, DestSpec, LaddrSpec, LinkStatus, ListResult, ServiceKey, ServiceSpec, StatusResult,
} from './protocol.js';
import type { DpOp } from '../datapath/ops.js';
import type { PeName } from '../proto/sip.js';
import type { Workers } from '../datapath/group.js';
import { TraceSessions } from './trace.js';
import { orderForSlices } from './applyorder.js';
import type { Datapath, DefenseOptions, SvcRuntime } from '../datapath/pipeline.js';
import type { ConfigManager } from './config.js';
import { S_ESTABLISHED, S_FIN_WAIT, S_UDP } from '../datapath/tcpstate.js';
import { DEST_F_USED, STAT_CONNS, STAT_IN_BYTES, STAT_IN_PKTS, STAT_OUT_BYTES, STAT_OUT_PKTS, serviceStatsSinceZero } from '../datapath/dests.js';
import { SyncDaemon } from '../sync/daemon.js';
import { serviceKey, serviceText, type ControlSocketStatus, type CpuPinning, type LogOutputStatus, type Fwd, type Proto, type Timeouts, type TunCsum, type TunType } from './protocol.js';

export interface DestModel {
  slot: number;
  /** uint32, host order */
  addr: number;
  port: number;
  fwd: Fwd;
  weight: number;
  upper: number;
  lower: number;
  /** TUN servers' encapsulation (ipip, 0, nocsum for every other method). */
  tunType: TunType;
  tunPort: number;
  tunCsum: TunCsum;
}

/** uvsadm --add-mark (src/datapath/marks.ts). */
export interface MarkModel {
  /** uint32 */
  fwmark: number;
  proto: Proto;
  /** uint32 */
  vip: number;
  portMin: number;
  portMax: number;
}

export interface LaddrModel {
  /** uint32 */
  addr: number;
  portMin: number;
  portMax: number;
}

export interface ServiceModel {
  id: number;
  proto: Proto;
  vip: number;
  port: number;
  /** ipvsadm -f: the firewall mark (uint32) of a mark service (proto tcp, vip and port 0), else 0. */
  fwmark: number;
  sched: string;
  /** SF_* bits (ipvsadm -b) */
  schedFlags: number;
  /** seconds; 0 = not persistent */
  persist: number;
  /** uint32 */
  netmask: number;
  oneShot: boolean;
  /** Persistence engine (ipvsadm --pe): '' = none. */
  pe: PeName;
  /** SYN proxy (uvsadm --synproxy). */
  synproxy: boolean;
  /** In the order added. */
  dests: DestModel[];
  /** FULLNAT local addresses (DPVS --add-laddr) with their port ranges, in the order added. */
  laddrs: LaddrModel[];
  /**
   * Its generation: a number no service had before, taken (newGen) by every verb that changes the
   * service or its servers. A copy (a batch's) keeps it until the batch changes the copy: uvsd
   * --state-file makes again only the text of the services whose gen moved (DumpBytes in dump-bytes.ts).
   */
  gen: number;
}

/** The last generation given to a service (ServiceModel.gen). */
let lastGen = 0;

/** A generation no service had before (ServiceModel.gen). */
export function newGen(): number {
  return ++lastGen;
}

/** Count one use of ip (uint32) in a role map more (+1) or less (-1). */
export function addRef(refs: ForkMap<number, number>, ip: number, delta: 1 | -1): void {
  refs.bump(ip >>> 0, delta);
}

/**
 * Service `id`'s statistics since the last -Z as ipvsadm --stats shows them: its servers' plus
 * what its deleted servers had (serviceStatsSinceZero), so they do not go down when a server is deleted.
 */
export function serviceStatsOf(dp: Datapath, id: number): { conns: number; inpkts: number; outpkts: number; inbytes: number; outbytes: number } {
  const svc = dp.services[id];
  const st = new Float64Array(5);
  if (svc !== undefined) serviceStatsSinceZero(dp.dt, svc, st);
  return { conns: st[STAT_CONNS], inpkts: st[STAT_IN_PKTS], outpkts: st[STAT_OUT_PKTS], inbytes: st[STAT_IN_BYTES], outbytes: st[STAT_OUT_BYTES] };
}

/** Sum what `p` names of the workers' numbers into the shadow's (Pulls: a verb's answer). */
function pullFor(w: Workers, p: Pulls): void {
  if (p === 'all') w.pull();
  else if (p === 'head') {
    if (w.pullHead !== undefined) w.pullHead();
    else w.pull();
  } else if (p.length > 0) w.pull(p);
}

/** The verbs' key of a service of the model. */
export function modelServiceKey(s: Pick<ServiceModel, 'proto' | 'vip' | 'port' | 'fwmark'>): ServiceKey {
  return serviceKey({ proto: s.proto, addr: formatIp(s.vip), port: s.port, fwmark: s.fwmark });
}

/** A key's first character: the service's protocol (0: a mark service). */
function protoTag(proto: Proto): number {
  return proto === 'tcp' ? 1 : proto === 'udp' ? 2 : 3;
}

/**
 * A deleted server in the trash: its virtual service (protocol, address and port, or mark, as
 * the kernel's ip_vs_trash_get_dest matches) and its address and port: serviceKeyOf's four
 * characters and three more (the address's two halves, the port), made in one string. Until
 * 2026-12-06 `${serviceKeyOf(...)}>${addr}:${port}`: five strings of decimal digits joined per
 * server (and the service's key made again for each), ~1 KB of garbage per service at -C.
 */
function trashKeyOf(s: ServiceModel, addr: number, port: number): string {
  return s.fwmark !== 0
    ? String.fromCharCode(0, s.fwmark >>> 16, s.fwmark & 0xffff, 0, addr >>> 16, addr & 0xffff, port)
    : String.fromCharCode(protoTag(s.proto), s.vip >>> 16, s.vip & 0xffff, s.port, addr >>> 16, addr & 0xffff, port);
}

/**
 * The model's key of a service (its maps: services, idTrash): four UTF-16 code units, the
 * protocol's tag (0 for a mark), the address's (or the mark's) two halves and the port; opaque
 * (nothing reads it back), one short string made at once, where `${proto}|${vip}|${port}` turned
 * the numbers into decimal text and joined them.
 */
export function serviceKeyOf(proto: Proto, vip: number, port: number, fwmark = 0): string {
  return fwmark !== 0 ? String.fromCharCode(0, fwmark >>> 16, fwmark & 0xffff, 0) : String.fromCharCode(protoTag(proto), vip >>> 16, vip & 0xffff, port);
}

/**
 * With --workers N >= 2 and --ftp-ports: the services an FTP control connection's data connections
 * may miss (nat-setup.md#ftp) — TCP, on an FTP port (a mark service: through a TCP rule of its
 * mark), with a NAT or FULLNAT server, not persistent — by serviceText, in the model's order.
 * Without -p a data connection is steered by its own ports and may reach another worker than
 * the one holding the entry the helper made for it.
 */
export function ftpNotPersistent(model: Model, ftpPorts: readonly number[], workers: number): string[] {
  return new FtpCheck().list(model, ftpPorts, workers); // every service's verdict made anew
}

/** ftpNotPersistent()'s verdict on one service: its serviceText if it is one, else undefined. */
function ftpNotPersistentText(model: Model, s: ServiceModel, ftpPorts: readonly number[]): string | undefined {
  if (s.proto !== 'tcp' || s.persist !== 0 || !s.dests.some((d) => d.fwd === 'nat' || d.fwd === 'fullnat')) return undefined;
  const onFtp = s.fwmark === 0 ? ftpPorts.includes(s.port)
    : model.marks.some((m) => m.fwmark === s.fwmark && m.proto === 'tcp' && ftpPorts.some((p) => p >= m.portMin && p <= m.portMax));
  return onFtp ? serviceText(modelServiceKey(s)) : undefined;
}

/**
 * ftpNotPersistent() after every change (Control's warning), each service's verdict kept by its
 * id at its gen (moved by every change of the service or its servers) while the FTP ports and the
 * marks are the same lists: a change looks at the services it changed, not every one's text made
 * again (12-16 ms of the loop per change at 10,000 NAT services on port 21, bench/tenk-paths.ts).
 */
export class FtpCheck {
  private ports: readonly number[] | undefined;
  private marks: readonly MarkModel[] | undefined;
  private readonly of = new Map<number, { gen: number; text: string | undefined }>();
  /** Services whose verdict the last list() made anew (not kept). */
  made = 0;

  list(model: Model, ftpPorts: readonly number[], workers: number): string[] {
    this.made = 0;
    if (workers < 2 || ftpPorts.length === 0) return [];
    if (ftpPorts !== this.ports || model.marks !== this.marks || this.of.size > 2 * model.services.size + 64) {
      this.of.clear();
      this.ports = ftpPorts;
      this.marks = model.marks;
    }
    const out: string[] = [];
    for (const s of model.services.values()) {
      let v = this.of.get(s.id);
      if (v === undefined || v.gen !== s.gen) {
        this.made++;
        v = { gen: s.gen, text: ftpNotPersistentText(model, s, ftpPorts) };
        this.of.set(s.id, v);
      }
      if (v.text !== undefined) out.push(v.text);
    }
    return out;
  }
}

/**
 * The destination slots whose statistics applying ops reads from the shadow's arrays (Control.applyDp):
 * a deleted server's go into its service's retired sums (DestTable.retireInto). Nothing else reads
 * them: -Z and a deleted service's servers (-D, -C) move a slot's numbers within the shadow's arrays,
 * which every reader's pull() sums again from the workers' (the retired sums too), as it does the slots.
 */
function statSlots(ops: readonly DpOp[]): number[] | undefined {
  let slots: number[] | undefined;
  for (const o of ops) if (o.op === 'delDest') (slots ??= []).push(o.dest);
  return slots;
}

/** A batch's own copy of a service it reads (ForkMap): verbs change services in place. */
function copyService(s: ServiceModel): ServiceModel {
  return { ...s, dests: s.dests.map((d) => ({ ...d })), laddrs: s.laddrs.map((l) => ({ ...l })) };
}

export class Model {
  /** By serviceKeyOf(); in insertion order, which is the listing order: in shards with the order
   *  linked through them (ForkMap.ordered, shards.ts), so no -A, -D or -C copies it whole. */
  services = ForkMap.ordered<string, ServiceModel>(copyService);
  /** Service ids: reuse freed ones (lowest last), else next. */
  freeIds = new ForkStack();
  nextId = 0;
  /**
   * Ids of deleted services by serviceKeyOf(), while still free: the same service added again
   * takes its id back (as a server its slot from `trash`), so a batch that deletes and re-adds it
   * (-C, then the same rules: uvsadm -R) can put both into the datapath together
   * (Control.batchInSlices, orderForSlices). idKey: the other way round. These and the address
   * counts below are kept in ShardedMaps (ForkMap.sharded): -C fills and empties them with no long rehash (shards.ts).
   */
  idTrash = ForkMap.sharded<string, number>();
  idKey = ForkMap.sharded<number, string>();
  /** Ids taken back from idTrash, still in freeIds: takeId() skips them. */
  reclaimed = ForkMap.sharded<number, true>();
  /**
   * The destination slots: the free ones, and those of deleted servers (the datapath's
   * DEST_F_TRASH), oldest first: the same server added again to the same virtual service takes
   * its slot back with the connections still bound to it (IPVS's dest trash); when no slot is
   * free the oldest is taken for another; one that nothing refers to for TRASH_PERIOD_MS is free
   * again (Control.sweepTrash). A copy shares them and keeps only its own changes (slots.ts).
   */
  slots: SlotPool;
  timeouts: Timeouts;
  /**
   * How many services have each VIP, real servers each address, and services each FULLNAT local
   * address (uint32 → count): an address has one role in the table (a real server or a LIP that
   * is a VIP would take traffic nowhere), checked without a scan (verbs.ts notInOtherRole).
   */
  vips = ForkMap.sharded<number, number>();
  rips = ForkMap.sharded<number, number>();
  lips = ForkMap.sharded<number, number>();
  /** uvsadm --add-mark rules in the order added; their addresses count in `vips`. Changed through
   *  marksToWrite() (a copy and its original share the list until one of them changes it). */
  marks: readonly MarkModel[] = [];
  private marksShared = false;

  constructor(destMax: number, timeouts: Timeouts) {
    this.slots = SlotPool.create(destMax);
    this.timeouts = timeouts;
  }

  /**
   * A copy for a batch to change: O(1), it shares every structure and keeps its own changes
   * (services it reads are copied then). Until it becomes the model (own()) or is dropped, the
   * model may only be read; a change to the model makes the copy out of date (using it throws).
   */
  clone(): Model {
    const m = Object.create(Model.prototype) as Model;
    m.services = this.services.fork();
    m.freeIds = this.freeIds.fork();
    m.nextId = this.nextId;
    m.idTrash = this.idTrash.fork();
    m.idKey = this.idKey.fork();
    m.reclaimed = this.reclaimed.fork();
    m.slots = this.slots.fork();
    m.timeouts = { ...this.timeouts };
    m.vips = this.vips.fork();
    m.rips = this.rips.fork();
    m.lips = this.lips.fork();
    m.marks = this.marks;
    m.marksShared = true;
    this.marksShared = true;
    return m;
  }

  /** This copy becomes the model: its changes go into the shared structures, O(its changes). */
  own(): void {
    this.services.own();
    this.freeIds.own();
    this.idTrash.own();
    this.idKey.own();
    this.reclaimed.own();
    this.slots.own();
    this.vips.own();
    this.rips.own();
    this.lips.own();
  }

  /**
   * The same copy for a batch large enough to be sliced (Control.batchInSlices): it takes maps and
   * services of its own, the services 64 at a time (a table of 8,000 services took ~10 ms in one
   * piece), the address counts and ids a shard at a time (at 10,000 services x 4 servers a copy of
   * rips in one piece held the loop 6-26 ms), with pause() between, so that its commit is O(1)
   * (own() of 5,000 services deleted and added back wrote 10,000 entries per map in one piece), and
   * the destination slots' trash and free list likewise (slots.ts: own() of a reload replacing every
   * service of 10,000 x 4 wrote 25,000-40,000 trash entries in one piece, 25-53 ms).
   * A change meanwhile makes it out of date: callers validate again when the table changed while
   * they worked.
   */
  async cloneSliced(pause: Pause): Promise<Model> {
    const m = this.clone();
    for (const f of [m.services, m.idTrash, m.idKey, m.reclaimed, m.vips, m.rips, m.lips, m.slots] as Array<{ copySteps(): Steps<boolean> }>) {
      if (!(await runStepsSliced(f.copySteps(), pause))) break;
    }
    return m;
  }

  /**
   * A -C in progress empties the services and their address counts one service at a time (on), or
   * ended (off): their maps do not shrink meanwhile (ForkMap.emptying; the trash and the ids only grow).
   */
  emptying(on: boolean): void {
    this.services.emptying(on);
    this.vips.emptying(on);
    this.rips.emptying(on);
    this.lips.emptying(on);
  }

  /** The mark rules, to change (copied first when shared with a copy or the original). */
  marksToWrite(): MarkModel[] {
    if (this.marksShared) {
      this.marks = [...this.marks];
      this.marksShared = false;
    }
    return this.marks as MarkModel[];
  }

  /** An id for service `key`: its own when it was deleted and the id is still free, else a freed one, else the next. */
  takeId(key?: string): number {
    const own = key === undefined ? undefined : this.idTrash.get(key);
    if (own !== undefined) {
      this.idTrash.delete(key!);
      this.idKey.delete(own);
      this.reclaimed.set(own, true);
      return own;
    }
    for (;;) {
      const id = this.freeIds.pop();
      if (id === undefined) return this.nextId++;
      if (this.reclaimed.delete(id)) continue; // taken back by its service
      const k = this.idKey.get(id);
      if (k !== undefined) {
        this.idKey.delete(id);
        this.idTrash.delete(k);
      }
      return id;
    }
  }

  /** Service `key`'s id is free again (-D, -C). */
  freeId(key: string, id: number): void {
    // Still in freeIds (taken back by its service): it is free there again.
    if (!this.reclaimed.delete(id)) this.freeIds.push(id);
    this.idTrash.set(key, id);
    this.idKey.set(id, key);
  }

  /** Slot d of service s's server d.addr:d.port is released (-d, -D, -C): into the trash. */
  trashSlot(s: ServiceModel, d: DestModel): void {
    this.slots.trashSet(trashKeyOf(s, d.addr, d.port), d.slot);
  }

  /**
   * The slot for server addr:port added to s, and whether it is that server's own from the trash
   * (the datapath revives it); else a free slot, else the oldest in the trash; undefined when none.
   */
  takeSlot(s: ServiceModel, addr: number, port: number): { slot: number; revive: boolean } | undefined {
    const own = this.slots.trashTake(trashKeyOf(s, addr, port));
    if (own !== undefined) return { slot: own, revive: true };
    const slot = this.slots.popFree() ?? this.slots.trashTakeOldest();
    return slot === undefined ? undefined : { slot, revive: false };
  }
}

/**
 * A batch with more items than this is validated and applied in slices (callAsync), and -C / -Z of
 * more services than this run service by service. It was 500 until 2026-12-05: a batch of 500
 * items held the loop 4-25 ms of CPU in one piece (JIT-warm 4-5), -C of 500 services x 4
 * 3.5-16 ms; sliced, they keep to SLICE_MS pieces, and a table this small is done in one.
 */
const SLICE = 16;

/** -C and -Z of every service apply their operations every this many services (each apply is one
 *  message to every worker), and at the end of each slice. */
const APPLY_EVERY = 8;
/** Pieces of room made ahead of a sliced batch's operations at most (Control.reserveSliced): three
 *  arrays for each of four maps, the per-service counts, and moves into a larger table in progress. */
const RESERVE_PIECES = 64;
/** A sliced batch applies its operations this many at a time (each chunk is one message to every worker). */
const APPLY_CHUNK = 32;
/**
 * A sliced batch holds its operations in arrays of about this many (orderForSlices takes the
 * parts): one array of all of them was copied whole by push at each growth (to 1.5 times), in
 * one step of 0.75-1.9 ms of CPU at 15,044, 22,583 and 33,892 items (10,000 x 4), and from
 * 16,384 on it was an object of V8's large-object space, all old-to-new pointers.
 */
const OPS_PART = 4096;

export interface ControlInfo {
  tap: string;
  io?: string;
  /** TAP offloads: "csum+tso" (vnet header, checksum offload and TSO), "off", or "refused: why". */
  offload?: string;
  /** The TAP's txqueuelen (uvsd --tap-qlen); none for an AF_PACKET port. */
  txqueuelen?: number;
  /** Drops before the datapath (the TAP's queue, the ring), shown by status as port_drop_<reason>. */
  portDrops?: () => Record<string, number> | null;
  /** uvsd --workers N >= 2: the worker threads every change also goes to (dp is then the shadow). */
  workers?: Workers;
  /** The link under uvsd as last polled (linkwatch.ts), shown by status. */
  link?: () => LinkStatus;
  /** keepalived's notify FIFO (uvsd --vrrp-fifo), shown by status; undefined while none is read. */
  vrrpFifo?: () => VrrpFifoStatus | undefined;
  /** uvsd's ARP watch (--arp-watch), shown by status. */
  arpWatch?: () => ArpWatchStatus;
  /** uvsd --state-file's writer, shown by status. */
  stateFile?: () => StateFileStatus;
  /** uvsd --datapath-cpus: the datapath threads' CPUs and the main thread's, shown by status. */
  cpus?: CpuPinning;
  /** uvsd's log output (lines dropped when writes fail), shown by status. */
  logOutput?: () => LogOutputStatus;
  /** The control socket (bound again when its file is removed), shown by status. */
  controlSocket?: () => ControlSocketStatus;
}

export class Control {
  readonly dp: Datapath;
  readonly info: ControlInfo;
  model: Model;
  /** The --config file and reloads (uvsd sets it; absent in tests that do not need it). */
  config: ConfigManager | undefined;
  /** --rate: the estimators of the destination slots and of the service ids, a row for every
   *  slot from the start (and as many service ids: a service has a slot, or rarely none), so no
   *  tick grows them. */
  readonly destRates: EstimatorTable;
  readonly svcRates: EstimatorTable;
  private estStop: (() => void) | undefined;
  /** The next tick of estimateTick(), and a service's statistics in it. */
  private estNext = 0;
  /** The tick in progress (estimateSome): its next service id; -1: none. */
  private estSvc = -1;
  private readonly estStats = new Float64Array(5);
  /** uvsadm trace sessions (src/control/trace.ts). */
  readonly traces: TraceSessions;
  /** Connection sync daemons (ipvsadm --start-daemon, docs/ha.md). */
  readonly sync: SyncDaemon;

  constructor(dp: Datapath, info: ControlInfo) {
    this.dp = dp;
    this.info = info;
    this.destRates = new EstimatorTable(dp.dt.max);
    this.svcRates = new EstimatorTable(dp.dt.max);
    this.traces = new TraceSessions(dp, undefined, info.workers);
    this.sync = new SyncDaemon(dp, info.workers);
    this.model = new Model(dp.dt.max, {
      tcp: dp.timeoutS[S_ESTABLISHED],
      tcpfin: dp.timeoutS[S_FIN_WAIT],
      udp: dp.timeoutS[S_UDP],
    });
  }

  /**
   * Dispatch a request by verb name; unknown verbs and malformed args are UvsErrors. With `pause`
   * a long read may answer with a Promise and run in slices (VerbCtx.pause).
   */
  call(verb: string, args: unknown, pause?: Pause, peer?: Peer): unknown {
    const { v, a } = verbArgs(verb, args);
    const t0 = performance.now();
    const c0 = native.threadCpuMs();
    // The workers' counters and statistics summed into dp's (group.ts), what the answer shows of
    // them (VERBS: summed()); a change reads only what its operations need (applyDp).
    if (v.stats !== undefined && this.info.workers !== undefined) pullFor(this.info.workers, v.stats(this.model, a));
    try {
      const ctx: VerbCtx = pause === undefined ? { control: this, model: this.model, ops: [] } : { control: this, model: this.model, ops: [], pause };
      if (peer !== undefined) ctx.peer = peer;
      const result = v.run(ctx, a);
      if (ctx.ops.length > 0) this.applyOps(ctx.ops);
      return result;
    } finally {
      this.heldSince(verb, t0, c0);
    }
  }

  /** held() for the work that began at t0 (performance.now()) and c0 (the thread's CPU). */
  private heldSince(verb: string, t0: number, c0: number): void {
    this.held(verb, performance.now() - t0, native.threadCpuMs() - c0);
  }

  /**
   * How long the event loop (and so forwarding) was held by one verb or slice (ms), and how much
   * of that was the loop's thread's own CPU (cpuMs): the rest is the host running something else
   * on that CPU meanwhile. The worst of each is in status.
   */
  private held(verb: string, ms: number, cpuMs: number): void {
    if (ms > this.slowest.ms) {
      this.slowest.ms = ms;
      this.slowest.verb = verb;
      this.slowest.cpuMs = cpuMs;
    }
    if (cpuMs > this.busiest.ms) {
      this.busiest.ms = cpuMs;
      this.busiest.verb = verb;
    }
  }

  /** The verb that held the event loop longest since start (or -Z), for how long and with how much CPU (ms). */
  readonly slowest = { verb: '', ms: 0, cpuMs: 0 };
  /** The verb that took the most CPU of the loop's thread at once since start (or -Z) (ms). */
  readonly busiest = { verb: '', ms: 0 };

  resetSlowest(): void {
    this.slowest.verb = '';
    this.slowest.ms = 0;
    this.slowest.cpuMs = 0;
    this.busiest.verb = '';
    this.busiest.ms = 0;
  }

  /** Change the flood and exhaustion defenses (validated by the caller: uvsd's options, the config file). */
  setDefense(d: DefenseOptions): void {
    this.applyOps([{ op: 'setDefense', ...d }]);
  }

  /** The HA groups a reload set (uvsd --ha-group, daemon.ha-groups; docs/ha.md). */
  setHaGroups(groups: Array<{ name: string; addrs: number[] }>): void {
    this.applyOps([{ op: 'haGroups', groups }]);
  }

  /** Replace the model and apply the operations that took the datapath there (batch). */
  commit(model: Model, ops: DpOp[]): void {
    model.own();
    this.model = model;
    if (ops.length > 0) this.applyOps(ops);
  }

  // ---- large batches without holding the event loop ------------------------------------------

  /** Bumped by every change of the model (a sliced batch notices changes made meanwhile). */
  private changes = 0;
  /** Called after every change reached the datapath (uvsd --state-file saves the table), and
   *  when the director's drain changes (uvsd --bgp-include announces or withdraws), and when a
   *  sync daemon starts or stops (the state file keeps them). */
  onChange: (() => void) | undefined;
  /** uvsadm --drain: when the director began draining (performance.now(): a step of the wall clock
   *  neither ends it early nor holds it) and for how long at most (s). */
  drain: { since: number; timeoutS: number } | undefined;
  /** The drain's timeout when uvsadm gives none (uvsd --drain-timeout). */
  drainTimeoutS = 30;
  /** uvsd --bgp-include: the VIPs are announced by routes, which --drain withdraws (without, it has nothing to do). */
  routed = false;
  /** uvsd --bgp-include: undefined once BIRD confirmed that every route is withdrawn, else why not (a drain is not `drained` before). */
  bgpWithdrawal: (() => string | undefined) | undefined;
  /** Operations waiting behind a sliced apply in progress (kept in order); empty otherwise. */
  private readonly opQueue: DpOp[] = [];
  private applying = false;
  /** Mutating requests from the socket run one after another, in arrival order. */
  private tail: Promise<unknown> = Promise.resolve();

  private applyOps(ops: DpOp[]): void {
    this.changes++;
    if (this.applying) this.opQueue.push(...ops);
    else {
      this.applyDp(ops);
      this.changed();
    }
  }

  /** After a change of the table reached the datapath: what it makes worth a warning, then onChange. */
  private changed(): void {
    this.warnFtp();
    this.onChange?.();
  }

  /** Told of what a change of the table made worth a warning (uvsd logs it); absent: nothing said. */
  warn: ((msg: string, fields: Record<string, unknown>) => void) | undefined;
  /** The services ftpNotPersistent() found last time: each is warned about once while it stays so. */
  private ftpWarned = new Set<string>();

  /** The services an FTP session's data connections may miss with --workers (ftpNotPersistent()'s,
   *  each service's verdict kept while it does not change: warnFtp() and `--status` read it). */
  ftpNotPersistent(): string[] {
    return this.ftpCheck.list(this.model, this.dp.defense.ftpPorts, this.info.workers?.count ?? 1);
  }

  /** What ftpNotPersistent() keeps of each service's verdict. */
  readonly ftpCheck = new FtpCheck();

  /** A warning for each service that became one of ftpNotPersistent()'s since the last change. */
  private warnFtp(): void {
    const workers = this.info.workers?.count ?? 1;
    const now = this.ftpNotPersistent();
    if (now.length === 0 && this.ftpWarned.size === 0) return;
    let kept = 0;
    for (const service of now) {
      if (this.ftpWarned.has(service)) {
        kept++;
        continue;
      }
      this.warn?.(`FTP service ${service} is not persistent with --workers ${workers}: a client's data connection may reach ` +
        'another worker than its control connection and fail; make it persistent (-p), see docs/nat-setup.md#ftp', { service, workers });
    }
    // The same services as before: the set stays (made again, 10,000 of them cost a few ms a change).
    if (kept !== now.length || kept !== this.ftpWarned.size) this.ftpWarned = new Set(now);
  }

  /** The datapath, and with --workers every worker thread (the reply waits for their acks). */
  private applyDp(ops: DpOp[]): void {
    // Operations that read statistics from the shadow's arrays (a deleted server's go into its
    // service's retired sums) read those slots' from the workers first, so they are the latest
    // (not those of the last scrape or of a slice's start): those slots alone, not the table.
    const slots = this.info.workers === undefined ? undefined : statSlots(ops);
    if (slots !== undefined) this.info.workers?.pull(slots);
    this.dp.apply(ops);
    this.info.workers?.apply(ops);
  }

  /**
   * The control socket's entry point. Reads answer at once. Changes run one at a time in arrival
   * order, and a batch of more than SLICE items is validated and applied in slices with the
   * event loop free in between, so forwarding (and every other client) is never held for long:
   * it still changes all or nothing, and verbs from elsewhere (health checks, reloads) that land
   * meanwhile are either applied after it in order or make it validate again.
   */
  callAsync(verb: string, args: unknown, peer?: Peer): unknown {
    const v = Object.prototype.hasOwnProperty.call(VERBS, verb) ? VERBS[verb as keyof typeof VERBS] : undefined;
    const items = verb === 'batch' && typeof args === 'object' && args !== null && Array.isArray((args as { items?: unknown }).items) ? (args as { items: unknown[] }).items : undefined;
    // A batch of more than SLICE items, or any with a -C of a table of more than SLICE services
    // (`-R` of '-C' and a few lines: the -C in one piece held the loop 30-40 ms at 3,000-10,000
    // services until 2026-12-07; the sliced batch takes it service by service).
    const big = items !== undefined && (items.length > SLICE || (this.model.services.size > SLICE && items.some((_, i) => isBatchClear(items, i))));
    // Reads answer at once, a large table's list or -Lc in slices; a reload runs in slices too.
    // A sliced answer comes after a turn of the loop: its last slice and the first of its
    // writing (server.ts stringifySliced) are not one piece (together up to twice SLICE_MS).
    const sliced = (): unknown => {
      const { pause, done } = this.slicer(verb);
      const r = this.call(verb, args, pause, peer);
      return r instanceof Promise ? r.finally(done).then(async (v: unknown) => (await yieldLoop(), v)) : r;
    };
    if (v === undefined || (!v.mutates && !big && verb !== 'batch' && verb !== 'reload')) return sliced();
    return this.serialized(() => {
      if (big) return this.batchSliced(args);
      if (this.allServices(verb, args) && this.model.services.size > SLICE) return this.perServiceSliced(verb as 'clear' | 'zero');
      if (verb === 'reload') return sliced();
      return this.call(verb, args);
    });
  }

  /**
   * Run fn once every change queued before it (the socket's batches and other changes, reloads
   * from SIGHUP) has ended, and alone: changes run one at a time in arrival order.
   */
  serialized<T>(fn: () => T | Promise<T>): Promise<T> {
    const run = this.tail.then(fn);
    this.tail = run.catch(() => undefined);
    return run;
  }

  /** -C, or -Z of every service. */
  private allServices(verb: string, args: unknown): boolean {
    return verb === 'clear' || (verb === 'zero' && (typeof args !== 'object' || args === null || (args as { service?: unknown }).service === undefined));
  }

  /**
   * -C and -Z of every service, when there are more than SLICE: service by service (deleteService,
   * zero), a few at a time with the loop free in between. In one piece, 10,000 services held the
   * loop ~50 ms for -C and 6-13 ms for -Z. Each service's change is whole, as IPVS's own flush
   * and zero go service by service; health checks or a reload may change others meanwhile.
   */
  private async perServiceSliced(verb: 'clear' | 'zero'): Promise<null> {
    if (verb === 'clear') {
      let end!: () => void;
      this.clearing = new Promise<void>((r) => (end = r));
      try {
        return await this.perServiceRun(verb);
      } finally {
        this.clearing = undefined;
        end();
      }
    }
    return this.perServiceRun(verb);
  }

  /**
   * While a sliced -C empties the table in place, between its slices (the state file's dump waits
   * for it: a dump of the half-emptied table written at a crash would restart uvsd with a half
   * of it); undefined otherwise.
   */
  midChange(): Promise<void> | undefined {
    return this.clearing;
  }

  private clearing: Promise<void> | undefined;

  private async perServiceRun(verb: 'clear' | 'zero'): Promise<null> {
    const { pause, done } = this.slicer(verb);
    const due = dueOf(pause);
    const model = this.model;
    // Every service goes: the model's maps of them and of their addresses do not shrink meanwhile
    // (64 shards each, copied by V8 at about the same service: ShardedMap.emptying).
    if (verb === 'clear') model.emptying(true);
    try {
      // The services at the start, their keys a part at a time (as eachServiceSteps takes them for a list).
      const keys: string[] = [];
      for (const k of model.services.keys()) if (keys.push(k) % KEYS_STEP === 0) await pause();
      let ctx: VerbCtx = { control: this, model: this.model, ops: [] };
      for (let i = 0; i < keys.length; i++) {
        const s = this.model.services.get(keys[i]!);
        // What -D and -Z of this one service do, without its key turned into text and back (none: deleted meanwhile).
        if (s !== undefined) {
          if (verb === 'clear') removeService(ctx, s);
          else zeroService(ctx, s);
        }
        // The slice's clock after every service (SliceClock.due); the operations applied every
        // APPLY_EVERY services and before every pause.
        const end = due();
        if ((end || (i + 1) % APPLY_EVERY === 0 || i + 1 === keys.length) && ctx.ops.length > 0) {
          this.changes++;
          this.applyDp(ctx.ops);
          ctx = { control: this, model: this.model, ops: [] };
        }
        if (end) await pause(yieldLoop());
      }
    } finally {
      if (verb === 'clear') model.emptying(false);
    }
    done();
    if (verb === 'zero') this.resetSlowest(); // as the verb does for all services
    this.changed(); // once, at the end (uvsd saves the whole table then), as for a batch
    return null;
  }

  /**
   * Slices of long work for `verb`: pause() ends the slice before it would pass SLICE_MS (SliceClock; records how
   * long it held the loop, then lets the loop run), pause.due() says whether it would (dueOf); done() records the last slice.
   */
  slicer(verb: string): { pause: Pause; done: () => void } {
    const clock = new SliceClock();
    let c = native.threadCpuMs();
    const end = async (until?: Promise<unknown>): Promise<void> => {
      this.heldSince(verb, clock.start, c);
      try {
        await (until ?? yieldLoop());
      } finally {
        clock.restart(performance.now());
        c = native.threadCpuMs();
      }
    };
    // Not an async function: a slice that goes on makes no Promise (GOING_ON).
    const pause = (until?: Promise<unknown>): Promise<void> => (!clock.due(performance.now()) && until === undefined ? GOING_ON : end(until));
    return { pause: Object.assign(pause, { due: () => clock.due(performance.now()) }), done: () => this.heldSince(verb, clock.start, c) };
  }

  private async batchSliced(args: unknown): Promise<{ applied: number }> {
    const { items, dryRun } = batchArgs(verbArgs('batch', args).a);
    const { pause, done } = this.slicer('batch');
    try {
      await this.batchInSlices(function* () { return { items }; }, dryRun, pause);
    } finally {
      done();
    }
    return { applied: dryRun ? 0 : items.length };
  }

  /**
   * A batch in slices: `plan` makes its items (a batch's own list, or a reload's difference from
   * the table, yielding where it may pause), each validated against a copy of the model, then
   * all of them applied, with pause() between pieces of the work. All or nothing: the first
   * refusal throws (with the item's index). When something changed the table meanwhile (health
   * checks, drain timers: the verbs that do not queue behind this one) the plan is made and
   * validated again, at the third attempt without pausing, so nothing can interleave. Changes
   * landing while the operations are applied are validated against the new model and applied
   * after them, in order. `committed` runs when the new model is in place, before its operations
   * reach the datapath (not for dryRun). Returns the plan that was applied (or validated).
   */
  async batchInSlices<P extends { items: readonly unknown[] }>(
    plan: () => Steps<P>, dryRun: boolean, pause: Pause, committed?: (p: P) => void | Steps<void>,
  ): Promise<P> {
    this.slicing++;
    try {
      return await this.batchInSlicesRun(plan, dryRun, pause, committed);
    } finally {
      this.slicing--;
    }
  }

  /** Sliced batches (batchInSlices) in progress: the trash sweep waits for them to end. */
  private slicing = 0;

  private async batchInSlicesRun<P extends { items: readonly unknown[] }>(
    plan: () => Steps<P>, dryRun: boolean, pause: Pause, committed?: (p: P) => void | Steps<void>,
  ): Promise<P> {
    const due = dueOf(pause);
    for (let attempt = 0; ; attempt++) {
      const start = this.changes;
      let p!: P;
      let sub!: VerbCtx;
      // The operations made so far, in parts of about OPS_PART (sub.ops is the last one).
      let opParts: DpOp[][] = [];
      const spill = (): void => {
        if (sub.ops.length < OPS_PART) return;
        opParts.push(sub.ops);
        sub.ops = [];
      };
      try {
        p = await runStepsSliced(plan(), pause);
        sub = { control: this, model: await this.model.cloneSliced(pause), ops: [], gone: new ShardedMap(), back: new ShardedMap() };
        for (let i = 0; i < p.items.length; i++) {
          // A -C item service by service: in one piece it held the loop ~40 ms at 5,000 services.
          if (isBatchClear(p.items as unknown[], i)) await runBatchClearSliced(sub, p.items as unknown[], i, pause, spill);
          else runBatchItem(sub, p.items as unknown[], i);
          spill();
          // The slice's clock after every item (SliceClock.due); before, pause() every 2 items
          // (every 8: a reload replacing 10,000 x 4 took up to 2.7 ms of CPU, past a slice's end).
          if (due()) await pause();
        }
      } catch (e) {
        // Refused against a table that changed meanwhile: try again against the table as it is
        // (the last time in one piece, below: a copy made before the change cannot be used, its
        // destination slots are out of date, slots.ts).
        if (this.changes === start) throw e;
        if (attempt < 2) continue;
      }
      // Something changed the table meanwhile: plan and validate again against it (at the last
      // attempt without yielding, so nothing can interleave).
      if (this.changes !== start && attempt < 2) continue;
      const now = (): void => {
        p = runSteps(plan());
        opParts = [];
        sub = { control: this, model: this.model.clone(), ops: [], gone: new ShardedMap(), back: new ShardedMap() };
        for (let i = 0; i < p.items.length; i++) runBatchItem(sub, p.items as unknown[], i);
      };
      if (this.changes !== start) now();
      if (dryRun) return p;
      // A service deleted and added back (-C, then the same rules) goes into the datapath in one
      // piece: its connections are kept, as when the whole batch is one dp.apply (orderForSlices).
      const order = (): Steps<DpOp[][]> => orderForSlices([...opParts, sub.ops], sub.gone!, sub.back!, APPLY_CHUNK);
      let chunks = this.changes !== start ? runSteps(order()) : await runStepsSliced(order(), pause);
      if (this.changes !== start) {
        if (attempt < 2) continue;
        now();
        chunks = runSteps(order());
      }
      sub.model.own();
      this.model = sub.model;
      this.changes++;
      this.applying = true;
      try {
        // Changes it makes (health checks) queue behind the batch's; given as steps (the health
        // checker's commit), run with pause() between them.
        const after = committed?.(p);
        if (after !== undefined) await runStepsSliced(after, pause);
        await this.reserveSliced(pause);
        // The first chunk in a slice of its own, not after the order's last step and the commit:
        // 0.9-2.2 ms of CPU with them in the netns lab (its first operations of their kind).
        await pause(yieldLoop());
        for (const c of chunks) {
          this.applyDp(c);
          if (due()) await pause();
        }
        while (this.opQueue.length > 0) this.applyDp(this.opQueue.splice(0, this.opQueue.length));
      } finally {
        this.applying = false;
      }
      this.changed();
      return p;
    }
  }

  /**
   * Before a sliced batch's operations: the datapath's lookup tables made large enough for the
   * new model (its services, ids, VIPs and server addresses), a piece (one array) per slice of
   * its own (DpOp reserve). Without it they grew at the operation that took them past half full
   * (a service id passing 4,096 or 8,192: three arrays each of the services' map, the addresses'
   * two, the pins', and the per-service counts, 0.4-1.9 ms in the piece of the batch's apply).
   * At most RESERVE_PIECES: a hint, the tables still grow by themselves.
   */
  private async reserveSliced(pause: Pause): Promise<void> {
    const m = this.model;
    const r: DpOp = { op: 'reserve', services: m.services.size, ids: m.nextId, vips: m.vips.size, rips: m.rips.size };
    for (let k = 0; k < RESERVE_PIECES && !this.dp.hasRoom(r); k++) {
      await pause(yieldLoop());
      this.applyDp([r]);
    }
  }

  // Typed shorthands used by tests, benchmarks and the config loader.
  addService(spec: ServiceSpec): null {
    return this.call('addService', spec) as null;
  }
  editService(spec: ServiceSpec): null {
    return this.call('editService', spec) as null;
  }
  deleteService(key: ServiceKey): null {
    return this.call('deleteService', key) as null;
  }
  clear(): null {
    return this.call('clear', {}) as null;
  }
  addDest(spec: DestSpec): null {
    return this.call('addDest', spec) as null;
  }
  editDest(spec: DestSpec): null {
    return this.call('editDest', spec) as null;
  }
  deleteDest(key: DestKey): null {
    return this.call('deleteDest', key) as null;
  }
  list(): ListResult {
    return this.call('list', {}) as ListResult;
  }
  status(): StatusResult {
    return this.call('status', {}) as StatusResult;
  }
  addLaddr(spec: LaddrSpec): null {
    return this.call('addLaddr', spec) as null;
  }
  delLaddr(spec: LaddrSpec): null {
    return this.call('delLaddr', spec) as null;
  }
  connections(args: { max?: number } = {}): ConnInfo[] {
    return this.call('connections', args) as ConnInfo[];
  }

  // ---- the dest trash ------------------------------------------------------------------------

  /**
   * What refers to destination slot d: its connections and persistence templates, on every
   * worker with --workers (the shadow's counts are those of the slots in use only, group.ts pull()).
   */
  destRefs(d: number): number {
    const w = this.info.workers;
    if (w?.destRefs !== undefined) return w.destRefs(d);
    const dt = this.dp.dt;
    return dt.active[d] + dt.inactive[d] + dt.persist[d];
  }

  /**
   * The kernel's ip_vs_dest_trash_expire, a part of the trash per call (uvsd: every datapath
   * tick; `now` ms on the monotonic clock): a deleted server's slot that nothing has referred to
   * for TRASH_PERIOD_MS (120 s) is free again, so the trash holds recent deletions and those
   * with connections left, not every server ever deleted. Waits while a sliced batch is in
   * progress (it would have to validate again). Returns how many slots were freed.
   */
  sweepTrash(now: number): number {
    if (this.slicing > 0 || this.model.slots.trashSize === 0) return 0;
    const freed = this.model.slots.sweep(now, (d) => this.destRefs(d));
    if (freed > 0) this.changes++; // copies of the model made before are out of date
    return freed;
  }

  // ---- the 2-second rate estimator (ipvsadm --rate) -----------------------------------------

  /** One estimator step over every service and destination (all EST_TICKS ticks at once). */
  estimate(): void {
    while (this.estSvc >= 0 && !this.estimateSome(Infinity)); // a tick begun by the timer: ended first
    this.estNext = 0;
    for (let t = 0; t < EST_TICKS; t++) this.estimateSome(Infinity);
  }

  /**
   * The next of the EST_TICKS ticks of the 2-second period (the kernel's IPVS_EST_NTICKS): the
   * rows of the services whose id equals its number modulo EST_TICKS and of their servers, so
   * each row keeps an exact 2 s period. The whole step at once took 4-6 ms every 2 s with 10,000
   * services of 4 servers (48 ms the first time). With --workers the tick sums just those from
   * the workers first (pullShare): before, tick 0 summed the whole table (10-30 ms every 2 s at
   * 10,000 services of 4 servers) and the other ticks read what the 250 ms tick last pulled.
   */
  estimateTick(): void {
    while (!this.estimateSome(Infinity));
  }

  /**
   * Steps the rows of the current tick (its services, each with its servers in use by their
   * slot's flag) until it is done (true: the next call begins the next tick) or
   * performance.now() passes `deadline`, looked at between services once EST_CHECK_ROWS rows went by (false: the next
   * call goes on). Its timer (startTicks) so runs a tick in slices: the first tick after a start,
   * before the JIT compiled it, took 8-14 ms at once with 10,000 services of 4 servers. Allocates nothing.
   */
  estimateSome(deadline: number): boolean {
    const t = this.estNext;
    if (this.estSvc < 0) {
      const w = this.info.workers;
      if (w?.pullShare !== undefined) w.pullShare(t, EST_TICKS);
      else if (t === 0) w?.pull();
      this.estSvc = t;
    }
    this.estSvc = walkTick(this.dp.services, this.estSvc, deadline, this.estimateService);
    if (this.estSvc >= 0) return false;
    this.estSvc = -1;
    this.estNext = (t + 1) % EST_TICKS;
    return true;
  }

  /** A service's and its servers' estimators stepped, the service on its sums since the last -Z with what
   *  deleted servers had (serviceStatsSinceZero): no false drop. */
  private readonly estimateService = (svc: SvcRuntime, id: number): void => {
    const dt = this.dp.dt;
    const ds = svc.dests;
    for (let i = 0; i < ds.length; i++) {
      const k = ds[i];
      if ((dt.flags[k] & DEST_F_USED) === 0) continue;
      this.destRates.sample(k, dt.conns[k], dt.inPkts[k], dt.outPkts[k], dt.inBytes[k], dt.outBytes[k]);
    }
    const st = this.estStats;
    serviceStatsSinceZero(dt, svc, st);
    this.svcRates.sample(id, st[STAT_CONNS], st[STAT_IN_PKTS], st[STAT_OUT_PKTS], st[STAT_IN_BYTES], st[STAT_OUT_BYTES]);
  };

  /** Restart a destination's or service's estimator from zero totals (EstimatorTable.restart). */
  restartRates(slot: number | undefined, svcId: number | undefined): void {
    if (slot !== undefined) this.destRates.restart(slot);
    if (svcId !== undefined) this.svcRates.restart(svcId);
  }

  startEstimator(periodMs = 2000): void {
    this.estStop ??= startTicks((deadline) => this.estimateSome(deadline), periodMs);
  }

  stopEstimator(): void {
    this.estStop?.();
    this.estStop = undefined;
  }
}
