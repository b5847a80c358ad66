// Output of uvsadm, byte for byte as ipvsadm 1.31 prints it (print_title / print_service_entry
// in ipvsadm.c): people parse `ipvsadm -Ln` with scripts, so widths, truncation and trailing
// spaces are kept exactly. Also the /etc/services lookup used for port names (no DNS, ever).

import { readFileSync } from 'node:fs';
import type { Fwd, ListResult, Proto, ServiceInfo, StatusResult } from './protocol.js';

/** The kernel IPVS version ipvsadm reports; uvs mimics it so banner parsers keep working. */
export const IPVS_VERSION = '1.2.1';

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
    const m = /^(\d+)\/(tcp|udp)$/.exec(portProto ?? '');
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

export interface PrintOptions {
  /** -n: ports as numbers. Addresses are always numeric (uvsadm never does DNS). */
  numeric: boolean;
  /** Port name table used without -n; defaults to /etc/services. */
  ports?: PortNames;
}

const FORWARD_NAMES: Record<Fwd, string> = {
  dr: 'Route',
  nat: 'Masq',
  tun: 'Tunnel',
  fullnat: 'FullNat',
};

export function forwardName(fwd: Fwd): string {
  return FORWARD_NAMES[fwd] ?? '?';
}

function protoName(proto: Proto): string {
  return proto === 'tcp' ? 'TCP' : proto === 'udp' ? 'UDP' : '?';
}

/** ipvsadm's addrport_to_anyname without the host lookup. */
export function addrPort(addr: string, port: number, proto: Proto, opts: PrintOptions): string {
  if (opts.numeric) return `${addr}:${port}`;
  const name = (opts.ports ?? systemPortNames()).name(port, proto);
  return `${addr}:${name ?? String(port)}`;
}

// printf-style helpers: %-Ns pads on the right and never truncates.
function left(s: string, width: number): string {
  return s.length >= width ? s : s + ' '.repeat(width - s.length);
}

/** %d / %u of a counter: integers only, as C would print them. */
function int(n: number): string {
  return Number.isFinite(n) ? String(Math.trunc(n)) : '0';
}

export function formatBanner(size: number): string {
  return `IP Virtual Server version ${IPVS_VERSION} (size=${int(size)})\n`;
}

export function formatTitle(): string {
  return (
    'Prot LocalAddress:Port Scheduler Flags\n' +
    '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n'
  );
}

/** One service line and its real-server lines, in the order given (the daemon's order). */
export function formatService(svc: ServiceInfo, opts: PrintOptions): string {
  // "%-4s %s" then cut at 33 characters, as ipvsadm does for IPv4 services.
  const svcName = `${left(protoName(svc.proto), 4)} ${addrPort(svc.addr, svc.port, svc.proto, opts)}`.slice(0, 33);
  let out = `${svcName} ${svc.sched}`;
  if (svc.flags.length > 0) out += ` (${svc.flags.join(',')})`;
  out += '\n';
  for (const d of svc.dests) {
    const dname = addrPort(d.addr, d.port, svc.proto, opts).slice(0, 28);
    out += `  -> ${left(dname, 28)} ${left(forwardName(d.fwd), 7)} ${left(int(d.weight), 6)} ${left(int(d.active), 10)} ${left(int(d.inactive), 10)}\n`;
  }
  return out;
}

/** `ipvsadm -L[n]`: banner, title, every service. */
export function formatList(result: ListResult, opts: PrintOptions): string {
  let out = formatBanner(result.size) + formatTitle();
  for (const svc of result.services) out += formatService(svc, opts);
  return out;
}

/** `ipvsadm -L[n] -t vip:port`: title and the one service; ipvsadm prints no banner here. */
export function formatOneService(svc: ServiceInfo, opts: PrintOptions): string {
  return formatTitle() + formatService(svc, opts);
}

/** `uvsadm --status`: one `name value` line each, grep- and awk-friendly. */
export function formatStatus(st: StatusResult): string {
  const lines = [
    `station ${st.mac} on ${st.tap}`,
    `io ${st.io}`,
    `addresses ${st.addrs.join(' ')}`,
    `connections ${st.conns} of ${st.connMax}`,
  ];
  for (const [k, v] of Object.entries(st.counters)) lines.push(`${k} ${v}`);
  for (const [k, v] of Object.entries(st.drops)) lines.push(`drop_${k} ${v}`);
  // Health checks: one line per checked real server (src/health/report.ts fills st.health).
  for (const h of st.health ?? []) {
    lines.push(`health ${h.service.proto.toUpperCase()} ${h.service.addr}:${h.service.port} ${h.addr}:${h.port} ${h.state} weight ${h.weight}${h.inhibit ? ' inhibit' : ''} (${h.reason})`);
  }
  return lines.join('\n') + '\n';
}

export function usageText(program = 'uvsadm'): string {
  const p = program;
  return `${p} (uvs, ipvsadm 1.31 compatible subset)
Usage:
  ${p} -A|E virtual-service [-s scheduler]
  ${p} -D virtual-service
  ${p} -C
  ${p} -a|e virtual-service -r server-address [options]
  ${p} -d virtual-service -r server-address
  ${p} -L|l [virtual-service] [-n]
  ${p} --status
  ${p} -Z [virtual-service]
  ${p} trace [virtual-service] [--count N]
  ${p} -h

Commands:
Either long or short options are allowed.
  --add-service     -A        add virtual service with options
  --edit-service    -E        edit virtual service with options
  --delete-service  -D        delete virtual service
  --clear           -C        clear the whole table
  --add-server      -a        add real server with options
  --edit-server     -e        edit real server with options
  --delete-server   -d        delete real server
  --list            -L|-l     list the table
  --zero            -Z        zero counters in a service or all services
  trace                       uvs: print new-connection decisions (client,
                              server, scheduler, why) and drops as they happen
  --help            -h        display this help message
  --status                    uvs: station MAC, addresses, table use and
                              every counter, drops by reason

virtual-service:
  --tcp-service|-t  service-address   service-address is host[:port]
  --udp-service|-u  service-address   service-address is host[:port]

Options:
  --scheduler    -s scheduler         scheduler name, the default scheduler is wlc.
  --real-server  -r server-address    server-address is host (and port)
  --gatewaying   -g                   gatewaying (direct routing) (default)
  --ipip         -i                   ipip encapsulation (tunneling)
  --masquerading -m                   masquerading (NAT)
  --weight       -w weight            capacity of real server (0..2147483647)
  --numeric      -n                   numeric output of addresses and ports
  --socket       PATH                 uvsd control socket (env UVS_SOCKET,
                                      default /run/uvs/uvsd.sock)

Hosts are dotted-quad IPv4 addresses; ports are numbers or /etc/services names.
`;
}
