// One registry of error codes and their messages. Where ipvsadm/libipvs has a message for the same
// refusal, the message is ipvsadm's, word for word (scripts grep for them); uvs-only refusals say
// what is wrong in the same style. The daemon replies with {code, message, detail?}: `detail`
// names the offending value; uvsadm prints `message` alone, as ipvsadm would.

export const ERRORS = {
  // libipvs's ipvs_strerror() wording, per call (uvsadm exits 255 for these, as ipvsadm does).
  SERVICE_EXISTS: 'Service already exists',
  NO_SERVICE: 'No such service',
  SERVICE_NOT_FOUND: 'Service not defined',
  DEST_EXISTS: 'Destination already exists',
  DEST_NOT_FOUND: 'No such destination',
  BAD_SCHEDULER: 'Scheduler or persistence engine not found',
  BAD_THRESHOLDS: 'Numerical result out of range',
  INVALID: 'Invalid operation.  Possibly wrong module version, address not unicast, ...',
  TOO_MANY: 'Memory allocation problem',
  NO_TRACE: 'No such trace session',
  SYNC_RUNNING: 'Daemon has already run',
  SYNC_NOT_RUNNING: 'No daemon is running',
  // ipvsadm's own checks (also made by the daemon, for clients other than uvsadm).
  ZERO_PORT: 'Zero port specified for non-persistent service',
  OPS_NOT_UDP: 'One-Packet Scheduling is only for UDP virtual services',
  BAD_SCHED_FLAG: 'invalid scheduler flag',
  INCOMPATIBLE_SCHED_FLAG: 'incompatible scheduler flag',
  // uvs only.
  BAD_ADDRESS: 'Invalid address',
  BAD_PORT: 'Invalid port',
  BAD_WEIGHT: 'illegal weight specified',
  BAD_TIMEOUT: 'invalid timeout value',
  BAD_PROTO: 'Invalid protocol',
  BAD_FWD: 'Invalid forwarding method',
  FWD_UNSUPPORTED: 'Forwarding method not supported yet',
  DR_PORT_MISMATCH: 'Real server port must equal the virtual port for direct routing and tunneling',
  NOT_ON_LINK: 'Real server is not on a directly connected network (direct routing needs one)',
  NO_ROUTE: 'No route to the real server',
  NOT_UNICAST: 'Not a unicast host address',
  ADDRESS_CONFLICT: 'Address already used in the table in another role',
  ADDRESS_IN_USE: 'Address already in use on the LAN',
  LADDR_EXISTS: 'Local address already exists',
  LADDR_NOT_FOUND: 'No such local address',
  BAD_FWMARK: 'Invalid firewall mark',
  MARK_OVERLAP: 'Marked ports overlap another mark of the same address',
  MARK_NOT_FOUND: 'No such mark',
  BAD_TUNNEL: 'Invalid tunnel options',
  SYNPROXY_NOT_TCP: 'The SYN proxy is only for TCP virtual services',
  PE_NOT_PERSISTENT: 'A persistence engine needs a persistent service (-p)',
  PE_NOT_UDP: 'The SIP persistence engine is only for UDP virtual services',
  SYNPROXY_FWD: 'The SYN proxy needs NAT or FULLNAT real servers (the director never sees DR/TUN replies)',
  BAD_REQUEST: 'Invalid request',
  UNKNOWN_VERB: 'Unknown command',
  BAD_CONFIG: 'Invalid configuration',
  BAD_SYNC: 'Invalid sync daemon setting',
  NO_HA_GROUP: 'No such HA group',
  // The control socket's own limits (server.ts): a connection refused before any request.
  TOO_MANY_CLIENTS: 'Too many connections',
  // uvsd got SIGTERM: it answers reads until its socket goes, and takes no more changes (the
  // state file is written with the last one it acknowledged).
  STOPPING: 'uvsd is stopping: nothing changed',
  BUSY: 'Too many requests being read',
  // Client side (uvsadm / ControlClient): the daemon is missing, silent or garbled.
  NO_DAEMON: 'cannot connect to uvsd',
  TIMEOUT: 'no reply from uvsd',
  BAD_REPLY: 'invalid reply from uvsd',
} as const;

export type ErrorCode = keyof typeof ERRORS;

/** Refusals ipvsadm itself words (uvsadm prints their message alone, exactly as ipvsadm would), and
 *  BAD_CONFIG, whose message already names the file, line and field. Not TOO_MANY: ipvsadm's
 *  "Memory allocation problem" is the kernel out of memory, uvs's a limit of its own (--dest-max),
 *  so uvsadm adds which (since 2026-12-07). */
const MESSAGE_ONLY: ReadonlySet<string> = new Set<ErrorCode>([
  'SERVICE_EXISTS', 'NO_SERVICE', 'SERVICE_NOT_FOUND', 'DEST_EXISTS', 'DEST_NOT_FOUND', 'BAD_SCHEDULER', 'BAD_THRESHOLDS',
  'INVALID', 'SYNC_RUNNING', 'SYNC_NOT_RUNNING', 'ZERO_PORT', 'OPS_NOT_UDP', 'BAD_SCHED_FLAG', 'INCOMPATIBLE_SCHED_FLAG', 'BAD_WEIGHT', 'BAD_TIMEOUT',
  'BAD_CONFIG',
]);

/** The one line uvsadm prints for a refusal: ipvsadm's words where ipvsadm has them, else the
 *  message with the offending value (ipvsadm has no such refusal, so there is nothing to match). */
export function refusalLine(code: string, message: string, detail: string | undefined): string {
  return MESSAGE_ONLY.has(code) || detail === undefined ? message : `${message}: ${detail}`;
}

/**
 * An expected, user-facing failure: a registry code, its text, and the offending detail.
 * `message` is the text with the detail (logs, in-process callers such as the health checks);
 * `text` alone is what goes on the wire as `message` and what uvsadm prints (ipvsadm's words).
 */
export class UvsError extends Error {
  readonly code: ErrorCode;
  readonly text: string;
  readonly detail: string | undefined;
  /** For a batch: which item (0-based) was refused. */
  index: number | undefined;
  /** `text` replaces the registry text where the refusal needs its own words (config files). */
  constructor(code: ErrorCode, detail?: string, text?: string) {
    const t = text ?? ERRORS[code];
    super(text !== undefined || detail === undefined ? t : `${t}: ${detail}`);
    this.code = code;
    this.text = t;
    this.detail = detail;
  }
}

/** A program's one line for output it could not write (ENOSPC, EIO; EPIPE is no failure), Node's ", write" cut. */
export function outputFailure(program: string, e: Error): string {
  return `${program}: cannot write to standard output: ${e.message.replace(/, write$/, '')}\n`;
}

/** Exit statuses of uvsadm, as ipvsadm's: 0 ok; 2 a bad command line (fail(2, ...)); 255 the
 *  kernel (here: uvsd) refused (libipvs returned -1); 1 listing a missing service. 3 = no daemon. */
export const EXIT_OK = 0;
export const EXIT_LIST_FAILED = 1;
export const EXIT_USAGE = 2;
export const EXIT_NO_DAEMON = 3;
export const EXIT_REFUSED = 255;

/** uvsd was not reached, took no request on the connection, or gave no usable reply (uvsadm exits EXIT_NO_DAEMON). */
export const UNREACHED: ReadonlySet<string> = new Set<ErrorCode>(['NO_DAEMON', 'TIMEOUT', 'BAD_REPLY', 'TOO_MANY_CLIENTS', 'BUSY', 'STOPPING']);
