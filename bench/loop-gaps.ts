// Preloaded into uvsd by bench/statefile-load.ts (node --import): a timer every 2 ms notes each
// turn of the event loop that came more than UVS_LOOP_GAP_MS (default 4) late, as [epoch ms at
// its end, gap ms], and writes them as JSON to UVS_LOOP_GAPS_FILE when uvsd exits. The epoch
// time lines them up with the UDP ping's and uvsadm's times (other processes).
import { writeFileSync } from 'node:fs';

const file = process.env.UVS_LOOP_GAPS_FILE;
if (file) {
  const min = Number(process.env.UVS_LOOP_GAP_MS ?? 4);
  const every = 2;
  const gaps: [number, number][] = [];
  let last = performance.now();
  setInterval(() => {
    const now = performance.now();
    if (now - last - every > min) gaps.push([performance.timeOrigin + now, now - last]);
    last = now;
  }, every).unref();
  process.on('exit', () => writeFileSync(file, JSON.stringify({ timeOrigin: performance.timeOrigin, gaps })));
}
