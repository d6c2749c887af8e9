import { defineConfig } from "drizzle-kit";

export default defineConfig({
  dialect: "postgresql",
  schema: "./services/account/schema.ts",
  out: "./services/account/drizzle",
});
