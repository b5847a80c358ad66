// Transmission. Frames to send are collected while a receive batch is processed and written
// with one native call per buffer at the end (DESIGN.md: one JS↔native crossing per batch).
// Most frames go out from the receive buffer itself (forwarded, or answered in place); frames
// uvsd builds (ARP requests, announcements, ICMP errors, IPIP encapsulations) come from a
// buffer of its own, in slots large enough for a whole frame of the link's MTU plus an outer
// IP header (TUN builds its encapsulated copy there: see docs/architecture.md).

import { C, D, type Counters } from './counters.js';

/** Where frames go out: the TAP port in uvsd, a capture array in tests. */
export interface FrameSink {
  /** Write frames buf[offs[i], offs[i] + lens[i]) for i < count; returns how many the port took,
   *  and sets lens[i] to 0 for each frame it did not take (which ones a full queue refused, the
   *  count alone cannot say): tx_bytes is the sum of lens afterwards. */
  send(buf: Buffer, offs: Uint32Array, lens: Uint32Array, count: number): number;
  /**
   * true: send() only hands the frames to another thread (uvsd --workers, --datapath-thread: the
   * shadow's probes and announcements go out through worker 0's queue), which writes them and
   * counts each there as the port takes or refuses it (sendCopies); Tx counts none of them.
   */
  readonly handsOn?: boolean;
}

const oneOff = new Uint32Array(1);
const oneLen = new Uint32Array(1);

/**
 * Write frames another thread built and handed on (FrameSink.handsOn), one by one through port,
 * each with the `pre` bytes in front of it (its vnet header): tx_frames and tx_bytes count the
 * ones the port took, tx_failed the ones it refused, as Tx.write counts its own. Control time
 * (a probe, a gratuitous ARP), not per forwarded packet.
 */
export function sendCopies(port: FrameSink, counters: Counters, frames: readonly Uint8Array[], pre: number): void {
  const c = counters.c;
  for (const f of frames) {
    const b = Buffer.from(f.buffer, f.byteOffset, f.length);
    oneOff[0] = pre;
    oneLen[0] = f.length - pre;
    if (port.send(b, oneOff, oneLen, 1) === 1) {
      c[C.tx_frames]++;
      c[C.tx_bytes] += f.length - pre;
    } else {
      counters.d[D.tx_failed]++;
    }
  }
}

/** Room for frames uvsd builds itself within one batch beyond one per received frame. */
const GEN_EXTRA_SLOTS = 64;
/** Bytes in front of every generated frame, never written: its vnet header when the port has one
 *  (all zero: complete checksums, no GSO; see vnet.ts). 16 keeps IP headers at the rx alignment. */
export const GEN_PRE = 16;

/** Offsets and lengths of frames in one buffer, written together. */
export class TxBatch {
  readonly offs: Uint32Array;
  readonly lens: Uint32Array;
  count = 0;
  buf: Buffer;
  constructor(buf: Buffer, size: number) {
    this.buf = buf;
    this.offs = new Uint32Array(size);
    this.lens = new Uint32Array(size);
  }
  push(off: number, len: number): boolean {
    if (this.count >= this.offs.length) return false;
    this.offs[this.count] = off;
    this.lens[this.count] = len;
    this.count++;
    return true;
  }
}

export class Tx {
  /** Frames uvsd builds are written here, one genSlotBytes slot each (see genSlot). */
  readonly genBuf: Buffer;
  /** Bytes per generated-frame slot: GEN_PRE, an MTU-sized frame, its Ethernet header and 20 more for IPIP. */
  readonly genSlotBytes: number;
  private readonly genSlots: number;
  private readonly genWords: Int32Array;
  private rxWords: Int32Array | null = null;
  private readonly rx: TxBatch;
  private readonly gen: TxBatch;
  private readonly sink: FrameSink;
  private readonly counters: Counters;
  /** Whether write() counts what the sink took (not when it hands the frames on: FrameSink.handsOn). */
  private readonly counts: boolean;

  constructor(sink: FrameSink, counters: Counters, batch: number, mtu = 1500) {
    this.sink = sink;
    this.counters = counters;
    this.counts = sink.handsOn !== true;
    this.genSlotBytes = Math.ceil((GEN_PRE + mtu + 14 + 20) / 64) * 64;
    this.genSlots = batch + GEN_EXTRA_SLOTS;
    this.genBuf = Buffer.alloc(this.genSlots * this.genSlotBytes);
    this.genWords = new Int32Array(this.genBuf.buffer, this.genBuf.byteOffset, this.genBuf.length >>> 2);
    this.rx = new TxBatch(Buffer.alloc(0), batch + GEN_EXTRA_SLOTS);
    this.gen = new TxBatch(this.genBuf, this.genSlots);
  }

  /** The receive buffer of the batch being processed. */
  setRxBuffer(buf: Buffer): void {
    if (buf !== this.rx.buf) {
      this.rx.buf = buf;
      // Word views for copyToGen (once per buffer, not per packet).
      this.rxWords = buf.byteOffset % 4 === 0 ? new Int32Array(buf.buffer, buf.byteOffset, buf.length >>> 2) : null;
    }
  }

  /**
   * Copy len bytes of the receive buffer at srcOff into genBuf at genOff without allocating
   * (Buffer.copy makes a view object per call): 32-bit words where both sides share the
   * alignment (IP headers at +14 in 2048-byte slots and 64-byte gen slots do), bytes otherwise.
   */
  copyToGen(src: Buffer, srcOff: number, genOff: number, len: number): void {
    const g = this.genBuf;
    let i = 0;
    const words = src === this.rx.buf ? this.rxWords : null;
    if (words !== null && (srcOff & 3) === (genOff & 3)) {
      while (((srcOff + i) & 3) !== 0 && i < len) {
        g[genOff + i] = src[srcOff + i];
        i++;
      }
      const gw = this.genWords;
      const sw = (srcOff + i) >>> 2;
      const dw = (genOff + i) >>> 2;
      const n = (len - i) >>> 2;
      for (let k = 0; k < n; k++) gw[dw + k] = words[sw + k];
      i += n * 4;
    }
    for (; i < len; i++) g[genOff + i] = src[srcOff + i];
  }

  /** Send a frame of the receive buffer at the end of the batch. */
  emit(off: number, len: number): void {
    if (!this.rx.push(off, len)) this.counters.d[D.tx_failed]++;
  }

  /** Offset of a free slot in genBuf for a frame uvsd builds, or -1 when the batch has no room. */
  genSlot(): number {
    return this.gen.count < this.genSlots ? this.gen.count * this.genSlotBytes + GEN_PRE : -1;
  }

  /** Write the generated frames now (a GSO frame cut into more segments than a batch has slots). */
  genFlush(): void {
    this.write(this.gen);
  }

  /** Send a frame from the receive buffer or from genBuf (by which buffer it is in). */
  emitFrom(buf: Buffer, off: number, len: number): void {
    if (buf === this.genBuf) this.gen.push(off, len);
    else this.emit(off, len);
  }

  /** Send the frame just built at `off` (from genSlot) at the end of the batch. */
  emitGen(off: number, len: number): void {
    this.gen.push(off, len);
  }

  /** Write a batch now, counting what the sink took and what it refused. */
  write(b: TxBatch): void {
    if (b.count === 0) return;
    const sent = this.sink.send(b.buf, b.offs, b.lens, b.count);
    if (!this.counts) {
      // Handed on: the thread that writes them counts them (sendCopies), what its port took.
      b.count = 0;
      return;
    }
    const c = this.counters.c;
    c[C.tx_frames] += sent;
    // The bytes of the frames the sink took: it zeroed the lengths of those it refused.
    let bytes = 0;
    for (let i = 0; i < b.count; i++) bytes += b.lens[i];
    c[C.tx_bytes] += bytes;
    if (sent < b.count) this.counters.d[D.tx_failed] += b.count - sent;
    b.count = 0;
  }

  /** End of a batch (or a timer tick): write everything collected. */
  flush(): void {
    this.write(this.rx);
    this.write(this.gen);
  }
}
