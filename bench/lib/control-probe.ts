// Control-plane responsiveness while uvsd forwards: a `list` round trip every intervalMs on one
// connection of the project's own control client.
//
// The probe is part of the instrument, like the generator: it runs in a process of its own on the
// generator's CPU (GEN_CPU), never on the forwarder's. Run inside the bench's process it went to
// whichever CPU the scheduler chose, and its own work (~100-300 µs of Node per round trip) taken
// from the forwarder's CPU cost uvsd 3-4 % of its rate (performance.md, 2026-12-01 21:30 section).
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ControlClient } from '../../src/control/client.js';
import { monoMs, type ReplyTiming } from '../../src/control/protocol.js';
import { delay } from '../../test/lab/netns.js';

/**
 * Every round trip (ms), and of each the parts uvsd's reply timing tells (ReplyTiming, one clock
 * for both processes): from the call to uvsd's handling (the request's wait for uvsd's event
 * loop, and uvsd's for a CPU), the handling, and from the reply to the probe having it (the
 * probe's wait for its CPU, shared with the generator).
 */
export interface ProbeResult {
  rtts: number[];
  toUvsd: number[];
  inUvsd: number[];
  back: number[];
}

/**
 * Starts the probe (a child process on cpu; with rt at SCHED_FIFO priority 10, so it never waits
 * behind the generator on that CPU) and returns stop(), which ends it and gives its round trips.
 */
export async function probeControl(socket: string, intervalMs: number, cpu: string, rt = false): Promise<{ stop: () => Promise<ProbeResult> }> {
  const argv = ['taskset', '-c', cpu, process.execPath, fileURLToPath(import.meta.url), socket, String(intervalMs)];
  const child = rt ? spawn('chrt', ['-f', '10', ...argv], { stdio: ['pipe', 'pipe', 'pipe'] }) : spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  // Started when it says so (connected), or failed.
  await new Promise<void>((resolve, reject) => {
    const onData = (): void => {
      if (out.includes('ready\n')) resolve();
    };
    child.stdout.on('data', onData);
    void exited.then((code) => reject(new Error(`control probe exited (${code}): ${err.trim()}`)));
  });
  return {
    stop: async () => {
      child.stdin.end();
      const code = await exited;
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (code !== 0 || line === undefined) throw new Error(`control probe failed (${code}): ${err.trim()}`);
      if (err !== '') console.error(`  ${err.trim()}`);
      return JSON.parse(line) as ProbeResult;
    },
  };
}

/** The child: round trips until its stdin closes, then one JSON line of them (ProbeResult). */
async function child(socket: string, intervalMs: number): Promise<void> {
  const client = await ControlClient.connect(socket, { timeoutMs: 5000 });
  const res: ProbeResult = { rtts: [], toUvsd: [], inUvsd: [], back: [] };
  let running = true;
  process.stdin.resume();
  process.stdin.on('end', () => (running = false));
  process.stdout.write('ready\n');
  // At a fixed rate (a call every intervalMs from the start of the one before, or right after it
  // when it took longer), as a poller would: a build that answers sooner is not asked more often.
  try {
    while (running) {
      let st: ReplyTiming | undefined;
      const t0 = monoMs();
      await client.call('list', {}, (t) => (st = t));
      const t1 = monoMs();
      res.rtts.push(t1 - t0);
      if (st !== undefined) {
        res.toUvsd.push(st.recv - t0);
        res.inUvsd.push(st.sent - st.recv);
        res.back.push(t1 - st.sent);
      }
      if (t0 + intervalMs > t1) await delay(t0 + intervalMs - t1);
    }
  } catch (e) {
    // A call that failed (or took over 5 s) ends the probe; the run keeps its other numbers.
    console.error(`control probe: ${(e as Error).message} after ${res.rtts.length} round trips`);
  }
  client.close();
  process.stdout.write(`${JSON.stringify(res)}\n`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  child(process.argv[2]!, Number(process.argv[3])).catch((e: unknown) => {
    console.error((e as Error).message);
    process.exit(1);
  });
}
