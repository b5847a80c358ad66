// MISC_CHECK: run misc_path with misc_timeout. Exit 0 = healthy, anything else = failed; with
// misc_dynamic, exit 2..255 = healthy with weight (code - 2) and exit 0 = healthy with the configured
// weight again (keepalived's rule: check_misc.c sets rs->iweight when the code comes back to 0).
import { runCommand } from '../exec.js';
import type { CheckResult, MiscCheck } from '../types.js';
import { isLocalResourceError } from './resource.js';

export async function checkMisc(spec: Pick<MiscCheck, 'command' | 'timeoutMs' | 'dynamic' | 'user'>): Promise<CheckResult> {
  const r = await runCommand(spec.command, spec.timeoutMs, spec.user);
  if (isLocalResourceError(r.spawnError, true)) return { ok: false, notRun: true, reason: `misc_path ${r.problem}` };
  if (r.code === null) return { ok: false, reason: `misc_path ${r.problem}` };
  if (r.code === 0) return spec.dynamic ? { ok: true, reason: 'exit 0', weight: null } : { ok: true, reason: 'exit 0' };
  if (spec.dynamic && r.code >= 2) return { ok: true, reason: `exit ${r.code}: weight ${r.code - 2}`, weight: r.code - 2 };
  return { ok: false, reason: `exit ${r.code}` };
}
