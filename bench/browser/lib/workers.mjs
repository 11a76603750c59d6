// Workers: two Worker scripts in real workerd (through Miniflare, from
// wrangler's pinned dependencies): workers/baseline.js answers a trivial
// response; workers/tidings.js gives the same answer and also captures 3
// events with Tidings and delivers them to the sink in ctx.waitUntil.
//
// workerd exposes no CPU time per request locally (its Date.now() moves
// only with I/O, and Miniflare reports none), so CPU is read from the
// kernel: utime + stime of the workerd process (/proc/PID/stat) before and
// after N requests, delivery included, divided by N. That is all of
// workerd's CPU (HTTP parsing, the isolate, the outbound requests), so the
// difference between the two scripts is what Tidings adds.

import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';

import { Log, LogLevel, Miniflare } from 'miniflare';

import { benchDir, bundleTidings } from './assets.mjs';
import { wallNow } from './sink.mjs';

const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Direct children of this process named workerd. */
function workerdChildren() {
  const out = new Set();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === process.pid && comm.startsWith('workerd')) out.add(Number(name));
    } catch { /* gone */ }
  }
  return out;
}

/** CPU seconds (user + system, all threads) of a process. */
function cpuSeconds(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

async function startWorker(scriptPath, bindings) {
  const before = workerdChildren();
  // The modules are listed (the script and the .wasm beside it) rather than
  // found by Miniflare's import walker, which refuses the Node-only dynamic
  // import in Tidings' loader (never reached in workerd, where the module is
  // loaded synchronously).
  const dir = dirname(scriptPath);
  const modules = [{ type: 'ESModule', path: scriptPath, contents: readFileSync(scriptPath, 'utf8') }];
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.wasm'))) {
    modules.push({ type: 'CompiledWasm', path: join(dir, f), contents: readFileSync(join(dir, f)) });
  }
  const mf = new Miniflare({
    modules,
    modulesRoot: dir,
    compatibilityDate: '2025-01-01',
    bindings,
    log: new Log(LogLevel.ERROR),
  });
  const url = await mf.ready;
  const pids = [...workerdChildren()].filter((p) => !before.has(p));
  if (pids.length !== 1) throw new Error(`expected one new workerd process, found ${pids.length}`);
  return { mf, url: String(url).replace(/\/$/, ''), pid: pids[0] };
}

async function get(url) {
  const res = await fetch(url);
  await res.arrayBuffer();
  if (res.status !== 200) throw new Error(`${url} answered ${res.status}`);
}

/** n requests, `concurrency` at a time; resolves { seconds, latenciesMs }. */
async function requests(base, tag, n, concurrency, extra = '') {
  const latencies = new Float64Array(n);
  let next = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    for (;;) {
      const i = next++;
      if (i >= n) return;
      const s = performance.now();
      await get(`${base}/?i=${i}&tag=${tag}${extra}`);
      latencies[i] = performance.now() - s;
    }
  }));
  return { seconds: (performance.now() - t0) / 1000, latenciesMs: Array.from(latencies).sort((a, b) => a - b) };
}

const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];

/** One measured phase against one Worker. */
async function phase(sink, worker, { name, n, concurrency, withEvents, extra = '' }) {
  const tag = `${name}-${Math.random().toString(36).slice(2, 8)}`;
  const run = sink.begin(tag);
  try {
    const cpu0 = cpuSeconds(worker.pid);
    const r = await requests(worker.url, tag, n, concurrency, extra);
    const endWall = wallNow();
    let delivered = null;
    let deliverySeconds = null;
    if (withEvents) {
      const deadline = Date.now() + 30_000;
      while (run.burst.indices.size < n * 3 && Date.now() < deadline) await sleep(10);
      delivered = run.burst.indices.size;
      deliverySeconds = delivered === n * 3 ? Math.max(0, (run.burst.lastNewAt - endWall) / 1000) : null;
    }
    await sleep(100);
    const cpu = cpuSeconds(worker.pid) - cpu0;
    return {
      name, n, concurrency,
      requestsPerSecond: n / r.seconds,
      latencyMsP50: pct(r.latenciesMs, 0.5),
      latencyMsP99: pct(r.latenciesMs, 0.99),
      cpuMsPerRequest: (cpu * 1000) / n,
      cpuSeconds: cpu,
      events: withEvents ? n * 3 : 0,
      delivered,
      duplicates: withEvents ? run.burst.duplicates : null,
      deliverySeconds,
      posts: run.ourRequests,
    };
  } finally {
    sink.end();
  }
}

const median = (xs) => {
  const s = xs.filter((x) => x !== null && Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return null;
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

export async function runWorkers(sink, o, tmp) {
  const root = join(tmp, 'workers');
  mkdirSync(join(root, 'baseline'), { recursive: true });
  const baselineScript = join(root, 'baseline', 'worker.mjs');
  copyFileSync(join(benchDir, 'workers/baseline.js'), baselineScript);
  const bundle = await bundleTidings(o.tidingsPkg, join(root, 'tidings'), {
    conditions: ['workerd', 'worker', 'browser'],
    name: 'worker.mjs',
    // The package says "sideEffects": false; up to commit e086c9d esbuild
    // then dropped the workerd entry's top-level loadSync(wasm) and the
    // Worker threw "not loaded" (wrangler resolves through a plugin, which
    // skips that field): bundle as wrangler does.
    ignoreAnnotations: true,
    entry: readFileSync(join(benchDir, 'workers/tidings.js'), 'utf8'),
  });

  const bindings = { SINK: `${sink.url}/tidings`, BUDGET_MS: '5000' };
  let baseline = null;
  let tidings = null;
  try {
    baseline = await startWorker(baselineScript, bindings);
    tidings = await startWorker(bundle.js, bindings);
    const n = o.workerRequests;
    const c = o.workerConcurrency;
    // Warm-up: both isolates loaded and JIT-warm.
    await requests(baseline.url, 'warmup', 100, 4);
    await requests(tidings.url, 'warmup', 100, 4);
    await sleep(500);

    const rounds = [];
    for (let r = 0; r < o.runs; r++) {
      const round = {};
      round.baselineSequential = await phase(sink, baseline, { name: 'baseline-seq', n, concurrency: 1, withEvents: false });
      round.tidingsSequential = await phase(sink, tidings, { name: 'tidings-seq', n, concurrency: 1, withEvents: true });
      round.baselineConcurrent = await phase(sink, baseline, { name: 'baseline-conc', n, concurrency: c, withEvents: false });
      round.tidingsConcurrent = await phase(sink, tidings, { name: 'tidings-conc', n, concurrency: c, withEvents: true });
      round.tidingsAwaited = await phase(sink, tidings, {
        name: 'tidings-await', n: Math.max(50, Math.round(n / 4)), concurrency: 1, withEvents: true, extra: '&await',
      });
      rounds.push(round);
      const f = (p) => `${p.requestsPerSecond.toFixed(0)} req/s, ${p.cpuMsPerRequest.toFixed(3)} ms CPU/req, p50 ${p.latencyMsP50.toFixed(2)} ms`
        + `${p.delivered !== null ? `, delivered ${p.delivered}/${p.events}` : ''}`;
      console.log(`   round ${r + 1}: baseline seq ${f(round.baselineSequential)} | tidings seq ${f(round.tidingsSequential)}`);
      console.log(`            baseline x${c} ${f(round.baselineConcurrent)} | tidings x${c} ${f(round.tidingsConcurrent)}`);
      console.log(`            tidings, delivery awaited: ${f(round.tidingsAwaited)}`);
    }
    const keys = Object.keys(rounds[0]);
    const summary = {};
    for (const k of keys) {
      summary[k] = {};
      for (const field of Object.keys(rounds[0][k])) {
        const vals = rounds.map((r) => r[k][field]);
        summary[k][field] = typeof vals[0] === 'number' ? median(vals) : vals[0];
      }
      // Drops and duplicates: the worst round, not the median.
      if (rounds[0][k].delivered !== null) {
        summary[k].delivered = Math.min(...rounds.map((r) => r[k].delivered));
        summary[k].duplicates = Math.max(...rounds.map((r) => r[k].duplicates));
      }
    }
    return {
      method: 'workerd process CPU (utime+stime from /proc/PID/stat, clock ticks of '
        + `${(1000 / CLK_TCK).toFixed(0)} ms) over N requests, delivery included, divided by N`,
      requests: n, concurrency: c, rounds, summary,
    };
  } finally {
    await baseline?.mf.dispose().catch(() => {});
    await tidings?.mf.dispose().catch(() => {});
  }
}
