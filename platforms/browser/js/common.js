// What the browser and Workers wrappers share: argument checks and the
// one JSON.stringify of a capture's properties.

import { checkCaptureOptions } from './options.js';

/** A short description of a value for error messages. */
export function describe(value) {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  switch (typeof value) {
    case 'string': return `the string ${JSON.stringify(value.length > 40 ? value.slice(0, 40) + '…' : value)}`;
    case 'number': return `the number ${value}`;
    case 'bigint': return `the bigint ${value}n`;
    case 'undefined': return 'undefined';
    default: return `a${typeof value === 'object' ? 'n' : ''} ${typeof value}`;
  }
}

export function isPlainObject(value) {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/**
 * The JSON text of `properties` (undefined when there are none), checked
 * against the core's `maxEventBytes` before it is copied into wasm memory.
 * Throws a TypeError (not an object, cyclic, BigInt) or a RangeError (too
 * large; counted by `core.noteRefused(0, 1)`).
 */
export function propertiesJson(core, event, properties) {
  if (typeof event !== 'string') {
    throw new TypeError(`tidings: capture(event) needs the event name as a string, got ${describe(event)}`);
  }
  if (event.trim() === '') {
    throw new TypeError('tidings: capture(event) needs a non-empty event name');
  }
  const max = core.maxEventBytes;
  if (event.length > max) {
    core.noteRefused(0, 1); // too_large
    throw new RangeError(`tidings: capture refused: the event name is ${event.length} characters, above maxEventBytes (${max})`);
  }
  if (properties === undefined || properties === null) return undefined;
  if (!isPlainObject(properties)) {
    throw new TypeError(`tidings: capture(event, properties) needs properties as a plain object, got ${describe(properties)}`);
  }
  let json;
  try {
    json = JSON.stringify(properties);
    // JSON.stringify escapes only lone UTF-16 surrogates (a string cut in
    // the middle of an emoji), which JSON servers refuse: such strings get
    // U+FFFD instead, as TextEncoder would write them.
    if (typeof json === 'string' && json.includes('\\ud') && typeof String.prototype.toWellFormed === 'function') {
      json = JSON.stringify(properties, (_, v) => (typeof v === 'string' ? v.toWellFormed() : v));
    }
  } catch (e) {
    throw new TypeError(
      `tidings: properties of "${event}" cannot be serialized to JSON (${e && e.message}): ` +
      'remove cyclic references and convert BigInt values (to strings or numbers)',
      { cause: e },
    );
  }
  // A toJSON may return anything: only an object's JSON goes on.
  if (typeof json !== 'string' || json.charCodeAt(0) !== 123) {
    throw new TypeError(
      `tidings: properties of "${event}" must serialize to a JSON object, got ${json === undefined ? 'nothing' : describe(json)} (check their toJSON)`,
    );
  }
  // UTF-8 is never shorter than the UTF-16 length: this JSON alone
  // exceeds the limit. Refused here, without copying it into wasm.
  if (json.length > max) {
    core.noteRefused(0, 1); // too_large
    throw new RangeError(
      `tidings: capture refused: the properties of "${event}" are ${json.length} characters of JSON, ` +
      `above maxEventBytes (${max}): trim them`,
    );
  }
  return json;
}

/**
 * Checks a capture's arguments: `[json, distinctId, uuid, timestampMs]`.
 * A refusal throws, and is counted by the core as it counts the events it
 * refuses itself: `too_large` (by propertiesJson) or `invalid_event`.
 */
export function checkCapture(core, event, properties, options) {
  let json;
  try {
    json = propertiesJson(core, event, properties);
  } catch (e) {
    if (e instanceof TypeError) core.noteRefused(2, 1); // invalid_event
    throw e;
  }
  try {
    return [json, ...checkCaptureOptions(options)];
  } catch (e) {
    core.noteRefused(2, 1); // invalid_event
    throw e;
  }
}

export function isNode() {
  return typeof process !== 'undefined' && process.versions != null && process.versions.node != null;
}

/**
 * A `load(source)` for one wasm-bindgen module: `init` is its default
 * export, `wasmUrl` the .wasm next to it (read from disk in Node).
 */
export function loader(init, initSync, wasmUrl, onLoaded = () => {}) {
  let loaded = false;
  let loading = null;
  return {
    isLoaded: () => loaded,
    load(source) {
      if (loaded) return Promise.resolve();
      if (!loading) {
        loading = (async () => {
          let module_or_path = source;
          if (module_or_path === undefined && isNode()) {
            // Node's fetch cannot read file: URLs. The specifier is a
            // variable so that bundlers leave this Node-only import alone.
            const fsName = 'node:fs/promises';
            const fs = await import(/* webpackIgnore: true */ /* @vite-ignore */ fsName);
            module_or_path = await fs.readFile(wasmUrl);
          }
          await init(module_or_path === undefined ? undefined : { module_or_path });
          loaded = true;
          onLoaded();
        })();
        loading.catch(() => { loading = null; });
      }
      return loading;
    },
    loadSync(module) {
      if (!loaded) {
        initSync({ module });
        loaded = true;
        onLoaded();
      }
    },
  };
}

/** A random uuid v4 (`crypto.randomUUID` where it exists). */
export function randomId() {
  if (typeof crypto !== 'undefined' && typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  const b = new Uint8Array(16);
  if (typeof crypto !== 'undefined' && crypto.getRandomValues) crypto.getRandomValues(b);
  else for (let i = 0; i < 16; i++) b[i] = Math.floor(Math.random() * 256); // only uniqueness matters
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/**
 * A Retry-After value as delay-seconds: the wasm core reads only those
 * (HTTP-date parsing is left to JavaScript to keep the module small). An
 * HTTP-date becomes the whole seconds from now (0 if past); anything else
 * is passed on unchanged (the core ignores it).
 */
export function retryAfterSeconds(value) {
  if (value == null || /^\s*\d+\s*$/.test(value)) return value ?? undefined;
  const at = Date.parse(value);
  return Number.isFinite(at) ? String(Math.max(0, Math.ceil((at - Date.now()) / 1000))) : value;
}

/**
 * Checks a metering call's arguments; returns the tags' JSON text (or
 * undefined). The core refuses the rest (empty tenant or metric, a value
 * that is not finite, a count past 2^53) with a RangeError.
 */
export function meterTags(call, tenant, metric, value, tags) {
  if (typeof tenant !== 'string') {
    throw new TypeError(`tidings: ${call}(tenant, ...) needs the tenant as a string, got ${describe(tenant)}`);
  }
  if (typeof metric !== 'string') {
    throw new TypeError(`tidings: ${call}(tenant, metric, ...) needs the metric name as a string, got ${describe(metric)}`);
  }
  if (typeof value !== 'number') {
    throw new TypeError(`tidings: ${call}(tenant, metric, value) needs the value as a number, got ${describe(value)}`);
  }
  if (tags === undefined || tags === null) return undefined;
  if (!isPlainObject(tags)) {
    throw new TypeError(`tidings: ${call}(..., tags) needs tags as a plain object, got ${describe(tags)}`);
  }
  let json;
  try {
    json = JSON.stringify(tags);
  } catch (e) {
    throw new TypeError(`tidings: the tags of ${call}() cannot be serialized to JSON (${e && e.message})`, { cause: e });
  }
  if (typeof json !== 'string' || json.charCodeAt(0) !== 123) {
    throw new TypeError(`tidings: the tags of ${call}() must serialize to a JSON object (check their toJSON)`);
  }
  return json;
}
