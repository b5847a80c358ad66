// The memory row: uvsd's resident set with 1,000,000 connection entries. uvsd starts with
// --conn-max 2^20 (1,048,576) and --evict-above 1 (by default a new flow evicts an unconfirmed
// entry from 90% fill on, so the table would hold at most ~943,700) in the DR lab, the generator sends new flows until `status` counts
// 1,000,000 connections (UDP entries live 300 s, so none expire meanwhile), then VmRSS is read
// from /proc/PID/status. Bytes per entry = the whole RSS / entries; the RSS growth while filling is
// recorded too, but uvsd prefaults the table's arrays at start (no page is first touched on the
// packet path; all but the SYN proxy's and TOA's columns, which these UDP flows never write), so it
// is ~0 and the RSS is set by --conn-max, not by the fill. The table's own
// bytes per slot (ConnTable.bytesPerEntry) are in the sample's extra. MB = 10^6 bytes.
import { delay, type Proc } from '../../test/lab/netns.js';
import { readCpus } from './host.js';
import type { Sample } from './rows.js';
import { round, stealFlag } from './stats.js';
import { ConnTable } from '../../src/datapath/conntable.js';
import { rssBytes, type UdpLab } from './udp.js';

export const MEMORY_TARGET_ENTRIES = 1_000_000;

export async function memoryRow(u: UdpLab, repeat: number, maxSeconds = 60): Promise<Sample[]> {
  let gen: Proc | null = null;
  let uvsd: Awaited<ReturnType<UdpLab['startUvsd']>> | null = null;
  const sample = (variant: string, value: number, unit: string, extra: Record<string, unknown>, steal: number[]): Sample => ({
    row: 'memory', variant, repeat, value, unit, steal, stealFlagged: stealFlag(steal), extra,
  });
  try {
    await u.refreshFdb();
    uvsd = await u.startUvsd(`memory-${repeat}`, 'auto', 1 << 20, [], ['--evict-above', '1']);
    if (!(await u.waitStationLearned())) throw new Error('bridge never learned the station MAC');
    const pid = uvsd.proc.child.pid;
    await delay(500);
    const rss0 = rssBytes(pid);
    const cpuA = readCpus();
    const t0 = performance.now();
    gen = u.lab.spawn(u.cli, u.genArgv('new', maxSeconds));
    let conns = 0;
    while (performance.now() - t0 < maxSeconds * 1000) {
      await delay(250);
      const st = await u.uvsdStatus(uvsd.socket);
      conns = Number(st['conns'] ?? 0);
      if (conns >= MEMORY_TARGET_ENTRIES || gen.done()) break;
    }
    await gen.stop(2000);
    gen = null;
    const fillS = (performance.now() - t0) / 1000;
    const cpuB = readCpus();
    const steal = cpuB.map((c, i) => round((c.steal - cpuA[i]!.steal) / fillS, 3));
    await delay(300);
    const st = await u.uvsdStatus(uvsd.socket);
    conns = Number(st['conns'] ?? conns);
    const rss = rssBytes(pid);
    const extra = { conns, rssStartMB: round(rss0 / 1e6, 1), rssMB: round(rss / 1e6, 1), fillSeconds: round(fillS, 1), connMax: 1 << 20, tableBytesPerSlot: round(ConnTable.bytesPerEntry(1 << 20), 1), drops: st['drops'] };
    if (conns < MEMORY_TARGET_ENTRIES) throw new Error(`only ${conns} connections after ${round(fillS, 1)} s`);
    return [
      sample('uvsd RSS', round(rss / 1e6, 1), 'MB', extra, steal),
      sample('bytes per entry (RSS growth)', Math.round((rss - rss0) / conns), 'B', extra, steal),
      sample('bytes per entry (whole RSS)', Math.round(rss / conns), 'B', extra, steal),
    ];
  } catch (e) {
    console.error(`bench: memory: ${(e as Error).message}`);
    return [{ ...sample('uvsd RSS', 0, 'MB', {}, []), error: (e as Error).message }];
  } finally {
    if (gen) await gen.stop(2000);
    if (uvsd) await uvsd.stats().catch(() => null);
  }
}
