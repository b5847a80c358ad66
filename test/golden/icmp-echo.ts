import { icmpFrame } from '../helpers/frames.js';
import { BACK, CLIENT, DIR_IP, hex, IN, payload, RS1, RS2, VIP, web, type GoldenCall, type GoldenCase } from './lab.js';

const echoCase = (name: string, to: string, setup: GoldenCall[], neighbours: GoldenCase['neighbours']): GoldenCase => ({
  name,
  description: `An ICMP echo request to ${to} is answered: addresses swapped, TTL 64, type 0, checksums valid, back to the sender's MAC.`,
  setup,
  neighbours,
  steps: [{
    note: `ping ${to} from ${CLIENT} (TTL 57, 56 bytes of data)`,
    input: hex(icmpFrame(IN, { src: CLIENT, dst: to }, { type: 8, id: 0x1f2e, seq: 7, payload: payload(56) }, { id: 0x9a01, ttl: 57 })),
    output: [hex(icmpFrame(BACK, { src: to, dst: CLIENT }, { type: 0, id: 0x1f2e, seq: 7, payload: payload(56) }, { id: 0x9a01, ttl: 64 }))],
    counters: { rx_frames: 1, icmp_echo_replies: 1, tx_frames: 1 },
  }],
});

export default [echoCase('icmp-echo-director', DIR_IP, [], []), echoCase('icmp-echo-vip', VIP, web(), [RS1, RS2])];
