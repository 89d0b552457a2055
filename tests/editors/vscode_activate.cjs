// Activates editors/vscode/extension.js outside VS Code, with stand-ins for
// the `vscode` API and vscode-languageclient, and prints as JSON what it asked
// for: the language client it created (server command, arguments, transport,
// document selector), whether it started it, and the commands it registered.
// Run by tests/editors.rs; needs only node.
"use strict";
const Module = require("node:module");
const path = require("node:path");

const root = path.resolve(__dirname, "..", "..");
const seen = { clients: [], commands: [] };

const TransportKind = { stdio: 0, ipc: 1, pipe: 2, socket: 3 };
class LanguageClient {
  constructor(id, name, serverOptions, clientOptions) {
    this.record = { id, name, serverOptions, clientOptions, started: false, stopped: false };
    seen.clients.push(this.record);
  }
  async start() {
    this.record.started = true;
  }
  async stop() {
    this.record.stopped = true;
  }
}

const settings = JSON.parse(process.env.INFRA_VSCODE_SETTINGS || "{}");
const vscode = {
  workspace: {
    getConfiguration: (section) => ({
      get: (key, fallback) => settings[`${section}.${key}`] ?? fallback,
    }),
    createFileSystemWatcher: (glob) => ({ glob }),
    onDidChangeConfiguration: () => ({ dispose() {} }),
  },
  commands: {
    registerCommand: (name) => {
      seen.commands.push(name);
      return { dispose() {} };
    },
  },
  window: {
    showErrorMessage: (message) => {
      seen.error = message;
    },
  },
};

const stubs = {
  vscode,
  "vscode-languageclient/node": { LanguageClient, TransportKind },
};
const load = Module._load;
Module._load = function (request, parent, isMain) {
  return request in stubs ? stubs[request] : load.call(this, request, parent, isMain);
};

(async () => {
  const extension = require(path.join(root, "editors", "vscode", "extension.js"));
  await extension.activate({ subscriptions: [] });
  await extension.deactivate();
  // `transport` as its name, so the test reads `stdio` rather than a number.
  for (const client of seen.clients) {
    for (const options of new Set([client.serverOptions.run, client.serverOptions.debug])) {
      options.transport = Object.keys(TransportKind).find((k) => TransportKind[k] === options.transport);
    }
    client.clientOptions.synchronize = Object.keys(client.clientOptions.synchronize || {});
  }
  console.log(JSON.stringify(seen, null, 2));
})().catch((error) => {
  console.error(String(error && error.stack ? error.stack : error));
  process.exit(3);
});
