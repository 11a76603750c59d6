// How each SDK is loaded and set up in the page: its own minified bundle
// from its npm package (served by the sink), its extras off (autocapture,
// page views, session recording, surveys, remote configuration, device-mode
// destinations), pointed at the sink on loopback. Persistence is left at
// each SDK's default unless the configuration says otherwise.
//
// Each setup resolves { capture(name, props), stats?(), info? }.

const origin = location.origin;

function loadScript(src) {
  return new Promise((resolve, reject) => {
    const s = document.createElement('script');
    s.src = src;
    s.onload = () => resolve();
    s.onerror = () => reject(new Error(`could not load ${src}`));
    document.head.append(s);
  });
}

function withTimeout(promise, ms, what) {
  return Promise.race([
    promise,
    new Promise((_, reject) => setTimeout(() => reject(new Error(`${what} not ready after ${ms} ms`)), ms)),
  ]);
}

/**
 * The page with no SDK: each event pushed to an array, everything queued
 * sent as one JSON fetch 100 ms after the first event of a batch.
 */
function none() {
  let queue = [];
  let armed = false;
  const send = () => {
    armed = false;
    const body = JSON.stringify({ batch: queue });
    queue = [];
    fetch(`${origin}/none/batch`, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
  };
  return {
    capture(event, properties) {
      queue.push({ event, properties, uuid: properties.bench_phase + properties.i });
      if (!armed) { armed = true; setTimeout(send, 100); }
    },
  };
}

async function tidings(config) {
  // `dev`: the same bundle unminified, for the profiler.
  // `baseline`: the build given with --baseline-pkg.
  const bundle = config.dev ? '/sdk/tidings-dev/js/tidings.js'
    : config.baseline ? '/sdk/tidings-baseline/js/tidings.min.js' : '/sdk/tidings/js/tidings.min.js';
  const { load, Tidings } = await import(`${origin}${bundle}`);
  await load();
  const t = new Tidings({ apiKey: 'phc_bench', host: `${origin}/tidings`, ...(config.options ?? {}) });
  if (config.receipts) {
    // A receipt for every capture, tallied as they resolve (in stats()).
    const receipts = { asked: 0, delivered: 0, other: 0 };
    const tally = (r) => { if (r.status === 'delivered') receipts.delivered++; else receipts.other++; };
    return {
      capture: (event, properties) => {
        const id = t.capture(event, properties);
        if (id !== null) {
          receipts.asked++;
          t.receipt(id).then(tally);
        }
        return id;
      },
      stats: () => ({ ...t.stats(), receipts: { ...receipts } }),
      info: { distinctId: t.distinctId },
    };
  }
  return {
    capture: (event, properties) => t.capture(event, properties),
    stats: () => t.stats(),
    info: { distinctId: t.distinctId },
  };
}

const POSTHOG_EXTRAS_OFF = {
  autocapture: false,
  capture_pageview: false,
  capture_pageleave: false,
  disable_session_recording: true,
  disable_surveys: true,
  disable_product_tours: true,
  disable_conversations: true,
  disable_web_experiments: true,
  disable_external_dependency_loading: true,
  advanced_disable_flags: true,
  capture_performance: false,
  capture_heatmaps: false,
  capture_dead_clicks: false,
  capture_exceptions: false,
  // Playwright's Chromium says navigator.webdriver = true, which posthog-js
  // takes for a bot and drops every event: its documented switch for tests.
  opt_out_useragent_filter: true,
};

async function posthog(config) {
  await loadScript(`${origin}/sdk/posthog/array.js`);
  const ph = window.posthog;
  await withTimeout(new Promise((resolve) => {
    ph.init('phc_bench', {
      api_host: `${origin}/posthog`,
      ...POSTHOG_EXTRAS_OFF,
      ...(config.options ?? {}),
      loaded: () => resolve(),
    });
  }), 10_000, 'posthog-js');
  return {
    capture: (event, properties) => ph.capture(event, properties),
    info: { version: ph.version ?? ph.LIB_VERSION ?? null, persistence: ph.config?.persistence },
  };
}

async function segment(config) {
  await loadScript(`${origin}/sdk/segment/index.js`);
  const { AnalyticsBrowser } = window.AnalyticsNext;
  const apiHost = `${location.host}/segment/v1`;
  const [analytics] = await withTimeout(AnalyticsBrowser.load({
    writeKey: 'bench_write_key',
    cdnURL: `${origin}/sdk/segment-cdn`,
    // The settings the CDN would serve, given here so none is fetched:
    // the Segment.io destination only, no device-mode integrations.
    cdnSettings: {
      integrations: { 'Segment.io': { apiKey: 'bench_write_key', apiHost, protocol: 'http' } },
      plan: { track: { __default: { enabled: true } } },
      remotePlugins: [],
      // Its own telemetry (to api.segment.io): off, like the other extras.
      metrics: { sampleRate: 0 },
    },
  }, { ...(config.options ?? {}) }), 10_000, 'Segment analytics-next');
  return {
    capture: (event, properties) => { analytics.track(event, properties); },
    info: { version: analytics.VERSION ?? null },
  };
}

async function amplitude(config) {
  await loadScript(`${origin}/sdk/amplitude/amplitude-min.js`);
  const amp = window.amplitude;
  await withTimeout(amp.init('bench_api_key_0123456789abcdef', undefined, {
    serverUrl: `${origin}/amplitude/2/httpapi`,
    autocapture: false,
    fetchRemoteConfig: false,
    remoteConfig: { fetchRemoteConfig: false },
    enableDiagnostics: false,
    logLevel: 0,
    ...(config.options ?? {}),
  }).promise, 10_000, 'Amplitude');
  return {
    capture: (event, properties) => { amp.track(event, properties); },
    info: {},
  };
}

async function rudderstack(config) {
  await loadScript(`${origin}/sdk/rudderstack/rsa.min.js`);
  const { RudderAnalytics } = window.rudderanalytics;
  const ra = new RudderAnalytics();
  await withTimeout(new Promise((resolve) => {
    ra.load('bench_write_key', `${origin}/rudderstack`, {
      // The source configuration the control plane would serve: no
      // destinations (no device mode), given here so none is fetched.
      getSourceConfig: () => ({
        source: {
          id: 'bench_source', name: 'bench', writeKey: 'bench_write_key', enabled: true,
          workspaceId: 'bench_workspace', config: {}, destinations: [],
        },
      }),
      plugins: ['XhrQueue', 'StorageEncryption'],
      loadIntegration: false,
      polyfillIfRequired: false,
      sendAdblockPage: false,
      logLevel: 'ERROR',
      onLoaded: () => resolve(),
      ...(config.options ?? {}),
    });
  }), 10_000, 'RudderStack');
  return {
    capture: (event, properties) => { ra.track(event, properties); },
    info: {},
  };
}

const SETUPS = { none, tidings, posthog, segment, amplitude, rudderstack };

export async function setup(sdk, config) {
  const f = SETUPS[sdk];
  if (!f) throw new Error(`unknown sdk ${sdk}`);
  return f(config);
}
