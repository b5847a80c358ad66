// The labs' client runs: one `client.js --serve` per namespace, started at its first request and
// kept until the lab is destroyed, so a request costs a line each way instead of a node start in
// the namespace (~0.15 s of CPU, a few hundred requests per npm test).
import type { ExecResult, Lab, Proc } from './netns.js';

/** The modes client.js --serve answers; the others (--stream, --hold, --conns) get a process. */
const SERVED = new Set(['--http', '--udp', '--dns', '--download', '--upload', '--until-ok']);

interface Server {
  proc: Proc;
  pending: Map<number, (r: ExecResult) => void>;
}

export class NsClients {
  private readonly servers = new Map<string, Server>();
  private nextId = 0;

  constructor(
    private readonly lab: Lab,
    private readonly argv: (args: string[]) => string[],
    private readonly cwd: string,
  ) {}

  /** client.js with `args` in `ns`, as `lab.exec` would run it (code 124 after `timeoutMs`). */
  run(ns: string, args: string[], timeoutMs: number): Promise<ExecResult> {
    if (!SERVED.has(args[0] ?? '')) return this.lab.exec(ns, this.argv(args), { cwd: this.cwd, timeoutMs });
    const s = this.server(ns);
    const id = ++this.nextId;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        // As exec kills a command past its time: this server goes (its other requests fail with
        // it) and the next request starts another.
        s.pending.delete(id);
        if (this.servers.get(ns) === s) this.servers.delete(ns);
        void s.proc.stop(1000);
        resolve({ code: 124, stdout: '', stderr: `client.js ${args.join(' ')}: no answer within ${timeoutMs} ms` });
      }, timeoutMs);
      s.pending.set(id, (r) => {
        clearTimeout(timer);
        resolve(r);
      });
      s.proc.child.stdin!.write(`${JSON.stringify({ id, args })}\n`);
    });
  }

  private server(ns: string): Server {
    const old = this.servers.get(ns);
    if (old && !old.proc.done()) return old;
    const proc = this.lab.spawn(ns, this.argv(['--serve']), { cwd: this.cwd, maxCapture: 64 * 1024 });
    const s: Server = { proc, pending: new Map() };
    this.servers.set(ns, s);
    let partial = '';
    proc.child.stdout!.on('data', (d: string) => {
      const lines = (partial + d).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        const r = JSON.parse(line) as ExecResult & { id: number };
        const done = s.pending.get(r.id);
        s.pending.delete(r.id);
        done?.({ code: r.code, stdout: r.stdout, stderr: r.stderr });
      }
    });
    void proc.exited.then((code) => {
      if (this.servers.get(ns) === s) this.servers.delete(ns);
      for (const done of s.pending.values()) done({ code, stdout: '', stderr: `client.js --serve exited (${code}): ${proc.stderr().slice(-2000)}` });
      s.pending.clear();
    });
    return s;
  }
}
