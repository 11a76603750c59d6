// Usage metering through the browser build in headless Chromium, against
// a real `tidings collect`: the totals at the collector are what the page
// counted (issue: usage metering, one test per platform).

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

let collector, site, profile, context;

before(async () => {
  // 30 % of requests fail with a 503: metering events are retried like any other.
  collector = await startCollector(['--fail-rate', '0.3', '--seed', '7']);
  site = await startStaticServer(packageDir);
  profile = await mkdtemp(join(tmpdir(), 'tidings-metering-'));
  context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: FLAGS });
});

after(async () => {
  await context?.close();
  await site?.stop();
  await collector?.stop();
  if (profile) await rm(profile, { recursive: true, force: true });
});

test('counts and gauges from a page: totals at the collector match, over two windows with failures', async () => {
  const page = context.pages()[0] ?? await context.newPage();
  await page.goto(`${site.url}/test/page.html`);
  assert.equal(await page.evaluate(() => window.tidingsReady), true);
  const result = await page.evaluate(async (host) => {
    const t = new window.Tidings({
      apiKey: 'phc_metering', host, persistence: 'memory', initialBackoffMs: 20, maxBackoffMs: 100,
    });
    const expected = {};
    const add = (tenant, metric, value, tags) => {
      t.count(tenant, metric, value, tags);
      const key = `${tenant}/${metric}/${JSON.stringify(tags ?? {})}`;
      expected[key] = (expected[key] ?? 0) + value;
    };
    for (let window_ = 0; window_ < 2; window_++) {
      for (let i = 0; i < 500; i++) {
        // Same tags in two key orders: one key.
        add(`tenant-${i % 5}`, 'tokens', i, i % 2 ? { model: 'small', tier: 'pro' } : undefined);
        if (i % 2) t.count(`tenant-${i % 5}`, 'tokens', 0, { tier: 'pro', model: 'small' });
      }
      t.gauge('tenant-0', 'seats', 10 + window_);
      t.flushMeters();
    }
    const flushed = await t.flush(20_000);
    return { expected, flushed, stats: t.stats() };
  }, collector.url);
  assert.deepEqual(result.flushed, { completed: true, pending: 0 });
  const s = result.stats;
  assert.equal(s.captured, s.delivered + s.droppedTotal + s.pending);
  assert.equal(s.droppedTotal, 0);

  const rows = await waitFor(async () => {
    const usage = (await collector.events()).filter((r) => r.event === 'usage');
    return usage.length >= s.delivered ? usage : null;
  }, 15_000, 'every usage event at the collector');
  const totals = {};
  let seats = [];
  for (const r of rows) {
    const p = r.properties;
    if (p.metric === 'seats') {
      seats.push(p.value);
      continue;
    }
    const key = `${p.tenant}/${p.metric}/${JSON.stringify(p.tags)}`;
    totals[key] = (totals[key] ?? 0) + p.value;
  }
  // The page's keys use JSON.stringify of the tags as given ({model, tier}
  // is already sorted), so they match the collector's canonical tags.
  assert.deepEqual(totals, result.expected);
  seats = seats.sort();
  assert.deepEqual(seats, [10, 11]);
  // Each key once per window: 5 tenants x 2 tag sets x 2 windows + 2 gauges.
  assert.equal(rows.length, 22);
});
