// Node without a WebSocket of its own: the README's snippet, as it is.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Eddy } from '../dist/eddy.js';
import { collect, sdkRoot, startServer, tempDir, waitFor, withTimeout } from './helpers.mjs';

describe('Node finds a WebSocket implementation', () => {
  let server;
  before(async () => {
    server = await startServer();
  });
  after(async () => {
    await server?.stop();
  });

  test('new Eddy(url) without options.WebSocket uses the ws package', async () => {
    const a = new Eddy(server.url);
    const b = new Eddy(server.url);
    try {
      await withTimeout(a.login({ username: 'ann' }), 5000, 'login without options.WebSocket');
      await withTimeout(b.login({ username: 'bob' }), 5000, 'login without options.WebSocket');
      const [got, on] = collect();
      await a.event.subscribe('node/ws', on);
      b.event.emit('node/ws', { hi: 1 });
      await waitFor(() => got.length === 1, { what: 'the event' });
      assert.deepEqual(got[0], [{ hi: 1 }, 'node/ws']);
    } finally {
      a.close();
      b.close();
    }
  });

  test('without ws installed the error says what to install', () => {
    if (typeof globalThis.WebSocket !== 'undefined') return; // Node 22 has its own
    // A copy of the bundle where no node_modules can be found.
    const [dir, cleanup] = tempDir('eddy-js-nows-');
    try {
      copyFileSync(join(sdkRoot, 'dist/eddy.js'), join(dir, 'eddy.mjs'));
      const script = `import { Eddy } from ${JSON.stringify(join(dir, 'eddy.mjs'))};
        const c = new Eddy('ws://127.0.0.1:1');
        try { await c.login({}); } catch (e) { console.log(e.name + ': ' + e.message); }`;
      const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: dir, encoding: 'utf8', timeout: 20_000 });
      assert.match(out, /ClientClosed: no WebSocket implementation found: install the ws package \(npm install ws\) or pass options\.WebSocket/);
    } finally {
      cleanup();
    }
  });

  test('an unhandled error does not print the minified bundle', () => {
    const script = `import { Eddy } from ${JSON.stringify(join(sdkRoot, 'dist/eddy.js'))};
      const c = new Eddy('ws://127.0.0.1:1', { reconnect: false });
      c.close();
      await c.login({});`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /ClientClosed/);
    // Node shows the source line of the throw: one short line, not 60 KB.
    assert.ok(r.stderr.length < 4000, `stderr is ${r.stderr.length} bytes`);
  });
});
