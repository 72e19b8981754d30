// End-to-end in a real browser: Debian's Chromium, driven by playwright-core,
// opens the demo app twice; each page edits the shared todo list and the
// chat, and each sees the other's changes. Screenshots go to test-artifacts/.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium } from 'playwright-core';
import { serve } from '../../examples/serve.mjs';
import { sdkRoot, startServer } from '../helpers.mjs';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const artifacts = join(sdkRoot, 'test-artifacts');

let server;
let web;
let browser;
let profile;
before(async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: run scripts/ensure-chromium.sh`);
  server = await startServer();
  web = await serve(0);
  profile = mkdtempSync(join(tmpdir(), 'eddy-js-chromium-'));
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    timeout: 30_000,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
});
after(async () => {
  await browser?.close();
  await new Promise((r) => (web ? web.close(r) : r()));
  await server?.stop();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

describe('demo app in Chromium', () => {
  test('two pages edit the same list and chat, and each sees the other', { timeout: 60_000 }, async () => {
    const base = `http://127.0.0.1:${web.address().port}/examples/collab/?server=${encodeURIComponent(server.url)}`;
    const errors = [];
    const open = async (user) => {
      const page = await browser.newPage();
      page.on('pageerror', (e) => errors.push(`${user}: ${e.message}`));
      await page.goto(`${base}&user=${user}`);
      await page.waitForSelector('body[data-ready="true"]', { timeout: 15_000 });
      return page;
    };
    const ann = await open('ann');
    const bob = await open('bob');
    assert.equal(await ann.locator('#state').textContent(), 'open');

    // ann adds a todo; bob sees it.
    await ann.fill('#todo-input', 'Buy milk');
    await ann.click('#todo-form button');
    await bob.waitForSelector('#todos li .title:text-is("Buy milk")', { timeout: 10_000 });

    // bob ticks it and adds another; ann sees both.
    await bob.locator('#todos li', { hasText: 'Buy milk' }).locator('input[type=checkbox]').check();
    await bob.fill('#todo-input', 'Walk the dog');
    await bob.click('#todo-form button');
    await ann.waitForSelector('#todos li.done .title:text-is("Buy milk")', { timeout: 10_000 });
    await ann.waitForSelector('#todos li .title:text-is("Walk the dog")', { timeout: 10_000 });
    assert.deepEqual(await ann.locator('#todos li .title').allTextContents(), ['Buy milk', 'Walk the dog']);
    assert.deepEqual(await bob.locator('#todos li .title').allTextContents(), ['Buy milk', 'Walk the dog']);

    // Chat both ways, and each sees the other online.
    await ann.fill('#chat-input', 'hello bob');
    await ann.click('#chat-form button');
    await bob.waitForSelector('#messages li:has-text("hello bob")', { timeout: 10_000 });
    await bob.fill('#chat-input', 'hi ann');
    await bob.click('#chat-form button');
    await ann.waitForSelector('#messages li:has-text("hi ann")', { timeout: 10_000 });
    await ann.waitForSelector('#online li:text-is("bob")', { timeout: 10_000 });
    await bob.waitForSelector('#online li:text-is("ann")', { timeout: 10_000 });

    // ann removes the first todo; it disappears for bob.
    await ann.locator('#todos li', { hasText: 'Buy milk' }).locator('.remove').click();
    await bob.waitForFunction(() => [...document.querySelectorAll('#todos li .title')].map((e) => e.textContent).join() === 'Walk the dog', null, {
      timeout: 10_000,
    });

    mkdirSync(artifacts, { recursive: true });
    await ann.screenshot({ path: join(artifacts, 'demo-ann.png') });
    await bob.screenshot({ path: join(artifacts, 'demo-bob.png') });
    assert.deepEqual(errors, []);
  });
});
