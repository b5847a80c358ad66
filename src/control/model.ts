// The control verbs: one set used by uvsadm (through the socket), the config file, health
// checkers and tests alike. Each verb validates everything first and only then changes the
// datapath, so a refused request changes nothing.

import { UvsError } from './errors.js';
import type {
  ConnInfo, DestInfo, DestKey, DestSpec, Fwd, LaddrSpec, ListResult, Proto, ServiceKey, ServiceSpec, StatusResult, VerbName, Verbs,
} from './protocol.js';
import { STATE_NAMES } from '../datapath/tcpstate.js';
import { TICK_MS } from '../datapath/conntable.js';
import { formatIp, formatMac, parseIp } from '../datapath/addr.js';
import { PROTO_TCP, PROTO_UDP } from '../datapath/frame.js';
import type { DpOp } from '../datapath/ops.js';
import type { Datapath, SvcRuntime } from '../datapath/pipeline.js';
import { FORWARDERS, FWD_IDS, FWD_NAMES } from '../modes/index.js';
import { FWD_DR, FWD_TUN } from '../modes/types.js';
import { getScheduler } from '../sched/index.js';
import { TraceSessions } from './trace.js';
import type { TraceSessionArgs, TraceStartArgs, ZeroArgs } from './protocol.js';

export const DEFAULT_SCHED = 'wlc';
const MAX_WEIGHT = 2147483647;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function protoOf(v: unknown): number {
  if (v === 'tcp') return PROTO_TCP;
  if (v === 'udp') return PROTO_UDP;
  throw new UvsError('BAD_PROTO', JSON.stringify(v));
}

function ipOf(v: unknown): number {
  const ip = typeof v === 'string' ? parseIp(v) : -1;
  if (ip < 0) throw new UvsError('BAD_ADDRESS', JSON.stringify(v));
  return ip;
}

function portOf(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 65535) {
    throw new UvsError('BAD_PORT', `${what} ${JSON.stringify(v)}`);
  }
  return v;
}

function weightOf(v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > MAX_WEIGHT) {
    throw new UvsError('BAD_WEIGHT', `${JSON.stringify(v)} (0..${MAX_WEIGHT})`);
  }
  return v;
}

interface ServiceRef {
  proto: number;
  vip: number;
  port: number;
}

export class Control {
  readonly dp: Datapath;
  readonly info: { tap: string; io?: string };
  /** Free destination slots (the control plane chooses them; DpOp carries the number). */
  private readonly freeDests: number[] = [];
  /** uvsadm trace sessions (src/control/trace.ts). */
  readonly traces: TraceSessions;

  constructor(dp: Datapath, info: { tap: string; io?: string }) {
    this.dp = dp;
    this.info = info;
    this.traces = new TraceSessions(dp);
    for (let i = dp.dt.max - 1; i >= 0; i--) this.freeDests.push(i);
  }

  /** Dispatch a request by verb name; unknown verbs and malformed args are UvsErrors. */
  call(verb: string, args: unknown): unknown {
    const a = isObject(args) ? args : {};
    switch (verb as VerbName) {
      case 'addService': return this.addService(a as unknown as ServiceSpec);
      case 'editService': return this.editService(a as unknown as ServiceSpec);
      case 'deleteService': return this.deleteService(a as unknown as ServiceKey);
      case 'clear': return this.clear();
      case 'addDest': return this.addDest(a as unknown as DestSpec);
      case 'editDest': return this.editDest(a as unknown as DestSpec);
      case 'deleteDest': return this.deleteDest(a as unknown as DestKey);
      case 'list': return this.list();
      case 'status': return this.status();
      case 'zero': return this.zero(a as ZeroArgs);
      case 'traceStart': return this.traceStart(a as TraceStartArgs);
      case 'tracePoll': return this.traces.poll((a as unknown as TraceSessionArgs).session);
      case 'traceStop': return this.traces.stop((a as unknown as TraceSessionArgs).session);
      case 'addLaddr': return this.addLaddr(a as unknown as LaddrSpec);
      case 'delLaddr': return this.delLaddr(a as unknown as LaddrSpec);
      case 'connections': return this.connections(a as { max?: number });
      default: throw new UvsError('UNKNOWN_VERB', JSON.stringify(verb));
    }
  }

  // ---- lookups ---------------------------------------------------------------------------

  private serviceRef(k: unknown): ServiceRef {
    if (!isObject(k)) throw new UvsError('BAD_REQUEST', 'service must be an object');
    const port = portOf(k.port, 'service port');
    return { proto: protoOf(k.proto), vip: ipOf(k.addr), port };
  }

  private findService(r: ServiceRef): SvcRuntime | undefined {
    return this.dp.services.find((s) => s !== undefined && s.proto === r.proto && s.vip === (r.vip | 0) && s.port === r.port);
  }

  private mustService(r: ServiceRef): SvcRuntime {
    const s = this.findService(r);
    if (s === undefined) throw new UvsError('SERVICE_NOT_FOUND');
    return s;
  }

  private findDest(svc: SvcRuntime, ip: number, port: number): number {
    const dt = this.dp.dt;
    for (const d of svc.dests) if (dt.addr[d] === (ip | 0) && dt.port[d] === port) return d;
    return -1;
  }

  private schedulerOf(name: unknown) {
    const n = name === undefined ? DEFAULT_SCHED : name;
    const s = typeof n === 'string' ? getScheduler(n) : undefined;
    if (s === undefined) throw new UvsError('BAD_SCHEDULER', String(n));
    return s;
  }

  // ---- services --------------------------------------------------------------------------

  addService(spec: ServiceSpec): null {
    const r = this.serviceRef(spec);
    if (r.port === 0) throw new UvsError('ZERO_PORT');
    const scheduler = this.schedulerOf(spec.sched);
    if (this.findService(r) !== undefined) throw new UvsError('SERVICE_EXISTS');
    const dp = this.dp;
    let id = dp.services.indexOf(undefined);
    if (id < 0) id = dp.services.length;
    dp.apply([{ op: 'addService', id, proto: r.proto, vip: r.vip, port: r.port, sched: scheduler.name, schedFlags: 0, persist: 0, netmask: 0xffffffff, oneShot: false }]);
    return null;
  }

  editService(spec: ServiceSpec): null {
    const svc = this.mustService(this.serviceRef(spec));
    if (spec.sched === undefined) return null;
    const scheduler = this.schedulerOf(spec.sched);
    this.dp.apply([{ op: 'editService', id: svc.id, sched: scheduler.name, schedFlags: svc.schedFlags, persist: svc.persist, netmask: svc.netmask, oneShot: svc.oneShot }]);
    return null;
  }

  deleteService(key: ServiceKey): null {
    const svc = this.mustService(this.serviceRef(key));
    this.dp.apply([this.removeService(svc)]);
    return null;
  }

  /** The operation that deletes a service; its destination slots become free. */
  private removeService(svc: SvcRuntime): DpOp {
    for (const d of svc.dests) this.freeDests.push(d);
    return { op: 'delService', id: svc.id };
  }

  clear(): null {
    const ops: DpOp[] = [];
    for (const s of this.dp.services) if (s !== undefined) ops.push(this.removeService(s));
    this.dp.apply(ops);
    return null;
  }

  // ---- destinations ----------------------------------------------------------------------

  private destArgs(spec: DestKey): { svc: SvcRuntime; ip: number; port: number } {
    const svc = this.mustService(this.serviceRef(spec.service));
    const ip = ipOf(spec.addr);
    const port = spec.port === undefined ? svc.port : portOf(spec.port, 'real server port');
    return { svc, ip, port };
  }

  private fwdOf(v: unknown): number {
    const id = typeof v === 'string' ? FWD_IDS[v] : undefined;
    if (id === undefined) throw new UvsError('BAD_FWD', JSON.stringify(v));
    if (FORWARDERS[id] === undefined) throw new UvsError('FWD_UNSUPPORTED', String(v));
    return id;
  }

  /** Shared checks of a destination's forwarding method against the service and the link. */
  private checkFwd(svc: SvcRuntime, ip: number, port: number, fwd: number): void {
    if ((fwd === FWD_DR || fwd === FWD_TUN) && port !== svc.port) {
      throw new UvsError('DR_PORT_MISMATCH', `${formatIp(ip)}:${port} for virtual port ${svc.port}`);
    }
    if (fwd === FWD_DR && !this.dp.onLink(ip)) {
      throw new UvsError('NOT_ON_LINK', `${formatIp(ip)} is outside every --addr network`);
    }
    // NAT, FULLNAT and TUN reach off-link servers through --gateway; without one they never could.
    if (fwd !== FWD_DR && !this.dp.onLink(ip) && this.dp.link.gateway === 0) {
      throw new UvsError('NO_ROUTE', `${formatIp(ip)} is outside every --addr network and uvsd has no --gateway`);
    }
  }

  addDest(spec: DestSpec): null {
    const { svc, ip, port } = this.destArgs(spec);
    const fwd = this.fwdOf(spec.fwd ?? 'dr');
    const weight = spec.weight === undefined ? 1 : weightOf(spec.weight);
    this.checkFwd(svc, ip, port, fwd);
    if (this.findDest(svc, ip, port) >= 0) throw new UvsError('DEST_EXISTS');
    const d = this.freeDests.pop();
    if (d === undefined) throw new UvsError('TOO_MANY', `destination table full (${this.dp.dt.max})`);
    this.dp.apply([{ op: 'addDest', svc: svc.id, dest: d, addr: ip, port, fwd, weight, upper: 0, lower: 0 }]);
    return null;
  }

  editDest(spec: DestSpec): null {
    const { svc, ip, port } = this.destArgs(spec);
    const d = this.findDest(svc, ip, port);
    if (d < 0) throw new UvsError('DEST_NOT_FOUND');
    const dt = this.dp.dt;
    const fwd = spec.fwd === undefined ? dt.fwd[d] : this.fwdOf(spec.fwd);
    const weight = spec.weight === undefined ? dt.weight[d] : weightOf(spec.weight);
    this.checkFwd(svc, ip, port, fwd);
    this.dp.apply([{ op: 'editDest', svc: svc.id, dest: d, fwd, weight, upper: dt.upper[d], lower: dt.lower[d] }]);
    return null;
  }

  deleteDest(key: DestKey): null {
    const { svc, ip, port } = this.destArgs(key);
    const d = this.findDest(svc, ip, port);
    if (d < 0) throw new UvsError('DEST_NOT_FOUND');
    // Like IPVS with expire_nodest_conn=1: the server's connections go with it (lazily, see apply).
    this.dp.apply([{ op: 'delDest', svc: svc.id, dest: d }]);
    this.freeDests.push(d);
    return null;
  }

  // ---- statistics and tracing (docs/metrics.md) -------------------------------------------

  /** ipvsadm -Z: zero the statistics of one service, or of all without `service`. */
  zero(args: ZeroArgs): null {
    const svc = args.service === undefined ? -1 : this.mustService(this.serviceRef(args.service)).id;
    this.dp.apply([{ op: 'zero', svc }]);
    return null;
  }

  traceStart(args: TraceStartArgs): unknown {
    const svc = args.service === undefined ? -1 : this.mustService(this.serviceRef(args.service)).id;
    return this.traces.start(svc);
  }

  // ---- reading ---------------------------------------------------------------------------

  list(): ListResult {
    const dp = this.dp;
    const dt = dp.dt;
    const services = dp.services
      .filter((s): s is SvcRuntime => s !== undefined)
      .map((s) => ({
        proto: (s.proto === PROTO_UDP ? 'udp' : 'tcp') as Proto,
        addr: formatIp(s.vip),
        port: s.port,
        sched: s.scheduler.name,
        flags: [] as string[],
        dests: s.dests.map(
          (d): DestInfo => ({
            addr: formatIp(dt.addr[d]),
            port: dt.port[d],
            fwd: FWD_NAMES[dt.fwd[d]] as Fwd,
            weight: dt.weight[d],
            active: dt.active[d],
            inactive: dt.inactive[d],
          }),
        ),
      }));
    return { size: dp.ct.buckets, services };
  }

  status(): StatusResult {
    const dp = this.dp;
    return {
      mac: formatMac(dp.mac),
      tap: this.info.tap,
      io: this.info.io ?? 'none',
      addrs: dp.addrs.map((a) => `${formatIp(a.ip)}/${popcount(a.mask)}`),
      conns: dp.ct.count,
      connMax: dp.ct.max,
      ...dp.counters.snapshot(),
    };
  }
}

// ---- FULLNAT local addresses and the connection list ------------------------------------------
// Minimal verbs for the modes work (tests and the lab); uvsadm's --add-laddr and -Lnc parsing
// are built elsewhere and call these.
export interface Control {
  addLaddr(spec: LaddrSpec): null;
  delLaddr(spec: LaddrSpec): null;
  connections(args: { max?: number }): ConnInfo[];
}

Control.prototype.addLaddr = function addLaddr(this: Control, spec: LaddrSpec): null {
  const { svc, ip } = laddrArgs(this, spec);
  const lo = spec.portMin === undefined ? 1024 : portOf(spec.portMin, 'portMin');
  const hi = spec.portMax === undefined ? 65535 : portOf(spec.portMax, 'portMax');
  if (lo === 0 || lo > hi) throw new UvsError('BAD_PORT', `local port range ${lo}-${hi}`);
  if ((this.dp.laddrs.bySvc[svc.id] ?? []).some((l) => l.addr === (ip | 0))) throw new UvsError('LADDR_EXISTS', formatIp(ip));
  this.dp.apply([{ op: 'addLaddr', svc: svc.id, addr: ip, portMin: lo, portMax: hi }]);
  return null;
};

Control.prototype.delLaddr = function delLaddr(this: Control, spec: LaddrSpec): null {
  const { svc, ip } = laddrArgs(this, spec);
  if (!(this.dp.laddrs.bySvc[svc.id] ?? []).some((l) => l.addr === (ip | 0))) throw new UvsError('LADDR_NOT_FOUND', formatIp(ip));
  this.dp.apply([{ op: 'delLaddr', svc: svc.id, addr: ip }]);
  return null;
};

Control.prototype.connections = function connections(this: Control, args: { max?: number }): ConnInfo[] {
  const ct = this.dp.ct;
  const max = typeof args.max === 'number' && args.max > 0 ? args.max : 100_000;
  const now = Math.floor(performance.now() / TICK_MS);
  const out: ConnInfo[] = [];
  for (let e = 0; e < ct.max && out.length < max; e++) {
    if (!ct.isAlive(e)) continue;
    out.push({
      proto: ct.proto[e] === PROTO_UDP ? 'udp' : 'tcp',
      state: STATE_NAMES[ct.state[e]] ?? '?',
      expires: Math.max(0, Math.round(((ct.expires[e] - now) * TICK_MS) / 1000)),
      caddr: formatIp(ct.caddr[e]), cport: ct.cport[e],
      vaddr: formatIp(ct.vaddr[e]), vport: ct.vport[e],
      daddr: formatIp(ct.daddr[e]), dport: ct.dport[e],
      laddr: formatIp(ct.laddr[e]), lport: ct.lport[e],
      fwd: FWD_NAMES[ct.fwd[e]] as Fwd,
    });
  }
  return out;
};

function laddrArgs(c: Control, spec: LaddrSpec): { svc: SvcRuntime; ip: number } {
  if (!isObject(spec)) throw new UvsError('BAD_REQUEST', 'laddr must be an object');
  const k = spec.service as unknown;
  if (!isObject(k)) throw new UvsError('BAD_REQUEST', 'service must be an object');
  const r = { proto: protoOf(k.proto), vip: ipOf(k.addr), port: portOf(k.port, 'service port') };
  const svc = c.dp.services.find((s) => s !== undefined && s.proto === r.proto && s.vip === (r.vip | 0) && s.port === r.port);
  if (svc === undefined) throw new UvsError('SERVICE_NOT_FOUND');
  return { svc, ip: ipOf(spec.addr) };
}

function popcount(v: number): number {
  let n = 0;
  for (let x = v >>> 0; x !== 0; x = (x & (x - 1)) >>> 0) n++;
  return n;
}

export type { Verbs };
