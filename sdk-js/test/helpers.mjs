// Test helpers: build and run the real Eddy server on free loopback ports,
// make clients over the `ws` WebSocket, and wait for conditions with bounded
// time.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before } from 'node:test';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { Eddy } from '../dist/eddy.js';

export const sdkRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
export const repoRoot = join(sdkRoot, '..');

/** eddyBinary returns the server binary: $EDDY_BIN, or .build/eddy built
 * from ../cmd/eddy (under a lock, since test files run in parallel). */
export function eddyBinary() {
  if (process.env.EDDY_BIN) return process.env.EDDY_BIN;
  const bin = join(sdkRoot, '.build', 'eddy');
  const lock = join(sdkRoot, '.build', 'lock');
  mkdirSync(join(sdkRoot, '.build'), { recursive: true });
  const deadline = Date.now() + 240_000;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      if (Date.now() > deadline) throw new Error('timed out waiting for the server build lock ' + lock);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 200);
    }
  }
  try {
    execFileSync('go', ['build', '-o', bin, './cmd/eddy'], { cwd: repoRoot, stdio: 'inherit', timeout: 240_000 });
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
  return bin;
}

/** freePort returns a TCP port free on 127.0.0.1 right now. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/**
 * restartPort returns a port free on 127.0.0.1 right now for a server that a
 * test stops and starts again on it. It lies below the kernel's ephemeral
 * range, so no outgoing connection is given it while the server is down.
 */
export async function restartPort() {
  let low = 32768;
  try {
    low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || low;
  } catch {
    // not Linux: keep the usual lower bound
  }
  const first = 10000;
  for (let i = 0; i < 200; i++) {
    const port = first + Math.floor(Math.random() * (low - first));
    const free = await new Promise((resolve) => {
      const s = net.createServer();
      s.unref();
      s.on('error', () => resolve(false));
      s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
    });
    if (free) return port;
  }
  throw new Error(`no free loopback port in ${first}..${low - 1}`);
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** waitFor polls fn until it returns a truthy value, failing after timeout ms. */
export async function waitFor(fn, { timeout = 5000, interval = 10, what = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
    await sleep(interval);
  }
}

/** withTimeout rejects when p does not settle within ms. */
export function withTimeout(p, ms, what = 'promise') {
  let timer;
  const t = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

function portOpen(port) {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    s.on('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
}

/**
 * startServer runs `eddy start` on free (or given) loopback ports with the
 * memory store unless args say otherwise. config, when given, is YAML
 * written to a temporary file and passed with -c.
 */
export async function startServer({ wsPort, httpPort, args = [], config, dataDir } = {}) {
  wsPort ??= await freePort();
  httpPort ??= await freePort();
  const argv = ['start', '--ws-addr', `127.0.0.1:${wsPort}`, '--tcp-addr', 'off', '--http-addr', `127.0.0.1:${httpPort}`, '-log-level', 'warn'];
  if (dataDir) argv.push('-set', 'store.engine=pebble', '-set', `store.path=${dataDir}`);
  else argv.push('-set', 'store.engine=memory');
  if (config) {
    const dir = mkdtempSync(join(tmpdir(), 'eddy-js-config-'));
    const file = join(dir, 'eddy.yaml');
    writeFileSync(file, config);
    argv.push('-c', file);
  }
  argv.push(...args);
  const proc = spawn(eddyBinary(), argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  const keep = (b) => {
    log = (log + b.toString()).slice(-8000);
  };
  proc.stdout.on('data', keep);
  proc.stderr.on('data', keep);
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  let dead = false;
  exited.then(() => (dead = true));
  const deadline = Date.now() + 15_000;
  while (!(await portOpen(wsPort))) {
    if (dead) throw new Error(`eddy exited before serving:\n${log}`);
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`eddy did not open port ${wsPort} in time:\n${log}`);
    }
    await sleep(20);
  }
  const server = {
    url: `ws://127.0.0.1:${wsPort}`,
    wsPort,
    httpPort,
    proc,
    log: () => log,
    /** stop shuts the server down gracefully (SIGTERM) and waits. */
    async stop() {
      if (dead) return;
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
    /** pause stops the server process (SIGSTOP) and waits until it is
     * stopped: its sockets stay open but nothing is answered. */
    async pause() {
      proc.kill('SIGSTOP');
      await waitFor(() => procState(proc.pid) === 'T', { timeout: 5000, what: 'server stopped' });
    },
    /** resume continues a paused server (SIGCONT). */
    resume() {
      proc.kill('SIGCONT');
    },
    /** kill ends the server at once (SIGKILL) and waits. */
    async kill() {
      if (dead) return;
      proc.kill('SIGKILL');
      await exited;
    },
  };
  return server;
}

// procState returns the state letter of a Linux process (R, S, T, ...).
function procState(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
  } catch {
    return '';
  }
}

/** Clients made by client(); closeClients closes them all. */
const clients = new Set();

/** client makes an Eddy client for url using the ws WebSocket. */
export function client(url, opts = {}) {
  const c = new Eddy(url, { WebSocket, reconnect: { min: 50, max: 500 }, ...opts });
  clients.add(c);
  return c;
}

/** loggedIn makes a client and logs it in as user. */
export async function loggedIn(url, user = 'anon', opts = {}) {
  const c = client(url, opts);
  await withTimeout(c.login({ username: user }), 5000, `login of ${user}`);
  return c;
}

/**
 * fileServer starts one server (startServer options) before a test file's
 * tests and stops it, closing every client, after them. Call it at the
 * file's top level; the object returned stands for that server.
 */
export function fileServer(opts) {
  let server;
  before(async () => {
    server = await startServer(opts);
  });
  after(async () => {
    closeClients();
    await server?.stop();
  });
  return new Proxy(
    {},
    {
      get(_, key) {
        const v = server?.[key];
        return typeof v === 'function' ? v.bind(server) : v;
      },
    },
  );
}

export function closeClients() {
  for (const c of clients) c.close();
  clients.clear();
}

/** collect returns [list, fn]: fn pushes its arguments (one value, or an
 * array of them) onto list. */
export function collect() {
  const list = [];
  return [list, (...args) => list.push(args.length === 1 ? args[0] : args)];
}

/** tempDir makes a temporary directory removed by the returned function. */
export function tempDir(prefix = 'eddy-js-') {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return [dir, () => rmSync(dir, { recursive: true, force: true })];
}

export function fileExists(p) {
  return existsSync(p) && statSync(p).isFile();
}
