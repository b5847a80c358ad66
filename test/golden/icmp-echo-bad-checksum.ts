import { icmpFrame } from '../helpers/frames.js';
import { BACK, CLIENT, hex, IN, payload, RS1, RS2, VIP, web, type GoldenCase } from './lab.js';

/** ping VIP with a wrong ICMP checksum (the right one with its low bit flipped). */
function corrupted(): string {
  const f = icmpFrame(IN, { src: CLIENT, dst: VIP }, { type: 8, id: 0x1f2e, seq: 8, payload: payload(56) }, { id: 0x9a02, ttl: 57 });
  f[14 + 20 + 3] ^= 1;
  return hex(f);
}

const c: GoldenCase = {
  name: 'icmp-echo-bad-checksum',
  description: 'An ICMP echo request with a wrong ICMP checksum is not answered (icmp_bad_checksum), as the kernel\'s icmp_rcv drops it; before, the reply went out with the checksum as wrong.',
  setup: web(),
  neighbours: [RS1, RS2],
  steps: [{
    note: `ping ${VIP} from ${CLIENT}, its ICMP checksum one bit off`,
    input: corrupted(),
    drop: 'icmp_bad_checksum',
    counters: { rx_frames: 1, icmp_echo_replies: 0, tx_frames: 0 },
  }],
};

const code: GoldenCase = {
  name: 'icmp-echo-code',
  description: 'An ICMP echo request with a code other than 0 is answered with that code, as the kernel\'s icmp_echo (only the type changes); before 2026-12-07 it was dropped as icmp_unhandled.',
  setup: web(),
  neighbours: [RS1, RS2],
  steps: [{
    note: `ping ${VIP} from ${CLIENT} with code 3`,
    input: hex(icmpFrame(IN, { src: CLIENT, dst: VIP }, { type: 8, code: 3, id: 0x1f2e, seq: 9, payload: payload(8) }, { id: 0x9a03, ttl: 57 })),
    output: [hex(icmpFrame(BACK, { src: VIP, dst: CLIENT }, { type: 0, code: 3, id: 0x1f2e, seq: 9, payload: payload(8) }, { id: 0x9a03, ttl: 64 }))],
    counters: { rx_frames: 1, icmp_echo_replies: 1, tx_frames: 1 },
  }],
};

export default [c, code];
