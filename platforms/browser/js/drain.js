// The drain loop of the Workers build (see src/workers.rs): no timer is
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

/**
 * Drives `core` (a TidingsWorkersCore) until everything captured before
 * the call is delivered or dropped, or `budgetMs` runs out. Resolves
 * `{ completed, pending, dropped, elapsedMs }`. A bad budget throws (a
 * RangeError or TypeError); once started it does not reject.
 */
export function drain(core, transport, budgetMs) {
  const budget = checkMillis('drain(budgetMs)', budgetMs, 30000,
    ' (Workers cancel waitUntil work 30 s after the response)'); // throws synchronously
  const handle = core.drainStart(budget);
  return run(core, transport, handle, Date.now());
}

async function run(core, transport, handle, started) {
  const mine = new Set();
  for (;;) {
    const step = core.drainStep(handle, mine.size);
    for (const t of step.transmits) {
      const p = transport.send(t.token, t.url, t.method, t.headers, t.body, t.timeoutMs)
        .finally(() => mine.delete(p));
      mine.add(p);
    }
    if (step.result) {
      return { ...step.result, elapsedMs: Date.now() - started };
    }
    const timer = sleep(step.waitMs);
    await Promise.race([timer.promise, ...mine]);
    timer.cancel();
  }
}
