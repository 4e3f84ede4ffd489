//! The observables: what a trial is measured by, named in laws and conditions, planned by
//! [`crate::plan`], recorded by [`crate::store`], fitted by [`crate::fit`] and reported by
//! [`crate::report`]. Each is named, documented and read here, and nowhere else.

use serde::{Deserialize, Serialize};

/// One observable, as a law, a `where` condition, `result.json` and `results.csv` name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Observable {
    /// Counted parameters at initialisation (the dense size).
    N,
    /// Counted parameters that are non-zero at the end.
    NFinal,
    /// Mean over training steps of the counted non-zero parameters (the paper's count).
    NAvg,
    /// Final sparsity of the prunable weights.
    S,
    /// Training tokens.
    D,
    /// Training compute, sparse-aware.
    C,
    /// Training compute had the model stayed dense.
    CDense,
    /// Final held-out loss.
    L,
}

impl Observable {
    /// Every observable, in the order tables and `results.csv` show them.
    pub const ALL: [Observable; 8] = [
        Observable::N,
        Observable::NFinal,
        Observable::NAvg,
        Observable::S,
        Observable::D,
        Observable::C,
        Observable::CDense,
        Observable::L,
    ];

    /// The three parameter counts a law may be written in: dense, averaged, final.
    pub const COUNTS: [Observable; 3] = [Observable::N, Observable::NAvg, Observable::NFinal];

    /// Its name: `N`, `N_final`, `N_avg`, `S`, `D`, `C`, `C_dense`, `L`.
    pub const fn name(self) -> &'static str {
        match self {
            Observable::N => "N",
            Observable::NFinal => "N_final",
            Observable::NAvg => "N_avg",
            Observable::S => "S",
            Observable::D => "D",
            Observable::C => "C",
            Observable::CDense => "C_dense",
            Observable::L => "L",
        }
    }

    /// What it measures, as `docs/reference.md` and the checker's help say it.
    pub const fn doc(self) -> &'static str {
        match self {
            Observable::N => "counted parameters at initialisation (the dense size)",
            Observable::NFinal => "counted parameters that are non-zero at the end",
            Observable::NAvg => "mean over training steps of the counted non-zero parameters",
            Observable::S => "final sparsity of the prunable weights",
            Observable::D => "training tokens",
            Observable::C => "training compute: 6 * sum over steps of non-zero parameters * tokens per step",
            Observable::CDense => "6 * N * D",
            Observable::L => "final evaluation loss (nats per token) on the held-out split",
        }
    }

    /// The observable called `name`.
    pub fn parse(name: &str) -> Option<Observable> {
        Observable::ALL.into_iter().find(|o| o.name() == name)
    }

    /// Whether it is one of the parameter counts ([`Observable::COUNTS`]).
    pub fn is_count(self) -> bool {
        Observable::COUNTS.contains(&self)
    }
}

impl std::fmt::Display for Observable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What a trial's shape, schedule and budget determine before it trains: every observable but
/// the loss. The plan computes them, a result records them, and a fit reads them.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Observables {
    /// Counted parameters at initialisation.
    #[serde(rename = "N")]
    pub n: u64,
    /// Counted non-zero parameters at the end.
    #[serde(rename = "N_final")]
    pub n_final: u64,
    /// Mean over steps of the counted non-zero parameters.
    #[serde(rename = "N_avg")]
    pub n_avg: f64,
    /// Final sparsity of the prunable weights.
    #[serde(rename = "S")]
    pub s: f64,
    /// Training tokens.
    #[serde(rename = "D")]
    pub d: u64,
    /// 6 * sum over steps of non-zero counted parameters * tokens per step.
    #[serde(rename = "C")]
    pub c: f64,
    /// 6 * N * D.
    #[serde(rename = "C_dense")]
    pub c_dense: f64,
}

impl Observables {
    /// The value of `observable`; `None` for the loss, which training measures.
    pub fn get(&self, observable: Observable) -> Option<f64> {
        Some(match observable {
            Observable::N => self.n as f64,
            Observable::NFinal => self.n_final as f64,
            Observable::NAvg => self.n_avg,
            Observable::S => self.s,
            Observable::D => self.d as f64,
            Observable::C => self.c,
            Observable::CDense => self.c_dense,
            Observable::L => return None,
        })
    }

    /// The value of `observable` as `results.csv` writes it (counts as integers); empty for the
    /// loss.
    pub fn cell(&self, observable: Observable) -> String {
        match observable {
            Observable::N => self.n.to_string(),
            Observable::NFinal => self.n_final.to_string(),
            Observable::D => self.d.to_string(),
            Observable::L => String::new(),
            other => self.get(other).map(|v| v.to_string()).unwrap_or_default(),
        }
    }
}

/// The FLOPs of training `params` non-zero parameters on `tokens` tokens: 6 per parameter per
/// token, 2 for the forward pass and 4 for the backward (Kaplan et al. 2020; Hoffmann et al.
/// 2022). Every compute figure of sprs (C, C_dense, budgets in FLOPs, the MFU) is this.
pub fn training_flops(params: f64, tokens: f64) -> f64 {
    6.0 * params * tokens
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_observable_is_found_by_its_name() {
        for o in Observable::ALL {
            assert_eq!(Observable::parse(o.name()), Some(o));
        }
        assert_eq!(Observable::parse("n_avg"), None);
        let names: Vec<&str> = Observable::ALL.iter().map(|o| o.name()).collect();
        assert_eq!(names, ["N", "N_final", "N_avg", "S", "D", "C", "C_dense", "L"]);
    }

    #[test]
    fn observables_keep_their_json_names() {
        let o = Observables { n: 10, n_final: 4, n_avg: 7.5, s: 0.6, d: 100, c: 4500.0, c_dense: 6000.0 };
        let json = serde_json::to_string(&o).unwrap();
        assert_eq!(json, r#"{"N":10,"N_final":4,"N_avg":7.5,"S":0.6,"D":100,"C":4500.0,"C_dense":6000.0}"#);
        assert_eq!(o.get(Observable::CDense), Some(training_flops(10.0, 100.0)));
        assert_eq!(o.cell(Observable::N), "10");
        assert_eq!(o.cell(Observable::NAvg), "7.5");
    }
}
