//! `sprs fmt`: every shipped file is in canonical form, and formatting any file that parses keeps
//! its meaning (the same AST, hence the same trials and ids), keeps every comment, and is stable.

use std::path::Path;

use proptest::prelude::*;
use sprs::fmt::{comments, format, meaning, Unformatted};

fn files(dirs: &[&str]) -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    dirs.iter()
        .flat_map(|dir| sprs::check::sprs_files(&root.join(dir)).unwrap())
        .map(|path| (path.display().to_string(), std::fs::read_to_string(path).unwrap()))
        .collect()
}

fn comment_texts(text: &str) -> Vec<String> {
    comments(text).into_iter().map(|c| c.text).collect()
}

/// For a text that parses: the formatted text parses to the same AST, keeps the comments in
/// order, and formats to itself. A text the printer's guard refuses is left alone; that may
/// happen only where `///` reads both as a doc comment and as a division (see `Unformatted`).
fn check_formatting(name: &str, text: &str) {
    let Some(before) = meaning(text) else { return };
    let formatted = match format(text) {
        Ok(formatted) => formatted,
        Err(Unformatted::Unsafe) => {
            assert!(text.contains("///"), "{name}: the printer changed the meaning of:\n{text}");
            return;
        }
        Err(error) => panic!("{name}: parses but does not format: {error:?}"),
    };
    let after =
        meaning(&formatted).unwrap_or_else(|| panic!("{name}: the formatted text does not parse:\n{formatted}"));
    assert_eq!(before, after, "{name}: formatting changed the meaning:\n{formatted}");
    assert_eq!(comment_texts(text), comment_texts(&formatted), "{name}: comments changed:\n{formatted}");
    let again = format(&formatted).unwrap();
    assert_eq!(formatted, again, "{name}: formatting is not stable");
}

#[test]
fn every_shipped_file_is_in_canonical_form() {
    for (name, text) in files(&["experiments", "stdlib"]) {
        let formatted = format(&text).unwrap();
        assert!(formatted == text, "{name} is not formatted:\n{}", sprs::fmt::changes(&text, &formatted));
    }
}

#[test]
fn formatting_keeps_the_meaning_and_the_comments_of_every_test_file() {
    for (name, text) in files(&["experiments", "stdlib", "tests/ui"]) {
        check_formatting(&name, &text);
    }
}

/// A shipped file with its layout undone (its lines indented at random, blank lines doubled)
/// formats back to itself, so its trials and ids are the same.
#[test]
fn a_disordered_shipped_file_formats_back() {
    for (name, text) in files(&["experiments", "stdlib"]) {
        let messy: String = text
            .lines()
            .enumerate()
            .map(|(i, line)| {
                format!("{}{}\n{}", " ".repeat(i % 5), line.trim_start(), if line.is_empty() { "\n" } else { "" })
            })
            .collect();
        assert_eq!(format(&messy).unwrap(), text, "{name}");
    }
}

/// What may be spliced between tokens without changing meaning.
const TRIVIA: &[&str] = &[" ", "\n", "\n\n\n", "  // a note\n", "/* x */", "/* a /* nested */ one */", "\t"];

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    /// Comments and whitespace inserted at random places of any test file: wherever the result
    /// still parses, formatting keeps its meaning and comments and is stable.
    #[test]
    fn formatting_any_file_that_parses_keeps_meaning_and_comments(
        file in any::<prop::sample::Index>(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), 0..TRIVIA.len()), 1..8),
    ) {
        static CORPUS: std::sync::OnceLock<Vec<(String, String)>> = std::sync::OnceLock::new();
        let corpus = CORPUS.get_or_init(|| files(&["experiments", "stdlib", "tests/ui"]));
        let (name, text) = &corpus[file.index(corpus.len())];
        let mut text = text.clone();
        for (at, trivia) in &edits {
            let mut at = at.index(text.len() + 1);
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            text.insert_str(at, TRIVIA[*trivia]);
        }
        check_formatting(name, &text);
    }
}
