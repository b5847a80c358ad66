// A Datapath with no TAP: a capturing sink, an injectable clock, the control verbs, and helpers
// to feed frames, learn neighbours and read counter deltas.
import assert from 'node:assert/strict';
import { Datapath, RX_HEADROOM, type DatapathOptions, type FrameSink } from '../../src/datapath/pipeline.js';
import { Control } from '../../src/control/model.js';
import { parseIp, parseMac, prefixMask } from '../../src/datapath/addr.js';
import { COUNTER_NAMES, DROP_NAMES } from '../../src/datapath/counters.js';
import { arpFrame, frameDiff, toHex } from './frames.js';
import { VNET_HDR_LEN, vnetWrite } from '../../src/datapath/vnet.js';

/** virtio_net_hdr fields of a fed frame (rig({ vnet: true })); omitted fields are 0. */
export type VnetFields = Parameters<typeof vnetWrite>[2];
/** A frame to feed with the vnet header the kernel would put in front of it. */
export interface VnetFrame {
  frame: Uint8Array;
  vnet: VnetFields;
}

export const DIR_MAC = '02:00:00:00:00:01';
export const DIR_IP = '10.0.0.1';
export const ROUTER_MAC = '02:00:00:00:00:fe';
export const VIP = '10.0.0.100';
export const CLIENT = '192.0.2.10';
export const RS = [
  { ip: '10.0.0.11', mac: '02:00:00:00:00:11' },
  { ip: '10.0.0.12', mac: '02:00:00:00:00:12' },
  { ip: '10.0.0.13', mac: '02:00:00:00:00:13' },
] as const;

export const T0 = 1_000_000; // ms; far from zero so "before" times are representable

export interface Sent {
  frame: Buffer;
  /** True when the frame was sent from the receive buffer (an rx frame forwarded or answered in place). */
  fromRx: boolean;
  /** The `pre` bytes written in front of it (its vnet header) when the sink has pre > 0. */
  vnet?: Buffer;
}

export class CaptureSink implements FrameSink {
  sent: Sent[] = [];
  rxBuf: Buffer | undefined;
  /** How many frames of each call to accept (for tx failure tests); undefined = all. */
  accept: number | undefined;
  /** Bytes in front of each frame that the port would write too (its vnet header), as Port.send. */
  pre = 0;
  send(buf: Buffer, offs: Uint32Array, lens: Uint32Array, count: number): number {
    const n = this.accept === undefined ? count : Math.min(count, this.accept);
    for (let i = 0; i < n; i++) {
      const s: Sent = { frame: Buffer.from(buf.subarray(offs[i], offs[i] + lens[i])), fromRx: buf === this.rxBuf };
      if (this.pre > 0) {
        if (offs[i] < this.pre) throw new Error(`frame at ${offs[i]} has no room for its ${this.pre}-byte header`);
        s.vnet = Buffer.from(buf.subarray(offs[i] - this.pre, offs[i]));
      }
      this.sent.push(s);
    }
    for (let i = n; i < count; i++) lens[i] = 0; // refused: as Port.send (FrameSink.send)
    return n;
  }
  take(): Buffer[] {
    const f = this.sent.map((s) => s.frame);
    this.sent = [];
    return f;
  }
}

export interface Rig {
  dp: Datapath;
  ctl: Control;
  sink: CaptureSink;
  clock: { now: number };
  /** Feed frames as one batch (copied into a fresh rx buffer with a 2048-byte stride, larger
   *  for larger frames); with rig({ vnet: true }) each gets a vnet header (zero unless given). */
  feed(...frames: (Uint8Array | VnetFrame)[]): void;
  /** Feed one batch and return what went out. */
  run(...frames: (Uint8Array | VnetFrame)[]): Buffer[];
  advance(ms: number): void;
  /** Feed an ARP reply from ip/mac to the director (teaches a tracked neighbour). */
  learn(ipText: string, macText: string): void;
  counters(): Record<string, number>;
}

export interface RigOpts {
  connMax?: number;
  /** Neighbour table size (uvsd --neigh-max). */
  neighMax?: number;
  addrs?: string[]; // "a.b.c.d/len"
  destMax?: number;
  gateway?: string;
  /** Free bytes in front of the first frame of each fed batch (default RX_HEADROOM, as uvsd). */
  headroom?: number;
  /** Frames come and go with a virtio_net_hdr in front (uvsd --offload on). */
  vnet?: boolean;
  /** One of several workers (uvsd --workers; DatapathOptions.worker). */
  worker?: DatapathOptions['worker'];
  /** Where the TUN outer headers' IP IDs start (default RIG_IP_ID_SEED; uvsd: random). */
  ipIdSeed?: number;
  /** uvsd --mtu (default 1500). */
  mtu?: number;
  /** Bytes per receive slot, as uvsd's port reads them (a longer frame is cut there); by
   *  default 2048, more for larger frames. */
  stride?: number;
}

/** The rig's first outer IP ID (TUN): the golden cases' wrapped frames count up from it. */
export const RIG_IP_ID_SEED = 0x1000;

export function rig(opts: RigOpts = {}): Rig {
  const sink = new CaptureSink();
  const clock = { now: T0 };
  const addrs = (opts.addrs ?? [`${DIR_IP}/24`]).map((c) => {
    // "a.b.c.d/len" or "a.b.c.d/len,floating" (uvsd --addr, docs/ha.md)
    const [cidr, flag] = c.split(',');
    const [a, l] = cidr!.split('/');
    return flag === 'floating' ? { ip: parseIp(a), mask: prefixMask(Number(l)), floating: true } : { ip: parseIp(a), mask: prefixMask(Number(l)) };
  });
  const gateway = opts.gateway === undefined ? undefined : parseIp(opts.gateway);
  const vh = opts.vnet ? VNET_HDR_LEN : 0;
  sink.pre = vh;
  const dp = new Datapath(
    { mac: parseMac(DIR_MAC), addrs, gateway, connMax: opts.connMax ?? 1024, neighMax: opts.neighMax, destMax: opts.destMax, vnetHdr: vh, worker: opts.worker, ipIdSeed: opts.ipIdSeed ?? RIG_IP_ID_SEED, mtu: opts.mtu }, sink, () => clock.now,
  );
  const ctl = new Control(dp, { tap: 't' });
  const feed = (...items: (Uint8Array | VnetFrame)[]): void => {
    // Laid out as uvsd's port does: RX_HEADROOM free bytes in front of the first frame, the vnet
    // header (if any) in the last bytes before each frame, counted in its length.
    const base = opts.headroom ?? RX_HEADROOM;
    const stride = opts.stride ?? Math.max(2048, ...items.map((x) => Math.ceil((('frame' in x ? x.frame : x).length + base) / 64) * 64));
    // A slot holds the vnet header and the frame: the read cuts what does not fit.
    const frames = items.map((x) => ('frame' in x ? x.frame : x).subarray(0, stride - vh));
    const buf = Buffer.alloc(base + Math.max(1, frames.length) * stride);
    const lens = new Uint32Array(Math.max(1, frames.length));
    items.forEach((x, i) => {
      const f = frames[i];
      buf.set(f, base + i * stride);
      lens[i] = f.length + vh;
      if (vh > 0 && 'frame' in x) vnetWrite(buf, base + i * stride, x.vnet);
    });
    sink.rxBuf = buf;
    dp.processBatch(buf, stride, lens, frames.length, base);
  };
  return {
    dp,
    ctl,
    sink,
    clock,
    feed,
    run(...frames) {
      sink.take();
      feed(...frames);
      return sink.take();
    },
    advance(ms) {
      clock.now += ms;
    },
    learn(ipText, macText) {
      feed(arpFrame({ ethDst: DIR_MAC, ethSrc: macText }, { op: 2, sha: macText, spa: ipText, tha: DIR_MAC, tpa: DIR_IP }));
    },
    counters() {
      return flatCounters(dp);
    },
  };
}

export function flatCounters(dp: Datapath): Record<string, number> {
  const o: Record<string, number> = {};
  COUNTER_NAMES.forEach((n, i) => (o[n] = dp.counters.c[i]));
  DROP_NAMES.forEach((n, i) => (o[`drop.${n}`] = dp.counters.d[i]));
  return o;
}

export function delta(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  const d: Record<string, number> = {};
  for (const k of Object.keys(after)) if (after[k] !== before[k]) d[k] = after[k] - (before[k] ?? 0);
  return d;
}

export function sumDrops(c: Record<string, number>): number {
  let s = 0;
  for (const [k, v] of Object.entries(c)) if (k.startsWith('drop.')) s += v;
  return s;
}

/** Frames consumed without output or drop: ignored_* and ARP that only refreshed a neighbour. */
export function sumIgnored(c: Record<string, number>): number {
  let s = 0;
  for (const [k, v] of Object.entries(c)) if (k.startsWith('ignored_') || k === 'arp_neigh_updates') s += v;
  return s;
}

/** The rig's single connection survives until 1 s before `timeoutMs` and is gone 1 s after it. */
export function assertExpiresAfter(r: Rig, timeoutMs: number): void {
  r.advance(timeoutMs - 1_000);
  r.dp.tick();
  assert.equal(r.dp.ct.count, 1, `expired before ${timeoutMs} ms`);
  r.advance(2_000);
  r.dp.tick();
  assert.equal(r.dp.ct.count, 0, `still there after ${timeoutMs} ms`);
}

/** Byte-exact frame comparison that prints both frames decoded field by field on mismatch. */
export function assertFrame(actual: Uint8Array | undefined, expected: Uint8Array, what = 'frame'): void {
  if (actual === undefined) assert.fail(`${what}: no frame was sent; expected:\n${frameDiff(new Uint8Array(0), expected)}`);
  if (toHex(actual) !== toHex(expected)) assert.fail(`${what} differs:\n${frameDiff(actual, expected)}`);
}

/** The standard setup: TCP VIP:80 (and optionally UDP VIP:53) with DR destinations, all learned. */
export function drRig(o: { sched?: string; weights?: number[]; udp?: boolean; learn?: boolean; connMax?: number } = {}): Rig {
  const r = rig({ connMax: o.connMax });
  const weights = o.weights ?? [1, 1];
  r.ctl.addService({ proto: 'tcp', addr: VIP, port: 80, sched: o.sched ?? 'rr' });
  if (o.udp) r.ctl.addService({ proto: 'udp', addr: VIP, port: 53, sched: o.sched ?? 'rr' });
  weights.forEach((w, i) => {
    r.ctl.addDest({ service: { proto: 'tcp', addr: VIP, port: 80 }, addr: RS[i].ip, port: 80, fwd: 'dr', weight: w });
    if (o.udp) r.ctl.addDest({ service: { proto: 'udp', addr: VIP, port: 53 }, addr: RS[i].ip, port: 53, fwd: 'dr', weight: w });
  });
  if (o.learn ?? true) weights.forEach((_w, i) => r.learn(RS[i].ip, RS[i].mac));
  r.sink.take();
  return r;
}

/** The clients' router (on-link; the clients 192.0.2.x are behind it). */
export const GW = '10.0.0.254';

/** VIP:80 (TCP, or UDP) with RS[0] by `fwd` (port 8080 for NAT), the client off-link behind GW,
 *  GW and RS[0] learned. */
export function gwRig(fwd: 'dr' | 'nat', proto: 'tcp' | 'udp' = 'tcp'): Rig {
  const r = rig({ gateway: GW });
  const svc = { proto, addr: VIP, port: 80 };
  r.ctl.addService({ ...svc, sched: 'rr' });
  r.ctl.addDest({ service: svc, addr: RS[0].ip, port: fwd === 'nat' ? 8080 : 80, fwd, weight: 1 });
  r.dp.resolve(parseIp(GW));
  r.learn(RS[0].ip, RS[0].mac);
  r.learn(GW, ROUTER_MAC);
  r.sink.take();
  return r;
}
