//! The checker's behaviour on whole files: what trials a file means, their ids, late binding,
//! units, imports, and that every shipped file (stdlib and experiments) checks cleanly.

use std::path::Path;

use sprs::check::{check_source, check_std, stdlib, CheckOutput, Trial};
use sprs::config::{Basis, Budget, Point, Tokenizer, TrialConfig};
use sprs::diagnostic::Renderer;

fn report(output: &CheckOutput) -> String {
    let renderer = Renderer { sources: &output.sources, color: false, width: 100 };
    output.diagnostics.iter().map(|d| renderer.short(d)).collect::<Vec<_>>().join("\n")
}

/// Checks `text` as a file in `dir` and returns its trials, failing on any diagnostic.
fn trials_in(dir: &Path, text: &str) -> Vec<Trial> {
    let output = check_source(&dir.join("main.sprs"), text.to_string());
    assert!(output.diagnostics.is_empty(), "unexpected diagnostics:\n{}", report(&output));
    output.checked.expect("no errors").trials
}

fn trials(text: &str) -> Vec<Trial> {
    trials_in(Path::new("."), text)
}

const HEADER: &str = "use std::models::llama\nuse std::data::shakespeare\n";

#[test]
fn every_stdlib_module_checks_cleanly() {
    for (module, _) in stdlib::MODULES {
        let output = check_std(module).unwrap();
        assert!(output.diagnostics.is_empty(), "std::{module}:\n{}", report(&output));
    }
}

/// The same files checked as a user checks a library of their own: by path, with no trial that
/// uses their records and fits without data (templates), and nothing reported unused.
#[test]
fn every_stdlib_file_checks_cleanly_on_its_own() {
    let files = sprs::check::sprs_files(&Path::new(env!("CARGO_MANIFEST_DIR")).join("stdlib")).unwrap();
    assert_eq!(files.len(), stdlib::MODULES.len());
    for path in files {
        let output = sprs::check::check_file(&path).unwrap();
        assert!(output.diagnostics.is_empty(), "{}:\n{}", path.display(), report(&output));
    }
}

#[test]
fn every_experiment_checks_cleanly() {
    let files = sprs::check::sprs_files(&Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments")).unwrap();
    assert!(!files.is_empty());
    // The paper's files need C4 token files that are not shipped: tests/plan.rs checks them with
    // stand-in token files.
    for path in files.into_iter().filter(|p| !p.components().any(|c| c.as_os_str() == "paper")) {
        let output = sprs::check::check_file(&path).unwrap();
        assert!(output.diagnostics.is_empty(), "{}:\n{}", path.display(), report(&output));
        let checked = output.checked.unwrap();
        assert!(!checked.trials.is_empty() || !checked.fits.is_empty(), "{} means nothing", path.display());
    }
}

#[test]
fn overriding_width_moves_every_field_that_reads_it() {
    // std::models::llama has heads = self.width / 16 and mlp = 4 * self.width.
    let text = format!(
        "{HEADER}train base {{ data = shakespeare, model = llama {{ width = 64, depth = 2 }}, budget = 1M tokens }}\n\
         sweep s = base {{ model.width in [32, 96] }}\n"
    );
    let trials = trials(&text);
    let shapes: Vec<(u64, u64, u64)> =
        trials.iter().map(|t| (t.config.model.width, t.config.model.heads, t.config.model.mlp)).collect();
    assert_eq!(shapes, [(32, 32 / 16, 4 * 32), (96, 96 / 16, 4 * 96)]);
}

#[test]
fn self_is_bound_to_the_final_record_not_the_template() {
    let text = format!(
        "{HEADER}model base_m = llama {{ width = 128, depth = 2, heads = self.width / 32, mlp = 3 * self.width }}\n\
         train t {{ data = shakespeare, model = base_m {{ width = 256 }}, budget = 1M tokens }}\n"
    );
    let model = &trials(&text)[0].config.model;
    assert_eq!((model.width, model.heads, model.mlp), (256, 256 / 32, 3 * 256));
}

#[test]
fn axes_expand_in_written_order_with_the_first_axis_slowest() {
    let text = format!(
        "{HEADER}train base {{ data = shakespeare, model = llama {{ width = 64, depth = 2 }}, budget = 1M tokens }}\n\
         sweep s = base {{\n  model.width in [32, 64]\n  seed in [1, 2, 3]\n}}\n"
    );
    let got: Vec<(u64, u64)> = trials(&text).iter().map(|t| (t.config.model.width, t.config.seed)).collect();
    assert_eq!(got, [(32, 1), (32, 2), (32, 3), (64, 1), (64, 2), (64, 3)]);
}

#[test]
fn tuple_axes_vary_fields_together() {
    let text = format!(
        "{HEADER}train base {{ data = shakespeare, model = llama {{ width = 64, depth = 2 }}, budget = 1M tokens }}\n\
         sweep s = base {{ (model.width, model.depth) in [(64, 2), (128, 4)] }}\n"
    );
    let got: Vec<(u64, u64)> = trials(&text).iter().map(|t| (t.config.model.width, t.config.model.depth)).collect();
    assert_eq!(got, [(64, 2), (128, 4)]);
}

#[test]
fn a_sweep_base_is_a_template_and_other_trains_are_trials() {
    let text = format!(
        "{HEADER}train base {{ data = shakespeare, model = llama {{ width = 64, depth = 2 }}, budget = 1M tokens }}\n\
         train other = base {{ seed = 9 }}\n\
         sweep s = base {{ seed in [1, 2] }}\n"
    );
    let names: Vec<String> = trials(&text).iter().map(|t| t.name.clone()).collect();
    assert_eq!(names, ["other", "s[seed=1]", "s[seed=2]"]);
}

#[test]
fn ids_ignore_formatting_comments_field_order_and_file_name() {
    let a = format!("{HEADER}train t {{ data = shakespeare, model = llama {{ width = 64, depth = 2 }}, budget = 20 tokens/param, seed = 3 }}\n");
    let b = format!(
        "// the same run, written differently\n{HEADER}\ntrain t {{\n    seed   = 3     /* first */\n    budget = 20 tokens/param\n    model  = llama {{ depth = 2, width = 2 * 32 }}\n    data   = shakespeare\n}}\n"
    );
    let id_a = trials_in(Path::new("one"), &a)[0].id.clone();
    let id_b = trials_in(Path::new("two/three"), &b)[0].id.clone();
    assert_eq!(id_a, id_b);
    let c = a.replace("seed = 3", "seed = 4");
    assert_ne!(trials(&c)[0].id, id_a);
}

#[test]
fn percent_and_suffixes_give_the_same_floats_as_decimals() {
    let text = |holdout: &str, budget: &str| {
        format!("{HEADER}train t {{ data = shakespeare {{ holdout = {holdout} }}, model = llama {{ width = 64, depth = 2 }}, budget = {budget} }}\n")
    };
    let a = &trials(&text("7%", "1.5M tokens"))[0];
    let b = &trials(&text("0.07", "1500000 tokens"))[0];
    assert_eq!(a.config.data.holdout, 0.07);
    assert_eq!(a.config.budget, Budget::Tokens(1.5e6));
    assert_eq!(a.id, b.id);
}

#[test]
fn units_flow_through_lists_and_arithmetic() {
    let text = format!(
        "{HEADER}let ratio = 2B tokens / 100M params\n\
         train base {{ data = shakespeare, model = llama {{ width = 64, depth = 2 }}, budget = ratio }}\n\
         sweep s = base {{ budget in [10, 20] tokens/param }}\n\
         train flops_run = base {{ budget = 6 * 1e15 flops }}\n"
    );
    let budgets: Vec<Budget> = trials(&text).iter().map(|t| t.config.budget).collect();
    // Trials come in file order: the sweep, then `flops_run`.
    assert_eq!(budgets, [Budget::TokensPerParam(10.0), Budget::TokensPerParam(20.0), Budget::Flops(6e15)]);
    let only = format!("{HEADER}let ratio = 2B tokens / 100M params\ntrain t {{ data = shakespeare, model = llama {{ width = 64, depth = 2 }}, budget = ratio }}\n");
    assert_eq!(trials(&only)[0].config.budget, Budget::TokensPerParam(20.0));
}

#[test]
fn schedule_points_keep_their_basis() {
    let text = format!(
        "{HEADER}use std::schedules::journey\n\
         train t {{ data = shakespeare, model = llama {{ width = 64, depth = 2 }}, prune = journey {{ sparsity = 80%, end = 5000 steps }}, budget = 1M tokens }}\n"
    );
    let prune = &trials(&text)[0].config.prune;
    assert_eq!(prune.start, Point::Fraction { value: 0.25, of: Basis::Compute });
    assert_eq!(prune.end, Point::Steps(5000));
    assert_eq!(prune.sparsity, 0.8);
}

#[test]
fn model_vocab_and_context_default_to_the_data() {
    let text = format!(
        "{HEADER}train t {{ data = shakespeare {{ tokenizer = bpe {{ vocab = 2048 }}, context = 64 }}, model = llama {{ width = 64, depth = 2 }}, budget = 1M tokens }}\n"
    );
    let config: TrialConfig = trials(&text)[0].config.clone();
    assert_eq!(config.data.tokenizer, Tokenizer::Bpe { vocab: 2048 });
    assert_eq!((config.model.vocab, config.model.context), (2048, 64));
}

#[test]
fn imported_files_resolve_paths_relative_to_themselves() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("lib/corpus")).unwrap();
    std::fs::write(dir.path().join("lib/corpus/plays.txt"), "to be or not to be").unwrap();
    std::fs::write(
        dir.path().join("lib/common.sprs"),
        "/// Plays from a file next to this library.\ndata plays { source = text(\"corpus/plays.txt\") }\n",
    )
    .unwrap();
    let main = "use std::models::llama\nuse \"lib/common.sprs\"::{plays}\n\
                train t { data = plays, model = llama { width = 64, depth = 2 }, budget = 1k tokens }\n";
    let trials = trials_in(dir.path(), main);
    let sprs::config::Source::Text { paths } = &trials[0].config.data.source else { panic!("text source") };
    assert_eq!(paths, &["lib/corpus/plays.txt".to_string()]);
}

#[test]
fn fits_keep_their_law_params_and_filters() {
    let text = format!(
        "{HEADER}use std::laws::journey_law\n\
         train base {{ data = shakespeare, model = llama {{ width = 64, depth = 2 }}, budget = 1M tokens }}\n\
         sweep s = base {{ model.width in [32, 64] }}\n\
         fit f = journey_law {{ on = s where model.width > 32, holdout = largest(C, 1), bootstrap = 50 }}\n"
    );
    let output = check_source(Path::new("main.sprs"), text);
    assert!(output.diagnostics.is_empty(), "{}", report(&output));
    let fit = &output.checked.unwrap().fits[0];
    assert_eq!(fit.law_text, "E + A / N_avg^alpha + B / D^beta");
    let names: Vec<&str> = fit.params.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["E", "A", "B", "alpha", "beta"]);
    // Chinchilla's grid: 5 * 6 * 6 * 5 * 5 = 4500 starts, with E, A and B in log space.
    assert_eq!(fit.params.iter().map(|p| p.starts.len()).product::<usize>(), 4500);
    assert_eq!(fit.params.iter().filter(|p| p.log).count(), 3);
    assert_eq!(fit.bootstrap, 50);
    assert!(matches!(&fit.sources[0], sprs::check::FitSource::Trials { item, filter: Some(_), .. } if item == "s"));
    let holdout = fit.holdout.as_ref().unwrap();
    assert_eq!((holdout.observable.name(), holdout.count, holdout.largest), ("C", 1, true));
}

#[test]
fn explain_prints_every_resolved_field() {
    let explanation = sprs::check::explain("std::schedules::journey", None).unwrap();
    assert_eq!(explanation.home, "std::schedules");
    for line in
        ["start    = 25% of compute", "end      = 75% of compute", "curve    = geometric", "every    = 100 steps"]
    {
        assert!(explanation.text.contains(line), "missing `{line}` in\n{}", explanation.text);
    }
    assert!(sprs::check::explain("no_such_thing", None).is_err());
}

/// What `explain` prints is sprs that means the same value: a tuple of one keeps its comma.
#[test]
fn explain_prints_values_that_read_back_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.sprs");
    let text = "sprs 0.1\n\nlet one = (5,)\nlet two = (1, 2)\nlet list = [(3,)]\n";
    let options = sprs::check::Options::new(&path);
    for (name, shown) in [("one", "let one = (5,)"), ("two", "let two = (1, 2)"), ("list", "let list = [(3,)]")] {
        let explanation = sprs::check::explain_source(name, Some((&path, text.to_string(), &options))).unwrap();
        assert_eq!(explanation.text.trim_end(), shown);
    }
}

#[test]
fn every_stdlib_item_is_documented() {
    for (module, text) in stdlib::MODULES {
        let file = sprs::syntax::parse(text).unwrap();
        for item in &file.items {
            let name = item.name().map(|n| n.node.clone()).unwrap_or_default();
            assert!(!item.docs.is_empty(), "std::{module}::{name} has no `///` docs");
        }
    }
}

#[test]
fn importing_a_prelude_name_is_allowed() {
    let text = format!(
        "{HEADER}use std::optimizers::adamw\nuse std::schedules::dense\n\
         train t {{ data = shakespeare, model = llama {{ width = 64, depth = 2 }}, prune = dense, optimizer = adamw {{ lr = 1e-3 }}, budget = 1M tokens }}\n"
    );
    assert_eq!(trials(&text)[0].config.optimizer.lr, 1e-3);
}

#[test]
fn reference_is_up_to_date() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/reference.md");
    let generated = sprs::check::reference();
    if std::env::var_os("SPRS_BLESS").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/reference.md is stale: run `SPRS_BLESS=1 cargo test --test integration check::reference`"
    );
}

/// The id of every trial in every shipped file, pinned in `tests/fixtures/trial_ids.txt`: an id
/// names a trial's results on disk, so a change to how the checker builds a configuration must
/// not change one. (`SPRS_BLESS=1` rewrites the file, for a deliberate change of the language.)
#[test]
fn every_shipped_trial_keeps_its_id() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut lines = Vec::new();
    for path in sprs::check::sprs_files(&root.join("experiments")).unwrap() {
        let options = sprs::check::Options { require_data: false, ..sprs::check::Options::new(&path) };
        let output = sprs::check::check_file_with(&path, &options).unwrap();
        let name = path.strip_prefix(root).unwrap().display().to_string();
        let Some(checked) = &output.checked else { panic!("{name}:\n{}", report(&output)) };
        for trial in &checked.trials {
            lines.push(format!("{name} {} {}", trial.id, trial.name));
        }
    }
    let actual = lines.join("\n") + "\n";
    let pinned = root.join("tests/fixtures/trial_ids.txt");
    if std::env::var_os("SPRS_BLESS").is_some() {
        std::fs::write(&pinned, &actual).unwrap();
    }
    let expected = std::fs::read_to_string(&pinned).unwrap();
    assert!(lines.len() > 100, "only {} trials", lines.len());
    for (got, want) in actual.lines().zip(expected.lines()) {
        assert_eq!(got, want);
    }
    assert_eq!(actual.lines().count(), expected.lines().count());
}

/// A dotted override of a field that the base record's own derivation already patched (here
/// `source.tokens` inside `markov { .. }`) applies after it, in a record or from `--set`: it is
/// not a field set twice (E0112 was reported, at a span of the wrong file).
#[test]
fn a_dotted_override_applies_after_the_patches_of_its_base() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("main.sprs");
    let file = |data: &str, extra: &str| {
        format!(
            "use std::models::llama\nuse std::data::markov\ntrain t {{\n    data = {data}\n{extra}    model = llama {{ width = 32, depth = 1, heads = 2, mlp = 64 }}\n    budget = 40 steps\n}}\n"
        )
    };
    let trial = |text: String, set: &[&str]| {
        std::fs::write(&path, text).unwrap();
        let options = sprs::check::Options {
            set: set.iter().map(|s| s.to_string()).collect(),
            ..sprs::check::Options::new(&path)
        };
        let output = sprs::check::check_file_with(&path, &options).unwrap();
        assert!(!output.has_errors(), "{}", report(&output));
        output.checked.unwrap().trials.remove(0)
    };
    let written = trial(file("markov { source.tokens = 50k }", ""), &[]);
    let set = trial(file("markov { source.tokens = 30k }", ""), &["data.source.tokens = 50k"]);
    let in_record = trial(file("markov { source.tokens = 30k }", "    data.source.tokens = 50k\n"), &[]);
    let sprs::config::Source::Synthetic(synthetic) = &written.config.data.source else { panic!() };
    assert_eq!(synthetic.tokens, 50_000);
    assert_eq!(set.id, written.id);
    assert_eq!(in_record.id, written.id);
}

/// Every quick fix does what it says: applied to the file, its diagnostic is gone and no error
/// takes its place (the expected text is written out, not taken from the fix).
#[test]
fn each_fix_resolves_its_diagnostic() {
    let base = "sprs 0.1\n\nuse std::models::llama\n\ntrain t {\n    data   = markov\n    model  = llama { width = 64, depth = 2 }\n    budget = 100 steps\n}\n";
    let with_use = base.replace("use std::models::llama\n", "use std::models::llama\nuse std::data::markov\n");
    #[rustfmt::skip]
    let cases: Vec<(String, &str, String)> = vec![
        // A stdlib name without its `use`: the `use` goes after the last one.
        (base.to_string(), "E0101", with_use.clone()),
        // A field, an enum word and a train field, misspelled.
        (with_use.replace("width = 64", "widht = 64"), "E0102", with_use.clone()),
        (with_use.replace("budget = 100 steps", "budget = 100 steps\n    optimizer = adamw { decay = cosin }"), "E0201",
         with_use.replace("budget = 100 steps", "budget = 100 steps\n    optimizer = adamw { decay = cosine }")),
        // A budget without a unit: the first fix is tokens/param.
        (with_use.replace("100 steps", "20"), "E0203", with_use.replace("100 steps", "20 tokens/param")),
        // A sweep axis on a misspelled path.
        (format!("{with_use}sweep s = t {{ model.widht in [32, 64] }}\n"), "E0110",
         format!("{with_use}sweep s = t {{ model.width in [32, 64] }}\n")),
        // Unused: an item (with its docs), one import of two, a whole `use`.
        (format!("{with_use}\n/// Never read.\nlet unused = 3\n"), "W0001", format!("{with_use}\n")),
        (with_use.replace("use std::data::markov", "use std::data::{markov, shakespeare}"), "W0002",
         with_use.replace("use std::data::markov", "use std::data::{markov}")),
        (with_use.replace("use std::data::markov", "use std::data::{shakespeare, markov}"), "W0002",
         with_use.replace("use std::data::markov", "use std::data::{markov}")),
        (with_use.replace("use std::data::markov\n", "use std::data::markov\nuse std::schedules::journey\n"), "W0002",
         with_use.clone()),
    ];
    for (text, code, expected) in cases {
        let output = check_source(Path::new("main.sprs"), text.clone());
        let diag = output
            .diagnostics
            .iter()
            .find(|d| d.code() == code)
            .unwrap_or_else(|| panic!("no {code} in:\n{text}\n{}", report(&output)));
        let fix = diag.fixes.first().unwrap_or_else(|| panic!("{code} has no fix:\n{}", report(&output)));
        let mut fixed = text.clone();
        fixed.replace_range(fix.span[0]..fix.span[1], &fix.text);
        assert_eq!(fixed, expected, "{code}: {}", fix.title);
        let after = check_source(Path::new("main.sprs"), fixed);
        assert!(
            after.diagnostics.iter().all(|d| d.code() != code && !d.is_error()),
            "{code} fixed:\n{}",
            report(&after)
        );
    }
}
