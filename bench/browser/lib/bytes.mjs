// Bytes shipped: gzip -9 and brotli (quality 11) of what a page downloads.
// Tidings: the .wasm plus the JavaScript (wasm-bindgen glue + js/index.js)
// bundled and minified by esbuild, as an application's bundler would ship
// them. Peers: each SDK's minified browser bundle from its npm package (the
// file its CDN serves); RudderStack's npm package ships its builds
// unminified, so they are minified by esbuild first.

import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';

function sizes(files) {
  let raw = 0;
  let gzip = 0;
  let brotli = 0;
  for (const f of files) {
    const buf = readFileSync(f);
    raw += buf.length;
    gzip += gzipSync(buf, { level: 9 }).length;
    brotli += brotliCompressSync(buf, {
      params: {
        [constants.BROTLI_PARAM_QUALITY]: 11,
        [constants.BROTLI_PARAM_SIZE_HINT]: buf.length,
        [constants.BROTLI_PARAM_MODE]: f.endsWith('.wasm') ? constants.BROTLI_MODE_GENERIC : constants.BROTLI_MODE_TEXT,
      },
    }).length;
  }
  return { raw, gzip, brotli, files: files.map((f) => basename(f)) };
}

export async function measureBytes(assets, peers) {
  const rows = [];
  // The bundle may name the same .wasm twice (the browser's fetch path and
  // Node's file path): it ships once.
  const seen = new Set();
  const tidingsWasm = assets.tidings.wasm.filter((f) => !seen.has(basename(f)) && seen.add(basename(f)));
  rows.push({ id: 'tidings', label: 'Tidings: wasm + JS (glue and wrapper, esbuild-minified)', ...sizes([...tidingsWasm, assets.tidings.js]) });
  rows.push({ id: 'tidings-wasm', label: '  of which the .wasm', ...sizes(tidingsWasm) });
  rows.push({ id: 'tidings-js', label: '  of which the JS', ...sizes([assets.tidings.js]) });
  rows.push({ id: 'posthog', label: 'posthog-js (dist/array.js, its CDN bundle)', ...sizes([peers.posthog.main]) });
  rows.push({ id: 'segment', label: 'Segment analytics-next (dist/umd/index.js)', ...sizes([peers.segment.main]) });
  rows.push({ id: 'amplitude', label: 'Amplitude analytics-browser (lib/scripts/amplitude-min.js)', ...sizes([peers.amplitude.main]) });
  rows.push({ id: 'rudderstack-core', label: 'RudderStack v3 core, plugins fetched at run time (esbuild-minified)', ...sizes([assets.rudderstack.core]) });
  rows.push({ id: 'rudderstack', label: 'RudderStack v3 with its plugins bundled, as run here (esbuild-minified)', ...sizes([assets.rudderstack.bundled]) });
  for (const r of rows) {
    console.log(`   ${r.label}: ${r.raw} B raw, ${r.gzip} B gzip, ${r.brotli} B brotli`);
  }
  return { method: 'gzip level 9 and brotli quality 11 (Node zlib), summed per file', rows };
}
