// UDP_CHECK: send the payload to the server. Without require_reply the server is healthy unless
// an ICMP destination unreachable comes back within connect_timeout (keepalived's rule: its
// IP_RECVERR socket fails on any of them; a reply passes at once); with require_reply it must
// answer in time (matching the given bytes up to the shorter, within the length bounds), on a connected socket.
import dgram from 'node:dgram';
import type { CheckResult, CheckTarget, UdpCheck } from '../types.js';
import type { Pinger } from './ping.js';
import { notRunResult } from './resource.js';
import { clearLongTimeout, setAnswerTimeout, type LongTimeout } from '../../control/clock.js';

type UdpSpec = Pick<UdpCheck, 'connectTimeoutMs' | 'bindto' | 'bindPort' | 'payload' | 'requireReply' | 'replyPrefix' | 'replyMask' | 'minReplyLength' | 'maxReplyLength'>;

function replyProblem(spec: UdpSpec, msg: Buffer): string | null {
  if (spec.minReplyLength !== undefined && msg.length < spec.minReplyLength) return `reply of ${msg.length} bytes, shorter than ${spec.minReplyLength}`;
  if (spec.maxReplyLength !== undefined && msg.length > spec.maxReplyLength) return `reply of ${msg.length} bytes, longer than ${spec.maxReplyLength}`;
  const want = spec.replyPrefix;
  if (want === undefined) return null;
  // keepalived's check_udp_reply: up to the shorter of the reply and the expected bytes.
  const n = Math.min(msg.length, want.length);
  for (let i = 0; i < n; i++) {
    if (((msg[i]! ^ want[i]!) & (spec.replyMask?.[i] ?? 0xff)) !== 0) return `reply byte ${i} (0x${msg[i]!.toString(16).padStart(2, '0')}) does not match the expected bytes`;
  }
  return null;
}

/**
 * One datagram exchange on a connected UDP socket (from `bindto` and `bindPort` when given; checks
 * of several servers may share that port, SO_REUSEADDR): `payload` is sent,
 * every datagram that comes back goes to `onReply` (a result ends the check, null waits for
 * another), an ICMP error fails it, and after connect_timeout `onSilence` decides.
 */
export function udpExchange(
  spec: Pick<UdpCheck, 'connectTimeoutMs' | 'bindto' | 'bindPort'>, target: CheckTarget, payload: Buffer,
  onReply: (msg: Buffer) => CheckResult | null, onSilence: () => CheckResult,
): Promise<CheckResult> {
  return new Promise((resolve) => {
    const sock = dgram.createSocket({ type: 'udp4', reuseAddr: spec.bindPort !== undefined });
    let done = false;
    const finish = (r: CheckResult): void => {
      if (done) return;
      done = true;
      clearLongTimeout(timer);
      sock.close();
      resolve(r);
    };
    const timer = setAnswerTimeout(() => finish(onSilence()), spec.connectTimeoutMs);
    sock.on('error', (e: NodeJS.ErrnoException) => finish(notRunResult('udp', e) ?? { ok: false, reason: `udp ${e.code ?? e.message}` }));
    sock.on('message', (msg) => {
      const r = onReply(msg);
      if (r !== null) finish(r);
    });
    const send = (): void => {
      sock.connect(target.port, target.ip, () => {
        sock.send(payload, (err) => {
          if (err) finish(notRunResult('send', err) ?? { ok: false, reason: `send ${(err as NodeJS.ErrnoException).code ?? err.message}` });
        });
      });
    };
    if (spec.bindto !== undefined || spec.bindPort !== undefined) sock.bind(spec.bindPort ?? 0, spec.bindto, send);
    else send();
  });
}

function replyResult(spec: UdpSpec, msg: Buffer): CheckResult {
  const bad = replyProblem(spec, msg);
  return bad === null ? { ok: true, reason: `reply of ${msg.length} bytes` } : { ok: false, reason: bad };
}

const passed = (): CheckResult => ({ ok: true, reason: 'no ICMP error' });

/** The errno a connected socket reports for each ICMP destination unreachable code (Linux icmp_err_convert). */
const UNREACH_ERRNO = ['ENETUNREACH', 'EHOSTUNREACH', 'ENOPROTOOPT', 'ECONNREFUSED', 'EMSGSIZE', 'EOPNOTSUPP', 'ENETUNREACH', 'EHOSTDOWN',
  'ENONET', 'ENETUNREACH', 'EHOSTUNREACH', 'ENETUNREACH', 'EHOSTUNREACH', 'EHOSTUNREACH', 'EHOSTUNREACH', 'EHOSTUNREACH'];

interface Wait {
  spec: UdpSpec;
  resolve: (r: CheckResult) => void;
  timer: LongTimeout;
}

/** One unconnected socket the waits from one source (bindto, bind_port) send from. */
interface Source {
  key: string;
  sock: dgram.Socket;
  /** Its port once bound (0 before): the source port the ICMP errors quote. */
  port: number;
  /** Its address (bindto), or undefined for any: another source (or program) may use the same
   *  port on another address (bind_port with SO_REUSEADDR), whose errors are not this one's. */
  addr: string | undefined;
  /** The waits by their server ("ip:port"). */
  waits: Map<string, Set<Wait>>;
  count: number;
}

/**
 * UDP_CHECKs without require_reply. Each waits connect_timeout for an ICMP error that a healthy
 * server never sends: with a connected socket each, that wait held a socket and a check slot,
 * and thousands of such checkers ate the slots. Here the checks of one source share one
 * unconnected socket, the ICMP errors come on the Pinger's raw socket (matched by the server
 * and the source port they quote), and a check gives its slot back (`release`) once its
 * datagram is sent: the wait holds a timer, no descriptor. A reply from the server passes at
 * once, as in keepalived. Without the raw socket (no CAP_NET_RAW) checkUdp uses a connected
 * socket of the check's own, which hears only a port unreachable.
 */
export class UdpProber {
  private readonly sources = new Map<string, Source>();
  /** The raw socket cannot be opened here (no CAP_NET_RAW): every check uses a socket of its own. */
  private noRaw = false;

  constructor(private readonly pinger: Pinger) {
    pinger.unreachable.add((dst, dstPort, srcAddr, srcPort, code) => {
      const err = UNREACH_ERRNO[code] ?? `ICMP unreachable code ${code}`;
      for (const src of this.sources.values()) {
        if (src.port === srcPort && (src.addr === undefined || src.addr === srcAddr)) this.endAll(src, `${dst}:${dstPort}`, { ok: false, reason: `udp ${err}` });
      }
    });
  }

  /** One check; undefined when it cannot wait here (no raw socket): the caller checks on a socket of its own. */
  probe(spec: UdpSpec, target: CheckTarget, release?: () => void): Promise<CheckResult> | undefined {
    if (this.noRaw) return undefined;
    try {
      this.pinger.hold();
    } catch (e) {
      const notRun = notRunResult('icmp socket', e);
      if (notRun !== undefined) return Promise.resolve(notRun);
      this.noRaw = true;
      return undefined;
    }
    const src = this.source(spec);
    const key = `${target.ip}:${target.port}`;
    return new Promise((resolve) => {
      const w: Wait = { spec, resolve, timer: setAnswerTimeout(() => this.end(src, key, w, passed()), spec.connectTimeoutMs) };
      let set = src.waits.get(key);
      if (set === undefined) src.waits.set(key, (set = new Set()));
      set.add(w);
      src.count++;
      src.sock.send(spec.payload ?? Buffer.alloc(0), target.port, target.ip, (err) => {
        if (err) this.end(src, key, w, notRunResult('send', err) ?? { ok: false, reason: `send ${(err as NodeJS.ErrnoException).code ?? err.message}` });
        else release?.();
      });
    });
  }

  private source(spec: UdpSpec): Source {
    const key = `${spec.bindto ?? ''}|${spec.bindPort ?? 0}`;
    const had = this.sources.get(key);
    if (had !== undefined) return had;
    // Checks of several sources may share bind_port (SO_REUSEADDR), as they did with a socket each.
    const sock = dgram.createSocket({ type: 'udp4', reuseAddr: spec.bindPort !== undefined });
    const src: Source = { key, sock, port: 0, addr: spec.bindto, waits: new Map(), count: 0 };
    sock.on('listening', () => (src.port = sock.address().port));
    sock.on('message', (msg, rinfo) => {
      for (const w of src.waits.get(`${rinfo.address}:${rinfo.port}`) ?? []) this.end(src, `${rinfo.address}:${rinfo.port}`, w, replyResult(w.spec, msg));
    });
    // Its bind failed (or the socket did): every check of it ends so, none waits on a dead socket.
    sock.on('error', (e: NodeJS.ErrnoException) => {
      const r = notRunResult('udp', e) ?? { ok: false, reason: `udp ${e.code ?? e.message}` };
      for (const k of [...src.waits.keys()]) this.endAll(src, k, r);
    });
    // Sends before the bind completes wait for it (dgram queues them).
    sock.bind(spec.bindPort ?? 0, spec.bindto);
    this.sources.set(key, src);
    return src;
  }

  private endAll(src: Source, key: string, r: CheckResult): void {
    for (const w of src.waits.get(key) ?? []) this.end(src, key, w, r);
  }

  private end(src: Source, key: string, w: Wait, r: CheckResult): void {
    const set = src.waits.get(key);
    if (set?.delete(w) !== true) return;
    if (set.size === 0) src.waits.delete(key);
    clearLongTimeout(w.timer);
    this.pinger.unhold();
    // The last wait of a source closes its socket (a new one opens at the next check).
    if (--src.count === 0) {
      this.sources.delete(src.key);
      src.sock.close();
    }
    w.resolve(r);
  }
}

export function checkUdp(spec: UdpSpec, target: CheckTarget, prober?: UdpProber, release?: () => void): Promise<CheckResult> {
  const waited = spec.requireReply ? undefined : prober?.probe(spec, target, release);
  return waited ?? udpExchange(spec, target, spec.payload ?? Buffer.alloc(0), (msg) => replyResult(spec, msg), () => (spec.requireReply
    ? { ok: false, reason: `no reply within ${spec.connectTimeoutMs} ms` }
    : passed()));
}
