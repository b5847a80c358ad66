// One whole SYN proxy handshake through a datapath (client SYN, client ACK, server SYN|ACK), for
// the allocation test and the benchmark that need established SYN proxy connections to start from.
import type { Datapath, FrameSink } from '../../src/datapath/pipeline.js';
import { ipStr, tcpFrame, TCP_FLAGS, type L2 } from './frames.js';

/** Feed one frame, return the frames that went out. */
export type FeedOne = (frame: Buffer) => Buffer[];

/** Keeps the frames sent while `keep` (the setup), only counts them afterwards (the measurement). */
export class SetupSink implements FrameSink {
  keep = true;
  frames = 0;
  kept: Buffer[] = [];
  send(buf: Buffer, offs: Uint32Array, lens: Uint32Array, count: number): number {
    this.frames += count;
    if (this.keep) for (let i = 0; i < count; i++) this.kept.push(Buffer.from(buf.subarray(offs[i], offs[i] + lens[i])));
    return count;
  }
}

/** Feed single frames to dp (with uvsd's headroom) and get what it sent into `sink`. */
export function feedOne(dp: Datapath, sink: SetupSink, base = 32, stride = 2048): FeedOne {
  return (f) => {
    sink.kept = [];
    const b = Buffer.alloc(base + stride);
    f.copy(b, base);
    dp.processBatch(b, stride, new Uint32Array([f.length]), 1, base);
    return sink.kept;
  };
}

export interface Handshake {
  client: string;
  vip: string;
  cport: number;
  /** Client and server ISNs (uint32). */
  cisn: number;
  sisn: number;
  rs: string;
  rport: number;
  /** The client offers window scale 7, SACK and timestamps (TSval tsc); the server answers with
   *  window scale 7 (not the director's: its windows are rescaled) and TSval sts. */
  ts?: { tsc: number; sts: number };
}

/** MSS 1460, SACK-permitted, timestamps, NOP, window scale 7: a Linux SYN's options. */
export function linuxSynOptions(tsval: number, tsecr: number): Buffer {
  const b = Buffer.from([2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0, 0, 0, 0, 0, 0, 0, 1, 3, 3, 7]);
  b.writeUInt32BE(tsval >>> 0, 8);
  b.writeUInt32BE(tsecr >>> 0, 12);
  return b;
}

/** NOP, NOP, timestamps: a Linux segment's options. */
export function tsOption(tsval: number, tsecr: number): Buffer {
  const b = Buffer.from([1, 1, 8, 10, 0, 0, 0, 0, 0, 0, 0, 0]);
  b.writeUInt32BE(tsval >>> 0, 4);
  b.writeUInt32BE(tsecr >>> 0, 8);
  return b;
}

/** Returns the cookie uvsd chose (uint32), its SYN|ACK's TSval (0 without h.ts) and the tuple the server saw as its peer. */
export function synproxyHandshake(one: FeedOne, toDir: L2, fromRs: L2, h: Handshake): { cookie: number; tsval: number; peer: string; pport: number } {
  const { SYN, ACK } = TCP_FLAGS;
  const t = h.ts;
  const synack = one(tcpFrame(toDir, { src: h.client, dst: h.vip, sport: h.cport, dport: 80, seq: h.cisn, flags: SYN, ...(t ? { options: linuxSynOptions(t.tsc, 0) } : {}) }))[0];
  if (synack === undefined) throw new Error('no SYN|ACK');
  const cookie = synack.readUInt32BE(38);
  const tsval = t ? synack.readUInt32BE(14 + 20 + 28) : 0; // after MSS, SACK-permitted and the kind and length
  const syn = one(tcpFrame(toDir, {
    src: h.client, dst: h.vip, sport: h.cport, dport: 80, seq: (h.cisn + 1) >>> 0, ack: (cookie + 1) >>> 0, flags: ACK, ...(t ? { options: tsOption(t.tsc + 1, tsval) } : {}),
  }))[0];
  if (syn === undefined) throw new Error('no SYN to the server');
  const peer = ipStr(syn.readUInt32BE(26));
  const pport = syn.readUInt16BE(34);
  one(tcpFrame(fromRs, { src: h.rs, dst: peer, sport: h.rport, dport: pport, seq: h.sisn, ack: (h.cisn + 1) >>> 0, flags: SYN | ACK, ...(t ? { options: linuxSynOptions(t.sts, t.tsc + 1) } : {}) }));
  return { cookie, tsval, peer, pport };
}
