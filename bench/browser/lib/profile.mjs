// Where Tidings' main-thread time goes: the DevTools protocol's sampling
// profiler (through playwright) over one burst and its delivery, with the
// package bundled unminified so JavaScript frames keep their names. Self
// time is summed per function and per kind (wasm, wasm-bindgen glue, the
// wrapper, the harness, fetch/GC/other native work).

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { userAgentOf } from './browser.mjs';
import { wallNow } from './sink.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function kindOf(frame) {
  const { functionName: name, url } = frame;
  if (name === '(idle)') return 'idle';
  if (name === '(garbage collector)') return 'garbage collector';
  if (name === '(program)') return 'native (program: fetch, IPC, timers)';
  if (name === '(root)') return 'idle';
  if (url.endsWith('.wasm') || /^\$?wasm-function|^\$/.test(name) || url.startsWith('wasm://')) return 'wasm (the core)';
  if (url.includes('/sdk/tidings-dev/')) return 'JS: wasm-bindgen glue and wrapper';
  if (url.includes('/bench/')) return 'JS: the harness';
  if (!url) return `native: ${name}`;
  return 'JS: other';
}

/** Profiles one Tidings page; resolves a summary (and writes the .cpuprofile beside the traces). */
export async function profileTidings(browser, sink, o, tmp) {
  const tag = `profile-${Math.random().toString(36).slice(2, 8)}`;
  const run = sink.begin(tag);
  const context = await browser.newContext({ userAgent: userAgentOf(browser) });
  const page = await context.newPage();
  try {
    await page.goto(`${sink.url}/page`);
    await page.evaluate(async (config) => {
      await window.benchLoaded;
      return window.bench.prepare(config);
    }, { sdk: 'tidings', dev: true });
    await page.evaluate((x) => window.bench.warmup(x), { tag, n: o.warmup });
    await sleep(1500);
    const cdp = await context.newCDPSession(page);
    await cdp.send('Profiler.enable');
    await cdp.send('Profiler.setSamplingInterval', { interval: 50 });
    await cdp.send('Profiler.start');
    const burst = await page.evaluate((x) => window.bench.burst(x), { tag, n: o.events, chunk: o.chunk });
    const deadline = wallNow() + 10_000;
    while (run.burst.indices.size < o.events && wallNow() < deadline) await sleep(20);
    await sleep(300);
    const { profile } = await cdp.send('Profiler.stop');
    const file = join(o.keepTraces ?? tmp, `${tag}.cpuprofile`);
    writeFileSync(file, JSON.stringify(profile));

    const byId = new Map(profile.nodes.map((n) => [n.id, n]));
    const self = new Map();
    for (let i = 0; i < profile.samples.length; i++) {
      const node = byId.get(profile.samples[i]);
      const dt = profile.timeDeltas[i + 1] ?? 0;
      self.set(node.id, (self.get(node.id) ?? 0) + dt);
    }
    const byKind = new Map();
    const byFunction = new Map();
    let busy = 0;
    for (const [id, us] of self) {
      const f = byId.get(id).callFrame;
      const kind = kindOf(f);
      if (kind === 'idle') continue;
      busy += us;
      byKind.set(kind, (byKind.get(kind) ?? 0) + us);
      const key = `${f.functionName || '(anonymous)'} ${f.url ? f.url.replace(/^.*\//, '') : ''}${f.url ? `:${f.lineNumber + 1}` : ''}`;
      byFunction.set(key, (byFunction.get(key) ?? 0) + us);
    }
    const n = o.events;
    const top = (m, k) => [...m].sort((a, b) => b[1] - a[1]).slice(0, k)
      .map(([name, us]) => ({ name, usPerEvent: us / n, share: us / busy }));
    const summary = {
      events: n,
      delivered: run.burst.indices.size,
      requests: run.ourRequests,
      samplingIntervalUs: 50,
      busyUsPerEvent: busy / n,
      callUsMean: burst.callUs.reduce((a, v) => a + v, 0) / n,
      byKind: top(byKind, 10),
      topFunctions: top(byFunction, 15),
      file,
    };
    console.log(`   profiled ${n} events (${summary.requests} requests): ${summary.busyUsPerEvent.toFixed(1)} µs busy per event (sampled; profiler overhead included)`);
    for (const k of summary.byKind) console.log(`     ${(k.share * 100).toFixed(1).padStart(5)} %  ${k.usPerEvent.toFixed(2).padStart(6)} µs/event  ${k.name}`);
    for (const k of summary.topFunctions.slice(0, 10)) console.log(`     ${(k.share * 100).toFixed(1).padStart(5)} %  ${k.usPerEvent.toFixed(2).padStart(6)} µs/event  ${k.name}`);
    return summary;
  } finally {
    await context.close().catch(() => {});
    sink.end();
  }
}
