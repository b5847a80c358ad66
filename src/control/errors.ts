// One registry of error codes and their ipvsadm-style messages. The daemon replies with
// {code, message}; uvsadm prints the message and maps the code to an exit status here.

export const ERRORS = {
  SERVICE_EXISTS: 'Service already exists',
  SERVICE_NOT_FOUND: 'Service not defined',
  DEST_EXISTS: 'Destination already exists',
  DEST_NOT_FOUND: 'No such destination',
  BAD_SCHEDULER: 'Scheduler not found',
  BAD_ADDRESS: 'Invalid address',
  BAD_PORT: 'Invalid port',
  ZERO_PORT: 'Zero port specified for non-persistent service',
  BAD_WEIGHT: 'Invalid weight',
  BAD_PROTO: 'Invalid protocol',
  BAD_FWD: 'Invalid forwarding method',
  FWD_UNSUPPORTED: 'Forwarding method not supported yet',
  DR_PORT_MISMATCH: 'Real server port must equal the virtual port for direct routing and tunneling',
  NOT_ON_LINK: 'Real server is not on a directly connected network (direct routing needs one)',
  NO_ROUTE: 'No route to the real server',
  LADDR_EXISTS: 'Local address already exists',
  LADDR_NOT_FOUND: 'No such local address',
  BAD_REQUEST: 'Invalid request',
  UNKNOWN_VERB: 'Unknown command',
  TOO_MANY: 'Memory allocation problem',
  NO_TRACE: 'No such trace session',
  // Client side (uvsadm / ControlClient): the daemon is missing, silent or garbled.
  NO_DAEMON: 'cannot connect to uvsd',
  TIMEOUT: 'no reply from uvsd',
  BAD_REPLY: 'invalid reply from uvsd',
} as const;

export type ErrorCode = keyof typeof ERRORS;

/** An expected, user-facing failure: carries a registry code and the offending detail. */
export class UvsError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, detail?: string) {
    super(detail === undefined ? ERRORS[code] : `${ERRORS[code]}: ${detail}`);
    this.code = code;
  }
}

/** Exit status for uvsadm: 1 for anything the daemon refused, 2 for usage, 3 for no daemon. */
export const EXIT_REFUSED = 1;
export const EXIT_USAGE = 2;
export const EXIT_NO_DAEMON = 3;
