// The storefront process: config → the build of the current sources (made now if missing,
// except in production, which serves what `npm run web:build` made) → serve.
import { isEntryPoint, runProcess } from "../platform/runtime.js";
import { ensureBuilt } from "./build.js";
import { forwardsServices, loadWebConfig, serviceUrls } from "./config.js";
import { type StorefrontServer, startStorefront } from "./server.js";

export async function startWeb(env = process.env): Promise<StorefrontServer> {
  const config = loadWebConfig(env);
  const started = performance.now();
  const built = await ensureBuilt({ build: config.NODE_ENV !== "production" });
  const took = `${Math.round(performance.now() - started)} ms`;
  const server = await startStorefront({
    dir: built.dir,
    services: serviceUrls(config),
    forward: forwardsServices(config),
    port: config.PORT,
    host: config.HOST,
  });
  if (config.LOG_LEVEL !== "silent") {
    process.stdout.write(
      `storefront on ${server.url}, services ${forwardsServices(config) ? "forwarded" : "direct"} (${built.fresh ? `built in ${took}` : "build reused"}: ${built.dir})\n`,
    );
  }
  return server;
}

if (isEntryPoint(import.meta.url)) await runProcess("web", () => startWeb());
