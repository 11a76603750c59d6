// Drives one benchmark page in headless Chromium (Debian's, through
// playwright-core) and measures it: per-call times from the page, delivery
// from the sink, main-thread busy time and long tasks from a Chromium trace
// (every task the renderer's main thread ran, category `toplevel`).

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { chromium } from 'playwright-core';

import { wallNow } from './sink.mjs';

export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const FLAGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  // A page in the background would have its timers throttled: keep it a foreground page.
  '--disable-background-timer-throttling', '--disable-renderer-backgrounding',
  '--disable-backgrounding-occluded-windows',
];
const TRACE_CATEGORIES = process.env.BENCH_TRACE_CATEGORIES ? process.env.BENCH_TRACE_CATEGORIES.split(',') : ['toplevel', 'blink.user_timing', '__metadata'];
const LONG_TASK_MS = 50;

export async function launch() {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS });
}

/** The desktop Chrome user agent of this Chromium version. */
export function userAgentOf(browser) {
  const major = browser.version().split('.')[0];
  return `Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/${major}.0.0.0 Safari/537.36`;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Waits until the sink has `n` distinct events of `bucket`, nothing new has
 * arrived for `stallMs`, or `timeoutMs` passed. Resolves how it ended.
 */
async function waitDelivered(run, bucket, n, { stallMs, timeoutMs, since }) {
  for (;;) {
    const b = run[bucket];
    const now = wallNow();
    if (b.indices.size >= n) return { complete: true, at: b.lastNewAt };
    const last = Math.max(since, b.lastNewAt ?? 0, run.lastPostAt ?? 0);
    if (now - last > stallMs) return { complete: false, stalled: true, at: now };
    if (now - since > timeoutMs) return { complete: false, stalled: false, at: now };
    await sleep(20);
  }
}

/**
 * The renderer main thread's tasks from a trace: the CrRendererMain thread
 * that carries the page's user-timing marks. Returns tasks (µs, trace clock)
 * and the marks.
 */
export function mainThreadTasks(trace) {
  const events = trace.traceEvents ?? trace;
  const names = new Map();
  for (const e of events) {
    if (e.ph === 'M' && e.name === 'thread_name') names.set(`${e.pid}:${e.tid}`, e.args?.name);
  }
  const marks = {};
  let main = null;
  for (const e of events) {
    if (e.cat?.includes('blink.user_timing') && e.name?.startsWith('bench-')) {
      marks[e.name] = e.ts;
      main ??= `${e.pid}:${e.tid}`;
    }
  }
  if (!main) {
    throw new Error('no bench-* user-timing mark in the trace: cannot find the page\'s main thread');
  }
  if (names.get(main) !== 'CrRendererMain') {
    throw new Error(`the marks are on thread ${names.get(main)}, not CrRendererMain`);
  }
  const tasks = [];
  for (const e of events) {
    if (`${e.pid}:${e.tid}` !== main || e.ph !== 'X' || !e.dur) continue;
    if (e.name === 'ThreadControllerImpl::RunTask' || e.name === 'RunTask') tasks.push({ ts: e.ts, dur: e.dur, cpu: e.tdur ?? null });
  }
  tasks.sort((a, b) => a.ts - b.ts);
  // Top-level only: drop tasks nested in another (nested run loops).
  const top = [];
  for (const t of tasks) {
    const prev = top[top.length - 1];
    if (prev && t.ts < prev.ts + prev.dur) {
      if (t.ts + t.dur > prev.ts + prev.dur) prev.dur = t.ts + t.dur - prev.ts;
      continue;
    }
    top.push({ ...t });
  }
  return { tasks: top, marks };
}

/**
 * Within [from, to) (µs, trace clock): busy wall time, busy thread CPU time
 * (the trace's `tdur`: time the thread actually ran, so preemption by other
 * processes on this shared machine is not counted), the longest task, and
 * the tasks over 50 ms by wall clock and by CPU. A task cut by the window
 * counts its CPU in proportion.
 */
export function busyIn(tasks, from, to) {
  let busy = 0;
  let cpu = 0;
  let longest = 0;
  let longestCpu = 0;
  const long = [];
  const longCpu = [];
  for (const t of tasks) {
    const s = Math.max(t.ts, from);
    const e = Math.min(t.ts + t.dur, to);
    if (e <= s) continue;
    busy += e - s;
    const tcpu = t.cpu ?? t.dur;
    cpu += tcpu * ((e - s) / t.dur);
    if (t.ts >= from && t.ts < to) {
      longest = Math.max(longest, t.dur);
      longestCpu = Math.max(longestCpu, tcpu);
      if (t.dur > LONG_TASK_MS * 1000) long.push(t.dur / 1000);
      if (tcpu > LONG_TASK_MS * 1000) longCpu.push(tcpu / 1000);
    }
  }
  return {
    busyUs: busy, cpuUs: cpu, longestMs: longest / 1000, longestCpuMs: longestCpu / 1000,
    longTasks: long, longTasksCpu: longCpu,
  };
}

/**
 * One page: load the SDK, warm up, burst, wait for delivery, measure.
 * `sdk` is { id, kind, options, receipts? }; resolves the page's figures.
 */
export async function runPage(browser, sink, sdk, opts, runIndex) {
  const tag = `${sdk.id}-${runIndex}-${Math.random().toString(36).slice(2, 8)}`;
  const run = sink.begin(tag);
  // A user's Chrome, not "HeadlessChrome" (posthog-js drops events from
  // user agents that look like bots).
  const context = await browser.newContext({ userAgent: userAgentOf(browser) });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  let tracing = false;
  try {
    await page.goto(`${sink.url}/page`);
    const prepared = await page.evaluate(async (config) => {
      await window.benchLoaded;
      return window.bench.prepare(config);
    }, { sdk: sdk.kind, options: sdk.options ?? {}, receipts: sdk.receipts ?? false, baseline: sdk.baseline ?? false });

    // Warm-up: 200 calls, then wait for their delivery (bounded).
    const warmStart = wallNow();
    const warmupMs = await page.evaluate((o) => window.bench.warmup(o), { tag, n: opts.warmup });
    const warm = await waitDelivered(run, 'warmup', opts.warmup, { stallMs: 2000, timeoutMs: 4000, since: warmStart });
    await sleep(200);

    await browser.startTracing(page, { categories: TRACE_CATEGORIES });
    tracing = true;
    const burst = await page.evaluate((o) => window.bench.burst(o), {
      tag, n: opts.events, chunk: opts.chunk, budgetMs: opts.burstBudgetMs, minCalls: Math.min(1000, opts.events),
    });
    const { n } = burst;
    const delivered = await waitDelivered(run, 'burst', n, {
      stallMs: opts.stallMs, timeoutMs: opts.deliveryTimeoutMs, since: burst.wallEnd,
    });
    const windowEndWall = delivered.complete ? Math.max(delivered.at, burst.wallEnd) : delivered.at;
    await sleep(opts.settleMs);
    const stats = await page.evaluate(() => window.bench.stats());
    const traceBuf = await browser.stopTracing();
    tracing = false;
    const trace = JSON.parse(traceBuf.toString('utf8'));
    if (opts.keepTraces) writeFileSync(join(opts.keepTraces, `${tag}.trace.json`), traceBuf);

    const { tasks, marks } = mainThreadTasks(trace);
    const startTs = marks['bench-burst-start'];
    const endTs = marks['bench-burst-end'];
    if (startTs === undefined || endTs === undefined) throw new Error('burst marks missing from the trace');
    const deliveryEndTs = endTs + Math.max(0, windowEndWall - burst.wallEnd) * 1000;
    const during = busyIn(tasks, startTs, endTs);
    const after = busyIn(tasks, endTs, deliveryEndTs + opts.settleMs * 1000);

    const b = run.burst;
    const calls = burst.callUs.slice().sort((x, y) => x - y);
    const pct = (p) => calls[Math.min(calls.length - 1, Math.floor(p * calls.length))];
    const sum = burst.callUs.reduce((a, v) => a + v, 0);
    // The first call of each task against the others (diagnosis of p99).
    const sorted = (xs) => xs.sort((x, y) => x - y);
    const at = (xs, p) => xs[Math.min(xs.length - 1, Math.floor(p * xs.length))];
    const firstInTask = sorted(burst.callUs.filter((_, i) => i % opts.chunk === 0));
    const laterInTask = sorted(burst.callUs.filter((_, i) => i % opts.chunk !== 0));
    return {
      sdk: sdk.id, run: runIndex, tag, n,
      setupMs: prepared.setupMs,
      crossOriginIsolated: prepared.crossOriginIsolated,
      userAgent: prepared.userAgent,
      warmupMs, warmupDelivered: run.warmup.indices.size, warmupComplete: warm.complete,
      callUsMean: sum / n,
      slowestCalls: burst.slowest,
      firstInTaskUsP50: at(firstInTask, 0.5),
      firstInTaskUsP90: at(firstInTask, 0.9),
      laterInTaskUsP99: at(laterInTask, 0.99),
      callsOver500Us: burst.callUs.filter((v) => v > 500).length,
      callUsP50: pct(0.5), callUsP99: pct(0.99), callUsP999: pct(0.999), callUsMax: calls[calls.length - 1],
      loopUsPerEvent: (burst.syncMs * 1000) / n,
      burstMs: burst.burstMs,
      busyBurstUs: during.busyUs,
      busyAfterUs: after.busyUs,
      mainThreadUsPerEvent: (during.busyUs + after.busyUs) / n,
      cpuBurstUs: during.cpuUs,
      cpuAfterUs: after.cpuUs,
      mainThreadCpuUsPerEvent: (during.cpuUs + after.cpuUs) / n,
      longestTaskCpuMs: Math.max(during.longestCpuMs, after.longestCpuMs),
      longTasksCpuBurst: during.longTasksCpu,
      longTasksCpuDelivery: after.longTasksCpu,
      longestTaskBurstMs: during.longestMs,
      longestTaskDeliveryMs: after.longestMs,
      longTasksBurst: during.longTasks,
      longTasksDelivery: after.longTasks,
      delivered: b.indices.size,
      duplicates: b.duplicates,
      uniqueIds: b.ids.size,
      complete: delivered.complete,
      stalled: delivered.stalled ?? false,
      deliverySeconds: delivered.complete ? Math.max(0, (delivered.at - burst.wallEnd) / 1000) : null,
      waitedSeconds: (windowEndWall - burst.wallEnd) / 1000,
      requests: run.ourRequests,
      wireBytesPerEvent: b.received ? run.wireBytes / (b.received + run.warmup.received) : null,
      paths: [...run.paths],
      fetched: run.fetched,
      otherGets: run.otherGets,
      sinkErrors: run.errors.slice(0, 5),
      pageErrors: errors.slice(0, 5),
      sdkStats: stats,
    };
  } finally {
    if (tracing) await browser.stopTracing().catch(() => {});
    await context.close().catch(() => {});
    sink.end();
  }
}
