// Interoperability with the Go SDK: test/interop/main.go talks to the same
// server through sdk-go while a JavaScript client plays the other side.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { before, describe, test } from 'node:test';
import { collect, fileServer, loggedIn, repoRoot, sdkRoot, waitFor, withTimeout } from './helpers.mjs';

const server = fileServer();
let bin;
before(() => {
  bin = join(sdkRoot, '.build', 'interop');
  execFileSync('go', ['build', '-o', bin, './sdk-js/test/interop'], { cwd: repoRoot, stdio: 'inherit', timeout: 240_000 });
});

// runGo starts the Go program and returns its steps as they arrive.
function runGo() {
  const proc = spawn(bin, ['-addr', server.url, '-timeout', '15s'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const steps = [];
  createInterface({ input: proc.stdout }).on('line', (line) => steps.push(JSON.parse(line)));
  const exited = new Promise((resolve) => proc.on('exit', (code) => resolve(code)));
  return { proc, steps, exited };
}

describe('interop with the Go SDK', () => {
  test('events, rpc, presence and records between a JavaScript and a Go client', async () => {
    const js = await loggedIn(server.url, 'js');
    const [got, onGot] = collect();
    await js.event.subscribe('interop/to-js', onGot);
    const [mulCalls, onMul] = collect();
    await js.rpc.provide('interop/js-mul', ({ a, b }, res) => {
      onMul([a, b]);
      res.send({ product: a * b, by: 'js' });
    });
    const go = runGo();
    const step = (name) => waitFor(() => go.steps.find((s) => s.step === name || s.step === 'error'), { timeout: 10_000, what: `Go step ${name}` });
    try {
      assert.deepEqual(await step('ready'), { step: 'ready' });
      assert.ok((await js.presence.getAll()).includes('gopher'), 'the Go client is online');

      // JavaScript -> Go -> JavaScript over events.
      const payload = { from: 'js', list: [1, 2.5, 'ü', null, true], nested: { a: { b: [] } } };
      js.event.emit('interop/to-go', payload);
      await waitFor(() => got.length === 1, { timeout: 5000, what: 'the answer from Go' });
      assert.deepEqual(got[0], [{ from: 'go', echo: payload }, 'interop/to-js']);
      assert.deepEqual(await step('echoed'), { step: 'echoed', data: payload });

      // RPC both ways.
      assert.deepEqual(await withTimeout(js.rpc.make('interop/go-add', { a: 2, b: 40 }), 5000, 'rpc to Go'), { sum: 42, by: 'go' });
      assert.deepEqual(await step('rpc'), { step: 'rpc', data: { product: 42, by: 'js' } });
      assert.deepEqual(mulCalls, [[6, 7]]);

      // Presence as the Go SDK sees it.
      assert.deepEqual(await step('presence'), { step: 'presence', data: { js: true, nobody: false } });

      // Records: Go writes, JavaScript sees it and writes back, Go sees that.
      const shared = await js.record.getRecord('interop/shared').whenReady();
      assert.deepEqual(await step('record-written'), { step: 'record-written' });
      await waitFor(() => shared.get('fromGo'), { timeout: 5000, what: "Go's write" });
      assert.deepEqual(shared.get('fromGo'), { lang: 'go', n: 1 });
      const mine = { lang: 'js', list: [1, 'two', { three: 3 }] };
      await shared.setWithAck('fromJs', mine);
      assert.deepEqual(await step('record'), { step: 'record', data: mine });

      js.event.emit('interop/bye');
      const final = await step('final');
      assert.equal(final.data.version, shared.version);
      assert.deepEqual(final.data.doc, shared.get());
      assert.deepEqual(await step('done'), { step: 'done' });
      assert.equal(await withTimeout(go.exited, 5000, 'Go exit'), 0);
    } finally {
      go.proc.kill();
    }
  });
});
