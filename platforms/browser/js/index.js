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
import { checkMillis, checkOptions, receiptUuid } from './options.js';
import { Store } from './persist.js';
import { Receipts } from './receipts.js';
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
  compression: true,
  sessionIdleMs: 30 * 60 * 1000,
  storagePrefix: 'tidings',
  pageProperties: true,
};

/** This build's default `eventTimeoutMs`: 7 days (persisted events older than that are dropped as `expired`). */
const EVENT_TIMEOUT_MS = 7 * 24 * 3600 * 1000;

/**
 * `options` with `eventTimeoutMs` set: given, or as its deprecated name
 * `persistenceMaxAgeMs` (one deadline, not two), or this build's default.
 */
function withEventTimeout(options) {
  if (!isPlainObject(options)) return options; // refused by checkOptions
  const { persistenceMaxAgeMs: alias, ...rest } = options;
  const given = rest.eventTimeoutMs;
  if (alias != null && given != null && alias !== given) {
    throw new RangeError('tidings: option "persistenceMaxAgeMs" is the deprecated name of "eventTimeoutMs": give only eventTimeoutMs');
  }
  rest.eventTimeoutMs = given ?? alias ?? EVENT_TIMEOUT_MS;
  return rest;
}

/** Why the core refused a replayed event, in the order it checks. */
function replayRefusal(shutDown, first, timeoutMs) {
  if (shutDown) return 'shut_down';
  try {
    return Date.now() - first < timeoutMs ? 'queue_full' : 'expired';
  } catch {
    return 'expired'; // a page's Date.now that throws
  }
}

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
  #receipts = new Receipts();
  /** Lists of resolved events queued for `#settled` and not yet read. */
  #settling = 0;
  /** Whether the core writes out resolved events (persistence, receipts). */
  #wantsResolved = false;
  /** uuid -> drop reason, for persisted events the core refused at replay. */
  #refusedAtReplay = new Map();
  /** Receipts asked for and not yet looked at by `#decide`. */
  #asked = [];

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
    options = withEventTimeout(options);
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
    const settled = hostCallback('settled', (list) => {
      this.#settling--;
      this.#settled(list);
    });
    // Called by the wasm module: none of them may throw into it (./guard.js).
    const host = {
      send: hostCallback('send', (...args) => { this.#transport.send(...args); }),
      settled: (list) => { if (settled(list)) this.#settling++; },
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
    host.settled(''); // compiles the callbacks' wrapper from this stack (a no-op)
    this.#transport = new Transport(this.#core, { compression: own.compression });
    this.#identity = new Identity({ prefix: own.storagePrefix, idleMs: own.sessionIdleMs, distinctId: o.distinctId });
    this.#page = own.pageProperties ? new PageProperties() : null;
    if (own.persistence === 'memory') {
      this.#early = null;
      this.#ready = Promise.resolve();
    } else {
      this.#wantResolved(); // persisted records are deleted once resolved
      this.#ready = this.#openStore(own, options.eventTimeoutMs);
    }
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
   * Resolves once with what became of the event `uuid` (as `capture`
   * returned it): `{ status: 'delivered' }`, `{ status: 'dropped', reason }`
   * (a key of `stats().dropped`), or `{ status: 'unknown' }` when the
   * client does not hold it (see index.d.ts).
   */
  receipt(uuid) {
    const id = receiptUuid(uuid);
    // With room on the stack for all of it, as every call (./guard.js).
    return guarded(() => {
      this.#wantResolved();
      // Decided together, after the replay of persisted events (they may
      // be among them) and after this task's captures reach the store.
      if (this.#asked.push(id) === 1) this.#ready.then(this.#decide);
      return this.#receipts.ask(id);
    });
  }

  /** Has the core write out resolved events, once. */
  #wantResolved() {
    if (!this.#wantsResolved) this.#core.wantResolved(true);
    this.#wantsResolved = true;
  }

  /**
   * Resolves the receipts asked for since the last call at once if their
   * fate is known (refused at replay) or if the client does not hold their
   * event: with storage, the store knows every event the page holds;
   * without, the client only knows when it holds none.
   */
  #decide = () => {
    const asked = this.#asked;
    this.#asked = [];
    try {
      if (!this.#store) {
        this.#idle();
        return;
      }
      // Captured after the receipt was asked for, in the same task.
      const keep = this.#keep.length > 0 ? new Set(this.#keep.map((r) => r.uuid)) : null;
      for (const uuid of asked) {
        const refused = this.#refusedAtReplay.get(uuid);
        if (refused) this.#receipts.resolve(uuid, refused);
        else if (!this.#store.holds(uuid) && !keep?.has(uuid)) this.#receipts.resolve(uuid, 'unknown');
      }
    } catch (e) {
      warn(`tidings: receipts could not be decided (${e?.message ?? e})`);
    }
  };

  /** Without storage: the open receipts are unknown once the client holds no event. */
  #idle() {
    if (this.#settling === 0 && this.#receipts.size > 0 && JSON.parse(this.#core.stats()).pending === 0) {
      this.#receipts.unknown();
    }
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
    if (!this.#store && !this.#early) return;
    // When it was first captured, for its deadline after a reload (a page's
    // Date.now may throw: the deadline then counts from the timestamp).
    let first;
    try {
      first = Date.now();
    } catch {
      first = undefined;
    }
    for (const r of records) {
      r.first = first;
      if (this.#store) this.#store.add(r);
      else this.#early.push(r);
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

  /** Events resolved: `list` holds fates and uuids (./receipts.js). */
  #settled(list) {
    if (list === '') return;
    const items = list.split(',');
    if (this.#store) {
      this.#store.remove(items); // the fates are no uuids: ignored
    } else if (this.#early) {
      const gone = new Set(items);
      this.#early = this.#early.filter((r) => !gone.has(r.uuid));
    }
    if (this.#receipts.size > 0) {
      this.#receipts.settle(items);
      if (!this.#store) this.#idle();
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

  async #openStore(own, timeoutMs) {
    let store = null;
    try {
      store = await Store.open({
        prefix: own.storagePrefix,
        kind: own.persistence,
        maxBytes: own.persistenceMaxBytes,
        tabId: this.#identity.windowId,
      });
    } catch {
      store = null;
    }
    const early = this.#early;
    this.#early = null;
    if (!store) {
      // Nothing to delete: resolved events are written out for receipts only.
      if (this.#receipts.size === 0) {
        this.#wantsResolved = false;
        this.#core.wantResolved(false);
      }
      return;
    }
    this.#store = store;
    for (const r of early) store.add(r);
    let claimed;
    try {
      claimed = await store.claim();
    } catch {
      return;
    }
    for (const r of claimed) {
      // The core decides: past eventTimeoutMs since an earlier page first
      // captured it (records of older versions: since its timestamp), it
      // refuses the event as expired and counts it.
      const first = r.first ?? r.at;
      let id = null;
      let why = 'invalid_event'; // a throw (counted by the core)
      try {
        id = this.#core.capture(r.name, r.json || undefined, r.distinctId, r.uuid, r.at, r.sessionId, r.windowId, first) ?? null;
        why = null;
      } catch {
        id = null;
      }
      // Refused: counted as dropped, so gone.
      if (id === null) {
        why ??= replayRefusal(this.#shutdown !== null, first, timeoutMs);
        store.remove([r.uuid]);
        this.#refusedAtReplay.set(r.uuid, why);
        this.#receipts.resolve(r.uuid, why);
      }
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
