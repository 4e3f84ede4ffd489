//! Trials that differ only by their seed: the spread of the loss between seeds (the noise a
//! difference between two laws or two schedules must clear), and schedules compared seed by seed.
//!
//! A seed fixes the initial weights and the order of the batches, so two schedules trained with
//! the same seed share part of their noise, which cancels in the difference of their losses
//! paired by seed.

use std::collections::HashMap;

use serde_json::Value;

use crate::store::Row;

/// The trials of one configuration, one per seed, in the order of their seeds.
#[derive(Debug, Clone)]
pub struct Group<'a> {
    /// The trials, each with its seed.
    pub runs: Vec<(u64, &'a Row)>,
}

impl<'a> Group<'a> {
    /// The first trial's name without its seed: `grid[model.width=32, budget=16 tokens/param]`.
    pub fn label(&self) -> String {
        without_seed(&self.runs[0].1.name)
    }

    /// The configuration, from the first trial.
    pub fn config(&self) -> &'a Value {
        &self.runs[0].1.config
    }

    /// The final losses, in the order of the seeds.
    pub fn losses(&self) -> Vec<f64> {
        self.runs.iter().filter_map(|(_, row)| row.result.l).collect()
    }

    /// The mean final loss.
    pub fn mean(&self) -> f64 {
        mean(&self.losses())
    }

    /// The sample standard deviation of the final loss between seeds (`None` for one seed).
    pub fn spread(&self) -> Option<f64> {
        sample_sd(&self.losses())
    }

    /// The mean absolute deviation of the final loss from its mean (`None` for one seed).
    pub fn mad(&self) -> Option<f64> {
        let losses = self.losses();
        (losses.len() >= 2).then(|| {
            let m = mean(&losses);
            mean(&losses.iter().map(|l| (l - m).abs()).collect::<Vec<_>>())
        })
    }

    /// The loss of the trial with `seed`.
    fn loss_at(&self, seed: u64) -> Option<f64> {
        self.runs.iter().find(|(s, _)| *s == seed).and_then(|(_, row)| row.result.l)
    }

    /// Whether the trial `id` is one of the group's.
    pub fn has(&self, id: &str) -> bool {
        self.runs.iter().any(|(_, row)| row.result.id == id)
    }
}

/// The finished trials grouped by configuration without the seed, in the order of their first
/// trial; within a group, by seed.
pub fn groups<'a>(rows: &[&'a Row]) -> Vec<Group<'a>> {
    grouped(rows, |config| {
        let mut config = config.clone();
        if let Some(map) = config.as_object_mut() {
            map.remove("seed");
        }
        config.to_string()
    })
}

fn grouped<'a>(rows: &[&'a Row], key: impl Fn(&Value) -> String) -> Vec<Group<'a>> {
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut out: Vec<Group<'a>> = Vec::new();
    for row in rows.iter().copied().filter(|row| row.result.l.is_some_and(f64::is_finite)) {
        let seed = row.config.get("seed").and_then(Value::as_u64).unwrap_or(0);
        let at = *index.entry(key(&row.config)).or_insert_with(|| {
            out.push(Group { runs: Vec::new() });
            out.len() - 1
        });
        out[at].runs.push((seed, row));
    }
    for group in &mut out {
        group.runs.sort_by_key(|(seed, _)| *seed);
    }
    out
}

/// The seed noise of a set of configurations: the mean over those with two seeds or more of the
/// mean absolute deviation of their final loss between seeds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Noise {
    /// The mean absolute deviation of L between seeds, averaged over configurations.
    pub mad: f64,
    /// The configurations it is measured on.
    pub configurations: usize,
    /// Their trials.
    pub runs: usize,
}

/// The [`Noise`] of the groups that `pick` selects; `None` when none has two seeds.
pub fn noise<'a>(groups: &[Group<'a>], pick: impl Fn(&Group<'a>) -> bool) -> Option<Noise> {
    let repeated: Vec<&Group> = groups.iter().filter(|g| g.runs.len() >= 2 && pick(g)).collect();
    let mads: Vec<f64> = repeated.iter().filter_map(|g| g.mad()).collect();
    (!mads.is_empty()).then(|| Noise {
        mad: mean(&mads),
        configurations: mads.len(),
        runs: repeated.iter().map(|g| g.runs.len()).sum(),
    })
}

/// One configuration against the best of its family, seed by seed.
#[derive(Debug, Clone)]
pub struct Paired<'a> {
    /// The configuration.
    pub group: &'a Group<'a>,
    /// Its loss minus the best configuration's, for each seed both have; empty for the best.
    pub differences: Vec<f64>,
}

impl Paired<'_> {
    /// The mean difference.
    pub fn mean(&self) -> f64 {
        mean(&self.differences)
    }

    /// The sample standard deviation of the differences (`None` for fewer than two seeds).
    pub fn spread(&self) -> Option<f64> {
        sample_sd(&self.differences)
    }
}

/// Configurations that differ only in the timing of their schedule (`prune.start`, `prune.end`,
/// `prune.every`, `prune.curve`) and their seed form a family; a family of two configurations or
/// more with two seeds or more is compared with its best (the lowest mean loss), seed by seed.
/// Each family: the best first, then the others from the closest to the best.
pub fn paired<'a>(groups: &'a [Group<'a>]) -> Vec<Vec<Paired<'a>>> {
    let family = |group: &Group| {
        let mut config = group.config().clone();
        if let Some(map) = config.as_object_mut() {
            map.remove("seed");
            if let Some(prune) = map.get_mut("prune").and_then(Value::as_object_mut) {
                for timing in ["start", "end", "every", "curve"] {
                    prune.remove(timing);
                }
            }
        }
        config.to_string()
    };
    let mut families: Vec<(String, Vec<&'a Group<'a>>)> = Vec::new();
    for group in groups.iter().filter(|g| g.runs.len() >= 2) {
        let key = family(group);
        match families.iter_mut().find(|(k, _)| *k == key) {
            Some((_, members)) => members.push(group),
            None => families.push((key, vec![group])),
        }
    }
    families
        .into_iter()
        .filter(|(_, members)| members.len() >= 2)
        .map(|(_, members)| {
            let best = members.iter().copied().min_by(|a, b| a.mean().total_cmp(&b.mean())).unwrap_or(members[0]);
            let mut compared: Vec<Paired<'a>> = members
                .iter()
                .map(|&group| {
                    let differences = if std::ptr::eq(group, best) {
                        Vec::new()
                    } else {
                        group.runs.iter().filter_map(|&(seed, row)| Some(row.result.l? - best.loss_at(seed)?)).collect()
                    };
                    Paired { group, differences }
                })
                .collect();
            compared.sort_by(|a, b| {
                let is_best = |p: &Paired| std::ptr::eq(p.group, best);
                is_best(b).cmp(&is_best(a)).then(a.mean().total_cmp(&b.mean()))
            });
            compared
        })
        .collect()
}

/// A trial's name without its seed: `s[width=32, seed=2]` is `s[width=32]`, `s[seed=2]` is `s`.
pub fn without_seed(name: &str) -> String {
    let Some(open) = name.find('[') else { return name.to_string() };
    let Some(inner) = name.strip_suffix(']').map(|n| &n[open + 1..]) else { return name.to_string() };
    // Top-level `, ` separated assignments; values may hold brackets and commas of their own.
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '[' | '(' | '{' => depth += 1,
            ']' | ')' | '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(inner[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(inner[start..].trim());
    parts.retain(|part| !part.starts_with("seed="));
    if parts.is_empty() {
        name[..open].to_string()
    } else {
        format!("{}[{}]", &name[..open], parts.join(", "))
    }
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len().max(1) as f64
}

fn sample_sd(values: &[f64]) -> Option<f64> {
    (values.len() >= 2).then(|| {
        let m = mean(values);
        (values.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (values.len() - 1) as f64).sqrt()
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::store::TrialResult;

    /// A finished trial `name[seed=SEED]` of width 32 whose schedule starts at `start`.
    pub(crate) fn row(name: &str, seed: u64, start: f64, sparsity: f64, loss: f64) -> Row {
        let config = serde_json::json!({
            "model": { "width": 32 },
            "prune": { "sparsity": sparsity, "start": start, "end": 0.75 },
            "seed": seed,
        });
        let observables = crate::observables::Observables {
            n: 1000,
            n_final: 500,
            n_avg: 750.0,
            s: sparsity,
            d: 20_000,
            c: 1e8,
            c_dense: 1.2e8,
        };
        let result = TrialResult::finished(&format!("{name}-{seed}"), observables, loss);
        Row { result, name: format!("{name}[seed={seed}]"), sweep: None, config, tokens_per_step: None }
    }

    /// Two schedules of one family on seeds 1 to 3: `a` at 2.0, 2.2, 2.4 (mean 2.2, sd 0.2,
    /// mean abs. dev. 0.4 / 3), `b` starting later and worse by 0.10, 0.12, 0.08 on the same
    /// seeds (mean 0.1, sd 0.02) though both spread by about 0.2.
    pub(crate) fn two_schedules() -> Vec<Row> {
        vec![
            row("a", 1, 0.25, 0.5, 2.0),
            row("a", 2, 0.25, 0.5, 2.2),
            row("a", 3, 0.25, 0.5, 2.4),
            row("b", 1, 0.5, 0.5, 2.10),
            row("b", 2, 0.5, 0.5, 2.32),
            row("b", 3, 0.5, 0.5, 2.48),
        ]
    }

    #[test]
    fn the_noise_is_the_mean_absolute_deviation_between_seeds() {
        // Losses 2.0, 2.2, 2.4 (mean 2.2, deviations 0.2, 0, 0.2: MAD 0.4/3) and 3.0, 3.1 (MAD 0.05).
        let rows = [
            row("a", 1, 0.25, 0.5, 2.0),
            row("a", 2, 0.25, 0.5, 2.2),
            row("a", 3, 0.25, 0.5, 2.4),
            row("b", 1, 0.5, 0.5, 3.0),
            row("b", 2, 0.5, 0.5, 3.1),
            row("c", 1, 0.5, 0.8, 9.0),
        ];
        let refs: Vec<&Row> = rows.iter().collect();
        let groups = groups(&refs);
        assert_eq!(groups.len(), 3);
        assert_eq!(groups[0].label(), "a");
        let sd = ((0.04 + 0.0 + 0.04) / 2.0f64).sqrt();
        assert!((groups[0].spread().unwrap() - sd).abs() < 1e-12);
        assert!(groups[2].spread().is_none());
        let noise = noise(&groups, |_| true).unwrap();
        assert_eq!((noise.configurations, noise.runs), (2, 5));
        assert!((noise.mad - (0.4 / 3.0 + 0.05) / 2.0).abs() < 1e-12, "{noise:?}");
        assert!(super::noise(&groups, |g| g.has("c-1")).is_none(), "one seed has no noise");
    }

    #[test]
    fn schedules_are_compared_with_the_best_of_their_family_seed_by_seed() {
        let mut rows = two_schedules();
        // Another sparsity is another family, with one member: not compared.
        rows.extend([row("c", 1, 0.5, 0.8, 3.0), row("c", 2, 0.5, 0.8, 3.1)]);
        let refs: Vec<&Row> = rows.iter().collect();
        let groups = groups(&refs);
        let families = paired(&groups);
        assert_eq!(families.len(), 1);
        let family = &families[0];
        assert_eq!(family[0].group.label(), "a");
        assert!(family[0].differences.is_empty());
        assert_eq!(family[1].group.label(), "b");
        assert!((family[1].mean() - 0.1).abs() < 1e-12);
        assert!((family[1].spread().unwrap() - 0.02).abs() < 1e-12);
    }

    #[test]
    fn the_seed_leaves_the_name() {
        assert_eq!(without_seed("s[model.width=32, seed=2]"), "s[model.width=32]");
        assert_eq!(without_seed("s[seed=2, prune=gradual { sparsity = 50% }]"), "s[prune=gradual { sparsity = 50% }]");
        assert_eq!(without_seed("s[(a, b)=(1, 2), seed=3]"), "s[(a, b)=(1, 2)]");
        assert_eq!(without_seed("s[seed=2]"), "s");
        assert_eq!(without_seed("t"), "t");
    }
}
