// BGP announcement of the VIPs through BIRD 2 (docs/scale-out.md). uvsd writes the routes it
// wants announced into a BIRD config include (a static protocol `uvs_vips`, one /32 per VIP with
// uvsd's own address as next hop), atomically, and tells BIRD to `configure` over its control
// socket. BIRD's BGP sessions export that protocol's routes to the routers; a route that leaves
// the file is withdrawn. After each configure, and every --bgp-watch seconds while nothing changes, uvsd asks
// BIRD what it really runs (`show protocols`, `show route protocol uvs_vips [export NAME] count`):
// a config that does not include the file, routes BIRD could not install, or no Established BGP
// session exporting them is not `ok`. Nothing here touches the datapath: the announcer only reads
// the control model (which VIPs have a server with a weight) and what uvsd passes it (drain, HA
// role, first health checks).

import { connect } from 'node:net';
import { closeSync, openSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { formatIp } from '../datapath/addr.js';
import type { Model, ServiceModel } from '../control/model.js';
import { bgpSessionText, type BgpSession, type BgpStatus } from '../control/protocol.js';
import { CREATE_NEW, readSmallFile, removeStale } from '../control/trust.js';
import { DEFAULT_BGP_WATCH_S } from '../defaults.js';
import { within } from '../timers.js';

/** The static protocol's name in the include (the BGP export filter names it). */
export const BIRD_PROTOCOL = 'uvs_vips';
/** A failed `configure` (BIRD down, socket missing) is tried again after this long. */
const RETRY_MS = 2000;
/** One control-socket exchange may take this long. */
const BIRD_TIMEOUT_MS = 5000;
/** BIRD's control socket, and how often BIRD is asked what it runs (uvsd --bgp-bird-socket, --bgp-watch): src/defaults.ts. */
export { BGP_WATCH_MAX_S, DEFAULT_BGP_WATCH_S, DEFAULT_BIRD_SOCKET } from '../defaults.js';

export interface BirdOptions {
  /** The include file BIRD's config reads (`include "FILE";`). */
  include: string;
  /** BIRD's control socket (birdc -s). */
  socket: string;
  /** Next hop of the announced routes: an address uvsd owns on the routers' segment (its --addr). */
  nextHop: number;
  log?: { info(o: object, msg: string): void; warn(o: object, msg: string): void };
  /** How often BIRD's liveness is checked while nothing changes, ms (default DEFAULT_BGP_WATCH_S). */
  watchMs?: number;
  /** How long after a failed write, configure or check it is tried again, ms (default RETRY_MS). */
  retryMs?: number;
}

/** What besides the table decides what is announced. */
export interface AnnounceState {
  /** uvsadm --drain: nothing is announced. */
  draining: boolean;
  /** Does the director hold this VIP (uint32) in its HA role? A backup (of the VIP's HA group) drops its traffic. */
  holds(vip: number): boolean;
  /** A health-checked service whose first checks have not all given a verdict (HealthManager.awaitingFirstChecks): its weights say nothing yet. */
  awaitingChecks?(s: ServiceModel): boolean;
}

/**
 * The VIPs to announce: every VIP the director holds (master of its HA group) with at least one
 * service that has a server of weight > 0 and is not awaiting its first health checks (several
 * services may share one VIP: the /32 goes while any of them can take a connection; a -f
 * service's VIPs are the addresses its mark rules name), none while the director drains.
 * Sorted by address, so the include is the same for the same table.
 */
export function wantedVips(model: Model, st: AnnounceState): number[] {
  if (st.draining) return [];
  const vips = new Set<number>();
  for (const s of model.services.values()) {
    if (!s.dests.some((d) => d.weight > 0) || st.awaitingChecks?.(s) === true) continue;
    if (s.fwmark === 0) vips.add(s.vip >>> 0);
    else for (const k of model.marks) if (k.fwmark === s.fwmark) vips.add(k.vip >>> 0);
  }
  return [...vips].filter((v) => st.holds(v)).sort((a, b) => a - b);
}

/** The include's text for these VIPs (uint32). */
export function includeText(vips: readonly number[], nextHop: number): string {
  const routes = vips.map((v) => `  route ${formatIp(v)}/32 via ${formatIp(nextHop)};\n`).join('');
  return `# Written by uvsd (--bgp-include) on every change of what it announces; do not edit.\n` +
    `# A VIP is here while one of its services has a server with weight > 0, the director is master of it and not draining.\n` +
    `protocol static ${BIRD_PROTOCOL} {\n  ipv4;\n${routes}}\n`;
}

/** BIRD's answer: the last line's code, the lines (codes and continuation marks taken off) joined by "; ", and one by one. */
export interface BirdReply {
  code: number;
  text: string;
  lines: string[];
}

/**
 * One request on BIRD's control socket: read the greeting, send the command, collect the reply
 * up to its last line (`DDDD text`: a code followed by a space). Codes below 8000 are success.
 */
export function birdCommand(socket: string, command: string, timeoutMs = BIRD_TIMEOUT_MS): Promise<BirdReply> {
  return new Promise((resolve, reject) => {
    const s = connect(socket);
    let buf = '';
    let greeted = false;
    const lines: string[] = [];
    const done = (err: Error | null, r?: BirdReply) => {
      clearTimeout(timer);
      s.destroy();
      if (err) reject(err);
      else resolve(r!);
    };
    const timer = setTimeout(() => done(new Error(`no answer from BIRD at ${socket} within ${timeoutMs} ms`)), timeoutMs);
    s.setEncoding('utf8');
    s.on('error', (e) => done(new Error(`BIRD control socket ${socket}: ${e.message}`)));
    s.on('close', () => done(new Error(`BIRD closed its control socket ${socket} before answering`)));
    s.on('data', (chunk: string) => {
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const m = /^(\d{4})([ -])(.*)$/.exec(line);
        if (!greeted) {
          // "0001 BIRD 2.0.12 ready."
          if (m === null || m[1] !== '0001') return done(new Error(`unexpected greeting from BIRD: ${JSON.stringify(line)}`));
          greeted = true;
          s.write(`${command}\n`);
          continue;
        }
        lines.push(m === null ? line.trim() : m[3]);
        if (m !== null && m[2] === ' ') return done(null, { code: Number(m[1]), text: lines.filter((l) => l !== '').join('; '), lines });
      }
    });
  });
}

/**
 * `show protocols`: one row per protocol, "name proto table state since info" (since is one or
 * two words, after BIRD's timeformat); the header row is left out.
 */
export function parseProtocols(lines: readonly string[]): Array<{ name: string; proto: string; state: string; info: string }> {
  const rows = [];
  for (const l of lines) {
    const f = l.split(/\s+/);
    if (f.length < 4 || (f[0] === 'Name' && f[1] === 'Proto')) continue;
    let i = 5; // since's second word: a time after a date
    if (f[i] !== undefined && /^\d{1,2}:\d{2}/.test(f[i]!) && /^\d{4}-\d{2}-\d{2}$/.test(f[4] ?? '')) i++;
    rows.push({ name: f[0]!, proto: f[1]!, state: f[3]!, info: f.slice(i).join(' ') });
  }
  return rows;
}

/** `show route ... count`: "2 of 2 routes for 2 networks in table master4", a line per table; the routes summed. */
export function parseRouteCount(lines: readonly string[]): number | undefined {
  let n: number | undefined;
  for (const l of lines) {
    const m = /^(\d+) of \d+ routes/.exec(l);
    if (m !== null) n = (n ?? 0) + Number(m[1]);
  }
  return n;
}

const routesText = (n: number): string => `${n} route${n === 1 ? '' : 's'}`;

/**
 * Keeps BIRD's include in step with the table: `update()` after every change (coalesced, one
 * configure in flight at a time, retried while BIRD is unreachable).
 */
export class BirdAnnouncer {
  private readonly o: BirdOptions;
  private written = '';
  /** The text BIRD last configured successfully, and its number of routes. */
  private configured = '';
  private configuredRoutes = 0;
  private want: number[] = [];
  private busy = false;
  private again = false;
  private retry: NodeJS.Timeout | undefined;
  private last = 'not configured yet';
  private failed = false;
  private configures = 0;
  /** What BIRD ran at the last check: routes of uvs_vips, its BGP protocols (undefined: not checked yet). */
  private routes: number | undefined;
  private sessions: BgpSession[] = [];
  private stopped = false;
  /** A liveness check runs (a slow BIRD can take longer than the watch interval: one at a time). */
  private checking = false;
  private readonly watch: NodeJS.Timeout;

  constructor(o: BirdOptions) {
    this.o = o;
    this.watch = setInterval(() => void this.alive(), o.watchMs ?? DEFAULT_BGP_WATCH_S * 1000);
    this.watch.unref();
  }

  /**
   * While BIRD has the include (nothing to configure): the include on disk is still uvsd's (else
   * written again), and BIRD still runs it and its sessions (check()). A failed check is an
   * error, and the include is configured again (retried every retryMs) once BIRD has it.
   */
  private async alive(): Promise<void> {
    if (this.checking || this.busy || this.failed || this.stopped || this.configured === '') return;
    let onDisk = '';
    try {
      // Not readFileSync: BIRD's user may own the include's directory (trust.ts), and a FIFO put
      // at the path held uvsd's loop until written to, a link to /dev/zero filled its memory.
      // Only a regular file, not through a link, no longer than what uvsd wrote, is read.
      onDisk = readSmallFile(this.o.include, Buffer.byteLength(this.written), true).data.toString('utf8');
    } catch {
      // gone, or not the file uvsd wrote: written again below
    }
    if (onDisk !== this.written) {
      this.written = '';
      this.update(this.want);
      return;
    }
    this.checking = true;
    try {
      await this.check(this.configuredRoutes);
    } catch (e) {
      if (this.busy || this.stopped) return;
      this.configured = '';
      this.fail((e as Error).message);
    } finally {
      this.checking = false;
    }
  }

  /**
   * What BIRD runs: the include's protocol up with its `routes` routes (a bird.conf without the
   * include, or a next hop BIRD cannot reach, throws), and its BGP sessions with what each
   * Established one exports of them (none exporting them all: state `down`, logged when it changes).
   */
  private async check(routes: number): Promise<void> {
    const ask = async (cmd: string): Promise<string[]> => {
      const r = await birdCommand(this.o.socket, cmd);
      if (r.code >= 8000) throw new Error(`BIRD refused "${cmd}": ${r.text}`);
      return r.lines;
    };
    const rows = parseProtocols(await ask('show protocols'));
    const mine = rows.find((r) => r.name === BIRD_PROTOCOL);
    if (mine === undefined) {
      throw new Error(`BIRD runs no protocol ${BIRD_PROTOCOL}: its configuration does not include ${this.o.include} (include "${this.o.include}"; in bird.conf)`);
    }
    if (mine.state !== 'up') throw new Error(`BIRD's protocol ${BIRD_PROTOCOL} is ${mine.state}${mine.info === '' ? '' : ` (${mine.info})`}`);
    const have = parseRouteCount(await ask(`show route protocol ${BIRD_PROTOCOL} count`)) ?? 0;
    if (have !== routes) {
      throw new Error(`BIRD has ${have} of the ${routes} routes of ${this.o.include}: is the next hop ${formatIp(this.o.nextHop)} on a network of BIRD's (protocol device; an address of this host on it)?`);
    }
    const sessions: BgpSession[] = [];
    for (const r of rows) {
      if (r.proto !== 'BGP') continue;
      const b: BgpSession = { name: r.name, state: r.state, info: r.info };
      // What its export filter lets out of the include (bird.conf: `export where proto = "uvs_vips"`).
      if (r.state === 'up') b.exported = parseRouteCount(await ask(`show route protocol ${BIRD_PROTOCOL} export ${r.name} count`)) ?? 0;
      sessions.push(b);
    }
    const was = this.routes === undefined || this.announcing();
    this.routes = have;
    this.sessions = sessions;
    const by = sessions.filter((b) => b.state === 'up' && b.exported === have).map((b) => b.name);
    this.last = by.length > 0
      ? `BIRD runs ${BIRD_PROTOCOL} with its ${routesText(have)}, exported by ${by.join(', ')}`
      : `BIRD runs ${BIRD_PROTOCOL} with its ${routesText(have)} but no Established BGP session exports them: ` +
        `${sessions.length === 0 ? 'no BGP protocol' : sessions.map(bgpSessionText).join('; ')}`;
    if (was && by.length === 0) this.o.log?.warn({}, `bgp: ${this.last}`);
    else if (!was && by.length > 0) this.o.log?.info({}, `bgp: announcing again: ${this.last}`);
  }

  /** An Established session exports every route of the include (BIRD announces them). */
  private announcing(): boolean {
    return this.sessions.some((b) => b.state === 'up' && b.exported === this.routes);
  }

  /** The last write, configure or check failed: say so once (not at every retry), and try again in retryMs (RETRY_MS). */
  private fail(why: string): void {
    const retryMs = this.o.retryMs ?? RETRY_MS;
    if (!this.failed) this.o.log?.warn({ error: why }, `bgp: not announcing as wanted; trying again every ${retryMs / 1000} s`);
    this.last = why;
    this.failed = true;
    if (!this.stopped && this.retry === undefined) {
      this.retry = setTimeout(() => {
        this.retry = undefined;
        this.update(this.want);
      }, retryMs);
      this.retry.unref();
    }
  }

  /**
   * At start: an include without routes, so BIRD can start (its config reads the file) before
   * uvsd announces anything. BIRD is not told: what it runs with stays until the first update().
   */
  writeEmpty(): void {
    this.write(includeText([], this.o.nextHop));
  }

  /**
   * Atomic: BIRD never reads half a file. Throws (its directory gone, a full disk, a read-only
   * /etc). FILE.tmp is made anew (one that is there removed): never written through a link
   * another user put there.
   */
  private write(text: string): void {
    const tmp = `${this.o.include}.tmp`;
    try {
      removeStale(tmp);
      const fd = openSync(tmp, CREATE_NEW, 0o644); // BIRD may run as its own user
      try {
        writeFileSync(fd, text);
      } finally {
        closeSync(fd);
      }
      renameSync(tmp, this.o.include);
    } catch (e) {
      rmSync(tmp, { force: true }); // a partly written one (ENOSPC); nothing when its directory is gone
      throw new Error(`cannot write the include ${this.o.include}: ${(e as Error).message}`);
    }
    this.written = text;
  }

  /** Announce exactly these VIPs (uint32). Returns at once; the configure runs in the background. */
  update(vips: readonly number[]): void {
    if (this.stopped) return;
    this.want = [...vips];
    if (this.busy) {
      this.again = true;
      return;
    }
    void this.sync();
  }

  /** Resolves once BIRD has the current include (or the attempt failed). */
  async sync(): Promise<boolean> {
    this.busy = true;
    try {
      do {
        this.again = false;
        const vips = this.want;
        const text = includeText(vips, this.o.nextHop);
        try {
          if (text !== this.written) this.write(text);
          if (text === this.configured) continue;
          const r = await birdCommand(this.o.socket, 'configure');
          if (r.code >= 8000) throw new Error(`BIRD refused the configuration: ${r.text}`);
          this.configures++;
          await this.check(vips.length);
          this.configured = text;
          this.configuredRoutes = vips.length;
          this.failed = false;
          this.o.log?.info({ announced: vips.map(formatIp), bird: r.text }, 'bgp: BIRD configured');
        } catch (e) {
          this.fail((e as Error).message);
          return false;
        }
      } while (this.again);
      return true;
    } finally {
      this.busy = false;
    }
  }

  /** Withdraw everything (uvsd stopping): an empty include, configured, bounded in time. */
  async withdrawAll(timeoutMs = 3000): Promise<void> {
    this.stopped = true;
    clearInterval(this.watch);
    if (this.retry !== undefined) clearTimeout(this.retry);
    this.want = [];
    while (this.busy) await new Promise((r) => setTimeout(r, 20));
    // within(): the bound's timer goes once BIRD answered (it kept the loop alive for the rest of timeoutMs).
    await within(this.sync(), timeoutMs, undefined);
  }

  /**
   * undefined once BIRD has confirmed that it withdrew every route (it configured an include
   * without routes and runs uvs_vips with none): what a drain waits for before `drained`.
   * Otherwise why not.
   */
  unconfirmedWithdrawal(): string | undefined {
    if (this.failed) return this.last;
    // Still in the include BIRD runs (the drain's own reply comes before uvsd writes the empty one).
    if (this.want.length > 0) return `${routesText(this.want.length)} still announced by BIRD`;
    if (this.busy || this.written !== this.configured || this.routes !== 0) return 'BIRD is being configured';
    return undefined;
  }

  status(): BgpStatus {
    const pending = this.busy || this.written !== this.configured;
    return {
      include: this.o.include,
      socket: this.o.socket,
      nextHop: formatIp(this.o.nextHop),
      announced: this.want.map(formatIp),
      state: this.failed ? 'error' : pending ? 'pending' : this.announcing() ? 'ok' : 'down',
      last: this.last,
      configures: this.configures,
      routes: this.routes ?? null,
      sessions: this.sessions,
      established: this.sessions.filter((b) => b.state === 'up').length,
    };
  }
}
