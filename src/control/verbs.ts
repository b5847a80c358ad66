// The control verbs, in one registry: name → { mutates, stats, keys, run(ctx, args) }. An argument not
// in keys is refused for every verb in one place (verbArgs); a verb validates its
// arguments against ctx.model completely, then changes the model and pushes the DpOps that take
// the datapath along (ctx.ops; Control.call applies them). Argument and result types are declared
// here too and protocol.ts derives the wire types from this table: adding a verb is one entry
// here (plus, for uvsadm, one parser entry in ipvsadm.ts).

import type { Peer } from './server.js';
import { isIPv6 } from 'node:net';
import { UvsError } from './errors.js';
import { wallOf } from './clock.js';
import { dueOf, runSteps, streamed, streamedText, type Pause, type Steps } from './slices.js';
import type { ReloadReport } from './config.js';
import { addRef, modelServiceKey, newGen, serviceKeyOf, serviceStatsOf, type Control, type DestModel, type MarkModel, type Model, type ServiceModel } from './model.js';
import type {
  BatchItem, LaddrRange, ConnInfo, ConnsResult, DestInfo, DestKey, DestSpec, ExplainArgs, ExplainResult, Fwd, LaddrSpec, LaddrStat, ListResult, NeighInfo, MarkInfo, MarkSpec, Proto, ServiceInfo,
  ServiceKey, ServiceSpec, StatusResult, Timeouts, RoleArgs, DaemonSpec, DaemonResult, HaGroupRole,
  TracePollResult, TraceSessionArgs, TraceStartArgs, TraceStartResult, ZeroArgs,
  DrainArgs, DrainStatus, TunCsum, TunOptions, TunType,
} from './protocol.js';
import { CONNS_MAX_DEFAULT, DEFAULT_SCHED, DEFAULT_WEIGHT, destPort, MAX_FWMARK, takesServicePort, MAX_THRESHOLD, MAX_TIMEOUT, MAX_WEIGHT, serviceText, TUN_CSUMS, TUN_TYPES } from './protocol.js';
import { tunCode } from '../modes/tun.js';
import { formatIp, formatMac, parseIp } from '../datapath/addr.js';
import { DEFAULT_HA_GROUP, formatAddr } from '../datapath/link.js';
import { PROTO_FWM, type Datapath, type DpExplanation } from '../datapath/pipeline.js';
import { PROTO_SCTP, PROTO_TCP, PROTO_UDP, l4Name } from '../datapath/frame.js';
import type { DpOp } from '../datapath/ops.js';
import type { NeighRow } from '../datapath/neigh.js';
import { ENTRY_STATE_NAMES, entryState } from '../datapath/census.js';
import { F_TEMPLATE, PROTO_TPL, PROTO_TPL_DEAD, TICK_MS } from '../datapath/conntable.js';
import { FORWARDERS, FWD_IDS, FWD_NAMES } from '../modes/index.js';
import { getScheduler } from '../sched/index.js';
import { unicastProblem, WALK_STEP } from './claim.js';
import { markText } from './printers.js';
import type { ShardedMap } from './shards.js';
import { SCHED_FLAG_NAMES } from '../sched/types.js';
import { PE_NAMES, PE_SIP, type PeName } from '../proto/sip.js';
import { realpathSync } from 'node:fs';
import { dirname } from 'node:path';
import { dirTrustProblem, foreignUid, modeText, readSmallFile, SmallFileError } from './trust.js';
import { SYNC_GROUP, SYNC_MAXLEN, SYNC_PORT, defaultInterface, interfaceAddress, type SyncConfig } from '../sync/daemon.js';
import { HDR_LEN, MAC_LEN } from '../sync/codec.js';
import { REC_LEN } from '../datapath/syncrec.js';
import { snapshotView, type ConnView } from '../datapath/group.js';
import type { LaddrUsage } from '../modes/laddr.js';

export const DEFAULT_PERSIST = 300;
export const ALL_ONES = 0xffffffff;

export interface VerbCtx {
  control: Control;
  model: Model;
  ops: DpOp[];
  /**
   * Present for requests from the control socket (Control.callAsync): a long read (a large table's
   * list, -Lc) may run in slices, awaiting this between them; it lets the event loop run once a
   * slice has taken SLICE_MS. Absent, every verb answers at once.
   */
  pause?: Pause;
  /** Who sent the request, where the control socket knows (SO_PEERCRED): a reload's log names it. */
  peer?: Peer;
  /** Set by a sliced batch (Control.batchInSlices): the services it deletes, by id ... */
  gone?: ShardedMap<number, GoneService>;
  /** ... and the ids of those it adds back (the same key, its id taken back: Model.takeId). Sharded
   *  (shards.ts): a reload replacing 10,000 services grew one Map past 8,192 in one piece. */
  back?: ShardedMap<number, true>;
}

/** A service a batch deleted: its addresses (orderForSlices keeps its deletion before any change that takes them in another role). */
export interface GoneService {
  key: string;
  vip: number | undefined;
  rips: number[];
  lips: number[];
  slots: number[];
}

/** A list of more services than this is made while written, in slices, when the request allows it (ctx.pause):
 *  500 until 2026-12-05, when `-L -n` of 500 services x 4 held the loop 5-22 ms of CPU in one piece. */
const LIST_SLICED_MIN = 16;
/** Services of a list made at a time (listParts): made and written, ~0.2 ms, between two looks at the slice's clock. */
export const LIST_PART = 4;
/** Services of a reload's plan (planTableSteps) made between two looks at the slice's clock. */
const PLAN_SLICE_CHECK = 32;
/**
 * listConns with a cursor (uvsadm -Lc): a page of at most this many rows, built at once (~1 ms)
 * and written before the client asks for the next, so uvsd holds one page, not the listing.
 */
export const CONNS_PAGE_ROWS = 1000;
/** listConns without a cursor from the socket: the rows made between two looks at the slice's clock (~0.25 ms), a page each. */
const CONNS_STREAM_ROWS = 256;
/** Table entries one page looks at, at most: a sparse table gives pages of few rows (or none). */
export const CONNS_PAGE_SCAN = 65_536;
/** A cursor is worker × CURSOR_WORKER + the position in that worker's table (uvsd --workers). */
const CURSOR_WORKER = 2 ** 32;

interface Verb<A, R> {
  /** Changes the table (allowed in a batch; its ops are applied). */
  mutates: boolean;
  /**
   * Its answer shows counters or statistics that, with --workers, are the workers' summed into the
   * shadow's (summed()): what of them it shows, which Control.call sums from the workers first.
   * No other verb sums any (a change reads only the slots its operations need, Control.applyDp).
   */
  stats: ((model: Model, args: Record<string, unknown>) => Pulls) | undefined;
  /** The argument names it takes: any other is refused (a misspelt one would be ignored, its default used). */
  keys: ReadonlySet<string>;
  run(ctx: VerbCtx, args: Record<string, unknown>): R;
  /** Phantom: the argument type clients send. */
  readonly argsType?: A;
}

/** Every argument name of type A, no more and no fewer (the compiler holds the list to the type). */
type ArgKeys<A> = { readonly [K in keyof Required<A>]: true };

/** ipvsadm -e: fields left out are kept (uvsadm -e sends all of them, as ipvsadm -e replaces them all). */
function editDestIn(ctx: VerbCtx, a: Record<string, unknown>): null {
  const s = mustService(ctx.model, serviceArg(a.service), 'SERVICE_NOT_FOUND');
  const addr = ipOf(a.addr, 'real server address');
  const port = destPortOf(a, s);
  const i = findDest(s, addr, port);
  const old = s.dests[i];
  const fwd = a.fwd === undefined ? (old?.fwd ?? 'dr') : fwdOf(a.fwd);
  const weight = a.weight === undefined ? (old?.weight ?? DEFAULT_WEIGHT) : intOf(a.weight, 'BAD_WEIGHT', 'weight', 0, MAX_WEIGHT);
  const upper = a.upper === undefined ? (old?.upper ?? 0) : intOf(a.upper, 'BAD_REQUEST', 'upper threshold', 0, MAX_THRESHOLD);
  const lower = a.lower === undefined ? (old?.lower ?? 0) : intOf(a.lower, 'BAD_REQUEST', 'lower threshold', 0, MAX_THRESHOLD);
  if (lower > upper) throw new UvsError('BAD_THRESHOLDS', `lower threshold ${lower} is above upper threshold ${upper}`);
  if (old === undefined) throw new UvsError('DEST_NOT_FOUND', `${formatIp(addr)}:${port}`);
  checkDest(ctx, s, { addr, port, fwd, upper, lower });
  const tun = tunOf(a, fwd, old.fwd === 'tun' ? old : undefined);
  Object.assign(old, { fwd, weight, upper, lower, ...tun });
  s.gen = newGen();
  ctx.ops.push({ op: 'editDest', svc: s.id, dest: old.slot, fwd: FWD_IDS[fwd], weight, upper, lower, tun: tunOp(tun) });
  return null;
}

function verb<A, R>(mutates: boolean, keys: ArgKeys<A>, run: (ctx: VerbCtx, args: Record<string, unknown>) => R): Verb<A, R> {
  return { mutates, stats: undefined, keys: new Set(Object.keys(keys)), run };
}

/**
 * What of the workers' numbers a verb's answer shows: the whole table (DatapathGroup.pull()), the
 * counters and entries alone (`head`: Workers.pullHead, no statistics), or these destination slots.
 */
export type Pulls = 'all' | 'head' | readonly number[];

/**
 * A verb whose answer reads the shadow's counters, statistics or connection count (-L with its
 * numbers, status, drain): with --workers Control.call sums what `what` names of every worker's
 * into the shadow first, so the answer is fresh: the whole table only for a whole -L
 * (DatapathGroup.pull(), 10-30 ms at 10,000 services of 4 servers). The others (every change, -Lc
 * and the verbs that ask the workers themselves) pull nothing whole.
 */
function summed<A, R>(v: Verb<A, R>, what: (model: Model, args: Record<string, unknown>) => Pulls): Verb<A, R> {
  return { ...v, stats: what };
}

/** -L of one service: its servers' slots (none for a bad or unknown key: the verb refuses or shows none). */
function serviceSlots(model: Model, k: unknown): readonly number[] {
  let s: ServiceModel | undefined;
  try {
    s = model.services.get(serviceArg(k).key);
  } catch {
    return [];
  }
  return s === undefined ? [] : s.dests.map((d) => d.slot);
}

const NO_ARGS: ArgKeys<Record<string, never>> = {};
const SERVICE_KEY: ArgKeys<ServiceKey> = { proto: true, addr: true, port: true, fwmark: true };
const SERVICE_SPEC: ArgKeys<ServiceSpec> = { ...SERVICE_KEY, sched: true, flags: true, persist: true, netmask: true, oneShot: true, pe: true, synproxy: true };
const DEST_KEY: ArgKeys<DestKey> = { service: true, addr: true, port: true };
const DEST_SPEC: ArgKeys<DestSpec> = { ...DEST_KEY, fwd: true, weight: true, upper: true, lower: true, tunType: true, tunPort: true, tunCsum: true };
const LADDR_SPEC: ArgKeys<LaddrSpec> = { service: true, addr: true, portMin: true, portMax: true };
const MARK_SPEC: ArgKeys<MarkSpec> = { fwmark: true, proto: true, addr: true, portMin: true, portMax: true };
const SERVICE_KEY_NAMES: ReadonlySet<string> = new Set(Object.keys(SERVICE_KEY));
const BATCH_ITEM_NAMES: ReadonlySet<string> = new Set(['verb', 'args']);

/** Refuse a name not in `keys` (one whose value is undefined, in process, is as good as absent). */
function onlyKeys(a: Record<string, unknown>, keys: ReadonlySet<string>, what: string): void {
  // for-in, not Object.keys: no array per call (a reload checks every item's and service's keys).
  for (const k in a) {
    if (!Object.prototype.hasOwnProperty.call(a, k) || keys.has(k) || a[k] === undefined) continue;
    throw new UvsError('BAD_REQUEST', `unknown argument ${JSON.stringify(k)} of ${what} (${keys.size === 0 ? 'it takes none' : `it takes ${[...keys].join(', ')}`})`);
  }
}

// ---- argument validation (each throws a UvsError naming the offending value) ----------------

/** ms to µs precision, for status. */
const round3 = (ms: number): number => Math.round(ms * 1000) / 1000;

/** A refused value as an error names it: its JSON, but a number JSON cannot write as itself (1e400 reads as Infinity, which JSON.stringify writes as null). */
function valueText(v: unknown): string {
  return typeof v === 'number' && !Number.isFinite(v) ? String(v) : JSON.stringify(v);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function protoOf(v: unknown): Proto {
  if (v === 'tcp' || v === 'udp' || v === 'sctp') return v;
  throw new UvsError('BAD_PROTO', valueText(v));
}

function ipOf(v: unknown, what?: string): number {
  const ip = typeof v === 'string' ? parseIp(v) : -1;
  if (ip < 0) {
    const value = `${valueText(v)}${typeof v === 'string' && isIPv6(v) ? ' is IPv6 (uvs is IPv4-only)' : ''}`;
    throw new UvsError('BAD_ADDRESS', what === undefined ? value : `${what} ${value}`);
  }
  return ip;
}

function portOf(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 65535) {
    throw new UvsError('BAD_PORT', `${what} ${valueText(v)}`);
  }
  return v;
}

function intOf(v: unknown, code: 'BAD_WEIGHT' | 'BAD_TIMEOUT' | 'BAD_REQUEST' | 'BAD_TUNNEL' | 'BAD_FWMARK', what: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new UvsError(code, `${what} ${valueText(v)} (${min}..${max})`);
  }
  return v;
}

function boolOf(v: unknown, what: string): boolean {
  if (typeof v !== 'boolean') throw new UvsError('BAD_REQUEST', `${what} must be true or false, got ${valueText(v)}`);
  return v;
}

/** A verb by name and its arguments, checked: a known verb, an object, no argument it does not take. */
export function verbArgs(name: string, args: unknown): { v: Verb<unknown, unknown>; a: Record<string, unknown> } {
  const v = Object.prototype.hasOwnProperty.call(VERBS, name) ? (VERBS[name as VerbName] as Verb<unknown, unknown>) : undefined;
  if (v === undefined) throw new UvsError('UNKNOWN_VERB', JSON.stringify(name));
  const a = args === undefined || args === null ? {} : args;
  if (!isObject(a)) throw new UvsError('BAD_REQUEST', '"args" must be an object');
  onlyKeys(a, v.keys, name);
  return { v, a };
}

/** A `dryRun` argument: true or false when given (a string "true" must not make a real change). */
function dryRunOf(a: Record<string, unknown>): boolean {
  return a.dryRun === undefined ? false : boolOf(a.dryRun, 'dryRun');
}

interface SvcRef {
  proto: Proto;
  vip: number;
  port: number;
  /** A firewall-mark service's mark (uint32), else 0. */
  fwmark: number;
  key: string;
}

function svcRef(k: unknown): SvcRef {
  if (!isObject(k)) throw new UvsError('BAD_REQUEST', 'service must be an object {proto, addr, port} or {fwmark}');
  if (k.fwmark !== undefined) {
    const fwmark = intOf(k.fwmark, 'BAD_FWMARK', 'firewall mark', 1, MAX_FWMARK);
    return { proto: 'tcp', vip: 0, port: 0, fwmark, key: serviceKeyOf('tcp', 0, 0, fwmark) };
  }
  const proto = protoOf(k.proto);
  const vip = ipOf(k.addr, 'virtual address');
  const port = portOf(k.port, 'virtual port');
  return { proto, vip, port, fwmark: 0, key: serviceKeyOf(proto, vip, port) };
}

/** A `service` argument: a ServiceKey, nothing else (a misspelt "fwmark" would name another service). */
function serviceArg(k: unknown): SvcRef {
  if (isObject(k)) onlyKeys(k, SERVICE_KEY_NAMES, 'service');
  return svcRef(k);
}

/** As IPVS, a VIP or real server must be a unicast host address (see claim.ts). */
function mustUnicast(ctx: VerbCtx, ip: number, what: string): void {
  const why = unicastProblem(ip, ctx.control.dp.addrs);
  if (why !== undefined) throw new UvsError('NOT_UNICAST', `${what} ${why}`);
}

type Role = 'vip' | 'rip' | 'lip';
const ROLE_NAMES: Record<Role, string> = { vip: 'a virtual address', rip: 'a real server', lip: 'a FULLNAT local address' };

/** The other roles of an address (notInOtherRole): made once, not per call. */
const NOT_VIP_LIP: readonly Role[] = ['vip', 'lip'];
const NOT_RIP_LIP: readonly Role[] = ['rip', 'lip'];
const NOT_VIP_RIP: readonly Role[] = ['vip', 'rip'];

/**
 * An address has one role in the table: a real server or a local address that is a VIP (or the
 * other way round) takes traffic nowhere, as would a LIP that is a real server. Refused with the
 * address, its other role and a service that holds it.
 */
function notInOtherRole(ctx: VerbCtx, ip: number, what: string, others: readonly Role[]): void {
  const m = ctx.model;
  const u = ip >>> 0;
  // Indexed, the map by a comparison: a `${role}s` key and an iterator per look were 4.1 MB of
  // the 61 MB a sliced batch of 10,000 x 4 allocated.
  for (let i = 0; i < others.length; i++) {
    const role = others[i]!;
    if (!(role === 'vip' ? m.vips : role === 'rip' ? m.rips : m.lips).has(u)) continue;
    // A marked address is a VIP of its mark rule; others are held by a service.
    const mark = role === 'vip' ? m.marks.find((k) => k.vip >>> 0 === u) : undefined;
    const svc = mark === undefined ? holderOf(m, role, u) : undefined;
    const where = mark !== undefined ? ` (mark ${mark.fwmark})` : svc !== undefined ? ` (${svcName(svc)})` : '';
    throw new UvsError('ADDRESS_CONFLICT', `${what} ${formatIp(u)} is ${ROLE_NAMES[role]}${where}`);
  }
}

/** A service that holds address u (uint32) in this role, if any. */
function holderOf(m: Model, role: Role, u: number): ServiceModel | undefined {
  for (const s of m.services.readValues()) {
    if (role === 'vip' ? s.vip >>> 0 === u : role === 'rip' ? s.dests.some((d) => d.addr >>> 0 === u) : s.laddrs.some((l) => l.addr >>> 0 === u)) return s;
  }
  return undefined;
}

function svcName(s: { proto: Proto; vip: number; port: number; fwmark: number }): string {
  return serviceText(modelServiceKey(s));
}

/** The scheduler's canonical name, or BAD_SCHEDULER. */
function schedOf(v: unknown): string {
  const s = typeof v === 'string' ? getScheduler(v) : undefined;
  if (s === undefined) throw new UvsError('BAD_SCHEDULER', typeof v === 'string' ? v : valueText(v));
  return s.name;
}

/** A persistence engine's name ('' = none), or BAD_SCHEDULER (libipvs's ENOENT for both). */
function peOf(v: unknown): PeName {
  if (typeof v === 'string' && (PE_NAMES as readonly string[]).includes(v)) return v as PeName;
  throw new UvsError('BAD_SCHEDULER', `persistence engine ${typeof v === 'string' ? v : valueText(v)}`);
}

/** -b flag names → SF_* bits; sh-* only with sh, mh-* only with mh (as ipvsadm's parse_sched_flags). */
function schedFlagsOf(v: unknown, sched: string): number {
  if (v === undefined) return 0;
  if (!Array.isArray(v)) throw new UvsError('BAD_REQUEST', `flags must be a list of names, got ${valueText(v)}`);
  let bits = 0;
  for (const f of v) {
    const bit = typeof f === 'string' && Object.prototype.hasOwnProperty.call(SCHED_FLAG_NAMES, f) ? SCHED_FLAG_NAMES[f] : undefined;
    if (bit === undefined) throw new UvsError('BAD_SCHED_FLAG', JSON.stringify(f));
    if (!(f as string).startsWith(`${sched}-`)) throw new UvsError('INCOMPATIBLE_SCHED_FLAG', `${f} with scheduler ${sched}`);
    bits |= bit;
  }
  return bits;
}

const SCHED_FLAG_ENTRIES = Object.entries(SCHED_FLAG_NAMES);

export function schedFlagNames(bits: number): string[] {
  const out: string[] = [];
  if (bits === 0) return out;
  for (const [name, bit] of SCHED_FLAG_ENTRIES) if ((bits & bit) !== 0) out.push(name);
  return out;
}

function fwdOf(v: unknown): Fwd {
  const id = typeof v === 'string' && Object.prototype.hasOwnProperty.call(FWD_IDS, v) ? FWD_IDS[v] : undefined;
  if (id === undefined) throw new UvsError('BAD_FWD', valueText(v));
  if (FORWARDERS[id] === undefined) throw new UvsError('FWD_UNSUPPORTED', String(v));
  return v as Fwd;
}

function mustService(m: Model, r: SvcRef, code: 'NO_SERVICE' | 'SERVICE_NOT_FOUND'): ServiceModel {
  const s = m.services.get(r.key);
  if (s === undefined) throw new UvsError(code, svcName(r));
  return s;
}

/** A request's real server port: none or 0 is the service's (destPort). */
function destPortOf(a: { port?: unknown }, s: ServiceModel): number {
  return destPort(a.port === undefined ? undefined : portOf(a.port, 'real server port'), s.port);
}

/** The index in s.dests of the server addr:port (addr as the model holds it: parseIp's), or -1. */
export function findDest(s: ServiceModel, addr: number, port: number): number {
  return s.dests.findIndex((d) => d.addr === addr && d.port === port);
}

/** A server's encapsulation, with `old`'s for what the spec leaves out (a TUN server keeps its own). */
interface Tun {
  tunType: TunType;
  tunPort: number;
  tunCsum: TunCsum;
}
const IPIP: Tun = { tunType: 'ipip', tunPort: 0, tunCsum: 'nocsum' };

/**
 * The tunnel options of a spec for a server of method `fwd` (ipvsadm's tunnel_opt_check): none but
 * for TUN; ipip takes none; GUE needs its port and takes one checksum option; GRE takes nocsum or
 * csum. `old`: the server's current options (-e keeps what it leaves out).
 */
function tunOf(a: TunOptions, fwd: Fwd, old: Tun | undefined): Tun {
  const given = a.tunType !== undefined || a.tunPort !== undefined || a.tunCsum !== undefined;
  if (fwd !== 'tun') {
    if (given) throw new UvsError('BAD_TUNNEL', `tunnel options for a ${fwd} server (only -i servers are tunnelled)`);
    return IPIP;
  }
  const base = old ?? IPIP;
  const t = a.tunType === undefined ? base.tunType : TUN_TYPES.find((x) => x === a.tunType);
  if (t === undefined) throw new UvsError('BAD_TUNNEL', `tunnel type ${JSON.stringify(a.tunType)} (ipip, gue or gre)`);
  const c = a.tunCsum === undefined ? (t === base.tunType ? base.tunCsum : 'nocsum') : TUN_CSUMS.find((x) => x === a.tunCsum);
  if (c === undefined) throw new UvsError('BAD_TUNNEL', `tunnel checksum ${JSON.stringify(a.tunCsum)} (nocsum, csum or remcsum)`);
  // 0: none (a config file's TUN server without tun-port).
  const p = a.tunPort === undefined ? (t === 'gue' && base.tunType === 'gue' ? base.tunPort : 0) : a.tunPort === 0 ? 0 : intOf(a.tunPort, 'BAD_TUNNEL', 'tunnel port', 1, 65535);
  if (t === 'gue' && p === 0) throw new UvsError('BAD_TUNNEL', 'a gue tunnel needs its UDP port (--tun-port)');
  if (t !== 'gue' && p !== 0) throw new UvsError('BAD_TUNNEL', `tunnel port ${p} with the ${t} tunnel type (only gue has one)`);
  if (t === 'ipip' && c !== 'nocsum') throw new UvsError('BAD_TUNNEL', `--tun-${c} with the ipip tunnel type (it has no checksum)`);
  if (t === 'gre' && c === 'remcsum') throw new UvsError('BAD_TUNNEL', '--tun-remcsum with the gre tunnel type (gue only)');
  return { tunType: t, tunPort: p, tunCsum: c };
}

/** DestTable.tun's packed form of a server's encapsulation (src/modes/tun.ts). */
function tunOp(t: Tun): number {
  return tunCode(TUN_TYPES.indexOf(t.tunType), TUN_CSUMS.indexOf(t.tunCsum), t.tunPort);
}

/** Checks that hold for any destination, whichever verb sets it. */
function checkDest(ctx: VerbCtx, s: ServiceModel, d: { addr: number; port: number; fwd: Fwd; upper: number; lower: number }): void {
  if (d.lower > d.upper) throw new UvsError('BAD_THRESHOLDS', `lower threshold ${d.lower} is above upper threshold ${d.upper}`);
  mustUnicast(ctx, d.addr, 'real server');
  notInOtherRole(ctx, d.addr, 'real server', NOT_VIP_LIP);
  // A mark service has no port of its own: DR and TUN leave the packet's port as it is (ipvsadm
  // does not check a -f service's server port either).
  if (takesServicePort(d.fwd, s.fwmark) && d.port !== s.port) {
    throw new UvsError('DR_PORT_MISMATCH', `${formatIp(d.addr)}:${d.port} for virtual port ${s.port}`);
  }
  if (s.synproxy && (d.fwd === 'dr' || d.fwd === 'tun')) {
    throw new UvsError('SYNPROXY_FWD', `${d.fwd} server ${formatIp(d.addr)}:${d.port} for SYN proxy service ${svcName(s)}`);
  }
  if (d.fwd === 'dr' && !ctx.control.dp.onLink(d.addr)) {
    throw new UvsError('NOT_ON_LINK', `${formatIp(d.addr)} is outside every --addr network`);
  }
  // NAT, FULLNAT and TUN reach off-link servers through --gateway; without one they never could.
  if (d.fwd !== 'dr' && !ctx.control.dp.onLink(d.addr) && ctx.control.dp.link.gateway === 0) {
    throw new UvsError('NO_ROUTE', `${formatIp(d.addr)} is outside every --addr network and uvsd has no --gateway`);
  }
}

const PROTO_NUM: Record<Proto, number> = { tcp: PROTO_TCP, udp: PROTO_UDP, sctp: PROTO_SCTP };
/** -Lc's protocol of an entry: a mark service's templates are IPPROTO_IP (the kernel's "IP"). */
function connProto(proto: number): ConnInfo['proto'] {
  return proto === PROTO_FWM ? 'ip' : l4Name(proto);
}

function serviceOps(s: ServiceModel, op: 'addService' | 'editService'): DpOp {
  const pe = PE_NAMES.indexOf(s.pe);
  if (op === 'editService') return { op, id: s.id, sched: s.sched, schedFlags: s.schedFlags, persist: s.persist, netmask: s.netmask, oneShot: s.oneShot, pe, synproxy: s.synproxy };
  // The datapath keys a mark service by its mark in place of the VIP (pipeline.ts PROTO_FWM).
  // Every field named, no spread of a common part: a spread's fields past the literal's own went
  // into a second object (a PropertyArray) per operation, alive until the batch's apply.
  const mark = s.fwmark !== 0;
  return {
    op, id: s.id, sched: s.sched, schedFlags: s.schedFlags, persist: s.persist, netmask: s.netmask, oneShot: s.oneShot, pe, synproxy: s.synproxy,
    proto: mark ? PROTO_FWM : PROTO_NUM[s.proto], vip: mark ? s.fwmark | 0 : s.vip, port: mark ? 0 : s.port,
  };
}

/** The service options of a spec, defaulted from `base` (edit) or ipvsadm's defaults (add). */
function serviceOptions(spec: Record<string, unknown>, r: SvcRef, base: ServiceModel | undefined) {
  const sched = spec.sched === undefined ? (base?.sched ?? DEFAULT_SCHED) : schedOf(spec.sched);
  const schedFlags = spec.flags === undefined ? (base !== undefined && base.sched === sched ? base.schedFlags : 0) : schedFlagsOf(spec.flags, sched);
  const persist = spec.persist === undefined ? (base?.persist ?? 0) : intOf(spec.persist, 'BAD_TIMEOUT', 'persistence timeout', 0, MAX_TIMEOUT);
  const netmask = spec.netmask === undefined ? (base?.netmask ?? ALL_ONES) : ipOf(spec.netmask, 'netmask');
  const oneShot = spec.oneShot === undefined ? (base?.oneShot ?? false) : boolOf(spec.oneShot, 'oneShot');
  if (r.port === 0 && persist === 0 && r.fwmark === 0) throw new UvsError('ZERO_PORT', svcName(r));
  // A mark service may be -o (ipvsadm allows it): its UDP flows are scheduled per datagram.
  if (oneShot && r.proto !== 'udp' && r.fwmark === 0) throw new UvsError('OPS_NOT_UDP', svcName(r));
  const pe = spec.pe === undefined ? (base?.pe ?? '') : peOf(spec.pe);
  // uvs refuses what the kernel takes and then does nothing with (no -p) or drops every packet of (TCP).
  if (pe !== '' && persist === 0) throw new UvsError('PE_NOT_PERSISTENT', `${svcName(r)} --pe ${pe}`);
  if (pe !== '' && r.proto !== 'udp' && r.fwmark === 0) throw new UvsError('PE_NOT_UDP', `${svcName(r)} --pe ${pe}`);
  const synproxy = spec.synproxy === undefined ? (base?.synproxy ?? false) : boolOf(spec.synproxy, 'synproxy');
  if (synproxy && (r.proto !== 'tcp' || r.fwmark !== 0)) throw new UvsError('SYNPROXY_NOT_TCP', svcName(r));
  // Refused per real server: a SYN proxy service may hold only NAT and FULLNAT servers.
  const direct = synproxy ? base?.dests.find((d) => d.fwd === 'dr' || d.fwd === 'tun') : undefined;
  if (direct !== undefined) throw new UvsError('SYNPROXY_FWD', `${svcName(r)} has ${direct.fwd} server ${formatIp(direct.addr)}:${direct.port}`);
  return { sched, schedFlags, persist, netmask, oneShot, pe, synproxy };
}

// ---- reading -------------------------------------------------------------------------------

function destInfo(ctx: VerbCtx, d: DestModel): DestInfo {
  const dt = ctx.control.dp.dt;
  const k = d.slot;
  return {
    addr: formatIp(d.addr), port: d.port, fwd: d.fwd, weight: d.weight,
    active: dt.active[k], inactive: dt.inactive[k], upper: d.upper, lower: d.lower, persistConns: dt.persist[k],
    ...(d.fwd === 'tun' ? { tunType: d.tunType, tunPort: d.tunPort, tunCsum: d.tunCsum } : {}),
    stats: { conns: dt.conns[k], inpkts: dt.inPkts[k], outpkts: dt.outPkts[k], inbytes: dt.inBytes[k], outbytes: dt.outBytes[k] },
    rate: ctx.control.destRates.read(k),
  };
}

function serviceInfo(ctx: VerbCtx, s: ServiceModel): ServiceInfo {
  const dests = s.dests.map((d) => destInfo(ctx, d));
  // The service's own statistics (IPVS svc->stats): they do not go down when a server is deleted.
  const stats = serviceStatsOf(ctx.control.dp, s.id);
  return {
    ...modelServiceKey(s), sched: s.sched, flags: schedFlagNames(s.schedFlags),
    persist: s.persist, netmask: formatIp(s.netmask), oneShot: s.oneShot, ...(s.pe !== '' ? { pe: s.pe } : {}), synproxy: s.synproxy,
    laddrs: s.laddrs.map((l) => formatIp(l.addr)),
    laddrRanges: s.laddrs.map((l) => ({ addr: formatIp(l.addr), portMin: l.portMin, portMax: l.portMax })),
    stats, rate: ctx.control.svcRates.read(s.id), dests,
  };
}

/** What a reload's plan reads of a server (config.ts planSteps): its settings, not its counters or rates. */
export type PlanDest = Pick<DestInfo, 'addr' | 'port' | 'fwd' | 'weight' | 'upper' | 'lower' | 'tunType' | 'tunPort' | 'tunCsum'>;
/** What a reload's plan reads of a service: the list's ServiceInfo without its statistics and rates. */
export type PlanService = Omit<ServiceInfo, 'stats' | 'rate' | 'dests' | 'laddrs' | 'laddrRanges'> &
  { laddrs: readonly string[]; laddrRanges?: readonly LaddrRange[]; dests: readonly PlanDest[] };
/** The table as a reload plans against it (a ListResult is one too). */
export interface PlanTable { services: readonly PlanService[]; marks?: MarkInfo[] }

const NO_LADDRS: readonly never[] = Object.freeze([]);

function planDestOf(d: DestModel): PlanDest {
  const o: PlanDest = { addr: formatIp(d.addr), port: d.port, fwd: d.fwd, weight: d.weight, upper: d.upper, lower: d.lower };
  if (d.fwd === 'tun') {
    o.tunType = d.tunType;
    o.tunPort = d.tunPort;
    o.tunCsum = d.tunCsum;
  }
  return o;
}

/** The netmask most services have, as a string made once. */
const HOST_MASK = formatIp(ALL_ONES);

function planServiceOf(s: ServiceModel): PlanService {
  // Fields set one by one (no spread of the key, no `...(pe ? {pe} : {})`: each made objects of their own).
  const o: PlanService = {
    proto: s.proto, addr: formatIp(s.vip), port: s.port, sched: s.sched, flags: schedFlagNames(s.schedFlags),
    persist: s.persist, netmask: s.netmask === ALL_ONES ? HOST_MASK : formatIp(s.netmask), oneShot: s.oneShot, synproxy: s.synproxy,
    laddrs: NO_LADDRS, laddrRanges: NO_LADDRS, dests: s.dests.map(planDestOf),
  };
  if (s.fwmark !== 0) o.fwmark = s.fwmark;
  if (s.pe !== '') o.pe = s.pe;
  if (s.laddrs.length > 0) {
    o.laddrs = s.laddrs.map((l) => formatIp(l.addr));
    o.laddrRanges = s.laddrs.map((l) => ({ addr: formatIp(l.addr), portMin: l.portMin, portMax: l.portMax }));
  }
  return o;
}

/**
 * The table as a reload plans against it, a few services at a time as a list's parts are made (eachServiceSteps): the settings of
 * each service and server, without the list's statistics and rates (a third of what a
 * replace-all reload of 10,000 x 4 allocated: each collection of it held a slice 2-30 ms).
 */
export function* planTableSteps(ctx: VerbCtx): Steps<PlanTable> {
  const services: PlanService[] = [];
  yield* eachServiceSteps(ctx, (s) => services.push(planServiceOf(s)), PLAN_SLICE_CHECK);
  return { services, marks: marksInfo(ctx.model) };
}

/**
 * `list` of a large table from the control socket: its services made a part at a time while the
 * reply is written (streamed(): server.ts stringifySliced writes a part, asks the slice's clock,
 * then asks for the next), so uvsd holds a part, not the list. Built whole before its first byte
 * went (until 2026-12-06), the 10,000 ServiceInfo of 10,000 services x 4 lived until the list was
 * written: every young collection of the listing copied them (1-2 ms of CPU in a step of 0.15),
 * and 1-7 slices a listing passed 2 ms. Services deleted meanwhile are left out, ones added
 * meanwhile may be (a netlink dump of the kernel's table is not atomic either); each is looked up
 * afresh, as a batch may replace the model.
 */
async function* listParts(ctx: VerbCtx): AsyncGenerator<ServiceInfo[], void, void> {
  let part: ServiceInfo[] = [];
  for (const _ of eachServiceSteps(ctx, (s) => part.push(serviceInfo(ctx, s)), LIST_PART, false)) {
    yield part;
    part = [];
  }
  if (part.length > 0) yield part;
}

/** Keys of services taken between two yields (eachServiceSteps, Control.perServiceRun). */
export const KEYS_STEP = 1024;

/**
 * `each` of every service in the listing order, yielding every `check` services (listParts,
 * planTableSteps). The keys a part at a time too: their order is a list linked through the
 * services (shards.ts), ~1 ms to walk at 10,000 in one piece; the walk goes on past services
 * deleted meanwhile. `live`: each is looked up afresh in the model of now (a reload's plan: a
 * batch may replace the model, and the reload validates again); else in the model the verb began
 * with (a listing): a sliced batch or reload committed meanwhile puts a model of its own in place
 * and leaves that one as it was, so `-S` and `-Ln` show one table, not the first services of one
 * and the rest of the next (until 2026-12-07: 3 of 19 `-S` taken during `-R`s were neither).
 */
function* eachServiceSteps(ctx: VerbCtx, each: (s: ServiceModel) => void, check: number, live = true): Steps<void> {
  const keys: string[] = [];
  const at = ctx.model;
  for (const k of at.services.keys()) if (keys.push(k) % KEYS_STEP === 0) yield;
  for (let i = 0; i < keys.length; i++) {
    const s = (live ? ctx.control.model : at).services.get(keys[i]!);
    if (s !== undefined) each(s);
    if ((i + 1) % check === 0) yield;
  }
}

function marksInfo(m: Model): MarkInfo[] {
  return m.marks.map((k) => ({ fwmark: k.fwmark, proto: k.proto, addr: formatIp(k.vip), portMin: k.portMin, portMax: k.portMax }));
}

/** A mark rule of a request: ports default to every port (0..65535). */
function markOf(a: unknown): MarkModel {
  if (!isObject(a)) throw new UvsError('BAD_REQUEST', 'a mark must be an object {fwmark, proto, addr, portMin?, portMax?}');
  const fwmark = intOf(a.fwmark, 'BAD_FWMARK', 'firewall mark', 1, MAX_FWMARK);
  const proto = protoOf(a.proto);
  const vip = ipOf(a.addr, 'marked address');
  const portMin = a.portMin === undefined ? 0 : portOf(a.portMin, 'portMin');
  const portMax = a.portMax === undefined ? (a.portMin === undefined ? 65535 : portMin) : portOf(a.portMax, 'portMax');
  if (portMin > portMax) throw new UvsError('BAD_PORT', `port range ${portMin}-${portMax}`);
  return { fwmark, proto, vip, portMin, portMax };
}

/** The same rule: mark, protocol, address and ports. */
function sameMark(x: MarkModel, k: MarkModel): boolean {
  return x.fwmark === k.fwmark && x.proto === k.proto && x.vip === k.vip && x.portMin === k.portMin && x.portMax === k.portMax;
}

function markName(k: MarkModel): string {
  return markText({ ...k, addr: formatIp(k.vip) });
}

// ---- the registry --------------------------------------------------------------------------

/**
 * At most this many bytes of JSON of a batch's items in its audit line (`changes`): the line
 * stays under journald's LineMax (48K by default) with the rest of its fields; ~100-200 items of
 * uvsadm -R, so a hand-made restore is logged whole and a large one its first items and a count.
 */
export const BATCH_LOG_BYTES = 16 * 1024;

/**
 * What uvsd logs of a request that changed the table (an audit line per request; nothing for
 * reads, dry runs, refusals or `reload`, which logs its own): the verb and its arguments; a
 * batch's size by verb and its items in order ({verb, args} each, as single requests' lines have
 * them) up to BATCH_LOG_BYTES of them, `changesNotLogged` counting the rest (until 2026-12-07 the
 * counts alone: `uvsadm -R` of `-e ... -w 0` did not say which server). Undefined: not a change.
 */
export function changeRecord(verb: string, args: unknown): Record<string, unknown> | undefined {
  return runSteps(changeRecordSteps(verb, args));
}

/** changeRecord as steps: a batch's items WALK_STEP at a time (claim.ts; 20,000 of them were 3.3-3.4 ms of CPU in one piece: dispatch.ts). */
export function* changeRecordSteps(verb: string, args: unknown): Steps<Record<string, unknown> | undefined> {
  const a = (args ?? {}) as Record<string, unknown>;
  if (verb === 'batch') {
    if (a.dryRun === true || !Array.isArray(a.items)) return undefined;
    const items = a.items as unknown[];
    const verbs: Record<string, number> = {};
    const changes: unknown[] = [];
    let bytes = 2; // the array's brackets
    for (let i = 0; i < items.length; i++) {
      // Not an object: the batch refuses the item (BAD_REQUEST), nothing is logged.
      const it = items[i];
      if (isObject(it)) {
        const v = it.verb as string;
        verbs[v] = (verbs[v] ?? 0) + 1;
        if (bytes <= BATCH_LOG_BYTES && changes.length === i) {
          const entry = { verb: v, args: it.args };
          bytes += Buffer.byteLength(JSON.stringify(entry) ?? '') + 1;
          if (bytes <= BATCH_LOG_BYTES) changes.push(entry);
        }
      }
      if ((i + 1) % WALK_STEP === 0) yield;
    }
    return { verb, items: items.length, verbs, changes, ...(changes.length < items.length ? { changesNotLogged: items.length - changes.length } : {}) };
  }
  const v = (VERBS as Record<string, { mutates: boolean }>)[verb];
  return v?.mutates === true ? { verb, args: a } : undefined;
}

/** Whether a verb may change the table (a change verb, a batch, a reload): the control socket runs these in arrival order. */
export function changesTable(verb: string): boolean {
  return verb === 'batch' || verb === 'reload' || (VERBS as Record<string, { mutates: boolean } | undefined>)[verb]?.mutates === true;
}

/** The reload verb's reply: every change (the ignored settings last), the ignored alone, the files' warnings. */
type ReloadReply = { changes: string[]; ignored: string[]; warnings: string[] };

export const VERBS = {
  addService: verb<ServiceSpec, null>(true, SERVICE_SPEC, (ctx, a) => {
    const m = ctx.model;
    const r = svcRef(a);
    // The kernel looks for the service before the scheduler (EEXIST before ENOENT).
    if (m.services.has(r.key)) throw new UvsError('SERVICE_EXISTS', svcName(r));
    // A mark service has no address: its marks' addresses are checked by addMark.
    if (r.fwmark === 0) {
      mustUnicast(ctx, r.vip, 'virtual address');
      notInOtherRole(ctx, r.vip, 'virtual address', NOT_RIP_LIP);
    }
    const o = serviceOptions(a, r, undefined);
    if (ctx.back !== undefined && m.idTrash.has(r.key)) ctx.back.set(m.idTrash.get(r.key)!, true);
    // Every field named (no spread of o): a spread put the fields past the literal's own in a
    // second object (a PropertyArray) per service; a 10,000-service batch's copy of the model
    // holds them through every scavenge of the batch (docs/performance.md).
    const s: ServiceModel = {
      id: m.takeId(r.key), proto: r.proto, vip: r.vip, port: r.port, fwmark: r.fwmark, sched: o.sched, schedFlags: o.schedFlags, persist: o.persist,
      netmask: o.netmask, oneShot: o.oneShot, pe: o.pe, synproxy: o.synproxy, dests: [], laddrs: [], gen: newGen(),
    };
    m.services.set(r.key, s);
    if (r.fwmark === 0) addRef(m.vips, r.vip, 1);
    ctx.control.restartRates(undefined, s.id);
    ctx.ops.push(serviceOps(s, 'addService'));
    return null;
  }),

  /** Fields left out are kept; uvsadm -E sends all of them, as ipvsadm -E replaces them all. */
  editService: verb<ServiceSpec, null>(true, SERVICE_SPEC, (ctx, a) => {
    const r = svcRef(a);
    const s = mustService(ctx.model, r, 'NO_SERVICE');
    const o = serviceOptions(a, r, s);
    Object.assign(s, o, { gen: newGen() });
    ctx.ops.push(serviceOps(s, 'editService'));
    return null;
  }),

  deleteService: verb<ServiceKey, null>(true, SERVICE_KEY, (ctx, a) => {
    const m = ctx.model;
    const s = mustService(m, svcRef(a), 'NO_SERVICE');
    removeService(ctx, s);
    return null;
  }),

  clear: verb<Record<string, never>, null>(true, NO_ARGS, (ctx) => {
    const { all, cleared } = clearServiceMaps(ctx.model);
    for (const s of all) removeService(ctx, s, cleared);
    return null;
  }),

  addDest: verb<DestSpec, null>(true, DEST_SPEC, (ctx, a) => {
    const s = mustService(ctx.model, serviceArg(a.service), 'SERVICE_NOT_FOUND');
    const addr = ipOf(a.addr, 'real server address');
    const port = destPortOf(a, s);
    const fwd = fwdOf(a.fwd ?? 'dr');
    const weight = a.weight === undefined ? DEFAULT_WEIGHT : intOf(a.weight, 'BAD_WEIGHT', 'weight', 0, MAX_WEIGHT);
    const upper = a.upper === undefined ? 0 : intOf(a.upper, 'BAD_REQUEST', 'upper threshold', 0, MAX_THRESHOLD);
    const lower = a.lower === undefined ? 0 : intOf(a.lower, 'BAD_REQUEST', 'lower threshold', 0, MAX_THRESHOLD);
    const tun = tunOf(a, fwd, undefined);
    // The server as the model keeps it, made once (its slot set below): no spread into a copy.
    const d: DestModel = { slot: -1, addr, port, fwd, weight, upper, lower, tunType: tun.tunType, tunPort: tun.tunPort, tunCsum: tun.tunCsum };
    checkDest(ctx, s, d);
    if (findDest(s, addr, port) >= 0) {
      // A server a reload removed and is draining (weight 0 until --drain-timeout, then deleted):
      // -a takes it back as -e would, with these values (a weight set since, the drain's end keeps
      // it), as ipvsadm -a adds back a server keepalived's reload deleted at once. Until
      // 2026-12-07: "Destination already exists", and the drain then deleted it.
      const cm = ctx.control.config;
      const key = { proto: s.proto, addr: formatIp(s.vip), port: s.port, ...(s.fwmark !== 0 ? { fwmark: s.fwmark } : {}) };
      if (cm !== undefined && cm.isDraining(key, formatIp(addr), port)) return editDestIn(ctx, { fwd: 'dr', weight: DEFAULT_WEIGHT, upper: 0, lower: 0, ...a });
      throw new UvsError('DEST_EXISTS', `${formatIp(addr)}:${port}`);
    }
    const taken = ctx.model.takeSlot(s, addr, port);
    if (taken === undefined) throw new UvsError('TOO_MANY', `destination table full (${ctx.control.dp.dt.max}, uvsd --dest-max)`);
    const { slot, revive } = taken;
    d.slot = slot;
    // A service's first server in a list of one: push into the empty list made room for 17.
    if (s.dests.length === 0) s.dests = [d];
    else s.dests.push(d);
    s.gen = newGen();
    addRef(ctx.model.rips, addr, 1);
    ctx.control.restartRates(slot, undefined);
    const op: DpOp & { op: 'addDest' } = { op: 'addDest', svc: s.id, dest: slot, addr, port, fwd: FWD_IDS[fwd], weight, upper, lower, tun: tunOp(d) };
    if (revive) op.revive = revive;
    ctx.ops.push(op);
    return null;
  }),

  editDest: verb<DestSpec, null>(true, DEST_SPEC, editDestIn),

  deleteDest: verb<DestKey, null>(true, DEST_KEY, (ctx, a) => {
    const s = mustService(ctx.model, serviceArg(a.service), 'SERVICE_NOT_FOUND');
    const addr = ipOf(a.addr, 'real server address');
    const port = destPortOf(a, s);
    const i = findDest(s, addr, port);
    if (i < 0) throw new UvsError('DEST_NOT_FOUND', `${formatIp(addr)}:${port}`);
    const [d] = s.dests.splice(i, 1);
    s.gen = newGen();
    addRef(ctx.model.rips, d!.addr, -1);
    // Like IPVS with expire_nodest_conn=1: the server's connections go with it (lazily, see apply),
    // unless it is added back before their next packet (the trash, Model.takeSlot).
    ctx.ops.push({ op: 'delDest', svc: s.id, dest: d!.slot });
    ctx.model.trashSlot(s, d!);
    return null;
  }),

  /** ipvsadm --set tcp tcpfin udp (seconds; 0 leaves a value unchanged). */
  setTimeouts: verb<Timeouts, null>(true, { tcp: true, tcpfin: true, udp: true }, (ctx, a) => {
    const tcp = intOf(a.tcp, 'BAD_TIMEOUT', 'tcp timeout', 0, MAX_TIMEOUT);
    const tcpfin = intOf(a.tcpfin, 'BAD_TIMEOUT', 'tcpfin timeout', 0, MAX_TIMEOUT);
    const udp = intOf(a.udp, 'BAD_TIMEOUT', 'udp timeout', 0, MAX_TIMEOUT);
    const t = ctx.model.timeouts;
    if (tcp > 0) t.tcp = tcp;
    if (tcpfin > 0) t.tcpfin = tcpfin;
    if (udp > 0) t.udp = udp;
    ctx.ops.push({ op: 'setTimeouts', tcp, tcpfin, udp });
    return null;
  }),

  /** DPVS --add-laddr: a FULLNAT local address for a service, with its local port range. */
  addLaddr: verb<LaddrSpec, null>(true, LADDR_SPEC, (ctx, a) => {
    const s = mustService(ctx.model, serviceArg(a.service), 'SERVICE_NOT_FOUND');
    const ip = ipOf(a.addr);
    const portMin = a.portMin === undefined ? 1024 : portOf(a.portMin, 'portMin');
    const portMax = a.portMax === undefined ? 65535 : portOf(a.portMax, 'portMax');
    if (portMin === 0 || portMin > portMax) throw new UvsError('BAD_PORT', `local port range ${portMin}-${portMax}`);
    if (s.laddrs.some((l) => l.addr === ip)) throw new UvsError('LADDR_EXISTS', formatIp(ip));
    // uvsd answers ARP for a LIP and sends from it: as a VIP, it must be a unicast host address
    // that is not the director's own, and no VIP or real server of the table (see claim.ts).
    mustUnicast(ctx, ip, 'local address');
    notInOtherRole(ctx, ip, 'local address', NOT_VIP_RIP);
    s.laddrs.push({ addr: ip, portMin, portMax });
    s.gen = newGen();
    addRef(ctx.model.lips, ip, 1);
    ctx.ops.push({ op: 'addLaddr', svc: s.id, addr: ip, portMin, portMax });
    return null;
  }),

  /**
   * uvsadm --add-mark: new flows of proto to addr, ports portMin..portMax, get the mark (and its
   * -f service). addr is claimed as a VIP is; rules of one protocol and address must not overlap.
   * The same rule again changes nothing: -C keeps the marks (as ipvsadm -C keeps iptables rules),
   * so the --add-mark lines of -S must read back into that table.
   */
  addMark: verb<MarkSpec, null>(true, MARK_SPEC, (ctx, a) => {
    const k = markOf(a);
    const m = ctx.model;
    if (m.marks.some((x) => sameMark(x, k))) return null;
    mustUnicast(ctx, k.vip, 'marked address');
    notInOtherRole(ctx, k.vip, 'marked address', NOT_RIP_LIP);
    const o = m.marks.find((x) => x.proto === k.proto && x.vip === k.vip && x.portMin <= k.portMax && k.portMin <= x.portMax);
    if (o !== undefined) throw new UvsError('MARK_OVERLAP', `${markName(k)} overlaps ${markName(o)}`);
    m.marksToWrite().push(k);
    addRef(m.vips, k.vip, 1);
    ctx.ops.push({ op: 'addMark', proto: PROTO_NUM[k.proto], vip: k.vip | 0, portMin: k.portMin, portMax: k.portMax, mark: k.fwmark });
    return null;
  }),

  /** uvsadm --del-mark: the rule of exactly this mark, protocol, address and ports. */
  delMark: verb<MarkSpec, null>(true, MARK_SPEC, (ctx, a) => {
    const k = markOf(a);
    const m = ctx.model;
    const i = m.marks.findIndex((x) => sameMark(x, k));
    if (i < 0) throw new UvsError('MARK_NOT_FOUND', markName(k));
    m.marksToWrite().splice(i, 1);
    addRef(m.vips, k.vip, -1);
    ctx.ops.push({ op: 'delMark', proto: PROTO_NUM[k.proto], vip: k.vip | 0, portMin: k.portMin, portMax: k.portMax });
    return null;
  }),

  delLaddr: verb<LaddrSpec, null>(true, LADDR_SPEC, (ctx, a) => {
    const s = mustService(ctx.model, serviceArg(a.service), 'SERVICE_NOT_FOUND');
    const ip = ipOf(a.addr);
    const i = s.laddrs.findIndex((l) => l.addr === ip);
    if (i < 0) throw new UvsError('LADDR_NOT_FOUND', formatIp(ip));
    s.laddrs.splice(i, 1);
    s.gen = newGen();
    addRef(ctx.model.lips, ip, -1);
    ctx.ops.push({ op: 'delLaddr', svc: s.id, addr: ip });
    return null;
  }),

  /**
   * Validate every item against a copy of the model, then apply all of them (one dp.apply) or,
   * on the first refusal, nothing: the error carries the item's index. dryRun validates only.
   */
  batch: verb<{ items: BatchItem[]; dryRun?: boolean }, { applied: number }>(false, { items: true, dryRun: true }, (ctx, a) => {
    const { items, dryRun } = batchArgs(a);
    const copy = ctx.model.clone();
    const sub: VerbCtx = { control: ctx.control, model: copy, ops: [] };
    for (let i = 0; i < items.length; i++) runBatchItem(sub, items, i);
    if (!dryRun) ctx.control.commit(copy, sub.ops);
    return { applied: dryRun ? 0 : items.length };
  }),

  /**
   * The table (ipvsadm -L), or with `service` that one service alone (-L -t/-u/-f): looked up
   * and rendered by itself, none if it does not exist (uvsadm says "No such service"). Before,
   * uvsadm took the whole list and picked it (1.5-3.6 s at 10,000 services of 4 servers).
   */
  list: summed(verb<{ service?: ServiceKey }, ListResult>(false, { service: true }, (ctx, a) => {
    if (a.service !== undefined) {
      const s = ctx.model.services.get(serviceArg(a.service).key);
      return { size: ctx.control.dp.ct.buckets, services: s === undefined ? [] : [serviceInfo(ctx, s)], marks: marksInfo(ctx.model) };
    }
    if (ctx.pause !== undefined && ctx.model.services.size > LIST_SLICED_MIN) {
      return { size: ctx.control.dp.ct.buckets, services: streamed(listParts(ctx), ctx.pause), marks: marksInfo(ctx.model) };
    }
    const services: ServiceInfo[] = [];
    for (const s of ctx.model.services.values()) services.push(serviceInfo(ctx, s));
    return { size: ctx.control.dp.ct.buckets, services, marks: marksInfo(ctx.model) };
  }), (model, a) => (a.service === undefined ? 'all' : serviceSlots(model, a.service))),

  timeouts: verb<Record<string, never>, Timeouts>(false, NO_ARGS, (ctx) => ({ ...ctx.model.timeouts })),

  /**
   * ipvsadm -Lc: live connection entries, at most `max` (default 100,000) of them; with `cursor`
   * (0 the first) one page of them from there, and the next page's cursor.
   */
  listConns: verb<{ max?: number; cursor?: number }, ConnsResult | Promise<ConnsResult>>(false, { max: true, cursor: true }, (ctx, a) =>
    a.cursor === undefined ? connRows(ctx, a) : connPage(ctx, intOf(a.cursor, 'BAD_REQUEST', 'cursor', 0, Number.MAX_SAFE_INTEGER), maxOf(a))),

  /** FULLNAT local ports in use per LIP (with --workers, summed over the workers): --get-laddr, metrics. */
  laddrUsage: verb<Record<string, never>, LaddrStat[] | Promise<LaddrStat[]>>(false, NO_ARGS, (ctx) => {
    const workers = ctx.control.info.workers;
    return workers !== undefined ? workers.laddrs().then(laddrStats) : laddrStats(ctx.control.dp.laddrs.usage());
  }),

  /** uvsadm --neigh: the neighbour (ARP) table; with --workers every worker's, one row per address. */
  neighList: verb<Record<string, never>, NeighInfo[] | Promise<NeighInfo[]>>(false, NO_ARGS, (ctx) => {
    const dp = ctx.control.dp;
    const workers = ctx.control.info.workers;
    if (workers === undefined) return neighInfo([dp.neighRows()], dp.gateway, false);
    return workers.neigh().then((parts) => neighInfo(parts, dp.gateway, true));
  }),

  /** uvsadm --neigh-flush [ADDR]: free one neighbour entry, or all (in every worker); they are resolved again when next needed. */
  neighFlush: verb<{ addr?: string }, null>(true, { addr: true }, (ctx, a) => {
    ctx.ops.push(a.addr === undefined ? { op: 'neighFlush' } : { op: 'neighFlush', addr: ipOf(a.addr) });
    return null;
  }),

  /** The same rows as a plain list (the lab's and the modes tests' view). */
  connections: verb<{ max?: number }, ConnInfo[] | Promise<ConnInfo[]>>(false, { max: true }, (ctx, a) => {
    const r = connRows(ctx, a);
    return r instanceof Promise ? r.then((x) => x.conns) : r.conns;
  }),

  /** Re-read uvsd's --config file and apply the difference (dryRun: only say what would change). */
  // changes: every line (--dry-run prints them), the ignored settings last; ignored: those alone;
  // warnings: what reading the files warned about (uvsd logs them too).
  reload: verb<{ dryRun?: boolean }, ReloadReply | Promise<ReloadReply>>(false, { dryRun: true }, (ctx, a) => {
    const cm = ctx.control.config;
    if (cm === undefined) throw new UvsError('BAD_CONFIG', undefined, 'uvsd was started without --config or --keepalived-conf: nothing to reload');
    // From the socket (Control.callAsync) in slices: the file parsed off the loop, the difference
    // planned, validated and applied a few services at a time.
    // The report's changes themselves when nothing is ignored (no copy of every change in one piece).
    const reply = (r: ReloadReport) => ({ changes: r.ignored.length === 0 ? r.changes : [...r.changes, ...r.ignored], ignored: r.ignored, warnings: r.warnings });
    if (ctx.pause !== undefined) return cm.reloadSliced(dryRunOf(a), ctx.pause, undefined, ctx.peer).then(reply);
    return reply(cm.reloadReport(dryRunOf(a), undefined, ctx.peer));
  }),

  /**
   * The running state as a config file (YAML). From the control socket, a large table's text is
   * made in slices while the reply is written (streamedText: server.ts stringifySliced writes
   * each part of the dump's bytes as it is made): uvsd holds a part, not the text (made whole and
   * joined into one string, then the reply into another, until 2026-12-06).
   */
  dumpConfig: verb<Record<string, never>, { yaml: string }>(false, NO_ARGS, (ctx) => {
    const cm = ctx.control.config;
    if (cm === undefined) throw new UvsError('BAD_CONFIG', undefined, 'uvsd has no configuration manager');
    if (ctx.pause !== undefined && ctx.model.services.size > LIST_SLICED_MIN) return { yaml: streamedText(cm.dumpParts(ctx.pause), ctx.pause) };
    return { yaml: cm.dump() };
  }),

  /**
   * uvs extension (uvsadm --explain): which real server a new connection from `client` to the
   * service would get now, and why (persistence template, then the scheduler's explain()).
   * Read-only: creates no template and no connection, moves no scheduler.
   */
  explain: verb<ExplainArgs, ExplainResult | Promise<ExplainResult>>(false, { service: true, client: true, cport: true }, (ctx, a) => {
    const r = serviceArg(a.service);
    if (r.fwmark !== 0) {
      const s = mustService(ctx.model, r, 'NO_SERVICE');
      const m = ctx.model.marks.find((k) => k.fwmark === r.fwmark);
      const e = m === undefined ? '' : ` (e.g. ${m.proto === 'udp' ? '-u' : '-t'} ${formatIp(m.vip)}:${m.portMin === 0 ? 'PORT' : m.portMin}, marked ${r.fwmark})`;
      throw new UvsError('BAD_REQUEST', `explain of ${svcName(s)}: name the address and port a client connects to with -t or -u${e}: the schedulers may hash it`);
    }
    // The service a new connection to that address and port reaches, as the datapath finds it
    // (a mark's -f service first, then VIP:port, then for an FTP data port the VIP's persistent
    // port-21 service, then the VIP's port-zero service).
    const sid = ctx.control.dp.serviceFor(PROTO_NUM[r.proto], r.vip | 0, r.port);
    const s = sid < 0 ? undefined : [...ctx.model.services.values()].find((x) => x.id === sid);
    if (s === undefined) throw new UvsError('NO_SERVICE', svcName(r));
    const mark = s.fwmark;
    const client = ipOf(a.client, 'client address');
    const cport = a.cport === undefined ? 0 : portOf(a.cport, 'client port');
    const via = mark !== 0 ? `firewall mark ${mark} (${svcName(r)} is marked): `
      : s.port !== r.port ? `${svcName(s)} (${s.port === 0 ? 'all ports' : 'FTP data connections'}): ` : '';
    // The port the connection goes to, as newConn's rport: a server's port for the service's own
    // port (and every port of a -f service without -p); the client's port otherwise (a port-zero
    // service's, an FTP data connection's, a persistent -f service's, a server without a port).
    const mapped = r.port === s.port || (mark !== 0 && s.persist === 0);
    const result = (x: DpExplanation, prefix = ''): ExplainResult => {
      const d = x.dest < 0 ? undefined : s.dests.find((m) => m.slot === x.dest);
      return { dest: d === undefined ? null : { addr: formatIp(d.addr), port: mapped && d.port !== 0 ? d.port : r.port }, template: x.template, why: prefix + via + x.why };
    };
    const w = ctx.control.info.workers;
    if (w === undefined) return result(ctx.control.dp.explain(s.id, client, cport, r.vip | 0, r.port));
    // Workers: each schedules on its own; ask the one this client's frames reach.
    const dp = ctx.control.dp;
    const k = dp.clientWorker(client | 0, cport, r.vip, w.count);
    const by = dp.steerMasks().vips.has(r.vip | 0) ? 'its network' : `its port ${cport}${a.cport === undefined ? ' (none given)' : ''}`;
    const steering = w.steering() === 'ebpf' ? '' : ', if the kernel\'s automq picks as the program would';
    // One worker (uvsd --datapath-thread): no choice of worker to explain.
    return w.explain(k, s.id, client, cport, r.vip | 0, r.port).then((x) => result(x, w.count === 1 ? '' : `worker ${k} of ${w.count} (the client by ${by}${steering}): `));
  }),

  // ---- statistics and tracing (docs/metrics.md) ----------------------------------------------

  /** ipvsadm -Z: zero the statistics of one service, or of all without `service`. */
  zero: verb<ZeroArgs, null>(true, { service: true }, (ctx, a) => {
    if (a.service !== undefined) {
      zeroService(ctx, mustService(ctx.model, serviceArg(a.service), 'NO_SERVICE'));
      return null;
    }
    ctx.ops.push({ op: 'zero', svc: -1 });
    // The slowest-verb record is a statistic too: -Z starts it again.
    ctx.control.resetSlowest();
    for (const s of ctx.model.services.readValues()) restartServiceRates(ctx, s);
    return null;
  }),

  /** uvsadm trace: record new-connection decisions (of one service when given) until traceStop. */
  traceStart: verb<TraceStartArgs, TraceStartResult>(false, { service: true }, (ctx, a) => {
    const svc = a.service === undefined ? -1 : mustService(ctx.model, serviceArg(a.service), 'NO_SERVICE').id;
    return ctx.control.traces.start(svc);
  }),
  tracePoll: verb<TraceSessionArgs, TracePollResult>(false, { session: true }, (ctx, a) => ctx.control.traces.poll(a.session)),
  traceStop: verb<TraceSessionArgs, null>(false, { session: true }, (ctx, a) => ctx.control.traces.stop(a.session)),

  // ---- high availability (docs/ha.md) ----------------------------------------------------------

  /** uvsadm --role master|backup: take the VIPs over (gratuitous ARP for all at once) or let them go. */
  setRole: verb<RoleArgs, null>(false, { role: true, group: true }, (ctx, a) => {
    if (a.role !== 'master' && a.role !== 'backup') throw new UvsError('BAD_REQUEST', `role must be master or backup, got ${JSON.stringify(a.role)}`);
    if (a.group === undefined) {
      ctx.ops.push({ op: 'setRole', master: a.role === 'master' });
      return null;
    }
    const names = ctx.control.dp.link.groupNames;
    const group = typeof a.group === 'string' ? names.indexOf(a.group) : -1;
    if (group < 0) {
      throw new UvsError('NO_HA_GROUP', `${JSON.stringify(a.group)} (uvsd --ha-group: ${names.slice(1).join(', ') || 'none'}; "${DEFAULT_HA_GROUP}": the addresses of no group)`);
    }
    ctx.ops.push({ op: 'setRole', master: a.role === 'master', group });
    return null;
  }),

  /** ipvsadm --start-daemon master|backup [--syncid N] [--mcast-interface IF] (uvs: --sync-peer, --sync-key-file). */
  startDaemon: verb<DaemonSpec, Promise<null>>(false, {
    state: true, syncid: true, mcastInterface: true, syncPeer: true, keyFile: true, maxlen: true, group: true, port: true, ttl: true,
  }, (ctx, a) => {
    const state = a.state;
    if (state !== 'master' && state !== 'backup') throw new UvsError('BAD_SYNC', `state must be master or backup, got ${JSON.stringify(state)}`);
    const cfg = syncConfigOf(a);
    const sync = ctx.control.sync;
    if (sync.running(state)) throw new UvsError('SYNC_RUNNING', state);
    return sync.start(state, cfg).then(() => {
      ctx.control.onChange?.(); // the state file keeps the running daemons (daemon.sync)
      return null;
    }, (e: Error) => {
      throw new UvsError('BAD_SYNC', e.message);
    });
  }),

  /** ipvsadm --stop-daemon master|backup. */
  stopDaemon: verb<{ state: 'master' | 'backup' }, null>(false, { state: true }, (ctx, a) => {
    if (a.state !== 'master' && a.state !== 'backup') throw new UvsError('BAD_SYNC', `state must be master or backup, got ${JSON.stringify(a.state)}`);
    if (!ctx.control.sync.stop(a.state)) throw new UvsError('SYNC_NOT_RUNNING', a.state);
    ctx.control.onChange?.();
    return null;
  }),

  /** uvsadm -L --daemon. */
  daemon: verb<Record<string, never>, DaemonResult>(false, NO_ARGS, (ctx) => ({
    ...roleStatus(ctx.control.dp),
    daemons: ctx.control.sync.info(),
    stats: { ...ctx.control.sync.stats },
  })),

  /**
   * uvsadm --drain / --undrain: the whole director withdraws its routes (uvsd --bgp-include) and
   * keeps forwarding the connections it has until they end or the timeout passes; --undrain
   * announces again. Not a table change: never batched, never saved.
   */
  drain: summed(verb<DrainArgs, DrainStatus>(false, { on: true, timeout: true }, (ctx, a) => {
    if (typeof a.on !== 'boolean') throw new UvsError('BAD_REQUEST', '"on" must be true or false');
    let timeoutS = ctx.control.drainTimeoutS;
    const t: unknown = a.timeout;
    if (t !== undefined) {
      if (typeof t !== 'number' || !Number.isInteger(t) || t < 0 || t > 86400) {
        throw new UvsError('BAD_REQUEST', `drain timeout must be an integer 0..86400 seconds, got ${JSON.stringify(t)}`);
      }
      timeoutS = t;
    }
    if (a.on && !ctx.control.routed) {
      throw new UvsError('BAD_REQUEST', 'uvsd runs without --bgp-include: it announces no route, so a drain would withdraw nothing (its VIPs are answered by ARP)');
    }
    const c = ctx.control;
    const was = c.drain;
    c.drain = a.on ? { since: was?.since ?? performance.now(), timeoutS } : undefined;
    if ((was === undefined) !== (c.drain === undefined)) c.onChange?.();
    return drainStatus(ctx);
  }), () => 'head'),

  status: summed(verb<Record<string, never>, StatusResult>(false, NO_ARGS, (ctx) => {
    const dp = ctx.control.dp;
    const fifo = ctx.control.info.vrrpFifo?.();
    return {
      drain: drainStatus(ctx),
      mac: formatMac(dp.mac),
      ...roleStatus(dp),
      tap: ctx.control.info.tap,
      io: ctx.control.info.io ?? 'none',
      offload: ctx.control.info.offload ?? 'off',
      ...(ctx.control.info.txqueuelen === undefined ? {} : { txqueuelen: ctx.control.info.txqueuelen }),
      ...(ctx.control.info.link !== undefined ? { link: ctx.control.info.link() } : {}),
      ...(fifo !== undefined ? { vrrpFifo: fifo } : {}),
      ...(ctx.control.info.stateFile !== undefined ? { stateFile: ctx.control.info.stateFile() } : {}),
      ...(ctx.control.info.logOutput !== undefined ? { logOutput: ctx.control.info.logOutput() } : {}),
      ...(ctx.control.info.controlSocket !== undefined ? { controlSocket: ctx.control.info.controlSocket() } : {}),
      ...portDropsOf(ctx),
      addrs: dp.addrs.map(formatAddr),
      gateway: dp.gateway === 0 ? 'none' : formatIp(dp.gateway),
      ...(dp.link.unclaimed.size > 0 ? { unclaimed: [...dp.link.unclaimed].map(([ip, by]) => ({ addr: formatIp(ip), by })) } : {}),
      ...(ctx.control.info.arpWatch !== undefined ? { arpWatch: ctx.control.info.arpWatch() } : {}),
      conns: dp.ct.count,
      connMax: dp.ct.max,
      slowestVerb: { verb: ctx.control.slowest.verb, ms: round3(ctx.control.slowest.ms), cpuMs: round3(ctx.control.slowest.cpuMs) },
      busiestVerb: { verb: ctx.control.busiest.verb, ms: round3(ctx.control.busiest.ms) },
      ...dp.counters.snapshot(),
      defense: { secureTcp: dp.secureTcp, ...dp.defense },
      // One queue (--datapath-thread) has nothing to steer.
      ...(ctx.control.info.workers !== undefined ? { workers: ctx.control.info.workers.status() } : {}),
      ...((ctx.control.info.workers?.count ?? 0) > 1 ? { steering: ctx.control.info.workers!.steering() } : {}),
      ...(ctx.control.info.cpus !== undefined ? { cpus: ctx.control.info.cpus } : {}),
      ...ftpNotPersistentOf(ctx),
    };
  }), () => 'head'),
};

function ftpNotPersistentOf(ctx: VerbCtx): { ftpNotPersistent?: string[] } {
  const f = ctx.control.ftpNotPersistent();
  return f.length > 0 ? { ftpNotPersistent: f } : {};
}

function portDropsOf(ctx: VerbCtx): { portDrops?: Record<string, number> } {
  const d = ctx.control.info.portDrops?.();
  return d ? { portDrops: d } : {};
}

/** The director's role (master while master of every HA group) and, with --ha-group groups, each group's: for status, -L --daemon and uvsd's log. */
export function roleStatus(dp: Datapath): { role: 'master' | 'backup'; haGroups?: HaGroupRole[] } {
  const role = dp.link.active ? 'master' : 'backup';
  const names = dp.link.groupNames;
  if (names.length === 1) return { role };
  return { role, haGroups: dp.link.roles().map((m, i) => ({ name: names[i]!, role: m ? 'master' : 'backup' })) };
}

/** A --start-daemon request → the daemon's settings; BAD_SYNC naming the offending value. */
export function syncConfigOf(a: Record<string, unknown>): SyncConfig {
  const num = (v: unknown, what: string, min: number, max: number, dflt: number): number => {
    if (v === undefined) return dflt;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw new UvsError('BAD_SYNC', `${what} ${valueText(v)} (${min}..${max})`);
    return v;
  };
  const syncid = num(a.syncid, 'syncid', 0, 255, 0);
  const maxlen = num(a.maxlen, 'sync-maxlen', HDR_LEN + MAC_LEN + REC_LEN, 65507, SYNC_MAXLEN);
  const port = num(a.port, 'mcast-port', 1, 65535, SYNC_PORT);
  const ttl = num(a.ttl, 'mcast-ttl', 1, 255, 1);
  let group = SYNC_GROUP;
  if (a.group !== undefined) {
    const g = typeof a.group === 'string' ? parseIp(a.group) : -1;
    if (g < 0 || g >>> 28 !== 14) throw new UvsError('BAD_SYNC', `mcast-group ${JSON.stringify(a.group)} is not a multicast address`);
    group = formatIp(g);
  }
  let peer: string | undefined;
  if (a.syncPeer !== undefined) peer = formatIp(ipOf(a.syncPeer, 'sync-peer'));
  let mcastInterface: string;
  if (a.mcastInterface !== undefined) {
    if (typeof a.mcastInterface !== 'string' || interfaceAddress(a.mcastInterface) === undefined) {
      throw new UvsError('BAD_SYNC', `mcast-interface ${JSON.stringify(a.mcastInterface)} does not exist or has no IPv4 address`);
    }
    mcastInterface = a.mcastInterface;
  } else {
    const d = defaultInterface();
    if (d === undefined && peer === undefined) throw new UvsError('BAD_SYNC', 'no interface with an IPv4 address for multicast; give --mcast-interface');
    mcastInterface = d ?? '';
  }
  // Sync is always authenticated: a forged message would install connections (docs/ha.md).
  if (typeof a.keyFile !== 'string' || a.keyFile === '') throw new UvsError('BAD_SYNC', 'sync-key-file is required (a shared secret of at least 16 bytes)');
  let key: Buffer;
  let keyMode: number;
  try {
    ({ key, mode: keyMode } = readSyncKey(a.keyFile));
  } catch (e) {
    throw new UvsError('BAD_SYNC', `sync-key-file ${a.keyFile}: ${e instanceof SmallFileError ? e.code ?? e.message : (e as Error).message}`);
  }
  if (key.length < 16) throw new UvsError('BAD_SYNC', `sync-key-file ${a.keyFile} holds ${key.length} bytes; at least 16 are needed`);
  return { syncid, mcastInterface, peer, group, port, ttl, maxlen, key, keyFile: a.keyFile, keyMode };
}

function drainStatus(ctx: VerbCtx): DrainStatus {
  const d = ctx.control.drain;
  const conns = ctx.control.dp.ct.count;
  if (d === undefined) return { state: 'off', conns };
  const left = Math.max(0, Math.ceil((d.since + d.timeoutS * 1000 - performance.now()) / 1000));
  // Drained says the director can be stopped: not while BIRD may still announce its routes.
  const withdrawal = ctx.control.bgpWithdrawal?.();
  const state = (conns === 0 || left === 0) && withdrawal === undefined ? 'drained' : 'draining';
  return { state, since: new Date(wallOf(d.since)).toISOString(), timeout: d.timeoutS, left, conns, ...(withdrawal === undefined ? {} : { withdrawal }) };
}

/** A batch's items and dryRun, or BAD_REQUEST. */
export function batchArgs(a: Record<string, unknown>): { items: unknown[]; dryRun: boolean } {
  if (!Array.isArray(a.items)) throw new UvsError('BAD_REQUEST', '"items" must be a list of {verb, args}');
  return { items: a.items as unknown[], dryRun: dryRunOf(a) };
}

/** Validate and run item i of a batch against sub.model (a copy); a refusal names the item. */
export function runBatchItem(sub: VerbCtx, items: unknown[], i: number): void {
  try {
    const { v, a } = batchItemOf(items, i);
    v.run(sub, a);
  } catch (err) {
    if (err instanceof UvsError) err.index = i;
    throw err;
  }
}

/** Item i of a batch, checked: its verb (one that changes the table) and its arguments. */
function batchItemOf(items: unknown[], i: number): { v: Verb<unknown, unknown>; a: Record<string, unknown> } {
  const it = items[i];
  if (!isObject(it) || typeof it.verb !== 'string') throw new UvsError('BAD_REQUEST', `item ${i} must be {verb, args}`);
  onlyKeys(it, BATCH_ITEM_NAMES, `batch item ${i}`);
  const { v, a } = verbArgs(it.verb, it.args);
  if (!v.mutates) throw new UvsError('BAD_REQUEST', `verb ${it.verb} cannot be batched`);
  return { v, a };
}

/** Whether item i of a batch is a -C (runBatchClearSliced runs it in a sliced batch). */
export function isBatchClear(items: unknown[], i: number): boolean {
  const it = items[i];
  return isObject(it) && it.verb === 'clear';
}

/**
 * runBatchItem for a -C item, service by service (removeService, as the verb does), the slice's
 * clock looked at after each (Pause.due): in one piece a -C item of a 5,000-service table held the
 * event loop ~40 ms of CPU (Control.batchInSlices). sub.model is the batch's own copy: nothing
 * else changes it meanwhile.
 */
export async function runBatchClearSliced(sub: VerbCtx, items: unknown[], i: number, pause: Pause, spill?: () => void): Promise<void> {
  try {
    batchItemOf(items, i);
  } catch (err) {
    if (err instanceof UvsError) err.index = i;
    throw err;
  }
  const due = dueOf(pause);
  const m = sub.model;
  // The services in parts of KEYS_STEP, and the operations handed on (spill: the batch keeps
  // them in parts) as they grow: one array of every service, and one of their deletions, grew by
  // push, each growth a copy of it in one step (10,000 of each at 10,000 services).
  const parts: ServiceModel[][] = [];
  let part: ServiceModel[] = [];
  for (const s of m.services.values()) {
    if (part.push(s) < KEYS_STEP) continue;
    parts.push(part);
    part = [];
    if (due()) await pause();
  }
  parts.push(part);
  const cleared = emptyServiceMaps(m);
  // A copy of its own (Model.cloneSliced): its maps lose every key, one service at a time; they
  // do not shrink meanwhile (as -C's: ShardedMap.emptying).
  if (!cleared) m.emptying(true);
  try {
    for (const ss of parts) {
      for (let k = 0; k < ss.length; k++) {
        removeService(sub, ss[k]!, cleared);
        spill?.();
        if (due()) await pause();
      }
    }
  } finally {
    if (!cleared) m.emptying(false);
  }
}

const NEIGH_RANK = { REACHABLE: 3, STALE: 2, INCOMPLETE: 1, FAILED: 0 } as const;

/** Neighbour rows of one table or of every worker's (one row per address: the best state's, the freshest). */
function neighInfo(parts: readonly (readonly NeighRow[])[], gateway: number, perWorker: boolean): NeighInfo[] {
  const by = new Map<number, { row: NeighRow; workers: number }>();
  for (const rows of parts) {
    for (const r of rows) {
      const had = by.get(r.addr);
      if (had === undefined) by.set(r.addr, { row: r, workers: 1 });
      else {
        had.workers++;
        const better = NEIGH_RANK[r.state] - NEIGH_RANK[had.row.state] || had.row.usedMs - r.usedMs;
        if (better > 0) had.row = r;
      }
    }
  }
  const secs = (ms: number) => Math.round(ms / 100) / 10;
  return [...by.values()].sort((x, y) => (x.row.addr >>> 0) - (y.row.addr >>> 0)).map(({ row: r, workers }) => {
    const info: NeighInfo = {
      addr: formatIp(r.addr), mac: r.mac === null ? null : formatMac(r.mac), state: r.state,
      confirmed: r.confirmedMs < 0 ? null : secs(r.confirmedMs), used: secs(r.usedMs),
      gateway: (r.addr | 0) === (gateway | 0), servers: r.pins - ((r.addr | 0) === (gateway | 0) && gateway !== 0 ? 1 : 0),
    };
    if (perWorker) info.workers = workers;
    return info;
  });
}

function laddrStats(usage: readonly LaddrUsage[]): LaddrStat[] {
  return usage.map((u) => ({ addr: formatIp(u.addr), tcp: u.tcp, udp: u.udp, conflicts: u.conflicts }));
}

/** A sync key file longer than this is no key (a device, a log put there by mistake): refused unread. */
export const SYNC_KEY_MAX = 64 * 1024;

/**
 * The key of a sync key file (syncKeyOf), read on the event loop: a regular file of at most
 * SYNC_KEY_MAX bytes only (readSmallFile: until 2026-12-07 a FIFO at the path held uvsd's loop,
 * and forwarding with it, until someone wrote to it), and only one no other user could have set:
 * whoever sets the key can seal sync messages that install connections (docs/ha.md). Refused: a
 * file another user owns or group or others may write, or in a directory another user could
 * change (trust.ts). Throws an Error saying why. `mode`: the file's permission bits (a key others
 * may read is taken, with a warning when the daemon starts: refusing it would stop a director
 * upgraded with such a file).
 */
export function readSyncKey(path: string): { key: Buffer; mode: number } {
  const { data, st } = readSmallFile(path, SYNC_KEY_MAX);
  if (foreignUid(st.uid)) throw new Error(`owned by uid ${st.uid} (not root): that user could set the key and forge sync messages`);
  if ((st.mode & 0o022) !== 0) throw new Error(`writable by group or others (mode ${modeText(st.mode)}): another user could set the key and forge sync messages; chmod 600 it`);
  let real = path;
  try {
    real = realpathSync(path);
  } catch {
    // gone since it was read: its directory as named
  }
  const why = dirTrustProblem(dirname(real));
  if (why !== undefined) throw new Error(`${why}: another user could replace the key`);
  return { key: syncKeyOf(data), mode: st.mode & 0o7777 };
}

/**
 * The shared secret in a sync key file: a text key (`openssl rand -hex 32 > key`) without the
 * whitespace around it, a binary one (`head -c 32 /dev/urandom > key`) byte for byte. Read as
 * text, a binary key lost its invalid UTF-8 bytes to U+FFFD (32 random bytes: ~16 left distinct).
 */
export function syncKeyOf(raw: Buffer): Buffer {
  const text = raw.toString('utf8');
  return Buffer.from(text, 'utf8').equals(raw) ? Buffer.from(text.trim(), 'utf8') : raw;
}

function maxOf(a: Record<string, unknown>): number {
  return a.max === undefined ? CONNS_MAX_DEFAULT : intOf(a.max, 'BAD_REQUEST', 'max', 0, CONNS_MAX_DEFAULT);
}

/**
 * listConns without a cursor (an older uvsadm, a script), the whole listing in one reply. From
 * the socket (ctx.pause) its rows are made while the reply is written, page by page as uvsadm -Lc
 * asks for them (connPages), each written before the next is made and none while the client has
 * over a MiB unread: uvsd holds a page, not the listing (100,000 rows held ~90 MB of it and, with
 * --workers, the loop ~90 ms). In process: one table's rows at once, the workers' gathered.
 */
function connRows(ctx: VerbCtx, a: Record<string, unknown>): ConnsResult | Promise<ConnsResult> {
  const max = maxOf(a);
  const r: ConnsResult = { conns: [], truncated: false };
  if (ctx.pause !== undefined) {
    r.conns = streamed(connPages(ctx, max, r, CONNS_STREAM_ROWS), ctx.pause);
    return r;
  }
  if (ctx.control.info.workers !== undefined) {
    return (async () => {
      for await (const page of connPages(ctx, max, r)) r.conns.push(...page);
      return r;
    })();
  }
  const dp = ctx.control.dp;
  r.truncated = connRowsOf(dp.ct, dp.nowTick, max, r.conns) < 0;
  return r;
}

/** The pages of listConns from cursor 0 to the table's end (or max rows), each as connPage answers it; sets out.truncated. */
async function* connPages(ctx: VerbCtx, max: number, out: ConnsResult, rows?: number): AsyncGenerator<ConnInfo[]> {
  let listed = 0;
  for (let cursor: number | undefined = 0; cursor !== undefined;) {
    const page = await connPage(ctx, cursor, max - listed, rows);
    listed += page.conns.length;
    out.truncated = page.truncated;
    cursor = page.next;
    yield page.conns;
  }
}

/**
 * One page of listConns from `cursor` on: at most `rows` rows, looking at at most
 * CONNS_PAGE_SCAN entries; truncated once `max` rows would be passed (the client asks with the
 * rows it may still print). With workers the cursor walks worker 0's table, then worker 1's, ...:
 * the rows the whole listing gives without a cursor, in its order. Entries that come or go
 * between pages may or may not be listed, as in a netlink dump of the kernel's table.
 */
function connPage(ctx: VerbCtx, cursor: number, max: number, pageRows = CONNS_PAGE_ROWS): ConnsResult | Promise<ConnsResult> {
  const conns: ConnInfo[] = [];
  const rows = Math.min(pageRows, max);
  const workers = ctx.control.info.workers;
  if (workers === undefined) {
    const ct = ctx.control.dp.ct;
    const stop = connRowsOf(ct, ctx.control.dp.nowTick, max, conns, cursor, Math.min(ct.max, cursor + CONNS_PAGE_SCAN), rows);
    return stop < 0 ? { conns, truncated: true } : stop < ct.max ? { conns, truncated: false, next: stop } : { conns, truncated: false };
  }
  const w = Math.floor(cursor / CURSOR_WORKER);
  if (w >= workers.count) return { conns, truncated: false };
  // One row more than the page holds: whether it is followed (truncated, or the next page's cursor).
  const asked = workers.connsPage(w, cursor % CURSOR_WORKER, rows + 1, CONNS_PAGE_SCAN);
  return (async (): Promise<ConnsResult> => {
    await ctx.pause?.(asked); // the worker's time is not the loop's
    const s = await asked;
    const stop = connRowsOf(snapshotView(s), s.nowTick, max, conns, 0, s.max, rows);
    if (stop < 0) return { conns, truncated: true };
    if (stop < s.max) return { conns, truncated: false, next: w * CURSOR_WORKER + s.at[stop]! };
    if (s.end >= 0) return { conns, truncated: false, next: w * CURSOR_WORKER + s.end };
    return w + 1 < workers.count ? { conns, truncated: false, next: (w + 1) * CURSOR_WORKER } : { conns, truncated: false };
  })();
}

/**
 * Rows of ct's live entries (from..to) appended to conns, at most `rows` of them, never more than
 * max in all. Returns where it stopped: -1 when a live entry was left out for max (truncated),
 * else the first entry not looked at or not listed (to when it got there).
 */
function connRowsOf(ct: ConnView, now: number, max: number, conns: ConnInfo[], from = 0, to = ct.max, rows = max): number {
  for (let e = from; e < to; e++) {
    if (!ct.isAlive(e)) continue;
    if (conns.length >= max) return -1;
    if (conns.length >= rows) return e;
    const ticks = ct.expires[e] - now;
    const tpl = (ct.flags[e] & F_TEMPLATE) !== 0;
    conns.push({
      proto: connProto(ct.proto[e] & ~(PROTO_TPL | PROTO_TPL_DEAD)),
      // A template's state is the kernel's ip_vs_ctpl_state_name_table: NONE or ASSURED.
      state: ENTRY_STATE_NAMES[entryState(ct.state[e], ct.flags[e])] ?? 'NONE',
      expires: ticks > 0 ? Math.floor((ticks * TICK_MS) / 1000) : 0,
      caddr: formatIp(ct.caddr[e]), cport: ct.cport[e],
      vaddr: formatIp(ct.vaddr[e]), vport: ct.vport[e],
      daddr: formatIp(ct.daddr[e]), dport: ct.dport[e],
      // A template keeps its timeout in laddr (conntable.ts): show the client side instead.
      laddr: formatIp(tpl ? ct.caddr[e] : ct.laddr[e]), lport: tpl ? 0 : ct.lport[e],
      fwd: (FWD_NAMES[ct.fwd[e]] ?? 'dr') as Fwd,
    });
    if (!tpl) continue;
    const row = conns[conns.length - 1]!;
    row.template = true;
    if (ct.seqd[e] !== 0) {
      // A call's template (--pe sip): the client port holds bits of its hash; the kernel's shows 0.
      row.cport = 0;
      row.pe = PE_NAMES[PE_SIP];
      const text = ct.peText.get(e);
      if (text !== undefined) row.peData = text;
    }
  }
  return to;
}

/** -Z of one service: its statistics and its servers' (Control.perServiceSliced zeroes every
 *  service this way, a few at a time). */
export function zeroService(ctx: VerbCtx, s: ServiceModel): void {
  ctx.ops.push({ op: 'zero', svc: s.id });
  restartServiceRates(ctx, s);
}

/** The kernel zeroes the estimators too (ip_vs_zero_estimator): --rate restarts from 0 and
 *  counts from the zeroed totals. */
function restartServiceRates(ctx: VerbCtx, s: ServiceModel): void {
  ctx.control.restartRates(undefined, s.id);
  for (const d of s.dests) ctx.control.restartRates(d.slot, undefined);
}

/**
 * -C's first step: the services, for removeService(ctx, s, cleared). In a batch's copy that shares
 * the model's maps, they and the addresses they hold are gone from its maps at once (O(1): deleted
 * one by one, each would be a deletion the copy records); the marks' addresses are VIPs still.
 * Maps of its own keep their room for the services a -R adds back, deleted one by one.
 */
function clearServiceMaps(m: Model): { all: ServiceModel[]; cleared: boolean } {
  const all = m.services.readValuesArray();
  return { all, cleared: emptyServiceMaps(m) };
}

/** A copy's (a fork's) maps of services and addresses emptied at once (O(1)), its marks' VIPs counted again: whether it was one. */
function emptyServiceMaps(m: Model): boolean {
  if (!m.services.forked) return false;
  m.services.clear();
  m.vips.clear();
  m.rips.clear();
  m.lips.clear();
  for (const k of m.marks) addRef(m.vips, k.vip, 1);
  return true;
}

/** -D of service s (also -C, a service at a time, and Control.perServiceSliced); `cleared`: the
 *  maps were emptied already (clearServiceMaps). */
export function removeService(ctx: VerbCtx, s: ServiceModel, cleared = false): void {
  const m = ctx.model;
  const key = serviceKeyOf(s.proto, s.vip, s.port, s.fwmark);
  // Indexed loops: for-of made an iterator result per server where this ran unoptimised (~60 bytes a service at -C).
  const dests = s.dests;
  if (!cleared) {
    m.services.delete(key);
    if (s.fwmark === 0) addRef(m.vips, s.vip, -1);
    for (let i = 0; i < dests.length; i++) addRef(m.rips, dests[i]!.addr, -1);
    for (let i = 0; i < s.laddrs.length; i++) addRef(m.lips, s.laddrs[i]!.addr, -1);
  }
  for (let i = 0; i < dests.length; i++) m.trashSlot(s, dests[i]!);
  m.freeId(key, s.id);
  ctx.gone?.set(s.id, { vip: s.fwmark === 0 ? s.vip : undefined, rips: s.dests.map((d) => d.addr), lips: s.laddrs.map((l) => l.addr), slots: s.dests.map((d) => d.slot), key });
  ctx.ops.push({ op: 'delService', id: s.id });
}

export type VerbName = keyof typeof VERBS;
type ArgsOf<V> = V extends Verb<infer A, unknown> ? A : never;
type ResultOf<V> = V extends Verb<unknown, infer R> ? R : never;
/** protocol.ts's Verbs: { verbName: { args, result } } for every verb above. */
export type VerbTypes = { [K in VerbName]: { args: ArgsOf<(typeof VERBS)[K]>; result: ResultOf<(typeof VERBS)[K]> } };
