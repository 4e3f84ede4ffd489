//! `sprs lsp` as an editor runs it: a process spoken to in JSON-RPC over its standard input and
//! output.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// A running server and the messages it sent, read on a thread of their own.
struct Client {
    child: Child,
    stdin: ChildStdin,
    messages: mpsc::Receiver<Value>,
    next_id: i64,
}

fn read_messages(stdout: ChildStdout, sender: mpsc::Sender<Value>) {
    let mut reader = BufReader::new(stdout);
    loop {
        let mut length = None;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some(n) = line.strip_prefix("Content-Length: ") {
                length = n.parse::<usize>().ok();
            }
        }
        let mut body = vec![0; length.expect("a Content-Length header")];
        reader.read_exact(&mut body).unwrap();
        if sender.send(serde_json::from_slice(&body).unwrap()).is_err() {
            return;
        }
    }
}

impl Client {
    fn start() -> Client {
        Client::start_with(json!({}))
    }

    /// A server started by a client with these capabilities.
    fn start_with(capabilities: Value) -> Client {
        let mut child = Command::new(env!("CARGO_BIN_EXE_sprs"))
            .arg("lsp")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let (sender, messages) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || read_messages(stdout, sender));
        let stdin = child.stdin.take().unwrap();
        let mut client = Client { child, stdin, messages, next_id: 1 };
        let result = client.request("initialize", json!({ "capabilities": capabilities, "processId": null }));
        assert_eq!(result["capabilities"]["hoverProvider"], json!(true), "{result}");
        client.notify("initialized", json!({}));
        client
    }

    fn send(&mut self, message: Value) {
        let body = message.to_string();
        write!(self.stdin, "Content-Length: {}\r\n\r\n{body}", body.len()).unwrap();
        self.stdin.flush().unwrap();
    }

    fn notify(&mut self, method: &str, params: Value) {
        self.send(json!({ "jsonrpc": "2.0", "method": method, "params": params }));
    }

    /// The next message that `accept` takes, skipping the others.
    fn wait_for(&mut self, what: &str, accept: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let message = self.messages.recv_timeout(left).unwrap_or_else(|_| panic!("no {what} from the server"));
            if accept(&message) {
                return message;
            }
        }
    }

    fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send(json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }));
        let response = self.wait_for(method, |m| m["id"] == json!(id));
        assert!(response.get("error").is_none(), "{response}");
        response["result"].clone()
    }

    /// The next diagnostics published for `uri`.
    fn diagnostics_of(&mut self, uri: &str) -> Vec<Value> {
        let message = self.wait_for("diagnostics", |m| {
            m["method"] == "textDocument/publishDiagnostics" && m["params"]["uri"] == json!(uri)
        });
        message["params"]["diagnostics"].as_array().unwrap().clone()
    }

    fn diagnostics(&mut self) -> Vec<Value> {
        let message = self.wait_for("diagnostics", |m| m["method"] == "textDocument/publishDiagnostics");
        message["params"]["diagnostics"].as_array().unwrap().clone()
    }
}

impl Drop for Client {
    /// A failed test leaves no server behind.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const TWO_MISTAKES: &str = "use std::models::llama\nuse std::data::markov\nuse std::schedules::journey\n\ntrain t {\n    data   = markov\n    model  = llama { width = 64, depth = 2, widht = 3 }\n    batch  = 0\n    budget = 100 steps\n    prune  = journey { sparsity = 50% }\n}\n";

/// A session: diagnostics on open and on change, hover, formatting, the outline, shutdown.
#[test]
fn a_session_with_an_editor() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("two.sprs");
    let uri = format!("file://{}", path.display());
    let mut client = Client::start();
    client.notify(
        "textDocument/didOpen",
        json!({ "textDocument": { "uri": uri, "languageId": "sprs", "version": 1, "text": TWO_MISTAKES } }),
    );
    let diagnostics = client.diagnostics();
    let found: Vec<(String, u64, u64)> = diagnostics
        .iter()
        .map(|d| {
            let start = &d["range"]["start"];
            (
                d["code"].as_str().unwrap().to_string(),
                start["line"].as_u64().unwrap(),
                start["character"].as_u64().unwrap(),
            )
        })
        .collect();
    // Lines and columns from 0: `widht` on line 7 column 45 and `0` on line 8 column 14, from 1.
    assert_eq!(found, [("E0102".to_string(), 6, 44), ("E0204".to_string(), 7, 13)], "{diagnostics:?}");
    assert!(
        diagnostics[0]["relatedInformation"][0]["message"].as_str().unwrap().contains("width"),
        "help: did you mean"
    );

    let fixed = TWO_MISTAKES.replace("widht = 3", "heads = 4");
    client.notify(
        "textDocument/didChange",
        json!({ "textDocument": { "uri": uri, "version": 2 }, "contentChanges": [{ "text": fixed }] }),
    );
    let diagnostics = client.diagnostics();
    assert_eq!(diagnostics.len(), 1, "{diagnostics:?}");
    assert_eq!(diagnostics[0]["code"], "E0204");

    // `sparsity` inside `journey { .. }`: line 9, column 23.
    let hover = client.request(
        "textDocument/hover",
        json!({ "textDocument": { "uri": uri }, "position": { "line": 9, "character": 23 } }),
    );
    let text = hover["contents"]["value"].as_str().unwrap_or_else(|| panic!("{hover}"));
    assert!(text.contains("`sparsity` of a schedule") && text.contains("fraction in"), "{text}");

    // Inside `llama { .. }` (line 6, column 21): a model's fields.
    let items = client.request(
        "textDocument/completion",
        json!({ "textDocument": { "uri": uri }, "position": { "line": 6, "character": 21 } }),
    );
    let labels: Vec<&str> = items.as_array().unwrap().iter().map(|i| i["label"].as_str().unwrap()).collect();
    for field in ["width", "depth", "heads"] {
        assert!(labels.contains(&field), "{labels:?}");
    }
    assert!(!labels.contains(&"batch"), "a train's field is not a model's: {labels:?}");

    // After `data   = ` (line 5, column 13): the data records in scope, not the models.
    let items = client.request(
        "textDocument/completion",
        json!({ "textDocument": { "uri": uri }, "position": { "line": 5, "character": 13 } }),
    );
    let labels: Vec<&str> = items.as_array().unwrap().iter().map(|i| i["label"].as_str().unwrap()).collect();
    assert!(labels.contains(&"markov") && !labels.contains(&"llama"), "{labels:?}");

    // Hover on the name `journey` (line 9, column 14): its record, resolved, from the stdlib.
    let hover = client.request(
        "textDocument/hover",
        json!({ "textDocument": { "uri": uri }, "position": { "line": 9, "character": 14 } }),
    );
    let text = hover["contents"]["value"].as_str().unwrap_or_else(|| panic!("{hover}"));
    assert!(text.contains("schedule journey") && text.contains("std::schedules"), "{text}");

    // `journey` (line 9, column 14) is defined in the stdlib's schedules module.
    let location = client.request(
        "textDocument/definition",
        json!({ "textDocument": { "uri": uri }, "position": { "line": 9, "character": 14 } }),
    );
    let target = location["uri"].as_str().unwrap();
    assert!(target.ends_with("/schedules.sprs"), "{location}");
    let stdlib = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/stdlib/schedules.sprs")).unwrap();
    let line = location["range"]["start"]["line"].as_u64().unwrap() as usize;
    assert_eq!(stdlib.lines().nth(line), Some("schedule journey {"), "{location}");

    let messy = fixed.replace("    batch  = 0\n", "  batch=0\n");
    client.notify(
        "textDocument/didChange",
        json!({ "textDocument": { "uri": uri, "version": 3 }, "contentChanges": [{ "text": messy }] }),
    );
    let edits = client.request(
        "textDocument/formatting",
        json!({ "textDocument": { "uri": uri }, "options": { "tabSize": 4, "insertSpaces": true } }),
    );
    let new_text = edits[0]["newText"].as_str().unwrap();
    assert_eq!(new_text, fixed, "formatting gives back the canonical text");

    let symbols = client.request("textDocument/documentSymbol", json!({ "textDocument": { "uri": uri } }));
    assert_eq!(symbols[0]["name"], "t");
    assert_eq!(symbols[0]["detail"], "train");

    client.request("shutdown", Value::Null);
    client.notify("exit", Value::Null);
    let status = client.child.wait().unwrap();
    assert!(status.success());
}

/// Go to definition: a name used in a sweep leads to the item of the file it names.
#[test]
fn a_base_name_leads_to_its_item() {
    let text = "train base { batch = 16 }\nsweep s = base { seed in [1, 2] }\n";
    let range = sprs::lsp::definition(text, lsp_types::Position { line: 1, character: 12 }).unwrap();
    assert_eq!((range.start.line, range.start.character, range.end.character), (0, 6, 10));
    assert!(sprs::lsp::definition(text, lsp_types::Position { line: 1, character: 19 }).is_none(), "`seed` is a field");
}

/// Go to definition follows a `use` of a file inside the project, and not one outside it.
#[test]
fn a_name_imported_from_a_file_leads_into_it_inside_the_project_only() {
    let outer = tempfile::tempdir().unwrap();
    let project = outer.path().join("project");
    std::fs::create_dir_all(project.join(".git")).unwrap();
    std::fs::write(project.join("lib.sprs"), "\ntrain base { batch = 16 }\n").unwrap();
    std::fs::write(outer.path().join("secret.sprs"), "train hidden { batch = 16 }\n").unwrap();
    let text = "use \"lib.sprs\"::base\nuse \"../secret.sprs\"::hidden\nsweep s = base { seed in [1, 2] }\nsweep t = hidden { seed in [1] }\n";
    let uri: lsp_types::Uri = format!("file://{}", project.join("main.sprs").display()).parse().unwrap();
    let at = |line, character| lsp_types::Position { line, character };
    let location = sprs::lsp::locate(&uri, text, at(2, 11)).expect("`base` is in lib.sprs");
    assert!(location.uri.as_str().ends_with("/project/lib.sprs"), "{location:?}");
    assert_eq!((location.range.start.line, location.range.start.character), (1, 6));
    assert!(sprs::lsp::locate(&uri, text, at(3, 11)).is_none(), "secret.sprs is outside the project");
}

/// Hover and go to definition next to characters beyond ASCII step over them whole.
#[test]
fn words_beside_text_beyond_ascii_are_found_without_a_panic() {
    let uri: lsp_types::Uri = "file:///tmp/words.sprs".parse().unwrap();
    let text = "// é\ntrain éa { batch = 16 }\nsweep s = éa { seed in [1] }\n";
    for line in 0..3 {
        for character in 0..16 {
            let at = lsp_types::Position { line, character };
            let _ = sprs::lsp::hover(&uri, text, at);
            let _ = sprs::lsp::definition(text, at);
        }
    }
    let hover =
        sprs::lsp::hover(&uri, "train t { batch = 16 }\n// é\n", lsp_types::Position { line: 0, character: 11 });
    assert!(hover.is_some(), "`batch` is a field with a doc");
}

/// The stdlib modules go to a private folder made for this process, never to a fixed name in the
/// temporary folder where another user could have planted a link.
#[cfg(unix)]
#[test]
fn the_stdlib_goes_to_a_private_folder_of_the_server() {
    use std::os::unix::fs::PermissionsExt;
    let planted = tempfile::tempdir().unwrap();
    let fixed = std::env::temp_dir().join(format!("sprs-stdlib-{}", env!("CARGO_PKG_VERSION")));
    let planted_here = !fixed.exists() && std::os::unix::fs::symlink(planted.path(), &fixed).is_ok();
    let uri: lsp_types::Uri = "file:///tmp/x.sprs".parse().unwrap();
    let text = "use std::schedules::journey\ntrain t { prune = journey }\n";
    let location = sprs::lsp::locate(&uri, text, lsp_types::Position { line: 1, character: 20 }).unwrap();
    let path = location.uri.as_str().trim_start_matches("file://").to_string();
    assert!(path.ends_with("/schedules.sprs") && !path.starts_with(&fixed.display().to_string()), "{path}");
    let dir = sprs::lsp::stdlib_dir().unwrap();
    let meta = std::fs::symlink_metadata(dir).unwrap();
    assert!(meta.is_dir() && meta.permissions().mode() & 0o077 == 0, "{:o}", meta.permissions().mode());
    assert_eq!(std::fs::read_dir(planted.path()).unwrap().count(), 0, "nothing was written through the planted link");
    if planted_here {
        std::fs::remove_file(&fixed).unwrap();
    }
}

/// A message too long (a Content-Length of 100 MB), not JSON, or not UTF-8 is skipped with a
/// line on standard error and the session goes on; a stream whose framing is broken ends the
/// server with an error, not silently.
#[test]
fn bad_messages_are_skipped_and_a_broken_stream_ends_with_an_error() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sprs"))
        .arg("lsp")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (sender, messages) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || read_messages(stdout, sender));
    let mut stdin = child.stdin.take().unwrap();
    let frame = |body: &[u8]| [format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes(), body].concat();
    let initialize = json!({ "jsonrpc": "2.0", "id": 1, "method": "initialize", "params": { "capabilities": {} } });
    stdin.write_all(&frame(initialize.to_string().as_bytes())).unwrap();
    stdin.write_all(&frame(br#"{"jsonrpc": "2.0", "method": "initialized", "params": {}}"#)).unwrap();
    stdin.write_all(&frame(b"{ not json")).unwrap();
    stdin.write_all(&frame(&[0x7b, 0xff, 0xfe, 0x7d])).unwrap();
    let long = 100 << 20;
    stdin.write_all(format!("Content-Length: {long}\r\n\r\n").as_bytes()).unwrap();
    let spaces = vec![b' '; 1 << 20];
    for _ in 0..100 {
        stdin.write_all(&spaces).unwrap();
    }
    let symbols = json!({ "jsonrpc": "2.0", "id": 2, "method": "textDocument/documentSymbol", "params": { "textDocument": { "uri": "file:///nowhere.sprs" } } });
    stdin.write_all(&frame(symbols.to_string().as_bytes())).unwrap();
    stdin.flush().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let answer = loop {
        let message = messages.recv_timeout(deadline.saturating_duration_since(Instant::now())).expect("an answer");
        if message["id"] == json!(2) {
            break message;
        }
    };
    assert!(answer.get("error").is_none(), "{answer}");
    stdin.write_all(b"garbage without a line end").unwrap();
    drop(stdin);
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.matches("skipped").count(), 3, "{stderr}");
    assert!(!output.status.success() && stderr.contains("input is broken"), "{stderr}");
}

/// A name imported from a project file has a hover and `explain` finds it; an open file is
/// checked again when a file it imports is saved or changes on disk, and when it is reopened.
#[test]
fn an_open_file_follows_the_project_files_it_imports() {
    let project = tempfile::tempdir().unwrap();
    let root = project.path().canonicalize().unwrap();
    std::fs::create_dir_all(root.join(".git")).unwrap();
    std::fs::create_dir_all(root.join("lib")).unwrap();
    let library = root.join("lib/common.sprs");
    let with_shared =
        "use std::models::llama\n\n/// The model every study shares.\nmodel shared = llama { width = 48, depth = 2 }\n";
    std::fs::write(&library, with_shared).unwrap();
    let main = root.join("main.sprs");
    let text = "use \"lib/common.sprs\"::shared\nuse std::data::markov\n\ntrain t {\n    data   = markov\n    model  = shared\n    budget = 100 steps\n}\n";
    std::fs::write(&main, text).unwrap();
    let main_uri = format!("file://{}", main.display());
    let library_uri = format!("file://{}", library.display());

    // `sprs explain` finds the imported name through the file that imports it.
    let explained =
        Command::new(env!("CARGO_BIN_EXE_sprs")).args(["explain", "shared", "--file"]).arg(&main).output().unwrap();
    let shown = String::from_utf8_lossy(&explained.stdout);
    assert!(explained.status.success(), "{shown}{}", String::from_utf8_lossy(&explained.stderr));
    assert!(shown.contains("width") && shown.contains("48"), "{shown}");

    let mut client =
        Client::start_with(json!({ "workspace": { "didChangeWatchedFiles": { "dynamicRegistration": true } } }));
    // A client that can watch files is asked to watch the project's `.sprs` files.
    let registration = client.wait_for("a registration", |m| m["method"] == "client/registerCapability");
    let watcher = &registration["params"]["registrations"][0];
    assert_eq!(watcher["method"], "workspace/didChangeWatchedFiles", "{registration}");
    assert_eq!(watcher["registerOptions"]["watchers"][0]["globPattern"], "**/*.sprs", "{registration}");
    client.send(json!({ "jsonrpc": "2.0", "id": registration["id"], "result": null }));

    client.notify(
        "textDocument/didOpen",
        json!({ "textDocument": { "uri": main_uri, "languageId": "sprs", "version": 1, "text": text } }),
    );
    assert_eq!(client.diagnostics_of(&main_uri), Vec::<Value>::new());
    let hover = client.request(
        "textDocument/hover",
        json!({ "textDocument": { "uri": main_uri }, "position": { "line": 5, "character": 15 } }),
    );
    let shown = hover["contents"]["value"].as_str().unwrap_or_default();
    assert!(shown.contains("width") && shown.contains("48") && shown.contains("common.sprs"), "{hover}");

    // The library loses `shared` and is saved: the open file says so.
    std::fs::write(&library, "use std::models::llama\n\nmodel other = llama { width = 48, depth = 2 }\n").unwrap();
    client.notify("textDocument/didSave", json!({ "textDocument": { "uri": library_uri } }));
    let after_save = client.diagnostics_of(&main_uri);
    assert_eq!(after_save.len(), 1, "{after_save:?}");
    assert!(after_save[0]["message"].as_str().unwrap().contains("shared"), "{after_save:?}");

    // Restored by another program: the watcher's event clears it.
    std::fs::write(&library, with_shared).unwrap();
    client.notify("workspace/didChangeWatchedFiles", json!({ "changes": [{ "uri": library_uri, "type": 2 }] }));
    assert_eq!(client.diagnostics_of(&main_uri), Vec::<Value>::new());

    // Deleted, then the open file reopened: checked against the disk as it is now.
    std::fs::remove_file(&library).unwrap();
    client.notify("workspace/didChangeWatchedFiles", json!({ "changes": [{ "uri": library_uri, "type": 3 }] }));
    assert_eq!(client.diagnostics_of(&main_uri).len(), 1);
    std::fs::write(&library, with_shared).unwrap();
    client.notify("textDocument/didClose", json!({ "textDocument": { "uri": main_uri } }));
    client.notify(
        "textDocument/didOpen",
        json!({ "textDocument": { "uri": main_uri, "languageId": "sprs", "version": 2, "text": text } }),
    );
    assert_eq!(client.diagnostics_of(&main_uri), Vec::<Value>::new());
    client.request("shutdown", Value::Null);
    client.notify("exit", Value::Null);
}

impl Client {
    /// The error a request is refused with.
    fn refused(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send(json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }));
        let response = self.wait_for(method, |m| m["id"] == json!(id));
        response.get("error").cloned().unwrap_or_else(|| panic!("{method} was answered: {response}"))
    }
}

/// Applies LSP text edits (positions in one-line-per-`\n`, ASCII text) to `text`.
fn apply(text: &str, edits: &[Value]) -> String {
    let offset = |p: &Value| {
        let line = p["line"].as_u64().unwrap() as usize;
        let start: usize = text.split_inclusive('\n').take(line).map(str::len).sum();
        start + p["character"].as_u64().unwrap() as usize
    };
    let mut edits: Vec<(usize, usize, &str)> = edits
        .iter()
        .map(|e| (offset(&e["range"]["start"]), offset(&e["range"]["end"]), e["newText"].as_str().unwrap()))
        .collect();
    edits.sort_by_key(|e| std::cmp::Reverse(e.0));
    let mut out = text.to_string();
    for (start, end, new) in edits {
        out.replace_range(start..end, new);
    }
    out
}

const LIB: &str = "sprs 0.1\n\nuse std::models::llama\n\n/// The model every train starts from.\nmodel base = llama { width = 64, depth = 2 }\n";

const MAIN: &str = "sprs 0.1\n\nuse std::data::markov\nuse \"lib.sprs\"::{base}\n\ntrain t {\n    data   = markov\n    model  = base\n    batch  = 4\n    budget = 2 tokens/param\n    prune  = dense\n}\n\nsweep widths = t { model.width in grid(32, 64, 32) }\ntrain solo = t { batch = 8, budget = 3 tokens/param }\n";

/// The features past diagnostics: a quick fix applied, a rename across two files (and one
/// refused), references and highlights, inlay hints and code lenses from the plan, semantic
/// tokens in full and as a delta, signature help, folding and workspace symbols.
#[test]
fn the_editor_knows_the_experiment() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("lib.sprs"), LIB).unwrap();
    std::fs::write(dir.path().join("main.sprs"), MAIN).unwrap();
    let (lib, main) =
        (format!("file://{}/lib.sprs", dir.path().display()), format!("file://{}/main.sprs", dir.path().display()));
    let mut client = Client::start();
    let open = |client: &mut Client, uri: &str, text: &str| {
        client.notify(
            "textDocument/didOpen",
            json!({ "textDocument": { "uri": uri, "languageId": "sprs", "version": 1, "text": text } }),
        );
    };

    // A did-you-mean, applied as its quick fix, leaves no diagnostic.
    let typo = MAIN.replace("model  = base", "model  = bsae");
    open(&mut client, &main, &typo);
    let diagnostics = client.diagnostics_of(&main);
    assert_eq!(diagnostics.len(), 1, "{diagnostics:?}");
    let actions = client.request(
        "textDocument/codeAction",
        json!({ "textDocument": { "uri": main }, "range": diagnostics[0]["range"], "context": { "diagnostics": diagnostics } }),
    );
    let action = &actions[0];
    assert_eq!(action["title"], "replace with `base`", "{actions}");
    assert_eq!(action["kind"], "quickfix");
    let fixed = apply(&typo, action["edit"]["changes"][&main].as_array().unwrap());
    assert_eq!(fixed, MAIN);
    client.notify(
        "textDocument/didChange",
        json!({ "textDocument": { "uri": main, "version": 2 }, "contentChanges": [{ "text": fixed }] }),
    );
    assert_eq!(client.diagnostics_of(&main), Vec::<Value>::new());

    // `base` at its use in main.sprs (line 7): defined in lib.sprs, imported here.
    let at = json!({ "textDocument": { "uri": main }, "position": { "line": 7, "character": 14 } });
    let references = client.request(
        "textDocument/references",
        json!({ "textDocument": at["textDocument"], "position": at["position"], "context": { "includeDeclaration": true } }),
    );
    let mut places: Vec<(String, u64)> = references
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["uri"].as_str().unwrap().rsplit('/').next().unwrap().to_string(),
                r["range"]["start"]["line"].as_u64().unwrap(),
            )
        })
        .collect();
    places.sort();
    assert_eq!(places, [("lib.sprs".to_string(), 5), ("main.sprs".to_string(), 3), ("main.sprs".to_string(), 7)]);
    let highlights = client.request("textDocument/documentHighlight", at.clone());
    assert_eq!(highlights.as_array().unwrap().len(), 2, "{highlights}");

    // Renamed everywhere; renaming to a name already in scope, or a stdlib item, is refused.
    let edit = client.request(
        "textDocument/rename",
        json!({ "textDocument": at["textDocument"], "position": at["position"], "newName": "small" }),
    );
    let changes = &edit["changes"];
    let lib_uri = changes.as_object().unwrap().keys().find(|k| k.ends_with("/lib.sprs")).unwrap().clone();
    let (renamed_lib, renamed_main) = (LIB.replace("model base", "model small"), MAIN.replace("base", "small"));
    assert_eq!(apply(LIB, changes[&lib_uri].as_array().unwrap()), renamed_lib);
    assert_eq!(apply(MAIN, changes[&main].as_array().unwrap()), renamed_main);
    let taken = client.refused(
        "textDocument/rename",
        json!({ "textDocument": at["textDocument"], "position": at["position"], "newName": "markov" }),
    );
    assert!(taken["message"].as_str().unwrap().contains("already a name"), "{taken}");
    let stdlib = client.refused(
        "textDocument/prepareRename",
        json!({ "textDocument": { "uri": main }, "position": { "line": 6, "character": 14 } }),
    );
    assert!(stdlib["message"].as_str().unwrap().contains("standard library"), "{stdlib}");

    // The rename applied in the editor, nothing saved: main.sprs reads lib.sprs's buffer and is
    // clean (it may first be checked against the new lib.sprs and its own old text).
    open(&mut client, &lib, &renamed_lib);
    client.notify(
        "textDocument/didChange",
        json!({ "textDocument": { "uri": main, "version": 3 }, "contentChanges": [{ "text": renamed_main }] }),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while !client.diagnostics_of(&main).is_empty() {
        assert!(Instant::now() < deadline, "main.sprs never checked clean against lib.sprs's buffer");
    }

    // Inlay hints: the train's plan after its name, the tokens of its budget; in lib.sprs, the
    // fields `llama` computes from `self`.
    let all = json!({ "start": { "line": 0, "character": 0 }, "end": { "line": 99, "character": 0 } });
    let hints = client.request("textDocument/inlayHint", json!({ "textDocument": { "uri": main }, "range": all }));
    let labels: Vec<&str> = hints.as_array().unwrap().iter().map(|h| h["label"].as_str().unwrap()).collect();
    assert!(labels.iter().any(|l| l.starts_with("N ") && l.contains("steps")), "{labels:?}");
    assert!(labels.iter().any(|l| l.ends_with("tokens") && l.starts_with("= ")), "{labels:?}");
    assert!(labels.iter().any(|l| l.starts_with("2 trials · C ")), "{labels:?}");
    let hints = client.request("textDocument/inlayHint", json!({ "textDocument": { "uri": lib }, "range": all }));
    let labels: Vec<&str> = hints.as_array().unwrap().iter().map(|h| h["label"].as_str().unwrap()).collect();
    assert_eq!(labels, ["heads = 4, mlp = 256"]);

    let lenses = client.request("textDocument/codeLens", json!({ "textDocument": { "uri": main } }));
    let titles: Vec<&str> =
        lenses.as_array().unwrap().iter().map(|l| l["command"]["title"].as_str().unwrap()).collect();
    assert!(titles.iter().any(|t| t.starts_with("1 trial · ") && t.ends_with("FLOPs")), "{titles:?}");
    assert!(titles.iter().any(|t| t.starts_with("2 trials · ")), "{titles:?}");
    assert!(titles.contains(&"the base of a sweep, not a trial"), "{titles:?}");
    assert!(!titles.iter().any(|t| t.starts_with("0 trials")), "{titles:?}");

    // Semantic tokens; after an edit, a delta against them.
    let full = client.request("textDocument/semanticTokens/full", json!({ "textDocument": { "uri": main } }));
    let data = full["data"].as_array().unwrap();
    assert!(data.len() >= 5 * 10 && data.len().is_multiple_of(5), "{full}");
    let edited = renamed_main.replace("batch  = 4", "batch  = 8");
    client.notify(
        "textDocument/didChange",
        json!({ "textDocument": { "uri": main, "version": 4 }, "contentChanges": [{ "text": edited }] }),
    );
    let delta = client.request(
        "textDocument/semanticTokens/full/delta",
        json!({ "textDocument": { "uri": main }, "previousResultId": full["resultId"] }),
    );
    assert_eq!(delta["edits"], json!([]), "the same names in the same places: {delta}");

    let help = client.request(
        "textDocument/signatureHelp",
        json!({ "textDocument": { "uri": main }, "position": { "line": 13, "character": 45 } }),
    );
    assert_eq!(help["signatures"][0]["label"], "grid(from, to, step)", "{help}");
    assert_eq!(help["activeParameter"], 1);

    let folds = client.request("textDocument/foldingRange", json!({ "textDocument": { "uri": main } }));
    assert!(folds.as_array().unwrap().iter().any(|f| f["startLine"] == 5 && f["endLine"] == 11), "{folds}");
    // Open files by their buffers (lib.sprs is renamed there, not on disk).
    let symbols = client.request("workspace/symbol", json!({ "query": "SMA" }));
    let names: Vec<&str> = symbols.as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["small"]);
}

/// References and rename read and edit the project's files only: an item a file imports from
/// outside its project (here through `..`) is neither read nor renamed.
#[test]
fn references_stay_inside_the_project() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("project");
    std::fs::create_dir_all(project.join(".git")).unwrap();
    std::fs::write(dir.path().join("lib.sprs"), LIB).unwrap();
    let main = MAIN.replace("use \"lib.sprs\"", "use \"../lib.sprs\"");
    let uri = format!("file://{}/main.sprs", project.display());
    let mut client = Client::start();
    client.notify(
        "textDocument/didOpen",
        json!({ "textDocument": { "uri": uri, "languageId": "sprs", "version": 1, "text": main } }),
    );
    let at = json!({ "textDocument": { "uri": uri }, "position": { "line": 7, "character": 14 } });
    let references = client.request(
        "textDocument/references",
        json!({ "textDocument": at["textDocument"], "position": at["position"], "context": { "includeDeclaration": true } }),
    );
    assert_eq!(references, Value::Null, "{references}");
    let refused = client.refused(
        "textDocument/rename",
        json!({ "textDocument": at["textDocument"], "position": at["position"], "newName": "small" }),
    );
    assert!(refused["message"].is_string(), "{refused}");
    assert_eq!(std::fs::read_to_string(dir.path().join("lib.sprs")).unwrap(), LIB);
}

/// The stdlib folder a server writes for go to definition is removed when it exits.
#[test]
fn the_stdlib_folder_goes_with_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let uri = format!("file://{}/x.sprs", dir.path().display());
    let mut client = Client::start();
    let text = "use std::schedules::journey\ntrain t { prune = journey }\n";
    client.notify(
        "textDocument/didOpen",
        json!({ "textDocument": { "uri": uri, "languageId": "sprs", "version": 1, "text": text } }),
    );
    let location = client.request(
        "textDocument/definition",
        json!({ "textDocument": { "uri": uri }, "position": { "line": 1, "character": 20 } }),
    );
    let file = std::path::PathBuf::from(location["uri"].as_str().unwrap().trim_start_matches("file://"));
    let folder = file.parent().unwrap().to_path_buf();
    assert!(file.exists() && folder.file_name().unwrap().to_string_lossy().starts_with("sprs-stdlib-"), "{file:?}");
    client.request("shutdown", Value::Null);
    client.notify("exit", Value::Null);
    let status = client.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert!(!folder.exists(), "{folder:?} is left behind");
}
