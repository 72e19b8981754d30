import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ClientErrorCode, EddyError, ErrorCode, MergeStrategy } from '../dist/eddy.js';
import { client, collect, fileServer, loggedIn, sleep, waitFor, withTimeout } from './helpers.mjs';

const server = fileServer();

let seq = 0;
const unique = (prefix) => `${prefix}/${process.pid}-${++seq}`;

async function open(c, name) {
  return withTimeout(c.record.getRecord(name).whenReady(), 3000, `record ${name} ready`);
}

async function converged(a, b, what = 'both copies equal') {
  await waitFor(() => a.version === b.version && JSON.stringify(sorted(a.get())) === JSON.stringify(sorted(b.get())), { what });
}

function sorted(v) {
  if (Array.isArray(v)) return v.map(sorted);
  if (v && typeof v === 'object') return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sorted(v[k])]));
  return v;
}

describe('records', () => {
  test('set and get by path; another client sees each change in version order', async () => {
    const name = unique('driver');
    const a = await loggedIn(server.url, 'ann');
    const b = await loggedIn(server.url, 'bob');
    const ra = await open(a, name);
    const rb = await open(b, name);
    assert.deepEqual(ra.get(), {});
    assert.equal(ra.version, 0);
    ra.set('position.x', 4244);
    ra.set('position.y', 12);
    ra.set('tags[2]', 'blue');
    assert.deepEqual(ra.get(), { position: { x: 4244, y: 12 }, tags: [null, null, 'blue'] });
    assert.equal(ra.version, 3, 'local writes apply at once');
    await converged(ra, rb);
    assert.deepEqual(rb.get('position'), { x: 4244, y: 12 });
    assert.equal(rb.get('tags[2]'), 'blue');
    assert.equal(rb.get('missing.path'), undefined);
    rb.erase('tags[0]');
    rb.set({ replaced: true, list: [1, 2] });
    await converged(ra, rb);
    assert.deepEqual(ra.get(), { replaced: true, list: [1, 2] });
    assert.equal(ra.version, 5);
    assert.equal(await a.record.head(name), 5);
    assert.deepEqual(await a.record.snapshot(name), { replaced: true, list: [1, 2] });
  });

  test('path subscriptions fire only when their value changed', async () => {
    const name = unique('sub');
    const a = await loggedIn(server.url, 'ann');
    const b = await loggedIn(server.url, 'bob');
    const ra = await open(a, name);
    const rb = await open(b, name);
    const [pos, onPos] = collect();
    const [title, onTitle] = collect();
    const [whole, onWhole] = collect();
    rb.subscribe('position', onPos, true);
    rb.subscribe('title', onTitle);
    rb.subscribe(onWhole);
    assert.deepEqual(pos, [undefined], 'triggerNow calls at once');
    ra.set('position.x', 1);
    ra.set('position.x', 1); // same value: no write, no version
    assert.equal(ra.version, 1);
    ra.set('other', 'x');
    ra.set('position', { x: 1 }); // equal value
    ra.set('position.y', 2);
    await waitFor(() => rb.version === 3, { what: 'three versions' });
    assert.deepEqual(pos, [undefined, { x: 1 }, { x: 1, y: 2 }]);
    assert.deepEqual(title, []);
    assert.equal(whole.length, 3);
    assert.deepEqual(whole[2], { position: { x: 1, y: 2 }, other: 'x' });
    rb.unsubscribe('position', onPos);
    ra.set('position.z', 3);
    ra.set('title', 'T');
    await waitFor(() => title.length === 1, { what: 'title change' });
    assert.deepEqual(title, ['T']);
    assert.equal(pos.length, 3, 'unsubscribed');
  });

  test('returned values are frozen', async () => {
    const a = await loggedIn(server.url, 'ann');
    const r = await open(a, unique('frozen'));
    r.set('a', { b: [1] });
    const v = r.get();
    assert.ok(Object.isFrozen(v) && Object.isFrozen(v.a) && Object.isFrozen(v.a.b));
    assert.throws(() => {
      v.a.b.push(2);
    }, TypeError);
  });

  test('concurrent writes conflict; REMOTE_WINS (default) converges on the server copy', async () => {
    const name = unique('conflict');
    const a = await loggedIn(server.url, 'ann');
    const b = await loggedIn(server.url, 'bob');
    const ra = await open(a, name);
    const rb = await open(b, name);
    ra.set('who', 'ann');
    rb.set('who', 'bob');
    assert.equal(ra.version, 1);
    assert.equal(rb.version, 1);
    await converged(ra, rb);
    await sleep(100);
    await converged(ra, rb);
    const stored = await a.record.snapshot(name);
    assert.deepEqual(ra.get(), stored);
    assert.equal(ra.version, 1, 'the loser adopted the winner: no extra version');
    assert.ok(stored.who === 'ann' || stored.who === 'bob');
  });

  test('a merge function sees both documents and its result is written back', async () => {
    const name = unique('merge');
    const a = await loggedIn(server.url, 'ann');
    const b = await loggedIn(server.url, 'bob');
    const calls = [];
    const union = (local, remote, lv, rv) => {
      calls.push([local, remote, lv, rv]);
      return { ...remote, ...local };
    };
    a.record.setMergeStrategy(union);
    b.record.setMergeStrategy(union);
    const ra = await open(a, name);
    const rb = await open(b, name);
    ra.set('fromA', 1);
    rb.set('fromB', 2);
    await converged(ra, rb);
    await sleep(100);
    await converged(ra, rb);
    assert.deepEqual(sorted(ra.get()), { fromA: 1, fromB: 2 });
    assert.equal(ra.version, 2, 'the merged document is the next version');
    assert.equal(calls.length, 1, 'exactly one side lost the race');
    const [local, remote, lv, rv] = calls[0];
    assert.equal(lv, 1);
    assert.equal(rv, 1);
    assert.ok(('fromA' in local && 'fromB' in remote) || ('fromB' in local && 'fromA' in remote));
    assert.deepEqual(sorted(await a.record.snapshot(name)), { fromA: 1, fromB: 2 });
  });

  test('strategies per name and per pattern take precedence over the global one', async () => {
    const a = await loggedIn(server.url, 'ann');
    const b = await loggedIn(server.url, 'bob');
    const used = [];
    const spy = (label) => (local) => {
      used.push(label);
      return local;
    };
    b.record.setMergeStrategy(spy('global'));
    b.record.setMergeStrategy(/^pattern\//, spy('pattern'));
    const byName = unique('pattern/byname');
    b.record.setMergeStrategy(byName, spy('name'));
    // Race a and b on fresh records until b loses once; the strategy b used
    // tells which one was chosen (the name beats the pattern it matches).
    for (const [make, label] of [
      [() => byName, 'name'],
      [() => unique('pattern'), 'pattern'],
      [() => unique('other'), 'global'],
    ]) {
      used.length = 0;
      for (let round = 0; round < 20 && used.length === 0; round++) {
        const name = round === 0 ? make() : make() + '-' + round;
        if (label === 'name' && round > 0) b.record.setMergeStrategy(name, spy('name'));
        const ra = await open(a, name);
        const rb = await open(b, name);
        ra.set('v', 'a');
        rb.set('v', 'b');
        await converged(ra, rb);
        await sleep(50);
        await converged(ra, rb);
        if (used.length > 0) {
          assert.equal(rb.get('v'), 'b', 'the strategy kept the local value and wrote it back');
          assert.equal(rb.version, 2);
        }
      }
      assert.deepEqual(used, [label]);
    }
  });

  test('LOCAL_WINS overwrites the other client', async () => {
    const name = unique('localwins');
    const a = await loggedIn(server.url, 'ann', { mergeStrategy: MergeStrategy.LOCAL_WINS });
    const b = await loggedIn(server.url, 'bob', { mergeStrategy: MergeStrategy.LOCAL_WINS });
    const ra = await open(a, name);
    const rb = await open(b, name);
    ra.set({ owner: 'ann' });
    rb.set({ owner: 'bob' });
    await converged(ra, rb);
    await sleep(100);
    await converged(ra, rb);
    assert.equal(ra.version, 2, 'the loser wrote its own document as version 2');
  });

  test('many concurrent writers converge on the server copy', async () => {
    const name = unique('storm');
    const union = (local, remote) => ({ ...remote, ...local });
    const clients = await Promise.all(['c1', 'c2', 'c3'].map((u) => loggedIn(server.url, u, { mergeStrategy: union })));
    const recs = await Promise.all(clients.map((c) => open(c, name)));
    for (let round = 0; round < 30; round++) {
      recs.forEach((r, i) => r.set(`k${i}_${round % 7}`, round));
      if (round % 5 === 0) await sleep(1);
    }
    const settled = async () => {
      const head = await clients[0].record.head(name);
      const stored = JSON.stringify(sorted(await clients[0].record.snapshot(name)));
      return recs.every((r) => r.version === head && JSON.stringify(sorted(r.get())) === stored);
    };
    await waitFor(settled, { timeout: 10_000, what: 'every copy equal to the server copy' });
    await sleep(200);
    assert.ok(await settled(), 'still converged once everything settled');
    // Every key was written; with a union merge none is lost, whatever the
    // last value of each key.
    const keys = Object.keys(recs[0].get());
    assert.equal(keys.length, 21);
  });

  test('delete while subscribed: every handle hears it and the record starts over', async () => {
    const name = unique('delete');
    const a = await loggedIn(server.url, 'ann');
    const b = await loggedIn(server.url, 'bob');
    const ra = await open(a, name);
    const rb = await open(b, name);
    ra.set('x', 1);
    await waitFor(() => rb.version === 1);
    const [deletedB, onDeleteB] = collect();
    const [deletedA, onDeleteA] = collect();
    rb.on('delete', () => onDeleteB('deleted'));
    ra.on('delete', () => onDeleteA('deleted'));
    await ra.delete();
    assert.deepEqual(deletedA, ['deleted']);
    await waitFor(() => deletedB.length === 1, { what: 'Deleted at the other client' });
    assert.ok(rb.isDestroyed && ra.isDestroyed);
    assert.throws(() => rb.set('x', 2), (e) => e instanceof EddyError && e.code === ClientErrorCode.RecordDestroyed);
    assert.equal(await a.record.has(name), false);
    assert.equal(await a.record.head(name), -1);
    await assert.rejects(a.record.snapshot(name), (e) => e.code === ErrorCode.RecordNotFound && e.name === 'RecordNotFound');
    const again = await open(b, name);
    assert.equal(again.version, 0);
    assert.deepEqual(again.get(), {});
  });

  test('setWithAck resolves once stored; has, head, snapshot, setData', async () => {
    const name = unique('ack');
    const a = await loggedIn(server.url, 'ann');
    const b = await loggedIn(server.url, 'bob');
    assert.equal(await a.record.has(name), false);
    const ra = await open(a, name);
    await withTimeout(ra.setWithAck('a.b', 1), 3000, 'setWithAck');
    await withTimeout(ra.eraseWithAck('a.b'), 3000, 'eraseWithAck');
    await withTimeout(ra.setWithAck('a.c', 2), 3000, 'setWithAck');
    assert.equal(await b.record.has(name), true);
    assert.equal(await b.record.head(name), 3);
    assert.deepEqual(await b.record.snapshot(name), { a: { c: 2 } });
    // A forced write by a client that is not subscribed reaches subscribers.
    const [seen, onSeen] = collect();
    ra.subscribe('forced', onSeen);
    assert.equal(await b.record.setData(name, 'forced', 'yes'), 4);
    await waitFor(() => seen.length === 1, { what: 'forced write delivered' });
    assert.equal(ra.version, 4);
    // The writer's own open copy applies its forced write too.
    assert.equal(await a.record.setData(name, 'mine', true), 5);
    assert.equal(ra.get('mine'), true);
    assert.equal(ra.version, 5);
    assert.equal(await a.record.setData(name, { whole: 1 }), 6);
    assert.deepEqual(ra.get(), { whole: 1 });
    assert.equal(await a.record.setData(name, 'whole', undefined), 7);
    assert.deepEqual(ra.get(), {});
    await assert.rejects(a.record.setData(name, 5), TypeError);
  });

  test('writes made before the record is ready are applied after it', async () => {
    const name = unique('early');
    const a = await loggedIn(server.url, 'ann');
    const b = await loggedIn(server.url, 'bob');
    await b.record.setData(name, { base: 1 });
    const ra = a.record.getRecord(name);
    assert.equal(ra.isReady, false);
    const acked = ra.setWithAck('added', 2);
    ra.set('more', 3);
    await ra.whenReady();
    await withTimeout(acked, 3000, 'ack of an early write');
    assert.deepEqual(sorted(ra.get()), { added: 2, base: 1, more: 3 });
    await waitFor(async () => JSON.stringify(sorted(await b.record.snapshot(name))) === JSON.stringify({ added: 2, base: 1, more: 3 }));
  });

  test('a record discarded right after a write still sends the write', async () => {
    const name = unique('fire-and-forget');
    const a = await loggedIn(server.url, 'ann');
    const b = await loggedIn(server.url, 'bob');
    const r = a.record.getRecord(name);
    r.set({ title: 'written before ready', done: false });
    r.discard();
    assert.ok(r.isDestroyed);
    await waitFor(async () => (await b.record.head(name)) === 1, { what: 'the write stored' });
    assert.deepEqual(await b.record.snapshot(name), { title: 'written before ready', done: false });
    await waitFor(() => !a.record.names().includes(name), { what: 'the lingering copy released' });
  });

  test('handles share one copy; discarding the last ends the subscription', async () => {
    const name = unique('handles');
    const a = await loggedIn(server.url, 'ann');
    const b = await loggedIn(server.url, 'bob');
    const h1 = await open(a, name);
    const h2 = a.record.getRecord(name);
    assert.equal(h2.isReady, true, 'a second handle shares the ready copy');
    const [s1, on1] = collect();
    const [s2, on2] = collect();
    h1.subscribe('x', on1);
    h2.subscribe('x', on2);
    h1.discard();
    assert.throws(() => h1.get() && h1.set('x', 1), EddyError);
    assert.deepEqual(a.record.names().includes(name), true);
    const rb = await open(b, name);
    rb.set('x', 1);
    await waitFor(() => s2.length === 1, { what: 'remaining handle notified' });
    assert.equal(s1.length, 0, 'a discarded handle loses its subscriptions');
    h2.discard();
    assert.equal(a.record.names().includes(name), false);
    rb.set('x', 2);
    await sleep(100);
    assert.equal(s2.length, 1);
  });

  test('bad arguments are refused locally', async () => {
    const a = await loggedIn(server.url, 'ann');
    const r = await open(a, unique('bad'));
    assert.throws(() => r.set(42), TypeError, 'a whole record must be an object or array');
    assert.throws(() => r.set('', 'x'), TypeError);
    assert.throws(() => r.set('a..b', 1), TypeError);
    assert.throws(() => r.set('a[01]', 1), TypeError);
    assert.throws(() => r.erase(''), TypeError);
    assert.throws(() => r.subscribe('a]', () => {}), TypeError);
    assert.throws(() => a.record.getRecord(''), TypeError);
  });

  test('a write refused by the server restores the server copy', async () => {
    const name = unique('refused');
    const a = await loggedIn(server.url, 'ann');
    const b = await loggedIn(server.url, 'bob');
    const ra = await open(a, name);
    const rb = await open(b, name);
    rb.set('kept', 1);
    await waitFor(() => ra.version === 1);
    const errors = [];
    a.on('error', (e) => errors.push(e));
    // Padding to index 999999 makes a document larger than the server
    // allows (net.maxFrame - 4096): the write is refused with
    // DocumentTooLarge, before the server builds it.
    ra.set('pad[999999]', 1);
    assert.equal(ra.get('pad').length, 1000000, 'applied locally at once');
    await waitFor(() => errors.length > 0, { what: 'refusal' });
    assert.equal(errors[0].code, ErrorCode.DocumentTooLarge);
    assert.equal(errors[0].target, name);
    await waitFor(() => ra.get('pad') === undefined, { what: 'server copy restored' });
    assert.deepEqual(ra.get(), { kept: 1 });
    assert.equal(ra.version, 1);
    ra.set('after', 2);
    await converged(ra, rb);
    assert.deepEqual(sorted(rb.get()), { after: 2, kept: 1 });
  });

  test('writes larger than maxMessageBytes throw before changing anything', async () => {
    const a = await loggedIn(server.url, 'ann', { maxMessageBytes: 4096 });
    const r = await open(a, unique('large'));
    assert.throws(() => r.set('big', 'x'.repeat(5000)), (e) => e.code === ErrorCode.MessageTooLarge);
    assert.deepEqual(r.get(), {});
    assert.equal(r.version, 0);
    assert.throws(() => a.event.emit('big', 'x'.repeat(5000)), (e) => e.name === 'MessageTooLarge');
    r.set('small', 'x'.repeat(100));
    assert.equal(r.version, 1);
  });
});

describe('records offline', () => {
  test('with the offline queue off, writes while not logged in throw', async () => {
    const a = client(server.url, { offlineQueue: false });
    const r = a.record.getRecord(unique('offline'));
    assert.throws(() => r.set('x', 1), (e) => e.code === ClientErrorCode.NotConnected);
    await a.login();
    await r.whenReady();
    r.set('x', 1);
    assert.equal(r.version, 1);
  });
});
