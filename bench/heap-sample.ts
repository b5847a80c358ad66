// Preloaded into uvsd by `npm run bench -- --heap-sample DIR` (node --import): V8's sampling heap
// profiler with the objects scavenges and full collections freed included, so the profile shows
// where garbage comes from, not only what stays. Sampling starts UVS_HEAP_SAMPLE_AFTER_MS after
// start (default 3000: past start-up, whose allocations would drown the rest) and the profile is
// written when uvsd exits, as DIR/uvsd-PID.heapprofile (DIR from UVS_HEAP_SAMPLE_DIR; read it with
// `node dist/bench/heapprofile-top.js FILE`, or load it into Chrome's DevTools).
import { Session } from 'node:inspector';
import { writeFileSync } from 'node:fs';
import path from 'node:path';

const dir = process.env.UVS_HEAP_SAMPLE_DIR;
if (dir) {
  const session = new Session();
  session.connect();
  let started = false;
  const start = setTimeout(() => {
    // A sample every 1 KiB of allocation on average: small objects made per packet still show.
    session.post('HeapProfiler.startSampling', { samplingInterval: 1024, includeObjectsCollectedByMinorGC: true, includeObjectsCollectedByMajorGC: true }, (e) => {
      started = e === null;
    });
  }, Number(process.env.UVS_HEAP_SAMPLE_AFTER_MS ?? 3000));
  start.unref();
  process.on('exit', () => {
    clearTimeout(start);
    if (!started) return;
    // The same-thread session answers synchronously, so this runs to the end inside 'exit'.
    session.post('HeapProfiler.stopSampling', (e, r) => {
      if (e === null) writeFileSync(path.join(dir, `uvsd-${process.pid}.heapprofile`), JSON.stringify(r.profile));
    });
  });
}
