// Process life for a service's main.ts: start, print where it listens, and on SIGTERM/SIGINT
// stop accepting, finish in-flight calls, close the database and exit 0.
import { ConfigError } from "./config.js";

export interface Stoppable {
  stop(): Promise<void>;
}

export async function runProcess(name: string, start: () => Promise<Stoppable>): Promise<void> {
  let running: Stoppable;
  try {
    running = await start();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException)?.code;
    if (error instanceof ConfigError) {
      process.stderr.write(`${name}: ${error.message}\n`);
    } else if (code === "EADDRINUSE" || code === "EACCES") {
      const { port } = error as { port?: number };
      process.stderr.write(
        `${name}: cannot listen on port ${port ?? "?"} (${code === "EADDRINUSE" ? "already in use" : "not allowed"}); set PORT to another one\n`,
      );
    } else {
      process.stderr.write(
        `${name}: failed to start: ${(error as Error)?.stack ?? String(error)}\n`,
      );
    }
    process.exit(1);
  }
  // Ctrl-C under `npm start` reaches a service twice: SIGINT from the terminal and SIGTERM from
  // the supervisor. Only the same signal again (Ctrl-C pressed twice) means "stop right now".
  let first: NodeJS.Signals | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    if (first !== undefined) {
      if (signal !== first) return;
      process.stderr.write(`${name}: ${signal} again, exiting now\n`);
      process.exit(1);
    }
    first = signal;
    running.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(`${name}: shutdown failed: ${String(error)}\n`);
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
}

/** Whether this module is the process entry point (`tsx services/x/main.ts`, or its bundle run by node). */
export function isEntryPoint(importMetaUrl: string): boolean {
  const entry = process.argv[1];
  if (!entry) return false;
  const url = new URL(importMetaUrl);
  return url.pathname === entry || url.pathname.replace(/\.ts$/, "") === entry.replace(/\.ts$/, "");
}
