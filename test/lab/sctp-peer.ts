// An SCTP peer for the lab over raw IPv4 sockets (this kernel has no SCTP: a raw socket of
// protocol 132 sees every SCTP packet, and while one is open the kernel sends no "protocol
// unreachable"). It speaks just enough of the association setup for the load balancer's state
// machine: INIT / INIT ACK / COOKIE ECHO / COOKIE ACK, DATA answered with DATA, SHUTDOWN / ABORT.
// Every packet it sends carries a right CRC32c; every packet it gets is checked. Bounded waits.
//
//   --serve NAME
//       Answer every SCTP packet to this namespace from the address it was sent to (DR: the VIP),
//       ports swapped: INIT -> INIT ACK, COOKIE ECHO -> COOKIE ACK, DATA -> DATA "NAME",
//       SHUTDOWN -> SHUTDOWN ACK. Prints "ready", then runs until killed.
//   --client VIP:PORT --assocs N --sport P [--timeout MS] [--abort]
//       N associations from source ports P, P+1, ...: each INIT, COOKIE ECHO, DATA in turn, each
//       waiting for its answer. Prints one JSON line {"servers":[...],"errors":n,"errorSamples":[...],
//       "badChecksums":n,"notFromVip":n} with the DATA answers' server names, then (--abort) ends
//       each association with an ABORT and prints {"aborted":n}. The associations stay open
//       (on uvsd's side) until then: the process waits for a line on stdin before the ABORTs.
import { createRequire } from 'node:module';
import { createInterface } from 'node:readline';
import { sctpChecksumOk, sctpSetChecksum } from '../../src/proto/sctp.js';

interface RawSocket {
  on(ev: 'message', fn: (buf: Buffer, addr: string) => void): void;
  on(ev: 'error', fn: (err: Error) => void): void;
  send(buf: Buffer, off: number, len: number, addr: string, cb: (err: Error | null) => void): void;
  setOption(level: number, option: number, value: number): void;
  close(): void;
}
interface RawModule {
  createSocket(o: { protocol: number }): RawSocket;
  SocketLevel: { IPPROTO_IP: number };
  SocketOption: { IP_HDRINCL: number };
}

const IPPROTO_SCTP = 132;
const CH = { DATA: 0, INIT: 1, INIT_ACK: 2, ABORT: 6, SHUTDOWN: 7, SHUTDOWN_ACK: 8, COOKIE_ECHO: 10, COOKIE_ACK: 11 } as const;
const raw = createRequire(import.meta.url)('raw-socket') as RawModule;

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i < 0 ? undefined : process.argv[i + 1];
}

/** An SCTP packet: common header and one chunk with `value` (padded to 4 bytes), CRC32c set. */
function packet(sport: number, dport: number, vtag: number, type: number, value: Buffer = Buffer.alloc(0)): Buffer {
  const clen = 4 + value.length;
  const p = Buffer.alloc(12 + ((clen + 3) & ~3));
  p.writeUInt16BE(sport, 0);
  p.writeUInt16BE(dport, 2);
  p.writeUInt32BE(vtag >>> 0, 4);
  p[12] = type;
  p.writeUInt16BE(clen, 14);
  value.copy(p, 16);
  sctpSetChecksum(p, 0, p.length);
  return p;
}

/** An IPv4 header for IP_HDRINCL (the kernel fills in the checksum and the ID). */
function ipHeader(src: string, dst: string, len: number): Buffer {
  const h = Buffer.alloc(20);
  h[0] = 0x45;
  h.writeUInt16BE(20 + len, 2);
  h.writeUInt16BE(0x4000, 6);
  h[8] = 64;
  h[9] = IPPROTO_SCTP;
  src.split('.').forEach((o, i) => (h[12 + i] = Number(o)));
  dst.split('.').forEach((o, i) => (h[16 + i] = Number(o)));
  return h;
}

interface Got { src: string; dst: string; sport: number; dport: number; vtag: number; type: number; value: Buffer; crcOk: boolean }

/** The SCTP packet in a received IPv4 datagram (raw sockets hand over the IP header too). */
function parse(buf: Buffer): Got | undefined {
  const hlen = (buf[0]! & 15) * 4;
  const tot = Math.min(buf.readUInt16BE(2), buf.length);
  if (buf[9] !== IPPROTO_SCTP || tot < hlen + 16) return undefined;
  const l4 = hlen;
  const clen = buf.readUInt16BE(l4 + 14);
  return {
    src: [...buf.subarray(12, 16)].join('.'), dst: [...buf.subarray(16, 20)].join('.'),
    sport: buf.readUInt16BE(l4), dport: buf.readUInt16BE(l4 + 2), vtag: buf.readUInt32BE(l4 + 4), type: buf[l4 + 12]!,
    value: buf.subarray(l4 + 16, Math.min(tot, l4 + 12 + Math.max(4, clen))), crcOk: sctpChecksumOk(buf, l4, tot - l4),
  };
}

function serve(name: string): void {
  // Two sockets: raw-socket delivers nothing to one with IP_HDRINCL set, which the answers need
  // (DR: from the VIP, not the address the kernel would pick).
  const s = raw.createSocket({ protocol: IPPROTO_SCTP });
  const tx = raw.createSocket({ protocol: IPPROTO_SCTP });
  tx.setOption(raw.SocketLevel.IPPROTO_IP, raw.SocketOption.IP_HDRINCL, 1);
  for (const x of [s, tx]) x.on('error', (e) => console.error(`sctp-peer: ${e.message}`));
  const answer: Record<number, number> = { [CH.INIT]: CH.INIT_ACK, [CH.COOKIE_ECHO]: CH.COOKIE_ACK, [CH.DATA]: CH.DATA, [CH.SHUTDOWN]: CH.SHUTDOWN_ACK };
  s.on('message', (buf) => {
    const g = parse(buf);
    if (g === undefined || !g.crcOk || answer[g.type] === undefined) return;
    const value = g.type === CH.DATA ? Buffer.from(name) : g.type === CH.INIT ? Buffer.alloc(16) : Buffer.alloc(0);
    const p = packet(g.dport, g.sport, g.vtag, answer[g.type]!, value);
    const out = Buffer.concat([ipHeader(g.dst, g.src, p.length), p]);
    tx.send(out, 0, out.length, g.src, (err) => err && console.error(`sctp-peer: send: ${err.message}`));
  });
  console.log('ready');
  // raw-socket's poll watcher holds no reference to the process or the sockets: keep both alive
  // until killed (a collected socket closes).
  setInterval(() => [s, tx], 60_000);
}

async function client(target: string, n: number, sport0: number, timeoutMs: number, abort: boolean): Promise<void> {
  const [vip, portText] = target.split(':') as [string, string];
  const vport = Number(portText);
  const s = raw.createSocket({ protocol: IPPROTO_SCTP });
  const waiting = new Map<number, (g: Got) => void>();
  let badChecksums = 0;
  let notFromVip = 0;
  s.on('error', (e) => console.error(`sctp-peer: ${e.message}`));
  s.on('message', (buf) => {
    const g = parse(buf);
    if (g === undefined) return;
    if (!g.crcOk) badChecksums++;
    if (g.src !== vip || g.sport !== vport) notFromVip++;
    waiting.get(g.dport)?.(g);
  });
  const send = (sport: number, type: number, value?: Buffer) => new Promise<void>((res, rej) => {
    const p = packet(sport, vport, 0x5c7b0000 + sport, type, value);
    s.send(p, 0, p.length, vip, (err) => (err ? rej(err) : res()));
  });
  const exchange = (sport: number, type: number, expect: number, value?: Buffer) => new Promise<Got>((res, rej) => {
    const t = setTimeout(() => {
      waiting.delete(sport);
      rej(new Error(`sport ${sport}: no answer to chunk ${type} in ${timeoutMs} ms`));
    }, timeoutMs);
    waiting.set(sport, (g) => {
      if (g.type !== expect) return;
      clearTimeout(t);
      waiting.delete(sport);
      res(g);
    });
    send(sport, type, value).catch(rej);
  });
  const servers: string[] = [];
  const errorSamples: string[] = [];
  let errors = 0;
  for (let i = 0; i < n; i++) {
    const sport = sport0 + i;
    try {
      await exchange(sport, CH.INIT, CH.INIT_ACK, Buffer.alloc(16));
      await exchange(sport, CH.COOKIE_ECHO, CH.COOKIE_ACK, Buffer.alloc(8));
      const d = await exchange(sport, CH.DATA, CH.DATA, Buffer.from('hello'));
      servers.push(d.value.toString().replace(/\0+$/, ''));
    } catch (e) {
      errors++;
      if (errorSamples.length < 5) errorSamples.push((e as Error).message);
    }
  }
  console.log(JSON.stringify({ servers, errors, errorSamples, badChecksums, notFromVip }));
  if (abort) {
    await new Promise<void>((res) => createInterface({ input: process.stdin }).once('line', () => res()));
    for (let i = 0; i < n; i++) await send(sport0 + i, CH.ABORT);
    console.log(JSON.stringify({ aborted: n }));
  }
  s.close(); // (and the socket stays referenced until here)
}

const name = arg('--serve');
if (name !== undefined) serve(name);
else {
  const target = arg('--client');
  if (target === undefined) {
    console.error('usage: sctp-peer --serve NAME | --client VIP:PORT --assocs N --sport P [--timeout MS] [--abort]');
    process.exit(2);
  }
  await client(target, Number(arg('--assocs') ?? 1), Number(arg('--sport') ?? 45000), Number(arg('--timeout') ?? 3000), process.argv.includes('--abort'));
}
