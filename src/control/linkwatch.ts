// The link under uvsd: its TAP (or the --port af_packet interface) set down, taken out of its
// --bridge, the bridge set down or deleted leaves uvsd running with every frame lost. uvsd polls
// /sys/class/net every second from its tick (uvsd runs in the namespace that holds its TAP, so
// that is the TAP's namespace's view), logs a warning when the link goes wrong and an info line
// when it is back, and `status` shows it. Reading two sysfs entries costs a few microseconds.

import { readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import type { WatchLog } from './faults.js';
import type { LinkStatus } from './protocol.js';
import { MTU_MAX } from '../defaults.js';

/**
 * The few facts of /sys/class/net the watch reads (a fake in tests). "Does not exist" is only
 * ever a read that said so (ENOENT, ENODEV); any other failure (EMFILE, ENFILE, ENOMEM, ...: the
 * process out of file descriptors, say) throws: it says nothing about the interface.
 */
export interface SysNet {
  /** The interface's operstate ("up", "down", "unknown", "lowerlayerdown", ...); undefined when it does not exist. */
  operstate(iface: string): string | undefined;
  /** The name of the interface's master (a bridge); undefined when it has none. */
  master(iface: string): string | undefined;
  /** The interface exists. */
  exists(iface: string): boolean;
  /** The interface's MTU; undefined when it does not exist. */
  mtu(iface: string): number | undefined;
}

/** fn's value, or absent when what it reads does not exist; any other error is thrown. */
function unlessGone<T>(fn: () => T, absent: T): T {
  try {
    return fn();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENODEV' || code === 'ENOTDIR') return absent;
    throw e;
  }
}

/** SysNet read from `root` (/sys/class/net; a directory of its shape in tests: linkcheck.ts). */
export function sysNetAt(root = '/sys/class/net'): SysNet {
  return {
    operstate: (iface) => unlessGone(() => readFileSync(`${root}/${iface}/operstate`, 'utf8').trim(), undefined),
    master: (iface) => unlessGone(() => basename(readlinkSync(`${root}/${iface}/master`)), undefined),
    exists: (iface) => unlessGone(() => (statSync(`${root}/${iface}`), true), false),
    mtu: (iface) => unlessGone(() => Number(readFileSync(`${root}/${iface}/mtu`, 'utf8')), undefined),
  };
}

export const sysClassNet: SysNet = sysNetAt();

/**
 * The link as it is now. "unknown" counts as up: drivers that do not report carrier say it and
 * pass frames. bridge: what --bridge asked for (none with the ring backend or without --bridge).
 */
export function readLink(sys: SysNet, iface: string, bridge: string | undefined, since: string): LinkStatus {
  const operstate = sys.operstate(iface);
  const state = operstate === undefined ? 'missing' : upState(operstate) ? 'up' : 'down';
  const master = operstate === undefined ? null : sys.master(iface) ?? null;
  const st: LinkStatus = { iface, state, operstate: operstate ?? '', master, ok: false, since };
  if (bridge !== undefined) {
    st.bridge = bridge;
    st.bridgeExists = sys.exists(bridge);
    if (master === bridge) st.bridgeOperstate = sys.operstate(bridge) ?? '';
  }
  st.ok = state === 'up' && (bridge === undefined || (master === bridge && upState(st.bridgeOperstate)));
  return st;
}

function upState(operstate: string | undefined): boolean {
  return operstate === 'up' || operstate === 'unknown';
}

/** The `uvsadm --status` line after "link ": `up, bridge br0`, `down`, `up, not in bridge br0 (br0 is gone)`, ... */
export function describeLink(st: LinkStatus): string {
  if (st.state === 'missing') return `missing (${st.iface} does not exist)`;
  let s = st.state;
  if (st.state === 'down' && st.operstate !== 'down') s += ` (${st.operstate})`;
  if (st.bridge === undefined) return st.master === null ? s : `${s}, bridge ${st.master}`;
  if (st.master === st.bridge) return `${s}, bridge ${st.bridge}${upState(st.bridgeOperstate) ? '' : ` (${st.bridge} is ${st.bridgeOperstate})`}`;
  const why = st.bridgeExists === false ? `${st.bridge} is gone` : st.master !== null ? `in ${st.master}` : '';
  return `${s}, not in bridge ${st.bridge}${why === '' ? '' : ` (${why})`}`;
}


export interface LinkWatchOptions {
  iface: string;
  bridge?: string;
  sys?: SysNet;
  log: WatchLog;
  /** Put iface back on bridge (SIOCBRADDIF); throws when refused. Absent: never re-enslaved. */
  enslave?: (iface: string, bridge: string) => void;
  /** Called when the link is back after a fault (uvsd announces its addresses again). */
  onBack?: () => void;
  /** uvsd --mtu, which sizes its frames: an interface MTU changed under uvsd is warned about. */
  mtu?: number;
  /**
   * The ring backend (--port, where --mtu does not apply): the interface's MTU at start, which
   * sized the ring's slots and uvsd's frames; an MTU raised above it is warned about (its longer
   * frames are dropped), one lowered is not (every frame it passes fits).
   */
  ringMtu?: number;
}

export class LinkWatch {
  private st: LinkStatus;
  private readonly sys: SysNet;
  /** The bridge was seen gone since the TAP was last in it: re-enslave once it exists again. A
   *  TAP taken out of a bridge that still exists (nomaster) was taken out on purpose: left alone. */
  private bridgeWasGone = false;
  /** No check yet: the kernel updates operstate up to a second after the TAP was set up. */
  private first = true;
  /** The interface's MTU at the last check (a change is logged once); --mtu (or the ring's) before the first. */
  private mtu: number | undefined;
  /** The last look failed (logged once, when it started). */
  private failing = false;

  constructor(private readonly o: LinkWatchOptions, now = Date.now()) {
    this.sys = o.sys ?? sysClassNet;
    this.mtu = o.mtu ?? o.ringMtu;
    this.st = readLink(this.sys, o.iface, o.bridge, new Date(now).toISOString());
  }

  /** The last state checked (status). */
  status(): LinkStatus {
    return this.st;
  }

  /** One look at the link (uvsd: every second). A look that fails (not "does not exist": out of
   *  file descriptors, say) keeps the last state, logged once until a look works again. */
  check(now = Date.now()): void {
    let next: LinkStatus;
    try {
      next = this.reenslave(readLink(this.sys, this.o.iface, this.o.bridge, this.st.since));
    } catch (e) {
      this.failed(e as Error);
      return;
    }
    if (this.failing) {
      this.o.log.info({ iface: this.o.iface }, `${this.o.iface} link check works again`);
      this.failing = false;
    }
    const changed = describeLink(next) !== describeLink(this.st);
    if (changed) next.since = new Date(now).toISOString();
    // The first check also reports a link already wrong at start (nothing logged it then); one
    // that came right since start is no news (the kernel sets operstate up to a second late).
    const prev = this.first ? undefined : this.st;
    this.first = false;
    this.st = next;
    if (prev === undefined ? !next.ok : changed) this.report(prev, next);
    try {
      this.checkMtu();
    } catch (e) {
      this.failed(e as Error);
    }
  }

  private failed(e: Error): void {
    if (!this.failing) this.o.log.warn({ iface: this.o.iface, err: e.message }, `${this.o.iface} link check failed (${e.message}); keeping its last state: ${describeLink(this.st)}`);
    this.failing = true;
  }

  /** `ip link set uvs0 mtu 9000` under uvsd: its receive slots and built frames keep --mtu's size
   *  (or, with --port, the ring's: its interface's MTU at start). */
  private checkMtu(): void {
    const { iface, mtu, ringMtu, log } = this.o;
    if (mtu === undefined) {
      if (ringMtu !== undefined) this.checkRingMtu(ringMtu);
      return;
    }
    const now = this.sys.mtu(iface);
    if (now === undefined || now === this.mtu) return;
    this.mtu = now;
    if (now !== mtu) {
      const fix = now <= MTU_MAX ? `restart it with --mtu ${now}, or set the mtu back` : `set the mtu back (--mtu is at most ${MTU_MAX})`;
      log.warn({ iface, mtu: now, configured: mtu }, `${iface} mtu is ${now}, uvsd's --mtu ${mtu}: uvsd sizes its frames from --mtu ` +
        `(longer frames, GSO super-segments aside, are dropped as frame_too_long); ${fix}`);
    } else log.info({ iface, mtu: now }, `${iface} mtu is ${mtu} again, as uvsd's --mtu`);
  }

  /** --port: `ip link set eth1 mtu 9000` under uvsd, whose ring slots and frames keep the MTU the
   *  interface had at start. Each change to an MTU above it is one warning; back within it, one info line. */
  private checkRingMtu(ringMtu: number): void {
    const { iface, log } = this.o;
    const now = this.sys.mtu(iface);
    if (now === undefined || now === this.mtu) return;
    const was = this.mtu;
    this.mtu = now;
    if (now > ringMtu) {
      // A restart sizes the ring from the interface's mtu, up to MTU_MAX (above it uvsd refuses to start).
      const fix = now <= MTU_MAX ? `restart uvsd, which sizes the ring from the interface's mtu, or set the mtu back to ${ringMtu} or less`
        : `set the mtu back to ${ringMtu} or less (uvsd carries at most ${MTU_MAX}: restarted with this mtu it would refuse to start)`;
      log.warn({ iface, mtu: now, ringMtu }, `${iface} mtu is ${now}, more than the ${ringMtu} uvsd sized its ring and frames for at start: ` +
        `longer frames are dropped (frame_too_long, or port_drop_too_long by the ring); ${fix}`);
    } else if (was !== undefined && was > ringMtu) {
      log.info({ iface, mtu: now, ringMtu }, `${iface} mtu is ${now} again, within the ${ringMtu} uvsd's ring carries`);
    }
  }

  /** One line per change: a warning while the link is wrong, info when it is right again. */
  private report(prev: LinkStatus | undefined, next: LinkStatus): void {
    const o = this.o;
    const is = describeLink(next);
    const fields = { iface: o.iface, operstate: next.operstate, master: next.master, bridge: o.bridge };
    if (!next.ok) o.log.warn(fields, `${o.iface} link fault: ${is}; no frame passes until it is back`);
    else if (prev !== undefined && !prev.ok) {
      o.log.info(fields, `${o.iface} link back: ${is}`);
      o.onBack?.();
    } else o.log.info(fields, `${o.iface} link: ${is}`);
  }

  /** The TAP out of a --bridge that was deleted and exists again: put it back (once per return). */
  private reenslave(st: LinkStatus): LinkStatus {
    const { iface, bridge, enslave, log } = this.o;
    if (bridge === undefined || st.state === 'missing') return st;
    if (st.master === bridge) this.bridgeWasGone = false;
    else if (st.bridgeExists === false) this.bridgeWasGone = true;
    else if (this.bridgeWasGone && enslave !== undefined) {
      this.bridgeWasGone = false;
      try {
        enslave(iface, bridge);
        log.info({ iface, bridge }, `${iface} put back on bridge ${bridge} (the bridge was deleted and exists again)`);
        return readLink(this.sys, iface, bridge, st.since);
      } catch (e) {
        const err = (e as Error).message;
        log.warn({ iface, bridge, err }, `cannot put ${iface} back on bridge ${bridge}: ${err}`);
      }
    }
    return st;
  }
}

/**
 * The other end of a veth in uvsd's namespace (its iflink names the peer's ifindex, and the peer's
 * iflink names ours); undefined for any other interface, or a peer in another namespace.
 */
export function vethPeer(iface: string, root = '/sys/class/net'): string | undefined {
  try {
    const num = (name: string, what: string): number => Number(readFileSync(`${root}/${name}/${what}`, 'utf8'));
    const own = num(iface, 'ifindex');
    const link = num(iface, 'iflink');
    if (link === own) return undefined;
    for (const name of readdirSync(root)) {
      if (name !== iface && num(name, 'ifindex') === link && num(name, 'iflink') === own) return name;
    }
  } catch {
    // gone meanwhile, or unreadable: no name to give
  }
  return undefined;
}

/**
 * The ring backend (--port af_packet:IFACE) is handed frames as the interface's receive path left
 * them, where a TAP gets whole, checksummed frames of the MTU: with checksum offload on the
 * sending side (a veth's peer: on by default) frames carry only a partial checksum, which the
 * ring completes (native/ring.cc; rx_csum_partial); with GRO/LRO on the interface, or TSO/GSO on
 * a veth's peer, segments arrive merged (rx_gso_frames), longer than the MTU and dropped
 * (port_drop_too_long, or frame_too_long). Each kind is one warning, the first time it is seen,
 * naming the interface and the ethtool command that stops it (docs/uvsd.md, the ring backend).
 */
export class RingOffloadWatch {
  private partialWarned = false;
  private mergedWarned = false;

  constructor(private readonly iface: string, private readonly log: WatchLog, private readonly peer: () => string | undefined = () => vethPeer(iface)) {}

  /** The counts so far: frames with a partial checksum, GRO super-frames, frames longer than a slot. */
  check(csumPartial: number, gso: number, tooLong: number): void {
    const { iface, log } = this;
    if (!this.partialWarned && csumPartial > 0) {
      this.partialWarned = true;
      const peer = this.peer();
      const where = peer === undefined ? `checksum offload where they are sent from, or GRO on ${iface}` : `checksum offload of ${iface}'s veth peer ${peer}`;
      const fix = peer === undefined ? `ethtool -K ${iface} gro off, and tx off on the interface that sends them` : `ethtool -K ${peer} tx off`;
      log.warn({ iface, peer, rx_csum_partial: csumPartial }, `${iface}: frames arrive with partial checksums (${where}): ` +
        `uvsd completes their IPv4 TCP and UDP checksums itself (rx_csum_partial); turn it off: ${fix}`);
    }
    if (!this.mergedWarned && (gso > 0 || tooLong > 0)) {
      this.mergedWarned = true;
      const peer = this.peer();
      const off = `ethtool -K ${iface} gro off${peer === undefined ? ' (and lro off on a NIC)' : `; ethtool -K ${peer} tso off gso off`}`;
      // Frames past a slot and none seen merged: a super-frame past the slot, or the MTU raised
      // under uvsd (its MTU warning); until 2026-12-07 this blamed GRO alone, offload off or not.
      log.warn({ iface, peer, rx_gso_frames: gso, port_drop_too_long: tooLong }, gso > 0
        ? `${iface}: frames merged by GRO or TSO/GSO arrive (rx_gso_frames ${gso}, port_drop_too_long ${tooLong}): longer than the MTU, they are dropped; turn it off: ${off}`
        : `${iface}: frames longer than the ring's slots arrive (rx_gso_frames 0, port_drop_too_long ${tooLong}), dropped: merged by GRO or TSO/GSO (turn it off: ${off}), or the MTU was raised under uvsd (restart it: its MTU warning)`);
    }
  }
}
