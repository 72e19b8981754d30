import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { EddySSE, EddyError, ErrorCode } from '../dist/eddy.js';
import { fileServer, loggedIn, waitFor } from './helpers.mjs';

const server = fileServer();

/** breakableFetch is a fetch whose current response the test can cut, as
 * a network failure would. */
function breakableFetch() {
  let current = null;
  const f = async (url, init) => {
    const ctl = new AbortController();
    init.signal?.addEventListener('abort', () => ctl.abort());
    current = ctl;
    return fetch(url, { ...init, signal: ctl.signal });
  };
  f.cut = () => current?.abort();
  return f;
}

describe('sse transport', () => {
  test('events and record changes arrive; a broken stream resumes with exactly the missed events', async () => {
    const writer = await loggedIn(server.url, 'ann');
    const rec = writer.record.getRecord('sse/driver');
    await rec.whenReady();
    const f = breakableFetch();
    const sse = new EddySSE(`http://127.0.0.1:${server.httpPort}`, { events: ['sse/news'], records: ['sse/driver'], fetch: f, retryMs: 50 });
    const events = [];
    let ready = 0;
    sse.on('event', (name, data) => events.push([name, data]));
    sse.on('ready', () => ready++);
    sse.on('error', () => {});
    await waitFor(() => ready === 1, { what: 'first ready' });
    writer.event.emit('sse/news', { n: 1 });
    rec.set('position.x', 7);
    await waitFor(() => events.length === 1 && sse.record('sse/driver')?.version === 1, { what: 'live changes' });
    assert.deepEqual(sse.record('sse/driver').doc, { position: { x: 7 } });

    f.cut(); // the network drops; the transport reconnects with Last-Event-ID
    for (let i = 2; i <= 5; i++) writer.event.emit('sse/news', { n: i });
    rec.set('position.x', 8);
    await waitFor(() => ready === 2, { what: 'resumed ready' });
    await waitFor(() => events.length === 5 && sse.record('sse/driver')?.version === 2, { what: 'missed changes' });
    assert.deepEqual(events.map(([, d]) => d.n), [1, 2, 3, 4, 5], 'each missed event once, in order');
    assert.deepEqual(sse.record('sse/driver').doc, { position: { x: 8 } });
    sse.close();
  });

  test('a refused request (an invalid name) is a final error, not retried', async () => {
    const sse = new EddySSE(`http://127.0.0.1:${server.httpPort}`, { events: [''] });
    const err = await new Promise((resolve) => sse.on('error', resolve));
    assert.ok(err instanceof EddyError);
    assert.notEqual(err.code, ErrorCode.ServerShutdown);
    sse.close();
  });
});
