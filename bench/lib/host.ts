// What the benchmark reads from the host: CPU time per CPU and per process (/proc), and a
// description of the machine for the results file.
import { readFileSync } from 'node:fs';
import os from 'node:os';

export interface CpuTimes {
  busy: number; // user+nice+system+irq+softirq
  softirq: number;
  steal: number;
}

const CLK_TCK = 100;

export function readCpus(): CpuTimes[] {
  const out: CpuTimes[] = [];
  for (const line of readFileSync('/proc/stat', 'utf8').split('\n')) {
    const m = /^cpu(\d+) (.*)/.exec(line);
    if (!m) continue;
    const [user, nice, system, , , irq, softirq, steal] = m[2]!.trim().split(/\s+/).map(Number) as number[];
    out[Number(m[1])] = { busy: (user! + nice! + system! + irq! + softirq!) / CLK_TCK, softirq: softirq! / CLK_TCK, steal: steal! / CLK_TCK };
  }
  return out;
}

/** A process's user+system CPU seconds (all threads), 0 when it is gone. */
export function readProcCpu(pid: number | undefined): number {
  if (!pid) return 0;
  try {
    const st = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / CLK_TCK; // utime, stime
  } catch {
    return 0;
  }
}

/** Seconds the process's main thread has waited, runnable, for a CPU (/proc/PID/schedstat's run delay). */
export function readRunDelay(pid: number | undefined): number {
  if (!pid) return 0;
  try {
    return Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[1]) / 1e9;
  } catch {
    return 0;
  }
}

export function machine(): Record<string, string | number> {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const model = /model name\s*:\s*(.*)/.exec(cpuinfo)?.[1]?.trim() ?? 'unknown';
  const mhz = /cpu MHz\s*:\s*(.*)/.exec(cpuinfo)?.[1]?.trim() ?? '';
  return {
    nproc: os.cpus().length,
    cpu: model,
    mhz,
    kernel: os.release(),
    node: process.version,
    memMB: Math.round(os.totalmem() / 2 ** 20),
  };
}

