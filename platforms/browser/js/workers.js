// Tidings for Cloudflare Workers (and other runtimes where no timer runs
// after the response): the JavaScript face of the wasm module in
// ../pkg-workers. Nothing is sent until `drain(budgetMs)`, handed to
// ctx.waitUntil. In workerd, import the package itself (its `workerd`
// export, ./workers-entry.js, loads the module); elsewhere `await load()`.
// See workers.d.ts for the documented API.

import init, { initSync } from '../pkg-workers/tidings_workers.js';
import { loader } from './common.js';
import { markLoaded } from './workers-client.js';

const wasm = loader(init, initSync, new URL('../pkg-workers/tidings_workers_bg.wasm', import.meta.url), markLoaded);

/** Loads the wasm module once (not needed in workerd: see workers-entry.js). */
export const load = wasm.load;

/** Loads the wasm module synchronously from a `WebAssembly.Module` or bytes. */
export const loadSync = wasm.loadSync;

export { Tidings } from './workers-client.js';
