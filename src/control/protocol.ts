// The JSON-lines protocol spoken on uvsd's control socket (docs/control-protocol.md).
// One request per line, one reply per line, matched by id. Every client (uvsadm, tests,
// health checkers later) uses these types, so the wire format lives in one place.

export type Proto = 'tcp' | 'udp';
/** Forwarding method as stored; ipvsadm's -g/-m/-i and DPVS's FULLNAT. */
export type Fwd = 'dr' | 'nat' | 'tun' | 'fullnat';

export interface ServiceKey {
  proto: Proto;
  addr: string; // dotted quad
  port: number;
}

export interface ServiceSpec extends ServiceKey {
  sched?: string; // default 'wlc'
  flags?: string[]; // scheduler flags (-b), reserved
}

export interface DestKey {
  service: ServiceKey;
  addr: string;
  port: number;
}

export interface DestSpec extends DestKey {
  fwd?: Fwd; // default 'dr'
  weight?: number; // default 1
}

export interface DestInfo {
  addr: string;
  port: number;
  fwd: Fwd;
  weight: number;
  active: number;
  inactive: number;
  /** Health checks (src/health): up, down, or unchecked when no checker watches it. */
  health?: 'up' | 'down' | 'unchecked';
}

export interface ServiceInfo {
  proto: Proto;
  addr: string;
  port: number;
  sched: string;
  flags: string[];
  dests: DestInfo[];
}

export interface ListResult {
  /** Connection hash table size printed in the ipvsadm banner. */
  size: number;
  services: ServiceInfo[];
}

/** One checked real server, as the `status` verb reports it (filled by src/health/report.ts). */
export interface HealthEntry {
  service: ServiceKey;
  addr: string;
  port: number;
  state: 'up' | 'down';
  /** Last reason for the current state ("start" before any change). */
  reason: string;
  /** Weight the server has (or gets back) when healthy. */
  weight: number;
  inhibit: boolean;
  /** ms since epoch of the last state change (start time when none). */
  since: number;
}

export interface StatusResult {
  mac: string;
  tap: string;
  /** How frames cross to the kernel: "io_uring" (one system call per batch) or "syscalls". */
  io: string;
  addrs: string[];
  conns: number;
  connMax: number;
  counters: Record<string, number>;
  drops: Record<string, number>;
  /** Health checks (src/health): every checked real server, also those removed from the table. */
  health?: HealthEntry[];
}

// ---- observability: -Z and uvsadm trace (docs/metrics.md) --------------------------------

/** zero: ipvsadm -Z, of one service or (without `service`) of all. */
export interface ZeroArgs {
  service?: ServiceKey;
}

/** traceStart: only decisions of `service` when given. */
export interface TraceStartArgs {
  service?: ServiceKey;
}

export interface TraceStartResult {
  session: number;
}

export interface TraceSessionArgs {
  session: number;
}

/** One new-connection decision. */
export interface TraceEvent {
  /** ISO 8601 time of the decision. */
  time: string;
  proto: Proto;
  client: string; // addr:port
  service: string; // vip:port
  /** addr:port of the chosen real server; null when none was available (dropped, no_dest). */
  server: string | null;
  sched: string;
  /** The scheduler's explain() line, or its name when it has none. */
  why: string;
}

/** A drop counter that moved since the previous poll. */
export interface TraceDrop {
  reason: string;
  count: number;
}

export interface TracePollResult {
  events: TraceEvent[];
  drops: TraceDrop[];
  /** Decisions overwritten in the ring before this session read them. */
  lost: number;
  /** More events are waiting (poll again right away). */
  more: boolean;
}

/** A FULLNAT local address of a service (DPVS --add-laddr); ports portMin..portMax (default 1024..65535). */
export interface LaddrSpec {
  service: ServiceKey;
  addr: string;
  portMin?: number;
  portMax?: number;
}

/** One connection entry (ipvsadm -Lnc), with FULLNAT's local address and port. */
export interface ConnInfo {
  proto: Proto;
  state: string;
  /** Seconds until expiry. */
  expires: number;
  caddr: string;
  cport: number;
  vaddr: string;
  vport: number;
  daddr: string;
  dport: number;
  laddr: string;
  lport: number;
  fwd: Fwd;
}

export interface Verbs {
  addService: { args: ServiceSpec; result: null };
  editService: { args: ServiceSpec; result: null };
  deleteService: { args: ServiceKey; result: null };
  clear: { args: Record<string, never>; result: null };
  addDest: { args: DestSpec; result: null };
  editDest: { args: DestSpec; result: null };
  deleteDest: { args: DestKey; result: null };
  list: { args: Record<string, never>; result: ListResult };
  status: { args: Record<string, never>; result: StatusResult };
  zero: { args: ZeroArgs; result: null };
  traceStart: { args: TraceStartArgs; result: TraceStartResult };
  tracePoll: { args: TraceSessionArgs; result: TracePollResult };
  traceStop: { args: TraceSessionArgs; result: null };
  addLaddr: { args: LaddrSpec; result: null };
  delLaddr: { args: LaddrSpec; result: null };
  connections: { args: { max?: number }; result: ConnInfo[] };
}
export type VerbName = keyof Verbs;

export interface Request<V extends VerbName = VerbName> {
  id: number;
  verb: V;
  args: Verbs[V]['args'];
}

export interface ErrorBody {
  code: string;
  message: string;
}

export type Reply =
  | { id: number; ok: true; result: unknown }
  | { id: number; ok: false; error: ErrorBody };

export const DEFAULT_SOCKET = '/run/uvs/uvsd.sock';
