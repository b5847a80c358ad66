// ipvsadm's output formats, byte for byte (ipvsadm 1.31's printf formats): people parse
// `ipvsadm -Ln` with scripts, so widths, truncation, sorting and trailing spaces are kept exactly.
// Also the /etc/services lookup used for port names. Host names (without -n) come from a
// resolver the caller filled beforehand (uvsadm does reverse lookups with a short timeout).

import { readFileSync } from 'node:fs';
import { parseIp } from '../datapath/addr.js';
import { describeLink } from './linkwatch.js';
import { bgpSessionText, laddrRangesOf, laddrText, serviceText, tunText, type HaGroupRole } from './protocol.js';
import type { VrrpFifoStatus } from './vrrpfifo.js';
import type { ArpWatchStatus } from './arpwatch.js';
import type { StateFileStatus } from './statefile.js';
import { formatCpuList } from './cpulist.js';
import type {
  ConnInfo, ControlSocketStatus, DaemonResult, DestInfo, DrainStatus, ExplainResult, Fwd, LaddrStat, ListResult, LogOutputStatus, MarkInfo, NeighInfo, Proto, ServiceInfo, ServiceKey, StatusResult, Timeouts,
} from './protocol.js';

/** The kernel IPVS version ipvsadm reports, and uvs's own: src/version.ts. */
import { IPVS_VERSION } from '../version.js';
export { IPVS_VERSION, UVS_VERSION } from '../version.js';

/** Port <-> name table for one protocol pair, as getservbyport/getservbyname would answer. */
export interface PortNames {
  name(port: number, proto: Proto): string | undefined;
  port(name: string, proto: Proto): number | undefined;
}

export const NO_PORT_NAMES: PortNames = {
  name: () => undefined,
  port: () => undefined,
};

/** Parses services(5) text: `name port/proto [aliases...] [# comment]`; the first entry for a port wins. */
export function parseServices(text: string): PortNames {
  const byPort = new Map<string, string>();
  const byName = new Map<string, number>();
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    if (line === '') continue;
    const [name, portProto, ...aliases] = line.split(/\s+/);
    const m = /^(\d+)\/(tcp|udp|sctp)$/.exec(portProto ?? '');
    if (name === undefined || m === null) continue;
    const port = Number(m[1]);
    const proto = m[2];
    if (port > 65535) continue;
    const pk = `${port}/${proto}`;
    if (!byPort.has(pk)) byPort.set(pk, name);
    for (const n of [name, ...aliases]) {
      const nk = `${n}/${proto}`;
      if (!byName.has(nk)) byName.set(nk, port);
    }
  }
  return {
    name: (port, proto) => byPort.get(`${port}/${proto}`),
    port: (name, proto) => byName.get(`${name}/${proto}`),
  };
}

/** Reads /etc/services once; a missing or unreadable file just means "no names". */
export function loadServices(path = '/etc/services'): PortNames {
  try {
    return parseServices(readFileSync(path, 'utf8'));
  } catch {
    return NO_PORT_NAMES;
  }
}

let systemServices: PortNames | undefined;
/** The system table, loaded lazily on first use. */
export function systemPortNames(): PortNames {
  systemServices ??= loadServices();
  return systemServices;
}

/** ipvsadm's FMT_* list formats. */
export interface ListFormat {
  stats?: boolean;
  rate?: boolean;
  thresholds?: boolean;
  persistentConn?: boolean;
  exact?: boolean;
  nosort?: boolean;
  /** -c --laddr-column: the local address column (FULLNAT's LIP:lport) between virtual and destination. */
  laddrColumn?: boolean;
  /** --tun-info: a TunnelInfo column (ipvsadm 1.31). */
  tunInfo?: boolean;
}

export interface PrintOptions extends ListFormat {
  /** -n: addresses and ports as numbers. */
  numeric: boolean;
  /** Port name table used without -n; defaults to /etc/services. */
  ports?: PortNames;
  /** Host name of an address without -n (ipvsadm: gethostbyaddr, else the number). */
  hosts?: (addr: string) => string | undefined;
}

const FORWARD_NAMES: Record<Fwd, string> = {
  dr: 'Route',
  nat: 'Masq',
  tun: 'Tunnel',
  fullnat: 'FullNat',
};

/** -S: the switch that re-creates a forwarding method (--fullnat is uvs's, as DPVS's -b clashes with -b sched-flags). */
const FORWARD_SWITCHES: Record<Fwd, string> = {
  dr: '-g',
  nat: '-m',
  tun: '-i',
  fullnat: '--fullnat',
};

export function forwardName(fwd: Fwd): string {
  return FORWARD_NAMES[fwd] ?? '?';
}

function protoName(proto: Proto | 'ip'): string {
  return proto === 'tcp' ? 'TCP' : proto === 'udp' ? 'UDP' : proto === 'sctp' ? 'SCTP' : proto === 'ip' ? 'IP' : '?';
}

/** The option naming a service's protocol on an ipvsadm command line (-S, as print_service_entry). */
function protoFlag(proto: Proto): string {
  return proto === 'tcp' ? '-t' : proto === 'udp' ? '-u' : '--sctp-service';
}

/** ipvsadm's addrport_to_anyname (its 60-byte buffer keeps at most 59 characters). */
export function addrPort(addr: string, port: number, proto: Proto | 'ip', opts: PrintOptions): string {
  if (opts.numeric) return `${addr}:${port}`.slice(0, 59);
  const host = opts.hosts?.(addr) ?? addr;
  // A fwmark template's rows (protocol IP): the host is named, the port stays a number (no service names for IP).
  const name = proto === 'ip' ? undefined : (opts.ports ?? systemPortNames()).name(port, proto);
  return `${host}:${name ?? String(port)}`.slice(0, 59);
}

/** A mark's servers come from the kernel without a protocol (ip_vs_genl_fill_service sends the mark alone): ipvsadm names no port there. */
function destProto(svc: ServiceInfo): Proto | 'ip' {
  return svc.fwmark !== undefined ? 'ip' : svc.proto;
}

// printf-style helpers: %-Ns pads on the right, %Ns on the left; neither truncates.
function left(s: string, width: number): string {
  return s.length >= width ? s : s + ' '.repeat(width - s.length);
}
function right(s: string, width: number): string {
  return s.length >= width ? s : ' '.repeat(width - s.length) + s;
}

/** %d / %u of a counter: integers only, as C would print them. */
function int(n: number): string {
  return Number.isFinite(n) ? String(Math.trunc(n)) : '0';
}

/** ipvsadm's print_largenum: 9 columns, K/M/G/T above 99,999,999 unless --exact. */
export function largeNum(n: number, exact = false): string {
  const i = Math.max(0, Math.trunc(n));
  const s = String(i);
  if (exact) return right(s, s.length <= 8 ? 9 : s.length + 1);
  if (i < 100_000_000) return right(s, 9);
  if (i < 1_000_000_000) return right(String(Math.floor(i / 1e3)), 8) + 'K';
  if (i < 100_000_000_000) return right(String(Math.floor(i / 1e6)), 8) + 'M';
  if (i < 100_000_000_000_000) return right(String(Math.floor(i / 1e9)), 8) + 'G';
  return right(String(Math.floor(i / 1e12)), 8) + 'T';
}

// ---- ordering (libipvs ipvs_cmp_services / ipvs_cmp_dests) ----------------------------------

const PROTO_NUMBER: Record<Proto, number> = { tcp: 6, udp: 17, sctp: 132 };

/** `ntohl(a) - ntohl(b)` as C's int: wraps, so addresses 2^31 or more apart compare "backwards" like ipvsadm. */
function addrCmp(a: string, b: string): number {
  return (parseIp(a) - parseIp(b)) | 0;
}

export function compareServices(a: ServiceInfo, b: ServiceInfo): number {
  // ipvs_cmp_services: the mark first (services without one, 0, come first).
  // The marks' difference wraps as C's int too: a mark of 2^31 or more sorts first.
  return (((a.fwmark ?? 0) - (b.fwmark ?? 0)) | 0) || PROTO_NUMBER[a.proto] - PROTO_NUMBER[b.proto] || addrCmp(a.addr, b.addr) || a.port - b.port;
}

export function compareDests(a: DestInfo, b: DestInfo): number {
  return addrCmp(a.addr, b.addr) || a.port - b.port;
}

function sorted<T>(xs: readonly T[], cmp: (a: T, b: T) => number, nosort: boolean | undefined): T[] {
  return nosort === true ? [...xs] : [...xs].sort(cmp);
}

// ---- -L ------------------------------------------------------------------------------------

export function formatBanner(size: number): string {
  return `IP Virtual Server version ${IPVS_VERSION} (size=${int(size)})\n`;
}

const HEAD = 'Prot LocalAddress:Port';
const DEST_HEAD = '  -> RemoteAddress:Port\n';

export function formatTitle(f: ListFormat = {}): string {
  if (f.stats) return `${left(HEAD, 33)} ${right('Conns', 8)} ${right('InPkts', 8)} ${right('OutPkts', 8)} ${right('InBytes', 8)} ${right('OutBytes', 8)}\n${DEST_HEAD}`;
  if (f.rate) return `${left(HEAD, 33)} ${right('CPS', 8)} ${right('InPPS', 8)} ${right('OutPPS', 8)} ${right('InBPS', 8)} ${right('OutBPS', 8)}\n${DEST_HEAD}`;
  if (f.thresholds) return `${left(HEAD, 33)} ${left('Uthreshold', 10)} ${left('Lthreshold', 10)} ${left('ActiveConn', 10)} ${left('InActConn', 10)}\n${DEST_HEAD}`;
  if (f.persistentConn) return `${left(HEAD, 33)} ${left('Weight', 9)} ${left('PersistConn', 11)} ${left('ActiveConn', 10)} ${left('InActConn', 10)}\n${DEST_HEAD}`;
  if (f.tunInfo) return 'Prot LocalAddress:Port Scheduler Flags\n' + '  -> RemoteAddress:Port           Forward TunnelInfo    Weight ActiveConn InActConn\n';
  return 'Prot LocalAddress:Port Scheduler Flags\n' + '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n';
}

/** One service line and its real-server lines (print_service_entry without FMT_RULE). */
export function formatService(svc: ServiceInfo, opts: PrintOptions): string {
  const x = opts.exact === true;
  // "%-4s %s" then cut at 33 characters, as ipvsadm does for IPv4 services ("TCP  ", "SCTP "); "FWM  %d" for a mark.
  const svcName = svc.fwmark !== undefined ? `FWM  ${svc.fwmark}` : `${left(protoName(svc.proto), 4)} ${addrPort(svc.addr, svc.port, svc.proto, opts)}`.slice(0, 33);
  let out: string;
  if (opts.stats) {
    const s = svc.stats;
    out = left(svcName, 33) + largeNum(s.conns, x) + largeNum(s.inpkts, x) + largeNum(s.outpkts, x) + largeNum(s.inbytes, x) + largeNum(s.outbytes, x);
  } else if (opts.rate) {
    const r = svc.rate;
    out = left(svcName, 33) + largeNum(r.cps, x) + largeNum(r.inpps, x) + largeNum(r.outpps, x) + largeNum(r.inbps, x) + largeNum(r.outbps, x);
  } else {
    out = `${svcName} ${svc.sched}`;
    if (svc.flags.length > 0) out += ` (${svc.flags.join(',')})`;
    if (svc.persist > 0) {
      out += ` persistent ${int(svc.persist)}`;
      if (svc.netmask !== '255.255.255.255') out += ` mask ${svc.netmask}`;
      if (svc.pe) out += ` pe ${svc.pe}`;
    }
    if (svc.oneShot) out += ' ops';
    if (svc.synproxy) out += ' synproxy';
  }
  out += '\n';
  for (const d of sorted(svc.dests, compareDests, opts.nosort)) {
    const dname = addrPort(d.addr, d.port, destProto(svc), opts).slice(0, 28);
    if (opts.stats) {
      const s = d.stats;
      out += `  -> ${left(dname, 28)}${largeNum(s.conns, x)}${largeNum(s.inpkts, x)}${largeNum(s.outpkts, x)}${largeNum(s.inbytes, x)}${largeNum(s.outbytes, x)}\n`;
    } else if (opts.rate) {
      const r = d.rate;
      out += `  -> ${left(dname, 28)} ${right(int(r.cps), 8)} ${right(int(r.inpps), 8)} ${right(int(r.outpps), 8)}${largeNum(r.inbps, x)}${largeNum(r.outbps, x)}\n`;
    } else if (opts.thresholds) {
      out += `  -> ${left(dname, 28)} ${left(int(d.upper), 10)} ${left(int(d.lower), 10)} ${left(int(d.active), 10)} ${left(int(d.inactive), 10)}\n`;
    } else if (opts.persistentConn) {
      out += `  -> ${left(dname, 28)} ${left(int(d.weight), 9)} ${left(int(d.persistConns), 11)} ${left(int(d.active), 10)} ${left(int(d.inactive), 10)}\n`;
    } else if (opts.tunInfo) {
      // ipvsadm's fwd_tun_info: ipip, gue:PORT:CSUM, gre:CSUM; n/a for other methods.
      out += `  -> ${left(dname, 28)} ${left(forwardName(d.fwd), 7)} ${left(tunText(d) || 'n/a', 13)} ${left(int(d.weight), 6)} ${left(int(d.active), 10)} ${left(int(d.inactive), 10)}\n`;
    } else {
      out += `  -> ${left(dname, 28)} ${left(forwardName(d.fwd), 7)} ${left(int(d.weight), 6)} ${left(int(d.active), 10)} ${left(int(d.inactive), 10)}\n`;
    }
  }
  return out;
}

/** `ipvsadm -L[n]`: banner, title, every service in ipvsadm's order. */
export function formatList(result: ListResult, opts: PrintOptions): string {
  let out = formatBanner(result.size) + formatTitle(opts);
  for (const svc of sorted(result.services, compareServices, opts.nosort)) out += formatService(svc, opts);
  return out;
}

/** `ipvsadm -L[n] -t vip:port`: title and the one service; ipvsadm prints no banner here. */
export function formatOneService(svc: ServiceInfo, opts: PrintOptions): string {
  return formatTitle(opts) + formatService(svc, opts);
}

// ---- -S ------------------------------------------------------------------------------------

/**
 * `ipvsadm -S [-n]`: one -A line per service, one -a line per server, as -R reads them back; the
 * service options in print_service_entry's order (-p, -M, --pe, -o, then -b), uvs's --synproxy last.
 * uvs: one `--add-laddr ... -z LIP[:LO-HI]` line per FULLNAT local address, after the service's servers.
 */
export function formatRules(result: ListResult, opts: PrintOptions): string {
  // uvs: the marks first, so that -R has them before the -f services that use them.
  let out = formatMarkRules(result.marks ?? []);
  for (const svc of sorted(result.services, compareServices, opts.nosort)) {
    const name = svc.fwmark !== undefined ? `-f ${svc.fwmark}` : `${protoFlag(svc.proto)} ${addrPort(svc.addr, svc.port, svc.proto, opts)}`;
    out += `-A ${name} -s ${svc.sched}`;
    if (svc.persist > 0) {
      out += ` -p ${int(svc.persist)}`;
      if (svc.netmask !== '255.255.255.255') out += ` -M ${svc.netmask}`;
      if (svc.pe) out += ` --pe ${svc.pe}`;
    }
    if (svc.oneShot) out += ' -o';
    if (svc.flags.length > 0) out += ` -b ${svc.flags.join(',')}`;
    if (svc.synproxy) out += ' --synproxy';
    out += '\n';
    for (const d of sorted(svc.dests, compareDests, opts.nosort)) {
      out += `-a ${name} -r ${addrPort(d.addr, d.port, destProto(svc), opts)} ${FORWARD_SWITCHES[d.fwd]} -w ${int(d.weight)}`;
      // ipvsadm 1.31's print_tunnel_rule: every -i server with its tunnel type (and GUE's port, the checksum option).
      if (d.fwd === 'tun') {
        const t = d.tunType ?? 'ipip';
        out += ` --tun-type ${t}`;
        if (t === 'gue') out += ` --tun-port ${int(d.tunPort ?? 0)}`;
        if (t !== 'ipip') out += ` --tun-${d.tunCsum ?? 'nocsum'}`;
      }
      if (d.upper !== 0) out += ` -x ${int(d.upper)}`;
      if (d.lower !== 0) out += ` -y ${int(d.lower)}`;
      out += '\n';
    }
    // -z takes a dotted quad only (as -R does): the local address is never a name; with its
    // ports when they are not the default (ADDR:LO-HI, uvs's extension of DPVS's -z).
    for (const l of laddrRangesOf(svc)) out += `--add-laddr ${name} -z ${laddrText(l)}\n`;
  }
  return out;
}

// ---- marks (uvsadm --add-mark, --get-marks) ---------------------------------------------------

/** A mark rule's address and ports as --add-mark takes them: VIP, VIP:PORT or VIP:PORT-PORT. */
export function markTarget(m: MarkInfo): string {
  if (m.portMin === 0 && m.portMax === 65535) return m.addr;
  return m.portMin === m.portMax ? `${m.addr}:${m.portMin}` : `${m.addr}:${m.portMin}-${m.portMax}`;
}

/** The FTP helper's ports as uvsd --ftp-ports takes them ("none" for none). */
export function ftpPortsText(ports: readonly number[]): string {
  return ports.length === 0 ? 'none' : ports.join(',');
}

/** A mark rule as messages name it: "mark 1 TCP 192.168.8.200:443". */
export function markText(m: MarkInfo): string {
  return `mark ${m.fwmark} ${protoName(m.proto)} ${markTarget(m)}`;
}

/** -S: one --add-mark line per mark rule, in the order added. */
export function formatMarkRules(marks: readonly MarkInfo[]): string {
  return marks.map((m) => `--add-mark -f ${m.fwmark} ${protoFlag(m.proto)} ${markTarget(m)}\n`).join('');
}

/** --get-marks: a title and one line per rule (mark, protocol, address and ports), in the order added. */
export function formatMarks(marks: readonly MarkInfo[]): string {
  let out = `${left('Mark', 10)} ${left('Prot', 4)} LocalAddress:Ports\n`;
  for (const m of marks) out += `${left(String(m.fwmark), 10)} ${left(protoName(m.proto), 4)} ${markTarget(m)}\n`;
  return out;
}

/**
 * uvsadm --neigh (as `ip neigh show` says it, with ages and users): address, MAC, state, seconds
 * since confirmed and since used, what needs it (the gateway, n real servers; `-` nothing: it can
 * be reclaimed), and with --workers how many workers hold it.
 */
export function formatNeigh(rows: readonly NeighInfo[]): string {
  const workers = rows.some((r) => r.workers !== undefined);
  let out = `${left('Address', 16)} ${left('MAC', 17)} ${left('State', 10)} ${right('Confirmed', 9)} ${right('Used', 8)} ${workers ? `${right('Workers', 7)} ` : ''}Users
`;
  for (const r of rows) {
    const users = [r.gateway ? 'gateway' : '', r.servers > 0 ? `${r.servers} server${r.servers === 1 ? '' : 's'}` : ''].filter((x) => x !== '').join(', ') || '-';
    out += `${left(r.addr, 16)} ${left(r.mac ?? '-', 17)} ${left(r.state, 10)} ${right(r.confirmed === null ? '-' : `${r.confirmed}s`, 9)} ${right(`${r.used}s`, 8)} ${workers ? `${right(String(r.workers ?? 1), 7)} ` : ''}${users}
`;
  }
  return out;
}

// ---- -Lc, --timeout, --get-laddr ------------------------------------------------------------

function mmss(seconds: number): string {
  const s = Math.max(0, Math.trunc(seconds));
  return `${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
}

/**
 * `ipvsadm -Lc[n]` (list_conn / print_conn), ipvsadm's layout whatever the connections are.
 * With --laddr-column a `local` column (the local address and port the director took, as DPVS's
 * ipvsadm shows it) stands between virtual and destination in every row (the client's own address
 * for methods other than FULLNAT). With --persistent-conn the title adds ipvsadm's `pe name` and
 * `pe_data` columns, and a template of a persistence engine's service (--pe sip) shows them in
 * print_conn's own widths (destination 16, pe name 18: not the title's); every other row is the
 * plain one, as ipvsadm prints a kernel row without pe data.
 */
export function formatConns(conns: readonly ConnInfo[], opts: PrintOptions): string {
  return formatConnsTitle(opts) + formatConnRows(conns, opts);
}

/** formatConns's two title lines (uvsadm -Lc prints them, then the rows page by page). */
export function formatConnsTitle(opts: PrintOptions): string {
  const local = opts.laddrColumn === true;
  const title = `IPVS connection entries\npro expire ${left('state', 11)} ${left('source', 18)} ${left('virtual', 18)} ${local ? `${left('local', 18)} ` : ''}`;
  return title + (opts.persistentConn ? `${left('destination', 18)} ${left('pe name', 16)} pe_data\n` : 'destination\n');
}

/** formatConns's rows. */
export function formatConnRows(conns: readonly ConnInfo[], opts: PrintOptions): string {
  const local = opts.laddrColumn === true;
  let out = '';
  for (const c of conns) {
    const cname = addrPort(c.caddr, c.cport, c.proto, opts);
    const vname = addrPort(c.vaddr, c.vport, c.proto, opts);
    const lname = local ? `${left(addrPort(c.laddr, c.lport, c.proto, opts), 18)} ` : '';
    const dname = addrPort(c.daddr, c.dport, c.proto, opts);
    const row = `${left(protoName(c.proto), 3)} ${left(mmss(c.expires), 6)} ${left(c.state, 11)} ${left(cname, 18)} ${left(vname, 18)} ${lname}`;
    out += opts.persistentConn && c.pe !== undefined ? `${row}${left(dname, 16)} ${left(c.pe, 18)} ${c.peData ?? ''}\n` : `${row}${dname}\n`;
  }
  return out;
}

export function formatTimeout(t: Timeouts): string {
  return `Timeout (tcp tcpfin udp): ${int(t.tcp)} ${int(t.tcpfin)} ${int(t.udp)}\n`;
}

/** `uvsadm --get-laddr` (DPVS's layout: the service, its count, then one address per line). */
export function formatLaddrs(services: readonly ServiceInfo[], usage: readonly LaddrStat[], opts: PrintOptions): string {
  const of = new Map(usage.map((u) => [u.addr, u]));
  let out = `${left('VIP:VPORT', 20)} ${left('TOTAL', 8)} ${left('SNAT_IP', 20)} ${left('CONFLICTS', 10)} CONNS\n`;
  for (const s of sorted(services, compareServices, opts.nosort)) {
    // A -f service has no VIP:VPORT (its address reads 0.0.0.0:0): named as -L names it.
    const name = s.fwmark !== undefined ? `FWM  ${s.fwmark}` : addrPort(s.addr, s.port, s.proto, opts);
    out += `${left(name, 20)} ${int(s.laddrs.length)}\n`;
    for (const l of s.laddrs) {
      // The LIP's own numbers: a LIP several services share shows its ports over all of them.
      const u = of.get(l);
      out += `${left('', 20)} ${left('', 8)} ${left(l, 20)} ${left(String(u?.conflicts ?? 0), 10)} ${(u?.tcp ?? 0) + (u?.udp ?? 0)}\n`;
    }
  }
  return out;
}

/** `uvsadm --explain`: the would-be destination (or `none`), what decided it, and why. */
export function formatExplain(svc: ServiceKey, client: string, cport: number, x: ExplainResult): string {
  const dest = x.dest === null ? 'none' : `${x.dest.addr}:${x.dest.port}`;
  return `${protoName(svc.proto)} ${svc.addr}:${svc.port} client ${client}:${cport} -> ${dest}\n` +
    `decided by ${x.template ? 'persistence template' : 'scheduler'}\n` +
    `why ${x.why}\n`;
}

/** `uvsadm --drain` / `--undrain`, and the `director` line of --status. */
export function formatDrain(d: DrainStatus): string {
  if (d.state === 'off') return `director announcing, ${d.conns} connections\n`;
  const why = d.withdrawal === undefined ? '' : `: BGP withdrawal not confirmed: ${d.withdrawal}`;
  return `director ${d.state} since ${d.since}, ${d.conns} connections, timeout ${d.timeout} s (${d.left} s left)${why}\n`;
}

/**
 * -L --daemon: ipvsadm 1.31's line per running sync daemon, then uvs-only fields inside the same
 * parentheses (peer, auth), and one uvs line with the role and the sync counters.
 */
export function formatDaemon(r: DaemonResult): string {
  const lines: string[] = [];
  for (const d of r.daemons) {
    // ipvsadm prints ttl= for both: the kernel reports mcast_ttl for the backup daemon too.
    let l = `${d.state} sync daemon (mcast=${d.mcastInterface}, syncid=${d.syncid}, maxlen=${d.maxlen}, group=${d.group}, port=${d.port}, ttl=${d.ttl}`;
    if (d.peer !== undefined) l += `, peer=${d.peer}`;
    lines.push(`${l}, auth=${d.auth})`);
  }
  const s = r.stats;
  // from_master, replayed and old are left out when an older uvsd (before it counted them) sent no such field.
  const fromMaster = s.fromMaster === undefined ? '' : ` from_master=${s.fromMaster}`;
  const replayed = s.replayed === undefined ? '' : ` replayed=${s.replayed} old=${s.old}`;
  lines.push(`role ${roleText(r)} (sync sent=${s.sent} received=${s.received} lost=${s.lost} auth_failed=${s.authFailed} other_syncid=${s.otherSyncid}${fromMaster}${replayed})`);
  return lines.join('\n') + '\n';
}

/**
 * The role as `--status` and `-L --daemon` print it: `master` or `backup`; with HA groups
 * `master`, `backup` or `mixed`, then each group's role in one word (`mixed
 * default=backup,web=master,api=backup`).
 */
export function roleText(r: { role?: string; haGroups?: HaGroupRole[] }): string {
  const g = r.haGroups;
  if (g === undefined) return r.role ?? '';
  const all = g.every((x) => x.role === g[0]!.role) ? g[0]!.role : 'mixed';
  return `${all} ${g.map((x) => `${x.name}=${x.role}`).join(',')}`;
}

/** keepalived's notify FIFO: `PATH events N ignored N[, last LINE Ns ago]`. */
function vrrpFifoText(f: VrrpFifoStatus): string {
  const last = f.last === undefined || f.lastAt === undefined ? '' : `, last ${f.last} ${Math.round((Date.now() - f.lastAt) / 1000)}s ago`;
  return `${f.path} events ${f.events} ignored ${f.ignored}${last}`;
}

/** uvsd --state-file: `PATH saved Ns ago`, or while writes fail `PATH failing for Ns: ERROR (...)`; then `; at start ...` when it was not restored whole. */
function stateFileText(f: StateFileStatus): string {
  const ago = (t: number): string => `${Math.round((Date.now() - t) / 1000)}s`;
  const start = f.atStart === undefined ? '' : `; at start ${f.atStart.text}`;
  if (f.error === undefined || f.failingSince === undefined) return `${f.path} ${f.savedAt === undefined ? 'not saved yet' : `saved ${ago(f.savedAt)} ago`}${start}`;
  const onDisk = f.savedAt === undefined ? 'nothing saved by this uvsd' : `on disk: the table of ${ago(f.savedAt)} ago`;
  return `${f.path} failing for ${ago(f.failingSince)}: ${f.error} (${onDisk})${start}`;
}

/** uvsd's log: `log_lines_dropped N`, and while writes fail `log_output failing for Ns: ERROR`. */
function logOutputLines(l: LogOutputStatus): string[] {
  const failing = l.failingSince === undefined ? [] : [`log_output failing for ${Math.round((Date.now() - l.failingSince) / 1000)}s: ${l.error ?? '?'}`];
  return [`log_lines_dropped ${l.dropped}`, ...failing];
}

/** The control socket: `PATH rebound N` (bound again after its file was removed), `; PROBLEM` while it cannot be reached. */
function controlSocketText(c: ControlSocketStatus): string {
  return `${c.path} rebound ${c.rebound}${c.problem === undefined ? '' : `; ${c.problem}`}`;
}

/** `name value` lines for the values a reply holds: an older uvsd's reply lacks the newer ones (left out, not printed `undefined`). */
function present(pairs: Array<[string, unknown]>): string[] {
  return pairs.filter(([, v]) => v !== undefined).map(([k, v]) => `${k} ${v as string}`);
}

/**
 * `arp_watch lap 60s addresses 3 probes 12`; one `arp_vip ADDR probed 12s ago conflicts N` per VIP
 * the watch probes (`arp_addr` for a director or local address; `probed never` before its first
 * probe); then one `arp_answered_by ADDR MAC [real_server IP] answers N` per station.
 */
function arpWatchLines(w: ArpWatchStatus): string[] {
  const ago = (t: number | undefined): string => (t === undefined ? 'never' : `${Math.round((Date.now() - t) / 1000)}s ago`);
  return [
    w.lapS === 0 ? 'arp_watch off' : `arp_watch lap ${w.lapS}s addresses ${w.addrs} probes ${w.probes}`,
    ...(w.addresses ?? []).map((a) => `${a.vip ? 'arp_vip' : 'arp_addr'} ${a.addr} probed ${ago(a.probedAt)} conflicts ${a.conflicts}`),
    ...w.answeredBy.map((a) => `arp_answered_by ${a.addr} ${a.mac}${a.server === undefined ? '' : ` real_server ${a.server}`} answers ${a.answers}`),
  ];
}

/**
 * The connection table's fill from which `--status` names it a problem: the UvsConnTableNearlyFull
 * alert's (contrib/prometheus/uvs-alerts.yml), below --evict-above's default 0.9, where eviction
 * holds a flooded table just under 90 % (at 0.9 the summary said `problems none` all through the
 * flood). With --workers each worker's share counts: one worker of two full is the table at 45 %.
 */
const TABLE_FULL_PROBLEM = 0.85;

/** The table, or with --workers each worker's share, nearly full (TABLE_FULL_PROBLEM). */
function tableProblems(st: StatusResult): string[] {
  const pct = (n: number, max: number): number => Math.floor((n / max) * 100);
  if (st.connMax > 0 && st.conns >= st.connMax * TABLE_FULL_PROBLEM) return [`connection table ${pct(st.conns, st.connMax)}% full (${st.conns} of ${st.connMax})`];
  const out: string[] = [];
  if ((st.workers?.length ?? 0) < 2) return out;
  for (const w of st.workers!) {
    if (w.conn_max > 0 && w.conns >= w.conn_max * TABLE_FULL_PROBLEM) {
      out.push(`connection table: worker ${w.worker}'s share ${pct(w.conns, w.conn_max)}% full (${w.conns} of ${w.conn_max}; the table at ${st.connMax > 0 ? pct(st.conns, st.connMax) : 0}%)`);
    }
  }
  return out;
}

/**
 * What is wrong now, from the status alone (each also on its own line further down, or in the
 * log): the summary `uvsadm --status` starts with, `problems none` or `problems N` and a
 * `problem TEXT` line each, so that a look (or `uvsadm --status | head`) tells whether anything
 * needs attention. Counters since start are not problems here (a drop counted an hour ago is
 * history): only states that hold now.
 */
export function statusProblems(st: StatusResult): string[] {
  const out: string[] = [];
  if (st.link !== undefined && st.link.ok === false) out.push(`link ${st.link.iface} ${describeLink(st.link)}: frames cannot pass`);
  for (const u of st.unclaimed ?? []) out.push(`VIP ${u.addr} not claimed: ${u.by} answered for it (re-probed every 10 s)`);
  for (const a of st.arpWatch?.answeredBy ?? []) {
    out.push(`${a.mac} answers ARP for ${a.addr}${a.server === undefined ? '' : ` (real server ${a.server}: arp_ignore/arp_announce not set?)`}`);
  }
  if (st.stateFile?.error !== undefined && st.stateFile.failingSince !== undefined) out.push(`state file not written: ${st.stateFile.error}`);
  if (st.logOutput?.failingSince !== undefined) out.push(`log output failing: ${st.logOutput.error ?? '?'} (${st.logOutput.dropped} lines lost)`);
  if (st.controlSocket?.problem !== undefined) out.push(`control socket: ${st.controlSocket.problem}`);
  out.push(...tableProblems(st));
  if (st.defense?.secureTcp === true) out.push('secure TCP on (the table is filling: half-open connections expire sooner)');
  const down = (st.health ?? []).filter((h) => h.state === 'down' && h.suspended !== true);
  if (down.length > 0) {
    const named = down.slice(0, 3).map((h) => `${h.addr}:${h.port} of ${serviceText(h.service)}`).join(', ');
    out.push(`${down.length} checked real server${down.length === 1 ? '' : 's'} down: ${named}${down.length > 3 ? ', ...' : ''}`);
  }
  // Not a suspended service's (ha_suspend on a backup: the state last seen, or alpha's 'down' of
  // checks that never ran), as its servers above: a healthy backup said `problems 1`.
  for (const q of st.healthQuorum ?? []) if (!q.up && q.suspended !== true) out.push(`quorum down: ${serviceText(q.service)} (alive weight ${q.aliveWeight} of ${q.quorum})${q.sorryIn ? ` sorry server ${q.sorry ?? '?'} in` : ''}`);
  if ((st.healthChecksNotRun ?? 0) > 0) out.push(`${st.healthChecksNotRun} health checks could not run (descriptors, memory or processes)`);
  if (st.bgp !== undefined && st.bgp.state !== 'ok') out.push(`bgp ${st.bgp.state}: ${st.bgp.last}`);
  for (const f of st.ftpNotPersistent ?? []) out.push(`FTP service ${f} is not persistent (--workers: its data connections may reach another worker)`);
  return out;
}

const yesNo = (v: boolean | undefined): string | undefined => (v === undefined ? undefined : v ? 'yes' : 'no');

/**
 * `uvsadm --status`: one `name value` line each, grep- and awk-friendly. The uvsd answering may
 * be an older build (the package upgraded while the daemon runs on): a field it does not send
 * leaves its line out rather than failing the whole status (keepalived's check script).
 */
export function formatStatus(st: StatusResult): string {
  const slow = st.slowestVerb as Partial<StatusResult['slowestVerb']> | undefined;
  const busy = st.busiestVerb as StatusResult['busiestVerb'] | undefined;
  const problems = statusProblems(st);
  const lines = [
    problems.length === 0 ? 'problems none' : `problems ${problems.length}`,
    ...problems.map((p) => `problem ${p}`),
    `station ${st.mac} on ${st.tap}`,
    `io ${st.io}`,
    `offload ${st.offload}`,
    ...(st.txqueuelen === undefined ? [] : [`txqueuelen ${st.txqueuelen}`]),
    ...(st.link === undefined ? [] : [`link ${describeLink(st.link)}`]),
    `addresses ${st.addrs.join(' ')}`,
    ...(st.gateway === undefined ? [] : [`gateway ${st.gateway}`]),
    ...(st.unclaimed ?? []).map((u) => `vip_unclaimed ${u.addr} by ${u.by}`),
    ...(st.arpWatch === undefined ? [] : arpWatchLines(st.arpWatch)),
    `connections ${st.conns} of ${st.connMax}`,
    ...(slow === undefined ? [] : [`slowest_verb_ms ${slow.ms} ${slow.verb || '-'}${slow.cpuMs === undefined ? '' : ` (cpu ${slow.cpuMs})`}`]),
    ...(busy === undefined ? [] : [`busiest_verb_cpu_ms ${busy.ms} ${busy.verb || '-'}`]),
    ...Object.entries(st.portDrops ?? {}).map(([k, v]) => `port_drop_${k} ${v}`),
    ...(st.role === undefined ? [] : [`role ${roleText(st)}`]), // high availability (docs/ha.md)
    ...(st.vrrpFifo === undefined ? [] : [`vrrp_fifo ${vrrpFifoText(st.vrrpFifo)}`]),
    ...(st.stateFile === undefined ? [] : [`state_file ${stateFileText(st.stateFile)}`]),
    ...(st.logOutput === undefined ? [] : logOutputLines(st.logOutput)),
    ...(st.controlSocket === undefined ? [] : [`control_socket ${controlSocketText(st.controlSocket)}`]),
  ];
  const df = st.defense as Partial<NonNullable<StatusResult['defense']>> | undefined;
  if (df !== undefined) {
    lines.push(...present([
      ['secure_tcp', df.secureTcp === undefined ? undefined : `${df.secureTcp ? 'on' : 'off'} (above ${df.secureTcpAbove})`],
      ['evict_above', df.evictAbove],
      ['max_conn_rate_per_source', df.maxConnRatePerSource],
      ['arp_accept_unsolicited', yesNo(df.arpAcceptUnsolicited)],
      ['expire_quiescent_template', yesNo(df.expireQuiescentTemplate)],
      ['garp_refresh', df.garpRefresh],
      ['sloppy_tcp', df.sloppyTcp],
      ['conn_reuse_mode', df.connReuseMode],
      ['synproxy_syn_retries', df.synproxySynRetries],
      ['ftp_ports', df.ftpPorts === undefined ? undefined : ftpPortsText(df.ftpPorts)],
      ['toa', yesNo(df.toa)],
      ['icmp_ratelimit', df.icmpRatelimit],
      ['schedule_icmp', yesNo(df.scheduleIcmp)],
    ]));
  }
  // With --workers: FTP services whose data connections may reach another worker (nat-setup.md#ftp).
  for (const s of st.ftpNotPersistent ?? []) lines.push(`ftp_not_persistent ${s}`);
  if (st.drain !== undefined) lines.push(formatDrain(st.drain).trimEnd());
  const bgp = st.bgp;
  if (bgp !== undefined) {
    lines.push(
      `bgp ${bgp.state} via BIRD ${bgp.socket} (include ${bgp.include}, next hop ${bgp.nextHop}, ${bgp.configures} configures): ${bgp.last}`,
      ...(bgp.sessions === undefined ? [] : [`bgp_sessions ${bgp.sessions.length === 0 ? '-' : bgp.sessions.map(bgpSessionText).join('; ')}`]),
      `bgp_announced ${bgp.announced.length === 0 ? '-' : bgp.announced.join(' ')}`,
    );
  }
  // uvsd --workers N: how frames pick their queue, one line per worker thread (the counters below are their sums).
  if (st.steering !== undefined) lines.push(`steering ${st.steering}`);
  if (st.cpus !== undefined) lines.push(`cpus datapath ${st.cpus.datapath.join(',')} control ${formatCpuList(st.cpus.control)}`);
  for (const w of st.workers ?? []) {
    lines.push(`worker ${w.worker} io ${w.io} rx_frames ${w.rx_frames} tx_frames ${w.tx_frames} fwd_packets ${w.fwd_packets} ` +
      `fwd_out_packets ${w.fwd_out_packets} conns ${w.conns} conn_max ${w.conn_max} secure_tcp ${w.secure_tcp ? 'on' : 'off'} handoff_out ${w.handoff_out} handoff_in ${w.handoff_in}${w.cpu === undefined ? '' : ` cpu ${w.cpu}`}`);
  }
  for (const [k, v] of Object.entries(st.counters)) lines.push(`${k} ${v}`);
  for (const [k, v] of Object.entries(st.drops)) lines.push(`drop_${k} ${v}`);
  // Health checks: one line per checked real server (src/health/report.ts fills st.health).
  for (const h of st.health ?? []) {
    lines.push(`health ${serviceText(h.service)} ${h.addr}:${h.port} ${h.state} weight ${h.weight}${h.inhibit ? ' inhibit' : ''} (${h.reason})${h.suspended === true ? ' suspended (ha_suspend)' : ''}`);
  }
  // And one per checked virtual server: its quorum, which decides whether its servers or its sorry server are in the table.
  for (const q of st.healthQuorum ?? []) {
    lines.push(`health_quorum ${serviceText(q.service)} ${q.up ? 'up' : 'down'} (alive weight ${q.aliveWeight}, quorum ${q.quorum}, hysteresis ${q.hysteresis})` +
      (q.sorry === undefined ? '' : ` sorry ${q.sorry} ${q.sorryIn ? 'in' : 'out'}`) + (q.suspended === true ? ' suspended (ha_suspend)' : ''));
  }
  if (st.healthChecksNotRun !== undefined) lines.push(`health_checks_not_run ${st.healthChecksNotRun}`);
  // Health changes the table refused (a server or service deleted by hand), each tried again at the next check.
  if (st.healthRefused !== undefined) lines.push(`health_refused ${st.healthRefused}`);
  // The checks' slots: checks waiting for one start late (docs/health.md#scheduling-and-slots).
  const hq = st.healthQueue;
  if (hq !== undefined) {
    lines.push(`health_queue waiting ${hq.waiting} in_flight ${hq.inFlight} slots ${hq.slots} processes ${hq.processes} process_slots ${hq.processSlots} late_max_ms ${hq.lateMaxMs}`);
  }
  return lines.join('\n') + '\n';
}

export function usageText(program = 'uvsadm'): string {
  const p = program;
  return `${p} (uvs) — ipvsadm 1.31 command line for uvsd
Usage:
  ${p} -A|E -t|u|f service-address [-s scheduler] [-p [timeout]] [-M netmask] [-b sched-flags] [-o]
  ${p} -D -t|u|f service-address
  ${p} -C
  ${p} -R [--dry-run]
  ${p} -S [-n]
  ${p} -a|e -t|u|f service-address -r server-address [options]
  ${p} -d -t|u|f service-address -r server-address
  ${p} -L|l [options]
  ${p} --set tcp tcpfin udp
  ${p} --add-laddr -t|u|f service-address -z local-address[:port-port]
  ${p} --del-laddr -t|u|f service-address -z local-address
  ${p} --get-laddr [-t|u|f service-address]
  ${p} --add-mark|--del-mark -f fwmark -t|u address[:port[-port]]
  ${p} --get-marks
  ${p} --neigh | --neigh-flush [address]
  ${p} --reload [--dry-run]
  ${p} --dump-config
  ${p} --status
  ${p} -Z [-t|u|f service-address]
  ${p} trace [-t|u|f service-address] [--count N]
  ${p} --explain -t|u service-address --client address[:port]
  ${p} --start-daemon state [--mcast-interface interface] [--syncid sid] [--sync-key-file file] [--sync-peer address]
  ${p} --stop-daemon state
  ${p} --role master|backup [--ha-group name]
  ${p} --drain [--drain-timeout seconds] | --undrain
  ${p} -h | -v

Commands:
Either long or short options are allowed.
  --add-service     -A        add virtual service with options
  --edit-service    -E        edit virtual service with options
  --delete-service  -D        delete virtual service
  --clear           -C        clear the whole table
  --restore         -R        restore rules from stdin (all or nothing)
  --save            -S        save rules to stdout
  --add-server      -a        add real server with options
  --edit-server     -e        edit real server with options
  --delete-server   -d        delete real server
  --list            -L|-l     list the table
  --set tcp tcpfin udp        set connection timeout values (0 = unchanged)
  --add-laddr                 add a FULLNAT local address to a service
  --del-laddr                 delete a FULLNAT local address
  --get-laddr                 list FULLNAT local addresses
  --add-mark                  uvs: new flows to the address (and ports) get the
                              firewall mark of -f (iptables -j MARK for uvsd)
  --del-mark                  uvs: delete such a rule
  --get-marks                 uvs: list the mark rules
  --neigh                     uvs: list the neighbour (ARP) table
  --neigh-flush [address]     uvs: forget one neighbour entry, or all
  --reload                    uvs: re-read uvsd's --config (and --keepalived-conf)
                              file and apply the difference
  --dump-config               uvs: the running table and settings as a config file
  --status                    uvs: station MAC, addresses, table use, counters
  --zero            -Z        zero counters in a service or all services
  trace                       uvs: print new-connection decisions (client,
                              server, scheduler, why) and drops as they happen
  --explain                   uvs: which real server a new connection from
                              --client would get now, and why (changes nothing)
  --start-daemon              start connection synchronization daemon
  --stop-daemon               stop connection synchronization daemon
  --role                      uvs: master (take the VIPs over, forward) or
                              backup (keep the table, forward nothing); with
                              --ha-group, only that group's addresses
  --drain                     uvs: withdraw this director's BGP routes, keep
                              forwarding its connections (docs/scale-out.md)
  --undrain                   uvs: announce the routes again
  --help            -h        display this help message
  --version         -v        display the version

Options:
  --tcp-service  -t service-address   service-address is IPv4-address[:port]
  --udp-service  -u service-address   service-address is IPv4-address[:port]
  --sctp-service    service-address   service-address is IPv4-address[:port]
                                      (a dotted quad, no host name; the port a
                                      number or an /etc/services name)
  --fwmark-service -f fwmark          fwmark is an integer greater than zero
  --scheduler    -s scheduler         scheduler name, the default scheduler is wlc.
  --sched-flags  -b flags             scheduler flags (comma-separated)
  --persistent   -p [timeout]         persistent service (default 300 s)
  --netmask      -M netmask           persistent granularity mask
  --pe            engine              persistence engine: sip (persistent UDP), none by default
  --ops          -o                   one-packet scheduling (UDP)
  --synproxy                          SYN proxy: answer SYNs with cookies (TCP, NAT/FULLNAT)
  --real-server  -r server-address    server-address is IPv4-address[:port]
  --gatewaying   -g                   gatewaying (direct routing) (default)
  --ipip         -i                   ipip encapsulation (tunneling)
  --masquerading -m                   masquerading (NAT)
  --fullnat                           full NAT (DPVS FNAT)
  --tun-type      type                one of ipip|gue|gre,
                                      the default tunnel type is ipip.
  --tun-port      port                tunnel destination port
  --tun-nocsum                        tunnel encapsulation without checksum
  --tun-csum                          tunnel encapsulation with checksum
  --tun-remcsum                       tunnel encapsulation with remote checksum
  --weight       -w weight            capacity of real server, 0..2147483647
  --u-threshold  -x uthreshold        upper threshold of connections
  --l-threshold  -y lthreshold        lower threshold of connections
  --laddr        -z local-address     FULLNAT local address (uvs: ADDR:LO-HI, its local ports)
  --client       address[:port]       client of --explain
  --drain-timeout seconds             drain at most this long (default: uvsd's)
  --ha-group     name                 uvs: --role of one HA group (uvsd --ha-group)
  --dry-run                           --reload: print the changes, change nothing;
                                      -R: check the rules against the table, change nothing
  --connection   -c                   output of current IPVS connections
  --timeout                           output of timeout (tcp tcpfin udp)
  --daemon                            output of daemon information
  --mcast-interface interface         multicast interface for connection sync
  --syncid sid                        syncid for connection sync (default=0)
  --sync-maxlen length                max sync message length (default=1472)
  --mcast-group address               IPv4 multicast group (default=224.0.0.81)
  --mcast-port port                   UDP port (default=8848)
  --mcast-ttl ttl                     multicast TTL (default=1)
  --sync-peer address                 uvs: unicast sync to this director
  --sync-key-file file                uvs: shared HMAC-SHA256 key (required)
  --stats                             output of statistics information
  --rate                              output of rate information
  --exact                             expand numbers (display exact values)
  --thresholds                        output of thresholds information
  --persistent-conn                   output of persistent connection info
  --tun-info                          output of tunnel information
  --laddr-column                      uvs: -c with FULLNAT's local address column
  --nosort                            disable sorting output of service/server entries
  --sort                              does nothing, for backwards compatibility
  --numeric      -n                   numeric output of addresses and ports
  --socket       PATH                 uvsd control socket (env UVS_SOCKET,
                                      default /run/uvs/uvsd.sock)
`;
}
