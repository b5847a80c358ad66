// /status.json: what the status page shows, read from the datapath when asked.

import { formatIp, formatMac } from '../datapath/addr.js';
import { C, DROP_NAMES } from '../datapath/counters.js';
import type { Datapath, SvcRuntime } from '../datapath/pipeline.js';
import { FWD_NAMES } from '../modes/index.js';
import { forwardName } from '../control/printers.js';
import { describeLink } from '../control/linkwatch.js';
import { roleStatus } from '../control/verbs.js';
import type { BgpStatus, Fwd, HaGroupRole, HealthEntry, HealthQueue, HealthQuorum, Proto } from '../control/protocol.js';
import type { ArpWatchStatus } from '../control/arpwatch.js';
import type { MetricsOptions } from './collectors.js';
import type { RateEstimator, Rates } from './rates.js';
import { destOverloaded, fwmarkOf, healthEntries, liveServices, quorumsOf, serviceKeyOf, serviceLabels } from './view.js';
import { serviceId } from '../control/protocol.js';
import { runSteps, runStepsSliced, type Pause, type Steps } from '../control/slices.js';
import type { ByteOut } from './bytes.js';
import { STAT_CONNS, STAT_IN_BYTES, STAT_IN_PKTS, STAT_OUT_BYTES, STAT_OUT_PKTS, serviceStatsSinceZero, type DestTable } from '../datapath/dests.js';

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
   * comma before all but the first, yielding after each: no object per server, nor the text of a
   * service as a string (/status.json; statusText in server.ts).
   */
  write(out: JsonOut): Generator<void, void, void>;
}

/** Where statusWalk's write() puts its text (ByteOut). */
export interface JsonOut {
  text(s: string): void;
  num(v: number): void;
}

/** JSON texts kept from one /status.json to the next: a server slot's (while its generation and method stay) and a service's. */
interface StatusTexts {
  /** By slot: `{"addr":...,"port":...,"fwd":...,"forward":...,"weight":`, and `addr:port` (as the health entries are found). */
  dest: ({ gen: number; fwd: number; head: string; server: string } | undefined)[];
  svc: WeakMap<SvcRuntime, { id: string; head: string }>;
  /** Reasons as JSON strings (a few dozen texts, each written for thousands of servers). */
  reasons: Map<string, string>;
}
const statusTexts = new WeakMap<Datapath, StatusTexts>();

const jsonReason = (t: StatusTexts, r: string): string => {
  let j = t.reasons.get(r);
  if (j === undefined) {
    if (t.reasons.size >= 4096) t.reasons.clear();
    t.reasons.set(r, (j = JSON.stringify(r)));
  }
  return j;
};

const RATE_KEYS = ['{"cps":', ',"inpps":', ',"inbps":', ',"outpps":', ',"outbps":'];
const SVC_STAT_KEYS = [',"conns":', ',"inPkts":', ',"inBytes":', ',"outPkts":', ',"outBytes":'];
const SVC_STATS = [STAT_CONNS, STAT_IN_PKTS, STAT_IN_BYTES, STAT_OUT_PKTS, STAT_OUT_BYTES];
/** A table server's counters, after its flags: the keys, and the table's columns in the same order (destColumns). */
const DEST_STAT_KEYS = [',"active":', ',"inactive":', ...SVC_STAT_KEYS];
const destColumns = (dt: DestTable): ArrayLike<number>[] => [dt.active, dt.inactive, dt.conns, dt.inPkts, dt.inBytes, dt.outPkts, dt.outBytes];
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
  let entriesFor: (id: string) => Map<string, HealthEntry> | undefined;
  if (health?.entriesOf !== undefined && health.quorumOf !== undefined) {
    const { entriesOf, quorumOf } = health;
    quorumFor = (id) => quorumOf.call(health, id);
    entriesFor = (id) => {
      let mine: Map<string, HealthEntry> | undefined;
      for (const e of entriesOf.call(health, id) ?? []) (mine ??= new Map()).set(`${e.addr}:${e.port}`, e);
      return mine;
    };
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
    entriesFor = (id) => entries.get(id);
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
      const mine = entriesFor(id);
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
  /** services() as JSON text (the same fields in the same order), no object per server. */
  function* write(out: JsonOut): Generator<void, void, void> {
    let t = statusTexts.get(dp);
    if (t === undefined) statusTexts.set(dp, (t = { dest: [], svc: new WeakMap(), reasons: new Map() }));
    const st = new Float64Array(5);
    const r = new Float64Array(5);
    const sum = new Float64Array(5);
    const cols = destColumns(dt);
    let first = true;
    for (const s of svcs) {
      if (dp.services[s.id] !== s) continue;
      let sn = t.svc.get(s);
      if (sn === undefined) {
        const key = serviceKeyOf(s);
        const m = fwmarkOf(s);
        const h = { proto: serviceLabels(key).proto, addr: m !== 0 ? '' : formatIp(s.vip), port: s.port, ...(m !== 0 ? { fwmark: m } : {}) };
        t.svc.set(s, (sn = { id: serviceId(key), head: JSON.stringify(h).slice(0, -1) }));
      }
      const q = quorumFor(sn.id);
      const mine = entriesFor(sn.id);
      if (!first) out.text(',');
      first = false;
      out.text(sn.head);
      out.text(',"sched":');
      out.text(JSON.stringify(s.scheduler.name));
      out.text(',"servers":');
      out.num(s.dests.length);
      if (q !== undefined) {
        out.text(',"quorum":');
        out.text(JSON.stringify(quorumOf(q)));
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
      for (const d of s.dests) {
        let dn = t.dest[d];
        if (dn === undefined || dn.gen !== dt.gen[d] || dn.fwd !== dt.fwd[d]) {
          const addr = formatIp(dt.addr[d]);
          const fwd = FWD_NAMES[dt.fwd[d]] ?? 'dr';
          dn = t.dest[d] = {
            gen: dt.gen[d]!, fwd: dt.fwd[d]!, server: `${addr}:${dt.port[d]}`,
            head: `${JSON.stringify({ addr, port: dt.port[d], fwd, forward: forwardName(fwd as Fwd) }).slice(0, -1)},"weight":`,
          };
        }
        const e = mine?.get(dn.server);
        mine?.delete(dn.server);
        const sorry = q?.sorry === dn.server && (e === undefined || q.sorryIn);
        if (!firstDest) out.text(',');
        firstDest = false;
        out.text(dn.head);
        out.num(dt.weight[d]);
        out.text(DEST_HEALTH[e?.state ?? 'unchecked']!);
        out.text(e === undefined ? '""' : jsonReason(t, e.reason));
        out.text(sorry ? ',"sorry":true' : ',"sorry":false');
        out.text(q?.sorryIn === true && e?.state === 'up' && !sorry ? ',"heldOut":true' : ',"heldOut":false');
        if (e?.suspended === true) out.text(',"suspended":true');
        out.text(destOverloaded(dt, d) ? ',"overloaded":true' : ',"overloaded":false');
        for (let k = 0; k < DEST_STAT_KEYS.length; k++) {
          out.text(DEST_STAT_KEYS[k]!);
          out.num(cols[k]![d]!);
        }
        out.text(',"rates":');
        rates.destInto(d, r);
        writeRates(out, r);
        out.text('}');
      }
      // Then the checked servers the table does not hold, as services() lists them.
      if (mine !== undefined) {
        for (const e of mine.values()) {
          out.text(`${firstDest ? '' : ','}{"addr":${JSON.stringify(e.addr)},"port":`);
          firstDest = false;
          out.num(e.port);
          out.text(`,"fwd":"","forward":"-","weight":0,"health":"${e.state}","removed":true,"reason":${jsonReason(t, e.reason)},"sorry":false,"heldOut":${q?.sorryIn === true && e.state === 'up'},"overloaded":false`);
          if (e.suspended === true) out.text(',"suspended":true');
          out.text(',"active":0,"inactive":0,"conns":0,"inPkts":0,"inBytes":0,"outPkts":0,"outBytes":0,"rates":{"cps":0,"inpps":0,"inbps":0,"outpps":0,"outbps":0}}');
        }
      }
      out.text(']}');
      yield;
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
  for (const _ of w.write(out)) if (due()) await pause();
  out.text(']}');
  out.end();
}
