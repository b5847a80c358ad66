// Whether a process catches a signal, from /proc (the uvsd start and --check-config tests wait on it).
import { readFileSync } from 'node:fs';

/** Process `pid` has a handler for signal number `sig` (/proc/PID/status SigCgt); false once it is gone. */
export function sigCaught(pid: number, sig: number): boolean {
  try {
    const m = /^SigCgt:\s*([0-9a-f]+)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m !== null && ((BigInt(`0x${m[1]}`) >> BigInt(sig - 1)) & 1n) === 1n;
  } catch {
    return false;
  }
}
