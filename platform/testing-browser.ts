// Browser tests: Debian's Chromium through playwright-core, headless and kept off the network
// (the background-networking flags stop it calling out at start; nothing else can leave).
import { existsSync } from "node:fs";
import { type Browser, chromium } from "playwright-core";

export const chromiumPath = "/usr/bin/chromium";

/** Whether Chromium is installed; says how to get it when it is not, so a skip is explained. */
export function haveChromium(test: string): boolean {
  if (existsSync(chromiumPath)) return true;
  console.warn(`skipping ${test}: ${chromiumPath} is missing (apt-get install -y chromium)`);
  return false;
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-quic",
      "--no-first-run",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}
