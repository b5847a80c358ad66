// One whole SYN proxy handshake through a datapath (client SYN, client ACK, server SYN|ACK), for
// the allocation test and the benchmark that need established SYN proxy connections to start from.
import { ipStr, tcpFrame, TCP_FLAGS, type L2 } from './frames.js';

/** Feed one frame, return the frames that went out. */
export type FeedOne = (frame: Buffer) => Buffer[];

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
