import { arpFrame, BROADCAST } from '../helpers/frames.js';
import { addService, BACK, DIR_IP, DIR_MAC, hex, ROUTER, TCP80, VIP, type GoldenCase } from './lab.js';

export default {
  name: 'arp-reply-vip',
  description: 'An ARP request (broadcast, padded to 60 bytes) for the VIP is answered in place with the director MAC; the reply is 42 bytes.',
  setup: [addService(TCP80)],
  neighbours: [],
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
} satisfies GoldenCase;
