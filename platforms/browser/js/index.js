// Tidings for browsers, Web Workers, Node >= 18 and workerd: the
// JavaScript face of the wasm module in ../pkg (built by scripts/build-wasm).
// See index.d.ts for the documented API.

import wasmInit, { initSync, TidingsCore, TidingsWorkersCore } from '../pkg/tidings_browser.js';
import { drain } from './workers.js';

let loaded = false;
let loading = null;

/**
 * Loads the wasm module once. With no argument: fetches it next to this
 * file in browsers, reads it from disk in Node. Or pass what you have: a
 * URL, a `Response`, bytes or a `WebAssembly.Module`.
 */
export function load(source) {
  if (loaded) return Promise.resolve();
  if (!loading) {
    loading = (async () => {
      let module_or_path = source;
      if (module_or_path === undefined && isNode()) {
        // Node's fetch cannot read file: URLs. The specifier is a variable
        // so that bundlers leave this Node-only import alone.
        const fsName = 'node:fs/promises';
        const fs = await import(/* webpackIgnore: true */ /* @vite-ignore */ fsName);
        module_or_path = await fs.readFile(new URL('../pkg/tidings_browser_bg.wasm', import.meta.url));
      }
      await wasmInit(module_or_path === undefined ? undefined : { module_or_path });
      loaded = true;
    })();
    loading.catch(() => { loading = null; });
  }
  return loading;
}

/**
 * Loads the wasm module synchronously from a `WebAssembly.Module` or bytes:
 * for Cloudflare Workers (`import wasm from '.../tidings_browser_bg.wasm'`).
 */
export function loadSync(module) {
  if (!loaded) {
    initSync({ module });
    loaded = true;
  }
}

function isNode() {
  return typeof process !== 'undefined' && process.versions != null && process.versions.node != null;
}

function describe(value) {
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

export class Tidings {
  #core;
  #workers = false;

  /** @param {import('./index.d.ts').TidingsOptions} options */
  constructor(options) {
    if (!loaded) {
      throw new Error('tidings: the wasm module is not loaded yet: `await load()` first (or `loadSync(module)` in a Worker)');
    }
    if (options !== null && typeof options === 'object' && !Array.isArray(options) && 'runtime' in options) {
      const { runtime, ...rest } = options;
      if (runtime !== 'workers' && runtime !== 'timers' && runtime !== undefined) {
        throw new RangeError(`tidings: option "runtime" must be "timers" (the default) or "workers", got ${describe(runtime)}`);
      }
      this.#workers = runtime === 'workers';
      options = rest;
    }
    this.#core = this.#workers ? new TidingsWorkersCore(options) : new TidingsCore(options);
  }

  /**
   * `runtime: 'workers'` only: drives delivery of everything captured so
   * far until it is delivered or dropped, or `budgetMs` (default 5000, at
   * most 30 000) runs out; hand it to `ctx.waitUntil`. Resolves
   * `{ completed, pending, dropped, elapsedMs }`.
   */
  drain(budgetMs) {
    if (!this.#workers) {
      throw new TypeError("tidings: drain() needs the option runtime: 'workers' (with timers, use flush())");
    }
    return drain(this.#core, budgetMs);
  }

  /**
   * Queues an event; returns its uuid, or null when it was valid but not
   * accepted (queue full, shut down: counted in stats().dropped).
   */
  capture(event, properties, options) {
    if (typeof event !== 'string') {
      throw new TypeError(`tidings: capture(event) needs the event name as a string, got ${describe(event)}`);
    }
    let json;
    if (properties !== undefined && properties !== null) {
      if (typeof properties !== 'object' || Array.isArray(properties)) {
        throw new TypeError(`tidings: capture(event, properties) needs properties as a plain object, got ${describe(properties)}`);
      }
      try {
        json = JSON.stringify(properties);
      } catch (e) {
        throw new TypeError(
          `tidings: properties of "${event}" cannot be serialized to JSON (${e && e.message}): ` +
          'remove cyclic references and convert BigInt values (to strings or numbers)',
          { cause: e },
        );
      }
      // UTF-8 is never shorter than the UTF-16 length: this JSON alone
      // exceeds the limit. Refused here, without copying it into wasm.
      const max = this.#core.maxEventBytes;
      if (json.length > max) {
        this.#core.noteTooLarge();
        throw new RangeError(
          `tidings: capture refused: the properties of "${event}" are ${json.length} characters of JSON, ` +
          `above maxEventBytes (${max}): trim them`,
        );
      }
    }
    return this.#core.capture(event, json, options) ?? null;
  }

  /** Sends what is queued; resolves `{ completed, pending }`. Never rejects. */
  flush(timeoutMs) {
    if (this.#workers) {
      return this.drain(timeoutMs);
    }
    return this.#core.flush(timeoutMs);
  }

  /** Stops accepting events and drains within `timeoutMs`; resolves `{ drained, dropped }`. */
  shutdown(timeoutMs) {
    if (this.#workers) {
      return this.drain(timeoutMs).then((r) => {
        const closed = this.#core.close();
        const dropped = r.dropped + closed.dropped;
        return { drained: dropped === 0, dropped };
      });
    }
    return this.#core.shutdown(timeoutMs);
  }

  /** The delivery counters now, as a plain object. */
  stats() {
    return this.#core.stats();
  }

  /** The distinct id of events captured without one. */
  get distinctId() {
    return this.#core.distinctId;
  }
}
