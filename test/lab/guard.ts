// Lab scripts (servers, clients, frame injectors) must only ever run inside a namespace the lab
// created: run anywhere else they would listen on or write frames to the machine's real
// interfaces. "Inside" means our network namespace is one of the named ones in /run/netns
// (what `ip netns add` creates); exit before doing anything otherwise.
import { readdirSync, statSync } from 'node:fs';

function inNamedNetns(): boolean {
  try {
    const mine = statSync('/proc/self/ns/net').ino;
    return readdirSync('/run/netns').some((n) => {
      try {
        return statSync(`/run/netns/${n}`).ino === mine;
      } catch {
        return false;
      }
    });
  } catch {
    return false; // cannot tell: refuse rather than risk the host's network
  }
}

export function requireLabNamespace(script: string): void {
  if (!inNamedNetns()) {
    process.stderr.write(`${script}: refusing to run outside a lab network namespace (use ip netns exec <lab ns>)\n`);
    process.exit(2);
  }
}
