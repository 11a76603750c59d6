// The outputs of a run: a table on stdout (each figure, its target, the
// ratio), bench/browser-results.json, and the "Browser and Workers" section
// of bench/RESULTS.md (only that section is replaced; the native part above
// it belongs to bench/run).

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';

import { benchDir } from './assets.mjs';

const RESULTS_MD = join(benchDir, '..', 'RESULTS.md');
const RESULTS_JSON = join(benchDir, '..', 'browser-results.json');
const NOTES = join(benchDir, 'NOTES.md');
const HEADING = '## Browser and Workers';
const TARGET_GZIP = 30 * 1024;

const median = (xs) => {
  const s = xs.filter((x) => x !== null && x !== undefined && Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return null;
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const fmt = (x, d = 1) => (x === null || x === undefined || !Number.isFinite(x) ? '–' : x.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d }));
const int = (x) => (x === null || x === undefined ? '–' : Math.round(x).toLocaleString('en-US'));
const kib = (b) => (b === null || b === undefined ? '–' : (b / 1024).toFixed(1));

/** Per SDK configuration: medians over its page loads (drops: the worst run). */
export function summarize(pages) {
  const ids = [...new Set(pages.map((p) => p.sdk))];
  return ids.map((id) => {
    const all = pages.filter((p) => p.sdk === id);
    const ok = all.filter((p) => !p.failed);
    const m = (f) => median(ok.map(f));
    const complete = ok.length > 0 && ok.every((p) => p.complete);
    const worst = ok.slice().sort((a, b) => a.delivered / a.n - b.delivered / b.n)[0] ?? null;
    const ns = ok.map((p) => p.n);
    return {
      id,
      label: all[0].label,
      runs: ok.length,
      failed: all.filter((p) => p.failed).map((p) => p.failed),
      n: worst?.n ?? null,
      nRange: ns.length ? [Math.min(...ns), Math.max(...ns)] : null,
      callUsMean: m((p) => p.callUsMean),
      callUsP50: m((p) => p.callUsP50),
      callUsP99: m((p) => p.callUsP99),
      callUsP99Worst: Math.max(...ok.map((p) => p.callUsP99)),
      callUsMax: Math.max(...ok.map((p) => p.callUsMax)),
      mainThreadUsPerEvent: m((p) => p.mainThreadUsPerEvent),
      mainThreadCpuUsPerEvent: m((p) => p.mainThreadCpuUsPerEvent ?? null),
      burstCpuUsPerEvent: m((p) => (p.cpuBurstUs ?? NaN) / p.n),
      laterCpuUsPerEvent: m((p) => (p.cpuAfterUs ?? NaN) / p.n),
      longestTaskCpuMs: Math.max(0, ...ok.map((p) => p.longestTaskCpuMs ?? 0)),
      longTasksCpu: ok.reduce((a, p) => a + (p.longTasksCpuBurst?.length ?? 0) + (p.longTasksCpuDelivery?.length ?? 0), 0),
      hasCpu: ok.length > 0 && ok.every((p) => p.mainThreadCpuUsPerEvent !== undefined),
      perLoad: ok.map((p) => ({
        mainThreadUsPerEvent: p.mainThreadUsPerEvent, mainThreadCpuUsPerEvent: p.mainThreadCpuUsPerEvent ?? null,
        requests: p.requests, callUsP99: p.callUsP99,
      })),
      burstBusyUsPerEvent: m((p) => p.busyBurstUs / p.n),
      laterBusyUsPerEvent: m((p) => p.busyAfterUs / p.n),
      longestTaskBurstMs: m((p) => p.longestTaskBurstMs),
      longestTaskDeliveryMs: m((p) => p.longestTaskDeliveryMs),
      longestTaskMs: Math.max(0, ...ok.map((p) => Math.max(p.longestTaskBurstMs, p.longestTaskDeliveryMs))),
      longTasks: ok.reduce((a, p) => a + p.longTasksBurst.length + p.longTasksDelivery.length, 0),
      longTasksBurst: ok.reduce((a, p) => a + p.longTasksBurst.length, 0),
      longTasksDelivery: ok.reduce((a, p) => a + p.longTasksDelivery.length, 0),
      delivered: worst?.delivered ?? null,
      duplicates: ok.length ? Math.max(...ok.map((p) => p.duplicates)) : null,
      complete,
      deliverySeconds: complete ? m((p) => p.deliverySeconds) : null,
      deliverySecondsWorst: complete ? Math.max(...ok.map((p) => p.deliverySeconds)) : null,
      waitedSeconds: m((p) => p.waitedSeconds),
      stalled: ok.some((p) => p.stalled),
      requests: m((p) => p.requests),
      wireBytesPerEvent: m((p) => p.wireBytesPerEvent),
      setupMs: m((p) => p.setupMs),
      firstInTaskUsP50: m((p) => p.firstInTaskUsP50),
      firstInTaskUsP90: m((p) => p.firstInTaskUsP90),
      laterInTaskUsP99: m((p) => p.laterInTaskUsP99),
      callsOver500Us: m((p) => p.callsOver500Us),
      pageErrors: [...new Set(ok.flatMap((p) => p.pageErrors))].slice(0, 3),
    };
  });
}

const BYTES_OF = {
  tidings: 'tidings', 'tidings-memory': 'tidings', 'tidings-receipts': 'tidings', 'tidings-memory-receipts': 'tidings',
  'tidings-baseline': 'tidings', 'tidings-memory-baseline': 'tidings', posthog: 'posthog', 'posthog-ratelimit': 'posthog', 'posthog-memory': 'posthog',
  segment: 'segment', amplitude: 'amplitude', rudderstack: 'rudderstack',
};

function deliveredCell(s) {
  const all = `${int(s.delivered)} of ${int(s.n)}`;
  return s.delivered === s.n ? all : `**${all}**`;
}

function afterBurstCell(s, o) {
  if (s.complete) return `${fmt(s.deliverySeconds, 2)} s`;
  if (s.stalled) return `never (nothing new for ${o.stallMs / 1000} s)`;
  return `> ${o.deliveryTimeoutMs / 1000} s (still arriving when the wait ended)`;
}

function callsCell(s) {
  if (!s.nRange || s.nRange[0] === s.nRange[1]) return int(s.n);
  return `${int(s.nRange[0])}–${int(s.nRange[1])}`;
}

/** The targets of issue 10 with their measured values and ratios. */
export function targets(summary, bytes) {
  const t = summary.find((s) => s.id === 'tidings');
  if (!t) return [];
  const peers = summary.filter((s) => s.id !== 'none' && !s.id.startsWith('tidings') && s.runs > 0);
  const deliveringPeers = peers.filter((s) => s.delivered === s.n);
  // Main-thread cost: thread CPU time where the trace has it (what the page
  // itself ran; preemption by other processes on the shared cores is not
  // counted), else busy wall time.
  const cost = (x) => (x.hasCpu ? x.mainThreadCpuUsPerEvent : x.mainThreadUsPerEvent);
  const best = deliveringPeers.sort((a, b) => cost(a) - cost(b))[0] ?? null;
  const gzip = bytes?.rows?.find((r) => r.id === 'tidings')?.gzip ?? null;
  const rows = [];
  const push = (figure, target, measured, ratio, met) => rows.push({ figure, target, measured, ratio, met });
  const kind = t.hasCpu ? 'CPU' : 'busy wall';
  const loads = t.perLoad.map((l) => `${fmt(t.hasCpu ? l.mainThreadCpuUsPerEvent : l.mainThreadUsPerEvent)} with ${int(l.requests)} requests`).join(', ');
  push(`main-thread ${kind} µs per event, calls + later work, default settings${t.label.includes('persistence') ? ' (persistence on)' : ''}`, '≤ 20 µs',
    `${fmt(cost(t))} µs; page loads: ${loads}`, cost(t) / 20, cost(t) <= 20);
  if (t.hasCpu) {
    const nd = summary.find((x) => x.id === 'none');
    push('… the same tasks\' busy wall time (includes preemption on the shared cores)', '≤ 20 µs',
      `${fmt(t.mainThreadUsPerEvent)} µs${nd ? ` (the no-SDK page: ${fmt(nd.mainThreadCpuUsPerEvent)} µs CPU, ${fmt(nd.mainThreadUsPerEvent)} µs wall)` : ''}`,
      t.mainThreadUsPerEvent / 20, t.mainThreadUsPerEvent <= 20);
  }
  if (best) {
    const x = cost(best) / cost(t);
    const wall = t.hasCpu ? `; busy wall time ${fmt(best.mainThreadUsPerEvent)} vs ${fmt(t.mainThreadUsPerEvent)} µs, ${fmt(best.mainThreadUsPerEvent / t.mainThreadUsPerEvent, 1)}×` : '';
    push(`… against the best peer configuration that delivered everything (${best.label})`, '≥ 15× better',
      `${fmt(cost(best))} vs ${fmt(cost(t))} µs ${kind}${wall}`, x, x >= 15);
  }
  push('capture call p99 (clock resolution 5 µs)', '≤ 10 µs',
    `${fmt(t.callUsP99)} µs (page loads: ${t.perLoad.map((l) => fmt(l.callUsP99, 0)).join(', ')})`, t.callUsP99 / 10, t.callUsP99 <= 10);
  if (t.hasCpu) {
    push(`long tasks > 50 ms caused by the SDK during ${int(t.n)} captures and their delivery, ${t.runs} page loads`, 'none',
      `${t.longTasksCpu} with over 50 ms of CPU (longest ${fmt(t.longestTaskCpuMs)} ms); by the wall clock ${t.longTasks} over 50 ms (longest ${fmt(t.longestTaskMs)} ms)`,
      t.longTasksCpu, t.longTasksCpu === 0);
  } else {
    push(`long tasks > 50 ms during ${int(t.n)} captures and their delivery, ${t.runs} page loads`, 'none',
      `${t.longTasks} (longest task ${fmt(t.longestTaskMs)} ms)`, t.longTasks, t.longTasks === 0);
  }
  push(`events delivered from a ${int(t.n)}-event burst, defaults (worst page load)`, `${int(t.n)} of ${int(t.n)}`,
    `${int(t.delivered)} of ${int(t.n)}${t.duplicates ? `, ${t.duplicates} duplicates` : ''}`, t.delivered / t.n, t.delivered === t.n && !t.duplicates);
  push('time from the end of the burst until the sink has every event', '≤ 1 s',
    t.complete ? `${fmt(t.deliverySeconds, 2)} s (worst ${fmt(t.deliverySecondsWorst, 2)} s)` : 'never',
    t.complete ? t.deliverySeconds / 1 : null, t.complete && t.deliverySecondsWorst <= 1);
  if (gzip !== null) {
    push('gzip bytes shipped, wasm + JS (esbuild-minified)', '≤ 30 KB (30,720 B)',
      `${int(gzip)} B (${kib(gzip)} KiB)`, gzip / TARGET_GZIP, gzip <= TARGET_GZIP);
  }
  return rows;
}

function table(header, rows) {
  const line = (cells) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

function ratioCell(r) {
  if (r.ratio === null || r.ratio === undefined) return '–';
  return Number.isInteger(r.ratio) ? String(r.ratio) : r.ratio.toFixed(2);
}

export function markdown(results, o) {
  const summary = summarize(results.pages);
  const tg = targets(summary, results.bytes);
  const bytesRow = (id) => results.bytes?.rows?.find((r) => r.id === id);
  const failedPart = (name, part) => out.push(`### ${name}`, '', `**Failed in this run:** ${part.failed}`, '');
  const v = results.versions ?? {};
  const out = [];
  out.push(HEADING, '');
  out.push('Generated by `bench/run-browser` (do not edit by hand; `bench/browser/NOTES.md` holds the method and the profiling notes quoted below).', '');
  out.push(`- date: ${results.date.replace('T', ' ').slice(0, 16)} UTC; ${results.seconds.toFixed(0)} s for this run`);
  out.push(`- machine: ${cpus().length} × ${cpus()[0]?.model ?? '?'}; load average before / after: ${(results.loadBefore ?? []).map((x) => x.toFixed(2)).join(' ')} / ${(results.loadAfter ?? loadavg()).map((x) => x.toFixed(2)).join(' ')}`);
  if (results.tidings) {
    const t = results.tidings;
    const wasm = [...new Map(t.wasm.map((w) => [w.file, w])).values()];
    out.push(`- Tidings measured: commit ${t.commit ?? '?'}${t.uncommittedSources ? ' plus uncommitted changes to its sources' : ', its sources unchanged'}; ${wasm.map((w) => `${w.file} ${int(w.bytes)} B, sha256 ${w.sha256}…`).join(', ')}`);
  }
  out.push(`- Chromium ${v.chromium ?? '?'} (Debian's, headless, playwright-core ${v['playwright-core'] ?? '?'}); Node ${v.node}; workerd ${v.workerd ?? '?'} through miniflare ${v.miniflare ?? '?'} (wrangler ${v.wrangler ?? '?'})`);
  out.push(`- peers: posthog-js ${v['posthog-js']}, @segment/analytics-next ${v['@segment/analytics-next']}, @amplitude/analytics-browser ${v['@amplitude/analytics-browser']}, @rudderstack/analytics-js ${v['@rudderstack/analytics-js']} (bench/browser/package-lock.json); esbuild ${v.esbuild}`);
  out.push(`- ${o.runs} page loads per SDK configuration (one fresh page and browser context each, rounds interleaved), medians; ${o.warmup} warm-up calls, then ${int(o.events)} measured calls in tasks of ${o.chunk}${o.quick ? ' (**--quick**: not a reference run)' : ''}`);
  out.push('');

  if (tg.length) {
    out.push('### Targets (Tidings)', '');
    out.push(table(['figure', 'target', 'measured', 'ratio', 'met'], tg.map((r) => [r.figure, r.target, r.measured, ratioCell(r), r.met ? 'met' : '**not met**'])));
    out.push('', 'Ratio: measured ÷ target for upper bounds (≤ 1 meets), the multiple for "better than" (≥ 15 meets), the share delivered, the count of long tasks.', '');
  }

  if (summary.length) {
    out.push('### Capture cost and delivery in the browser', '');
    out.push(table(
      ['SDK (configuration)', 'calls', 'µs per call', 'p50 / p99 µs', 'main-thread CPU µs per event: during the burst + later (busy wall time)', 'longest task, burst / delivery (ms, wall)', 'long tasks > 50 ms: CPU / wall', 'delivered when the wait ended (worst load)', 'sink has all, after the burst', 'requests', 'wire B per event', 'gzip KiB shipped'],
      summary.map((s) => [
        s.label + (s.failed.length ? ` (${s.failed.length} failed: ${s.failed[0].slice(0, 60)})` : ''),
        callsCell(s),
        fmt(s.callUsMean, s.callUsMean < 100 ? 2 : 0),
        `${fmt(s.callUsP50, 0)} / ${fmt(s.callUsP99, 0)}`,
        s.hasCpu
          ? `${fmt(s.mainThreadCpuUsPerEvent, s.mainThreadCpuUsPerEvent < 100 ? 1 : 0)}: ${fmt(s.burstCpuUsPerEvent, 1)} + ${fmt(s.laterCpuUsPerEvent, 1)} (${fmt(s.mainThreadUsPerEvent, s.mainThreadUsPerEvent < 100 ? 1 : 0)})`
          : `– (${fmt(s.mainThreadUsPerEvent, s.mainThreadUsPerEvent < 100 ? 1 : 0)}: ${fmt(s.burstBusyUsPerEvent, 1)} + ${fmt(s.laterBusyUsPerEvent, 1)})`,
        `${fmt(s.longestTaskBurstMs)} / ${fmt(s.longestTaskDeliveryMs)}`,
        s.hasCpu ? `${s.longTasksCpu} / ${s.longTasks}` : `– / ${s.longTasks}`,
        deliveredCell(s),
        afterBurstCell(s, o),
        int(s.requests),
        int(s.wireBytesPerEvent),
        BYTES_OF[s.id] ? kib(bytesRow(BYTES_OF[s.id])?.gzip) : '–',
      ]),
    ));
    out.push('');
    out.push('"µs per call": the synchronous `capture`/`track` call, timed one by one with `performance.now()` (5 µs resolution in this cross-origin-isolated page; the mean of many calls is unbiased, p50/p99 are multiples of 5). "main-thread CPU µs per event": every task the page\'s main thread ran (from a Chromium trace) from the first measured call until the sink had every event (or the wait ended), counted as the CPU time the thread actually ran (the trace\'s thread time, so preemption by other processes on these 2 shared cores is left out), divided by the calls: the tasks during the burst (the calls, the harness, anything the SDK did in between) + the tasks after it (timers, sending, answers); in brackets the same tasks\' busy wall time, which is what a user waits for on a quiet machine. Long tasks: tasks over 50 ms of CPU / over 50 ms of wall time (the latter includes preemption). The no-SDK row is the harness\'s own cost plus a minimal delivery. An SDK whose burst passes ' + `${o.burstBudgetMs / 1000} s` + ' stops at the end of a task once it has made 1,000 calls (the "calls" column; the per-event figures hold). The wait for delivery ends when the sink has every event, when nothing new has arrived for ' + `${o.stallMs / 1000} s` + ' ("never": the rest was dropped or is held back), or after ' + `${o.deliveryTimeoutMs / 1000} s` + '.');
    const td = summary.find((x) => x.id === 'tidings');
    const nd = summary.find((x) => x.id === 'none');
    if (td && nd) {
      out.push('', `Call-time detail (medians of the page loads), Tidings / no SDK: the first call of each task p50 ${fmt(td.firstInTaskUsP50, 0)} / ${fmt(nd.firstInTaskUsP50, 0)} µs and p90 ${fmt(td.firstInTaskUsP90, 0)} / ${fmt(nd.firstInTaskUsP90, 0)} µs; the other calls p99 ${fmt(td.laterInTaskUsP99, 0)} / ${fmt(nd.laterInTaskUsP99, 0)} µs; calls over 0.5 ms: ${int(td.callsOver500Us)} / ${int(nd.callsOver500Us)} of ${int(td.n)}.`);
    }
    const errs = summary.filter((s) => s.pageErrors.length);
    if (errs.length) {
      out.push('', 'Console errors seen: ' + errs.map((s) => `${s.id}: "${s.pageErrors[0].slice(0, 120)}"`).join('; ') + '.');
    }
    out.push('');
  }

  if (results.bytes?.failed) failedPart('Bytes shipped', results.bytes);
  else if (results.bytes) {
    out.push('### Bytes shipped', '');
    out.push(table(['what the page downloads', 'raw B', 'gzip -9 B (KiB)', 'brotli 11 B (KiB)'],
      results.bytes.rows.map((r) => [r.label, int(r.raw), `${int(r.gzip)} (${kib(r.gzip)})`, `${int(r.brotli)} (${kib(r.brotli)})`])));
    out.push('');
  }

  if (results.profile?.failed) failedPart('Where Tidings\' main-thread time goes', results.profile);
  else if (results.profile) {
    const p = results.profile;
    out.push('### Where Tidings\' main-thread time goes (CDP sampling profiler, one burst and its delivery)', '');
    out.push(`${int(p.events)} events, ${int(p.requests)} requests, ${fmt(p.busyUsPerEvent)} µs busy per event while profiled (${p.samplingIntervalUs} µs sampling; the profiler slows the page).`, '');
    out.push(table(['kind of work', 'µs per event', 'share'], p.byKind.map((k) => [k.name, fmt(k.usPerEvent, 2), `${(k.share * 100).toFixed(1)} %`])));
    out.push('');
    out.push(table(['function (self time)', 'µs per event', 'share'], p.topFunctions.slice(0, 12).map((k) => [`\`${k.name.trim()}\``, fmt(k.usPerEvent, 2), `${(k.share * 100).toFixed(1)} %`])));
    out.push('');
  }

  if (results.workers?.failed) failedPart('Cloudflare Workers', results.workers);
  else if (results.workers) {
    const w = results.workers;
    const s = w.summary;
    out.push(`### Cloudflare Workers (workerd ${v.workerd ?? ''}, ${int(w.requests)} requests per measurement, medians of ${w.rounds.length} rounds)`, '');
    const row = (label, seq, conc) => [
      label,
      fmt(seq.requestsPerSecond, 0), conc ? fmt(conc.requestsPerSecond, 0) : '–',
      fmt(seq.cpuMsPerRequest, 3), conc ? fmt(conc.cpuMsPerRequest, 3) : '–',
      `${fmt(seq.latencyMsP50, 2)} / ${fmt(seq.latencyMsP99, 2)}`,
      seq.events ? `${int(seq.delivered)} of ${int(seq.events)}${conc ? `; ${int(conc.delivered)} of ${int(conc.events)}` : ''}` : '–',
    ];
    out.push(table(
      ['Worker', 'requests/s, sequential', `requests/s, ${w.concurrency} at a time`, 'workerd CPU ms per request, sequential', `CPU ms per request, ${w.concurrency} at a time`, 'latency p50 / p99 ms, sequential', 'events delivered (worst round)'],
      [
        row('trivial response, no SDK', s.baselineSequential, s.baselineConcurrent),
        row('same + 3 events captured, delivered in ctx.waitUntil', s.tidingsSequential, s.tidingsConcurrent),
        row('same, delivery awaited before answering', s.tidingsAwaited, null),
      ],
    ));
    const addSeq = s.tidingsSequential.cpuMsPerRequest - s.baselineSequential.cpuMsPerRequest;
    const addConc = s.tidingsConcurrent.cpuMsPerRequest - s.baselineConcurrent.cpuMsPerRequest;
    out.push('');
    out.push(`CPU added by Tidings per request (3 captures + delivery in waitUntil): ${fmt(addSeq, 3)} ms sequential, ${fmt(addConc, 3)} ms with ${w.concurrency} at a time (drains of concurrent requests share requests to the sink). Requests per second: ${fmt(s.tidingsSequential.requestsPerSecond / s.baselineSequential.requestsPerSecond * 100, 0)} % of the baseline sequential, ${fmt(s.tidingsConcurrent.requestsPerSecond / s.baselineConcurrent.requestsPerSecond * 100, 0)} % at ${w.concurrency} at a time. CPU method: ${w.method}; workerd reports no CPU time per request locally, so this is the whole process (its HTTP handling and Miniflare's entry worker included), and the difference is what the script adds. The client (Node's fetch) and the sink share the 2 cores.`);
    out.push('');
  }

  if (existsSync(NOTES)) {
    const notes = readFileSync(NOTES, 'utf8').replace(/^# .*\n+/, '').replace(/^\(Quoted[^)]*\)\n+/m, '')
      .replace(/^## /gm, '### ').trim();
    out.push(notes, '');
  }
  return out.join('\n');
}

/** Replaces (or appends) the "Browser and Workers" section of bench/RESULTS.md. */
function writeSection(md) {
  const existing = existsSync(RESULTS_MD) ? readFileSync(RESULTS_MD, 'utf8') : '';
  const start = existing.indexOf(`\n${HEADING}\n`);
  let head = existing;
  let tail = '';
  if (start >= 0) {
    head = existing.slice(0, start + 1);
    const rest = existing.slice(start + 1 + HEADING.length);
    const next = rest.search(/\n## /);
    tail = next >= 0 ? rest.slice(next + 1) : '';
  } else if (existing.length) {
    head = existing.replace(/\n*$/, '\n\n');
  }
  writeFileSync(RESULTS_MD, `${head}${md.trim()}\n${tail ? `\n${tail}` : ''}`);
}

/** Renders bench/RESULTS.md's section again from bench/browser-results.json (after editing NOTES.md). */
export function reportAgain() {
  const results = JSON.parse(readFileSync(RESULTS_JSON, 'utf8'));
  delete results.summary;
  delete results.targets;
  report(results, { ...results.options, write: true });
}

export function report(results, o) {
  const summary = summarize(results.pages);
  const tg = targets(summary, results.bytes);
  console.log('');
  if (summary.length) {
    console.log('SDK (configuration)                                  calls   µs/call  p50/p99 µs   main-thread CPU (wall) µs/event  longest ms burst/deliv  delivered        after burst');
    for (const s of summary) {
      console.log(`${s.label.slice(0, 52).padEnd(52)} ${int(s.n).padStart(6)} ${fmt(s.callUsMean, 2).padStart(9)}  ${`${fmt(s.callUsP50, 0)}/${fmt(s.callUsP99, 0)}`.padStart(10)}  ${`${fmt(s.mainThreadCpuUsPerEvent)} (${fmt(s.mainThreadUsPerEvent)})`.padStart(31)}  ${`${fmt(s.longestTaskBurstMs)}/${fmt(s.longestTaskDeliveryMs)}`.padStart(22)}  ${`${int(s.delivered)}/${int(s.n)}`.padStart(13)}  ${afterBurstCell(s, o)}`);
    }
    console.log('');
  }
  if (tg.length) {
    console.log('Targets (Tidings):');
    for (const r of tg) {
      console.log(`  ${r.met ? 'met    ' : 'NOT MET'}  ${r.figure}: ${r.measured} (target ${r.target}, ratio ${ratioCell(r)})`);
    }
    console.log('');
  }
  const json = { ...results, summary, targets: tg };
  if (o.write) {
    writeFileSync(RESULTS_JSON, `${JSON.stringify(json, null, 1)}\n`);
    writeSection(markdown(results, o));
    console.log(`wrote ${RESULTS_JSON} and the "${HEADING.slice(3)}" section of ${RESULTS_MD}`);
  }
}
