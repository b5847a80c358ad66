// The IPVS TCP state machine as a table: next = TABLE[dirOffset + event][state].
// Rows and timeouts follow net/netfilter/ipvs/ip_vs_proto_tcp.c (REFERENCE.md): tcp_states, and
// tcp_states_dos while secure TCP is on. DR and TUN connections never see server→client packets,
// so they use the INPUT_ONLY rows.

export const S_NONE = 0;
export const S_ESTABLISHED = 1;
export const S_SYN_SENT = 2;
export const S_SYN_RECV = 3;
export const S_FIN_WAIT = 4;
export const S_TIME_WAIT = 5;
export const S_CLOSE = 6;
export const S_CLOSE_WAIT = 7;
export const S_LAST_ACK = 8;
export const S_LISTEN = 9;
export const S_SYNACK = 10;
export const S_COUNT = 11;
/** Pseudo-state used for UDP entries (shown as "UDP" like ipvsadm -Lnc). */
export const S_UDP = 11;
/** SCTP's states follow, S_SCTP + n (src/proto/sctp.ts), named as the kernel's ip_vs_proto_sctp. */
export const S_SCTP = 12;
export const SCTP_STATE_NAMES = [
  'NONE', 'INIT1', 'INIT', 'C-SENT', 'C-REPLIED', 'C-WAIT', 'COOKIE', 'C-ECHOED', 'ESTABLISHED',
  'S-SENT', 'S-RECEIVED', 'S-ACK-SENT', 'REJECTED', 'CLOSED',
] as const;

/** SCTP's ESTABLISHED: with TCP's, a completed handshake (establishedState). */
export const SS_ESTABLISHED = S_SCTP + SCTP_STATE_NAMES.indexOf('ESTABLISHED');
/** Bit n set for each named SCTP state S_SCTP + n (masks of SCTP states). */
export function sctpStateBits(...names: (typeof SCTP_STATE_NAMES)[number][]): number {
  return names.reduce((m, n) => m | (1 << SCTP_STATE_NAMES.indexOf(n)), 0);
}

/** Whether an entry in `state` has completed its handshake (ESTABLISHED, TCP's or SCTP's). */
export function establishedState(state: number): boolean {
  return state === S_ESTABLISHED || state === SS_ESTABLISHED;
}

/** Every state's name as ipvsadm -Lnc prints it (an SCTP entry's state by its own name). */
export const STATE_NAMES = [
  'NONE', 'ESTABLISHED', 'SYN_SENT', 'SYN_RECV', 'FIN_WAIT', 'TIME_WAIT',
  'CLOSE', 'CLOSE_WAIT', 'LAST_ACK', 'LISTEN', 'SYNACK', 'UDP', ...SCTP_STATE_NAMES,
] as const;
/** The same, one label per state (uvs_conn_table_entries_by_state): SCTP's as SCTP_<name>. */
export const STATE_LABELS: readonly string[] = STATE_NAMES.map((n, i) => (i >= S_SCTP ? `SCTP_${n}` : n));

/** 1 for each state an entry counts as active in (ActiveConn), 0 for inactive (InActConn): TCP's
 *  SYN_SENT, SYN_RECV, SYNACK and ESTABLISHED, as the kernel's tcp_state_active_table since 4.7
 *  ("ipvs: count pre-established TCP states as active"), so a server that completes no handshake
 *  does not look idle to lc/wlc; SCTP's ESTABLISHED only (ip_vs_proto_sctp has no such table);
 *  never UDP. */
const ACTIVE = new Uint8Array(STATE_NAMES.length);
for (const s of [S_ESTABLISHED, S_SYN_SENT, S_SYN_RECV, S_SYNACK, SS_ESTABLISHED]) ACTIVE[s] = 1;

/** Whether an entry in `state` is an active connection, as the kernel counts (ACTIVE). */
export function activeState(state: number): boolean {
  return ACTIVE[state] === 1;
}

export const DIR_INPUT = 0;
export const DIR_OUTPUT = 4;
export const DIR_INPUT_ONLY = 8;

export const EV_SYN = 0;
export const EV_FIN = 1;
export const EV_ACK = 2;
export const EV_RST = 3;

const [ES, SS, SR, FW, TW, CL, CW, LA, LI, SA] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];

// tcp_states: columns NO ES SS SR FW TW CL CW LA LI SA
const ROWS: number[][] = [
  // INPUT
  /* syn */ [SR, ES, ES, SR, SR, SR, SR, SR, SR, SR, SR],
  /* fin */ [CL, CW, SS, TW, TW, TW, CL, CW, LA, LI, TW],
  /* ack */ [ES, ES, SS, ES, FW, TW, CL, CW, CL, LI, ES],
  /* rst */ [CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, SR],
  // OUTPUT
  /* syn */ [SS, ES, SS, SR, SS, SS, SS, SS, SS, LI, SR],
  /* fin */ [TW, FW, SS, TW, FW, TW, CL, TW, LA, LI, TW],
  /* ack */ [ES, ES, SS, ES, FW, TW, CL, CW, LA, ES, ES],
  /* rst */ [CL, CL, SS, CL, CL, TW, CL, CL, CL, CL, CL],
  // INPUT_ONLY
  /* syn */ [SR, ES, ES, SR, SR, SR, SR, SR, SR, SR, SR],
  /* fin */ [CL, FW, SS, TW, FW, TW, CL, CW, LA, LI, TW],
  /* ack */ [ES, ES, SS, ES, FW, TW, CL, CW, CL, LI, ES],
  /* rst */ [CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, CL],
];

// tcp_states_dos (secure TCP): a client's ACK on SYN_RECV stays there (only the server's answer
// establishes a NAT connection, so a blind handshake makes no 15-minute entry), a DR/TUN SYN
// gives SYNACK, and SYNACK holds against the client's segments until the server's.
const ROWS_DOS: number[][] = [
  // INPUT
  /* syn */ [SR, ES, ES, SR, SR, SR, SR, SR, SR, SR, SA],
  /* fin */ [CL, CW, SS, TW, TW, TW, CL, CW, LA, LI, SA],
  /* ack */ [ES, ES, SS, SR, FW, TW, CL, CW, CL, LI, SA],
  /* rst */ [CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, CL],
  // OUTPUT
  /* syn */ [SS, ES, SS, SA, SS, SS, SS, SS, SS, LI, SA],
  /* fin */ [TW, FW, SS, TW, FW, TW, CL, TW, LA, LI, TW],
  /* ack */ [ES, ES, SS, ES, FW, TW, CL, CW, LA, ES, ES],
  /* rst */ [CL, CL, SS, CL, CL, TW, CL, CL, CL, CL, CL],
  // INPUT_ONLY
  /* syn */ [SA, ES, ES, SR, SA, SA, SA, SA, SA, SA, SA],
  /* fin */ [CL, FW, SS, TW, FW, TW, CL, CW, LA, LI, TW],
  /* ack */ [ES, ES, SS, ES, FW, TW, CL, CW, CL, LI, ES],
  /* rst */ [CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, CL],
];

/** Flattened: NEXT[(dirOffset + event) * S_COUNT + state]. */
export const NEXT = new Uint8Array(ROWS.flat());
/** The same for secure TCP (the kernel's tcp_states_dos). */
export const NEXT_DOS = new Uint8Array(ROWS_DOS.flat());

/** Event from TCP flags, with the kernel's priority: rst, syn, fin, ack; -1 = no event. */
export function tcpEvent(flags: number): number {
  if (flags & 0x04) return EV_RST;
  if (flags & 0x02) return EV_SYN;
  if (flags & 0x01) return EV_FIN;
  if (flags & 0x10) return EV_ACK;
  return -1;
}

/** The next state in `table` (NEXT, or NEXT_DOS while secure TCP is on). */
export function nextState(table: Uint8Array, dirOffset: number, event: number, state: number): number {
  return table[(dirOffset + event) * S_COUNT + state];
}

/** Default timeouts in seconds, indexed by state: TCP's, UDP's, then SCTP's (the kernel's
 *  sctp_timeouts: 61 s is its MAX_RTO + 1 s). */
export const DEFAULT_TIMEOUTS_S = [2, 900, 120, 60, 120, 120, 10, 60, 30, 120, 120, 300, 2, 4, 61, 61, 61, 61, 61, 61, 900, 61, 61, 61, 4, 61];

/** Ceilings in seconds while secure TCP is on (table filling up, e.g. a SYN flood): half-open
 *  states (NONE, SYN_SENT, SYN_RECV, SYNACK) and CLOSE last a few seconds; the rest (UDP, SCTP) unchanged. */
export const SECURE_TIMEOUTS_S: readonly number[] = [2, Infinity, 3, 3, Infinity, Infinity, 2, Infinity, Infinity, Infinity, 3, ...Array<number>(1 + SCTP_STATE_NAMES.length).fill(Infinity)];
