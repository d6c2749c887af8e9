// Periodic background work (the reservation sweeper, the search outbox worker) that stops
// cleanly with the service.
import type { Logger } from "../../platform/logger.js";

export interface BackgroundTask {
  stop(): Promise<void>;
}

/**
 * Runs `pass` every `intervalMs`, and again at once while it reports more work. Stops
 * cleanly: `stop()` waits for a pass in flight. Errors are logged, never thrown.
 */
export function repeatInBackground(
  name: string,
  pass: () => Promise<boolean>,
  intervalMs: number,
  logger: Logger,
): BackgroundTask {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  const schedule = (delay: number) => {
    if (stopped) return;
    timer = setTimeout(() => {
      running = (async () => {
        let more = false;
        try {
          more = await pass();
        } catch (error) {
          logger.warn({ err: error, task: name }, `${name} failed; retrying later`);
        }
        schedule(more ? 0 : intervalMs);
      })();
    }, delay);
    // A background task never keeps the process alive on its own.
    timer.unref();
  };
  schedule(intervalMs);
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
