// uvsd --workers N: which TAP queue (and so which worker) the kernel hands a frame to. Without
// help the TAP picks by its automq flow table (4096 flows, 3 s; a miss falls back to a plain
// hash), so a NAT reply often reaches a worker that does not hold its connection and is handed
// over (handoff_out). With a steering program (TUNSETSTEERINGEBPF, native/steer.cc) the kernel
// asks the program instead, and the program decides on what it finds in a small map of uvsd's
// own addresses: a FULLNAT local address -> its destination port (worker k owns ports p % N == k),
// a VIP or --addr -> steerHash(source), anything else (a NAT reply to a client) ->
// steerHash(destination): the same client endpoint both ways. A VIP with a persistent service
// is of kind 4 with the service's netmask (-M): its clients are hashed by network, port 0, so that
// every connection a persistence template covers reaches the worker holding the template; the
// NAT servers of such a VIP carry the mask too (kind 3), so their replies follow. Steering keeps that
// map equal to Datapath.steerAddrs() of the shadow after every change the group applies.
import type { Native } from './port.js';

/** Map kinds (the value the program reads; must match native/steer.cc). */
export const STEER_LOCAL = 1;
export const STEER_LADDR = 2;
/** A NAT server of a STEER_MASKED VIP: replies from it are hashed by the client's network. */
export const STEER_SERVER = 3;
/** A VIP of a persistent service: its clients are hashed by network (the entry's mask), port 0. */
export const STEER_MASKED = 4;

/** A map entry as one number: kind (1..4) and mask (uint32, read for kinds 3 and 4). */
export function steerValue(kind: number, mask: number): number {
  return (mask >>> 0) * 8 + kind;
}

/** Most addresses in the map (VIPs + --addrs + local addresses; a full map refuses the rest). */
export const STEER_MAP_MAX = 65536;

/** The program's hash of a client endpoint (the kernel then takes it modulo the queues). */
export function steerHash(addr: number, port: number): number {
  return Math.imul(addr ^ port, 0x9e3779b1) >>> 16;
}

/** The worker of count that the program sends a client's frames to (mask undefined: by endpoint). */
export function steerWorker(addr: number, port: number, mask: number | undefined, count: number): number {
  return (mask === undefined ? steerHash(addr, port) : steerHash(addr & mask, 0)) % count;
}

/**
 * The steering program on one multi-queue TAP, or on the ring backend's fanout group
 * (Port.ringQueues, which takes the program built for L3), and the map of local addresses it reads.
 */
export class Steering {
  /** Why there is no program ('' when there is). */
  reason = 'uvsd --steering automq';
  /** Addresses the map holds now, by kind. */
  private readonly have = new Map<number, number>();
  /** Map updates the kernel refused (a full map): those addresses go by the automq rule's hash. */
  refused = 0;
  private fds: { prog: number; map: number } | undefined;
  private readonly l3: boolean;

  /**
   * tapFd: any queue of the TAP (the program is the device's); -1 loads without attaching (tests,
   * and with ring the fanout group's program, attached by Port.ringQueues); undefined: no program
   * (uvsd --steering automq).
   */
  constructor(private readonly native: Native, tapFd: number | undefined, o: { ring?: boolean } = {}) {
    this.l3 = o.ring === true;
    if (tapFd === undefined) return;
    try {
      this.fds = native.steerAttach(tapFd, STEER_MAP_MAX, this.l3);
      this.reason = '';
    } catch (e) {
      this.reason = (e as Error).message;
    }
  }

  /** 'ebpf' when the program is attached, otherwise the kernel's own choice: its automq flow
   *  table (TAP) or its flow hash (the ring backend's fanout group). */
  get mode(): 'ebpf' | 'automq' | 'hash' {
    return this.fds !== undefined ? 'ebpf' : this.l3 ? 'hash' : 'automq';
  }

  /** The loaded program (for a fanout group to take), or undefined. */
  get prog(): number | undefined {
    return this.fds?.prog;
  }

  /** The program could not be attached where it was to run (the fanout group refused it): none. */
  detach(reason: string): void {
    this.close();
    this.fds = undefined;
    this.reason = reason;
  }

  /** For --status: `ebpf`, or `automq (reason)` / `hash (reason)`. */
  describe(): string {
    if (this.mode === 'ebpf') return this.refused === 0 ? 'ebpf' : `ebpf (${this.refused} addresses refused: map full)`;
    return `${this.mode} (${this.reason})`;
  }

  /** Make the map hold exactly want (addr -> steerValue(kind, mask)): the difference only. */
  sync(want: ReadonlyMap<number, number>): void {
    const fds = this.fds;
    if (fds === undefined) return;
    for (const [addr] of this.have) {
      if (want.has(addr)) continue;
      this.native.steerSet(fds.map, addr, 0, 0);
      this.have.delete(addr);
    }
    for (const [addr, v] of want) {
      if (this.have.get(addr) === v) continue;
      if (this.native.steerSet(fds.map, addr, v % 8, Math.floor(v / 8))) this.have.set(addr, v);
      else this.refused++;
    }
  }

  /** Make the map hold v for addr (undefined: no entry): one address (DatapathGroup.apply). */
  set(addr: number, v: number | undefined): void {
    const fds = this.fds;
    if (fds === undefined) return;
    if (this.have.get(addr) === v) return;
    if (v === undefined) {
      this.native.steerSet(fds.map, addr, 0, 0);
      this.have.delete(addr);
    } else if (this.native.steerSet(fds.map, addr, v % 8, Math.floor(v / 8))) this.have.set(addr, v);
    else this.refused++;
  }

  /** What the kernel's map holds (read back from it): addr (int32) -> steerValue(kind, mask). */
  entries(): Map<number, number> {
    const out = new Map<number, number>();
    if (this.fds === undefined) return out;
    const a = this.native.steerEntries(this.fds.map);
    for (let i = 0; i + 2 < a.length; i += 3) out.set(a[i], steerValue(a[i + 1], a[i + 2]));
    return out;
  }

  /** The queue number (before the kernel's modulo) the program picks for an Ethernet frame. */
  run(frame: Buffer): number {
    if (this.fds === undefined) throw new Error('steering: no program attached');
    return this.native.steerRun(this.fds.prog, frame, this.l3);
  }

  /** Close our fds (the TAP keeps the program until it goes). */
  close(): void {
    if (this.fds === undefined) return;
    this.native.close(this.fds.prog);
    this.native.close(this.fds.map);
  }
}
