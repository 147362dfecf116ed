// End-to-end test of the control panel and the API docs in headless Chromium
// (Debian's chromium package, driven by playwright-core), against a running
// mock lab:
//
//   node tests/interop/panel_e2e.mjs http://127.0.0.1:PORT SCREENSHOT.png
//
// Writes a property (and sees a bad value refused inline), runs an action to
// completion and sees its output and the live position, fetches a blob,
// cancels a slow move, watches the camera stream, follows the camera's
// endpoint links, then checks that /docs/
// renders every operation. The page may load nothing from outside the server:
// any request to another origin fails the test. Exit status 0 means every
// step passed.

import { launchChromium } from "./chromium.mjs";

const [base, screenshot] = process.argv.slice(2);
if (!base || !screenshot) {
  console.error("usage: node panel_e2e.mjs SERVER_URL SCREENSHOT.png");
  process.exit(2);
}
const origin = new URL(base).origin;
const TIMEOUT = 15000;

const browser = await launchChromium();
const failures = [];
let steps = 0;
function step(name) {
  steps += 1;
  console.log(`ok ${steps} ${name}`);
}

try {
  const page = await browser.newPage({ viewport: { width: 1500, height: 1100 } });
  page.setDefaultTimeout(TIMEOUT);
  const foreign = [];
  page.on("request", (request) => {
    const url = new URL(request.url());
    if (!["data:", "blob:"].includes(url.protocol) && url.origin !== origin) foreign.push(request.url());
  });
  const pageErrors = [];
  page.on("pageerror", (error) => pageErrors.push(String(error)));

  await page.goto(`${base}/`);
  await page.locator("body[data-ready=true]").waitFor();
  for (const thing of ["stage", "camera", "autofocus"]) await page.locator(`#thing-${thing}`).waitFor();
  step("the panel shows every thing of the mock lab");
  await page.locator("section.warning[role=alert]", { hasText: "steps_per_um" }).waitFor();
  step("a settings file the server could not restore is shown as a warning, naming the field");

  const docs = await page.evaluate(() => {
    const card = document.querySelector("#thing-stage");
    const text = (selector) => [...card.querySelectorAll(selector)].map((n) => n.textContent);
    return {
      cardText: card.textContent,
      docTexts: text(".doc"),
      positionCode: text("tr[data-property=position] .docs code"),
      delayUnit: text("tr[data-property=step_delay_ms] .unit"),
      absoluteLabels: text("#action-stage-move_absolute label"),
      moveDocs: text("#action-stage-move_relative .docs p"),
    };
  });
  const title = "A mock three-axis translation stage.";
  if (docs.cardText.split(title).length !== 2) throw new Error(`the title is shown ${docs.cardText.split(title).length - 1} times`);
  if (!docs.docTexts.some((t) => t.startsWith("Moves one motor step at a time"))) throw new Error(`no description: ${docs.docTexts}`);
  if (docs.docTexts.some((t) => t.includes("`"))) throw new Error(`raw Markdown backticks shown: ${docs.docTexts.filter((t) => t.includes("`"))}`);
  if (!docs.positionCode.includes("[x, y, z]")) throw new Error(`\`[x, y, z]\` is not rendered as code: ${docs.positionCode}`);
  if (docs.delayUnit.join("").trim() !== "ms") throw new Error(`the unit of step_delay_ms is not shown: ${docs.delayUnit}`);
  if (!docs.absoluteLabels.some((t) => t.startsWith("x *") && t.includes("(steps)"))) throw new Error(`no unit by move_absolute's x: ${docs.absoluteLabels}`);
  if (docs.moveDocs.length < 2 || docs.moveDocs[1].startsWith("Move by a relative amount")) throw new Error(`the action's title repeats: ${docs.moveDocs}`);
  step("titles shown once, descriptions and units visible, doc comments' Markdown rendered (no raw backticks)");

  const stage = page.locator("#thing-stage");
  const delay = stage.locator("tr[data-property=step_delay_ms]");
  // The input starts at the current value (the panel fills it once read).
  await page.waitForFunction(
    () => document.querySelector("#thing-stage tr[data-property=step_delay_ms] input")?.value === "10",
  );
  await delay.locator("input").fill("5");
  await delay.getByRole("button", { name: "Set" }).click();
  await delay.locator(".message", { hasText: "✓" }).waitFor();
  await delay.locator("code.value", { hasText: /^5$/ }).waitFor();
  step("the step_delay_ms input starts at its value, 10; writing 5 reads back 5");

  const exposure = page.locator("#thing-camera tr[data-property=exposure_ms]");
  await exposure.locator("input").fill("0");
  await exposure.getByRole("button", { name: "Set" }).click();
  await exposure.locator(".message", { hasText: "less than the minimum of 0.01" }).waitFor();
  step("an out-of-range exposure is refused with the server's message, inline");

  const home = page.locator("#action-stage-home");
  await home.getByRole("button", { name: "Run" }).click();
  await page.locator("#action-stage-home[data-status=completed]").waitFor();
  await stage.locator("tr[data-property=position] code.value", { hasText: "[0,0,0]" }).waitFor();
  step("home (no input) runs and the position is [0,0,0]");

  const move = page.locator("#action-stage-move_relative");
  await move.getByLabel("x", { exact: true }).fill("3");
  await move.getByRole("button", { name: "Run" }).click();
  await page.locator("#action-stage-move_relative[data-status=completed]").waitFor();
  await move.locator("pre.output", { hasText: "3" }).waitFor();
  await stage.locator("tr[data-property=position] code.value", { hasText: "[3,0,0]" }).waitFor();
  const log = await move.locator("pre.log").textContent();
  if (!log.includes("axis 0 moved by 3")) throw new Error(`the move's log is shown: ${log}`);
  step("move_relative x=3 runs to completion: output, log line, and the live position [3,0,0]");

  await move.getByLabel("x", { exact: true }).fill("");
  await move.getByRole("button", { name: "Run" }).click();
  await move.locator(".message", { hasText: "required" }).waitFor();
  step("a missing required input is flagged inline before sending");

  const snap = page.locator("#action-camera-snap");
  await snap.getByRole("button", { name: "Run" }).click();
  await page.locator("#action-camera-snap[data-status=completed]").waitFor();
  const link = snap.locator(".blob a");
  const href = await link.getAttribute("href");
  const image = await page.request.get(href);
  const bytes = await image.body();
  if (image.headers()["content-type"] !== "image/jpeg" || bytes[0] !== 0xff || bytes[1] !== 0xd8) {
    throw new Error(`the snap link downloads a JPEG: ${image.status()} ${image.headers()["content-type"]}`);
  }
  step("snap shows a download link to a JPEG blob");

  await move.getByLabel("x", { exact: true }).fill("2000");
  await move.getByRole("button", { name: "Run" }).click();
  await page.locator("#action-stage-move_relative[data-status=running]").waitFor();
  // The move reports its progress: the bar appears, moves, and says the time left.
  const bar = move.locator(".progress");
  await bar.locator(".label", { hasText: /left/ }).waitFor();
  const first = await bar.locator("progress").evaluate((p) => p.value);
  await page.waitForFunction(
    ([selector, was]) => document.querySelector(selector)?.value > was,
    ["#action-stage-move_relative .progress progress", first],
  );
  const label = await bar.locator(".label").textContent();
  if (!/^\d+ % · about [\d.]+ s left$/.test(label)) throw new Error(`the progress label says ${label}`);
  step(`a slow move shows a progress bar that moves, with the time left ("${label}")`);
  await move.getByRole("button", { name: "Cancel" }).click();
  await page.locator("#action-stage-move_relative[data-status=cancelled]").waitFor();
  await move.locator(".error", { hasText: "InvocationCancelledError" }).waitFor();
  step("a slow move is cancelled from its Cancel button");

  const stream = page.locator("#thing-camera figure.stream img");
  await page.waitForFunction((img) => img.naturalWidth > 0, await stream.elementHandle());
  step("the camera preview stream is playing");

  const links = await page.locator("#thing-camera ul.endpoints a").evaluateAll((nodes) => nodes.map((a) => [a.textContent, a.href]));
  const names = links.map(([name]) => name).sort().join(",");
  if (names !== "latest_frame,summary,test_pattern") throw new Error(`the camera's endpoint links are ${names}`);
  const summaryHref = links.find(([name]) => name === "summary")[1];
  const summary = await page.request.get(summaryHref);
  if (!summary.ok() || !(summary.headers()["content-type"] || "").startsWith("text/html") || !(await summary.text()).includes("<h1>Camera</h1>")) {
    throw new Error(`the summary endpoint answered ${summary.status()} ${summary.headers()["content-type"]}`);
  }
  step("the camera's endpoints are listed as links, and its summary page is HTML");

  const acquire = page.locator("#action-camera-acquire");
  await acquire.getByLabel("count").fill("2");
  await acquire.getByRole("button", { name: "Run" }).click();
  await page.locator("#action-camera-acquire[data-status=completed]").waitFor();
  await page.locator("#thing-camera ol.events li").first().waitFor();
  step("acquire completes and its frame_acquired events appear");

  const scan = page.locator("#action-autofocus-scan");
  await scan.getByLabel("range").fill("20");
  await scan.getByRole("button", { name: "Run" }).click();
  await page.locator("#action-autofocus-scan[data-status=completed]").waitFor();
  const best = (await scan.locator("pre.output").textContent()).trim();
  await page.locator("#thing-autofocus tr[data-property=best_z] code.value", { hasText: best }).waitFor();
  step(`autofocus scan completes and best_z shows its result, ${best}`);

  await page.screenshot({ path: screenshot, fullPage: true });
  step(`screenshot saved to ${screenshot}`);

  await page.goto(`${base}/docs/`);
  await page.locator(".opblock").first().waitFor();
  const operations = await page.locator(".opblock").count();
  const spec = await (await page.request.get(`${base}/openapi.json`)).json();
  const expected = Object.values(spec.paths).reduce((n, item) => n + Object.keys(item).length, 0);
  if (operations !== expected) throw new Error(`/docs/ shows ${operations} operations, the document has ${expected}`);
  step(`/docs/ renders all ${operations} operations of /openapi.json`);

  if (foreign.length) throw new Error(`requests left the server: ${foreign.join(", ")}`);
  step("nothing was fetched from outside the server");
  if (pageErrors.length) throw new Error(`JavaScript errors: ${pageErrors.join("; ")}`);
  step("no JavaScript errors");
} catch (error) {
  failures.push(String(error?.stack ?? error));
  console.error(`FAIL ${error?.stack ?? error}`);
} finally {
  await browser.close();
}
console.log(`panel: ${steps} steps passed, ${failures.length} failed`);
process.exit(failures.length === 0 ? 0 : 1);
