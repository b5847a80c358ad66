// A datapath port: one fd (TAP/TUN device or AF_PACKET socket) moved in batches by the native
// addon. Frames land in preallocated buffers; JS is entered once per batch, never per frame.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

/** How a port's batches reach the kernel: one io_uring_enter() per batch, or one read()/write()
 *  per frame. "auto" takes io_uring when the kernel allows it. */
export const IO_MODES = ['auto', 'io_uring', 'syscalls'] as const;
export type IoMode = (typeof IO_MODES)[number];

/**
 * uvsd's TAP txqueuelen by default (--tap-qlen): a new TAP's 1000 frames are 2.5 ms at 400k pps,
 * and a 10 ms pause (a scavenge after a large batch, a vCPU's stolen time) at 136k pps dropped
 * ~450 frames each time; 4096 held them all (docs/performance.md, 2026-12-03 20:20 section).
 */
export const DEFAULT_TAP_QLEN = 4096;

export interface TapOptions {
  /** Layer-3 TUN device instead of an Ethernet TAP. */
  tun?: boolean;
  mtu?: number;
  /** Bridge to enslave the device to. */
  bridge?: string;
  io?: IoMode;
  /**
   * IFF_VNET_HDR + TUNSETOFFLOAD (checksum offload, TSO): frames carry a virtio_net_hdr
   * (VNET_HDR_LEN bytes in front of each) and TCP segments may be up to 64 KB. See vnet.ts.
   */
  offload?: boolean;
  /** IFF_MULTI_QUEUE: every open of the name adds a queue (uvsd --workers; see Port.tapQueues). */
  multiQueue?: boolean;
  /** The device's txqueuelen (frames the kernel holds for the reader, per queue); 0 or none: as it is. */
  qlen?: number;
}

export interface TapInfo {
  fd: number;
  name: string;
  ifindex: number;
  /** The interface did not exist before; closing the fd removes it. */
  created: boolean;
  /** The kernel interface's own MAC ("" for TUN); uvsd must transmit with a different one. */
  mac: string;
  /** Bytes of virtio_net_hdr in front of every frame (0: offload not asked for). */
  vnetHdr: number;
  /** TUN_F_* offloads in force (0 when not asked for or refused). */
  offload: number;
  /** Why the kernel refused TUNSETOFFLOAD ("" otherwise). */
  offloadError: string;
  /** The device's txqueuelen once opened. */
  qlen: number;
}

export interface PacketInfo {
  fd: number;
  ifindex: number;
  mac: string;
}

export interface IfaceInfo {
  ifindex: number;
  mac: string;
  mtu: number;
  /** Its primary IPv4 address (SIOCGIFADDR), whatever its carrier; "" when none. */
  ipv4: string;
}

export interface RxHandle {
  stop(): void;
  /** Readiness events that delivered frames, and the frames (frames ÷ wakes: frames per loop turn). */
  stats(): { wakes: number; frames: number };
}

/** A prober's connects (native/probe.cc): TCP_CHECK without a net.Socket. */
export interface ProbeHandle {
  /** A non-blocking connect to dst:dstPort (IPv4 uint32, host order), from src:srcPort (bound
   *  first, SO_REUSEADDR, as net.connect's localAddress/localPort) unless src is -1; given up after
   *  timeoutMs (below 1: 1 ms; Infinity: never). Returns the probe's slot (>= 0), whose result
   *  comes to onResults, or -errno when it failed at once (socket(), bind(), connect()). */
  connect(dst: number, dstPort: number, src: number, srcPort: number, timeoutMs: number): number;
  /** connect() for each of the first n requests of the `requests` array given to probeOpen (5
   *  numbers each: dst, dstPort, src, srcPort, timeoutMs), in one call; each one's slot (or -errno)
   *  written over its dst. Throws (and starts none) when one's arguments are bad. */
  connectMany(n: number): void;
  /** Every socket closed, no more results (those in flight are dropped); connect() then returns -EBADF. */
  close(): void;
  stats(): { inFlight: number; slots: number; started: number; connected: number; failed: number; timedOut: number };
}

export interface Native {
  openTap(name: string, opts: TapOptions): TapInfo;
  openPacket(ifname: string): PacketInfo;
  /** Reads up to max frames, frame i at buf[i*stride], length in lens[i]; 0 when none is ready. */
  readBatch(fd: number, buf: Buffer, stride: number, lens: Uint32Array, max: number): number;
  /** Writes frames buf[offs[i]-pre..offs[i]+lens[i]] (pre: the vnet header in front, default 0);
   *  frames the kernel has no room for, or a TAP/TUN set down refuses (EIO), are dropped and their
   *  lens[i] set to 0 (the bytes sent are the sum of lens on return). Returns the frames written. */
  writeBatch(fd: number, buf: Buffer, offs: Uint32Array, lens: Uint32Array, count: number, pre?: number): number;
  /** Polls fd in Node's loop and calls onBatch(count) with frames laid out as for readBatch. */
  rxStart(fd: number, buf: Buffer, stride: number, lens: Uint32Array, max: number,
    onBatch: (count: number) => void, budget?: number, clock?: Float64Array): RxHandle;
  /** A prober for TCP connects (native/probe.cc): each result is written into `results` as a
   *  [slot, code] pair (code 0 connected, an errno > 0, -1 timed out; the socket already closed,
   *  with a reset when it was connected from a fixed srcPort), and onResults(count) called once a
   *  turn of the loop for the connects that ended (128 at most; the rest the next turn) and once
   *  when deadlines pass (count <= results.length / 2: more calls when more). Throws when its
   *  epoll fd cannot be made. `requests`: connectMany()'s (length / 5 of them; none without). */
  probeOpen(results: Int32Array, onResults: (count: number) => void, requests?: Float64Array): ProbeHandle;
  close(fd: number): void;
  /** Gives fd an io_uring: readBatch/writeBatch/rxStart then use one io_uring_enter() per batch. */
  uringAttach(fd: number): { ok: boolean; error?: string };
  /** null: no such interface (ENODEV); throws when the lookup fails otherwise (EMFILE, ...). */
  ifaceInfo(name: string): IfaceInfo | null;
  /** Put an existing interface on a bridge (SIOCBRADDIF; already its port is fine); throws when refused. */
  bridgeAddIf(name: string, bridge: string): void;
  /** A raw IPv4 socket for IP protocol `protocol` (4 IPIP, 47 GRE) that takes nothing (a socket
   *  filter dropping all): the kernel no longer answers that protocol with ICMP protocol
   *  unreachable (uvs-decap). Needs CAP_NET_RAW; returns the fd (close with close()). */
  openProtoSink(protocol: number): number;
  /** AF_PACKET socket on ifname with a TPACKET_V2 receive ring (promiscuous); transmit is one
   *  sendmmsg() per batch. readBatch/writeBatch/rxStart/close on its fd use the ring. */
  openPacketRing(ifname: string): PacketInfo;
  /** Frames dropped as longer than a slot (truncated) and by the kernel on a full ring (ringFull),
   *  frames handed over with a partial checksum (csumPartial: completed by the ring where it can,
   *  native/ring.cc) and GRO super-frames (gso), since the ring was opened; null if fd has no ring. */
  packetRingStats(fd: number): { truncated: number; ringFull: number; csumPartial: number; gso: number } | null;
  /** The ifindex the ring socket fd is bound to now: -1 once its interface was unregistered
   *  (deleted, or moved out of the namespace); null if fd has no ring. */
  packetRingIfindex(fd: number): number | null;
  /** Frames a packet socket (openPacket) lost to its full receive buffer since the last call. */
  packetDrops(fd: number): number;
  /** The ring sockets fds join one new fanout group in this order (member k = fds[k]): progFd
   *  (the L3 steering program) picks the member, or with -1 the kernel's flow hash does. Returns
   *  the group id; throws naming the refused step. */
  packetFanout(fds: number[], progFd: number): number;
  /** Huge-page advice for the 2 MiB-aligned part of a large array, then prefault all its pages
   *  (MADV_POPULATE_WRITE); returns the bytes each step covered (0 where the kernel refused). */
  prepareTable(view: ArrayBufferView): { huge: number; populated: number };
  /** Load the queue-steering eBPF program (native/steer.cc) with a map of maxEntries local
   *  addresses and attach it to the multi-queue TAP behind tapFd (TUNSETSTEERINGEBPF); throws
   *  naming the refused step. Returns both fds (close with close()). tapFd -1: load only (tests). */
  steerAttach(tapFd: number, maxEntries: number, l3?: boolean): { prog: number; map: number };
  /** Map entry addr (int32) -> kind (1 VIP/--addr, 2 FULLNAT local address, 3 NAT server of a
   *  kind-4 VIP, 4 VIP hashed by client network, 0 deletes) and mask (kinds 3, 4); false when refused. */
  steerSet(mapFd: number, addr: number, kind: number, mask: number): boolean;
  /** The map read back: [addr, kind, mask, addr, kind, mask, ...] (addr as int32). */
  steerEntries(mapFd: number): number[];
  /** CPU time of the calling thread, ms (CLOCK_THREAD_CPUTIME_ID). */
  threadCpuMs(): number;
  /** The CPUs the calling thread may run on (sched_getaffinity). */
  threadCpus(): number[];
  /** Pin the calling thread alone to these CPUs (sched_setaffinity of this thread). */
  setThreadCpus(cpus: number[]): void;
  /** Name the calling thread (15 bytes at most), as top -H and ps -L show it. */
  setThreadName(name: string): void;
  /** execv(argv[0], argv): this process becomes argv (same pid); returns only by throwing. */
  exec(argv: string[]): never;
  /** Close-on-exec on every descriptor from lo up (close_range CLOSE_RANGE_CLOEXEC, else /proc/self/fd). */
  cloexecFrom(lo: number): void;
  /** One datagram to systemd's notification socket (a path, or @name: abstract). */
  sdNotify(socketPath: string, text: string): void;
  /** flock(fd, LOCK_EX | LOCK_NB): true when taken, false when another open file holds it; throws otherwise. */
  tryLock(fd: number): boolean;
  /** The peer of a connected Unix socket (SO_PEERCRED): [pid, uid, gid], or null. */
  peerCred(fd: number): [number, number, number] | null;
  /** The program's return value for an Ethernet frame (BPF_PROG_TEST_RUN; l3: a program built for L3). */
  steerRun(progFd: number, frame: Buffer, l3?: boolean): number;
}

// Compiled to dist/src/datapath/port.js, so the repo root is three levels up.
const require = createRequire(import.meta.url);
export const native: Native = require('../../../build/Release/uvs_native.node') as Native;

/**
 * An interface's tx_dropped as its own network namespace counts it (/proc/self/net/dev is the
 * reading process's namespace, where /sys/class/net may show another's), or null when it is not
 * there. For a TAP these are the frames the kernel could not queue for its reader: the queue of
 * txqueuelen frames full (or no reader at all).
 */
export function txDropped(iface: string, procNetDev = '/proc/self/net/dev'): number | null {
  let text: string;
  try {
    text = readFileSync(procNetDev, 'utf8');
  } catch {
    return null;
  }
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0 || line.slice(0, colon).trim() !== iface) continue;
    // receive: bytes packets errs drop fifo frame compressed multicast; transmit: bytes packets errs drop ...
    const f = line.slice(colon + 1).trim().split(/\s+/);
    const v = Number(f[11]);
    return Number.isSafeInteger(v) ? v : null;
  }
  return null;
}

/**
 * A TAP's queue drops since now, for `status` and /metrics (`port_drop_queue_full`): the
 * interface's tx_dropped less what it was when uvsd opened it (a TAP made beforehand may have
 * dropped frames before). Every queue of a multi-queue TAP counts into the one device figure.
 */
export function tapQueueDrops(iface: string, read: (iface: string) => number | null = txDropped): () => Record<string, number> | null {
  const base = read(iface) ?? 0;
  return () => {
    const now = read(iface);
    return now === null ? null : { queue_full: Math.max(0, now - base) };
  };
}

/**
 * Whether the kernel runs IPv6 on iface (net.ipv6.conf.IFACE.disable_ipv6 is 0): it then takes
 * addresses from router advertisements and sends router solicitations, DAD and MLD reports there,
 * beside uvsd, which answers no ND. false also where the kernel has no IPv6.
 */
export function ipv6On(iface: string): boolean {
  try {
    return readFileSync(`/proc/sys/net/ipv6/conf/${iface}/disable_ipv6`, 'utf8').trim() === '0';
  } catch {
    return false;
  }
}

/** A ring socket on ifname (native.openPacketRing) described as a queue: nothing created, no vnet header. */
function openRing(ifname: string): TapInfo {
  const info = native.openPacketRing(ifname);
  return { fd: info.fd, name: ifname, ifindex: info.ifindex, created: false, mac: info.mac, vnetHdr: 0, offload: 0, offloadError: '', qlen: 0 };
}

export interface PortOptions {
  /** Bytes reserved per received frame (>= MTU + Ethernet header). */
  stride?: number;
  /** Frames per receive batch. */
  batch?: number;
  /** Free bytes in front of the first received frame (rxArena[0, rxBase)); see rxArena. */
  headroom?: number;
  /** Bytes of virtio_net_hdr the device puts in front of each frame (set by Port.tap). */
  vnetHdr?: number;
}

export class Port {
  readonly stride: number;
  readonly batch: number;
  /** Received frame i is rxBuf[i*stride .. i*stride + rxLens[i]] during onBatch. */
  readonly rxBuf: Buffer;
  /**
   * The same memory with `rxBase` bytes of headroom in front: frame i is at
   * rxArena[rxBase + i*stride]. A frame shorter than stride - rxBase leaves at least rxBase free
   * bytes in front of the next one too, so a forwarder may prepend a header in place (TUN).
   */
  readonly rxArena: Buffer;
  readonly rxBase: number;
  /**
   * Received lengths, the vnet header included when vnetHdr > 0: frame i's virtio_net_hdr is
   * at rxArena[rxBase + i*stride - vnetHdr], the frame right after it (rxLens[i] - vnetHdr bytes).
   */
  readonly rxLens: Uint32Array;
  /** Bytes of virtio_net_hdr in front of every frame received and sent (0 or VNET_HDR_LEN). */
  readonly vnetHdr: number;
  /** TUN_F_* offloads in force; why the kernel refused them, if it did. */
  offload = 0;
  offloadError = '';
  /** The TAP's txqueuelen (0 for an AF_PACKET port). */
  qlen = 0;
  ifindex = 0;
  mac = '';
  created = false;
  /** "io_uring" or "syscalls" (see IoMode); why io_uring was not used, when "auto" fell back. */
  io: 'io_uring' | 'syscalls' | 'packet-ring' = 'syscalls';
  ioFallback = '';
  private rx: RxHandle | null = null;
  private closed = false;

  constructor(readonly fd: number, readonly name: string, opts: PortOptions = {}) {
    this.stride = opts.stride ?? 2048;
    this.batch = opts.batch ?? 64;
    this.rxBase = opts.headroom ?? 0;
    this.vnetHdr = opts.vnetHdr ?? 0;
    if (this.vnetHdr > this.rxBase) throw new RangeError('port: the vnet header needs headroom in front of the frames');
    this.rxArena = Buffer.alloc(this.rxBase + this.stride * this.batch);
    // The kernel writes header + frame at each slot, so the header lands in the headroom.
    this.rxBuf = this.rxArena.subarray(this.rxBase - this.vnetHdr);
    this.rxLens = new Uint32Array(this.batch);
  }

  static tap(name: string, opts: TapOptions & PortOptions = {}): Port {
    const info = native.openTap(name, { tun: opts.tun, mtu: opts.mtu, bridge: opts.bridge, offload: opts.offload, multiQueue: opts.multiQueue, qlen: opts.qlen });
    return Port.fromTap(info, opts);
  }

  /**
   * n queues of one multi-queue TAP (IFF_MULTI_QUEUE), opened here: the first open creates the
   * device (or attaches to it), each later one adds a queue. The device goes when every queue is
   * closed. Each queue's fd is handed to its own worker thread (Port.fromTap there). One queue
   * (uvsd --datapath-thread) is the TAP as the main thread opens it, without IFF_MULTI_QUEUE.
   */
  static tapQueues(name: string, n: number, opts: TapOptions & PortOptions = {}): TapInfo[] {
    const out: TapInfo[] = [];
    try {
      for (let i = 0; i < n; i++) {
        const info = native.openTap(i === 0 ? name : out[0].name, {
          tun: opts.tun, mtu: opts.mtu, bridge: opts.bridge, offload: opts.offload, multiQueue: n > 1,
          // txqueuelen is the device's: set once, before the other queues attach with it.
          qlen: i === 0 ? opts.qlen : undefined,
        });
        if (i > 0) info.created = out[0].created;
        out.push(info);
      }
    } catch (e) {
      for (const q of out) native.close(q.fd);
      throw e;
    }
    return out;
  }

  /** A Port on a queue opened by tapQueues (in the worker thread that owns it). */
  static fromTap(info: TapInfo, opts: TapOptions & PortOptions = {}): Port {
    let p: Port;
    try {
      p = new Port(info.fd, info.name, { ...opts, vnetHdr: info.vnetHdr });
    } catch (e) {
      native.close(info.fd);
      throw e;
    }
    p.ifindex = info.ifindex;
    p.mac = info.mac;
    p.created = info.created;
    p.offload = info.offload;
    p.offloadError = info.offloadError;
    p.qlen = info.qlen;
    try {
      p.setIo(opts.io ?? 'auto');
    } catch (e) {
      p.close();
      throw e;
    }
    return p;
  }

  /** Chooses how batches reach the kernel; throws if io_uring is demanded and refused. */
  setIo(mode: IoMode): void {
    if (mode === 'syscalls') return;
    const r = native.uringAttach(this.fd);
    if (r.ok) {
      this.io = 'io_uring';
      return;
    }
    if (mode === 'io_uring') throw new Error(`io_uring unavailable: ${r.error}`);
    this.ioFallback = r.error ?? 'refused';
  }

  static packet(ifname: string, opts: PortOptions = {}): Port {
    const info = native.openPacket(ifname);
    const p = new Port(info.fd, ifname, opts);
    p.ifindex = info.ifindex;
    p.mac = info.mac;
    p.packetSocket = true;
    return p;
  }

  /** A plain packet socket (Port.packet), and what it lost to a full receive buffer so far. */
  private packetSocket = false;
  private socketFull = 0;

  /** The ring backend: an existing interface (veth end, NIC) read through a TPACKET_V2 ring. */
  static packetRing(ifname: string, opts: PortOptions = {}): Port {
    return Port.fromRing(openRing(ifname), opts);
  }

  /**
   * n ring sockets on ifname for uvsd --workers, joined in one fanout group: the kernel hands each
   * received frame to one of them, picked by the steering program progFd (built for L3;
   * src/datapath/steer.ts) or, without one, by its flow hash. Socket k goes to worker k
   * (Port.fromRing there). Returns the sockets as queues (a TAP's fields: nothing created, no
   * vnet header).
   */
  static ringQueues(ifname: string, n: number, progFd: number | undefined): TapInfo[] {
    const out: TapInfo[] = [];
    try {
      for (let i = 0; i < n; i++) {
        out.push(openRing(ifname));
      }
      native.packetFanout(out.map((q) => q.fd), progFd ?? -1);
    } catch (e) {
      for (const q of out) native.close(q.fd);
      throw e;
    }
    return out;
  }

  /** A Port on a ring socket opened by ringQueues (in the worker thread that owns it). */
  static fromRing(info: TapInfo, opts: PortOptions = {}): Port {
    let p: Port;
    try {
      p = new Port(info.fd, info.name, opts);
    } catch (e) {
      native.close(info.fd);
      throw e;
    }
    p.ifindex = info.ifindex;
    p.mac = info.mac;
    p.io = 'packet-ring';
    return p;
  }

  /** The port's own drops before the datapath sees a frame (ring backend, plain packet socket;
   *  null for a TAP, whose queue drops are the interface's tx_dropped: tapQueueDrops). */
  drops(): Record<string, number> | null {
    if (this.closed) return null;
    if (this.packetSocket) {
      this.socketFull += native.packetDrops(this.fd);
      return { socket_full: this.socketFull };
    }
    if (this.io !== 'packet-ring') return null;
    const st = native.packetRingStats(this.fd);
    return st === null ? null : { ring_full: st.ringFull, too_long: st.truncated };
  }

  /**
   * The current batch's time while onBatch runs: rxClock[0] is what performance.now() would have
   * returned when the batch was read, written by the addon (Datapath.processBatch's `clock`).
   * Read from memory it allocates nothing, where a clock call returns a boxed double per batch.
   */
  readonly rxClock = new Float64Array(2);

  /**
   * Starts receiving; onBatch(count) reads rxBuf/rxLens (and rxClock) and must not keep them past
   * its return. budget: frames after which the event loop gets its turn if anything else waits for
   * it (default 256; at most 8 budgets per readiness event, native/rx.cc).
   */
  start(onBatch: (count: number) => void, budget?: number): void {
    if (this.closed) throw new Error(`port ${this.name} is closed`);
    if (this.rx) throw new Error(`port ${this.name} already started`);
    // The addon's clock is libuv's hrtime (CLOCK_MONOTONIC), as process.hrtime's and performance.now()'s.
    this.rxClock[1] = Number(process.hrtime.bigint()) / 1e6 - performance.now();
    this.rx = native.rxStart(this.fd, this.rxBuf, this.stride, this.rxLens, this.batch, onBatch, budget, this.rxClock);
  }

  /** Wake-ups that delivered frames since the last call (the rx_wakes counter, taken every tick). */
  takeRxWakes(): number {
    if (this.rx === null) return 0;
    const w = this.rx.stats().wakes;
    const d = w - this.wakesTaken;
    this.wakesTaken = w;
    return d;
  }

  private wakesTaken = 0;

  /**
   * The ring backend: frames since the last call that arrived with a partial checksum (the
   * sender's checksum offload; completed by the ring: native/ring.cc) and GRO super-frames, for
   * the rx_csum_partial and rx_gso_frames counters (taken every tick). Zeros for any other port.
   * The object returned is the port's own, overwritten by the next call.
   */
  takeRingOffloads(): { readonly csumPartial: number; readonly gso: number } {
    const d = this.offloadsDelta;
    d.csumPartial = 0;
    d.gso = 0;
    const st = this.io === 'packet-ring' && !this.closed ? native.packetRingStats(this.fd) : null;
    if (st === null) return d;
    d.csumPartial = st.csumPartial - this.offloadsTaken.csumPartial;
    d.gso = st.gso - this.offloadsTaken.gso;
    this.offloadsTaken.csumPartial = st.csumPartial;
    this.offloadsTaken.gso = st.gso;
    return d;
  }

  private readonly offloadsTaken = { csumPartial: 0, gso: 0 };
  private readonly offloadsDelta = { csumPartial: 0, gso: 0 };

  stop(): void {
    if (this.rx) {
      this.rx.stop();
      this.rx = null;
    }
  }

  /** Transmits frames buf[offs[i]..+lens[i]] for i < count (each with its vnet header in the
   *  vnetHdr bytes in front of it when the port has one); returns how many the kernel took, the
   *  lens[i] of each one it did not take set to 0 (FrameSink.send).
   *  A TAP set down takes nothing (the frames are dropped, not a failure: the link watch says it);
   *  a write the kernel fails (EBADFD: the interface was deleted) throws marked `portFailure`, as
   *  a failed read is (native/rx.cc): uvsd then stops in order, whether a batch or a timer's
   *  frame (a probe, a gratuitous ARP) met it first. */
  send(buf: Buffer, offs: Uint32Array, lens: Uint32Array, count: number): number {
    try {
      return native.writeBatch(this.fd, buf, offs, lens, count, this.vnetHdr);
    } catch (e) {
      // An errno from the kernel (not a wrong argument, a bug: that stays an internal error).
      if ((e as { syscall?: string }).syscall !== undefined) (e as { portFailure?: boolean }).portFailure = true;
      throw e;
    }
  }

  /** Stops polling first: libuv must not watch an fd that is being closed. */
  close(): void {
    if (this.closed) return;
    this.stop();
    this.closed = true;
    native.close(this.fd);
  }
}
