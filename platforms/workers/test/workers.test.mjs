// The example Worker (src/worker.js), bundled by wrangler as for a deploy,
// run in real workerd through Miniflare, against `tidings collect` on
// loopback (started per test on a port chosen by the OS).
// Run: scripts/test-workers (builds the wasm, the collector and the bundle).

import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

import { Miniflare } from 'miniflare';

import { startCollector, waitFor } from '../../browser/test/helpers.mjs';

const dist = fileURLToPath(new URL('../dist/worker.js', import.meta.url));

/** The bundled Worker in workerd, sending to `host`. */
async function startWorker(host, { budgetMs = 5000, options = {} } = {}) {
  const mf = new Miniflare({
    modules: true,
    scriptPath: dist,
    modulesRules: [{ type: 'CompiledWasm', include: ['**/*.wasm'] }],
    compatibilityDate: '2025-01-01',
    bindings: {
      TIDINGS_HOST: host,
      TIDINGS_API_KEY: 'phc_workers_test',
      TIDINGS_BUDGET_MS: String(budgetMs),
      TIDINGS_OPTIONS: JSON.stringify(options),
    },
  });
  await mf.ready;
  return {
    async track(events) {
      const started = performance.now();
      const res = await mf.dispatchFetch('http://worker.test/track', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ events }),
      });
      const body = await res.json();
      return { status: res.status, body, ms: performance.now() - started };
    },
    /** POSTs `body` as JSON to `path`. */
    dispatch(path, body) {
      return mf.dispatchFetch(`http://worker.test${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    },
    async get(path) {
      const res = await mf.dispatchFetch(`http://worker.test${path}`);
      return { status: res.status, text: await res.text() };
    },
    async stats() {
      const res = await mf.dispatchFetch('http://worker.test/stats');
      return res.json();
    },
    stop: () => mf.dispose(),
  };
}

/** Waits until every drain the Worker started has finished. */
async function drainsDone(worker, ms = 15_000) {
  return waitFor(async () => {
    const s = await worker.stats();
    return s.drains.started > 0 && s.drains.finished === s.drains.started ? s : null;
  }, ms, 'the drains to finish');
}

function events(request, n = 3) {
  return Array.from({ length: n }, (_, i) => ({
    event: `workers test ${i}`,
    distinctId: `user-${request}`,
    properties: { request, i },
  }));
}

async function collectorStats(url) {
  return (await fetch(`${url}/stats`)).json();
}

test('100 requests x 3 events: all 300 arrive exactly once', async () => {
  const collector = await startCollector();
  const worker = await startWorker(collector.url);
  try {
    const answers = await Promise.all(Array.from({ length: 100 }, (_, r) => worker.track(events(r))));
    const uuids = answers.flatMap((a) => {
      assert.equal(a.status, 202, JSON.stringify(a.body));
      return a.body.accepted;
    });
    assert.equal(new Set(uuids).size, 300);
    const s = await drainsDone(worker);
    const rows = await waitFor(async () => {
      const got = (await collector.events()).filter((row) => uuids.includes(row.uuid));
      return got.length === 300 ? got : null;
    }, 10_000, '300 events at the collector');
    for (const row of rows) assert.equal(row.duplicates, 0, `duplicate ${row.uuid}`);
    assert.equal(s.stats.delivered, 300);
    assert.equal(s.stats.droppedTotal, 0);
    assert.equal(s.stats.pending, 0);
    assert.equal(s.drains.finished, 100);
    const c = await collectorStats(collector.url);
    console.log(`# 100 requests: ${s.stats.requests} POSTs, collector ${JSON.stringify({ unique: c.unique, duplicates: c.duplicates })}`);
  } finally {
    await worker.stop();
    await collector.stop();
  }
});

test('503 twice then 200: all events arrive within the budget', async () => {
  const collector = await startCollector(['--fail-first', '2', '--fail-status', '503']);
  const budgetMs = 3000;
  const worker = await startWorker(collector.url, { budgetMs, options: { initialBackoffMs: 100, jitter: 0 } });
  try {
    const a = await worker.track(events('retry'));
    assert.equal(a.status, 202);
    const s = await drainsDone(worker);
    const [result] = s.drains.last;
    assert.equal(result.completed, true, JSON.stringify(result));
    assert.ok(result.elapsedMs < budgetMs, `drained in ${result.elapsedMs} ms`);
    assert.equal(s.stats.delivered, 3);
    assert.equal(s.stats.retries, 2);
    const rows = (await collector.events()).filter((row) => a.body.accepted.includes(row.uuid));
    assert.equal(rows.length, 3);
    for (const row of rows) assert.equal(row.duplicates, 0);
    const c = await collectorStats(collector.url);
    console.log(`# 503, 503, 200: delivered in ${result.elapsedMs} ms (budget ${budgetMs}); collector statuses ${JSON.stringify(c.statuses)}`);
  } finally {
    await worker.stop();
    await collector.stop();
  }
});

test('the response returns before delivery (collector latency 500 ms)', async () => {
  const collector = await startCollector(['--latency-ms', '500']);
  const worker = await startWorker(collector.url);
  try {
    await worker.get('/warm-up'); // the first request also loads the isolate
    await drainsDone(worker);
    const times = [];
    const uuids = [];
    for (let r = 0; r < 5; r++) {
      const a = await worker.track(events(`latency-${r}`));
      assert.equal(a.status, 202);
      times.push(a.ms);
      uuids.push(...a.body.accepted);
    }
    const worst = Math.max(...times);
    assert.ok(worst < 250, `responses took ${times.map((t) => t.toFixed(0)).join(', ')} ms`);
    const s = await drainsDone(worker);
    assert.equal(s.stats.delivered, 16);
    const rows = (await collector.events()).filter((row) => uuids.includes(row.uuid));
    assert.equal(rows.length, 15);
    const slowest = Math.max(...s.drains.last.map((d) => d.elapsedMs));
    console.log(`# response times ${times.map((t) => t.toFixed(1)).join(', ')} ms; drains took up to ${slowest} ms`);
    assert.ok(slowest >= 450, `a drain should wait for the 500 ms collector, took ${slowest} ms`);
  } finally {
    await worker.stop();
    await collector.stop();
  }
});

test('a collector that never answers: budget kept, drops counted, the Worker keeps answering', async () => {
  // Accepts connections and never writes a byte.
  const sockets = new Set();
  const silent = createServer((socket) => { sockets.add(socket); socket.on('error', () => {}); });
  await new Promise((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const host = `http://127.0.0.1:${silent.address().port}`;
  const budgetMs = 1000;
  const worker = await startWorker(host, { budgetMs });
  try {
    const started = performance.now();
    const a = await worker.track(events('silent'));
    assert.equal(a.status, 202);
    assert.ok(a.ms < 250, `the response took ${a.ms} ms`);
    const s = await drainsDone(worker, 10_000);
    const wall = performance.now() - started;
    const [result] = s.drains.last;
    assert.equal(result.completed, false);
    assert.equal(result.dropped, 3);
    assert.ok(result.elapsedMs >= budgetMs && result.elapsedMs < budgetMs + 500, `drain took ${result.elapsedMs} ms`);
    assert.ok(wall < budgetMs + 1500, `drain finished ${wall.toFixed(0)} ms after the request`);
    assert.equal(s.stats.dropped.drain_budget, 3);
    assert.equal(s.stats.droppedTotal, 3);
    assert.equal(s.stats.pending, 0);
    assert.equal(s.stats.captured, s.stats.delivered + s.stats.droppedTotal + s.stats.pending);

    // Still serving, quickly; bad input gets a clear error.
    const hello = await worker.get('/');
    assert.equal(hello.status, 200);
    const bad = await worker.track([{ event: 42 }, { event: 'ok', properties: [1, 2] }]);
    assert.equal(bad.status, 400);
    assert.match(bad.body.errors[0].error, /event name as a string/);
    assert.match(bad.body.errors[1].error, /plain object/);
    const again = await worker.track(events('silent-2', 2));
    assert.equal(again.status, 202);
    assert.ok(again.ms < 250, `the response took ${again.ms} ms`);
    const s2 = await drainsDone(worker, 10_000);
    assert.equal(s2.stats.dropped.drain_budget, 3 + 1 + 2);
    console.log(`# silent collector: drain ${result.elapsedMs} ms (budget ${budgetMs}), done ${wall.toFixed(0)} ms after the request; dropped ${JSON.stringify(s2.stats.dropped)}`);
  } finally {
    await worker.stop();
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => silent.close(resolve));
  }
});

test('429 with Retry-After: the drain waits at least that long within its budget, then everything arrives', async () => {
  const collector = await startCollector(['--fail-first', '1', '--fail-status', '429', '--retry-after', '1']);
  const worker = await startWorker(collector.url, { budgetMs: 5000, options: { initialBackoffMs: 50, jitter: 0 } });
  try {
    const a = await worker.track(events('rate limited'));
    assert.equal(a.status, 202);
    const s = await drainsDone(worker);
    const [result] = s.drains.last;
    assert.equal(result.completed, true);
    assert.ok(result.elapsedMs >= 1000, `the drain took ${result.elapsedMs} ms, under Retry-After: 1`);
    assert.ok(result.elapsedMs < 5000, `the drain took ${result.elapsedMs} ms, over its budget`);
    assert.equal(s.stats.delivered, 3);
    assert.equal(s.stats.retries, 1);
    const rows = await waitFor(async () => {
      const got = (await collector.events()).filter((row) => a.body.accepted.includes(row.uuid));
      return got.length === 3 ? got : null;
    }, 10_000, '3 events at the collector');
    assert.equal(rows.length, 3);
  } finally {
    await worker.stop();
    await collector.stop();
  }
});

test('metering in workerd: concurrent requests count per tenant; each drain delivers its window; totals match', async () => {
  const collector = await startCollector();
  const worker = await startWorker(collector.url);
  const meter = async (body) => {
    const res = await worker.dispatch('/meter', body);
    return { status: res.status, body: await res.json() };
  };
  try {
    const expected = { 'tenant-a': 0, 'tenant-b': 0 };
    const calls = Array.from({ length: 60 }, (_, i) => {
      const tenant = i % 3 ? 'tenant-a' : 'tenant-b';
      expected[tenant] += i;
      // Tag order differs between calls: one key per tenant.
      const tags = i % 2 ? { model: 'small', region: 'eu' } : { region: 'eu', model: 'small' };
      return meter({ tenant, metric: 'tokens', value: i, tags });
    });
    calls.push(meter({ tenant: 'tenant-a', metric: 'seats', value: 4, kind: 'gauge' }));
    for (const a of await Promise.all(calls)) assert.equal(a.status, 202, JSON.stringify(a.body));
    // Bad input: a clear error, and the Worker keeps serving.
    const bad = await meter({ tenant: '', metric: 'tokens', value: 1 });
    assert.equal(bad.status, 400);
    assert.match(bad.body.error, /tenant is empty/);
    assert.equal((await meter({ tenant: 't', metric: 'tokens', value: NaN })).status, 400);
    const s = await drainsDone(worker);
    assert.equal(s.stats.droppedTotal, 0);
    assert.equal(s.stats.pending, 0);
    const rows = await waitFor(async () => {
      const usage = (await collector.events()).filter((r) => r.event === 'usage');
      return usage.length === s.stats.delivered ? usage : null;
    }, 10_000, 'every usage event at the collector');
    const totals = { 'tenant-a': 0, 'tenant-b': 0 };
    for (const r of rows) {
      if (r.properties.metric === 'tokens') {
        assert.deepEqual(r.properties.tags, { model: 'small', region: 'eu' });
        totals[r.properties.tenant] += r.properties.value;
      }
    }
    assert.deepEqual(totals, expected);
    assert.equal(rows.filter((r) => r.properties.metric === 'seats').map((r) => r.properties.value).join(), '4');
  } finally {
    await worker.stop();
    await collector.stop();
  }
});

/** POST /track with `"receipts": true`: the answer waits for each event's fate. */
async function trackWithReceipts(worker, list) {
  const res = await worker.dispatch('/track', { events: list, receipts: true });
  return { status: res.status, body: await res.json() };
}

test('receipts in workerd: delivered, dropped by a 4xx, expired waiting to retry, drain budget', async () => {
  const collector = await startCollector();
  const rejecting = await startCollector(['--fail-rate', '1', '--fail-status', '400']);
  const failing = await startCollector(['--fail-rate', '1', '--fail-status', '503']);
  const sockets = new Set();
  const silent = createServer((socket) => { sockets.add(socket); socket.on('error', () => {}); });
  await new Promise((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const workers = [];
  const start = async (host, options) => {
    const w = await startWorker(host, options);
    workers.push(w);
    return w;
  };
  try {
    const cases = [
      ['delivered', await start(collector.url), { status: 'delivered' }],
      ['a 400', await start(rejecting.url), { status: 'dropped', reason: 'http_400' }],
      // 503s retried after 1 s; the 300 ms deadline passes first.
      ['a deadline while waiting to retry', await start(failing.url, {
        budgetMs: 3000, options: { eventTimeoutMs: 300, initialBackoffMs: 1000, jitter: 0 },
      }), { status: 'dropped', reason: 'expired' }],
      ['a collector that never answers', await start(`http://127.0.0.1:${silent.address().port}`, { budgetMs: 500 }),
        { status: 'dropped', reason: 'drain_budget' }],
    ];
    for (const [what, worker, fate] of cases) {
      const started = performance.now();
      const a = await trackWithReceipts(worker, events(`receipts ${what}`, 2));
      const ms = performance.now() - started;
      assert.equal(a.status, 200, `${what}: ${JSON.stringify(a.body)}`);
      assert.deepEqual(a.body.receipts, [fate, fate], what);
      const s = await drainsDone(worker);
      assert.equal(s.stats.captured, s.stats.delivered + s.stats.droppedTotal + s.stats.pending, what);
      if (fate.reason) assert.equal(s.stats.dropped[fate.reason], 2, `${what}: ${JSON.stringify(s.stats)}`);
      if (fate.reason === 'expired') assert.ok(ms < 1000, `${what}: answered after ${ms.toFixed(0)} ms, not at the deadline`);
      console.log(`# receipts, ${what}: ${JSON.stringify(fate)} after ${ms.toFixed(0)} ms`);
    }
    const rows = (await collector.events()).filter((r) => r.event.startsWith('workers test'));
    assert.equal(rows.length, 2);
    assert.equal((await rejecting.stats()).unique, 0);
  } finally {
    for (const w of workers) await w.stop();
    await collector.stop();
    await rejecting.stop();
    await failing.stop();
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => silent.close(resolve));
  }
});
