// A BFD peer for the lab (a real server's BFD daemon, e.g. FRR's bfdd, in production): one
// session with the director's health-check address over uvs's own RFC 5880 code, kept asked
// about so that it stays open. Prints "ready", then "state <State>" at every change; runs until
// killed.
//
//   --neighbor IP   the director's address its BFD_CHECK sends from (bfd_instance source_ip)
//   --source IP     this server's address (the bfd_instance's neighbor_ip)
//   [--min-rx MS --min-tx MS --multiplier N]   this side's timers (default 50, 50, 3)
import { BfdHub } from '../../src/health/bfd.js';

const arg = (name: string, def?: string): string => {
  const i = process.argv.indexOf(name);
  const v = i < 0 ? def : process.argv[i + 1];
  if (v === undefined) {
    console.error(`bfd-peer: ${name} is required`);
    process.exit(2);
  }
  return v;
};

const source = arg('--source');
const p = {
  neighbor: arg('--neighbor'), source,
  minRxMs: Number(arg('--min-rx', '50')), minTxMs: Number(arg('--min-tx', '50')), idleTxMs: 1000, multiplier: Number(arg('--multiplier', '3')),
};
const hub = new BfdHub({ listen: source });
let last = '';
setInterval(() => {
  const st = hub.status(p);
  if (st.error !== undefined) {
    console.error(`bfd-peer: ${st.error}`);
    process.exit(1);
  }
  if (st.state !== last) console.log(`state ${(last = st.state)}`);
}, 50);
console.log('ready');
