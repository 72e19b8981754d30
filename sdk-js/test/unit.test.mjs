// Unit tests of the client's internals, bundled from src/ on the fly:
// record paths against the server's own test cases (codec/jsonpath/testdata,
// so both sides agree on every edge), the message codec and its verifier,
// list diffs and merge strategy lookup.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { build } from 'esbuild';
import { repoRoot, sdkRoot } from './helpers.mjs';

let lib;
before(async () => {
  const out = await build({
    stdin: {
      contents: `export * from './src/jsonpath'; export * from './src/wire'; export * from './src/json';
        export { diffEntries } from './src/record/list'; export { MergeRegistry, MergeStrategy } from './src/record/merge';`,
      resolveDir: sdkRoot,
      loader: 'ts',
    },
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'neutral',
    mainFields: ['module', 'main'],
  });
  lib = await import('data:text/javascript;base64,' + Buffer.from(out.outputFiles[0].text).toString('base64'));
});

// ---- record paths: the server's data-driven cases ----

// goUnquote reads a Go-quoted string; null when it holds bytes that are not
// valid UTF-8 (which a JavaScript string cannot carry).
function goUnquote(s) {
  const bytes = [];
  const body = s.slice(1, -1);
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (c !== '\\') {
      bytes.push(...Buffer.from(c));
      continue;
    }
    const n = body[++i];
    const simple = { n: 10, t: 9, r: 13, '"': 34, '\\': 92, "'": 39, a: 7, b: 8, f: 12, v: 11 };
    if (n in simple) bytes.push(simple[n]);
    else if (n === 'x') {
      bytes.push(parseInt(body.slice(i + 1, i + 3), 16));
      i += 2;
    } else if (n === 'u') {
      bytes.push(...Buffer.from(String.fromCodePoint(parseInt(body.slice(i + 1, i + 5), 16))));
      i += 4;
    } else throw new Error('unsupported escape in ' + s);
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(Uint8Array.from(bytes));
  } catch {
    return null;
  }
}

function readCases(file) {
  const lines = readFileSync(join(repoRoot, 'codec/jsonpath/testdata', file), 'utf8').replace(/\n$/, '').split('\n');
  const cases = [];
  for (let i = 0; i < lines.length; ) {
    if (lines[i] === '' || lines[i].startsWith('#')) {
      i++;
      continue;
    }
    const line = i + 1;
    const cmd = lines[i++];
    const input = [];
    while (lines[i] !== '----') input.push(lines[i++]);
    i++;
    const want = [];
    while (i < lines.length && lines[i] !== '') want.push(lines[i++]);
    const sp = cmd.indexOf(' ');
    let arg = sp < 0 ? '' : cmd.slice(sp + 1);
    if (arg.startsWith('"')) arg = goUnquote(arg);
    cases.push({ line, name: sp < 0 ? cmd : cmd.slice(0, sp), arg, input, want: want.join('\n') });
  }
  return cases;
}

const isDataError = (w) => w.startsWith('error: jsonpath: invalid JSON') || w.startsWith('error: jsonpath: invalid value');

function parseOrSkip(text) {
  try {
    return { ok: true, v: JSON.parse(text) };
  } catch {
    return { ok: false };
  }
}

describe('record paths agree with the server (codec/jsonpath/testdata)', () => {
  test('parse', () => {
    let n = 0;
    for (const c of readCases('parse')) {
      if (c.arg === null) continue; // invalid UTF-8 cannot be a JavaScript string
      n++;
      if (c.want.startsWith('error:')) {
        assert.throws(() => lib.parsePath(c.arg), TypeError, `parse:${c.line} ${c.arg} must fail`);
      } else {
        const len = Number(/len=(\d+)/.exec(c.want)[1]);
        assert.equal(lib.parsePath(c.arg).length, len, `parse:${c.line} ${c.arg}`);
      }
    }
    assert.ok(n >= 30, `ran ${n} parse cases`);
  });

  for (const kind of ['get', 'set', 'erase']) {
    test(kind, () => {
      let n = 0;
      for (const c of readCases(kind)) {
        if (c.arg === null || isDataError(c.want)) continue; // documents are validated by the server
        const docText = kind === 'set' ? c.input.slice(0, -1).join('\n') : c.input.join('\n');
        const doc = parseOrSkip(docText);
        if (!doc.ok) continue;
        const where = `${kind}:${c.line} ${JSON.stringify(c.arg)}`;
        if (c.want.startsWith('error: jsonpath: invalid path')) {
          assert.throws(() => lib.parsePath(c.arg), TypeError, where);
          n++;
          continue;
        }
        const segs = lib.parsePath(c.arg);
        const frozen = lib.deepFreeze(doc.v);
        if (kind === 'get') {
          const got = lib.getPath(frozen, segs);
          if (c.want === 'absent') assert.equal(got, undefined, where);
          else assert.ok(lib.deepEqual(got, JSON.parse(c.want)), `${where}: got ${JSON.stringify(got)}`);
        } else if (kind === 'set') {
          const value = lib.deepFreeze(JSON.parse(c.input.at(-1)));
          const got = lib.setPath(frozen, segs, value);
          assert.ok(lib.deepEqual(got, JSON.parse(c.want)), `${where}: got ${JSON.stringify(got)} want ${c.want}`);
          assert.ok(Object.isFrozen(got));
        } else if (c.want.startsWith('error:')) {
          assert.throws(() => lib.erasePath(frozen, segs), TypeError, where);
        } else {
          const got = lib.erasePath(frozen, segs);
          assert.ok(lib.deepEqual(got, JSON.parse(c.want)), `${where}: got ${JSON.stringify(got)} want ${c.want}`);
          if (lib.deepEqual(got, frozen)) assert.equal(got, frozen, `${where}: an erase that removes nothing keeps the document`);
        }
        n++;
      }
      assert.ok(n >= 20, `ran ${n} ${kind} cases`);
    });
  }

  test('set and erase share unchanged subtrees and never touch their input', () => {
    const doc = lib.deepFreeze({ a: { x: [1, 2] }, b: { y: 1 } });
    const next = lib.setPath(doc, lib.parsePath('b.y'), 2);
    assert.equal(next.a, doc.a);
    assert.deepEqual(doc.b, { y: 1 });
    const erased = lib.erasePath(next, lib.parsePath('a.x[0]'));
    assert.deepEqual(erased.a.x, [2]);
    assert.equal(erased.b, next.b);
  });

  test('"__proto__" is an ordinary key', () => {
    const doc = lib.deepFreeze(JSON.parse('{"__proto__":{"a":1}}'));
    assert.deepEqual(lib.getPath(doc, lib.parsePath('__proto__.a')), 1);
    const next = lib.setPath(doc, lib.parsePath('__proto__.b'), 2);
    assert.equal(Object.getPrototypeOf(next), Object.prototype);
    assert.deepEqual(JSON.parse(JSON.stringify(next)), JSON.parse('{"__proto__":{"a":1,"b":2}}'));
    assert.equal({}.b, undefined, 'no prototype pollution');
  });
});

describe('message codec', () => {
  test('encode then decode gives the same message', () => {
    const { Action, Topic, encode, decode } = lib;
    const msgs = [
      { topic: Topic.Connection, action: Action.Handshake, name: 'eddy', version: 1, data: new TextEncoder().encode('{"sdk":"js"}') },
      { topic: Topic.Record, action: Action.Patch, id: 2n ** 40n + 7n, name: 'driver/14', path: 'position.x', version: 9007199254740991, data: Uint8Array.of(52, 50), flags: 3 },
      { topic: Topic.Event, action: Action.Subscribe, id: 1n, names: ['a', 'é', '🙂', ''] },
      { topic: Topic.Rpc, action: Action.Request, id: 18446744073709551615n, name: 'x', timeoutMs: 4294967295, acceptTimeoutMs: 1, user: 'ann' },
      { topic: Topic.Auth, action: Action.LoginResult, code: 21, reason: 'invalid authentication data' },
      { topic: Topic.Record, action: Action.HeadResult, version: -1 },
    ];
    for (const m of msgs) {
      const b = encode(m);
      assert.ok(lib.verify(b));
      const d = decode(b);
      assert.deepEqual({ ...d, data: d.data && [...d.data] }, { ...m, data: m.data && [...m.data] });
      assert.deepEqual(encode(d), b, 'decode -> encode is stable');
    }
  });

  test('malformed input is refused, never thrown on', () => {
    const { encode, decode, Action, Topic } = lib;
    const good = encode({ topic: Topic.Record, action: Action.Update, id: 5n, name: 'n', path: 'p', data: Uint8Array.of(123, 125), names: ['a', 'b'], reason: 'r', user: 'u' });
    assert.equal(decode(new Uint8Array(0)), null);
    assert.equal(decode(Uint8Array.of(1, 2, 3)), null);
    const whole = decode(good);
    for (let cut = 0; cut < good.length; cut++) {
      // Cutting trailing padding leaves a valid message; anything more is refused.
      const d = decode(good.subarray(0, cut));
      if (d !== null) assert.deepEqual(d, whole, `truncated at ${cut}`);
      if (cut < good.length - 4) assert.equal(d, null, `truncated at ${cut}`);
    }
    // Random corruption: every result is null or a message, never an exception.
    let seed = 12345;
    const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 8) & 0xff;
    for (let round = 0; round < 20000; round++) {
      const b = Uint8Array.from(good);
      const flips = 1 + (rand() % 4);
      for (let k = 0; k < flips; k++) b[rand() % b.length] = rand();
      const d = decode(b);
      if (d !== null) assert.equal(typeof d.topic, 'number');
    }
    for (let round = 0; round < 2000; round++) {
      const b = new Uint8Array(8 + (rand() % 64));
      for (let k = 0; k < b.length; k++) b[k] = rand();
      decode(b);
    }
  });
});

describe('list diffs', () => {
  test('occurrences are matched in order', () => {
    const d = lib.diffEntries(['a', 'b', 'a', 'c'], ['b', 'a', 'd']);
    assert.deepEqual(d.removed, [
      ['a', 2],
      ['c', 3],
    ]);
    assert.deepEqual(d.added, [['d', 2]]);
    assert.deepEqual(d.moved, [
      ['b', 0],
      ['a', 1],
    ]);
    assert.deepEqual(lib.diffEntries(['x'], ['x']), { added: [], removed: [], moved: [] });
  });
});

describe('merge strategies', () => {
  test('name, then patterns in order, then the global strategy', () => {
    const r = new lib.MergeRegistry();
    const tag = (t) => () => ({ t });
    assert.equal(r.get('any'), lib.MergeStrategy.REMOTE_WINS);
    r.set(/^a\//, tag('pattern-a'));
    r.set(/^a\/b/, tag('pattern-ab'));
    r.set('a/b/c', tag('name'));
    r.set(undefined, tag('global'));
    assert.deepEqual(r.get('a/b/c')(), { t: 'name' });
    assert.deepEqual(r.get('a/b/d')(), { t: 'pattern-a' });
    assert.deepEqual(r.get('z')(), { t: 'global' });
    r.set(/^a\//, tag('replaced'));
    assert.deepEqual(r.get('a/x')(), { t: 'replaced' });
    assert.throws(() => r.set('x', 'not a function'), TypeError);
    assert.equal(lib.MergeStrategy.LOCAL_WINS({ l: 1 }, { r: 1 }).l, 1);
  });
});
