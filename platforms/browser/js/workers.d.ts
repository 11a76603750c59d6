// The Workers build (`tidings-browser/workers`, and the package itself under
// the `workerd` export condition). The core's options and the same events as
// the browser build; delivery runs only inside `drain()`.

import type { CaptureOptions, CoreOptions, FlushResult, Properties, Receipt, ShutdownResult, Stats } from './index.js';
export type { CaptureOptions, FlushResult, Properties, Receipt, ShutdownResult, Stats } from './index.js';

/** Loads the wasm module once; not needed under workerd (the package's `workerd` export loads it). */
export function load(source?: URL | string | Response | BufferSource | WebAssembly.Module): Promise<void>;

/** Loads the wasm module synchronously from bytes or a `WebAssembly.Module`. */
export function loadSync(module: BufferSource | WebAssembly.Module): void;

/**
 * Options of the Workers build: the core's (no persistence, compression,
 * sessions or page properties: those are the browser's), plus `runtime`.
 * `allowInsecureHttp: true` lets a plain `http://` host that is not
 * loopback through (a self-hosted PostHog such as `http://posthog:8000`),
 * with one `console.warn` naming the host per client; https stays the
 * default, since events and the API key would otherwise travel unencrypted.
 */
export interface TidingsOptions extends CoreOptions {
  /** Accepted for clarity; the Workers build is always timer-free. */
  runtime?: 'workers';
  /**
   * Per-event deadline from capture (see the browser build's option): an
   * event not delivered within it is dropped as `expired`, also while it
   * waits for a retry inside a drain. Default: none (a drain's budget
   * bounds delivery anyway: what is left when the last drain ends is
   * dropped as `drain_budget`).
   */
  eventTimeoutMs?: number;
}

/** What `drain()` resolves to (`runtime: 'workers'`). */
export interface DrainResult {
  /** Everything captured before `drain()` was delivered or dropped. */
  completed: boolean;
  /** Still pending when the budget ran out, handed over to drains of other requests still running (not lost). */
  pending: number;
  /** Dropped when the budget ran out with no other drain running: counted in `stats().dropped.drain_budget`. */
  dropped: number;
  /** How long the drain ran, by the Worker's clock (which moves only after I/O). */
  elapsedMs: number;
}

/**
 * An event-delivery client for Cloudflare Workers: no timer is ever armed,
 * `capture` only queues, and `drain(budgetMs)`, handed to `ctx.waitUntil`,
 * delivers after the response.
 *
 * ```js
 * import { Tidings } from 'tidings-browser'; // resolves to the Workers build in workerd
 * const tidings = new Tidings({ apiKey: 'phc_...', host: 'https://us.i.posthog.com' });
 * export default {
 *   async fetch(request, env, ctx) {
 *     tidings.capture('request', { path: new URL(request.url).pathname });
 *     ctx.waitUntil(tidings.drain(2000));
 *     return new Response('ok');
 *   },
 * };
 * ```
 */
export class Tidings {
  /** Throws a TypeError / RangeError naming the option that is wrong. */
  constructor(options: TidingsOptions);
  /** As in the browser build; nothing is sent until a drain. */
  capture(event: string, properties?: Properties | null, options?: CaptureOptions | null): string | null;
  /**
   * What became of the event `uuid` (as `capture` returned it): resolves
   * exactly once, as the drains deliver or drop it (`drain_budget`,
   * `http_400`, `expired`, `shutdown_deadline`, ...); never rejects.
   * Events nobody asks about cost nothing. `{ status: 'unknown' }` once the
   * client holds no event at all and this one was not among those it
   * resolved since the receipt was asked for (never captured, refused at
   * capture, or resolved before). Throws a TypeError for a non-UUID.
   *
   * ```js
   * // Answer only once the event is stored (a billing record, say):
   * const uuid = tidings.capture('tokens_billed', { tokens: 5000 }, { distinctId: tenant });
   * if (!uuid) return new Response('refused', { status: 503 });
   * ctx.waitUntil(tidings.drain(5000));
   * const r = await tidings.receipt(uuid); // resolves while the drain runs
   * return Response.json(r, { status: r.status === 'delivered' ? 200 : 502 });
   * ```
   */
  receipt(uuid: string): Promise<Receipt>;
  /**
   * Delivers everything captured so far, with the core's retry policy
   * (Retry-After included), until it is delivered or dropped or `budgetMs`
   * (default 5000, 0 to 30 000) runs out; whatever is still pending then is
   * dropped as `drain_budget` unless another request's drain is still
   * running (it takes it over).
   */
  drain(budgetMs?: number): Promise<DrainResult>;
  /** `drain(timeoutMs)`, resolving `{ completed, pending }`. */
  flush(timeoutMs?: number): Promise<FlushResult>;
  /** Drains within `timeoutMs`, then refuses later captures. */
  shutdown(timeoutMs?: number): Promise<ShutdownResult>;
  /** Usage metering, as in the browser build; every drain closes the metering window (an isolate may be evicted after any response). */
  count(tenant: string, metric: string, value: number, tags?: Record<string, unknown> | null): void;
  /** Usage metering: sets the gauge `(tenant, metric, tags)`. */
  gauge(tenant: string, metric: string, value: number, tags?: Record<string, unknown> | null): void;
  /** Closes the metering window now; returns how many entries it had. */
  flushMeters(): number;
  /** Metering keys buffered in the current window. */
  readonly meterKeys: number;
  /** The counters now (with `drains`: drains running now). */
  stats(): Stats;
  /** The distinct id of events captured without one. */
  readonly distinctId: string;
}
