// BGP announcement of the VIPs through BIRD 2 (docs/scale-out.md). uvsd writes the routes it
// wants announced into a BIRD config include (a static protocol `uvs_vips`, one /32 per VIP with
// uvsd's own address as next hop), atomically, and tells BIRD to `configure` over its control
// socket. BIRD's BGP sessions export that protocol's routes to the routers; a route that leaves
// the file is withdrawn. Nothing here touches the datapath: the announcer only reads the control
// model (which VIPs have a server with a weight) and the director's drain state.

import { connect } from 'node:net';
import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { formatIp } from '../datapath/addr.js';
import type { Model } from '../control/model.js';
import type { BgpStatus } from '../control/protocol.js';

/** The static protocol's name in the include (the BGP export filter names it). */
export const BIRD_PROTOCOL = 'uvs_vips';
/** The Debian bird2 package's control socket. */
export const DEFAULT_BIRD_SOCKET = '/run/bird/bird.ctl';
/** A failed `configure` (BIRD down, socket missing) is tried again after this long. */
const RETRY_MS = 2000;
/** One control-socket exchange may take this long. */
const BIRD_TIMEOUT_MS = 5000;
/** While BIRD has the include, it is asked whether it still runs this often (a BIRD that died, or
 *  was restarted without reading it, shows as `error` in --status and uvs_bgp_up, not as `ok`). */
const WATCH_MS = 10_000;

export interface BirdOptions {
  /** The include file BIRD's config reads (`include "FILE";`). */
  include: string;
  /** BIRD's control socket (birdc -s). */
  socket: string;
  /** Next hop of the announced routes: an address uvsd owns on the routers' segment (its --addr). */
  nextHop: number;
  log?: { info(o: object, msg: string): void; warn(o: object, msg: string): void };
  /** How often BIRD's liveness is checked while nothing changes (default WATCH_MS; tests: less). */
  watchMs?: number;
}

/**
 * The VIPs to announce: every VIP with at least one service that has a server of weight > 0
 * (several services may share one VIP: the /32 goes while any of them can take a connection;
 * a -f service's VIPs are the addresses its mark rules name), none while the director drains.
 * Sorted by address, so the include is the same for the same table.
 */
export function wantedVips(model: Model, draining: boolean): number[] {
  if (draining) return [];
  const vips = new Set<number>();
  for (const s of model.services.values()) {
    if (!s.dests.some((d) => d.weight > 0)) continue;
    if (s.fwmark === 0) vips.add(s.vip >>> 0);
    else for (const k of model.marks) if (k.fwmark === s.fwmark) vips.add(k.vip >>> 0);
  }
  return [...vips].sort((a, b) => a - b);
}

/** The include's text for these VIPs (uint32). */
export function includeText(vips: readonly number[], nextHop: number): string {
  const routes = vips.map((v) => `  route ${formatIp(v)}/32 via ${formatIp(nextHop)};\n`).join('');
  return `# Written by uvsd (--bgp-include) on every change of what it announces; do not edit.\n` +
    `# A VIP is here while one of its services has a server with weight > 0 and the director is not draining.\n` +
    `protocol static ${BIRD_PROTOCOL} {\n  ipv4;\n${routes}}\n`;
}

/**
 * One request on BIRD's control socket: read the greeting, send the command, collect the reply
 * up to its last line (`DDDD text`: a code followed by a space). Codes below 8000 are success.
 */
export function birdCommand(socket: string, command: string, timeoutMs = BIRD_TIMEOUT_MS): Promise<{ code: number; text: string }> {
  return new Promise((resolve, reject) => {
    const s = connect(socket);
    let buf = '';
    let greeted = false;
    const lines: string[] = [];
    const done = (err: Error | null, r?: { code: number; text: string }) => {
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
        if (m !== null && m[2] === ' ') return done(null, { code: Number(m[1]), text: lines.join('; ') });
      }
    });
  });
}

/**
 * Keeps BIRD's include in step with the table: `update()` after every change (coalesced, one
 * configure in flight at a time, retried while BIRD is unreachable).
 */
export class BirdAnnouncer {
  private readonly o: BirdOptions;
  private written = '';
  /** The text BIRD last configured successfully. */
  private configured = '';
  private want: number[] = [];
  private busy = false;
  private again = false;
  private retry: NodeJS.Timeout | undefined;
  private last = 'not configured yet';
  private failed = false;
  private configures = 0;
  private stopped = false;
  private readonly watch: NodeJS.Timeout;

  constructor(o: BirdOptions) {
    this.o = o;
    this.watch = setInterval(() => void this.alive(), o.watchMs ?? WATCH_MS);
    this.watch.unref();
  }

  /**
   * BIRD still answers while it has the include (nothing to configure): `show status`. Gone, it
   * is an error, and the include is configured again (retried every RETRY_MS) once it answers.
   */
  private async alive(): Promise<void> {
    if (this.busy || this.failed || this.stopped || this.configured === '') return;
    try {
      await birdCommand(this.o.socket, 'show status');
    } catch (e) {
      if (this.busy || this.stopped) return;
      this.configured = '';
      this.fail((e as Error).message);
    }
  }

  /** The last write, configure or check failed: say so once (not at every retry), and try again in RETRY_MS. */
  private fail(why: string): void {
    if (!this.failed) this.o.log?.warn({ error: why }, `bgp: not announcing as wanted; trying again every ${RETRY_MS / 1000} s`);
    this.last = why;
    this.failed = true;
    if (!this.stopped && this.retry === undefined) {
      this.retry = setTimeout(() => {
        this.retry = undefined;
        this.update(this.want);
      }, RETRY_MS);
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

  /** Atomic: BIRD never reads half a file. Throws (its directory gone, a full disk, a read-only /etc). */
  private write(text: string): void {
    const tmp = `${this.o.include}.tmp`;
    try {
      writeFileSync(tmp, text);
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
        const text = includeText(this.want, this.o.nextHop);
        try {
          if (text !== this.written) this.write(text);
          if (text === this.configured) continue;
          const r = await birdCommand(this.o.socket, 'configure');
          this.last = r.text;
          if (r.code >= 8000) throw new Error(`BIRD refused the configuration: ${r.text}`);
          this.configured = text;
          this.failed = false;
          this.configures++;
          this.o.log?.info({ announced: this.want.map(formatIp), bird: r.text }, 'bgp: BIRD configured');
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
    await Promise.race([this.sync(), new Promise((r) => setTimeout(r, timeoutMs))]);
  }

  status(): BgpStatus {
    const pending = this.busy || this.written !== this.configured;
    return {
      include: this.o.include,
      socket: this.o.socket,
      nextHop: formatIp(this.o.nextHop),
      announced: this.want.map(formatIp),
      state: this.failed ? 'error' : pending ? 'pending' : 'ok',
      last: this.last,
      configures: this.configures,
    };
  }
}
