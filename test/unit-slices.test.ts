// test-class: shared
// The sliced JSON parser (src/control/slices.ts) parses exactly what JSON.parse parses and refuses
// what it refuses, whatever the slice size; a 2 MB batch line is parsed in bounded steps.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MAX_DEPTH, SlicedJson, parseJsonSliced } from '../src/control/slices.js';

/** Parse with a deadline already passed: the parser stops at every check, the most slices it makes. */
function parseTiny(text: string | string[], wholeMax?: number): { value?: unknown; error?: unknown; steps: number } {
  const p = new SlicedJson(text, wholeMax);
  let steps = 0;
  try {
    while (!p.step(0)) steps++;
    return { value: p.value, steps };
  } catch (e) {
    return { error: e, steps };
  }
}

function jsonParse(text: string): { value?: unknown; error?: unknown } {
  try {
    return { value: JSON.parse(text) };
  } catch (e) {
    return { error: e };
  }
}

/** A batch line as uvsadm -R or a config reload sends it. */
function batchLine(n: number): string {
  const items: unknown[] = [];
  for (let i = 0; i < n; i++) {
    const service = { proto: 'tcp', addr: '192.168.8.200', port: 10_000 + i };
    items.push({ verb: 'addService', args: { ...service, sched: 'wlc' } });
    items.push({ verb: 'addDest', args: { service, addr: `192.168.8.${20 + (i % 2) * 10}`, port: 10_000 + i, weight: i } });
  }
  return JSON.stringify({ id: 'b\u00e9"\\', verb: 'batch', args: { dryRun: false, items, empty: [], none: {}, n: -1.5e3 } });
}

test('same value as JSON.parse for any JSON value, at any slicing', () => {
  fc.assert(
    // wholeMax 0: every container is walked here; larger: a mix of walked and whole.
    fc.property(fc.jsonValue({ maxDepth: 6 }), fc.constantFrom('', ' ', '\n\t '), fc.nat({ max: 40 }), (v, ws, wholeMax) => {
      const text = JSON.stringify(v, null, ws === '' ? undefined : ws);
      const got = parseTiny(text, wholeMax);
      assert.equal(got.error, undefined, String(got.error));
      assert.deepEqual(got.value, JSON.parse(text));
    }),
    { numRuns: 500 },
  );
});

test('refuses exactly what JSON.parse refuses (mutated and truncated JSON), with a SyntaxError', () => {
  const samples = [
    '', ' ', '{', '[', '{"a":1,}', '[1,]', '[1 2]', '{"a" 1}', '{"a":1 "b":2}', '{1:2}', '{"a":1}}', '[1]]', '[1}', '{"a":[}',
    '"abc', '"a\nb"', 'tru', 'nul', '01', '1.', '-', '+1', '[.5]', '{"a":1} x', 'NaN', '[undefined]', "['a']", '{"__proto__":1,}',
    '[' + '1,'.repeat(70_000) + '1', '{"items":[' + '{"a":1},'.repeat(20_000) + ']}',
  ];
  for (const text of samples) for (const wholeMax of [0, 3, undefined]) {
    const want = jsonParse(text);
    const got = parseTiny(text, wholeMax);
    assert.equal(got.error === undefined, want.error === undefined, `${text.slice(0, 40)}: JSON.parse ${String(want.error)}, sliced ${String(got.error)}`);
    if (got.error !== undefined) assert.ok(got.error instanceof SyntaxError, String(got.error));
    else assert.deepEqual(got.value, want.value);
  }
  fc.assert(
    fc.property(fc.jsonValue({ maxDepth: 4 }), fc.nat(), fc.string({ maxLength: 3 }), fc.nat({ max: 20 }), (v, at, insert, wholeMax) => {
      const s = JSON.stringify(v);
      const i = at % (s.length + 1);
      for (const text of [s.slice(0, i), s.slice(0, i) + insert + s.slice(i), s.slice(0, i) + s.slice(i + 1)]) {
        const want = jsonParse(text);
        const got = parseTiny(text, wholeMax);
        assert.equal(got.error === undefined, want.error === undefined, `${JSON.stringify(text)}: JSON.parse ${String(want.error)}, sliced ${String(got.error)}`);
        if (got.error === undefined) assert.deepEqual(got.value, want.value);
      }
    }),
    { numRuns: 1000 },
  );
});

/** text cut at the given places (each taken modulo its length, sorted): parts, empty ones where two cuts meet. */
function cut(text: string, at: number[]): string[] {
  const cuts = at.map((a) => a % (text.length + 1)).sort((x, y) => x - y);
  const parts: string[] = [];
  let from = 0;
  for (const c of cuts) {
    parts.push(text.slice(from, c));
    from = c;
  }
  parts.push(text.slice(from));
  return parts;
}

test('a text given as the parts it arrived in (a long request line\'s chunks, cut anywhere, empty parts too) parses and refuses as the text whole, at any slicing', () => {
  fc.assert(
    fc.property(fc.jsonValue({ maxDepth: 5 }), fc.array(fc.nat(), { maxLength: 12 }), fc.nat({ max: 40 }), fc.nat(), fc.string({ maxLength: 3 }), (v, at, wholeMax, where, insert) => {
      const s = JSON.stringify(v, null, where % 2 === 0 ? undefined : ' ');
      const i = where % (s.length + 1);
      for (const text of [s, s.slice(0, i), s.slice(0, i) + insert + s.slice(i)]) {
        const want = parseTiny(text, wholeMax);
        const got = parseTiny(cut(text, at), wholeMax);
        assert.equal(got.error === undefined, want.error === undefined, `${JSON.stringify(text)}: whole ${String(want.error)}, in parts ${String(got.error)}`);
        if (got.error === undefined) assert.deepEqual(got.value, want.value);
        else assert.equal(String(got.error), String(want.error));
      }
    }),
    { numRuns: 1000 },
  );
  const text = batchLine(2_000);
  const parts: string[] = [];
  for (let k = 0; k < text.length; k += 65_536) parts.push(text.slice(k, k + 65_536));
  assert.deepEqual(parseTiny(parts).value, JSON.parse(text));
});

test('a "__proto__" key is an own property, as with JSON.parse, and never the prototype', () => {
  const text = `{"__proto__":{"polluted":1},"pad":"${'x'.repeat(70_000)}","a":[1]}`;
  const got = parseTiny(text, 0).value as Record<string, unknown>;
  assert.equal(Object.getPrototypeOf(got), Object.prototype);
  assert.deepEqual(Object.keys(got), ['__proto__', 'pad', 'a']);
  assert.deepEqual(got['__proto__'], { polluted: 1 });
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
});

test('a 20,000-item batch line: same value as JSON.parse, in many steps, none of them long', async () => {
  const text = batchLine(10_000);
  assert.ok(text.length > 2_000_000);
  const tiny = parseTiny(text);
  assert.ok(tiny.steps > 100, `${tiny.steps} steps`);
  assert.deepEqual(tiny.value, JSON.parse(text));
  // With a real budget the parser hands the loop back between slices.
  let turns = 0;
  const ticker = setInterval(() => turns++, 0);
  try {
    assert.deepEqual(await parseJsonSliced(text, 0.5), JSON.parse(text));
  } finally {
    clearInterval(ticker);
  }
  assert.ok(turns > 0, 'timers ran while it parsed');
});

/**
 * The text as the parser reads it, counting the characters it looks at (charCodeAt): its work,
 * measured without a clock. The rest of a string it does not use.
 */
function counted(text: string): { text: string; reads: () => number } {
  let n = 0;
  const t = { length: text.length, charCodeAt: (i: number) => (n++, text.charCodeAt(i)), slice: (a: number, b?: number) => text.slice(a, b) };
  return { text: t as unknown as string, reads: () => n };
}

test('nested containers longer than the window: each character is looked at a bounded number of times, not once per container around it', () => {
  // 900 levels around 70,000 characters, three times: each level's container is too long to
  // hand to JSON.parse, and its window covers the levels inside it.
  const deep = '['.repeat(900) + JSON.stringify('x'.repeat(70_000)) + ']'.repeat(900);
  const text = `{"id":1,"verb":"list","args":{"a":[${deep},${deep},${deep}]}}`;
  const c = counted(text);
  const p = new SlicedJson(c.text);
  while (!p.step(Infinity));
  assert.deepEqual(p.value, JSON.parse(text));
  assert.ok(c.reads() < 4 * text.length, `${c.reads()} reads of ${text.length} characters`);
});

test(`a line nested deeper than MAX_DEPTH (${MAX_DEPTH}) where it is walked is refused, early: 70,000 levels read about one window`, () => {
  for (const wholeMax of [0, undefined]) {
    const ok = parseTiny('['.repeat(MAX_DEPTH) + ']'.repeat(MAX_DEPTH), wholeMax);
    assert.equal(ok.error, undefined, String(ok.error));
  }
  const over = parseTiny('['.repeat(MAX_DEPTH + 1) + ']'.repeat(MAX_DEPTH + 1), 0);
  assert.ok(over.error instanceof SyntaxError && over.error.message === `JSON nested deeper than ${MAX_DEPTH} levels at position ${MAX_DEPTH}`, String(over.error));
  // The tester's line: 70,000 levels in a request (4.9 s of uvsd's CPU before).
  const text = '{"id":1,"verb":"list","args":{"a":' + '['.repeat(70_000) + ']'.repeat(70_000) + '}}';
  const c = counted(text);
  const p = new SlicedJson(c.text);
  assert.throws(() => { while (!p.step(Infinity)); }, /nested deeper than/);
  assert.ok(c.reads() < text.length, `${c.reads()} reads of ${text.length} characters`);
});

test('parseJsonSliced stops between slices once `check` throws (the client is gone)', async () => {
  const text = batchLine(5000);
  let checks = 0;
  const gone = new Error('gone');
  await assert.rejects(parseJsonSliced(text, 0, () => {
    checks++;
    throw gone;
  }), (e) => e === gone);
  assert.equal(checks, 1);
});
