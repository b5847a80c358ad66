// A small reader of the Prometheus text exposition format for tests: samples by name and
// labels, plus HELP/TYPE per family. Strict enough to fail on lines it does not understand.
import { execFileSync } from 'node:child_process';

export interface PromSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Exposition {
  samples: PromSample[];
  help: Map<string, string>;
  type: Map<string, string>;
  /** Value of the one sample with this name whose labels include `labels`; throws if none or several. */
  get(name: string, labels?: Record<string, string>): number;
  /** All samples with this name whose labels include `labels`. */
  all(name: string, labels?: Record<string, string>): PromSample[];
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?/gy;

export function parseExposition(text: string): Exposition {
  const samples: PromSample[] = [];
  const help = new Map<string, string>();
  const type = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    let m: RegExpExecArray | null;
    if ((m = /^# HELP (\S+) (.*)$/.exec(line))) {
      help.set(m[1]!, m[2]!);
      continue;
    }
    if ((m = /^# TYPE (\S+) (\S+)$/.exec(line))) {
      type.set(m[1]!, m[2]!);
      continue;
    }
    m = SAMPLE.exec(line);
    if (m === null) throw new Error(`unparsable exposition line: ${JSON.stringify(line)}`);
    const labels: Record<string, string> = {};
    if (m[2] !== undefined && m[2] !== '') {
      LABEL.lastIndex = 0;
      let l: RegExpExecArray | null;
      let end = 0;
      while ((l = LABEL.exec(m[2])) !== null) {
        labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_s, c: string) => (c === 'n' ? '\n' : c));
        end = LABEL.lastIndex;
      }
      if (end !== m[2].length) throw new Error(`unparsable labels: ${JSON.stringify(line)}`);
    }
    const v = m[3] === '+Inf' ? Infinity : m[3] === '-Inf' ? -Infinity : Number(m[3]);
    if (Number.isNaN(v) && !/^nan$/i.test(m[3]!)) throw new Error(`bad value: ${JSON.stringify(line)}`);
    samples.push({ name: m[1]!, labels, value: v });
  }
  const all = (name: string, want: Record<string, string> = {}) =>
    samples.filter((s) => s.name === name && Object.entries(want).every(([k, v]) => s.labels[k] === v));
  return {
    samples, help, type, all,
    get(name, want = {}) {
      const found = all(name, want);
      if (found.length !== 1) throw new Error(`${found.length} samples of ${name} ${JSON.stringify(want)}`);
      return found[0]!.value;
    },
  };
}

/** promtool with args (input on stdin, cwd): its exit status and output. Throws when promtool is missing. */
export function promtool(args: string[], o: { input?: string; cwd?: string } = {}): { code: number; out: string } {
  try {
    return { code: 0, out: execFileSync('promtool', args, { ...o, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] }) };
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stdout?: string; stderr?: string; status?: number };
    if (err.code === 'ENOENT') throw new Error('promtool not found: apt-get install prometheus (see .ci/run)');
    return { code: err.status ?? 1, out: `${err.stdout ?? ''}${err.stderr ?? ''}` };
  }
}

/** `promtool check metrics` on the text: its complaints ('' when clean). Throws when promtool is missing. */
export function promtoolCheck(text: string): string {
  const r = promtool(['check', 'metrics'], { input: text });
  return r.code === 0 ? '' : r.out.trim() || `promtool exited ${r.code}`;
}
