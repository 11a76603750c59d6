// The demo's static server (scripts/demo-browser starts it): www/ at /,
// the package's js/ and pkg/ at /js/ and /pkg/ (laid out as in the npm
// package, so js/index.js finds ../pkg/), and /config.json naming the
// collector (COLLECTOR_URL). 127.0.0.1 only; port $PORT, or 0 to let the
// OS choose. Prints `serving http://127.0.0.1:PORT/`.

import { createReadStream, existsSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const www = fileURLToPath(new URL('.', import.meta.url));
const browser = resolve(www, '../platforms/browser');
const MOUNTS = [
  ['/js/', join(browser, 'js')],
  ['/pkg/', join(browser, 'pkg')],
  ['/', www],
];
const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.wasm': 'application/wasm',
  '.json': 'application/json',
};
const config = JSON.stringify({ collector: process.env.COLLECTOR_URL ?? null });

/** The file for a URL path, or null (outside the mounts, or missing). */
function fileFor(path) {
  const [prefix, dir] = MOUNTS.find(([p]) => path.startsWith(p));
  const file = normalize(join(dir, path.slice(prefix.length) || 'index.html'));
  const inside = file.startsWith(resolve(dir) + sep);
  return inside && existsSync(file) && statSync(file).isFile() ? file : null;
}

const server = createServer((req, res) => {
  let path;
  try {
    path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
  } catch {
    path = '';
  }
  if (path === '/config.json') {
    res.writeHead(200, { 'content-type': TYPES['.json'], 'cache-control': 'no-store' }).end(config);
    return;
  }
  const file = path.startsWith('/') ? fileFor(path) : null;
  if (!file) {
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    return;
  }
  res.writeHead(200, {
    'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
    'cache-control': 'no-store',
  });
  createReadStream(file).pipe(res);
});

server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  console.log(`serving http://127.0.0.1:${server.address().port}/`);
});
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    server.closeAllConnections();
    server.close(() => process.exit(0));
  });
}
