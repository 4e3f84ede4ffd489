//! Planning a 10,000-trial sweep against the 1 s budget of the planner issue, and one trial with
//! the longest schedules a plan allows. Run with `cargo bench --bench plan`.
//!
//! The sweep crosses 25 widths, 5 schedules (dense and journey at 4 sparsities, updated every
//! 2% of training, whose `of compute` boundaries are solved as fixed points), 20 budgets and 4
//! seeds. Prints the
//! median time to check and expand it, to plan it, and the total's ratio to the budget. The long
//! schedule is `journey` updating every step of a 999,999-step run (about 480,000 updates, and
//! a dozen fixed-point rounds), the case of a small file that made `sprs check` slow; its time
//! is printed against the same budget.

use std::path::Path;
use std::time::{Duration, Instant};

const BUDGET: Duration = Duration::from_secs(1);
const ROUNDS: usize = 5;

fn sweep() -> String {
    let widths: Vec<String> = (1..=25).map(|i| (16 * i).to_string()).collect();
    let budgets: Vec<String> = (1..=20).map(|i| i.to_string()).collect();
    format!(
        "use std::models::llama\nuse std::data::shakespeare\nuse std::schedules::journey\n\
         train base {{ data = shakespeare {{ context = 64 }}, model = llama {{ width = 64, depth = 2 }}, batch = 16, budget = 20 tokens/param }}\n\
         schedule gradual = journey {{ every = 2% }}\n\
         sweep big = base {{\n  model.width in [{}]\n  prune in [dense, gradual {{ sparsity = 20% }}, gradual {{ sparsity = 40% }}, gradual {{ sparsity = 60% }}, gradual {{ sparsity = 80% }}]\n  budget in [{}] tokens/param\n  seed in [1, 2, 3, 4]\n}}\n",
        widths.join(", "),
        budgets.join(", ")
    )
}

fn main() {
    let text = sweep();
    let path = Path::new("sweep.sprs");
    let mut check_times = Vec::new();
    let mut plan_times = Vec::new();
    let mut trials = 0;
    for _ in 0..ROUNDS {
        let start = Instant::now();
        let output = sprs::check::check_source(path, text.clone());
        let checked = output.checked.expect("the sweep checks");
        check_times.push(start.elapsed());
        let start = Instant::now();
        let (plan, diagnostics) = sprs::plan::plan(&checked, &output.access, None);
        plan_times.push(start.elapsed());
        // Warnings only (the largest models see their data more than once).
        let errors: Vec<String> = diagnostics.iter().filter(|d| d.is_error()).map(|d| d.error.to_string()).collect();
        assert!(errors.is_empty(), "{errors:?}");
        trials = plan.trials.len();
    }
    let median = |mut v: Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let (check, plan) = (median(check_times), median(plan_times));
    println!(
        "plan, {trials} trials: check and expand {:.0} ms, plan {:.0} ms (medians of {ROUNDS})",
        check.as_secs_f64() * 1e3,
        plan.as_secs_f64() * 1e3
    );
    println!(
        "plan, {trials} trials: total {:.0} ms, {:.3}x the {} s budget",
        (check + plan).as_secs_f64() * 1e3,
        (check + plan).as_secs_f64() / BUDGET.as_secs_f64(),
        BUDGET.as_secs()
    );
    let long = "use std::models::llama\nuse std::data::shakespeare\nuse std::schedules::journey\n\
        train t { data = shakespeare { context = 8 }, model = llama { width = 16, depth = 1 }, batch = 1, budget = 999999 steps, prune = journey { every = 1 steps, sparsity = 50% } }\n";
    let mut times = Vec::new();
    let mut updates = 0;
    for _ in 0..ROUNDS {
        let start = Instant::now();
        let output = sprs::plan::plan_source(path, long.into());
        times.push(start.elapsed());
        updates = output.plan.expect("the long schedule plans").trials[0].prune.updates.len();
    }
    let long = median(times);
    println!(
        "plan, one trial of {updates} mask updates: {:.0} ms, {:.3}x the {} s budget",
        long.as_secs_f64() * 1e3,
        long.as_secs_f64() / BUDGET.as_secs_f64(),
        BUDGET.as_secs()
    );
}
