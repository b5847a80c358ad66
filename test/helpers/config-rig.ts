// A director's control model with a ConfigManager as uvsd has one (no TAP, no --config file
// read), and a config file for it: two services on 192.168.8.0/24.
import { ConfigManager } from '../../src/control/config.js';
import { rig, type Rig } from './harness.js';

export const configRig = (drain = 0): { r: Rig; cm: ConfigManager } => {
  const r = rig({ addrs: ['192.168.8.10/24'] });
  const cm = new ConfigManager(r.ctl, undefined, { drainTimeout: drain });
  r.ctl.config = cm;
  return { r, cm };
};

export const BASE_CONFIG = `# test config
daemon:
  tap: uvs0
  addresses: [192.168.8.10/24]
  drain-timeout: 0
timeouts: { tcp: 900, tcpfin: 120, udp: 300 }
services:
  - proto: tcp
    address: 192.168.8.200
    port: 80
    scheduler: wrr
    servers:
      - { address: 192.168.8.20, weight: 3 }
      - { address: 192.168.8.21, weight: 1 }
  - proto: udp
    address: 192.168.8.200
    port: 53
    scheduler: rr
    persistent: 60
    netmask: 255.255.255.0
    servers:
      - address: 192.168.8.22
`;
