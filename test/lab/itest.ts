// Glue between node:test and the DR lab: skip with a reason where the lab cannot run, build a
// fresh lab per test, start uvsd, and always tear down in finally. On failure the tail of uvsd's
// log and the control API status are attached as diagnostics so a red test explains itself.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { delay, Lab, labUnavailableReason } from './netns.js';
import { createDrLab, repoRoot, uvsadmCall as uvsadmCallAt, uvsadmRestoreCall, VIP, type DrLab, type DrLabOptions, type StartUvsdOptions } from './dr-lab.js';

let cachedReason: string | null | undefined;
/** Why integration tests cannot run here (cached), or null. */
export function skipReason(): string | null {
  if (cachedReason === undefined) cachedReason = labUnavailableReason();
  return cachedReason;
}

/** Marks t skipped, with the reason as a diagnostic, when there is one (by default: the lab
 *  cannot run here); true when it did, so the caller returns. */
export function skipIf(t: TestContext, reason: string | null = skipReason()): boolean {
  if (!reason) return false;
  t.diagnostic(`skipped: ${reason}`);
  t.skip(reason);
  return true;
}

export interface WithLabOptions extends DrLabOptions {
  /** Start uvsd before calling fn (default true). */
  uvsd?: boolean | StartUvsdOptions;
}

/**
 * Runs fn with a fresh DR lab; returns false (and marks the test skipped) when the lab cannot
 * run here. The lab is destroyed in finally, also when fn throws.
 */
export async function withDrLab(t: TestContext, opts: WithLabOptions, fn: (lab: DrLab) => Promise<void>): Promise<boolean> {
  if (skipIf(t)) return false;
  for (const bin of ['bin/uvsd', 'bin/uvsadm']) {
    if (!existsSync(join(repoRoot, bin))) throw new Error(`${bin} is missing (build the project first)`);
  }
  const lab = await createDrLab(opts);
  const started = Date.now();
  try {
    if (opts.uvsd !== false) await lab.startUvsd(typeof opts.uvsd === 'object' ? opts.uvsd : {});
    await fn(lab);
  } catch (e) {
    await explain(t, lab);
    throw e;
  } finally {
    await lab.destroy();
    t.diagnostic(`lab ${lab.lab.prefix}: ${Date.now() - started} ms`);
  }
  return true;
}

/**
 * Runs fn with an empty lab whose namespaces are named from `prefix` (an earlier run's leftovers
 * removed first) and a temporary directory; false (test skipped) where the lab cannot run. Both
 * are removed in finally, also when fn throws.
 */
export async function withLab(t: TestContext, prefix: string, fn: (lab: Lab, tmp: string) => Promise<void>): Promise<boolean> {
  if (skipIf(t)) return false;
  await Lab.cleanupLeftovers(prefix);
  const lab = new Lab(prefix);
  const tmp = mkdtempSync(join(tmpdir(), `${lab.prefix}-`));
  try {
    await fn(lab, tmp);
  } finally {
    await lab.destroy();
    rmSync(tmp, { recursive: true, force: true });
  }
  return true;
}

async function explain(t: TestContext, lab: DrLab): Promise<void> {
  try {
    if (lab.uvsd) {
      t.diagnostic(`uvsd alive: ${lab.uvsdAlive()}`);
      if (lab.uvsdAlive()) {
        const st = await lab.status();
        t.diagnostic(`uvsd counters: ${JSON.stringify(st.counters)}`);
        t.diagnostic(`uvsd drops: ${JSON.stringify(st.drops)}`);
        const ln = await lab.uvsadm(['-Ln']);
        diagnosticLines(t, 'uvsadm -Ln:', ln.stdout);
      }
      diagnosticLines(t, 'uvsd stdout (tail):', lab.uvsd.stdout(), 15);
      diagnosticLines(t, 'uvsd stderr (tail):', lab.uvsd.stderr(), 15);
    }
  } catch (e) {
    t.diagnostic(`could not collect uvsd state: ${String(e)}`);
  }
}

/** Sum of all values of a counter record. */
export function sum(r: Record<string, number>): number {
  return Object.values(r).reduce((a, b) => a + b, 0);
}

/** A multi-line text as one diagnostic per line (TAP escapes newlines inside one). */
export function diagnosticLines(t: TestContext, title: string, text: string, tail = 200): void {
  const lines = text.replace(/\n$/, '').split('\n').slice(-tail);
  if (lines.length === 1 && lines[0] === '') return;
  t.diagnostic(title);
  for (const l of lines) t.diagnostic(`  ${l}`);
}

/**
 * GET a URL from inside the director namespace (e.g. uvsd's --metrics listener); throws unless 2xx.
 * node:http, not fetch: undici's first fetch() in a process costs ~0.3-0.7 s of loading, which
 * polling loops paid on every call.
 */
export async function getInDirector(lab: DrLab, url: string): Promise<string> {
  const script = [
    "require('node:http').get(process.argv[1], (r) => {",
    "  const body = []; r.on('data', (d) => body.push(d));",
    "  r.on('end', () => { if (r.statusCode < 200 || r.statusCode > 299) { console.error('HTTP ' + r.statusCode); process.exit(1); } process.stdout.write(Buffer.concat(body)); });",
    "}).on('error', (e) => { console.error(String(e)); process.exit(1); });",
  ].join('\n');
  const r = await lab.lab.exec(lab.ns.dir, [process.execPath, '-e', script, url], { timeoutMs: 10_000 });
  if (r.code !== 0) throw new Error(`GET ${url} failed (${r.code}): ${r.stderr.trim()}`);
  return r.stdout;
}

/** uvsadmCall (dr-lab.ts) to the lab's uvsd: a mutating uvsadm command without a uvsadm process. */
export function uvsadmCall(lab: DrLab, args: string[]): Promise<void> {
  return uvsadmCallAt(lab.socketPath, args);
}

/** The VIP's services (default TCP port 80), rr over every real server (DR), and `more` rule
 *  lines: one `uvsadm -R` batch, sent over the control socket (uvsadmRestoreCall: no uvsadm
 *  process, each is a node start of ~0.3 s). */
export async function drService(lab: DrLab, services: Array<['-t' | '-u', number]> = [['-t', 80]], more: string[] = []): Promise<void> {
  const rules = services.flatMap(([proto, port]) => [
    `-A ${proto} ${VIP}:${port} -s rr`,
    ...lab.servers.map((s) => `-a ${proto} ${VIP}:${port} -r ${s.addr}:${port} -g`),
  ]);
  await uvsadmRestoreCall(lab.socketPath, [...rules, ...more, ''].join('\n'));
}

/** uvsd's log lines whose msg matches re. */
export function logLines(lab: DrLab, re: RegExp): string[] {
  return lab.uvsd!.stdout().split('\n').filter((l) => l.startsWith('{') && re.test((JSON.parse(l) as { msg: string }).msg));
}

/** Wait (5 s at most by default) until uvsd has logged n lines matching re; those lines. */
export async function waitLog(lab: DrLab, re: RegExp, n = 1, ms = 5000): Promise<string[]> {
  for (let i = 0; i < ms / 100 && logLines(lab, re).length < n; i++) await delay(100);
  const lines = logLines(lab, re);
  assert.equal(lines.length, n, `${n} log line(s) matching ${re}; log tail:\n${lab.uvsd!.stdout().split('\n').slice(-8).join('\n')}`);
  return lines;
}

/** Wait (3 s at most) until `uvsadm --status` has the line want (its line of the same first word). */
export async function waitStatusLine(lab: DrLab, want: string): Promise<void> {
  const key = `${want.split(' ')[0]} `;
  let line: string | undefined;
  for (let i = 0; i < 30 && (line = (await lab.uvsadmMust(['--status'])).split('\n').find((l) => l.startsWith(key))) !== want; i++) await delay(100);
  assert.equal(line, want);
}
