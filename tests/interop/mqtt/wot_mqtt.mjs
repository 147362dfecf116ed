// Eclipse Thingweb node-wot's MQTT client (@node-wot/binding-mqtt 0.8.16,
// the newest release line, with @node-wot/core 0.8.16) consuming a
// labthings TD through its MQTT forms only (no HTTP client is registered):
//
//   node tests/interop/mqtt/wot_mqtt.mjs TD.json [USER PASSWORD]
//
// Reads, observes and writes the Bench's `count` and invokes `increment`
// over MQTT (or MQTTS: the broker's CA given the way Node documents it,
// NODE_EXTRA_CA_CERTS), printing one "ok N ..." line per step; exit status
// 0 means every step passed. Without USER and PASSWORD the broker is
// anonymous and no credentials are added.

import { readFileSync } from "node:fs";
import core from "@node-wot/core";
import mqtt from "@node-wot/binding-mqtt";

const [tdPath, username, password] = process.argv.slice(2);
const td = JSON.parse(readFileSync(tdPath, "utf8"));
const servient = new core.Servient();
servient.addClientFactory(new mqtt.MqttClientFactory());
servient.addClientFactory(new mqtt.MqttsClientFactory({ rejectUnauthorized: true }));
// As node-wot documents it, and nothing more: the broker's login is the
// TD's own security scheme, so node-wot hands it these credentials.
if (username !== undefined) {
  servient.addCredentials({ [td.id]: { username, password } });
}
const WoT = await servient.start();
const thing = await WoT.consume(td);
let steps = 0;
const ok = (what) => console.log(`ok ${++steps} ${what}`);
const within = (ms, promise, what) =>
  Promise.race([promise, new Promise((_, reject) => setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms))]);

try {
  const first = await within(10000, thing.readProperty("count").then((output) => output.value()), "readproperty");
  ok(`readproperty count over MQTT: ${first}`);

  const seen = [];
  const waiters = [];
  // A value seen after the step started (the retained value arrives first
  // and may already be the one a step waits for).
  const waitFor = (value, from, what) =>
    within(10000, new Promise((resolve) => {
      if (seen.slice(from).includes(value)) resolve(value);
      else waiters.push([value, resolve]);
    }), what);
  const observation = await thing.observeProperty("count", async (output) => {
    const value = await output.value();
    seen.push(value);
    for (const [wanted, resolve] of waiters) if (wanted === value) resolve(value);
  });
  // Subscribed: the retained value arrives first; give the subscription a moment.
  await new Promise((resolve) => setTimeout(resolve, 500));
  let from = seen.length;
  await thing.writeProperty("count", 40);
  const written = await waitFor(40, from, "writeproperty");
  ok(`writeproperty count = 40 over MQTT, observed back: ${written}`);

  from = seen.length;
  await thing.invokeAction("increment", { by: 2 });
  ok("invokeaction increment {by: 2} published over MQTT");
  const changed = await waitFor(42, from, "observeproperty");
  ok(`observeproperty count saw the invocation's change: ${changed} (all seen: ${JSON.stringify(seen)})`);

  // node-wot's MQTT client keeps one subscription per topic and ignores a
  // second (a read while observing would wait forever): stop observing,
  // which unsubscribes, then read.
  await observation.stop();
  const last = await within(10000, thing.readProperty("count").then((output) => output.value()), "readproperty");
  if (last !== 42) throw new Error(`readproperty count after the increment: ${last}, not 42`);
  ok(`readproperty count over MQTT after the increment: ${last}`);
  console.log(`${steps} steps passed, 0 failed`);
  await servient.shutdown();
  process.exit(0);
} catch (error) {
  console.log(`not ok: ${error.stack || error}`);
  console.log(`${steps} steps passed, 1 failed`);
  process.exit(1);
}
