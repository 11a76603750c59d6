// Who events are from, in the browser build: an anonymous id persisted for
// the site (localStorage), the identified id after identify(), a session id
// rotated after 30 minutes without events, a window id per page load, and
// the standard page properties. Everything is kept in memory; storage is
// read once at start and written only when something changes (the session's
// last activity at most every few seconds): storage access on every capture
// is what makes other SDKs slow.

import { randomId } from './common.js';

const SESSION_WRITE_EVERY_MS = 5000;

/** localStorage, or null where it is missing or refused (Node, privacy modes). */
function storage() {
  try {
    const s = globalThis.localStorage;
    if (!s) return null;
    const probe = '__tidings_probe__';
    s.setItem(probe, '1');
    s.removeItem(probe);
    return s;
  } catch {
    return null;
  }
}

export class Identity {
  #store;
  #key;
  #idleMs;
  #state; // { anonymousId, distinctId?, sessionId, lastActivity }
  #written = 0;
  windowId = randomId();

  /** `prefix` names the storage keys; `idleMs` rotates the session. */
  constructor({ prefix, idleMs, distinctId }) {
    this.#store = storage();
    this.#key = `${prefix}_identity`;
    this.#idleMs = idleMs;
    let saved = null;
    try {
      saved = JSON.parse(this.#store?.getItem(this.#key) ?? 'null');
    } catch {
      saved = null;
    }
    const valid = saved && typeof saved.anonymousId === 'string' && typeof saved.sessionId === 'string';
    this.#state = valid ? saved : { anonymousId: randomId(), sessionId: randomId(), lastActivity: 0 };
    if (distinctId !== undefined) this.#state.distinctId = distinctId;
    this.#save();
  }

  /** The distinct id of events captured without one. */
  get distinctId() {
    return this.#state.distinctId ?? this.#state.anonymousId;
  }

  get anonymousId() {
    return this.#state.anonymousId;
  }

  /** The current session id, rotated after `idleMs` without activity. */
  session(now = Date.now()) {
    const s = this.#state;
    if (now - s.lastActivity > this.#idleMs) {
      s.sessionId = randomId();
      this.#written = 0;
    }
    s.lastActivity = now;
    if (now - this.#written >= SESSION_WRITE_EVERY_MS) this.#save(now);
    return s.sessionId;
  }

  identify(distinctId) {
    this.#state.distinctId = distinctId;
    this.#save();
  }

  /** Forgets the identified user: a new anonymous id and a new session. */
  reset() {
    this.#state = { anonymousId: randomId(), sessionId: randomId(), lastActivity: Date.now() };
    this.#save();
  }

  /** Writes the state now (also on pagehide). */
  #save(now = Date.now()) {
    this.#written = now;
    try {
      this.#store?.setItem(this.#key, JSON.stringify(this.#state));
    } catch {
      // Quota or privacy mode: identity stays in memory for this page.
    }
  }

  flush() {
    this.#save();
  }
}

/**
 * The JSON members (`"$current_url":...,` with a trailing comma, or '')
 * of the standard properties, rebuilt only when the URL changes.
 */
export class PageProperties {
  #url = null;
  #members = '';

  members() {
    const loc = globalThis.location;
    if (!loc || typeof document === 'undefined') return '';
    if (loc.href !== this.#url) {
      this.#url = loc.href;
      const screen = globalThis.screen;
      const props = {
        $current_url: loc.href,
        $host: loc.host,
        $pathname: loc.pathname,
        $referrer: document.referrer || '$direct',
        $screen_width: screen?.width,
        $screen_height: screen?.height,
        $viewport_width: globalThis.innerWidth,
        $viewport_height: globalThis.innerHeight,
      };
      this.#members = JSON.stringify(props).slice(1, -1) + ',';
    }
    return this.#members;
  }
}
