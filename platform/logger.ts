// The process logger: pino JSON on stdout, one object per line. Secrets are redacted by path
// as a second line of defence; the first is never putting them in a log call.
import { type Logger, pino } from "pino";
import { traceFields, tracingOn } from "./tracing.js";

export type { Logger };

export function createLogger(options: { service: string; level: string; pretty: boolean }): Logger {
  return pino({
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
    ...(options.pretty
      ? { transport: { target: "pino-pretty", options: { translateTime: "HH:MM:ss.l" } } }
      : {}),
  });
}
