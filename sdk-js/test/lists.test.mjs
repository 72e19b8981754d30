import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ClientErrorCode } from '../dist/eddy.js';
import { closeClients, collect, loggedIn, sleep, startServer, waitFor, withTimeout } from './helpers.mjs';

let server;
before(async () => {
  server = await startServer();
});
after(async () => {
  closeClients();
  await server?.stop();
});

let seq = 0;
const unique = (prefix) => `${prefix}/${process.pid}-${++seq}`;

describe('lists', () => {
  test('entries added, removed and moved reach the other client as events', async () => {
    const name = unique('todos');
    const a = await loggedIn(server.url, 'ann');
    const b = await loggedIn(server.url, 'bob');
    const la = await withTimeout(a.record.getList(name).whenReady(), 3000, 'list a');
    const lb = await withTimeout(b.record.getList(name).whenReady(), 3000, 'list b');
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
    const la = await a.record.getList(name).whenReady();
    const lb = await b.record.getList(name).whenReady();
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
