// Forwarders by id (the value stored on each connection entry). Methods not built yet are
// absent; the control plane refuses destinations that would need them.

import type { Forwarder } from './types.js';
import { FWD_DR, FWD_NAT, FWD_TUN, FWD_FULLNAT } from './types.js';
import { dr } from './dr.js';
import { nat } from './nat.js';
import { tun } from './tun.js';
import { fullnat } from './fullnat.js';

export const FORWARDERS: (Forwarder | undefined)[] = [];
FORWARDERS[FWD_DR] = dr;
FORWARDERS[FWD_NAT] = nat;
FORWARDERS[FWD_TUN] = tun;
FORWARDERS[FWD_FULLNAT] = fullnat;

/** Forwarding-method names as the control protocol spells them, by id. */
export const FWD_NAMES = ['dr', 'nat', 'tun', 'fullnat'] as const;
export const FWD_IDS: Record<string, number> = { dr: FWD_DR, nat: FWD_NAT, tun: FWD_TUN, fullnat: FWD_FULLNAT };

export type { Forwarder, Output } from './types.js';
