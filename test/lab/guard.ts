// Lab scripts (servers, clients, frame injectors) must only ever run inside a namespace the lab
// created: run in the host's own network namespace they would listen on or write frames to the
// machine's real interfaces. Exit before doing anything when that is where we are.
import { readlinkSync } from 'node:fs';

export function requireLabNamespace(script: string): void {
  let mine = '';
  let init = '';
  try {
    mine = readlinkSync('/proc/self/ns/net');
    init = readlinkSync('/proc/1/ns/net');
  } catch {
    // Cannot tell (no /proc access): refuse rather than risk the host's network.
  }
  if (mine === '' || mine === init) {
    process.stderr.write(`${script}: refusing to run outside a lab network namespace (use ip netns exec <lab ns>)\n`);
    process.exit(2);
  }
}
