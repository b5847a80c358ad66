// BFD (RFC 5880 asynchronous mode, single hop over UDP as RFC 5881) for keepalived's BFD_CHECK:
// one session per neighbour, held up by control packets both ways; the check passes while the
// session is Up. A session starts at the first check that asks for it and ends when no check has
// asked for it for IDLE_MS (a reload that drops the BFD_CHECK). All sessions share one socket on
// port 3784 for what arrives (demultiplexed by our discriminator, or by the neighbour's address
// while it does not know it yet); each sends from its own socket on a port of 49152-65535, TTL 255.
//
// Not done: authentication (a packet with the A bit is dropped), demand and echo modes, the
// receive-side TTL 255 check (Node cannot read a datagram's TTL), multi-hop (RFC 5883).

import dgram from 'node:dgram';
import { randomInt } from 'node:crypto';

export const BFD_PORT = 3784;
const VERSION = 1;
const LEN = 24;
/** The states on the wire (RFC 5880 4.1). */
export const BFD_STATES = ['AdminDown', 'Down', 'Init', 'Up'] as const;
export type BfdState = (typeof BFD_STATES)[number];
const ADMIN_DOWN = 0;
const DOWN = 1;
const INIT = 2;
const UP = 3;
/** Diagnostics (RFC 5880 4.1) uvs sets: 1 detection time expired, 3 neighbor signaled session down. */
const DIAG_EXPIRED = 1;
const DIAG_NEIGHBOR_DOWN = 3;
const DIAGS = ['', 'control detection time expired', 'echo function failed', 'neighbor signaled session down', 'forwarding plane reset',
  'path down', 'concatenated path down', 'administratively down', 'reverse concatenated path down'];
const F_POLL = 0x20;
const F_FINAL = 0x10;
const F_AUTH = 0x04;
const F_MULTIPOINT = 0x01;
/** RFC 5880 6.8.3: while not Up, no faster than one packet a second. */
const SLOW_TX_MS = 1000;
/** A session no check asked about for this long is closed. */
export const IDLE_MS = 10_000;

/** A bfd_instance: the neighbour and the timers (ms), as keepalived names them. */
export interface BfdParams {
  neighbor: string;
  source?: string;
  /** min_rx: the slowest the neighbour may send once Up (our RequiredMinRxInterval). */
  minRxMs: number;
  /** min_tx: how fast we would like to send once Up (our DesiredMinTxInterval). */
  minTxMs: number;
  /** idle_tx: how fast we send while not Up (at least 1 s, RFC 5880 6.8.3). */
  idleTxMs: number;
  /** multiplier: detection time = the neighbour's multiplier x its negotiated interval. */
  multiplier: number;
}

/** How often a session sends while not Up: idle_tx, but no faster than once a second (RFC 5880 6.8.3). */
export function idleTxMs(p: BfdParams): number {
  return Math.max(SLOW_TX_MS, p.idleTxMs);
}

/** keepalived's bfd_instance defaults. */
export const BFD_DEFAULTS = { minRxMs: 10, minTxMs: 10, idleTxMs: 1000, multiplier: 5 } as const;

export interface BfdStatus {
  state: BfdState;
  /** Why it went down last (RFC 5880 diagnostics), '' when it never did. */
  diag: string;
  /** The session has been Up at least once; how long ago it started (ms). */
  everUp: boolean;
  ageMs: number;
}

class Session {
  state = DOWN;
  diag = 0;
  readonly created: number;
  everUp = false;
  readonly discr: number;
  remoteDiscr = 0;
  /** The neighbour's RequiredMinRxInterval, DesiredMinTxInterval (µs) and multiplier; 1 µs until heard: send at our own pace. */
  remoteMinRxUs = 1;
  remoteTxUs = 0;
  remoteMult = 0;
  lastRx = 0;
  /** A Poll sequence is running (our timers changed): P on every packet until an F comes back. */
  polling = false;
  lastAsked: number;
  txTimer: NodeJS.Timeout | undefined;
  readonly tx: dgram.Socket;
  /** The send socket has its port (a send before would make the kernel pick one outside 49152-65535). */
  private bound = false;

  constructor(readonly hub: BfdHub, readonly p: BfdParams, now: number) {
    this.created = now;
    this.lastAsked = now;
    this.discr = hub.newDiscriminator();
    this.tx = dgram.createSocket('udp4');
    this.tx.on('error', () => {}); // a send to an unreachable neighbour: the detection time says so
  }

  start(): void {
    // RFC 5881 4: the source port is in 49152..65535, the TTL 255.
    const bindTo = (tries: number): void => {
      this.tx.once('error', (e: NodeJS.ErrnoException) => {
        if (e.code === 'EADDRINUSE' && tries > 0) bindTo(tries - 1);
      });
      this.tx.bind(randomInt(49152, 65536), this.p.source, () => {
        this.tx.setTTL(255);
        this.bound = true;
        this.send(false);
        this.schedule();
      });
    };
    bindTo(8);
  }

  /** Our DesiredMinTxInterval now (µs): min_tx once Up, idle_tx (at least 1 s) before. */
  private desiredTxUs(): number {
    return (this.state === UP ? this.p.minTxMs : idleTxMs(this.p)) * 1000;
  }

  /** The next packet after the negotiated interval, 75-100 % of it (at most 90 % with multiplier 1). */
  private schedule(): void {
    clearTimeout(this.txTimer);
    if (this.remoteMinRxUs === 0) return; // the neighbour asks for no packets
    const us = Math.max(this.desiredTxUs(), this.remoteMinRxUs);
    const jitter = 0.75 + Math.random() * (this.p.multiplier === 1 ? 0.15 : 0.25);
    this.txTimer = setTimeout(() => {
      this.expireCheck();
      this.send(false);
      this.schedule();
    }, Math.max(1, (us / 1000) * jitter));
  }

  send(final: boolean): void {
    if (!this.bound) return; // the first packet goes once the port is bound (start)
    const b = Buffer.alloc(LEN);
    b[0] = (VERSION << 5) | this.diag;
    b[1] = (this.state << 6) | (this.polling && !final ? F_POLL : 0) | (final ? F_FINAL : 0);
    b[2] = this.p.multiplier;
    b[3] = LEN;
    b.writeUInt32BE(this.discr, 4);
    b.writeUInt32BE(this.remoteDiscr, 8);
    b.writeUInt32BE(this.desiredTxUs(), 12);
    b.writeUInt32BE(this.p.minRxMs * 1000, 16);
    b.writeUInt32BE(0, 20); // no echo
    this.tx.send(b, this.hub.peerPort, this.p.neighbor);
  }

  /** Detection time (RFC 5880 6.8.4): the neighbour's multiplier x max(our min_rx, its DesiredMinTx). */
  detectMs(): number {
    return (this.remoteMult * Math.max(this.p.minRxMs * 1000, this.remoteTxUs)) / 1000;
  }

  expireCheck(): void {
    if ((this.state === INIT || this.state === UP) && this.hub.now() - this.lastRx > this.detectMs()) {
      this.remoteDiscr = 0;
      this.to(DOWN, DIAG_EXPIRED);
    }
  }

  to(state: number, diag: number): void {
    if (state === this.state) return;
    const wasUp = this.state === UP;
    this.state = state;
    if (state === UP) this.everUp = true;
    if (state === DOWN) this.diag = diag;
    // Our DesiredMinTx changes when we come Up or leave it: a Poll sequence tells the neighbour.
    if (wasUp || state === UP) this.polling = true;
    this.send(false);
    this.schedule();
  }

  /** A valid control packet from the neighbour (RFC 5880 6.8.6). */
  receive(b: Buffer): void {
    const rstate = b[1]! >>> 6;
    this.remoteDiscr = b.readUInt32BE(4);
    this.remoteMult = b[2]!;
    this.remoteTxUs = b.readUInt32BE(12);
    const minRx = b.readUInt32BE(16);
    const changed = minRx !== this.remoteMinRxUs;
    this.remoteMinRxUs = minRx;
    this.lastRx = this.hub.now();
    if ((b[1]! & F_FINAL) !== 0) this.polling = false;
    if (rstate === ADMIN_DOWN) {
      if (this.state !== DOWN) this.to(DOWN, DIAG_NEIGHBOR_DOWN);
    } else if (this.state === DOWN) {
      if (rstate === DOWN) this.to(INIT, 0);
      else if (rstate === INIT) this.to(UP, 0);
    } else if (this.state === INIT) {
      if (rstate === INIT || rstate === UP) this.to(UP, 0);
    } else if (this.state === UP && rstate === DOWN) {
      this.to(DOWN, DIAG_NEIGHBOR_DOWN);
    }
    if ((b[1]! & F_POLL) !== 0) this.send(true); // answer a Poll with a Final at once
    else if (changed) this.schedule();
  }

  close(): void {
    clearTimeout(this.txTimer);
    this.tx.close();
  }
}

/** Every BFD session of uvsd, on one receive socket. */
export class BfdHub {
  private readonly sessions = new Map<string, Session>();
  private rx: dgram.Socket | undefined;
  private rxError = '';
  private sweep: NodeJS.Timeout | undefined;
  readonly now: () => number;
  /** Where control packets go on the neighbour (3784; tests run two hubs on one host). */
  readonly peerPort: number;
  private readonly port: number;
  private readonly listen: string | undefined;
  /** Packets dropped: not BFD version 1, bad length, authentication, multipoint, unknown session. */
  dropped = 0;

  constructor(o: { port?: number; peerPort?: number; listen?: string; now?: () => number } = {}) {
    this.port = o.port ?? BFD_PORT;
    this.peerPort = o.peerPort ?? BFD_PORT;
    this.listen = o.listen;
    this.now = o.now ?? (() => performance.now());
  }

  newDiscriminator(): number {
    for (;;) {
      const d = randomInt(1, 0x7fffffff);
      if (![...this.sessions.values()].some((s) => s.discr === d)) return d;
    }
  }

  private key(p: BfdParams): string {
    return `${p.neighbor}|${p.source ?? ''}|${p.minRxMs}|${p.minTxMs}|${p.idleTxMs}|${p.multiplier}`;
  }

  private open(): void {
    if (this.rx !== undefined) return;
    const rx = dgram.createSocket({ type: 'udp4', reuseAddr: true });
    rx.on('error', (e: NodeJS.ErrnoException) => {
      this.rxError = `BFD port ${this.port}: ${e.code ?? e.message}`;
    });
    rx.on('message', (b, from) => this.onPacket(b, from.address));
    rx.bind(this.port, this.listen);
    this.rx = rx;
    this.sweep = setInterval(() => {
      const now = this.now();
      for (const [k, s] of this.sessions) {
        if (now - s.lastAsked > IDLE_MS) {
          s.close();
          this.sessions.delete(k);
        }
      }
    }, IDLE_MS / 2);
    this.sweep.unref();
  }

  private onPacket(b: Buffer, from: string): void {
    const len = b.length >= 4 ? b[3]! : 0;
    const your = b.length >= 12 ? b.readUInt32BE(8) : 0;
    const state = b.length >= 2 ? b[1]! >>> 6 : 0;
    if (b.length < LEN || b[0]! >>> 5 !== VERSION || len < LEN || len > b.length || b[2] === 0 || (b[1]! & (F_AUTH | F_MULTIPOINT)) !== 0 ||
        b.readUInt32BE(4) === 0 || (your === 0 && state !== DOWN && state !== ADMIN_DOWN)) {
      this.dropped++;
      return;
    }
    for (const s of this.sessions.values()) {
      if (your !== 0 ? s.discr === your : s.p.neighbor === from) {
        s.receive(b);
        return;
      }
    }
    this.dropped++;
  }

  /** The session of these parameters (started at the first call), marked as asked about now. */
  status(p: BfdParams): BfdStatus & { error?: string } {
    this.open();
    const k = this.key(p);
    let s = this.sessions.get(k);
    if (s === undefined) {
      s = new Session(this, p, this.now());
      this.sessions.set(k, s);
      s.start();
    }
    const now = this.now();
    s.lastAsked = now;
    s.expireCheck();
    return {
      state: BFD_STATES[s.state]!, diag: DIAGS[s.diag] ?? `diagnostic ${s.diag}`, everUp: s.everUp, ageMs: now - s.created,
      ...(this.rxError ? { error: this.rxError } : {}),
    };
  }

  close(): void {
    clearInterval(this.sweep);
    for (const s of this.sessions.values()) s.close();
    this.sessions.clear();
    this.rx?.close();
    this.rx = undefined;
  }
}
