// Shared by the tests: a real `tidings collect` on a port chosen by the OS,
// and a small static server for the browser test. Each test starts and
// stops its own servers.

import { spawn } from 'node:child_process';
import { createReadStream, existsSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

export const packageDir = fileURLToPath(new URL('..', import.meta.url));
export const repoDir = resolve(packageDir, '../..');

/** Starts `tidings collect --port 0 --db :memory: -q [extra flags]`; resolves { url, stop, events }. */
export function startCollector(extra = []) {
  const bin = process.env.TIDINGS_BIN || join(repoDir, 'target/debug/tidings');
  if (!existsSync(bin)) {
    throw new Error(`${bin} is missing: run \`cargo build -p tidings-cli\` (scripts/test-browser does)`);
  }
  const child = spawn(bin, ['collect', '--port', '0', '--db', ':memory:', '-q', ...extra], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => {
      child.kill();
      reject(new Error(`the collector printed no address within 10 s:\n${output}`));
    }, 10_000);
    const onData = (chunk) => {
      output += chunk;
      const m = output.match(/listening on (http:\/\/[\d.]+:\d+)/);
      if (m) {
        clearTimeout(timer);
        const url = m[1];
        resolvePromise({
          url,
          events: () => getEvents(url),
          stats: () => getJson(`${url}/stats`),
          stop: () => new Promise((done) => {
            if (child.exitCode !== null) return done();
            child.once('exit', () => done());
            child.kill('SIGTERM');
          }),
        });
      }
    };
    child.stdout.setEncoding('utf8').on('data', onData);
    child.stderr.setEncoding('utf8').on('data', (c) => { output += c; });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the collector exited (${code}):\n${output}`));
    });
  });
}

/** The collector's stored events (`GET /events`). */
export function getEvents(url) {
  return getJson(`${url}/events`);
}

async function getJson(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`GET ${url} answered ${response.status}`);
  return response.json();
}

/**
 * Waits until the collector holds every uuid of `uuids`; resolves their
 * rows (one per uuid: the collector counts a repeat in `duplicates`).
 */
export function arrived(collector, uuids, ms = 10_000) {
  const want = new Set(uuids);
  return waitFor(async () => {
    const rows = (await collector.events()).filter((r) => want.has(r.uuid));
    return rows.length === want.size ? rows : null;
  }, ms, `${want.size} events at the collector`);
}

/** Debian's Chromium, headless, through playwright-core (`CHROMIUM` overrides the path). */
export async function launchChromium() {
  // Imported here: the Workers tests use these helpers without playwright.
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    // playwright gives the browser a fresh --user-data-dir of its own.
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });
}

/** Polls `check` until it returns a truthy value or `ms` pass. */
export async function waitFor(check, ms = 10_000, what = 'condition') {
  const end = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.wasm': 'application/wasm',
  '.json': 'application/json',
  '.ts': 'text/plain; charset=utf-8',
};

/** Serves `root` on 127.0.0.1, port chosen by the OS; resolves { url, stop }. */
export function startStaticServer(root) {
  const base = resolve(root);
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    const file = normalize(join(base, path === '/' ? '/index.html' : path));
    if (!file.startsWith(base + sep) || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    res.writeHead(200, {
      'content-type': TYPES[extname(file)] || 'application/octet-stream',
      'cache-control': 'no-store',
    });
    createReadStream(file).pipe(res);
  });
  return new Promise((resolvePromise, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      resolvePromise({
        url: `http://127.0.0.1:${port}`,
        stop: () => new Promise((done) => {
          server.closeAllConnections?.();
          server.close(() => done());
        }),
      });
    });
  });
}
