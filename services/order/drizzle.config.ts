import { defineConfig } from "drizzle-kit";

export default defineConfig({
  dialect: "postgresql",
  schema: "./services/order/schema.ts",
  out: "./services/order/drizzle",
});
