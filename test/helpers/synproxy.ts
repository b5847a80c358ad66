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
}

/** Returns the cookie uvsd chose (uint32) and the tuple the server saw as its peer. */
export function synproxyHandshake(one: FeedOne, toDir: L2, fromRs: L2, h: Handshake): { cookie: number; peer: string; pport: number } {
  const { SYN, ACK } = TCP_FLAGS;
  const synack = one(tcpFrame(toDir, { src: h.client, dst: h.vip, sport: h.cport, dport: 80, seq: h.cisn, flags: SYN }))[0];
  if (synack === undefined) throw new Error('no SYN|ACK');
  const cookie = synack.readUInt32BE(38);
  const syn = one(tcpFrame(toDir, { src: h.client, dst: h.vip, sport: h.cport, dport: 80, seq: (h.cisn + 1) >>> 0, ack: (cookie + 1) >>> 0, flags: ACK }))[0];
  if (syn === undefined) throw new Error('no SYN to the server');
  const peer = ipStr(syn.readUInt32BE(26));
  const pport = syn.readUInt16BE(34);
  one(tcpFrame(fromRs, { src: h.rs, dst: peer, sport: h.rport, dport: pport, seq: h.sisn, ack: (h.cisn + 1) >>> 0, flags: SYN | ACK }));
  return { cookie, peer, pport };
}
