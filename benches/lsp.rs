//! How long the language server takes to check a file after a change: `sprs::lsp::diagnostics`
//! (what `sprs lsp` runs once a file has been still for 50 ms) on a 200-line file with one
//! error, against the 50 ms an editor can wait without the user noticing; and the diagnostics
//! and the outline of a 40,000-line file (4,000 items, each an unused-item warning), against 2 s.
//! Then, for the 200-line file without its error, everything an editor asks after a change:
//! diagnostics, inlay hints, code lenses and semantic tokens.
//! Run with `cargo bench --bench lsp`.

use std::time::Instant;

fn main() {
    let mut text = String::from(
        "sprs 0.1\n\nuse std::models::llama\nuse std::data::markov\nuse std::schedules::journey\nuse std::laws::journey_law\n\n",
    );
    let mut lines = text.lines().count();
    let mut i = 0;
    while lines < 190 {
        text.push_str(&format!(
            "/// Run {i}.\ntrain run_{i} {{\n    data   = markov\n    model  = llama {{ width = {}, depth = 2 }}\n    batch  = 16\n    budget = 200 steps\n    prune  = journey {{ sparsity = {}% }}\n}}\n\n",
            16 + 16 * (i % 4),
            10 * (i % 9)
        ));
        lines += 9;
        i += 1;
    }
    text.push_str(
        "sweep grid = run_0 {\n    model.width in [16, 32]\n    batch = 0\n}\n\nfit law = journey_law { on = grid }\n",
    );
    let uri: lsp_types::Uri = "file:///tmp/bench.sprs".parse().unwrap();
    let mut times: Vec<f64> = (0..30)
        .map(|_| {
            let started = Instant::now();
            let diagnostics = sprs::lsp::diagnostics(&uri, &text);
            assert_eq!(diagnostics.len(), 1, "{diagnostics:?}");
            started.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    println!(
        "diagnostics of a {}-line file: median {:.1} ms, slowest {:.1} ms ({:.2}x the 50 ms budget)",
        text.lines().count(),
        times[times.len() / 2],
        times[times.len() - 1],
        times[times.len() / 2] / 50.0
    );

    // The same file without its error, as an editor with inlay hints, code lenses and semantic
    // tokens on asks for them after each change: the plan's figures, the late-bound fields of
    // each derived record, the lenses, the tokens.
    let valid = text.replace("    batch = 0\n", "");
    let mut times: Vec<f64> = (0..30)
        .map(|_| {
            let started = Instant::now();
            let analysis = sprs::lsp::analysis::Analysis::new(&uri, &valid, Default::default());
            assert!(analysis.plan.is_some(), "{:?}", analysis.diagnostics);
            let all = lsp_types::Range::new(lsp_types::Position::new(0, 0), lsp_types::Position::new(10_000, 0));
            let hints = sprs::lsp::hints::inlay_hints(&uri, &valid, &analysis, all);
            let lenses = sprs::lsp::hints::code_lenses(&uri, &valid, analysis.plan.as_ref());
            let tokens = sprs::lsp::tokens::tokens(std::path::Path::new("/tmp/bench.sprs"), &valid);
            assert!(hints.len() > 20 && lenses.len() > 20 && tokens.len() > 100);
            started.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    println!(
        "diagnostics, inlay hints, code lenses and semantic tokens of the file without its error: median {:.1} ms, slowest {:.1} ms ({:.2}x the 50 ms budget)",
        times[times.len() / 2],
        times[times.len() - 1],
        times[times.len() / 2] / 50.0
    );

    let long = long_file(4000);
    let started = Instant::now();
    let diagnostics = sprs::lsp::diagnostics(&uri, &long);
    let checked = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let symbols = sprs::lsp::symbols(&long);
    let outlined = started.elapsed().as_secs_f64();
    assert_eq!((diagnostics.len(), symbols.len()), (4000, 4001));
    println!(
        "a {}-line file: diagnostics {checked:.2} s, outline {outlined:.3} s ({:.2}x the 2 s budget)",
        long.lines().count(),
        (checked + outlined) / 2.0
    );
}

/// `items` unused schedules of ten lines each, and a trial.
fn long_file(items: usize) -> String {
    let trial = "use std::models::llama\nuse std::data::markov\ntrain t { data = markov, model = llama { width = 16, depth = 1 }, budget = 10 steps }\n";
    trial.to_string()
        + &(0..items)
        .map(|i| {
            format!(
                "/// Schedule {i}.\nschedule s{i} {{\n    method   = magnitude\n    sparsity = 50%\n    start    = 25%\n    end      = 75%\n    every    = 10 steps\n    curve    = cubic\n}}\n\n"
            )
        })
        .collect::<String>()
}
