// Builds the golden cases with the frame builder and writes them out as test/fixtures/golden.ts
// (readable objects with hex strings). Expected outputs are constructed here from what the
// protocol says must come out, never captured from the product.
//
//   npx tsc -p tsconfig.json && node dist/test/helpers/golden-gen.js --write
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  arpFrame, BROADCAST, eth, icmpFrame, ipv4, synOptions, tcp, tcpFrame, TCP_FLAGS, toHex, udpFrame, type L2,
} from './frames.js';
import type { GoldenCase, GoldenDest, GoldenSetup } from './golden-types.js';
import { buildModeCases } from './golden-modes.js';

const DIR_MAC = '02:00:00:00:00:01';
const DIR_IP = '10.0.0.1';
const ROUTER = '02:00:00:00:00:fe';
const VIP = '10.0.0.100';
const CLIENT = '192.0.2.10';
const RS1 = { ip: '10.0.0.11', mac: '02:00:00:00:00:11' };
const RS2 = { ip: '10.0.0.12', mac: '02:00:00:00:00:12' };

const IN: L2 = { ethDst: DIR_MAC, ethSrc: ROUTER };
const toRs = (rs: { mac: string }): L2 => ({ ethDst: rs.mac, ethSrc: DIR_MAC });
const BACK: L2 = { ethDst: ROUTER, ethSrc: DIR_MAC };

const TCP80 = { proto: 'tcp' as const, addr: VIP, port: 80 };
const UDP53 = { proto: 'udp' as const, addr: VIP, port: 53 };

const web = (sched = 'rr'): GoldenSetup => ({
  services: [{ ...TCP80, sched }],
  dests: [
    { service: TCP80, addr: RS1.ip, port: 80, weight: 1 },
    { service: TCP80, addr: RS2.ip, port: 80, weight: 1 },
  ],
  neighbours: [RS1, RS2],
});

const seg = (sport: number, flags: number, extra: { seq?: number; ack?: number; payload?: Uint8Array; options?: Uint8Array } = {}) => ({
  src: CLIENT, dst: VIP, sport, dport: 80, flags, seq: 0x11223344, ack: flags & TCP_FLAGS.ACK ? 0x55667788 : 0, window: 64240, ...extra,
});
const IPF = { id: 0x4d2e, ttl: 61 };

const hex = toHex;
const payload = (n: number) => Uint8Array.from({ length: n }, (_, i) => (0x20 + i) & 0xff);

export function buildCases(): GoldenCase[] {
  const cases: GoldenCase[] = [];

  // ---- ARP -------------------------------------------------------------------------------
  cases.push({
    name: 'arp-reply-vip',
    description: 'An ARP request (broadcast, padded to 60 bytes) for the VIP is answered in place with the director MAC; the reply is 42 bytes.',
    setup: { services: [{ ...TCP80, sched: 'rr' }], dests: [], neighbours: [] },
    steps: [
      {
        note: 'who-has 10.0.0.100 tell 10.0.0.254',
        input: hex(arpFrame({ ethDst: BROADCAST, ethSrc: ROUTER, pad: true }, { op: 1, sha: ROUTER, spa: '10.0.0.254', tpa: VIP })),
        output: [hex(arpFrame(BACK, { op: 2, sha: DIR_MAC, spa: VIP, tha: ROUTER, tpa: '10.0.0.254' }))],
        counters: { rx_frames: 1, arp_replies_sent: 1, tx_frames: 1, tx_bytes: 42 },
      },
      {
        note: 'who-has 10.0.0.1 (the director address) tell 10.0.0.254',
        input: hex(arpFrame({ ethDst: BROADCAST, ethSrc: ROUTER }, { op: 1, sha: ROUTER, spa: '10.0.0.254', tpa: DIR_IP })),
        output: [hex(arpFrame(BACK, { op: 2, sha: DIR_MAC, spa: DIR_IP, tha: ROUTER, tpa: '10.0.0.254' }))],
        counters: { arp_replies_sent: 1, tx_frames: 1 },
      },
      {
        note: 'who-has 10.0.0.200 (nobody we know): ignored',
        input: hex(arpFrame({ ethDst: BROADCAST, ethSrc: ROUTER }, { op: 1, sha: ROUTER, spa: '10.0.0.254', tpa: '10.0.0.200' })),
        counters: { ignored_arp: 1, tx_frames: 0, arp_replies_sent: 0 },
      },
    ],
  });

  // ---- ICMP echo -------------------------------------------------------------------------
  const echoCase = (name: string, to: string, setup: GoldenSetup): GoldenCase => ({
    name,
    description: `An ICMP echo request to ${to} is answered: addresses swapped, TTL 64, type 0, checksums valid, back to the sender's MAC.`,
    setup,
    steps: [{
      note: `ping ${to} from ${CLIENT} (TTL 57, 56 bytes of data)`,
      input: hex(icmpFrame(IN, { src: CLIENT, dst: to }, { type: 8, id: 0x1f2e, seq: 7, payload: payload(56) }, { id: 0x9a01, ttl: 57 })),
      output: [hex(icmpFrame(BACK, { src: to, dst: CLIENT }, { type: 0, id: 0x1f2e, seq: 7, payload: payload(56) }, { id: 0x9a01, ttl: 64 }))],
      counters: { rx_frames: 1, icmp_echo_replies: 1, tx_frames: 1 },
    }],
  });
  cases.push(echoCase('icmp-echo-director', DIR_IP, { services: [], dests: [], neighbours: [] }));
  cases.push(echoCase('icmp-echo-vip', VIP, web()));

  // ---- DR forwarding ---------------------------------------------------------------------
  const syn = seg(40000, TCP_FLAGS.SYN, { options: synOptions() });
  const syn2 = seg(40001, TCP_FLAGS.SYN, { options: synOptions(1400) });
  const ack = seg(40000, TCP_FLAGS.ACK | TCP_FLAGS.PSH, { seq: 0x11223345, payload: payload(100) });
  cases.push({
    name: 'dr-tcp-syn',
    description: 'DR: a TCP SYN to the VIP goes to the scheduled real server with only the Ethernet addresses changed (dst = RS MAC, src = director MAC); IP and TCP bytes identical. The flow sticks; the next new flow goes to the next server (rr).',
    setup: web(),
    steps: [
      {
        note: 'SYN 192.0.2.10:40000 → VIP:80 → RS1',
        input: hex(tcpFrame(IN, syn, IPF)),
        output: [hex(tcpFrame(toRs(RS1), syn, IPF))],
        counters: { rx_frames: 1, conns_created: 1, fwd_packets: 1, fwd_bytes: 60, tx_frames: 1, tx_bytes: 74 },
        conns: 1,
      },
      {
        note: 'data on the same flow → RS1 again',
        input: hex(tcpFrame(IN, ack, IPF)),
        output: [hex(tcpFrame(toRs(RS1), ack, IPF))],
        counters: { conns_created: 0, fwd_packets: 1, tx_frames: 1 },
        conns: 1,
      },
      {
        note: 'SYN from another port → RS2 (round robin)',
        input: hex(tcpFrame(IN, syn2, IPF)),
        output: [hex(tcpFrame(toRs(RS2), syn2, IPF))],
        counters: { conns_created: 1, tx_frames: 1 },
        conns: 2,
      },
    ],
  });

  const dns = { src: CLIENT, dst: VIP, sport: 5353, dport: 53, payload: Uint8Array.from([0xde, 0xad, 0xbe, 0xef]) };
  cases.push({
    name: 'dr-udp',
    description: 'DR: a UDP datagram (46-byte frame padded to 60 on the wire) goes to the real server with only the MACs changed; the Ethernet padding is not forwarded.',
    setup: {
      services: [{ ...UDP53, sched: 'rr' }],
      dests: [{ service: UDP53, addr: RS1.ip, port: 53, weight: 1 }],
      neighbours: [RS1],
    },
    steps: [
      {
        note: 'UDP 192.0.2.10:5353 → VIP:53 → RS1',
        input: hex(udpFrame({ ...IN, pad: true }, dns, IPF)),
        output: [hex(udpFrame(toRs(RS1), dns, IPF))],
        counters: { rx_frames: 1, rx_bytes: 60, conns_created: 1, fwd_packets: 1, fwd_bytes: 32, tx_frames: 1, tx_bytes: 46 },
        conns: 1,
      },
      {
        note: 'the same datagram again uses the connection entry',
        input: hex(udpFrame({ ...IN, pad: true }, dns, IPF)),
        output: [hex(udpFrame(toRs(RS1), dns, IPF))],
        counters: { conns_created: 0, fwd_packets: 1 },
        conns: 1,
      },
    ],
  });

  // ---- drops -----------------------------------------------------------------------------
  const dropStep = (note: string, frame: Uint8Array, drop: string) => ({ note, input: hex(frame), drop, counters: { rx_frames: 1, tx_frames: 0 } });
  const good = tcpFrame(IN, syn, IPF);

  cases.push({
    name: 'no-service',
    description: 'Traffic to a local address with no matching virtual service is dropped and counted no_service.',
    setup: web(),
    steps: [
      dropStep('TCP SYN to VIP:443', tcpFrame(IN, { ...syn, dport: 443 }, IPF), 'no_service'),
      dropStep('UDP to VIP:80 (only TCP:80 exists)', udpFrame(IN, { ...dns, dport: 80 }, IPF), 'no_service'),
      dropStep('TCP SYN to the director address :22', tcpFrame(IN, { ...syn, dst: DIR_IP, dport: 22 }, IPF), 'no_service'),
    ],
  });

  cases.push({
    name: 'no-conn',
    description: 'A TCP segment without SYN (or a SYN with RST) for an unknown flow opens nothing: dropped as no_conn.',
    setup: web(),
    steps: [
      { ...dropStep('ACK with no connection', tcpFrame(IN, seg(40100, TCP_FLAGS.ACK), IPF), 'no_conn'), conns: 0 },
      { ...dropStep('FIN|ACK with no connection', tcpFrame(IN, seg(40100, TCP_FLAGS.FIN | TCP_FLAGS.ACK), IPF), 'no_conn'), conns: 0 },
      { ...dropStep('SYN|RST with no connection', tcpFrame(IN, seg(40100, TCP_FLAGS.SYN | TCP_FLAGS.RST), IPF), 'no_conn'), conns: 0 },
    ],
  });

  const badTot = Buffer.from(good);
  badTot.writeUInt16BE(200, 16); // total length beyond the frame (then fix the header checksum)
  fixIpCsum(badTot);
  const tinyTot = Buffer.from(good);
  tinyTot.writeUInt16BE(16, 16); // total length smaller than the header
  fixIpCsum(tinyTot);
  const shortTcp = eth({ dst: DIR_MAC, src: ROUTER, type: 0x0800 }, ipv4({ src: CLIENT, dst: VIP, proto: 6, ...IPF }, tcp(syn).subarray(0, 12)));
  const bigOff = eth({ dst: DIR_MAC, src: ROUTER, type: 0x0800 }, ipv4({ src: CLIENT, dst: VIP, proto: 6, ...IPF }, tcp({ ...seg(40000, TCP_FLAGS.SYN), dataOffset: 15 })));
  const ihl6 = eth({ dst: DIR_MAC, src: ROUTER, type: 0x0800 }, ipv4({ src: CLIENT, dst: VIP, proto: 6, ...IPF, ihl: 15 }, new Uint8Array(0)));

  cases.push({
    name: 'malformed',
    description: 'Malformed frames are dropped and each is counted with its reason.',
    setup: web(),
    steps: [
      dropStep('truncated Ethernet header (10 bytes)', good.subarray(0, 10), 'short_frame'),
      dropStep('truncated IPv4 header (14 + 19 bytes)', good.subarray(0, 33), 'short_frame'),
      dropStep('IHL 15 (60-byte header) in a 34-byte frame', ihl6, 'ip_bad_header_length'),
      dropStep('IP version 6 in an IPv4 ethertype', (() => { const b = Buffer.from(good); b[14] = 0x65; return b; })(), 'ip_bad_version'),
      dropStep('bad IPv4 header checksum', tcpFrame(IN, syn, { ...IPF, badChecksum: true }), 'ip_bad_checksum'),
      dropStep('total length 200 > frame', badTot, 'ip_bad_total_length'),
      dropStep('total length 16 < header length', tinyTot, 'ip_bad_total_length'),
      dropStep('TCP header cut at 12 bytes', shortTcp, 'l4_truncated'),
      dropStep('TCP data offset 60 with a 20-byte segment', bigOff, 'l4_truncated'),
      dropStep('UDP header cut at 6 bytes',
        eth({ dst: DIR_MAC, src: ROUTER, type: 0x0800 }, ipv4({ src: CLIENT, dst: VIP, proto: 17, ...IPF }, new Uint8Array(6))), 'l4_truncated'),
      dropStep('later fragment (offset 185) whose first fragment never came', tcpFrame(IN, syn, { ...IPF, df: false, fragOffset: 185 }), 'frag_no_first'),
      dropStep('a fragment of an ICMP datagram', icmpFrame(IN, { src: CLIENT, dst: VIP }, { type: 8 }, { df: false, mf: true }), 'ip_fragment'),
      dropStep('not for us: 10.0.0.50', tcpFrame(IN, { ...syn, dst: '10.0.0.50' }, IPF), 'ip_not_local'),
      dropStep('GRE to the VIP', eth({ dst: DIR_MAC, src: ROUTER, type: 0x0800 }, ipv4({ src: CLIENT, dst: VIP, proto: 47, ...IPF }, new Uint8Array(8))), 'ip_proto_unhandled'),
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
  });

  // ---- destination changes ---------------------------------------------------------------
  const rs1Key = { service: TCP80, addr: RS1.ip, port: 80 };
  const p1 = seg(41000, TCP_FLAGS.SYN);
  const p1ack = seg(41000, TCP_FLAGS.ACK, { seq: 0x11223345 });
  const p2 = seg(41001, TCP_FLAGS.SYN);
  const p3 = seg(41002, TCP_FLAGS.SYN);
  cases.push({
    name: 'weight-zero-dest',
    description: 'Quiescing a destination (weight 0): its existing connection is still forwarded to it; new SYNs go elsewhere.',
    setup: web(),
    steps: [
      { note: 'SYN p41000 → RS1', input: hex(tcpFrame(IN, p1, IPF)), output: [hex(tcpFrame(toRs(RS1), p1, IPF))], conns: 1 },
      { note: 'RS1 weight 0', control: { verb: 'editDest', args: { ...rs1Key, weight: 0 } as GoldenDest }, counters: { tx_frames: 0 }, conns: 1 },
      { note: 'ACK p41000 still → RS1', input: hex(tcpFrame(IN, p1ack, IPF)), output: [hex(tcpFrame(toRs(RS1), p1ack, IPF))], counters: { conns_created: 0 } },
      { note: 'SYN p41001 → RS2', input: hex(tcpFrame(IN, p2, IPF)), output: [hex(tcpFrame(toRs(RS2), p2, IPF))], counters: { conns_created: 1 } },
      { note: 'SYN p41002 → RS2 (RS1 never chosen)', input: hex(tcpFrame(IN, p3, IPF)), output: [hex(tcpFrame(toRs(RS2), p3, IPF))], conns: 3 },
    ],
  });

  cases.push({
    name: 'deleted-dest',
    description: 'Deleting a destination ends its connections (expire_nodest_conn) without walking the table: the next packet of such a flow expires its entry and is no_conn; a new SYN with the same tuple goes to a remaining server.',
    setup: web(),
    steps: [
      { note: 'SYN p41000 → RS1', input: hex(tcpFrame(IN, p1, IPF)), output: [hex(tcpFrame(toRs(RS1), p1, IPF))], conns: 1 },
      { note: 'delete RS1', control: { verb: 'deleteDest', args: rs1Key }, counters: { tx_frames: 0 }, conns: 1 },
      { note: 'ACK p41000: its entry expires now, no connection any more', input: hex(tcpFrame(IN, p1ack, IPF)), drop: 'no_conn', counters: { conns_expired: 1 }, conns: 0 },
      { note: 'SYN p41000 again → RS2', input: hex(tcpFrame(IN, p1, IPF)), output: [hex(tcpFrame(toRs(RS2), p1, IPF))], counters: { conns_created: 1 }, conns: 1 },
    ],
  });

  cases.push(...buildModeCases());
  return cases;
}

function fixIpCsum(f: Buffer): void {
  f.writeUInt16BE(0, 24);
  let s = 0;
  for (let i = 14; i < 34; i += 2) s += f.readUInt16BE(i);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  f.writeUInt16BE(~s & 0xffff, 24);
}

function render(cases: GoldenCase[]): string {
  const lines = [
    '// GENERATED by test/helpers/golden-gen.ts (node dist/test/helpers/golden-gen.js --write); golden.test.ts',
    '// checks this file still matches the generator. Decode any hex with decode() from test/helpers/frames.ts.',
    "import type { GoldenCase } from '../helpers/golden-types.js';",
    '',
    `export const CASES: GoldenCase[] = ${JSON.stringify(cases, null, 2).replace(/"([a-zA-Z_][a-zA-Z0-9_]*)":/g, '$1:')};`,
    '',
  ];
  return lines.join('\n');
}

if (process.argv.includes('--write')) {
  const out = fileURLToPath(new URL('../../../test/fixtures/golden.ts', import.meta.url));
  writeFileSync(out, render(buildCases()));
  console.log(`wrote ${out}`);
}
