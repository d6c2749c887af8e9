// The terminal form of a log line (LOG_PRETTY): one line per entry — time, coloured level,
// service, message, then the entry's fields as key=value — instead of pino's JSON. An error's
// stack follows on its own lines. Only for people at a terminal; machines get the JSON.

const levels: Record<number, [name: string, color: number]> = {
  10: ["TRACE", 90],
  20: ["DEBUG", 34],
  30: ["INFO ", 32],
  40: ["WARN ", 33],
  50: ["ERROR", 31],
  60: ["FATAL", 35],
};

// Shown in the line's fixed columns, or not worth a column at a terminal.
const placed = new Set([
  ...["level", "time", "service", "msg", "pid", "hostname", "name", "err"],
  ...["rpc", "operation", "code", "ms", "requestId"],
]);

export interface FormatOptions {
  colors: boolean;
}

/** One pino JSON line → one readable line (plus an error's stack, if any). */
export function formatLogLine(json: string, { colors }: FormatOptions): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json.endsWith("\n") ? json : `${json}\n`;
  }
  const paint = (color: number, text: string) => (colors ? `\x1b[${color}m${text}\x1b[0m` : text);
  const [levelName, levelColor] = levels[entry.level as number] ?? ["?    ", 0];
  const time = typeof entry.time === "number" ? clock(entry.time) : "";
  const fields: string[] = [];
  for (const [key, value] of Object.entries(entry)) {
    if (placed.has(key) || value === undefined) continue;
    fields.push(`${paint(90, `${key}=`)}${show(value)}`);
  }
  // An RPC or a GraphQL operation reads as "what, outcome, how long"; anything else as its message.
  const what =
    typeof entry.rpc === "string"
      ? entry.rpc.replace(/^.*\.(?=[^.]*\/)/, "") // bazaar.catalog.v1.CatalogService/X → CatalogService/X
      : typeof entry.operation === "string"
        ? `${entry.msg ?? ""} ${entry.operation}`
        : String(entry.msg ?? "");
  const code = typeof entry.code === "string" ? entry.code : undefined;
  const parts = [
    paint(90, time),
    paint(levelColor, levelName),
    String(entry.service ?? entry.name ?? "").padEnd(7),
    what,
    ...(code ? [paint(code === "OK" ? 32 : 33, code)] : []),
    ...(typeof entry.ms === "number" ? [`${entry.ms}ms`] : []),
    ...fields,
    ...(typeof entry.requestId === "string" ? [paint(90, `req=${entry.requestId}`)] : []),
  ];
  let line = `${parts.join(" ")}\n`;
  const err = entry.err as { stack?: string; message?: string } | undefined;
  if (err) line += `${paint(levelColor, indent(err.stack ?? err.message ?? show(err)))}\n`;
  return line;
}

function clock(ms: number): string {
  const d = new Date(ms);
  const two = (n: number) => String(n).padStart(2, "0");
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}.${String(d.getMilliseconds()).padStart(3, "0")}`;
}

function show(value: unknown): string {
  if (typeof value === "string") return /[\s"=]/.test(value) ? JSON.stringify(value) : value;
  return JSON.stringify(value);
}

function indent(text: string): string {
  return text
    .split("\n")
    .map((l) => `    ${l}`)
    .join("\n");
}
