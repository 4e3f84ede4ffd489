//! No input may make the parser, the checker or the planner panic (or run away). Two generators: arbitrary text, and valid
//! files (every shipped experiment and UI case) with random edits. `PROPTEST_CASES` scales the
//! run (the default is kept small for CI; see the README for a longer run).

use std::path::Path;

use proptest::prelude::*;

fn corpus() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    ["experiments", "tests/ui", "stdlib"]
        .iter()
        .flat_map(|dir| sprs::check::sprs_files(&root.join(dir)).unwrap())
        .map(|path| std::fs::read_to_string(path).unwrap())
        .collect()
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
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ui/fuzz_input.sprs");
    let options = sprs::check::Options { set: set.to_vec(), ..sprs::check::Options::new(&path) };
    let output = sprs::plan::plan_source_with(&path, text.to_string(), &options);
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
        let file = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments/chinchilla_sweep.sprs")).unwrap();
        let value: String = tokens.iter().map(|&t| TOKENS[t]).collect();
        check_with(&file, &[format!("{path} = {value}"), text]);
    }

    #[test]
    fn edited_valid_files_never_panic(file in any::<prop::sample::Index>(), edits in proptest::collection::vec(edit(), 1..6)) {
        let corpus = corpus();
        let text = &corpus[file.index(corpus.len())];
        check(&apply(text, &edits));
    }
}
