// Start-time checks of the link uvsd joins, each a warning naming what to change: things that are
// not wrong for the kernel but make frames vanish where no counter of uvsd's sees them.
//   - --mtu unlike the bridge's other ports: a Linux bridge takes the smallest MTU of its ports,
//     so a smaller --mtu drops the LAN's full-size frames at the bridge, and a default --mtu 1500
//     on a jumbo bridge cut the host's own jumbo traffic there.
//   - --port af_packet on a bridge, or on a port of one: uvsd's frames do not pass the bridge's
//     learning, so every frame to uvsd's MAC is flooded to every port of it.
//   - --port af_packet on an interface with an IPv4 address: the host's own packets to the VIPs
//     leave there without passing uvsd, and get no answer.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { sysNetAt } from './linkwatch.js';

export interface LinkCheckInput {
  /** The TAP's name (TAP backend) or the --port af_packet interface (ring). */
  iface: string;
  ring: boolean;
  /** --bridge (TAP backend). */
  bridge?: string;
  mtu: number;
  /** The interface's IPv4 addresses (os.networkInterfaces()). */
  ipv4: readonly string[];
}

/** The warnings for `o`, read from `sys` (/sys/class/net; a directory of the same shape in tests). */
export function linkWarnings(o: LinkCheckInput, sys = '/sys/class/net'): string[] {
  const out: string[] = [];
  const net = sysNetAt(sys);
  const isBridge = (i: string): boolean => existsSync(join(sys, i, 'bridge'));
  const bridge = o.ring ? (isBridge(o.iface) ? undefined : net.master(o.iface)) : o.bridge;
  if (o.ring && isBridge(o.iface)) {
    out.push(`--port af_packet:${o.iface} is a bridge: the frames uvsd sends there pass no port of it, so it never learns uvsd's MAC and floods every frame to uvsd to all its ports; run the ring on the interface that reaches the LAN (a bridge port or a NIC), or use --tap with --bridge ${o.iface}`);
  } else if (o.ring && bridge !== undefined && isBridge(bridge)) {
    out.push(`--port af_packet:${o.iface} is a port of bridge ${bridge}: the frames uvsd sends leave below the bridge, which never learns uvsd's MAC and floods every frame to uvsd to its other ports; use --tap with --bridge ${bridge}, or an interface of no bridge`);
  }
  if (o.ring && o.ipv4.length > 0) {
    out.push(`--port af_packet:${o.iface} has the host's IPv4 address ${o.ipv4.join(', ')}: the host's own packets to the VIPs leave there without passing uvsd and get no answer (uvsd reads what the link brings, not what the host sends); use --tap with a bridge to serve the host itself`);
  }
  if (!o.ring && bridge !== undefined && isBridge(bridge)) {
    let ports: string[] = [];
    try {
      ports = readdirSync(join(sys, bridge, 'brif')).filter((p) => p !== o.iface);
    } catch {
      // no ports listed
    }
    const unlike = ports.map((p) => ({ p, mtu: net.mtu(p) ?? 0 })).filter((x) => Number.isFinite(x.mtu) && x.mtu > 0 && x.mtu !== o.mtu);
    if (unlike.length > 0) {
      const them = unlike.slice(0, 4).map((x) => `${x.p} ${x.mtu}`).join(', ') + (unlike.length > 4 ? `, and ${unlike.length - 4} more` : '');
      const most = Math.max(...unlike.map((x) => x.mtu));
      out.push(o.mtu < most
        ? `--mtu ${o.mtu} is below the MTU of ${bridge}'s ports (${them}): the bridge takes the smallest, and drops the LAN's longer frames before uvsd sees them (no counter of uvsd's counts them); start uvsd with --mtu ${Math.min(most, 9000)}`
        : `--mtu ${o.mtu} is above the MTU of ${bridge}'s ports (${them}): frames uvsd sends longer than theirs are dropped there (a TUN packet wrapped past it gets no "fragmentation needed"); start uvsd with --mtu ${Math.min(...unlike.map((x) => x.mtu))}`);
    }
  }
  return out;
}
