// SCTP as the load balancer sees it (like ip_vs_proto_sctp.c): only a packet whose first chunk is
// an INIT opens a connection; the state follows the first chunk of each packet through the
// kernel's table (three directions, ten events, fourteen states, RFC 9260 section 4 plus the
// kernel's INIT1/REJECTED); ports sit where TCP/UDP have them, the checksum is a CRC32c of the
// whole packet with no pseudo-header (RFC 9260 appendix B), so an address change leaves it alone
// and a port change means computing it again.
//
// uvs keeps SCTP under its own protocol number (PROTO_SCTP, frame.ts): the wire's 132 has the
// bit the connection table's proto byte uses for templates.

import { F_NOOUTPUT, type ConnTable } from '../datapath/conntable.js';
import type { DestTable } from '../datapath/dests.js';
import { rd16 } from '../datapath/frame.js';
import { enterState } from './state.js';
import { DIR_INPUT_ONLY, DIR_OUTPUT, SCTP_STATE_NAMES, S_SCTP } from '../datapath/tcpstate.js';

/** SCTP common header: ports, verification tag, checksum (at 8); then chunks (type, flags, length). */
export const SCTP_HLEN = 12;
export const SCTP_CSUM = 8;
/** The shortest packet uvs reads: the common header and one chunk header. */
export const SCTP_MIN = SCTP_HLEN + 4;

export const CID_DATA = 0;
export const CID_INIT = 1;
export const CID_INIT_ACK = 2;
export const CID_ABORT = 6;
export const CID_SHUTDOWN = 7;
export const CID_SHUTDOWN_ACK = 8;
export const CID_ERROR = 9;
export const CID_COOKIE_ECHO = 10;
export const CID_COOKIE_ACK = 11;
export const CID_SHUTDOWN_COMPLETE = 14;

// Events (the kernel's ipvs_sctp_event_t): what a packet's first chunk means to the state.
const EV_DATA = 0; // DATA, SACK, HEARTBEAT(_ACK), ECN and any chunk type the table does not name
const EV_INIT = 1;
const EV_INIT_ACK = 2;
const EV_COOKIE_ECHO = 3;
const EV_COOKIE_ACK = 4;
const EV_SHUTDOWN = 5;
const EV_SHUTDOWN_ACK = 6;
const EV_SHUTDOWN_COMPLETE = 7;
const EV_ERROR = 8;
const EV_ABORT = 9;
const EVENTS = 10;

/** Chunk type → event, for types 0..14 (higher types are EV_DATA). */
const EVENT_OF = Uint8Array.from([
  EV_DATA, EV_INIT, EV_INIT_ACK, EV_DATA, EV_DATA, EV_DATA, EV_ABORT, EV_SHUTDOWN, EV_SHUTDOWN_ACK, EV_ERROR,
  EV_COOKIE_ECHO, EV_COOKIE_ACK, EV_DATA, EV_DATA, EV_SHUTDOWN_COMPLETE,
]);

// States, numbered from S_SCTP in the datapath's one state space (tcpstate.ts SCTP_STATE_NAMES).
const [NO, I1, IN, CS, CR, CW, CO, CE, ES, SS, SR, SA, RJ, CL] = SCTP_STATE_NAMES.map((_, i) => i);
export const SS_NONE = S_SCTP + NO;
/** CLOSED: an INIT on its tuple is a new association, scheduled again (conn_reuse_mode). */
export const SS_CLOSED = S_SCTP + CL;

// The kernel's sctp_states[direction][event][state], the direction INPUT (client → server),
// OUTPUT (server → client) or INPUT_ONLY (DR/TUN: the server's packets are never seen).
// columns: NO I1 IN CS CR CW CO CE ES SS SR SA RJ CL
const INPUT = [
  /* data  */ [ES, I1, IN, CS, CR, CW, CO, CE, ES, SS, SR, SA, RJ, CL],
  /* init  */ [I1, IN, IN, CS, CR, CW, CO, CE, ES, SS, SR, SA, IN, IN],
  /* i_ack */ [CW, CW, CW, CS, CR, CO, CO, CE, ES, SS, SR, SA, RJ, CL],
  /* c_ech */ [CR, IN, IN, CR, CR, CW, CO, CE, ES, SS, SR, SA, RJ, CL],
  /* c_ack */ [ES, I1, IN, CS, CR, CW, CO, ES, ES, SS, SR, SA, RJ, CL],
  /* shut  */ [SR, I1, IN, CS, CR, CW, CO, CE, SR, SS, SR, SA, RJ, CL],
  /* s_ack */ [CL, IN, IN, CS, CR, CW, CO, CE, ES, CL, SR, CL, RJ, CL],
  /* s_cpl */ [CL, CL, CL, CS, CR, CW, CO, CE, ES, SS, SR, CL, RJ, CL],
  /* err   */ [CL, I1, IN, CS, CR, CW, CO, CL, ES, SS, SR, SA, RJ, CL],
  /* abort */ [CL, CL, CL, CL, CL, RJ, CL, CL, CL, CL, CL, CL, CL, CL],
];
const OUTPUT = [
  /* data  */ [ES, I1, IN, CS, CR, CW, CO, CE, ES, SS, SR, SA, RJ, CL],
  /* init  */ [CW, CW, CW, CW, CW, CW, CW, CW, ES, CW, CW, CW, CW, CW],
  /* i_ack */ [CS, CS, CS, CS, CR, CW, CO, CE, ES, SS, SR, SA, RJ, CL],
  /* c_ech */ [CE, CE, CE, CE, CE, CE, CE, CE, ES, SS, SR, SA, RJ, CL],
  /* c_ack */ [ES, ES, ES, ES, ES, ES, ES, ES, ES, SS, SR, SA, RJ, CL],
  /* shut  */ [SS, SS, SS, SS, SS, SS, SS, SS, SS, SS, SR, SA, RJ, CL],
  /* s_ack */ [SA, SA, SA, SA, SA, CW, CO, CE, ES, SA, SA, SA, RJ, CL],
  /* s_cpl */ [CL, I1, IN, CS, CR, CW, CO, CE, ES, SS, SR, SA, RJ, CL],
  /* err   */ [CL, CL, CL, CL, CL, CW, CO, CE, ES, SS, SR, SA, RJ, CL],
  /* abort */ [CL, RJ, CL, CL, CL, CL, CL, CL, CL, CL, CL, CL, CL, CL],
];
const INPUT_ONLY = [
  /* data  */ [ES, I1, IN, CS, CR, ES, CO, CE, ES, SS, SR, SA, RJ, CL],
  /* init  */ [I1, IN, IN, IN, IN, IN, CO, CE, ES, SS, SR, SA, IN, IN],
  /* i_ack */ [CE, CE, CE, CE, CE, CE, CO, CE, ES, SS, SR, SA, RJ, CL],
  /* c_ech */ [ES, ES, ES, ES, ES, ES, CO, CE, ES, SS, SR, SA, RJ, CL],
  /* c_ack */ [ES, I1, IN, ES, ES, CW, ES, ES, ES, SS, SR, SA, RJ, CL],
  /* shut  */ [SR, I1, IN, CS, CR, CW, CO, CE, SR, SS, SR, SA, RJ, CL],
  /* s_ack */ [CL, IN, IN, CS, CR, CW, CO, CE, CL, CL, SR, CL, RJ, CL],
  /* s_cpl */ [CL, CL, CL, CL, CL, CW, CO, CE, ES, SS, CL, CL, RJ, CL],
  /* err   */ [CL, I1, IN, CS, CR, CW, CO, CE, ES, SS, SR, SA, RJ, CL],
  /* abort */ [CL, CL, CL, CL, CL, RJ, CL, CL, CL, CL, CL, CL, CL, CL],
];
const N = SCTP_STATE_NAMES.length;
/** NEXT[(row * EVENTS + event) * N + state], row 0 INPUT, 1 OUTPUT, 2 INPUT_ONLY. */
const NEXT = Uint8Array.from([INPUT, OUTPUT, INPUT_ONLY].flat(2));

/**
 * The event of the SCTP packet at l4 (len bytes, at least SCTP_MIN): its first chunk's, except
 * that a COOKIE ECHO or COOKIE ACK followed by an ABORT is the ABORT (as the kernel reads it).
 */
export function sctpEvent(buf: Uint8Array, l4: number, len: number): number {
  const type = buf[l4 + SCTP_HLEN];
  if (type === CID_COOKIE_ECHO || type === CID_COOKIE_ACK) {
    const clen = rd16(buf, l4 + SCTP_HLEN + 2);
    const next = SCTP_HLEN + ((clen + 3) & ~3);
    if (clen >= 4 && next < len && buf[l4 + next] === CID_ABORT) return EV_ABORT;
  }
  return type < EVENT_OF.length ? EVENT_OF[type] : EV_DATA;
}

/** The state an SCTP entry goes to from `state` (a datapath state, S_SCTP + n) on `event`. */
export function sctpNext(dirOffset: number, event: number, state: number): number {
  const row = dirOffset === DIR_OUTPUT ? 1 : dirOffset === DIR_INPUT_ONLY ? 2 : 0;
  return S_SCTP + NEXT[(row * EVENTS + event) * N + state - S_SCTP];
}

/** Whether the packet at l4 may open a connection: its first chunk is an INIT (the kernel's sctp_conn_schedule). */
export function sctpMayOpen(buf: Uint8Array, l4: number): boolean {
  return buf[l4 + SCTP_HLEN] === CID_INIT;
}

/** Apply the state table to entry e for the packet at l4 (enterState: the counters move too); true when the state changed. */
export function sctpTransition(ct: ConnTable, dt: DestTable, e: number, buf: Uint8Array, l4: number, len: number, dirOffset: number): boolean {
  if (dirOffset === DIR_OUTPUT) ct.flags[e] &= ~F_NOOUTPUT;
  return enterState(ct, dt, e, sctpNext(dirOffset, sctpEvent(buf, l4, len), ct.state[e]));
}

// CRC32c (Castagnoli, reflected polynomial 0x82f63b78), eight bytes per step ("slicing by 8":
// T[k][n] is byte n's CRC followed by k zero bytes), about four times the speed of a lookup per
// byte. Int32 all the way (no boxed numbers on the packet path).
const T = new Int32Array(8 * 256);
for (let n = 0; n < 256; n++) {
  let c = n;
  for (let k = 0; k < 8; k++) c = (c & 1) !== 0 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  T[n] = c | 0;
}
for (let n = 0; n < 256; n++) for (let k = 1; k < 8; k++) T[k * 256 + n] = T[T[(k - 1) * 256 + n] & 0xff] ^ (T[(k - 1) * 256 + n] >>> 8);

/** The CRC register after buf[from, to). */
function crcRun(c: number, buf: Uint8Array, from: number, to: number): number {
  let i = from;
  for (; i + 8 <= to; i += 8) {
    const a = c ^ (buf[i] | (buf[i + 1] << 8) | (buf[i + 2] << 16) | (buf[i + 3] << 24));
    c = T[1792 + (a & 0xff)] ^ T[1536 + ((a >>> 8) & 0xff)] ^ T[1280 + ((a >>> 16) & 0xff)] ^ T[1024 + (a >>> 24)] ^
      T[768 + buf[i + 4]] ^ T[512 + buf[i + 5]] ^ T[256 + buf[i + 6]] ^ T[buf[i + 7]];
  }
  for (; i < to; i++) c = T[(c ^ buf[i]) & 0xff] ^ (c >>> 8);
  return c;
}

/** CRC32c of the SCTP packet at l4 (len bytes) with its checksum field read as zero. */
function crc32c(buf: Uint8Array, l4: number, len: number): number {
  let c = crcRun(-1, buf, l4, l4 + SCTP_CSUM);
  for (let k = 0; k < 4; k++) c = T[c & 0xff] ^ (c >>> 8);
  return ~crcRun(c, buf, l4 + SCTP_CSUM + 4, l4 + len);
}

/** The checksum as it sits in the packet: the CRC's bytes least significant first (RFC 9260 B). */
function stored(buf: Uint8Array, at: number): number {
  return buf[at] | (buf[at + 1] << 8) | (buf[at + 2] << 16) | (buf[at + 3] << 24);
}

/** Whether the SCTP packet at l4 (len bytes) carries a correct CRC32c. */
export function sctpChecksumOk(buf: Uint8Array, l4: number, len: number): boolean {
  return crc32c(buf, l4, len) === stored(buf, l4 + SCTP_CSUM);
}

/** Compute and store the CRC32c of the SCTP packet at l4 (len bytes), after a port rewrite. */
export function sctpSetChecksum(buf: Uint8Array, l4: number, len: number): void {
  const c = crc32c(buf, l4, len);
  const at = l4 + SCTP_CSUM;
  buf[at] = c & 0xff;
  buf[at + 1] = (c >>> 8) & 0xff;
  buf[at + 2] = (c >>> 16) & 0xff;
  buf[at + 3] = c >>> 24;
}
