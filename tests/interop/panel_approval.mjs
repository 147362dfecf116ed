// The control panel's approvals in headless Chromium (Debian's chromium,
// driven by playwright-core), against a lab where two calls await an
// operator's approval:
//
//   node tests/interop/panel_approval.mjs LAB_URL OPERATOR_TOKEN SCREENSHOT.png
//
// Signed in as the operator (the #token=… fragment), the panel lists both
// calls under "Awaiting your approval" with the caller and the input; the
// one moving to x = 5 is approved, the one to x = 7 rejected, each with its
// button, and both leave the list. The caller checks what the server did.
// Exit status 0 means every step passed.

import { launchChromium } from "./chromium.mjs";

const [base, token, screenshot] = process.argv.slice(2);
if (!screenshot) {
  console.error("usage: node panel_approval.mjs LAB_URL OPERATOR_TOKEN SCREENSHOT.png");
  process.exit(2);
}
const browser = await launchChromium();
let steps = 0;
function step(name) {
  steps += 1;
  console.log(`ok ${steps} ${name}`);
}
try {
  const page = await browser.newPage({ viewport: { width: 1300, height: 900 } });
  page.setDefaultTimeout(15000);
  const pageErrors = [];
  page.on("pageerror", (error) => pageErrors.push(String(error)));
  await page.goto(`${base}/#token=${token}`);
  await page.locator("body[data-ready=true]").waitFor();
  const items = page.locator("section.approvals li");
  await items.nth(1).waitFor();
  const texts = await items.allTextContents();
  if (!texts.every((t) => t.includes("/stage/move_absolute") && t.includes("robot"))) throw new Error(`the list: ${texts}`);
  step("both calls are listed with the action and the caller");
  await page.screenshot({ path: screenshot, fullPage: true });
  const five = items.filter({ hasText: '"x": 5' });
  await five.locator("button.approve").click();
  await five.waitFor({ state: "detached" });
  step("Approve lets the move to x = 5 run, and it leaves the list");
  const seven = items.filter({ hasText: '"x": 7' });
  await seven.locator("button.reject").click();
  await seven.waitFor({ state: "detached" });
  step("Reject ends the move to x = 7, and it leaves the list");
  await page.locator("section.approvals").waitFor({ state: "hidden" });
  step("with nothing awaiting, the section is hidden");
  if (pageErrors.length) throw new Error(`page errors: ${pageErrors.join("; ")}`);
  console.log(`${steps} steps passed, 0 failed`);
} catch (error) {
  console.log(`not ok: ${error.message}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
