// The W3C Web of Things TD Playground's own checks (the npm packages
// @thing-description-playground/core and /assertions, as its command line
// and web page use them) on each TD file given:
//
//   node tests/interop/playground.cjs TD.json...
//
// Prints one line per TD with the validator's report and the assertions'
// counts; exit status 0 means no validator check failed and no assertion
// failed (warnings, such as defaults left unstated, are printed, not
// failures). The JSON-LD check runs offline: the `jsonld` library the
// Playground uses is given, through its documented custom document loader,
// the W3C's TD contexts kept in tests/interop/contexts/, and any other URL
// a TD names fails the check instead of being fetched.

const fs = require("node:fs");
const path = require("node:path");
const core = require("@thing-description-playground/core");
const assertions = require("@thing-description-playground/assertions");
const jsonld = require("jsonld");

const CONTEXTS = {
  "https://www.w3.org/2019/wot/td/v1": "td-v1.jsonld",
  "https://www.w3.org/2022/wot/td/v1.1": "td-v1.1.jsonld",
};
jsonld.documentLoader = async (url) => {
  const file = CONTEXTS[url];
  if (file === undefined) {
    throw new Error(`no offline copy of the context ${url} (tests/interop/contexts/ has only the W3C TD contexts)`);
  }
  const document = JSON.parse(fs.readFileSync(path.join(__dirname, "contexts", file), "utf8"));
  return { contextUrl: null, document, documentUrl: url };
};

// The assertions package reads the core's TD schema from its own
// node_modules; npm installs the core beside it, so read it from there.
const coreDir = path.dirname(require.resolve("@thing-description-playground/core"));
const load = (file) =>
  fs.promises.readFile(file.replace(/.*node_modules\/@thing-description-playground\/core\//, coreDir + "/"));

(async () => {
  let failures = 0;
  for (const file of process.argv.slice(2)) {
    const text = fs.readFileSync(file, "utf8");
    const log = [];
    const { report, details } = await core.tdValidator(text, (line) => log.push(line), {
      checkDefaults: true,
      checkJsonLd: true,
    });
    const failedChecks = [...Object.entries(report), ...Object.entries(details)].filter(([, v]) => v === "failed");
    if (failedChecks.length > 0) {
      // The assertions refuse a TD the validator refused.
      failures += 1;
      console.log(`${path.basename(file)}: validator ${JSON.stringify(report)}`);
      console.log(`  failed checks: ${JSON.stringify(failedChecks)}; log: ${log.join(" | ")}`);
      continue;
    }
    const results = await assertions.tdAssertions([Buffer.from(text)], load, () => {});
    const failed = results.filter((r) => r.Status === "fail");
    const passed = results.filter((r) => r.Status === "pass").length;
    console.log(
      `${path.basename(file)}: validator ${JSON.stringify(report)}; assertions ${passed} passed, ${failed.length} failed of ${results.length}`,
    );
    if (failed.length > 0) {
      failures += 1;
      console.log(`  failed assertions: ${JSON.stringify(failed)}`);
    }
  }
  console.log(failures === 0 ? "every TD passed" : `${failures} TD(s) failed`);
  process.exit(failures === 0 ? 0 : 1);
})().catch((e) => {
  console.error(`not ok: ${e && e.stack ? e.stack : e}`);
  process.exit(1);
});
