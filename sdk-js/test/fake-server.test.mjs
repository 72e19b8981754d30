// The connection runtime against a scripted server behind a fake WebSocket:
// malformed and unexpected input, close codes, the offline queue limit and
// heartbeats, which a well-behaved server never produces on demand.
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { build } from 'esbuild';
import { ClientErrorCode, ConnectionState, Eddy, ErrorCode } from '../dist/eddy.js';
import { collect, sdkRoot, sleep, waitFor } from './helpers.mjs';

let wire;
before(async () => {
  const out = await build({
    stdin: { contents: `export * from './src/wire';`, resolveDir: sdkRoot, loader: 'ts' },
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'neutral',
    mainFields: ['module', 'main'],
  });
  wire = await import('data:text/javascript;base64,' + Buffer.from(out.outputFiles[0].text).toString('base64'));
});

const enc = (v) => new TextEncoder().encode(JSON.stringify(v));

// fakeServer returns a WebSocket class whose instances talk to a scripted
// server: it answers the handshake and logins, records what the client
// sends, and lets the test push messages or close the socket.
function fakeServer({ login = () => ({ user: 'ann' }), heartbeatMs = 60_000, answerPings = true } = {}) {
  const sockets = [];
  const received = [];
  class FakeWebSocket {
    constructor(url) {
      this.url = url;
      this.readyState = 0;
      this.binaryType = 'blob';
      this.listeners = {};
      sockets.push(this);
      setTimeout(() => {
        if (this.readyState !== 0) return;
        this.readyState = 1;
        this.fire('open', {});
      }, 1);
    }
    addEventListener(type, fn) {
      (this.listeners[type] ??= []).push(fn);
    }
    fire(type, ev) {
      for (const fn of this.listeners[type] ?? []) fn(ev);
    }
    send(bytes) {
      const m = wire.decode(bytes);
      received.push(m);
      const { Action, Topic } = wire;
      if (m.topic === Topic.Connection && m.action === Action.Handshake) {
        this.push({ topic: Topic.Connection, action: Action.HandshakeAck, version: 1, data: enc({ heartbeatMs }) });
      } else if (m.topic === Topic.Auth && m.action === Action.Login) {
        const r = login(m);
        this.push({ topic: Topic.Auth, action: Action.LoginResult, id: m.id, ...(r.code ? { code: r.code, reason: r.reason } : { user: r.user }) });
      } else if (m.topic === Topic.Connection && m.action === Action.Ping && answerPings) {
        this.push({ topic: Topic.Connection, action: Action.Pong, id: m.id });
      } else if (m.action === Action.Subscribe || m.action === Action.Unsubscribe) {
        this.push({ topic: m.topic, action: Action.Ack, id: m.id });
      }
    }
    push(m) {
      this.raw(wire.encode(m));
    }
    raw(data) {
      setTimeout(() => {
        if (this.readyState !== 1) return;
        const buf = data instanceof Uint8Array ? data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) : data;
        this.fire('message', { data: buf });
      }, 1);
    }
    close() {
      if (this.readyState >= 2) return;
      this.readyState = 3;
      setTimeout(() => this.fire('close', { code: 1000, reason: '' }), 1);
    }
    // serverClose closes from the server side, optionally after a Close message.
    serverClose(code, reason = '') {
      if (code) this.push({ topic: wire.Topic.Connection, action: wire.Action.Close, code, reason });
      setTimeout(() => {
        this.readyState = 3;
        this.fire('close', { code: 1000, reason: '' });
      }, 5);
    }
  }
  return { FakeWebSocket, sockets, received, last: () => sockets.at(-1) };
}

function newClient(fake, opts = {}) {
  return new Eddy('ws://fake', { WebSocket: fake.FakeWebSocket, reconnect: { min: 10, max: 20 }, ...opts });
}

describe('connection runtime against a scripted server', () => {
  test('malformed bytes and text frames drop the connection and reconnect', async () => {
    const fake = fakeServer();
    const c = newClient(fake);
    const errors = [];
    c.on('error', (e) => errors.push(e));
    await c.login({ username: 'ann' });
    fake.last().raw(Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8, 9));
    await waitFor(() => fake.sockets.length === 2 && c.getConnectionState() === ConnectionState.OPEN, { what: 'reconnected' });
    assert.equal(errors[0].code, ClientErrorCode.InvalidMessage);
    const close = fake.received.find((m) => m.action === wire.Action.Close);
    assert.equal(close.code, ErrorCode.ProtocolError, 'the server is told why');
    fake.last().raw('a text frame');
    await waitFor(() => fake.sockets.length === 3 && c.getConnectionState() === ConnectionState.OPEN, { what: 'reconnected again' });
    // A server message that is valid FlatBuffers but has bad JSON data only
    // reports an error.
    await c.event.subscribe('e', () => assert.fail('bad data must not be delivered'));
    fake.last().push({ topic: wire.Topic.Event, action: wire.Action.Emit, name: 'e', data: Uint8Array.of(0x7b) });
    await waitFor(() => errors.some((e) => e.code === ClientErrorCode.InvalidMessage && e.target === 'e'));
    assert.equal(fake.sockets.length, 3);
    c.close();
  });

  test('a Close whose code forbids reconnecting ends in ERROR; others reconnect', async () => {
    const fake = fakeServer();
    const c = newClient(fake);
    const states = [];
    c.on('connectionStateChanged', (s) => states.push(s));
    const errors = [];
    c.on('error', (e) => errors.push(e));
    await c.login();
    fake.last().serverClose(ErrorCode.ServerShutdown, 'restarting');
    await waitFor(() => fake.sockets.length === 2 && c.getConnectionState() === ConnectionState.OPEN);
    assert.ok(states.includes(ConnectionState.RECONNECTING));
    fake.last().serverClose(ErrorCode.UnsupportedVersion, 'speak version 2');
    await waitFor(() => c.getConnectionState() === ConnectionState.ERROR);
    assert.equal(errors.at(-1).code, ErrorCode.UnsupportedVersion);
    assert.equal(errors.at(-1).message, 'speak version 2');
    await sleep(50);
    assert.equal(fake.sockets.length, 2, 'no further attempt');
    assert.throws(() => c.event.emit('x', 1), (e) => e.code === ErrorCode.UnsupportedVersion);
  });

  test('a refused automatic re-login is reported and waits for login()', async () => {
    let refuse = false;
    const fake = fakeServer({ login: () => (refuse ? { code: ErrorCode.TokenExpired, reason: 'expired' } : { user: 'ann' }) });
    const c = newClient(fake);
    const errors = [];
    c.on('error', (e) => errors.push(e));
    await c.login({ token: 'a' });
    refuse = true;
    fake.last().serverClose();
    await waitFor(() => errors.some((e) => e.code === ErrorCode.TokenExpired), { what: 'refusal reported' });
    assert.equal(c.getConnectionState(), ConnectionState.AWAITING_AUTHENTICATION);
    refuse = false;
    const r = await c.login({ token: 'b' });
    assert.equal(r.user, 'ann');
    const logins = fake.received.filter((m) => m.action === wire.Action.Login).map((m) => JSON.parse(new TextDecoder().decode(m.data)));
    assert.deepEqual(logins, [{ token: 'a' }, { token: 'a' }, { token: 'b' }]);
    c.close();
  });

  test('the offline queue keeps the newest messages up to its limit', async () => {
    const fake = fakeServer();
    const c = newClient(fake, { offlineQueueLimit: 3 });
    const errors = [];
    c.on('error', (e) => errors.push(e));
    for (let i = 0; i < 5; i++) c.event.emit('q', i);
    assert.equal(errors.length, 2);
    assert.equal(errors[0].code, ClientErrorCode.NotConnected);
    await c.login();
    await waitFor(() => fake.received.filter((m) => m.action === wire.Action.Emit).length === 3);
    const sent = fake.received.filter((m) => m.action === wire.Action.Emit).map((m) => JSON.parse(new TextDecoder().decode(m.data)));
    assert.deepEqual(sent, [2, 3, 4]);
    c.close();
  });

  test('the client pings at its interval and gives up on a silent server', async () => {
    const fake = fakeServer({ answerPings: false });
    const c = newClient(fake, { heartbeatMs: 20 });
    await c.login();
    const states = [];
    c.on('connectionStateChanged', (s) => states.push(s));
    await waitFor(() => states.includes(ConnectionState.RECONNECTING), { timeout: 2000, what: 'heartbeat failure' });
    assert.ok(fake.received.filter((m) => m.action === wire.Action.Ping).length >= 1);
    c.close();
  });

  test('server pings are answered with the same id', async () => {
    const fake = fakeServer();
    const c = newClient(fake);
    await c.login();
    fake.last().push({ topic: wire.Topic.Connection, action: wire.Action.Ping, id: 77n });
    await waitFor(() => fake.received.some((m) => m.action === wire.Action.Pong));
    assert.equal(fake.received.find((m) => m.action === wire.Action.Pong).id, 77n);
    c.close();
  });

  test('requests in flight fail with ConnectionLost; after close calls fail with ClientClosed', async () => {
    const fake = fakeServer();
    const c = newClient(fake);
    await c.login();
    const inFlight = c.record.has('x'); // never answered by the fake server
    await waitFor(() => fake.received.some((m) => m.action === wire.Action.Has));
    fake.last().serverClose();
    await assert.rejects(inFlight, (e) => e.code === ClientErrorCode.ConnectionLost);
    c.close();
    await assert.rejects(c.record.has('x'), (e) => e.code === ClientErrorCode.ClientClosed);
    assert.equal(c.getConnectionState(), ConnectionState.CLOSED);
  });

  test('without a global WebSocket Node uses the ws package, not an ERROR', async () => {
    const saved = globalThis.WebSocket;
    // Node 20 has no global WebSocket; make sure of it for this test.
    globalThis.WebSocket = undefined;
    try {
      const c = new Eddy('ws://127.0.0.1:1', { reconnect: false });
      const [errors, onError] = collect();
      c.on('error', onError);
      // It dials with ws: the port refuses, and with reconnect off it closes.
      await waitFor(() => c.getConnectionState() === ConnectionState.CLOSED, { what: 'CLOSED' });
      assert.ok(!errors.some((e) => /no WebSocket implementation/.test(e.message)), errors.map((e) => e.message).join('; '));
      await c.close();
    } finally {
      globalThis.WebSocket = saved;
    }
  });
});
