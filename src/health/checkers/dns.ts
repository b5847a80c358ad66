// DNS_CHECK (keepalived's check_dns.c): one query over UDP, recursion desired, class IN, for
// `name` and `type`; healthy when a response with the query's ID comes back within
// connect_timeout with RCODE 0 (NOERROR). Datagrams that are not that response (too short,
// another ID, not a response) are ignored, as keepalived ignores them; another RCODE
// (SERVFAIL, REFUSED, NXDOMAIN, ...) or an ICMP error fails the check.
import { randomInt } from 'node:crypto';
import { DNS_TYPES, type CheckResult, type CheckTarget, type DnsCheck } from '../types.js';
import { udpExchange } from './udp.js';

const RCODES = ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED'];

/** The query's wire form: a 12-byte header (ID, RD, one question), the name's labels, type, class IN. */
export function dnsQuery(id: number, name: string, type: number): Buffer {
  const labels = name.split('.').filter((l) => l.length > 0).map((l) => Buffer.from(l, 'ascii'));
  const q = Buffer.alloc(12 + labels.reduce((n, l) => n + 1 + l.length, 0) + 1 + 4);
  q.writeUInt16BE(id, 0);
  q.writeUInt16BE(0x0100, 2); // RD
  q.writeUInt16BE(1, 4); // QDCOUNT
  let o = 12;
  for (const l of labels) {
    q[o++] = l.length;
    o += l.copy(q, o);
  }
  q[o++] = 0;
  q.writeUInt16BE(type, o);
  q.writeUInt16BE(1, o + 2); // IN
  return q;
}

export function checkDns(spec: Pick<DnsCheck, 'connectTimeoutMs' | 'bindto' | 'bindPort' | 'queryType' | 'queryName'>, target: CheckTarget): Promise<CheckResult> {
  const id = randomInt(0x10000);
  const what = `${spec.queryType} ${spec.queryName}`;
  return udpExchange(spec, target, dnsQuery(id, spec.queryName, DNS_TYPES[spec.queryType]), (msg) => {
    if (msg.length < 12 || msg.readUInt16BE(0) !== id || (msg[2]! & 0x80) === 0) return null;
    const rcode = msg[3]! & 0x0f;
    if (rcode === 0) return { ok: true, reason: `${what}: NOERROR, ${msg.readUInt16BE(6)} answer(s)` };
    return { ok: false, reason: `${what}: rcode ${rcode} (${RCODES[rcode] ?? 'error'})` };
  }, () => ({ ok: false, reason: `${what}: no response within ${spec.connectTimeoutMs} ms` }));
}
