// The package in Cloudflare Workers (export condition `workerd`, or the
// subpath `tidings-browser/workers`): wrangler turns the .wasm import into a
// WebAssembly.Module, loaded synchronously here, so `new Tidings(...)` works
// at the top level of a Worker with no `load()` call.

import wasm from '../pkg/tidings_browser_bg.wasm';
import { loadSync } from './index.js';

loadSync(wasm);

export * from './index.js';
