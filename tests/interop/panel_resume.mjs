// The control panel after a network break, in headless Chromium (driven by
// playwright-core), served through a proxy the test cuts:
//
//   node tests/interop/panel_resume.mjs PANEL_URL
//
// The lab serves `bench` (an observable `count`) and `live` (a `beat`
// event). The script prints one JSON line per step and waits for the test
// on its standard input between them:
//   {"open": true}   the panel shows count (5) and its event stream is
//                    open; the test then emits two beats and writes a line;
//   {"ready": ...}   the panel shows count and the beats so far; the test
//                    then cuts the proxy, changes count and emits beats,
//                    restores the proxy and writes a line;
//   {"resumed": ...} the panel shows the count set while it was cut off and
//                    every beat emitted meanwhile (its EventSource resumed),
//                    within 20 s.
// Exit status 0 means both steps passed.

import { createInterface } from "node:readline";
import { launchChromium } from "./chromium.mjs";

const [base] = process.argv.slice(2);
if (!base) {
  console.error("usage: node panel_resume.mjs PANEL_URL");
  process.exit(2);
}
const input = createInterface({ input: process.stdin });
const lines = input[Symbol.asyncIterator]();
const browser = await launchChromium();
try {
  const page = await browser.newPage();
  page.setDefaultTimeout(20000);
  const streamOpen = page.waitForResponse((r) => new URL(r.url()).pathname === "/live/beat" && r.status() === 200);
  await page.goto(`${base}/`);
  await page.locator("body[data-ready=true]").waitFor();
  const count = page.locator("#thing-bench code.value[data-property=count]");
  const beats = page.locator("#thing-live ol[data-event=beat] li");
  await page.waitForFunction(() => document.querySelector("#thing-bench code.value[data-property=count]")?.textContent === "5");
  await streamOpen;
  console.log(JSON.stringify({ open: true }));
  await lines.next();
  await page.waitForFunction(() => document.querySelectorAll("#thing-live ol[data-event=beat] li").length === 2);
  console.log(JSON.stringify({ ready: { count: await count.textContent(), beats: await beats.allTextContents() } }));
  await lines.next();
  await page.waitForFunction(() => document.querySelector("#thing-bench code.value[data-property=count]")?.textContent === "42");
  await page.waitForFunction(() => document.querySelectorAll("#thing-live ol[data-event=beat] li").length === 5);
  console.log(JSON.stringify({ resumed: { count: await count.textContent(), beats: await beats.allTextContents() } }));
} finally {
  await browser.close();
  input.close();
}
