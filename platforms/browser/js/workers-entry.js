// The package in Cloudflare Workers (export condition `workerd`): wrangler
// turns the .wasm import into a WebAssembly.Module, instantiated
// synchronously here, so `new Tidings(...)` works at the top level of a
// Worker with no `load()` call.

import wasm from '../pkg-workers/tidings_workers_bg.wasm';
import { initSync } from '../pkg-workers/tidings_workers.js';
import { markLoaded } from './workers-client.js';

initSync({ module: wasm });
markLoaded();

/** Already loaded here; kept so code written for ./workers.js runs unchanged. */
export function load() {
  return Promise.resolve();
}

/** Already loaded here; kept so code written for ./workers.js runs unchanged. */
export function loadSync() {}

export { Tidings } from './workers-client.js';
