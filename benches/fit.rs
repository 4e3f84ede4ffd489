//! The 4500-start Chinchilla fit on Epoch AI's 240 points (the fit issue's benchmark), against
//! scipy. Run with `cargo bench --bench fit`.
//!
//! scipy's L-BFGS-B with an analytic gradient (`benches/reference_fit.py`, as Epoch AI fit it)
//! runs on every 10th start of the same grid (450 starts; all 4500 take minutes); its time per
//! start times 4500 is the reference. The python is `$SPRS_PYTHON`, else `.venv-torch/bin/python`
//! (with `pip install scipy numpy`), else `python3`; without scipy the ratio is left out.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use sprs::plan::plan_source;
use sprs::store::Store;

const ROUNDS: usize = 3;
const FIT: &str = "use std::laws::chinchilla\nfit epoch = chinchilla {\n  on = csv(\"tests/fixtures/chinchilla_epoch_svg.csv\", columns = { N = \"Model Size\", C = \"Training FLOP\", L = \"loss\", D = C / (6 * N) }) where L < 3.44\n}\n";

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let output = plan_source(&root.join("bench.sprs"), FIT.into());
    let (checked, plan) = (output.checked.expect("checks"), output.plan.expect("plans"));
    let spec = &checked.fits[0];
    let store = Store::new(Some(&root.join("target/bench-runs")), Path::new("bench.sprs")).expect("a results folder");
    let points = sprs::fit::data::load(spec, &plan, &store, &output.access, &mut Vec::new()).expect("points");
    let mut times = Vec::new();
    let mut fitted = None;
    for _ in 0..ROUNDS {
        let started = Instant::now();
        fitted = Some(sprs::fit::fit(spec, &points).expect("fits"));
        times.push(started.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    let (seconds, fitted) = (times[ROUNDS / 2], fitted.expect("rounds > 0"));
    let threads = rayon::current_num_threads();
    println!(
        "sprs:  {} starts on {} points in {seconds:.2} s (median of {ROUNDS}, {threads} threads), objective {:.7}",
        fitted.starts, fitted.points, fitted.objective
    );
    let reference = Command::new(common::python("SPRS_PYTHON"))
        .arg(root.join("benches/reference_fit.py"))
        .arg(root.join("tests/fixtures/chinchilla_epoch_svg.csv"))
        .args(["--every", "10"])
        .output();
    let json = reference.ok().and_then(|o| serde_json::from_slice::<serde_json::Value>(&o.stdout).ok());
    match json {
        Some(json) => {
            let (starts, taken) = (json["starts"].as_f64().unwrap_or(1.0), json["seconds"].as_f64().unwrap_or(0.0));
            let full = taken / starts * fitted.starts as f64;
            println!(
                "scipy: {starts} starts in {taken:.1} s, so {full:.0} s for {} (one thread), objective {:.7} on its starts",
                fitted.starts, json["objective"]
            );
            println!("sprs is {:.0}x faster ({:.0}x per thread)", full / seconds, full / seconds / threads as f64);
        }
        None => println!("scipy: left out (no python with scipy and numpy)"),
    }
}
