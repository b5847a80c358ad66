// The one interface between the control plane and the datapath: plain operations, validated by
// src/control before they get here, applied by Datapath.apply() in order. Plain data (numbers,
// no objects from either side), so the same list can later be posted to every worker thread.
// Service ids and destination slots are chosen by the control plane.

import type { DefenseOptions } from './pipeline.js';
import type { UnclaimedSet } from './unclaimed.js';

export type DpOp =
  | {
      op: 'addService';
      id: number;
      proto: number;
      vip: number;
      port: number;
      sched: string;
      /** SF_* bits (ipvsadm -b). */
      schedFlags: number;
      /** Persistence timeout in seconds (ipvsadm -p); 0 = not persistent. */
      persist: number;
      /** Client netmask for persistence templates (ipvsadm -M), as a uint32. */
      netmask: number;
      /** One-packet scheduling (ipvsadm -o). */
      oneShot: boolean;
      /** Persistence engine (ipvsadm --pe): PE_NONE or PE_SIP (src/proto/sip.ts). */
      pe: number;
      /** SYN proxy (uvsadm --synproxy; TCP with NAT/FULLNAT servers only). */
      synproxy: boolean;
    }
  | {
      op: 'editService';
      id: number;
      sched: string;
      schedFlags: number;
      persist: number;
      netmask: number;
      oneShot: boolean;
      pe: number;
      synproxy: boolean;
    }
  | { op: 'delService'; id: number }
  /**
   * Room made ahead in the lookup tables for a table of about this size (a sliced batch, before
   * its operations: Control.batchInSlices): services, service ids below `ids`, distinct VIPs and
   * real server addresses. One piece of the work per op (one array made; Datapath.hasRoom says
   * when none is left); a hint only: the tables still grow by themselves past it.
   */
  | { op: 'reserve'; services: number; ids: number; vips: number; rips: number }
  | {
      op: 'addDest';
      svc: number;
      dest: number;
      addr: number;
      port: number;
      fwd: number;
      weight: number;
      /** Connection thresholds (ipvsadm -x/-y); 0 = none. */
      upper: number;
      lower: number;
      /** TUN's encapsulation (tunCode in src/modes/tun.ts); 0 = IPIP. */
      tun: number;
      /** The slot holds this same server, deleted (in the trash): take it back with its connections. */
      revive?: boolean;
    }
  | { op: 'editDest'; svc: number; dest: number; fwd: number; weight: number; upper: number; lower: number; tun: number }
  | { op: 'delDest'; svc: number; dest: number }
  /** ipvsadm --set tcp tcpfin udp, in seconds; 0 leaves a value unchanged. */
  | { op: 'setTimeouts'; tcp: number; tcpfin: number; udp: number }
  /** ipvsadm -Z: zero the statistics of one service (id) or of all (-1). */
  | { op: 'zero'; svc: number }
  /**
   * FULLNAT local address (DPVS --add-laddr): uvsd answers ARP for it and takes source ports
   * from it for the service's FULLNAT connections; ports portMin..portMax (default 1024..65535).
   */
  | { op: 'addLaddr'; svc: number; addr: number; portMin?: number; portMax?: number }
  | { op: 'delLaddr'; svc: number; addr: number }
  /**
   * uvsadm --add-mark / --del-mark (src/datapath/marks.ts): packets of proto to vip, ports
   * portMin..portMax, that no connection knows get `mark` (uint32), and go to its -f service if
   * there is one; uvsd answers ARP for vip.
   */
  | { op: 'addMark'; proto: number; vip: number; portMin: number; portMax: number; mark: number }
  | { op: 'delMark'; proto: number; vip: number; portMin: number; portMax: number }
  /**
   * High availability (docs/ha.md): master answers for and forwards to VIPs, LIPs and floating
   * addresses (and announces them all at once on becoming master); backup keeps the table but
   * answers only for its fixed addresses and forwards nothing (drop_backup). With HA groups
   * (uvsd --ha-group, active/active) the role is per group: `group` is its index in haGroups'
   * order + 1 (0: the addresses of no named group); none: every group.
   */
  /** start: the role uvsd starts with (no switch: role_changes counts it not). */
  | { op: 'setRole'; master: boolean; group?: number; start?: boolean }
  /** The HA groups (uvsd --ha-group), at start and on reload: each name with the addresses that move with it (Link.setGroups). */
  | { op: 'haGroups'; groups: Array<{ name: string; addrs: number[] }> }
  /**
   * Gratuitous ARP on or off (announcements, takeovers, the defense of an address another station
   * claims): off from uvsd's start until its RFC 5227 probe has claimed the addresses, so a VIP of
   * the start's table that another station holds is never announced (it is left unclaimed: DpOp unclaimed).
   */
  | { op: 'announce'; on: boolean }
  /** A VIP of the start's table another station holds (`by`: its MAC) is not claimed: no ARP answer,
   *  announcement nor defence (Link.unclaimed); `by` null: claimed now. */
  | { op: 'unclaimed'; addr: number; by: string | null }
  /** Every VIP of a record (the start's probe's answers: claim.ts leaveUnclaimed) unclaimed at once,
   *  one write (Unclaimed.add); the record is the datapath's from then on. */
  | { op: 'unclaimedSet'; set: UnclaimedSet }
  /** Mark changed connections for the sync daemon (a master sync daemon runs). */
  | { op: 'syncMarks'; on: boolean }
  /** Install connections sent by the master's sync daemon: REC_LEN-byte records (syncrec.ts). */
  | { op: 'syncInstall'; records: Uint8Array }
  /** uvsadm --neigh-flush [ADDR]: free ip's neighbour entry, or every one without addr. */
  | { op: 'neighFlush'; addr?: number }
  /** Flood and exhaustion defenses (docs/resilience.md): fractions 0..1, a rate >= 0. */
  | ({ op: 'setDefense' } & DefenseOptions);

export type DpOpName = DpOp['op'];
