// The Workers build's client class, shared by ./workers.js (Node and other
// runtimes: `await load()`) and ./workers-entry.js (workerd: loaded at
// import). No loader code here: workerd refuses the dynamic import a
// loader needs for Node.

import { WindowDriver } from '../pkg-workers/tidings_workers.js';
import { ClientBase, newDriver } from './client-base.js';
import { checkCapture, describe, isPlainObject, randomId } from './common.js';
import { checkOptions, receiptUuid } from './options.js';
import { drain } from './drain.js';
import { guarded, warn } from './guard.js';
import { Receipts } from './receipts.js';
import { Transport } from './transport.js';

let loaded = false;

/** Called once the wasm module is instantiated. */
export function markLoaded() {
  loaded = true;
}

export class Tidings extends ClientBase {
  #core;
  #transport;
  #distinctId;
  #receipts = new Receipts();
  /** Whether the core keeps resolved events for receipts. */
  #wantsResolved = false;
  /** A receipts check is queued (one per task). */
  #checking = false;

  /** @param {import('./workers.d.ts').TidingsOptions} options */
  constructor(options) {
    if (!loaded) {
      throw new Error('tidings: the wasm module is not loaded yet: `await load()` first (or `loadSync(module)`)');
    }
    if (isPlainObject(options) && 'runtime' in options) {
      const { runtime, ...rest } = options;
      if (runtime !== 'workers' && runtime !== undefined) {
        throw new RangeError(`tidings: option "runtime" of the Workers build can only be "workers", got ${describe(runtime)}`);
      }
      options = rest;
    }
    // The core sends only within drains: the host works only in waitUntil.
    const o = checkOptions(options, [], { deliveryWindows: true });
    const core = newDriver(() => new WindowDriver(o.host, o.apiKey, o.values, o.headers));
    super(core);
    this.#core = core;
    // The browser build's fetch path. No compression here: it costs CPU on
    // every request, and its one-time check would start async work at a
    // Worker's global scope, which workerd refuses.
    this.#transport = new Transport(this.#core, { compression: false });
    this.#distinctId = o.distinctId ?? randomId();
  }

  /**
   * Drives delivery of everything captured so far until it is delivered or
   * dropped, or `budgetMs` (default 5000, at most 30 000) runs out; hand it
   * to `ctx.waitUntil`. Resolves `{ completed, pending, dropped, elapsedMs }`.
   */
  drain(budgetMs) {
    return drain(this.#core, this.#transport, budgetMs, () => this.#receipts.size > 0 && this.#check());
  }

  /**
   * Resolves once with what became of the event `uuid` (as `capture`
   * returned it): `{ status: 'delivered' }`, `{ status: 'dropped', reason }`
   * (a key of `stats().dropped`), or `{ status: 'unknown' }` when the
   * client does not hold it (see workers.d.ts). Receipts resolve as drains
   * deliver or drop their events.
   */
  receipt(uuid) {
    const id = receiptUuid(uuid);
    // With room on the stack for all of it, as every call (./guard.js).
    return guarded(() => {
      if (!this.#wantsResolved) this.#core.takeResolved(); // from now on (nothing was kept before)
      this.#wantsResolved = true;
      if (!this.#checking) {
        queueMicrotask(() => {
          this.#checking = false;
          this.#check();
        });
        this.#checking = true;
      }
      return this.#receipts.ask(id);
    });
  }

  /**
   * Resolves the receipts of the events resolved since the last check;
   * the rest are unknown once the client holds no event at all.
   */
  #check() {
    try {
      const list = this.#core.takeResolved();
      if (list !== '') this.#receipts.settle(list.split(','));
      if (this.#receipts.size > 0 && JSON.parse(this.#core.stats()).pending === 0) this.#receipts.unknown();
    } catch (e) {
      warn(`tidings: receipts could not be checked (${e?.message ?? e})`);
    }
  }

  /**
   * Queues an event (nothing is sent until a drain); returns its uuid, or
   * null when it was valid but not accepted (counted in stats().dropped).
   */
  capture(event, properties, options) {
    const [json, distinctId, uuid, timestampMs] = checkCapture(this.#core, event, properties, options);
    return this.#core.capture(event, json, distinctId ?? this.#distinctId, uuid, timestampMs) ?? null;
  }

  /** `drain(timeoutMs)`. */
  flush(timeoutMs) {
    return this.drain(timeoutMs);
  }

  /** Drains within `timeoutMs`, then refuses later captures; resolves `{ drained, dropped }`. */
  shutdown(timeoutMs) {
    return this.drain(timeoutMs).then((r) => {
      const closed = this.#core.close();
      if (this.#receipts.size > 0) this.#check();
      const dropped = r.dropped + closed.dropped;
      return { drained: dropped === 0, dropped };
    });
  }

  /** The delivery counters now, as a plain object, with `drains`: how many are running. */
  stats() {
    const s = super.stats();
    s.drains = this.#core.drains;
    return s;
  }

  /** The distinct id of events captured without one. */
  get distinctId() {
    return this.#distinctId;
  }
}
