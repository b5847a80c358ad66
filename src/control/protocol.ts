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
