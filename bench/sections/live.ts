// `npm run bench`'s live section: bench:live (SSE subscribers to stockChanged on one gateway
// while orders run, against the same run with none) read back into rows.
import { row, script } from "../report.js";

export async function live(subscribers: number): Promise<void> {
  const out = await script("bench/live.ts", [
    "--subscribers",
    String(subscribers),
    "--seconds",
    "8",
  ]);
  const rows = JSON.parse(out.match(/^ROWS (.*)$/m)?.[1] ?? "[]") as string[][];
  for (const [figure = "", value = "", reference = "", target = ""] of rows) {
    // The value carries its ratio to the reference, as bench/live.ts prints it.
    row(figure, value, reference, "", target);
  }
}
