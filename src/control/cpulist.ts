// CPU lists as Linux writes them (taskset -c, /proc/PID/status Cpus_allowed_list, isolcpus=):
// "1", "0,2", "4-7,9". uvsd --datapath-cpus reads one; status prints the pinning with one.

/** The CPUs of a list, in its order; throws with the offending text (a CPU named twice too). */
export function parseCpuList(text: string): number[] {
  const out: number[] = [];
  for (const part of text.split(',')) {
    const m = /^(\d{1,4})(?:-(\d{1,4}))?$/.exec(part);
    if (m === null) throw new Error(`"${text}" is no CPU list (e.g. 1 or 0,2-3)`);
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    if (b < a) throw new Error(`"${text}": the range ${part} runs backwards`);
    for (let cpu = a; cpu <= b; cpu++) {
      if (out.includes(cpu)) throw new Error(`"${text}" names CPU ${cpu} twice`);
      out.push(cpu);
    }
  }
  return out;
}

/** The CPUs sorted, consecutive ones as a range: [3, 0, 1, 2, 5] -> "0-3,5". */
export function formatCpuList(cpus: readonly number[]): string {
  const s = [...cpus].sort((x, y) => x - y);
  const parts: string[] = [];
  for (let i = 0; i < s.length; i++) {
    let j = i;
    while (j + 1 < s.length && s[j + 1] === s[j]! + 1) j++;
    parts.push(j === i ? String(s[i]) : `${s[i]}-${s[j]}`);
    i = j;
  }
  return parts.join(',');
}
