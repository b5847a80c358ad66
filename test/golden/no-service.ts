import { synOptions, tcpFrame, TCP_FLAGS, udpFrame } from '../helpers/frames.js';
import { dns } from './dr-udp.js';
import { DIR_IP, dropStep, IN, IPF, RS1, RS2, seg, web, type GoldenCase } from './lab.js';

const syn = seg(40000, TCP_FLAGS.SYN, { options: synOptions() });

export default {
  name: 'no-service',
  description: 'Traffic to a local address with no matching virtual service is dropped and counted no_service.',
  setup: web(),
  neighbours: [RS1, RS2],
  steps: [
    dropStep('TCP SYN to VIP:443', tcpFrame(IN, { ...syn, dport: 443 }, IPF), 'no_service'),
    dropStep('UDP to VIP:80 (only TCP:80 exists)', udpFrame(IN, { ...dns, dport: 80 }, IPF), 'no_service'),
    dropStep('TCP SYN to the director address :22', tcpFrame(IN, { ...syn, dst: DIR_IP, dport: 22 }, IPF), 'no_service'),
  ],
} satisfies GoldenCase;
