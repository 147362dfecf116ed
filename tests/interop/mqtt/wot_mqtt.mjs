// Eclipse Thingweb node-wot's MQTT client (@node-wot/binding-mqtt 0.8.16,
// the newest release line, with @node-wot/core 0.8.16) consuming a
// labthings TD through its MQTT forms only (no HTTP client is registered):
//
//   node tests/interop/mqtt/wot_mqtt.mjs TD.json USER PASSWORD
//
// Reads and observes the Bench's `count` and invokes `increment` over
// MQTT, printing one "ok N ..." line per step; exit status 0 means every
// step passed.

import { readFileSync } from "node:fs";
import core from "@node-wot/core";
import mqtt from "@node-wot/binding-mqtt";

const [tdPath, username, password] = process.argv.slice(2);
const td = JSON.parse(readFileSync(tdPath, "utf8"));
const servient = new core.Servient();
servient.addClientFactory(new mqtt.MqttClientFactory());
// As node-wot documents it, and nothing more: the broker's login is the
// TD's own security scheme, so node-wot hands it these credentials.
servient.addCredentials({ [td.id]: { username, password } });
const WoT = await servient.start();
const thing = await WoT.consume(td);
let steps = 0;
const ok = (what) => console.log(`ok ${++steps} ${what}`);
const within = (ms, promise, what) =>
  Promise.race([promise, new Promise((_, reject) => setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms))]);

try {
  const first = await within(10000, (await thing.readProperty("count")).value(), "readproperty");
  ok(`readproperty count over MQTT: ${first}`);

  const seen = [];
  const waiters = [];
  const waitFor = (value, what) =>
    within(10000, new Promise((resolve) => {
      if (seen.includes(value)) resolve(value);
      else waiters.push([value, resolve]);
    }), what);
  await thing.observeProperty("count", async (output) => {
    const value = await output.value();
    seen.push(value);
    for (const [wanted, resolve] of waiters) if (wanted === value) resolve(value);
  });
  // Subscribed: the retained value arrives first; give the subscription a moment.
  await new Promise((resolve) => setTimeout(resolve, 500));
  await thing.invokeAction("increment", { by: 2 });
  ok("invokeaction increment {by: 2} published over MQTT");
  const changed = await waitFor(first + 2, "observeproperty");
  ok(`observeproperty count saw the invocation's change: ${changed} (all seen: ${JSON.stringify(seen)})`);

  await thing.writeProperty("count", 40);
  const written = await waitFor(40, "writeproperty");
  ok(`writeproperty count = 40 over MQTT, observed back: ${written}`);
  console.log(`${steps} steps passed, 0 failed`);
  await servient.shutdown();
  process.exit(0);
} catch (error) {
  console.log(`not ok: ${error.stack || error}`);
  console.log(`${steps} steps passed, 1 failed`);
  process.exit(1);
}
