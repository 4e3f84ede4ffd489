//! No input may make the parser, the checker, the planner or the renderer panic (or run away).
//! The generators: arbitrary text and bytes, `--set` overrides, valid files (every shipped
//! experiment and UI case) with random edits, and the shapes of the security audit
//! (docs/security.md): very long lines, deep nesting, huge grids and sweeps, and paths that
//! reach outside the project. Beyond `.sprs` files: the formatter (and its diff) on the same
//! texts, `sprs tokenize` on JSON lines, gzip and zstd streams and Parquet files made of
//! arbitrary and edited bytes, and the language server on arbitrary bytes and messages.
//! `PROPTEST_CASES` scales the run (the default is kept small for CI); `scripts/fuzz.sh N` runs N
//! inputs in all, in release mode.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use proptest::prelude::*;

fn corpus() -> &'static [String] {
    static CORPUS: OnceLock<Vec<String>> = OnceLock::new();
    CORPUS.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        ["experiments", "tests/ui", "stdlib"]
            .iter()
            .flat_map(|dir| sprs::check::sprs_files(&root.join(dir)).unwrap())
            .map(|path| std::fs::read_to_string(path).unwrap())
            .collect()
    })
}

/// Tokens that tend to reach deep into the checker when spliced into a valid file.
const TOKENS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    "(",
    ")",
    ",",
    "=",
    ".",
    "::",
    "self",
    "self.width",
    "in",
    "where",
    "of compute",
    "%",
    "1e999",
    "0",
    "-1",
    "/ 0",
    "^",
    "\"",
    "\\u{",
    "/*",
    "*/",
    "//",
    "///",
    "\n",
    "tokens/param",
    "model.width",
    "llama",
    "journey { sparsity = 50% }",
    "use std::models::llama\n",
    "let x = x\n",
    "train",
    "sweep",
    "fit",
    "data",
    "budget",
    "heads = 7",
    "(1, 2, 3)",
    "grid(0, 2, 0)",
    "csv(\"x.csv\")",
    "largest(C, 0)",
    "text([])",
    "bundled(1)",
    "1e30 flops",
    "1 steps",
    "every = 1 steps",
    "100% of compute",
    "0% of compute",
    "scope = layerwise",
    "99.99%",
    "1 tokens",
    "end = 7 steps",
    "curve = cubic",
];

fn check(text: &str) {
    check_with(text, &[]);
}

/// Checks and plans `text` with `--set` overrides, rendering every diagnostic.
fn check_with(text: &str, set: &[String]) {
    // A name inside the crate's tests folder, so relative imports and data paths resolve somewhere real.
    static PLACE: OnceLock<(PathBuf, sprs::check::Options)> = OnceLock::new();
    let (path, options) = PLACE.get_or_init(|| {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ui/fuzz_input.sprs");
        let options = sprs::check::Options::new(&path);
        (path, options)
    });
    let options = sprs::check::Options { set: set.to_vec(), ..options.clone() };
    let output = sprs::plan::plan_source_with(path, text.to_string(), &options);
    let renderer = sprs::diagnostic::Renderer { sources: &output.sources, color: false, width: 80 };
    for diag in &output.diagnostics {
        // Rendering must not panic either, whatever the spans.
        let _ = renderer.human(diag);
        let _ = renderer.json(diag);
    }
}

#[derive(Debug, Clone)]
enum Edit {
    Delete(usize, usize),
    Insert(usize, usize),
    Duplicate(usize, usize),
    Swap(usize, usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), 1usize..20).prop_map(|(a, n)| Edit::Delete(a, n)),
        (any::<usize>(), 0..TOKENS.len()).prop_map(|(a, t)| Edit::Insert(a, t)),
        (any::<usize>(), 1usize..60).prop_map(|(a, n)| Edit::Duplicate(a, n)),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Edit::Swap(a, b)),
    ]
}

fn apply(text: &str, edits: &[Edit]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for edit in edits {
        let len = chars.len().max(1);
        match *edit {
            Edit::Delete(at, n) => {
                let at = at % len;
                let end = (at + n).min(chars.len());
                chars.drain(at.min(chars.len())..end);
            }
            Edit::Insert(at, t) => {
                let at = (at % len).min(chars.len());
                chars.splice(at..at, TOKENS[t].chars());
            }
            Edit::Duplicate(at, n) => {
                let at = (at % len).min(chars.len());
                let end = (at + n).min(chars.len());
                let copy: Vec<char> = chars[at..end].to_vec();
                chars.splice(end..end, copy);
            }
            Edit::Swap(a, b) => {
                if !chars.is_empty() {
                    let (a, b) = (a % chars.len(), b % chars.len());
                    chars.swap(a, b);
                }
            }
        }
    }
    chars.into_iter().collect()
}

/// What opens a level of nesting, for the deep-nesting shape.
const OPENERS: &[&str] = &["[", "(", "{ a = ", "/*", "-", "not ", "x.", "journey { sparsity = ", "\"", "1 + ", "f("];

/// Paths a file might name, inside the project and out of it.
const PATHS: &[&str] = &[
    "/etc/passwd",
    "/proc/self/environ",
    "/dev/zero",
    "/dev/stdin",
    "../../Cargo.toml",
    "../ok",
    "../ok/late_binding.sprs",
    "../../fixtures/chinchilla_epoch_svg.csv",
    "../../../../../../../../etc/passwd",
    "ok/../../../../../../etc/passwd",
    "",
    ".",
    "..",
    "a\u{0}b",
    "\u{1b}[2J",
    "/",
    "//",
    "~/.ssh/id_rsa",
];

/// One of the audit's shapes.
#[derive(Debug, Clone)]
enum Shape {
    /// `spaces` spaces, then a token: a diagnostic far to the right.
    LongLine { spaces: usize, token: usize },
    /// An opener repeated `depth` times, then a token.
    Nested { opener: usize, depth: usize, token: usize },
    /// Grids of up to 10^`size` values: alone, crossed in a sweep, or in lists of lists.
    Grid { size: u32, step: u32, axes: usize, nest: usize },
    /// A path in one of the places a file names one.
    Reach { place: usize, path: usize },
}

fn shape() -> impl Strategy<Value = Shape> {
    prop_oneof![
        (0usize..140_000, 0..TOKENS.len()).prop_map(|(spaces, token)| Shape::LongLine { spaces, token }),
        // Mostly around the 200-level bound, now and then far beyond it.
        (0..OPENERS.len(), prop_oneof![9 => 0usize..400, 1 => 0usize..60_000], 0..TOKENS.len())
            .prop_map(|(opener, depth, token)| Shape::Nested { opener, depth, token }),
        (0u32..8, 0u32..4, 0usize..5, 0usize..4).prop_map(|(size, step, axes, nest)| Shape::Grid {
            size,
            step,
            axes,
            nest
        }),
        (0usize..6, 0..PATHS.len()).prop_map(|(place, path)| Shape::Reach { place, path }),
    ]
}

fn render(shape: &Shape) -> String {
    const BASE: &str = "use std::models::llama\nuse std::data::shakespeare\n\
        train base { data = shakespeare, model = llama { width = 16, depth = 1 }, budget = 100 steps }\n";
    match *shape {
        Shape::LongLine { spaces, token } => format!("{BASE}{}{}\n", " ".repeat(spaces), TOKENS[token]),
        Shape::Nested { opener, depth, token } => {
            format!("let x = {}{}\n", OPENERS[opener].repeat(depth), TOKENS[token])
        }
        Shape::Grid { size, step, axes, nest } => {
            let step = ["1", "0.5", "7", "1e-3"][step as usize];
            // A sweep of one large axis is a legitimate 100,000 trials, slow to check and not
            // what this shape is for: one axis sweeps at most 10^3 values.
            let size = if axes == 1 { size.min(3) } else { size };
            let grid = format!("grid(0, {}, {step})", 10u64.pow(size));
            let mut value = "g".to_string();
            for _ in 0..nest {
                value = format!("[{value}, {value}]");
            }
            let paths = ["seed", "batch", "optimizer.lr", "eval.tokens", "data.context"];
            let axes: String = paths[..axes].iter().map(|p| format!("  {p} in g\n")).collect();
            format!("{BASE}let g = {grid}\nlet v = {value}\nsweep s = base {{\n{axes}}}\n")
        }
        Shape::Reach { place, path } => {
            let path = PATHS[path];
            match place {
                0 => format!("use \"{path}\"::{{x}}\nlet y = x\n"),
                1 => format!("{BASE}train t = base {{ data = {{ source = text(\"{path}\") }} }}\n"),
                2 => format!("{BASE}train t = base {{ data = {{ source = tokens(\"{path}\") }}, model.vocab = 300 }}\n"),
                3 => format!("{BASE}train t = base {{ data = {{ source = text(\"{path}\"), tokenizer = file(\"{path}\") }}, model.vocab = 300 }}\n"),
                4 => format!("fit f {{ on = csv(\"{path}\", columns = {{ N = \"x\", L = \"y\" }}), law = E + N, params = {{ E = [1] }} }}\n"),
                _ => format!("{BASE}sweep s = base {{ data.source in [text(\"{path}\"), tokens(\"{path}\")] }}\n"),
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
        check(&text);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        check(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn arbitrary_set_overrides_never_panic(
        path in prop::sample::select(vec!["model.width", "prune", "budget", "data.context", "seed", "x.y", "", "model"]),
        tokens in proptest::collection::vec(0..TOKENS.len(), 0..4),
        text in "\\PC{0,30}",
    ) {
        static FILE: OnceLock<String> = OnceLock::new();
        let file = FILE.get_or_init(|| std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments/chinchilla_sweep.sprs")).unwrap());
        let value: String = tokens.iter().map(|&t| TOKENS[t]).collect();
        check_with(file, &[format!("{path} = {value}"), text]);
    }

    #[test]
    fn edited_valid_files_never_panic(file in any::<prop::sample::Index>(), edits in proptest::collection::vec(edit(), 1..6)) {
        let corpus = corpus();
        let text = &corpus[file.index(corpus.len())];
        check(&apply(text, &edits));
    }

    #[test]
    fn the_audits_shapes_never_panic(shapes in proptest::collection::vec(shape(), 1..3)) {
        let text: String = shapes.iter().map(render).collect();
        check(&text);
    }

    #[test]
    fn formatting_never_panics(file in any::<prop::sample::Index>(), edits in proptest::collection::vec(edit(), 0..6), text in "\\PC{0,120}") {
        let corpus = corpus();
        for text in [apply(&corpus[file.index(corpus.len())], &edits), text] {
            if let Ok(formatted) = sprs::fmt::format(&text) {
                let _ = sprs::fmt::changes(&text, &formatted);
            }
        }
    }

    #[test]
    fn tokenize_inputs_never_panic(input in tokenize_input(), documents in proptest::collection::vec("\\PC{0,40}", 0..8)) {
        tokenize(&input, &documents);
    }

    #[test]
    fn language_server_messages_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200), messages in proptest::collection::vec(lsp_message(), 0..6)) {
        let mut reader = std::io::BufReader::new(bytes.as_slice());
        while let Ok(Some(_)) = sprs::lsp::transport::read(&mut reader, |_| ()) {}
        serve(&messages);
    }
}

/// How `sprs tokenize` gets a file: its name's format, and bytes made one of three ways.
#[derive(Debug, Clone)]
enum TokenizeInput {
    /// Arbitrary bytes under a name of each format.
    Bytes(&'static str, Vec<u8>),
    /// The documents as JSON lines, gzip- or zstd-compressed or not, with bytes flipped.
    Lines(&'static str, Vec<(usize, u8)>),
    /// The documents as a Parquet file, with bytes flipped.
    Parquet(Vec<(usize, u8)>),
}

fn tokenize_input() -> impl Strategy<Value = TokenizeInput> {
    let names = prop::sample::select(vec!["x.txt", "x.jsonl", "x.jsonl.gz", "x.jsonl.zst", "x.parquet", "x.txt.gz"]);
    let flips = proptest::collection::vec((any::<usize>(), any::<u8>()), 0..4);
    prop_oneof![
        (names, proptest::collection::vec(any::<u8>(), 0..400)).prop_map(|(n, b)| TokenizeInput::Bytes(n, b)),
        (prop::sample::select(vec!["x.jsonl", "x.jsonl.gz", "x.jsonl.zst"]), flips.clone())
            .prop_map(|(n, f)| TokenizeInput::Lines(n, f)),
        flips.prop_map(TokenizeInput::Parquet),
    ]
}

/// Writes the input and tokenizes it: an error is fine, a panic is not.
fn tokenize(input: &TokenizeInput, documents: &[String]) {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let flip = |mut bytes: Vec<u8>, flips: &[(usize, u8)]| {
        for &(at, byte) in flips {
            if !bytes.is_empty() {
                let at = at % bytes.len();
                bytes[at] ^= byte;
            }
        }
        bytes
    };
    let lines: Vec<u8> =
        documents.iter().flat_map(|d| format!("{}\n", serde_json::json!({ "text": d })).into_bytes()).collect();
    let (name, bytes) = match input {
        TokenizeInput::Bytes(name, bytes) => (*name, bytes.clone()),
        TokenizeInput::Lines(name, flips) => {
            let bytes = match *name {
                "x.jsonl.gz" => {
                    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                    encoder.write_all(&lines).unwrap();
                    encoder.finish().unwrap()
                }
                "x.jsonl.zst" => zstd::encode_all(lines.as_slice(), 1).unwrap(),
                _ => lines,
            };
            (*name, flip(bytes, flips))
        }
        TokenizeInput::Parquet(flips) => {
            use parquet::data_type::{ByteArray, ByteArrayType};
            let schema = std::sync::Arc::new(
                parquet::schema::parser::parse_message_type("message schema { REQUIRED BYTE_ARRAY text (UTF8); }")
                    .unwrap(),
            );
            let mut writer =
                parquet::file::writer::SerializedFileWriter::new(Vec::new(), schema, Default::default()).unwrap();
            let mut group = writer.next_row_group().unwrap();
            let mut column = group.next_column().unwrap().unwrap();
            let values: Vec<ByteArray> = documents.iter().map(|d| ByteArray::from(d.as_str())).collect();
            column.typed::<ByteArrayType>().write_batch(&values, None, None).unwrap();
            column.close().unwrap();
            group.close().unwrap();
            ("x.parquet", flip(writer.into_inner().unwrap(), flips))
        }
    };
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    let options = sprs::data::tokenize::Options {
        inputs: vec![path],
        tokenizer: sprs::data::tokenize::TokenizerChoice::Bytes,
        out: dir.path().join("out.u16"),
        dtype: None,
        field: "text".into(),
        eos: None,
        limit: None,
        jobs: 1,
    };
    let _ = sprs::data::tokenize::tokenize(&options, &|_| ());
}

/// A message an editor could send, with arbitrary parameters where they matter.
fn lsp_message() -> impl Strategy<Value = serde_json::Value> {
    let method = prop::sample::select(vec![
        "textDocument/didOpen",
        "textDocument/didChange",
        "textDocument/hover",
        "textDocument/completion",
        "textDocument/definition",
        "textDocument/formatting",
        "textDocument/documentSymbol",
        "textDocument/unknown",
    ]);
    let corpus_text = any::<prop::sample::Index>().prop_map(|i| corpus()[i.index(corpus().len())].clone());
    let text = prop_oneof![corpus_text, "\\PC{0,80}"];
    (method, text, 0u32..60, 0u32..200, any::<bool>(), any::<i64>()).prop_map(|(method, text, line, character, request, id)| {
        let document = serde_json::json!({ "uri": "file:///fuzz/x.sprs", "languageId": "sprs", "version": 1, "text": text });
        let params = match method {
            "textDocument/didOpen" => serde_json::json!({ "textDocument": document }),
            "textDocument/didChange" => serde_json::json!({ "textDocument": { "uri": "file:///fuzz/x.sprs", "version": 2 }, "contentChanges": [{ "text": text }] }),
            _ if request => serde_json::json!({ "textDocument": { "uri": "file:///fuzz/x.sprs" }, "position": { "line": line, "character": character }, "options": { "tabSize": 4, "insertSpaces": true } }),
            _ => serde_json::json!({ "position": text }),
        };
        let mut message = serde_json::json!({ "jsonrpc": "2.0", "method": method, "params": params });
        if !method.starts_with("textDocument/did") {
            message["id"] = serde_json::json!(id);
        }
        message
    })
}

/// Runs the server on an in-memory connection through the handshake, `messages` and the end.
fn serve(messages: &[serde_json::Value]) {
    use lsp_server::{Connection, Message};
    let (server, client) = Connection::memory();
    let serving = std::thread::spawn(move || sprs::lsp::serve(&server).is_ok());
    let send =
        |value: serde_json::Value| client.sender.send(serde_json::from_value::<Message>(value).unwrap()).unwrap();
    send(serde_json::json!({ "jsonrpc": "2.0", "id": -1, "method": "initialize", "params": { "capabilities": {} } }));
    send(serde_json::json!({ "jsonrpc": "2.0", "method": "initialized", "params": {} }));
    for message in messages {
        send(message.clone());
    }
    send(serde_json::json!({ "jsonrpc": "2.0", "id": -2, "method": "shutdown", "params": null }));
    // Answers until the shutdown's, then the end of the session.
    while let Ok(message) = client.receiver.recv() {
        if matches!(&message, Message::Response(response) if response.id == (-2).into()) {
            break;
        }
    }
    send(serde_json::json!({ "jsonrpc": "2.0", "method": "exit", "params": null }));
    assert!(serving.join().expect("the server does not panic"), "the server ends cleanly");
}
