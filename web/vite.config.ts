// Vite builds the storefront (web/src) into one small static bundle; `npm run web:dev` serves
// it with hot reload instead, answering /config.json itself as the storefront server does in
// direct mode (the dev server always hands the page the services' own addresses).
import { defineConfig } from "vite";
import { loadWebConfig, serviceUrls } from "./config.js";

export default defineConfig({
  root: new URL(".", import.meta.url).pathname,
  // The generated code lives in ../gen, outside this root.
  server: { fs: { allow: [".."] } },
  build: {
    target: "es2022",
    sourcemap: true,
    rolldownOptions: {
      onwarn(warning, warn) {
        // TanStack Query marks its hooks "use client" for React Server Components; this page
        // has no server components, so the bundler dropping the marker is harmless.
        if (warning.code === "MODULE_LEVEL_DIRECTIVE") return;
        warn(warning);
      },
    },
  },
  plugins: [
    {
      name: "bazaar-page-config",
      configureServer(server) {
        const body = JSON.stringify(serviceUrls(loadWebConfig()));
        server.middlewares.use("/config.json", (_req, res) => {
          res.setHeader("content-type", "application/json");
          res.end(body);
        });
      },
    },
  ],
});
