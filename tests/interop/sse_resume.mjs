// A browser's own EventSource (headless Chromium, driven by
// playwright-core) observing a property through a proxy the test cuts:
//
//   node tests/interop/sse_resume.mjs BASE_URL OBSERVE_PATH LAST_VALUE
//
// Opens a page at BASE_URL (the Thing's TD, through the proxy), creates
// `new EventSource(OBSERVE_PATH)` there, as a page would, and prints one JSON
// line per thing the EventSource does: {"open":true}, {"error":true},
// {"data":VALUE,"id":"..."} for each message, {"gap":...} for a gap message.
// It ends with {"done":true} once it has received LAST_VALUE (or fails after
// 60 s). The test cuts the connection and changes the property meanwhile;
// it reads these lines to tell what the browser received, in what order.

import { launchChromium } from "./chromium.mjs";

const [base, path, last] = process.argv.slice(2);
if (!last) {
  console.error("usage: node sse_resume.mjs BASE_URL OBSERVE_PATH LAST_VALUE");
  process.exit(2);
}
const browser = await launchChromium();
try {
  const page = await browser.newPage();
  let finish;
  const finished = new Promise((resolve) => (finish = resolve));
  await page.exposeFunction("report", (line) => {
    console.log(JSON.stringify(line));
    if (line.data === Number(last)) finish();
  });
  await page.goto(base);
  await page.evaluate((path) => {
    const source = new EventSource(path);
    source.onopen = () => window.report({ open: true });
    source.onerror = () => window.report({ error: true, readyState: source.readyState });
    source.onmessage = (message) => window.report({ data: JSON.parse(message.data), id: message.lastEventId });
    source.addEventListener("gap", (message) => window.report({ gap: JSON.parse(message.data), id: message.lastEventId }));
  }, path);
  // (unref: the timer alone does not keep node running once done)
  const timeout = new Promise((_, reject) => setTimeout(() => reject(new Error(`no ${last} within 60 s`)), 60000).unref());
  await Promise.race([finished, timeout]);
  console.log(JSON.stringify({ done: true }));
} finally {
  await browser.close();
}
