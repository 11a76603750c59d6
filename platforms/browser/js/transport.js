// How the browser build performs the requests the core hands out: the
// global fetch, gzip through CompressionStream where the runtime offers one
// (verified once, off the main thread; a clean fallback otherwise), and
// keepalive so that requests in flight survive the page's unload, within
// the 64 KiB that the Fetch spec allows all keepalive bodies in flight
// together.

import { retryAfterSeconds } from './common.js';

/** The Fetch spec's cap on all keepalive bodies in flight, per page. */
export const KEEPALIVE_BUDGET = 64 * 1024;
/** Whether this is a browser (a page or a Web Worker): keepalive applies, and requests are CORS-simple. */
export const inBrowser = typeof document !== 'undefined' || typeof importScripts === 'function';


/** gzip through CompressionStream; rejects where it is missing or broken. */
async function gzip(bytes) {
  // Written straight into the stream: wrapping the body in a Blob first
  // cost the main thread a copy (~6 µs per event in the benchmark).
  const stream = new CompressionStream('gzip');
  const writer = stream.writable.getWriter();
  writer.write(bytes).catch(() => {}); // a failure rejects the read below
  writer.close().catch(() => {});
  return new Uint8Array(await new Response(stream.readable).arrayBuffer());
}

/** Compresses and decompresses a sample once: true if the round trip holds. */
async function compressionWorks() {
  if (typeof CompressionStream !== 'function' || typeof DecompressionStream !== 'function') return false;
  try {
    const sample = new TextEncoder().encode('{"batch":[' + '{"event":"tidings check"},'.repeat(40) + '{}]}');
    const packed = await gzip(sample);
    if (packed[0] !== 0x1f || packed[1] !== 0x8b) return false;
    const stream = new Blob([packed]).stream().pipeThrough(new DecompressionStream('gzip'));
    const back = new Uint8Array(await new Response(stream).arrayBuffer());
    return back.length === sample.length && back.every((b, i) => b === sample[i]);
  } catch {
    return false;
  }
}

export class Transport {
  /** Bytes of keepalive bodies in flight now. */
  #keepaliveBytes = 0;
  /** Resolves to whether compression is usable (checked once). */
  #compress;
  #unloading = false;
  /** Resolves (to null) once the page is hidden; renewed when it shows again. */
  #hidden;
  #onHidden;

  constructor(core, { compression = true } = {}) {
    this.core = core;
    this.#compress = compression ? compressionWorks() : Promise.resolve(false);
    this.#renewHidden();
  }

  /** The page is being hidden or unloaded: no awaits before fetch. */
  get unloading() {
    return this.#unloading;
  }

  set unloading(value) {
    if (value && !this.#unloading) this.#onHidden(null);
    if (!value && this.#unloading) this.#renewHidden();
    this.#unloading = value;
  }

  #renewHidden() {
    this.#hidden = new Promise((resolve) => { this.#onHidden = resolve; });
  }

  /**
   * Performs one request as the core shaped it (the core's `send` hook;
   * `headers` alternates names and values, one per line) and reports its
   * answer to the core. `gzipUrl` and `gzipEncoding` are the request's
   * compressed form, for a body worth compressing: where to send it, and
   * whether to add `Content-Encoding: gzip`. The promise resolves
   * once the answer is reported; it never rejects.
   */
  send(id, url, method, headers, body, timeoutMs, gzipUrl, gzipEncoding) {
    return this.#send(id, url, method, headers, body, timeoutMs, gzipUrl, gzipEncoding).catch((e) => {
      this.core.answerError(id, false, String((e && e.message) || e));
    });
  }

  async #send(id, url, method, headerLines, body, timeoutMs, gzipUrl, gzipEncoding) {
    const headers = {};
    const list = headerLines === '' ? [] : headerLines.split('\n');
    for (let i = 0; i + 1 < list.length; i += 2) headers[list[i]] = list[i + 1];
    if (gzipUrl !== undefined && !this.#unloading) {
      // Compressing takes tasks, and the document may be gone before they
      // end: once the page is hidden the body goes out as it is, from the
      // pagehide handler's own microtasks, while fetch still works.
      const packed = await Promise.race([this.#compress.then((ok) => (ok ? gzip(body) : null)), this.#hidden]);
      if (packed) {
        body = packed;
        url = gzipUrl;
        if (gzipEncoding) headers['Content-Encoding'] = 'gzip';
      }
    }
    const keepalive = inBrowser && this.#keepaliveBytes + body.length <= KEEPALIVE_BUDGET;
    if (keepalive) this.#keepaliveBytes += body.length;
    let response;
    try {
      response = await fetch(url, {
        method,
        headers,
        body,
        keepalive,
        credentials: 'omit',
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (e) {
      const timedOut = e != null && (e.name === 'TimeoutError' || e.name === 'AbortError');
      this.core.answerError(id, timedOut, String((e && e.message) || e));
      return;
    } finally {
      if (keepalive) this.#keepaliveBytes -= body.length;
    }
    let answer;
    try {
      // Always read the body: it frees the connection, and v1 needs it.
      answer = new Uint8Array(await response.arrayBuffer());
    } catch {
      answer = undefined;
    }
    this.core.answer(id, response.status, retryAfterSeconds(response.headers.get('retry-after')), answer);
  }
}
