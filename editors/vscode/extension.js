// The infra extension: the grammar and language configuration are declared in
// package.json; this file starts the language server, `infra lsp`, over stdio
// for every `.infra` file, through vscode-languageclient.
"use strict";
const vscode = require("vscode");
const { LanguageClient, TransportKind } = require("vscode-languageclient/node");

/** @type {LanguageClient | undefined} */
let client;

/** Starts `infra lsp` with the configured binary and arguments. */
async function start() {
  const config = vscode.workspace.getConfiguration("infra");
  const command = config.get("server.path") || "infra";
  const args = ["lsp", ...config.get("server.extraArgs", [])];
  const server = { command, args, transport: TransportKind.stdio };
  client = new LanguageClient(
    "infra",
    "infra language server",
    { run: server, debug: server },
    {
      documentSelector: [{ scheme: "file", language: "infra" }],
      synchronize: {
        fileEvents: vscode.workspace.createFileSystemWatcher("**/*.infra"),
      },
    },
  );
  try {
    await client.start();
  } catch (error) {
    client = undefined;
    vscode.window.showErrorMessage(
      `Could not start \`${command} lsp\` (${error}). Install infra and put it on PATH, ` +
        "or set `infra.server.path` to the binary.",
    );
  }
}

async function stop() {
  if (client) {
    const running = client;
    client = undefined;
    await running.stop();
  }
}

/** @param {vscode.ExtensionContext} context */
async function activate(context) {
  context.subscriptions.push(
    vscode.commands.registerCommand("infra.restartServer", async () => {
      await stop();
      await start();
    }),
    vscode.workspace.onDidChangeConfiguration(async (event) => {
      if (event.affectsConfiguration("infra.server")) {
        await stop();
        await start();
      }
    }),
  );
  await start();
}

function deactivate() {
  return stop();
}

module.exports = { activate, deactivate };
