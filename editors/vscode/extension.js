// Starts `sprs lsp` for .sprs files: diagnostics, hover, completion, go to definition,
// formatting and the outline all come from the server.
const vscode = require("vscode");
const { LanguageClient } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const command = vscode.workspace.getConfiguration("sprs").get("path", "sprs");
  client = new LanguageClient(
    "sprs",
    "sprs",
    { command, args: ["lsp"] },
    { documentSelector: [{ language: "sprs" }] },
  );
  context.subscriptions.push(client);
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
