import { udpFrame } from '../helpers/frames.js';
import { addDest, addService, CLIENT, hex, IN, IPF, IPF_FWD, RS1, toRs, UDP53, VIP, type GoldenCase } from './lab.js';

export const dns = { src: CLIENT, dst: VIP, sport: 5353, dport: 53, payload: Uint8Array.from([0xde, 0xad, 0xbe, 0xef]) };

export default {
  name: 'dr-udp',
  description: 'DR: a UDP datagram (46-byte frame padded to 60 on the wire) goes to the real server with the MACs changed and the TTL one less; the Ethernet padding is not forwarded.',
  setup: [addService(UDP53), addDest(UDP53, RS1.ip, 53)],
  neighbours: [RS1],
  steps: [
    {
      note: 'UDP 192.0.2.10:5353 → VIP:53 → RS1',
      input: hex(udpFrame({ ...IN, pad: true }, dns, IPF)),
      output: [hex(udpFrame(toRs(RS1), dns, IPF_FWD))],
      counters: { rx_frames: 1, rx_bytes: 60, conns_created: 1, fwd_packets: 1, fwd_bytes: 32, tx_frames: 1, tx_bytes: 46 },
      conns: 1,
    },
    {
      note: 'the same datagram again uses the connection entry',
      input: hex(udpFrame({ ...IN, pad: true }, dns, IPF)),
      output: [hex(udpFrame(toRs(RS1), dns, IPF_FWD))],
      counters: { conns_created: 0, fwd_packets: 1 },
      conns: 1,
    },
  ],
} satisfies GoldenCase;
