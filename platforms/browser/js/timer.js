// The one timer of the browser build's core. The core says when its next
// deadline is after every input (`arm`, called from wasm: see Host::arm in
// src/timer_driver/run_loop.rs); this keeps a single setTimeout due no
// later than that and calls `fire` when it runs. Timers are JavaScript's so
// that a page's replaced setTimeout or clearTimeout that throws is caught
// here, never inside wasm.

export class CoreTimer {
  #handle = null;
  /** When the pending timer is due (performance.now() milliseconds). */
  #at = Infinity;
  #fire;

  /** `fire()` runs when the timer does (from the event loop, never throws). */
  constructor(fire) {
    this.#fire = () => {
      this.#handle = null;
      this.#at = Infinity;
      fire();
    };
  }

  /**
   * Keeps one timer due no later than `ms` from now; -1: none (so that
   * Node can exit). Never throws: without a timer, the next input arms
   * again.
   */
  arm(ms) {
    try {
      if (ms >= 0 && this.#handle !== null && this.#at <= performance.now() + ms) return;
      if (this.#handle !== null) {
        clearTimeout(this.#handle);
        this.#handle = null;
        this.#at = Infinity;
      }
      if (ms < 0) return;
      this.#handle = setTimeout(this.#fire, ms);
      this.#at = performance.now() + ms;
    } catch {
      // No timer now: the next input arms one.
    }
  }
}
