import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ClientErrorCode, ConnectionState } from '../dist/eddy.js';
import { collect, fileServer, loggedIn, restartPort, sleep, startServer, tempDir, waitFor, withTimeout } from './helpers.mjs';

const server = fileServer();

let seq = 0;
const unique = (prefix) => `${prefix}/${process.pid}-${++seq}`;
/** readyList opens the list name through client c and waits until it is loaded. */
const readyList = (c, name) => withTimeout(c.record.getList(name).whenReady(), 3000, `list ${name} for ${c.user}`);

describe('lists', () => {
  test('entries added, removed and moved reach the other client as events', async () => {
    const name = unique('todos');
    const a = await loggedIn(server.url, 'ann');
    const b = await loggedIn(server.url, 'bob');
    const la = await readyList(a, name);
    const lb = await readyList(b, name);
    assert.deepEqual(la.getEntries(), []);
    assert.ok(la.isEmpty());
    const [events, on] = collect();
    lb.on('entry-added', (e, i) => on(['added', e, i]));
    lb.on('entry-removed', (e, i) => on(['removed', e, i]));
    lb.on('entry-moved', (e, i) => on(['moved', e, i]));
    const [snapshots, onEntries] = collect();
    lb.subscribe(onEntries);

    la.addEntry('todo/1');
    la.addEntry('todo/2');
    la.addEntry('todo/0', 0);
    assert.deepEqual(la.getEntries(), ['todo/0', 'todo/1', 'todo/2']);
    await waitFor(() => lb.version === 3, { what: 'three list versions' });
    assert.deepEqual(lb.getEntries(), ['todo/0', 'todo/1', 'todo/2']);
    assert.deepEqual(events, [
      ['added', 'todo/1', 0],
      ['added', 'todo/2', 1],
      ['added', 'todo/0', 0],
      ['moved', 'todo/1', 1],
      ['moved', 'todo/2', 2],
    ]);
    assert.deepEqual(snapshots.at(-1), ['todo/0', 'todo/1', 'todo/2']);

    events.length = 0;
    la.removeEntry('todo/1');
    await waitFor(() => lb.version === 4);
    assert.deepEqual(events, [
      ['removed', 'todo/1', 1],
      ['moved', 'todo/2', 1],
    ]);

    events.length = 0;
    la.setEntries(['todo/2', 'todo/0']);
    await waitFor(() => lb.version === 5);
    assert.deepEqual(events, [
      ['moved', 'todo/2', 0],
      ['moved', 'todo/0', 1],
    ]);

    // removeEntry with an index removes only that occurrence.
    la.setEntries(['x', 'y', 'x']);
    la.removeEntry('x', 2);
    assert.deepEqual(la.getEntries(), ['x', 'y']);
    la.removeEntry('y', 0); // not at that index: nothing happens
    assert.deepEqual(la.getEntries(), ['x', 'y']);
    await waitFor(() => lb.version === la.version);
    assert.deepEqual(lb.getEntries(), ['x', 'y']);
    assert.throws(() => la.addEntry(5), TypeError);
    assert.throws(() => la.addEntry('z', 9), RangeError);
  });

  test('a list can be deleted and discarded like a record', async () => {
    const name = unique('list-del');
    const a = await loggedIn(server.url, 'ann');
    const b = await loggedIn(server.url, 'bob');
    const la = await readyList(a, name);
    const lb = await readyList(b, name);
    const [deleted, on] = collect();
    lb.on('delete', () => on('deleted'));
    la.addEntry('a');
    await waitFor(() => lb.getEntries().length === 1);
    await la.delete();
    await waitFor(() => deleted.length === 1, { what: 'list deleted' });
    la.discard();
    assert.ok(la.isDestroyed);
  });
});

describe('lists under concurrent writers', () => {
  test('two clients adding at once both keep every entry, once, in order', async () => {
    const name = unique('queue');
    const a = await loggedIn(server.url, 'ann');
    const b = await loggedIn(server.url, 'bob');
    const la = await readyList(a, name);
    const lb = await readyList(b, name);
    const n = 200;
    // Interleave the two writers in bursts so their writes race.
    for (let i = 0; i < n; i += 10) {
      for (let k = i; k < i + 10; k++) la.addEntry(`a/${k}`);
      for (let k = i; k < i + 10; k++) lb.addEntry(`b/${k}`);
      await sleep(1);
    }
    const check = await loggedIn(server.url, 'carol');
    await waitFor(
      async () => {
        const doc = await check.record.snapshot(name);
        return Array.isArray(doc) && doc.length === 2 * n && la.getEntries().length === 2 * n && lb.getEntries().length === 2 * n;
      },
      { timeout: 10000, what: `all ${2 * n} entries everywhere` },
    );
    const final = await check.record.snapshot(name);
    assert.deepEqual(la.getEntries(), final);
    assert.deepEqual(lb.getEntries(), final);
    assert.equal(new Set(final).size, 2 * n, 'an entry appears twice');
    for (const w of ['a', 'b']) {
      const mine = final.filter((e) => e.startsWith(`${w}/`)).map((e) => Number(e.slice(2)));
      assert.deepEqual(mine, [...Array(n).keys()], `writer ${w}'s entries out of order`);
    }
  });

  test('list operations made offline apply again to a list another client changed', async () => {
    const [dir, cleanup] = tempDir('eddy-js-data-');
    let srv = await startServer({ wsPort: await restartPort(), dataDir: dir });
    const port = srv.wsPort;
    try {
      const name = unique('offline');
      const ann = await loggedIn(srv.url, 'ann', { reconnect: { min: 700, max: 800 } });
      const bob = await loggedIn(srv.url, 'bob', { reconnect: { min: 50, max: 100 } });
      const la = await readyList(ann, name);
      const lb = await readyList(bob, name);
      la.addEntry('a0');
      await waitFor(() => lb.getEntries().length === 1, { what: 'bob sees a0' });
      await srv.kill();
      la.addEntry('a1');
      la.addEntry('a2');
      la.removeEntry('a0', 0);
      assert.deepEqual(la.getEntries(), ['a1', 'a2']);
      srv = await startServer({ wsPort: port, dataDir: dir });
      await waitFor(() => bob.getConnectionState() === ConnectionState.OPEN, { timeout: 5000 });
      lb.addEntry('b1', 0);
      await waitFor(() => ann.getConnectionState() === ConnectionState.OPEN, { timeout: 5000 });
      const want = ['b1', 'a1', 'a2'];
      await waitFor(() => JSON.stringify(la.getEntries()) === JSON.stringify(want) && JSON.stringify(lb.getEntries()) === JSON.stringify(want), {
        what: `both lists ${want}`,
      }).catch((err) => {
        throw new Error(`${err.message}; ann has ${la.getEntries()} (v${la.version}), bob ${lb.getEntries()} (v${lb.version})`);
      });
    } finally {
      await srv.stop();
      cleanup();
    }
  });
});

describe('anonymous records', () => {
  test('setName switches records and moves subscriptions, firing where values differ', async () => {
    const a = await loggedIn(server.url, 'ann');
    const b = await loggedIn(server.url, 'bob');
    const first = unique('item');
    const second = unique('item');
    await b.record.setData(first, { title: 'First', done: false });
    await b.record.setData(second, { title: 'Second', done: false });

    const anon = a.record.getAnonymousRecord();
    assert.equal(anon.name, null);
    assert.throws(() => anon.get(), (e) => e.code === ClientErrorCode.RecordDestroyed);
    const [titles, onTitle] = collect();
    const [dones, onDone] = collect();
    const [names, onName] = collect();
    anon.subscribe('title', onTitle);
    anon.subscribe('done', onDone);
    anon.on('nameChanged', onName);

    await anon.setName(first);
    assert.equal(anon.name, first);
    assert.deepEqual(titles, ['First']);
    assert.deepEqual(dones, [false]);
    await anon.setName(second);
    assert.deepEqual(titles, ['First', 'Second']);
    assert.deepEqual(dones, [false], 'done is the same in both records: no call');
    assert.deepEqual(names, [first, second]);

    // Subscriptions follow the current record only.
    const rb = await b.record.getRecord(second).whenReady();
    rb.set('done', true);
    await waitFor(() => dones.length === 2, { what: 'change on the current record' });
    assert.deepEqual(dones, [false, true]);
    const r1 = await b.record.getRecord(first).whenReady();
    r1.set('title', 'First, edited');
    await sleep(100);
    assert.deepEqual(titles, ['First', 'Second'], 'the previous record is no longer followed');
    assert.equal(a.record.names().includes(first), false, 'the previous record was discarded');

    anon.set('title', 'Second, edited by ann');
    await waitFor(() => rb.get('title') === 'Second, edited by ann');
    anon.discard();
    assert.equal(a.record.names().includes(second), false);
  });
});
