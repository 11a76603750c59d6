// The built package in Node (>= 18) against a real `tidings collect`.
// Run: node --test platforms/browser/test/ (after scripts/build-wasm).

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { load, Tidings } from '../js/index.js';
import * as workers from '../js/workers.js';
import { startCollector, waitFor } from './helpers.mjs';

let collector;

before(async () => {
  await load();
  await workers.load();
  collector = await startCollector();
});

after(async () => {
  await collector?.stop();
});

function client(options = {}) {
  return new Tidings({ apiKey: 'phc_node_test', host: collector.url, flushIntervalMs: 50, ...options });
}

async function stored(uuids) {
  const want = new Set(uuids);
  return waitFor(async () => {
    const rows = (await collector.events()).filter((r) => want.has(r.uuid));
    return rows.length === want.size ? rows : null;
  }, 10_000, `${want.size} events at the collector`);
}

for (const protocol of ['posthog-v0', 'posthog-v1', 'json']) {
  test(`captures arrive at the collector (${protocol})`, async () => {
    const host = protocol === 'json' ? `${collector.url}/events` : collector.url;
    const t = client({ protocol, host, distinctId: 'node-user' });
    const uuids = [];
    for (let i = 0; i < 120; i++) {
      uuids.push(t.capture('node test', { i, protocol, nested: { ok: true } }));
    }
    for (const u of uuids) assert.match(u, /^[0-9a-f-]{36}$/);
    const result = await t.flush(10_000);
    assert.deepEqual(result, { completed: true, pending: 0 });
    const rows = await stored(uuids);
    assert.equal(rows.length, 120);
    for (const r of rows) {
      assert.equal(r.duplicates, 0);
      assert.equal(r.event, 'node test');
      assert.equal(r.distinct_id, 'node-user');
      assert.equal(r.properties.protocol, protocol);
      assert.deepEqual(r.properties.nested, { ok: true });
    }
    const s = t.stats();
    assert.equal(s.delivered, 120);
    assert.equal(s.captured, s.delivered + s.droppedTotal + s.pending);
    assert.deepEqual(await t.shutdown(1000), { drained: true, dropped: 0 });
  });
}

test('per-event options: distinctId, uuid, timestamp', async () => {
  const t = client();
  const uuid = '0190f3a0-0000-7000-8000-000000000001';
  assert.equal(t.capture('with options', null, { distinctId: 'someone', uuid, timestamp: new Date('2024-05-01T12:00:00Z') }), uuid);
  await t.flush();
  const [row] = await stored([uuid]);
  assert.equal(row.distinct_id, 'someone');
  assert.match(row.timestamp, /^2024-05-01T12:00:00(\.000)?Z$/);
  assert.throws(() => t.capture('e', {}, { uuid: 'not-a-uuid' }), { name: 'TypeError', message: /"uuid"/ });
  assert.throws(() => t.capture('e', {}, { timestamp: 'yesterday' }), { name: 'RangeError', message: /"timestamp"/ });
  assert.throws(() => t.capture('e', {}, { distinctId: 5 }), { name: 'TypeError', message: /"distinctId"/ });
  await t.shutdown(1000);
});

test('undefined is dropped and NaN becomes null (JSON.stringify)', async () => {
  const t = client();
  const uuid = t.capture('conversions', { gone: undefined, nan: NaN, inf: Infinity, when: new Date(0), fn() {} });
  await t.flush();
  const [row] = await stored([uuid]);
  assert.equal('gone' in row.properties, false);
  assert.equal('fn' in row.properties, false);
  assert.equal(row.properties.nan, null);
  assert.equal(row.properties.inf, null);
  assert.equal(row.properties.when, '1970-01-01T00:00:00.000Z');
  await t.shutdown(1000);
});

test('bad input throws a clear error and the client keeps working', async () => {
  const t = client({ maxEventBytes: 4096 });
  const cyclic = { a: 1 };
  cyclic.self = cyclic;
  const bad = [
    ['a cyclic object', () => t.capture('e', cyclic), 'TypeError', /cannot be serialized to JSON.*cyclic/s],
    ['a BigInt', () => t.capture('e', { n: 10n }), 'TypeError', /BigInt/],
    ['a number as event name', () => t.capture(42), 'TypeError', /event name as a string, got the number 42/],
    ['undefined as event name', () => t.capture(), 'TypeError', /event name as a string, got undefined/],
    ['an empty event name', () => t.capture('  '), 'TypeError', /non-empty event name/],
    ['an array as properties', () => t.capture('e', [1, 2]), 'TypeError', /plain object, got an array/],
    ['a string as properties', () => t.capture('e', 'x'), 'TypeError', /plain object, got the string/],
    ['a huge string', () => t.capture('e', { s: 'x'.repeat(10_000) }), 'RangeError', /maxEventBytes \(4096\)/],
    ['an event just above maxEventBytes', () => t.capture('e', { s: 'é'.repeat(2000) }), 'RangeError', /maxEventBytes \(4096\)/],
    ['options of the wrong type', () => t.capture('e', {}, 'opts'), 'TypeError', /capture options must be an object/],
  ];
  for (const [what, call, name, message] of bad) {
    assert.throws(call, { name, message }, what);
  }
  const good = t.capture('after bad input', { fine: true });
  assert.ok(good);
  assert.deepEqual(await t.flush(), { completed: true, pending: 0 });
  const [row] = await stored([good]);
  assert.equal(row.properties.fine, true);
  const s = t.stats();
  assert.equal(s.delivered, 1);
  assert.equal(s.dropped.too_large, 2);
  // Refused in JavaScript, counted by the core as it counts its own.
  assert.equal(s.dropped.invalid_event, 8);
  assert.equal(s.captured, s.delivered + s.droppedTotal + s.pending);
  await t.shutdown(1000);
});

test('invalid options throw, naming the option', () => {
  const host = collector.url;
  const cases = [
    [undefined, 'TypeError', /options must be an object/],
    ['phc', 'TypeError', /options must be an object/],
    [{ apiKey: 'k' }, 'TypeError', /"host" is required/],
    [{ apiKey: 'k', host, flushAt: 'ten' }, 'TypeError', /"flushAt" must be a whole number, got the string "ten"/],
    [{ apiKey: 'k', host, flushAt: 0 }, 'RangeError', /"flushAt".*at least 1/],
    [{ apiKey: 'k', host, flushAt: 1.5 }, 'RangeError', /"flushAt" must be a whole number/],
    [{ apiKey: 'k', host, flushAt: 2000, maxBatchEvents: 100 }, 'RangeError', /"flushAt".*maxBatchEvents/],
    [{ apiKey: 'k', host, flushIntervalMs: -1 }, 'RangeError', /"flushIntervalMs"/],
    [{ apiKey: 'k', host, maxInFlight: NaN }, 'TypeError', /"maxInFlight"/],
    [{ apiKey: 'k', host, geoipDisable: 'yes' }, 'TypeError', /"geoipDisable" must be a boolean/],
    [{ apiKey: 'k', host, protocol: 'v2' }, 'RangeError', /"protocol" must be "posthog-v0", "posthog-v1" or "json"/],
    [{ apiKey: 'k', host, flushat: 10 }, 'TypeError', /unknown option "flushat"/],
    [{ apiKey: 'k', host, headers: { 'X-A': 1 } }, 'TypeError', /"headers.X-A" must be a string/],
    [{ apiKey: 'k', host: 'http://example.com' }, 'RangeError', /"host"/],
    [{ host }, 'RangeError', /"apiKey"/],
    [{ apiKey: 'k', host, jitter: 1.5 }, 'RangeError', /"jitter"/],
  ];
  for (const [options, name, message] of cases) {
    assert.throws(() => new Tidings(options), { name, message }, JSON.stringify(options));
  }
  // Still usable afterwards.
  assert.ok(new Tidings({ apiKey: 'k', host }).distinctId);
});

test('allowInsecureHttp: plain http to a private host is refused without it; with it, one warning naming the host', async () => {
  // The JSON protocol keeps the query: the warning must not show it.
  const host = 'http://posthog.internal:8000/e?token=SECRET_QUERY';
  const protocol = 'json';
  const builds = [['browser', Tidings], ['Workers', workers.Tidings]];
  for (const [build, Client] of builds) {
    assert.throws(
      () => new Client({ apiKey: 'phc_SECRET', host, protocol }),
      (e) => e.name === 'RangeError' && /"host".*`posthog\.internal`.*allowInsecureHttp/.test(e.message)
        && !e.message.includes('allow_insecure_http'),
      build,
    );
  }
  const warnings = [];
  const { warn } = console;
  const realFetch = globalThis.fetch;
  const urls = [];
  console.warn = (...args) => warnings.push(args.join(' '));
  // No network: every request is answered here.
  globalThis.fetch = async (url) => {
    urls.push(String(url));
    return new Response('{"status":1}', { status: 200 });
  };
  try {
    for (const [build, Client] of builds) {
      warnings.length = 0;
      const t = new Client({ apiKey: 'phc_SECRET', host, protocol, allowInsecureHttp: true });
      assert.equal(warnings.length, 1, `${build}: ${warnings}`);
      assert.match(warnings[0], /"allowInsecureHttp": plain http to posthog\.internal:8000,/, build);
      assert.doesNotMatch(warnings[0], /SECRET/, `${build}: never the key or the query`);
      // https and loopback need no opt-in: it changes nothing and warns not.
      for (const other of ['https://eu.i.posthog.com', collector.url]) {
        const quiet = new Client({ apiKey: 'k', host: other, allowInsecureHttp: true });
        await quiet.shutdown(100);
      }
      // A URL the core refuses anyway (credentials) is not named either.
      assert.throws(() => new Client({ apiKey: 'k', host: 'http://u:pw@posthog.internal', allowInsecureHttp: true }), { name: 'RangeError' });
      assert.throws(() => new Client({ apiKey: 'k', host, allowInsecureHttp: 'yes' }), { name: 'TypeError', message: /"allowInsecureHttp" must be a boolean/ });
      assert.equal(warnings.length, 1, `${build}: ${warnings}`);
      urls.length = 0;
      t.capture('over plain http');
      if (build === 'Workers') {
        assert.equal((await t.drain(2000)).completed, true);
      } else {
        assert.deepEqual(await t.flush(2000), { completed: true, pending: 0 });
      }
      assert.equal(t.stats().delivered, 1, build);
      assert.ok(urls.length >= 1 && urls.every((u) => u.startsWith('http://posthog.internal:8000/e?token=')), `${build}: ${urls}`);
      await t.shutdown(1000);
    }
  } finally {
    console.warn = warn;
    globalThis.fetch = realFetch;
  }
});

test('after shutdown, capture returns null and flush resolves', async () => {
  const t = client();
  assert.deepEqual(await t.shutdown(1000), { drained: true, dropped: 0 });
  assert.equal(t.capture('late'), null);
  assert.equal(t.stats().dropped.shut_down, 1);
  assert.deepEqual(await t.flush(100), { completed: true, pending: 0 });
  assert.deepEqual(await t.shutdown(1000), { drained: true, dropped: 0 });
});

test("the Workers build in Node: no timer, drain() delivers, bad input is refused clearly", async () => {
  const workersClient = (options = {}) =>
    new workers.Tidings({ apiKey: 'phc_node_test', host: collector.url, flushIntervalMs: 50, ...options });
  assert.throws(() => client({ runtime: 'workers' }), { name: 'TypeError', message: /tidings-browser\/workers/ });
  assert.throws(() => workersClient({ runtime: 'lambda' }), { name: 'RangeError', message: /"runtime"/ });
  assert.equal(typeof client().drain, 'undefined');
  const t = workersClient({ runtime: 'workers' });
  assert.throws(() => t.drain(60_000), { name: 'RangeError', message: /30000/ });
  assert.throws(() => t.drain('soon'), { name: 'TypeError', message: /budgetMs/ });
  const uuids = [t.capture('workers mode', { i: 1 }), t.capture('workers mode', { i: 2 })];
  // flushIntervalMs is 50: with timers these would be sent by now.
  await new Promise((r) => setTimeout(r, 150));
  assert.equal(t.stats().queued, 2);
  const result = await t.drain(5000);
  assert.equal(result.completed, true);
  assert.equal(result.dropped, 0);
  assert.equal((await stored(uuids)).length, 2);
  assert.deepEqual(await t.shutdown(1000), { drained: true, dropped: 0 });
  assert.equal(t.capture('after shutdown'), null);
  const s = t.stats();
  assert.equal(s.delivered, 2);
  assert.equal(s.captured, s.delivered + s.droppedTotal + s.pending);
});

test('metering: counts sum and gauges keep the last value per canonical key, delivered as usage events', async () => {
  const t = client({ meterFlushIntervalMs: 60_000 });
  t.count('tenant-a', 'tokens', 5000, { model: 'small', region: { zone: 'b', dc: 1 } });
  t.count('tenant-a', 'tokens', 250, { region: { dc: 1, zone: 'b' }, model: 'small' });
  t.count('0', 'tokens', 1);
  t.gauge('tenant-a', 'seats', 3);
  t.gauge('tenant-a', 'seats', 7);
  assert.equal(t.meterKeys, 3);
  assert.ok(t.meterOldestAgeMs >= 0);
  const bad = [
    [() => t.count('', 'tokens', 1), 'RangeError', /tenant is empty/],
    [() => t.count('t', ' ', 1), 'RangeError', /metric name is empty/],
    [() => t.count('t', 'tokens', NaN), 'RangeError', /not a finite number/],
    [() => t.count('t', 'tokens', 2 ** 53), 'RangeError', /2\^53|exact/],
    [() => t.count(7, 'tokens', 1), 'TypeError', /tenant as a string/],
    [() => t.gauge('t', 'seats', '3'), 'TypeError', /value as a number/],
    [() => t.count('t', 'tokens', 1, [1]), 'TypeError', /tags as a plain object/],
  ];
  for (const [call, name, message] of bad) assert.throws(call, { name, message });
  assert.equal(t.meterKeys, 3, 'refused updates record nothing');
  assert.equal(t.flushMeters(), 3);
  assert.equal(t.meterKeys, 0);
  assert.deepEqual(await t.flush(), { completed: true, pending: 0 });
  const rows = await waitFor(async () => {
    const usage = (await collector.events()).filter((r) => r.event === 'usage' && ['tenant-a', '0'].includes(r.properties.tenant));
    return usage.length >= 3 ? usage : null;
  }, 10_000, '3 usage events');
  const by = (tenant, metric) => rows.find((r) => r.properties.tenant === tenant && r.properties.metric === metric).properties;
  assert.equal(by('tenant-a', 'tokens').value, 5250);
  assert.deepEqual(by('tenant-a', 'tokens').tags, { model: 'small', region: { dc: 1, zone: 'b' } });
  assert.equal(by('tenant-a', 'tokens').kind, 'count');
  assert.equal(by('0', 'tokens').value, 1);
  assert.equal(by('tenant-a', 'seats').value, 7);
  assert.equal(by('tenant-a', 'seats').kind, 'gauge');
  const s = t.stats();
  assert.equal(s.captured, s.delivered + s.droppedTotal + s.pending);
  await t.shutdown(1000);
});

test('receipts: delivered, dropped by a 4xx, expired while offline, shut down, each exactly once', async () => {
  const rejecting = await startCollector(['--fail-rate', '1', '--fail-status', '400']);
  try {
    // Delivered: asked in the same task as the capture.
    const t = client();
    const uuid = t.capture('receipt test', { i: 1 });
    const delivered = t.receipt(uuid);
    assert.equal(t.receipt(uuid.toUpperCase()), delivered, 'one promise per uuid');
    assert.deepEqual(await delivered, { status: 'delivered' });
    assert.equal((await stored([uuid])).length, 1);

    // Dropped by a 4xx: not retried, its reason as stats() counts it.
    const r = client({ host: rejecting.url });
    const ids = [r.capture('rejected', { i: 1 }), r.capture('rejected', { i: 2 })];
    const fates = await Promise.all(ids.map((id) => r.receipt(id)));
    assert.deepEqual(fates, [{ status: 'dropped', reason: 'http_400' }, { status: 'dropped', reason: 'http_400' }]);
    assert.equal(r.stats().dropped.http_400, 2);
    assert.equal(r.stats().retries, 0);

    // Expired while offline: the deadline passes while sending is paused.
    const e = client({ eventTimeoutMs: 200 });
    e.setOffline(true);
    const started = Date.now();
    const expired = e.capture('expires offline');
    assert.deepEqual(await e.receipt(expired), { status: 'dropped', reason: 'expired' });
    assert.ok(Date.now() - started >= 190, `expired after ${Date.now() - started} ms`);
    assert.equal(e.stats().dropped.expired, 1);

    // Shut down while offline: dropped at the deadline.
    const s = client();
    s.setOffline(true);
    const late = s.capture('shut down offline');
    const receipt = s.receipt(late);
    assert.deepEqual(await s.shutdown(0), { drained: false, dropped: 1 });
    assert.deepEqual(await receipt, { status: 'dropped', reason: 'shutdown_deadline' });

    // Each receipt resolved once: asking again later is a new question.
    assert.deepEqual(await t.receipt(uuid), { status: 'unknown' }, 'resolved before it was asked for');
    for (const c of [t, r, e]) await c.shutdown(1000);
  } finally {
    await rejecting.stop();
  }
});

test('receipts: a uuid the client does not hold resolves unknown once it holds no event', async () => {
  const t = client();
  assert.deepEqual(await t.receipt('0190f3a0-0000-7000-8000-00000000abcd'), { status: 'unknown' }, 'never captured');
  assert.throws(() => t.receipt('nope'), { name: 'TypeError', message: /receipt\(uuid\)/ });
  assert.throws(() => t.receipt(), { name: 'TypeError', message: /receipt\(uuid\)/ });
  // While the client holds events, it cannot tell (no index of uuids is
  // kept for receipts nobody asks for): the answer waits for them.
  t.setOffline(true);
  const held = t.capture('held');
  let answered = null;
  t.receipt('0190f3a0-0000-7000-8000-00000000abce').then((r) => { answered = r; });
  const heldReceipt = t.receipt(held);
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(answered, null, 'not decided while an event is held');
  t.setOffline(false);
  assert.deepEqual(await heldReceipt, { status: 'delivered' });
  await waitFor(() => answered, 5000, 'the unknown receipt');
  assert.deepEqual(answered, { status: 'unknown' });
  // Refused at capture (shut down): capture returns null; a receipt for
  // the uuid it was given is unknown.
  await t.shutdown(1000);
  const refusedUuid = '0190f3a0-0000-7000-8000-00000000abcf';
  assert.equal(t.capture('late', null, { uuid: refusedUuid }), null);
  assert.deepEqual(await t.receipt(refusedUuid), { status: 'unknown' });
});

test('eventTimeoutMs: checked like the other options; persistenceMaxAgeMs is its deprecated name', async () => {
  const host = collector.url;
  const cases = [
    [{ eventTimeoutMs: 0 }, 'RangeError', /"eventTimeoutMs"/],
    [{ eventTimeoutMs: 3651 * 86_400_000 }, 'RangeError', /"eventTimeoutMs".*3,650 days/],
    [{ eventTimeoutMs: -1 }, 'RangeError', /"eventTimeoutMs"/],
    [{ eventTimeoutMs: '1s' }, 'TypeError', /"eventTimeoutMs" must be a finite number/],
    [{ eventTimeoutMs: 1000, persistenceMaxAgeMs: 2000 }, 'RangeError', /"persistenceMaxAgeMs".*deprecated name of "eventTimeoutMs"/],
  ];
  for (const [options, name, message] of cases) {
    assert.throws(() => new Tidings({ apiKey: 'k', host, ...options }), { name, message }, JSON.stringify(options));
    if (!('persistenceMaxAgeMs' in options)) {
      assert.throws(() => new workers.Tidings({ apiKey: 'k', host, ...options }), { name, message }, `Workers ${JSON.stringify(options)}`);
    }
  }
  // The alias alone, or both equal, is the same deadline.
  for (const options of [{ persistenceMaxAgeMs: 150 }, { persistenceMaxAgeMs: 150, eventTimeoutMs: 150 }]) {
    const t = client(options);
    t.setOffline(true);
    const uuid = t.capture('aliased deadline');
    assert.deepEqual(await t.receipt(uuid), { status: 'dropped', reason: 'expired' }, JSON.stringify(options));
    await t.shutdown(100);
  }
});

test('receipts in the Workers build: delivered, dropped by a 4xx, expired waiting to retry, drain budget', async () => {
  const rejecting = await startCollector(['--fail-rate', '1', '--fail-status', '400']);
  const failing = await startCollector(['--fail-rate', '1', '--fail-status', '503']);
  const w = (options = {}) => new workers.Tidings({ apiKey: 'phc_node_test', host: collector.url, ...options });
  try {
    const ok = w();
    const uuid = ok.capture('workers receipt');
    const receipt = ok.receipt(uuid);
    await ok.drain(5000);
    assert.deepEqual(await receipt, { status: 'delivered' });
    assert.deepEqual(await ok.receipt('0190f3a0-0000-7000-8000-00000000abcd'), { status: 'unknown' });

    const rejected = w({ host: rejecting.url });
    const bad = rejected.capture('workers rejected');
    const badReceipt = rejected.receipt(bad);
    await rejected.drain(5000);
    assert.deepEqual(await badReceipt, { status: 'dropped', reason: 'http_400' });

    // 503s retried with a 1 s backoff: the 300 ms deadline passes first.
    const retried = w({ host: failing.url, eventTimeoutMs: 300, initialBackoffMs: 1000, jitter: 0 });
    const late = retried.capture('workers expires');
    const lateReceipt = retried.receipt(late);
    const result = await retried.drain(3000);
    assert.deepEqual(await lateReceipt, { status: 'dropped', reason: 'expired' });
    assert.equal(result.completed, true);
    assert.ok(result.elapsedMs < 1000, `expired at its deadline, not after the backoff (${result.elapsedMs} ms)`);

    // The budget runs out while retrying: drain_budget.
    const budget = w({ host: failing.url, initialBackoffMs: 1000, jitter: 0 });
    const cut = budget.capture('workers budget');
    const cutReceipt = budget.receipt(cut);
    await budget.drain(200);
    assert.deepEqual(await cutReceipt, { status: 'dropped', reason: 'drain_budget' });
    for (const c of [ok, rejected, retried, budget]) {
      const s = c.stats();
      assert.equal(s.captured, s.delivered + s.droppedTotal + s.pending);
    }
  } finally {
    await rejecting.stop();
    await failing.stop();
  }
});
