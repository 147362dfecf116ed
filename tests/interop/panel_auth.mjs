// The control panel of a lab that needs credentials, in headless Chromium
// (Debian's chromium, driven by playwright-core):
//
//   node tests/interop/panel_auth.mjs TOKEN_LAB TOKEN PASSWORD_LAB USER PASSWORD OTHER_SITE_URL
//
// TOKEN_LAB has a user with a bearer token: without credentials the panel
// asks for one and shows nothing of the lab; a wrong token is refused; with
// the token from the address's #token=… fragment (which the panel removes
// from the address bar) it drives the lab and its live parts work
// (WebSocket, camera stream, event stream, blob image). PASSWORD_LAB has a
// user with a password, which the browser itself asks for (its own prompt,
// answered here by playwright's httpCredentials; headless Chromium has no
// prompt to show); the same live parts work. Then, in that same browser,
// which now holds the password, a page from OTHER_SITE_URL tries a simple
// cross-origin POST; the caller checks that the stage did not move.
// Exit status 0 means every step passed.

import { launchChromium } from "./chromium.mjs";

const [base, token, passwordLab, user, password, otherSite] = process.argv.slice(2);
if (!otherSite) {
  console.error("usage: node panel_auth.mjs TOKEN_LAB TOKEN PASSWORD_LAB USER PASSWORD OTHER_SITE_URL");
  process.exit(2);
}
const TIMEOUT = 15000;
let steps = 0;
function step(name) {
  steps += 1;
  console.log(`ok ${steps} ${name}`);
}

/** Wait until the panel has finished loading: "true" (things) or "signin". */
async function loaded(page, state) {
  await page.locator(`body[data-ready=${state}]`).waitFor();
}

/** Run `action` of `thing` with `fields` and wait for it to complete. */
async function run(page, thing, action, fields = {}) {
  const panel = page.locator(`#action-${thing}-${action}`);
  for (const [name, value] of Object.entries(fields)) await panel.getByLabel(name, { exact: true }).fill(value);
  await panel.getByRole("button", { name: "Run" }).click();
  await page.locator(`#action-${thing}-${action}[data-status=completed]`).waitFor();
  return panel;
}

/** Whether the image `selector` finds has loaded (a picture was decoded). */
async function pictureLoaded(page, selector) {
  await page.waitForFunction((s) => {
    const img = document.querySelector(s);
    return img && img.complete && img.naturalWidth > 0;
  }, selector);
}

/** The live parts of the panel, signed in: moves seen live, stream, events, blob. */
async function drive(page, moveBy, expected) {
  await run(page, "stage", "move_relative", { x: String(moveBy) });
  await page.locator("#thing-stage tr[data-property=position] code.value", { hasText: expected }).waitFor();
  await pictureLoaded(page, "#thing-camera figure.stream img");
  await run(page, "camera", "acquire", { count: "1" });
  await page.locator("#thing-camera ol.events[data-event=frame_acquired] li").first().waitFor();
  const snap = await run(page, "camera", "snap");
  await pictureLoaded(page, "#action-camera-snap .blob img");
  return snap;
}

const browser = await launchChromium();
try {
  // 1. No credentials: a sign-in box and nothing of the lab.
  const anonymous = await browser.newContext();
  const page = await anonymous.newPage();
  page.setDefaultTimeout(TIMEOUT);
  const errors = [];
  page.on("pageerror", (error) => errors.push(String(error)));
  await page.goto(`${base}/`);
  await loaded(page, "signin");
  if ((await page.locator("#thing-stage").count()) !== 0) throw new Error("the lab is shown without credentials");
  step("without credentials the panel asks for them and shows no thing");

  await page.getByLabel("access token").fill("not the token");
  await page.getByRole("button", { name: "Sign in" }).click();
  await loaded(page, "signin");
  await page.locator(".signin .error", { hasText: "not accepted" }).waitFor();
  step("a wrong token is refused with the server's message");

  // 2. The token in the address's fragment.
  await page.goto(`${base}/#token=${encodeURIComponent(token)}`);
  await loaded(page, "true");
  if (page.url().includes(token)) throw new Error(`the token stays in the address bar: ${page.url()}`);
  step("with #token=… the panel loads every thing and removes the token from the address");
  await drive(page, 2, "[2,0,0]");
  step("signed in with the token: a move is seen live (WebSocket), the camera stream, an event (SSE) and a blob image load");
  await page.reload();
  await loaded(page, "true");
  step("the token lasts for this tab across a reload");
  await page.getByRole("button", { name: "Sign out" }).click();
  await loaded(page, "signin");
  step("signing out forgets the token");
  if (errors.length) throw new Error(`page errors: ${errors.join("; ")}`);
  await anonymous.close();

  // 3. A user name and password, given to the browser's own prompt.
  const basic = await browser.newContext({ httpCredentials: { username: user, password } });
  const signedIn = await basic.newPage();
  signedIn.setDefaultTimeout(TIMEOUT);
  await signedIn.goto(`${passwordLab}/`);
  await loaded(signedIn, "true");
  await drive(signedIn, 1, "[1,0,0]");
  step("signed in with a password: the same live parts work");

  // 4. This browser now holds the password; a page on another site tries
  // to use it with a simple POST (no preflight).
  const other = await basic.newPage();
  await other.goto(otherSite);
  const sent = await other.evaluate(async (lab) => {
    try {
      await fetch(`${lab}/stage/move_relative`, {
        method: "POST",
        mode: "no-cors",
        credentials: "include",
        headers: { "content-type": "text/plain" },
        body: '{"x": 500}',
      });
      return "sent";
    } catch {
      return "blocked";
    }
  }, passwordLab);
  console.log(JSON.stringify({ cross_origin_post: sent }));
  step("a page on another site sent its POST; the caller checks the stage");
  await basic.close();
} catch (error) {
  console.error(`FAIL after ${steps} steps: ${error?.stack ?? error}`);
  await browser.close();
  process.exit(1);
}
await browser.close();
console.log(`panel with credentials: ${steps} steps passed, 0 failed`);
