// Child of unit-warmup.test.ts (run with --trace-deopt): a datapath optimised on DR UDP traffic,
// then one frame each of kinds it has not seen (and a table past the prefetch threshold); prints EVENTS-BEGIN / EVENTS-END around them so
// the parent counts the de-optimisations they cause. argv[2]: 'warmup' runs warmUp() first.
import { RX_HEADROOM } from '../../src/datapath/pipeline.js';
import { warmUp } from '../../src/datapath/warmup.js';
import { arpFrame, eth, icmpFrame, ipv4, sctpFrame, SCTP_CHUNK, tcpFrame, udp, udpFrame, TCP_FLAGS } from './frames.js';
import { B, CLI, DIR, RS_NAT, S, VIP, jitLab } from './jit-lab.js';

if (process.argv[2] === 'warmup') warmUp({ vnetHdr: 0, mtu: 1500, batch: B }, { stride: S, base: RX_HEADROOM });
const lab = jitLab(['192.168.8.9']);
const l2 = { ethDst: DIR, ethSrc: CLI };
const client = '192.168.8.9';
const frag = (fragOffset: number, payload: Uint8Array): Buffer =>
  eth({ dst: DIR, src: CLI, type: 0x0800 }, ipv4({ src: client, dst: VIP, proto: 17, id: 7, df: false, mf: fragOffset === 0, fragOffset }, payload));
const datagram = udp({ src: client, dst: VIP, sport: 5000, dport: 80, payload: new Uint8Array(24) });
const events: Buffer[] = [
  tcpFrame(l2, { src: client, dst: VIP, sport: 40000, dport: 80, flags: TCP_FLAGS.SYN }), // a NAT connection
  tcpFrame({ ethDst: DIR, ethSrc: RS_NAT }, { src: '10.8.1.20', dst: client, sport: 80, dport: 40000, flags: TCP_FLAGS.SYN | TCP_FLAGS.ACK }), // its reply
  icmpFrame(l2, { src: client, dst: VIP }, { type: 8, id: 0x1234, seq: 1, payload: new Uint8Array(8) }), // echo request
  udpFrame(l2, { src: client, dst: VIP, sport: 999, dport: 80 }, { badChecksum: true }), // bad IP header checksum
  udpFrame(l2, { src: client, dst: VIP, sport: 999, dport: 9999 }), // no service
  frag(0, datagram.subarray(0, 16)), // a datagram in two fragments
  frag(2, datagram.subarray(16)),
  arpFrame({ ethDst: 'ff:ff:ff:ff:ff:ff', ethSrc: CLI }, { op: 1, sha: CLI, spa: client, tha: '00:00:00:00:00:00', tpa: VIP }),
  tcpFrame(l2, { src: client, dst: VIP, sport: 40001, dport: 80, flags: TCP_FLAGS.ACK }), // no connection
  tcpFrame(l2, { src: client, dst: VIP, sport: 40000, dport: 80, flags: TCP_FLAGS.FIN | TCP_FLAGS.ACK }), // the NAT connection ends
  tcpFrame({ ethDst: DIR, ethSrc: RS_NAT }, { src: '10.8.1.20', dst: client, sport: 80, dport: 40000, flags: TCP_FLAGS.RST }),
  udpFrame(l2, { src: client, dst: VIP, sport: 998, dport: 80 }, { options: new Uint8Array(4).fill(1) }), // IP options
  icmpFrame(l2, { src: client, dst: '192.168.8.10' }, { type: 8, id: 0x1234, seq: 2, payload: new Uint8Array(8) }), // echo to the director
  sctpFrame(l2, { src: client, dst: VIP }, { sport: 40002, dport: 3868, chunks: [{ type: SCTP_CHUNK.INIT, value: new Uint8Array(16) }] }), // an SCTP association (NAT)
  sctpFrame({ ethDst: DIR, ethSrc: RS_NAT }, { src: '10.8.1.20', dst: client }, { sport: 3868, dport: 40002, chunks: [{ type: SCTP_CHUNK.INIT_ACK, value: new Uint8Array(16) }] }), // its reply
  sctpFrame(l2, { src: client, dst: VIP }, { sport: 40002, dport: 3868, chunks: [{ type: SCTP_CHUNK.DATA, value: new Uint8Array(20) }] }),
];
const batch = (extra: Buffer | null): number => lab.batch(extra);
for (let r = 0; r < 30_000; r++) batch(null); // optimised for this traffic
console.log('EVENTS-BEGIN');
for (const f of events) {
  batch(f);
  for (let r = 0; r < 50; r++) batch(null);
}
// The table grows past the size from which a batch's buckets are prefetched (warmBatch).
lab.dp.warmMinEntries = 0;
for (let r = 0; r < 50; r++) batch(null);
console.log('EVENTS-END');
