// `npm run test:faults`: the fault suite, real processes on real PostgreSQL (faults/).
import { defineConfig } from "vitest/config";

export default defineConfig({
  resolve: { alias: [{ find: /^graphql$/, replacement: "graphql/index.js" }] },
  test: {
    include: ["faults/**/*.test.ts"],
    // The replica suite has its own command (npm run test:replicas).
    exclude: ["faults/replicas.test.ts"],
    globalSetup: ["scripts/test-database.ts"],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: "forks",
    fileParallelism: false,
    reporters: ["default"],
  },
});
