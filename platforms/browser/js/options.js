// The options of `new Tidings(options)` and of `capture(...)`, checked in
// JavaScript: each value's type and range, unknown names refused (a typo
// would otherwise be silently ignored). The core then validates how they
// fit together (its messages name the options the same way).

import { describe, isPlainObject } from './common.js';

/** Whole numbers of items or bytes. */
const COUNTS = [
  'flushAt', 'maxBatchEvents', 'maxBatchBytes', 'maxEventBytes', 'maxQueueEvents',
  'maxQueueBytes', 'maxInFlight', 'maxAttempts', 'meterFlushKeys',
];
/** Durations in milliseconds. */
const MILLIS = [
  'flushIntervalMs', 'lingerMs', 'requestTimeoutMs', 'initialBackoffMs', 'maxBackoffMs',
  'warningIntervalMs', 'meterFlushIntervalMs', 'eventTimeoutMs',
];
/** `allowInsecureHttp` is the core's `allow_insecure_http` (see withOptionNames). */
const BOOLEANS = ['historicalMigration', 'geoipDisable', 'allowInsecureHttp'];
/** String options and their allowed values, passed on as the value's index. */
const CHOICES = {
  protocol: ['posthog-v0', 'posthog-v1', 'json'],
  overflow: ['drop-newest', 'drop-oldest'],
};
const OTHERS = ['host', 'apiKey', 'distinctId', 'headers', 'jitter'];
/** Facts about the host that the core shapes requests by, not user options. */
const HOST_FACTS = ['corsSimple', 'adapterGzip', 'deliveryWindows'];
/**
 * Every value the wasm constructor reads, by position: the order
 * `config()` in src/options.rs reads them in (NaN: not given). Positions,
 * not names: the names would cost the wasm module their bytes.
 */
const ORDER = [...COUNTS, ...MILLIS, 'jitter', ...BOOLEANS, ...Object.keys(CHOICES), ...HOST_FACTS];
/** About 285 years: far beyond any useful setting, and no overflow. */
const MAX_MS = 9e12;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/** Options that are fields of the core's `retry` policy. */
const RETRY = ['initialBackoffMs', 'maxBackoffMs', 'maxAttempts', 'jitter'];

/**
 * `error` with the core's field names in its message (flush_at,
 * retry.max_backoff, ...) rewritten to the options they come from,
 * longest first so that no replacement hits a prefix of a longer name.
 */
export function withOptionNames(error) {
  if (!(error instanceof Error)) return error;
  const names = [...COUNTS, ...MILLIS, ...BOOLEANS, 'apiKey', 'jitter'].map((js) => {
    const snake = js.replace(/Ms$/, '').replace(/[A-Z]/g, (c) => '_' + c.toLowerCase());
    return [RETRY.includes(js) ? 'retry.' + snake : snake, js];
  });
  for (const [core, js] of names.sort((a, b) => b[0].length - a[0].length)) {
    error.message = error.message.replaceAll(core, js);
  }
  return error;
}

function wrongType(name, expected, got) {
  return new TypeError(`tidings: option "${name}" must be ${expected}, got ${describe(got)}`);
}

function given(v) {
  return v !== undefined && v !== null;
}

/**
 * Checks `options`; `extra` lists the adapter's own option names (returned
 * in `own`, unchecked); `hostFacts` are booleans about the host that the
 * core shapes requests by (`corsSimple`, `adapterGzip`, `deliveryWindows`),
 * not user options.
 * Returns what the wasm constructor takes: the option values by position
 * (see ORDER), headers one name or value per line.
 */
export function checkOptions(options, extra = [], hostFacts = {}) {
  if (!isPlainObject(options)) {
    throw new TypeError(`tidings: options must be an object like { apiKey, host }, got ${describe(options)}`);
  }
  const known = [...COUNTS, ...MILLIS, ...BOOLEANS, ...Object.keys(CHOICES), ...OTHERS, ...extra];
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) {
      throw new TypeError(`tidings: unknown option "${key}" (known options: ${[...known].sort().join(', ')})`);
    }
  }
  const string = (name) => {
    const v = options[name];
    if (!given(v)) return undefined;
    if (typeof v !== 'string') throw wrongType(name, 'a string', v);
    return v;
  };
  const host = string('host');
  if (host === undefined) throw new TypeError('tidings: option "host" is required (the ingestion URL)');
  const distinctId = string('distinctId');
  if (distinctId !== undefined && distinctId.trim() === '') {
    throw new RangeError('tidings: option "distinctId" must not be empty');
  }

  const values = new Float64Array(ORDER.length).fill(NaN);
  const put = (name, value) => { values[ORDER.indexOf(name)] = value; };
  for (const name of COUNTS) {
    const v = options[name];
    if (!given(v)) continue;
    if (typeof v !== 'number' || Number.isNaN(v)) throw wrongType(name, 'a whole number', v);
    if (!Number.isInteger(v) || v < 0 || v > Number.MAX_SAFE_INTEGER) {
      throw new RangeError(`tidings: option "${name}" must be a whole number from 0 to ${Number.MAX_SAFE_INTEGER}, got ${v}`);
    }
    put(name, v);
  }
  for (const name of MILLIS) {
    const v = options[name];
    if (!given(v)) continue;
    if (typeof v !== 'number' || !Number.isFinite(v)) throw wrongType(name, 'a finite number', v);
    if (v < 0 || v > MAX_MS) {
      throw new RangeError(`tidings: option "${name}" must be a duration in milliseconds from 0 to 9e12, got ${v}`);
    }
    put(name, v);
  }
  for (const name of BOOLEANS) {
    const v = options[name];
    if (!given(v)) continue;
    if (typeof v !== 'boolean') throw wrongType(name, 'a boolean', v);
    put(name, v ? 1 : 0);
  }
  // Plain http to a host that is not loopback, which only allowInsecureHttp
  // lets through: one warning per client, naming host[:port] only (never
  // the path or query; a URL with credentials is refused by the core).
  // Here rather than in the wasm module, where it would cost more bytes.
  const insecure = options.allowInsecureHttp && /^\s*http:\/\/([^/?#@]+)([/?#]|\s*$)/i.exec(host)?.[1];
  if (insecure && !/^(localhost|127\.[\d.]+|\[::1\])(:\d*)?$|\.localhost(:\d*)?$/i.test(insecure)) {
    console.warn(`tidings: option "allowInsecureHttp": plain http to ${insecure}, unencrypted`);
  }
  for (const [name, allowed] of Object.entries(CHOICES)) {
    const v = string(name);
    if (v === undefined) continue;
    const index = allowed.indexOf(v);
    if (index < 0) {
      const shown = allowed.map((a) => `"${a}"`);
      throw new RangeError(`tidings: option "${name}" must be ${shown.slice(0, -1).join(', ')} or ${shown.at(-1)}, got "${v}"`);
    }
    put(name, index);
  }
  for (const [name, v] of Object.entries(hostFacts)) put(name, v ? 1 : 0);
  // The default linger (10 ms) never outlasts a shorter flushIntervalMs.
  if (!given(options.lingerMs) && options.flushIntervalMs < 10) put('lingerMs', options.flushIntervalMs);
  if (given(options.jitter)) {
    const v = options.jitter;
    if (typeof v !== 'number' || !Number.isFinite(v)) throw wrongType('jitter', 'a finite number', v);
    put('jitter', v);
  }
  const headers = [];
  if (given(options.headers)) {
    if (!isPlainObject(options.headers)) {
      throw wrongType('headers', 'an object of header names to strings', options.headers);
    }
    for (const [key, value] of Object.entries(options.headers)) {
      if (typeof value !== 'string') throw wrongType(`headers.${key}`, 'a string', value);
      if (/[\r\n]/.test(key + value)) {
        throw new TypeError(`tidings: option "headers.${key}" must not contain line breaks`);
      }
      headers.push(key, value);
    }
  }
  const own = {};
  for (const name of extra) own[name] = options[name];
  // Joined: strings cross into wasm with less code than arrays of them.
  return {
    host, apiKey: string('apiKey') ?? '', distinctId, values, headers: headers.join('\n'), own,
  };
}

/**
 * Checks `capture`'s options: `{ distinctId, uuid, timestamp }`. Returns
 * `[distinctId | undefined, uuid | undefined, timestampMs | NaN]`.
 */
export function checkCaptureOptions(options) {
  if (!given(options)) return [undefined, undefined, NaN];
  if (!isPlainObject(options)) {
    throw new TypeError(`tidings: capture options must be an object like { distinctId, uuid, timestamp }, got ${describe(options)}`);
  }
  let { distinctId, uuid, timestamp } = options;
  if (given(distinctId)) {
    if (typeof distinctId !== 'string' || distinctId.trim() === '') {
      throw new TypeError(`tidings: capture option "distinctId" must be a non-empty string, got ${describe(distinctId)}`);
    }
  } else {
    distinctId = undefined;
  }
  if (given(uuid)) {
    if (typeof uuid !== 'string' || !UUID.test(uuid)) {
      throw new TypeError(`tidings: capture option "uuid" must be a UUID string, got ${describe(uuid)}`);
    }
    uuid = uuid.toLowerCase();
  } else {
    uuid = undefined;
  }
  return [distinctId, uuid, given(timestamp) ? timestampMs(timestamp) : NaN];
}

/** `receipt(uuid)`'s argument, lowercased (as `capture` returns uuids). */
export function receiptUuid(uuid) {
  if (typeof uuid !== 'string' || !UUID.test(uuid)) {
    throw new TypeError(`tidings: receipt(uuid) needs the uuid capture returned, got ${describe(uuid)}`);
  }
  return uuid.toLowerCase();
}

/** A `Date`, epoch milliseconds, or an RFC 3339 string, as epoch milliseconds. */
function timestampMs(v) {
  let ms;
  if (v instanceof Date) {
    ms = v.getTime();
  } else if (typeof v === 'number') {
    ms = v;
  } else if (typeof v === 'string') {
    if (!RFC3339.test(v) || Number.isNaN(ms = Date.parse(v))) {
      throw new RangeError(`tidings: capture option "timestamp" is not an RFC 3339 date: ${JSON.stringify(v)}`);
    }
  } else {
    throw new TypeError(
      `tidings: capture option "timestamp" must be a Date, epoch milliseconds or an RFC 3339 string, got ${describe(v)}`,
    );
  }
  if (!Number.isFinite(ms) || ms < 0) {
    throw new RangeError(`tidings: capture option "timestamp" must be a valid date at or after 1970, got ${ms}`);
  }
  return Math.floor(ms);
}

/** A timeout or budget argument in milliseconds; undefined means the default. */
export function checkMillis(what, value, max = MAX_MS, why = '') {
  if (!given(value)) return undefined;
  if (typeof value !== 'number') {
    throw new TypeError(`tidings: ${what} must be a number of milliseconds, got ${describe(value)}`);
  }
  if (!(value >= 0 && value <= max)) {
    throw new RangeError(`tidings: ${what} must be from 0 to ${max} milliseconds${why}, got ${value}`);
  }
  return value;
}
