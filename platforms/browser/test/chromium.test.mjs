// The built package in headless Chromium (Debian's, through playwright-core)
// against a real `tidings collect` on another origin.

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { chromium } from 'playwright-core';

import { packageDir, startCollector, startStaticServer, waitFor } from './helpers.mjs';

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const FLAGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

let collector, site, profile, context, page;
const pageErrors = [];

before(async () => {
  collector = await startCollector();
  site = await startStaticServer(packageDir);
  profile = await mkdtemp(join(tmpdir(), 'tidings-chromium-'));
  // A fresh --user-data-dir: playwright passes it for a persistent context.
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: FLAGS,
  });
  page = context.pages()[0] ?? await context.newPage();
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') pageErrors.push(m.text()); });
  await page.goto(`${site.url}/test/page.html`);
  assert.equal(await page.evaluate(() => window.tidingsReady), true);
});

after(async () => {
  await context?.close();
  await site?.stop();
  await collector?.stop();
  if (profile) await rm(profile, { recursive: true, force: true });
});

test('1,000 captures arrive exactly once (by uuid)', async () => {
  const result = await page.evaluate(async (host) => {
    const t = new window.Tidings({ apiKey: 'phc_browser_test', host });
    const uuids = [];
    const start = performance.now();
    for (let i = 0; i < 1000; i++) uuids.push(t.capture('browser test', { i, path: location.pathname }));
    const captureMs = performance.now() - start;
    const flushed = await t.flush(20_000);
    return { uuids, captureMs, flushed, stats: t.stats() };
  }, collector.url);

  assert.deepEqual(result.flushed, { completed: true, pending: 0 });
  assert.equal(result.stats.delivered, 1000);
  assert.equal(result.stats.droppedTotal, 0);
  const uuids = new Set(result.uuids);
  assert.equal(uuids.size, 1000, 'capture returned 1,000 distinct uuids');

  const rows = await waitFor(async () => {
    const all = (await collector.events()).filter((r) => uuids.has(r.uuid));
    return all.length >= 1000 ? all : null;
  }, 15_000, '1,000 events at the collector');
  assert.equal(rows.length, 1000, 'each uuid stored once');
  assert.equal(new Set(rows.map((r) => r.uuid)).size, 1000);
  assert.ok(rows.every((r) => r.duplicates === 0), 'no event was received twice');
  assert.ok(rows.every((r) => r.properties.$lib === 'tidings-browser'));
  console.log(`# 1,000 captures: ${result.captureMs.toFixed(1)} ms of capture() calls in the page (cold, JIT included), ${result.stats.requests} request(s)`);
  assert.deepEqual(pageErrors, []);
});

test('bad input in the page throws and a later capture still arrives', async () => {
  const result = await page.evaluate(async (host) => {
    const t = new window.Tidings({ apiKey: 'phc_browser_test', host });
    const errors = [];
    const cyclic = {}; cyclic.self = cyclic;
    for (const call of [() => t.capture('e', cyclic), () => t.capture('e', { n: 1n }), () => t.capture(7)]) {
      try { call(); errors.push(null); } catch (e) { errors.push(`${e.name}: ${e.message}`); }
    }
    const uuid = t.capture('after bad input');
    await t.flush(10_000);
    return { errors, uuid };
  }, collector.url);
  assert.match(result.errors[0], /^TypeError: .*cyclic/s);
  assert.match(result.errors[1], /^TypeError: .*BigInt/);
  assert.match(result.errors[2], /^TypeError: .*event name as a string/);
  await waitFor(async () => (await collector.events()).some((r) => r.uuid === result.uuid), 10_000, 'the capture after bad input');
});
