// Golden cases for the forwarding methods that rewrite packets (NAT, FULLNAT, TUN), ICMP related
// to connections, and IP fragments. Every expected frame is built from scratch with the frame
// builder (fresh checksums), so a wrong incremental checksum in the product shows as a byte
// difference. The client (192.0.2.10) is off-link: replies leave through the gateway (ROUTER).
import { arpFrame, eth, icmpFrame, ipv4, synOptions, tcp, tcpFrame, TCP_FLAGS, udp, udpFrame, type L2 } from '../helpers/frames.js';
import { RIG_IP_ID_SEED } from '../helpers/harness.js';
import {
  addDest, addService, BACK, TCP80, CLIENT, DIR_IP, DIR_MAC, fromRs, GW, hex, IN, IPF, IPF_FWD, LIP, modeSetup, ROUTER, RS1, RS2, toRs, UDP53, VIP,
  type GoldenCase,
} from './lab.js';

const RIPF = { id: 0x7711, ttl: 64 };
const RIPF_FWD = { ...RIPF, ttl: 63 };
const payload = (n: number) => Uint8Array.from({ length: n }, (_, i) => (0x30 + i * 7) & 0xff);
const { SYN, ACK, FIN, PSH } = TCP_FLAGS;

/** A client→VIP segment. */
const cseg = (sport: number, flags: number, seq: number, ack: number, data?: Uint8Array) => ({
  src: CLIENT, dst: VIP, sport, dport: 80, flags, seq, ack, window: 64240, payload: data,
  options: flags & SYN ? synOptions() : undefined,
});

function buildModeCases(): GoldenCase[] {
  const cases: GoldenCase[] = [];

  // ---- NAT -------------------------------------------------------------------------------
  const syn = cseg(40000, SYN, 1000, 0);
  const synack = { src: RS1.ip, dst: CLIENT, sport: 8080, dport: 40000, flags: SYN | ACK, seq: 5000, ack: 1001, window: 65160, options: synOptions() };
  const ack = cseg(40000, ACK | PSH, 1001, 5001, payload(100));
  const fin = cseg(40000, FIN | ACK, 1101, 5001);
  const sfin = { src: RS1.ip, dst: CLIENT, sport: 8080, dport: 40000, flags: FIN | ACK, seq: 5001, ack: 1102, window: 65160 };
  const lastAck = cseg(40000, ACK, 1102, 5002);
  const asRs = <T extends { dst: string; dport: number }>(s: T) => ({ ...s, dst: RS1.ip, dport: 8080 });
  const asVip = <T extends { src: string; sport: number }>(s: T) => ({ ...s, src: VIP, sport: 80 });
  cases.push({
    name: 'nat-tcp-both-ways',
    description: 'NAT (-m) with port mapping 80 → 8080: client segments get RIP:8080 as destination, the server\'s replies get VIP:80 as source and go back through the gateway; IP and TCP checksums are updated incrementally (expected frames carry freshly computed ones). The TCP state follows both directions (INPUT and OUTPUT rows of ip_vs_proto_tcp.c): SYN_RECV (active, as the kernel counts half-open states since 4.7), ESTABLISHED (active) on the client ACK, CLOSE_WAIT on the client FIN (inactive), TIME_WAIT on the server FIN.',
    ...modeSetup('nat', 8080),
    steps: [
      { note: 'SYN CIP:40000 → VIP:80 becomes → RS1:8080', input: hex(tcpFrame(IN, syn, IPF)), output: [hex(tcpFrame(toRs(RS1), asRs(syn), IPF_FWD))],
        counters: { conns_created: 1, fwd_packets: 1 }, conns: 1, states: ['SYN_RECV'], destConns: [[1, 0], [0, 0]] },
      { note: 'SYN|ACK RS1:8080 → CIP becomes VIP:80 → CIP, via the gateway', input: hex(tcpFrame(fromRs(RS1), synack, RIPF)), output: [hex(tcpFrame(BACK, asVip(synack), RIPF_FWD))],
        counters: { fwd_out_packets: 1, fwd_out_bytes: 60 }, states: ['SYN_RECV'], destConns: [[1, 0], [0, 0]] },
      { note: 'data (100 bytes) → RS1:8080: the client\'s ACK establishes', input: hex(tcpFrame(IN, ack, IPF)), output: [hex(tcpFrame(toRs(RS1), asRs(ack), IPF_FWD))],
        states: ['ESTABLISHED'], destConns: [[1, 0], [0, 0]] },
      { note: 'client FIN → RS1', input: hex(tcpFrame(IN, fin, IPF)), output: [hex(tcpFrame(toRs(RS1), asRs(fin), IPF_FWD))], states: ['CLOSE_WAIT'], destConns: [[0, 1], [0, 0]] },
      { note: 'server FIN → client', input: hex(tcpFrame(fromRs(RS1), sfin, RIPF)), output: [hex(tcpFrame(BACK, asVip(sfin), RIPF_FWD))], states: ['TIME_WAIT'] },
      { note: 'last ACK → RS1', input: hex(tcpFrame(IN, lastAck, IPF)), output: [hex(tcpFrame(toRs(RS1), asRs(lastAck), IPF_FWD))], states: ['TIME_WAIT'], destConns: [[0, 1], [0, 0]] },
      { note: 'a reply from RS1 for an unknown client port is not ours', input: hex(tcpFrame(fromRs(RS1), { ...synack, dport: 40999 }, RIPF)), drop: 'ip_not_local' },
    ],
  });

  const q = { src: CLIENT, dst: VIP, sport: 5353, dport: 53, payload: Uint8Array.from([1, 2, 3, 4, 5]) };
  const a = { src: RS2.ip, dst: CLIENT, sport: 53, dport: 5353, payload: Uint8Array.from([9, 8, 7]) };
  cases.push({
    name: 'nat-udp',
    description: 'NAT UDP: the request goes to RIP:53, the answer comes back from VIP:53. A datagram without checksum (0) keeps 0 after the rewrite.',
    gateway: GW,
    setup: [addService(UDP53), addDest(UDP53, RS2.ip, 53, { fwd: 'nat' })],
    neighbours: [RS2, { ip: GW, mac: ROUTER }],
    steps: [
      { note: 'query CIP:5353 → VIP:53 becomes → RS2:53', input: hex(udpFrame(IN, q, IPF)), output: [hex(udpFrame(toRs(RS2), { ...q, dst: RS2.ip }, IPF_FWD))], conns: 1, states: ['UDP'] },
      { note: 'answer RS2:53 → CIP becomes VIP:53 → CIP', input: hex(udpFrame(fromRs(RS2), a, RIPF)), output: [hex(udpFrame(BACK, { ...a, src: VIP }, RIPF_FWD))] },
      { note: 'a query without checksum keeps checksum 0', input: hex(udpFrame(IN, { ...q, sport: 5354, checksum: 'none' }, IPF)),
        output: [hex(udpFrame(toRs(RS2), { ...q, sport: 5354, dst: RS2.ip, checksum: 'none' }, IPF_FWD))], conns: 2 },
    ],
  });

  // ---- ICMP related to a NAT connection -----------------------------------------------------
  const usyn = cseg(40100, SYN, 7000, 0);
  const seenByRs = ipv4({ src: CLIENT, dst: RS1.ip, proto: 6, ...IPF }, tcp(asRs(usyn))).subarray(0, 28);
  const sentByClient = ipv4({ src: CLIENT, dst: VIP, proto: 6, ...IPF }, tcp(usyn)).subarray(0, 28);
  cases.push({
    name: 'nat-icmp-related',
    description: 'An ICMP error about a NAT connection (RS1 answers "port unreachable" to the client) is translated inside and outside: the quoted header shows VIP:80 again (its IP checksum restored), the outer source becomes the VIP, the ICMP checksum is recomputed. An error quoting no known connection is dropped as icmp_no_conn.',
    ...modeSetup('nat', 8080),
    steps: [
      { note: 'SYN CIP:40100 → RS1:8080', input: hex(tcpFrame(IN, usyn, IPF)), output: [hex(tcpFrame(toRs(RS1), asRs(usyn), IPF_FWD))], conns: 1 },
      { note: 'RS1 → CIP: port unreachable quoting CIP → RS1:8080; out: VIP → CIP quoting CIP → VIP:80',
        input: hex(icmpFrame(fromRs(RS1), { src: RS1.ip, dst: CLIENT }, { type: 3, code: 3, payload: seenByRs }, { id: 0x0101, df: false })),
        output: [hex(icmpFrame(BACK, { src: VIP, dst: CLIENT }, { type: 3, code: 3, payload: sentByClient }, { id: 0x0101, df: false, ttl: 63 }))],
        counters: { icmp_related_forwarded: 1 } },
      { note: 'time exceeded to the VIP quoting an unknown flow: dropped',
        input: hex(icmpFrame(IN, { src: GW, dst: VIP }, { type: 11, payload: ipv4({ src: VIP, dst: CLIENT, proto: 6 }, tcp({ ...asVip(synack), dport: 1 })).subarray(0, 28) })),
        drop: 'icmp_no_conn' },
    ],
  });

  // ---- FULLNAT ---------------------------------------------------------------------------
  const fs1 = cseg(40000, SYN, 1000, 0);
  const fs2 = cseg(40001, SYN, 2000, 0);
  const toRsFn = <T extends { src: string; sport: number; dst: string; dport: number }>(s: T, lport: number, rs = RS1) => ({ ...s, src: LIP, sport: lport, dst: rs.ip, dport: 80 });
  const fsa = { src: RS1.ip, dst: LIP, sport: 80, dport: 1024, flags: SYN | ACK, seq: 9000, ack: 1001, window: 65160, options: synOptions() };
  cases.push({
    name: 'fullnat-tcp',
    description: 'FULLNAT: the client segment leaves as LIP:lport → RIP:80 (source and destination rewritten, ports from the LIP pool starting at 1024); the server\'s reply to LIP:lport is turned back into VIP:80 → CIP:cport. The next connection takes the next port.',
    ...modeSetup('fullnat', 80, {}),
    steps: [
      { note: 'SYN CIP:40000 → VIP:80 becomes LIP:1024 → RS1:80', input: hex(tcpFrame(IN, fs1, IPF)), output: [hex(tcpFrame(toRs(RS1), toRsFn(fs1, 1024), IPF_FWD))], conns: 1 },
      { note: 'SYN|ACK RS1:80 → LIP:1024 becomes VIP:80 → CIP:40000', input: hex(tcpFrame(fromRs(RS1), fsa, RIPF)),
        output: [hex(tcpFrame(BACK, { ...fsa, src: VIP, dst: CLIENT, dport: 40000 }, RIPF_FWD))], states: ['SYN_RECV'] },
      { note: 'SYN CIP:40001 → RS2 from LIP:1025', input: hex(tcpFrame(IN, fs2, IPF)), output: [hex(tcpFrame(toRs(RS2), toRsFn(fs2, 1025, RS2), IPF_FWD))], conns: 2 },
    ],
  });

  const fReply = { src: VIP, dst: CLIENT, sport: 80, dport: 40000, flags: SYN | ACK, seq: 9000, ack: 1001 };
  cases.push({
    name: 'fullnat-icmp-related',
    description: 'ICMP errors about a FULLNAT connection are translated both ways: RS1 → LIP "port unreachable" quoting LIP:1024 → RS1:80 reaches the client as VIP → CIP quoting CIP:40000 → VIP:80; a router\'s "time exceeded" to the VIP quoting VIP:80 → CIP:40000 reaches RS1 as LIP → RS1 quoting RS1:80 → LIP:1024. Quoted IP and outer checksums fixed, ICMP checksum recomputed.',
    ...modeSetup('fullnat', 80, {}),
    steps: [
      { note: 'SYN CIP:40000 → LIP:1024 → RS1:80', input: hex(tcpFrame(IN, fs1, IPF)), output: [hex(tcpFrame(toRs(RS1), toRsFn(fs1, 1024), IPF_FWD))], conns: 1 },
      { note: 'RS1 → LIP: port unreachable → VIP → CIP',
        input: hex(icmpFrame(fromRs(RS1), { src: RS1.ip, dst: LIP }, { type: 3, code: 3, payload: ipv4({ src: LIP, dst: RS1.ip, proto: 6, ...IPF }, tcp(toRsFn(fs1, 1024))).subarray(0, 28) }, { id: 0x0202, df: false })),
        output: [hex(icmpFrame(BACK, { src: VIP, dst: CLIENT }, { type: 3, code: 3, payload: ipv4({ src: CLIENT, dst: VIP, proto: 6, ...IPF }, tcp(fs1)).subarray(0, 28) }, { id: 0x0202, df: false, ttl: 63 }))],
        counters: { icmp_related_forwarded: 1 } },
      { note: 'router → VIP: time exceeded about a reply → LIP → RS1',
        input: hex(icmpFrame(IN, { src: GW, dst: VIP }, { type: 11, payload: ipv4({ src: VIP, dst: CLIENT, proto: 6, ...RIPF }, tcp(fReply)).subarray(0, 28) }, { id: 0x0303 })),
        output: [hex(icmpFrame(toRs(RS1), { src: LIP, dst: RS1.ip }, { type: 11, payload: ipv4({ src: RS1.ip, dst: LIP, proto: 6, ...RIPF }, tcp({ ...fReply, src: RS1.ip, dst: LIP, dport: 1024 })).subarray(0, 28) }, { id: 0x0303, ttl: 63 }))],
        counters: { icmp_related_forwarded: 1 } },
    ],
  });

  cases.push({
    name: 'fullnat-pool-exhausted',
    description: 'FULLNAT with a one-port pool (2000..2000): the second concurrent connection is refused and counted laddr_exhausted, the first keeps working; after the first expires its port serves a new connection.',
    ...modeSetup('fullnat', 80, { portMin: 2000, portMax: 2000 }),
    steps: [
      { note: 'SYN CIP:40000 → LIP:2000 → RS1', input: hex(tcpFrame(IN, fs1, IPF)), output: [hex(tcpFrame(toRs(RS1), toRsFn(fs1, 2000), IPF_FWD))], conns: 1 },
      { note: 'SYN CIP:40001: no port left', input: hex(tcpFrame(IN, fs2, IPF)), drop: 'laddr_exhausted', conns: 1, counters: { conns_created: 0 } },
      { note: 'the first connection still works', input: hex(tcpFrame(IN, cseg(40000, ACK, 1001, 1), IPF)), output: [hex(tcpFrame(toRs(RS1), toRsFn(cseg(40000, ACK, 1001, 1), 2000), IPF_FWD))] },
      { note: '901 s later (ESTABLISHED times out after 900 s) the entry expires and releases its port', advanceMs: 901_000, conns: 0, counters: { conns_expired: 1 } },
      { note: 'RS1 answers ARP again (its entry aged during the 15 minutes)', input: hex(arpFrame(fromRs(RS1), { op: 2, sha: RS1.mac, spa: RS1.ip, tha: DIR_MAC, tpa: DIR_IP })) },
      { note: 'SYN CIP:40001 now gets LIP:2000 (rr: RS1, the refused flow had taken RS2\'s turn)', input: hex(tcpFrame(IN, fs2, IPF)), output: [hex(tcpFrame(toRs(RS1), toRsFn(fs2, 2000), IPF_FWD))], conns: 1 },
    ],
  });

  // ---- fragments -------------------------------------------------------------------------
  // A 108-byte UDP datagram in two fragments: UDP header + 40 bytes (offset 0, MF), 60 bytes (offset 6).
  const dgram = { src: CLIENT, dst: VIP, sport: 7000, dport: 53, payload: payload(100) };
  const frag = (l2: L2, dst: string, u: Uint8Array, first: boolean) =>
    eth({ dst: l2.ethDst, src: l2.ethSrc, type: 0x0800 }, ipv4({ src: CLIENT, dst, proto: 17, id: 0x5151, ttl: l2 === IN ? 61 : 60, df: false, mf: first, fragOffset: first ? 0 : 6 }, first ? u.subarray(0, 48) : u.subarray(48)));
  const whole = udp(dgram);
  const natted = udp({ ...dgram, dst: RS2.ip });
  const fragSetup = (fwd: 'dr' | 'nat') => ({
    gateway: GW,
    setup: [addService(UDP53), addDest(UDP53, RS2.ip, 53, { fwd })],
    neighbours: [RS2, { ip: GW, mac: ROUTER }],
  });
  cases.push({
    name: 'nat-fragments',
    description: 'NAT with a fragmented UDP datagram: the first fragment (ports, offset 0) is scheduled and fully rewritten (its UDP checksum covers the whole datagram and is updated incrementally); the later fragment follows it to the same server with only the IP destination rewritten. Expected frames are the rewritten datagram fragmented the same way.',
    ...fragSetup('nat'),
    steps: [
      { note: 'first fragment → RS2', input: hex(frag(IN, VIP, whole, true)), output: [hex(frag(toRs(RS2), RS2.ip, natted, true))], conns: 1 },
      { note: 'second fragment → RS2 (no L4 header)', input: hex(frag(IN, VIP, whole, false)), output: [hex(frag(toRs(RS2), RS2.ip, natted, false))],
        counters: { conns_created: 0, fwd_packets: 1 } },
    ],
  });
  cases.push({
    name: 'dr-fragments',
    description: 'DR with a fragmented UDP datagram: both fragments go to the server of the first, unchanged but for the MACs and the TTL (one less).',
    ...fragSetup('dr'),
    steps: [
      { note: 'first fragment → RS2', input: hex(frag(IN, VIP, whole, true)), output: [hex(frag(toRs(RS2), VIP, whole, true))], conns: 1 },
      { note: 'second fragment → RS2', input: hex(frag(IN, VIP, whole, false)), output: [hex(frag(toRs(RS2), VIP, whole, false))] },
    ],
  });

  // ---- ICMP about DR/TUN connections: errors about the servers' replies reach the server -----
  const rsReply = { src: VIP, dst: CLIENT, sport: 80, dport: 40000, flags: SYN | ACK, seq: 1, ack: 1001 };
  const replyQuote = ipv4({ src: VIP, dst: CLIENT, proto: 6, ...RIPF }, tcp(rsReply)).subarray(0, 28);
  const timeExceeded = (l2: L2) => icmpFrame(l2, { src: GW, dst: VIP }, { type: 11, payload: replyQuote }, { id: 0x0404, ttl: l2 === IN ? 60 : 59 });
  cases.push({
    name: 'dr-tun-icmp-related',
    description: 'DR and TUN: the servers answer clients directly from the VIP, so a router\'s ICMP error about such a reply comes to the director (to the VIP); it is passed on to the connection\'s server unchanged but for its TTL, one less (DR: new MACs; TUN: wrapped in IPIP, the outer IP ID the next of uvsd\'s own counter).',
    gateway: GW,
    setup: [
      addService(TCP80), addDest(TCP80, RS1.ip, 80),
      addService({ ...TCP80, port: 81 }), addDest({ ...TCP80, port: 81 }, RS2.ip, 81, { fwd: 'tun' }),
    ],
    neighbours: [RS1, RS2, { ip: GW, mac: ROUTER }],
    steps: [
      { note: 'SYN CIP:40000 → VIP:80 (DR) → RS1', input: hex(tcpFrame(IN, cseg(40000, SYN, 1000, 0), IPF)), output: [hex(tcpFrame(toRs(RS1), cseg(40000, SYN, 1000, 0), IPF_FWD))] },
      { note: 'time exceeded about RS1\'s reply → RS1, unchanged', input: hex(timeExceeded(IN)), output: [hex(timeExceeded(toRs(RS1)))], counters: { icmp_related_forwarded: 1 } },
      { note: 'SYN CIP:40000 → VIP:81 (TUN) → RS2', input: hex(tcpFrame(IN, { ...cseg(40000, SYN, 1000, 0), dport: 81 }, IPF)),
        output: [hex(eth({ dst: RS2.mac, src: DIR_MAC, type: 0x0800 }, ipv4({ src: DIR_IP, dst: RS2.ip, proto: 4, ttl: IPF_FWD.ttl, id: RIG_IP_ID_SEED }, ipv4({ src: CLIENT, dst: VIP, proto: 6, ...IPF_FWD }, tcp({ ...cseg(40000, SYN, 1000, 0), dport: 81 })))))] },
      { note: 'time exceeded about RS2\'s reply → wrapped to RS2',
        input: hex(icmpFrame(IN, { src: GW, dst: VIP }, { type: 11, payload: ipv4({ src: VIP, dst: CLIENT, proto: 6, ...RIPF }, tcp({ ...rsReply, sport: 81 })).subarray(0, 28) }, { id: 0x0404, ttl: 60 })),
        output: [hex(eth({ dst: RS2.mac, src: DIR_MAC, type: 0x0800 }, ipv4({ src: DIR_IP, dst: RS2.ip, proto: 4, ttl: 59, id: RIG_IP_ID_SEED + 1 },
          ipv4({ src: GW, dst: VIP, proto: 1, id: 0x0404, ttl: 59 }, icmpFrame(IN, { src: GW, dst: VIP }, { type: 11, payload: ipv4({ src: VIP, dst: CLIENT, proto: 6, ...RIPF }, tcp({ ...rsReply, sport: 81 })).subarray(0, 28) }).subarray(34)))))],
        counters: { icmp_related_forwarded: 1 } },
    ],
  });

  // ---- TUN -------------------------------------------------------------------------------
  const ts = cseg(40000, SYN, 1000, 0);
  // What a server gets: the client's packet one hop on, the outer header's TTL copied from it.
  const inner = (s: ReturnType<typeof cseg>, ipf = IPF_FWD) => ipv4({ src: CLIENT, dst: VIP, proto: 6, ...ipf }, tcp(s));
  // The outer IP ID is not the inner one: each wrapped packet takes the next of the datapath's
  // counter (from RIG_IP_ID_SEED in the rig), as the kernel's tunnels; a copy of the inner ID made
  // the outer fragments of different packets (a router fragmenting them) share a reassembly key.
  const ipip = (rs: typeof RS1, pkt: Uint8Array, id: number, df = true) => eth({ dst: rs.mac, src: DIR_MAC, type: 0x0800 }, ipv4({ src: DIR_IP, dst: rs.ip, proto: 4, ttl: IPF_FWD.ttl, id, df }, pkt));
  const big = cseg(40000, ACK | PSH, 1001, 1, payload(1460)); // a 1500-byte IP packet: fits the MTU alone, not with 20 more
  const bigInner = inner(big);
  cases.push({
    name: 'tun-ipip',
    description: 'TUN (-i): the client packet, its TTL one less, is wrapped in an outer IPv4 header (protocol 4, director address → RIP, TTL and DF copied, IP ID the next of uvsd\'s own counter); a DF packet that would exceed the 1500-byte MTU with 20 more bytes is answered with ICMP fragmentation needed (type 3 code 4, next-hop MTU 1480) from the VIP, quoting its IP header and 8 bytes.',
    ...modeSetup('tun', 80),
    steps: [
      { note: 'SYN → IPIP to RS1', input: hex(tcpFrame(IN, ts, IPF)), output: [hex(ipip(RS1, inner(ts), RIG_IP_ID_SEED))], conns: 1 },
      { note: 'a small data segment → IPIP to RS1', input: hex(tcpFrame(IN, cseg(40000, ACK, 1001, 1, payload(10)), IPF)), output: [hex(ipip(RS1, inner(cseg(40000, ACK, 1001, 1, payload(10))), RIG_IP_ID_SEED + 1))] },
      { note: `${bigInner.length}-byte DF packet: frag needed back to the client`, input: hex(tcpFrame(IN, big, IPF)),
        output: [hex(icmpFrame(BACK, { src: VIP, dst: CLIENT }, { type: 3, code: 4, seq: 1480, payload: bigInner.subarray(0, 28) }, { tos: 0xc0, id: 0, df: false, ttl: 64 }))],
        drop: 'mtu_exceeded', counters: { icmp_frag_needed_sent: 1 } },
    ],
  });
  // Without DF: a 1500-byte UDP datagram is cut into inner fragments of 1456 + 24 data bytes.
  const bigUdp = udp({ src: CLIENT, dst: VIP, sport: 7001, dport: 80, payload: payload(1472) });
  const uip = (mf: boolean, fragOffset: number, data: Uint8Array, ipf = IPF_FWD) => ipv4({ src: CLIENT, dst: VIP, proto: 17, ...ipf, df: false, mf, fragOffset }, data);
  cases.push({
    name: 'tun-fragment-inner',
    description: 'TUN: a packet without DF that does not fit with the outer header is fragmented (inner fragments at 8-byte boundaries, each fitting the MTU with 20 more bytes), and each fragment is wrapped (outer DF clear; each outer header its own IP ID, the inner fragments share theirs).',
    gateway: GW,
    setup: [addService({ proto: 'udp', addr: VIP, port: 80 }), addDest({ proto: 'udp', addr: VIP, port: 80 }, RS1.ip, 80, { fwd: 'tun' })],
    neighbours: [RS1, { ip: GW, mac: ROUTER }],
    steps: [
      { note: '1500-byte UDP datagram (no DF) → two IPIP frames to RS1', input: hex(eth({ dst: DIR_MAC, src: ROUTER, type: 0x0800 }, uip(false, 0, bigUdp, IPF))),
        output: [hex(ipip(RS1, uip(true, 0, bigUdp.subarray(0, 1456)), RIG_IP_ID_SEED, false)), hex(ipip(RS1, uip(false, 182, bigUdp.subarray(1456)), RIG_IP_ID_SEED + 1, false))],
        counters: { tun_inner_fragments: 2 }, conns: 1 },
    ],
  });
  return cases;
}

export default buildModeCases();
