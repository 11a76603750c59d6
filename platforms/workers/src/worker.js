// An example Cloudflare Worker (module syntax) using Tidings.
//
// One client per isolate (a global), shared by every request it serves.
// Each request captures its events, returns its response at once, and hands
// `tidings.drain(budget)` to ctx.waitUntil: delivery (with retries and
// Retry-After) runs after the response, timer-free, and whatever cannot be
// delivered within the budget is counted as dropped (`drain_budget`).
//
//   POST /track   {"events": [{"event": "signup", "properties": {...}, "distinctId": "u1"}, ...]}
//                 -> 202 {"accepted": [uuid, ...]}, or 400 naming the bad input
//                 With "receipts": true, the answer waits for each event's fate
//                 (delivered or dropped, with the reason) and carries them:
//                 -> 200 {"accepted": [...], "receipts": [{"status": ...}, ...]}
//   POST /meter   {"tenant", "metric", "value", "tags"?, "kind"?: "count"|"gauge"} -> 202, or 400
//   GET  /stats   -> the client's counters and the last drains' results
//   anything else -> "hello", and one `request` event

import { Tidings } from 'tidings-browser';

let tidings = null;
const drains = { started: 0, finished: 0, last: [] };

function client(env) {
  if (tidings === null) {
    tidings = new Tidings({
      runtime: 'workers',
      host: env.TIDINGS_HOST,
      apiKey: env.TIDINGS_API_KEY ?? 'phc_example',
      // Extra options as JSON (e.g. {"initialBackoffMs": 100}).
      ...(env.TIDINGS_OPTIONS ? JSON.parse(env.TIDINGS_OPTIONS) : {}),
    });
  }
  return tidings;
}

function deliverAfterResponse(t, env, ctx) {
  const budget = Number(env.TIDINGS_BUDGET_MS ?? 5000);
  drains.started += 1;
  ctx.waitUntil(t.drain(budget).then((result) => {
    drains.finished += 1;
    drains.last.push(result);
    if (drains.last.length > 20) drains.last.shift();
  }));
}

export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    const t = client(env);

    if (url.pathname === '/stats') {
      return Response.json({ stats: t.stats(), drains });
    }

    if (url.pathname === '/track' && request.method === 'POST') {
      let body;
      try {
        body = await request.json();
      } catch (e) {
        return Response.json({ error: `the body is not JSON: ${e.message}` }, { status: 400 });
      }
      if (!body || !Array.isArray(body.events)) {
        return Response.json({ error: 'expected {"events": [...]}' }, { status: 400 });
      }
      const accepted = [];
      const errors = [];
      for (const [i, e] of body.events.entries()) {
        try {
          accepted.push(t.capture(e?.event, e?.properties, { distinctId: e?.distinctId }));
        } catch (err) {
          // Bad input gets a clear error; the Worker keeps serving.
          errors.push({ index: i, error: err.message });
        }
      }
      if (accepted.length > 0) deliverAfterResponse(t, env, ctx);
      if (body.receipts === true && errors.length === 0) {
        // Resolved by the drain just handed to waitUntil.
        const receipts = await Promise.all(accepted.map((uuid) => (uuid ? t.receipt(uuid) : { status: 'refused' })));
        return Response.json({ accepted, receipts }, { status: 200 });
      }
      return Response.json({ accepted, errors }, { status: errors.length ? 400 : 202 });
    }

    if (url.pathname === '/meter' && request.method === 'POST') {
      // Usage metering: {"tenant", "metric", "value", "tags"?, "kind"?: "count" | "gauge"}.
      let m;
      try {
        m = await request.json();
        if (m?.kind === 'gauge') t.gauge(m.tenant, m.metric, m.value, m.tags);
        else t.count(m?.tenant, m?.metric, m?.value, m?.tags);
      } catch (err) {
        return Response.json({ error: err.message }, { status: 400 });
      }
      // Each drain closes the metering window, so this request's waitUntil
      // covers the usage it recorded.
      deliverAfterResponse(t, env, ctx);
      return Response.json({ metered: true }, { status: 202 });
    }

    t.capture('request', { method: request.method, path: url.pathname }, { distinctId: 'anonymous' });
    deliverAfterResponse(t, env, ctx);
    return new Response('hello\n');
  },
};
