// ARP listener, run inside a lab namespace: prints one JSON line per ARP frame seen on --if
// (an AF_PACKET socket through the project's addon), after a "ready" line:
//   {"t":epoch ms,"op":1,"sha":"02:..","spa":"192.168.8.200","tpa":"192.168.8.200","gratuitous":true}
// Runs until killed.
//
//   node arpwatch.js --if eth0
import { parseArgs } from 'node:util';
import { Port } from '../../src/datapath/port.js';
import { ipStr, macStr } from '../helpers/frames.js';
import { requireLabNamespace } from './guard.js';

if (process.env['NODE_TEST_CONTEXT']) process.exit(0); // see client.ts

requireLabNamespace('arpwatch.js');

const { values } = parseArgs({ options: { if: { type: 'string', default: 'eth0' } } });
const port = Port.packet(values.if!, { stride: 2048, batch: 64 });
port.start((count) => {
  const buf = port.rxBuf;
  for (let i = 0; i < count; i++) {
    const o = i * port.stride;
    if (port.rxLens[i]! < 42 || buf.readUInt16BE(o + 12) !== 0x0806) continue;
    const spa = ipStr(buf.readUInt32BE(o + 28));
    const tpa = ipStr(buf.readUInt32BE(o + 38));
    process.stdout.write(`${JSON.stringify({ t: Date.now(), op: buf.readUInt16BE(o + 20), sha: macStr(buf, o + 22), spa, tpa, gratuitous: spa === tpa })}\n`);
  }
});
process.stdout.write('ready\n');
const stop = () => {
  port.close();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
