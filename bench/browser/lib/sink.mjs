// The one local server every SDK meets: it serves the benchmark pages and
// the SDK bundles, and it is the ingestion endpoint for all of them. It
// accepts any POST on any path, undoes the compression each SDK uses, parses
// the JSON and counts the benchmark's events by the SDK's own id (uuid,
// messageId, insert_id) and by the index the harness put in each event, so
// duplicates and drops both show. Binds 127.0.0.1 on a port chosen by the OS.

import { createReadStream, existsSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { performance } from 'node:perf_hooks';
import { brotliDecompressSync, gunzipSync, inflateSync } from 'node:zlib';

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.wasm': 'application/wasm',
  '.json': 'application/json',
};

// Every page is cross-origin isolated (SharedArrayBuffer for the harness's
// clock, 5 µs performance.now()); everything is same-origin, so nothing else
// changes for the SDKs.
const ISOLATION = {
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-embedder-policy': 'require-corp',
  'cross-origin-resource-policy': 'same-origin',
};
const CORS = {
  'access-control-allow-origin': '*',
  'access-control-allow-methods': 'GET, POST, OPTIONS',
  'access-control-allow-headers': '*',
  'access-control-max-age': '600',
};

/** Wall-clock milliseconds with sub-ms precision (comparable with the page's timeOrigin + now()). */
export const wallNow = () => performance.timeOrigin + performance.now();

/** The answer each SDK's client expects, chosen by the first path segment the bench gave it. */
function answer(prefix, events) {
  switch (prefix) {
    case 'posthog':
      return { type: 'application/json', body: JSON.stringify({ status: 1 }) };
    case 'segment':
      return { type: 'application/json', body: JSON.stringify({ success: true }) };
    case 'amplitude':
      return {
        type: 'application/json',
        body: JSON.stringify({
          code: 200, events_ingested: events, payload_size_bytes: 0, server_upload_time: Date.now(),
        }),
      };
    case 'rudderstack':
      return { type: 'text/plain', body: 'OK' };
    default:
      return { type: 'application/json', body: JSON.stringify({ status: 1 }) };
  }
}

/** Undoes Content-Encoding, posthog-js's `compression=gzip-js` / base64 forms; returns the JSON value. */
export function decodeBody(buf, headers, url) {
  const encoding = (headers['content-encoding'] || '').toLowerCase();
  let raw = buf;
  if (encoding === 'gzip') raw = gunzipSync(raw);
  else if (encoding === 'deflate') raw = inflateSync(raw);
  else if (encoding === 'br') raw = brotliDecompressSync(raw);
  const compression = url.searchParams.get('compression');
  // posthog-js gzips with CompressionStream and says so only in the query
  // (`compression=gzip-js`); any gzip stream is recognised by its magic.
  if (raw.length > 2 && raw[0] === 0x1f && raw[1] === 0x8b) raw = gunzipSync(raw);
  let text = raw.toString('utf8');
  const type = headers['content-type'] || '';
  if (type.includes('application/x-www-form-urlencoded')) {
    const data = new URLSearchParams(text).get('data');
    if (data !== null) {
      text = data.trim().startsWith('{') || data.trim().startsWith('[')
        ? data
        : Buffer.from(data, 'base64').toString('utf8');
    }
  } else if (compression === 'base64') {
    text = Buffer.from(text, 'base64').toString('utf8');
  }
  return text.length ? JSON.parse(text) : null;
}

/** The events in a body of any of the SDKs' formats. */
export function eventsOf(body) {
  if (body === null || typeof body !== 'object') return [];
  if (Array.isArray(body)) return body;
  if (Array.isArray(body.batch)) return body.batch;
  if (Array.isArray(body.events)) return body.events;
  return [body];
}

const idOf = (e) => e.uuid ?? e.messageId ?? e.insert_id ?? e.$insert_id ?? null;
const propsOf = (e) => e.properties ?? e.event_properties ?? {};

/**
 * Starts the sink. `routes` maps a URL prefix (e.g. '/sdk/posthog/') to a
 * directory; `pages` maps a path to a function returning HTML.
 */
export function startSink({ routes = {}, pages = {} } = {}) {
  /** The run being counted: { tag, expect, ids, indices, ... } or null. */
  let current = null;
  const totals = { requests: 0, posts: 0, bodyBytes: 0, badBodies: 0, paths: new Map() };

  const server = createServer((req, res) => {
    const url = new URL(req.url, 'http://sink');
    if (req.method === 'OPTIONS') {
      res.writeHead(204, { ...CORS, ...ISOLATION }).end();
      return;
    }
    totals.requests += 1;
    if (req.method === 'POST') {
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => onPost(req, res, url, Buffer.concat(chunks)));
      return;
    }
    onGet(req, res, url);
  });

  function onGet(req, res, url) {
    const path = decodeURIComponent(url.pathname);
    if (pages[path]) {
      res.writeHead(200, { 'content-type': TYPES['.html'], 'cache-control': 'no-store', ...ISOLATION });
      res.end(pages[path](url));
      return;
    }
    for (const [prefix, dir] of Object.entries(routes)) {
      if (!path.startsWith(prefix)) continue;
      const base = resolve(dir);
      const file = normalize(join(base, path.slice(prefix.length)));
      if (file.startsWith(base + sep) && existsSync(file) && statSync(file).isFile()) {
        const size = statSync(file).size;
        if (current) current.fetched.push({ path, bytes: size });
        res.writeHead(200, {
          'content-type': TYPES[extname(file)] || 'application/octet-stream',
          'content-length': size,
          'cache-control': 'no-store',
          ...CORS, ...ISOLATION,
        });
        createReadStream(file).pipe(res);
        return;
      }
    }
    // Remote-configuration and settings endpoints of the SDKs (all switched
    // off, but answered in case one asks): an empty JSON object.
    if (current) current.otherGets.push(path);
    res.writeHead(200, { 'content-type': 'application/json', ...CORS, ...ISOLATION }).end('{}');
  }

  function onPost(req, res, url, buf) {
    totals.posts += 1;
    totals.bodyBytes += buf.length;
    const prefix = url.pathname.split('/')[1] || '';
    totals.paths.set(`${prefix}`, (totals.paths.get(prefix) || 0) + 1);
    let events = [];
    try {
      events = eventsOf(decodeBody(buf, req.headers, url));
    } catch (e) {
      totals.badBodies += 1;
      if (current) current.errors.push(`${url.pathname}: ${e.message}`);
    }
    if (current) count(current, events, buf.length, url.pathname);
    const { type, body } = answer(prefix, events.length);
    res.writeHead(200, { 'content-type': type, ...CORS, ...ISOLATION }).end(body);
  }

  function count(run, events, bytes, path) {
    run.requests += 1;
    run.wireBytes += bytes;
    const now = wallNow();
    let ours = 0;
    for (const e of events) {
      if (!e || typeof e !== 'object') continue;
      const props = propsOf(e);
      if (props.bench_run !== run.tag) {
        run.foreign += 1;
        continue;
      }
      ours += 1;
      const phase = props.bench_phase;
      const bucket = phase === 'burst' ? run.burst : run.warmup;
      const id = idOf(e);
      if (id !== null && bucket.ids.has(id)) bucket.duplicates += 1;
      else if (id !== null) bucket.ids.add(id);
      if (!bucket.indices.has(props.i)) {
        bucket.indices.add(props.i);
        bucket.lastNewAt = now;
        if (bucket.firstAt === null) bucket.firstAt = now;
      }
      bucket.received += 1;
    }
    if (ours > 0) run.ourRequests += 1;
    run.lastPostAt = now;
    run.paths.add(path);
  }

  const bucket = () => ({ ids: new Set(), indices: new Set(), duplicates: 0, received: 0, firstAt: null, lastNewAt: null });

  return new Promise((resolvePromise, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      resolvePromise({
        url: `http://127.0.0.1:${port}`,
        totals,
        /** Starts counting events tagged `tag` (their `bench_run` property). */
        begin(tag) {
          current = {
            tag, warmup: bucket(), burst: bucket(), requests: 0, ourRequests: 0, wireBytes: 0,
            foreign: 0, errors: [], paths: new Set(), fetched: [], otherGets: [], lastPostAt: null,
          };
          return current;
        },
        run: () => current,
        end() {
          const r = current;
          current = null;
          return r;
        },
        stop: () => new Promise((done) => {
          server.closeAllConnections?.();
          server.close(() => done());
        }),
      });
    });
  });
}
