// A WatchLog (src/control/faults.ts) that keeps its lines for a test to compare.
import type { WatchLog } from '../../src/control/faults.js';

export type LogLine = { level: 'warn' | 'info'; msg: string; fields: Record<string, unknown> };

export function logRecorder(): WatchLog & { lines: LogLine[]; take(): LogLine[] } {
  const lines: LogLine[] = [];
  return {
    lines,
    warn: (fields, msg) => void lines.push({ level: 'warn', msg, fields: fields as Record<string, unknown> }),
    info: (fields, msg) => void lines.push({ level: 'info', msg, fields: fields as Record<string, unknown> }),
    /** The lines logged since the last take(). */
    take: () => lines.splice(0, lines.length),
  };
}
