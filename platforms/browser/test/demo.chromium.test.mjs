// The www/ demo as a user runs it: scripts/demo-browser (collector and
// static server), the page in headless Chromium, its buttons, the switch
// and the link that leaves; then Ctrl-C (SIGINT) stops both servers.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { launchChromium, repoDir, waitFor } from './helpers.mjs';

let demo, urls, browser;
let output = '';

before(async () => {
  demo = spawn(join(repoDir, 'scripts/demo-browser'), [], { cwd: repoDir, stdio: ['ignore', 'pipe', 'pipe'] });
  demo.stdout.setEncoding('utf8').on('data', (c) => { output += c; });
  demo.stderr.setEncoding('utf8').on('data', (c) => { output += c; });
  // It builds only what is missing: normally seconds.
  urls = await waitFor(() => {
    if (demo.exitCode !== null) throw new Error(`scripts/demo-browser exited (${demo.exitCode}):\n${output}`);
    const collector = output.match(/^collector: (http:\/\/127\.0\.0\.1:\d+)/m)?.[1];
    const page = output.match(/^demo: +(http:\/\/127\.0\.0\.1:\d+\/)/m)?.[1];
    return collector && page ? { collector, page } : null;
  }, 120_000, 'scripts/demo-browser to print its URLs');
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  if (demo?.exitCode === null) demo.kill('SIGTERM');
});

async function stored() {
  return (await (await fetch(`${urls.collector}/stats`)).json()).unique;
}

test('the demo page captures, pauses, leaves, and the collector counts it all', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  await page.goto(urls.page);
  // The link works before the module has run (the buttons wait for it).
  await page.waitForSelector('#controls:enabled');
  const cell = (id) => page.locator(`#${id}`).textContent();
  const shows = (id, text, what) => waitFor(async () => (await cell(id)) === text, 10_000, what);

  await page.click('#capture');
  await shows('delivered', '1', 'the panel to count 1 delivered');
  await shows('stored', '1', 'the panel to show 1 stored at the collector');
  await page.click('#burst');
  await shows('delivered', '101', 'the panel to count 101 delivered');
  assert.equal(await stored(), 101);

  await page.check('#offline');
  await page.click('#pageview');
  await shows('queued', '1', 'the pageview to wait in the queue');
  const paused = await page.evaluate(() => window.tidings.flush(1500));
  assert.deepEqual(paused, { completed: false, pending: 1 }, 'nothing is sent while the switch is on');
  await page.uncheck('#offline');
  await shows('delivered', '102', 'the pageview to go out once the switch is off');

  await page.click('#identify');
  await shows('delivered', '103', 'the $identify event');
  assert.match(await cell('message'), /demo-user-1/);

  assert.deepEqual(errors, []);
  // The link captures 20 events and navigates to the collector at once.
  await page.click('#leave');
  await page.waitForURL(`${urls.collector}/stats`);
  await waitFor(async () => (await stored()) === 123, 10_000, 'the 20 events captured just before leaving');
  assert.equal((await (await fetch(`${urls.collector}/stats`)).json()).duplicates, 0);
  await context.close();
});

test('Ctrl-C stops the collector and the page server', async () => {
  const exited = new Promise((resolve) => demo.once('exit', (code) => resolve(code)));
  demo.kill('SIGINT');
  assert.equal(await exited, 130);
  for (const url of [urls.collector, urls.page]) {
    await assert.rejects(fetch(url), `${url} is closed`);
  }
});
