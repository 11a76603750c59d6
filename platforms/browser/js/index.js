// Tidings for browsers, Web Workers and Node >= 18: the JavaScript face of
// the wasm module in ../pkg (built by scripts/build-wasm). The core (in
// wasm) batches, retries and counts; this file owns what is the browser's:
// fetch (./transport.js), identity and page properties (./identity.js),
// persistence across page loads (./persist.js), unload and offline events.
// Cloudflare Workers use ./workers.js (the package's `workerd` export).
// See index.d.ts for the documented API.

import init, { initSync, TimerDriver } from '../pkg/tidings_browser.js';
import { ClientBase, newDriver } from './client-base.js';
import { checkCapture, describe, isPlainObject, loader } from './common.js';
import { guarded, hostCallback, nestingBound, warn, withResolvers } from './guard.js';
import { Identity, PageProperties } from './identity.js';
import { checkMillis, checkOptions } from './options.js';
import { Store } from './persist.js';
import { CoreTimer } from './timer.js';
import { inBrowser, Transport } from './transport.js';
import { warmUp } from './warm.js';

const wasm = loader(init, initSync, new URL('../pkg/tidings_browser_bg.wasm', import.meta.url));

/**
 * Loads the wasm module once. With no argument: fetches it next to this
 * file in browsers, reads it from disk in Node. Or pass what you have: a
 * URL, a `Response`, bytes or a `WebAssembly.Module`.
 */
export const load = wasm.load;

/** Loads the wasm module synchronously from a `WebAssembly.Module` or bytes. */
export const loadSync = wasm.loadSync;

/** Options of this build only (the core's are checked in ./options.js). */
const DEFAULTS = {
  persistence: 'indexeddb',
  persistenceMaxBytes: 5 * 1024 * 1024,
  persistenceMaxAgeMs: 7 * 24 * 3600 * 1000,
  compression: true,
  sessionIdleMs: 30 * 60 * 1000,
  storagePrefix: 'tidings',
  pageProperties: true,
};

function checkOwn(own) {
  const o = { ...DEFAULTS };
  for (const [name, value] of Object.entries(own)) {
    if (value === undefined || value === null) continue;
    const want = typeof DEFAULTS[name];
    if (typeof value !== want || (want === 'number' && !(value >= 0 && Number.isFinite(value)))) {
      throw new TypeError(`tidings: option "${name}" must be a ${want === 'number' ? 'non-negative number' : want}, got ${describe(value)}`);
    }
    o[name] = value;
  }
  if (!['indexeddb', 'localstorage', 'memory'].includes(o.persistence)) {
    throw new RangeError(`tidings: option "persistence" must be "indexeddb", "localstorage" or "memory", got ${describe(o.persistence)}`);
  }
  return o;
}

export class Tidings extends ClientBase {
  #core;
  #transport;
  #identity;
  #page;
  /** Open store, or null (memory only, or storage unavailable). */
  #store = null;
  /** Records captured while the store opens; null once it has. */
  #early = [];
  #ready;
  #flushes = new Map();
  #flushResults = new Map();
  #shutdown = null;
  #shutdownResolve = null;
  #listeners = [];
  /** Set by setOffline(true). */
  #offline = false;
  /** From pagehide to pageshow: the page is going (or in the back/forward cache). */
  #leaving = false;
  /** Records accepted by the core, on their way to persistence (see `#persist`). */
  #keep = [];

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
    // What the core shapes requests by: a browser sends CORS-simple ones
    // (no preflight, so they go out even while the page unloads), and
    // compresses them itself with CompressionStream.
    const o = checkOptions(options, Object.keys(DEFAULTS), {
      corsSimple: inBrowser,
      adapterGzip: options?.compression !== false && typeof CompressionStream === 'function',
    });
    const own = checkOwn(o.own);
    const timer = new CoreTimer(() => {
      try {
        this.#core.timer();
      } catch (e) {
        warn(`tidings: a timer's drain failed (${e?.message ?? e})`);
      }
    });
    timer.arm(-1); // compiled from this stack (see ./guard.js)
    // Called by the wasm module: none of them may throw into it (./guard.js).
    const host = {
      send: hostCallback('send', (...args) => { this.#transport.send(...args); }),
      settled: hostCallback('settled', (delivered, dropped) => this.#settled(
        delivered === '' ? [] : delivered.split(','),
        dropped === '' ? [] : dropped.split(','),
      )),
      flushed: hostCallback('flushed', (id, completed, pending) => this.#flushed(id, { completed, pending })),
      shutDown: hostCallback('shutDown', (drained, dropped) => this.#shutDown({ drained, dropped })),
      // At once (after every input): it only keeps a timer, and never throws.
      arm: timer.arm.bind(timer),
      warn,
    };
    warmUp((noop) => new TimerDriver(o.host, o.apiKey, o.values, o.headers, noop));
    const core = newDriver(() => new TimerDriver(o.host, o.apiKey, o.values, o.headers, host));
    super(core);
    this.#core = core;
    host.settled('', ''); // compiles the callbacks' wrapper from this stack (a no-op)
    this.#transport = new Transport(this.#core, { compression: own.compression });
    this.#identity = new Identity({ prefix: own.storagePrefix, idleMs: own.sessionIdleMs, distinctId: o.distinctId });
    this.#page = own.pageProperties ? new PageProperties() : null;
    this.#ready = own.persistence === 'memory' ? (this.#early = null, Promise.resolve()) : this.#openStore(own);
    this.#listen();
  }

  /**
   * Resolves once persisted events of earlier pages are replayed (or there
   * is no persistence). Capturing does not need to wait for it.
   */
  get ready() {
    return this.#ready;
  }

  /**
   * Queues an event; returns its uuid, or null when it was valid but not
   * accepted (queue full, shut down: counted in stats().dropped).
   */
  capture(event, properties, options) {
    // Everything that can throw (a user's toJSON or getter included) runs
    // here, before anything reaches the core; a refusal throws.
    const [own, distinctId, uuid, timestampMs] = checkCapture(this.#core, event, properties, options);
    const members = this.#page ? this.#page.members() : '';
    let json = own;
    if (members) {
      json = own === undefined || own === '{}' ? `{${members.slice(0, -1)}}` : `{${members}${own.slice(1)}`;
    }
    const at = Number.isNaN(timestampMs) ? Date.now() : timestampMs;
    const sessionId = this.#identity.session();
    const who = distinctId ?? this.#identity.distinctId;
    const record = { uuid: null, at, name: event, json: json ?? '', distinctId: who, sessionId, windowId: this.#identity.windowId };
    // Then the core and the bookkeeping after it, with room on the stack
    // for all of it: once the core has the event, nothing may throw.
    return guarded(() => this.#accept(uuid, record), nestingBound(own));
  }

  /** Hands a checked capture to the core; keeps it for persistence once accepted. */
  #accept(uuid, record) {
    const { name: event, distinctId: who, sessionId, windowId, at } = record;
    const id = this.#core.capture(event, record.json || undefined, who, uuid, at, sessionId, windowId) ?? null;
    // The page is hiding: a capture made now (a page's own hide handler)
    // goes out at once, as pagehide's flush did; a timer may never run.
    if (id !== null && this.#transport.unloading) this.flush(1000);
    if (id !== null) {
      record.uuid = id;
      // Persisted from a microtask: only built-ins run here, deep in a
      // page's stack, so nothing can throw once the core has the event.
      if (this.#keep.push(record) === 1) queueMicrotask(this.#persist);
    }
    return id;
  }

  /** Hands the records captured since the last call to persistence. */
  #persist = () => {
    const records = this.#keep;
    this.#keep = [];
    for (const r of records) {
      if (this.#store) this.#store.add(r);
      else if (this.#early) this.#early.push(r);
    }
  };

  /** `$pageview` with the page's title and the standard properties. */
  capturePageview(properties, options) {
    const title = typeof document !== 'undefined' ? document.title : undefined;
    return this.capture('$pageview', { $title: title, ...(properties ?? {}) }, options);
  }

  /**
   * From now on events are from `distinctId` (persisted for the site). Sends
   * `$identify` linking the anonymous id, with `$set` / `$set_once` person
   * properties when given.
   */
  identify(distinctId, setProperties, setOnceProperties) {
    if (typeof distinctId !== 'string' || distinctId.trim() === '') {
      throw new TypeError(`tidings: identify(distinctId) needs a non-empty string, got ${describe(distinctId)}`);
    }
    for (const [what, value] of [['setProperties', setProperties], ['setOnceProperties', setOnceProperties]]) {
      if (value !== undefined && value !== null && !isPlainObject(value)) {
        throw new TypeError(`tidings: identify(distinctId, ${what}) needs a plain object, got ${describe(value)}`);
      }
    }
    const anonymous = this.#identity.anonymousId;
    const previous = this.#identity.distinctId;
    this.#identity.identify(distinctId);
    if (previous === distinctId && !setProperties && !setOnceProperties) return null;
    return this.capture('$identify', {
      $anon_distinct_id: anonymous,
      $set: setProperties ?? undefined,
      $set_once: setOnceProperties ?? undefined,
    });
  }

  /** Forgets the identified user: a new anonymous id and a new session (call on logout). */
  reset() {
    this.#identity.reset();
  }

  /** Sends what is queued; resolves `{ completed, pending }`. Never rejects. */
  flush(timeoutMs) {
    const ms = checkMillis('flush(timeoutMs)', timeoutMs);
    // Guarded as a whole: a flush id the core handed out is always collected.
    return guarded(() => this.#flush(ms));
  }

  #flush(ms) {
    // Made before the core is called: after it, only built-ins run.
    const { promise, resolve } = withResolvers();
    const id = this.#core.flush(ms);
    if (id < 0) {
      resolve({ completed: true, pending: 0 });
    } else if (this.#flushResults.has(id)) {
      resolve(this.#flushResults.get(id));
      this.#flushResults.delete(id);
    } else {
      this.#flushes.set(id, resolve);
    }
    return promise;
  }

  /** Stops accepting events and drains within `timeoutMs`; resolves `{ drained, dropped }`. */
  shutdown(timeoutMs) {
    const ms = checkMillis('shutdown(timeoutMs)', timeoutMs);
    if (!this.#shutdown) {
      guarded(() => {
        this.#shutdown = new Promise((resolve) => { this.#shutdownResolve = resolve; });
        for (const [target, type, fn] of this.#listeners) target.removeEventListener(type, fn);
        this.#core.shutdown(ms);
      });
    }
    return this.#shutdown;
  }

  /** Milliseconds since the oldest buffered metering entry, or undefined. */
  get meterOldestAgeMs() {
    return this.#core.meterOldestAgeMs;
  }

  /**
   * Pauses sending (`true`) as if the browser were offline, or resumes it
   * (`false`). For demos and tests: the SDK follows the browser's
   * online/offline events by itself, and sends nothing while the browser
   * is offline whatever this says.
   */
  setOffline(offline) {
    if (typeof offline !== 'boolean') {
      throw new TypeError(`tidings: setOffline(offline) needs a boolean, got ${describe(offline)}`);
    }
    this.#offline = offline;
    this.#connectivity();
  }

  /** The distinct id of events captured without one. */
  get distinctId() {
    return this.#identity.distinctId;
  }

  /** The current session id (rotated after `sessionIdleMs` without events). */
  get sessionId() {
    return this.#identity.session();
  }

  #settled(delivered, dropped) {
    if (this.#store) {
      this.#store.remove(delivered);
      this.#store.remove(dropped);
    } else if (this.#early) {
      const gone = new Set([...delivered, ...dropped]);
      this.#early = this.#early.filter((r) => !gone.has(r.uuid));
    }
  }

  #flushed(id, result) {
    const resolve = this.#flushes.get(id);
    if (resolve) {
      this.#flushes.delete(id);
      resolve(result);
    } else {
      // Completed inside core.flush(), before flush() saw its id.
      this.#flushResults.set(id, result);
    }
  }

  #shutDown(result) {
    this.#store?.flush();
    this.#shutdownResolve?.(result);
  }

  async #openStore(own) {
    let store = null;
    try {
      store = await Store.open({
        prefix: own.storagePrefix,
        kind: own.persistence,
        maxBytes: own.persistenceMaxBytes,
        maxAgeMs: own.persistenceMaxAgeMs,
        tabId: this.#identity.windowId,
      });
    } catch {
      store = null;
    }
    const early = this.#early;
    this.#early = null;
    if (!store) return;
    this.#store = store;
    for (const r of early) store.add(r);
    let claimed;
    try {
      claimed = await store.claim();
    } catch {
      return;
    }
    if (claimed.expired > 0) this.#core.noteRefused(1, claimed.expired); // expired
    for (const r of claimed.replay) {
      let id = null;
      try {
        id = this.#core.capture(r.name, r.json || undefined, r.distinctId, r.uuid, r.at, r.sessionId, r.windowId) ?? null;
      } catch {
        id = null;
      }
      // Refused (queue full, shut down): counted as dropped here, so gone.
      if (id === null) store.remove([r.uuid]);
    }
  }

  /** Page lifecycle: unload-safe sends, offline pauses. */
  #listen() {
    const on = (target, type, fn) => {
      if (typeof target?.addEventListener !== 'function') return;
      target.addEventListener(type, fn);
      this.#listeners.push([target, type, fn]);
    };
    const hide = () => {
      // Everything pending goes out now with keepalive (within its
      // budget); what is buffered for storage is written.
      this.#transport.unloading = true;
      this.#identity.flush();
      this.#persist();
      this.#store?.flush(true);
      // Through flush(): its result must be collected (a flush id nobody
      // waits for would stay in #flushResults for the page's lifetime).
      this.flush(1000);
    };
    const leave = () => {
      hide();
      // Nothing new starts after that: a closing page still runs for a
      // moment (an `online` event, a retry timer) after its Web Lock is
      // released, and the next page may already replay the same records.
      this.#leaving = true;
      this.#connectivity();
    };
    const show = () => { this.#transport.unloading = false; };
    const doc = typeof document !== 'undefined' ? document : null;
    const win = typeof window !== 'undefined' ? window : null;
    on(win, 'pagehide', leave);
    on(win, 'pageshow', () => {
      this.#leaving = false;
      show();
      this.#connectivity();
    });
    on(doc, 'visibilitychange', () => (doc.visibilityState === 'hidden' ? hide() : show()));
    const connectivity = () => this.#connectivity();
    on(win, 'online', connectivity);
    on(win, 'offline', connectivity);
    if (win && globalThis.navigator?.onLine === false) connectivity();
  }

  /** Sends only while the browser is online, the page stays and setOffline() allows. */
  #connectivity() {
    this.#core.setOnline(globalThis.navigator?.onLine !== false && !this.#leaving && !this.#offline);
  }
}
