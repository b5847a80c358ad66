import { tcpFrame, TCP_FLAGS } from '../helpers/frames.js';
import { hex, IN, IPF, IPF_FWD, RS1, RS2, seg, TCP80, toRs, web, type GoldenCase } from './lab.js';

const rs1Key = { service: TCP80, addr: RS1.ip, port: 80 };
const p1 = seg(41000, TCP_FLAGS.SYN);
const p1ack = seg(41000, TCP_FLAGS.ACK, { seq: 0x11223345 });
const p2 = seg(41001, TCP_FLAGS.SYN);
const p3 = seg(41002, TCP_FLAGS.SYN);

export default [
  {
    name: 'weight-zero-dest',
    description: 'Quiescing a destination (weight 0): its existing connection is still forwarded to it; new SYNs go elsewhere.',
    setup: web(),
    neighbours: [RS1, RS2],
    steps: [
      { note: 'SYN p41000 → RS1', input: hex(tcpFrame(IN, p1, IPF)), output: [hex(tcpFrame(toRs(RS1), p1, IPF_FWD))], conns: 1 },
      { note: 'RS1 weight 0', control: { verb: 'editDest', args: { ...rs1Key, weight: 0 } }, counters: { tx_frames: 0 }, conns: 1 },
      { note: 'ACK p41000 still → RS1', input: hex(tcpFrame(IN, p1ack, IPF)), output: [hex(tcpFrame(toRs(RS1), p1ack, IPF_FWD))], counters: { conns_created: 0 } },
      { note: 'SYN p41001 → RS2', input: hex(tcpFrame(IN, p2, IPF)), output: [hex(tcpFrame(toRs(RS2), p2, IPF_FWD))], counters: { conns_created: 1 } },
      { note: 'SYN p41002 → RS2 (RS1 never chosen)', input: hex(tcpFrame(IN, p3, IPF)), output: [hex(tcpFrame(toRs(RS2), p3, IPF_FWD))], conns: 3 },
    ],
  },
  {
    name: 'deleted-dest',
    description: 'Deleting a destination ends its connections (expire_nodest_conn) without walking the table: the next packet of such a flow expires its entry and is no_conn; a new SYN with the same tuple goes to a remaining server.',
    setup: web(),
    neighbours: [RS1, RS2],
    steps: [
      { note: 'SYN p41000 → RS1', input: hex(tcpFrame(IN, p1, IPF)), output: [hex(tcpFrame(toRs(RS1), p1, IPF_FWD))], conns: 1 },
      { note: 'delete RS1', control: { verb: 'deleteDest', args: rs1Key }, counters: { tx_frames: 0 }, conns: 1 },
      { note: 'ACK p41000: its entry expires now, no connection any more', input: hex(tcpFrame(IN, p1ack, IPF)), drop: 'no_conn', counters: { conns_expired: 1 }, conns: 0 },
      { note: 'SYN p41000 again → RS2', input: hex(tcpFrame(IN, p1, IPF)), output: [hex(tcpFrame(toRs(RS2), p1, IPF_FWD))], counters: { conns_created: 1 }, conns: 1 },
    ],
  },
] satisfies GoldenCase[];
