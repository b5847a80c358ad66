// /status.json: what the status page shows, read from the datapath when asked.

import { formatIp, formatMac } from '../datapath/addr.js';
import { C, DROP_NAMES } from '../datapath/counters.js';
import type { Datapath } from '../datapath/pipeline.js';
import { FWD_NAMES } from '../modes/index.js';
import { forwardName } from '../control/printers.js';
import { describeLink } from '../control/linkwatch.js';
import { roleStatus } from '../control/verbs.js';
import type { BgpStatus, Fwd, HaGroupRole, HealthEntry, HealthQueue, HealthQuorum, Proto } from '../control/protocol.js';
import type { ArpWatchStatus } from '../control/arpwatch.js';
import type { MetricsOptions } from './collectors.js';
import type { RateEstimator, Rates } from './rates.js';
import { l4Name } from '../datapath/frame.js';
import { destOverloaded, fwmarkOf, healthEntries, liveServices, quorumsOf, serviceIdOf, serviceKeyOf, serviceLabels } from './view.js';
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

function sumRates(rs: Rates[]): Rates {
  const out: Rates = { cps: 0, inpps: 0, inbps: 0, outpps: 0, outbps: 0 };
  for (const r of rs) {
    out.cps += r.cps;
    out.inpps += r.inpps;
    out.inbps += r.inbps;
    out.outpps += r.outpps;
    out.outbps += r.outbps;
  }
  return out;
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

/** `s` from `from` to `to` as formatIp writes an address: the address (uint32), else -1. */
function ipAt(s: string, from: number, to: number): number {
  let v = 0;
  let at = from;
  for (let k = 0; k < 4; k++) {
    let dot = k < 3 ? s.indexOf('.', at) : to;
    if (dot < 0 || dot > to) dot = -1;
    const o = dot < 0 ? -1 : decimalAt(s, at, dot, 255);
    if (o < 0) return -1;
    v = v * 256 + o;
    at = dot + 1;
  }
  return v;
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

  /** The service's entries (none: undefined) in their order. */
  fill(list: Iterable<HealthEntry> | undefined): void {
    this.n = 0;
    if (list !== undefined) for (const e of list) this.add(e);
    this.index();
  }

  /** The service's entries as rows[0..n) (HealthView.entriesInto's; n < 0: none), in their order; the rows are the caller's, read until clear(). */
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
    this.ip[i] = port < 0 ? -1 : ipAt(e.addr, 0, e.addr.length);
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
      const at = this.ip[i]! < 0 ? this.sameText(i) : this.slot(this.ip[i]!, this.port[i]!);
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

  /** The slot of (ip, port): where its entry is, or the empty one where it would be. */
  private slot(ip: number, port: number): number {
    const mask = this.slots.length - 1;
    let h = Math.imul((ip | 0) ^ Math.imul(port, 0x9e3779b1), 0x85ebca6b);
    h ^= h >>> 15;
    for (let at = h & mask; ; at = (at + 1) & mask) {
      const x = this.slots[at]!;
      if (x === 0 || (this.ip[x - 1] === ip && this.port[x - 1] === port)) return at;
    }
  }

  /** The entry of the server at ip (int32), port, once (as a Map's get then delete); undefined: none. */
  take(ip: number, port: number): HealthEntry | undefined {
    if (this.n === 0) return undefined;
    const x = this.slots[this.slot(ip >>> 0, port)]!;
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

/** A server's key (ip (uint32) x 65536 + port) from its text `ip:port` as formatIp and a port write it, else -1 (a quorum's sorry server). */
function serverKeyOf(text: string | undefined): number {
  if (text === undefined) return -1;
  const colon = text.lastIndexOf(':');
  const port = colon < 0 ? -1 : decimalAt(text, colon + 1, text.length, 0xffff);
  const ip = port < 0 ? -1 : ipAt(text, 0, colon);
  return ip < 0 ? -1 : ip * 65536 + port;
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
    out.num(r[k]!);
  }
  out.text('}');
}

/**
 * The status in the order /status.json is written, yielding after each map it builds (where a
 * sliced caller may let the event loop run: a poll every 1.5 s of a table with thousands of
 * services runs on the datapath's thread); then `services` makes each service when asked, so the
 * writer holds one service, not the list (built whole before it was serialised, 10,000 services
 * of 4 servers were 16 MB of JSON held as objects). Linear in services, servers and health
 * entries: every lookup goes through a map built once.
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
  const svcs = liveServices(dp);
  yield;
  let quorumFor: (id: string) => HealthQuorum | undefined;
  /** A service's checked servers, in the health checks' order. */
  let entriesOf: (id: string) => Iterable<HealthEntry> | undefined;
  // write()'s: the same, into rows reused for every service where the view can (entriesInto,
  // quorumInto: no entry object per server, no quorum object per service); set here, so that
  // write() only calls them.
  let quorumInto = (id: string): HealthQuorum | undefined => quorumFor(id);
  let fillChecked = (id: string, mine: CheckedServers): void => mine.fill(entriesOf(id));
  if (health?.entriesOf !== undefined && health.quorumOf !== undefined) {
    const view = health;
    quorumFor = (id) => view.quorumOf!(id);
    entriesOf = (id) => view.entriesOf!(id);
    if (view.entriesInto !== undefined && view.quorumInto !== undefined) {
      const rows: HealthEntry[] = [];
      // quorumOf's field order (jsonFields writes them in it).
      const qrow: HealthQuorum = { service: { proto: 'tcp', addr: '', port: 0 }, up: false, aliveWeight: 0, quorum: 0, hysteresis: 0, sorryIn: false, sorry: undefined, suspended: undefined };
      quorumInto = (id) => (view.quorumInto!(id, qrow) ? qrow : undefined);
      fillChecked = (id, mine) => mine.fillRows(rows, view.entriesInto!(id, rows));
    }
  } else {
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
    quorumFor = (id) => quorums.get(id);
    entriesOf = (id) => entries.get(id)?.values();
  }
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
    for (const s of svcs) {
      if (dp.services[s.id] !== s) continue;
      const id = serviceId(serviceKeyOf(s));
      const q = quorumFor(id);
      // By server (a later entry of a server in the place of the first).
      let mine: Map<string, HealthEntry> | undefined;
      for (const e of entriesOf(id) ?? []) (mine ??= new Map()).set(`${e.addr}:${e.port}`, e);
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
        outBytes: st[STAT_OUT_BYTES], noDest: c.svcNoDest[s.id], rates: sumRates(dests.map((d) => d.rates)), dests,
      };
    }
  }
  /**
   * services() as JSON text (the same fields in the same order): no object per server, no string
   * per server nor per service (numbers and addresses written as digits, the health entries found
   * by address and port: CheckedServers), nothing kept to the next /status.json. Yields after a
   * service where due() says so (after every one without it); a service is written whole, as the
   * table has it at that moment (its servers' list changes in place).
   */
  function* write(out: JsonOut, due: () => boolean = () => true): Generator<void, void, void> {
    const st = new Float64Array(5);
    const r = new Float64Array(5);
    const sum = new Float64Array(5);
    const mine = new CheckedServers();
    // A server's counters after its active and inactive, in SVC_STAT_KEYS' order (all Float64Array: one kind of load).
    const counts = [dt.conns, dt.inPkts, dt.inBytes, dt.outPkts, dt.outBytes];
    let first = true;
    for (const s of svcs) {
      if (dp.services[s.id] !== s) continue;
      const m = fwmarkOf(s);
      // The health checks name a service by its serviceId: made only to ask them.
      let q: HealthQuorum | undefined;
      if (health !== undefined) {
        const id = serviceIdOf(s);
        q = quorumInto(id);
        fillChecked(id, mine);
      }
      const sorryKey = serverKeyOf(q?.sorry);
      if (!first) out.text(',');
      first = false;
      // JSON.stringify({ proto, addr, port, fwmark? }) of serviceKeyOf's, as services() makes it.
      if (m !== 0) {
        out.text('{"proto":"fwm","addr":"","port":');
        out.num(s.port);
        out.text(',"fwmark":');
        out.num(m);
      } else {
        out.text('{"proto":');
        jsonStr(out, l4Name(s.proto));
        out.text(',"addr":"');
        out.ip(s.vip);
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
        out.num(st[SVC_STATS[k]!]!);
      }
      out.text(',"noDest":');
      out.num(c.svcNoDest[s.id]);
      // The service's rates (the sum of its servers', as sumRates), written before them: summed first.
      sum.fill(0);
      for (const d of s.dests) {
        rates.destInto(d, r);
        for (let k = 0; k < 5; k++) sum[k] += r[k]!;
      }
      out.text(',"rates":');
      writeRates(out, sum);
      out.text(',"dests":[');
      let firstDest = true;
      const ds = s.dests;
      for (let j = 0; j < ds.length; j++) {
        const d = ds[j]!;
        const e = mine.take(dt.addr[d]!, dt.port[d]!);
        // A checked server that is also the sorry server is the sorry server while that is in.
        const sorry = sorryKey >= 0 && sorryKey === (dt.addr[d]! >>> 0) * 65536 + dt.port[d]! && (e === undefined || q!.sorryIn);
        out.text(firstDest ? '{"addr":"' : ',{"addr":"');
        firstDest = false;
        out.ip(dt.addr[d]!);
        out.text('","port":');
        out.num(dt.port[d]!);
        out.text(DEST_FWD[dt.fwd[d]!] ?? DEST_FWD[0]!);
        out.num(dt.weight[d]!);
        out.text(DEST_HEALTH[e?.state ?? 'unchecked']!);
        if (e === undefined) out.text('""');
        else jsonStr(out, e.reason);
        out.text(sorry ? ',"sorry":true' : ',"sorry":false');
        out.text(q?.sorryIn === true && e?.state === 'up' && !sorry ? ',"heldOut":true' : ',"heldOut":false');
        if (e?.suspended === true) out.text(',"suspended":true');
        out.text(destOverloaded(dt, d) ? ',"overloaded":true,"active":' : ',"overloaded":false,"active":');
        out.num(dt.active[d]!);
        out.text(',"inactive":');
        out.num(dt.inactive[d]!);
        for (let k = 0; k < 5; k++) {
          out.text(SVC_STAT_KEYS[k]!);
          out.num(counts[k]![d]!);
        }
        out.text(',"rates":');
        rates.destInto(d, r);
        writeRates(out, r);
        out.text('}');
      }
      // Then the checked servers the table does not hold, as services() lists them.
      for (let i = 0; i < mine.n; i++) {
        const e = mine.left(i);
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
  return { head, services: services(), write };
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
