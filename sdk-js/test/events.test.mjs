import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ClientErrorCode, EddyError } from '../dist/eddy.js';
import { client, collect, fileServer, loggedIn, sleep, waitFor, withTimeout } from './helpers.mjs';

const server = fileServer();

describe('events', () => {
  test('emit reaches remote and local subscribers, once each, with any JSON', async () => {
    const a = await loggedIn(server.url, 'ann');
    const b = await loggedIn(server.url, 'bob');
    const [gotB, onB] = collect();
    const [gotA, onA] = collect();
    await b.event.subscribe('news/sport', onB);
    await a.event.subscribe('news/sport', onA);
    const values = [{ score: [2, 1] }, 'text', 42, null, [1, 'two', { three: 3 }], { nested: { é: '🙂' } }, true];
    for (const v of values) a.event.emit('news/sport', v);
    // The emitter's own subscriber gets its events at once, locally.
    assert.deepEqual(gotA, values.map((v) => [v, 'news/sport']));
    await waitFor(() => gotB.length === values.length, { what: 'remote events' });
    assert.deepEqual(gotB, values.map((v) => [v, 'news/sport']));
    await sleep(50);
    assert.equal(gotA.length, values.length, 'the server never echoes an emit to its sender');
    assert.equal(gotB.length, values.length);
  });

  test('delivered data is frozen so subscribers cannot change what others see', async () => {
    const a = await loggedIn(server.url, 'ann');
    let seen;
    await a.event.subscribe('frozen', (d) => (seen = d));
    a.event.emit('frozen', { list: [1] });
    assert.ok(Object.isFrozen(seen) && Object.isFrozen(seen.list));
  });

  test('several local subscribers share one server subscription', async () => {
    const provider = await loggedIn(server.url, 'provider');
    const b = await loggedIn(server.url, 'bob');
    const [found, onFound] = collect();
    const [stopped, onStop] = collect();
    provider.event.listen('shared/.*', (name, response) => {
      onFound(name);
      response.accept();
      response.onStop(onStop);
    });
    await sleep(50);
    const [one, f1] = collect();
    const [two, f2] = collect();
    await b.event.subscribe('shared/x', f1);
    await b.event.subscribe('shared/x', f2);
    await waitFor(() => found.length === 1, { what: 'SubscriptionFound' });
    provider.event.emit('shared/x', 1);
    await waitFor(() => one.length === 1 && two.length === 1, { what: 'both local callbacks' });
    b.event.unsubscribe('shared/x', f1);
    await sleep(100);
    assert.equal(stopped.length, 0, 'one local subscriber left: the server subscription stays');
    provider.event.emit('shared/x', 2);
    await waitFor(() => two.length === 2, { what: 'second event' });
    assert.equal(one.length, 1, 'an unsubscribed callback gets nothing');
    b.event.unsubscribe('shared/x', f2);
    await waitFor(() => stopped.length === 1, { what: 'SubscriptionRemoved after the last local unsubscribe' });
    assert.deepEqual(found, ['shared/x']);
    assert.deepEqual(stopped, ['shared/x']);
  });

  test('unsubscribe without a callback removes every callback of the name', async () => {
    const a = await loggedIn(server.url, 'ann');
    const b = await loggedIn(server.url, 'bob');
    const [got, on] = collect();
    await b.event.subscribe('gone', on);
    await b.event.subscribe('gone', on);
    b.event.unsubscribe('gone');
    assert.deepEqual(b.event.names().includes('gone'), false);
    await sleep(50);
    a.event.emit('gone', 1);
    await sleep(100);
    assert.equal(got.length, 0);
  });

  test('emits and subscriptions made before login are sent after it', async () => {
    const b = await loggedIn(server.url, 'bob');
    const [got, on] = collect();
    await b.event.subscribe('early', on);
    const a = client(server.url);
    const [local, onLocal] = collect();
    const subscribed = a.event.subscribe('early', onLocal);
    a.event.emit('early', 'queued');
    assert.deepEqual(local, [['queued', 'early']]);
    await a.login({ username: 'ann' });
    await withTimeout(subscribed, 2000, 'subscribe made before login');
    await waitFor(() => got.length === 1, { what: 'the queued emit' });
    assert.deepEqual(got, [['queued', 'early']]);
  });

  test('with the offline queue off, emit before login throws NotConnected', async () => {
    const a = client(server.url, { offlineQueue: false });
    assert.throws(
      () => a.event.emit('x', 1),
      (e) => e instanceof EddyError && e.code === ClientErrorCode.NotConnected && e.name === 'NotConnected',
    );
    await a.login();
    a.event.emit('x', 1);
  });

  test('invalid names and values are refused locally', async () => {
    const a = await loggedIn(server.url, 'ann');
    assert.throws(() => a.event.emit('', 1), TypeError);
    assert.throws(() => a.event.subscribe('', () => {}), TypeError);
    assert.throws(() => a.event.emit('x', () => {}), TypeError);
    const cyclic = {};
    cyclic.self = cyclic;
    assert.throws(() => a.event.emit('x', cyclic), TypeError);
  });

  test('a listener that rejects lets the next one provide', async () => {
    const l1 = await loggedIn(server.url, 'l1');
    const l2 = await loggedIn(server.url, 'l2');
    const sub = await loggedIn(server.url, 'sub');
    const asked = [];
    l1.event.listen('prices/.*', (name, r) => {
      asked.push(['l1', name]);
      r.reject();
    });
    l2.event.listen('prices/.*', (name, r) => {
      asked.push(['l2', name]);
      r.reject();
    });
    await sleep(50);
    await sub.event.subscribe('prices/eur', () => {});
    await waitFor(() => asked.length === 2, { what: 'both listeners asked' });
    assert.deepEqual(asked.map(([, n]) => n), ['prices/eur', 'prices/eur']);
    assert.deepEqual(new Set(asked.map(([who]) => who)), new Set(['l1', 'l2']));
    await sub.event.subscribe('old/prices/eur', () => {});
    await sleep(100);
    assert.equal(asked.length, 2, 'patterns match whole names only');
  });
});
