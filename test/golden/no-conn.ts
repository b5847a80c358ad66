import { tcpFrame, TCP_FLAGS } from '../helpers/frames.js';
import { dropStep, IN, IPF, RS1, RS2, seg, web, type GoldenCase } from './lab.js';

export default {
  name: 'no-conn',
  description: 'A TCP segment without SYN (or a SYN with RST) for an unknown flow opens nothing: dropped as no_conn.',
  setup: web(),
  neighbours: [RS1, RS2],
  steps: [
    { ...dropStep('ACK with no connection', tcpFrame(IN, seg(40100, TCP_FLAGS.ACK), IPF), 'no_conn'), conns: 0 },
    { ...dropStep('FIN|ACK with no connection', tcpFrame(IN, seg(40100, TCP_FLAGS.FIN | TCP_FLAGS.ACK), IPF), 'no_conn'), conns: 0 },
    { ...dropStep('SYN|RST with no connection', tcpFrame(IN, seg(40100, TCP_FLAGS.SYN | TCP_FLAGS.RST), IPF), 'no_conn'), conns: 0 },
  ],
} satisfies GoldenCase;
