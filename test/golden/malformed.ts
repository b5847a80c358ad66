import { eth, icmpFrame, ipv4, synOptions, tcp, tcpFrame, TCP_FLAGS } from '../helpers/frames.js';
import { CLIENT, DIR_IP, DIR_MAC, dropStep, fixIpCsum, hex, IN, IPF, ROUTER, RS1, RS2, seg, VIP, web, type GoldenCase } from './lab.js';

const syn = seg(40000, TCP_FLAGS.SYN, { options: synOptions() });
const good = tcpFrame(IN, syn, IPF);
const badTot = Buffer.from(good);
badTot.writeUInt16BE(200, 16); // total length beyond the frame (then fix the header checksum)
fixIpCsum(badTot);
const tinyTot = Buffer.from(good);
tinyTot.writeUInt16BE(16, 16); // total length smaller than the header
fixIpCsum(tinyTot);
const ipTo = (proto: number, o: Record<string, unknown> = {}) => ({ src: CLIENT, dst: VIP, proto, ...IPF, ...o });
const l2 = { dst: DIR_MAC, src: ROUTER, type: 0x0800 };
const shortTcp = eth(l2, ipv4(ipTo(6), tcp(syn).subarray(0, 12)));
const bigOff = eth(l2, ipv4(ipTo(6), tcp({ ...seg(40000, TCP_FLAGS.SYN), dataOffset: 15 })));
const ihl15 = eth(l2, ipv4(ipTo(6, { ihl: 15 }), new Uint8Array(0)));
const v6 = Buffer.from(good);
v6[14] = 0x65;

export default {
  name: 'malformed',
  description: 'Malformed frames are dropped and each is counted with its reason.',
  setup: web(),
  neighbours: [RS1, RS2],
  steps: [
    dropStep('truncated Ethernet header (10 bytes)', good.subarray(0, 10), 'short_frame'),
    dropStep('truncated IPv4 header (14 + 19 bytes)', good.subarray(0, 33), 'short_frame'),
    dropStep('IHL 15 (60-byte header) in a 34-byte frame', ihl15, 'ip_bad_header_length'),
    dropStep('IP version 6 in an IPv4 ethertype', v6, 'ip_bad_version'),
    dropStep('bad IPv4 header checksum', tcpFrame(IN, syn, { ...IPF, badChecksum: true }), 'ip_bad_checksum'),
    dropStep('total length 200 > frame', badTot, 'ip_bad_total_length'),
    dropStep('total length 16 < header length', tinyTot, 'ip_bad_total_length'),
    dropStep('TCP header cut at 12 bytes', shortTcp, 'l4_truncated'),
    dropStep('TCP data offset 60 with a 20-byte segment', bigOff, 'l4_truncated'),
    dropStep('UDP header cut at 6 bytes', eth(l2, ipv4(ipTo(17), new Uint8Array(6))), 'l4_truncated'),
    dropStep('later fragment (offset 185) whose first fragment never came', tcpFrame(IN, syn, { ...IPF, df: false, fragOffset: 185 }), 'frag_no_first'),
    dropStep('a fragment of an ICMP datagram', icmpFrame(IN, { src: CLIENT, dst: VIP }, { type: 8 }, { df: false, mf: true }), 'ip_fragment'),
    dropStep('not for us: 10.0.0.50', tcpFrame(IN, { ...syn, dst: '10.0.0.50' }, IPF), 'ip_not_local'),
    dropStep('GRE to the VIP', eth(l2, ipv4(ipTo(47), new Uint8Array(8))), 'ip_proto_unhandled'),
    dropStep('ICMP echo reply to the director', icmpFrame(IN, { src: CLIENT, dst: DIR_IP }, { type: 0 }), 'icmp_unhandled'),
    {
      note: 'unicast to another MAC: ignored, not a drop',
      input: hex(tcpFrame({ ethDst: '02:00:00:00:00:77', ethSrc: ROUTER }, syn, IPF)),
      counters: { rx_frames: 1, ignored_other_mac: 1, tx_frames: 0 },
    },
    {
      note: 'IPv6 ethertype: ignored, not a drop',
      input: hex(eth({ dst: DIR_MAC, src: ROUTER, type: 0x86dd, pad: true }, new Uint8Array(40))),
      counters: { rx_frames: 1, ignored_ethertype: 1, tx_frames: 0 },
    },
  ],
} satisfies GoldenCase;
