// Firewall marks for -f services (docs/fwmark.md). The kernel's IPVS reads the mark iptables set
// on the packet (skb->mark); frames reach uvsd through a TAP, where no mark travels, so uvsd sets
// it itself from rules of the form (protocol, VIP, port range) -> mark: `uvsadm --add-mark -f 1
// -t 192.168.8.200:443` is `iptables -t mangle -A PREROUTING -d 192.168.8.200 -p tcp --dport 443
// -j MARK --set-mark 1`. The control plane refuses overlapping rules, so a packet matches one
// rule at most. Consulted only for a packet no connection knows (newConn), and not at all while
// there are no rules.

import { U32PairMap } from './lookup.js';

export interface MarkRule {
  /** PROTO_TCP, PROTO_UDP or PROTO_SCTP. */
  proto: number;
  /** int32 */
  vip: number;
  /** Destination ports portMin..portMax (0..65535: every port). */
  portMin: number;
  portMax: number;
  /** 1..2^32-1, as int32. */
  mark: number;
}

export class MarkRules {
  /** In the order added (the control plane's order too). */
  readonly rules: MarkRule[] = [];
  /** (vip, proto) -> the first rule of that address and protocol; then next[] (-1 ends). */
  private heads = new U32PairMap();
  private next = new Int32Array(0);
  private lo = new Int32Array(0);
  private hi = new Int32Array(0);
  private marks = new Int32Array(0);

  get count(): number {
    return this.rules.length;
  }

  add(r: MarkRule): void {
    this.rules.push({ ...r, vip: r.vip | 0, mark: r.mark | 0 });
    this.rebuild();
  }

  /** Remove the rule of exactly this protocol, address and port range; whether it was there. */
  delete(proto: number, vip: number, portMin: number, portMax: number): boolean {
    const i = this.rules.findIndex((r) => r.proto === proto && r.vip === (vip | 0) && r.portMin === portMin && r.portMax === portMax);
    if (i < 0) return false;
    this.rules.splice(i, 1);
    this.rebuild();
    return true;
  }

  /** The mark of a packet of proto to vip:port (int32), or 0 when no rule takes it. Never allocates. */
  markOf(proto: number, vip: number, port: number): number {
    let i = this.heads.get(vip, proto);
    while (i >= 0) {
      if (port >= this.lo[i] && port <= this.hi[i]) return this.marks[i];
      i = this.next[i];
    }
    return 0;
  }

  /** The rules change a few at a time, from the control plane: rebuilt whole (O(rules)). */
  private rebuild(): void {
    const n = this.rules.length;
    this.heads = new U32PairMap();
    this.next = new Int32Array(n).fill(-1);
    this.lo = new Int32Array(n);
    this.hi = new Int32Array(n);
    this.marks = new Int32Array(n);
    // Backwards, so each chain lists its rules in the order added.
    for (let i = n - 1; i >= 0; i--) {
      const r = this.rules[i]!;
      this.lo[i] = r.portMin;
      this.hi[i] = r.portMax;
      this.marks[i] = r.mark;
      this.next[i] = this.heads.get(r.vip, r.proto);
      this.heads.set(r.vip, r.proto, i);
    }
  }
}
