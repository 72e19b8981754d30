// Every registration returns a promise settled by the server's answer, and
// a failure is reported once: to the promise when it is awaited, otherwise
// to the client's error event.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ConnectionState, ErrorCode } from '../dist/eddy.js';
import { closeClients, collect, loggedIn, sleep, startServer, waitFor, withTimeout } from './helpers.mjs';

describe('awaitable registrations', () => {
  let server;
  before(async () => {
    server = await startServer();
  });
  after(async () => {
    closeClients();
    await server?.stop();
  });

  test('unsubscribe, unlisten, unprovide and presence.unsubscribe resolve once the server answered', async () => {
    const p = await loggedIn(server.url, 'provider');
    const r = await loggedIn(server.url, 'requester');
    await p.rpc.provide('aw/add', (n, res) => res.send(n + 1));
    assert.equal(await r.rpc.make('aw/add', 1), 2);
    const unprovided = p.rpc.unprovide('aw/add');
    assert.ok(unprovided instanceof Promise);
    await withTimeout(unprovided, 5000, 'unprovide');
    // The server has forgotten the provider: no waiting needed.
    await assert.rejects(r.rpc.make('aw/add', 1), (e) => e.code === ErrorCode.NoRpcProvider);

    const cb = () => {};
    await p.event.subscribe('aw/e', cb);
    await withTimeout(p.event.unsubscribe('aw/e', cb), 5000, 'unsubscribe');
    await withTimeout(p.event.listen('aw/.*', (name, res) => res.accept()), 5000, 'listen');
    await withTimeout(p.event.unlisten('aw/.*'), 5000, 'unlisten');
    await withTimeout(p.record.listen('awr/.*', (name, res) => res.accept()), 5000, 'record listen');
    await withTimeout(p.record.unlisten('awr/.*'), 5000, 'record unlisten');
    const watch = () => {};
    await p.presence.subscribe(watch);
    await withTimeout(p.presence.unsubscribe(watch), 5000, 'presence unsubscribe');
    await withTimeout(p.presence.subscribe('someone', watch), 5000, 'presence subscribe to a user');
    await withTimeout(p.presence.unsubscribe('someone'), 5000, 'presence unsubscribe from a user');
  });

  test('an awaited failure goes to the promise only; an ignored one to the error event once', async () => {
    const c = await loggedIn(server.url, 'ann');
    const [errors, onError] = collect();
    c.on('error', onError);

    // A bad pattern rejects the awaited listen with one clear message.
    await assert.rejects(withTimeout(c.event.listen('([', () => {}), 5000, 'listen'), (e) => {
      assert.equal(e.code, ErrorCode.InvalidPattern);
      assert.equal(e.message.split('not a valid regular expression').length, 2, e.message);
      return true;
    });
    await assert.rejects(c.rpc.provide('aw/dup', () => {}).then(() => c.rpc.provide('aw/dup', () => {})), (e) => e.code === ErrorCode.RpcAlreadyProvided);
    // A round trip after both: any error event would have come by now.
    await c.presence.getAll();
    assert.deepEqual(errors, [], 'awaited failures are not reported again');

    // Not awaited: reported once through the error event.
    void c.event.listen('[[', () => {});
    await waitFor(() => errors.length === 1, { what: 'the error event' });
    void c.rpc.provide('aw/dup', () => {});
    await waitFor(() => errors.length === 2, { what: 'the error event' });
    await c.presence.getAll();
    await sleep(20);
    assert.deepEqual(errors.map((e) => e.code), [ErrorCode.InvalidPattern, ErrorCode.RpcAlreadyProvided]);
  });

  test('close resolves once the connection is closed', async () => {
    const c = await loggedIn(server.url, 'closer');
    const closed = c.close();
    assert.ok(closed instanceof Promise);
    assert.equal(c.getConnectionState(), ConnectionState.CLOSED);
    await withTimeout(closed, 5000, 'close');
    await withTimeout(c.close(), 5000, 'a second close');
  });
});
