// Events not yet acknowledged, kept across page loads: IndexedDB (or
// localStorage where IndexedDB is missing) under a byte budget and an
// expiry. Writes are batched off the capture path (an event delivered
// before the next write never touches storage); everything buffered is
// written when the page is hidden or unloaded. Each record names the tab
// that owns it, and each tab holds a Web Lock for its lifetime: a new page
// replays only records whose owner's lock is gone, and claims them under
// an exclusive lock, so two tabs never send the same persisted event.

const WRITE_EVERY_MS = 1000;

function request(r) {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}

/** The IndexedDB backend: one object store keyed by uuid. */
class IndexedDbBackend {
  static async open(name) {
    const open = indexedDB.open(name, 1);
    open.onupgradeneeded = () => open.result.createObjectStore('events', { keyPath: 'uuid' });
    return new IndexedDbBackend(await request(open));
  }
  constructor(db) {
    this.db = db;
  }
  all() {
    return request(this.db.transaction('events').objectStore('events').getAll());
  }
  /** Puts `records` and deletes `uuids` in one transaction. */
  write(records, uuids) {
    const tx = this.db.transaction('events', 'readwrite');
    const store = tx.objectStore('events');
    for (const r of records) store.put(r);
    for (const u of uuids) store.delete(u);
    return new Promise((resolve, reject) => {
      tx.oncomplete = resolve;
      tx.onerror = tx.onabort = () => reject(tx.error);
    });
  }
}

/** The localStorage fallback: one JSON array (small budgets only). */
class LocalStorageBackend {
  constructor(key) {
    this.key = key;
  }
  async all() {
    try {
      const list = JSON.parse(localStorage.getItem(this.key) ?? '[]');
      return Array.isArray(list) ? list : [];
    } catch {
      return [];
    }
  }
  async write(records, uuids) {
    const byUuid = new Map((await this.all()).map((r) => [r.uuid, r]));
    for (const r of records) byUuid.set(r.uuid, r);
    for (const u of uuids) byUuid.delete(u);
    localStorage.setItem(this.key, JSON.stringify([...byUuid.values()]));
  }
}

export class Store {
  #backend;
  #prefix;
  #maxBytes;
  #maxAgeMs;
  /** Buffered, not yet written: uuid -> record. */
  #adds = new Map();
  /** Written (by this page, or claimed by it): uuid -> size. */
  #stored = new Map();
  #deletes = new Set();
  #bytes = 0;
  #timer = null;
  #writing = Promise.resolve();
  tabId;

  /**
   * Opens the store, or resolves null where no storage works (Node,
   * storage refused). `kind`: 'indexeddb' (falls back to localStorage) or
   * 'localstorage'.
   */
  static async open({ prefix, kind, maxBytes, maxAgeMs, tabId }) {
    let backend = null;
    try {
      if (kind === 'indexeddb' && typeof indexedDB !== 'undefined') {
        backend = await IndexedDbBackend.open(`${prefix}_events`);
      }
    } catch {
      backend = null;
    }
    if (!backend && typeof localStorage !== 'undefined') {
      try {
        localStorage.length;
        backend = new LocalStorageBackend(`${prefix}_events`);
      } catch {
        backend = null;
      }
    }
    if (!backend) return null;
    const store = new Store(backend, prefix, maxBytes, maxAgeMs, tabId);
    await store.#holdTabLock();
    return store;
  }

  constructor(backend, prefix, maxBytes, maxAgeMs, tabId) {
    this.#backend = backend;
    this.#prefix = prefix;
    this.#maxBytes = maxBytes;
    this.#maxAgeMs = maxAgeMs;
    this.tabId = tabId;
  }

  /** Held until the page goes away: marks this tab's records as owned. */
  #holdTabLock() {
    if (!globalThis.navigator?.locks) return Promise.resolve();
    return new Promise((granted) => {
      navigator.locks.request(`${this.#prefix}-tab-${this.tabId}`, () => {
        granted();
        return new Promise(() => {});
      }).catch(granted);
    });
  }

  /**
   * Takes over the records of tabs that are gone: resolves `{ replay,
   * expired }` (records to capture again, and how many were too old and
   * are deleted).
   */
  claim() {
    const run = async () => {
      const held = globalThis.navigator?.locks
        ? new Set((await navigator.locks.query()).held.map((l) => l.name))
        : new Set();
      const now = Date.now();
      const replay = [];
      const old = [];
      for (const r of await this.#backend.all()) {
        if (r.owner === this.tabId || held.has(`${this.#prefix}-tab-${r.owner}`)) continue;
        if (now - r.at > this.#maxAgeMs || this.#bytes + r.size > this.#maxBytes) {
          old.push(r.uuid);
          continue;
        }
        r.owner = this.tabId;
        replay.push(r);
        this.#stored.set(r.uuid, r.size);
        this.#bytes += r.size;
      }
      await this.#backend.write(replay, old);
      return { replay, expired: old.length };
    };
    return globalThis.navigator?.locks
      ? navigator.locks.request(`${this.#prefix}-claim`, run)
      : run();
  }

  /** Keeps `record` until it is delivered or dropped; false over budget. */
  add(record) {
    record.owner = this.tabId;
    record.size = record.json.length + record.name.length + 120;
    if (this.#bytes + record.size > this.#maxBytes) return false;
    this.#bytes += record.size;
    this.#adds.set(record.uuid, record);
    this.#schedule();
    return true;
  }

  /** Forgets resolved events (written or still buffered). */
  remove(uuids) {
    for (const u of uuids) {
      const buffered = this.#adds.get(u);
      if (buffered) {
        this.#adds.delete(u);
        this.#bytes -= buffered.size;
      } else if (this.#stored.has(u)) {
        this.#bytes -= this.#stored.get(u);
        this.#stored.delete(u);
        this.#deletes.add(u);
      }
    }
    this.#schedule();
  }

  #schedule() {
    if (this.#timer === null && (this.#adds.size > 0 || this.#deletes.size > 0)) {
      this.#timer = setTimeout(() => this.flush(), WRITE_EVERY_MS);
    }
  }

  /** Writes what is buffered now (called on pagehide too). */
  flush() {
    clearTimeout(this.#timer);
    this.#timer = null;
    if (this.#adds.size === 0 && this.#deletes.size === 0) return this.#writing;
    const records = [...this.#adds.values()];
    const uuids = [...this.#deletes];
    for (const r of records) this.#stored.set(r.uuid, r.size);
    this.#adds.clear();
    this.#deletes.clear();
    // One write at a time, in order (a delete never overtakes its put).
    this.#writing = this.#writing
      .then(() => this.#backend.write(records, uuids))
      .catch(() => {
        // Quota or a closed database: these events stay in memory only.
      });
    return this.#writing;
  }
}
