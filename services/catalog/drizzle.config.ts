import { defineConfig } from "drizzle-kit";

export default defineConfig({
  dialect: "postgresql",
  schema: "./services/catalog/schema.ts",
  out: "./services/catalog/drizzle",
});
