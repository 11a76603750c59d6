// V8 compiles a wasm function the first time it runs, on the calling
// thread's stack, and refuses to compile with less than about 40 KB of
// stack left: a page's first capture made deep in its call stack would
// overflow inside wasm (see ./guard.js), however small the call itself.
// So a new client first runs every path a page's own calls reach once, on
// a throwaway core with the same options, from the constructor's stack.

/** Runs `f`, ignoring what it throws (refusals are part of the tour). */
function attempt(f) {
  try {
    return f();
  } catch {
    return undefined;
  }
}

/**
 * Compiles the module's paths for captures, metering, flushes, pauses,
 * refusals, stats and shutdown: `make(host)` builds the throwaway driver
 * (the build's wasm class, unguarded) with the client's options.
 */
export function warmUp(make) {
  const sent = [];
  const host = {
    send: (id) => { sent.push(id); },
    settled() {},
    flushed() {},
    shutDown() {},
    arm() {},
    warn() {}, // its refusals are not the page's
  };
  const core = attempt(() => make(host));
  if (!core) return;
  attempt(() => core.maxEventBytes);
  attempt(() => core.wantResolved(true)); // resolved events written out, with their fates
  const json = '{"warm":[1,2.5,"é",{"up":true}],"n":null}';
  const capture = (name, props, uuid, first) => attempt(() => core.capture(name, props, 'warm-up', uuid, Date.now(), 's', 'w', first));
  capture('warm up', json);
  capture('warm up', undefined, '0190b0a0-0000-7000-8000-000000000000');
  capture('warm up', '{"bad":}'); // invalid_event
  capture('warm up', '{"s":"\\ud800"}'); // a lone surrogate
  capture('warm up', '[1]'); // not an object
  capture('warm up', json, 'not a uuid');
  capture('warm up', json, undefined, 0); // replayed from storage: within or past its deadline
  for (const kind of [0, 2]) attempt(() => core.noteRefused(kind, 0));
  attempt(() => core.count('warm', 'up', 1, '{"k":"v"}'));
  attempt(() => core.gauge('warm', 'up', 2, undefined));
  attempt(() => core.count('', 'up', Number.NaN, undefined)); // refused
  attempt(() => core.meterKeys);
  attempt(() => core.meterOldestAgeMs);
  attempt(() => core.flushMeters());
  attempt(() => core.setOnline(false));
  attempt(() => core.flush(0));
  attempt(() => core.setOnline(true));
  attempt(() => core.flush(1000));
  attempt(() => core.stats());
  attempt(() => core.timer());
  for (const id of sent) attempt(() => core.answer(id, 200, undefined, new TextEncoder().encode('{"status":1}')));
  attempt(() => core.setOnline(false));
  capture('warm up', json); // dropped at shutdown: a fate with a reason
  attempt(() => core.shutdown(0));
  capture('warm up', json); // shut_down
  attempt(() => core.flush(0));
  attempt(() => core.stats());
  attempt(() => core.free());
}
