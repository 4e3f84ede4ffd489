//! Golden diagnostics: every `tests/ui/**/*.sprs` states on its first line the codes it must
//! produce (`// expect: E0201, W0001`, or `// expect: ok`); the test checks and plans the file,
//! asserts exactly those codes, and snapshots the rendered report (no colour, width 100) with insta.
//! Files under `run/` are planned with a machine's memory, as `sprs run` plans them, and files
//! under `plan/without_data/` without their missing data files, as `sprs plan` plans them.

use std::collections::BTreeSet;
use std::path::Path;

use sprs::diagnostic::Renderer;
use sprs::plan::plan_source;

fn expected_codes(text: &str, path: &Path) -> BTreeSet<String> {
    let first = text.lines().next().unwrap_or_default();
    let list = first
        .strip_prefix("// expect:")
        .unwrap_or_else(|| panic!("{} must start with `// expect: CODES` or `// expect: ok`", path.display()))
        .trim();
    if list == "ok" {
        return BTreeSet::new();
    }
    list.split(',').map(|c| c.trim().to_string()).collect()
}

#[test]
fn ui() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    insta::glob!("ui/**/*.sprs", |path| {
        let text = std::fs::read_to_string(path).unwrap();
        let relative = path.strip_prefix(root).unwrap();
        // Files under `run/` are planned as `sprs run` plans them, on a machine of 8 GiB; files
        // under `plan/without_data/` as `sprs plan` does, without their missing data files.
        let output = if relative.starts_with("tests/ui/run") {
            let mut options = sprs::check::Options::new(relative);
            options.limits.memory = Some(8 << 30);
            sprs::plan::plan_source_with(relative, text.clone(), &options)
        } else if relative.starts_with("tests/ui/plan/without_data") {
            let options = sprs::check::Options { require_data: false, ..sprs::check::Options::new(relative) };
            sprs::plan::plan_source_with(relative, text.clone(), &options)
        } else {
            plan_source(relative, text.clone())
        };
        let renderer = Renderer { sources: &output.sources, color: false, width: 100 };
        let mut diagnostics = output.diagnostics;
        // Files under `fitting/` also run their fits, on CSV data or on results that do not exist.
        if let (Some(checked), Some(plan)) = (&output.checked, &output.plan) {
            if relative.starts_with("tests/ui/fitting") {
                let store = sprs::store::Store::new(Some(Path::new("target/no-results")), relative).unwrap();
                sprs::fit::run_fits(&checked.fits, plan, &store, &output.access, &mut diagnostics);
            }
        }
        let found: BTreeSet<String> = diagnostics.iter().map(|d| d.code()).collect();
        assert_eq!(found, expected_codes(&text, path), "codes of {}", relative.display());
        let mut report = String::new();
        for diag in &diagnostics {
            report.push_str(&renderer.short(diag));
            report.push('\n');
            report.push_str(&renderer.human(diag));
            report.push('\n');
        }
        if let (Some(checked), Some(plan)) = (&output.checked, &output.plan) {
            report.push_str(&format!("ok: {} trials, {} fits\n", plan.trials.len(), checked.fits.len()));
            for trial in &plan.trials {
                report.push_str(&format!("  {}: {} steps\n", trial.name, trial.steps));
            }
        }
        insta::assert_snapshot!(report);
    });
}

/// Codes by phase (docs/errors.md): each file of diagnostics defines only its phase's families,
/// and the docs name every family in use.
#[test]
fn codes_belong_to_their_phase() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let families: &[(&str, &[&str])] = &[
        ("src/syntax/error.rs", &["E00"]),
        ("src/check/error.rs", &["E01", "E02", "E03", "E05", "W00"]),
        ("src/plan/error.rs", &["E03", "E04", "W00"]),
        ("src/fit/error.rs", &["E06", "W00"]),
        ("src/data/tokenize.rs", &["E07"]),
        ("src/launch/slurm.rs", &["E08"]),
        ("src/trained/error.rs", &["E09"]),
    ];
    let docs = std::fs::read_to_string(root.join("docs/errors.md")).unwrap();
    for (file, allowed) in families {
        let source = std::fs::read_to_string(root.join(file)).unwrap();
        for (i, _) in source.match_indices("code(sprs::") {
            let code = &source[i + 11..i + 16];
            assert!(allowed.iter().any(|f| code.starts_with(f)), "{code} in {file}");
            if code.starts_with('E') {
                assert!(docs.contains(&format!("`{}xx`", &code[..3])), "docs/errors.md does not name {}xx", &code[..3]);
            }
            // Codes outside `.sprs` files (tokenize, submit) have no ui case: their tests name them.
            assert!(docs.contains(&format!("`{code}`")), "docs/errors.md does not describe {code}");
        }
    }
}

#[test]
fn every_code_has_a_ui_case_and_a_line_in_the_docs() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let source: String = ["src/syntax/error.rs", "src/check/error.rs", "src/plan/error.rs", "src/fit/error.rs"]
        .iter()
        .map(|file| std::fs::read_to_string(root.join(file)).unwrap())
        .collect();
    let codes: BTreeSet<String> =
        source.match_indices("code(sprs::").map(|(i, _)| source[i + 11..i + 16].to_string()).collect();
    assert!(codes.len() >= 30, "found only {} codes", codes.len());
    let mut covered = BTreeSet::new();
    let mut cases = 0;
    for entry in sprs::check::sprs_files(&root.join("tests/ui")).unwrap() {
        let text = std::fs::read_to_string(&entry).unwrap();
        covered.extend(expected_codes(&text, &entry));
        cases += 1;
    }
    assert!(cases >= 40, "only {cases} ui cases");
    let docs = std::fs::read_to_string(root.join("docs/errors.md")).unwrap();
    // An internal error is what no input can produce: it has a line in the docs and no case.
    const INTERNAL: &[&str] = &["E0219"];
    // Warnings about what is on disk beside a file, not in it: the tests that make that disk name
    // them (W0008: tests/fit.rs, a fit over results from two backends).
    const ON_DISK: &[&str] = &["W0008"];
    for code in &codes {
        let elsewhere = INTERNAL.contains(&code.as_str()) || ON_DISK.contains(&code.as_str());
        assert!(covered.contains(code) || elsewhere, "no tests/ui case expects {code}");
        assert!(docs.contains(&format!("`{code}`")), "docs/errors.md does not describe {code}");
    }
}
