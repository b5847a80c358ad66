// uvs-decap's receive batch (src/cli/decap.ts): each frame decapsulated (decap.ts), outer
// fragments put together first (decap-reasm.ts), and the inner packets written into the TUN in
// one call, pointing into the receive buffer past the outer header (no copies). Counted by
// outcome, for the summary uvs-decap prints when it stops. No allocation per frame.
import type { FrameSink } from '../datapath/tx.js';
import { DECAP_COUNTERS, DECAP_FRAGMENT, DECAP_OK, decapFrame, type DecapHost } from './decap.js';
import { OuterReassembly, REASM_COUNTERS } from './decap-reasm.js';

export class DecapPump {
  /** Inner packets the TUN took. */
  decapsulated = 0;
  /** Inner packets the TUN refused: set down (the kernel's EIO), or no room. Dropped, counted. */
  tunDropped = 0;
  /** Tunnelled frames refused, by reason (DECAP_COUNTERS). */
  readonly refused = new Float64Array(DECAP_COUNTERS.length);
  readonly reasm = new OuterReassembly();
  private readonly offs: Uint32Array;
  private readonly lens: Uint32Array;
  private readonly inner = new Int32Array(2);
  private readonly one = new Uint32Array(1);
  private readonly oneLen = new Uint32Array(1);

  /** batch: frames per receive batch at most. */
  constructor(private readonly host: DecapHost, private readonly tun: FrameSink, batch: number) {
    this.offs = new Uint32Array(batch);
    this.lens = new Uint32Array(batch);
  }

  /** Frames i < count at buf[i * stride], lengths in lens (a frame of stride bytes may have been
   *  cut by the read: decapFrame's readMax); now: the batch's clock (ms). */
  take(buf: Buffer, stride: number, lens: Uint32Array, count: number, now: number): void {
    const inner = this.inner;
    let n = 0;
    for (let i = 0; i < count; i++) {
      let r = decapFrame(buf, i * stride, lens[i], this.host, inner, stride);
      if (r === DECAP_FRAGMENT) {
        // A whole packet again, sent on its own (its slot is reused by the next fragment).
        const f = this.reasm.add(buf, i * stride, lens[i], now);
        if (f < 0) continue;
        r = decapFrame(this.reasm.buf, f, this.reasm.doneLen, this.host, inner);
        if (r === DECAP_OK) {
          this.one[0] = inner[0];
          this.oneLen[0] = inner[1];
          this.write(this.reasm.buf, this.one, this.oneLen, 1);
          continue;
        }
      }
      if (r < 0) this.refused[-r - 1]++;
      if (r !== DECAP_OK) continue;
      this.offs[n] = inner[0];
      this.lens[n] = inner[1];
      n++;
    }
    if (n > 0) this.write(buf, this.offs, this.lens, n);
  }

  private write(buf: Buffer, offs: Uint32Array, lens: Uint32Array, n: number): void {
    const sent = this.tun.send(buf, offs, lens, n);
    this.decapsulated += sent;
    this.tunDropped += n - sent;
  }

  /** The counts by name, as uvs-decap's summary line has them. */
  counts(): Record<string, number> {
    return {
      decapsulated: this.decapsulated,
      tun_dropped: this.tunDropped,
      ...Object.fromEntries(DECAP_COUNTERS.map((name, k) => [name, this.refused[k]])),
      ...Object.fromEntries(REASM_COUNTERS.map((name, k) => [name, this.reasm.counts[k]])),
    };
  }
}
