// uvs-decap's view of its host (src/modes/decap.ts DecapHost) for tests: addresses as text.
import { ip, mac } from './frames.js';
import { setHostMac, type DecapHost } from '../../src/modes/decap.js';

export function decapHost(o: { vips: string[]; locals: string[]; mac: string; guePort?: number }): DecapHost {
  const host: DecapHost = { vips: new Set(o.vips.map((v) => ip(v) | 0)), locals: new Set(o.locals.map((v) => ip(v) | 0)), macHi: 0, macLo: 0, guePort: o.guePort ?? 0 };
  setHostMac(host, mac(o.mac));
  return host;
}
