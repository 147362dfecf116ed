// A page from another site attacks lab servers from headless Chromium
// (Debian's chromium, driven by playwright-core):
//
//   node tests/interop/cross_origin.mjs PAGE_URL LAB_URL [LAB_URL ...]
//
// PAGE_URL is any page of another origin (a server the test runs on another
// port); this script replaces its content with the attack, which, against
// each lab, tries what a malicious
// page can: a simple cross-origin POST with a text/plain body that would move
// the stage, a body-less POST that would reset the stage's calibration, a
// JSON POST (which needs a preflight), and a WebSocket. It prints one JSON
// line per lab with what the browser saw; the caller checks the labs' state.

import { launchChromium } from "./chromium.mjs";

const [evil, ...labs] = process.argv.slice(2);
if (!evil || labs.length === 0) {
  console.error("usage: node cross_origin.mjs PAGE_URL LAB_URL [LAB_URL ...]");
  process.exit(2);
}

const page_html = `<!doctype html><title>a page on another site</title><script>
async function attack(lab) {
  const results = {};
  const send = async (name, init) => {
    try { await fetch(lab + init.path, init); results[name] = "sent"; }
    catch (e) { results[name] = "blocked"; }
  };
  await send("text_post", { path: "/stage/move_relative", method: "POST", mode: "no-cors",
    headers: { "content-type": "text/plain" }, body: '{"x": 200}' });
  await send("reset", { path: "/stage/steps_per_um/reset", method: "POST", mode: "no-cors" });
  await send("json_post", { path: "/stage/move_relative", method: "POST",
    headers: { "content-type": "application/json" }, body: '{"x": 200}' });
  results.websocket = await new Promise((resolve) => {
    const ws = new WebSocket(lab.replace("http", "ws") + "/stage/ws");
    ws.onopen = () => { resolve("open"); ws.close(); };
    ws.onerror = () => resolve("refused");
    setTimeout(() => resolve("timeout"), 5000);
  });
  return results;
}
</script>`;

const browser = await launchChromium();
try {
  const page = await browser.newPage();
  await page.goto(evil);
  await page.setContent(page_html);
  for (const lab of labs) {
    const results = await page.evaluate((lab) => attack(lab), lab);
    console.log(JSON.stringify({ lab, ...results }));
  }
} finally {
  await browser.close();
}
