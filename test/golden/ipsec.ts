// IPsec ESP (50) and AH (51) to a VIP, as the kernel's ip_vs_proto_ah_esp: no ports, so never
// scheduled; a packet goes where its client's IKE connection (UDP CIP:500 → VIP:500) went, L3
// only, and renews that connection's timer. Through NAT the server's packets to the client leave
// from the VIP; FULLNAT does not carry them (the server would answer the local address).
import { eth, ipv4, udpFrame, type L2 } from '../helpers/frames.js';
import { addDest, addLaddr, addService, BACK, CLIENT, fromRs, GW, hex, IN, IPF, IPF_FWD, LIP, ROUTER, RS1, toRs, VIP, type GoldenCase } from './lab.js';

const IKE = { proto: 'udp' as const, addr: VIP, port: 500 };
const RIPF = { id: 0x7712, ttl: 64 };
const RIPF_FWD = { ...RIPF, ttl: 63 };
const ESP = 50;
const AH = 51;
/** An ESP or AH packet (its payload opaque to uvsd: SPI, sequence number, ciphertext). */
const sa = (l2: L2, src: string, dst: string, proto: number, ipf: { id: number; ttl: number }) =>
  eth({ dst: l2.ethDst, src: l2.ethSrc, type: 0x0800 }, ipv4({ ...ipf, src, dst, proto }, Uint8Array.from({ length: 48 }, (_, i) => (0x51 + i * 3) & 0xff)));
const ike = { src: CLIENT, dst: VIP, sport: 500, dport: 500, payload: Uint8Array.from({ length: 28 }, (_, i) => i) };
const setup = (fwd: 'nat' | 'dr' | 'fullnat') => ({
  gateway: GW,
  setup: [addService(IKE), addDest(IKE, RS1.ip, 500, { fwd }), ...(fwd === 'fullnat' ? [addLaddr(IKE, LIP, { portMin: 40000, portMax: 40000 })] : [])],
  neighbours: [RS1, { ip: GW, mac: ROUTER }],
});
const unhandled = (note: string, frame: Uint8Array) => ({ note, input: hex(frame), drop: 'ip_proto_unhandled', counters: { tx_frames: 0 } });

const cases: GoldenCase[] = [
  {
    name: 'nat-ipsec-esp-ah',
    description: 'NAT: ESP and AH from a client follow its IKE connection (UDP CIP:500 → VIP:500) to RS1, the server\'s back to the client from the VIP; without that connection (before it, another client) they are ip_proto_unhandled, as the kernel passes them to its own stack; each one renews the IKE connection\'s 300 s, as ip_vs_conn_put (before 2026-12-07 every ESP/AH packet was dropped)',
    ...setup('nat'),
    steps: [
      unhandled('ESP CIP → VIP before any IKE: no connection to follow', sa(IN, CLIENT, VIP, ESP, IPF)),
      { note: 'IKE CIP:500 → VIP:500 goes to RS1:500', input: hex(udpFrame(IN, ike, IPF)), output: [hex(udpFrame(toRs(RS1), { ...ike, dst: RS1.ip }, IPF_FWD))], conns: 1, counters: { conns_created: 1 } },
      { note: 'ESP CIP → VIP becomes CIP → RS1', input: hex(sa(IN, CLIENT, VIP, ESP, IPF)), output: [hex(sa(toRs(RS1), CLIENT, RS1.ip, ESP, IPF_FWD))], counters: { fwd_packets: 1, fwd_bytes: 68, conns_created: 0 } },
      { note: 'AH CIP → VIP likewise', input: hex(sa(IN, CLIENT, VIP, AH, IPF)), output: [hex(sa(toRs(RS1), CLIENT, RS1.ip, AH, IPF_FWD))], counters: { fwd_packets: 1 } },
      { note: 'ESP RS1 → CIP leaves as VIP → CIP through the gateway', input: hex(sa(fromRs(RS1), RS1.ip, CLIENT, ESP, RIPF)), output: [hex(sa(BACK, VIP, CLIENT, ESP, RIPF_FWD))], counters: { fwd_out_packets: 1, fwd_out_bytes: 68 } },
      unhandled('ESP from another client, which has no IKE connection', sa(IN, '192.0.2.11', VIP, ESP, IPF)),
      { note: 'ipvsadm --set 0 0 10: UDP connections last 10 s', control: { verb: 'setTimeouts', args: { tcp: 0, tcpfin: 0, udp: 10 } } },
      { note: '8 s later ESP still flows (the IKE connection\'s 10 s start again)', advanceMs: 8_000, input: hex(sa(IN, CLIENT, VIP, ESP, IPF)), output: [hex(sa(toRs(RS1), CLIENT, RS1.ip, ESP, IPF_FWD))], conns: 1 },
      { note: '8 s more: 16 s after the IKE packet, its connection is still there', advanceMs: 8_000, input: hex(sa(IN, CLIENT, VIP, ESP, IPF)), output: [hex(sa(toRs(RS1), CLIENT, RS1.ip, ESP, IPF_FWD))], conns: 1, counters: { conns_expired: 0 } },
      { note: 'without ESP or IKE for 11 s it expires, and ESP is not carried', advanceMs: 11_000, input: hex(sa(IN, CLIENT, VIP, ESP, IPF)), drop: 'ip_proto_unhandled', conns: 0, counters: { conns_expired: 1, tx_frames: 0 } },
    ],
  },
  {
    name: 'dr-ipsec-esp',
    description: 'DR: ESP from a client goes to the server of its IKE connection, only the MAC changed (and the TTL); the server answers the client directly',
    ...setup('dr'),
    steps: [
      { note: 'IKE CIP:500 → VIP:500 goes to RS1', input: hex(udpFrame(IN, ike, IPF)), output: [hex(udpFrame(toRs(RS1), ike, IPF_FWD))] },
      { note: 'ESP CIP → VIP to RS1, unchanged', input: hex(sa(IN, CLIENT, VIP, ESP, IPF)), output: [hex(sa(toRs(RS1), CLIENT, VIP, ESP, IPF_FWD))], counters: { fwd_packets: 1 } },
    ],
  },
  {
    name: 'fullnat-ipsec-esp',
    description: 'FULLNAT: ESP is not carried even with an IKE connection (the server would send its ESP to the local address, whose IKE port is not 500): ip_proto_unhandled',
    ...setup('fullnat'),
    steps: [
      { note: 'IKE CIP:500 → VIP:500 goes to RS1:500 from LIP:40000', input: hex(udpFrame(IN, ike, IPF)), output: [hex(udpFrame(toRs(RS1), { ...ike, src: LIP, sport: 40000, dst: RS1.ip }, IPF_FWD))], conns: 1 },
      unhandled('ESP CIP → VIP', sa(IN, CLIENT, VIP, ESP, IPF)),
    ],
  },
];

export default cases;
