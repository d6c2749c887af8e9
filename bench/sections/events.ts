// `npm run bench`'s events section: bench/events.ts (orders/s with NATS_URL against the same run
// without, and the relay's lag from commit to JetStream ack) read back into rows.
import { row, script } from "../report.js";

export async function events(seconds: number): Promise<void> {
  const out = await script("bench/events.ts", ["--seconds", String(seconds)]);
  const rows = JSON.parse(out.match(/^ROWS (.*)$/m)?.[1] ?? "[]") as string[][];
  for (const [figure = "", value = "", reference = "", target = ""] of rows) {
    // The value carries its ratio to the reference, as bench/events.ts prints it.
    row(figure, value, reference, "", target);
  }
}
