// The start-up banner says where domain events go: nowhere but the outboxes without NATS_URL.
import { describe, expect, it } from "vitest";
import { processes, processNames } from "../platform/processes.js";
import { banner } from "./start-text.js";

const ports = Object.fromEntries(
  processNames.map((name) => [name, processes[name].port]),
) as Record<(typeof processNames)[number], number>;
const text = (env: NodeJS.ProcessEnv) =>
  banner({ ports, env, seconds: "1 s", paint: (_color, s) => s });

describe("npm start's banner", () => {
  it("says events are recorded, not published, without NATS_URL", () => {
    expect(text({})).toContain("events        recorded, not published (set NATS_URL)");
  });

  it("names the broker and the tail with NATS_URL", () => {
    expect(text({ NATS_URL: "nats://localhost:4222" })).toContain(
      "events        to JetStream at nats://localhost:4222 (watch: NATS_URL=nats://localhost:4222 npm run events)",
    );
  });
});
