// Destinations (real servers) as typed-array slots, so the per-packet path and the
// schedulers read weights and connection counts without touching objects.

export const DEST_F_USED = 1;

export class DestTable {
  readonly max: number;
  readonly addr: Uint32Array;
  readonly port: Uint16Array;
  readonly fwd: Uint8Array;
  readonly flags: Uint8Array;
  readonly weight: Int32Array;
  readonly active: Uint32Array;
  readonly inactive: Uint32Array;
  /** Totals since the last zero: connections, packets and bytes towards the server. */
  readonly conns: Float64Array;
  readonly inPkts: Float64Array;
  readonly inBytes: Float64Array;
  readonly outPkts: Float64Array;
  readonly outBytes: Float64Array;
  private readonly freeList: number[] = [];

  constructor(max: number) {
    this.max = max;
    this.addr = new Uint32Array(max);
    this.port = new Uint16Array(max);
    this.fwd = new Uint8Array(max);
    this.flags = new Uint8Array(max);
    this.weight = new Int32Array(max);
    this.active = new Uint32Array(max);
    this.inactive = new Uint32Array(max);
    this.conns = new Float64Array(max);
    this.inPkts = new Float64Array(max);
    this.inBytes = new Float64Array(max);
    this.outPkts = new Float64Array(max);
    this.outBytes = new Float64Array(max);
    for (let i = max - 1; i >= 0; i--) this.freeList.push(i);
  }

  get free(): number {
    return this.freeList.length;
  }

  alloc(addr: number, port: number, fwd: number, weight: number): number {
    const d = this.freeList.pop();
    if (d === undefined) return -1;
    this.addr[d] = addr;
    this.port[d] = port;
    this.fwd[d] = fwd;
    this.weight[d] = weight;
    this.flags[d] = DEST_F_USED;
    this.active[d] = 0;
    this.inactive[d] = 0;
    this.zero(d);
    return d;
  }

  zero(d: number): void {
    this.conns[d] = 0;
    this.inPkts[d] = 0;
    this.inBytes[d] = 0;
    this.outPkts[d] = 0;
    this.outBytes[d] = 0;
  }

  release(d: number): void {
    this.flags[d] = 0;
    this.freeList.push(d);
  }

  /** Eligible for new connections: in use and weight > 0 (further flags, e.g. overload, make it ineligible). */
  available(d: number): boolean {
    return this.flags[d] === DEST_F_USED && this.weight[d] > 0;
  }
}
