// Events not yet acknowledged, kept across page loads: IndexedDB (or
// localStorage where IndexedDB is missing) under a byte budget. (Their
// expiry is the core's `eventTimeoutMs`, counted from each record's
// `first` capture when it is replayed.) Writes are batched off the capture path (an event delivered
// before the next write never touches storage); everything buffered is
// written when the page is hidden or unloaded, and spilled to localStorage
// as well until IndexedDB has it (an IndexedDB write still open when the
// page goes is aborted; localStorage writes at once). Each record names the
// tab that owns it, and each tab holds a Web Lock for its lifetime: a new page
// replays only records whose owner's lock is gone, and claims them under
// an exclusive lock, so two tabs never send the same persisted event.

const WRITE_EVERY_MS = 1000;
/** Most records written in one transaction (and one task). */
const CHUNK = 500;

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
  /**
   * Puts `records` and deletes `uuids` in one transaction. Transactions on
   * one store run in the order they are made, so writes keep their order.
   * Async: a connection that is closing rejects instead of throwing.
   */
  async write(records, uuids) {
    const tx = this.db.transaction('events', 'readwrite');
    const store = tx.objectStore('events');
    for (const r of records) store.put(r);
    for (const u of uuids) store.delete(u);
    // Commit now rather than when the requests are done: a write made on
    // pagehide is otherwise lost with the page (Chromium aborts it).
    tx.commit?.();
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
    return this.#read();
  }
  /** Reads, changes and writes at once: two writes never interleave. */
  async write(records, uuids) {
    const byUuid = new Map(this.#read().map((r) => [r.uuid, r]));
    for (const r of records) byUuid.set(r.uuid, r);
    for (const u of uuids) byUuid.delete(u);
    localStorage.setItem(this.key, JSON.stringify([...byUuid.values()]));
  }
  #read() {
    try {
      const list = JSON.parse(localStorage.getItem(this.key) ?? '[]');
      return Array.isArray(list) ? list : [];
    } catch {
      return [];
    }
  }
}

function removeItem(key) {
  try {
    localStorage.removeItem(key);
  } catch {
    // Nothing to do: a later page removes it.
  }
}

export class Store {
  #backend;
  #prefix;
  #maxBytes;
  /** Buffered, not yet written: uuid -> record. */
  #adds = new Map();
  /** Written (by this page, or claimed by it): uuid -> size. */
  #stored = new Map();
  #deletes = new Set();
  /** Held by the page but not stored, over the byte budget. */
  #over = new Set();
  #bytes = 0;
  #timer = null;
  #writing = Promise.resolve();
  /** Spills made by this page so far (numbers their keys, in order). */
  #spills = 0;
  tabId;

  /**
   * Opens the store, or resolves null where no storage works (Node,
   * storage refused). `kind`: 'indexeddb' (falls back to localStorage) or
   * 'localstorage'.
   */
  static async open({ prefix, kind, maxBytes, tabId }) {
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
    const store = new Store(backend, prefix, maxBytes, tabId);
    await store.#holdTabLock();
    return store;
  }

  constructor(backend, prefix, maxBytes, tabId) {
    this.#backend = backend;
    this.#prefix = prefix;
    this.#maxBytes = maxBytes;
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
   * Takes over the records of tabs that are gone: resolves the records to
   * capture again (the core refuses those past their deadline). Those over
   * the byte budget are replayed but no longer stored.
   */
  claim() {
    const run = async () => {
      const held = globalThis.navigator?.locks
        ? new Set((await navigator.locks.query()).held.map((l) => l.name))
        : new Set();
      await this.#takeSpills(held);
      const replay = [];
      const kept = [];
      const over = [];
      for (const r of await this.#backend.all()) {
        if (r.owner === this.tabId || held.has(`${this.#prefix}-tab-${r.owner}`)) continue;
        replay.push(r);
        if (this.#bytes + r.size > this.#maxBytes) {
          over.push(r.uuid);
          this.#over.add(r.uuid);
          continue;
        }
        r.owner = this.tabId;
        kept.push(r);
        this.#stored.set(r.uuid, r.size);
        this.#bytes += r.size;
      }
      await this.#backend.write(kept, over);
      return replay;
    };
    return globalThis.navigator?.locks
      ? navigator.locks.request(`${this.#prefix}-claim`, run)
      : run();
  }

  /** Keeps `record` until it is delivered or dropped; false over budget. */
  add(record) {
    record.owner = this.tabId;
    record.size = record.json.length + record.name.length + 120;
    if (this.#bytes + record.size > this.#maxBytes) {
      this.#over.add(record.uuid);
      return false;
    }
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
      } else {
        this.#over.delete(u);
      }
    }
    this.#schedule();
  }

  /** Whether the page holds the event `uuid` (stored, buffered, or over the budget). */
  holds(uuid) {
    return this.#adds.has(uuid) || this.#stored.has(uuid) || this.#over.has(uuid);
  }

  #schedule() {
    if (this.#timer === null && (this.#adds.size > 0 || this.#deletes.size > 0)) {
      this.#timer = setTimeout(() => this.flush(), WRITE_EVERY_MS);
    }
  }

  /**
   * Writes what is buffered now. `unloading` (pagehide, hidden): the page
   * may be gone before IndexedDB commits, so the write is also spilled.
   */
  flush(unloading = false) {
    clearTimeout(this.#timer);
    this.#timer = null;
    if (this.#adds.size === 0 && this.#deletes.size === 0) return this.#writing;
    // At most CHUNK records per write, one write per task: cloning a whole
    // burst into one transaction was a long task (hundreds of ms). The
    // rest follows in the next task; on unload everything goes at once.
    let records = [...this.#adds.values()];
    if (!unloading && records.length > CHUNK) records = records.slice(0, CHUNK);
    const uuids = [...this.#deletes];
    for (const r of records) {
      this.#stored.set(r.uuid, r.size);
      this.#adds.delete(r.uuid);
    }
    this.#deletes.clear();
    if (this.#adds.size > 0) this.#timer = setTimeout(() => this.flush(), 0);
    const spill = unloading && this.#backend instanceof IndexedDbBackend ? this.#spill(records, uuids) : null;
    // Started now, not after the write before it: on pagehide there is no
    // later. Both backends keep writes in order (a delete never overtakes
    // its put).
    this.#writing = this.#backend.write(records, uuids).then(
      () => spill && removeItem(spill), // written: the spill is not needed
      () => {
        // Quota or a closed database: these events stay in memory only
        // (and in the spill, if any, for the next page).
      },
    );
    return this.#writing;
  }

  /** Puts a write in localStorage at once; returns its key, or null. */
  #spill(records, uuids) {
    const key = `${this.#prefix}_spill_${this.tabId}_${this.#spills++}`;
    try {
      localStorage.setItem(key, JSON.stringify({ records, uuids }));
      return key;
    } catch {
      return null; // no localStorage, or over its quota
    }
  }

  /**
   * Applies the spills of tabs that are gone (their IndexedDB writes did
   * not land, or their pages never saw them land), oldest first, and
   * forgets them. Runs under the claim lock; applying one twice is harmless.
   */
  async #takeSpills(held) {
    const start = `${this.#prefix}_spill_`;
    const spills = [];
    try {
      for (let i = 0; i < localStorage.length; i++) {
        const key = localStorage.key(i);
        if (!key?.startsWith(start)) continue;
        const cut = key.lastIndexOf('_');
        const tab = key.slice(start.length, cut);
        if (tab === this.tabId || held.has(`${this.#prefix}-tab-${tab}`)) continue;
        spills.push({ key, tab, n: Number(key.slice(cut + 1)) });
      }
    } catch {
      return; // no localStorage
    }
    spills.sort((a, b) => (a.tab < b.tab ? -1 : a.tab > b.tab ? 1 : a.n - b.n));
    for (const { key } of spills) {
      let spill = null;
      try {
        spill = JSON.parse(localStorage.getItem(key));
      } catch {
        spill = null;
      }
      try {
        if (Array.isArray(spill?.records) && Array.isArray(spill?.uuids)) {
          await this.#backend.write(spill.records, spill.uuids);
        }
        removeItem(key);
      } catch {
        // Kept for a later page.
      }
    }
  }
}
