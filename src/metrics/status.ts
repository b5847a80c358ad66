// /status.json: what the status page shows, read from the datapath when asked.

import { formatIp, formatMac } from '../datapath/addr.js';
import { C, DROP_NAMES } from '../datapath/counters.js';
import type { Datapath, SvcRuntime } from '../datapath/pipeline.js';
import { FWD_NAMES } from '../modes/index.js';
import { forwardName } from '../control/printers.js';
import { describeLink } from '../control/linkwatch.js';
import { roleStatus } from '../control/verbs.js';
import type { BgpStatus, Fwd, HaGroupRole, HealthEntry, HealthQueue, HealthQuorum, Proto, ServiceKey } from '../control/protocol.js';
import type { ArpWatchStatus } from '../control/arpwatch.js';
import type { MetricsOptions } from './collectors.js';
import type { RateEstimator, Rates } from './rates.js';
import { l4Name } from '../datapath/frame.js';
import { destOverloaded, fwmarkOf, healthEntries, quorumsOf, serviceIdOf, serviceKeyOf, serviceLabels, type HealthView } from './view.js';
import { serviceId } from '../control/protocol.js';
import { runSteps, runStepsSliced, type Pause, type Steps } from '../control/slices.js';
import type { ByteOut } from './bytes.js';
import { STAT_CONNS, STAT_IN_BYTES, STAT_IN_PKTS, STAT_OUT_BYTES, STAT_OUT_PKTS, serviceStatsSinceZero } from '../datapath/dests.js';

export interface StatusDest {
  addr: string;
  port: number;
  fwd: string;
  /** ipvsadm's name for the method: Route, Masq, Tunnel, FullNat. */
  forward: string;
  weight: number;
  /** up / down from the health checks; unchecked when no checker watches the server. */
  health: 'up' | 'down' | 'unchecked';
  /** Not in the table (-Ln does not list it): the health checks took it out, down, or held it out while the sorry server is in. */
  removed: boolean;
  /** The health checks' reason for the current state, when checked. */
  reason: string;
  /** The service's sorry_server (in the table while the quorum is lost; at weight 0 under sorry_server_inhibit); a
   *  checked server that is also the sorry server only while the quorum is lost. */
  sorry: boolean;
  /** An alive checked server kept out of the table (or at weight 0) because the quorum is lost and the sorry server is in. */
  heldOut: boolean;
  /** ha_suspend: its checks are suspended (this director does not hold the VIP), its health is as last seen. Absent otherwise. */
  suspended?: boolean;
  overloaded: boolean;
  active: number;
  inactive: number;
  /** Totals since the last -Z (as ipvsadm --stats). */
  conns: number;
  inPkts: number;
  inBytes: number;
  outPkts: number;
  outBytes: number;
  rates: Rates;
}

/** A health-checked service's quorum (`uvsadm --status` health_quorum, uvs_health_quorum_up, uvs_health_sorry_in). */
export type StatusQuorum = Omit<HealthQuorum, 'service'>;

export interface StatusService {
  proto: Proto | 'fwm';
  addr: string;
  port: number;
  /** A -f service's mark (then proto fwm, addr "", port 0). */
  fwmark?: number;
  sched: string;
  /** Real servers in the table, as -Ln lists them (the sorry server included, removed ones not). */
  servers: number;
  /** Health-checked services only. */
  quorum?: StatusQuorum;
  conns: number;
  inPkts: number;
  inBytes: number;
  outPkts: number;
  outBytes: number;
  /** New connections that found no real server available, dropped (uvs_service_no_dest_total: not reset by -Z). */
  noDest: number;
  rates: Rates;
  /** The servers of the table, then those the health checks removed. */
  dests: StatusDest[];
}

export interface StatusJson {
  time: string;
  uptimeS: number;
  mac: string;
  addrs: string[];
  /** High availability role (`uvsadm --status` role): with HA groups, master while master of every group. */
  role: 'master' | 'backup';
  /** Each HA group's role, when uvsd has --ha-group groups. */
  haGroups?: HaGroupRole[];
  /** Health checks exist? (not yet: every server shows up) */
  healthChecks: boolean;
  /** The checks' slots and queue (`uvsadm --status` health_queue), while checkers run. */
  healthQueue?: HealthQueue;
  /** With health checks configured: checks that could not run since start (uvsd out of file descriptors, memory or
   *  processes; `uvsadm --status` health_checks_not_run, uvs_health_checks_not_run_total). */
  healthChecksNotRun?: number;
  /** With health checks configured: table changes of the health checks the table refused since start (a server or
   *  service deleted by hand; `uvsadm --status` health_refused, uvs_health_refused_total). */
  healthRefused?: number;
  conns: { entries: number; capacity: number };
  /** Frames and their rates; with uvsd's link watch also the interface, whether frames can pass (ok)
   *  and the `uvsadm --status` link line (text: `up, bridge br0`, `down`, `up, not in bridge br0 (br0 is gone)`). */
  link: { iface?: string; ok?: boolean; text?: string; rxFrames: number; txFrames: number; rxfps: number; rxbps: number; txfps: number; txbps: number };
  drops: { reason: string; total: number; rate: number }[];
  /** uvsd --bgp-include: what BIRD announces (`uvsadm --status` bgp lines) and whether the director drains. */
  bgp?: BgpStatus & { draining: boolean };
  /** The ARP watch (`uvsadm --status` arp_watch, arp_vip, arp_addr and arp_answered_by lines), once uvsd has claimed its addresses. */
  arpWatch?: ArpWatchStatus;
  services: StatusService[];
}

const NO_RATES: Rates = { cps: 0, inpps: 0, inbps: 0, outpps: 0, outbps: 0 };

function quorumOf({ service: _service, ...q }: HealthQuorum): StatusQuorum {
  return q;
}

function bgpOf(bgp: MetricsOptions['bgp']): { bgp?: StatusJson['bgp'] } {
  if (bgp === undefined) return {};
  const { status, draining } = bgp();
  return { bgp: { ...status, draining } };
}

type StatusSources = Pick<MetricsOptions, 'health' | 'portDrops' | 'link' | 'bgp' | 'arpWatch'>;

/** The status in one piece (tests; /status.json is written as statusWalk makes it, in slices). */
export function statusJson(dp: Datapath, rates: RateEstimator, src: StatusSources = {}): StatusJson {
  return runSteps(statusSteps(dp, rates, src));
}

/** The status whole, yielding where statusWalk does and after every service. */
export function* statusSteps(dp: Datapath, rates: RateEstimator, src: StatusSources = {}): Steps<StatusJson> {
  const w = yield* statusWalk(dp, rates, src);
  const services: StatusService[] = [];
  for (const s of w.services) {
    services.push(s);
    yield;
  }
  return { ...w.head, services };
}

/** The status as it is written: every field but the services, then the services made one at a time. */
export interface StatusWalk {
  head: Omit<StatusJson, 'services'>;
  /** Each service made (its servers read) when asked for; a service deleted meanwhile is left out. */
  services: Generator<StatusService, void, void>;
  /**
   * Or (not both) each service written to `out` as the JSON text JSON.stringify makes of it, a
   * comma before all but the first, yielding after a service where due() says so (after every
   * one without it): no object or string per server, nor the text of a service as a string
   * (/status.json; statusText in server.ts).
   */
  write(out: JsonOut, due?: () => boolean): Generator<void, void, void>;
}

/** Where statusWalk's write() puts its text (ByteOut). */
export interface JsonOut {
  text(s: string): void;
  num(v: number): void;
  /** An address (int32) as formatIp writes it. */
  ip(v: number): void;
  /** num(a[i]), ip(a[i]): no number passed (ByteOut.numAt). */
  numAt(a: ArrayLike<number>, i: number): void;
  ipAt(a: ArrayLike<number>, i: number): void;
}

/** A string as JSON.stringify writes it: quoted as it is when nothing in it needs escaping (no string made), else JSON.stringify's. */
function jsonStr(out: JsonOut, s: string): void {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x22 || c === 0x5c || (c >= 0xd800 && c <= 0xdfff)) {
      out.text(JSON.stringify(s));
      return;
    }
  }
  out.text('"');
  out.text(s);
  out.text('"');
}

/**
 * An object's fields but `skip` as JSON.stringify writes them (after its opening brace, without
 * the closing one; a comma between two): no string made for a field of a
 * boolean, number or plain string (a service's quorum: JSON.stringify of it was a string and an
 * object per service at every /status.json).
 */
function jsonFields(out: JsonOut, o: object, skip: string): void {
  let first = true;
  for (const k in o) {
    if (k === skip || !Object.hasOwn(o, k)) continue;
    const v = (o as Record<string, unknown>)[k];
    if (v === undefined || typeof v === 'function' || typeof v === 'symbol') continue;
    if (!first) out.text(',');
    first = false;
    jsonStr(out, k);
    out.text(':');
    if (typeof v === 'boolean') out.text(v ? 'true' : 'false');
    else if (typeof v === 'number') out.num(v);
    else if (typeof v === 'string') jsonStr(out, v);
    else out.text(JSON.stringify(v));
  }
}

/** The digits of `s` from `from` to `to` as a decimal number as String() writes one (no leading zero, at most `max`), else -1. */
function decimalAt(s: string, from: number, to: number, max: number): number {
  if (to <= from || to - from > 5 || (to - from > 1 && s.charCodeAt(from) === 0x30)) return -1;
  let v = 0;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i) - 0x30;
    if (c < 0 || c > 9) return -1;
    v = v * 10 + c;
  }
  return v <= max ? v : -1;
}

/**
 * `s` from `from` to `to` as formatIp writes an address: the address (uint32) into dst[i], else -1
 * there (into a typed array: an address past 2^30 returned from a call not inlined is a heap number).
 */
function ipInto(s: string, from: number, to: number, dst: Float64Array, i: number): void {
  let v = 0;
  let at = from;
  for (let k = 0; k < 4; k++) {
    let dot = k < 3 ? s.indexOf('.', at) : to;
    if (dot < 0 || dot > to) dot = -1;
    const o = dot < 0 ? -1 : decimalAt(s, at, dot, 255);
    if (o < 0) {
      dst[i] = -1;
      return;
    }
    v = v * 256 + o;
    at = dot + 1;
  }
  dst[i] = v;
}

/**
 * One service's checked servers by address and port, as a Map keyed by `${addr}:${port}` has them
 * (the last entry of a key kept, in the place of the first), found from a server's slot with no
 * string made: the writer's, reused for every service of a /status.json. A map of the service's
 * entries keyed by the server's text, and that text for every server of the table kept from one
 * /status.json to the next (40,000 strings at 10,000 services x 4 servers, made at the first
 * /status.json after a start and copied by its 5-6 scavenges: 9-118 ms of wall each at load 6-11,
 * 2026-12-06), were what it cost before.
 */
class CheckedServers {
  /** The entries in their order, their address (uint32; -1: a text no table server's is) and port. */
  private ents: (HealthEntry | undefined)[] = [];
  private ip = new Float64Array(16);
  private port = new Int32Array(16);
  /** 0: not found yet, 1: found (a server of the table), 2: a later entry of a key seen before (its entry put in the first's place). */
  private state = new Uint8Array(16);
  /** Open addressing: an entry's index + 1, 0 empty. */
  private slots = new Int32Array(32);
  n = 0;

  /** The service's entries as rows[0..n) (ServiceHealth's; n < 0: none), in their order; the rows are the caller's, read until clear(). */
  fillRows(rows: readonly HealthEntry[], n: number): void {
    this.n = 0;
    for (let i = 0; i < n; i++) this.add(rows[i]!);
    this.index();
  }

  private add(e: HealthEntry): void {
    const i = this.n++;
    if (i === this.ip.length) this.grow();
    this.ents[i] = e;
    // A port a table server's text can have (an integer up to 65535), else the entry matches none.
    const port = Number.isInteger(e.port) && e.port >= 0 && e.port <= 0xffff ? e.port : -1;
    if (port < 0) this.ip[i] = -1;
    else ipInto(e.addr, 0, e.addr.length, this.ip, i);
    this.port[i] = port;
    this.state[i] = 0;
  }

  /** The slots of the entries added. */
  private index(): void {
    if (this.n === 0) return;
    let size = this.slots.length;
    while (size < this.n * 2) size *= 2;
    if (size !== this.slots.length) this.slots = new Int32Array(size);
    else this.slots.fill(0);
    for (let i = 0; i < this.n; i++) {
      const at = this.ip[i]! < 0 ? this.sameText(i) : this.slot(this.ip[i]! | 0, this.port[i]!);
      if (at >= 0 && this.slots[at]! > 0) {
        this.ents[this.slots[at]! - 1] = this.ents[i]!;
        this.state[i] = 2;
      } else if (at >= 0) this.slots[at] = i + 1;
    }
  }

  /** A Map's key for an entry no server's text matches: only an entry of the same text is the same key (a slot of its own, or none). */
  private sameText(i: number): number {
    const e = this.ents[i]!;
    for (let j = 0; j < i; j++) {
      const x = this.ents[j]!;
      if (this.ip[j]! < 0 && this.state[j] !== 2 && `${x.addr}:${x.port}` === `${e.addr}:${e.port}`) {
        this.ents[j] = e;
        this.state[i] = 2;
        return -1;
      }
    }
    return -1;
  }

  private grow(): void {
    const n = this.ip.length * 2;
    const ip = new Float64Array(n);
    ip.set(this.ip);
    const port = new Int32Array(n);
    port.set(this.port);
    const state = new Uint8Array(n);
    state.set(this.state);
    this.ip = ip;
    this.port = port;
    this.state = state;
  }

  /** The slot of (ip (int32), port): where its entry is, or the empty one where it would be (an entry in a slot has an address: ip >= 0). */
  private slot(ip: number, port: number): number {
    const mask = this.slots.length - 1;
    let h = Math.imul(ip ^ Math.imul(port, 0x9e3779b1), 0x85ebca6b);
    h ^= h >>> 15;
    for (let at = h & mask; ; at = (at + 1) & mask) {
      const x = this.slots[at]!;
      if (x === 0 || ((this.ip[x - 1]! | 0) === ip && this.port[x - 1] === port)) return at;
    }
  }

  /** The entry of the table's server d (its address and port in addr[d], port[d]), once (as a Map's get then delete); undefined: none. */
  take(addr: Int32Array, port: Uint16Array, d: number): HealthEntry | undefined {
    if (this.n === 0) return undefined;
    const x = this.slots[this.slot(addr[d]!, port[d]!)]!;
    if (x === 0 || this.state[x - 1] !== 0) return undefined;
    this.state[x - 1] = 1;
    return this.ents[x - 1];
  }

  /** The entries no server of the table took, in their order (the Map's values left): the i-th, else undefined. */
  left(i: number): HealthEntry | undefined {
    return this.state[i] === 0 ? this.ents[i] : undefined;
  }

  /** The entries let go (not kept to the next service, nor /status.json), the list's room kept. */
  clear(): void {
    this.ents.fill(undefined, 0, this.n);
    this.n = 0;
  }
}

/**
 * A server's key (ip (uint32) x 65536 + port) from its text `ip:port` as formatIp and a port write
 * it (a quorum's sorry server), else -1, into k[0] (a typed array: no heap number for a key).
 */
function serverKeyInto(text: string | undefined, k: Float64Array): void {
  k[0] = -1;
  if (text === undefined) return;
  const colon = text.lastIndexOf(':');
  const port = colon < 0 ? -1 : decimalAt(text, colon + 1, text.length, 0xffff);
  if (port < 0) return;
  ipInto(text, 0, colon, k, 0);
  if (k[0]! >= 0) k[0] = k[0]! * 65536 + port;
}

const RATE_KEYS = ['{"cps":', ',"inpps":', ',"inbps":', ',"outpps":', ',"outbps":'];
const SVC_STAT_KEYS = [',"conns":', ',"inPkts":', ',"inBytes":', ',"outPkts":', ',"outBytes":'];
const SVC_STATS = [STAT_CONNS, STAT_IN_PKTS, STAT_IN_BYTES, STAT_OUT_PKTS, STAT_OUT_BYTES];
/** A server of the table's text after its port, by forwarding method (FWD_NAMES), up to its weight. */
const DEST_FWD = FWD_NAMES.map((fwd) => `,"fwd":"${fwd}","forward":"${forwardName(fwd)}","weight":`);
/** A server of the table's text after its weight, by health, up to its reason. */
const DEST_HEALTH: Record<string, string> = {
  up: ',"health":"up","removed":false,"reason":', down: ',"health":"down","removed":false,"reason":', unchecked: ',"health":"unchecked","removed":false,"reason":',
};

function writeRates(out: JsonOut, r: ArrayLike<number>): void {
  for (let k = 0; k < 5; k++) {
    out.text(RATE_KEYS[k]!);
    out.numAt(r, k);
  }
  out.text('}');
}

/** A view's health by service (HealthView.entriesOf, quorumOf): the view's own, else from maps of its whole lists (statusWalk). */
type PerService = Required<Pick<HealthView, 'entriesOf' | 'quorumOf'>>;

const NO_SERVICE: ServiceKey = { proto: 'tcp', addr: '', port: 0 };

/**
 * The health checks as write() asks for one service's, whatever the view has (one path in
 * write()): the service named as the view names it (HealthView.serviceIdAt: the view's own text;
 * else serviceIdOf's), its checked servers in `rows` and its quorum written into rows kept for
 * every service of the /status.json where the view can (HealthView.entriesInto, quorumInto:
 * HealthManager's), else entriesOf's entries put in the rows and quorumOf's object (the
 * warm-up's and the tests' views; for a view with neither, maps statusWalk builds of its lists).
 */
class ServiceHealth {
  /** The service's checked servers: rows[0..n), n from entries(); the view's rows or objects, read until the next service. */
  readonly rows: HealthEntry[] = [];
  /** quorumInto's row, in quorumOf's field order (jsonFields writes them in it). */
  private readonly qrow: HealthQuorum = { service: NO_SERVICE, up: false, aliveWeight: 0, quorum: 0, hysteresis: 0, sorryIn: false, sorry: undefined, suspended: undefined };

  constructor(private readonly view: HealthView, private readonly of: PerService) {}

  /** s's serviceId, as the view keeps it where it can; undefined: the view has no such service. */
  idOf(s: SvcRuntime): string | undefined {
    const v = this.view;
    if (v.serviceIdAt === undefined) return serviceIdOf(s);
    const m = fwmarkOf(s);
    return m !== 0 ? v.serviceIdAt('fwm', m, 0) : v.serviceIdAt(l4Name(s.proto), s.vip, s.port);
  }

  /** The service's quorum (quorumInto's row or quorumOf's object), undefined: none. */
  quorum(id: string): HealthQuorum | undefined {
    const v = this.view;
    if (v.quorumInto === undefined) return this.of.quorumOf(id);
    return v.quorumInto(id, this.qrow) ? this.qrow : undefined;
  }

  /** The service's checked servers into rows[0..n): n, -1 for none. */
  entries(id: string): number {
    const v = this.view;
    if (v.entriesInto !== undefined) return v.entriesInto(id, this.rows);
    const list = this.of.entriesOf(id);
    if (list === undefined) return -1;
    let n = 0;
    for (const e of list) this.rows[n++] = e;
    return n;
  }
}

/**
 * One of each of the writer's classes kept for as long as uvsd runs (as bytes.ts keptByteOut): their
 * maps, and the writer's optimised code with them, outlive a full collection between two /status.json.
 */
export const keptWriterObjects: readonly object[] = [new CheckedServers(), new ServiceHealth({ stateOf: () => 'unchecked', entries: () => [] }, { entriesOf: () => undefined, quorumOf: () => undefined })];

/**
 * The status in the order /status.json is written, yielding after each map it builds (where a
 * sliced caller may let the event loop run: a poll every 1.5 s of a table with thousands of
 * services runs on the datapath's thread); then `services` makes each service when asked, so the
 * writer holds one service, not the list (built whole before it was serialised, 10,000 services
 * of 4 servers were 16 MB of JSON held as objects). Linear in services, servers and health
 * entries: every lookup goes through a map built once. The services are those of the table's
 * slots when the walk starts, each as the table has it when it is made or written (a service
 * deleted meanwhile is left out; one added in a slot before the last, included).
 */
export function* statusWalk(dp: Datapath, rates: RateEstimator, src: StatusSources = {}): Steps<StatusWalk> {
  const { health } = src;
  const dt = dp.dt;
  const c = dp.counters;
  // Each service's checked servers and quorum asked for as the service is written, where the view
  // can (HealthView.entriesOf, quorumOf): nothing of the 40,000 entries of 10,000 services of 4
  // checked servers made or held before the first byte. Else maps of them all, a few items between
  // yields, the health checks' lists made as walked (quorumsOf, healthEntries): built whole, the
  // maps and lists held the loop 11-18 ms at once.
  const slots = dp.services.length;
  yield;
  let perService: PerService | undefined;
  if (health?.entriesOf !== undefined && health.quorumOf !== undefined) {
    perService = health as PerService;
  } else if (health !== undefined) {
    const quorums = new Map<string, HealthQuorum>();
    for (const q of quorumsOf(health)) {
      quorums.set(serviceId(q.service), q);
      if ((quorums.size & 63) === 0) yield;
    }
    yield;
    // Checked servers by service, then address; those the table does not hold are listed as removed.
    const entries = new Map<string, Map<string, HealthEntry>>();
    let n = 0;
    for (const e of healthEntries(health)) {
      const id = serviceId(e.service);
      let mine = entries.get(id);
      if (mine === undefined) entries.set(id, (mine = new Map()));
      mine.set(`${e.addr}:${e.port}`, e);
      if ((++n & 63) === 0) yield;
    }
    perService = { quorumOf: (id) => quorums.get(id), entriesOf: (id) => entries.get(id)?.values() };
  }
  // write()'s (rows reused for every service where the view can: no entry object per server, no quorum object per service).
  const byService = health === undefined ? undefined : new ServiceHealth(health, perService!);
  const link = src.link?.();
  const lr = rates.linkRates();
  const healthQueue = health?.queue?.();
  const arpWatch = src.arpWatch?.();
  const head: Omit<StatusJson, 'services'> = {
    time: new Date().toISOString(),
    uptimeS: Math.round(process.uptime()),
    mac: formatMac(dp.mac),
    addrs: dp.addrs.map((a) => formatIp(a.ip)),
    ...roleStatus(dp),
    healthChecks: health !== undefined,
    ...(healthQueue === undefined ? {} : { healthQueue }),
    ...(health?.notRunTotal === undefined ? {} : { healthChecksNotRun: health.notRunTotal }),
    ...(health?.refusedTotal === undefined ? {} : { healthRefused: health.refusedTotal }),
    conns: { entries: dp.ct.count, capacity: dp.ct.max },
    link: { ...(link === undefined ? {} : { iface: link.iface, ok: link.ok, text: describeLink(link) }), rxFrames: c.c[C.rx_frames], txFrames: c.c[C.tx_frames], ...lr },
    drops: [
      ...DROP_NAMES.map((reason, k) => ({ reason, total: c.d[k], rate: rates.drop(k) })),
      ...Object.entries(src.portDrops?.() ?? {}).map(([reason, total]) => ({ reason: `port_${reason}`, total, rate: rates.portDrop(reason) })),
    ],
    ...bgpOf(src.bgp),
    ...(arpWatch === undefined ? {} : { arpWatch }),
  };
  function* services(): Generator<StatusService, void, void> {
    const st = new Float64Array(5);
    for (let i = 0; i < slots; i++) {
      const s = dp.services[i];
      if (s === undefined) continue;
      const id = serviceId(serviceKeyOf(s));
      const q = perService?.quorumOf(id);
      // By server (a later entry of a server in the place of the first).
      let mine: Map<string, HealthEntry> | undefined;
      for (const e of perService?.entriesOf(id) ?? []) (mine ??= new Map()).set(`${e.addr}:${e.port}`, e);
      const dests: StatusDest[] = [];
      for (const d of s.dests) {
        const addr = formatIp(dt.addr[d]);
        const server = `${addr}:${dt.port[d]}`;
        const e = mine?.get(server);
        mine?.delete(server);
        const fwd = FWD_NAMES[dt.fwd[d]] ?? 'dr';
        // A checked server that is also the sorry server is the sorry server while that is in.
        const sorry = q?.sorry === server && (e === undefined || q.sorryIn);
        dests.push({
          addr, port: dt.port[d], fwd, forward: forwardName(fwd as Fwd), weight: dt.weight[d],
          health: e?.state ?? 'unchecked', removed: false, reason: e?.reason ?? '', sorry, heldOut: q?.sorryIn === true && e?.state === 'up' && !sorry,
          ...(e?.suspended === true ? { suspended: true } : {}),
          overloaded: destOverloaded(dt, d), active: dt.active[d], inactive: dt.inactive[d],
          conns: dt.conns[d], inPkts: dt.inPkts[d], inBytes: dt.inBytes[d], outPkts: dt.outPkts[d], outBytes: dt.outBytes[d],
          rates: rates.dest(d),
        });
      }
      // Then the checked servers the table does not hold, in the order the health checks list them.
      if (mine !== undefined) {
        for (const e of mine.values()) {
          dests.push({
            addr: e.addr, port: e.port, fwd: '', forward: '-', weight: 0, health: e.state, removed: true, reason: e.reason, sorry: false,
            heldOut: q?.sorryIn === true && e.state === 'up', overloaded: false,
            ...(e.suspended === true ? { suspended: true } : {}),
            active: 0, inactive: 0, conns: 0, inPkts: 0, inBytes: 0, outPkts: 0, outBytes: 0, rates: NO_RATES,
          });
        }
      }
      // Since the last -Z, also what deleted servers had (as -Ln --stats).
      serviceStatsSinceZero(dt, s, st);
      yield {
        proto: serviceLabels(serviceKeyOf(s)).proto, addr: fwmarkOf(s) !== 0 ? '' : formatIp(s.vip), port: s.port, ...(fwmarkOf(s) !== 0 ? { fwmark: fwmarkOf(s) } : {}), sched: s.scheduler.name,
        servers: s.dests.length,
        ...(q === undefined ? {} : { quorum: quorumOf(q) }),
        conns: st[STAT_CONNS], inPkts: st[STAT_IN_PKTS], inBytes: st[STAT_IN_BYTES], outPkts: st[STAT_OUT_PKTS],
        outBytes: st[STAT_OUT_BYTES], noDest: c.svcNoDest[s.id], rates: rates.service(s), dests,
      };
    }
  }
  return {
    head,
    services: services(),
    write: (out, due = () => true) => writeServices(dp, rates, slots, byService, out, due),
  };
}

/**
 * statusWalk's services as JSON text (the fields of its services()' objects in their order): no object per
 * server, no string per server nor per service (numbers and addresses written as digits, the
 * health entries found by address and port: CheckedServers, the service named by the view's own
 * text: ServiceHealth), nothing kept to the next /status.json. Yields after a service where due()
 * says so; a service is written whole, as the table has it at that moment (its servers' list
 * changes in place). A function of the module, not a closure of statusWalk: a new closure per
 * /status.json was optimised anew at each (100-180 ms of compiling on a loaded host, 2026-12-06),
 * and ran in code that boxes every number meanwhile (5.4 of a request's 10.6 MB at 10,000 x 4).
 */
function* writeServices(dp: Datapath, rates: RateEstimator, slots: number, health: ServiceHealth | undefined, out: JsonOut, due: () => boolean): Generator<void, void, void> {
  const dt = dp.dt;
  const noDest = dp.counters.svcNoDest;
  const st = new Float64Array(5);
  const r = new Float64Array(5);
  /** The quorum's sorry server's key (serverKeyInto), -1: none. */
  const sorryKey = new Float64Array(1);
  /** A service's address (int32) and a -f service's mark (uint32), for ByteOut.ipAt / numAt. */
  const vip = new Int32Array(1);
  const mark = new Uint32Array(1);
  const mine = new CheckedServers();
  // A server's counters after its active and inactive, in SVC_STAT_KEYS' order (all Float64Array: one kind of load).
  const counts = [dt.conns, dt.inPkts, dt.inBytes, dt.outPkts, dt.outBytes];
  let first = true;
  for (let i = 0; i < slots; i++) {
    const s = dp.services[i];
    if (s === undefined) continue;
    const m = fwmarkOf(s);
    let q: HealthQuorum | undefined;
    if (health !== undefined) {
      const id = health.idOf(s);
      if (id !== undefined) {
        q = health.quorum(id);
        mine.fillRows(health.rows, health.entries(id));
      }
    }
    serverKeyInto(q?.sorry, sorryKey);
    if (!first) out.text(',');
    first = false;
    // JSON.stringify({ proto, addr, port, fwmark? }) of serviceKeyOf's, as services() makes it.
    vip[0] = s.vip;
    if (m !== 0) {
      mark[0] = s.vip;
      out.text('{"proto":"fwm","addr":"","port":');
      out.num(s.port);
      out.text(',"fwmark":');
      out.numAt(mark, 0);
    } else {
      out.text('{"proto":');
      jsonStr(out, l4Name(s.proto));
      out.text(',"addr":"');
      out.ipAt(vip, 0);
      out.text('","port":');
      out.num(s.port);
    }
    out.text(',"sched":');
    jsonStr(out, s.scheduler.name);
    out.text(',"servers":');
    out.num(s.dests.length);
    if (q !== undefined) {
      out.text(',"quorum":{');
      jsonFields(out, q, 'service');
      out.text('}');
    }
    serviceStatsSinceZero(dt, s, st);
    for (let k = 0; k < 5; k++) {
      out.text(SVC_STAT_KEYS[k]!);
      out.numAt(st, SVC_STATS[k]!);
    }
    out.text(',"noDest":');
    out.numAt(noDest, s.id);
    // The service's own rates (RateEstimator.service: what deleted servers had included, as --rate's service line).
    const ds = s.dests;
    rates.serviceInto(s, r);
    out.text(',"rates":');
    writeRates(out, r);
    out.text(',"dests":[');
    let firstDest = true;
    for (let j = 0; j < ds.length; j++) {
      const d = ds[j]!;
      const e = mine.take(dt.addr, dt.port, d);
      // A checked server that is also the sorry server is the sorry server while that is in.
      const sorry = sorryKey[0]! >= 0 && sorryKey[0] === (dt.addr[d]! >>> 0) * 65536 + dt.port[d]! && (e === undefined || q!.sorryIn);
      out.text(firstDest ? '{"addr":"' : ',{"addr":"');
      firstDest = false;
      out.ipAt(dt.addr, d);
      out.text('","port":');
      out.numAt(dt.port, d);
      out.text(DEST_FWD[dt.fwd[d]!] ?? DEST_FWD[0]!);
      out.numAt(dt.weight, d);
      out.text(DEST_HEALTH[e?.state ?? 'unchecked']!);
      if (e === undefined) out.text('""');
      else jsonStr(out, e.reason);
      out.text(sorry ? ',"sorry":true' : ',"sorry":false');
      out.text(q?.sorryIn === true && e?.state === 'up' && !sorry ? ',"heldOut":true' : ',"heldOut":false');
      if (e?.suspended === true) out.text(',"suspended":true');
      out.text(destOverloaded(dt, d) ? ',"overloaded":true,"active":' : ',"overloaded":false,"active":');
      out.numAt(dt.active, d);
      out.text(',"inactive":');
      out.numAt(dt.inactive, d);
      for (let k = 0; k < 5; k++) {
        out.text(SVC_STAT_KEYS[k]!);
        out.numAt(counts[k]!, d);
      }
      out.text(',"rates":');
      rates.destInto(d, r);
      writeRates(out, r);
      out.text('}');
    }
    // Then the checked servers the table does not hold, as services() lists them.
    for (let k = 0; k < mine.n; k++) {
      const e = mine.left(k);
      if (e === undefined) continue;
      out.text(firstDest ? '{"addr":' : ',{"addr":');
      firstDest = false;
      jsonStr(out, e.addr);
      out.text(',"port":');
      out.num(e.port);
      out.text(',"fwd":"","forward":"-","weight":0,"health":');
      jsonStr(out, e.state);
      out.text(',"removed":true,"reason":');
      jsonStr(out, e.reason);
      out.text(q?.sorryIn === true && e.state === 'up' ? ',"sorry":false,"heldOut":true,"overloaded":false' : ',"sorry":false,"heldOut":false,"overloaded":false');
      if (e.suspended === true) out.text(',"suspended":true');
      out.text(',"active":0,"inactive":0,"conns":0,"inPkts":0,"inBytes":0,"outPkts":0,"outBytes":0,"rates":{"cps":0,"inpps":0,"inbps":0,"outpps":0,"outbps":0}}');
    }
    mine.clear();
    out.text(']}');
    if (due()) yield;
  }
}

/**
 * /status.json's text into `out`, in slices (pause(); due(): whether to ask it now): the fields
 * before the list, then each service written as it is read (the text JSON.stringify makes of
 * { ...head, services }). Built whole first, 10,000 services x 4 servers were held as objects
 * and the client had nothing until then; each service made as objects and serialised as a
 * string, then joined, they were 108 MB allocated for 16 MB of JSON (StatusWalk.write:
 * 2026-12-06). The metrics server's answer, and warmStatus's at start.
 */
export async function writeStatus(dp: Datapath, rates: RateEstimator, src: StatusSources, out: ByteOut, pause: Pause, due: () => boolean): Promise<void> {
  const w = await runStepsSliced(statusWalk(dp, rates, src), pause);
  const head = JSON.stringify(w.head);
  out.text(`${head.slice(0, -1)},"services":[`);
  for (const _ of w.write(out, due)) await pause();
  out.text(']}');
  out.end();
}
