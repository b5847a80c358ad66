// The TCP state table against the kernel's tcp_states[] (net/netfilter/ipvs/ip_vs_proto_tcp.c),
// event priority, default timeouts, and the active/inactive counters moving through the pipeline.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DEFAULT_TIMEOUTS_S, DIR_INPUT, DIR_INPUT_ONLY, DIR_OUTPUT, EV_ACK, EV_FIN, EV_RST, EV_SYN, NEXT, S_COUNT, STATE_NAMES,
  nextState, tcpEvent,
} from '../src/datapath/tcpstate.js';
import { tcpFrame, TCP_FLAGS } from './helpers/frames.js';
import { assertExpiresAfter, CLIENT, DIR_MAC, drRig, ROUTER_MAC, VIP } from './helpers/harness.js';

// Transcribed from the kernel (state names as columns: NO ES SS SR FW TW CL CW LA LI SA).
const KERNEL: Record<string, Record<string, string>> = {
  'INPUT syn': { row: 'SR ES ES SR SR SR SR SR SR SR SR' },
  'INPUT fin': { row: 'CL CW SS TW TW TW CL CW LA LI TW' },
  'INPUT ack': { row: 'CL ES SS ES FW TW CL CW CL LI ES' },
  'INPUT rst': { row: 'CL CL CL SR CL CL CL CL LA LI SR' },
  'OUTPUT syn': { row: 'SS ES SS SR SS SS SS SS SS LI SR' },
  'OUTPUT fin': { row: 'TW FW SS TW FW TW CL TW LA LI TW' },
  'OUTPUT ack': { row: 'ES ES SS ES FW TW CL CW LA ES ES' },
  'OUTPUT rst': { row: 'CL CL SS CL CL TW CL CL CL CL CL' },
  'INPUT_ONLY syn': { row: 'SR ES ES SR SR SR SR SR SR SR SR' },
  'INPUT_ONLY fin': { row: 'CL FW SS TW FW TW CL CW LA LI TW' },
  'INPUT_ONLY ack': { row: 'CL ES SS ES FW TW CL CW CL LI ES' },
  'INPUT_ONLY rst': { row: 'CL CL CL SR CL CL CL CL LA LI CL' },
};
const ABBR = ['NO', 'ES', 'SS', 'SR', 'FW', 'TW', 'CL', 'CW', 'LA', 'LI', 'SA'];
const DIRS: Record<string, number> = { INPUT: DIR_INPUT, OUTPUT: DIR_OUTPUT, INPUT_ONLY: DIR_INPUT_ONLY };
const EVS: Record<string, number> = { syn: EV_SYN, fin: EV_FIN, ack: EV_ACK, rst: EV_RST };

test('state table: every row equals the kernel tcp_states[] row', () => {
  assert.equal(NEXT.length, 12 * S_COUNT);
  for (const [name, { row }] of Object.entries(KERNEL)) {
    const [dir, ev] = name.split(' ');
    const want = row.split(' ');
    for (let s = 0; s < S_COUNT; s++) {
      const got = ABBR[nextState(DIRS[dir], EVS[ev], s)];
      assert.equal(got, want[s], `${name} from ${STATE_NAMES[s]}`);
    }
  }
});

test('state table spot checks: the DR (input-only) life of a connection', () => {
  const S = (n: string) => STATE_NAMES.indexOf(n as (typeof STATE_NAMES)[number]);
  assert.equal(STATE_NAMES[nextState(DIR_INPUT_ONLY, EV_SYN, S('NONE'))], 'SYN_RECV');
  assert.equal(STATE_NAMES[nextState(DIR_INPUT_ONLY, EV_ACK, S('SYN_RECV'))], 'ESTABLISHED');
  assert.equal(STATE_NAMES[nextState(DIR_INPUT_ONLY, EV_FIN, S('ESTABLISHED'))], 'FIN_WAIT');
  assert.equal(STATE_NAMES[nextState(DIR_INPUT, EV_FIN, S('ESTABLISHED'))], 'CLOSE_WAIT');
  assert.equal(STATE_NAMES[nextState(DIR_INPUT_ONLY, EV_ACK, S('FIN_WAIT'))], 'FIN_WAIT');
  assert.equal(STATE_NAMES[nextState(DIR_INPUT_ONLY, EV_RST, S('ESTABLISHED'))], 'CLOSE');
  assert.equal(STATE_NAMES[nextState(DIR_INPUT_ONLY, EV_RST, S('SYN_RECV'))], 'SYN_RECV');
  assert.equal(STATE_NAMES[nextState(DIR_OUTPUT, EV_SYN, S('SYN_RECV'))], 'SYN_RECV');
});

test('tcpEvent: kernel priority rst > syn > fin > ack; no event for other flags', () => {
  assert.equal(tcpEvent(TCP_FLAGS.RST | TCP_FLAGS.SYN | TCP_FLAGS.ACK), EV_RST);
  assert.equal(tcpEvent(TCP_FLAGS.SYN | TCP_FLAGS.FIN), EV_SYN);
  assert.equal(tcpEvent(TCP_FLAGS.FIN | TCP_FLAGS.ACK), EV_FIN);
  assert.equal(tcpEvent(TCP_FLAGS.ACK | TCP_FLAGS.PSH), EV_ACK);
  assert.equal(tcpEvent(TCP_FLAGS.PSH), -1);
  assert.equal(tcpEvent(0), -1);
});

test('default timeouts are the kernel ones (REFERENCE.md) plus UDP 300 s', () => {
  assert.deepEqual([...DEFAULT_TIMEOUTS_S], [2, 900, 120, 60, 120, 120, 10, 60, 30, 120, 120, 300]);
});

const seg = (sport: number, flags: number) =>
  tcpFrame({ ethDst: DIR_MAC, ethSrc: ROUTER_MAC }, { src: CLIENT, dst: VIP, sport, dport: 80, flags });

function counts(r: ReturnType<typeof drRig>): [number, number] {
  const d = r.ctl.list().services[0].dests[0];
  return [d.active, d.inactive];
}

test('active/inactive counters move on ESTABLISHED transitions (DR, input-only table)', () => {
  const r = drRig({ weights: [1] });
  const e = () => r.dp.ct.lookup(6, 0xc000020a, 41000, 0x0a000064, 80) >>> 1;
  r.run(seg(41000, TCP_FLAGS.SYN));
  assert.deepEqual(counts(r), [0, 1], 'SYN: SYN_RECV, inactive');
  assert.equal(STATE_NAMES[r.dp.ct.state[e()]], 'SYN_RECV');
  r.run(seg(41000, TCP_FLAGS.ACK));
  assert.deepEqual(counts(r), [1, 0], 'ACK: ESTABLISHED, active');
  r.run(seg(41000, TCP_FLAGS.ACK | TCP_FLAGS.PSH));
  assert.deepEqual(counts(r), [1, 0], 'data: still active');
  r.run(seg(41000, TCP_FLAGS.FIN | TCP_FLAGS.ACK));
  assert.deepEqual(counts(r), [0, 1], 'FIN: FIN_WAIT, inactive');
  assert.equal(STATE_NAMES[r.dp.ct.state[e()]], 'FIN_WAIT');
  r.run(seg(41000, TCP_FLAGS.ACK));
  assert.deepEqual(counts(r), [0, 1]);
  // A second connection, established then reset.
  r.run(seg(41001, TCP_FLAGS.SYN));
  r.run(seg(41001, TCP_FLAGS.ACK));
  assert.deepEqual(counts(r), [1, 1]);
  r.run(seg(41001, TCP_FLAGS.RST));
  assert.deepEqual(counts(r), [0, 2]);
  // Expiry releases whatever the entries were counted as.
  r.advance(3600_000);
  r.dp.tick();
  assert.deepEqual(counts(r), [0, 0]);
  assert.equal(r.dp.ct.count, 0);
});

test('established connections expire after the ESTABLISHED timeout, not before', () => {
  const r = drRig({ weights: [1] });
  r.run(seg(42000, TCP_FLAGS.SYN));
  r.run(seg(42000, TCP_FLAGS.ACK));
  assertExpiresAfter(r, 900_000);
  assert.deepEqual(counts(r), [0, 0]);
});

// The kernel sets cp->timeout from the new state on every packet and re-arms the timer, so a
// connection that goes from ESTABLISHED (900 s) to CLOSE (10 s) goes away 10 s later.
test('a shorter state timeout takes effect: ESTABLISHED then RST expires after the CLOSE timeout (10 s)', () => {
  const r = drRig({ weights: [1] });
  r.run(seg(43000, TCP_FLAGS.SYN));
  r.run(seg(43000, TCP_FLAGS.ACK));
  // The daemon ticks every 250 ms; by now the sweep has passed the entry's first slot and
  // re-slotted it at its ESTABLISHED expiry (900 s ahead).
  for (let t = 0; t < 20; t++) {
    r.advance(250);
    r.dp.tick();
  }
  r.run(seg(43000, TCP_FLAGS.RST));
  assert.equal(STATE_NAMES[r.dp.ct.state[r.dp.ct.lookup(6, 0xc000020a, 43000, 0x0a000064, 80) >>> 1]], 'CLOSE');
  for (let t = 0; t < 12 * 4; t++) {
    r.advance(250);
    r.dp.tick();
  }
  assert.equal(r.dp.ct.count, 0, 'the connection should have expired 10 s after the RST (CLOSE timeout)');
  assert.deepEqual(counts(r), [0, 0]);
});
