// The record synchronisation state machine (src/record/core.ts) driven
// message by message through a scripted connection: gaps, re-reads,
// conflicts with writes still in flight, stale answers, acknowledgements and
// reconnects, in orders a live server rarely produces on demand.
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { build } from 'esbuild';
import { sdkRoot } from './helpers.mjs';

let lib;
before(async () => {
  const out = await build({
    stdin: {
      contents: `export { RecordCore } from './src/record/core'; export { MergeRegistry, MergeStrategy } from './src/record/merge';
        export { Action, Topic, Flag } from './src/wire'; export { parsePath } from './src/jsonpath';`,
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

const enc = (v) => new TextEncoder().encode(JSON.stringify(v));
const dec = (b) => JSON.parse(new TextDecoder().decode(b));

// A scripted connection: it records what the core sends and lets the test
// answer the core's requests.
function harness({ merge } = {}) {
  const sent = [];
  const calls = [];
  const errors = [];
  let id = 100;
  const conn = {
    isOpen: true,
    newId: () => ++id,
    checkSend() {},
    checkSize() {},
    sendNow(m) {
      sent.push(m);
      return true;
    },
    call(m, done, opts) {
      if (opts?.now && !this.isOpen) return false;
      m.id = BigInt(++id);
      calls.push({ m, done });
      sent.push(m);
      return true;
    },
    requestNow(m) {
      sent.push(m);
      return Promise.resolve({});
    },
  };
  const registry = new lib.MergeRegistry(merge);
  const core = new lib.RecordCore('doc', { conn, merge: registry, reportError: (e) => errors.push(e), forget() {} });
  const owner = { ready() {}, destroyed() {} };
  core.addOwner(owner);
  const h = {
    core,
    conn,
    sent,
    errors,
    // answer the oldest outstanding request
    reply(fields) {
      const c = calls.shift();
      assert.ok(c, 'a request is outstanding');
      c.done(null, { topic: lib.Topic.Record, name: 'doc', id: c.m.id, ...fields });
      return c.m;
    },
    fail(err) {
      calls.shift().done(err, null);
    },
    pendingReads: () => calls.filter((c) => c.m.action === lib.Action.Read).map((c) => c.m.version ?? 0),
    remote(action, version, path, value) {
      const m = { topic: lib.Topic.Record, action, name: 'doc', version };
      if (path !== undefined) m.path = path;
      if (value !== undefined) m.data = enc(value);
      core.handle(m);
    },
    versionExists(writeId, version, doc) {
      core.handle({ topic: lib.Topic.Record, action: lib.Action.VersionExists, name: 'doc', id: BigInt(writeId), version, data: enc(doc) });
    },
    writes: () => sent.filter((m) => [lib.Action.Update, lib.Action.Patch, lib.Action.ErasePath].includes(m.action)),
    set(path, value) {
      core.write({ path, segs: lib.parsePath(path), value: Object.freeze(value) });
    },
  };
  return h;
}

async function ready(h, version, doc) {
  h.core.start();
  h.reply({ action: lib.Action.ReadResult, version, data: enc(doc) });
  assert.equal(h.core.ready, true);
}

describe('record core', () => {
  test('remote changes in order apply; a gap re-reads from the known version', async () => {
    const h = harness();
    await ready(h, 1, { a: 1 });
    const seen = [];
    h.core.subscribe('b', (v) => seen.push(v), false);
    h.remote(lib.Action.Patch, 2, 'b', 2);
    assert.deepEqual(h.core.data, { a: 1, b: 2 });
    h.remote(lib.Action.Patch, 4, 'b', 4); // version 3 was missed
    assert.deepEqual(h.pendingReads(), [2], 'a clean copy asks from its version');
    h.remote(lib.Action.Patch, 5, 'b', 5); // ignored while re-reading
    assert.equal(h.core.version, 2);
    h.reply({ action: lib.Action.ReadResult, version: 5, data: enc({ a: 1, b: 5, c: 3 }) });
    assert.deepEqual(h.core.data, { a: 1, b: 5, c: 3 });
    assert.equal(h.core.version, 5);
    assert.deepEqual(seen, [2, 5]);
    h.remote(lib.Action.ErasePath, 6, 'a');
    h.remote(lib.Action.Update, 7, undefined, { whole: true });
    assert.deepEqual(h.core.data, { whole: true });
    h.remote(lib.Action.Update, 7, undefined, { stale: true });
    assert.deepEqual(h.core.data, { whole: true }, 'a version already held is ignored');
  });

  test('a conflicting remote change waits for VersionExists, then the strategy decides', async () => {
    const calls = [];
    const h = harness({
      merge: (local, remote, lv, rv) => {
        calls.push([local, remote, lv, rv]);
        return { ...remote, ...local };
      },
    });
    await ready(h, 3, {});
    h.set('mine', 1);
    const w = h.writes()[0];
    assert.equal(w.version, 4);
    h.remote(lib.Action.Patch, 4, 'theirs', 2); // someone else got version 4
    assert.deepEqual(h.core.data, { mine: 1 }, 'ignored: the server will refuse our version 4');
    h.versionExists(Number(w.id), 4, { theirs: 2 });
    assert.deepEqual(calls, [[{ mine: 1 }, { theirs: 2 }, 4, 4]]);
    const merged = h.writes()[1];
    assert.equal(merged.action, lib.Action.Update);
    assert.equal(merged.version, 5);
    assert.deepEqual(dec(merged.data), { theirs: 2, mine: 1 });
    assert.deepEqual(h.core.data, { theirs: 2, mine: 1 });
    // A VersionExists for a write sent before the merge is stale.
    h.versionExists(Number(w.id), 4, { theirs: 2 });
    assert.equal(calls.length, 1);
  });

  test('after a conflicting change, later changes wait for the VersionExists that covers them', async () => {
    const h = harness();
    await ready(h, 3, { base: 1 });
    h.set('mine', 1); // v4: refused, someone else got v4
    const [w] = h.writes();
    h.remote(lib.Action.Patch, 4, 'theirs', 4);
    h.remote(lib.Action.Patch, 5, 'theirs', 5); // v == local+1, but on top of a refused write
    assert.deepEqual(h.core.data, { base: 1, mine: 1 }, 'nothing applied on top of the refused write');
    h.versionExists(Number(w.id), 5, { base: 1, theirs: 5 });
    assert.deepEqual(h.core.data, { base: 1, theirs: 5 });
    assert.equal(h.core.version, 5);
    h.remote(lib.Action.Patch, 6, 'more', 6);
    assert.deepEqual(h.core.data, { base: 1, theirs: 5, more: 6 });
  });

  test('remote wins with later writes in flight: read again to catch what landed', async () => {
    const h = harness();
    await ready(h, 1, {});
    h.set('a', 1); // v2, refused below
    h.set('b', 2); // v3, may have landed on top of the server's v2
    const [w1] = h.writes();
    h.versionExists(Number(w1.id), 2, { x: 9 });
    assert.deepEqual(h.core.data, { x: 9 });
    assert.equal(h.core.version, 2);
    assert.deepEqual(h.pendingReads(), [2]);
    h.reply({ action: lib.Action.ReadResult, version: 3, data: enc({ x: 9, b: 2 }) });
    assert.deepEqual(h.core.data, { x: 9, b: 2 });
    assert.equal(h.core.version, 3);
    assert.equal(h.writes().length, 2, 'nothing written back: the server copy won');
  });

  test('setWithAck settles on WriteAck, and moves to the merged write after a conflict', async () => {
    const h = harness({ merge: (local) => local });
    await ready(h, 0, {});
    const settled = [];
    h.core.write({ path: 'a', segs: lib.parsePath('a'), value: 1 }, { id: 0, resolve: () => settled.push('a'), reject: (e) => settled.push(e) });
    const [w] = h.writes();
    assert.equal(w.flags & lib.Flag.WantAck, lib.Flag.WantAck);
    h.versionExists(Number(w.id), 1, { other: true });
    const merged = h.writes()[1];
    assert.equal(merged.flags & lib.Flag.WantAck, lib.Flag.WantAck, 'the merged write carries the wait');
    assert.deepEqual(settled, []);
    h.core.handle({ topic: lib.Topic.Record, action: lib.Action.WriteAck, name: 'doc', id: merged.id, version: 2 });
    assert.deepEqual(settled, ['a']);
  });

  test('a refused write takes the server copy again', async () => {
    const h = harness();
    await ready(h, 2, { keep: 1 });
    h.set('bad', 1);
    const [w] = h.writes();
    h.core.handle({ topic: lib.Topic.Record, action: lib.Action.Error, name: 'doc', id: w.id, code: 16, reason: 'too big' });
    assert.equal(h.errors.length, 1);
    assert.deepEqual(h.pendingReads(), [0], 'a fresh read: the local copy is not trusted');
    h.reply({ action: lib.Action.ReadResult, version: 2, data: enc({ keep: 1 }) });
    assert.deepEqual(h.core.data, { keep: 1 });
    assert.equal(h.core.version, 2);
  });

  test('reconnect: unconfirmed writes that landed need nothing; offline writes are pushed', async () => {
    const h = harness({ merge: () => assert.fail('no conflict here') });
    await ready(h, 1, {});
    h.set('sent', 1); // v2, sent before the connection dropped
    h.conn.isOpen = false;
    h.core.lost();
    h.set('offline', 2); // v3, not sent
    assert.equal(h.writes().length, 1);
    h.conn.isOpen = true;
    h.core.resubscribe();
    assert.deepEqual(h.pendingReads(), [0], 'unsynced: read the whole document');
    // The server has our v2: it is in the history, so ours is simply newer.
    h.reply({ action: lib.Action.ReadResult, version: 2, data: enc({ sent: 1 }) });
    const push = h.writes()[1];
    assert.equal(push.action, lib.Action.Update);
    assert.equal(push.version, 3);
    assert.deepEqual(dec(push.data), { sent: 1, offline: 2 });
  });

  test('reconnect: a write lost with the connection is pushed again; a newer server copy merges', async () => {
    const calls = [];
    const h = harness({ merge: (l, r) => (calls.push([l, r]), { ...r, ...l }) });
    await ready(h, 1, { base: true });
    h.set('lost', 1);
    h.core.lost();
    h.core.resubscribe();
    h.reply({ action: lib.Action.ReadResult, version: 1, data: enc({ base: true }) });
    assert.deepEqual(calls, [], 'the server still has our base: no conflict');
    assert.deepEqual(dec(h.writes()[1].data), { base: true, lost: 1 });
    assert.equal(h.writes()[1].version, 2);

    h.core.lost();
    h.set('again', 1); // offline, v3
    h.core.resubscribe();
    h.reply({ action: lib.Action.ReadResult, version: 4, data: enc({ base: true, lost: 1, other: 1, x: 2 }) });
    assert.equal(calls.length, 1, 'someone else wrote: the strategy merges');
    const last = h.writes().at(-1);
    assert.equal(last.version, 5);
    assert.deepEqual(dec(last.data), { base: true, lost: 1, other: 1, x: 2, again: 1 });
  });

  test('a clean copy whose version the server no longer has is written back', async () => {
    const h = harness();
    await ready(h, 3, { kept: 1 });
    h.core.lost();
    h.core.resubscribe();
    assert.deepEqual(h.pendingReads(), [3]);
    h.reply({ action: lib.Action.ReadResult, version: 0 }); // data omitted: ours is not older
    const push = h.writes()[0];
    assert.equal(push.version, 1);
    assert.deepEqual(dec(push.data), { kept: 1 });
  });

  test('deleted by someone else: owners hear it and writes throw', async () => {
    const h = harness();
    await ready(h, 1, {});
    let deleted = false;
    h.core.addOwner({ ready() {}, destroyed: (d) => (deleted = d) });
    h.core.handle({ topic: lib.Topic.Record, action: lib.Action.Deleted, name: 'doc' });
    assert.equal(deleted, true);
    assert.throws(() => h.set('x', 1), (e) => e.name === 'RecordDestroyed');
  });
});
