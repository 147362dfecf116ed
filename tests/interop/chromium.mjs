// Headless Chromium (Debian's chromium, or $CHROMIUM) as the browser tests
// start it: no sandbox (they run as root) and none of Chromium's own
// network traffic, which this machine's closed network would refuse.

import { chromium } from "playwright-core";

export function launchChromium() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}
