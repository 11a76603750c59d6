// The drain loop of the Workers build (see src/workers.rs): no timer is
// armed by capture; each request hands `drain(budgetMs)` to ctx.waitUntil.
// The loop runs in the calling request's context, so every fetch it starts
// belongs to that request (workerd refuses I/O on behalf of another one).

import { retryAfterSeconds } from './common.js';
import { checkMillis } from './options.js';

/** Performs one transmit and reports its outcome to the core. Never rejects. */
async function send(core, t) {
  let response;
  try {
    response = await fetch(t.url, {
      method: t.method,
      headers: t.headers,
      body: t.body,
      signal: AbortSignal.timeout(t.timeoutMs),
    });
  } catch (e) {
    const timedOut = e != null && (e.name === 'TimeoutError' || e.name === 'AbortError');
    core.answerError(t.token, timedOut, String((e && e.message) || e));
    return;
  }
  let body;
  try {
    // Always read the body: it frees the connection, and v1 needs it.
    body = new Uint8Array(await response.arrayBuffer());
  } catch {
    body = undefined;
  }
  core.answer(t.token, response.status, retryAfterSeconds(response.headers.get('retry-after')), body);
}

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
export function drain(core, budgetMs) {
  const budget = checkMillis('drain(budgetMs)', budgetMs, 30000,
    ' (Workers cancel waitUntil work 30 s after the response)'); // throws synchronously
  const handle = core.drainStart(budget);
  return run(core, handle, Date.now());
}

async function run(core, handle, started) {
  const mine = new Set();
  for (;;) {
    const step = core.drainStep(handle, mine.size);
    for (const t of step.transmits) {
      const p = send(core, t).catch(() => {}).finally(() => mine.delete(p));
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
