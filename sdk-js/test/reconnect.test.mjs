import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { ConnectionState } from '../dist/eddy.js';
import { closeClients, collect, loggedIn, restartPort, sleep, startServer, tempDir, waitFor, withTimeout } from './helpers.mjs';

after(() => closeClients());

const fast = { reconnect: { min: 50, max: 100 } };
const slow = { reconnect: { min: 700, max: 800 } };

describe('reconnect after a server restart', () => {
  test('events, records, rpc, listeners and presence are renewed; offline writes are sent; records catch up', async () => {
    const [dir, cleanup] = tempDir('eddy-js-data-');
    let server = await startServer({ wsPort: await restartPort(), dataDir: dir });
    const port = server.wsPort;
    try {
      // ann reconnects slowly, so bob and carol are back before her.
      const ann = await loggedIn(server.url, 'ann', slow);
      const bob = await loggedIn(server.url, 'bob', fast);
      const [annStates, onAnnState] = collect();
      ann.on('connectionStateChanged', onAnnState);

      const [annEvents, onAnnEvent] = collect();
      await ann.event.subscribe('chat', onAnnEvent);
      const [bobEvents, onBobEvent] = collect();
      await bob.event.subscribe('chat', onBobEvent);

      const rAnn = await ann.record.getRecord('doc/restart').whenReady();
      const rBob = await bob.record.getRecord('doc/restart').whenReady();
      const rOffline = await ann.record.getRecord('doc/offline').whenReady();
      rAnn.set('step', 1);
      await waitFor(() => rBob.version === 1);
      const [annSteps, onAnnStep] = collect();
      rAnn.subscribe('step', onAnnStep);

      await ann.rpc.provide('double', (n, res) => res.send(n * 2));
      const [annFound, onAnnFound] = collect();
      ann.event.listen('feed/.*', (name, res) => {
        onAnnFound(name);
        res.accept();
      });
      const [annPresence, onAnnPresence] = collect();
      await ann.presence.subscribe(onAnnPresence);

      await server.kill();
      await waitFor(() => ann.getConnectionState() === ConnectionState.RECONNECTING, { what: 'ann RECONNECTING' });

      // Offline: the emit and the write wait for the next login.
      ann.event.emit('chat', 'sent while offline');
      assert.deepEqual(annEvents, [['sent while offline', 'chat']], 'local subscribers hear it at once');
      rOffline.set('written', 'offline');
      assert.equal(rOffline.version, 1);

      server = await startServer({ wsPort: port, dataDir: dir });
      // bob is back first and writes; ann must catch up when she returns.
      await waitFor(() => bob.getConnectionState() === ConnectionState.OPEN, { timeout: 5000, what: 'bob OPEN' });
      rBob.set('step', 2);
      await waitFor(() => ann.getConnectionState() === ConnectionState.OPEN, { timeout: 5000, what: 'ann OPEN' });
      assert.ok(annStates.includes(ConnectionState.RECONNECTING));
      assert.equal(annStates.at(-1), ConnectionState.OPEN);

      await waitFor(() => rAnn.get('step') === 2, { what: 'record catch-up' });
      assert.equal(rAnn.version, 2);
      assert.deepEqual(annSteps, [2]);

      await waitFor(() => bobEvents.some(([d]) => d === 'sent while offline'), { what: 'queued emit delivered' });
      bob.event.emit('chat', 'after restart');
      await waitFor(() => annEvents.some(([d]) => d === 'after restart'), { what: 'event subscription renewed' });

      const carol = await loggedIn(server.url, 'carol', fast);
      assert.equal(await withTimeout(carol.rpc.make('double', 21), 3000, 'rpc to a re-provided name'), 42);
      assert.deepEqual(await carol.record.snapshot('doc/offline'), { written: 'offline' });
      assert.equal(rOffline.version, 1);
      await waitFor(() => annPresence.some(([u, on]) => u === 'carol' && on), { what: 'presence renewed' });
      await carol.event.subscribe('feed/news', () => {});
      await waitFor(() => annFound.includes('feed/news'), { what: 'listener renewed' });
    } finally {
      await server.stop();
      cleanup();
    }
  });

  test('a memory server that lost everything gets the local copy back', async () => {
    let server = await startServer({ wsPort: await restartPort() });
    const port = server.wsPort;
    try {
      const ann = await loggedIn(server.url, 'ann', fast);
      const r = await ann.record.getRecord('doc/lost').whenReady();
      r.set('kept', 'yes');
      r.set('n', 2);
      // The server has both writes (a head request is answered after them).
      assert.equal(await withTimeout(ann.record.head('doc/lost'), 5000, 'head'), 2);
      await server.kill();
      server = await startServer({ wsPort: port });
      await waitFor(() => ann.getConnectionState() === ConnectionState.OPEN, { timeout: 5000, what: 'OPEN again' });
      const bob = await loggedIn(server.url, 'bob', fast);
      await waitFor(async () => (await bob.record.head('doc/lost')) === 1, { what: 'local copy written back as version 1' });
      assert.deepEqual(await bob.record.snapshot('doc/lost'), { kept: 'yes', n: 2 });
      assert.equal(r.version, 1);
    } finally {
      await server.stop();
    }
  });

  test('an offline write that conflicts with a newer server copy goes through the merge strategy', async () => {
    const [dir, cleanup] = tempDir('eddy-js-data-');
    let server = await startServer({ wsPort: await restartPort(), dataDir: dir });
    const port = server.wsPort;
    try {
      const merges = [];
      const ann = await loggedIn(server.url, 'ann', {
        ...slow,
        mergeStrategy: (local, remote, lv, rv) => {
          merges.push([local, remote, lv, rv]);
          return { ...remote, ...local };
        },
      });
      const bob = await loggedIn(server.url, 'bob', fast);
      const ra = await ann.record.getRecord('doc/merge').whenReady();
      const rb = await bob.record.getRecord('doc/merge').whenReady();
      ra.set('base', 0);
      await waitFor(() => rb.version === 1);
      await server.kill();
      ra.set('fromAnn', 1);
      server = await startServer({ wsPort: port, dataDir: dir });
      await waitFor(() => bob.getConnectionState() === ConnectionState.OPEN, { timeout: 5000 });
      rb.set('fromBob', 2);
      await waitFor(() => ann.getConnectionState() === ConnectionState.OPEN, { timeout: 5000 });
      await waitFor(() => rb.get('fromAnn') === 1 && ra.get('fromBob') === 2, { what: 'merged both ways' });
      assert.equal(merges.length, 1);
      assert.deepEqual(merges[0], [{ base: 0, fromAnn: 1 }, { base: 0, fromBob: 2 }, 2, 2]);
      assert.equal(ra.version, 3);
      assert.equal(rb.version, 3);
    } finally {
      await server.stop();
      cleanup();
    }
  });
});
