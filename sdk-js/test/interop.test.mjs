// Interoperability with the Go SDK: test/interop/main.go talks to the same
// server through sdk-go while a JavaScript client plays the other side.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, test } from 'node:test';
import { closeClients, collect, loggedIn, repoRoot, sdkRoot, startServer, waitFor, withTimeout } from './helpers.mjs';

let server;
let bin;
before(async () => {
  bin = join(sdkRoot, '.build', 'interop');
  execFileSync('go', ['build', '-o', bin, './sdk-js/test/interop'], { cwd: repoRoot, stdio: 'inherit', timeout: 240_000 });
  server = await startServer();
});
after(async () => {
  closeClients();
  await server?.stop();
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
  test('events: JavaScript emits, Go receives and answers, JavaScript receives', async () => {
    const js = await loggedIn(server.url, 'js');
    const [got, onGot] = collect();
    await js.event.subscribe('interop/to-js', onGot);
    const go = runGo();
    try {
      await waitFor(() => go.steps.some((s) => s.step === 'ready' || s.step === 'error'), { timeout: 10_000, what: 'Go ready' });
      assert.deepEqual(go.steps[0], { step: 'ready' });
      const payload = { from: 'js', list: [1, 2.5, 'ü', null, true], nested: { a: { b: [] } } };
      js.event.emit('interop/to-go', payload);
      await waitFor(() => got.length === 1, { timeout: 5000, what: 'the answer from Go' });
      assert.deepEqual(got[0], [{ from: 'go', echo: payload }, 'interop/to-js']);
      assert.equal(await withTimeout(go.exited, 5000, 'Go exit'), 0);
      assert.deepEqual(go.steps.at(-1), { step: 'echoed', data: payload });
    } finally {
      go.proc.kill();
    }
  });
});
