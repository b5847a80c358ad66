import { synOptions, tcpFrame, TCP_FLAGS } from '../helpers/frames.js';
import { hex, IN, IPF, IPF_FWD, payload, RS1, RS2, seg, toRs, web, type GoldenCase } from './lab.js';

const syn = seg(40000, TCP_FLAGS.SYN, { options: synOptions() });
const syn2 = seg(40001, TCP_FLAGS.SYN, { options: synOptions(1400) });
const ack = seg(40000, TCP_FLAGS.ACK | TCP_FLAGS.PSH, { seq: 0x11223345, payload: payload(100) });

export default {
  name: 'dr-tcp-syn',
  description: 'DR: a TCP SYN to the VIP goes to the scheduled real server with the Ethernet addresses changed (dst = RS MAC, src = director MAC) and the TTL one less (the IP checksum updated, as IPVS decrement_ttl); TCP bytes identical. The flow sticks; the next new flow goes to the next server (rr).',
  setup: web(),
  neighbours: [RS1, RS2],
  steps: [
    {
      note: 'SYN 192.0.2.10:40000 → VIP:80 → RS1',
      input: hex(tcpFrame(IN, syn, IPF)),
      output: [hex(tcpFrame(toRs(RS1), syn, IPF_FWD))],
      counters: { rx_frames: 1, conns_created: 1, fwd_packets: 1, fwd_bytes: 60, tx_frames: 1, tx_bytes: 74 },
      conns: 1,
    },
    {
      note: 'data on the same flow → RS1 again',
      input: hex(tcpFrame(IN, ack, IPF)),
      output: [hex(tcpFrame(toRs(RS1), ack, IPF_FWD))],
      counters: { conns_created: 0, fwd_packets: 1, tx_frames: 1 },
      conns: 1,
    },
    {
      note: 'SYN from another port → RS2 (round robin)',
      input: hex(tcpFrame(IN, syn2, IPF)),
      output: [hex(tcpFrame(toRs(RS2), syn2, IPF_FWD))],
      counters: { conns_created: 1, tx_frames: 1 },
      conns: 2,
    },
  ],
} satisfies GoldenCase;
