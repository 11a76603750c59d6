// The client survives any exception (issue 21, item 1), in headless
// Chromium against a real `tidings collect`: calls made at every depth of
// the call stack (so that the engine's "Maximum call stack size exceeded"
// strikes at every point of a call, the wasm frames included), and an
// exception injected at each crossing between JavaScript and wasm. After
// each one the next call works, `captured === delivered + dropped +
// pending` holds, and in the end every accepted event arrives exactly once
// and no refused one arrives.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { arrived, launchChromium, packageDir, startCollector, startStaticServer } from './helpers.mjs';

let browser, site;

before(async () => {
  site = await startStaticServer(packageDir);
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await site?.stop();
});

/** A fresh context and the test page, with the package loaded. */
async function openPage() {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.errors = [];
  if (process.env.GUARD_DEBUG) page.on('console', (m) => console.log('# page:', m.text().slice(0, 200)));
  page.on('pageerror', (e) => page.errors.push(String(e)));
  await page.goto(`${site.url}/test/page.html`);
  await page.waitForFunction(() => window.tidingsReady !== undefined, null, { timeout: 10_000 });
  assert.equal(await page.evaluate(() => window.tidingsReady), true);
  return { context, page };
}

/** Every uuid of `accepted` stored once, none of `refused` stored at all. */
async function exactlyTheAccepted(collector, accepted, refused) {
  const rows = await arrived(collector, accepted, 20_000);
  assert.equal(rows.length, accepted.length);
  assert.deepEqual(rows.filter((r) => r.duplicates !== 0), [], 'nothing arrives twice');
  const gone = new Set(refused);
  assert.deepEqual((await collector.events()).filter((r) => gone.has(r.uuid)), [], 'no refused event arrives');
}

/**
 * In the page: `sweep(client, label, call)` calls `call(uuid)` with only
 * k frames of room left on the stack, for k from where nothing fits to
 * well past where the call first succeeds, one frame at a time; after
 * each attempt (in the same task) the client must still take a capture
 * and its counters must add up. Returns what happened.
 */
function installSweep() {
  /** `n` frames deeper, then `f()`. */
  function room(n, f) {
    return n === 0 ? f() : room(n - 1, f) + 0;
  }
  const fits = (n, f) => {
    try {
      room(n, f);
      return true;
    } catch {
      return false;
    }
  };
  /** The deepest `room` that still lets `f` run. */
  const deepest = (f) => {
    let lo = 0;
    let hi = 100_000;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (fits(mid, f)) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  };
  const balanced = (s) => s.captured === s.delivered + s.droppedTotal + s.pending;
  window.sweep = (t, label, call, { before = () => 0 } = {}) => {
    for (let i = 0; i < 3; i++) deepest(() => 0); // the JIT settles
    const base = deepest(() => 0);
    // Where the work before the call fits (e.g. JSON.stringify of deeply
    // nested properties): the call can only fail below that.
    const from = Math.max(0, base - deepest(before) - 50);
    const out = { label, base, from, accepted: [], refused: [], top: [], errors: {}, attempts: 0, firstSuccess: null };
    // The test's own closure, compiled here (V8 needs ~40 KB of stack to
    // compile a function): the library's code stays as cold as it is.
    call(null);
    let successes = 0;
    for (let k = from; successes < 64 && k < from + 8000; k++) {
      const uuid = crypto.randomUUID();
      out.attempts++;
      try {
        room(base - k, () => call(uuid));
        out.accepted.push(uuid);
        out.firstSuccess ??= k;
        successes++;
      } catch (e) {
        out.refused.push(uuid);
        out.lastError = String(e?.stack ?? e);
        const what = String(e?.message ?? e).slice(0, 70);
        out.errors[what] = (out.errors[what] ?? 0) + 1;
      }
      // Still working, in the same task: a capture and its counters.
      let id;
      try {
        id = t.capture('top', { k, label });
      } catch (e) {
        out.broken = `after k = ${k}: ${e?.message ?? e}; the attempt threw ${out.lastError}`;
        return out;
      }
      if (typeof id !== 'string') {
        out.broken = `after k = ${k}: capture returned ${id}`;
        return out;
      }
      out.top.push(id);
      const s = t.stats();
      if (!balanced(s)) {
        out.broken = `after k = ${k}: the counters do not add up: ${JSON.stringify(s)}`;
        return out;
      }
    }
    return out;
  };
}

test('a call made at any depth of the call stack is done or refused, and the client keeps working', async () => {
  const collector = await startCollector();
  const { context, page } = await openPage();
  try {
    await page.evaluate(installSweep);
    const results = await page.evaluate(async (host) => {
      const t = new window.Tidings({ apiKey: 'phc_guard', host, flushAt: 1000, flushIntervalMs: 60_000, maxQueueEvents: 100_000 });
      await t.ready;
      let nested = { leaf: [1, 'two', { three: 3 }] };
      for (let i = 0; i < 110; i++) nested = { level: i, inner: nested };
      const flat = { plan: 'pro', price: 12.5, tags: ['a', 'b'], nested: { k: 'v' } };
      // `call(null)` does nothing (see sweep).
      const sweeps = [
        ['capture', (uuid) => uuid && t.capture('deep', flat, { uuid })],
        ['capture, 112 levels', (uuid) => uuid && t.capture('deep', nested, { uuid }), { before: () => JSON.stringify(nested) }],
        // The others record no event of their own: their uuid is never used.
        ['flush', (uuid) => uuid && t.flush(10_000)],
        ['stats', (uuid) => uuid && t.stats()],
        ['setOffline', (uuid) => uuid && t.setOffline(false)],
        ['count', (uuid) => uuid && t.count('tenant-1', 'tokens', 1, { model: 'small' })],
        ['identify', (uuid) => uuid && t.identify('user-1', { plan: 'pro' })],
        // A receipt for a uuid nobody captured: unknown, and nothing recorded.
        ['receipt', (uuid) => uuid && t.receipt(uuid)],
      ];
      const out = [];
      for (const [label, call, options] of sweeps) {
        out.push(window.sweep(t, label, call, options));
        if (out.at(-1).broken) return { out };
      }
      const flushed = await t.flush(20_000);
      return { out, flushed, stats: t.stats() };
    }, collector.url);

    for (const r of results.out) {
      assert.equal(r.broken, undefined, `${r.label}: the client broke ${r.broken}`);
      assert.ok(r.firstSuccess !== null, `${r.label}: never succeeded (${JSON.stringify(r.errors)})`);
      assert.ok(r.refused.length > 0, `${r.label}: the sweep started where the call fits: it proves nothing`);
      const errors = Object.entries(r.errors).map(([m, n]) => `${n}× ${m}`).join('; ');
      console.log(`# ${r.label}: ${r.attempts} depths from ${r.from} frames of room, first success at ${r.firstSuccess}; ${errors}`);
    }
    assert.deepEqual(results.flushed, { completed: true, pending: 0 });
    const [flat, nested] = results.out;
    const accepted = [...flat.accepted, ...nested.accepted, ...results.out.flatMap((r) => r.top)];
    const refused = [...flat.refused, ...nested.refused];
    const s = results.stats;
    assert.equal(s.captured, s.delivered + s.droppedTotal + s.pending);
    assert.equal(s.pending, 0);
    // The metering sweep's usage event, if its window has closed.
    const identified = results.out.find((r) => r.label === 'identify').accepted.length; // their own uuids
    assert.ok([0, 1].includes(s.delivered - accepted.length - identified), `every accepted event is delivered (${JSON.stringify(s)})`);
    await exactlyTheAccepted(collector, accepted, refused);
    assert.deepEqual(page.errors, []);
  } finally {
    await context.close();
    await collector.stop();
  }
});

test('an exception injected at each crossing between JavaScript and wasm leaves the client working', async () => {
  const collector = await startCollector();
  const { context, page } = await openPage();
  try {
    const results = await page.evaluate(async (host) => {
      const t = new window.Tidings({ apiKey: 'phc_inject', host, flushIntervalMs: 50, maxQueueEvents: 50, initialBackoffMs: 50 });
      await t.ready;
      const accepted = [];
      const out = {};
      const balanced = (s) => s.captured === s.delivered + s.droppedTotal + s.pending;
      /** Replaces `target[key]` by `fake` while `during()` runs (and its promise settles). */
      const patched = async (target, key, fake, during) => {
        const real = target[key];
        target[key] = fake;
        try {
          return await during();
        } finally {
          target[key] = real;
        }
      };
      const thrower = (what) => function () { throw new RangeError(`injected: ${what}`); };
      const cases = {
        // JavaScript -> wasm: what is handed over.
        toJsonUndefined: () => t.capture('e', { toJSON: () => undefined }),
        toJsonString: () => t.capture('e', { toJSON: () => 'text' }),
        toJsonThrows: () => t.capture('e', { toJSON: thrower('toJSON') }),
        getterThrows: () => t.capture('e', { get boom() { throw new Error('injected: getter'); } }),
        optionGetterThrows: () => t.capture('e', {}, { get uuid() { throw new Error('injected: option getter'); } }),
        revokedProxy: () => { const p = Proxy.revocable({}, {}); p.revoke(); return t.capture('e', p.proxy); },
        tagsToJsonUndefined: () => t.count('tenant', 'm', 1, { toJSON: () => undefined }),
        copyIntoWasmFails: () => patched(TextEncoder.prototype, 'encodeInto', thrower('encodeInto (out of memory)'),
          () => t.capture('e', { text: 'non-ASCII: é' })),
        // wasm -> JavaScript: what the module calls.
        fetchThrows: () => patched(window, 'fetch', thrower('fetch'), async () => {
          const id = t.capture('e', { during: 'fetch throws' });
          await t.flush(200);
          return id;
        }),
        setTimeoutThrows: () => patched(window, 'setTimeout', thrower('setTimeout'), () => t.capture('e', { during: 'setTimeout throws' })),
        clearTimeoutThrows: () => patched(window, 'clearTimeout', thrower('clearTimeout'), () => { t.capture('e', {}); return t.flush(100); }),
        dateNowThrows: () => patched(Date, 'now', thrower('Date.now'), () => t.stats()),
        performanceNowThrows: () => patched(performance, 'now', thrower('performance.now'), () => t.capture('e', { during: 'performance.now throws' })),
        consoleWarnThrows: () => patched(console, 'warn', thrower('console.warn'), async () => {
          t.setOffline(true);
          for (let i = 0; i < 60; i++) t.capture('overflow', { i }); // queue_full: the core warns
          t.setOffline(false);
          return t.flush(1000);
        }),
        queueMicrotaskThrows: () => patched(window, 'queueMicrotask', thrower('queueMicrotask'), () => t.capture('e', { during: 'queueMicrotask throws' })),
        indexedDbThrows: () => patched(IDBDatabase.prototype, 'transaction', thrower('IndexedDB'), async () => {
          const id = t.capture('e', { during: 'IndexedDB throws' });
          await new Promise((r) => setTimeout(r, 1200)); // the store's write
          return id;
        }),
      };
      for (const [name, call] of Object.entries(cases)) {
        let result;
        try {
          result = await call();
          out[name] = { returned: typeof result === 'string' ? 'a uuid' : String(JSON.stringify(result)) };
          if (typeof result === 'string') accepted.push(result);
        } catch (e) {
          out[name] = { threw: `${e?.name}: ${e?.message}`.slice(0, 160) };
        }
        try {
          const next = t.capture('after', { after: name });
          accepted.push(next);
          out[name].next = typeof next === 'string' ? 'accepted' : String(next);
          out[name].balanced = balanced(t.stats());
        } catch (e) {
          out[name].next = `threw ${e?.message}`;
        }
        await new Promise((r) => setTimeout(r, 0)); // a later task works too
        try {
          accepted.push(t.capture('later', { after: name }));
        } catch (e) {
          out[name].later = `threw ${e?.message}`;
        }
      }
      try {
        const flushed = await t.flush(15_000);
        return { out, accepted, flushed, stats: t.stats() };
      } catch (e) {
        return { out, accepted, flushed: String(e) };
      }
    }, collector.url);

    const failed = Object.entries(results.out).filter(([, r]) => r.next !== 'accepted' || r.later || r.balanced !== true);
    assert.deepEqual(failed, [], 'after each injected exception the next call works and the counters add up');
    for (const [name, r] of Object.entries(results.out)) console.log(`# ${name}: ${r.threw ? `threw ${r.threw}` : `returned ${r.returned}`}`);
    const o = results.out;
    assert.match(o.toJsonUndefined.threw, /^TypeError: tidings: properties of "e" must serialize to a JSON object, got nothing/);
    assert.match(o.toJsonString.threw, /^TypeError: .*must serialize to a JSON object, got the string/);
    assert.match(o.toJsonThrows.threw, /^TypeError: .*cannot be serialized to JSON \(injected: toJSON\)/);
    assert.match(o.getterThrows.threw, /^TypeError: .*cannot be serialized to JSON \(injected: getter\)/);
    assert.match(o.optionGetterThrows.threw, /injected: option getter/);
    assert.match(o.tagsToJsonUndefined.threw, /^TypeError: .*tags of count\(\) must serialize to a JSON object/);
    assert.match(o.copyIntoWasmFails.threw, /injected: encodeInto/);
    assert.deepEqual(results.flushed, { completed: true, pending: 0 });
    const s = results.stats;
    assert.equal(s.captured, s.delivered + s.droppedTotal + s.pending);
    await exactlyTheAccepted(collector, results.accepted.filter((u) => typeof u === 'string'), []);
    assert.deepEqual(page.errors, []);
  } finally {
    await context.close();
    await collector.stop();
  }
});
