// Starts `sprs lsp` for .sprs files: diagnostics and quick fixes, hover, completion, go to
// definition, references and rename, inlay hints, code lenses, semantic tokens, formatting and
// the outline all come from the server. The code lenses' commands (`sprs.plan`, `sprs.run`,
// `sprs.status`) run `sprs` on the file in a terminal.
const vscode = require("vscode");
const { LanguageClient } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const command = vscode.workspace.getConfiguration("sprs").get("path", "sprs");
  for (const verb of ["plan", "run", "status"]) {
    context.subscriptions.push(
      vscode.commands.registerCommand(`sprs.${verb}`, (uri) => {
        const file = uri ? vscode.Uri.parse(uri).fsPath : vscode.window.activeTextEditor?.document.uri.fsPath;
        if (!file) return;
        const terminal = vscode.window.createTerminal(`sprs ${verb}`);
        terminal.show();
        terminal.sendText(`${JSON.stringify(command)} ${verb} ${JSON.stringify(file)}`);
      }),
    );
  }
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
