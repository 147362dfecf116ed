// Drive labthings servers with Eclipse Thingweb node-wot, the reference WoT
// client, using nothing but the Thing Descriptions they serve.
//
//   node tests/interop/wot_client.mjs http://127.0.0.1:PORT [http://127.0.0.1:PORT2 ...]
//
// For servers that need credentials, LABTHINGS_CREDENTIALS holds JSON that
// maps a server URL to node-wot credentials: {"username": .., "password": ..}
// (basic) or {"token": ..} (bearer). They are given to node-wot with
// servient.addCredentials for each thing's id, and the suite also checks
// that a write with wrong ones is refused.
// node-wot 0.9 opens SSE subscriptions without credentials, so servers it
// observes allow anonymous observers (the TD marks those forms nosec).
//
// Every thing each server lists must have a plan below, and every property
// and action of its TD must be exercised by that plan: a new affordance
// without a check fails the suite. Outputs and property values are checked
// against the TD's schemas with Ajv (node-wot checks action outputs too,
// since our actions say `synchronous: true`). Exit status 0 means every
// check passed; each failure is printed.

import core from "@node-wot/core";
import http from "@node-wot/binding-http";
import Ajv from "ajv";
import addFormats from "ajv-formats";

const ajv = new Ajv({ strict: false });
addFormats(ajv);
// No formats of our own: the TDs carry only the formats JSON Schema defines,
// and an unknown one would make Ajv (this one and node-wot's) warn on
// stderr, which tests/interop.rs treats as a failure.

const CREDENTIALS = JSON.parse(process.env.LABTHINGS_CREDENTIALS ?? "{}");

/** The credentials configured for the server of `url`, if any. */
function credentialsFor(url) {
  const origin = new URL(url).origin;
  return CREDENTIALS[origin] ?? CREDENTIALS[`${origin}/`];
}

/**
 * fetch(), with the server's credentials, for the few requests this suite
 * makes beside node-wot (following a form by hand, a blob, a stream).
 */
function authFetch(url, init = {}) {
  const credentials = credentialsFor(String(url));
  const headers = { ...(init.headers ?? {}) };
  if (credentials?.token) headers.authorization = `Bearer ${credentials.token}`;
  if (credentials?.username) {
    headers.authorization = `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString("base64")}`;
  }
  return fetch(url, { ...init, headers });
}

let passed = 0;
const failures = [];

function check(condition, what, detail) {
  if (condition) {
    passed += 1;
  } else {
    failures.push(detail === undefined ? what : `${what}: ${JSON.stringify(detail)}`);
    console.error(`FAIL ${what}${detail === undefined ? "" : ` (${JSON.stringify(detail)})`}`);
  }
}

function equal(actual, expected, what) {
  check(JSON.stringify(actual) === JSON.stringify(expected), what, { actual, expected });
}

/** Fail unless `value` fits `schema` (a TD data schema). */
function fits(schema, value, what) {
  const validate = ajv.compile(schema);
  check(validate(value), `${what} fits its schema`, { value, errors: validate.errors });
}

/** Resolve with the rejection message of `promise`, or fail if it resolves. */
async function rejection(promise, what) {
  try {
    const result = await promise;
    check(false, `${what} rejects`, { resolved: result === undefined ? null : "a value" });
    return "";
  } catch (error) {
    return String(error?.message ?? error);
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Wait until `condition()` holds, for at most `ms`. */
async function until(condition, ms = 10000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (condition()) return true;
    await sleep(20);
  }
  return condition();
}

/** A consumed thing plus the bookkeeping of which affordances were used. */
class Subject {
  constructor(thing, td) {
    this.thing = thing;
    this.td = td;
    this.usedProperties = new Set();
    this.usedActions = new Set();
  }

  async read(name) {
    this.usedProperties.add(name);
    const value = await (await this.thing.readProperty(name)).value();
    fits(this.td.properties[name], value, `${this.td.title}.${name} read`);
    return value;
  }

  async write(name, value) {
    this.usedProperties.add(name);
    await this.thing.writeProperty(name, value);
    equal(await this.read(name), value, `${this.td.title}.${name} reads back what was written`);
  }

  async invoke(name, input) {
    this.usedActions.add(name);
    const output = await (await this.thing.invokeAction(name, input)).value();
    const schema = this.td.actions[name].output;
    if (schema) fits(schema, output, `${this.td.title}.${name} output`);
    return output;
  }

  /** The TD's form for `op` on action `name`, with `{id}` expanded. */
  actionForm(name, op, id) {
    const form = this.td.actions[name].forms.find((f) => [].concat(f.op).includes(op));
    check(form !== undefined, `${this.td.title}.${name} has a ${op} form`);
    return { ...form, href: form.href.replace("{id}", encodeURIComponent(id ?? "")) };
  }

  /** Send the request `form` describes and parse its JSON answer. */
  async follow(form) {
    const response = await authFetch(form.href, { method: form["htv:methodName"] ?? "GET" });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : undefined };
  }

  /** The newest running invocation of `action`, found through queryallactions. */
  async running(action, ms = 10000) {
    const form = (this.td.forms ?? []).find((f) => [].concat(f.op).includes("queryallactions"));
    check(form !== undefined, `${this.td.title} has a queryallactions form`);
    let found;
    const end = Date.now() + ms;
    while (!found && Date.now() < end) {
      const { body } = await this.follow(form);
      found = body.filter((i) => i.action.endsWith(`/${action}`) && i.status === "running").pop();
      if (!found) await sleep(20);
    }
    check(found !== undefined, `${this.td.title}.${action} is listed as running`);
    return found?.id;
  }

  /** Cancel the running `action` invoked by `pending` through the TD's forms. */
  async cancelRunning(action, pending) {
    const id = await this.running(action);
    const cancel = await this.follow(this.actionForm(action, "cancelaction", id));
    equal(cancel.status, 200, `${this.td.title}.${action} cancelaction answers 200`);
    const message = await rejection(pending, `cancelled ${this.td.title}.${action}`);
    check(message.includes("InvocationCancelledError"), `cancelled ${action} rejects naming the cancellation`, message);
    const query = await this.follow(this.actionForm(action, "queryaction", id));
    equal(query.body?.status, "cancelled", `${this.td.title}.${action} queryaction reports cancelled`);
  }

  /** Observe `name` while `act()` runs; resolve with the values seen. */
  async observe(name, act, enough) {
    this.usedProperties.add(name);
    const seen = [];
    const subscription = await this.thing.observeProperty(name, async (data) => {
      seen.push(await data.value());
    });
    await sleep(100);
    await act();
    check(await until(() => enough(seen)), `${this.td.title}.${name} observed`, seen);
    await subscription.stop();
    for (const value of seen) fits(this.td.properties[name], value, `observed ${this.td.title}.${name}`);
    return seen;
  }

  /** Subscribe to `name` while `act()` runs; resolve with the payloads seen. */
  async subscribe(name, act, enough) {
    const seen = [];
    const subscription = await this.thing.subscribeEvent(name, async (data) => {
      seen.push(await data.value());
    });
    await sleep(100);
    await act();
    check(await until(() => enough(seen)), `${this.td.title}.${name} events received`, seen);
    await subscription.stop();
    for (const payload of seen) fits(this.td.events[name].data, payload, `${this.td.title}.${name} payload`);
    return seen;
  }

  /** Fail for every property or action the plan did not touch. */
  coverage() {
    for (const name of Object.keys(this.td.properties ?? {})) {
      check(this.usedProperties.has(name), `property ${this.td.title}.${name} is exercised`);
    }
    for (const name of Object.keys(this.td.actions ?? {})) {
      check(this.usedActions.has(name), `action ${this.td.title}.${name} is exercised`);
    }
  }
}

/** What to do with each thing, by its name on the server. */
const plans = {
  async stage(s) {
    await s.read("steps_per_um");
    await s.write("step_delay_ms", 1);
    await s.write("steps_per_um", 2.5);
    await s.write("steps_per_um", 1.0);
    const tooSmall = await rejection(s.thing.writeProperty("steps_per_um", 0), "steps_per_um = 0");
    check(tooSmall.includes("Unprocessable Entity"), "a value below minimum rejects with the 422 detail", tooSmall);

    equal(await s.invoke("home"), [0, 0, 0], "home returns the origin");
    const seen = await s.observe(
      "position",
      () => s.invoke("move_relative", { x: 3 }),
      (values) => JSON.stringify(values.at(-1)) === "[3,0,0]",
    );
    equal(seen, [[1, 0, 0], [2, 0, 0], [3, 0, 0]], "every step of the move is observed, in order");
    // Stopped observing: further moves are not delivered.
    const before = seen.length;
    await s.invoke("move_relative", { x: -1 });
    await sleep(300);
    equal(seen.length, before, "no values arrive after unobserving");

    equal(await s.invoke("move_absolute", { x: 5, y: 1, z: -2 }), [5, 1, -2], "move_absolute arrives");
    equal(await s.read("position"), [5, 1, -2], "position after move_absolute");
    const beyond = await rejection(s.invoke("move_relative", { x: 150000 }), "move beyond travel");
    check(
      beyond.includes("Unprocessable Entity") && beyond.includes("beyond the stage's travel"),
      "a device's refusal rejects as 422 with its message",
      beyond,
    );
    const outOfSchema = await rejection(s.invoke("move_absolute", { x: 1e6, y: 0, z: 0 }), "x beyond the maximum");
    check(outOfSchema.includes("body.x"), "a value beyond the schema's maximum rejects with the 422 detail", outOfSchema);
    const bad = await rejection(s.invoke("move_relative", { x: "far" }), "move_relative x=far");
    check(bad.includes("Unprocessable Entity") && bad.includes("body.x"), "bad input rejects with the 422 detail", bad);

    await s.write("step_delay_ms", 50);
    const long = s.invoke("move_relative", { x: 1000 });
    long.catch(() => {});
    await s.cancelRunning("move_relative", long);
    await s.write("step_delay_ms", 1);
    await s.invoke("home");
  },

  async camera(s) {
    await s.write("exposure_ms", 1);
    const outside = await rejection(s.thing.writeProperty("exposure_ms", 0), "exposure_ms = 0");
    check(
      outside.includes("Unprocessable Entity") && outside.includes("minimum of 0.01"),
      "a value below the schema's minimum rejects with the 422 detail",
      outside,
    );
    const before = await s.read("frames_acquired");

    const events = await s.subscribe(
      "frame_acquired",
      async () => equal((await s.invoke("acquire", { count: 3 })).length, 3, "acquire returns 3 means"),
      (payloads) => payloads.length >= 3,
    );
    equal(
      events.map((e) => e.frame),
      [before + 1, before + 2, before + 3],
      "one event per frame, in order",
    );
    equal(await s.read("frames_acquired"), before + 3, "frames_acquired counts them");
    // Unsubscribed: the next frame is not delivered.
    const delivered = events.length;
    await s.invoke("acquire", { count: 1 });
    await sleep(300);
    equal(events.length, delivered, "no events arrive after unsubscribing");

    const snap = await s.invoke("snap");
    equal(snap.media_type, "image/jpeg", "snap returns a JPEG blob link");
    const image = await authFetch(snap.href);
    const bytes = new Uint8Array(await image.arrayBuffer());
    check(image.ok && bytes[0] === 0xff && bytes[1] === 0xd8, "the blob link downloads a JPEG", image.status);
    equal(image.headers.get("content-type"), "image/jpeg", "the blob's content-type");
    const measured = await s.invoke("measure_image", { image: snap });
    equal([measured.width, measured.height], [320, 240], "the snap's link chains into measure_image");

    const stream = (s.td.links ?? []).find((l) => l.type === "multipart/x-mixed-replace");
    check(stream !== undefined, "the TD links the preview stream");
    if (stream) {
      const controller = new AbortController();
      const response = await authFetch(new URL(stream.href, s.td.base), { signal: controller.signal });
      const reader = response.body.getReader();
      const { value } = await reader.read();
      const head = new TextDecoder().decode(value.slice(0, 200));
      check(response.headers.get("content-type").startsWith("multipart/x-mixed-replace"), "stream content-type");
      check(head.includes("image/jpeg"), "the stream sends JPEG parts", head);
      controller.abort();
    }

    // A polled getter is observable: node-wot hears its current reading.
    const temperatures = await s.observe("sensor_temperature", async () => {}, (seen) => seen.length >= 1);
    check(temperatures[0] > 20 && temperatures[0] < 40, "the sensor temperature is a plausible reading", temperatures);
    const state = await s.invoke("lab_state");
    equal(state.camera, { exposure_ms: 1 }, "the lab state holds the camera's state property");
    check(Array.isArray(state.stage?.position), "the lab state holds the stage's position", state);

    await s.write("exposure_ms", 10);
    const long = s.invoke("acquire", { count: 1000 });
    long.catch(() => {});
    await s.running("acquire");
    const busy = await rejection(s.invoke("acquire", { count: 1 }), "a second acquire");
    check(busy.includes("Conflict"), "a busy camera rejects with 409", busy);
    await s.cancelRunning("acquire", long);
    await s.write("exposure_ms", 1);
  },

  async autofocus(s) {
    const z = await s.invoke("scan", { range: 20, step: 10 });
    check(Number.isInteger(z), "scan returns a z position", z);
    equal(await s.read("best_z"), z, "best_z is what scan returned");
  },

  async thermometer(s) {
    // An async driver: its start hook, getters, setter and actions are async fns.
    const identity = await s.read("identity");
    check(String(identity).startsWith("MOCK-THERMO"), "the async start hook read the instrument's identity", identity);
    const t = await s.read("temperature");
    check(t > 20 && t < 23, "an async getter reads a plausible temperature", t);
    await s.write("averaging", 3);
    equal(await s.read("averaging"), 3, "an async setter, read back by an async getter");
    const readings = await s.invoke("record", { count: 3, interval_ms: 10 });
    equal(readings.length, 3, "an async action returns its readings");
    const long = s.invoke("wait_until_stable", { tolerance: -1, interval_ms: 50 });
    long.catch(() => {});
    await s.cancelRunning("wait_until_stable", long);
    await s.write("averaging", 1);
  },

  async bench(s) {
    await s.write("count", 10);
    equal(await s.invoke("increment", { by: 3 }), 13, "increment by 3");
    equal(await s.invoke("increment"), 14, "increment with the default input");
    await s.write("label", "node-wot was here");
    const seen = await s.observe(
      "count",
      async () => {
        await s.thing.writeProperty("count", 100);
        await s.invoke("increment", { by: 1 });
      },
      (values) => values.includes(101),
    );
    equal(seen, [100, 101], "count changes are observed");
    const bad = await rejection(s.invoke("increment", { by: "three" }), "increment by three");
    check(bad.includes("Unprocessable Entity") && bad.includes("body.by"), "bad input rejects with the 422 detail", bad);
    equal(await s.invoke("slow_task", { duration_s: 0.1, steps: 2 }), "finished 2 steps", "slow_task output");
    const long = s.invoke("slow_task", { duration_s: 60, steps: 600 });
    long.catch(() => {});
    await s.cancelRunning("slow_task", long);
  },
};

async function main() {
  const urls = process.argv.slice(2);
  if (urls.length === 0) {
    console.error("usage: node wot_client.mjs SERVER_URL [SERVER_URL ...]");
    process.exit(2);
  }
  const servient = new core.Servient();
  servient.addClientFactory(new http.HttpClientFactory(null));
  const WoT = await servient.start();
  // A second servient that has no credentials, to see it refused.
  const bare = new core.Servient();
  bare.addClientFactory(new http.HttpClientFactory(null));
  const bareWoT = await bare.start();
  try {
    for (const url of urls) {
      const credentials = credentialsFor(url);
      const things = await (await authFetch(new URL("/things/", url))).json();
      for (const [name, thingUrl] of Object.entries(things)) {
        const plan = plans[name];
        check(plan !== undefined, `thing ${name} has a plan`);
        if (!plan) continue;
        let td;
        if (credentials) {
          td = await (await authFetch(thingUrl)).json();
          servient.addCredentials({ [td.id]: credentials });
          const scheme = td.securityDefinitions[[].concat(td.security)[0]].scheme;
          equal(scheme, credentials.token ? "bearer" : "basic", `${name}: the TD declares the scheme`);
        } else {
          td = await WoT.requestThingDescription(thingUrl);
        }
        const thing = await WoT.consume(td);
        if (credentials) {
          // Wrong credentials of the right kind: the server must refuse a write.
          const wrong = credentials.token ? { token: "not-the-token" } : { ...credentials, password: "not-it" };
          bare.addCredentials({ [td.id]: wrong });
          const unauthorized = await bareWoT.consume(td);
          const writable = Object.keys(td.properties).find((p) => !td.properties[p].readOnly);
          if (writable !== undefined) {
            const value = await (await thing.readProperty(writable)).value();
            const refused = await rejection(
              unauthorized.writeProperty(writable, value),
              `${name}.${writable} with wrong credentials`,
            );
            check(refused.includes("Unauthorized"), `${name}: a write with wrong credentials is refused (401)`, refused);
          }
        }
        const subject = new Subject(thing, thing.getThingDescription());
        try {
          await plan(subject);
        } catch (error) {
          check(false, `plan ${name} ran to the end`, error?.stack ?? JSON.stringify(error));
        }
        subject.coverage();
        console.log(`${name}: done`);
      }
    }
  } finally {
    await servient.shutdown();
    await bare.shutdown();
  }
  console.log(`node-wot: ${passed} checks passed, ${failures.length} failed`);
  process.exit(failures.length === 0 ? 0 : 1);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
