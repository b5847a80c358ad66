import { eth, icmpFrame, ipv4, synOptions, tcp, tcpFrame, TCP_FLAGS, udp, udpFrame } from '../helpers/frames.js';
import {
  addDest, addService, BACK, CLIENT, GW, hex, IN, IPF, payload, RS1, RS2, ROUTER, seg, TCP80, UDP53, VIP, type GoldenCase,
} from './lab.js';

// A service exists but no real server is available: IPVS's ip_vs_leave() answers the client with
// ICMP destination unreachable, port unreachable (type 3 code 3), from the VIP, quoting the
// packet's IP header and its first 8 bytes (RFC 792); the packet itself is still dropped (no_dest).

const { SYN, ACK, RST } = TCP_FLAGS;
const syn = seg(40000, SYN, { options: synOptions() });
const dns = { src: CLIENT, dst: VIP, sport: 5353, dport: 53, payload: payload(30) };
const TCP443P = { proto: 'tcp' as const, addr: VIP, port: 443 };

/** The ICMP the director sends back through the router for the IP packet `pkt`. */
const unreach = (pkt: Uint8Array) =>
  hex(icmpFrame(BACK, { src: VIP, dst: CLIENT }, { type: 3, code: 3, id: 0, seq: 0, payload: pkt.subarray(0, 20 + 8) }, { tos: 0xc0, id: 0, df: false, ttl: 64 }));

const synPkt = ipv4({ ...IPF, src: CLIENT, dst: VIP, proto: 6 }, tcp(syn));
const dnsPkt = ipv4({ ...IPF, src: CLIENT, dst: VIP, proto: 17 }, udp(dns));
// A UDP datagram's first fragment (MF, offset 0) and a later one (offset 8 × 8 bytes).
const dnsBig = udp({ ...dns, payload: payload(100) });
const frag0 = ipv4({ ...IPF, src: CLIENT, dst: VIP, proto: 17, df: false, mf: true }, dnsBig.subarray(0, 64));
const frag1 = ipv4({ ...IPF, src: CLIENT, dst: VIP, proto: 17, df: false, fragOffset: 8 }, dnsBig.subarray(64));
const psyn = { ...syn, dport: 443 };
const psynPkt = ipv4({ ...IPF, src: CLIENT, dst: VIP, proto: 6 }, tcp(psyn));

export default {
  name: 'no-dest-port-unreachable',
  description: 'No real server available (all weight 0, or none): the SYN / datagram is dropped (no_dest) and the client gets ICMP port unreachable (3/3) from the VIP quoting its IP header + 8 bytes, through the router; not for a TCP segment without SYN (that one gets a reset: no connection), a frame to the broadcast MAC, a later fragment, or a port without a service.',
  gateway: GW,
  setup: [
    addService(TCP80), addDest(TCP80, RS1.ip, 80, { weight: 0 }), addDest(TCP80, RS2.ip, 80, { weight: 0 }),
    addService(UDP53),
    { verb: 'addService', args: { ...TCP443P, sched: 'wlc', persist: 300 } }, addDest(TCP443P, RS1.ip, 443, { weight: 0 }),
  ],
  neighbours: [RS1, RS2, { ip: GW, mac: ROUTER }],
  steps: [
    { note: 'SYN to VIP:80, both servers at weight 0 → port unreachable', input: hex(tcpFrame(IN, syn, IPF)), output: [unreach(synPkt)],
      drop: 'no_dest', counters: { icmp_unreach_sent: 1, icmp_unreach_ratelimited: 0, conns_created: 0 }, conns: 0 },
    { note: 'UDP to VIP:53, a service without servers → port unreachable', input: hex(udpFrame(IN, dns, IPF)), output: [unreach(dnsPkt)],
      drop: 'no_dest', counters: { icmp_unreach_sent: 1 }, conns: 0 },
    { note: 'SYN to the persistent VIP:443, no template and its server at weight 0 → port unreachable', input: hex(tcpFrame(IN, psyn, IPF)),
      output: [unreach(psynPkt)], drop: 'no_dest', counters: { icmp_unreach_sent: 1, templates_created: 0 }, conns: 0 },
    { note: 'ACK without a connection: never scheduled; a reset from the VIP (seq = its ack), as the kernel\'s stack answers', input: hex(tcpFrame(IN, seg(40001, ACK), IPF)), drop: 'no_conn',
      output: [hex(tcpFrame(BACK, { src: VIP, dst: CLIENT, sport: 80, dport: 40001, flags: RST, seq: seg(40001, ACK).ack, ack: 0, window: 0 }, { id: 0, ttl: 64 }))],
      counters: { icmp_unreach_sent: 0, tcp_rst_sent: 1 } },
    { note: 'SYN to VIP:81 (no service): no_service, nothing sent (not ip_vs_leave\'s case)', input: hex(tcpFrame(IN, { ...syn, dport: 81 }, IPF)),
      drop: 'no_service', counters: { icmp_unreach_sent: 0, tx_frames: 0 } },
    { note: 'SYN to VIP:80 sent to the broadcast MAC: not for uvsd (IPVS takes PACKET_HOST frames only), ignored, no answer', input: hex(tcpFrame({ ethDst: 'ff:ff:ff:ff:ff:ff', ethSrc: ROUTER }, syn, IPF)),
      counters: { ignored_other_mac: 1, icmp_unreach_sent: 0, tx_frames: 0 } },
    { note: 'first fragment of a datagram to VIP:53 → port unreachable quoting it (MF set)', input: hex(eth({ dst: IN.ethDst, src: IN.ethSrc, type: 0x0800 }, frag0)),
      output: [unreach(frag0)], drop: 'no_dest', counters: { icmp_unreach_sent: 1 } },
    { note: 'its later fragment: no first-fragment decision, nothing sent', input: hex(eth({ dst: IN.ethDst, src: IN.ethSrc, type: 0x0800 }, frag1)),
      drop: 'frag_no_first', counters: { icmp_unreach_sent: 0, tx_frames: 0 } },
  ],
} satisfies GoldenCase;
