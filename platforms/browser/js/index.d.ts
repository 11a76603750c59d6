/**
 * Loads the wasm module once (call before `new Tidings`). With no argument
 * it is fetched next to this package in browsers and read from disk in
 * Node; or pass a URL, a `Response`, bytes or a `WebAssembly.Module`.
 */
export function load(source?: URL | string | Response | BufferSource | WebAssembly.Module): Promise<void>;

/** Loads the wasm module synchronously from bytes or a `WebAssembly.Module`. */
export function loadSync(module: BufferSource | WebAssembly.Module): void;

/** Options of `new Tidings(options)`. Unknown names and wrong types throw. */
/** The options both builds take (the core's). */
export interface CoreOptions {
  /** Ingestion URL: `https://host[:port][/prefix]` (plain `http://` only to loopback, or anywhere with `allowInsecureHttp`). For `protocol: 'json'`, the full endpoint URL. */
  host: string;
  /**
   * Allow a plain `http://` host that is not loopback, e.g. a self-hosted
   * PostHog on a private network (`http://posthog:8000`). Events and the API
   * key then travel unencrypted, so it is off by default (and without it such
   * a host throws a `RangeError` naming this option); when it lets one
   * through, the constructor logs one `console.warn` naming the host. A page
   * served over https cannot fetch http anyway (mixed content). Default false.
   */
  allowInsecureHttp?: boolean;
  /** Project API key; required for the PostHog protocols. */
  apiKey?: string;
  /** Wire format. Default `'posthog-v0'`. */
  protocol?: 'posthog-v0' | 'posthog-v1' | 'json';
  /** `distinct_id` of events captured without one. Default: the anonymous id persisted for the site (or the id given to `identify`). */
  distinctId?: string;
  /** Extra headers on every request (a write key, a tenant). */
  headers?: Record<string, string>;
  /** Send as soon as this many events are queued. Default 50. */
  flushAt?: number;
  /** Send what is queued once the oldest event is this old. Default 1000. */
  flushIntervalMs?: number;
  /** How long a due batch waits for more events (Kafka's `linger.ms`); a full batch, a retry, `flush()` and page hide never wait. Default 10 (ms); at most `flushIntervalMs`. */
  lingerMs?: number;
  /** Most events in one request. Default 1000. */
  maxBatchEvents?: number;
  /** Most bytes in one request body. Default 2 MiB. */
  maxBatchBytes?: number;
  /** Larger events are refused by `capture` (RangeError). Default 1 MiB. */
  maxEventBytes?: number;
  /** Most events pending (queued, retrying, in flight). Default 10 000. */
  maxQueueEvents?: number;
  /** Most encoded bytes pending. Default 16 MiB. */
  maxQueueBytes?: number;
  /** When the queue is full: refuse the new event (default) or evict the oldest. */
  overflow?: 'drop-newest' | 'drop-oldest';
  /** Requests in flight at once. Default 4. */
  maxInFlight?: number;
  /** Per-request timeout. Default 10 000. */
  requestTimeoutMs?: number;
  /** Attempts per batch, the first included. Default 8. */
  maxAttempts?: number;
  /** Backoff before the second attempt. Default 1000. */
  initialBackoffMs?: number;
  /** Cap of any backoff, Retry-After included. Default 30 000. */
  maxBackoffMs?: number;
  /** Random spread of each backoff, in [0, 1). Default 0.2. */
  jitter?: number;
  /** At most one console warning per drop reason in this interval. Default 10 000. */
  warningIntervalMs?: number;
  /** Adds `"$geoip_disable": true` to every event. */
  geoipDisable?: boolean;
  /** PostHog's historical-migration flag. */
  historicalMigration?: boolean;
  /** Usage metering: close the window once it has this many keys. Default 10 000. */
  meterFlushKeys?: number;
  /** Usage metering: close the window this long after its first update. Default 10 000. */
  meterFlushIntervalMs?: number;
  /**
   * Per-event deadline, in milliseconds from the event's capture: an event
   * not delivered within it is dropped as `expired` (its receipt resolves
   * `{ status: 'dropped', reason: 'expired' }`) wherever it waits: queued,
   * waiting to retry, paused offline, or persisted across page loads (it
   * counts from the first capture, in the page that made it). A request in
   * flight is not cut short: its events expire if it comes back without
   * success. More than 0, at most 3,650 days. Default: 7 days in the
   * browser build (browsers, Web Workers and Node; it replaces
   * `persistenceMaxAgeMs`), none in the Workers build.
   *
   * ```js
   * new Tidings({ apiKey, host, eventTimeoutMs: 60_000 }); // a minute, or dropped as expired
   * ```
   */
  eventTimeoutMs?: number;
}

/** What became of one event: what `receipt(uuid)` resolves to. */
export type Receipt =
  /** The server acknowledged it. */
  | { status: 'delivered' }
  /** Dropped, and counted in `stats().dropped[reason]`: `http_400`, `expired`, `shutdown_deadline`, `retries_exhausted`, `queue_full`, `drain_budget` (Workers), ... */
  | { status: 'dropped'; reason: string }
  /** The client does not hold it: never captured (or refused at capture: `capture` returned null), or resolved before the receipt was asked for. */
  | { status: 'unknown' };

/** Options of the browser build: the core's, and the browser's own. */
export interface TidingsOptions extends CoreOptions {
  /**
   * Where events not yet acknowledged are kept across page loads (replayed
   * by the next page of the site, never by two tabs): `'indexeddb'`
   * (default; localStorage where IndexedDB is missing), `'localstorage'`,
   * or `'memory'` (nothing persisted). Off in Node.
   */
  persistence?: 'indexeddb' | 'localstorage' | 'memory';
  /** Most bytes persisted; beyond it events stay in memory only. Default 5 MiB. */
  persistenceMaxBytes?: number;
  /**
   * @deprecated The old name of `eventTimeoutMs` (one deadline for every
   * event, persisted or not); still accepted, and a RangeError if both are
   * given and differ.
   */
  persistenceMaxAgeMs?: number;
  /** gzip bodies with CompressionStream where it exists and works (checked once). Default true. */
  compression?: boolean;
  /** A new session id after this long without events. Default 30 minutes. */
  sessionIdleMs?: number;
  /** Prefix of the storage keys, IndexedDB database and lock names. Default `'tidings'`. */
  storagePrefix?: string;
  /** Add `$current_url`, `$pathname`, `$host`, `$referrer`, screen and viewport sizes to every event. Default true. */
  pageProperties?: boolean;
}

/** Per-event options of `capture`. */
export interface CaptureOptions {
  /** Who did it; default: the client's `distinctId`. */
  distinctId?: string;
  /** A caller-chosen uuid (for idempotent retries of your own); default: a new uuid v7. */
  uuid?: string;
  /** When it happened; default: now. */
  timestamp?: Date | number | string;
}

/** JSON-serializable properties. */
export type Properties = Record<string, unknown>;

export interface FlushResult {
  /** Everything captured before `flush()` was delivered or dropped. */
  completed: boolean;
  /** Of those, still pending when the timeout passed. */
  pending: number;
}

export interface ShutdownResult {
  /** Nothing was left pending at the deadline. */
  drained: boolean;
  /** Events dropped at the deadline. */
  dropped: number;
}

/** Delivery counters. `captured === delivered + droppedTotal + pending`. */
export interface Stats {
  captured: number;
  delivered: number;
  pending: number;
  queued: number;
  retrying: number;
  inFlight: number;
  pendingBytes: number;
  requests: number;
  retries: number;
  droppedTotal: number;
  /** Workers build only: drains running now. */
  drains?: number;
  /** By reason: `too_large`, `drain_budget` (Workers build), `queue_full`, `invalid_event`, `retries_exhausted`, `http_400`, ... */
  dropped: Record<string, number>;
}

/**
 * An event-delivery client. Events are batched and sent with the global
 * `fetch`; one timer drives retries and flush intervals.
 *
 * ```js
 * import { load, Tidings } from 'tidings-browser';
 * await load();
 * const tidings = new Tidings({ apiKey: 'phc_...', host: 'https://us.i.posthog.com' });
 * tidings.capture('signup', { plan: 'pro' });
 * await tidings.flush();
 * ```
 */
export class Tidings {
  /** Throws a TypeError / RangeError naming the option that is wrong. */
  constructor(options: TidingsOptions);
  /**
   * Queues an event and returns its uuid, or `null` if it was valid but not
   * accepted (queue full, client shut down; counted in `stats().dropped`).
   *
   * Properties go through `JSON.stringify`: `undefined` values and
   * functions are left out, `NaN` and `Infinity` become `null`, a `Date`
   * becomes its ISO string, `toJSON()` is honoured. A cyclic object or a
   * BigInt throws a TypeError; JSON longer than `maxEventBytes` throws a
   * RangeError; a non-string event name throws a TypeError. The client
   * keeps working after any of these.
   */
  capture(event: string, properties?: Properties | null, options?: CaptureOptions | null): string | null;
  /**
   * What became of the event `uuid` (as `capture` returned it): resolves
   * exactly once, when it is delivered or dropped, never rejects. Asking
   * costs nothing to events nobody asks about; asking twice for one uuid
   * gives the same promise. It works for events of earlier pages too: a
   * new page replays persisted events (see `ready`), and their receipts
   * resolve in it, as `expired` if their `eventTimeoutMs` passed in
   * between. `{ status: 'unknown' }` when the client does not hold the
   * event: decided once persisted events are replayed, at once where the
   * page persists events, and otherwise (`persistence: 'memory'`, Node,
   * storage refused) once the client holds no event at all. Ask after
   * `capture` (in the same task is fine); a uuid asked for before its
   * capture may be answered `unknown`. Throws a TypeError if `uuid` is
   * not a UUID string.
   *
   * ```js
   * const uuid = tidings.capture('purchase', { total: 42 });
   * if (uuid) {
   *   const r = await tidings.receipt(uuid);
   *   if (r.status === 'dropped') console.warn(`purchase event lost: ${r.reason}`);
   * }
   * // In the next page, for events of this one (uuids saved by the app):
   * for (const uuid of JSON.parse(localStorage.pendingPurchases ?? '[]')) {
   *   tidings.receipt(uuid).then((r) => console.log(uuid, r.status, r.reason ?? ''));
   * }
   * ```
   */
  receipt(uuid: string): Promise<Receipt>;
  /** Sends what is queued; resolves once it is delivered or dropped, or after `timeoutMs` (default 10 000). Never rejects. */
  flush(timeoutMs?: number): Promise<FlushResult>;
  /** Stops accepting events, sends what is pending within `timeoutMs` (default 10 000), drops the rest. Never rejects. */
  shutdown(timeoutMs?: number): Promise<ShutdownResult>;
  /** `$pageview` with `$title` and the standard page properties. */
  capturePageview(properties?: Properties | null, options?: CaptureOptions | null): string | null;
  /**
   * From now on events are from `distinctId` (persisted for the site). Sends
   * `$identify` with `$anon_distinct_id` and the `$set` / `$set_once`
   * person properties when given; returns its uuid, or null when nothing
   * changed.
   */
  identify(distinctId: string, setProperties?: Properties | null, setOnceProperties?: Properties | null): string | null;
  /** Forgets the identified user: a new anonymous id and a new session (call on logout). */
  reset(): void;
  /**
   * Usage metering: adds `value` to the counter `(tenant, metric, tags)` of
   * the current window; each key becomes one `usage` event (tenant, metric,
   * kind, value, tags, window_start, window_end) when the window closes.
   * Tag order does not matter at any depth. An empty tenant or metric, a
   * value that is not finite, or a count past 2^53 throws a RangeError.
   */
  count(tenant: string, metric: string, value: number, tags?: Record<string, unknown> | null): void;
  /** Usage metering: sets the gauge `(tenant, metric, tags)`; the window keeps the last value. */
  gauge(tenant: string, metric: string, value: number, tags?: Record<string, unknown> | null): void;
  /** Closes the metering window now; returns how many entries it had. */
  flushMeters(): number;
  /** Metering keys buffered in the current window. */
  readonly meterKeys: number;
  /** Milliseconds since the oldest buffered metering entry, or undefined. */
  readonly meterOldestAgeMs: number | undefined;
  /**
   * Pauses sending (`true`) as if the browser were offline, or resumes it
   * (`false`). For demos and tests: the SDK follows the browser's
   * online/offline events by itself, and sends nothing while the browser
   * is offline whatever this says.
   */
  setOffline(offline: boolean): void;
  /** The counters now. */
  stats(): Stats;
  /** The distinct id of events captured without one. */
  readonly distinctId: string;
  /** The current session id (a new one after `sessionIdleMs` without events). */
  readonly sessionId: string;
  /** Resolves once events persisted by earlier pages are replayed (capturing need not wait). */
  readonly ready: Promise<void>;
}
