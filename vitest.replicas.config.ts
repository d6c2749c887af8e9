// `npm run test:replicas`: two replicas of every service behind round-robin balancers and a
// gateway, real processes on real PostgreSQL (faults/replicas.test.ts).
import { defineConfig } from "vitest/config";

export default defineConfig({
  resolve: { alias: [{ find: /^graphql$/, replacement: "graphql/index.js" }] },
  test: {
    include: ["faults/replicas.test.ts"],
    globalSetup: ["scripts/test-database.ts"],
    testTimeout: 180_000,
    hookTimeout: 180_000,
    pool: "forks",
    fileParallelism: false,
    reporters: ["default"],
  },
});
