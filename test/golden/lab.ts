// The golden packet cases' shared setting (Katran's approach): one file per case in this folder
// builds its frames with the tests' frame builder (test/helpers/frames.ts) and states what must
// come out, constructed from what the protocol says, never captured from the product. The setup is
// a list of control verbs ({verb, args}), run through the same Control API uvsadm uses.
import { toHex, TCP_FLAGS, type L2 } from '../helpers/frames.js';

/** One control-API call, as uvsadm would send it. */
export interface GoldenCall {
  verb: string;
  args: Record<string, unknown>;
}

export interface GoldenStep {
  note: string;
  /** A control verb applied before the input frame (if any). */
  control?: GoldenCall;
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
  /** [ActiveConn, InActConn] of every destination (services and destinations in list order) after the step. */
  destConns?: [number, number][];
}

export interface GoldenCase {
  name: string;
  description: string;
  /** Control verbs run before the steps. */
  setup: GoldenCall[];
  /** Neighbours taught to the datapath by an ARP reply before the steps run. */
  neighbours: { ip: string; mac: string }[];
  /** --gateway for off-link hosts (the client side of NAT/FULLNAT replies); resolved before the steps. */
  gateway?: string;
  steps: GoldenStep[];
}

export const DIR_MAC = '02:00:00:00:00:01';
export const DIR_IP = '10.0.0.1';
export const ROUTER = '02:00:00:00:00:fe';
export const VIP = '10.0.0.100';
export const CLIENT = '192.0.2.10';
export const RS1 = { ip: '10.0.0.11', mac: '02:00:00:00:00:11' };
export const RS2 = { ip: '10.0.0.12', mac: '02:00:00:00:00:12' };

/** The router (gateway) for the off-link client, and a FULLNAT local address. */
export const GW = '10.0.0.254';
export const LIP = '10.0.0.5';

/** Client → director, director → a real server, director → back to the router, a server → director. */
export const fromRs = (rs: { mac: string }): L2 => ({ ethDst: DIR_MAC, ethSrc: rs.mac });
export const IN: L2 = { ethDst: DIR_MAC, ethSrc: ROUTER };
export const toRs = (rs: { mac: string }): L2 => ({ ethDst: rs.mac, ethSrc: DIR_MAC });
export const BACK: L2 = { ethDst: ROUTER, ethSrc: DIR_MAC };

export const TCP80 = { proto: 'tcp' as const, addr: VIP, port: 80 };
export const UDP53 = { proto: 'udp' as const, addr: VIP, port: 53 };

export const addService = (svc: { proto: 'tcp' | 'udp'; addr: string; port: number }, sched = 'rr'): GoldenCall => ({ verb: 'addService', args: { ...svc, sched } });
export const addDest = (service: { proto: 'tcp' | 'udp'; addr: string; port: number }, addr: string, port: number, extra: Record<string, unknown> = {}): GoldenCall => ({
  verb: 'addDest', args: { service, addr, port, fwd: 'dr', weight: 1, ...extra },
});

/** FULLNAT local address of a service (control verb addLaddr), with an optional port range. */
export const addLaddr = (service: { proto: 'tcp' | 'udp'; addr: string; port: number }, addr: string, range: { portMin?: number; portMax?: number } = {}): GoldenCall => ({
  verb: 'addLaddr', args: { service, addr, ...range },
});

/** TCP VIP:80 rr with RS1 and RS2 forwarding by `fwd` to port `rport`, replies via the gateway. */
export const modeSetup = (fwd: 'nat' | 'fullnat' | 'tun', rport: number, laddr?: { portMin?: number; portMax?: number }) => ({
  gateway: GW,
  setup: [
    addService(TCP80), addDest(TCP80, RS1.ip, rport, { fwd }), addDest(TCP80, RS2.ip, rport, { fwd }),
    ...(laddr ? [addLaddr(TCP80, LIP, laddr)] : []),
  ],
  neighbours: [RS1, RS2, { ip: GW, mac: ROUTER }],
});

/** TCP VIP:80 with RS1 and RS2 (DR, weight 1, rr). */
export const web = (sched = 'rr'): GoldenCall[] => [addService(TCP80, sched), addDest(TCP80, RS1.ip, 80), addDest(TCP80, RS2.ip, 80)];

export const seg = (sport: number, flags: number, extra: { seq?: number; ack?: number; payload?: Uint8Array; options?: Uint8Array } = {}) => ({
  src: CLIENT, dst: VIP, sport, dport: 80, flags, seq: 0x11223344, ack: flags & TCP_FLAGS.ACK ? 0x55667788 : 0, window: 64240, ...extra,
});
export const IPF = { id: 0x4d2e, ttl: 61 };
/** The IP fields of an IPF packet uvsd forwarded: one hop less (the kernel's decrement_ttl). */
export const IPF_FWD = { ...IPF, ttl: IPF.ttl - 1 };

export const hex = toHex;
export const payload = (n: number) => Uint8Array.from({ length: n }, (_, i) => (0x20 + i) & 0xff);

/** A step whose frame must be dropped for `drop`, with nothing sent. */
export const dropStep = (note: string, frame: Uint8Array, drop: string): GoldenStep => ({ note, input: hex(frame), drop, counters: { rx_frames: 1, tx_frames: 0 } });

/** Recompute the IPv4 header checksum of an Ethernet frame after a deliberate change. */
export function fixIpCsum(f: Buffer): void {
  f.writeUInt16BE(0, 24);
  let s = 0;
  for (let i = 14; i < 34; i += 2) s += f.readUInt16BE(i);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  f.writeUInt16BE(~s & 0xffff, 24);
}
