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
 * `n` capture calls in chunks of `chunk`, one macrotask each (a page doing
 * a lot of work, not one frozen loop): every call timed on its own.
 */
async function burst({ tag, n, chunk }) {
  const now = () => performance.now();
  const calls = new Float64Array(n);
  const capture = client.capture;
  let syncMs = 0;
  let chunks = 0;
  const mark0 = performance.mark('bench-burst-start');
  const t0 = now();
  for (let start = 0; start < n; start += chunk) {
    const end = Math.min(n, start + chunk);
    const s = now();
    for (let i = start; i < end; i++) {
      const p = props(tag, 'burst', i);
      const a = now();
      capture('bench event', p);
      calls[i] = now() - a;
    }
    syncMs += now() - s;
    chunks += 1;
    await yieldTask();
  }
  const t1 = now();
  performance.mark('bench-burst-end');
  const callUs = Array.from(calls, (v) => v * 1000);
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
