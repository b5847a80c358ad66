// PING_CHECK: an ICMP echo request to the target; healthy when the echo reply comes back within
// connect_timeout. One raw ICMP socket (npm `raw-socket`, needs root or CAP_NET_RAW) serves all
// checks; replies are matched by identifier, sequence number and source address. The socket
// stops holding the event loop open while no ping is outstanding and nobody holds it: UDP_CHECK's
// waits (udp.ts UdpProber) hold it to hear of every destination unreachable that quotes a UDP datagram.
import { createRequire } from 'node:module';
import { formatIp } from '../../datapath/addr.js';
import type { CheckResult, CheckTarget, PingCheck } from '../types.js';
import { notRunResult } from './resource.js';
import { clearLongTimeout, setAnswerTimeout, type LongTimeout } from '../../control/clock.js';

interface RawSocket {
  on(ev: 'message', fn: (buf: Buffer, addr: string) => void): void;
  on(ev: 'error', fn: (err: Error) => void): void;
  send(buf: Buffer, off: number, len: number, addr: string, before: (() => void) | null, after: (err: Error | null) => void): void;
  close(): void;
  pauseRecv(): void;
  resumeRecv(): void;
  pauseSend(): void;
  resumeSend(): void;
  recvPaused: boolean;
  sendPaused: boolean;
}
interface RawModule {
  createSocket(o: { protocol: number }): RawSocket;
  Protocol: { ICMP: number };
  writeChecksum(buf: Buffer, off: number, sum: number): void;
  createChecksum(buf: Buffer): number;
}

interface Pending {
  addr: string;
  resolve: (r: CheckResult) => void;
  timer: LongTimeout;
}

const PAYLOAD = Buffer.from('uvs-health-ping-0123456789abcdef');

/** An ICMP destination unreachable (`code`) quoting a UDP datagram sent to dst:dstPort from src:srcPort. */
export type UnreachableListener = (dst: string, dstPort: number, src: string, srcPort: number, code: number) => void;

export class Pinger {
  private sock: RawSocket | undefined;
  private raw: RawModule | undefined;
  private seq = 0;
  private readonly id = process.pid & 0xffff;
  private readonly pending = new Map<number, Pending>();
  /** Told of every destination unreachable that quotes a UDP datagram. */
  readonly unreachable = new Set<UnreachableListener>();
  /** hold() calls not yet matched by unhold(): the socket receives while there are any. */
  private holds = 0;

  private open(): RawSocket {
    if (this.sock !== undefined) return this.sock;
    this.raw ??= createRequire(import.meta.url)('raw-socket') as RawModule;
    const s = this.raw.createSocket({ protocol: this.raw.Protocol.ICMP });
    s.on('message', (buf, addr) => this.onMessage(buf, addr));
    s.on('error', (err) => {
      // A socket error fails every outstanding ping; the next one opens a new socket.
      for (const [seq, p] of this.pending) this.settle(seq, p, { ok: false, reason: `icmp socket ${err.message}` });
      this.close();
    });
    this.sock = s;
    return s;
  }

  private onMessage(buf: Buffer, addr: string): void {
    // IPv4 raw sockets deliver the IP header first.
    const ihl = (buf[0]! & 15) * 4;
    if (buf.length < ihl + 8) return;
    if (buf[ihl] === 3 /* destination unreachable */) {
      // The datagram's IP header and at least 8 bytes of it follow (RFC 792): its addresses and UDP ports.
      const o = ihl + 8;
      const inner = o + (buf[o]! & 15) * 4;
      if (buf.length < inner + 4 || buf[o + 9] !== 17 /* UDP */) return;
      const dst = formatIp(buf.readUInt32BE(o + 16));
      const src = formatIp(buf.readUInt32BE(o + 12));
      for (const fn of this.unreachable) fn(dst, buf.readUInt16BE(inner + 2), src, buf.readUInt16BE(inner), buf[ihl + 1]!);
      return;
    }
    if (buf[ihl] !== 0 /* echo reply */) return;
    if (buf.readUInt16BE(ihl + 4) !== this.id) return;
    const seq = buf.readUInt16BE(ihl + 6);
    const p = this.pending.get(seq);
    if (p === undefined || p.addr !== addr) return;
    this.settle(seq, p, { ok: true, reason: 'echo reply' });
  }

  private settle(seq: number, p: Pending, r: CheckResult): void {
    clearLongTimeout(p.timer);
    this.pending.delete(seq);
    this.pauseIfIdle();
    p.resolve(r);
  }

  private pauseIfIdle(): void {
    if (this.pending.size === 0 && this.holds === 0 && this.sock !== undefined) {
      if (!this.sock.recvPaused) this.sock.pauseRecv();
      if (!this.sock.sendPaused) this.sock.pauseSend();
    }
  }

  /** Receive (for the `unreachable` listeners) until unhold(); throws as opening the socket does. */
  hold(): void {
    const s = this.open();
    this.holds++;
    if (s.recvPaused) s.resumeRecv();
  }

  unhold(): void {
    this.holds--;
    this.pauseIfIdle();
  }

  ping(addr: string, timeoutMs: number): Promise<CheckResult> {
    let s: RawSocket;
    try {
      s = this.open();
    } catch (e) {
      return Promise.resolve(notRunResult('icmp socket', e) ?? { ok: false, reason: `icmp socket: ${(e as Error).message}` });
    }
    if (this.pending.size >= 65535) return Promise.resolve({ ok: false, reason: 'too many pings outstanding' });
    do this.seq = (this.seq + 1) & 0xffff;
    while (this.pending.has(this.seq));
    const seq = this.seq;
    const buf = Buffer.alloc(8 + PAYLOAD.length);
    buf[0] = 8; // echo request
    buf.writeUInt16BE(this.id, 4);
    buf.writeUInt16BE(seq, 6);
    PAYLOAD.copy(buf, 8);
    this.raw!.writeChecksum(buf, 2, this.raw!.createChecksum(buf));
    return new Promise((resolve) => {
      const p: Pending = { addr, resolve, timer: setAnswerTimeout(() => this.settle(seq, p, { ok: false, reason: `no echo reply within ${timeoutMs} ms` }), timeoutMs) };
      this.pending.set(seq, p);
      if (s.recvPaused) s.resumeRecv();
      s.send(buf, 0, buf.length, addr, null, (err) => {
        if (err && this.pending.get(seq) === p) this.settle(seq, p, notRunResult('send', err) ?? { ok: false, reason: `send ${err.message}` });
      });
    });
  }

  close(): void {
    for (const [seq, p] of this.pending) this.settle(seq, p, { ok: false, reason: 'pinger closed' });
    if (this.sock !== undefined) {
      const s = this.sock;
      this.sock = undefined;
      s.close();
    }
  }
}

export function checkPing(pinger: Pinger, spec: Pick<PingCheck, 'connectTimeoutMs'>, target: CheckTarget): Promise<CheckResult> {
  return pinger.ping(target.ip, spec.connectTimeoutMs);
}
