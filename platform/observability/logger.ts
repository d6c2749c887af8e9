// The process logger: pino JSON on stdout, one object per line; with `pretty` (LOG_PRETTY, set
// by `npm start` at a terminal) one readable, coloured line per entry instead. Secrets are
// redacted by path as a second line of defence; the first is never putting them in a log call.
import { type DestinationStream, type Logger, pino } from "pino";
import { formatLogLine } from "./log-format.js";
import { traceFields, tracingOn } from "./tracing.js";

export type { Logger };

export function createLogger(options: { service: string; level: string; pretty: boolean }): Logger {
  return pino(
    {
      name: options.service,
      level: options.level,
      base: { service: options.service },
      // With tracing on, each line names its trace and span (a cheap lookup of the active span).
      ...(tracingOn() ? { mixin: traceFields } : {}),
      redact: {
        paths: [
          "password",
          "*.password",
          "newPassword",
          "*.newPassword",
          "currentPassword",
          "*.currentPassword",
          "authorization",
          "*.authorization",
          "token",
          "*.token",
          "accessToken",
          "*.accessToken",
          "passwordHash",
          "*.passwordHash",
        ],
        censor: "[redacted]",
      },
    },
    options.pretty ? prettyStdout() : undefined,
  );
}

/**
 * Formats in this thread, synchronously: only people at a terminal read it, and unlike a
 * pino-pretty transport it keeps colours when stdout is `npm start`'s pipe. NO_COLOR turns
 * the colours off (https://no-color.org).
 */
function prettyStdout(): DestinationStream {
  const colors = !process.env.NO_COLOR;
  return { write: (line: string) => void process.stdout.write(formatLogLine(line, { colors })) };
}
