// A service's background loop (the catalog's sweeper and search outbox, the order's recovery):
// a pass every N ms, one at a time. A failed pass is logged and the loop goes on; `stop()`
// waits for the pass in flight, so the platform can close the database right after.

import type { Logger } from "./observability/logger.js";

export interface WorkerOptions<T> {
  /** For the logs: "reservation sweeper", "order recovery". */
  name: string;
  pass: () => Promise<T>;
  /** Time between passes; 0 runs no pass after the first (use `runAtStart`). */
  intervalMs: number;
  logger: Logger;
  /** Run the first pass as soon as the worker starts instead of one interval later. */
  runAtStart?: boolean;
  /** Whether a pass left work behind, so that the next one runs at once. */
  more?: (result: T) => boolean;
}

/** Anything the platform starts once the server listens and stops before the database closes. */
export interface Worker {
  start(): void;
  stop(): Promise<void>;
}

export class Loop<T = void> implements Worker {
  #timer: NodeJS.Timeout | undefined;
  // The last pass queued; every pass waits for the one before it.
  #tail: Promise<unknown> = Promise.resolve();
  #started = false;
  #stopped = false;

  constructor(private readonly options: WorkerOptions<T>) {}

  start(): void {
    if (this.#started || this.#stopped) return;
    this.#started = true;
    if (this.options.runAtStart) this.#schedule(0);
    else if (this.options.intervalMs > 0) this.#schedule(this.options.intervalMs);
  }

  /** One pass now, after any pass in flight; its error goes to the caller. */
  runOnce(): Promise<T> {
    const run = this.#tail.then(() => this.options.pass());
    this.#tail = run.catch(() => {});
    return run;
  }

  /** No new pass starts; resolves when the one in flight has finished. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#tail;
  }

  #schedule(delayMs: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.runOnce().then(
        (result) => {
          const again = this.options.more?.(result) ?? false;
          if (again) this.#schedule(0);
          else if (this.options.intervalMs > 0) this.#schedule(this.options.intervalMs);
        },
        (error: unknown) => {
          this.options.logger.warn(
            { err: error, worker: this.options.name },
            `${this.options.name} failed; trying again later`,
          );
          if (this.options.intervalMs > 0) this.#schedule(this.options.intervalMs);
        },
      );
    }, delayMs);
    // A background loop never keeps the process alive on its own.
    this.#timer.unref();
  }
}
