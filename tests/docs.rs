//! The language guide's examples are checked: every ```sprs block of `docs/language.md` is a
//! complete file, written into a fresh project folder (one holding `.git`) and checked and planned
//! as `sprs check` does. A plain block must give no diagnostic at all; a block whose first line is
//! `// expect: E0203, W0001` must give exactly those codes, each described in `docs/errors.md`.
//! A block expecting `W0007` names data files the guide does not ship and is planned without
//! them, as `sprs plan` does. A `// file: PATH` line (first, or second after `// expect:`) names
//! the block's file (default `example.sprs`); blocks are written in order into one folder, so a
//! later block can `use` an earlier one. Failures name the block's line in the guide.

use std::collections::BTreeSet;
use std::path::Path;

use sprs::diagnostic::Renderer;

/// The fewest checked examples the guide may have.
const DOCS_MIN_BLOCKS: usize = 15;

/// One ```sprs block of the guide.
struct DocsBlock {
    /// The 1-based line of the block's first line of code in `docs/language.md`.
    line: usize,
    /// Where the block is written, relative to the project folder.
    path: String,
    /// The codes it must produce (empty: none).
    expect: BTreeSet<String>,
    /// The file's text.
    text: String,
}

fn docs_guide() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/language.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// Every ```sprs block of `guide`, with its conventions read from its leading comment lines.
fn docs_blocks(guide: &str) -> Vec<DocsBlock> {
    let lines: Vec<&str> = guide.lines().collect();
    let mut blocks = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if lines[i].trim_end() != "```sprs" {
            i += 1;
            continue;
        }
        let start = i + 1;
        let end = (start..lines.len())
            .find(|&j| lines[j].trim_end() == "```")
            .unwrap_or_else(|| panic!("docs/language.md:{}: a ```sprs block is never closed", start));
        let body = &lines[start..end];
        let mut path = "example.sprs".to_string();
        let mut expect = BTreeSet::new();
        for (k, line) in body.iter().enumerate().take_while(|(_, l)| l.starts_with("//")) {
            if let Some(codes) = line.strip_prefix("// expect:") {
                assert_eq!(k, 0, "docs/language.md:{}: `// expect:` must be the block's first line", start + k + 1);
                expect = codes.split(',').map(|c| c.trim().to_string()).filter(|c| !c.is_empty()).collect();
                assert!(!expect.is_empty(), "docs/language.md:{}: `// expect:` names no code", start + k + 1);
            } else if let Some(file) = line.strip_prefix("// file:") {
                path = file.trim().to_string();
                let relative = Path::new(&path);
                assert!(
                    path.ends_with(".sprs")
                        && relative.components().all(|c| matches!(c, std::path::Component::Normal(_))),
                    "docs/language.md:{}: `// file:` must name a `.sprs` path inside the project, found `{path}`",
                    start + k + 1
                );
            }
        }
        let mut text = body.join("\n");
        text.push('\n');
        blocks.push(DocsBlock { line: start + 1, path, expect, text });
        i = end + 1;
    }
    blocks
}

/// Checks and plans `block` inside the project folder `dir`, as `sprs check` does (as `sprs plan`
/// does for a block expecting W0007): the codes found, and the diagnostics in short form.
fn docs_check(dir: &Path, block: &DocsBlock) -> (BTreeSet<String>, Vec<String>) {
    let path = dir.join(&block.path);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, &block.text).unwrap();
    let options =
        sprs::check::Options { require_data: !block.expect.contains("W0007"), ..sprs::check::Options::new(&path) };
    let output = sprs::plan::plan_source_with(&path, block.text.clone(), &options);
    let renderer = Renderer { sources: &output.sources, color: false, width: 100 };
    let codes = output.diagnostics.iter().map(|d| d.code()).collect();
    let shown = output.diagnostics.iter().map(|d| renderer.short(d)).collect();
    (codes, shown)
}

#[test]
fn every_guide_example_checks_as_it_says() {
    let blocks = docs_blocks(&docs_guide());
    assert!(
        blocks.len() >= DOCS_MIN_BLOCKS,
        "docs/language.md has {} checked ```sprs blocks, fewer than {DOCS_MIN_BLOCKS}",
        blocks.len()
    );
    let project = tempfile::tempdir().unwrap();
    std::fs::create_dir(project.path().join(".git")).unwrap();
    let mut failures = Vec::new();
    for block in &blocks {
        let (found, shown) = docs_check(project.path(), block);
        if found != block.expect {
            let want =
                if block.expect.is_empty() { "no diagnostic".to_string() } else { format!("{:?}", block.expect) };
            failures.push(format!(
                "docs/language.md:{} (`{}`): expected {want}, found {found:?}\n    {}",
                block.line,
                block.path,
                shown.join("\n    ")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} guide examples failed:\n{}",
        failures.len(),
        blocks.len(),
        failures.join("\n")
    );
}

#[test]
fn every_expected_code_is_in_the_error_docs() {
    let errors = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/errors.md")).unwrap();
    for block in docs_blocks(&docs_guide()) {
        for code in &block.expect {
            assert!(
                errors.contains(&format!("`{code}`")),
                "docs/language.md:{}: `{code}` is not described in docs/errors.md",
                block.line
            );
        }
    }
}

#[test]
fn guide_blocks_are_read_with_their_conventions() {
    let guide =
        "text\n```sprs\n// expect: E0101, W0002\n// file: lib/a.sprs\nlet a = b\n```\n\n```sprs\nlet c = 1\n```\n";
    let blocks = docs_blocks(guide);
    assert_eq!(blocks.len(), 2);
    assert_eq!((blocks[0].line, blocks[0].path.as_str()), (3, "lib/a.sprs"));
    assert_eq!(blocks[0].expect, BTreeSet::from(["E0101".to_string(), "W0002".to_string()]));
    assert_eq!(blocks[0].text, "// expect: E0101, W0002\n// file: lib/a.sprs\nlet a = b\n");
    assert_eq!((blocks[1].line, blocks[1].path.as_str(), blocks[1].expect.len()), (9, "example.sprs", 0));
}
