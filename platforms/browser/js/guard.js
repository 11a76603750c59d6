// JavaScript is the guard of the wasm module. The release build aborts
// instead of unwinding (panic=immediate-abort), so an exception that
// crosses wasm frames skips every Rust destructor: the core's RefCell
// borrow would stay taken, and every later call would throw "called from
// inside one of its own callbacks". So no exception may start inside wasm:
// what can throw is done before the call (JSON.stringify, toJSON, getters,
// argument checks: ./common.js), the host functions the module calls never
// throw (`hostCallback`), and each call into the module first makes sure
// the stack has room for all of it (`guarded`): a call made too deep in
// the call stack would otherwise overflow it part-way through.

/**
 * Room below a call into wasm, in frames of `probe`: the deepest call
 * (its wasm frames, the glue and the host callbacks it makes at once)
 * three times over, measured in Chromium (test/guard.chromium.test.mjs
 * fails when it is too small). `PER_LEVEL` more for each nesting level of
 * the JSON handed over: the core reads JSON recursively.
 */
const BASE_FRAMES = 32;
const PER_LEVEL = 1;
/** The core refuses JSON nested deeper than this. */
const MAX_LEVELS = 128;

/**
 * Uses `n` frames of 16 arguments each (about 170 bytes a frame: fewer
 * calls for the same room); throws RangeError where there is no room.
 */
function probe(n, a, b, c, d, e, f, g, h, i, j, k, l, m, o, p) {
  return n <= 0 ? 0 : probe(n - 1, a, b, c, d, e, f, g, h, i, j, k, l, m, o, p) + 1;
}

/** Guarded calls in progress (a host callback may call back in). */
let depth = 0;

/**
 * An upper bound of the nesting of the JSON text `json` (its opening
 * brackets, up to what the core accepts); 0 for anything else.
 */
export function nestingBound(json) {
  if (typeof json !== 'string') return 0;
  let n = 0;
  for (const open of ['{', '[']) {
    for (let i = json.indexOf(open); i >= 0 && n < MAX_LEVELS; i = json.indexOf(open, i + 1)) n++;
  }
  return n;
}

/**
 * Runs `call` (which calls into the wasm module) once the stack is known
 * to have room for it, with JSON nested `levels` deep; otherwise throws a
 * RangeError before anything reaches the module. A call made from inside
 * a guarded one is covered by the outer call's room.
 */
export function guarded(call, levels = 0) {
  if (depth === 0) {
    try {
      probe(BASE_FRAMES + PER_LEVEL * levels);
    } catch (e) {
      throw new RangeError('tidings: call refused: too little stack left (it is made too deep in the call stack); nothing was recorded', { cause: e });
    }
  }
  depth++;
  try {
    return call();
  } finally {
    depth--;
  }
}

/** The nesting bound of the JSON arguments of a call (strings that start with `{`). */
function levelsOf(args) {
  let n = 0;
  for (const a of args) {
    if (typeof a === 'string' && a.charCodeAt(0) === 123) n = Math.max(n, nestingBound(a));
  }
  return n;
}

/**
 * `core` (an instance of a wasm class) with every method and getter of
 * its class going through `guarded`.
 */
export function guardCore(core) {
  const out = {};
  const proto = Object.getPrototypeOf(core);
  for (const name of Object.getOwnPropertyNames(proto)) {
    if (name === 'constructor') continue;
    const d = Object.getOwnPropertyDescriptor(proto, name);
    if (d.get) {
      Object.defineProperty(out, name, { get: () => guarded(() => d.get.call(core)), configurable: true });
    } else if (typeof d.value === 'function') {
      const f = d.value;
      out[name] = (...args) => guarded(() => f.apply(core, args), levelsOf(args));
    }
  }
  return out;
}

/**
 * A promise and its resolve function, for code that runs inside a guarded
 * call: made by a function compiled once at load (below), since a
 * function compiled for the first time deep in the stack can overflow it.
 */
export function withResolvers() {
  let resolve;
  const promise = new Promise((r) => { resolve = r; });
  return { promise, resolve };
}
withResolvers();

/** `console.warn(message)` that never throws (a page may replace console.warn). */
export function warn(message) {
  try {
    if (message) console.warn(message);
  } catch {
    // Nowhere left to say it.
  }
}
warn(''); // compiled now: the wasm module calls it, from any depth

/**
 * `fn` made safe to be called by the wasm module: the call only queues
 * `fn(...args)` for a microtask, where it runs from a shallow stack (a
 * host callback made deep in the stack could overflow it, or meet a
 * function not compiled yet: V8 needs about 40 KB of stack to compile
 * one). Nothing is thrown into wasm; what `fn` throws is logged once.
 * Microtasks run in order, before the current task ends. Returns whether
 * the call was queued.
 */
export function hostCallback(name, fn) {
  let told = false;
  const run = (args) => {
    try {
      fn(...args);
    } catch (e) {
      if (!told) warn(`tidings: the ${name} callback threw (${e?.message ?? e}); the client goes on`);
      told = true;
    }
  };
  // True once queued (the callback of resolved events counts what is on its way).
  return (...args) => {
    try {
      queueMicrotask(() => run(args));
      return true;
    } catch {
      // No room even for that (see `guarded`): nothing is thrown into wasm.
      return false;
    }
  };
}
