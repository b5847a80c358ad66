// The health checker: keepalived's real-server state machine, driving the table only through the
// control verbs (addService, addDest, editDest, deleteDest). Checks run on timers, off the packet
// path, at most `concurrency` at a time; every state change is logged once, with its reason.
//
// Per checker (keepalived semantics, plus rise/fall):
//   up:   an attempt fails -> retry after delay_before_retry, up to `retry` more times; when all
//         attempts of `fall` consecutive checks failed the checker goes down.
//   down: an attempt every delay_loop; `rise` consecutive passes bring it up.
// A real server is alive while all its checkers are up. Failed: deleteDest, or weight 0 with
// inhibit_on_failure (its connections then continue). Alive again: back with its weight.
// Per virtual server: quorum = minimum total weight of alive servers; the service goes down when
// the alive weight drops below quorum - hysteresis (quorum_down runs, sorry_server is added) and
// up again at quorum + hysteresis (quorum_up runs, sorry_server removed).

import type { CheckResult, CheckSpec, HealthConfig, HealthEntry, HealthState, RealServerSpec, VirtualServerSpec } from './types.js';
import type { RunCheck } from './checkers/index.js';

export interface HealthClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realClock: HealthClock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

export interface HealthLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface HealthDeps {
  /** The control verbs (Control.call); may return a value or a promise; throws/rejects on refusal. */
  call(verb: string, args: unknown): unknown;
  /** One check attempt; must not reject. */
  run: RunCheck;
  /** Run a configured command (notify, quorum); resolves when it ended. */
  exec(command: string): Promise<void>;
  log: HealthLog;
  clock?: HealthClock;
  /** At most this many checks in flight (default 64). */
  concurrency?: number;
  /** 0..1, spreads the first checks over one delay_loop (default Math.random). */
  random?: () => number;
}

interface CheckerState {
  spec: CheckSpec;
  rs: RsState;
  up: boolean;
  fails: number;
  oks: number;
  timer: unknown;
}

interface RsState {
  vs: VsState;
  spec: RealServerSpec;
  checkers: CheckerState[];
  alive: boolean;
  reason: string;
  since: number;
  dynWeight: number | undefined;
  /** What the table holds for this server: nothing, its weight, or weight 0 (inhibited). */
  present: 'none' | 'weight' | 'zero';
}

interface VsState {
  spec: VirtualServerSpec;
  key: { proto: VirtualServerSpec['proto']; addr: string; port: number };
  rs: RsState[];
  quorumUp: boolean;
  sorryIn: boolean;
}

function where(o: { origin?: { file: string; line: number } } | undefined): string {
  return o?.origin ? `${o.origin.file}:${o.origin.line}: ` : '';
}

function rsName(rs: RsState): string {
  return `${rs.spec.addr}:${rs.spec.port}`;
}

function vsName(vs: VsState): string {
  return `${vs.key.proto.toUpperCase()} ${vs.key.addr}:${vs.key.port}`;
}

export class HealthManager {
  private readonly vss: VsState[];
  private readonly byKey = new Map<string, RsState>();
  private readonly clock: HealthClock;
  private readonly concurrency: number;
  private readonly queue: CheckerState[] = [];
  private inflight = 0;
  private stopped = false;
  private started = false;
  /** Table changes and commands run one after the other, in the order decided. */
  private chain: Promise<void> = Promise.resolve();
  /** Checks run since start (for tests and the load measurement). */
  attempts = 0;

  constructor(
    config: HealthConfig,
    private readonly deps: HealthDeps,
  ) {
    this.clock = deps.clock ?? realClock;
    this.concurrency = Math.max(1, deps.concurrency ?? 64);
    this.vss = config.services.map((spec) => {
      const vs: VsState = { spec, key: { proto: spec.proto, addr: spec.addr, port: spec.port }, rs: [], quorumUp: true, sorryIn: false };
      for (const r of spec.realServers) {
        // alpha starts servers as failed; one without any checker is never failed (keepalived).
        const failed = spec.alpha && r.checkers.length > 0;
        const rs: RsState = { vs, spec: r, checkers: [], alive: !failed, reason: failed ? 'alpha: starts as failed' : 'start', since: 0, dynWeight: undefined, present: 'none' };
        rs.checkers = r.checkers.map((c) => ({ spec: c, rs, up: !spec.alpha, fails: 0, oks: 0, timer: undefined }));
        vs.rs.push(rs);
        this.byKey.set(this.key(vs.key.proto, vs.key.addr, vs.key.port, r.addr, r.port), rs);
      }
      return vs;
    });
  }

  private key(proto: string, vip: string, vport: number, rip: string, rport: number): string {
    return `${proto} ${vip}:${vport} ${rip}:${rport}`;
  }

  private weightOf(rs: RsState): number {
    return rs.dynWeight ?? rs.spec.weight;
  }

  private destArgs(vs: VsState, addr: string, port: number, weight?: number): Record<string, unknown> {
    const a: Record<string, unknown> = { service: vs.key, addr, port };
    if (weight !== undefined) a.weight = weight;
    return a;
  }

  /**
   * Put the configured services in the table and start checking. A refused verb undoes what
   * this call added and throws "file:line: message"; nothing is left half applied.
   */
  async start(): Promise<void> {
    if (this.started) throw new Error('health manager already started');
    this.started = true;
    const now = this.clock.now();
    const added: VsState[] = [];
    try {
      for (const vs of this.vss) {
        await this.mustCall(vs.spec, 'addService', { ...vs.key, sched: vs.spec.sched, persist: vs.spec.persistence });
        added.push(vs);
        for (const rs of vs.rs) {
          rs.since = now;
          if (rs.alive) {
            await this.mustCall(rs.spec, 'addDest', { ...this.destArgs(vs, rs.spec.addr, rs.spec.port, rs.spec.weight), fwd: vs.spec.fwd });
            rs.present = 'weight';
          } else if (rs.spec.inhibitOnFailure) {
            await this.mustCall(rs.spec, 'addDest', { ...this.destArgs(vs, rs.spec.addr, rs.spec.port, 0), fwd: vs.spec.fwd });
            rs.present = 'zero';
          }
        }
        vs.quorumUp = this.aliveWeight(vs) >= vs.spec.quorum;
        if (!vs.quorumUp && vs.spec.sorryServer) {
          const s = vs.spec.sorryServer;
          await this.mustCall(vs.spec, 'addDest', { ...this.destArgs(vs, s.addr, s.port, 1), fwd: vs.spec.fwd });
          vs.sorryIn = true;
        }
      }
    } catch (e) {
      for (const vs of added.reverse()) {
        try {
          await this.deps.call('deleteService', vs.key);
        } catch {
          // best effort: it was ours a moment ago
        }
      }
      this.stopped = true;
      throw e;
    }
    for (const vs of this.vss) {
      this.deps.log.info({ service: vsName(vs), servers: vs.rs.length, quorum: vs.quorumUp ? 'up' : 'down', alpha: vs.spec.alpha }, 'health: service configured');
      for (const rs of vs.rs) {
        for (const c of rs.checkers) this.schedule(c, Math.floor((this.deps.random ?? Math.random)() * c.spec.delayLoopMs));
      }
    }
  }

  private async mustCall(o: { origin?: { file: string; line: number } }, verb: string, args: unknown): Promise<void> {
    try {
      await this.deps.call(verb, args);
    } catch (e) {
      throw new Error(`${where(o)}${(e as Error).message}`);
    }
  }

  /** Stop checking; with omega, run quorum_down and notify_down commands as at a failure. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const vs of this.vss) for (const rs of vs.rs) for (const c of rs.checkers) this.clearTimer(c);
    this.queue.length = 0;
    await this.chain;
    for (const vs of this.vss) {
      if (!vs.spec.omega) continue;
      for (const rs of vs.rs) if (rs.alive && rs.spec.notifyDown) await this.deps.exec(rs.spec.notifyDown);
      if (vs.quorumUp && vs.spec.quorumDown) {
        this.deps.log.info({ service: vsName(vs) }, 'health: omega: running quorum_down at shutdown');
        await this.deps.exec(vs.spec.quorumDown);
      }
    }
  }

  private clearTimer(c: CheckerState): void {
    if (c.timer !== undefined) this.clock.clearTimeout(c.timer);
    c.timer = undefined;
  }

  private schedule(c: CheckerState, ms: number): void {
    if (this.stopped) return;
    this.clearTimer(c);
    c.timer = this.clock.setTimeout(() => {
      c.timer = undefined;
      this.enqueue(c);
    }, ms);
  }

  private enqueue(c: CheckerState): void {
    if (this.stopped) return;
    if (this.inflight < this.concurrency) this.launch(c);
    else this.queue.push(c);
  }

  private launch(c: CheckerState): void {
    this.inflight++;
    this.attempts++;
    const done = (r: CheckResult): void => {
      this.inflight--;
      this.onResult(c, r);
      const next = this.queue.shift();
      if (next !== undefined && !this.stopped) this.launch(next);
    };
    let p: Promise<CheckResult>;
    try {
      p = this.deps.run(c.spec, { addr: c.rs.spec.addr, port: c.rs.spec.port });
    } catch (e) {
      p = Promise.resolve({ ok: false, reason: `checker failed: ${(e as Error).message}` });
    }
    p.then(done, (e: unknown) => done({ ok: false, reason: `checker failed: ${(e as Error)?.message ?? String(e)}` }));
  }

  private onResult(c: CheckerState, r: CheckResult): void {
    if (this.stopped) return;
    const s = c.spec;
    let next = s.delayLoopMs;
    if (r.ok) {
      c.fails = 0;
      if (!c.up && ++c.oks >= s.rise) {
        c.up = true;
        c.oks = 0;
      }
    } else {
      c.oks = 0;
      if (c.up) {
        c.fails++;
        if (c.fails >= (s.retry + 1) * s.fall) {
          c.up = false;
          c.fails = 0;
        } else if (c.fails % (s.retry + 1) !== 0) {
          next = s.delayBeforeRetryMs;
        }
      }
    }
    const rs = c.rs;
    const weight = r.ok ? r.weight : undefined;
    this.chain = this.chain.then(() => this.evaluate(rs, `${s.type}: ${r.reason}`, weight));
    this.schedule(c, next);
  }

  private async evaluate(rs: RsState, reason: string, dynWeight: number | undefined): Promise<void> {
    if (this.stopped) return;
    const vs = rs.vs;
    const alive = rs.checkers.every((c) => c.up);
    const oldWeight = this.weightOf(rs);
    if (dynWeight !== undefined) rs.dynWeight = dynWeight;
    if (alive === rs.alive) {
      if (alive && this.weightOf(rs) !== oldWeight && rs.present === 'weight') {
        this.deps.log.info({ service: vsName(vs), server: rsName(rs), weight: this.weightOf(rs), reason }, 'health: weight changed (misc_dynamic)');
        await this.tryCall('editDest', this.destArgs(vs, rs.spec.addr, rs.spec.port, this.weightOf(rs)));
        await this.updateQuorum(vs);
      }
      return;
    }
    rs.alive = alive;
    rs.reason = reason;
    rs.since = this.clock.now();
    const action = alive ? (rs.present === 'zero' ? 'weight restored' : 'added') : rs.spec.inhibitOnFailure ? 'weight set to 0 (inhibit_on_failure)' : 'removed';
    this.deps.log[alive ? 'info' : 'warn']({ service: vsName(vs), server: rsName(rs), state: alive ? 'up' : 'down', action, reason }, `health: real server ${alive ? 'up' : 'down'}`);
    const { addr, port } = rs.spec;
    if (alive) {
      const w = this.weightOf(rs);
      if (rs.present === 'none') await this.tryCall('addDest', { ...this.destArgs(vs, addr, port, w), fwd: vs.spec.fwd });
      else await this.tryCall('editDest', this.destArgs(vs, addr, port, w));
      rs.present = 'weight';
      if (rs.spec.notifyUp) this.spawn(rs.spec.notifyUp);
    } else {
      if (rs.spec.inhibitOnFailure) {
        if (rs.present === 'none') await this.tryCall('addDest', { ...this.destArgs(vs, addr, port, 0), fwd: vs.spec.fwd });
        else await this.tryCall('editDest', this.destArgs(vs, addr, port, 0));
        rs.present = 'zero';
      } else if (rs.present !== 'none') {
        await this.tryCall('deleteDest', this.destArgs(vs, addr, port));
        rs.present = 'none';
      }
      if (rs.spec.notifyDown) this.spawn(rs.spec.notifyDown);
    }
    await this.updateQuorum(vs);
  }

  private aliveWeight(vs: VsState): number {
    let w = 0;
    for (const rs of vs.rs) if (rs.alive) w += this.weightOf(rs);
    return w;
  }

  private async updateQuorum(vs: VsState): Promise<void> {
    const w = this.aliveWeight(vs);
    const { quorum, hysteresis, sorryServer } = vs.spec;
    if (vs.quorumUp && w < quorum - hysteresis) {
      vs.quorumUp = false;
      this.deps.log.warn({ service: vsName(vs), aliveWeight: w, quorum, hysteresis, sorryServer: sorryServer ? `${sorryServer.addr}:${sorryServer.port}` : undefined }, 'health: quorum lost');
      if (vs.spec.quorumDown) this.spawn(vs.spec.quorumDown);
      if (sorryServer && !vs.sorryIn) {
        await this.tryCall('addDest', { ...this.destArgs(vs, sorryServer.addr, sorryServer.port, 1), fwd: vs.spec.fwd });
        vs.sorryIn = true;
      }
    } else if (!vs.quorumUp && w >= quorum + hysteresis) {
      vs.quorumUp = true;
      this.deps.log.info({ service: vsName(vs), aliveWeight: w, quorum, hysteresis }, 'health: quorum gained');
      if (vs.spec.quorumUp) this.spawn(vs.spec.quorumUp);
      if (sorryServer && vs.sorryIn) {
        await this.tryCall('deleteDest', this.destArgs(vs, sorryServer.addr, sorryServer.port));
        vs.sorryIn = false;
      }
    }
  }

  private async tryCall(verb: string, args: unknown): Promise<void> {
    try {
      await this.deps.call(verb, args);
    } catch (e) {
      // E.g. an operator deleted the service by hand: say so, keep checking.
      this.deps.log.warn({ verb, args, error: (e as Error).message }, 'health: control verb refused');
    }
  }

  /** Commands from state changes run in order, without holding up the checks. */
  private spawn(command: string): void {
    this.chain = this.chain.then(() => this.deps.exec(command));
  }

  /** Every checked real server's state, for the `status` verb. */
  entries(): HealthEntry[] {
    const out: HealthEntry[] = [];
    for (const vs of this.vss) {
      for (const rs of vs.rs) {
        out.push({ service: vs.key, addr: rs.spec.addr, port: rs.spec.port, state: rs.alive ? 'up' : 'down', reason: rs.reason, weight: this.weightOf(rs), inhibit: rs.spec.inhibitOnFailure, since: rs.since });
      }
    }
    return out;
  }

  /** Health of one destination of the table: up, down, or unchecked (not configured here). */
  stateOf(proto: string, vip: string, vport: number, rip: string, rport: number): HealthState {
    const rs = this.byKey.get(this.key(proto, vip, vport, rip, rport));
    if (rs === undefined) return 'unchecked';
    return rs.alive ? 'up' : 'down';
  }

  /** Quorum state of each configured virtual server. */
  quorum(): Array<{ service: VsState['key']; up: boolean; sorry: boolean }> {
    return this.vss.map((vs) => ({ service: vs.key, up: vs.quorumUp, sorry: vs.sorryIn }));
  }

  /** Resolves once the table changes and commands decided so far are done (tests). */
  settled(): Promise<void> {
    return this.chain;
  }
}
