import { defineConfig } from "vitest/config";

export default defineConfig({
  // graphql-js ships CommonJS (main) and ESM (module) builds. Node, and so graphql-yoga, loads
  // the CommonJS one; Vite would hand our code the ESM one, a second copy that graphql-js
  // refuses to mix with the first ("another module or realm"). Point ours at Node's choice.
  resolve: { alias: [{ find: /^graphql$/, replacement: "graphql/index.js" }] },
  test: {
    include: [
      "platform/**/*.test.ts",
      "services/**/*.test.ts",
      "gateway/**/*.test.ts",
      "scripts/**/*.test.ts",
      "web/**/*.test.ts",
    ],
    // One embedded PostgreSQL for the run unless TEST_DATABASE_URL names a server.
    globalSetup: ["scripts/test-database.ts"],
    // Services start, migrate and hash passwords (argon2 is deliberately slow): be patient.
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: "forks",
    reporters: ["default"],
  },
});
