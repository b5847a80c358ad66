// Commands from the configuration (misc_path, notify_up/down, quorum_up/down), run like
// keepalived 2.x runs scripts: the line is split into words (single and double quotes group,
// backslash escapes), the first word is executed directly, without a shell, with a timeout.
import { spawn } from 'node:child_process';
import { getPriority, setPriority } from 'node:os';

/** Split a command line into argv; throws on an unterminated quote. */
export function splitCommand(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let have = false;
  let quote: '"' | "'" | null = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote !== null) {
      if (c === quote) quote = null;
      else if (c === '\\' && quote === '"' && i + 1 < line.length) cur += line[++i];
      else cur += c;
      continue;
    }
    if (c === '"' || c === "'") {
      quote = c;
      have = true;
    } else if (c === '\\' && i + 1 < line.length) {
      cur += line[++i];
      have = true;
    } else if (c === ' ' || c === '\t') {
      if (have) out.push(cur);
      cur = '';
      have = false;
    } else {
      cur += c;
      have = true;
    }
  }
  if (quote !== null) throw new Error(`unterminated ${quote} quote in command ${JSON.stringify(line)}`);
  if (have) out.push(cur);
  return out;
}

export interface ExecOutcome {
  /** Exit code, or null when killed (timeout) or not started. */
  code: number | null;
  /** Why there is no exit code ("timeout after N ms", "spawn ENOENT"), or the signal. */
  problem?: string;
}

/** Run a command line; resolves (never rejects) when it exits or is killed after timeoutMs. */
export function runCommand(line: string, timeoutMs: number): Promise<ExecOutcome> {
  let argv: string[];
  try {
    argv = splitCommand(line);
  } catch (e) {
    return Promise.resolve({ code: null, problem: (e as Error).message });
  }
  if (argv.length === 0) return Promise.resolve({ code: null, problem: 'empty command' });
  return new Promise((resolve) => {
    let done = false;
    const finish = (o: ExecOutcome): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve(o);
    };
    const child = spawn(argv[0]!, argv.slice(1), { stdio: 'ignore', detached: true });
    // uvsd may run above the host's other processes (contrib/uvsd.service: Nice=-10); a check
    // script or notify command is ordinary work and runs at the default priority.
    if (child.pid !== undefined && getPriority() < 0) {
      try {
        setPriority(child.pid, 0);
      } catch {
        // exited already
      }
    }
    const timer = setTimeout(() => {
      // The whole process group: a script's children must not outlive the timeout either.
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
      finish({ code: null, problem: `timeout after ${timeoutMs} ms` });
    }, timeoutMs);
    child.once('error', (e: NodeJS.ErrnoException) => finish({ code: null, problem: `spawn ${e.code ?? e.message}` }));
    child.once('exit', (code, signal) => finish(code === null ? { code: null, problem: `killed by ${signal}` } : { code }));
  });
}
