// Polling that never piles up: the next request is scheduled only when the previous answer is
// in, and the wait doubles (up to a ceiling) while nothing changes, so an idle tab over a
// finished sweep costs almost nothing. Any change, or the user's return to the tab, resets it.

export class Poller {
  /**
   * @param {function(): Promise<boolean>} poll  resolves true when it found something new
   * @param {{base: number, ceiling: number}} delays  in milliseconds
   */
  constructor(poll, {base = 5000, ceiling = 60000} = {}) {
    this.poll = poll;
    this.base = base;
    this.ceiling = ceiling;
    this.delay = base;
    this.timer = null;
    this.running = false;
    document.addEventListener('visibilitychange', () => {
      if (!document.hidden) this.now();
    });
  }

  start() {
    this.schedule(this.base);
  }

  /** Polls as soon as the current poll (if any) is done, and from then on at the base rate. */
  now() {
    this.delay = this.base;
    if (!this.running) this.schedule(0);
  }

  schedule(delay) {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.tick(), delay);
  }

  async tick() {
    if (document.hidden) return;  // resumed by visibilitychange
    this.running = true;
    let changed = false;
    try {
      changed = await this.poll();
    } catch (error) {
      changed = false;
    } finally {
      this.running = false;
    }
    this.delay = changed ? this.base : Math.min(this.ceiling, this.delay * 2);
    this.schedule(this.delay);
  }
}
