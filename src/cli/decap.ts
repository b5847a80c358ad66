// uvs-decap: the TUN real-server helper for kernels without the ipip (or ip_gre, fou) module.
//
//   uvs-decap --vip 192.168.8.200[,more] [--dev eth0] [--tun uvsdecap0] [--mtu 1480] [--gue-port 6080]
//
// Receives the director's tunnelled packets (IPIP, GRE, and GUE on --gue-port) from --dev through an AF_PACKET socket
// (the project's addon: no raw-socket dependency), strips the outer header, and writes the inner
// packets into a TUN device that holds the VIPs, so the kernel delivers them to the listening
// servers, which reply to the client directly (source = VIP). Batched both ways, no copies: the
// TUN write points into the receive buffer past the outer header. Outer fragments (a router
// after the director fragmented a packet without DF) are reassembled first (decap-reasm.ts).
// It takes only what the kernel's tunnels would (decap.ts): frames to this host's MAC and
// address, checksums right; the rest is counted by reason and printed when it stops.
//
// A raw socket for IPIP and one for GRE that take nothing (a filter dropping all) keep the kernel
// from answering those packets with protocol unreachable, which uvsd reads as a server that
// does not decapsulate (tun_no_decap); GUE's bound UDP socket does the same for its port.
//
// It configures: the TUN up with the VIPs as /32, rp_filter off on it (inner sources are
// clients reached through --dev), and arp_ignore=1/arp_announce=2 so only the director answers
// ARP for a VIP. With the ipip module, the standard setup is tunl0 instead (docs/tun-setup.md).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import dgram from 'node:dgram';
import { networkInterfaces } from 'node:os';
import { Command } from 'commander';
import { unicastProblem } from '../control/claim.js';
import { ifnameProblem } from '../control/config.js';
import { UVS_VERSION } from '../control/printers.js';
import { checkedArg, intArg, parseCommandLine, usageErrors } from './options.js';
import { parseIp, parseMac } from '../datapath/addr.js';
import { ETH_HLEN, PROTO_GRE, PROTO_IPIP } from '../datapath/frame.js';
import { Port, native } from '../datapath/port.js';
import { DECAP_COUNTERS, decapStride, rpFilterProblem, setHostMac, type DecapHost } from '../modes/decap.js';
import { DecapPump } from '../modes/decap-pump.js';

function sh(argv: string[]): void {
  execFileSync(argv[0]!, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
}

// Bad options: one line naming the option and the value, exit 2, as uvsd's (options.ts).
const program = new Command('uvs-decap')
  .description('decapsulate IPIP, GRE and GUE packets from a uvs director into a TUN device holding the VIPs')
  .option('--vip <list>', 'VIP(s) to accept, comma separated (required)')
  .option('--dev <ifname>', 'interface the IPIP packets arrive on', checkedArg('--dev', ifnameProblem), 'eth0')
  .option('--tun <name>', 'TUN device to create', checkedArg('--tun', ifnameProblem), 'uvsdecap0')
  .option('--mtu <n>', 'MTU of the TUN device, 576..9000', intArg('--mtu', 576, 9000), 1480)
  .option('--gue-port <n>', 'UDP port GUE packets arrive on, 1..65535 (ipvsadm --tun-type gue --tun-port n); none by default', intArg('--gue-port', 1, 65535))
  .version(`uvs-decap ${UVS_VERSION}`, '-V, --version');
parseCommandLine(usageErrors(program, 'uvs-decap'));
const o = program.opts<{ vip?: string; dev: string; tun: string; mtu: number; guePort?: number }>();
// Checked after the parse, so an unknown option is named first (commander's requiredOption was checked before it).
const vipList = o.vip ?? program.error("error: required option '--vip <list>' not specified");

const vips = vipList.split(',').map((v) => {
  const ip = parseIp(v.trim());
  // As a VIP of uvsd: a unicast host address (no 0.0.0.0, loopback, multicast, broadcast, class E).
  const why = ip < 0 ? 'not an IPv4 address' : unicastProblem(ip, []);
  if (why !== undefined) {
    console.error(`uvs-decap: invalid VIP "${v}": ${why}`);
    process.exit(2);
  }
  return { text: v.trim(), ip };
});
// --dev that does not exist, named before anything is opened (the packet socket's open said only
// `if_nametoindex eth9: No such device`, not which option; until 2026-12-07). Exit 1, as uvsd's
// `cannot open --port af_packet:IFACE`: a value of the right form, the host without it.
if (native.ifaceInfo(o.dev) === null) {
  console.error(`uvs-decap: --dev ${o.dev}: no such interface in this network namespace (the one the director's tunnelled packets arrive on)`);
  process.exit(1);
}
const mtu = o.mtu;
const guePort = o.guePort ?? 0;
/** Frames per receive batch. */
const BATCH = 64;
const host: DecapHost = { vips: new Set(vips.map((v) => v.ip | 0)), locals: new Set(), macHi: 0, macLo: 0, guePort }; // rd32 gives int32

/** The host's IPv4 addresses and --dev's MAC, read again every second: a frame for another
 *  station or another host (flooded to us) is not decapsulated (decap.ts). */
function refreshHost(): void {
  try {
    const locals = new Set<number>();
    for (const list of Object.values(networkInterfaces())) {
      for (const a of list ?? []) if (a.family === 'IPv4') locals.add(parseIp(a.address) | 0);
    }
    host.locals = locals;
    const info = native.ifaceInfo(o.dev);
    if (info !== null) setHostMac(host, parseMac(info.mac));
  } catch {
    // Out of file descriptors or the like: keep the last reading.
  }
}

/**
 * GUE arrives as UDP to --gue-port: a socket there keeps the kernel from answering each datagram
 * with port unreachable (the packet socket has already taken its copy). Bound before anything is
 * set up, so a port in use is a one-line error with nothing changed.
 */
async function bindGueSink(port: number): Promise<dgram.Socket> {
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(port, () => {
      sock.off('error', reject);
      resolve();
    });
  });
  sock.on('message', () => undefined);
  sock.on('error', () => undefined); // a discarding sink: nothing it reads matters
  return sock;
}
let gueSink: dgram.Socket | undefined;
if (guePort !== 0) {
  try {
    gueSink = await bindGueSink(guePort);
  } catch (e) {
    console.error(`uvs-decap: --gue-port ${guePort}: ${(e as Error).message}`);
    process.exit(1);
  }
}

/**
 * IPIP and GRE: without the ipip / ip_gre module no protocol handler takes protocols 4 and 47, so
 * the kernel would answer each packet (beside the packet socket's copy) with ICMP protocol
 * unreachable, about one a second per director, and uvsd would name this working server as one
 * that does not decapsulate (tun_no_decap). A raw socket per protocol, with a filter that drops
 * all (native.openProtoSink), counts as the taker: nothing answered, nothing queued. Opened
 * before anything is set up (CAP_NET_RAW, as the packet socket needs), closed at exit.
 */
const protoSinks: number[] = [];
for (const [name, proto] of [['IPIP', PROTO_IPIP], ['GRE', PROTO_GRE]] as const) {
  try {
    protoSinks.push(native.openProtoSink(proto));
  } catch (e) {
    console.error(`uvs-decap: ${name} (protocol ${proto}) sink: ${(e as Error).message}`);
    process.exit(1);
  }
}

let rx: Port;
let tun: Port;
try {
  rx = Port.packet(o.dev, { stride: decapStride(mtu), batch: BATCH });
  tun = Port.tap(o.tun, { tun: true, mtu, io: 'syscalls' });
  sh(['ip', 'link', 'set', 'dev', tun.name, 'up']);
  for (const v of vips) sh(['ip', 'addr', 'replace', `${v.text}/32`, 'dev', tun.name]);
  for (const k of ['all', tun.name]) sh(['sysctl', '-q', '-w', `net.ipv4.conf.${k}.rp_filter=0`]);
  for (const k of ['all', o.dev]) sh(['sysctl', '-q', '-w', `net.ipv4.conf.${k}.arp_ignore=1`, `net.ipv4.conf.${k}.arp_announce=2`]);
} catch (e) {
  console.error(`uvs-decap: ${(e as Error).message}`);
  process.exit(1);
}

const pump = new DecapPump(host, tun, BATCH);
refreshHost();
setInterval(() => {
  refreshHost();
  warnTruncated();
  warnRpFilter();
}, 1000).unref();

/** The most a frame read from --dev may have; a longer one is cut (counted truncated). */
const readMax = decapStride(mtu);
/** --dev's MTU at start (undefined: unreadable), for the warnings' advice. */
const devMtu = native.ifaceInfo(o.dev)?.mtu;
/** A warning line, as the ready line (stdout, JSON). */
function warn(msg: string): void {
  console.log(JSON.stringify({ level: 'warn', msg }));
}
const advice = (): string => (devMtu !== undefined && devMtu - 20 > mtu ? `; start uvs-decap with --mtu ${Math.min(9000, devMtu - 20)}` : '; raise --mtu');
if (devMtu !== undefined && devMtu + ETH_HLEN > readMax) {
  warn(`uvs-decap: ${o.dev} has MTU ${devMtu}, above what --mtu ${mtu} reads (${readMax - ETH_HLEN} bytes): larger tunnelled packets are cut and dropped (truncated)${advice()}`);
}
const TRUNCATED = DECAP_COUNTERS.indexOf('truncated');
/** Truncated frames at the last warning, and when it was (one a minute at most). */
let truncSeen = 0;
let truncWarnedAt = -Infinity;
function warnTruncated(): void {
  const n = pump.refused[TRUNCATED]!;
  if (n === truncSeen || performance.now() - truncWarnedAt < 60_000) return;
  warn(`uvs-decap: ${n - truncSeen} tunnelled frames cut short and dropped (truncated): longer than the ${readMax - ETH_HLEN} bytes --mtu ${mtu} reads${advice()}`);
  truncSeen = n;
  truncWarnedAt = performance.now();
}
/** A sysctl's value (undefined: unreadable). */
function sysctlInt(path: string): number | undefined {
  try {
    return Number(readFileSync(path, 'utf8').trim());
  } catch {
    return undefined;
  }
}
/** The last rp_filter warning: said once while it lasts, again if it comes back after a fix. */
let rpSaid: string | undefined;
function warnRpFilter(): void {
  const p = rpFilterProblem(sysctlInt('/proc/sys/net/ipv4/conf/all/rp_filter'), sysctlInt(`/proc/sys/net/ipv4/conf/${tun.name}/rp_filter`), tun.name, o.dev);
  if (p !== undefined && p !== rpSaid) warn(p);
  rpSaid = p;
}
rx.start((count) => {
  try {
    pump.take(rx.rxBuf, rx.stride, rx.rxLens, count, performance.now());
  } catch (e) {
    // The TUN or the packet socket gone (deleted: EBADFD): one line, the summary, exit 1.
    console.error(`uvs-decap: ${(e as Error).message}; stopping`);
    stop(1);
  }
});
console.log(JSON.stringify({ msg: 'uvs-decap ready', dev: o.dev, tun: tun.name, vips: vips.map((v) => v.text) }));

function stop(code = 0): void {
  // Frames the packet socket lost to a full receive buffer (the server's TCP sees them as losses).
  const dropped = rx.drops()?.socket_full ?? 0;
  rx.close();
  gueSink?.close();
  for (const fd of protoSinks) native.close(fd);
  tun.close();
  console.log(JSON.stringify({ msg: 'uvs-decap stopped', ...pump.counts(), dropped }));
  process.exit(code);
}
process.on('SIGTERM', () => stop());
process.on('SIGINT', () => stop());
