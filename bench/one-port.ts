// `npm run bench:one-port`: what serving gRPC (h2c) and HTTP/1.1 on one port costs. The same
// Connect handler (grpc.health.v1 Check, no database) with the same interceptors is measured
// behind the platform's server, which reads each connection's first bytes to pick HTTP/2 or
// HTTP/1.1 (and adds CORS and in-flight tracking), and behind a plain node:http server, in one
// run; Connect JSON over HTTP/1.1 keep-alive in both cases.
import { mkdtempSync, rmSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { authInterceptor } from "../platform/auth/auth.js";
import { HealthState, healthRoutes } from "../platform/http/health.js";
import { observeInterceptor, requestIdInterceptor } from "../platform/http/interceptors.js";
import { serve } from "../platform/http/server.js";
import { createLogger } from "../platform/observability/logger.js";
import { createMetrics } from "../platform/observability/metrics.js";
import { testAuthority } from "../platform/testing.js";
import { loadGenerator, type Result, runLoad } from "./load.js";
import { benchOptions } from "./options.js";

const { seconds, connections, rounds } = benchOptions("bench:one-port", {
  seconds: { default: 5, help: "seconds per measurement" },
  connections: { default: 32, help: "requests in flight" },
  rounds: { default: 3, help: "measurements of each server, alternating" },
});
const work = mkdtempSync(join(tmpdir(), "bazaar-one-port-"));

const { authority } = testAuthority();
const logger = createLogger({ service: "bench", level: "silent", pretty: false });
const onePort = await serve({
  routes: () => {},
  files: [],
  serviceNames: [],
  authority,
  logger,
  metrics: createMetrics("bench"),
  ready: async () => {},
  corsOrigins: [],
  maxMessageBytes: 1024 * 1024,
  host: "127.0.0.1",
  port: 0,
});
// The same handler and interceptors, so that only the connection hand-off differs.
const plain = http.createServer(
  connectNodeAdapter({
    routes: healthRoutes(new HealthState()),
    interceptors: [
      requestIdInterceptor(),
      observeInterceptor(logger, createMetrics("bench-plain")),
      authInterceptor(authority),
    ],
  }),
);
await new Promise<void>((resolve) => plain.listen(0, "127.0.0.1", resolve));
const plainUrl = `http://127.0.0.1:${(plain.address() as AddressInfo).port}`;

const call = (base: string, name: string) => ({
  name,
  url: `${base}/grpc.health.v1.Health/Check`,
  cpu: {},
  body: "{}",
  headers: { "connect-protocol-version": "1" },
});
const targets = [call(onePort.url, "one port (h2c + HTTP/1.1)"), call(plainUrl, "plain node:http")];

process.stdout.write(
  `load: ${loadGenerator}, ${connections} connections, ${seconds} s each, ${rounds} rounds alternating\n\n`,
);
const totals = new Map<string, Result[]>();
for (const target of targets) await runLoad(target, { seconds: 1, connections, workDir: work }); // warm-up
for (let round = 0; round < rounds; round++) {
  for (const target of targets) {
    const result = await runLoad(target, { seconds, connections, workDir: work });
    totals.set(target.name, [...(totals.get(target.name) ?? []), result]);
    process.stdout.write(
      `${target.name.padEnd(28)} ${result.rps.toFixed(0).padStart(7)} req/s   p50 ${result.p50.toFixed(2)} ms   p99 ${result.p99.toFixed(2)} ms${result.errors ? `   ${result.errors} errors` : ""}\n`,
    );
  }
}
const mean = (name: string) => {
  const results = totals.get(name) ?? [];
  return results.reduce((sum, r) => sum + r.rps, 0) / results.length;
};
const [one, bare] = targets.map((t) => mean(t.name));
process.stdout.write(
  `\none port / plain = ${((one ?? 0) / (bare ?? 1)).toFixed(2)}× (mean of ${rounds} rounds)\n`,
);

await onePort.close(1_000);
await new Promise((resolve) => plain.close(resolve));
rmSync(work, { recursive: true, force: true });
