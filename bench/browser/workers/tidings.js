// The measured Worker: the baseline's answer, plus 3 events captured with
// Tidings and delivered after the response in ctx.waitUntil (one client per
// isolate, timer-free `runtime: 'workers'`). `?await` delivers before
// answering instead (to see what delivery costs in wall time).

import { Tidings } from 'tidings-browser';

let tidings = null;

export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    tidings ??= new Tidings({ runtime: 'workers', host: env.SINK, apiKey: 'phc_bench_workers' });
    if (url.pathname === '/stats') return Response.json(tidings.stats());
    const i = Number(url.searchParams.get('i'));
    const tag = url.searchParams.get('tag');
    for (let k = 0; k < 3; k++) {
      tidings.capture('worker request', {
        bench_run: tag, bench_phase: 'burst', i: i * 3 + k, path: url.pathname, method: request.method,
      }, { distinctId: 'anonymous' });
    }
    const drain = tidings.drain(Number(env.BUDGET_MS));
    if (url.searchParams.has('await')) await drain;
    else ctx.waitUntil(drain);
    return new Response('hello\n');
  },
};
