// Long-lived TCP connections for the scale-out lab: opens --count keep-alive HTTP/1.1
// connections to --target (servers.js answers "<name>\n" with an x-server header) and sends one
// request on each every --interval ms, forever, on the same socket. Per connection it records
// the server that answered first, the last one, answers, failures (error, close, no answer within
// --timeout ms) and answers from a different server than the first. Commands on stdin, one per
// line: `report` prints one JSON line {"report":n,"conns":[...]} (n counts reports), `mark`
// starts counting answers since the mark (ok after the mark shows the connection still works),
// `close` ends every connection and exits.
import net from 'node:net';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { requireLabNamespace } from './guard.js';

if (process.env['NODE_TEST_CONTEXT']) process.exit(0);
requireLabNamespace('longconns.js');

const { values } = parseArgs({
  options: {
    target: { type: 'string' },
    count: { type: 'string', default: '300' },
    interval: { type: 'string', default: '1000' },
    timeout: { type: 'string', default: '8000' },
  },
});
const [host, portText] = String(values.target).split(':');
const port = Number(portText ?? '80');
const count = Math.min(5000, Number(values.count));
const interval = Number(values.interval);
const timeout = Number(values.timeout);

export interface ConnReport {
  localPort: number;
  first: string;
  last: string;
  ok: number;
  okSinceMark: number;
  failed: string;
  changed: number;
}

class Conn {
  readonly r: ConnReport = { localPort: 0, first: '', last: '', ok: 0, okSinceMark: 0, failed: '', changed: 0 };
  private s: net.Socket;
  private buf = '';
  private waiting = false;
  private sentAt = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(delay: number) {
    this.s = net.connect({ host, port });
    this.s.setEncoding('latin1');
    this.s.setNoDelay(true);
    this.s.on('connect', () => {
      this.r.localPort = this.s.localPort ?? 0;
      this.timer = setTimeout(() => this.send(), delay);
    });
    this.s.on('data', (d: string) => this.data(d));
    this.s.on('error', (e) => this.fail(`error ${e.message}`));
    this.s.on('close', () => this.fail('closed'));
  }

  private send(): void {
    if (this.r.failed !== '') return;
    this.waiting = true;
    this.sentAt = Date.now();
    this.s.write(`GET / HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
  }

  private data(d: string): void {
    this.buf += d;
    for (;;) {
      const end = this.buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = this.buf.slice(0, end);
      const len = Number(/content-length:\s*(\d+)/i.exec(head)?.[1] ?? '0');
      if (this.buf.length < end + 4 + len) return;
      const server = /x-server:\s*(\S+)/i.exec(head)?.[1] ?? '?';
      this.buf = this.buf.slice(end + 4 + len);
      this.answer(server);
    }
  }

  private answer(server: string): void {
    if (!this.waiting) return;
    this.waiting = false;
    if (this.r.first === '') this.r.first = server;
    else if (server !== this.r.first) this.r.changed++;
    this.r.last = server;
    this.r.ok++;
    this.r.okSinceMark++;
    this.timer = setTimeout(() => this.send(), interval);
  }

  /** Called once a second: a request without an answer for too long fails the connection. */
  check(now: number): void {
    if (this.waiting && this.r.failed === '' && now - this.sentAt > timeout) this.fail(`no answer within ${timeout} ms`);
  }

  fail(why: string): void {
    if (this.r.failed === '') this.r.failed = why;
    if (this.timer) clearTimeout(this.timer);
  }

  close(): void {
    this.r.failed ||= 'closed by us';
    if (this.timer) clearTimeout(this.timer);
    this.s.destroy();
  }
}

// Spread the connections' requests over one interval.
const conns: Conn[] = [];
for (let i = 0; i < count; i++) conns.push(new Conn(Math.floor((interval * i) / count)));
const checker = setInterval(() => {
  const now = Date.now();
  for (const c of conns) c.check(now);
}, 1000);

let reports = 0;
createInterface({ input: process.stdin }).on('line', (line) => {
  const cmd = line.trim();
  if (cmd === 'report') process.stdout.write(`${JSON.stringify({ report: ++reports, conns: conns.map((c) => c.r) })}\n`);
  else if (cmd === 'mark') {
    for (const c of conns) c.r.okSinceMark = 0;
    process.stdout.write(`${JSON.stringify({ marked: ++reports })}\n`);
  } else if (cmd === 'close') {
    clearInterval(checker);
    for (const c of conns) c.close();
    setTimeout(() => process.exit(0), 100);
  }
});
