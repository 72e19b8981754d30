import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ClientErrorCode, ConnectionState, EddyError, ErrorCode } from '../dist/eddy.js';
import { client, closeClients, collect, loggedIn, sdkRoot, sleep, startServer, waitFor, withTimeout } from './helpers.mjs';

const usersConfig = `auth:
  strategies:
    - type: file
      path: ${join(sdkRoot, 'test/fixtures/users.yaml')}
session:
  maxAuthAttempts: 3
`;

describe('authentication', () => {
  let server;
  before(async () => {
    server = await startServer({ config: usersConfig });
  });
  after(async () => {
    closeClients();
    await server?.stop();
  });

  test('a good password logs in with the user id and clientData; states in order', async () => {
    const c = client(server.url);
    const [states, onState] = collect();
    c.on('connectionStateChanged', onState);
    const result = await withTimeout(c.login({ username: 'ann', password: 'secret' }), 5000, 'login');
    assert.deepEqual(result, { user: 'ann', clientData: { name: 'Ann' } });
    assert.equal(c.user, 'ann');
    assert.deepEqual(c.clientData, { name: 'Ann' });
    assert.deepEqual(states, [
      ConnectionState.CHALLENGING,
      ConnectionState.AWAITING_AUTHENTICATION,
      ConnectionState.AUTHENTICATING,
      ConnectionState.OPEN,
    ]);
    assert.equal(c.getConnectionState(), 'OPEN');
    await assert.rejects(c.login({ username: 'ann', password: 'secret' }), (e) => e.code === ErrorCode.AlreadyAuthenticated);
    c.close();
    assert.equal(c.getConnectionState(), ConnectionState.CLOSED);
    assert.equal(states.at(-1), ConnectionState.CLOSED);
    await assert.rejects(c.login({}), (e) => e.name === 'ClientClosed');
  });

  test('a wrong password is refused with InvalidCredentials and may be retried', async () => {
    const c = client(server.url);
    await assert.rejects(
      withTimeout(c.login({ username: 'ann', password: 'wrong' }), 5000, 'refused login'),
      (e) => e instanceof EddyError && e.code === ErrorCode.InvalidCredentials && e.name === 'InvalidCredentials' && e.message.length > 0,
    );
    assert.equal(c.getConnectionState(), ConnectionState.AWAITING_AUTHENTICATION);
    const ok = await withTimeout(c.login({ username: 'bob', password: 'secret' }), 5000, 'second login');
    assert.equal(ok.user, 'bob');
  });

  test('too many refused logins end in ERROR without reconnecting', async () => {
    const c = client(server.url);
    const errors = [];
    c.on('error', (e) => errors.push(e));
    const codes = [];
    for (let i = 0; i < 3; i++) {
      try {
        await withTimeout(c.login({ username: 'nobody', password: 'x' }), 5000, 'refused login');
      } catch (e) {
        codes.push(e.code);
      }
    }
    assert.deepEqual(codes.slice(0, 2), [ErrorCode.InvalidCredentials, ErrorCode.InvalidCredentials]);
    await waitFor(() => c.getConnectionState() === ConnectionState.ERROR, { what: 'ERROR state' });
    assert.ok(errors.some((e) => e.code === ErrorCode.TooManyAuthAttempts), 'the close reason is reported');
    await sleep(300);
    assert.equal(c.getConnectionState(), ConnectionState.ERROR, 'no reconnect after a final close');
  });
});

const jwtSecret = 'j'.repeat(32);
const jwtConfig = `auth:
  strategies:
    - type: jwt
      hmacSecret: "${jwtSecret}"
session:
  heartbeat: 50ms
  heartbeatTimeout: 60s
`;

// sign makes an HS256 token for sub expiring at exp (seconds since the epoch).
function sign(sub, exp) {
  const part = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const body = `${part({ alg: 'HS256', typ: 'JWT' })}.${part({ sub, exp })}`;
  return `${body}.${createHmac('sha256', jwtSecret).update(body).digest('base64url')}`;
}
const inSeconds = (s) => Math.floor(Date.now() / 1000) + s;

describe('expiring credentials', () => {
  let server;
  before(async () => {
    server = await startServer({ config: jwtConfig });
  });
  after(async () => {
    closeClients();
    await server?.stop();
  });

  test('an expired token is refused with TokenExpired, a bad one with InvalidCredentials', async () => {
    const c = client(server.url);
    await assert.rejects(withTimeout(c.login({ token: sign('ann', inSeconds(-60)) }), 5000, 'login'), (e) => e.code === ErrorCode.TokenExpired && e.name === 'TokenExpired');
    await assert.rejects(withTimeout(c.login({ token: 'nope' }), 5000, 'login'), (e) => e.code === ErrorCode.InvalidCredentials);
    const ok = await withTimeout(c.login({ token: sign('ann', inSeconds(3600)) }), 5000, 'login');
    assert.equal(ok.user, 'ann');
  });

  test('the auth function is asked at every login; an expiry reconnects with a fresh token', async () => {
    let calls = 0;
    const c = client(server.url, {
      // The first token expires in one to two seconds (exp has whole
      // seconds); the ones after last an hour.
      auth: async () => ({ token: sign('ann', inSeconds(++calls === 1 ? 2 : 3600)) }),
    });
    const [states, onState] = collect();
    c.on('connectionStateChanged', onState);
    const [errors, onError] = collect();
    c.on('error', onError);
    assert.deepEqual(await withTimeout(c.login(), 5000, 'login'), { user: 'ann', clientData: null });
    await waitFor(() => states.includes(ConnectionState.RECONNECTING), { timeout: 10_000, what: 'the expiry' });
    await waitFor(() => c.getConnectionState() === ConnectionState.OPEN, { timeout: 10_000, what: 'the renewed login' });
    assert.equal(calls, 2);
    assert.equal(c.user, 'ann');
    assert.ok(!states.includes(ConnectionState.ERROR), `states ${states}`);
    assert.ok(errors.every((e) => e.code === ClientErrorCode.ConnectionLost || e.code === ErrorCode.TokenExpired), `errors ${errors.map((e) => e.name)}`);
    await withTimeout(c.event.subscribe('after/renewal', () => {}), 5000, 'subscribe after the renewal');
  });

  test('an auth function that fails rejects login, and login may be called again', async () => {
    let fail = true;
    const c = client(server.url, {
      auth: () => {
        if (fail) throw new Error('token service down');
        return { token: sign('bob', inSeconds(3600)) };
      },
    });
    await assert.rejects(withTimeout(c.login(), 5000, 'login'), (e) => e.name === 'AuthFunctionFailed' && /token service down/.test(e.message));
    assert.equal(c.getConnectionState(), ConnectionState.AWAITING_AUTHENTICATION);
    fail = false;
    assert.equal((await withTimeout(c.login(), 5000, 'second login')).user, 'bob');
  });

  test('without an auth function an expiry ends the client with TokenExpired', async () => {
    const c = client(server.url);
    const [errors, onError] = collect();
    c.on('error', onError);
    await withTimeout(c.login({ token: sign('ann', inSeconds(2)) }), 5000, 'login');
    await waitFor(() => c.getConnectionState() === ConnectionState.ERROR, { timeout: 10_000, what: 'the expiry' });
    assert.ok(errors.some((e) => e.code === ErrorCode.TokenExpired), `errors ${errors.map((e) => e.name)}`);
  });
});

describe('connection life', () => {
  let server;
  before(async () => {
    server = await startServer({ args: ['-set', 'session.heartbeat=150ms', '-set', 'session.heartbeatTimeout=1500ms'] });
  });
  after(async () => {
    closeClients();
    await server?.stop();
  });

  test('the client answers server pings and stays connected', async () => {
    // No pings of its own: only the answers to the server's keep it alive.
    const c = await loggedIn(server.url, 'ann', { heartbeatMs: -1 });
    const [states, onState] = collect();
    c.on('connectionStateChanged', onState);
    await sleep(3200); // more than twice the server's heartbeat timeout
    assert.deepEqual(states, [], 'no reconnect');
    assert.equal(c.getConnectionState(), ConnectionState.OPEN);
  });

  test('a server that stops answering is detected by the heartbeat', async () => {
    const c = await loggedIn(server.url, 'ann', { heartbeatMs: 100 });
    const [states, onState] = collect();
    c.on('connectionStateChanged', onState);
    await server.pause();
    try {
      await waitFor(() => states.includes(ConnectionState.RECONNECTING), { timeout: 3000, what: 'RECONNECTING' });
    } finally {
      server.resume();
    }
    await waitFor(() => c.getConnectionState() === ConnectionState.OPEN, { timeout: 5000, what: 'OPEN again' });
  });

  test('with reconnect off a lost connection closes the client', async () => {
    const other = await startServer();
    const c = await loggedIn(other.url, 'ann', { reconnect: false });
    const errors = [];
    c.on('error', (e) => errors.push(e));
    await other.kill();
    await waitFor(() => c.getConnectionState() === ConnectionState.CLOSED, { what: 'CLOSED' });
    assert.equal(errors[0]?.name, 'ConnectionLost');
    assert.throws(() => c.event.emit('x', 1), (e) => e.name === 'ConnectionLost' || e.name === 'ClientClosed');
  });

  test('requests time out with RequestTimeout', async () => {
    const c = await loggedIn(server.url, 'ann', { requestTimeoutMs: 50, heartbeatMs: -1 });
    await server.pause();
    try {
      await assert.rejects(c.record.has('x'), (e) => e.name === 'RequestTimeout');
    } finally {
      server.resume();
    }
  });

  test('a client that cannot reach the server keeps trying until it can', async () => {
    const { restartPort } = await import('./helpers.mjs');
    const port = await restartPort();
    const c = client(`ws://127.0.0.1:${port}`, { reconnect: { min: 50, max: 200 } });
    const login = c.login({ username: 'late' });
    await sleep(300);
    assert.equal(c.getConnectionState() === ConnectionState.OPEN, false);
    const late = await startServer({ wsPort: port });
    try {
      const r = await withTimeout(login, 5000, 'login once the server is up');
      assert.equal(r.user, 'late');
    } finally {
      c.close();
      await late.stop();
    }
  });
});
