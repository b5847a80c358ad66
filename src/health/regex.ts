// HTTP_GET's body regex as keepalived 2.2 runs it (check_http.c): `regex` with `regex_options`
// (pcre2 options), `regex_no_match` (a match fails the check), `regex_min_offset` and
// `regex_max_offset` (where in the body the match may start). uvs matches with JavaScript's
// RegExp on the body read as UTF-8; offsets count bytes, as keepalived's.
//
// A match runs on a worker thread (RegexMatcher), never on uvsd's main thread: a pattern that
// backtracks without end ("^(a+)+$" against 34 a's and a "!") or that is quadratic on a large
// body ("version.*ready" against 256 KB of "version ": 4 s) held the event loop, and with it the
// datapath, uvsadm and every other check. keepalived's pcre2 stops such a match at its match
// limit, a count of work; here the worker is ended once the match has taken REGEX_TIME_LIMIT_MS
// of the worker thread's CPU time (Linux /proc; wall time where that cannot be read), so a thread
// that waits for a CPU on a busy host is not taken for a runaway match. keepalived's check_regex
// takes any pcre2_match error (PCRE2_ERROR_MATCHLIMIT included) as no match: so does uvs a match
// that ran over the limit or failed on its thread (a plain `regex` fails, `regex_no_match` passes).
import { closeSync, openSync, readSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import type { HttpUrl } from './types.js';

/** What of a url a match needs (all of it plain data: it is posted to the worker). */
export type RegexUrl = Pick<HttpUrl, 'regex' | 'regexOptions' | 'regexMinOffset' | 'regexMaxOffset'>;

/** regex_min_offset and regex_max_offset at most. */
export const MAX_REGEX_OFFSET = 2 ** 31 - 1;

/**
 * keepalived's regex_options words: the RegExp flag each one is, '' for one that changes no
 * match (pcre2 optimisations, and utf: uvs reads the body as UTF-8 anyway) or that bodyRegex
 * handles (dollar_endonly), null for one JavaScript's RegExp cannot express (the configuration
 * is refused rather than matched otherwise).
 */
export const REGEX_OPTIONS: Readonly<Record<string, string | null>> = {
  caseless: 'i', multiline: 'm', dotall: 's', dollar_endonly: '',
  utf: '', no_auto_possess: '', no_start_optimize: '', no_dotstar_anchor: '', auto_callout: '', use_offset_limit: '',
  never_utf: '', never_ucp: '', never_backslash_c: '',
  allow_empty_class: null, alt_bsux: null, dupnames: null, extended: null, firstline: null,
  match_unset_backref: null, no_auto_capture: null, ucp: null, ungreedy: null, alt_circumflex: null, alt_verbnames: null,
};

/** Why a regex_options word cannot be used ("not a regex option", "uvs cannot match so ..."), or undefined when it can. */
export function regexOptionProblem(word: string): { known: boolean; problem: string } | undefined {
  if (!Object.hasOwn(REGEX_OPTIONS, word)) return { known: false, problem: `not one of keepalived's regex options (${Object.keys(REGEX_OPTIONS).join(', ')})` };
  if (REGEX_OPTIONS[word] === null) return { known: true, problem: `uvs cannot match so: JavaScript's regular expressions have no such option (uvs has ${Object.keys(REGEX_OPTIONS).filter((k) => REGEX_OPTIONS[k] !== null).join(', ')})` };
  return undefined;
}

/**
 * pcre2's `$` without multiline or dollar_endonly: the end of the body, or before a newline that
 * ends it (`^OK$` matches "OK\n"); JavaScript's `$` is the end only. Each `$` outside a character
 * class, unescaped, becomes `(?=\n?$)`.
 */
function pcreDollars(pattern: string): string {
  let out = '';
  let inClass = false;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '\\') {
      out += pattern.slice(i, i + 2);
      i++;
      continue;
    }
    if (inClass) inClass = c !== ']';
    else if (c === '[') inClass = true;
    out += !inClass && c === '$' ? '(?=\\n?$)' : c;
  }
  return out;
}

/** The RegExp of a url's regex and regex_options; throws the RegExp's own error on a bad pattern. */
export function bodyRegex(url: Pick<HttpUrl, 'regex' | 'regexOptions'>): RegExp {
  const options = url.regexOptions ?? [];
  const flags = new Set(options.map((w) => REGEX_OPTIONS[w] ?? ''));
  const pattern = url.regex ?? '';
  const endOnly = flags.has('m') || options.includes('dollar_endonly');
  // 'g': exec starts at lastIndex (regex_min_offset), as pcre2's start offset does.
  return new RegExp(endOnly ? pattern : pcreDollars(pattern), `g${[...flags].join('')}`);
}

/** Does the body match the url's regex where its offsets allow (regex_no_match not applied)? */
export function bodyMatches(url: RegexUrl, body: Buffer): boolean {
  const text = body.toString('utf8');
  const re = bodyRegex(url);
  if (url.regexMinOffset !== undefined) re.lastIndex = body.subarray(0, url.regexMinOffset).toString('utf8').length;
  const m = re.exec(text);
  if (m === null) return false;
  return url.regexMaxOffset === undefined || Buffer.byteLength(text.slice(0, m.index)) <= url.regexMaxOffset;
}

/** A match that runs longer (ms of the regex thread's CPU time) is no match: keepalived's pcre2 stops it at its match limit, no match there. */
export const REGEX_TIME_LIMIT_MS = 100;

/** Clock ticks a second of /proc's stat (USER_HZ: 100 on every Linux ABI). */
const USER_HZ = 100;

/**
 * The CPU time a thread has run, from Linux's /proc: schedstat's first field (ns on a CPU), or,
 * where the kernel keeps no schedstat (it reads "0 0 0"), stat's utime + stime (clock ticks).
 * The file stays open: a reading is one pread.
 */
export class ThreadCpu {
  private readonly buf = Buffer.alloc(512);

  private constructor(private readonly fd: number, readonly clock: 'schedstat' | 'stat') {}

  /** The thread of dir (/proc/thread-self, /proc/self/task/TID), with the given clock or the
   *  first that reads; undefined when none does. */
  static open(dir: string, clock?: 'schedstat' | 'stat'): ThreadCpu | undefined {
    for (const c of clock === undefined ? (['schedstat', 'stat'] as const) : [clock]) {
      let t: ThreadCpu | undefined;
      try {
        t = new ThreadCpu(openSync(`${dir}/${c}`, 'r'), c);
      } catch {
        continue;
      }
      const ms = t.ms();
      // schedstat's "0 0 0": not kept (a thread that runs JavaScript has used some CPU).
      if (ms !== undefined && (c === 'stat' || ms > 0 || clock !== undefined)) return t;
      t.close();
    }
    return undefined;
  }

  /** The thread's CPU time so far (ms), or undefined (the thread gone, the file unreadable). */
  ms(): number | undefined {
    let text: string;
    try {
      text = this.buf.toString('latin1', 0, readSync(this.fd, this.buf, 0, this.buf.length, 0));
    } catch {
      return undefined;
    }
    let ms: number;
    if (this.clock === 'schedstat') ms = Number(text.slice(0, text.indexOf(' '))) / 1e6;
    else {
      // pid (comm) state ppid ... utime stime: the 14th and 15th fields, the comm may hold spaces.
      const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
      ms = ((Number(f[11]) + Number(f[12])) * 1000) / USER_HZ;
    }
    return Number.isFinite(ms) ? ms : undefined;
  }

  close(): void {
    try {
      closeSync(this.fd);
    } catch {
      // closed
    }
  }
}

/** What the regex thread posts: ready (its handler installed: its Linux thread id, its CPU clock),
 *  or a match's answer; with its CPU time (ms) when it posted, once it is idle. */
export type RegexWorkerMessage = ({ ready: true; tid?: number; clock?: 'schedstat' | 'stat' } | { matched: boolean } | { error: string }) & { cpuMs?: number };

/** Matches waiting for the worker at most: one more fails at once, without a verdict (notRun). */
export const REGEX_MAX_WAITING = 64;

/**
 * A match's outcome: matched or not (`error`: the match ran and stopped without an answer, over
 * the time limit or failing on its thread, which is no match as in keepalived's check_regex),
 * else why it did not run (notRun: uvsd's own queue was full).
 */
export type RegexOutcome = { matched: boolean; error?: string } | { problem: string; notRun?: true };

interface RegexJob {
  url: RegexUrl;
  body: Uint8Array;
  /** Aborted: the check gave up (its connect_timeout) and the match is not run. */
  signal?: AbortSignal;
  resolve(o: RegexOutcome): void;
}

/**
 * The regex matches of every HTTP_GET and SSL_GET, one at a time on one worker thread, started
 * at the first match. A match that runs past limitMs of the thread's CPU time has its worker
 * terminated (the next match starts a fresh one) and fails; at most maxWaiting matches wait, in
 * order.
 *
 * The limit's timer is armed for limitMs when a match is posted; when it fires, the thread's CPU
 * time is read (ThreadCpu, by the thread id the worker posted when ready) and compared with the
 * thread's own reading when it last went idle (its CPU when the match was posted): under the
 * limit, the timer is armed again for the rest. A match that ends first costs nothing more. With
 * no reading (not Linux, no /proc) the limit is wall time.
 */
export class RegexMatcher {
  private worker: Worker | undefined;
  /** The worker has installed its handler (until then a match would wait for its start, not for itself). */
  private ready = false;
  private running: { job: RegexJob; timer: NodeJS.Timeout } | undefined;
  private readonly waiting: RegexJob[] = [];
  /** The worker thread's CPU clock, and its reading when the thread last went idle (ms). */
  private cpu: ThreadCpu | undefined;
  private idleCpuMs: number | undefined;

  constructor(
    private readonly limitMs = REGEX_TIME_LIMIT_MS,
    private readonly maxWaiting = REGEX_MAX_WAITING,
    /** The worker's script (tests: one that waits as a starved thread does). */
    private readonly script: URL = new URL('./regex-worker.js', import.meta.url),
  ) {}

  /** Does the body match the url's regex where its offsets allow (bodyMatches, on the worker)? A
   *  body with memory of its own is moved to the worker, not copied: the caller is done with it. */
  match(url: RegexUrl, body: Uint8Array, signal?: AbortSignal): Promise<RegexOutcome> {
    if (this.waiting.length >= this.maxWaiting) {
      return Promise.resolve({ problem: `regex match not run: ${this.maxWaiting} matches already wait for the regex thread`, notRun: true });
    }
    return new Promise((resolve) => {
      this.waiting.push({ url, body, signal, resolve });
      this.next();
    });
  }

  private next(): void {
    if (this.running !== undefined) return;
    while (this.waiting[0]?.signal?.aborted === true) this.waiting.shift()!.resolve({ problem: 'regex match not run: the check gave up' });
    if (this.waiting.length === 0) {
      this.worker?.unref(); // an idle thread keeps no process alive
      return;
    }
    const w = this.worker ?? this.start();
    w.ref();
    if (!this.ready) return;
    const job = this.waiting.shift()!;
    const { regex, regexOptions, regexMinOffset, regexMaxOffset } = job.url;
    this.running = { job, timer: setTimeout(() => this.limitReached(), this.limitMs) };
    // A body with a memory of its own (Buffer.concat's of more than 4 KB) is moved, not copied.
    const b = job.body;
    const own = b.byteOffset === 0 && b.byteLength === b.buffer.byteLength && b.buffer instanceof ArrayBuffer;
    w.postMessage({ url: { regex, regexOptions, regexMinOffset, regexMaxOffset }, body: b }, own ? [b.buffer as ArrayBuffer] : []);
  }

  private start(): Worker {
    const w = new Worker(this.script);
    this.worker = w;
    this.ready = false;
    this.forgetCpu();
    // Ready when its handler is installed, not at 'online': its start-up (loading its modules) is
    // not the first match's time.
    w.on('message', (m: RegexWorkerMessage) => {
      if (this.worker !== w) return;
      this.idleCpuMs = m.cpuMs;
      if ('ready' in m) {
        this.ready = true;
        if (m.tid !== undefined && m.clock !== undefined) this.cpu = ThreadCpu.open(`/proc/self/task/${m.tid}`, m.clock);
        this.next();
      } else this.settle('error' in m ? { matched: false, error: `regex: ${m.error}` } : { matched: m.matched });
    });
    w.once('error', (e) => this.lost(w, `regex thread failed: ${e.message}`));
    w.once('exit', (code) => this.lost(w, `regex thread exited (code ${code})`));
    return w;
  }

  private settle(o: RegexOutcome): void {
    const r = this.running;
    if (r === undefined) return;
    clearTimeout(r.timer);
    this.running = undefined;
    r.job.resolve(o);
    this.next();
  }

  /** The limit's timer: the running match has taken limitMs of wall time. Of the thread's CPU
   *  time less (it waited for a CPU): the timer is armed again for the rest; else it overran. */
  private limitReached(): void {
    const r = this.running;
    if (r === undefined) return;
    const now = this.idleCpuMs === undefined ? undefined : this.cpu?.ms();
    const used = now === undefined ? this.limitMs : now - this.idleCpuMs!;
    if (used < this.limitMs) r.timer = setTimeout(() => this.limitReached(), Math.max(1, this.limitMs - used));
    else this.overrun();
  }

  private forgetCpu(): void {
    this.cpu?.close();
    this.cpu = undefined;
    this.idleCpuMs = undefined;
  }

  /** The running match took too long: its worker goes (a regex cannot be interrupted otherwise); no match. */
  private overrun(): void {
    void this.worker?.terminate();
    this.worker = undefined;
    this.forgetCpu();
    this.settle({ matched: false, error: `regex match exceeded ${this.limitMs} ms (keepalived: pcre2 match limit)` });
  }

  /** Worker w died: the match it ran is no match (pcre2's out of memory is, in keepalived); with none
   *  running (the thread did not start) those waiting fail without a match, as would the next thread. */
  private lost(w: Worker, problem: string): void {
    if (this.worker !== w) return;
    this.worker = undefined;
    this.forgetCpu();
    if (this.running !== undefined) this.settle({ matched: false, error: problem });
    else for (const j of this.waiting.splice(0)) j.resolve({ problem });
  }
}

/** The matcher uvsd's checks share. */
export const regexMatcher = new RegexMatcher();
