// What the browser and Workers clients share, written once over the wasm
// class of each build (TimerDriver or WindowDriver): building it so that
// its errors name options, metering, and the counters.

import { meterTags } from './common.js';
import { guardCore, guarded } from './guard.js';
import { withOptionNames } from './options.js';

/**
 * Calls `make()` (a wasm class constructor); its errors name the JS
 * options. Returns the instance with every call guarded (./guard.js).
 */
export function newDriver(make) {
  let core;
  try {
    core = guarded(make);
  } catch (e) {
    throw withOptionNames(e);
  }
  const guardedCore = guardCore(core);
  // Fixed for the client's lifetime, and read on every capture.
  Object.defineProperty(guardedCore, 'maxEventBytes', { value: core.maxEventBytes });
  return guardedCore;
}

export class ClientBase {
  #core;

  /** @param core the build's wasm class (see `newDriver`) */
  constructor(core) {
    this.#core = core;
  }

  /**
   * Adds `value` to the counter `(tenant, metric, tags)` of the current
   * metering window (one `usage` event per key when the window closes).
   */
  count(tenant, metric, value, tags) {
    this.#core.count(tenant, metric, value, meterTags('count', tenant, metric, value, tags));
  }

  /** Sets the gauge `(tenant, metric, tags)`: the window keeps the last value. */
  gauge(tenant, metric, value, tags) {
    this.#core.gauge(tenant, metric, value, meterTags('gauge', tenant, metric, value, tags));
  }

  /** Closes the metering window now; returns how many entries it had. */
  flushMeters() {
    return this.#core.flushMeters();
  }

  /** Metering keys buffered in the current window. */
  get meterKeys() {
    return this.#core.meterKeys;
  }

  /** The delivery counters now, as a plain object. */
  stats() {
    return JSON.parse(this.#core.stats());
  }
}
