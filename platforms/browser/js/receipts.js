// Per-event receipts, shared by the browser and Workers clients: the
// promises `receipt(uuid)` handed out and not yet resolved. They resolve
// from the lists the wasm module writes once it is asked to (`wantResolved`:
// nothing is written while nobody asks), `fate,uuid,uuid,fate,uuid,...`: a
// fate (`delivered`, `spilled` (a durable queue has it; not used by these
// builds yet), or a drop reason as `stats().dropped` names it, never 36
// characters) applies to the uuids after it.

import { withResolvers } from './guard.js';

/** Fates that are a status of their own; any other is a drop reason. */
const STATUSES = ['delivered', 'spilled', 'unknown'];

export class Receipts {
  /** uuid -> { promise, resolve } */
  #open = new Map();

  get size() {
    return this.#open.size;
  }

  /** The promise of `uuid`'s receipt: the same one until it resolves. */
  ask(uuid) {
    let r = this.#open.get(uuid);
    if (!r) this.#open.set(uuid, (r = withResolvers()));
    return r.promise;
  }

  /** Resolves `uuid`'s receipt, if one is open: `fate` one of STATUSES or a drop reason. */
  resolve(uuid, fate) {
    const r = this.#open.get(uuid);
    if (!r) return;
    this.#open.delete(uuid);
    r.resolve(STATUSES.includes(fate) ? { status: fate } : { status: 'dropped', reason: fate });
  }

  /** Resolves the open receipts of a resolved list (split at its commas). */
  settle(items) {
    let fate = 'delivered';
    for (const item of items) {
      if (this.#open.size === 0) return;
      if (item.length !== 36) fate = item;
      else this.resolve(item, fate);
    }
  }

  /** Every open receipt: the client holds none of their events. */
  unknown() {
    for (const uuid of [...this.#open.keys()]) this.resolve(uuid, 'unknown');
  }
}
