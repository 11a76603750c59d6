// Tidings for browsers, Web Workers and Node >= 18: the JavaScript face of
// the wasm module in ../pkg (built by scripts/build-wasm). Cloudflare
// Workers use ./workers.js (the package's `workerd` export condition).
// See index.d.ts for the documented API.

import init, { initSync, TidingsCore } from '../pkg/tidings_browser.js';
import { isPlainObject, loader, propertiesJson, randomId } from './common.js';
import { checkCaptureOptions, checkMillis, checkOptions } from './options.js';

const wasm = loader(init, initSync, new URL('../pkg/tidings_browser_bg.wasm', import.meta.url));

/**
 * Loads the wasm module once. With no argument: fetches it next to this
 * file in browsers, reads it from disk in Node. Or pass what you have: a
 * URL, a `Response`, bytes or a `WebAssembly.Module`.
 */
export const load = wasm.load;

/** Loads the wasm module synchronously from a `WebAssembly.Module` or bytes. */
export const loadSync = wasm.loadSync;

export class Tidings {
  #core;
  #distinctId;

  /** @param {import('./index.d.ts').TidingsOptions} options */
  constructor(options) {
    if (!wasm.isLoaded()) {
      throw new Error('tidings: the wasm module is not loaded yet: `await load()` first');
    }
    if (isPlainObject(options) && 'runtime' in options) {
      throw new TypeError(
        "tidings: the option \"runtime\" belongs to Cloudflare Workers: import { Tidings } from 'tidings-browser/workers' " +
        "(the package's `workerd` export does this) and leave the option out",
      );
    }
    const o = checkOptions(options);
    this.#core = new TidingsCore(o.host, o.apiKey, o.names, o.values, o.headers);
    this.#distinctId = o.distinctId ?? randomId();
  }

  /**
   * Queues an event; returns its uuid, or null when it was valid but not
   * accepted (queue full, shut down: counted in stats().dropped).
   */
  capture(event, properties, options) {
    const json = propertiesJson(this.#core, event, properties);
    const [distinctId, uuid, timestampMs] = checkCaptureOptions(options);
    return this.#core.capture(event, json, distinctId ?? this.#distinctId, uuid, timestampMs) ?? null;
  }

  /** Sends what is queued; resolves `{ completed, pending }`. Never rejects. */
  flush(timeoutMs) {
    return this.#core.flush(checkMillis('flush(timeoutMs)', timeoutMs));
  }

  /** Stops accepting events and drains within `timeoutMs`; resolves `{ drained, dropped }`. */
  shutdown(timeoutMs) {
    return this.#core.shutdown(checkMillis('shutdown(timeoutMs)', timeoutMs));
  }

  /** The delivery counters now, as a plain object. */
  stats() {
    return this.#core.stats();
  }

  /** The distinct id of events captured without one. */
  get distinctId() {
    return this.#distinctId;
  }
}
