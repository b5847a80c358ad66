import { icmpFrame, synOptions, tcpFrame, TCP_FLAGS, udpFrame } from '../helpers/frames.js';
import { dns } from './dr-udp.js';
import { addDest, addService, DIR_IP, dropStep, hex, IN, IPF, IPF_FWD, RS1, seg, toRs, UDP53, web, type GoldenCase } from './lab.js';

// Martian sources: the kernel drops them before routing (ip_route_input_slow), so IPVS never sees
// them. uvsd drops them right after the IPv4 header checks: no lookup, no entry, no answer.
// Class E (240.0.0.0/4 but 255.255.255.255) is not one: the kernel routes it as unicast.
const MARTIANS = [
  ['0.0.0.0', 'the unspecified address'],
  ['0.1.2.3', '0.0.0.0/8'],
  ['127.0.0.1', 'loopback'],
  ['127.255.0.9', '127.0.0.0/8'],
  ['224.0.0.5', 'multicast (OSPF)'],
  ['239.255.255.250', 'multicast, the top of 224.0.0.0/4'],
  ['255.255.255.255', 'the limited broadcast'],
] as const;

const syn = seg(40000, TCP_FLAGS.SYN, { options: synOptions() });
const from = (src: string) => ({ ...dns, src });

export default {
  name: 'bad-source',
  description: 'Frames from martian sources (0/8, 127/8, 224/4 and 255.255.255.255) are dropped as bad_source before any lookup: no connection entry, nothing reaches a real server; a private source just outside those ranges is forwarded, and so is class E (240/4), which the kernel routes as unicast.',
  setup: [...web(), addService(UDP53), addDest(UDP53, RS1.ip, 53)],
  neighbours: [RS1],
  steps: [
    ...MARTIANS.map(([src, what]) => ({ ...dropStep(`UDP from ${src} (${what}) to VIP:53`, udpFrame(IN, from(src), IPF), 'bad_source'), conns: 0 })),
    { ...dropStep('TCP SYN from 224.0.0.5 to VIP:80', tcpFrame(IN, { ...syn, src: '224.0.0.5' }, IPF), 'bad_source'), conns: 0 },
    { ...dropStep('ICMP echo request from 127.0.0.1 to the director: not answered', icmpFrame(IN, { src: '127.0.0.1', dst: DIR_IP }, { type: 8 }), 'bad_source'), conns: 0 },
    ...([
      ['192.168.7.9', 'UDP from 192.168.7.9 to VIP:53 is forwarded to RS1'],
      ['223.255.255.254', 'UDP from 223.255.255.254 (just below multicast) is forwarded too'],
      ['240.0.0.1', 'UDP from 240.0.0.1 (class E, no martian to the kernel) is forwarded'],
      ['255.255.255.254', 'UDP from 255.255.255.254 (the top of class E, just below the limited broadcast) is forwarded'],
    ] as const).map(([src, note], i) => ({
      note,
      input: hex(udpFrame(IN, from(src), IPF)),
      output: [hex(udpFrame(toRs(RS1), from(src), IPF_FWD))],
      counters: { rx_frames: 1, conns_created: 1, fwd_packets: 1, tx_frames: 1 },
      conns: i + 1,
    })),
  ],
} satisfies GoldenCase;
