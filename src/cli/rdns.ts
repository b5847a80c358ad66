// Reverse names for uvsadm's listings without -n, as ipvsadm's getnameinfo finds them: the hosts
// file first (the first name on an address's first line, glibc's files module), then a DNS PTR
// query. The DNS queries go through c-ares on the event loop (not getnameinfo on libuv's thread
// pool), so the ones still unanswered at the budget are cancelled and uvsadm exits at once:
// Node joins its pool's threads at exit, and a getnameinfo waiting on a silent resolver kept
// uvsadm alive for seconds after it had printed.

import { Resolver } from 'node:dns';
import { readFileSync } from 'node:fs';
import { within } from '../timers.js';

/** address → first name, from a hosts(5) text (IPv4 lines only; uvs lists IPv4). */
export function parseHosts(text: string): Map<string, string> {
  const names = new Map<string, string>();
  for (const raw of text.split('\n')) {
    const fields = raw.replace(/#.*/, '').trim().split(/\s+/);
    if (fields.length < 2 || !/^\d+\.\d+\.\d+\.\d+$/.test(fields[0]!)) continue;
    if (!names.has(fields[0]!)) names.set(fields[0]!, fields[1]!);
  }
  return names;
}

function readHosts(path: string): Map<string, string> {
  try {
    return parseHosts(readFileSync(path, 'utf8'));
  } catch {
    return new Map();
  }
}

export interface ReverseOptions {
  /** How long all lookups together may take; unanswered ones are cancelled then. */
  budgetMs: number;
  /** Distinct addresses looked up at most (the rest stay numeric). */
  max: number;
  hostsFile?: string;
  /** DNS servers ("addr" or "addr:port"); default: the system's (resolv.conf). */
  servers?: string[];
}

/** Names for addrs (undefined: print the number); answers after the budget are not used. */
export async function reverseNames(addrs: Iterable<string>, o: ReverseOptions): Promise<(a: string) => string | undefined> {
  const hosts = readHosts(o.hostsFile ?? '/etc/hosts');
  const names = new Map<string, string>();
  const ask = [...new Set(addrs)].slice(0, o.max).filter((a) => {
    const h = hosts.get(a);
    if (h !== undefined) names.set(a, h);
    return h === undefined;
  });
  if (ask.length > 0) {
    const dns = new Resolver({ timeout: o.budgetMs, tries: 1 });
    if (o.servers !== undefined) dns.setServers(o.servers);
    await within(
      Promise.all(
        ask.map(
          (a) =>
            new Promise<void>((resolve) => {
              dns.reverse(a, (e, hostnames) => {
                if (e === null && hostnames.length > 0 && hostnames[0] !== '') names.set(a, hostnames[0]!);
                resolve();
              });
            }),
        ),
      ),
      o.budgetMs,
      undefined,
    );
    dns.cancel();
  }
  const snapshot = new Map(names); // late answers must not change what is printed
  return (a) => snapshot.get(a);
}
