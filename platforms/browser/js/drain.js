// The drain loop of the Workers build (see src/window_driver.rs): no timer is
// armed by capture; each request hands `drain(budgetMs)` to ctx.waitUntil.
// The loop runs in the calling request's context, so every fetch it starts
// belongs to that request (workerd refuses I/O on behalf of another one).
// Requests go through the same fetch path as the browser build
// (./transport.js).

import { checkMillis } from './options.js';

function sleep(ms) {
  let handle;
  const promise = new Promise((resolve) => { handle = setTimeout(resolve, ms); });
  return { promise, cancel: () => clearTimeout(handle) };
}

/** Per core: the drains waiting for any answer (one drain's answer can end another). */
const waiting = new WeakMap();

function answered(core) {
  const drains = waiting.get(core);
  if (!drains) return;
  waiting.delete(core);
  for (const wake of drains) wake();
}

function anyAnswer(core) {
  let drains = waiting.get(core);
  if (!drains) waiting.set(core, (drains = new Set()));
  let wake;
  const promise = new Promise((resolve) => { wake = resolve; drains.add(resolve); });
  return { promise, cancel: () => drains.delete(wake) };
}

/**
 * Drives `core` (a WindowDriver) through one delivery window: until
 * everything captured before the call is delivered or dropped, or
 * `budgetMs` runs out (the core decides which, and what becomes of what is
 * left). Resolves `{ completed, pending, dropped, elapsedMs }`. A bad
 * budget throws (a RangeError or TypeError); once started it does not
 * reject. `stepped()` runs after every step (receipts; it never throws).
 */
export function drain(core, transport, budgetMs, stepped) {
  const budget = checkMillis('drain(budgetMs)', budgetMs, 30000,
    ' (Workers cancel waitUntil work 30 s after the response)'); // throws synchronously
  const handle = core.drainStart(budget);
  return run(core, transport, handle, Date.now(), stepped);
}

async function run(core, transport, handle, started, stepped) {
  for (;;) {
    let step;
    try {
      step = core.drainStep(handle);
    } catch (e) {
      // Never a rejection for waitUntil: what is pending stays counted.
      console.warn(`tidings: the drain stopped: ${(e && e.message) || e}`);
      return { completed: false, pending: 0, dropped: 0, elapsedMs: Date.now() - started };
    }
    for (const t of step.transmits) {
      transport.send(t.id, t.url, t.method, t.headers, t.body, t.timeoutMs, t.gzipUrl, t.gzipEncoding)
        .catch(() => {})
        .finally(() => answered(core));
    }
    stepped();
    if (step.result) {
      return { ...step.result, elapsedMs: Date.now() - started };
    }
    const timer = sleep(step.waitMs);
    const answer = anyAnswer(core);
    await Promise.race([timer.promise, answer.promise]);
    timer.cancel();
    answer.cancel();
  }
}
