// The in-page half of the browser benchmark. The runner (run.mjs) loads one
// fresh page per SDK per run, waits for `window.benchReady`, then calls
// `bench.warmup()` and `bench.burst()` through playwright.
//
// Timing single calls: performance.now() is clamped to 5 µs here (the page
// is cross-origin isolated; it would be 100 µs otherwise). Chromium's clamp
// rounds up or down at a pseudo-random point of each interval, so sums and
// means of many calls are unbiased while single calls read 0, 5, 10 µs...
// (A counter clock in a spinning Web Worker was tried: on 2 shared cores the
// worker is descheduled too often to be a clock.)

import { setup } from './sdks.js';

const channel = new MessageChannel();
const waiting = [];
channel.port1.onmessage = () => waiting.shift()?.();
/** Yields to the event loop (one macrotask), so the SDK's timers and network callbacks can run. */
const yieldTask = () => new Promise((r) => { waiting.push(r); channel.port2.postMessage(0); });

/** The same properties for every SDK: small and typical. */
function props(tag, phase, i) {
  return {
    bench_run: tag, bench_phase: phase, i,
    path: '/pricing', plan: 'pro', value: i * 0.5, referrer: 'https://example.com/blog',
  };
}

let client = null;

/** Loads the SDK (its bundle and its init); resolves what it reports about itself. */
async function prepare(config) {
  const started = performance.now();
  client = await setup(config.sdk, config);
  return {
    sdk: config.sdk,
    setupMs: performance.now() - started,
    crossOriginIsolated: globalThis.crossOriginIsolated,
    userAgent: navigator.userAgent,
    info: client.info ?? null,
  };
}

/** `n` calls; resolves the ms they took (the runner sizes slow SDKs' bursts from it). */
function warmup({ tag, n }) {
  const t0 = performance.now();
  for (let i = 0; i < n; i++) client.capture('bench warmup', props(tag, 'warmup', i));
  return performance.now() - t0;
}

/**
 * Up to `n` capture calls in tasks of `chunk` calls (one macrotask each: a
 * page doing a lot of work, not one frozen loop), every call timed on its
 * own. An SDK so slow that the burst passes `budgetMs` stops at the end of
 * a task once it has made `minCalls` calls: the result says how many.
 */
async function burst({ tag, n, chunk, budgetMs, minCalls }) {
  const now = () => performance.now();
  const calls = new Float64Array(n);
  const capture = client.capture;
  let syncMs = 0;
  let chunks = 0;
  const mark0 = performance.mark('bench-burst-start');
  const t0 = now();
  let done = 0;
  while (done < n) {
    const end = Math.min(n, done + chunk);
    const s = now();
    for (let i = done; i < end; i++) {
      const p = props(tag, 'burst', i);
      const a = now();
      capture('bench event', p);
      const d = now() - a;
      calls[i] = d;
      // A call over 0.5 ms leaves a user-timing measure in the trace (to
      // see what the main thread did meanwhile: GC, compilation, ...).
      if (d > 0.5) performance.measure('bench-slow-call', { start: a, end: a + d });
    }
    syncMs += now() - s;
    chunks += 1;
    done = end;
    await yieldTask();
    if (done >= minCalls && now() - t0 > budgetMs) break;
  }
  n = done;
  const t1 = now();
  performance.mark('bench-burst-end');
  const callUs = Array.from(calls.subarray(0, n), (v) => v * 1000);
  // The slowest calls and where they fell (which call of its task).
  const slowest = callUs.map((us, i) => ({ i, us, inChunk: i % chunk }))
    .sort((a, b) => b.us - a.us).slice(0, 20);
  return {
    n, chunks, slowest,
    burstMs: t1 - t0,
    syncMs,
    wallStart: performance.timeOrigin + mark0.startTime,
    wallEnd: performance.timeOrigin + t1,
    callUs,
    stats: client.stats?.() ?? null,
  };
}

function stats() {
  return client?.stats?.() ?? null;
}

window.bench = { prepare, warmup, burst, stats };
window.benchLoadedResolve?.();
