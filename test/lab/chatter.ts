// Long-lived TCP conversations for the failover tests (test/integration-ha.test.ts).
//   --serve PORT                 echo server: every byte comes back on the same connection.
//   --target IP:PORT[,IP:PORT..] --conns N --interval MS --duration MS
//                                N connections per target, each sending one message every
//                                interval ms for duration ms and reading its echo back. Prints
//                                "established <up> of <n>" once every connection is up or failed
//                                to connect (10 s), then one JSON
//                                line: per-connection results folded into {ok, failed, errors,
//                                maxStallMs, bytes}; a connection is ok when everything it sent
//                                came back byte for byte and it closed cleanly. maxStallMs is the
//                                longest wait for the echo of one message (the outage a client saw).
//                                A line "end" on stdin ends the conversations before --duration
//                                (each sends no more, waits for its echoes and closes): a test
//                                ends them a set time after a failure, not a set time after start.
import net from 'node:net';
import { createHash } from 'node:crypto';
import { parseArgs } from 'node:util';
import { requireLabNamespace } from './guard.js';
import { labPattern } from './pattern.js';

if (process.env['NODE_TEST_CONTEXT']) process.exit(0);
requireLabNamespace('chatter.js');

const { values } = parseArgs({
  options: {
    serve: { type: 'string' },
    target: { type: 'string' },
    conns: { type: 'string', default: '10' },
    interval: { type: 'string', default: '100' },
    duration: { type: 'string', default: '5000' },
    'connect-timeout': { type: 'string', default: '10000' },
  },
});

if (values.serve !== undefined) {
  const srv = net.createServer((s) => {
    s.on('error', () => s.destroy());
    s.pipe(s);
  });
  srv.listen(Number(values.serve), () => process.stdout.write(`ready ${values.serve}\n`));
  const stop = () => srv.close(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
} else {
  void client();
}

interface Result {
  ok: boolean;
  error?: string;
  maxStallMs: number;
  bytes: number;
}

async function client(): Promise<void> {
  const targets = String(values.target).split(',').map((t) => {
    const i = t.lastIndexOf(':');
    return { host: t.slice(0, i), port: Number(t.slice(i + 1)) };
  });
  const n = Number(values.conns);
  const interval = Number(values.interval);
  const duration = Number(values.duration);
  let established = 0;
  let settled = 0;
  const total = n * targets.length;
  // "established <up> of <total>" once every connection is up or has failed to connect.
  const settle = (up: boolean) => {
    if (up) established++;
    if (++settled === total) process.stdout.write(`established ${established} of ${total}\n`);
  };
  // "end" on stdin: every conversation's end is now (see the header).
  let endAt = Infinity;
  let stdinText = '';
  process.stdin.on('data', (d: Buffer) => {
    stdinText += d.toString('utf8');
    if (/^end$/m.test(stdinText)) endAt = Date.now();
  });
  process.stdin.on('error', () => {});
  const runs: Promise<Result>[] = [];
  targets.forEach((t, ti) => {
    for (let i = 0; i < n; i++) runs.push(conversation(t.host, t.port, ti * n + i, interval, duration, settle, () => endAt));
  });
  const results = await Promise.all(runs);
  const failed = results.filter((r) => !r.ok);
  process.stdout.write(JSON.stringify({
    ok: results.length - failed.length,
    failed: failed.length,
    errors: failed.slice(0, 5).map((r) => r.error),
    maxStallMs: Math.max(...results.map((r) => r.maxStallMs)),
    bytes: results.reduce((a, r) => a + r.bytes, 0),
  }) + '\n');
  process.exit(0);
}

function conversation(host: string, port: number, id: number, interval: number, duration: number, settle: (up: boolean) => void, endAt: () => number): Promise<Result> {
  return new Promise((resolve) => {
    const sent = createHash('sha256');
    const got = createHash('sha256');
    let sentBytes = 0;
    let gotBytes = 0;
    /** Send time of each message, by the byte count at which its echo is complete. */
    const pending: { end: number; at: number }[] = [];
    let maxStall = 0;
    let finished = false;
    let connected = false;
    let seq = 0;
    let timer: NodeJS.Timeout | undefined;
    const s = net.connect({ host, port });
    s.setNoDelay(true);
    const fail = (error: string) => {
      if (finished) return;
      finished = true;
      if (!connected) settle(false);
      if (timer) clearInterval(timer);
      s.destroy();
      resolve({ ok: false, error: `conn ${id}: ${error}`, maxStallMs: maxStall, bytes: gotBytes });
    };
    const connectTimer = setTimeout(() => fail('connect timeout'), Number(values['connect-timeout']));
    const pattern = labPattern(0, 200);
    s.on('connect', () => {
      clearTimeout(connectTimer);
      connected = true;
      settle(true);
      const end = Date.now() + duration;
      timer = setInterval(() => {
        if (Date.now() >= Math.min(end, endAt())) {
          clearInterval(timer);
          timer = undefined;
          s.end();
          return;
        }
        // A message of varying length and content, so a misplaced byte changes the hash.
        const body = `conn ${id} msg ${seq++} `;
        const msg = Buffer.concat([Buffer.from(body), pattern.subarray(0, 20 + ((id * 7 + seq * 13) % 150)), Buffer.from('\n')]);
        sent.update(msg);
        sentBytes += msg.length;
        pending.push({ end: sentBytes, at: Date.now() });
        s.write(msg);
      }, interval);
    });
    s.on('data', (d: Buffer) => {
      got.update(d);
      gotBytes += d.length;
      const now = Date.now();
      while (pending.length > 0 && pending[0]!.end <= gotBytes) {
        maxStall = Math.max(maxStall, now - pending.shift()!.at);
      }
    });
    s.on('error', (e) => fail(e.message));
    s.on('close', () => {
      if (finished) return;
      finished = true;
      if (timer) clearInterval(timer);
      const same = gotBytes === sentBytes && sent.digest('hex') === got.digest('hex');
      resolve(same && sentBytes > 0
        ? { ok: true, maxStallMs: maxStall, bytes: gotBytes }
        : { ok: false, error: `conn ${id}: sent ${sentBytes} bytes, got ${gotBytes}${gotBytes === sentBytes ? ' (different bytes)' : ''}`, maxStallMs: maxStall, bytes: gotBytes });
    });
  });
}
