// Highlights `.infra` files with grammar/infra.tmLanguage.json (or the grammar
// INFRA_TM_GRAMMAR names) through vscode-textmate and vscode-oniguruma, the
// engine VS Code uses: the copies that npm `vscode-tmgrammar-test`, installed
// by tests/run.sh into .ci-tools/, depends on. Run by tests/editors.rs.
//
//   node tests/grammar/highlight.cjs FILE...         check the files
//   node tests/grammar/highlight.cjs --dump FILE...  print every token's scopes
//
// A check prints one `file:line:col: problem` per token scoped `invalid` and
// per token of visible text with only structural scopes (the file's own and
// `meta.*`: text no rule took), and exits 1 if there is any; 0 when every file
// is clean; 3 when the tool itself fails.
"use strict";
const fs = require("node:fs");
const path = require("node:path");
const { createRequire } = require("node:module");

const root = path.resolve(__dirname, "..", "..");
const grammarPath =
  process.env.INFRA_TM_GRAMMAR || path.join(root, "grammar", "infra.tmLanguage.json");
const tester = path.join(root, ".ci-tools", "node_modules", "vscode-tmgrammar-test", "package.json");
// The engine as the test runner itself resolves it.
const load = createRequire(tester);
const tm = load("vscode-textmate");
const oniguruma = load("vscode-oniguruma");

// Scopes that mark structure but give no colour: the file's own and `meta.*`.
// Visible text needs at least one other scope.
function structural(scope) {
  return scope === "source.infra" || scope.startsWith("meta.");
}

async function grammar() {
  const wasm = fs.readFileSync(
    path.join(path.dirname(load.resolve("vscode-oniguruma")), "onig.wasm"),
  ).buffer;
  await oniguruma.loadWASM(wasm);
  const registry = new tm.Registry({
    onigLib: Promise.resolve({
      createOnigScanner: (patterns) => new oniguruma.OnigScanner(patterns),
      createOnigString: (text) => new oniguruma.OnigString(text),
    }),
    loadGrammar: async () =>
      tm.parseRawGrammar(fs.readFileSync(grammarPath, "utf8"), grammarPath),
  });
  return registry.loadGrammar("source.infra");
}

(async () => {
  const args = process.argv.slice(2);
  const dump = args[0] === "--dump";
  const files = dump ? args.slice(1) : args;
  const infra = await grammar();
  let problems = 0;
  for (const file of files) {
    const lines = fs.readFileSync(file, "utf8").split(/\r?\n/);
    let stack = tm.INITIAL;
    lines.forEach((line, index) => {
      const result = infra.tokenizeLine(line, stack);
      for (const token of result.tokens) {
        const text = line.slice(token.startIndex, token.endIndex);
        const where = `${file}:${index + 1}:${token.startIndex + 1}`;
        if (dump) {
          console.log(`${where}: ${JSON.stringify(text)} ${token.scopes.join(" ")}`);
          continue;
        }
        const invalid = token.scopes.find((scope) => scope.startsWith("invalid"));
        if (invalid) {
          problems += 1;
          console.log(`${where}: ${JSON.stringify(text)} is scoped ${invalid}`);
        } else if (text.trim() !== "" && token.scopes.every(structural)) {
          problems += 1;
          console.log(
            `${where}: ${JSON.stringify(text)} has only structural scopes (${token.scopes.join(" ")})`,
          );
        }
      }
      stack = result.ruleStack;
    });
  }
  process.exit(problems ? 1 : 0);
})().catch((error) => {
  console.error(String(error && error.stack ? error.stack : error));
  process.exit(3);
});
