// One cell of the interoperability matrix (tests/matrix.rs) for Eclipse
// Thingweb node-wot 0.9.2 over HTTP(S):
//
//   node tests/interop/matrix_wot.mjs https://127.0.0.1:PORT/lab/bench/
//
// Fetches the TD (with the server's credentials, if LABTHINGS_CREDENTIALS
// holds {"username", "password"} or {"token"}), gives node-wot the same
// credentials as node-wot documents (servient.addCredentials), then writes
// `count` = 40, reads it back, invokes `increment` {by: 2} and reads 42.
// For HTTPS, node trusts the server's certificate by NODE_EXTRA_CA_CERTS.
// Prints "cell passed" and exits 0, or prints what failed and exits 1.
import core from "@node-wot/core";
import http from "@node-wot/binding-http";

const [url] = process.argv.slice(2);
const credentials = JSON.parse(process.env.LABTHINGS_CREDENTIALS ?? "null");
const headers = {};
if (credentials?.token) headers.authorization = `Bearer ${credentials.token}`;
if (credentials?.username) {
  headers.authorization = `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString("base64")}`;
}
const fail = (what) => {
  console.log(`not ok: ${what}`);
  process.exit(1);
};
try {
  const answer = await fetch(url, { headers });
  if (!answer.ok) fail(`GET ${url} answered ${answer.status}`);
  const td = await answer.json();
  const servient = new core.Servient();
  servient.addClientFactory(new http.HttpClientFactory());
  servient.addClientFactory(new http.HttpsClientFactory());
  if (credentials) servient.addCredentials({ [td.id]: credentials });
  const WoT = await servient.start();
  const thing = await WoT.consume(td);
  await thing.writeProperty("count", 40);
  const written = await (await thing.readProperty("count")).value();
  if (written !== 40) fail(`read ${written} after writing 40`);
  const output = await (await thing.invokeAction("increment", { by: 2 })).value();
  if (output !== 42) fail(`increment by 2 answered ${output}`);
  const after = await (await thing.readProperty("count")).value();
  if (after !== 42) fail(`read ${after} after the increment`);
  console.log("cell passed");
  await servient.shutdown();
  process.exit(0);
} catch (e) {
  fail(e?.stack ?? e);
}
