// The shape of a golden packet fixture (Katran-style): setup, then steps, each feeding one frame
// (hex) and naming what must come out (hex frames) or why it is dropped, plus counter deltas.

export interface GoldenService {
  proto: 'tcp' | 'udp';
  addr: string;
  port: number;
  sched: string;
}

export interface GoldenDest {
  service: { proto: 'tcp' | 'udp'; addr: string; port: number };
  addr: string;
  port: number;
  weight: number;
  /** Forwarding method (default dr). */
  fwd?: 'dr' | 'nat' | 'tun' | 'fullnat';
}

export interface GoldenSetup {
  services: GoldenService[];
  dests: GoldenDest[];
  /** Neighbours taught to the datapath by an ARP reply before the steps run. */
  neighbours: { ip: string; mac: string }[];
  /** --gateway for off-link hosts (the client side of NAT/FULLNAT replies). */
  gateway?: string;
  /** FULLNAT local addresses (DpOp addLaddr), with an optional port range. */
  laddrs?: { service: GoldenDest['service']; addr: string; portMin?: number; portMax?: number }[];
}

export type GoldenControl =
  | { verb: 'editDest'; args: GoldenDest }
  | { verb: 'deleteDest'; args: { service: GoldenDest['service']; addr: string; port: number } };

export interface GoldenStep {
  note: string;
  /** A control verb applied before the input frame (if any). */
  control?: GoldenControl;
  /** One Ethernet frame, hex, fed as a batch of one. */
  input?: string;
  /** Frames expected out, in order, hex. Absent or empty: nothing goes out. */
  output?: string[];
  /** The drop counter that must move (by one), and no other. Absent: no drop counter moves. */
  drop?: string;
  /** Exact deltas of these counters over the step (names as in status: 'rx_frames', 'drop.no_conn'). */
  counters?: Record<string, number>;
  /** Connection entries after the step. */
  conns?: number;
  /** Advance the clock by this much and run the timer before the input (if any). */
  advanceMs?: number;
  /** TCP/UDP state names of the live entries after the step, in entry order. */
  states?: string[];
  /** [ActiveConn, InActConn] of every destination of the setup, in setup order, after the step. */
  destConns?: [number, number][];
}

export interface GoldenCase {
  name: string;
  description: string;
  setup: GoldenSetup;
  steps: GoldenStep[];
}
