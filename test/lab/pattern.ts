// The deterministic byte pattern the lab's servers send (GET /big) and clients upload: byte i is
// a function of i only, so both ends can compute the expected sha256 without sharing a file.
export function labPattern(start: number, n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let k = 0; k < n; k++) {
    const i = start + k;
    b[k] = (i * 31 + (i >>> 8) + (i >>> 16) * 7) & 0xff;
  }
  return b;
}
