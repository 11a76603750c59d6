#!/usr/bin/env node
// The browser and Workers benchmarks (issue 10): Tidings against the SDKs a
// web developer would pick instead, in one run. Called by bench/run-browser.
//
//   node run.mjs [--quick] [--runs N] [--events N] [--warmup N] [--only LIST]
//                [--tidings-pkg DIR] [--keep-traces DIR]
//                [--no-profile] [--no-write] [--verbose] [--report-only]
//
// Writes bench/browser-results.json and the "Browser and Workers" section of
// bench/RESULTS.md (the native part above it is bench/run's and is kept).

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

import { benchDir, packageVersion, peerFiles, prepareAssets } from './lib/assets.mjs';
import { launch, runPage } from './lib/browser.mjs';
import { measureBytes } from './lib/bytes.mjs';
import { profileTidings } from './lib/profile.mjs';
import { report, reportAgain } from './lib/report.mjs';
import { startSink } from './lib/sink.mjs';
import { runWorkers } from './lib/workers.mjs';

const repoDir = resolve(benchDir, '../..');

function parseArgs(argv) {
  const o = {
    runs: 3, events: 10_000, warmup: 200, chunk: 100,
    only: null, tidingsPkg: join(repoDir, 'platforms/browser'), baselinePkg: null, keepTraces: null,
    profile: true, write: true, quick: false,
    deliveryTimeoutMs: 20_000, stallMs: 3_000, settleMs: 300, burstBudgetMs: 8_000,
    workerRequests: 2000, workerConcurrency: 16,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    const int = () => {
      const v = Number(next());
      if (!Number.isInteger(v) || v <= 0) throw new Error(`${a} needs a positive integer`);
      return v;
    };
    switch (a) {
      case '--quick': o.quick = true; break;
      case '--runs': o.runs = int(); break;
      case '--events': o.events = int(); break;
      case '--warmup': o.warmup = int(); break;
      case '--chunk': o.chunk = int(); break;
      case '--only': o.only = next().split(',').map((s) => s.trim()).filter(Boolean); break;
      case '--tidings-pkg': o.tidingsPkg = resolve(next()); break;
      case '--baseline-pkg': o.baselinePkg = resolve(next()); break;
      case '--keep-traces': o.keepTraces = resolve(next()); break;
      case '--no-profile': o.profile = false; break;
      case '--no-write': o.write = false; break;
      case '--verbose': o.verbose = true; break;
      case '--report-only': o.reportOnly = true; break;
      case '--delivery-timeout': o.deliveryTimeoutMs = int() * 1000; break;
      case '--stall': o.stallMs = int() * 1000; break;
      case '--burst-budget': o.burstBudgetMs = int() * 1000; break;
      case '--worker-requests': o.workerRequests = int(); break;
      case '-h': case '--help':
        console.log(`usage: bench/run-browser [--quick] [--runs N] [--events N] [--warmup N] [--chunk N]
  [--only none,tidings,tidings-memory,tidings-receipts,tidings-memory-receipts,posthog,posthog-ratelimit,posthog-memory,segment,amplitude,rudderstack,profile,bytes,workers]
  [--tidings-pkg DIR] [--baseline-pkg DIR] [--keep-traces DIR] [--no-profile] [--no-write] [--verbose] [--report-only]
  [--delivery-timeout S] [--stall S] [--burst-budget S] [--worker-requests N]`);
        process.exit(0);
        break;
      default: throw new Error(`unknown argument ${a} (--help lists them)`);
    }
  }
  if (o.quick) {
    o.runs = Math.min(o.runs, 1);
    o.events = Math.min(o.events, 2000);
    o.deliveryTimeoutMs = 15_000;
    o.stallMs = 3000;
    o.burstBudgetMs = 4000;
    o.workerRequests = 300;
  }
  return o;
}

/**
 * The SDK configurations, in the order they run within each round. With
 * `--baseline-pkg`, that build of Tidings runs too, in the same rounds
 * (`tidings-baseline`, `tidings-memory-baseline`): a before/after comparison
 * on a shared machine.
 */
function sdkList(o) {
  const raised = { rate_limiting: { events_per_second: 1e9, events_burst_limit: 1e9 } };
  return [
    { id: 'none', kind: 'none', label: 'page with no SDK (events pushed to an array, sent as one JSON fetch 100 ms after the first)' },
    { id: 'tidings', kind: 'tidings', label: 'Tidings, defaults (persistence in IndexedDB where the build has it)' },
    { id: 'tidings-memory', kind: 'tidings', label: 'Tidings, in-memory persistence', options: { persistence: 'memory' } },
    ...(o.baselinePkg ? [
      { id: 'tidings-baseline', kind: 'tidings', label: `Tidings from ${o.baselinePkg}, defaults`, baseline: true },
      {
        id: 'tidings-memory-baseline', kind: 'tidings', label: `Tidings from ${o.baselinePkg}, in-memory persistence`,
        options: { persistence: 'memory' }, baseline: true,
      },
    ] : []),
    // Per-event receipts (issue 18): the same, with `receipt(uuid)` asked for every capture.
    { id: 'tidings-receipts', kind: 'tidings', label: 'Tidings, defaults, a receipt asked for every capture', receipts: true },
    {
      id: 'tidings-memory-receipts', kind: 'tidings', label: 'Tidings, in-memory persistence, a receipt asked for every capture',
      options: { persistence: 'memory' }, receipts: true,
    },
    { id: 'posthog', kind: 'posthog', label: 'posthog-js, defaults' },
    { id: 'posthog-ratelimit', kind: 'posthog', label: 'posthog-js, client rate limit raised', options: raised },
    {
      id: 'posthog-memory', kind: 'posthog', label: 'posthog-js, in-memory persistence (rate limit raised)',
      options: { ...raised, persistence: 'memory' },
    },
    { id: 'segment', kind: 'segment', label: 'Segment analytics-next, defaults' },
    { id: 'amplitude', kind: 'amplitude', label: 'Amplitude analytics-browser, defaults' },
    { id: 'rudderstack', kind: 'rudderstack', label: 'RudderStack analytics-js v3, defaults' },
  ];
}

function versions(chromiumUserAgent) {
  const v = (name) => { try { return packageVersion(name); } catch { return null; } };
  return {
    chromium: chromiumUserAgent?.match(/Chrome\/([\d.]+)/)?.[1] ?? null,
    node: process.versions.node,
    'posthog-js': v('posthog-js'),
    '@segment/analytics-next': v('@segment/analytics-next'),
    '@amplitude/analytics-browser': v('@amplitude/analytics-browser'),
    '@rudderstack/analytics-js': v('@rudderstack/analytics-js'),
    'playwright-core': v('playwright-core'),
    esbuild: v('esbuild'),
    wrangler: v('wrangler'),
    miniflare: v('miniflare'),
    workerd: v('workerd'),
  };
}

/** Which Tidings was measured: the commit, whether its sources had uncommitted changes, the .wasm's hash. */
function tidingsBuild(o, assets) {
  const git = (...args) => {
    try { return execFileSync('git', ['-C', repoDir, ...args], { encoding: 'utf8' }).trim(); } catch { return null; }
  };
  const dirty = git('status', '--porcelain', '--', 'src', 'platforms/browser/src', 'platforms/browser/js', 'Cargo.toml', 'platforms/browser/Cargo.toml');
  return {
    package: o.tidingsPkg,
    commit: git('rev-parse', '--short=12', 'HEAD'),
    uncommittedSources: dirty === null ? null : dirty.length > 0,
    wasm: [...new Map(assets.tidings.wasm.map((f) => [f.replace(/^.*\//, ''), f])).values()].map((f) => ({
      file: f.replace(/^.*\//, ''),
      bytes: readFileSync(f).length,
      sha256: createHash('sha256').update(readFileSync(f)).digest('hex').slice(0, 16),
    })),
  };
}

const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>tidings browser bench</title>
<script>window.benchLoaded = new Promise((r) => { window.benchLoadedResolve = r; });</script>
<script type="module" src="/bench/harness.js"></script>
</head><body><h1>bench</h1></body></html>`;

/** Runs one part; a failure is reported in the results instead of ending the run. */
async function section(name, f) {
  try {
    return await f();
  } catch (e) {
    console.log(`   ${name} FAILED: ${e.stack || e}`);
    return { failed: String(e.message || e).split('\n')[0] };
  }
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  if (o.reportOnly) {
    reportAgain();
    return;
  }
  const wants = (id) => !o.only || o.only.includes(id);
  const started = Date.now();
  const tmp = mkdtempSync(join(tmpdir(), 'tidings-bench-browser-'));
  if (o.keepTraces) mkdirSync(o.keepTraces, { recursive: true });
  const results = {
    date: new Date().toISOString(), options: { ...o, only: o.only }, machine: null,
    pages: [], bytes: null, workers: null, profile: null,
  };
  let sink = null;
  let browser = null;
  try {
    console.log(`== assets (Tidings from ${o.tidingsPkg})`);
    const assets = await prepareAssets(tmp, o.tidingsPkg, o.baselinePkg);
    const peers = peerFiles();
    results.tidings = tidingsBuild(o, assets);
    results.loadBefore = (await import('node:os')).loadavg();
    sink = await startSink({
      pages: { '/page': () => PAGE },
      routes: {
        '/bench/': join(benchDir, 'page'),
        '/sdk/tidings/': assets.tidings.dir,
        ...(assets.tidingsBaseline ? { '/sdk/tidings-baseline/': assets.tidingsBaseline.dir } : {}),
        '/sdk/tidings-dev/': assets.tidingsDev.dir,
        '/sdk/posthog/': peers.posthog.dir,
        '/sdk/segment-cdn/analytics-next/bundles/': peers.segment.dir,
        '/sdk/segment/': peers.segment.dir,
        '/sdk/amplitude/': peers.amplitude.dir,
        '/sdk/rudderstack/': assets.rudderstack.dir,
      },
    });
    console.log(`== sink ${sink.url}`);

    const sdks = sdkList(o).filter((s) => wants(s.id) || (s.baseline && wants(s.id.replace('-baseline', ''))));
    if (sdks.length > 0) {
      browser = await launch();
      for (let r = 0; r < o.runs; r++) {
        for (const sdk of sdks) {
          const t0 = Date.now();
          try {
            const page = await runPage(browser, sink, sdk, o, r);
            page.label = sdk.label;
            results.pages.push(page);
            console.log(`   ${sdk.id} run ${r + 1}: ${page.callUsMean.toFixed(2)} µs/call (p99 ${page.callUsP99.toFixed(2)}), `
              + `${page.mainThreadCpuUsPerEvent.toFixed(1)} µs main-thread CPU/event (${page.mainThreadUsPerEvent.toFixed(1)} wall), delivered ${page.delivered}/${page.n}`
              + `${page.complete ? ` in ${page.deliverySeconds.toFixed(2)} s` : ' (incomplete)'}, `
              + `longest task ${page.longestTaskBurstMs.toFixed(1)} / ${page.longestTaskDeliveryMs.toFixed(1)} ms `
              + `[${((Date.now() - t0) / 1000).toFixed(0)} s]`);
            if (o.verbose) console.log(`      first call of a task p50/p90 ${page.firstInTaskUsP50.toFixed(0)}/${page.firstInTaskUsP90.toFixed(0)} µs, later calls p99 ${page.laterInTaskUsP99.toFixed(0)} µs, calls over 0.5 ms: ${page.callsOver500Us}; slowest calls (index, index in its task, µs): ${page.slowestCalls.map((c) => `${c.i}/${c.inChunk}:${c.us.toFixed(0)}`).join(' ')}; requests ${page.requests}; sdk stats ${JSON.stringify(page.sdkStats)}`);
            if (page.pageErrors.length) console.log(`      page errors: ${page.pageErrors.join(' | ').slice(0, 300)}`);
          } catch (e) {
            console.log(`   ${sdk.id} run ${r + 1}: FAILED: ${e.stack || e}`);
            results.pages.push({ sdk: sdk.id, label: sdk.label, run: r, failed: String(e.message || e) });
          }
        }
      }
    }
    if (o.profile && wants('profile')) {
      browser ??= await launch();
      console.log('== CPU profile of Tidings (CDP Profiler)');
      results.profile = await section('profile', () => profileTidings(browser, sink, o, tmp));
    }
    if (browser) {
      results.machine = { userAgent: results.pages.find((p) => p.userAgent)?.userAgent ?? null };
      await browser.close();
      browser = null;
    }
    if (wants('bytes')) {
      console.log('== bytes shipped');
      results.bytes = await section('bytes', () => measureBytes(assets, peers));
    }
    if (wants('workers')) {
      console.log('== Workers (workerd through Miniflare)');
      results.workers = await section('workers', () => runWorkers(sink, o, tmp));
    }
    results.versions = versions(results.machine?.userAgent);
    results.seconds = (Date.now() - started) / 1000;
    results.loadAfter = (await import('node:os')).loadavg();
    report(results, o);
  } finally {
    await browser?.close().catch(() => {});
    await sink?.stop();
    rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e.stack || String(e));
  process.exit(1);
});
